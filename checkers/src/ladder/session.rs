//! Session guarantees (Terry, Demers, Petersen, Spreitzer, Theimer, Welch, "Session guarantees
//! for weakly consistent replicated data", PDIS 1994) on a differentiated read/write history, one
//! key at a time, with each process a session.
//!
//! What is checked, precisely. A read returns the latest write of its key in some *version
//! order* (a total order of the key's writes, after the initial value); the history does not
//! tell the order, so a guarantee holds iff some version order satisfies it, and is broken only
//! when none does: the constraints it imposes on the order are cyclic (or put a write before the
//! initial value). No order is guessed, so no violation is false. As in the paper, where each
//! session may be served by a different server, the order is the one seen by the observing
//! session: each process `q` gets its own version order per key.
//!
//! - read-your-writes (q): every write of q on x before a read r of q on x is at or before the
//!   write r read (so a read of the initial value after a write of q is a violation).
//! - monotonic reads (q): for successive reads r1, r2 of q on x, the write r1 read is at or
//!   before the write r2 read (consecutive pairs suffice: the order is transitive).
//! - monotonic writes: if a process writes w1 and then w2 on x, every session orders w1 before
//!   w2. A session only sees order through its successive reads, so this is checked together
//!   with q's monotonic-reads constraints: broken when, for some q whose monotonic reads alone
//!   hold, the two sets of constraints together are cyclic (q read w2 and later w1); unknown
//!   when it could only be judged for sessions whose monotonic reads are already broken.
//! - writes-follow-reads: if a process reads (from) w1 on x and later writes w2 on x, every
//!   session orders w1 before w2; checked with q's monotonic reads like monotonic writes.
//!
//! The constraints "every one of a growing set of writes precedes t" would be quadratic as
//! edges; they go through a chain of auxiliary nodes instead (node `P_j` stands for "after the
//! first j writes": `w_j -> P_j`, `P_{j-1} -> P_j`, then `P_k -> t`). Placing each `P_j` just
//! after the latest of its writes turns any version order meeting the constraints into a
//! topological order of the graph, and back, so acyclicity stays exact. Reads of a value no write
//! wrote (thin-air, reported by the causal rungs) impose nothing here.

use super::causal::{Bad, Res};
use super::extract::{Diff, Kind};
use super::graph::Graph;
use rustc_hash::FxHashMap;

/// Why an edge is there, for the witness.
#[derive(Clone, Copy, Debug)]
enum Why {
    /// Auxiliary chain or entry into it: the write `w` of a session.
    Wrote(u32),
    Chain,
    /// The read `r` of a session read `t` after the session's writes.
    ReadAfterWrites(u32),
    /// The session read `a` and then `b`.
    ReadThenRead(u32, u32),
    /// The session wrote `a` and then `b`.
    WroteThenWrote(u32, u32),
    /// The session's read `r` (entering the reads chain).
    Read(u32),
    /// The session then wrote `w`.
    ThenWrote(u32),
}

#[derive(Default, Clone)]
struct Constraints {
    edges: Vec<(u32, u32)>,
    why: Vec<Why>,
    aux: u32,
}

/// Global ids: write op ids below `n`, auxiliary nodes from `n` up.
impl Constraints {
    fn aux(&mut self, n: usize) -> u32 {
        self.aux += 1;
        (n as u32) + self.aux - 1
    }
    fn edge(&mut self, a: u32, b: u32, why: Why) {
        self.edges.push((a, b));
        self.why.push(why);
    }
    /// A cycle among the constraints, explained, or `None`.
    fn cycle(&self, d: &Diff) -> Option<(Vec<usize>, String)> {
        let mut local: FxHashMap<u32, u32> = FxHashMap::default();
        let mut global: Vec<u32> = Vec::new();
        let mut id = |g: u32, global: &mut Vec<u32>| {
            *local.entry(g).or_insert_with(|| {
                global.push(g);
                (global.len() - 1) as u32
            })
        };
        let edges: Vec<(u32, u32)> =
            self.edges.iter().map(|&(a, b)| (id(a, &mut global), id(b, &mut global))).collect();
        let cycle = Graph::new(global.len(), &edges).topo(|_| true).err()?;
        let mut at: FxHashMap<(u32, u32), usize> = FxHashMap::default();
        for (i, e) in edges.iter().enumerate() {
            at.entry(*e).or_insert(i);
        }
        let mut ops = Vec::new();
        let mut parts = Vec::new();
        for i in 0..cycle.len() {
            let e = (cycle[i], cycle[(i + 1) % cycle.len()]);
            let Some(&k) = at.get(&e) else { continue };
            let text = |u: u32| d.describe(u as usize);
            match self.why[k] {
                Why::Chain => {}
                Why::Wrote(w) => {
                    ops.push(w as usize);
                    parts.push(format!("{} happened", text(w)));
                }
                Why::ReadAfterWrites(r) => {
                    ops.push(r as usize);
                    parts.push(format!(
                        "then the same process did {}, so its earlier writes must not be newer than that",
                        text(r)
                    ));
                }
                Why::ReadThenRead(a, b) => {
                    ops.extend([a as usize, b as usize]);
                    parts.push(format!(
                        "{} and then {}, so the first value is not newer than the second",
                        text(a),
                        text(b)
                    ));
                }
                Why::WroteThenWrote(a, b) => {
                    ops.extend([a as usize, b as usize]);
                    parts.push(format!("{} and then {}, so the first is older", text(a), text(b)));
                }
                Why::Read(r) => {
                    ops.push(r as usize);
                    parts.push(format!("{} happened", text(r)));
                }
                Why::ThenWrote(w) => {
                    ops.push(w as usize);
                    parts.push(format!("then the same process did {}, so what it read is older than that", text(w)));
                }
            }
        }
        ops.sort_unstable();
        ops.dedup();
        Some((ops, format!("no order of the writes satisfies all of: {}", parts.join("; "))))
    }
}

