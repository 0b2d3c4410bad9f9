//! The linearizability checker: pairs invocations with completions, splits the history per key
//! (P-compositionality: a history is linearizable iff each key's sub-history is), checks the keys
//! in parallel on all cores with the search in `search` (taking turns, so that one key whose
//! search explodes cannot hold up a quick violation on another), stops at the first violation,
//! and explains an invalid verdict with the fields the reports draw from (see `Failure`).
//! Before searching a key, the model may decide it outright (`Model::decide`): register keys
//! whose written values are unique are decided in O(n log n) by `unique`, whatever the number of
//! crashed ops and processes; the search then only runs, bounded, to explain a violation.
//! The search's caches get half the memory available at start (`default_memory_budget`).
//!
//! Jepsen conventions: `fail` ops are dropped (they certainly did not happen); `info` ops, and
//! invocations that never completed, stay open to the end of the history; nemesis ops are
//! ignored. In imported Jepsen/Knossos EDN an `ok` read of nil carries no information
//! (`nil_read_is_unknown`); in faultline's own histories it means "absent".

pub mod ops;
pub mod quick;
pub mod search;
pub mod shortcuts;
pub mod unique;
pub use shortcuts::Shortcuts;

use crate::history::{Op, OpType, Process};
use crate::models::{FifoQueue, Kv, Model, Mutex, Register, Val};
use crate::Verdict;
use search::{Decision, Limits, Outcome, SearchOp};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Which model to check against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelKind {
    Register,
    CasRegister,
    Kv,
    Mutex,
    FifoQueue,
}

impl ModelKind {
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Register => "register",
            ModelKind::CasRegister => "cas-register",
            ModelKind::Kv => "kv",
            ModelKind::Mutex => "mutex",
            ModelKind::FifoQueue => "fifo-queue",
        }
    }

    pub fn from_name(s: &str) -> Option<ModelKind> {
        Some(match s {
            "register" => ModelKind::Register,
            "cas-register" => ModelKind::CasRegister,
            "kv" => ModelKind::Kv,
            "mutex" => ModelKind::Mutex,
            "fifo-queue" => ModelKind::FifoQueue,
            _ => return None,
        })
    }

    /// Pick a model from the functions the client ops use: kv when keyed ops use get/put/append,
    /// cas-register when any op is a cas, register for read/write, mutex for acquire/release,
    /// fifo-queue for enqueue/dequeue.
    pub fn detect(history: &[Op]) -> Result<ModelKind, String> {
        let mut fs: Vec<&str> = Vec::new();
        let mut keyed = false;
        let mut last: Option<&str> = None;
        for op in history.iter().filter(|o| !o.is_nemesis()) {
            keyed |= op.key.is_some();
            // Most ops repeat the function of one of the last few: check the last one first.
            if last != Some(op.f.as_str()) && !fs.contains(&op.f.as_str()) {
                fs.push(&op.f);
            }
            last = Some(&op.f);
        }
        let has = |f: &str| fs.contains(&f);
        let only = |allowed: &[&str]| fs.iter().all(|f| allowed.contains(f));
        if fs.is_empty() {
            return Ok(ModelKind::Register);
        }
        if keyed && (has("get") || has("put") || has("append")) && only(&["get", "put", "append"]) {
            return Ok(ModelKind::Kv);
        }
        if has("cas") && only(&["read", "write", "cas"]) {
            return Ok(ModelKind::CasRegister);
        }
        if only(&["read", "write"]) {
            return Ok(ModelKind::Register);
        }
        if only(&["acquire", "release"]) {
            return Ok(ModelKind::Mutex);
        }
        if only(&["enqueue", "dequeue"]) {
            return Ok(ModelKind::FifoQueue);
        }
        Err(format!("cannot pick a model for the functions {} (use --model)", fs.join(", ")))
    }
}

/// How to check.
#[derive(Debug, Clone)]
pub struct Options {
    pub model: ModelKind,
    /// Initial value of registers and of each kv key (`null`: nil / absent).
    pub init: Value,
    /// An `ok` completion with a nil value carries no information (imported Jepsen EDN).
    pub nil_read_is_unknown: bool,
    /// After this long the result is `unknown`.
    pub timeout: Option<Duration>,
    /// Bytes all search caches together may use; beyond it the result is `unknown`. By
    /// default half the memory available when the check starts (`default_memory_budget`).
    pub memory_budget: usize,
    /// Worker threads; 0 = all cores.
    pub threads: usize,
}

impl Options {
    pub fn new(model: ModelKind) -> Options {
        Options {
            model,
            init: Value::Null,
            nil_read_is_unknown: false,
            timeout: None,
            memory_budget: default_memory_budget(),
            threads: 0,
        }
    }
}

/// The search caches' default memory budget: half the memory the kernel says is available
/// (`MemAvailable` in /proc/meminfo), at least 256 MiB and at most 64 GiB; 512 MiB where that
/// cannot be read. Read once per process.
pub fn default_memory_budget() -> usize {
    static BUDGET: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *BUDGET.get_or_init(|| {
        let available = std::fs::read_to_string("/proc/meminfo").ok().and_then(|text| {
            let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
            let kb: usize = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kb.saturating_mul(1024))
        });
        match available {
            Some(bytes) => (bytes / 2).clamp(256 << 20, 64 << 30),
            None => 512 << 20,
        }
    })
}

