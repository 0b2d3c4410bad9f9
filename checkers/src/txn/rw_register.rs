//! Read-write register analysis, after Elle's `elle.rw-register` (jepsen-io/elle,
//! src/elle/rw_register.clj).
//!
//! Writes are unique per key, so a read of k = v names its writer: a wr edge. The version order
//! of a register is not visible in reads, so it is inferred, partially:
//! - the initial state (nil) precedes every value written or read;
//! - with `wfr_keys` (writes follow reads), a committed transaction that read k = v and then
//!   wrote k = v' installed v' after v.
//!
//! If the inferred orders of a key form a cycle, that is `cyclic-versions` and the
//! writes-follow-reads part is dropped. From each version edge v1 -> v2 of key k: the writers of
//! v1 precede the writers of v2 (ww) and the readers of v1 precede the writers of v2 (rw).
//! Only external reads (before the transaction writes the key) and external writes (the
//! transaction's last write of the key) of committed transactions take part, as in Elle.
//! Without the graph: G1a (read of a failed write), G1b (read of an intermediate write),
//! internal (a read disagrees with the transaction's own earlier read or write) and lost-update.

use super::graph::rel;
use super::{Analysis, Explain, Key, Mop, Outcome, Read, TxnHistory, TxnOptions};
use rustc_hash::{FxHashMap, FxHashSet};
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

    // Version graphs: nil before every value; then writes-follow-reads, unless that makes a cycle.
    let mut versions: FxHashSet<(Key, Version, Version)> = FxHashSet::default();
    for (t, txn) in h.txns.iter().enumerate() {
        let Some(e) = &exts[t] else { continue };
        for &(k, v, _) in &e.writes {
            versions.insert((k, None, Some(v)));
        }
        if txn.outcome == Outcome::Ok {
            for &(k, v, _) in &e.reads {
                if v.is_some() {
                    versions.insert((k, None, v));
                }
            }
        }
    }
    if opts.wfr_keys {
        let mut wfr: FxHashSet<(Key, Version, Version)> = FxHashSet::default();
        for (t, txn) in h.txns.iter().enumerate() {
            let Some(e) = &exts[t] else { continue };
            if txn.outcome != Outcome::Ok {
                continue;
            }
            for &(k, v, _) in &e.reads {
                if let (Some(v), Some(w)) = (v, e.writes.iter().find(|w| w.0 == k)) {
                    if v != w.1 {
                        wfr.insert((k, Some(v), Some(w.1)));
                    }
                }
            }
        }
        let cycles = version_cycles(h, &wfr);
        if cycles.is_empty() {
            versions.extend(wfr);
        } else {
            for c in cycles {
                add("cyclic-versions", c);
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
    let mut vlist: Vec<&(Key, Version, Version)> = versions.iter().collect();
    vlist.sort_unstable();
    for &&(k, v1, v2) in &vlist {
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
    Analysis {
        anomalies,
        edges,
        priority: &[rel::WR, rel::WW, rel::RW, rel::PROCESS, rel::REALTIME],
        explainer: Box::new(Explainer { versions }),
    }
}

/// Cycles in the writes-follow-reads version graphs, per key (simple DFS colouring; these
/// graphs are small per key).
fn version_cycles(h: &TxnHistory, edges: &FxHashSet<(Key, Version, Version)>) -> Vec<Value> {
    let mut by_key: BTreeMap<Key, BTreeMap<i64, Vec<i64>>> = BTreeMap::new();
    for &(k, a, b) in edges {
        if let (Some(a), Some(b)) = (a, b) {
            by_key.entry(k).or_default().entry(a).or_default().push(b);
        }
    }
    let mut out = Vec::new();
    for (k, g) in by_key {
        // Iterative DFS; a grey successor closes a cycle.
        let mut colour: FxHashMap<i64, u8> = FxHashMap::default();
        let mut starts: Vec<i64> = g.keys().copied().collect();
        starts.sort_unstable();
        'outer: for s in starts {
            if colour.contains_key(&s) {
                continue;
            }
            let mut stack: Vec<(i64, usize)> = vec![(s, 0)];
            colour.insert(s, 1);
            while let Some(&mut (v, ref mut i)) = stack.last_mut() {
                let succ = g.get(&v).map_or(&[][..], |x| x.as_slice());
                if *i < succ.len() {
                    let w = succ[*i];
                    *i += 1;
                    match colour.get(&w) {
                        Some(1) => {
                            let from = stack.iter().position(|x| x.0 == w).unwrap_or(0);
                            let cycle: Vec<i64> = stack[from..].iter().map(|x| x.0).collect();
                            out.push(
                                json!({"key": h.key_name(k), "scc": cycle, "sources": ["initial-state", "wfr-keys"]}),
                            );
                            break 'outer;
                        }
                        Some(_) => {}
                        None => {
                            colour.insert(w, 1);
                            stack.push((w, 0));
                        }
                    }
                } else {
                    colour.insert(v, 2);
                    stack.pop();
                }
            }
        }
    }
    out
}

struct Explainer {
    versions: FxHashSet<(Key, Version, Version)>,
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
                        if k2 == k && self.versions.contains(&(k, v1, Some(v2))) {
                            let ks = h.key_text(k);
                            let why = if v1.is_none() {
                                "the initial state comes first".to_string()
                            } else {
                                format!("{} comes before {v2} (writes follow reads)", vt(v1))
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
