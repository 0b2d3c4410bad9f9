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
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::sync::atomic::{AtomicU64, Ordering};

/// A workload's operation stream: what each worker does next and how a run ends.
///
/// The generator owns reproducibility (it positions `rng` at `(seed, worker, seq)` before each
/// call), so a source only says what the `seq`-th operation of `worker` is, drawing what it
/// needs from `rng`.
pub trait OpSource: Send + Sync + std::fmt::Debug {
    /// The `seq`-th operation of `worker`, at most a few dozen words drawn from `rng`.
    fn op(&self, worker: usize, seq: u64, rng: &mut ChaCha8Rng) -> Invocation;
    /// The read that ends a run on every node after the heal (convergence), if any. `issued` is
    /// the most operations handed out to one worker (what a workload with rotating keys needs to
    /// know which keys exist).
    fn final_read(&self, _issued: u64) -> Option<Invocation> {
        None
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

/// A thread-safe, reproducible operation source for one workload.
#[derive(Debug)]
pub struct Generator {
    source: Box<dyn OpSource>,
    opts: GeneratorOptions,
    /// Operations handed out so far, per worker.
    per_worker: Vec<AtomicU64>,
    /// Operations handed out so far, all workers (only for `limit`).
    issued: AtomicU64,
}

impl Generator {
    /// A generator over the stream `make` builds from the options, clamped first (documented on
    /// [`GeneratorOptions`]); `concurrency` 0 gives a generator that hands out nothing.
    pub fn new(opts: GeneratorOptions, make: impl FnOnce(&GeneratorOptions) -> Box<dyn OpSource>) -> Generator {
        let ops_per_key = opts.ops_per_key.max(1);
        let threads_per_key = opts.threads_per_key.clamp(1, opts.concurrency.max(1)).min(ops_per_key as usize);
        let opts = GeneratorOptions { ops_per_key, threads_per_key, ..opts };
        let per_worker = (0..opts.concurrency).map(|_| AtomicU64::new(0)).collect();
        Generator { source: make(&opts), opts, per_worker, issued: AtomicU64::new(0) }
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
        self.source.op(worker, seq, &mut rng)
    }

    /// The read that ends a run (set, counter and the transactional workloads; register has
    /// none).
    pub fn final_read(&self) -> Option<Invocation> {
        let issued = self.per_worker.iter().map(|c| c.load(Ordering::Relaxed)).max().unwrap_or(0);
        self.source.final_read(issued)
    }
}