/// The result that goes into results.json under `checkers.linearizable`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinearizableResult {
    pub verdict: Verdict,
    pub summary: String,
    pub model: String,
    /// Number of keys (partitions) checked.
    pub keys: usize,
    /// Number of client operations (invocations) in the history.
    pub ops: usize,
    pub failure: Option<Failure>,
}

crate::checker_result!(LinearizableResult, crate::outcome::Checker::Linearizable);

/// Why the history is not linearizable, for the report's picture.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    /// The failing key, or null when the history has no keys.
    pub key: Value,
    /// The ops of the failing key around the failure: those overlapping the window from the
    /// earliest op not in the prefix to the failing op's end (at most `MAX_FAILURE_OPS`).
    pub ops: Vec<FailureOp>,
    /// The longest linearizable prefix found, in linearization order (only ids also in `ops`).
    pub linearized: Vec<usize>,
    /// Each of `linearized`'s position in the whole prefix, from 1 (empty in older results).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub positions: Vec<usize>,
    /// Length of the whole prefix, including ops before the window.
    pub linearized_count: usize,
    /// Model states allowed after that prefix.
    pub states: Vec<String>,
    /// The op that cannot be linearized next.
    pub failing: usize,
    /// Ops concurrent with the failing op that the prefix does not hold (those it holds are
    /// in `linearized`).
    pub concurrent: Vec<usize>,
    /// The op of the prefix that last changed the model's state: the one that fixed the state
    /// named (absent when the prefix never changed it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed_by: Option<usize>,
    /// When the failing op is a read: the write (or cas) that produced the value it returned, if
    /// it lies outside `ops` (long before the window, typically a stale read's source).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub writer: Option<FailureOp>,
}

/// One operation in a failure report. `id` is its number within its key, in invocation order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailureOp {
    pub id: usize,
    /// History index of the invoke.
    pub index: u64,
    pub process: u64,
    pub f: String,
    /// The invocation's value.
    pub value: Value,
    /// The completion's value, or null for an info op.
    pub output: Value,
    /// "ok" or "info".
    #[serde(rename = "type")]
    pub kind: String,
    /// Nanoseconds since the run started, of the invoke.
    pub start: u64,
    /// Of the completion; null for an info op.
    pub end: Option<u64>,
}

/// The most ops a failure report carries.
pub const MAX_FAILURE_OPS: usize = 300;

/// An operation of one key: its invoke and completion positions in the history.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Call {
    pub(crate) invoke: usize,
    /// `None` when it ended `info` or never completed.
    pub(crate) ok: Option<usize>,
}

/// Check a history. `Err` when an op does not fit the model (e.g. a cas under `register`).
pub fn check(history: &[Op], opts: &Options) -> Result<LinearizableResult, String> {
    match opts.model {
        ModelKind::Register => {
            check_with(&Register { init: Val::from_json(&opts.init), allow_cas: false }, history, opts)
        }
        ModelKind::CasRegister => {
            check_with(&Register { init: Val::from_json(&opts.init), allow_cas: true }, history, opts)
        }
        ModelKind::Kv => {
            let init = match &opts.init {
                Value::Null => None,
                Value::String(s) => Some(Arc::from(s.as_str())),
                other => Some(Arc::from(other.to_string())),
            };
            check_with(&Kv { init }, history, opts)
        }
        ModelKind::Mutex => check_with(&Mutex, history, opts),
        ModelKind::FifoQueue => check_with(&FifoQueue, history, opts),
    }
}

/// A key's identity for partitioning: two keys are the same when their texts are (the string
/// "5" and the number 5 are one key), without building the text of every op's key.
#[derive(Hash, PartialEq, Eq)]
enum KeyId<'a> {
    Unsigned(u64),
    Negative(i64),
    Text(std::borrow::Cow<'a, str>),
}

impl<'a> KeyId<'a> {
    fn of(v: &'a Value) -> KeyId<'a> {
        use std::borrow::Cow;
        match v {
            Value::Number(n) => match (n.as_u64(), n.as_i64()) {
                (Some(u), _) => KeyId::Unsigned(u),
                (None, Some(i)) => KeyId::Negative(i),
                _ => KeyId::Text(Cow::Owned(n.to_string())),
            },
            Value::String(s) => {
                // A string that is exactly how a number prints is that number's key.
                let digits = |d: &str| {
                    !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()) && (d.len() == 1 || !d.starts_with('0'))
                };
                if digits(s) {
                    if let Ok(u) = s.parse::<u64>() {
                        return KeyId::Unsigned(u);
                    }
                } else if let Some(d) = s.strip_prefix('-') {
                    if digits(d) && d != "0" {
                        if let Ok(i) = s.parse::<i64>() {
                            return KeyId::Negative(i);
                        }
                    }
                }
                KeyId::Text(Cow::Borrowed(s))
            }
            other => KeyId::Text(Cow::Owned(other.to_string())),
        }
    }
}

