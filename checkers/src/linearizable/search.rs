//! The linearizability search for one partition (one key), after Wing & Gong with Lowe's
//! just-in-time linearization and a cache, as in Porcupine.
//!
//! The history becomes a doubly-linked list of entries in real-time order: each operation has a
//! *call* entry at its invocation and, if it completed `ok`, a *return* entry at its completion.
//! Operations that ended `info` (or never completed) have no return entry: they may take effect
//! at any point after their invocation, or never.
//!
//! Depth-first search: walk the list from the front. At a call entry, try to linearize that
//! operation now (the model accepts it in the current state): if the pair (set of linearized
//! operations, new state) has not been seen before, record it in the cache, push the choice on a
//! stack, remove the operation's entries from the list ("lift") and restart from the front. A
//! pair seen before was already explored from this point, so skip it. At a return entry, the
//! operation it belongs to had to take effect before now but could not: undo the last choice
//! ("unlift") and try the next entry after it. The history is linearizable once every `ok`
//! operation is linearized; it is not if we must backtrack with an empty stack.
//!
//! Two cuts keep the walk short. A read-only op (a read) is linearized as soon as it can be and
//! never tried later. And after each state change, a pending `ok` read whose value the new
//! state can no longer reach, with nothing left that could restore it, ends the branch at once
//! (`unreachable_read`): a wrong order of concurrent appends dies at its first wrong step
//! instead of at the next read's return.
//!
//! Crashed (`info`) ops stay candidates to the end, so every subset of them could be tried at
//! every point; four rules keep that in check, each dropping only orders that another one
//! explored covers (so the search stays complete):
//! - `Shortcuts::bound_crashed` leaves out crashed ops no linearization needs and turns crashed
//!   ops some `ok` op needs into ops that must take effect by that op's return (registers: a
//!   crashed write of a value nobody expects; the only writer of a value an ok read expects).
//! - Equal crashed ops (the same write) are interchangeable once invoked: only the earliest one
//!   not yet linearized is tried.
//! - A crashed op that leaves the state as it is, is never tried (it might as well not have
//!   happened).
//! - A crashed op is never followed at once by a blind op (`Model::is_blind`: a write), which
//!   would make it pointless. Whether the state was reached that way is part of the cache key.
//!
//! The cache is what keeps this tractable: two different orders that linearize the same set and
//! reach the same state have the same future, so only one is explored. Its memory is bounded by
//! a budget, and the search checks a deadline every few thousand steps; running out of either
//! makes the result unknown rather than a hang or an out-of-memory. It also checks, every few
//! hundred steps, a stop flag (another key failed) and a step budget (its turn is over: the
//! caller restarts it later with a bigger one, see `check_with`).

pub use super::ops::{Bound, Decision, SearchOp, Violation};
use super::shortcuts::Shortcuts;
use rustc_hash::FxBuildHasher;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

const NONE: u32 = u32::MAX;
const HEAD: u32 = 0;

/// Steps after which the search breaks the symmetry of equal ops that must take effect.
pub const SYMMETRY_AFTER: u64 = 1 << 12;

/// Limits for one search.
pub struct Limits<'a> {
    pub deadline: Option<Instant>,
    /// Bytes the cache may use.
    pub memory_budget: usize,
    /// Set by another thread to abandon the search (a violation was found elsewhere).
    pub stop: &'a AtomicBool,
    /// Steps after which the search pauses (`Outcome::OutOfSteps`), so that the caller can give
    /// other keys a turn; `u64::MAX` for none.
    pub max_steps: u64,
    /// Steps after which equal ops that must take effect are only tried in return order
    /// (`SYMMETRY_AFTER` by default; 0 from the start, as the property tests do).
    pub symmetry_after: u64,
}

/// What the search found.
#[derive(Debug)]
pub enum Outcome<S> {
    Linearizable,
    NotLinearizable(Option<Witness<S>>),
    /// The search ran out of time or memory, or was stopped: says which.
    GaveUp(String),
    /// The search took `Limits::max_steps` steps without a verdict.
    OutOfSteps,
}

/// Why a partition is not linearizable, recorded as the search goes (see `Deepest`).
#[derive(Debug)]
pub struct Witness<S> {
    /// The longest linearizable prefix found, as indexes into the ops, in order.
    pub linearized: Vec<usize>,
    /// Model states reachable after exactly that set of operations (a few), each one from
    /// which `failing` cannot go on.
    pub states: Vec<S>,
    /// The op that had to be linearized next but could not be.
    pub failing: usize,
}

