//! Causal consistency of a differentiated read/write history, after Bouajjani, Enea, Guerraoui
//! and Hamza, "On verifying causal consistency" (POPL 2017): three variants, each decided in
//! polynomial time by searching for the *bad patterns* the paper proves characterise it (its
//! Table 2 and Theorem 3 and the lemmas after it), never by a search over orders.
//!
//! Relations (over the ops of `extract::Diff`):
//! - PO, process order; `wr`, read-from (a read of v on x reads from the unique write of v on x);
//! - CO = (PO ∪ wr)+, the causal order;
//! - CF, the conflict order: w1 CF w2 iff both write x, w1 ≠ w2, and some read r has
//!   w1 CO r and w2 wr r (r saw w1 in its past yet read w2, so w2 is "after" w1 for r);
//! - HB_o, for an op o: the least transitively closed relation containing CO restricted to o's
//!   causal past and w1 HB_o w2 whenever w1 ≠ w2 write the same key and some read r2 that is o
//!   or precedes o in process order reads from w2 with w1 HB_o r2.
//!
//! Bad patterns:
//! - CyclicCO: CO is cyclic;
//! - WriteCOInitRead: a read of the initial value of x with a write on x causally before it;
//! - ThinAirRead: a read of a value no write wrote;
//! - WriteCORead: w1 wr r with some write w2 on the same key with w1 CO w2 CO r;
//! - CyclicCF: CF ∪ CO is cyclic;
//! - WriteHBInitRead: for some o, a read r of the initial value of x in o's process past with a
//!   write w on x, w HB_o r;
//! - CyclicHB: for some o, HB_o is cyclic.
//!
//! CC (causal consistency) = none of CyclicCO, WriteCOInitRead, ThinAirRead, WriteCORead;
//! CCv (causal convergence) = CC's and CyclicCF; CM (causal memory) = CC's and WriteHBInitRead,
//! CyclicHB.
//!
//! How it is made fast (n ops, P processes, K keys):
//! - CO is kept as vector clocks in a topological order of PO ∪ wr: `vc[u][q]` is the number of
//!   process q's ops in u's causal past, u included. Then a CO b iff `pos(a) < vc[b][proc(a)]`:
//!   O(nP) time and memory, no n² closure.
//! - For a read r on x, the writes on x causally before r are, per process q, a prefix of q's
//!   writes on x (those at positions below `vc[r][q]`); the last of that prefix is CO-after
//!   every other one of them (by PO). So WriteCORead needs only that last write per q (binary
//!   search in q's write positions on x), WriteCOInitRead only the first, and for CyclicCF it
//!   is enough to add, per read and per q, the CF edge from that last write (the others reach it
//!   by PO, which is in the graph): O(nP log n) and O(nP) edges.
//! - HB_o only grows along a process (o PO o' implies HB_o ⊆ HB_o' and the reads considered
//!   grow), so CM needs HB_o only for the last op of each process. It is computed as a fixpoint:
//!   the graph PO ∪ wr restricted to o's causal past plus the HB edges found so far, kept as
//!   vector clocks (reachability in it is again prefix-closed per process, because every PO
//!   predecessor of a node of the causal past is in it), adding per read and per process the
//!   edge from the last write that reaches it, until nothing changes; a cycle is CyclicHB.

use super::extract::{Diff, Kind};
use super::graph::Graph;
use rustc_hash::FxHashMap;
use std::time::Instant;

/// A bad pattern found: its name, the ops involved (ids in the `Diff`) and a sentence.
#[derive(Debug, Clone)]
pub(crate) struct Bad {
    pub pattern: &'static str,
    pub ops: Vec<usize>,
    pub explanation: String,
}

#[derive(Debug, Clone)]
pub(crate) enum Res {
    Holds,
    Broken(Bad),
    Unknown(String),
}

pub(crate) struct Causal {
    pub cc: Res,
    pub ccv: Res,
    pub cm: Res,
}

/// The most vector clock entries (n × P) the check allocates (256 MiB).
const MAX_CLOCK_ENTRIES: usize = 1 << 26;

/// The most work causal memory's per-process fixpoints may take (processes that read × n × P
/// clock entries per round); beyond it CM is unknown rather than slow.
const MAX_CM_WORK: usize = 1 << 33;

