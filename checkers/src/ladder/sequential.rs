//! Sequential consistency (Lamport 1979): one total order of all operations that respects each
//! process's order (not real time) and the sequential specification.
//!
//! It shares the linearizability checker's machinery. The pairing and model conversion are
//! done once (`linearizable::partition`, so Jepsen's ok/fail/info meaning and every `Model` carry
//! over), and the linearizability search runs first on those parts (`check_parts`): a
//! linearization respects real time, hence each process's order, so a linearizable history is
//! sequentially consistent with the linearization as its order. Only when it finds none does
//! the sequential search run, the same kind of search with a different "may go next" rule:
//! the linearizability search may take any op whose invocation precedes the first pending
//! return; this one may take the next op of any process. A point of the search is (how far each
//! process has got, the model state), and is memoised: two orders that reach the same point have
//! the same future. Before it, one greedy pass tries the order closest to real time.
//!
//! - `ok` ops must all be placed; an `info` (or never completed) op may be placed at any time
//!   after its process's earlier ops, or never (see `crashed_lanes`).
//! - A read-only op (a read) that succeeds in the current state is placed at once, never later:
//!   as in the linearizability search, any order that places it later can place it now (its
//!   process's earlier ops are placed, and it changes no state), so nothing is lost.
//!
//! Keys are searched one by one first (a key without an order breaks the whole history). SC is
//! not compositional, though: a history whose keys are each sequentially consistent can still
//! be inconsistent as a whole. So a multi-key history whose keys all have orders is then checked
//! as one object whose state is every key's state; that search gives up (unknown) beyond its
//! time, memory or point budget rather than guess.

use crate::history::Op;
use crate::linearizable::Shortcuts;
use crate::linearizable::{check_parts, partition, LinearizableResult, Options, Part};
use crate::Verdict;
use rustc_hash::{FxHashMap, FxHashSet};
use serde_json::Value;
use std::time::Instant;

/// One op of the search.
struct ScOp<'a, O> {
    op: &'a O,
    key: u32,
    /// Must be placed (ended `ok`).
    required: bool,
    /// Positions in the history of the invocation and of the `ok` completion.
    call_at: usize,
    return_at: Option<usize>,
}

/// What the search found.
pub(crate) enum ScOutcome {
    /// An order exists; `linearizable`: the linearizability search found it.
    Holds {
        linearizable: bool,
    },
    /// Not sequentially consistent: the deepest point reached, explained.
    Broken {
        ops: Vec<(usize, Option<usize>)>,
        explanation: String,
    },
    Unknown(String),
}

/// Interned model states and memoised steps.
struct States<'m, M: Shortcuts> {
    model: &'m M,
    states: Vec<M::State>,
    ids: FxHashMap<M::State, u32>,
    memo: FxHashMap<u64, u32>,
}

const NONE: u32 = u32::MAX;

impl<'m, M: Shortcuts> States<'m, M> {
    fn intern(&mut self, s: M::State) -> u32 {
        if let Some(&id) = self.ids.get(&s) {
            return id;
        }
        let id = self.states.len() as u32;
        self.states.push(s.clone());
        self.ids.insert(s, id);
        id
    }
    fn step(&mut self, state: u32, op_id: usize, op: &M::Op) -> Option<u32> {
        let k = (state as u64) << 32 | op_id as u64;
        if let Some(&next) = self.memo.get(&k) {
            return (next != NONE).then_some(next);
        }
        let next = match self.model.step(&self.states[state as usize], op) {
            Some(s) => self.intern(s),
            None => NONE,
        };
        self.memo.insert(k, next);
        (next != NONE).then_some(next)
    }
}

/// A key's first turn, in search steps (well under a millisecond).
const FIRST_TURN_STEPS: u64 = 1 << 12;

