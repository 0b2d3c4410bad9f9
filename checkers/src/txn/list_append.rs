//! List-append analysis, after Elle's `elle.list-append` (jepsen-io/elle, src/elle/list_append.clj).
//!
//! Appends are unique per key, so a read `[1 2 3]` of key k tells the order in which 1, 2 and 3
//! were appended: the version order of k. Every committed read of k should be a prefix of the
//! longest one; one that is not is `incompatible-order`. Taking the longest read as the version
//! order, each append of v (by T2) has a predecessor p (the element before v, or the last element
//! ever read if v was never read, or the empty list):
//! - ww: the writer of p precedes T2;
//! - rw: every transaction whose read of k ended at p (did not see v) precedes T2;
//! - wr: the writer of a read's last element precedes the reader.
//!
//! Anomalies found without the graph: G1a (a committed read saw an element of a failed append),
//! G1b (a read ended at an append that was not its transaction's last to that key), internal
//! (a read disagrees with the transaction's own earlier reads and appends), future-read (a read
//! saw an element the same transaction appends later), duplicate-elements, incompatible-order,
//! dirty-update (a committed append directly after a failed one in the version order) and
//! lost-update (two committed transactions read the same version of a key and both appended).

use super::graph::rel;
use super::{Analysis, Explain, Key, Mop, Outcome, Read, TxnHistory};
use rustc_hash::{FxHashMap, FxHashSet};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Who appended a value: the transaction (position) and the micro-op's index in it.
#[derive(Debug, Clone, Copy)]
struct Writer {
    txn: u32,
    mop: u32,
}

/// The indices the edges and their explanations need.
struct Index {
    writer: FxHashMap<(Key, i64), Writer>,
    /// The last element of each key's version order (the longest committed read, duplicates
    /// dropped).
    last: FxHashMap<Key, i64>,
    /// For each value in a key's version order, the value before it (None: the first).
    pos: FxHashMap<(Key, i64), Option<i64>>,
}

impl Index {
    /// The predecessor of an append in the version order: None for the empty list. A value
    /// never read comes after the last one read.
    fn prev(&self, k: Key, v: i64) -> Option<i64> {
        match self.pos.get(&(k, v)) {
            Some(&p) => p,
            None => self.last.get(&k).copied(),
        }
    }
}

/// Whether a transaction's reads count: ok reads always, info reads when they returned a list.
fn read_list(h: &TxnHistory, outcome: Outcome, r: Read) -> Option<&[i64]> {
    match (outcome, r) {
        (Outcome::Fail, _) => None,
        (Outcome::Info, Read::Nil) => None,
        (_, r) => Some(h.list(r)),
    }
}

