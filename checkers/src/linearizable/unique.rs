//! A polynomial decision procedure for register and cas-register keys whose written values are
//! unique (Gibbons and Korach, 1997: with unique values the read mapping is known), extended to
//! crashed (`info`) operations and to cas as a read-modify-write link between two values.
//!
//! It applies when no two ops (ok or info, writes or cas) write the same value and none writes
//! the initial value; `decide` returns `None` otherwise and the search runs instead.
//!
//! With unique values, each value `v` has one producer: the op writing it (a write, or the cas
//! whose new value it is), or the initial state. A linearization is a sequence of *epochs*, one
//! per value the register holds: the producer, then the reads of `v`, then the op that ends it
//! (the next epoch's producer). So:
//!
//! 1. **Which ops take effect is forced.** Every `ok` op does. An op that *expects* `v` (a read of
//!    `v`, a cas from `v`) needs `v`'s producer before it; so the producer of a value expected
//!    by a required op is required, whatever its type, and nothing else needs to take effect: a
//!    crashed op that no required op depends on can be left out of any linearization (the op
//!    after it, if any, is a write, which does not care). A value expected by a required op and
//!    written by nobody, or consumed by two required cas ops (after the first the register never
//!    holds it again), makes the key not linearizable.
//! 2. **Chains.** A required cas from `a` to `b` must come right at the end of `a`'s epoch, so
//!    `b`'s epoch follows `a`'s directly. Following these links from each *root* (the initial
//!    state, or a required write) gives chains; a chain occupies one contiguous stretch of the
//!    linearization, its groups in a fixed order (producer, reads, next producer, reads, ...;
//!    reads among themselves in any order). A required value on no chain (a cycle of cas ops)
//!    cannot be reached.
//! 3. **Real time.** An op that returned before another was invoked comes first. Inside a chain
//!    that is a check along the groups. Between chains: chain A must precede chain B when some op
//!    of A returned before some op of B was invoked, i.e. when `lo(A) < hi(B)` with `lo` the
//!    earliest return and `hi` the latest invocation in a chain. A linearization exists if and
//!    only if this relation has a topological order (Kahn's algorithm, done with two ordered sets
//!    in O(n log n)); the initial state's chain comes first by itself (its producer is at -1).
//!
//! Each step is an "if and only if", so the verdict equals the search's (a property test checks
//! it against brute force). An invalid verdict carries the op that could not be placed, the
//! chains placed before it (a linearizable prefix) and the value the register held after them.

use super::ops::{Decision, SearchOp, Violation};
use crate::models::{RegisterOp, Val};
use rustc_hash::FxHashMap as HashMap;
use std::collections::BTreeSet;

/// For any register key, unique values or not: an `ok` op expecting a value (a read of it, a
/// cas from it) that no op writes and that is not the initial value can never take effect.
/// `None` when there is none. (The search would only find out after trying every order of the
/// ops before it, which with crashed ops and repeated values can be more than memory holds.)
pub fn unwritten(init: &Val, ops: &[SearchOp<RegisterOp>]) -> Option<Decision<Val>> {
    let written: rustc_hash::FxHashSet<&Val> = ops
        .iter()
        .filter_map(|o| match &o.op {
            RegisterOp::Write(v) | RegisterOp::Cas(_, v) => Some(v),
            RegisterOp::Read(_) => None,
        })
        .collect();
    let (i, v) = ops.iter().enumerate().filter(|(_, o)| o.return_at.is_some()).find_map(|(i, o)| match &o.op {
        RegisterOp::Read(v) | RegisterOp::Cas(v, _) if v != init && !written.contains(v) => Some((i, v)),
        _ => None,
    })?;
    Some(violation(i, Vec::new(), init.clone(), format!("no operation writes {v}")))
}

/// Invocation and return positions of the initial state's pseudo-op: before everything.
const INIT_AT: i64 = -1;
/// The return of an op that may stay pending forever (`info`).
const NEVER: i64 = i64::MAX;

/// A producer: an op, or the initial state.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Producer {
    Init,
    Op(usize),
}