/// Check the whole history (all keys as one object) for sequential consistency under `model`.
///
/// The linearizability search goes first, on the same parts (the pairing and conversion are
/// done once for both): a linearization respects real time, so it respects each process's order,
/// and it is a sequential order. `lin` is its result when the caller already has it.
///
/// Otherwise each key is searched on its own: a total order of the whole history restricted to
/// one key is an order of that key's ops, so a key without one breaks the whole history. Keys
/// take turns, as in the linearizability checker, so that one key whose search explodes does not
/// hide a quick violation on another: the key where linearizability failed goes first, and a key
/// that uses up its turn's steps goes to the back with four times as many. When every key has
/// an order, the whole history is searched with a bounded number of points (a product of keys
/// multiplies the points); past the bound the result is unknown.
pub(crate) fn check<M: Shortcuts>(
    model: &M,
    history: &[Op],
    opts: &Options,
    lin: Option<&LinearizableResult>,
) -> Result<ScOutcome, String> {
    let started = Instant::now();
    let (parts, invocations) = partition(model, history, opts)?;
    let own;
    let lin = match lin {
        Some(lin) => lin,
        None => {
            own = check_parts(model, &parts, invocations, Some(history), opts, started);
            &own
        }
    };
    if lin.verdict == Verdict::Valid {
        return Ok(ScOutcome::Holds { linearizable: true });
    }
    search_keys(model, history, &parts, opts, started, lin.failure.as_ref().map(|f| &f.key))
}

/// The sequential search alone, without asking linearizability first (benchmarks, tests).
pub(crate) fn check_search_only<M: Shortcuts>(model: &M, history: &[Op], opts: &Options) -> Result<ScOutcome, String> {
    let started = Instant::now();
    let (parts, _) = partition(model, history, opts)?;
    search_keys(model, history, &parts, opts, started, None)
}

/// Each key on its own in turns, then (when every key has an order) the whole history.
fn search_keys<M: Shortcuts>(
    model: &M,
    history: &[Op],
    parts: &[Part<M::Op>],
    opts: &Options,
    started: Instant,
    first: Option<&Value>,
) -> Result<ScOutcome, String> {
    let mut order: Vec<usize> = (0..parts.len()).collect();
    // The key linearizability failed on first (a non-linearizable key is the likeliest to have
    // no sequential order either), then the smaller keys (quicker to decide).
    order.sort_by_key(|&k| {
        (first.is_none_or(|f| parts[k].key.as_ref().unwrap_or(&Value::Null) != f), parts[k].ops.len())
    });
    let mut queue: std::collections::VecDeque<(usize, u64)> =
        order.into_iter().map(|k| (k, FIRST_TURN_STEPS)).collect();
    let mut unknown: Option<String> = None;
    let mut orders: Vec<Vec<usize>> = Vec::new();
    while let Some((k, steps)) = queue.pop_front() {
        // The last key waiting runs to the end of its budget: nobody waits for its turn.
        let max_steps = if queue.is_empty() { u64::MAX } else { steps };
        match search(model, history, &parts[k..k + 1], opts, started, usize::MAX, max_steps)? {
            Searched::Holds(order) => orders.push(order),
            Searched::OutOfSteps => queue.push_back((k, steps.saturating_mul(4))),
            Searched::Done(broken @ ScOutcome::Broken { .. }) => return Ok(broken),
            Searched::Done(ScOutcome::Unknown(why)) => {
                let key = parts[k].key.as_ref().map(|k| format!("key {k}: ")).unwrap_or_default();
                unknown.get_or_insert(format!("{key}{why}"));
            }
            Searched::Done(ScOutcome::Holds { .. }) => {}
        }
    }
    if let Some(why) = unknown {
        return Ok(ScOutcome::Unknown(why));
    }
    if parts.len() <= 1 || merge_orders(history, parts, &orders) {
        return Ok(ScOutcome::Holds { linearizable: false });
    }
    let ops: usize = parts.iter().map(|p| p.ops.len()).sum();
    Ok(match search(model, history, parts, opts, started, 64 * ops + 100_000, u64::MAX)? {
        Searched::Holds(_) => ScOutcome::Holds { linearizable: false },
        Searched::Done(ScOutcome::Unknown(why)) => ScOutcome::Unknown(format!(
            "every key is sequentially consistent on its own, but the whole history (sequential consistency \
             does not compose across keys) could not be decided: {why}"
        )),
        Searched::Done(other) => other,
        Searched::OutOfSteps => unreachable!("no step budget"),
    })
}

