//! Read-write register analysis, after Elle's `elle.rw-register` (jepsen-io/elle,
//! src/elle/rw_register.clj).
//!
//! Writes are unique per key, so a read of k = v names its writer: a wr edge. The version order
//! of a register is not visible in reads, so it is inferred, partially:
//! - the initial state (nil) precedes every value written or read;
//! - with `wfr_keys` (writes follow reads), a committed transaction that read k = v and then
//!   wrote k = v' installed v' after v;
//! - with `sequential_keys` (each key sequentially consistent), a process's successive
//!   transactions on a key saw successive versions: the last version of k one saw precedes the
//!   first version of k the next one saw;
//! - with `linearizable_keys` (each key linearizable), the same along realtime order.
//!
//! The sources are added one by one, in that order, as in Elle; a source whose edges would make
//! some key's version order cyclic is reported as `cyclic-versions` (with the sources that make
//! the cycle) and dropped. From each version edge v1 -> v2 of key k: the writers of
//! v1 precede the writers of v2 (ww) and the readers of v1 precede the writers of v2 (rw).
//! Only external reads (before the transaction writes the key) and external writes (the
//! transaction's last write of the key) of committed transactions take part, as in Elle.
//! Without the graph: G1a (read of a failed write), G1b (read of an intermediate write),
//! internal (a read disagrees with the transaction's own earlier read or write) and lost-update.

use super::graph::rel;
use super::{Analysis, Explain, Key, Mop, Outcome, Read, TxnHistory, TxnOptions};
use rustc_hash::FxHashMap;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// A register version: None is the initial state (nil).
type Version = Option<i64>;

/// External reads and writes of one transaction: (key, value, micro-op index).
struct Ext {
    reads: Vec<(Key, Version, usize)>,
    writes: Vec<(Key, i64, usize)>,
}

fn ext(mops: &[Mop]) -> Ext {
    let mut reads: Vec<(Key, Version, usize)> = Vec::new();
    let mut writes: Vec<(Key, i64, usize)> = Vec::new();
    for (i, m) in mops.iter().enumerate() {
        match *m {
            Mop::Read(k, r) => {
                let touched = reads.iter().any(|x| x.0 == k) || writes.iter().any(|x| x.0 == k);
                if !touched {
                    let v = match r {
                        Read::Value(v) => Some(v),
                        _ => None,
                    };
                    reads.push((k, v, i));
                }
            }
            Mop::Write(k, v) => match writes.iter_mut().find(|x| x.0 == k) {
                Some(w) => *w = (k, v, i),
                None => writes.push((k, v, i)),
            },
            Mop::Append(..) => {}
        }
    }
    Ext { reads, writes }
}

