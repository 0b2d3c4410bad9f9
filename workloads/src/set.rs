//! The `set` workload: adds of unique integers and reads of the whole set, checked for lost and
//! stale elements (Jepsen's set-full) and for the nodes' final reads converging.
//!
//! Values: an ok add answers with the element; an ok read or final read returns the sorted
//! array of elements.

use crate::client::{Completion, Invocation};
use crate::generator::{GeneratorOptions, OpSource};
use crate::workload::{echo_or, CheckOptions, Shape, Workload};
use anyhow::Result;
use faultline_checkers::compose::Checked;
use faultline_checkers::{convergence, explain, set, Op, OpType};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

/// Each worker reads the whole set on every `SET_READ_EVERY`-th operation.
const SET_READ_EVERY: u64 = 10;

/// The name `--workload` takes.
pub const NAME: &str = "set";

/// The set workload.
#[derive(Debug)]
pub struct Set;

impl Workload for Set {
    fn name(&self) -> &'static str {
        NAME
    }

    fn shape(&self) -> Shape {
        Shape::Set
    }

    fn ops(&self, opts: &GeneratorOptions) -> Box<dyn OpSource> {
        Box::new(SetOps::new(opts))
    }

    fn check(&self, ops: &[Op], _: &CheckOptions) -> Result<Checked> {
        let s = set::check_set(ops, &set::SetOptions::default());
        let c = convergence::check_convergence(ops);
        let mut checked = Checked::default();
        let outcome = checked.add(&s)?;
        // The first lost element's add tied to the node that acknowledged it and its faults.
        if let Some(why) = s.lost.first().and_then(|l| explain::explain_add(ops, l.element)) {
            let missing = s.lost[0].missing_on.join(", ");
            outcome.details.insert("explanation".into(), format!("{why}; it is missing on {missing}").into());
        }
        let outcome = checked.add(&c)?;
        // Each diverged node tied to what it lacks, where that was acknowledged, and its faults.
        let per_node = explain::explain_divergence(ops, &c);
        if let Some(first) = per_node.first() {
            outcome.details.insert("explanation".into(), first.clone().into());
            outcome.details.insert("node_explanations".into(), per_node.into());
        }
        checked.set = Some(s);
        checked.convergence = Some(c);
        Ok(checked)
    }

    fn value_problem(&self, op: &Invocation, done: &Completion) -> Option<String> {
        echo_or(
            op,
            done,
            |v| v.as_array().is_some_and(|a| a.iter().all(|e| e.as_i64().is_some())),
            "an array of integers",
        )
    }

    /// faultline's set runs: adds, and reads that return arrays.
    fn recognises(&self, ops: &[Op]) -> bool {
        adds_and_first_read(ops).is_some_and(Value::is_array)
    }
}

/// A history of `add`s: the value of its first ok read (set and counter runs tell themselves
/// apart by it).
pub(crate) fn adds_and_first_read(ops: &[Op]) -> Option<&Value> {
    if !ops.iter().any(|o| o.f == "add") {
        return None;
    }
    ops.iter().find(|o| (o.f == "read" || o.f == "final-read") && o.kind == OpType::Ok).map(|o| &o.value)
}

/// Set: adds of unique elements, a read every `SET_READ_EVERY` ops (staggered by worker).
/// Element = (this worker's add count) * concurrency + worker, so elements never repeat.
#[derive(Debug)]
pub struct SetOps {
    concurrency: usize,
}

impl SetOps {
    fn new(o: &GeneratorOptions) -> SetOps {
        SetOps { concurrency: o.concurrency }
    }
}

impl OpSource for SetOps {
    fn op(&self, worker: usize, seq: u64, _rng: &mut ChaCha8Rng) -> Invocation {
        let offset = worker as u64 % SET_READ_EVERY;
        if (seq + offset) % SET_READ_EVERY == SET_READ_EVERY - 1 {
            return Invocation::new("read", None, Value::Null);
        }
        let reads_before = (seq + offset) / SET_READ_EVERY;
        let add_index = seq - reads_before;
        Invocation::new("add", None, json!(add_index * self.concurrency as u64 + worker as u64))
    }

    fn final_read(&self, _issued: u64) -> Option<Invocation> {
        Some(Invocation::new("final-read", None, Value::Null))
    }
}