/// One key's operations, paired and converted by the model.
pub(crate) struct Part<O> {
    pub(crate) key: Option<Value>,
    /// Invocations not ended by `fail`, in order: an op's id is its position here.
    pub(crate) calls: Vec<Call>,
    /// For the search: the ops the model kept, and their ids.
    pub(crate) ids: Vec<usize>,
    pub(crate) ops: Vec<SearchOp<O>>,
}

impl<O> Part<O> {
    /// A key's part from its invocations not ended by `fail`, in order, each with the model's
    /// form of it (`None`: it carries no information, and the search skips it).
    fn new(key: Option<Value>, expected: usize, calls: impl IntoIterator<Item = (Call, Option<O>)>) -> Part<O> {
        let mut part =
            Part { key, calls: Vec::with_capacity(expected), ids: Vec::new(), ops: Vec::with_capacity(expected) };
        for (call, prepared) in calls {
            let id = part.calls.len();
            part.calls.push(call);
            if let Some(op) = prepared {
                part.ids.push(id);
                part.ops.push(SearchOp { op, call_at: call.invoke, return_at: call.ok });
            }
        }
        part
    }
}

/// The parts of a history and its number of invocations.
pub(crate) type Partitioned<O> = (Vec<Part<O>>, usize);

/// Pair client invocations with completions, group them per key (keys in order of first use)
/// and convert them with the model, in one pass over the history: an op is converted at its
/// completion, while its invocation is still in the CPU cache (converting afterwards, key by
/// key, jumps around a history of hundreds of MB). Returns the parts and the number of
/// invocations; `Err` when an op does not fit the model.
pub(crate) fn partition<M: Model>(model: &M, history: &[Op], opts: &Options) -> Result<Partitioned<M::Op>, String> {
    use rustc_hash::FxHashMap as HashMap;
    /// A call being paired: `None` once it failed (it is then dropped).
    type Pending<O> = Option<(Call, Option<O>)>;
    let mut key_ids: HashMap<KeyId, usize> = HashMap::default();
    let mut keys: Vec<Option<Value>> = Vec::new();
    let mut pending: Vec<Vec<Pending<M::Op>>> = Vec::new();
    // Open call per process: (partition, index within it).
    let mut open: crate::history::ByProcess<Option<(usize, usize)>> = crate::history::ByProcess::new(history, None);
    let mut invocations = 0;
    // Fast path for the common unkeyed case.
    let mut unkeyed: Option<usize> = None;
    let convert = |inv: &Op, done: Option<&Op>, part: usize, keys: &[Option<Value>]| {
        let output = done.map(|d| &d.value).filter(|v| !(opts.nil_read_is_unknown && v.is_null()));
        model.prepare(&inv.f, &inv.value, output).map_err(|e| {
            let key = keys[part].as_ref().map(|k| format!(" (key {k})")).unwrap_or_default();
            format!("op at history index {}{key}: {e}", inv.index)
        })
    };
    for (pos, op) in history.iter().enumerate() {
        let Process::Client(p) = op.process else { continue };
        match op.kind {
            OpType::Invoke => {
                invocations += 1;
                let part = match &op.key {
                    None => *unkeyed.get_or_insert_with(|| {
                        keys.push(None);
                        pending.push(Vec::new());
                        keys.len() - 1
                    }),
                    Some(k) => *key_ids.entry(KeyId::of(k)).or_insert_with(|| {
                        keys.push(Some(k.clone()));
                        pending.push(Vec::new());
                        keys.len() - 1
                    }),
                };
                pending[part].push(Some((Call { invoke: pos, ok: None }, None)));
                *open.get_mut(p) = Some((part, pending[part].len() - 1));
            }
            OpType::Ok | OpType::Info => {
                if let Some((part, i)) = open.get_mut(p).take() {
                    if let Some((call, prepared)) = &mut pending[part][i] {
                        let done = (op.kind == OpType::Ok).then_some(op);
                        call.ok = done.map(|_| pos);
                        *prepared = convert(&history[call.invoke], done, part, &keys)?;
                    }
                }
            }
            OpType::Fail => {
                // It certainly did not happen: drop it.
                if let Some((part, i)) = open.get_mut(p).take() {
                    pending[part][i] = None;
                }
            }
        }
    }
    // Invocations that never completed stay open to the end, like `info`.
    let mut never_completed: Vec<(usize, usize)> = open.into_entries().into_iter().filter_map(|(_, o)| o).collect();
    never_completed.sort_unstable();
    for (part, i) in never_completed {
        if let Some((call, prepared)) = &mut pending[part][i] {
            *prepared = convert(&history[call.invoke], None, part, &keys)?;
        }
    }
    let parts = keys
        .into_iter()
        .zip(pending)
        .map(|(key, calls)| Part::new(key, calls.len(), calls.into_iter().flatten()))
        .collect();
    Ok((parts, invocations))
}

/// A key's first turn, in search steps (a few milliseconds).
const FIRST_TURN_STEPS: u64 = 1 << 15;

/// What one key's search came to.
enum KeyOutcome {
    Valid,
    /// Its turn's step budget ran out (see `check_with`).
    OutOfSteps,
    Invalid(Box<Failure>, String),
    Unknown(String),
}

