//! The dependency graph, its strongly connected components, and the shortest cycle of each
//! anomaly kind in each component (after Elle's `elle.txn` and `elle.bfs`).
//!
//! Edges carry a set of relations (`rel`): ww, wr, rw from the workload's analysis, and process
//! and realtime order when the models asked for need them. Every relation between a pair is
//! kept (an rw edge must not hide a realtime one between the same two transactions), and both
//! orders are built when both are asked for (Elle builds realtime alone, a process's
//! transactions being in realtime order too; but a cycle through a process step then reads as
//! -realtime and never rules out the strong-session models). The realtime edges are Elle's
//! transitive reduction: each completed transaction links to the invocations that follow it
//! until a later transaction that it precedes completes.
//!
//! Cycles can only lie within a strongly connected component (Tarjan, iterative). In each
//! non-trivial component the anomaly kinds are tried in Elle's order (by depth in the anomaly
//! implication graph), skipping kinds implied by one already found there. Each kind is a small
//! automaton over the relations of a cycle's edges: which relations it may use, how many rw
//! edges it needs (exactly one for G-single-item; two or more for G-nonadjacent-item, never two
//! in a row, also across the wrap-around; two or more with some adjacent pair for G2-item), and
//! which relation must appear (wr for G1c; process or realtime for the variants). A
//! breadth-first search over (transaction, automaton state) from each transaction that starts an
//! edge of the kind's distinguishing relation finds the shortest cycle through it; the search
//! from later starts is cut at the best length so far, so the cycle reported is the shortest of
//! its kind in the component. The search is bounded per component (edges visited, time): past
//! the bound, the shortest cycle found so far is reported, marked as not proven shortest, or,
//! with none found yet, the search goes on until it finds a real cycle of the kind (a search
//! from a well-chosen start is linear; see `shortest_cycle`), so every anomaly reported carries
//! its cycle and none is ever reduced to "a cycle exists". Only when a far larger ceiling is
//! reached with no cycle of a kind found at all (a huge component that may well have none) is
//! that kind left as Elle's `cycle-search-timeout`. The search first narrows the component to the sub-components of the
//! edges the kind may use.

use super::{models, Analysis, Outcome, Rung, TxnHistory, TxnOptions, TxnResult, TxnStats, Validity, LADDER};
use crate::Verdict;
use rustc_hash::FxHashMap;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

/// Relations, as bits.
pub mod rel {
    pub const WW: u8 = 1;
    pub const WR: u8 = 2;
    pub const RW: u8 = 4;
    pub const PROCESS: u8 = 8;
    pub const REALTIME: u8 = 16;

    pub fn name(r: u8) -> &'static str {
        match r {
            WW => "ww",
            WR => "wr",
            RW => "rw",
            PROCESS => "process",
            _ => "realtime",
        }
    }
}

/// Anomalies that make the verdict unknown rather than invalid (Elle's names). The cycle search
/// reports `cycle-search-timeout` only past its ceiling with no cycle of a kind found, that is,
/// when a huge component may have none; a cycle it finds is always reported.
pub const UNKNOWN_ANOMALIES: &[&str] = &["empty-transaction-graph", "cycle-search-timeout"];

/// A graph in compressed rows: the edges out of `v` are `offsets[v]..offsets[v + 1]`.
pub struct Csr {
    offsets: Vec<u32>,
    targets: Vec<u32>,
    rels: Vec<u8>,
}

impl Csr {
    /// Build from an edge list, merging parallel edges into one that carries every relation the
    /// pair has. Every kind is kept: an rw edge between two transactions must not hide a
    /// realtime or process edge between the same two (T0 -realtime-> T1 -rw-> T0 is a
    /// G-single-item-realtime, though T0 -rw-> T1 too), nor a ww edge an rw one. The cycle
    /// search takes each relation of an edge as a separate step.
    pub fn merged(n: usize, edges: &[(u32, u32, u8)]) -> Csr {
        let raw = Csr::new(n, edges);
        let mut offsets = Vec::with_capacity(n + 1);
        offsets.push(0u32);
        let mut targets = Vec::with_capacity(raw.targets.len());
        let mut rels = Vec::with_capacity(raw.targets.len());
        let mut row: Vec<(u32, u8)> = Vec::new();
        for v in 0..n as u32 {
            row.clear();
            row.extend(raw.out(v));
            row.sort_unstable_by_key(|e| e.0);
            let mut i = 0;
            while i < row.len() {
                let (w, mut r) = row[i];
                i += 1;
                while i < row.len() && row[i].0 == w {
                    r |= row[i].1;
                    i += 1;
                }
                targets.push(w);
                rels.push(r);
            }
            offsets.push(targets.len() as u32);
        }
        Csr { offsets, targets, rels }
    }