/// Whether the keys' orders, found one by one, make one order of the whole history: the union
/// of each key's order and of each process's order (an op after the `ok` ops its process invoked
/// before it; a crashed op need not precede its process's later ops) has no cycle. Then any
/// topological order of it is a sequential order: restricted to a key it is that key's order, so
/// each key's register goes through the same states. A cycle says nothing (other orders of the
/// keys might fit together): the whole history is then searched.
fn merge_orders<O>(history: &[Op], parts: &[Part<O>], orders: &[Vec<usize>]) -> bool {
    let ok: FxHashSet<usize> =
        parts.iter().flat_map(|p| &p.ops).filter(|o| o.return_at.is_some()).map(|o| o.call_at).collect();
    let n: usize = orders.iter().map(Vec::len).sum();
    let mut node: FxHashMap<usize, u32> = FxHashMap::default();
    for (i, &op) in orders.iter().flatten().enumerate() {
        node.insert(op, i as u32);
    }
    let mut next: Vec<Vec<u32>> = vec![Vec::new(); n];
    let mut indegree = vec![0u32; n];
    let mut edge = |a: u32, b: u32| {
        next[a as usize].push(b);
        indegree[b as usize] += 1;
    };
    for order in orders {
        for pair in order.windows(2) {
            edge(node[&pair[0]], node[&pair[1]]);
        }
    }
    // Process order, over the placed ops in invocation order.
    let mut by_time: Vec<usize> = orders.iter().flatten().copied().collect();
    by_time.sort_unstable();
    let mut last_ok: FxHashMap<crate::history::Process, u32> = FxHashMap::default();
    for op in by_time {
        let process = history[op].process;
        if let Some(&prev) = last_ok.get(&process) {
            edge(prev, node[&op]);
        }
        if ok.contains(&op) {
            last_ok.insert(process, node[&op]);
        }
    }
    let mut ready: Vec<u32> = (0..n as u32).filter(|&i| indegree[i as usize] == 0).collect();
    let mut done = 0;
    while let Some(a) = ready.pop() {
        done += 1;
        for &b in &next[a as usize] {
            indegree[b as usize] -= 1;
            if indegree[b as usize] == 0 {
                ready.push(b);
            }
        }
    }
    done == n
}

/// What one search came to.
enum Searched {
    /// An order: the ops' invocation positions in the history.
    Holds(Vec<usize>),
    /// Its turn's steps ran out.
    OutOfSteps,
    /// Broken or unknown.
    Done(ScOutcome),
}

/// A crashed op may take effect at any time after its invocation, or never, as in the
/// linearizability checker: after its process's earlier ops, but not necessarily before the
/// process's later ones (Jepsen names a process anew after a crash; where a history does not,
/// the crashed op is as if another process had issued it). So a crashed op that is not its
/// process's last is moved to a lane of its own, which opens once its process has placed the
/// ops before it; every crashed op is then last in its lane. Returns, per lane, the process
/// and the number of its ops that open it (`None`: a process's own lane, open from the start).
fn crashed_lanes<O>(ops: &[ScOp<O>], procs: &mut Vec<Vec<u32>>) -> Vec<Option<(u32, u32)>> {
    let mut after = vec![None; procs.len()];
    for p in 0..procs.len() {
        let n = procs[p].len();
        if !procs[p][..n.saturating_sub(1)].iter().any(|&op| !ops[op as usize].required) {
            continue;
        }
        let list = std::mem::take(&mut procs[p]);
        for (i, &op) in list.iter().enumerate() {
            if !ops[op as usize].required && i + 1 < n {
                let opens_at = procs[p].len() as u32;
                procs.push(vec![op]);
                after.push(Some((p as u32, opens_at)));
            } else {
                procs[p].push(op);
            }
        }
    }
    after
}