/// The positions of each process's writes on each key, in process order.
struct WritePositions(FxHashMap<(u32, u32), Vec<u32>>);

impl WritePositions {
    fn new(d: &Diff) -> Self {
        let mut m: FxHashMap<(u32, u32), Vec<u32>> = FxHashMap::default();
        for o in &d.ops {
            if o.kind == Kind::Write {
                m.entry((o.key, o.proc)).or_default().push(o.pos);
            }
        }
        WritePositions(m)
    }
    /// Position of q's last write on `key` at a position below `limit`.
    fn last_below(&self, key: u32, q: u32, limit: u32) -> Option<u32> {
        let v = self.0.get(&(key, q))?;
        let i = v.partition_point(|&p| p < limit);
        (i > 0).then(|| v[i - 1])
    }
    /// Position of q's first write on `key`, if below `limit`.
    fn first_below(&self, key: u32, q: u32, limit: u32) -> Option<u32> {
        let v = self.0.get(&(key, q))?;
        v.first().copied().filter(|&p| p < limit)
    }
}

/// PO ∪ wr as edges.
fn co_edges(d: &Diff) -> Vec<(u32, u32)> {
    let mut edges = Vec::with_capacity(d.ops.len() * 2);
    for p in 0..d.procs() {
        let r = d.proc_ops(p);
        for u in r.start..r.end.saturating_sub(1) {
            edges.push((u as u32, u as u32 + 1));
        }
    }
    for (r, &w) in d.read_from.iter().enumerate() {
        if w != u32::MAX {
            edges.push((w, r as u32));
        }
    }
    edges
}

/// Vector clocks of the nodes of `order` (a topological order of `g`, whose edges join only
/// nodes of `order`): each the component-wise max of its predecessors', with its own entry set.
fn clocks(d: &Diff, g: &Graph, order: &[u32], vc: &mut [u32]) {
    let p = d.procs();
    let mut tmp = vec![0u32; p];
    for &u in order {
        let u = u as usize;
        tmp.fill(0);
        for &a in g.preds(u) {
            let theirs = &vc[a as usize * p..a as usize * p + p];
            for (m, &t) in tmp.iter_mut().zip(theirs) {
                *m = (*m).max(t);
            }
        }
        let o = d.ops[u];
        tmp[o.proc as usize] = o.pos + 1;
        vc[u * p..u * p + p].copy_from_slice(&tmp);
    }
}

/// Explain a cycle edge by edge.
fn explain_cycle(d: &Diff, cycle: &[u32], label: &dyn Fn(u32, u32) -> String) -> String {
    let mut parts = Vec::new();
    for i in 0..cycle.len() {
        let (a, b) = (cycle[i], cycle[(i + 1) % cycle.len()]);
        parts.push(format!("{} -> {} ({})", d.describe(a as usize), d.describe(b as usize), label(a, b)));
    }
    parts.join("; ")
}

fn base_label(d: &Diff, a: u32, b: u32) -> Option<String> {
    let (oa, ob) = (d.ops[a as usize], d.ops[b as usize]);
    if oa.proc == ob.proc && oa.pos + 1 == ob.pos {
        Some("process order".into())
    } else if d.read_from[b as usize] == a {
        Some("the read reads from the write".into())
    } else {
        None
    }
}