    /// Build from an edge list (a counting sort by source; parallel edges are kept).
    pub fn new(n: usize, edges: &[(u32, u32, u8)]) -> Csr {
        let mut offsets = vec![0u32; n + 1];
        for e in edges {
            offsets[e.0 as usize + 1] += 1;
        }
        for i in 0..n {
            offsets[i + 1] += offsets[i];
        }
        let mut fill = offsets.clone();
        let mut targets = vec![0u32; edges.len()];
        let mut rels = vec![0u8; edges.len()];
        for e in edges {
            let at = fill[e.0 as usize] as usize;
            targets[at] = e.1;
            rels[at] = e.2;
            fill[e.0 as usize] += 1;
        }
        Csr { offsets, targets, rels }
    }

    fn len(&self) -> usize {
        self.offsets.len() - 1
    }

    fn out(&self, v: u32) -> impl Iterator<Item = (u32, u8)> + '_ {
        let r = self.offsets[v as usize] as usize..self.offsets[v as usize + 1] as usize;
        self.targets[r.clone()].iter().copied().zip(self.rels[r].iter().copied())
    }
}

/// Strongly connected components with more than one vertex (Tarjan, iterative), each sorted.
pub fn sccs(g: &Csr) -> Vec<Vec<u32>> {
    let (id, count) = scc_ids(g);
    let mut members: Vec<Vec<u32>> = vec![Vec::new(); count as usize];
    for (v, &c) in id.iter().enumerate() {
        members[c as usize].push(v as u32);
    }
    members.into_iter().filter(|c| c.len() > 1).collect()
}

/// The strongly connected component of every vertex (Tarjan, iterative), singletons included,
/// and how many there are. Components are numbered in the order Tarjan completes them, which
/// is a reverse topological order: if component a reaches component b != a, then a > b.
pub fn scc_ids(g: &Csr) -> (Vec<u32>, u32) {
    const NONE: u32 = u32::MAX;
    let n = g.len();
    let mut index = vec![NONE; n];
    let mut low = vec![0u32; n];
    let mut comp = vec![NONE; n];
    let mut stack: Vec<u32> = Vec::new();
    let mut call: Vec<(u32, u32)> = Vec::new(); // (vertex, next edge offset)
    let mut next = 0u32;
    let mut count = 0u32;
    for root in 0..n as u32 {
        if index[root as usize] != NONE {
            continue;
        }
        call.push((root, g.offsets[root as usize]));
        index[root as usize] = next;
        low[root as usize] = next;
        next += 1;
        stack.push(root);
        while let Some(&mut (v, ref mut e)) = call.last_mut() {
            let end = g.offsets[v as usize + 1];
            if *e < end {
                let w = g.targets[*e as usize];
                *e += 1;
                if index[w as usize] == NONE {
                    index[w as usize] = next;
                    low[w as usize] = next;
                    next += 1;
                    stack.push(w);
                    call.push((w, g.offsets[w as usize]));
                } else if comp[w as usize] == NONE {
                    // On the stack: not yet assigned to a component.
                    low[v as usize] = low[v as usize].min(index[w as usize]);
                }
            } else {
                call.pop();
                if let Some(&(u, _)) = call.last() {
                    low[u as usize] = low[u as usize].min(low[v as usize]);
                }
                if low[v as usize] == index[v as usize] {
                    loop {
                        let w = stack.pop().expect("v is on the stack");
                        comp[w as usize] = count;
                        if w == v {
                            break;
                        }
                    }
                    count += 1;
                }
            }
        }
    }
    (comp, count)
}

/// How many rw edges a kind of cycle needs.
#[derive(Debug, Clone, Copy, PartialEq)]
enum RwRule {
    None,
    Single,
    Multiple,
}

/// A kind of cycle: the automaton its edges must satisfy.
#[derive(Debug, Clone)]
struct Spec {
    name: String,
    allowed: u8,
    rw: RwRule,
    nonadjacent: bool,
    adjacent: bool,
    /// Relations that must each appear at least once.
    require: u8,
}