pub(crate) struct Sessions {
    pub ryw: Res,
    pub mr: Res,
    pub mw: Res,
    pub wfr: Res,
}

/// The write a read read: `None` for the initial value, `Some(None)` for a thin-air read.
fn target(d: &Diff, r: usize) -> Option<Option<u32>> {
    if d.ops[r].val == 0 {
        None
    } else {
        let w = d.read_from[r];
        Some((w != u32::MAX).then_some(w))
    }
}

/// q's monotonic-reads constraints, or a direct violation (a read of the initial value after a
/// read of a write).
fn monotonic_reads(d: &Diff, q: usize, c: &mut Constraints) -> Result<(), Bad> {
    let mut last: FxHashMap<u32, usize> = FxHashMap::default();
    for r in d.proc_ops(q) {
        if d.ops[r].kind != Kind::Read {
            continue;
        }
        let key = d.ops[r].key;
        if let Some(&r1) = last.get(&key) {
            match (target(d, r1), target(d, r)) {
                (Some(Some(_)), None) => {
                    return Err(Bad {
                        pattern: "MonotonicReads",
                        ops: vec![r1, r],
                        explanation: format!(
                            "{} and then {}: the later read went back to the initial value",
                            d.describe(r1),
                            d.describe(r)
                        ),
                    });
                }
                (Some(Some(t1)), Some(Some(t2))) if t1 != t2 => c.edge(t1, t2, Why::ReadThenRead(r1 as u32, r as u32)),
                _ => {}
            }
        }
        // A thin-air read says nothing; keep the last informative read.
        if !matches!(target(d, r), Some(None)) {
            last.insert(key, r);
        }
    }
    Ok(())
}

fn read_your_writes(d: &Diff, q: usize) -> Result<(), Bad> {
    let n = d.ops.len();
    let mut c = Constraints::default();
    // Per key: the session's writes so far and the chain node after each.
    let mut writes: FxHashMap<u32, (Vec<u32>, Vec<u32>)> = FxHashMap::default();
    let mut index_of: FxHashMap<u32, usize> = FxHashMap::default();
    for u in d.proc_ops(q) {
        let o = d.ops[u];
        match o.kind {
            Kind::Write => {
                let (ws, chain) = writes.entry(o.key).or_default();
                let node = c.aux(n);
                c.edge(u as u32, node, Why::Wrote(u as u32));
                if let Some(&prev) = chain.last() {
                    c.edge(prev, node, Why::Chain);
                }
                index_of.insert(u as u32, ws.len());
                ws.push(u as u32);
                chain.push(node);
            }
            Kind::Read => {
                let Some((ws, chain)) = writes.get(&o.key) else { continue };
                match target(d, u) {
                    None => {
                        let w = *ws.last().expect("a write");
                        return Err(Bad {
                            pattern: "ReadYourWrites",
                            ops: vec![w as usize, u],
                            explanation: format!(
                                "{} and then {}: the read does not reflect the process's own write",
                                d.describe(w as usize),
                                d.describe(u)
                            ),
                        });
                    }
                    Some(None) => {}
                    Some(Some(t)) => match index_of.get(&t) {
                        // It read its own j-th write: the writes before it and after it must be
                        // older.
                        Some(&j) if d.ops[t as usize].key == o.key => {
                            if j > 0 {
                                c.edge(chain[j - 1], t, Why::ReadAfterWrites(u as u32));
                            }
                            for &w in &ws[j + 1..] {
                                c.edge(w, t, Why::WroteThenWrote(w, u as u32));
                            }
                        }
                        _ => c.edge(*chain.last().expect("a write"), t, Why::ReadAfterWrites(u as u32)),
                    },
                }
            }
        }
    }
    match c.cycle(d) {
        Some((ops, explanation)) => Err(Bad { pattern: "ReadYourWrites", ops, explanation }),
        None => Ok(()),
    }
}