/// Whether lane `p` is open at `pos` (see `crashed_lanes`).
fn opened(after: &[Option<(u32, u32)>], p: usize, pos: &[u32]) -> bool {
    after[p].is_none_or(|(q, n)| pos[q as usize] >= n)
}

/// One order, built greedily: reads as soon as they succeed, else the op invoked first among
/// the processes' next ops that the model accepts; an info op the model does not accept is
/// left out (it may never have happened). The order (the ops' invocation positions) when it
/// places every `ok` op: it is then a sequential order. `None` says nothing (the search decides).
fn greedy<M: Shortcuts>(
    model: &M,
    ops: &[ScOp<M::Op>],
    procs: &[Vec<u32>],
    after: &[Option<(u32, u32)>],
    read_only: &[bool],
    nkeys: usize,
) -> Option<Vec<usize>> {
    let mut pos = vec![0u32; procs.len()];
    let mut kstate = vec![model.init(); nkeys];
    let mut left = ops.iter().filter(|o| o.required).count();
    let mut placed = Vec::with_capacity(ops.len());
    loop {
        // Reads first, for every process, until none can go.
        let mut progress = true;
        while progress {
            progress = false;
            for (p, list) in procs.iter().enumerate() {
                if !opened(after, p, &pos) {
                    continue;
                }
                while let Some(&op) = list.get(pos[p] as usize) {
                    let o = &ops[op as usize];
                    if !read_only[op as usize] || model.step(&kstate[o.key as usize], o.op).is_none() {
                        break;
                    }
                    pos[p] += 1;
                    left -= usize::from(o.required);
                    placed.push(o.call_at);
                    progress = true;
                }
            }
        }
        if left == 0 {
            return Some(placed);
        }
        // Then the earliest invoked op that can go; an info op that cannot is skipped.
        let mut best: Option<(usize, usize, Option<M::State>)> = None;
        for (p, list) in procs.iter().enumerate() {
            let Some(&op) = list.get(pos[p] as usize).filter(|_| opened(after, p, &pos)) else { continue };
            let o = &ops[op as usize];
            if best.as_ref().is_some_and(|b| b.0 <= o.call_at) {
                continue;
            }
            match model.step(&kstate[o.key as usize], o.op) {
                Some(next) => best = Some((o.call_at, p, Some(next))),
                None if !o.required => best = Some((o.call_at, p, None)),
                None => {}
            }
        }
        let (_, p, next) = best?;
        let o = &ops[procs[p][pos[p] as usize] as usize];
        if let Some(next) = next {
            kstate[o.key as usize] = next;
            placed.push(o.call_at);
        }
        left -= usize::from(o.required);
        pos[p] += 1;
    }
}

