//! What a workload is, in one place: Jepsen's "a generator plus a checker", with the value shape
//! its clients speak, the flags that apply to it and the value rules `client-check` enforces.
//!
//! Every workload is one module of this crate (`register`, `set`, `counter`, `txn`) implementing
//! [`Workload`], plus one line in [`crate::registry`]. Everything else (the runner, `faultline
//! check`, `client-check`, the flag rules of `faultline test`, the database adapters) asks the
//! resolved workload rather than matching on its name.

use crate::client::{Completion, Invocation};
use crate::generator::{GeneratorOptions, OpSource};
use anyhow::Result;
use faultline_checkers::compose::{compose, Checked};
use faultline_checkers::{Op, RunResults};
use std::time::Duration;

/// What a workload's operations mean to a database client. A database adapter builds its client
/// by shape, and says which shapes it has a client for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Independent integer keys: read / write / cas.
    Register,
    /// add of unique integers, read of the whole set.
    Set,
    /// add of a small positive integer, read of the total.
    Counter,
    /// Elle's list-append transactions.
    ListAppend,
    /// Elle's rw-register transactions.
    RwRegister,
    /// Transfers between accounts and reads of every balance (Jepsen's bank).
    Bank,
    /// `generate` of a new id.
    UniqueIds,
}

/// The workload-specific flags of `faultline test`: a flag a workload does not list is refused
/// with the workloads it applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flag {
    /// `--unique-writes`
    UniqueWrites,
    /// `--consistency-models`
    ConsistencyModels,
}

impl Flag {
    /// The flag as typed on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Flag::UniqueWrites => "--unique-writes",
            Flag::ConsistencyModels => "--consistency-models",
        }
    }
}

/// How a run's history is checked. The runner builds it from its plan and `faultline check` from
/// the run's test.json, so both give the same results.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckOptions {
    /// `--expect` thresholds (empty: none).
    pub expectations: Vec<String>,
    /// Transactional workloads: Elle's consistency models (empty: strict-serializable).
    pub consistency_models: Vec<String>,
    /// Searches that may explode (linearizability) give up after this long: unknown.
    pub timeout: Option<Duration>,
}

/// How long a run's linearizability search may take before its verdict is unknown.
pub const RUN_CHECK_TIMEOUT: Duration = Duration::from_secs(120);

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions { expectations: Vec::new(), consistency_models: Vec::new(), timeout: Some(RUN_CHECK_TIMEOUT) }
    }
}

/// One workload: its name, operations, checks and rules.
pub trait Workload: Send + Sync + std::fmt::Debug {
    /// The name `--workload` takes and test.json records. A string literal only here.
    fn name(&self) -> &'static str;
    /// What its values look like to a database client.
    fn shape(&self) -> Shape;
    /// The workload-specific flags that apply to it.
    fn flags(&self) -> &'static [Flag] {
        &[]
    }
    /// Its operation stream, from options already clamped by the generator.
    fn ops(&self, opts: &GeneratorOptions) -> Box<dyn OpSource>;
    /// Whether the check options make sense for it (e.g. known consistency models); the error
    /// says what is wrong, for the flag that set it.
    fn validate(&self, _opts: &CheckOptions) -> Result<(), String> {
        Ok(())
    }
    /// The checkers that decide its history, in the order the report shows them.
    fn check(&self, ops: &[Op], opts: &CheckOptions) -> Result<Checked>;
    /// What is wrong with an `ok` completion's value, if anything (`client-check`).
    fn value_problem(&self, op: &Invocation, done: &Completion) -> Option<String>;
    /// A fixed sequence `client-check` runs on one client after the workload's own operations,
    /// each step with the outcome (and value) a correct client must answer; it stops at the
    /// first wrong answer.
    fn probe(&self) -> Vec<ProbeStep> {
        Vec::new()
    }
    /// Whether a history without its run's test.json looks like this workload's, so that
    /// `faultline check` can pick it; `false` leaves it to the linearizability models.
    fn recognises(&self, _ops: &[Op]) -> bool {
        false
    }
}

/// One step of [`Workload::probe`].
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeStep {
    pub op: Invocation,
    /// The outcome a correct client answers.
    pub kind: faultline_checkers::OpType,
    /// The value it answers, when that is fixed.
    pub value: Option<serde_json::Value>,
}

/// The one check of a run's history, for the runner and `faultline check` alike: the workload's
/// checkers, then the fault metrics, the expectations and the run's verdict.
pub fn check_run(ops: &[Op], workload: &dyn Workload, opts: &CheckOptions) -> Result<RunResults> {
    let checked = workload.check(ops, opts)?;
    compose(ops, checked, &opts.expectations)
}

/// The usual answer of `value_problem` for a workload whose writes echo their value: an ok
/// read must satisfy `read_ok` (described as `want`), any other ok op returns its own value.
pub fn echo_or(
    op: &Invocation,
    done: &Completion,
    read_ok: impl Fn(&serde_json::Value) -> bool,
    want: &str,
) -> Option<String> {
    let v = &done.value;
    let (bad, want) = if op.is_read() {
        (!read_ok(v), want.to_string())
    } else {
        (v != &op.value, format!("the invocation's value {} (or no value)", op.value))
    };
    bad.then(|| {
        format!(
            "ok {} {} answered value {v}; expected {want}",
            op.f,
            op.key.as_ref().map_or(String::new(), |k| format!("key {k}"))
        )
    })
}