/// Elle's cycle kinds that item histories can show (the predicate ones, G-single, G-nonadjacent
/// and G2, need predicate reads), with their -process and -realtime variants, in Elle's search
/// order.
fn specs() -> Vec<Spec> {
    let base = [
        Spec { name: "G0".into(), allowed: rel::WW, rw: RwRule::None, nonadjacent: false, adjacent: false, require: 0 },
        Spec {
            name: "G1c".into(),
            allowed: rel::WW | rel::WR,
            rw: RwRule::None,
            nonadjacent: false,
            adjacent: false,
            require: rel::WR,
        },
        Spec {
            name: "G-single-item".into(),
            allowed: rel::WW | rel::WR | rel::RW,
            rw: RwRule::Single,
            nonadjacent: false,
            adjacent: false,
            require: 0,
        },
        Spec {
            name: "G-nonadjacent-item".into(),
            allowed: rel::WW | rel::WR | rel::RW,
            rw: RwRule::Multiple,
            nonadjacent: true,
            adjacent: false,
            require: 0,
        },
        Spec {
            name: "G2-item".into(),
            allowed: rel::WW | rel::WR | rel::RW,
            rw: RwRule::Multiple,
            nonadjacent: false,
            adjacent: true,
            require: 0,
        },
    ];
    let mut all = Vec::new();
    for s in base {
        for (suffix, extra) in [("", 0), ("-process", rel::PROCESS), ("-realtime", rel::REALTIME)] {
            let mut v = s.clone();
            v.name = format!("{}{suffix}", s.name);
            v.allowed |= extra;
            v.require |= extra;
            all.push(v);
        }
    }
    all.sort_by(|a, b| (models::anomaly_depth(&a.name), &a.name).cmp(&(models::anomaly_depth(&b.name), &b.name)));
    all
}

// Automaton state bits.
const RWC: u8 = 0b11; // rw edges so far: 0, 1, 2 (or more)
const FIRST_RW: u8 = 1 << 2;
const LAST_RW: u8 = 1 << 3;
const ADJ: u8 = 1 << 4;
const SEEN_WR: u8 = 1 << 5;
const SEEN_VAR: u8 = 1 << 6;

impl Spec {
    /// The state bits this kind looks at (others are kept 0, so fewer states).
    fn mask(&self) -> u8 {
        let mut m = 0;
        if self.rw != RwRule::None {
            m |= RWC;
        }
        if self.nonadjacent || self.adjacent {
            m |= FIRST_RW | LAST_RW;
        }
        if self.adjacent {
            m |= ADJ;
        }
        if self.require & rel::WR != 0 {
            m |= SEEN_WR;
        }
        if self.require & (rel::PROCESS | rel::REALTIME) != 0 {
            m |= SEEN_VAR;
        }
        m
    }

    /// The state after taking an edge as relation `r` (`first`: the cycle's first edge).
    fn step(&self, s: u8, r: u8, first: bool) -> Option<u8> {
        let mut s = s;
        if r == rel::RW {
            let c = s & RWC;
            if self.rw == RwRule::Single && c >= 1 {
                return None;
            }
            if self.nonadjacent && s & LAST_RW != 0 {
                return None;
            }
            if s & LAST_RW != 0 {
                s |= ADJ;
            }
            s = (s & !RWC) | (c + 1).min(2);
            if first {
                s |= FIRST_RW;
            }
            s |= LAST_RW;
        } else {
            s &= !LAST_RW;
            if r == rel::WR {
                s |= SEEN_WR;
            }
            if r & (rel::PROCESS | rel::REALTIME) != 0 {
                s |= SEEN_VAR;
            }
        }
        Some(s & self.mask())
    }

    /// Whether a cycle closing in state `s` is of this kind.
    fn accepts(&self, s: u8) -> bool {
        let c = s & RWC;
        let rw_ok = match self.rw {
            RwRule::None => c == 0,
            RwRule::Single => c == 1,
            RwRule::Multiple => c == 2,
        };
        let wrap = s & FIRST_RW != 0 && s & LAST_RW != 0;
        rw_ok
            && !(self.nonadjacent && wrap)
            && (!self.adjacent || s & ADJ != 0 || wrap)
            && (self.require & rel::WR == 0 || s & SEEN_WR != 0)
            && (self.require & (rel::PROCESS | rel::REALTIME) == 0 || s & SEEN_VAR != 0)
    }

    /// The relation a cycle of this kind must contain, whose edges' sources are the starts.
    fn key_rel(&self) -> u8 {
        if self.rw != RwRule::None {
            rel::RW
        } else if self.require & (rel::PROCESS | rel::REALTIME) != 0 {
            self.require & (rel::PROCESS | rel::REALTIME)
        } else if self.require & rel::WR != 0 {
            rel::WR
        } else {
            self.allowed
        }
    }
}

