//! Transactional workloads, Elle's: `list-append` and `rw-register`.
//!
//! An operation is a transaction (`f` = `txn`) whose value is a vector of micro-ops, exactly
//! what `faultline_checkers::txn` reads: `["append", k, v]` / `["r", k, null]` (list-append) or
//! `["w", k, v]` / `["r", k, null]` (rw-register); the client fills each read's value in.
//!
//! Shape, as Elle's generator: 1 to `max_txn_length` micro-ops; one transaction in four is
//! read-only; each micro-op reads or writes (half and half) a key drawn from a pool of
//! `key_count` active keys. Values are unique (a value names the one write that wrote it).
//!
//! Keys rotate: a worker's pool at its `seq`-th op is `[seq / shift, seq / shift + key_count)`,
//! with `shift` chosen so that a key receives about `max_writes_per_key` writes over all workers
//! while it is active (Elle retires a key after exactly that many; here the bound is as good as
//! the workers' pace is even, because an op must stay a pure function of `(seed, worker, seq)`).
//! Long lists make reads slow and the checker's inference ambiguous; fresh keys keep both small.
//!
//! The final read (after the heal) reads every key any worker may have written.

use crate::client::{Completion, Invocation};
use crate::generator::{GeneratorOptions, OpSource};
use crate::workload::{CheckOptions, Flag, Shape, Workload};
use anyhow::Result;
use faultline_checkers::compose::Checked;
use faultline_checkers::outcome::Checker;
use faultline_checkers::txn::{TxnOptions, Workload as ElleWorkload};
use faultline_checkers::{convergence, explain, txn_run, Op};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

/// Which of Elle's two transactional workloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnKind {
    ListAppend,
    RwRegister,
}

impl TxnKind {
    /// The same workload as the checker names it.
    fn elle(self) -> ElleWorkload {
        match self {
            TxnKind::ListAppend => ElleWorkload::ListAppend,
            TxnKind::RwRegister => ElleWorkload::RwRegister,
        }
    }
}

/// The names `--workload` takes.
pub const LIST_APPEND: &str = "list-append";
pub const RW_REGISTER: &str = "rw-register";

/// A transactional workload: list-append or rw-register.
#[derive(Debug)]
pub struct Txn(pub TxnKind);

impl Workload for Txn {
    fn name(&self) -> &'static str {
        match self.0 {
            TxnKind::ListAppend => LIST_APPEND,
            TxnKind::RwRegister => RW_REGISTER,
        }
    }

    fn shape(&self) -> Shape {
        match self.0 {
            TxnKind::ListAppend => Shape::ListAppend,
            TxnKind::RwRegister => Shape::RwRegister,
        }
    }

    fn flags(&self) -> &'static [Flag] {
        &[Flag::ConsistencyModels]
    }

    fn ops(&self, opts: &GeneratorOptions) -> Box<dyn OpSource> {
        Box::new(TxnOps::new(self.0, opts))
    }

    fn validate(&self, opts: &CheckOptions) -> Result<(), String> {
        let mut o = TxnOptions::new(self.0.elle());
        o.set_consistency_models(&opts.consistency_models).and_then(|()| o.validate())
    }

    /// Elle's analysis under the consistency models, plus acknowledged appends lost from the
    /// final reads; then whether the nodes' final reads agree (which nodes differ, on what).
    fn check(&self, ops: &[Op], opts: &CheckOptions) -> Result<Checked> {
        let mut checked = Checked::default();
        checked.insert(Checker::Txn, txn_run::check(ops, self.0.elle(), &opts.consistency_models)?);
        let c = convergence::check_convergence(ops);
        let outcome = checked.add(&c)?;
        if let Some(first) = explain::explain_divergence(ops, &c).first() {
            outcome.details.insert("explanation".into(), first.clone().into());
        }
        checked.convergence = Some(c);
        Ok(checked)
    }

    /// Micro-op values are the checker's to judge (a read's list may be anything).
    fn value_problem(&self, _: &Invocation, _: &Completion) -> Option<String> {
        None
    }
}

/// A transactional workload's operation stream (see the module docs).
#[derive(Debug)]
pub struct TxnOps {
    kind: TxnKind,
    concurrency: u64,
    max_txn_length: u64,
    key_count: u64,
    /// A worker's key pool moves on by one key every `shift` of its ops.
    shift: u64,
}

/// One transaction in this many is read-only.
const READ_ONLY_EVERY: u32 = 4;

impl TxnOps {
    pub fn new(kind: TxnKind, o: &GeneratorOptions) -> TxnOps {
        let max_txn_length = o.max_txn_length.max(1) as u64;
        let key_count = o.key_count.max(1) as u64;
        let concurrency = o.concurrency.max(1) as u64;
        // Writes per transaction on average: (L+1)/2 micro-ops, half of them writes, in 3 of 4
        // transactions. A key is active for key_count * shift ops of every worker, and gets
        // 1/key_count of their writes: concurrency * shift * writes_per_txn in all.
        let writes_per_txn = (max_txn_length as f64 + 1.0) / 2.0 * 0.5 * 0.75;
        let shift =
            (o.max_writes_per_key.max(1) as f64 / (concurrency as f64 * writes_per_txn)).floor().max(1.0) as u64;
        TxnOps { kind, concurrency, max_txn_length, key_count, shift }
    }