/// Decide a register or cas-register key whose written values are unique; `None` when they
/// are not (or nothing is written that could make them so), for the search to decide.
pub fn decide(init: &Val, ops: &[SearchOp<RegisterOp>]) -> Option<Decision<Val>> {
    let n = ops.len();
    // 1. Producers, and uniqueness.
    // Not reserved: most keys with repeated values stop at their first repeat.
    let mut producer: HashMap<&Val, usize> = HashMap::default();
    for (i, op) in ops.iter().enumerate() {
        let written = match &op.op {
            RegisterOp::Read(_) => continue,
            RegisterOp::Write(v) | RegisterOp::Cas(_, v) => v,
        };
        if written == init || producer.insert(written, i).is_some() {
            return None;
        }
    }
    let expects = |i: usize| match &ops[i].op {
        RegisterOp::Read(v) | RegisterOp::Cas(v, _) => Some(v),
        RegisterOp::Write(_) => None,
    };
    let produced_by = |v: &Val| -> Option<Producer> {
        if v == init {
            Some(Producer::Init)
        } else {
            producer.get(v).map(|&p| Producer::Op(p))
        }
    };
    let call = |i: usize| ops[i].call_at as i64;
    let ret = |i: usize| ops[i].return_at.map_or(NEVER, |r| r as i64);

    // Required ops: every ok op, and the producer of every value a required op expects.
    let mut required = vec![false; n];
    let mut work: Vec<usize> = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        if op.return_at.is_some() {
            required[i] = true;
            work.push(i);
        }
    }
    while let Some(i) = work.pop() {
        let Some(v) = expects(i) else { continue };
        match produced_by(v) {
            None => {
                return Some(violation(i, Vec::new(), init.clone(), format!("no operation writes {v}")));
            }
            Some(Producer::Init) => {}
            Some(Producer::Op(p)) => {
                if !required[p] {
                    required[p] = true;
                    work.push(p);
                }
            }
        }
    }

    // Per value (by its producer): the required reads, and the required cas consuming it.
    let slot = |p: Producer| match p {
        Producer::Init => n,
        Producer::Op(i) => i,
    };
    let mut reads: Vec<Vec<usize>> = vec![Vec::new(); n + 1];
    let mut consumer: Vec<Option<usize>> = vec![None; n + 1];
    for i in (0..n).filter(|&i| required[i]) {
        let Some(v) = expects(i) else { continue };
        // Every value a required op expects has a producer (checked above).
        let s = slot(produced_by(v)?);
        match ops[i].op {
            RegisterOp::Read(_) => reads[s].push(i),
            _ => {
                if let Some(other) = consumer[s] {
                    let (first, second) = if ret(other) <= ret(i) { (other, i) } else { (i, other) };
                    return Some(violation(
                        second,
                        Vec::new(),
                        init.clone(),
                        format!("it and op {first} both change {v} by cas, and no operation writes {v} again"),
                    ));
                }
                consumer[s] = Some(i);
            }
        }
    }

    // 2. Chains from each root: the initial state, and every required write.
    let roots = std::iter::once(Producer::Init)
        .chain((0..n).filter(|&i| required[i] && matches!(ops[i].op, RegisterOp::Write(_))).map(Producer::Op));
    let mut chains: Vec<Chain> = Vec::new();
    let mut on_chain = vec![false; n];
    for root in roots {
        let mut chain = Chain { ops: Vec::new(), lo: NEVER, hi: INIT_AT, last: Producer::Init };
        // The latest invocation among the groups so far, and the op that had it.
        let (mut before_hi, mut before_op) = (i64::MIN, None);
        let mut at = root;
        loop {
            chain.last = at;
            // The producer's group (the initial state's pseudo-op has no op), then the reads'.
            let s = slot(at);
            let producer_group = match at {
                Producer::Init => (INIT_AT, INIT_AT, Vec::new()),
                Producer::Op(p) => (ret(p), call(p), vec![p]),
            };
            let reads_group = (
                reads[s].iter().map(|&r| ret(r)).min().unwrap_or(NEVER),
                reads[s].iter().map(|&r| call(r)).max().unwrap_or(INIT_AT),
                reads[s].clone(),
            );
            for (group_lo, group_hi, members) in [producer_group, reads_group] {
                if group_lo < before_hi {
                    // An op of this group returned before an op the chain puts earlier was
                    // invoked.
                    let failing = members.iter().copied().find(|&m| ret(m) == group_lo).unwrap_or(members[0]);
                    let earlier = before_op.map(|o: usize| format!(" (op {o})")).unwrap_or_default();
                    return Some(violation(
                        failing,
                        Vec::new(),
                        init.clone(),
                        format!("it returned before an operation{earlier} that must take effect before it was invoked"),
                    ));
                }
                if group_hi > before_hi {
                    before_hi = group_hi;
                    before_op = members.iter().copied().find(|&m| call(m) == group_hi);
                }
                chain.lo = chain.lo.min(group_lo);
                chain.hi = chain.hi.max(group_hi);
                chain.ops.extend_from_slice(&members);
            }
            if let Producer::Op(p) = at {
                on_chain[p] = true;
            }
            match consumer[s] {
                Some(c) => at = Producer::Op(c),
                None => break,
            }
        }
        chains.push(chain);
    }
    if let Some(stray) = (0..n).find(|&i| required[i] && !matches!(ops[i].op, RegisterOp::Read(_)) && !on_chain[i]) {
        return Some(violation(
            stray,
            Vec::new(),
            init.clone(),
            "the value it expects is only written by a cycle of cas operations that starts nowhere".into(),
        ));
    }

    // 3. Kahn's algorithm on "A before B iff lo(A) < hi(B)": a chain with nothing before it has
    // hi at most every other remaining chain's lo.
    let mut by_lo: BTreeSet<(i64, usize)> = chains.iter().enumerate().map(|(k, c)| (c.lo, k)).collect();
    let mut by_hi: BTreeSet<(i64, usize)> = chains.iter().enumerate().map(|(k, c)| (c.hi, k)).collect();
    let mut placed: Vec<usize> = Vec::with_capacity(chains.len());
    while let Some(&(m1, a1)) = by_lo.first() {
        let m2 = by_lo.iter().nth(1).map_or(NEVER, |&(lo, _)| lo);
        let &(h, a) = by_hi.first().expect("the same chains as by_lo");
        let next = if a != a1 && h <= m1 {
            a
        } else if chains[a1].hi <= m2 {
            a1
        } else {
            // Every remaining chain must follow another one: a cycle. The chain that returned
            // first must come before all others, but one of its ops was invoked after another
            // chain's op returned.
            let linearized: Vec<usize> = placed.iter().flat_map(|&k| chains[k].ops.iter().copied()).collect();
            let state = placed.last().map_or_else(|| init.clone(), |&k| value_of(init, ops, chains[k].last));
            let failing = chains[a1].ops.iter().copied().find(|&o| call(o) == chains[a1].hi);
            let other = by_lo.iter().nth(1).map(|&(_, k)| k);
            let blocker = other.and_then(|k| chains[k].ops.iter().copied().find(|&o| ret(o) == m2));
            let reason = match blocker {
                Some(b) => format!(
                    "no value's epoch can come next without breaking real-time order (it was invoked \
                     after op {b}, of another epoch, returned, yet its epoch has the earliest return)"
                ),
                None => "no value's epoch can come next without breaking real-time order".into(),
            };
            return Some(violation(failing.unwrap_or(0), linearized, state, reason));
        };
        by_lo.remove(&(chains[next].lo, next));
        by_hi.remove(&(chains[next].hi, next));
        placed.push(next);
    }
    Some(Decision::Linearizable)
}

