//! The read/write abstraction of a register or key-value history that the causal and session
//! rungs work on: a *differentiated* history in the sense of Bouajjani et al. (POPL 2017), where
//! every write on a key writes a value never written before on that key and never the initial
//! value, so that each read names the one write it read from.
//!
//! Jepsen semantics:
//! - `fail` ops certainly did not happen: dropped.
//! - `ok` reads become reads of their value (with `nil_read_is_unknown`, an ok read of nil carries
//!   no information and is dropped); `ok` writes become writes.
//! - `ok` cas `[old new]` becomes a read of `old` followed, in process order, by a write of `new`.
//!   This loses the cas's atomicity, which can only make the causal and session checks more
//!   permissive (a violation found here is a violation of the history with atomic cas); the
//!   linearizable and sequential rungs check the atomic cas.
//! - an `info` (or never completed) write or cas may or may not have taken effect. With unique
//!   values this is decided by the reads: it took effect iff some read returned its value (no other
//!   write could have produced it). One that nobody read is dropped: it is the last op of its
//!   process and has no causal successor, so it can take part in no bad pattern and no session
//!   constraint; keeping it or not changes no verdict. `info` reads carry nothing and are dropped.
//!
//! Values are interned per key: value id 0 is the initial value (`init`, nil unless told).

use crate::history::{Op, OpType, Process};
use crate::models::Val;
use rustc_hash::FxHashMap;
use serde_json::Value;

/// Read or write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Read,
    Write,
}

/// One read or write of the abstraction. Ops are stored grouped by process, in process order.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ROp {
    pub kind: Kind,
    /// Dense process number.
    pub proc: u32,
    /// Position within its process (0-based).
    pub pos: u32,
    pub key: u32,
    /// Value id on its key; 0 is the initial value.
    pub val: u32,
    /// Index into `Diff::sources`: the history operation it comes from (a cas gives two ops).
    pub src: u32,
}

/// Where an op comes from, for witnesses.
#[derive(Debug, Clone)]
pub(crate) struct Source {
    /// History index (`Op::index`) of the invocation.
    pub index: u64,
    pub process: u64,
    pub f: String,
    pub key: Option<Value>,
    pub value: Value,
    /// The completion's value (null for info).
    pub output: Value,
    pub ok: bool,
    /// Times of the invocation and the completion (`Op::time`).
    pub start: u64,
    pub end: Option<u64>,
}

/// A differentiated read/write history.
#[derive(Debug, Default)]
pub(crate) struct Diff {
    pub ops: Vec<ROp>,
    /// Process `p`'s ops are `ops[starts[p]..starts[p + 1]]`.
    pub starts: Vec<u32>,
    /// For each op that is a read of a non-initial value: the write it read from (`u32::MAX`
    /// when no write wrote that value: a thin-air read). Indexed by op id.
    pub read_from: Vec<u32>,
    pub sources: Vec<Source>,
    /// Value texts per key, for explanations (index = value id).
    pub values: Vec<Vec<String>>,
    pub keys: Vec<Option<Value>>,
}

impl Diff {
    pub fn procs(&self) -> usize {
        self.starts.len().saturating_sub(1)
    }
    pub fn proc_ops(&self, p: usize) -> std::ops::Range<usize> {
        self.starts[p] as usize..self.starts[p + 1] as usize
    }
    /// Op id of process `p`'s op at position `pos`.
    pub fn at(&self, p: u32, pos: u32) -> usize {
        (self.starts[p as usize] + pos) as usize
    }
    /// "write 3 (process 1, history index 7)", with the key when the history has keys.
    pub fn describe(&self, id: usize) -> String {
        let o = &self.ops[id];
        let s = &self.sources[o.src as usize];
        let what = match o.kind {
            Kind::Read => "read",
            Kind::Write => "write",
        };
        let via = if s.f == "cas" { " (by a cas)" } else { "" };
        let key = match &self.keys[o.key as usize] {
            Some(k) => format!(" of key {k}"),
            None => String::new(),
        };
        let v = &self.values[o.key as usize][o.val as usize];
        format!("{what} {v}{key}{via} by process {} (history index {})", s.process, s.index)
    }
}

/// Why the abstraction does not apply.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum NotApplicable {
    /// A value written twice on a key, or the initial value written.
    NotUnique(String),
    /// An operation that is not a read, write or cas.
    Unsupported(String),
}