/// The most (processes × constraints) the monotonic-writes and writes-follow-reads checks build.
const MAX_WORK: usize = 1 << 26;

pub(crate) fn check(d: &Diff) -> Sessions {
    let n = d.ops.len();
    let p = d.procs();
    let first_bad = |f: &dyn Fn(usize) -> Result<(), Bad>| -> Res {
        for q in 0..p {
            if let Err(b) = f(q) {
                return Res::Broken(b);
            }
        }
        Res::Holds
    };
    let ryw = first_bad(&|q| read_your_writes(d, q));
    // Monotonic reads, per q; keep each q's constraints for the combined checks.
    let mut mr_constraints: Vec<Option<Constraints>> = Vec::with_capacity(p);
    let mut mr = Res::Holds;
    for q in 0..p {
        let mut c = Constraints::default();
        let verdict = monotonic_reads(d, q, &mut c).and_then(|()| match c.cycle(d) {
            Some((ops, explanation)) => Err(Bad { pattern: "MonotonicReads", ops, explanation }),
            None => Ok(()),
        });
        match verdict {
            Ok(()) => mr_constraints.push(Some(c)),
            Err(b) => {
                if matches!(mr, Res::Holds) {
                    mr = Res::Broken(b);
                }
                mr_constraints.push(None);
            }
        }
    }
    // Monotonic writes and writes-follow-reads: every session's constraints, seen by each q.
    let mut mw_base = Constraints::default();
    let mut wfr_base = Constraints::default();
    for q in 0..p {
        let mut last_write: FxHashMap<u32, u32> = FxHashMap::default();
        let mut reads_chain: FxHashMap<u32, u32> = FxHashMap::default();
        for u in d.proc_ops(q) {
            let o = d.ops[u];
            match o.kind {
                Kind::Write => {
                    if let Some(&w1) = last_write.get(&o.key) {
                        mw_base.edge(w1, u as u32, Why::WroteThenWrote(w1, u as u32));
                    }
                    last_write.insert(o.key, u as u32);
                    if let Some(&node) = reads_chain.get(&o.key) {
                        wfr_base.edge(node, u as u32, Why::ThenWrote(u as u32));
                    }
                }
                Kind::Read => {
                    if let Some(Some(t)) = target(d, u) {
                        let node = wfr_base.aux(n);
                        wfr_base.edge(t, node, Why::Read(u as u32));
                        if let Some(&prev) = reads_chain.get(&o.key) {
                            wfr_base.edge(prev, node, Why::Chain);
                        }
                        reads_chain.insert(o.key, node);
                    }
                }
            }
        }
    }
    let combined = |base: &Constraints| -> Res {
        if p.saturating_mul(base.edges.len() + n) > MAX_WORK {
            return Res::Unknown(format!("{n} operations over {p} sessions is more than this check handles"));
        }
        // The writers' own constraints, which every session must respect.
        if let Some((ops, explanation)) = base.cycle(d) {
            return Res::Broken(Bad { pattern: "", ops, explanation });
        }
        let mut skipped = false;
        for own in &mr_constraints {
            let Some(own) = own else {
                skipped = true;
                continue;
            };
            if own.edges.is_empty() {
                continue;
            }
            let mut c = base.clone();
            // The auxiliary ids of the two sets must not collide.
            let shift = c.aux;
            for (&(a, b), &why) in own.edges.iter().zip(&own.why) {
                let fix = |x: u32| if x as usize >= n { x + shift } else { x };
                c.edge(fix(a), fix(b), why);
            }
            if let Some((ops, explanation)) = c.cycle(d) {
                return Res::Broken(Bad { pattern: "", ops, explanation });
            }
        }
        if skipped {
            Res::Unknown(
                "monotonic reads is broken, and write order is only seen through a session's successive reads".into(),
            )
        } else {
            Res::Holds
        }
    };
    let name = |r: Res, pattern: &'static str| match r {
        Res::Broken(mut b) => {
            b.pattern = pattern;
            Res::Broken(b)
        }
        other => other,
    };
    let mw = name(combined(&mw_base), "MonotonicWrites");
    let wfr = name(combined(&wfr_base), "WritesFollowReads");
    Sessions { ryw, mr, mw, wfr }
}
