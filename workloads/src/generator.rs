//! Operation generators: which operation each worker invokes next.
//!
//! Reproducibility: the `i`-th operation of worker `w` depends only on `(seed, w, i)`. It is
//! drawn from a ChaCha8 stream selected by `w` and positioned at `i` (a fixed budget of words per
//! operation), so the op stream of every worker is the same for the same seed however the
//! workers interleave in time. Nothing is shared between workers except a per-worker counter
//! and the optional global limit, both atomics: `next` is lock-free and cheap.
//!
//! Register keys: workers are split into groups of `threads_per_key`; each group works through
//! its own sequence of keys (group `g` of `G` uses keys `g, g+G, g+2G, ...`), and each worker of a
//! group performs `ops_per_key / group_size` operations on a key before moving to the group's
//! next key. So a key sees at most `ops_per_key` operations, from several workers at once.

use crate::client::Invocation;
use crate::txn::{Txn, TxnKind};
use anyhow::{bail, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};

/// A workload: what each worker does next, how a run ends, and which checkers decide it.
///
/// The generator owns reproducibility (it positions `rng` at `(seed, worker, seq)` before each
/// call), so a workload only says what the `seq`-th operation of `worker` is, drawing what it
/// needs from `rng`. Adding a workload is one type implementing this plus one line in
/// [`registry`], and a client per database that should run it.
pub trait Workload: Send + Sync + std::fmt::Debug {
    /// The name `--workload` takes, results record and the checkers are chosen by
    /// (`faultline_checkers::workload`).
    fn name(&self) -> &'static str;
    /// The `seq`-th operation of `worker`, at most a few dozen words drawn from `rng`.
    fn op(&self, worker: usize, seq: u64, rng: &mut ChaCha8Rng) -> Invocation;
    /// The read that ends a run on every node after the heal (convergence), if any. `issued` is
    /// the most operations handed out to one worker (what a workload with rotating keys needs to
    /// know which keys exist).
    fn final_read(&self, _issued: u64) -> Option<Invocation> {
        None
    }
}

/// Builds a workload from the generator's options.
pub type WorkloadConstructor = fn(&GeneratorOptions) -> Box<dyn Workload>;

/// Every workload faultline knows, by name.
pub fn registry() -> &'static [(&'static str, WorkloadConstructor)] {
    &[
        ("register", |o| Box::new(Register::new(o))),
        ("set", |o| Box::new(Set::new(o))),
        ("counter", |_| Box::new(Counter)),
        ("list-append", |o| Box::new(Txn::new(TxnKind::ListAppend, o))),
        ("rw-register", |o| Box::new(Txn::new(TxnKind::RwRegister, o))),
    ]
}

/// The names `--workload` accepts.
pub fn names() -> Vec<&'static str> {
    registry().iter().map(|(n, _)| *n).collect()
}

/// Check a workload name (`register`, `set`, `counter`; case-insensitive) and return it as known.
pub fn parse_workload(name: &str) -> Result<&'static str> {
    let wanted = name.trim().to_ascii_lowercase();
    match registry().iter().find(|(n, _)| *n == wanted) {
        Some((n, _)) => Ok(n),
        None => bail!("unknown workload {name:?}; valid workloads are: {}", names().join(", ")),
    }
}

/// How a generator shapes its operation stream.
#[derive(Debug, Clone, PartialEq)]
pub struct GeneratorOptions {
    /// Same seed, same operations per worker.
    pub seed: u64,
    /// Number of workers; `next` accepts worker indices `0..concurrency`.
    pub concurrency: usize,
    /// Register: at most this many operations per key (default 200).
    pub ops_per_key: u64,
    /// Register: how many workers share a key at a time (default 10; clamped to
    /// `1..=min(concurrency, ops_per_key)`).
    pub threads_per_key: usize,
    /// Register: in each group of workers sharing a key, the first `reserved_reads` workers only
    /// read (default 2; clamped so that every group keeps at least one writer).
    pub reserved_reads: usize,
    /// Stop after this many invocations over all workers (`None`: never; the runner stops on time).
    pub limit: Option<u64>,
    /// Register: every write and cas writes a value never written before (`--unique-writes`),
    /// which the causal checkers need; otherwise values are drawn from `0..5` as Jepsen's are.
    pub unique_writes: bool,
    /// list-append / rw-register: at most this many micro-ops per transaction (default 4).
    pub max_txn_length: usize,
    /// list-append / rw-register: keys a worker draws from at a time (default 5).
    pub key_count: usize,
    /// list-append / rw-register: about this many writes per key before it retires (default 32).
    pub max_writes_per_key: usize,
}