/// Check CC, CCv and CM.
pub(crate) fn check(d: &Diff, deadline: Option<Instant>) -> Causal {
    let all = |r: Res| Causal { cc: r.clone(), ccv: r.clone(), cm: r };
    let n = d.ops.len();
    let p = d.procs();
    if n.saturating_mul(p) > MAX_CLOCK_ENTRIES {
        return all(Res::Unknown(format!(
            "{n} operations over {p} processes is more than the causal checks' vector clocks support"
        )));
    }
    // ThinAirRead.
    for (r, o) in d.ops.iter().enumerate() {
        if o.kind == Kind::Read && o.val != 0 && d.read_from[r] == u32::MAX {
            return all(Res::Broken(Bad {
                pattern: "ThinAirRead",
                ops: vec![r],
                explanation: format!("{} returns a value that no write wrote", d.describe(r)),
            }));
        }
    }
    let edges = co_edges(d);
    let g = Graph::new(n, &edges);
    let order = match g.topo(|_| true) {
        Ok(o) => o,
        Err(cycle) => {
            let text = explain_cycle(d, &cycle, &|a, b| base_label(d, a, b).unwrap_or_default());
            return all(Res::Broken(Bad {
                pattern: "CyclicCO",
                ops: cycle.iter().map(|&u| u as usize).collect(),
                explanation: format!("process order and read-from form a cycle: {text}"),
            }));
        }
    };
    let mut vc = vec![0u32; n * p];
    clocks(d, &g, &order, &mut vc);
    let clock = |u: usize| &vc[u * p..u * p + p];
    // a CO b (a ≠ b)
    let co = |a: usize, b: usize, vc: &[u32]| {
        let oa = d.ops[a];
        a != b && oa.pos < vc[b * p + oa.proc as usize]
    };
    let wpos = WritePositions::new(d);

    // WriteCOInitRead and WriteCORead.
    for (r, o) in d.ops.iter().enumerate() {
        if o.kind != Kind::Read {
            continue;
        }
        let c = clock(r);
        if o.val == 0 {
            for q in 0..p as u32 {
                if let Some(pos) = wpos.first_below(o.key, q, c[q as usize]) {
                    let w = d.at(q, pos);
                    return all(Res::Broken(Bad {
                        pattern: "WriteCOInitRead",
                        ops: vec![w, r],
                        explanation: format!(
                            "{} returns the initial value although {} is in its causal past",
                            d.describe(r),
                            d.describe(w)
                        ),
                    }));
                }
            }
            continue;
        }
        let w1 = d.read_from[r] as usize;
        for q in 0..p as u32 {
            if let Some(pos) = wpos.last_below(o.key, q, c[q as usize]) {
                let w2 = d.at(q, pos);
                if w2 != w1 && co(w1, w2, &vc) {
                    return all(Res::Broken(Bad {
                        pattern: "WriteCORead",
                        ops: vec![w1, w2, r],
                        explanation: format!(
                            "{} reads from {}, but {} is causally after that write and causally before the read",
                            d.describe(r),
                            d.describe(w1),
                            d.describe(w2)
                        ),
                    }));
                }
            }
        }
    }

    // CCv: CyclicCF.
    let mut cf_edges = edges.clone();
    let mut cf_why: FxHashMap<(u32, u32), u32> = FxHashMap::default();
    for (r, o) in d.ops.iter().enumerate() {
        if o.kind != Kind::Read || o.val == 0 {
            continue;
        }
        let w = d.read_from[r];
        let c = clock(r);
        for q in 0..p as u32 {
            if let Some(pos) = wpos.last_below(o.key, q, c[q as usize]) {
                let w1 = d.at(q, pos) as u32;
                if w1 != w {
                    cf_edges.push((w1, w));
                    cf_why.entry((w1, w)).or_insert(r as u32);
                }
            }
        }
    }
    let ccv = match Graph::new(n, &cf_edges).topo(|_| true) {
        Ok(_) => Res::Holds,
        Err(cycle) => {
            let text = explain_cycle(d, &cycle, &|a, b| {
                base_label(d, a, b).unwrap_or_else(|| match cf_why.get(&(a, b)) {
                    Some(&r) => format!(
                        "conflict: {} has the first in its causal past yet reads the second",
                        d.describe(r as usize)
                    ),
                    None => String::new(),
                })
            });
            let mut ops: Vec<usize> = cycle.iter().map(|&u| u as usize).collect();
            for i in 0..cycle.len() {
                if let Some(&r) = cf_why.get(&(cycle[i], cycle[(i + 1) % cycle.len()])) {
                    if base_label(d, cycle[i], cycle[(i + 1) % cycle.len()]).is_none() {
                        ops.push(r as usize);
                    }
                }
            }
            Res::Broken(Bad {
                pattern: "CyclicCF",
                ops,
                explanation: format!(
                    "no single arbitration order of the writes agrees with causality and with what the reads saw: {text}"
                ),
            })
        }
    };

    // CM: HB_o for the last op o of each process that reads.
    let cm = causal_memory(d, &edges, &vc, &wpos, deadline);
    Causal { cc: Res::Holds, ccv, cm }
}