pub fn analyze(h: &TxnHistory) -> Analysis {
    let mut anomalies: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    let mut add = |t: &str, v: Value| anomalies.entry(t.to_string()).or_default().push(v);
    let op = |t: u32| h.txn_json(t as usize);

    // Writers of every append, and which appends are intermediate (not the txn's last to k).
    let mut writer: FxHashMap<(Key, i64), Writer> = FxHashMap::default();
    writer.reserve(h.mops.len() / 2 + 16);
    let mut intermediate: FxHashSet<(Key, i64)> = FxHashSet::default();
    for (t, txn) in h.txns.iter().enumerate() {
        let mops = h.mops_of(txn);
        for (i, m) in mops.iter().enumerate() {
            if let Mop::Append(k, v) = *m {
                writer.insert((k, v), Writer { txn: t as u32, mop: i as u32 });
                if mops[i + 1..].iter().any(|n| matches!(n, Mop::Append(k2, _) if *k2 == k)) {
                    intermediate.insert((k, v));
                }
            }
        }
    }
    let outcome_of = |w: &Writer| h.txns[w.txn as usize].outcome;
    // Appends of failed transactions (usually none: then G1a needs no look-up per element).
    let failed: FxHashSet<(Key, i64)> = h
        .txns
        .iter()
        .filter(|t| t.outcome == Outcome::Fail)
        .flat_map(|t| h.mops_of(t).iter())
        .filter_map(|m| if let Mop::Append(k, v) = *m { Some((k, v)) } else { None })
        .collect();

    // Longest read of each key, duplicates.
    // Keys are dense indices: a vector, not a map. `scratch`: a sorted copy of a long list.
    let mut longest: Vec<Option<Read>> = vec![None; h.keys.len()];
    let mut scratch: Vec<i64> = Vec::new();
    for (t, txn) in h.txns.iter().enumerate() {
        let t = t as u32;
        for (i, m) in h.mops_of(txn).iter().enumerate() {
            let Mop::Read(k, r) = *m else { continue };
            let Some(list) = read_list(h, txn.outcome, r) else { continue };
            if list.len() > 1 {
                let mut counts: BTreeMap<i64, usize> = BTreeMap::new();
                let dup = if list.len() <= 16 {
                    list.iter().enumerate().any(|(j, x)| list[..j].contains(x))
                } else {
                    scratch.clear();
                    scratch.extend_from_slice(list);
                    scratch.sort_unstable();
                    scratch.windows(2).any(|w| w[0] == w[1])
                };
                if dup {
                    for x in list {
                        *counts.entry(*x).or_default() += 1;
                    }
                    counts.retain(|_, c| *c > 1);
                    add(
                        "duplicate-elements",
                        json!({"op": op(t), "mop": h.mop_json(m), "mop-index": i,
                               "duplicates": counts.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>()}),
                    );
                }
            }
            let e = longest[k as usize].get_or_insert(r);
            if h.list(*e).len() < list.len() {
                *e = r;
            }
        }
    }
    // Every read must be a prefix of the longest.
    let mut incompatible: FxHashSet<Key> = FxHashSet::default();
    let mut incompatible_cases = Vec::new();
    for txn in &h.txns {
        for m in h.mops_of(txn) {
            let Mop::Read(k, r) = *m else { continue };
            let Some(list) = read_list(h, txn.outcome, r) else { continue };
            let long = h.list(longest[k as usize].expect("every read key has a longest read"));
            if !long.starts_with(list) && incompatible.insert(k) {
                incompatible_cases.push((k, json!({"key": h.key_name(k), "values": [list, long]})));
            }
        }
    }
    incompatible_cases.sort_by_key(|(k, _)| *k);
    for (_, c) in incompatible_cases {
        add("incompatible-order", c);
    }
    let mut order: FxHashMap<Key, Vec<i64>> = FxHashMap::default();
    let mut last: FxHashMap<Key, i64> = FxHashMap::default();
    let mut pos: FxHashMap<(Key, i64), Option<i64>> = FxHashMap::default();
    pos.reserve(writer.len());
    for (k, r) in longest.iter().enumerate().filter_map(|(k, r)| Some((k as Key, (*r)?))) {
        let mut o = Vec::with_capacity(h.list(r).len());
        for &x in h.list(r) {
            if let std::collections::hash_map::Entry::Vacant(e) = pos.entry((k, x)) {
                e.insert(o.last().copied());
                o.push(x);
            }
        }
        if let Some(&x) = o.last() {
            last.insert(k, x);
        }
        order.insert(k, o);
    }
    let idx = Index { writer, last, pos };

    // Per-transaction checks: internal, future-read (ok txns), G1a and G1b (ok reads).
    for (t, txn) in h.txns.iter().enumerate() {
        if txn.outcome != Outcome::Ok {
            continue;
        }
        let t = t as u32;
        let mops = h.mops_of(txn);
        if let Some(c) = internal_case(h, mops) {
            let (i, expected) = c;
            add("internal", json!({"op": op(t), "mop": h.mop_json(&mops[i]), "mop-index": i, "expected": expected}));
        }
        if let Some((i, e)) = future_read_case(h, mops) {
            add("future-read", json!({"op": op(t), "mop": h.mop_json(&mops[i]), "mop-index": i, "element": e}));
        }
        for (i, m) in mops.iter().enumerate() {
            let Mop::Read(k, r) = *m else { continue };
            let list = h.list(r);
            if !failed.is_empty() {
                for &e in list {
                    if failed.contains(&(k, e)) {
                        let w = idx.writer[&(k, e)];
                        add(
                            "G1a",
                            json!({"op": op(t), "mop": h.mop_json(m), "mop-index": i, "writer": op(w.txn), "element": e}),
                        );
                    }
                }
            }
            if let Some(&e) = list.last().filter(|&&e| intermediate.contains(&(k, e))) {
                if let Some(w) = idx.writer.get(&(k, e)) {
                    if w.txn != t {
                        add(
                            "G1b",
                            json!({"op": op(t), "mop": h.mop_json(m), "mop-index": i, "writer": op(w.txn), "element": e}),
                        );
                    }
                }
            }
        }
    }

    // Dirty update: in a key's version order, a committed append right after failed ones.
    // (Only a failed append can start one.)
    let mut keys: Vec<Key> = if failed.is_empty() { Vec::new() } else { order.keys().copied().collect() };
    keys.sort_unstable();
    for &k in &keys {
        let mut t1: Option<Writer> = None; // None: the initial state, committed
        let mut vs: Vec<i64> = Vec::new();
        for &v in &order[&k] {
            let Some(&t2) = idx.writer.get(&(k, v)) else { continue };
            let o1 = t1.map_or(Outcome::Ok, |w| outcome_of(&w));
            let o2 = outcome_of(&t2);
            vs.push(v);
            match (o1, o2) {
                (Outcome::Fail, Outcome::Ok) => {
                    add(
                        "dirty-update",
                        json!({"key": h.key_name(k), "values": vs, "txns": [op(t1.map_or(0, |w| w.txn)), "...", op(t2.txn)]}),
                    );
                    t1 = Some(t2);
                    vs = vec![v];
                }
                (_, Outcome::Ok) | (Outcome::Ok | Outcome::Info, Outcome::Fail) => {
                    t1 = Some(t2);
                    vs = vec![v];
                }
                _ => {}
            }
        }
    }

    // Lost update: committed transactions that read the same version of k and then appended.
    // A version is named by its key, length and last element (two reads of the same version
    // that differ otherwise are incompatible orders, reported above).
    let mut lost: FxHashMap<(Key, usize, Option<i64>), Vec<u32>> = FxHashMap::default();
    // Small per-transaction tables as vectors: transactions have a few micro-ops.
    let mut reads: Vec<(Key, Read)> = Vec::new();
    let mut written: Vec<Key> = Vec::new();
    for (t, txn) in h.txns.iter().enumerate() {
        if txn.outcome != Outcome::Ok {
            continue;
        }
        reads.clear();
        written.clear();
        for m in h.mops_of(txn) {
            match *m {
                Mop::Append(k, _) => {
                    if let Some(&(_, r)) = reads.iter().find(|x| x.0 == k) {
                        if !written.contains(&k) {
                            written.push(k);
                            let l = h.list(r);
                            lost.entry((k, l.len(), l.last().copied())).or_default().push(t as u32);
                        }
                    }
                }
                Mop::Read(k, r) => {
                    if !reads.iter().any(|x| x.0 == k) {
                        reads.push((k, r));
                    }
                }
                Mop::Write(..) => {}
            }
        }
    }
    let mut lost: Vec<(Key, Vec<i64>, Vec<u32>)> = lost
        .into_iter()
        .filter(|(_, txns)| txns.len() > 1)
        .map(|((k, _, _), txns)| {
            let first = h.mops_of(&h.txns[txns[0] as usize]).iter().find_map(|m| match *m {
                Mop::Read(rk, r) if rk == k => Some(h.list(r).to_vec()),
                _ => None,
            });
            (k, first.unwrap_or_default(), txns)
        })
        .collect();
    lost.sort();
    for (k, v, txns) in lost {
        {
            add(
                "lost-update",
                json!({"key": h.key_name(k), "value": v, "txns": txns.iter().map(|&t| op(t)).collect::<Vec<_>>()}),
            );
        }
    }

    // Edges among ok and info transactions.
    let node = |t: u32| h.txns[t as usize].outcome != Outcome::Fail;
    let mut readers: Vec<(Key, Option<i64>, u32)> = Vec::new();
    let mut edges: Vec<(u32, u32, u8)> = Vec::with_capacity(h.txns.len() * 3);
    for (t, txn) in h.txns.iter().enumerate() {
        let t = t as u32;
        for m in h.mops_of(txn) {
            let Mop::Read(k, r) = *m else { continue };
            let Some(list) = read_list(h, txn.outcome, r) else { continue };
            readers.push((k, list.last().copied(), t));
            if let Some(&e) = list.last() {
                if let Some(w) = idx.writer.get(&(k, e)) {
                    if w.txn != t && node(w.txn) {
                        edges.push((w.txn, t, rel::WR));
                    }
                }
            }
        }
    }
    readers.sort_unstable();
    readers.dedup();
    // Each append's predecessor; then the readers of each predecessor, by a merge of the two
    // sorted lists (sequential, where a search per append would miss the cache).
    let mut apps: Vec<(Key, Option<i64>, u32)> = Vec::with_capacity(idx.writer.len());
    for (t, txn) in h.txns.iter().enumerate() {
        if txn.outcome == Outcome::Fail {
            continue;
        }
        let t = t as u32;
        for m in h.mops_of(txn) {
            let Mop::Append(k, v) = *m else { continue };
            let p = idx.prev(k, v);
            if let Some(p) = p {
                if let Some(w) = idx.writer.get(&(k, p)) {
                    if w.txn != t && node(w.txn) {
                        edges.push((w.txn, t, rel::WW));
                    }
                }
            }
            apps.push((k, p, t));
        }
    }
    apps.sort_unstable();
    let mut j = 0;
    for &(k, p, t) in &apps {
        while j < readers.len() && (readers[j].0, readers[j].1) < (k, p) {
            j += 1;
        }
        let mut x = j;
        while x < readers.len() && (readers[x].0, readers[x].1) == (k, p) {
            if readers[x].2 != t {
                edges.push((readers[x].2, t, rel::RW));
            }
            x += 1;
        }
    }
    Analysis { anomalies, edges, explainer: Box::new(Explainer { idx }) }
}