fn check_with<M: Shortcuts>(model: &M, history: &[Op], opts: &Options) -> Result<LinearizableResult, String> {
    let started = Instant::now();
    // An op that does not fit the model is an error rather than a verdict, whatever order the
    // keys are searched in: every op is converted before any search starts.
    let (parts, invocations) = partition(model, history, opts)?;
    Ok(check_parts(model, &parts, invocations, Some(history), opts, started))
}

/// Search the keys of a partitioned history (see `check_with`). `history` explains a failure;
/// without it (`quick`) an invalid verdict comes with a bare failure and a bare summary. The
/// sequential-consistency checker (`ladder`) runs it on the parts it searches itself.
pub(crate) fn check_parts<M: Shortcuts>(
    model: &M,
    parts: &[Part<M::Op>],
    invocations: usize,
    history: Option<&[Op]>,
    opts: &Options,
    started: Instant,
) -> LinearizableResult {
    let deadline = opts.timeout.map(|t| started + t);
    let result = |verdict, summary: String, failure| LinearizableResult {
        verdict,
        summary,
        model: model.name().to_string(),
        keys: parts.len(),
        ops: invocations,
        failure,
    };

    let threads = if opts.threads == 0 { worker_threads() } else { opts.threads };
    let threads = threads.clamp(1, parts.len().max(1));

    let stop = AtomicBool::new(false);
    let per_thread_budget = opts.memory_budget / threads;
    // Keys take turns: each search gets a step budget, and a key that uses it up goes to the
    // back of the queue with four times the budget (the turns that ran out add up to less than
    // a third of the last turn's budget, so to less than 4/3 of the search itself; the last key
    // waiting runs unbounded). So one key whose search explodes cannot hold a thread while a
    // quick violation waits on another key, whatever the order and the number of cores. Bigger
    // keys go first, so a large easy key does not start last and finish alone.
    let mut order: Vec<usize> = (0..parts.len()).collect();
    order.sort_by_key(|&k| std::cmp::Reverse(parts[k].ops.len()));
    let queue: std::sync::Mutex<std::collections::VecDeque<(usize, u64)>> =
        std::sync::Mutex::new(order.into_iter().map(|k| (k, FIRST_TURN_STEPS)).collect());

    let worker = || -> Vec<(usize, KeyOutcome)> {
        let mut found = Vec::new();
        loop {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            let turn = {
                let mut q = queue.lock().unwrap_or_else(|e| e.into_inner());
                // The last key waiting runs to the end: nobody is waiting for its turn.
                q.pop_front().map(|(k, steps)| (k, if q.is_empty() { u64::MAX } else { steps }))
            };
            let Some((k, max_steps)) = turn else { break };
            let limits = Limits {
                deadline,
                memory_budget: per_thread_budget,
                stop: &stop,
                max_steps,
                symmetry_after: search::SYMMETRY_AFTER,
            };
            let part = &parts[k];
            let outcome = run_key(model, &part.ids, &part.ops, &limits, history, &part.calls, part.key.as_ref());
            match outcome {
                KeyOutcome::Valid => {}
                KeyOutcome::OutOfSteps => {
                    queue.lock().unwrap_or_else(|e| e.into_inner()).push_back((k, max_steps.saturating_mul(4)));
                }
                // `run_key` has already told the other searches to stop.
                KeyOutcome::Invalid(..) => found.push((k, outcome)),
                KeyOutcome::Unknown(ref reason) => {
                    if !reason.starts_with("stopped") {
                        found.push((k, outcome));
                    }
                }
            }
        }
        found
    };
    let mut outcomes: Vec<(usize, KeyOutcome)> = if threads == 1 {
        worker()
    } else {
        std::thread::scope(|s| {
            // This thread is one of the workers: one thread fewer to start.
            let handles: Vec<_> = (1..threads).map(|_| s.spawn(worker)).collect();
            let mut found = worker();
            found.extend(handles.into_iter().flat_map(|h| h.join().unwrap_or_default()));
            found
        })
    };
    outcomes.sort_by_key(|(k, _)| *k);

    let n_keys = parts.len();
    let keys_word = if n_keys == 1 { "key" } else { "keys" };
    if let Some(pos) = outcomes.iter().position(|(_, o)| matches!(o, KeyOutcome::Invalid(..))) {
        let (_, KeyOutcome::Invalid(failure, summary)) = outcomes.swap_remove(pos) else { unreachable!() };
        return result(Verdict::Invalid, summary, Some(*failure));
    }
    if let Some((k, KeyOutcome::Unknown(reason))) = outcomes.into_iter().next() {
        let key = parts[k].key.as_ref().map(|k| format!("key {k}: ")).unwrap_or_default();
        return result(Verdict::Unknown, format!("could not decide linearizability: {key}{reason}"), None);
    }
    result(
        Verdict::Valid,
        format!(
            "all {invocations} operations on {n_keys} {keys_word} are linearizable under the {} model",
            model.name()
        ),
        None,
    )
}

/// The number of cores to use. `available_parallelism` reads cgroup files on every call, which
/// costs more than checking a small history, so ask once.
pub fn cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()).max(1))
}