/// Search `parts` as one object, giving up (unknown) after `max_points` points.
fn search<M: Shortcuts>(
    model: &M,
    history: &[Op],
    parts: &[Part<M::Op>],
    opts: &Options,
    started: Instant,
    max_points: usize,
    max_steps: u64,
) -> Result<Searched, String> {
    let deadline = opts.timeout.map(|t| started + t);
    // All ops, grouped by process in invocation order.
    let mut ops: Vec<ScOp<M::Op>> = Vec::new();
    for (k, part) in parts.iter().enumerate() {
        for o in &part.ops {
            ops.push(ScOp {
                op: &o.op,
                key: k as u32,
                required: o.return_at.is_some(),
                call_at: o.call_at,
                return_at: o.return_at,
            });
        }
    }
    let mut proc_of: FxHashMap<crate::history::Process, u32> = FxHashMap::default();
    let mut procs: Vec<Vec<u32>> = Vec::new();
    let mut order: Vec<usize> = (0..ops.len()).collect();
    order.sort_unstable_by_key(|&i| ops[i].call_at);
    for i in order {
        let p = history[ops[i].call_at].process;
        let next = procs.len() as u32;
        let pid = *proc_of.entry(p).or_insert(next);
        if pid == next {
            procs.push(Vec::new());
        }
        procs[pid as usize].push(i as u32);
    }
    let after = crashed_lanes(&ops, &mut procs);
    let nprocs = procs.len();
    let nkeys = parts.len().max(1);
    let read_only: Vec<bool> = ops.iter().map(|o| model.is_read_only(o.op)).collect();
    // Most histories that have an order have one close to real time: try that order first,
    // greedily and without the search's bookkeeping.
    if let Some(order) = greedy(model, &ops, &procs, &after, &read_only, nkeys) {
        return Ok(Searched::Holds(order));
    }
    // Read pruning, as in the linearizability search (`Model::can_reach`): a process whose next
    // op is a required read that the current state can no longer reach, with none of the ops
    // that could restore it (`Model::may_restore`) still unplaced, makes the point a dead end.
    // The ops that may restore each read: on its key, not after it in its own process.
    let mut op_proc = vec![0u32; ops.len()];
    let mut op_pos = vec![0u32; ops.len()];
    for (p, list) in procs.iter().enumerate() {
        for (i, &op) in list.iter().enumerate() {
            op_proc[op as usize] = p as u32;
            op_pos[op as usize] = i as u32;
        }
    }
    // first_read[p][i]: the position of process p's first required read at or after i.
    let first_read: Vec<Vec<u32>> = procs
        .iter()
        .map(|list| {
            let mut v = vec![u32::MAX; list.len()];
            let mut next = u32::MAX;
            for i in (0..list.len()).rev() {
                let op = list[i] as usize;
                if read_only[op] && ops[op].required {
                    next = i as u32;
                }
                v[i] = next;
            }
            v
        })
        .collect();
    // Equal reads of a key have the same restorers (but for the ops after each in its own
    // process, which cannot go before it and are left out when asked): one list per distinct
    // read, over the key's ops that change the state (a read-only op restores nothing). With
    // few distinct values that is linear in the ops, not quadratic.
    let mut restorers: Vec<Vec<u32>> = Vec::new();
    let mut restorers_of: Vec<u32> = vec![NONE; ops.len()];
    let prune = model.prunes_reads() && {
        let mut writers: Vec<Vec<u32>> = vec![Vec::new(); parts.len()];
        let mut reads: Vec<Vec<u32>> = vec![Vec::new(); parts.len()];
        for (i, o) in ops.iter().enumerate() {
            if !read_only[i] {
                writers[o.key as usize].push(i as u32);
            } else if o.required {
                reads[o.key as usize].push(i as u32);
            }
        }
        let mut ids: FxHashMap<(u32, &M::Op), u32> = FxHashMap::default();
        let mut work = 0usize;
        reads.iter().enumerate().all(|(k, rs)| {
            rs.iter().all(|&r| {
                let read = ops[r as usize].op;
                let id = *ids.entry((k as u32, read)).or_insert_with(|| {
                    work += writers[k].len();
                    restorers.push(
                        writers[k].iter().copied().filter(|&u| model.may_restore(ops[u as usize].op, read)).collect(),
                    );
                    restorers.len() as u32 - 1
                });
                restorers_of[r as usize] = id;
                work <= 1 << 26
            })
        })
    };
    let mut states = States { model, states: Vec::new(), ids: FxHashMap::default(), memo: FxHashMap::default() };
    let init = states.intern(model.init());

    // The point of the search.
    let mut pos = vec![0u32; nprocs];
    let mut kstate = vec![init; nkeys];
    let mut placed = 0usize;
    let mut required_left = ops.iter().filter(|o| o.required).count();
    // Undo log: (lane, key, previous key state).
    let mut undo: Vec<(u32, u32, u32)> = Vec::new();
    let mut visited: FxHashSet<Box<[u32]>> = FxHashSet::default();
    let entry_words = nprocs + nkeys;
    // Frames: (undo length before the move into this point, next choice to try).
    let mut frames: Vec<(usize, u128)> = Vec::new();
    let mut best: Option<(usize, Vec<u32>, Vec<u32>)> = None;
    let mut steps: u64 = 0;

    macro_rules! apply {
        ($p:expr, $op:expr, $next:expr) => {{
            let o = &ops[$op as usize];
            undo.push(($p as u32, o.key, kstate[o.key as usize]));
            kstate[o.key as usize] = $next;
            pos[$p] += 1;
            placed += 1;
            if o.required {
                required_left -= 1;
            }
        }};
    }
    macro_rules! undo_to {
        ($len:expr) => {{
            while undo.len() > $len {
                let (p, key, prev) = undo.pop().expect("an undo entry");
                pos[p as usize] -= 1;
                kstate[key as usize] = prev;
                placed -= 1;
                if ops[procs[p as usize][pos[p as usize] as usize] as usize].required {
                    required_left += 1;
                }
            }
        }};
    }
    // The order that reached the current point: the undo log names the lanes in turn.
    macro_rules! replay {
        () => {{
            let mut at = vec![0usize; nprocs];
            undo.iter()
                .map(|&(p, _, _)| {
                    at[p as usize] += 1;
                    ops[procs[p as usize][at[p as usize] - 1] as usize].call_at
                })
                .collect()
        }};
    }
    // Enter a point: place the reads that can go, then stop if done or seen before.
    // Returns Some(true) when done, Some(false) when seen before, None when open.
    macro_rules! enter {
        () => {{
            loop {
                let mut progress = false;
                for p in 0..nprocs {
                    if !opened(&after, p, &pos) {
                        continue;
                    }
                    while let Some(&op) = procs[p].get(pos[p] as usize) {
                        if !read_only[op as usize] {
                            break;
                        }
                        let Some(next) =
                            states.step(kstate[ops[op as usize].key as usize], op as usize, ops[op as usize].op)
                        else {
                            break;
                        };
                        apply!(p, op, next);
                        progress = true;
                    }
                }
                if !progress {
                    break;
                }
            }
            // For each process, its first unplaced required read (not only its next op: a read
            // further on must also stay reachable).
            let dead_end = prune
                && (0..nprocs).any(|p| {
                    let Some(&at) = first_read[p].get(pos[p] as usize) else { return false };
                    let Some(&r) = procs[p].get(at as usize) else { return false };
                    let o = &ops[r as usize];
                    !model.can_reach(&states.states[kstate[o.key as usize] as usize], o.op)
                        && !restorers[restorers_of[r as usize] as usize].iter().any(|&u| {
                            let (up, ui) = (op_proc[u as usize], op_pos[u as usize]);
                            // Unplaced, and not after the read in the read's own process.
                            pos[up as usize] <= ui && (up != p as u32 || ui < at)
                        })
                });
            if required_left == 0 {
                Some(true)
            } else if dead_end {
                Some(false)
            } else {
                let mut key = Vec::with_capacity(entry_words);
                key.extend_from_slice(&pos);
                key.extend_from_slice(&kstate);
                if visited.insert(key.into_boxed_slice()) {
                    None
                } else {
                    Some(false)
                }
            }
        }};
    }

    match enter!() {
        Some(true) => return Ok(Searched::Holds(replay!())),
        // Dead from the start (read pruning).
        Some(false) => best = Some((placed, pos.clone(), kstate.clone())),
        None => frames.push((0, 0)),
    }
    while !frames.is_empty() {
        steps += 1;
        if steps > max_steps {
            return Ok(Searched::OutOfSteps);
        }
        if steps & 1023 == 0 {
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(Searched::Done(ScOutcome::Unknown(format!(
                    "timed out after exploring {} points of the sequential search",
                    visited.len()
                ))));
            }
            if visited.len() > max_points {
                return Ok(Searched::Done(ScOutcome::Unknown(format!(
                    "gave up after {} points of the sequential search",
                    visited.len()
                ))));
            }
            if visited.len() * (entry_words * 4 + 32) > opts.memory_budget {
                return Ok(Searched::Done(ScOutcome::Unknown(format!(
                    "the sequential search outgrew its memory budget of {} MiB ({} points explored)",
                    opts.memory_budget >> 20,
                    visited.len()
                ))));
            }
        }
        let Some(&(entry, floor)) = frames.last() else { unreachable!() };
        // Choices: applying a lane's next op (a crashed op is last in its lane: leaving it out is
        // not placing it). They are tried in the order of the ops' invocations (then of lanes),
        // so that the first order tried follows real time.
        let mut chosen: Option<(u128, usize, u32, u32)> = None;
        for p in 0..nprocs {
            let Some(&op) = procs[p].get(pos[p] as usize).filter(|_| opened(&after, p, &pos)) else { continue };
            let o = &ops[op as usize];
            let base = (o.call_at as u128) << 64 | p as u128;
            if base < floor || chosen.as_ref().is_some_and(|c| c.0 < base) || read_only[op as usize] {
                continue;
            }
            if let Some(next) = states.step(kstate[o.key as usize], op as usize, o.op) {
                chosen = Some((base, p, op, next));
            }
        }
        match chosen {
            Some((c, p, op, next)) => {
                frames.last_mut().expect("a frame").1 = c + 1;
                let before = undo.len();
                apply!(p, op, next);
                match enter!() {
                    Some(true) => return Ok(Searched::Holds(replay!())),
                    Some(false) => undo_to!(before),
                    None => frames.push((before, 0)),
                }
            }
            None => {
                if best.as_ref().is_none_or(|b| placed > b.0) {
                    best = Some((placed, pos.clone(), kstate.clone()));
                }
                frames.pop();
                undo_to!(entry);
            }
        }
    }
    // Explain the deepest point: the next op of every process there could not go.
    let (placed, pos, kstate) = best.expect("the first point was explored");
    let total = ops.iter().filter(|o| o.required).count();
    let mut stuck = Vec::new();
    let mut names = Vec::new();
    for p in 0..nprocs {
        if let Some(&op) = procs[p].get(pos[p] as usize) {
            let o = &ops[op as usize];
            if !o.required && stuck.len() >= 6 {
                continue;
            }
            stuck.push((o.call_at, o.return_at));
            let inv = &history[o.call_at];
            let out = o.return_at.map(|r| history[r].value.to_string()).unwrap_or_else(|| "unknown".into());
            names.push(format!(
                "{} {}{} by process {} (history index {}, returned {out})",
                inv.f,
                inv.value,
                inv.key.as_ref().map(|k| format!(" on key {k}")).unwrap_or_default(),
                inv.process,
                inv.index
            ));
            if stuck.len() >= 12 {
                break;
            }
        }
    }
    let keys_state: Vec<String> = kstate
        .iter()
        .enumerate()
        .filter(|&(k, &s)| s != init || parts.len() == 1 && k == 0)
        .take(8)
        .map(|(k, &s)| match &parts.get(k).and_then(|p| p.key.clone()) {
            Some(key) => format!("key {key} = {}", model.describe(&states.states[s as usize])),
            None => model.describe(&states.states[s as usize]),
        })
        .collect();
    Ok(Searched::Done(ScOutcome::Broken {
        ops: stuck,
        explanation: format!(
            "no order of the operations that keeps each process's order satisfies the {} model: the furthest \
             any such order gets is {placed} operations ({total} must be placed), where the {} is {}, and then none \
             of the processes' next operations can go: {}",
            model.name(),
            model.name(),
            if keys_state.is_empty() { "initial".to_string() } else { keys_state.join(", ") },
            names.join("; ")
        ),
    }))
}
