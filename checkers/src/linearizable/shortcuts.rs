//! What the search may skip, per model: shortcuts that know both a model and the search.
//!
//! A [`Model`] is a sequential specification and nothing more (Porcupine's `model.go`); what the
//! search can prove about a model's operations before it starts (crashed writes no read needs,
//! keys a polynomial procedure decides) lives here, so the models know nothing of the search.
//! Every method has a default that never prunes: a model without shortcuts is only slower.

use super::ops::{Bound, Decision, SearchOp};
use super::unique;
use crate::models::{FifoQueue, Kv, Model, Mutex, Register, RegisterOp, Val};

/// The search's shortcuts for one model.
pub trait Shortcuts: Model {
    /// Crashed-op pruning: for each op, whether the search may leave it out
    /// (`Bound::Drop`: a crashed op that no linearization needs) or must linearize it before
    /// a position (`Bound::Before`: a crashed op that some `ok` op depends on), else
    /// `Bound::Keep`. `None` (the default) keeps every op. A wrong `Drop` or `Before` makes
    /// the checker unsound or incomplete; only crashed ops (`return_at` `None`) may be bounded.
    fn bound_crashed(&self, _ops: &[SearchOp<Self::Op>]) -> Option<Vec<Bound>> {
        None
    }
    /// A decision procedure that replaces the search for the histories it applies to (the
    /// registers with unique written values: `linearizable::unique`; and any register key
    /// where an ok op expects a value nobody writes); `None` (the default) when it does not
    /// apply. It must agree with the search.
    fn decide(&self, _ops: &[SearchOp<Self::Op>]) -> Option<Decision<Self::State>> {
        None
    }
}

impl Shortcuts for Kv {}
impl Shortcuts for Mutex {}
impl Shortcuts for FifoQueue {}

impl Shortcuts for Register {
    fn bound_crashed(&self, ops: &[SearchOp<RegisterOp>]) -> Option<Vec<Bound>> {
        Some(register_bounds(&self.init, ops))
    }

    fn decide(&self, ops: &[SearchOp<RegisterOp>]) -> Option<Decision<Val>> {
        // A read of a value nobody writes only takes the search long on big keys.
        unique::decide(&self.init, ops).or_else(|| (ops.len() >= 1024).then(|| unique::unwritten(&self.init, ops))?)
    }
}

/// Crashed-op pruning for the registers (`Shortcuts::bound_crashed`). The value an op *expects* is
/// the one it reads, or a cas's old value; the value it *writes* is a write's or a cas's new one.
///
/// - A crashed write or cas whose value no other op expects is left out (`Drop`): in any
///   linearization that has it, the op after it (if any) can only be a write, which does not
///   care, so removing it leaves a linearization. Dropping a cas removes what it expected, so
///   this runs to a fixpoint. Repeated values are fine: nothing expects the value at all.
/// - A crashed write or cas that is the only op writing its value (and the value is not the
///   initial one), expected by an `ok` op, must take effect before the first such op returns
///   (`Before`): nothing else can give the register that value.
fn register_bounds(init: &Val, ops: &[SearchOp<RegisterOp>]) -> Vec<Bound> {
    use rustc_hash::FxHashMap as HashMap;
    let n = ops.len();
    let mut bounds = vec![Bound::Keep; n];
    if !ops.iter().any(|o| o.return_at.is_none() && !matches!(o.op, RegisterOp::Read(_))) {
        return bounds;
    }
    fn expects(op: &RegisterOp) -> Option<&Val> {
        match op {
            RegisterOp::Read(v) | RegisterOp::Cas(v, _) => Some(v),
            RegisterOp::Write(_) => None,
        }
    }
    fn writes(op: &RegisterOp) -> Option<&Val> {
        match op {
            RegisterOp::Write(v) | RegisterOp::Cas(_, v) => Some(v),
            RegisterOp::Read(_) => None,
        }
    }
    // Per value: how many ops expect it, how many write it, and the crashed ops writing it.
    let mut expected: HashMap<&Val, usize> = HashMap::default();
    let mut written: HashMap<&Val, usize> = HashMap::default();
    let mut crashed_writers: HashMap<&Val, Vec<usize>> = HashMap::default();
    for (i, op) in ops.iter().enumerate() {
        if let Some(v) = expects(&op.op) {
            *expected.entry(v).or_default() += 1;
        }
        if let Some(v) = writes(&op.op) {
            *written.entry(v).or_default() += 1;
            if op.return_at.is_none() {
                crashed_writers.entry(v).or_default().push(i);
            }
        }
    }
    // Drop, to a fixpoint: an op's own expectation does not count (a cas from v to v).
    let mut work: Vec<usize> = crashed_writers.values().flatten().copied().collect();
    while let Some(i) = work.pop() {
        if bounds[i] == Bound::Drop {
            continue;
        }
        let Some(v) = writes(&ops[i].op) else { continue };
        let own = usize::from(expects(&ops[i].op) == Some(v));
        if expected.get(v).copied().unwrap_or(0) > own {
            continue;
        }
        bounds[i] = Bound::Drop;
        *written.get_mut(v).expect("counted") -= 1;
        if let Some(e) = expects(&ops[i].op) {
            let left = expected.get_mut(e).expect("counted");
            *left -= 1;
            if *left <= 1 {
                work.extend(crashed_writers.get(e).into_iter().flatten().copied());
            }
        }
    }
    // Deadlines for the only writer of a value an ok op expects.
    let mut first_return: HashMap<&Val, usize> = HashMap::default();
    for op in ops {
        if let (Some(v), Some(r)) = (expects(&op.op), op.return_at) {
            let at = first_return.entry(v).or_insert(r);
            *at = (*at).min(r);
        }
    }
    for (v, writers) in &crashed_writers {
        if *v == init || written.get(v).copied() != Some(1) {
            continue;
        }
        for &i in writers {
            if let (Bound::Keep, Some(&r)) = (bounds[i], first_return.get(v)) {
                if r > ops[i].call_at {
                    bounds[i] = Bound::Before(r);
                }
            }
        }
    }
    bounds
}