fn causal_memory(d: &Diff, edges: &[(u32, u32)], vc: &[u32], wpos: &WritePositions, deadline: Option<Instant>) -> Res {
    let n = d.ops.len();
    let p = d.procs();
    let readers = (0..p).filter(|&q| d.proc_ops(q).any(|u| d.ops[u].kind == Kind::Read)).count();
    if readers.saturating_mul(n).saturating_mul(p) > MAX_CM_WORK {
        return Res::Unknown(format!(
            "{n} operations over {p} processes is more than causal memory's per-process check handles"
        ));
    }
    let mut hvc = vec![0u32; n * p];
    for proc in 0..p {
        let range = d.proc_ops(proc);
        let reads: Vec<usize> = range.clone().filter(|&u| d.ops[u].kind == Kind::Read).collect();
        if reads.is_empty() {
            continue;
        }
        if deadline.is_some_and(|t| Instant::now() >= t) {
            return Res::Unknown("timed out while computing the happens-before relations of causal memory".into());
        }
        let o = range.end - 1;
        let past: Vec<u32> = vc[o * p..o * p + p].to_vec();
        let member = |u: usize| d.ops[u].pos < past[d.ops[u].proc as usize];
        // Start from CO restricted to o's causal past.
        hvc.copy_from_slice(vc);
        let mut extra: Vec<(u32, u32)> = Vec::new();
        let mut why: FxHashMap<(u32, u32), u32> = FxHashMap::default();
        let mut rounds = 0;
        loop {
            let mut changed = false;
            for &r2 in &reads {
                let w2 = d.read_from[r2];
                if w2 == u32::MAX {
                    continue;
                }
                let key = d.ops[r2].key;
                for q in 0..p as u32 {
                    let Some(pos) = wpos.last_below(key, q, hvc[r2 * p + q as usize]) else { continue };
                    let w1 = d.at(q, pos);
                    if w1 as u32 != w2 && hvc[w2 as usize * p + q as usize] <= pos {
                        extra.push((w1 as u32, w2));
                        why.insert((w1 as u32, w2), r2 as u32);
                        changed = true;
                    }
                }
            }
            if !changed {
                break;
            }
            rounds += 1;
            if rounds > 10_000 || deadline.is_some_and(|t| Instant::now() >= t) {
                return Res::Unknown("the happens-before fixpoint of causal memory did not settle in time".into());
            }
            let mut all_edges: Vec<(u32, u32)> =
                edges.iter().copied().filter(|&(a, b)| member(a as usize) && member(b as usize)).collect();
            all_edges.extend_from_slice(&extra);
            let g = Graph::new(n, &all_edges);
            match g.topo(member) {
                Ok(order) => clocks(d, &g, &order, &mut hvc),
                Err(cycle) => {
                    let text = explain_cycle(d, &cycle, &|a, b| {
                        base_label(d, a, b).unwrap_or_else(|| match why.get(&(a, b)) {
                            Some(&r) => format!(
                                "for process {}, {} reads the second after the first happened before it",
                                d.sources[d.ops[o].src as usize].process,
                                d.describe(r as usize)
                            ),
                            None => String::new(),
                        })
                    });
                    let mut ops: Vec<usize> = cycle.iter().map(|&u| u as usize).collect();
                    for i in 0..cycle.len() {
                        let e = (cycle[i], cycle[(i + 1) % cycle.len()]);
                        if base_label(d, e.0, e.1).is_none() {
                            if let Some(&r) = why.get(&e) {
                                ops.push(r as usize);
                            }
                        }
                    }
                    return Res::Broken(Bad {
                        pattern: "CyclicHB",
                        ops,
                        explanation: format!(
                            "process {} cannot order its causal past so that all its reads are explained: {text}",
                            d.sources[d.ops[o].src as usize].process
                        ),
                    });
                }
            }
        }
        // WriteHBInitRead.
        for &r in &reads {
            let ro = d.ops[r];
            if ro.val != 0 {
                continue;
            }
            for q in 0..p as u32 {
                if let Some(pos) = wpos.first_below(ro.key, q, hvc[r * p + q as usize]) {
                    let w = d.at(q, pos);
                    return Res::Broken(Bad {
                        pattern: "WriteHBInitRead",
                        ops: vec![w, r],
                        explanation: format!(
                            "{} returns the initial value, but by what process {} read before, {} happened before it",
                            d.describe(r),
                            d.sources[ro.src as usize].process,
                            d.describe(w)
                        ),
                    });
                }
            }
        }
    }
    Res::Holds
}