impl Default for GeneratorOptions {
    fn default() -> Self {
        GeneratorOptions {
            seed: 0,
            concurrency: 10,
            ops_per_key: 200,
            threads_per_key: 10,
            reserved_reads: 2,
            limit: None,
            unique_writes: false,
            max_txn_length: 4,
            key_count: 5,
            max_writes_per_key: 32,
        }
    }
}

/// Words of the ChaCha stream set aside for one operation (an op draws at most a handful).
const WORDS_PER_OP: u128 = 32;

/// Set workload: each worker reads the whole set on every `SET_READ_EVERY`-th operation.
const SET_READ_EVERY: u64 = 10;

/// Register values and cas arguments are drawn from `0..REGISTER_VALUES`.
const REGISTER_VALUES: i64 = 5;

/// A thread-safe, reproducible operation source for one workload.
#[derive(Debug)]
pub struct Generator {
    workload: Box<dyn Workload>,
    opts: GeneratorOptions,
    /// Operations handed out so far, per worker.
    per_worker: Vec<AtomicU64>,
    /// Operations handed out so far, all workers (only for `limit`).
    issued: AtomicU64,
}

/// Build the generator of the workload called `name` (see [`parse_workload`]). Out-of-range
/// options are clamped (documented on [`GeneratorOptions`]); `concurrency` 0 gives a generator
/// that hands out nothing.
pub fn new_generator(name: &str, opts: GeneratorOptions) -> Result<Generator> {
    let name = parse_workload(name)?;
    let make = registry().iter().find(|(n, _)| *n == name).map(|(_, make)| *make).expect("parse_workload checked it");
    let ops_per_key = opts.ops_per_key.max(1);
    let threads_per_key = opts.threads_per_key.clamp(1, opts.concurrency.max(1)).min(ops_per_key as usize);
    let opts = GeneratorOptions { ops_per_key, threads_per_key, ..opts };
    let per_worker = (0..opts.concurrency).map(|_| AtomicU64::new(0)).collect();
    Ok(Generator { workload: make(&opts), opts, per_worker, issued: AtomicU64::new(0) })
}

impl Generator {
    /// The workload's name.
    pub fn name(&self) -> &'static str {
        self.workload.name()
    }

    /// The options in effect (after clamping).
    pub fn options(&self) -> &GeneratorOptions {
        &self.opts
    }

    /// The next operation for `worker`, or `None` once the limit is reached or when `worker` is
    /// not below `concurrency`.
    pub fn next(&self, worker: usize) -> Option<Invocation> {
        let counter = self.per_worker.get(worker)?;
        if let Some(limit) = self.opts.limit {
            if self.issued.fetch_add(1, Ordering::Relaxed) >= limit {
                return None;
            }
        }
        let seq = counter.fetch_add(1, Ordering::Relaxed);
        Some(self.op_at(worker, seq))
    }

    /// The operation `worker` performs as its `seq`-th (0-based): a pure function of the seed.
    pub fn op_at(&self, worker: usize, seq: u64) -> Invocation {
        let mut rng = ChaCha8Rng::seed_from_u64(self.opts.seed);
        rng.set_stream(worker as u64);
        rng.set_word_pos(seq as u128 * WORDS_PER_OP);
        self.workload.op(worker, seq, &mut rng)
    }

    /// The read that ends a run (set, counter and the transactional workloads; register has
    /// none).
    pub fn final_read(&self) -> Option<Invocation> {
        let issued = self.per_worker.iter().map(|c| c.load(Ordering::Relaxed)).max().unwrap_or(0);
        self.workload.final_read(issued)
    }
}

/// Register: independent integer keys, read / write / cas of values `0..REGISTER_VALUES`.
#[derive(Debug)]
pub struct Register {
    concurrency: usize,
    ops_per_key: u64,
    reserved_reads: usize,
    threads_per_key: usize,
    groups: usize,
    unique_writes: bool,
}