pub fn analyze(h: &TxnHistory, opts: &TxnOptions) -> Analysis {
    let mut anomalies: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    let mut add = |t: &str, v: Value| anomalies.entry(t.to_string()).or_default().push(v);
    let op = |t: usize| h.txn_json(t);
    let exts: Vec<Option<Ext>> =
        h.txns.iter().map(|t| (t.outcome != Outcome::Fail).then(|| ext(h.mops_of(t)))).collect();

    // Failed and intermediate writes.
    let mut failed: FxHashMap<(Key, i64), usize> = FxHashMap::default();
    let mut intermediate: FxHashMap<(Key, i64), usize> = FxHashMap::default();
    for (t, txn) in h.txns.iter().enumerate() {
        let mops = h.mops_of(txn);
        for (i, m) in mops.iter().enumerate() {
            let Mop::Write(k, v) = *m else { continue };
            if txn.outcome == Outcome::Fail {
                failed.insert((k, v), t);
            }
            if mops[i + 1..].iter().any(|n| matches!(n, Mop::Write(k2, _) if *k2 == k)) {
                intermediate.insert((k, v), t);
            }
        }
    }
    for (t, txn) in h.txns.iter().enumerate() {
        if txn.outcome != Outcome::Ok {
            continue;
        }
        let mops = h.mops_of(txn);
        // Internal: a read must match the transaction's last read or write of the key.
        let mut state: FxHashMap<Key, Version> = FxHashMap::default();
        for (i, m) in mops.iter().enumerate() {
            match *m {
                Mop::Write(k, v) => {
                    state.insert(k, Some(v));
                }
                Mop::Read(k, r) => {
                    let v = if let Read::Value(v) = r { Some(v) } else { None };
                    if let Some(&s) = state.get(&k) {
                        if s != v {
                            add("internal", json!({"op": op(t), "mop": h.mop_json(m), "mop-index": i, "expected": s}));
                            break;
                        }
                    }
                    state.insert(k, v);
                }
                Mop::Append(..) => {}
            }
        }
        for (i, m) in mops.iter().enumerate() {
            let Mop::Read(k, Read::Value(v)) = *m else { continue };
            if let Some(&w) = failed.get(&(k, v)) {
                add("G1a", json!({"op": op(t), "mop": h.mop_json(m), "mop-index": i, "writer": op(w)}));
            }
            if let Some(&w) = intermediate.get(&(k, v)) {
                if w != t {
                    add("G1b", json!({"op": op(t), "mop": h.mop_json(m), "mop-index": i, "writer": op(w)}));
                }
            }
        }
    }

    // Lost update: committed transactions that read the same version of k and wrote k.
    let mut lost: BTreeMap<(Key, Version), Vec<usize>> = BTreeMap::new();
    for (t, txn) in h.txns.iter().enumerate() {
        if txn.outcome != Outcome::Ok {
            continue;
        }
        let Some(e) = &exts[t] else { continue };
        for &(k, v, _) in &e.reads {
            if e.writes.iter().any(|w| w.0 == k) {
                lost.entry((k, v)).or_default().push(t);
            }
        }
    }
    for ((k, v), txns) in lost {
        if txns.len() > 1 {
            add(
                "lost-update",
                json!({"key": h.key_name(k), "value": v, "txns": txns.iter().map(|&t| op(t)).collect::<Vec<_>>()}),
            );
        }
    }

    // External reads and writes of committed transactions, by key and value.
    let mut writers: FxHashMap<(Key, i64), Vec<u32>> = FxHashMap::default();
    let mut readers: FxHashMap<(Key, Version), Vec<u32>> = FxHashMap::default();
    for (t, txn) in h.txns.iter().enumerate() {
        if txn.outcome != Outcome::Ok {
            continue;
        }
        let Some(e) = &exts[t] else { continue };
        for &(k, v, _) in &e.writes {
            writers.entry((k, v)).or_default().push(t as u32);
        }
        for &(k, v, _) in &e.reads {
            readers.entry((k, v)).or_default().push(t as u32);
        }
    }

    // Version graphs, source by source as Elle builds them: nil before every value; then
    // writes-follow-reads, process order (sequential keys) and realtime order (linearizable
    // keys) as asked. A source whose edges would make some key's version order cyclic is
    // reported as `cyclic-versions` (every cycle of the combined order) and left out.
    let mut initial: Vec<VersionEdge> = Vec::new();
    for (t, txn) in h.txns.iter().enumerate() {
        let Some(e) = &exts[t] else { continue };
        for &(k, v, _) in &e.writes {
            initial.push((k, None, Some(v)));
        }
        if txn.outcome == Outcome::Ok {
            for &(k, v, _) in &e.reads {
                if v.is_some() {
                    initial.push((k, None, v));
                }
            }
        }
    }
    let mut stages: Vec<(Source, Vec<VersionEdge>)> = vec![(Source::InitialState, initial)];
    if opts.wfr_keys {
        let mut wfr: Vec<VersionEdge> = Vec::new();
        for (t, txn) in h.txns.iter().enumerate() {
            let Some(e) = &exts[t] else { continue };
            if txn.outcome != Outcome::Ok {
                continue;
            }
            for &(k, v, _) in &e.reads {
                if let (Some(v), Some(w)) = (v, e.writes.iter().find(|w| w.0 == k)) {
                    if v != w.1 {
                        wfr.push((k, Some(v), Some(w.1)));
                    }
                }
            }
        }
        stages.push((Source::WfrKeys, wfr));
    }
    if opts.sequential_keys {
        stages.push((Source::SequentialKeys, order_versions(h, &exts, false)));
    }
    if opts.linearizable_keys {
        stages.push((Source::LinearizableKeys, order_versions(h, &exts, true)));
    }
    let mut versions: FxHashMap<(Key, Version, Version), Source> = FxHashMap::default();
    let mut sources: Vec<&'static str> = Vec::new();
    for (source, stage) in stages {
        let mut merged: Vec<VersionEdge> = versions.keys().copied().collect();
        merged.extend(stage.iter().copied());
        let cycles = version_cycles(&merged);
        let mut names = sources.clone();
        names.push(source.name());
        if cycles.is_empty() {
            sources = names;
            for e in stage {
                versions.entry(e).or_insert(source);
            }
        } else {
            for (k, scc) in cycles {
                add("cyclic-versions", json!({"key": h.key_name(k), "scc": scc, "sources": names}));
            }
        }
    }

    // Transaction edges from version edges.
    let mut edges: Vec<(u32, u32, u8)> = Vec::new();
    for (&(k, v), rs) in &readers {
        if let Some(v) = v {
            if let Some(ws) = writers.get(&(k, v)) {
                if ws.len() == 1 {
                    for &r in rs {
                        if r != ws[0] {
                            edges.push((ws[0], r, rel::WR));
                        }
                    }
                }
            }
        }
    }
    let mut vlist: Vec<VersionEdge> = versions.keys().copied().collect();
    vlist.sort_unstable();
    for &(k, v1, v2) in &vlist {
        let Some(v2) = v2 else { continue };
        let Some(w2) = writers.get(&(k, v2)) else { continue };
        if let Some(v1) = v1 {
            for &a in writers.get(&(k, v1)).map_or(&[][..], |v| v.as_slice()) {
                for &b in w2 {
                    if a != b {
                        edges.push((a, b, rel::WW));
                    }
                }
            }
        }
        for &a in readers.get(&(k, v1)).map_or(&[][..], |v| v.as_slice()) {
            for &b in w2 {
                if a != b {
                    edges.push((a, b, rel::RW));
                }
            }
        }
    }
    Analysis { anomalies, edges, explainer: Box::new(Explainer { versions }) }
}

