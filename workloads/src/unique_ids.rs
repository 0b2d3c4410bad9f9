//! The `unique-ids` workload (Jepsen's): clients ask the database for new ids (a PostgreSQL
//! sequence, a Galera auto-increment) and every acknowledged id must be distinct, whatever the
//! faults did to the nodes that handed them out.
//!
//! Values: `generate` is invoked with `null`; an ok one answers with the id (an integer, or any
//! JSON value a recipe's client chooses).

use crate::client::{Completion, Invocation};
use crate::generator::{GeneratorOptions, OpSource};
use crate::workload::{CheckOptions, Shape, Workload};
use anyhow::Result;
use faultline_checkers::compose::Checked;
use faultline_checkers::{unique_ids, Op};
use rand_chacha::ChaCha8Rng;
use serde_json::Value;

/// The name `--workload` takes.
pub const NAME: &str = "unique-ids";

/// The unique-ids workload.
#[derive(Debug)]
pub struct UniqueIds;

impl Workload for UniqueIds {
    fn name(&self) -> &'static str {
        NAME
    }

    fn shape(&self) -> Shape {
        Shape::UniqueIds
    }

    fn ops(&self, _: &GeneratorOptions) -> Box<dyn OpSource> {
        Box::new(GenerateOps)
    }

    fn check(&self, ops: &[Op], _: &CheckOptions) -> Result<Checked> {
        let mut checked = Checked::default();
        checked.add(&unique_ids::check_unique_ids(ops))?;
        Ok(checked)
    }

    fn value_problem(&self, op: &Invocation, done: &Completion) -> Option<String> {
        done.value.is_null().then(|| format!("ok {} answered no id", op.f))
    }

    /// faultline's unique-ids runs: generates.
    fn recognises(&self, ops: &[Op]) -> bool {
        ops.iter().any(|o| o.f == "generate")
    }
}

/// Every op is a `generate`; there is no final read.
#[derive(Debug)]
pub struct GenerateOps;

impl OpSource for GenerateOps {
    fn op(&self, _worker: usize, _seq: u64, _rng: &mut ChaCha8Rng) -> Invocation {
        Invocation::new("generate", None, Value::Null)
    }

    fn final_read(&self, _issued: u64) -> Option<Invocation> {
        None
    }
}