impl Register {
    fn new(o: &GeneratorOptions) -> Register {
        Register {
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

impl Workload for Register {
    fn name(&self) -> &'static str {
        "register"
    }

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

/// Set: adds of unique elements, a read every `SET_READ_EVERY` ops (staggered by worker).
/// Element = (this worker's add count) * concurrency + worker, so elements never repeat.
#[derive(Debug)]
pub struct Set {
    concurrency: usize,
}

impl Set {
    fn new(o: &GeneratorOptions) -> Set {
        Set { concurrency: o.concurrency }
    }
}

impl Workload for Set {
    fn name(&self) -> &'static str {
        "set"
    }

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

/// Counter: one read in five, otherwise add 1..=5.
#[derive(Debug)]
pub struct Counter;

impl Workload for Counter {
    fn name(&self) -> &'static str {
        "counter"
    }

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

#[cfg(test)]
mod tests {
    use super::*;

    /// The key of the register generator `g` for `worker`'s `seq`-th op, read off the op itself.
    fn register_key(g: &Generator, worker: usize, seq: u64) -> u64 {
        g.op_at(worker, seq).key.and_then(|k| k.as_u64()).expect("register ops have integer keys")
    }
    use std::collections::{HashMap, HashSet};

    fn opts(seed: u64, concurrency: usize) -> GeneratorOptions {
        GeneratorOptions { seed, concurrency, ..GeneratorOptions::default() }
    }

    fn stream(g: &Generator, worker: usize, n: usize) -> Vec<Invocation> {
        (0..n).map(|_| g.next(worker).unwrap()).collect()
    }

    #[test]
    fn parse_workload_accepts_known_names_and_lists_them_on_error() {
        assert_eq!(parse_workload("register").unwrap(), "register");
        assert_eq!(parse_workload(" Set ").unwrap(), "set");
        assert_eq!(parse_workload("counter").unwrap(), "counter");
        let err = parse_workload("queue").unwrap_err().to_string();
        assert!(err.contains("\"queue\"") && err.contains("register, set, counter, list-append"), "{err}");
    }

    #[test]
    fn same_seed_same_stream_regardless_of_interleaving() {
        for kind in names() {
            let a = new_generator(kind, opts(7, 4)).unwrap();
            let b = new_generator(kind, opts(7, 4)).unwrap();
            // a: workers one after the other; b: round robin, in reverse worker order.
            let a_streams: Vec<_> = (0..4).map(|w| stream(&a, w, 300)).collect();
            let mut b_streams = vec![Vec::new(); 4];
            for _ in 0..300 {
                for w in (0..4).rev() {
                    b_streams[w].push(b.next(w).unwrap());
                }
            }
            assert_eq!(a_streams, b_streams, "{kind}");
        }
    }

    #[test]
    fn different_seeds_differ() {
        let a = new_generator("register", opts(1, 4)).unwrap();
        let b = new_generator("register", opts(2, 4)).unwrap();
        assert_ne!(stream(&a, 3, 50), stream(&b, 3, 50));
        let a = new_generator("counter", opts(1, 4)).unwrap();
        let b = new_generator("counter", opts(2, 4)).unwrap();
        assert_ne!(stream(&a, 0, 50), stream(&b, 0, 50));
    }

    #[test]
    fn register_keys_roll_over_after_ops_per_key() {
        let o = GeneratorOptions { ops_per_key: 20, threads_per_key: 4, reserved_reads: 1, ..opts(3, 8) };
        let g = new_generator("register", o).unwrap();
        let mut per_key: HashMap<u64, (usize, HashSet<usize>)> = HashMap::new();
        for _ in 0..100 {
            for w in 0..8 {
                let op = g.next(w).unwrap();
                let key = op.key.as_ref().and_then(Value::as_u64).expect("integer key");
                let entry = per_key.entry(key).or_default();
                entry.0 += 1;
                entry.1.insert(w);
            }
        }
        // 2 groups of 4 workers, 5 ops per worker per key: 20 ops and 4 workers on every key.
        assert_eq!(per_key.len(), 800 / 20);
        for (key, (count, workers)) in &per_key {
            assert_eq!(*count, 20, "key {key}");
            assert_eq!(workers.len(), 4, "key {key}");
        }
        // Groups use disjoint keys: even keys for workers 0..4, odd keys for 4..8.
        assert!(register_key(&g, 0, 0) == 0 && register_key(&g, 4, 0) == 1 && register_key(&g, 3, 5) == 2);
    }

    #[test]
    fn register_never_exceeds_ops_per_key_when_concurrency_is_large() {
        let o = GeneratorOptions { ops_per_key: 3, threads_per_key: 10, ..opts(0, 10) };
        let g = new_generator("register", o).unwrap();
        let mut counts: HashMap<u64, u64> = HashMap::new();
        for w in 0..10 {
            for op in stream(&g, w, 30) {
                *counts.entry(op.key.unwrap().as_u64().unwrap()).or_default() += 1;
            }
        }
        assert!(counts.values().all(|&c| c <= 3), "{counts:?}");
    }

    #[test]
    fn reserved_readers_only_read_and_others_mix() {
        let o = GeneratorOptions { reserved_reads: 2, threads_per_key: 5, ..opts(11, 10) };
        let g = new_generator("register", o).unwrap();
        for w in 0..10 {
            let fs: HashSet<String> = stream(&g, w, 200).into_iter().map(|op| op.f).collect();
            if w % 5 < 2 {
                assert_eq!(fs, HashSet::from(["read".to_string()]), "worker {w}");
            } else {
                assert_eq!(fs.len(), 3, "worker {w}: {fs:?}");
            }
        }
    }

    #[test]
    fn reserved_readers_leave_one_writer_per_group() {
        let o = GeneratorOptions { reserved_reads: 99, threads_per_key: 3, ..opts(0, 3) };
        let g = new_generator("register", o).unwrap();
        assert!(stream(&g, 2, 50).iter().any(|op| op.f != "read"));
    }

    #[test]
    fn register_values_are_small_integers() {
        let g = new_generator("register", GeneratorOptions { reserved_reads: 0, ..opts(5, 2) }).unwrap();
        for op in stream(&g, 1, 500) {
            match op.f.as_str() {
                "read" => assert!(op.value.is_null()),
                "write" => assert!((0..5).contains(&op.value.as_i64().unwrap())),
                "cas" => {
                    let pair = op.value.as_array().unwrap();
                    assert_eq!(pair.len(), 2);
                    assert!(pair.iter().all(|v| (0..5).contains(&v.as_i64().unwrap())));
                }
                other => panic!("unexpected f {other}"),
            }
        }
    }

    #[test]
    fn unique_writes_never_repeat_a_value_and_cas_expects_one_written_before() {
        let o = GeneratorOptions { reserved_reads: 0, unique_writes: true, threads_per_key: 3, ..opts(9, 6) };
        let g = new_generator("register", o).unwrap();
        let mut written = HashSet::new();
        let mut expected = Vec::new();
        for w in 0..6 {
            for op in stream(&g, w, 300) {
                let new = match op.f.as_str() {
                    "read" => continue,
                    "write" => op.value.as_i64().unwrap(),
                    _ => {
                        expected.push(op.value[0].as_i64().unwrap());
                        op.value[1].as_i64().unwrap()
                    }
                };
                assert!(new >= 5, "a unique value is never one of 0..5 (the usual values): {new}");
                assert!(written.insert(new), "value {new} written twice");
            }
        }
        let plausible = expected.iter().filter(|v| written.contains(v)).count();
        assert!(
            plausible * 2 > expected.len(),
            "most cas expect a value some op writes: {plausible}/{}",
            expected.len()
        );
    }

    #[test]
    fn set_elements_are_unique_and_reads_are_periodic() {
        let g = new_generator("set", opts(0, 3)).unwrap();
        let mut seen = HashSet::new();
        for w in 0..3 {
            let ops = stream(&g, w, 100);
            let reads = ops.iter().filter(|op| op.f == "read").count();
            assert_eq!(reads, 10, "worker {w}");
            for op in ops.iter().filter(|op| op.f == "add") {
                assert!(seen.insert(op.value.as_u64().unwrap()), "duplicate element {}", op.value);
            }
        }
        assert_eq!(seen.len(), 270);
        assert_eq!(g.final_read().unwrap().f, "final-read");
    }

    #[test]
    fn counter_adds_small_positive_integers() {
        let g = new_generator("counter", opts(9, 1)).unwrap();
        let ops = stream(&g, 0, 500);
        assert!(ops.iter().any(|op| op.f == "read"));
        for op in ops.iter().filter(|op| op.f == "add") {
            assert!((1..=5).contains(&op.value.as_i64().unwrap()));
        }
        assert!(new_generator("register", opts(0, 1)).unwrap().final_read().is_none());
    }

    #[test]
    fn limit_and_worker_range_end_the_stream() {
        let g = new_generator("counter", GeneratorOptions { limit: Some(5), ..opts(0, 2) }).unwrap();
        assert!(g.next(2).is_none(), "worker 2 is out of range for concurrency 2");
        let handed_out = (0..10).filter(|i| g.next(i % 2).is_some()).count();
        assert_eq!(handed_out, 5);
    }

    #[test]
    fn concurrent_next_is_consistent() {
        let g = std::sync::Arc::new(new_generator("register", opts(42, 8)).unwrap());
        let handles: Vec<_> = (0..8)
            .map(|w| {
                let g = g.clone();
                std::thread::spawn(move || stream(&g, w, 1000))
            })
            .collect();
        for (w, h) in handles.into_iter().enumerate() {
            let got = h.join().unwrap();
            let expected: Vec<_> = (0..1000).map(|i| g.op_at(w, i)).collect();
            assert_eq!(got, expected);
        }
    }
}