/// How many threads to check with: one more than the cores. A worker often waits (a page fault,
/// a file read, the machine lending its core elsewhere), and the extra one fills that time; it
/// also lets one more key's search run, so a quick violation on one key is found sooner while
/// another key's search grinds (BENCHMARKS.md, Checker, has the figures).
pub fn worker_threads() -> usize {
    cores() + 1
}

/// Steps the search gets to explain a violation the unique-value procedure found.
const EXPLAIN_STEPS: u64 = 1 << 20;

/// Search one key and build the report of a failure.
fn run_key<M: Shortcuts>(
    model: &M,
    ids: &[usize],
    ops: &[SearchOp<M::Op>],
    limits: &Limits,
    history: Option<&[Op]>,
    calls: &[Call],
    key: Option<&Value>,
) -> KeyOutcome {
    // A decision procedure first, where the model has one that applies (unique values).
    let mut decided = None;
    if let Some(decision) = model.decide(ops) {
        match decision {
            Decision::Linearizable => return KeyOutcome::Valid,
            Decision::NotLinearizable(violation) => decided = Some(violation),
        }
    }
    let outcome = match &decided {
        // The search explains a violation best (the longest prefix and every state after it):
        // give it a bounded number of steps to, else explain with the procedure's violation.
        Some(_) => {
            let explaining = Limits { max_steps: limits.max_steps.min(EXPLAIN_STEPS), ..*limits };
            search::search(model, ops, &explaining)
        }
        None => search::search(model, ops, limits),
    };
    if let Some(violation) = decided {
        match outcome {
            Outcome::NotLinearizable(_) => {}
            Outcome::Linearizable => {
                return KeyOutcome::Unknown(
                    "the search and the unique-value procedure disagree (a bug: please report it)".into(),
                )
            }
            _ => {
                limits.stop.store(true, Ordering::Relaxed);
                let witness = search::Witness {
                    linearized: violation.linearized,
                    states: vec![violation.state],
                    failing: violation.failing,
                };
                let (Some(history), true) = (history, !ops.is_empty()) else {
                    return KeyOutcome::Invalid(Box::new(bare_failure(key)), "not linearizable".into());
                };
                let (failure, checked) = explain(model, &witness, ids, ops, history, calls, key);
                let op = &failure.ops.iter().find(|o| o.id == failure.failing);
                let what =
                    op.map(describe_op).map(|w| abbreviate(&w)).unwrap_or_else(|| format!("op {}", failure.failing));
                let key_text = key.map(|k| format!("key {k}: ")).unwrap_or_default();
                let prefix = match failure.linearized_count {
                    0 => String::new(),
                    count => format!(
                        "; a linearizable prefix of {count} operations leaves the {} at {}",
                        model.name(),
                        failure.states.join(" or ")
                    ),
                };
                let summary = format!(
                    "{key_text}{what} cannot be linearized: {}{prefix}{}",
                    violation.reason,
                    unchecked_note(checked)
                );
                return KeyOutcome::Invalid(Box::new(failure), summary);
            }
        }
    }
    match outcome {
        Outcome::Linearizable => KeyOutcome::Valid,
        Outcome::GaveUp(reason) => KeyOutcome::Unknown(reason),
        Outcome::OutOfSteps => KeyOutcome::OutOfSteps,
        Outcome::NotLinearizable(witness) => {
            // Other keys' searches can stop now.
            limits.stop.store(true, Ordering::Relaxed);
            let (Some(witness), Some(history)) = (witness, history) else {
                return KeyOutcome::Invalid(Box::new(bare_failure(key)), "not linearizable".into());
            };
            let (failure, checked) = explain(model, &witness, ids, ops, history, calls, key);
            let op = &failure.ops.iter().find(|o| o.id == failure.failing);
            let what = op.map(describe_op).map(|w| abbreviate(&w)).unwrap_or_else(|| format!("op {}", failure.failing));
            let key_text = key.map(|k| format!("key {k}: ")).unwrap_or_default();
            let states = failure.states.iter().map(|s| abbreviate(s)).collect::<Vec<_>>().join(" or ");
            let summary = format!(
                "{key_text}{what} cannot be linearized after a prefix of {} operations, which leaves the {} at {states}{}{}",
                failure.linearized_count,
                model.name(),
                if failure.states.len() > 1 { " (depending on its order)" } else { "" },
                unchecked_note(checked),
            );
            KeyOutcome::Invalid(Box::new(failure), summary)
        }
    }
}

/// What the summary adds when the explanation failed its cross-check: the verdict stands (the
/// search decided it), but the picture must not be trusted. Tests fail on it.
fn unchecked_note(checked: Result<(), String>) -> String {
    match checked {
        Ok(()) => String::new(),
        Err(why) => {
            debug_assert!(false, "explanation failed its cross-check: {why}");
            format!(" (the explanation below failed its own check: {why}; please report it)")
        }
    }
}

fn bare_failure(key: Option<&Value>) -> Failure {
    Failure {
        key: key.cloned().unwrap_or(Value::Null),
        ops: Vec::new(),
        linearized: Vec::new(),
        positions: Vec::new(),
        linearized_count: 0,
        states: Vec::new(),
        failing: 0,
        concurrent: Vec::new(),
        fixed_by: None,
        writer: None,
    }
}