/// Elle's INT for list-append: the first read that disagrees with what the transaction already
/// knows of the key (its earlier read plus its appends since, or `[... appended]` when it has
/// only appended). The micro-op's index and the expected value.
fn internal_case(h: &TxnHistory, mops: &[Mop]) -> Option<(usize, Value)> {
    // key -> (known prefix?, elements)
    let mut state: Vec<(Key, bool, Vec<i64>)> = Vec::new();
    for (i, m) in mops.iter().enumerate() {
        match *m {
            Mop::Append(k, v) => match state.iter_mut().find(|x| x.0 == k) {
                Some(x) => x.2.push(v),
                None => state.push((k, false, vec![v])),
            },
            Mop::Read(k, r) => {
                let v = h.list(r);
                if let Some((_, known, s)) = state.iter().find(|x| x.0 == k) {
                    let bad = if *known { s.as_slice() != v } else { v.len() < s.len() || !v.ends_with(s) };
                    if bad {
                        let expected = if *known {
                            json!(s)
                        } else {
                            let mut e = vec![json!("...")];
                            e.extend(s.iter().map(|x| json!(x)));
                            Value::Array(e)
                        };
                        return Some((i, expected));
                    }
                }
                match state.iter_mut().find(|x| x.0 == k) {
                    Some(x) => *x = (k, true, v.to_vec()),
                    None => state.push((k, true, v.to_vec())),
                }
            }
            Mop::Write(..) => {}
        }
    }
    None
}