/// The value a producer writes.
fn value_of(init: &Val, ops: &[SearchOp<RegisterOp>], p: Producer) -> Val {
    match p {
        Producer::Init => init.clone(),
        Producer::Op(i) => match &ops[i].op {
            RegisterOp::Write(v) | RegisterOp::Cas(_, v) => v.clone(),
            RegisterOp::Read(v) => v.clone(),
        },
    }
}

/// One chain: its ops in order, the earliest return and latest invocation among them, and the
/// producer of its last value.
struct Chain {
    ops: Vec<usize>,
    lo: i64,
    hi: i64,
    last: Producer,
}

fn violation(failing: usize, linearized: Vec<usize>, state: Val, reason: String) -> Decision<Val> {
    Decision::NotLinearizable(Violation { failing, linearized, state, reason })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(op: RegisterOp, call: usize, ret: Option<usize>) -> SearchOp<RegisterOp> {
        SearchOp { op, call_at: call, return_at: ret }
    }
    use RegisterOp::{Cas, Read, Write};
    fn int(i: i64) -> Val {
        Val::Int(i)
    }

    fn valid(ops: &[SearchOp<RegisterOp>]) -> bool {
        match decide(&Val::Nil, ops).expect("unique values") {
            Decision::Linearizable => true,
            Decision::NotLinearizable(_) => false,
        }
    }

    #[test]
    fn litmus() {
        // w1 then r1: fine; r1 before w1 is invoked: not.
        assert!(valid(&[op(Write(int(1)), 0, Some(1)), op(Read(int(1)), 2, Some(3))]));
        assert!(!valid(&[op(Read(int(1)), 0, Some(1)), op(Write(int(1)), 2, Some(3))]));
        // Stale read: w1, w2 (after w1), then r1.
        assert!(!valid(&[op(Write(int(1)), 0, Some(1)), op(Write(int(2)), 2, Some(3)), op(Read(int(1)), 4, Some(5))]));
        // Concurrent writes, reads disagree on order but each alone is fine.
        assert!(valid(&[op(Write(int(1)), 0, Some(5)), op(Write(int(2)), 1, Some(6)), op(Read(int(1)), 7, Some(8))]));
        // r2 then r1 then r2 again: 2 cannot come back.
        assert!(!valid(&[
            op(Write(int(1)), 0, Some(10)),
            op(Write(int(2)), 1, Some(11)),
            op(Read(int(2)), 12, Some(13)),
            op(Read(int(1)), 14, Some(15)),
        ]));
        // A crashed write observed: it must take effect; unobserved: dropped.
        assert!(valid(&[op(Write(int(1)), 0, None), op(Read(int(1)), 2, Some(3))]));
        assert!(valid(&[op(Write(int(1)), 0, None), op(Read(Val::Nil), 2, Some(3))]));
        // A crashed write observed, then overwritten, then observed again: not.
        assert!(!valid(&[
            op(Write(int(1)), 0, None),
            op(Read(int(1)), 2, Some(3)),
            op(Write(int(2)), 4, Some(5)),
            op(Read(int(1)), 6, Some(7)),
        ]));
        // cas chain: nil -> 1 -> 2 by crashed cas, read 2.
        assert!(valid(&[
            op(Cas(Val::Nil, int(1)), 0, None),
            op(Cas(int(1), int(2)), 1, None),
            op(Read(int(2)), 5, Some(6))
        ]));
        // Two ok cas from the same value: not.
        assert!(!valid(&[
            op(Write(int(1)), 0, Some(1)),
            op(Cas(int(1), int(2)), 2, Some(3)),
            op(Cas(int(1), int(3)), 4, Some(5))
        ]));
        // A read of the initial value after a write returned: not; before: fine.
        assert!(!valid(&[op(Write(int(1)), 0, Some(1)), op(Read(Val::Nil), 2, Some(3))]));
        assert!(valid(&[op(Read(Val::Nil), 0, Some(1)), op(Write(int(1)), 2, Some(3))]));
        // A cas chain must stay together: w1, cas 1->2 ok; a write 3 completes between them.
        assert!(!valid(&[
            op(Write(int(1)), 0, Some(1)),
            op(Write(int(3)), 2, Some(3)),
            op(Cas(int(1), int(2)), 4, Some(5))
        ]));
        // Repeated values: not for this procedure, but a read of a value nobody writes is
        // caught all the same.
        let repeated = [op(Write(int(1)), 0, None), op(Write(int(1)), 1, Some(2)), op(Read(int(2)), 3, Some(4))];
        assert!(decide(&Val::Nil, &repeated).is_none());
        assert!(matches!(unwritten(&Val::Nil, &repeated), Some(Decision::NotLinearizable(v)) if v.failing == 2));
        assert!(unwritten(&Val::Nil, &repeated[..2]).is_none());
        assert!(decide(&Val::Nil, &[op(Write(int(1)), 0, Some(1)), op(Write(int(1)), 2, Some(3))]).is_none());
        assert!(decide(&Val::Nil, &[op(Write(Val::Nil), 0, Some(1))]).is_none());
    }
}