/// Long states (kv strings) shortened for the one-sentence summary; the failure keeps them whole.
fn abbreviate(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    if chars.len() <= 80 {
        return s.to_string();
    }
    let head: String = chars[..30].iter().collect();
    let tail: String = chars[chars.len() - 40..].iter().collect();
    format!("{head}...{tail}")
}

/// "read 3 by process 4 (op 12, history index 345)".
fn describe_op(op: &FailureOp) -> String {
    let shown = if op.value.is_null() { &op.output } else { &op.value };
    let value = if shown.is_null() { String::new() } else { format!(" {shown}") };
    format!("{}{value} by process {} (op {}, history index {})", op.f, op.process, op.id, op.index)
}

/// Build the report fields from a witness, and check them against the ops they came from
/// (`cross_check`): `Err` names what the explanation would get wrong, with the failure anyway.
fn explain<M: Shortcuts>(
    model: &M,
    witness: &search::Witness<M::State>,
    ids: &[usize],
    ops: &[SearchOp<M::Op>],
    history: &[Op],
    calls: &[Call],
    key: Option<&Value>,
) -> (Failure, Result<(), String>) {
    let in_prefix: std::collections::HashSet<usize> = witness.linearized.iter().copied().collect();
    let failing = witness.failing;
    // The op that set the state the explanation names: the last one in the prefix that changed
    // it. Without it in the picture, "leaves the register at 0" has nothing to point at.
    let fixer = last_change(model, &witness.linearized, ops).ok().flatten();
    let f_start = ops[failing].call_at;
    let f_end = ops[failing].return_at.unwrap_or(usize::MAX);
    let overlaps_failing = |i: usize| ops[i].call_at <= f_end && ops[i].return_at.unwrap_or(usize::MAX) >= f_start;
    // Ops the argument names: the failing op, the fixer, and every op concurrent with the
    // failing one that the prefix left out (the alternatives the search tried).
    let named: Vec<usize> = std::iter::once(failing)
        .chain(fixer)
        .chain((0..ops.len()).filter(|&i| i != failing && !in_prefix.contains(&i) && overlaps_failing(i)))
        .collect();
    // The window: from the earliest op not in the prefix (or the fixer, if earlier) to the
    // failing op's completion.
    let window_start = (0..ops.len())
        .filter(|i| !in_prefix.contains(i))
        .map(|i| ops[i].call_at)
        .chain(fixer.map(|i| ops[i].call_at))
        .min()
        .unwrap_or(0);
    let window_end = f_end;
    let overlaps = |i: usize| ops[i].call_at <= window_end && ops[i].return_at.unwrap_or(usize::MAX) >= window_start;
    let mut chosen: Vec<usize> = (0..ops.len()).filter(|&i| overlaps(i)).collect();
    if chosen.len() > MAX_FAILURE_OPS {
        // Keep the named ops, then those nearest the failing one.
        let at = ops[failing].call_at;
        let named_set: std::collections::HashSet<usize> = named.iter().copied().collect();
        chosen.sort_by_key(|&i| (!named_set.contains(&i), (ops[i].call_at as i64 - at as i64).unsigned_abs()));
        chosen.truncate(MAX_FAILURE_OPS.max(named.len()));
        chosen.sort_unstable();
    }
    for &i in &named {
        if let Err(at) = chosen.binary_search(&i) {
            chosen.insert(at, i);
        }
    }
    let chosen_set: std::collections::HashSet<usize> = chosen.iter().copied().collect();
    let failure_op = |i: usize| {
        let id = ids[i];
        let call = calls[id];
        let inv = &history[call.invoke];
        let done = call.ok.map(|p| &history[p]);
        FailureOp {
            id,
            index: inv.index,
            process: match inv.process {
                Process::Client(p) => p,
                Process::Nemesis => u64::MAX,
            },
            f: inv.f.to_string(),
            value: inv.value.clone(),
            output: done.map(|d| d.value.clone()).unwrap_or(Value::Null),
            kind: if done.is_some() { "ok" } else { "info" }.to_string(),
            start: inv.time,
            end: done.map(|d| d.time),
        }
    };
    // Concurrent: overlapping the failing op and not linearized before it. An op of the prefix
    // that overlaps it is drawn as linearized, never as both.
    let concurrent = named.iter().skip(1 + usize::from(fixer.is_some())).map(|&i| ids[i]).collect();
    // A read's value came from some write: the latest one invoked before the read returned. When
    // it is outside the window, the report still needs it to show where the value came from.
    let read_value = (history[calls[ids[failing]].invoke].f == "read")
        .then(|| calls[ids[failing]].ok.map(|p| &history[p].value))
        .flatten()
        .filter(|v| !v.is_null());
    let wrote = |inv: &Op| match inv.f.as_str() {
        "write" => Some(inv.value.clone()),
        "cas" => inv.value.as_array().and_then(|a| a.get(1)).cloned(),
        _ => None,
    };
    let writer = read_value.and_then(|v| {
        (0..ops.len())
            .filter(|&i| i != failing && ops[i].call_at < f_end)
            .filter(|&i| wrote(&history[calls[ids[i]].invoke]).as_ref() == Some(v))
            .max_by_key(|&i| ops[i].call_at)
            .filter(|i| !chosen_set.contains(i))
            .map(failure_op)
    });
    let (linearized, positions): (Vec<usize>, Vec<usize>) = witness
        .linearized
        .iter()
        .enumerate()
        .filter(|(_, i)| chosen_set.contains(i))
        .map(|(at, &i)| (ids[i], at + 1))
        .unzip();
    let failure = Failure {
        writer,
        key: key.cloned().unwrap_or(Value::Null),
        ops: chosen.iter().map(|&i| failure_op(i)).collect(),
        linearized,
        positions,
        linearized_count: witness.linearized.len(),
        states: witness.states.iter().map(|s| model.describe(s)).collect(),
        failing: ids[failing],
        fixed_by: fixer.map(|i| ids[i]),
        concurrent,
    };
    let checked = cross_check(model, witness, ids, ops, &failure);
    (failure, checked)
}