/// A read of an element the transaction appends later: the read's index and the element.
fn future_read_case(h: &TxnHistory, mops: &[Mop]) -> Option<(usize, i64)> {
    for (i, m) in mops.iter().enumerate() {
        if let Mop::Append(k, v) = *m {
            // A read of k before this append that saw v.
            let seen =
                mops[..i].iter().position(|n| matches!(*n, Mop::Read(rk, r) if rk == k && h.list(r).contains(&v)));
            if let Some(j) = seen {
                return Some((j, v));
            }
        }
    }
    None
}

struct Explainer {
    idx: Index,
}

fn name(h: &TxnHistory, t: usize) -> String {
    format!("T{}", h.txns[t].index)
}

impl Explain for Explainer {
    fn write_word(&self) -> &'static str {
        "append"
    }

    fn explain(&self, h: &TxnHistory, a: usize, b: usize, r: u8) -> Option<(Value, String)> {
        let (ta, tb) = (&h.txns[a], &h.txns[b]);
        let (an, bn) = (name(h, a), name(h, b));
        let amops = h.mops_of(ta);
        for (i, m) in h.mops_of(tb).iter().enumerate() {
            match (r, *m) {
                (rel::WW, Mop::Append(k, v)) => {
                    let Some(p) = self.idx.prev(k, v) else { continue };
                    let Some(w) = self.idx.writer.get(&(k, p)) else { continue };
                    if w.txn as usize != a {
                        continue;
                    }
                    let ks = h.key_text(k);
                    let how = if self.idx.pos.contains_key(&(k, v)) {
                        format!("key {ks}'s longest read has {v} right after {p}")
                    } else {
                        format!("{v} was never read, so it comes after {p}, the last element read of key {ks}")
                    };
                    let step = json!({"type": "ww", "key": h.key_name(k), "value": p, "value'": v, "a-mop-index": w.mop, "b-mop-index": i});
                    return Some((
                        step,
                        format!(
                            "{an} appended {p} to key {ks} and {bn} appended {v}; {how}, so {an} precedes {bn} (ww)"
                        ),
                    ));
                }
                (rel::WR, Mop::Read(k, rd)) => {
                    let Some(&e) = h.list(rd).last() else { continue };
                    let Some(w) = self.idx.writer.get(&(k, e)) else { continue };
                    if w.txn as usize != a {
                        continue;
                    }
                    let ks = h.key_text(k);
                    let step =
                        json!({"type": "wr", "key": h.key_name(k), "value": e, "a-mop-index": w.mop, "b-mop-index": i});
                    return Some((
                        step,
                        format!("{an} appended {e} to key {ks}; {bn} read key {ks} = {}, which ends with {e}, so {an} precedes {bn} (wr)", h.read_text(rd)),
                    ));
                }
                (rel::RW, Mop::Append(k, v)) => {
                    let p = self.idx.prev(k, v);
                    let j = amops.iter().position(|n| match *n {
                        Mop::Read(rk, rd) if rk == k => {
                            h.list(rd).last().copied() == p && (p.is_some() || read_list(h, ta.outcome, rd).is_some())
                        }
                        _ => false,
                    });
                    let Some(j) = j else { continue };
                    let Mop::Read(_, rd) = amops[j] else { continue };
                    let ks = h.key_text(k);
                    let step = json!({"type": "rw", "key": h.key_name(k), "value": p, "value'": v, "a-mop-index": j, "b-mop-index": i});
                    let after = match p {
                        Some(p) => format!("which comes right after {p}"),
                        None => "the first element of the key".to_string(),
                    };
                    return Some((
                        step,
                        format!("{bn} appended {v} to key {ks}; {an} read key {ks} = {} without {v} ({after}), so {an} precedes {bn} (rw)", h.read_text(rd)),
                    ));
                }
                _ => {}
            }
        }
        None
    }
}