/// A cycle found: the transactions (first repeated at the end) and the relation of each step.
struct Found {
    vertices: Vec<u32>,
    rels: Vec<u8>,
    /// Proven the shortest of its kind in the component (the search was not cut short).
    shortest: bool,
}

/// How much the search for the shortest cycle of one kind in one component may spend before it
/// settles for the shortest cycle found so far (or, with none yet, for the first it finds).
#[derive(Debug, Clone, Copy)]
pub struct SearchBound {
    /// Edges visited.
    pub edges: u64,
    /// Edges the search may visit in all, looking for any cycle of the kind once past `edges`
    /// or the deadline with none found: a safety net for a huge component with no cycle of
    /// the kind, where every start must be searched to the end to say so.
    pub ceiling: u64,
    /// When the component's search began, and how long it may try to prove cycles shortest.
    pub deadline: std::time::Instant,
}

/// The shortest cycle of kind `spec` within the component `comp` (sorted vertex list), or, when
/// the bound runs out first, a real cycle of the kind that may not be the shortest: the
/// shortest found so far, else the first the search finds once unbounded. None only when the
/// component has no cycle of the kind.
///
/// The search is a breadth-first search over (transaction, automaton state) from each start (a
/// transaction with an edge of the kind's distinguishing relation), cut at the best length so
/// far. From any start of the parts found below, a search finds a cycle when the kind needs no
/// rw edge (the distinguishing edge lies in a strongly connected part); for kinds with exactly
/// one rw edge, only rw edges s -> v where v can reach s without rw edges can close one, so
/// those are tried, the sure ones (s and v in one rw-free component) first.
///
/// `Err(edges visited)`: past the ceiling with no cycle found, the one case where the search
/// cannot say (Elle's `cycle-search-timeout`).
fn shortest_cycle(g: &Csr, comp: &[u32], spec: &Spec, bound: SearchBound) -> Result<Option<Found>, u64> {
    // Narrow to the sub-components of the edges this kind may use.
    let local: FxHashMap<u32, u32> = comp.iter().enumerate().map(|(i, &v)| (v, i as u32)).collect();
    let mut sub_edges = Vec::new();
    for (i, &v) in comp.iter().enumerate() {
        for (w, r) in g.out(v) {
            if r & spec.allowed != 0 {
                if let Some(&j) = local.get(&w) {
                    sub_edges.push((i as u32, j, r & spec.allowed));
                }
            }
        }
    }
    drop(local);
    let sub = Csr::new(comp.len(), &sub_edges);
    drop(sub_edges);
    let (part, _) = scc_ids(&sub);
    let key = spec.key_rel();
    let starts = cycle_starts(&sub, &part, spec, key);
    let mut seen = Seen::new(sub.len());
    let mut best: Option<Found> = None;
    let mut spent = 0u64;
    let mut cut = false;
    let mut i = 0;
    while i < starts.len() {
        let s = starts[i];
        let best_len = best.as_ref().map_or(u32::MAX, |b| b.rels.len() as u32);
        if best_len <= 2 {
            break;
        }
        let budget = if cut { bound.ceiling.saturating_sub(spent) } else { bound.edges.saturating_sub(spent) };
        let (found, used) = bfs(&sub, &part, &mut seen, s, spec, best_len, budget);
        spent += used;
        let complete = used <= budget;
        if let Some(f) = found {
            best = Some(f);
            if cut {
                break;
            }
        }
        if cut && (!complete || spent >= bound.ceiling) {
            return Err(spent);
        }
        if !cut && (!complete || spent >= bound.edges || std::time::Instant::now() >= bound.deadline) {
            cut = true;
            if best.is_some() {
                break;
            }
            if !complete {
                continue; // search this start again, unbounded
            }
        }
        i += 1;
    }
    Ok(best.map(|mut f| {
        f.shortest = !cut;
        f.vertices = f.vertices.iter().map(|&i| comp[i as usize]).collect();
        f
    }))
}

