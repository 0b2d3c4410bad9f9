//! The `counter` workload: adds of small positive integers and reads of the total, checked
//! against the bounds the acknowledged and possible adds allow (Jepsen's counter).
//!
//! Values: an ok add answers with its value; an ok read returns an integer.

use crate::client::{Completion, Invocation};
use crate::generator::{GeneratorOptions, OpSource};
use crate::set::adds_and_first_read;
use crate::workload::{echo_or, CheckOptions, Shape, Workload};
use anyhow::Result;
use faultline_checkers::compose::Checked;
use faultline_checkers::{counter, Op};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

/// The name `--workload` takes.
pub const NAME: &str = "counter";

/// The counter workload.
#[derive(Debug)]
pub struct Counter;

impl Workload for Counter {
    fn name(&self) -> &'static str {
        NAME
    }

    fn shape(&self) -> Shape {
        Shape::Counter
    }

    fn ops(&self, _: &GeneratorOptions) -> Box<dyn OpSource> {
        Box::new(CounterOps)
    }

    fn check(&self, ops: &[Op], _: &CheckOptions) -> Result<Checked> {
        let mut checked = Checked::default();
        checked.add(&counter::check_counter(ops))?;
        Ok(checked)
    }

    fn value_problem(&self, op: &Invocation, done: &Completion) -> Option<String> {
        echo_or(op, done, |v| v.as_i64().is_some(), "an integer")
    }

    /// faultline's counter runs: adds, and reads that return numbers.
    fn recognises(&self, ops: &[Op]) -> bool {
        adds_and_first_read(ops).is_some_and(Value::is_number)
    }
}

/// Counter: one read in five, otherwise add 1..=5.
#[derive(Debug)]
pub struct CounterOps;

impl OpSource for CounterOps {
    fn op(&self, _worker: usize, _seq: u64, rng: &mut ChaCha8Rng) -> Invocation {
        if rng.random_range(0..5u32) == 0 {
            Invocation::new("read", None, Value::Null)
        } else {
            Invocation::new("add", None, json!(rng.random_range(1..=5i64)))
        }
    }

    fn final_read(&self, _issued: u64) -> Option<Invocation> {
        Some(Invocation::new("final-read", None, Value::Null))
    }
}