/// Where a version edge comes from (Elle's `:sources`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    InitialState,
    WfrKeys,
    SequentialKeys,
    LinearizableKeys,
}

impl Source {
    fn name(self) -> &'static str {
        match self {
            Source::InitialState => "initial-state",
            Source::WfrKeys => "wfr-keys",
            Source::SequentialKeys => "sequential-keys",
            Source::LinearizableKeys => "linearizable-keys",
        }
    }

    /// Why the edge holds, in words.
    fn why(self) -> &'static str {
        match self {
            Source::InitialState => "the initial state comes first",
            Source::WfrKeys => "a transaction read the one and then wrote the other (writes follow reads)",
            Source::SequentialKeys => "a process interacted with the one and later with the other (sequential keys)",
            Source::LinearizableKeys => {
                "a transaction that interacted with the one completed before one that interacted with the other began (linearizable keys)"
            }
        }
    }
}

/// A version order edge: key, earlier version, later version.
type VersionEdge = (Key, Version, Version);

/// Version edges from an order over transactions (process order for sequential keys, realtime
/// order for linearizable keys), as Elle's `transaction-graph->version-graphs`: when T1
/// precedes T2 and both interact with key k, the last version of k T1 saw (its external write,
/// else its external read) precedes the first version T2 saw (its external read unless that
/// was nil, else its external write). Only the next transactions to interact with k count
/// (the rest follow transitively). Committed transactions take part with their reads and
/// writes, indeterminate ones with their writes (and only as the later of a pair, as in Elle's
/// graphs, where nothing follows an `info`).
///
/// Per key, the order is taken over the transactions that interact with it: a process's next
/// such transaction (sequential keys; completions in history order, so histories of
/// completions only have a process order too), or Elle's transitive reduction of realtime
/// order (linearizable keys: each committed transaction links to the invocations that follow
/// its completion until a transaction it precedes completes).
fn order_versions(h: &TxnHistory, exts: &[Option<Ext>], realtime: bool) -> Vec<VersionEdge> {
    // The last and first versions of each key a transaction interacted with.
    let last = |t: usize, k: Key| -> Option<Version> {
        let e = exts[t].as_ref()?;
        if let Some(w) = e.writes.iter().find(|w| w.0 == k) {
            return Some(Some(w.1));
        }
        if h.txns[t].outcome != Outcome::Ok {
            return None;
        }
        e.reads.iter().find(|r| r.0 == k).map(|r| r.1)
    };
    let first = |t: usize, k: Key| -> Option<Version> {
        let e = exts[t].as_ref()?;
        let read = if h.txns[t].outcome == Outcome::Ok { e.reads.iter().find(|r| r.0 == k) } else { None };
        let write = e.writes.iter().find(|w| w.0 == k).map(|w| Some(w.1));
        match read {
            Some(&(_, Some(v), _)) => Some(Some(v)),
            Some(&(_, None, _)) => Some(write.unwrap_or(None)),
            None => write,
        }
    };
    // The keys a transaction interacted with, in its order.
    let keys_of = |t: usize| -> Vec<Key> {
        let Some(e) = exts[t].as_ref() else { return Vec::new() };
        let mut ks: Vec<Key> = e.writes.iter().map(|w| w.0).collect();
        if h.txns[t].outcome == Outcome::Ok {
            ks.extend(e.reads.iter().map(|r| r.0));
        }
        ks.sort_unstable();
        ks.dedup();
        ks
    };
    let mut out: Vec<VersionEdge> = Vec::new();
    let mut link = |a: usize, b: usize, k: Key| {
        if let (Some(v1), Some(v2)) = (last(a, k), first(b, k)) {
            if v1 != v2 {
                out.push((k, v1, v2));
            }
        }
    };
    if !realtime {
        // Elle's process graph: consecutive committed transactions of each process.
        let mut prev: FxHashMap<(u64, Key), usize> = FxHashMap::default();
        for (t, txn) in h.txns.iter().enumerate() {
            let Some(p) = txn.process else { continue };
            if txn.outcome != Outcome::Ok {
                continue;
            }
            for k in keys_of(t) {
                if let Some(a) = prev.insert((p, k), t) {
                    link(a, t, k);
                }
            }
        }
        return out;
    }
    // Per key: the invocations and committed completions of the transactions that touch it,
    // in history order.
    let mut events: FxHashMap<Key, Vec<(u64, bool, u32)>> = FxHashMap::default();
    for (t, txn) in h.txns.iter().enumerate() {
        let Some(i) = txn.invoked_at else { continue };
        for k in keys_of(t) {
            let ev = events.entry(k).or_default();
            ev.push((i, false, t as u32));
            if txn.outcome == Outcome::Ok {
                ev.push((txn.completed_at, true, t as u32));
            }
        }
    }
    let mut keys: Vec<Key> = events.keys().copied().collect();
    keys.sort_unstable();
    let mut preceded_by: FxHashMap<u32, Vec<u32>> = FxHashMap::default();
    for k in keys {
        let ev = events.get_mut(&k).expect("a key of the map");
        ev.sort_unstable();
        let mut buffer: Vec<u32> = Vec::new();
        preceded_by.clear();
        for &(_, done, t) in ev.iter() {
            if !done {
                for &a in &buffer {
                    link(a as usize, t as usize, k);
                }
                preceded_by.insert(t, buffer.clone());
            } else {
                if let Some(before) = preceded_by.remove(&t) {
                    buffer.retain(|a| !before.contains(a));
                }
                buffer.push(t);
            }
        }
    }
    out
}