/// The transactions to search from, best first (see `shortest_cycle`).
fn cycle_starts(sub: &Csr, part: &[u32], spec: &Spec, key: u8) -> Vec<u32> {
    let n = sub.len() as u32;
    if spec.rw != RwRule::Single {
        return (0..n)
            .filter(|&v| sub.out(v).any(|(w, r)| r & key != 0 && part[w as usize] == part[v as usize]))
            .collect();
    }
    // Components without rw edges: v reaches s without rw only if v's component is s's or
    // comes before it in Tarjan's numbering (reverse topological).
    let plain: Vec<(u32, u32, u8)> = (0..n)
        .flat_map(|v| sub.out(v).filter(|e| e.1 & !rel::RW != 0).map(move |(w, r)| (v, w, r & !rel::RW)))
        .collect();
    let (free, _) = scc_ids(&Csr::new(n as usize, &plain));
    let mut ranked: Vec<(u8, u32)> = Vec::new();
    for s in 0..n {
        let rank = sub
            .out(s)
            .filter(|&(w, r)| r & rel::RW != 0 && part[w as usize] == part[s as usize])
            .filter_map(|(w, _)| match free[w as usize].cmp(&free[s as usize]) {
                std::cmp::Ordering::Equal => Some(0u8),
                std::cmp::Ordering::Greater => Some(1u8),
                std::cmp::Ordering::Less => None,
            })
            .min();
        if let Some(rank) = rank {
            ranked.push((rank, s));
        }
    }
    ranked.sort_unstable();
    ranked.into_iter().map(|(_, s)| s).collect()
}

/// The (vertex, automaton state) pairs a search has reached: a bit set of states per vertex,
/// stamped with the search it belongs to, so a new search starts empty without clearing.
struct Seen {
    stamp: Vec<u32>,
    states: Vec<u128>,
    now: u32,
}

impl Seen {
    fn new(n: usize) -> Seen {
        Seen { stamp: vec![0; n], states: vec![0; n], now: 0 }
    }

    fn clear(&mut self) {
        self.now += 1;
    }

    /// Mark (v, state); false if it was marked already. States are 7 bits (see `Spec::mask`).
    fn insert(&mut self, v: u32, state: u8) -> bool {
        let v = v as usize;
        if self.stamp[v] != self.now {
            self.stamp[v] = self.now;
            self.states[v] = 0;
        }
        let bit = 1u128 << state;
        let fresh = self.states[v] & bit == 0;
        self.states[v] |= bit;
        fresh
    }
}

/// Breadth-first search from `s` for a cycle of kind `spec` shorter than `bound` edges, within
/// the strongly connected part of `s`. Stops once it has visited more than `budget` edges.
fn bfs(g: &Csr, part: &[u32], seen: &mut Seen, s: u32, spec: &Spec, bound: u32, budget: u64) -> (Option<Found>, u64) {
    let home = part[s as usize];
    seen.clear();
    // Nodes: (vertex, state, parent node, relation taken, depth); the queue is the node list.
    let mut nodes: Vec<(u32, u8, u32, u8, u32)> = vec![(s, 0, u32::MAX, 0, 0)];
    seen.insert(s, 0);
    let mut used = 0u64;
    let mut next = 0usize;
    while next < nodes.len() {
        let n = next as u32;
        next += 1;
        let (v, st, _, _, depth) = nodes[n as usize];
        if depth + 1 >= bound {
            break;
        }
        for (w, rels) in g.out(v) {
            if part[w as usize] != home {
                continue;
            }
            used += 1;
            let mut bits = rels;
            while bits != 0 {
                let r = bits & bits.wrapping_neg();
                bits &= bits - 1;
                let Some(st2) = spec.step(st, r, depth == 0) else { continue };
                if w == s {
                    if spec.accepts(st2) {
                        let mut vertices = vec![s];
                        let mut rs = vec![r];
                        let mut at = n;
                        while nodes[at as usize].2 != u32::MAX {
                            let (x, _, parent, rr, _) = nodes[at as usize];
                            vertices.push(x);
                            rs.push(rr);
                            at = parent;
                        }
                        vertices.push(s);
                        vertices.reverse();
                        rs.reverse();
                        return (Some(Found { vertices, rels: rs, shortest: true }), used);
                    }
                    continue;
                }
                if depth + 2 >= bound {
                    continue;
                }
                if seen.insert(w, st2) {
                    nodes.push((w, st2, n, r, depth + 1));
                }
            }
        }
        if used > budget {
            break;
        }
    }
    (None, used)
}