    /// The first key of a worker's pool at its `seq`-th op.
    fn pool_start(&self, seq: u64) -> u64 {
        seq / self.shift
    }

    /// A value no other micro-op of the run writes: (op number over all workers, micro-op index).
    fn unique_value(&self, worker: usize, seq: u64, mop: u64) -> i64 {
        ((seq * self.concurrency + worker as u64) * self.max_txn_length + mop + 1) as i64
    }

    fn write_mop(&self, key: u64, value: i64) -> Value {
        match self.kind {
            TxnKind::ListAppend => json!(["append", key, value]),
            TxnKind::RwRegister => json!(["w", key, value]),
        }
    }
}

impl OpSource for TxnOps {
    fn op(&self, worker: usize, seq: u64, rng: &mut ChaCha8Rng) -> Invocation {
        let len = rng.random_range(1..=self.max_txn_length);
        let read_only = rng.random_range(0..READ_ONLY_EVERY) == 0;
        let start = self.pool_start(seq);
        let mops: Vec<Value> = (0..len)
            .map(|i| {
                let key = start + rng.random_range(0..self.key_count);
                if read_only || rng.random_bool(0.5) {
                    json!(["r", key, null])
                } else {
                    self.write_mop(key, self.unique_value(worker, seq, i))
                }
            })
            .collect();
        Invocation::new("txn", None, Value::Array(mops))
    }

    /// Reads every key a pool has held, up to the furthest any worker got (`issued`: the most
    /// ops handed out to one worker).
    fn final_read(&self, issued: u64) -> Option<Invocation> {
        let last = self.pool_start(issued) + self.key_count;
        let mops: Vec<Value> = (0..last).map(|k| json!(["r", k, null])).collect();
        Some(Invocation::new("final-read", None, Value::Array(mops)))
    }
}

pub use crate::client::read_only;

#[cfg(test)]
mod tests {
    use crate::generator::GeneratorOptions;
    use crate::registry::new_generator;
    use std::collections::{HashMap, HashSet};

    fn opts(concurrency: usize) -> GeneratorOptions {
        GeneratorOptions { seed: 3, concurrency, ..GeneratorOptions::default() }
    }

    #[test]
    fn list_append_txns_have_unique_appends_and_bounded_length() {
        let g = new_generator("list-append", opts(4)).unwrap();
        let mut values = HashSet::new();
        let mut read_only = 0;
        let mut writes_per_key: HashMap<u64, u64> = HashMap::new();
        for w in 0..4 {
            for _ in 0..500 {
                let op = g.next(w).unwrap();
                assert_eq!(op.f, "txn");
                let mops = op.value.as_array().unwrap();
                assert!((1..=4).contains(&mops.len()), "{op:?}");
                read_only += super::read_only(&op) as usize;
                for m in mops {
                    match m[0].as_str().unwrap() {
                        "append" => {
                            assert!(values.insert(m[2].as_i64().unwrap()), "value {} appended twice", m[2]);
                            *writes_per_key.entry(m[1].as_u64().unwrap()).or_default() += 1;
                        }
                        "r" => assert!(m[2].is_null()),
                        other => panic!("unexpected micro-op {other}"),
                    }
                }
            }
        }
        // One in four by choice, more by chance (every micro-op drawn a read).
        assert!((500..1200).contains(&read_only), "read-only transactions: {read_only}");
        // Keys rotate: many keys, each with about max_writes_per_key (32) writes.
        assert!(writes_per_key.len() > 50, "{}", writes_per_key.len());
        let max = writes_per_key.values().max().unwrap();
        assert!(*max < 32 * 2, "a key got {max} writes");
        // The final read covers every key written.
        let last = g.final_read().unwrap();
        assert_eq!(last.f, "final-read");
        let read: HashSet<u64> = last.value.as_array().unwrap().iter().map(|m| m[1].as_u64().unwrap()).collect();
        assert!(writes_per_key.keys().all(|k| read.contains(k)));
    }

    #[test]
    fn rw_register_writes_and_options_shape_the_txns() {
        let o = GeneratorOptions { max_txn_length: 2, key_count: 2, ..opts(2) };
        let g = new_generator("rw-register", o).unwrap();
        for _ in 0..200 {
            let op = g.next(1).unwrap();
            let mops = op.value.as_array().unwrap();
            assert!(mops.len() <= 2);
            assert!(mops.iter().all(|m| m[0] == "w" || m[0] == "r"));
        }
        // Same seed, same transactions.
        let again = new_generator("rw-register", o_again()).unwrap();
        assert_eq!(again.op_at(1, 7), new_generator("rw-register", o_again()).unwrap().op_at(1, 7));
    }

    fn o_again() -> GeneratorOptions {
        GeneratorOptions { max_txn_length: 2, key_count: 2, ..opts(2) }
    }
}