/// Cycles in the version orders of each key: every strongly connected component with more
/// than one version, its versions sorted (nil first), components ordered by key, then by
/// their least version.
fn version_cycles(edges: &[VersionEdge]) -> Vec<(Key, Vec<Version>)> {
    let mut by_key: BTreeMap<Key, Vec<(Version, Version)>> = BTreeMap::new();
    for &(k, a, b) in edges {
        by_key.entry(k).or_default().push((a, b));
    }
    let mut out = Vec::new();
    for (k, es) in by_key {
        let mut ids: FxHashMap<Version, u32> = FxHashMap::default();
        let mut names: Vec<Version> = Vec::new();
        let mut id = |v: Version| {
            *ids.entry(v).or_insert_with(|| {
                names.push(v);
                names.len() as u32 - 1
            })
        };
        let local: Vec<(u32, u32, u8)> = es.iter().map(|&(a, b)| (id(a), id(b), 0)).collect();
        let g = super::graph::Csr::new(names.len(), &local);
        let mut comps: Vec<Vec<Version>> = super::graph::sccs(&g)
            .into_iter()
            .map(|c| {
                let mut vs: Vec<Version> = c.iter().map(|&i| names[i as usize]).collect();
                vs.sort_unstable();
                vs
            })
            .collect();
        comps.sort_unstable();
        out.extend(comps.into_iter().map(|c| (k, c)));
    }
    out
}