/// The last op of `prefix` that changed the model's state, replaying it from the initial state;
/// `Err` names the first op the model refuses.
fn last_change<M: Model>(model: &M, prefix: &[usize], ops: &[SearchOp<M::Op>]) -> Result<Option<usize>, String> {
    let mut state = model.init();
    let mut last = None;
    for (at, &i) in prefix.iter().enumerate() {
        let next = model
            .step(&state, &ops[i].op)
            .ok_or_else(|| format!("op #{} of the prefix cannot follow the ones before it", at + 1))?;
        if next != state {
            last = Some(i);
        }
        state = next;
    }
    Ok(last)
}

/// Check an explanation against the ops it explains, so that what the report says can be
/// verified by hand: the prefix replays under the model to a state the explanation names, it
/// respects real time (no op outside it returned before an op in it began; within it, no op
/// returned before an earlier one began), the failing op cannot follow any named state, the
/// picture holds every op the argument uses (the failing op, the op that fixed the state, every
/// concurrent op), and no op is both linearized and concurrent.
pub(crate) fn cross_check<M: Model>(
    model: &M,
    witness: &search::Witness<M::State>,
    ids: &[usize],
    ops: &[SearchOp<M::Op>],
    failure: &Failure,
) -> Result<(), String> {
    let prefix = &witness.linearized;
    // Replay.
    let mut state = model.init();
    for (at, &i) in prefix.iter().enumerate() {
        state = model
            .step(&state, &ops[i].op)
            .ok_or_else(|| format!("op {} (#{} of the prefix) cannot follow the ones before it", ids[i], at + 1))?;
    }
    let replayed = model.describe(&state);
    if !failure.states.contains(&replayed) {
        return Err(format!("the prefix replays to {replayed}, which the explanation does not name"));
    }
    if failure.linearized_count != prefix.len() {
        return Err(format!("the prefix has {} ops, not {}", prefix.len(), failure.linearized_count));
    }
    // Real time.
    let in_prefix: std::collections::HashSet<usize> = prefix.iter().copied().collect();
    if let Some(&last_call) = prefix.iter().map(|&i| &ops[i].call_at).max() {
        if let Some(i) =
            (0..ops.len()).find(|i| !in_prefix.contains(i) && ops[*i].return_at.is_some_and(|r| r < last_call))
        {
            return Err(format!("op {} returned before an op of the prefix began, but is not in it", ids[i]));
        }
    }
    let mut min_return_after = usize::MAX;
    for &i in prefix.iter().rev() {
        if min_return_after < ops[i].call_at {
            return Err(format!("op {} is linearized before an op that returned before it began", ids[i]));
        }
        min_return_after = min_return_after.min(ops[i].return_at.unwrap_or(usize::MAX));
    }
    // The failing op.
    if in_prefix.contains(&witness.failing) || ids[witness.failing] != failure.failing {
        return Err(format!("op {} is named failing but is in the prefix, or is not the search's", failure.failing));
    }
    if witness.states.iter().any(|s| model.step(s, &ops[witness.failing].op).is_some()) {
        return Err(format!("op {} can follow a state the explanation names", failure.failing));
    }
    // The picture.
    let drawn = |id: usize| failure.ops.iter().any(|o| o.id == id);
    let named = std::iter::once(failure.failing).chain(failure.fixed_by).chain(failure.concurrent.iter().copied());
    if let Some(id) = named.clone().find(|&id| !drawn(id)) {
        return Err(format!("op {id} is named but not drawn"));
    }
    if let Some(id) = failure.concurrent.iter().find(|id| failure.linearized.contains(id)) {
        return Err(format!("op {id} is both linearized and concurrent"));
    }
    let by_id = |id: usize| ids.iter().position(|&x| x == id);
    let f = witness.failing;
    let overlapping: Vec<usize> = (0..ops.len())
        .filter(|&i| i != f && !in_prefix.contains(&i))
        .filter(|&i| {
            ops[i].call_at <= ops[f].return_at.unwrap_or(usize::MAX)
                && ops[i].return_at.unwrap_or(usize::MAX) >= ops[f].call_at
        })
        .map(|i| ids[i])
        .collect();
    if overlapping != failure.concurrent {
        return Err(format!(
            "the ops concurrent with op {} and not linearized are {overlapping:?}, not {:?}",
            failure.failing, failure.concurrent
        ));
    }
    let fixer = last_change(model, prefix, ops)?.map(|i| ids[i]);
    if fixer != failure.fixed_by {
        return Err(format!("the state was set by op {fixer:?}, not {:?}", failure.fixed_by));
    }
    if let Some(id) = failure.linearized.iter().find(|&&id| by_id(id).is_none_or(|i| !in_prefix.contains(&i))) {
        return Err(format!("op {id} is drawn as linearized but is not in the prefix"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::{Register, RegisterOp};

    /// A stale read: write 1, then write 2, then (after both) a read of 1.
    const STALE: &str = r#"
        {"index":0,"time":0,"type":"invoke","process":0,"f":"write","value":1}
        {"index":1,"time":10,"type":"ok","process":0,"f":"write","value":1}
        {"index":2,"time":20,"type":"invoke","process":1,"f":"write","value":2}
        {"index":3,"time":25,"type":"invoke","process":3,"f":"write","value":3}
        {"index":4,"time":30,"type":"ok","process":1,"f":"write","value":2}
        {"index":5,"time":40,"type":"invoke","process":2,"f":"read","value":null}
        {"index":6,"time":50,"type":"ok","process":2,"f":"read","value":1}
        {"index":7,"time":60,"type":"ok","process":3,"f":"write","value":3}
    "#;

    /// The failure the checker builds for a history, with what it needs to re-check it.
    fn explained(text: &str) -> (Register, Part<RegisterOp>, search::Witness<Val>, Failure, Result<(), String>) {
        let history: Vec<Op> =
            text.lines().filter(|l| !l.trim().is_empty()).map(|l| serde_json::from_str(l).unwrap()).collect();
        let model = Register { init: Val::from_json(&Value::from(0)), allow_cas: true };
        let opts = Options::new(ModelKind::CasRegister);
        let (mut parts, _) = partition(&model, &history, &opts).unwrap();
        let part = parts.remove(0);
        let stop = AtomicBool::new(false);
        let limits = Limits {
            deadline: None,
            memory_budget: 1 << 24,
            stop: &stop,
            max_steps: u64::MAX,
            symmetry_after: search::SYMMETRY_AFTER,
        };
        let search::Outcome::NotLinearizable(Some(witness)) = search::search(&model, &part.ops, &limits) else {
            panic!("the history is not linearizable")
        };
        let (failure, checked) = explain(&model, &witness, &part.ids, &part.ops, &history, &part.calls, None);
        (model, part, witness, failure, checked)
    }

    #[test]
    fn an_explanation_names_and_draws_the_op_that_fixed_the_state() {
        let (_, _, _, f, checked) = explained(STALE);
        assert_eq!(checked, Ok(()));
        assert_eq!(f.failing, 3, "the read (ids are in invocation order)");
        // Write 3 overlaps the read; the search linearizes it or leaves it concurrent, never both.
        assert!(f.linearized.iter().all(|id| !f.concurrent.contains(id)), "{f:?}");
        let fixer = f.fixed_by.expect("the prefix changed the state");
        let fixer_op = f.ops.iter().find(|o| o.id == fixer).expect("the fixer is drawn");
        assert_eq!(f.states, vec![fixer_op.value.to_string()], "{f:?}");
        assert_eq!(f.positions.len(), f.linearized.len());
        assert_eq!(f.positions.last(), Some(&f.linearized_count));
    }

    #[test]
    fn a_broken_explanation_fails_its_cross_check() {
        let (model, part, witness, good, _) = explained(STALE);
        let check = |f: &Failure| cross_check(&model, &witness, &part.ids, &part.ops, f);
        assert_eq!(check(&good), Ok(()));
        let mut broken: Vec<(&str, Failure)> = Vec::new();
        let mut f = good.clone();
        f.states = vec!["7".into()];
        broken.push(("a state the prefix does not reach", f));
        let mut f = good.clone();
        f.fixed_by = None;
        broken.push(("no op fixed the state", f));
        let mut f = good.clone();
        f.ops.retain(|o| Some(o.id) != good.fixed_by);
        broken.push(("the fixer not drawn", f));
        let mut f = good.clone();
        f.concurrent.extend(good.linearized.first());
        broken.push(("an op both linearized and concurrent", f));
        let mut f = good.clone();
        f.linearized_count += 1;
        broken.push(("a wrong prefix length", f));
        let mut f = good.clone();
        f.failing = good.fixed_by.unwrap();
        broken.push(("the wrong failing op", f));
        let mut f = good.clone();
        f.linearized.push(good.failing);
        broken.push(("the failing op drawn as linearized", f));
        for (what, f) in broken {
            assert!(check(&f).is_err(), "{what}: the cross-check passed {f:?}");
        }
        // The witness itself broken: a prefix out of real-time order.
        let mut w = search::Witness {
            linearized: witness.linearized.clone(),
            states: witness.states.clone(),
            failing: witness.failing,
        };
        w.linearized.reverse();
        assert!(cross_check(&model, &w, &part.ids, &part.ops, &good).is_err());
    }
}
