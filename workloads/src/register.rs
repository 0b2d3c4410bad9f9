//! The `register` workload: independent integer keys, read / write / cas, checked for
//! linearizability (Knossos's cas-register, key by key) and then the consistency ladder.
//!
//! Keys: workers are split into groups of `threads_per_key`; each group works through its own
//! sequence of keys (group `g` of `G` uses keys `g, g+G, g+2G, ...`), and each worker of a group
//! performs `ops_per_key / group_size` operations on a key before moving to the group's next key.
//! So a key sees at most `ops_per_key` operations, from several workers at once.
//!
//! Values: an ok read returns an integer or `null` (absent key); write takes an integer, cas
//! `[old, new]`; both answer with the invocation's value.

use crate::client::{Completion, Invocation};
use crate::generator::{GeneratorOptions, OpSource};
use crate::workload::{echo_or, CheckOptions, Flag, ProbeStep, Shape, Workload};
use anyhow::Result;
use faultline_checkers::compose::Checked;
use faultline_checkers::{explain, ladder, linearizable, Op, OpType};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

/// Register values and cas arguments are drawn from `0..REGISTER_VALUES`.
const REGISTER_VALUES: i64 = 5;

/// The name `--workload` takes.
pub const NAME: &str = "register";

/// The register workload.
#[derive(Debug)]
pub struct Register;

impl Workload for Register {
    fn name(&self) -> &'static str {
        NAME
    }

    fn shape(&self) -> Shape {
        Shape::Register
    }

    fn flags(&self) -> &'static [Flag] {
        &[Flag::UniqueWrites]
    }

    fn ops(&self, opts: &GeneratorOptions) -> Box<dyn OpSource> {
        Box::new(RegisterOps::new(opts))
    }

    fn check(&self, ops: &[Op], o: &CheckOptions) -> Result<Checked> {
        let mut opts = linearizable::Options::new(linearizable::ModelKind::CasRegister);
        opts.timeout = o.timeout;
        let r = linearizable::check(ops, &opts).map_err(|e| anyhow::anyhow!("linearizability checker: {e}"))?;
        let mut checked = Checked::default();
        let outcome = checked.add(&r)?;
        // The failing op tied to its node and the faults active on it then.
        let failing = r.failure.as_ref().and_then(|f| f.ops.iter().find(|o| o.id == f.failing));
        if let Some(why) = failing.and_then(|o| explain::explain_op(ops, o.index)) {
            outcome.details.insert("explanation".into(), why.into());
        }
        // The consistency ladder on top: which weaker models the history still satisfies. Its
        // verdict is the linearizable rung's, so it never changes the run's.
        let l = ladder::check_with_linearizable(ops, &ladder::LadderOptions::new(opts), r)
            .map_err(|e| anyhow::anyhow!("consistency ladder: {e}"))?;
        checked.add(&l)?;
        checked.ladder = Some(l);
        Ok(checked)
    }

    fn value_problem(&self, op: &Invocation, done: &Completion) -> Option<String> {
        echo_or(op, done, |v| v.is_null() || v.as_i64().is_some(), "an integer or null")
    }

    /// write, read, a cas that must succeed, a cas that must fail, read: on a key of its own.
    fn probe(&self) -> Vec<ProbeStep> {
        let key = Some(json!(987_654_321));
        let step = |f: &str, value: Value, kind: OpType, read: Option<Value>| ProbeStep {
            op: Invocation::new(f, key.clone(), value),
            kind,
            value: read,
        };
        vec![
            step("write", json!(11), OpType::Ok, None),
            step("read", Value::Null, OpType::Ok, Some(json!(11))),
            step("cas", json!([11, 12]), OpType::Ok, None),
            step("cas", json!([11, 13]), OpType::Fail, None),
            step("read", Value::Null, OpType::Ok, Some(json!(12))),
        ]
    }
}

/// Register: independent integer keys, read / write / cas of values `0..REGISTER_VALUES`.
#[derive(Debug)]
pub struct RegisterOps {
    concurrency: usize,
    ops_per_key: u64,
    reserved_reads: usize,
    threads_per_key: usize,
    groups: usize,
    unique_writes: bool,
}

impl RegisterOps {
    fn new(o: &GeneratorOptions) -> RegisterOps {
        RegisterOps {
            concurrency: o.concurrency,
            ops_per_key: o.ops_per_key,
            reserved_reads: o.reserved_reads,
            threads_per_key: o.threads_per_key,
            groups: o.concurrency.div_ceil(o.threads_per_key),
            unique_writes: o.unique_writes,
        }
    }

    /// With unique writes: the value `worker` writes in its `seq`-th op. Distinct for every
    /// (worker, seq), and never 0..5 or nil, so a read names the one write it saw.
    fn unique_value(&self, worker: usize, seq: u64) -> i64 {
        (seq * self.concurrency as u64 + worker as u64) as i64 + REGISTER_VALUES
    }

    /// A value to write: unique, or drawn from `0..REGISTER_VALUES`.
    fn value(&self, worker: usize, seq: u64, rng: &mut ChaCha8Rng) -> i64 {
        if self.unique_writes {
            self.unique_value(worker, seq)
        } else {
            rng.random_range(0..REGISTER_VALUES)
        }
    }

    /// A cas's expected value: with unique writes, what a worker of the same group wrote in one
    /// of its last few ops (so it may well be the current value); otherwise drawn from `0..5`.
    fn expected(&self, worker: usize, seq: u64, rng: &mut ChaCha8Rng) -> i64 {
        if !self.unique_writes {
            return rng.random_range(0..REGISTER_VALUES);
        }
        let (group, _, size) = self.group_of(worker);
        let other = group * self.threads_per_key + rng.random_range(0..size);
        let back = rng.random_range(1..=3u64).min(seq.max(1));
        self.unique_value(other, seq.saturating_sub(back))
    }

    /// The key `worker` uses for its `seq`-th operation.
    pub fn key(&self, worker: usize, seq: u64) -> u64 {
        let (group, _, size) = self.group_of(worker);
        let per_worker_quota = (self.ops_per_key / size as u64).max(1);
        (seq / per_worker_quota) * self.groups as u64 + group as u64
    }

    /// (group index, index within the group, group size) of a worker.
    fn group_of(&self, worker: usize) -> (usize, usize, usize) {
        let group = worker / self.threads_per_key;
        let size = self.threads_per_key.min(self.concurrency - group * self.threads_per_key);
        (group, worker % self.threads_per_key, size)
    }
}

impl OpSource for RegisterOps {
    fn op(&self, worker: usize, seq: u64, rng: &mut ChaCha8Rng) -> Invocation {
        let (_, local, size) = self.group_of(worker);
        let key = Some(json!(self.key(worker, seq)));
        let reserved = self.reserved_reads.min(size - 1);
        let choice = if local < reserved { 0 } else { rng.random_range(0..3u32) };
        match choice {
            0 => Invocation::new("read", key, Value::Null),
            1 => Invocation::new("write", key, json!(self.value(worker, seq, rng))),
            _ => {
                let old = self.expected(worker, seq, rng);
                let new = self.value(worker, seq, rng);
                Invocation::new("cas", key, json!([old, new]))
            }
        }
    }
}