#[derive(Clone, Copy)]
struct Entry {
    /// Index into the ops; the head sentinel has `NONE`.
    op: u32,
    is_call: bool,
    /// For a call: its return entry, or `NONE`.
    ret: u32,
    prev: u32,
    next: u32,
}

/// For a map keyed by an already-mixed 64-bit hash (a Zobrist hash): hashing it again, even with
/// Fx, only costs time.
#[derive(Default)]
struct IdentityHasher(u64);

impl Hasher for IdentityHasher {
    fn write(&mut self, _: &[u8]) {
        unreachable!("only u64 keys")
    }
    fn write_u64(&mut self, i: u64) {
        self.0 = i;
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

/// A per-op random 64-bit number (splitmix64), so the hash of a set of linearized ops is the
/// XOR of its members' numbers and changes in O(1) when one op is added or removed.
fn zobrist(i: usize) -> u64 {
    let mut z = (i as u64).wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The set of (linearized set, state) pairs already explored. Sets are stored in their compact
/// form (see `SetKey`) back to back in one vector, to avoid an allocation per entry; pairs with
/// equal hashes are chained. States are interned ids (see `States`).
struct Cache {
    words: Vec<u32>,
    /// Where each entry's set starts in `words` (one more than the entries: the end).
    starts: Vec<u64>,
    states: Vec<u32>,
    /// Next entry with the same hash, or `NONE`.
    chain: Vec<u32>,
    first: HashMap<u64, u32, BuildHasherDefault<IdentityHasher>>,
}

impl Cache {
    /// Sized for `expected` entries: a search that goes straight through makes about one per op.
    fn new(expected: usize) -> Self {
        let mut starts = Vec::with_capacity(expected + 1);
        starts.push(0);
        Cache {
            words: Vec::with_capacity(expected * 4),
            starts,
            states: Vec::with_capacity(expected),
            chain: Vec::with_capacity(expected),
            first: HashMap::with_capacity_and_hasher(expected, Default::default()),
        }
    }

    /// Insert; false if already present.
    fn insert(&mut self, hash: u64, set: &[u32], state: u32) -> bool {
        let mut at = self.first.get(&hash).copied().unwrap_or(NONE);
        let head = at;
        while at != NONE {
            let i = at as usize;
            if self.states[i] == state && self.words[self.starts[i] as usize..self.starts[i + 1] as usize] == *set {
                return false;
            }
            at = self.chain[i];
        }
        let id = self.states.len() as u32;
        self.words.extend_from_slice(set);
        self.starts.push(self.words.len() as u64);
        self.states.push(state);
        self.chain.push(head);
        self.first.insert(hash, id);
        true
    }

    fn bytes(&self) -> usize {
        self.words.capacity() * 4
            + self.starts.capacity() * 8
            + self.states.capacity() * 4
            + self.chain.capacity() * 4
            + self.first.capacity() * 16
    }
}

/// The cache's compact form of a set of linearized ops, kept up to date as ops are added and
/// removed. A bitset over all ops costs n/8 bytes per cache entry (2.5 KB at 20,000 ops), yet the
/// linearized ops are nearly always "every op up to a point, then a few": the ops the search
/// must linearize (all but the open crashed ones) below the first one not linearized (`first`)
/// are all in, above it only ops invoked before that one's return can be. So a set is written
/// as `first`, the offsets from it of the linearized ops above it, and a bitset over the open
/// crashed ops only; or, when that would be longer, as the plain bitset (tagged). Equal sets
/// have equal forms and unequal sets unequal ones.
struct SetKey {
    /// Ops the search must linearize (not open, not dropped), as a bitset.
    tracked: Vec<u64>,
    /// How many tracked ops there are below each op.
    tracked_below: Vec<u32>,
    /// The first tracked op not linearized (n when none).
    first: usize,
    /// Tracked ops linearized.
    count: usize,
    /// Each open crashed op's bit in `open_words`.
    open_rank: Vec<u32>,
    open_words: Vec<u64>,
}

impl SetKey {
    fn new(n: usize, tracked: impl Fn(usize) -> bool, open: &[bool]) -> SetKey {
        let mut key = SetKey {
            tracked: vec![0; n.div_ceil(64).max(1)],
            tracked_below: Vec::with_capacity(n + 1),
            first: 0,
            count: 0,
            open_rank: vec![NONE; n],
            open_words: Vec::new(),
        };
        let (mut below, mut opens) = (0u32, 0u32);
        for (i, &is_open) in open.iter().enumerate().take(n) {
            key.tracked_below.push(below);
            if tracked(i) {
                key.tracked[i / 64] |= 1 << (i % 64);
                below += 1;
            }
            if is_open {
                key.open_rank[i] = opens;
                opens += 1;
            }
        }
        key.tracked_below.push(below);
        key.open_words = vec![0; (opens as usize).div_ceil(64)];
        key.first = (0..n).find(|&i| key.is_tracked(i)).unwrap_or(n);
        key
    }

    fn is_tracked(&self, i: usize) -> bool {
        self.tracked[i / 64] & (1 << (i % 64)) != 0
    }

    /// `op` was just added to `linearized`.
    fn add(&mut self, op: usize, linearized: &[u64]) {
        if self.open_rank[op] != NONE {
            let r = self.open_rank[op] as usize;
            self.open_words[r / 64] |= 1 << (r % 64);
        } else if self.is_tracked(op) {
            self.count += 1;
            let n = self.tracked_below.len() - 1;
            while self.first < n
                && (!self.is_tracked(self.first) || linearized[self.first / 64] & (1 << (self.first % 64)) != 0)
            {
                self.first += 1;
            }
        }
    }

    /// `op` was just removed from `linearized`.
    fn remove(&mut self, op: usize) {
        if self.open_rank[op] != NONE {
            let r = self.open_rank[op] as usize;
            self.open_words[r / 64] &= !(1 << (r % 64));
        } else if self.is_tracked(op) {
            self.count -= 1;
            self.first = self.first.min(op);
        }
    }

    /// The compact form of `linearized`, into `out`.
    fn encode(&self, linearized: &[u64], out: &mut Vec<u32>) {
        out.clear();
        let mut left = self.count - self.tracked_below[self.first] as usize;
        if left + 2 * self.open_words.len() > 2 * linearized.len() {
            // Longer than the plain bitset (small keys, many ops linearized out of order): the
            // bitset, tagged so that it cannot be mistaken for a compact form.
            out.push(u32::MAX);
            for &word in linearized {
                out.push(word as u32);
                out.push((word >> 32) as u32);
            }
            return;
        }
        out.push(self.first as u32);
        let mut w = self.first / 64;
        while left > 0 {
            let mut bits = linearized[w] & self.tracked[w];
            if w == self.first / 64 {
                bits &= !0u64 << (self.first % 64);
            }
            while bits != 0 {
                let i = w * 64 + bits.trailing_zeros() as usize;
                out.push((i - self.first) as u32);
                bits &= bits - 1;
                left -= 1;
            }
            w += 1;
        }
        for &word in &self.open_words {
            out.push(word as u32);
            out.push((word >> 32) as u32);
        }
    }
}

/// Model states interned as small ids, with every transition memoized: the search tries the same
/// (state, op) pairs over and over, and some models' steps allocate (kv appends strings), so
/// after the first time a step is one hash lookup and states compare and hash as integers.
struct States<'m, M: Shortcuts> {
    model: &'m M,
    states: Vec<M::State>,
    ids: HashMap<M::State, u32, FxBuildHasher>,
    /// (state id << 32 | op) -> next state id, or `NONE` when the model rejects the op.
    memo: HashMap<u64, u32, FxBuildHasher>,
}

impl<'m, M: Shortcuts> States<'m, M> {
    fn new(model: &'m M, expected: usize) -> Self {
        let mut s = States {
            model,
            states: Vec::with_capacity(expected),
            ids: HashMap::with_capacity_and_hasher(expected, Default::default()),
            memo: HashMap::with_capacity_and_hasher(expected, Default::default()),
        };
        s.intern(model.init());
        s
    }

    fn intern(&mut self, state: M::State) -> u32 {
        let next_id = self.states.len() as u32;
        match self.ids.entry(state) {
            std::collections::hash_map::Entry::Occupied(e) => *e.get(),
            std::collections::hash_map::Entry::Vacant(e) => {
                self.states.push(e.key().clone());
                e.insert(next_id);
                next_id
            }
        }
    }

    fn step(&mut self, state: u32, op: usize, ops: &[SearchOp<M::Op>]) -> Option<u32> {
        let key = (state as u64) << 32 | op as u64;
        if let Some(&next) = self.memo.get(&key) {
            return (next != NONE).then_some(next);
        }
        let next = match self.model.step(&self.states[state as usize], &ops[op].op) {
            Some(s) => self.intern(s),
            None => NONE,
        };
        self.memo.insert(key, next);
        (next != NONE).then_some(next)
    }

    fn bytes(&self) -> usize {
        self.states.capacity() * std::mem::size_of::<M::State>() * 2
            + self.ids.capacity() * 8
            + self.memo.capacity() * 16
    }
}

/// Search for a linearization of `ops` under `model`. An invalid result carries its witness.
pub fn search<M: Shortcuts>(model: &M, ops: &[SearchOp<M::Op>], limits: &Limits) -> Outcome<M::State> {
    let n = ops.len();
    if n >= NONE as usize - 1 {
        return Outcome::GaveUp(format!("{n} operations on one key is more than the search supports"));
    }
    // Crashed-op pruning: some crashed ops are left out, some get a return (see `Bound`).
    let bounds = model.bound_crashed(ops);
    let bound = |i: usize| bounds.as_ref().map_or(Bound::Keep, |b| b[i]);
    let ret_of = |i: usize| match bound(i) {
        Bound::Keep => ops[i].return_at,
        Bound::Drop => None,
        Bound::Before(at) => Some(at),
    };
    // Build the entry list in real-time order. Entry 0 is the head sentinel.
    let mut events: Vec<(usize, bool, u32)> = Vec::with_capacity(2 * n);
    for (i, op) in ops.iter().enumerate() {
        if bound(i) == Bound::Drop {
            continue;
        }
        events.push((op.call_at, true, i as u32));
        if let Some(r) = ret_of(i) {
            events.push((r, false, i as u32));
        }
    }
    events.sort_unstable_by_key(|e| e.0);
    let mut entries: Vec<Entry> = Vec::with_capacity(events.len() + 1);
    entries.push(Entry { op: NONE, is_call: false, ret: NONE, prev: NONE, next: NONE });
    let mut call_entry = vec![NONE; n];
    for (_, is_call, op) in &events {
        let idx = entries.len() as u32;
        let prev = idx - 1;
        entries[prev as usize].next = idx;
        entries.push(Entry { op: *op, is_call: *is_call, ret: NONE, prev, next: NONE });
        if *is_call {
            call_entry[*op as usize] = idx;
        } else {
            entries[call_entry[*op as usize] as usize].ret = idx;
        }
    }

    let words_per_set = n.div_ceil(64).max(1);
    let mut linearized = vec![0u64; words_per_set];
    let mut set_hash = 0u64;
    let mut cache = Cache::new(n);
    let mut states = States::new(model, n);
    let mut state: u32 = 0; // the initial state's id
                            // The choices made so far: (call entry, state before it).
    let mut stack: Vec<(u32, u32)> = Vec::new();
    let mut required = (0..n).filter(|&i| ret_of(i).is_some()).count();
    // Crashed ops that stay open to the end. Two that do the same (equal ops) are
    // interchangeable once both are invoked, so only the earliest one not yet linearized is ever
    // tried: `same_before[i]` is the previous open crashed op equal to op i, which must be
    // linearized before op i is tried. And a crashed op that leaves the state as it is changes
    // nothing the rest can see (it could as well not have happened), so it is never tried.
    // Equal ops that must take effect are interchangeable too, in the order they return: with X
    // and Y equal, both candidates and X returning first, any linearization placing Y now and X
    // later can swap them (Y's window covers X's place, X's covers now). So Y is not tried while
    // X, its predecessor in return order, is a candidate not yet linearized.
    // Built only once the search has taken `SYMMETRY_AFTER` steps: most searches are over by
    // then, and for them the table would cost more than it saves. (Turning a pruning rule on
    // midway is sound: each cut is justified at the point it is made.)
    let mut earlier_equal: Vec<u32> = Vec::new();
    let build_earlier_equal = || {
        let mut earlier_equal = vec![NONE; n];
        let mut by_ret: Vec<(usize, usize)> =
            (0..n).filter_map(|i| Some((ret_of(i)?, i))).filter(|&(_, i)| bound(i) != Bound::Drop).collect();
        by_ret.sort_unstable();
        let mut last: HashMap<&M::Op, u32, FxBuildHasher> = HashMap::default();
        for (_, i) in by_ret {
            if let Some(prev) = last.insert(&ops[i].op, i as u32) {
                earlier_equal[i] = prev;
            }
        }
        earlier_equal
    };
    // The first return entry in the list (what bounds the candidates), found when needed and
    // kept until the list changes.
    let (mut list_version, mut first_return_at) = (0u64, (u64::MAX, NONE));
    let blind: Vec<bool> = ops.iter().map(|o| model.is_blind(&o.op)).collect();
    let open: Vec<bool> = (0..n).map(|i| bound(i) == Bound::Keep && ops[i].return_at.is_none()).collect();
    let mut same_before = vec![NONE; n];
    {
        let mut by_call: Vec<usize> = (0..n).filter(|&i| open[i]).collect();
        by_call.sort_unstable_by_key(|&i| ops[i].call_at);
        let mut last: HashMap<&M::Op, u32, FxBuildHasher> = HashMap::default();
        for i in by_call {
            if let Some(prev) = last.insert(&ops[i].op, i as u32) {
                same_before[i] = prev;
            }
        }
    }

    let mut set_key = SetKey::new(n, |i| bound(i) != Bound::Drop && !open[i], &open);
    let mut encoded: Vec<u32> = Vec::new();

    let mut deepest = Deepest::default();

    // Read-only ops (reads) never change the state. Linearizing one as soon as it is a candidate
    // and enabled loses nothing: any linearization that places it later can place it now
    // instead (every op that returned before its invocation is already linearized, and the
    // state it reads is the current one), so if (linearized + it, state) fails, so does
    // (linearized, state). The search therefore never tries a read-only op at a later point:
    // when it backtracks over one, it keeps backtracking. On histories with many reads this
    // removes most of the search (Porcupine's c50-ok: 6x fewer steps).
    let read_only: Vec<bool> = ops.iter().map(|o| model.is_read_only(&o.op)).collect();
    // Read pruning (see `unreachable_read`), for models that can tell.
    let prune = model.prunes_reads();

    let mut entry = entries[HEAD as usize].next;
    // Each point is walked twice: first for the ops that must take effect, then for the open
    // crashed ops, so that a crashed op is only tried once nothing else works (the order in
    // which children are tried changes nothing but how soon a linearization is found).
    // (Without open crashed ops there is no second walk.)
    let any_open = open.iter().any(|&o| o);
    let mut crashed_pass = false;
    let mut steps: u64 = 0;
    loop {
        if required == 0 {
            return Outcome::Linearizable;
        }
        steps += 1;
        if steps == limits.symmetry_after.max(1) {
            earlier_equal = build_earlier_equal();
        }
        // Another key's violation ends this search early: check often, it is one load.
        if steps & 255 == 0 {
            if limits.stop.load(Ordering::Relaxed) {
                return Outcome::GaveUp("stopped: a violation was found on another key".into());
            }
            if steps >= limits.max_steps {
                return Outcome::OutOfSteps;
            }
        }
        if steps & 4095 == 0 {
            if let Some(d) = limits.deadline {
                if Instant::now() >= d {
                    return Outcome::GaveUp(format!("timed out after exploring {} states", cache.states.len()));
                }
            }
            if cache.bytes() + states.bytes() > limits.memory_budget {
                return Outcome::GaveUp(format!(
                    "the search cache outgrew its memory budget of {} MiB after exploring {} states \
                     (the budget is half the memory available at start; this key has too many \
                     concurrent or crashed operations writing repeated values to search \
                     exhaustively: free memory, or write unique values, which are decided without \
                     a search)",
                    limits.memory_budget >> 20,
                    cache.states.len()
                ));
            }
        }
        // A required return entry is always in the list while `required > 0`, and the walk
        // stops at the first return entry, so `entry` cannot run off the end.
        debug_assert!(entry != NONE);
        let e = entries[entry as usize];
        if e.is_call && open[e.op as usize] != crashed_pass {
            entry = e.next;
            continue;
        }
        if !e.is_call && !crashed_pass && any_open {
            crashed_pass = true;
            entry = entries[HEAD as usize].next;
            continue;
        }
        if e.is_call {
            let op = e.op as usize;
            if open[op] {
                let before = same_before[op];
                if before != NONE && linearized[before as usize / 64] & (1 << (before % 64)) == 0 {
                    entry = e.next;
                    continue;
                }
            } else if !earlier_equal.is_empty() && earlier_equal[op] != NONE {
                let x = earlier_equal[op] as usize;
                if linearized[x / 64] & (1 << (x % 64)) == 0 {
                    if first_return_at.0 != list_version {
                        let mut at = entries[HEAD as usize].next;
                        while entries[at as usize].is_call {
                            at = entries[at as usize].next;
                        }
                        first_return_at = (list_version, at);
                    }
                    if call_entry[x] < first_return_at.1 {
                        entry = e.next;
                        continue;
                    }
                }
            }
            let Some(next_state) = states.step(state, op, ops) else {
                entry = e.next;
                continue;
            };
            if open[op] && next_state == state {
                entry = e.next;
                continue;
            }
            // Right after an open crashed op, a blind op (one that ignores the state, like a
            // write) would make it pointless: leave such orders out (see `Model::is_blind`).
            if blind[op] && stack.last().is_some_and(|&(c, _)| open[entries[c as usize].op as usize]) {
                entry = e.next;
                continue;
            }
            linearized[op / 64] |= 1 << (op % 64);
            set_hash ^= zobrist(op);
            set_key.add(op, &linearized);
            set_key.encode(&linearized, &mut encoded);
            // The state, and whether it was reached by an open crashed op (then a blind op may
            // not follow, so the same set and state reached otherwise has more futures).
            let cached_state = next_state << 1 | u32::from(open[op]);
            if cache.insert(set_hash ^ zobrist(cached_state as usize ^ 0x5555_5555), &encoded, cached_state) {
                // Linearize it: push the choice and lift its entries out of the list.
                stack.push((entry, std::mem::replace(&mut state, next_state)));
                list_version += 1;
                lift(&mut entries, entry);
                if e.ret != NONE {
                    required -= 1;
                }
                let dead_end = prune && !read_only[op] && {
                    let unreachable =
                        unreachable_read(model, ops, &entries, &read_only, &states.states[state as usize]);
                    if let Some(read) = unreachable {
                        deepest.note(&stack, &entries, &linearized, state, read);
                    }
                    unreachable.is_some()
                };
                if !dead_end {
                    entry = entries[HEAD as usize].next;
                    crashed_pass = false;
                    continue;
                }
                // A pending read can no longer succeed: backtrack over this choice.
            } else {
                linearized[op / 64] &= !(1 << (op % 64));
                set_hash ^= zobrist(op);
                set_key.remove(op);
                if !read_only[op] {
                    entry = e.next;
                    continue;
                }
                // An enabled read-only candidate whose successor was already explored (and
                // failed): by the argument above, this point fails too, so backtrack.
            }
        } else {
            // The op owning this return had to be linearized by now and was not. The witness
            // keeps only points where the model refuses it (a person can check that by hand);
            // where the model took it and a later step failed, a deeper point says more.
            if deepest.may_note(stack.len()) && states.step(state, e.op as usize, ops).is_none() {
                deepest.note(&stack, &entries, &linearized, state, e.op as usize);
            }
        }
        // Backtrack: undo the last choice and try the entries after it. Undoing a read-only op
        // means the point before it fails as well (see above), so undo the choice before too.
        loop {
            let Some((call, prev_state)) = stack.pop() else {
                return Outcome::NotLinearizable(deepest.into_witness(&states));
            };
            list_version += 1;
            deepest.backtracked_to(stack.len());
            let op = entries[call as usize].op as usize;
            linearized[op / 64] &= !(1 << (op % 64));
            set_hash ^= zobrist(op);
            set_key.remove(op);
            state = prev_state;
            unlift(&mut entries, call);
            if entries[call as usize].ret != NONE {
                required += 1;
            }
            if !read_only[op] {
                entry = entries[call as usize].next;
                crashed_pass = open[op];
                break;
            }
        }
    }
}

/// Read pruning: a pending `ok` read (its call entry lies before the first return entry of the
/// list) that can no longer succeed from `state` (`Model::can_reach`), with no op left that could
/// restore it, makes the current point a dead end, whatever is linearized next. Returns that read.
///
/// Without this, concurrent appends are tried in every order until a read's return shows the
/// order was wrong; with it, a wrong order is cut as soon as its first wrong step is taken.
fn unreachable_read<M: Shortcuts>(
    model: &M,
    ops: &[SearchOp<M::Op>],
    entries: &[Entry],
    read_only: &[bool],
    state: &M::State,
) -> Option<usize> {
    let mut at = entries[HEAD as usize].next;
    while at != NONE {
        let e = entries[at as usize];
        if !e.is_call {
            return None;
        }
        let read = e.op as usize;
        if read_only[read] && e.ret != NONE && !model.can_reach(state, &ops[read].op) {
            // A restoring op must be linearized before the read, so it was invoked before the
            // read returned: it is a call entry between the head and the read's return entry.
            let mut c = entries[HEAD as usize].next;
            let mut restorable = false;
            while c != e.ret {
                let ce = entries[c as usize];
                if ce.is_call && ce.op != e.op && model.may_restore(&ops[ce.op as usize].op, &ops[read].op) {
                    restorable = true;
                    break;
                }
                c = ce.next;
            }
            if !restorable {
                return Some(read);
            }
        }
        at = e.next;
    }
    None
}

/// The witness being recorded: the longest linearizable prefix at which the search got stuck
/// (a return entry it could not pass, or a read pruned as unreachable), with the states it
/// reached there. Kept up to date as the search goes, at a cost proportional to the pushes:
/// the part of the stack below the lowest point the search backtracked to since the last
/// snapshot has not changed, so only the part above it is copied.
#[derive(Default)]
struct Deepest {
    /// The prefix: ops in linearization order.
    ops: Vec<usize>,
    /// State ids reached after the prefix (a few) from which the same op got stuck: other
    /// orders of the prefix may reach other states, where another op is the one that cannot
    /// go on, and those are left out so that the explanation's claim holds for each state.
    states: Vec<u32>,
    /// The prefix as a set, to recognise other orders of it.
    set: Vec<u64>,
    failing: Option<usize>,
    /// `ops[..low_water]` is still the bottom of the search's stack.
    low_water: usize,
}

impl Deepest {
    fn note(&mut self, stack: &[(u32, u32)], entries: &[Entry], linearized: &[u64], state: u32, failing: usize) {
        if self.failing.is_none() || stack.len() > self.ops.len() {
            self.ops.truncate(self.low_water);
            let kept = self.ops.len();
            self.ops.extend(stack[kept..].iter().map(|(c, _)| entries[*c as usize].op as usize));
            self.low_water = stack.len();
            self.states.clear();
            self.states.push(state);
            self.set.clear();
            self.set.extend_from_slice(linearized);
            self.failing = Some(failing);
        } else if stack.len() == self.ops.len()
            && self.failing == Some(failing)
            && self.set == linearized
            && self.states.len() < 8
            && !self.states.contains(&state)
        {
            self.states.push(state);
        }
    }

    /// Whether a dead end at this height could change the witness (a cheap test before a
    /// costlier one).
    fn may_note(&self, height: usize) -> bool {
        self.failing.is_none() || height >= self.ops.len()
    }

    fn backtracked_to(&mut self, height: usize) {
        self.low_water = self.low_water.min(height);
    }

    fn into_witness<M: Shortcuts>(self, states: &States<M>) -> Option<Witness<M::State>> {
        Some(Witness {
            linearized: self.ops,
            states: self.states.iter().map(|&s| states.states[s as usize].clone()).collect(),
            failing: self.failing?,
        })
    }
}

/// Remove a call entry and its return entry from the list (dancing links).
fn lift(entries: &mut [Entry], call: u32) {
    let c = entries[call as usize];
    entries[c.prev as usize].next = c.next;
    if c.next != NONE {
        entries[c.next as usize].prev = c.prev;
    }
    if c.ret != NONE {
        let r = entries[c.ret as usize];
        entries[r.prev as usize].next = r.next;
        if r.next != NONE {
            entries[r.next as usize].prev = r.prev;
        }
    }
}

/// Put back what `lift` removed, in reverse order; the removed entries kept their links.
fn unlift(entries: &mut [Entry], call: u32) {
    let c = entries[call as usize];
    if c.ret != NONE {
        let r = entries[c.ret as usize];
        entries[r.prev as usize].next = c.ret;
        if r.next != NONE {
            entries[r.next as usize].prev = c.ret;
        }
    }
    entries[c.prev as usize].next = call;
    if c.next != NONE {
        entries[c.next as usize].prev = call;
    }
}