/// A key's identity: the JSON text (the string "5" and the number 5 are one key, as in the
/// linearizability checker's partitioning).
fn key_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

struct Pending {
    /// Position in `history` of the invocation.
    invoke: usize,
    done: Option<usize>,
    failed: bool,
}

/// Build the differentiated abstraction of `history`.
pub(crate) fn extract(history: &[Op], init: &Value, nil_read_is_unknown: bool) -> Result<Diff, NotApplicable> {
    // Pair invocations and completions per process, in invocation order.
    let mut proc_ids: FxHashMap<u64, u32> = FxHashMap::default();
    let mut per_proc: Vec<Vec<Pending>> = Vec::new();
    let mut open: Vec<Option<usize>> = Vec::new();
    for (pos, op) in history.iter().enumerate() {
        let Process::Client(p) = op.process else { continue };
        let pid = *proc_ids.entry(p).or_insert_with(|| {
            per_proc.push(Vec::new());
            open.push(None);
            (per_proc.len() - 1) as u32
        }) as usize;
        match op.kind {
            OpType::Invoke => {
                per_proc[pid].push(Pending { invoke: pos, done: None, failed: false });
                open[pid] = Some(per_proc[pid].len() - 1);
            }
            OpType::Ok => {
                if let Some(i) = open[pid].take() {
                    per_proc[pid][i].done = Some(pos);
                }
            }
            OpType::Fail => {
                if let Some(i) = open[pid].take() {
                    per_proc[pid][i].failed = true;
                }
            }
            OpType::Info => {
                open[pid].take();
            }
        }
    }
    // Processes in order of their number, so that results do not depend on the history's order.
    let mut order: Vec<(u64, usize)> = proc_ids.iter().map(|(&p, &i)| (p, i as usize)).collect();
    order.sort_unstable();

    let init_val = Val::from_json(init);
    let mut key_ids: FxHashMap<String, u32> = FxHashMap::default();
    let mut d = Diff::default();
    let mut val_ids: Vec<FxHashMap<Val, u32>> = Vec::new();
    let mut intern_key = |k: &Option<Value>, d: &mut Diff, val_ids: &mut Vec<FxHashMap<Val, u32>>| -> u32 {
        let text = k.as_ref().map(key_text).unwrap_or_default();
        *key_ids.entry(text).or_insert_with(|| {
            d.keys.push(k.clone());
            d.values.push(vec![init_val.to_string()]);
            let mut m = FxHashMap::default();
            m.insert(init_val.clone(), 0);
            val_ids.push(m);
            (d.keys.len() - 1) as u32
        })
    };
    let intern_val = |key: u32, v: &Value, d: &mut Diff, val_ids: &mut Vec<FxHashMap<Val, u32>>| -> u32 {
        let v = Val::from_json(v);
        let next = d.values[key as usize].len() as u32;
        *val_ids[key as usize].entry(v.clone()).or_insert_with(|| {
            d.values[key as usize].push(v.to_string());
            next
        })
    };

    // Candidate ops: (op, definite) where an indefinite write is kept only if read.
    struct Cand {
        op: ROp,
        definite: bool,
    }
    let mut cands: Vec<Vec<Cand>> = Vec::new();
    for (new_p, &(p, i)) in order.iter().enumerate() {
        let mut list = Vec::new();
        for call in &per_proc[i] {
            if call.failed {
                continue;
            }
            let inv = &history[call.invoke];
            let done = call.done.map(|c| &history[c]);
            let key = intern_key(&inv.key, &mut d, &mut val_ids);
            let src = d.sources.len() as u32;
            let push = |kind, val, definite, list: &mut Vec<Cand>| {
                list.push(Cand { op: ROp { kind, proc: new_p as u32, pos: 0, key, val, src }, definite })
            };
            match inv.f.as_str() {
                "read" | "get" => {
                    let Some(done) = done else { continue };
                    if nil_read_is_unknown && done.value.is_null() {
                        continue;
                    }
                    let v = intern_val(key, &done.value, &mut d, &mut val_ids);
                    push(Kind::Read, v, true, &mut list);
                }
                "write" | "put" => {
                    let v = intern_val(key, &inv.value, &mut d, &mut val_ids);
                    push(Kind::Write, v, done.is_some(), &mut list);
                }
                "cas" => {
                    let Value::Array(pair) = &inv.value else {
                        return Err(NotApplicable::Unsupported(format!(
                            "cas value must be [old new], got {}",
                            inv.value
                        )));
                    };
                    if pair.len() != 2 {
                        return Err(NotApplicable::Unsupported(format!(
                            "cas value must be [old new], got {}",
                            inv.value
                        )));
                    }
                    let old = intern_val(key, &pair[0], &mut d, &mut val_ids);
                    let new = intern_val(key, &pair[1], &mut d, &mut val_ids);
                    push(Kind::Read, old, done.is_some(), &mut list);
                    push(Kind::Write, new, done.is_some(), &mut list);
                }
                other => {
                    return Err(NotApplicable::Unsupported(format!(
                        "{other} is not a read, write or cas, so the history is not a register history"
                    )))
                }
            }
            d.sources.push(Source {
                index: inv.index,
                process: p,
                f: inv.f.to_string(),
                key: inv.key.clone(),
                value: inv.value.clone(),
                output: done.map(|c| c.value.clone()).unwrap_or(Value::Null),
                ok: done.is_some(),
                start: inv.time,
                end: done.map(|c| c.time),
            });
        }
        cands.push(list);
    }

    // Uniqueness: every write (definite or not) writes a fresh value, never the initial one.
    let mut writer: FxHashMap<(u32, u32), (usize, usize)> = FxHashMap::default();
    for (p, list) in cands.iter().enumerate() {
        for (i, c) in list.iter().enumerate() {
            if c.op.kind != Kind::Write {
                continue;
            }
            let describe = |c: &Cand| {
                let s = &d.sources[c.op.src as usize];
                format!("history index {}", s.index)
            };
            if c.op.val == 0 {
                return Err(NotApplicable::NotUnique(format!(
                    "values are not unique: the write at {} writes the initial value {}",
                    describe(c),
                    d.values[c.op.key as usize][0]
                )));
            }
            if let Some(&(p2, i2)) = writer.get(&(c.op.key, c.op.val)) {
                return Err(NotApplicable::NotUnique(format!(
                    "values are not unique: the writes at {} and {} both write {}",
                    describe(&cands[p2][i2]),
                    describe(c),
                    d.values[c.op.key as usize][c.op.val as usize]
                )));
            }
            writer.insert((c.op.key, c.op.val), (p, i));
        }
    }
    // An indefinite op takes effect iff its written value was read (a cas's read and write go
    // together), by a definite read or by the read of an indefinite cas that took effect: a
    // fixpoint, from the definite reads along the indefinite cas's reads.
    let mut indefinite_writer: FxHashMap<(u32, u32), u32> = FxHashMap::default();
    let mut cas_read: FxHashMap<u32, (u32, u32)> = FxHashMap::default();
    let mut todo: Vec<(u32, u32)> = Vec::new();
    for list in &cands {
        for c in list {
            match (c.op.kind, c.definite) {
                (Kind::Read, true) => todo.push((c.op.key, c.op.val)),
                (Kind::Read, false) => {
                    cas_read.insert(c.op.src, (c.op.key, c.op.val));
                }
                (Kind::Write, false) => {
                    indefinite_writer.insert((c.op.key, c.op.val), c.op.src);
                }
                (Kind::Write, true) => {}
            }
        }
    }
    let mut kept_src: rustc_hash::FxHashSet<u32> = Default::default();
    while let Some(read) = todo.pop() {
        if let Some(src) = indefinite_writer.remove(&read) {
            kept_src.insert(src);
            todo.extend(cas_read.get(&src).copied());
        }
    }
    d.starts.push(0);
    for list in cands {
        let mut pos = 0;
        for c in list {
            if c.definite || kept_src.contains(&c.op.src) {
                let mut op = c.op;
                op.pos = pos;
                pos += 1;
                d.ops.push(op);
            }
        }
        d.starts.push(d.ops.len() as u32);
    }
    // Read-from: the unique write of each non-initial value read.
    let mut write_of: FxHashMap<(u32, u32), u32> = FxHashMap::default();
    for (id, o) in d.ops.iter().enumerate() {
        if o.kind == Kind::Write {
            write_of.insert((o.key, o.val), id as u32);
        }
    }
    d.read_from = d
        .ops
        .iter()
        .map(|o| {
            if o.kind == Kind::Read && o.val != 0 {
                write_of.get(&(o.key, o.val)).copied().unwrap_or(u32::MAX)
            } else {
                u32::MAX
            }
        })
        .collect();
    Ok(d)
}