/// Add realtime (or process) edges among the graph's transactions.
fn order_edges(h: &TxnHistory, realtime: bool, edges: &mut Vec<(u32, u32, u8)>) {
    let node = |t: usize| h.txns[t].outcome != Outcome::Fail;
    if !realtime {
        // Process order: consecutive committed transactions of a process.
        let mut last: FxHashMap<u64, u32> = FxHashMap::default();
        for (t, txn) in h.txns.iter().enumerate() {
            if txn.outcome != Outcome::Ok || txn.invoked_at.is_none() {
                continue;
            }
            let Some(p) = txn.process else { continue };
            if let Some(prev) = last.insert(p, t as u32) {
                edges.push((prev, t as u32, rel::PROCESS));
            }
        }
        return;
    }
    // Events: (position, is completion, txn).
    let mut events: Vec<(u64, bool, u32)> = Vec::with_capacity(h.txns.len() * 2);
    for (t, txn) in h.txns.iter().enumerate() {
        if !node(t) {
            continue;
        }
        if let Some(i) = txn.invoked_at {
            events.push((i, false, t as u32));
            if txn.outcome == Outcome::Ok {
                events.push((txn.completed_at, true, t as u32));
            }
        }
    }
    events.sort_unstable();
    let mut buffer: Vec<u32> = Vec::new();
    let mut in_buf = vec![false; h.txns.len()];
    let mut incoming: Vec<(u32, u32)> = vec![(0, 0); h.txns.len()];
    for (_, done, t) in events {
        if !done {
            let from = edges.len() as u32;
            edges.extend(buffer.iter().map(|&o| (o, t, rel::REALTIME)));
            incoming[t as usize] = (from, edges.len() as u32);
        } else {
            let (a, b) = incoming[t as usize];
            for e in &edges[a as usize..b as usize] {
                in_buf[e.0 as usize] = false;
            }
            buffer.retain(|&o| in_buf[o as usize]);
            buffer.push(t);
            in_buf[t as usize] = true;
        }
    }
}

/// Explain one step of a cycle: Elle's step map, and a sentence.
fn explain_step(h: &TxnHistory, analysis: &Analysis, a: usize, b: usize, r: u8) -> (Value, String) {
    let (an, bn) = (format!("T{}", h.txns[a].index), format!("T{}", h.txns[b].index));
    match r {
        rel::PROCESS => (
            json!({"type": "process", "process": h.txns[a].process}),
            format!(
                "{an} and {bn} ran on process {}, {an} first, so {an} precedes {bn} (process)",
                h.txns[a].process.unwrap_or(0)
            ),
        ),
        rel::REALTIME => (
            json!({"type": "realtime", "a'": h.txns[a].index, "b": h.txns[b].invoked_at}),
            format!(
                "{an} completed (event {}) before {bn} was invoked (event {}), so {an} precedes {bn} (realtime)",
                h.txns[a].completed_at,
                h.txns[b].invoked_at.unwrap_or(0)
            ),
        ),
        r => analysis
            .explainer
            .explain(h, a, b, r)
            .unwrap_or_else(|| (json!({"type": rel::name(r)}), format!("{an} precedes {bn} ({})", rel::name(r)))),
    }
}

/// A found cycle as an anomaly instance.
fn cycle_json(h: &TxnHistory, analysis: &Analysis, kind: &str, f: &Found) -> Value {
    let mut steps = Vec::new();
    let mut words = Vec::new();
    for (i, &r) in f.rels.iter().enumerate() {
        let (a, b) = (f.vertices[i] as usize, f.vertices[i + 1] as usize);
        let (step, text) = explain_step(h, analysis, a, b, r);
        steps.push(step);
        words.push(text);
    }
    let first = format!("T{}", h.txns[f.vertices[0] as usize].index);
    let explanation =
        format!("{}; so {first} precedes itself: a {kind} cycle of {} transactions.", words.join("; "), f.rels.len());
    let names: Vec<String> = f.vertices.iter().map(|&t| format!("T{}", h.txns[t as usize].index)).collect();
    json!({
        "type": kind,
        "cycle": f.vertices.iter().map(|&t| h.txn_json(t as usize)).collect::<Vec<_>>(),
        "steps": steps,
        "summary": cycle_in_short(&names, &steps, analysis.explainer.write_word()),
        "explanation": explanation,
        "shortest": f.shortest,
    })
}