struct Explainer {
    versions: FxHashMap<VersionEdge, Source>,
}

impl Explain for Explainer {
    fn explain(&self, h: &TxnHistory, a: usize, b: usize, r: u8) -> Option<(Value, String)> {
        let ea = ext(h.mops_of(&h.txns[a]));
        let eb = ext(h.mops_of(&h.txns[b]));
        let (an, bn) = (format!("T{}", h.txns[a].index), format!("T{}", h.txns[b].index));
        let vt = |v: Version| v.map_or("nil".to_string(), |v| v.to_string());
        match r {
            rel::WR => {
                for &(k, v, i) in &ea.writes {
                    if let Some(&(_, _, j)) = eb.reads.iter().find(|x| x.0 == k && x.1 == Some(v)) {
                        let ks = h.key_text(k);
                        return Some((
                            json!({"type": "wr", "key": h.key_name(k), "value": v, "a-mop-index": i, "b-mop-index": j}),
                            format!("{an} wrote key {ks} = {v} and {bn} read it, so {an} precedes {bn} (wr)"),
                        ));
                    }
                }
            }
            rel::WW | rel::RW => {
                let from: Vec<(Key, Version, usize)> = if r == rel::WW {
                    ea.writes.iter().map(|&(k, v, i)| (k, Some(v), i)).collect()
                } else {
                    ea.reads.clone()
                };
                for &(k, v1, i) in &from {
                    for &(k2, v2, j) in &eb.writes {
                        if let Some(source) = self.versions.get(&(k, v1, Some(v2))).filter(|_| k2 == k) {
                            let ks = h.key_text(k);
                            let why = match source {
                                Source::InitialState => source.why().to_string(),
                                _ => format!("{} comes before {v2}: {}", vt(v1), source.why()),
                            };
                            let (ty, did) = if r == rel::WW { ("ww", "wrote") } else { ("rw", "read") };
                            return Some((
                                json!({"type": ty, "key": h.key_name(k), "value": v1, "value'": v2, "a-mop-index": i, "b-mop-index": j}),
                                format!("{an} {did} key {ks} = {}, and {bn} wrote it = {v2}; in key {ks}'s version order {why}, so {an} precedes {bn} ({ty})", vt(v1)),
                            ));
                        }
                    }
                }
            }
            _ => {}
        }
        None
    }
}