/// A cycle in one sentence, what each transaction did to the next (the proof, step by step,
/// is the instance's `explanation`): "T3 and T4 each missed the other's append (keys 1 and
/// 2)", "T3 missed T5's append to key 1; T5 saw T4's append to key 2; ...". `names` holds
/// the cycle's transactions with the first repeated at the end.
pub(crate) fn cycle_in_short(names: &[String], steps: &[Value], write: &str) -> String {
    let key = |s: &Value| {
        s.get("key").map(|k| match k {
            Value::String(k) => k.clone(),
            k => k.to_string(),
        })
    };
    let kind = |s: &Value| s.get("type").and_then(Value::as_str).unwrap_or("").to_string();
    let kinds: Vec<String> = steps.iter().map(kind).collect();
    let keys: Vec<String> = steps.iter().filter_map(key).collect();
    let on_keys = match keys.as_slice() {
        [a, b] if a == b => format!(" (key {a})"),
        [a, b] => format!(" (keys {a} and {b})"),
        _ => String::new(),
    };
    if steps.len() == 2 && names.len() == 3 && kinds[0] == kinds[1] {
        let (a, b) = (&names[0], &names[1]);
        let each = match kinds[0].as_str() {
            "rw" => Some(format!("each missed the other's {write}")),
            "wr" => Some(format!("each saw the other's {write}")),
            "ww" if write == "append" => Some("each appended after the other".to_string()),
            "ww" => Some("each overwrote the other".to_string()),
            _ => None,
        };
        if let Some(each) = each {
            return format!("{a} and {b} {each}{on_keys}");
        }
    }
    steps
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let (a, b) = (&names[i], &names[i + 1]);
            let to = key(s).map(|k| format!(" to key {k}")).unwrap_or_default();
            match kind(s).as_str() {
                "rw" => format!("{a} missed {b}'s {write}{to}"),
                "wr" => format!("{b} saw {a}'s {write}{to}"),
                "ww" => format!("{a}'s {write}{to} came before {b}'s"),
                "process" => format!("{a} ran before {b} on the same process"),
                "realtime" => format!("{a} completed before {b} began"),
                other => format!("{a} precedes {b} ({other})"),
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Build the graph, search it, and assemble the result.
pub fn finish(h: &TxnHistory, opts: &TxnOptions, mut analysis: Analysis) -> TxnResult {
    let reportable = opts.reportable();
    // Both orders when both are asked for: a process's transactions are in realtime order too,
    // but a cycle through a process step found only as -realtime would not rule out the
    // strong-session models it breaks.
    let need_rt = h.has_invocations && reportable.iter().any(|a| a.ends_with("-realtime"));
    let need_process = h.has_invocations && reportable.iter().any(|a| a.ends_with("-process"));
    let mut edges = std::mem::take(&mut analysis.edges);
    if need_rt {
        order_edges(h, true, &mut edges);
    }
    if need_process {
        order_edges(h, false, &mut edges);
    }
    let mut anomalies = std::mem::take(&mut analysis.anomalies);
    if edges.is_empty() {
        anomalies.insert("empty-transaction-graph".into(), vec![json!(true)]);
    }
    let g = Csr::merged(h.txns.len(), &edges);
    let n_edges = edges.len();
    drop(edges);
    let comps = sccs(&g);
    let specs = specs();
    let mut cycles: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for comp in &comps {
        let bound = SearchBound {
            edges: opts.search_budget,
            ceiling: opts.search_ceiling,
            deadline: std::time::Instant::now() + opts.search_time,
        };
        let mut redundant: BTreeSet<String> = BTreeSet::new();
        for spec in &specs {
            if redundant.contains(&spec.name) {
                continue;
            }
            let has_variant = spec.require & (rel::PROCESS | rel::REALTIME);
            if has_variant != 0
                && !(need_rt && has_variant == rel::REALTIME || need_process && has_variant == rel::PROCESS)
            {
                continue;
            }
            match shortest_cycle(&g, comp, spec, bound) {
                Ok(Some(f)) => {
                    cycles.entry(spec.name.clone()).or_default().push(cycle_json(h, &analysis, &spec.name, &f));
                    redundant.extend(models::implied_anomalies([spec.name.as_str()]));
                }
                Ok(None) => {}
                Err(edges) => cycles.entry("cycle-search-timeout".into()).or_default().push(json!({
                    "type": "cycle-search-timeout",
                    "anomaly-spec-type": spec.name,
                    "scc-size": comp.len(),
                    "edges-searched": edges,
                    "explanation": format!(
                        "no {} cycle found in a component of {} transactions after visiting {edges} edges: there may be none",
                        spec.name,
                        comp.len()
                    ),
                })),
            }
        }
    }
    for (k, v) in cycles {
        anomalies.entry(k).or_default().extend(v);
    }
    result(
        h,
        opts,
        anomalies,
        TxnStats {
            txns: h.txns.len(),
            ok: h.txns.iter().filter(|t| t.outcome == Outcome::Ok).count(),
            info: h.txns.iter().filter(|t| t.outcome == Outcome::Info).count(),
            fail: h.txns.iter().filter(|t| t.outcome == Outcome::Fail).count(),
            edges: n_edges,
            cyclic_components: comps.len(),
            largest_component: comps.iter().map(Vec::len).max().unwrap_or(0),
            realtime_edges: need_rt,
            process_edges: need_process,
            unordered: h.unordered(),
        },
    )
}

/// Elle's `result-map`: the verdict, the reportable anomalies and the boundary; plus the ladder.
fn result(h: &TxnHistory, opts: &TxnOptions, anomalies: BTreeMap<String, Vec<Value>>, stats: TxnStats) -> TxnResult {
    let prohibited = opts.prohibited();
    let reportable = opts.reportable();
    let all_types: Vec<String> = anomalies.keys().cloned().collect();
    let shown: BTreeMap<String, Vec<Value>> =
        anomalies.iter().filter(|(k, _)| reportable.contains(*k)).map(|(k, v)| (k.clone(), v.clone())).collect();
    let bad = shown.keys().any(|k| prohibited.contains(k));
    let valid = if shown.is_empty() {
        Validity::True
    } else if bad {
        Validity::False
    } else {
        Validity::Unknown
    };
    let (not, also_not) = if shown.is_empty() {
        (BTreeSet::new(), BTreeSet::new())
    } else {
        models::boundary(all_types.iter().map(String::as_str))
    };
    let impossible = models::impossible_models(all_types.iter().map(String::as_str));
    let ladder: Vec<Rung> = LADDER
        .iter()
        .map(|m| {
            let c = models::canonical(m);
            let needs_rt = models::anomalies_prohibited_by([*m]).iter().any(|a| a.ends_with("-realtime"));
            let needs_p = models::anomalies_prohibited_by([*m]).iter().any(|a| a.ends_with("-process"));
            let consistent = if impossible.contains(c) {
                "no"
            } else if (needs_rt && !stats.realtime_edges)
                || (needs_p && !stats.process_edges)
                || ((needs_rt || needs_p) && stats.unordered > 0)
            {
                "unchecked"
            } else {
                "yes"
            };
            Rung { model: m.to_string(), consistent }
        })
        .collect();
    let verdict = match valid {
        Validity::True => Verdict::Valid,
        Validity::False => Verdict::Invalid,
        Validity::Unknown => Verdict::Unknown,
    };
    let anomaly_types: Vec<String> = shown.keys().cloned().collect();
    let summary = match valid {
        Validity::True if opts.consistency_models.is_empty() => {
            format!("{} transactions, none of the anomalies asked for: {}", h.txns.len(), opts.anomalies.join(", "))
        }
        Validity::True => {
            format!("{} transactions consistent with {}", h.txns.len(), opts.consistency_models.join(", "))
        }
        _ => format!(
            "{} ({} transactions){}{}",
            anomaly_types.join(", "),
            h.txns.len(),
            if !not.is_empty() {
                format!("; not {}", not.iter().cloned().collect::<Vec<_>>().join(", "))
            } else {
                String::new()
            },
            still_consistent(&ladder)
        ),
    };
    let mut notes = h.notes.clone();
    if stats.unordered > 0 {
        notes.push(format!(
            "{} transactions have no place in process or realtime order (no invocation paired with them): \
             models that need those orders are unchecked",
            stats.unordered
        ));
    }
    TxnResult {
        notes,
        valid,
        verdict,
        anomaly_types,
        anomalies: shown,
        not: not.into_iter().collect(),
        also_not: also_not.into_iter().collect(),
        ladder,
        all_anomaly_types: all_types,
        workload: opts.workload,
        consistency_models: opts.consistency_models.clone(),
        stats,
        summary,
    }
}

/// The usual names a database gives its isolation levels, strongest first: which of them the
/// history still satisfies, so that "not repeatable-read" (Adya's PL-2.99) is not read as
/// "the database's repeatable read is broken" when the snapshot isolation it promises holds.
const HEADLINE_MODELS: [&str; 5] =
    ["strict-serializable", "serializable", "snapshot-isolation", "repeatable-read", "read-committed"];

/// "; still consistent with snapshot-isolation, read-committed" (nothing when none holds).
fn still_consistent(ladder: &[Rung]) -> String {
    let holds: Vec<&str> = HEADLINE_MODELS
        .iter()
        .copied()
        .filter(|m| ladder.iter().any(|r| r.model == *m && r.consistent == "yes"))
        .collect();
    if holds.is_empty() {
        String::new()
    } else {
        format!("; still consistent with {}", holds.join(", "))
    }
}
