//! The operation timeline, like Jepsen's timeline.html: one column per process, one box per
//! op from its invocation to its completion, coloured by outcome, with the details on hover
//! (a `title` attribute). Rows are event positions, not wall time, so boxes never overlap and
//! short ops stay legible.
//!
//! A huge history is bounded: the timeline shows the first ops, the ops around each fault
//! window's start and end, and the ops around violations, as separate segments, and says how
//! many ops it left out between them. The ops a checker named as the violation are marked,
//! and the jump link lands on the first of them; the nemesis's events have a column of their
//! own; transactions read as their micro-ops (`r 3 [1 2], a 3 7`).

use crate::ops::{ClientOp, Outcome};
use crate::style;
use faultline_checkers::faults::FaultWindow;
use faultline_checkers::Op;
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};

/// Ops shown from the start of the run.
const FIRST: usize = 300;
/// Ops shown either side of a fault window's start or end.
const AROUND_FAULT: usize = 30;
/// Fault windows whose edges get a segment.
const MAX_WINDOWS: usize = 12;
/// Ops shown either side of a violation's span.
const AROUND_VIOLATION: usize = 60;
/// Hard cap on ops in the timeline.
const MAX_OPS: usize = 3_000;
pub const ROW_PX: usize = 16;
pub const COLUMN_PX: usize = 96;

#[derive(Debug, Clone, Serialize)]
pub struct OpBox {
    pub left: usize,
    pub top: usize,
    pub height: usize,
    /// "ok", "fail", "info" or "pending".
    pub class: String,
    pub label: String,
    pub title: String,
    /// The HTML id of the first violating op ("violation"), the jump links' target; else empty.
    pub id: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Segment {
    pub title: String,
    /// The HTML id of the first segment holding a violation ("violation"), else empty.
    pub anchor: String,
    /// Ops of the history left out before this segment (0 for none).
    pub omitted_before: usize,
    pub width: usize,
    pub height: usize,
    pub columns: Vec<(usize, String)>,
    pub boxes: Vec<OpBox>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Timeline {
    pub segments: Vec<Segment>,
    pub shown: usize,
    pub total: usize,
    pub omitted_after: usize,
}

/// Index ranges of `ops` (sorted by start) to show.
fn ranges(ops: &[ClientOp], windows: &[FaultWindow], violations: &[(u64, u64)]) -> Vec<(usize, usize)> {
    let n = ops.len();
    let mut want: Vec<(usize, usize)> = vec![(0, FIRST.min(n))];
    let first_at = |t: u64| ops.partition_point(|o| o.start < t);
    for &(a, b) in violations {
        let (i, j) = (first_at(a), first_at(b.saturating_add(1)));
        want.push((i.saturating_sub(AROUND_VIOLATION), (j + AROUND_VIOLATION).min(n)));
    }
    for w in windows.iter().take(MAX_WINDOWS) {
        for t in [Some(w.start), w.end].into_iter().flatten() {
            let i = first_at(t);
            want.push((i.saturating_sub(AROUND_FAULT), (i + AROUND_FAULT).min(n)));
        }
    }
    // Violations first in priority: they were pushed before the fault edges.
    let mut budget = MAX_OPS;
    let mut kept = Vec::new();
    for (a, b) in want {
        if a >= b || budget == 0 {
            continue;
        }
        let b = b.min(a + budget);
        budget -= b - a;
        kept.push((a, b));
    }
    kept.sort();
    let mut merged: Vec<(usize, usize)> = Vec::new();
    for (a, b) in kept {
        match merged.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => merged.push((a, b)),
        }
    }
    merged
}

/// What an op did, as people write it: `write 3`, `read → 3`, and a transaction's micro-ops
/// `r 3 [1 2], a 3 7` (its completion's values when it committed).
fn op_label(inv: &Op, done: &Op, ok: bool) -> String {
    let key = inv.key.as_ref().map(|k| format!("[{}] ", style::value_text(k, 20))).unwrap_or_default();
    let value = if ok && !done.value.is_null() { &done.value } else { &inv.value };
    if let Some(mops) = value.as_array().filter(|m| m.iter().all(|m| m.as_array().is_some_and(|m| m.len() == 3))) {
        let short = |m: &serde_json::Value| {
            let f = m[0].as_str().unwrap_or("?");
            let f = match f {
                "r" | "read" => "r",
                "append" | "a" => "a",
                "w" | "write" => "w",
                other => other,
            };
            format!("{f} {} {}", style::value_text(&m[1], 12), style::value_text(&m[2], 24))
        };
        return style::truncate(&mops.iter().map(short).collect::<Vec<_>>().join(", "), 60);
    }
    style::truncate(&format!("{} {key}{}", inv.f, shown(value, 24)), 40)
}

/// A value as the timeline shows it: an object (a bank read's balances, a transfer) in words,
/// anything else as `style::value_text` writes it.
fn shown(v: &serde_json::Value, max: usize) -> String {
    if v.is_object() {
        style::truncate(&plain(v), max)
    } else {
        style::value_text(v, max)
    }
}

/// A value in words: lists as "a, b", maps as "k: v; k: v" (nested in parentheses), so that
/// a fault's details never show as JSON.
fn plain(v: &serde_json::Value) -> String {
    use serde_json::Value;
    let text = match v {
        Value::Array(xs) => xs.iter().map(plain).collect::<Vec<_>>().join(", "),
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| match v {
                Value::Object(_) => format!("{k}: ({})", plain(v)),
                v => format!("{k}: {}", plain(v)),
            })
            .collect::<Vec<_>>()
            .join("; "),
        Value::String(s) => s.clone(),
        v => v.to_string(),
    };
    style::truncate(&text, 600)
}

fn segment(history: &[Op], ops: &[ClientOp], omitted_before: usize, highlight: &HashSet<u64>) -> Segment {
    // Columns: the nemesis first (when it acted in the segment), then processes in numeric order.
    let mut columns: BTreeMap<u64, usize> = BTreeMap::new();
    for o in ops {
        columns.entry(o.process).or_default();
    }
    // Rows: the segment's events in history order, the nemesis's among them.
    let mut events: Vec<usize> = ops.iter().flat_map(|o| [Some(o.invoke), o.complete]).flatten().collect();
    events.sort_unstable();
    events.dedup();
    let (lo, hi) = (events.first().copied().unwrap_or(0), events.last().copied().unwrap_or(0));
    let nemesis: Vec<usize> = (lo..=hi.min(history.len().saturating_sub(1)))
        .filter(|&i| history.get(i).is_some_and(|e| e.is_nemesis()))
        .collect();
    let shift = usize::from(!nemesis.is_empty());
    for (i, c) in columns.values_mut().enumerate() {
        *c = i + shift;
    }
    events.extend(&nemesis);
    events.sort_unstable();
    let row = |e: usize| events.binary_search(&e).unwrap_or(0);
    let rows = events.len().max(1);
    let marked = |i: usize| history.get(i).is_some_and(|e| highlight.contains(&e.index));
    let mut boxes: Vec<OpBox> = ops
        .iter()
        .map(|o| {
            let top = row(o.invoke);
            let bottom = o.complete.map(row).unwrap_or(rows - 1);
            let inv = &history[o.invoke];
            let last = o.last_event(history);
            let key = inv.key.as_ref().map(|k| format!("[{}] ", style::value_text(k, 20))).unwrap_or_default();
            let mut title = format!(
                "process {} · {} {}{} · {} · invoked {}",
                o.process,
                inv.f,
                key,
                shown(&inv.value, 300),
                o.outcome.as_str(),
                style::secs(o.start)
            );
            if o.complete.is_some() {
                title.push_str(&format!(
                    " · returned {} · latency {}",
                    shown(&last.value, 300),
                    style::duration(o.latency_ns().unwrap_or(0))
                ));
            }
            if let Some(node) = &last.node.as_ref().or(inv.node.as_ref()) {
                title.push_str(&format!(" · node {node}"));
            }
            if let Some(err) = &last.error {
                title.push_str(&format!(" · error {}", style::truncate(err, 300)));
            }
            let violating = marked(o.invoke) || o.complete.is_some_and(marked);
            if violating {
                title.push_str(" · part of the violation");
            }
            OpBox {
                left: columns[&o.process] * COLUMN_PX,
                top: top * ROW_PX,
                height: (bottom - top + 1) * ROW_PX - 2,
                class: format!("{}{}", o.outcome.as_str(), if violating { " violating" } else { "" }),
                label: op_label(inv, last, o.outcome == Outcome::Ok),
                title,
                id: String::new(),
            }
        })
        .collect();
    // The nemesis's events: one row each, in its own column, as Jepsen's timeline has it.
    boxes.extend(nemesis.iter().map(|&i| {
        let e = &history[i];
        // A fault's details read as "targets: n1, n2 · signal: SIGKILL", not as JSON.
        let value = match &e.value {
            serde_json::Value::Object(m) => {
                m.iter().map(|(k, v)| format!("{k}: {}", plain(v))).collect::<Vec<_>>().join(" · ")
            }
            v => plain(v),
        };
        OpBox {
            left: 0,
            top: row(i) * ROW_PX,
            height: ROW_PX - 2,
            class: "nemesis".into(),
            label: style::truncate(&e.f, 40),
            title: format!("nemesis · {} {value} · at {}", e.f, style::secs(e.time)),
            id: String::new(),
        }
    }));
    let (t0, t1) =
        (ops.first().map(|o| o.start).unwrap_or(0), ops.iter().map(|o| o.end.unwrap_or(o.start)).max().unwrap_or(0));
    let mut head: Vec<(usize, String)> = columns.iter().map(|(p, c)| (c * COLUMN_PX, format!("p{p}"))).collect();
    if shift == 1 {
        head.insert(0, (0, "nemesis".into()));
    }
    Segment {
        title: format!("{} ops from {} to {}", ops.len(), style::secs(t0), style::secs(t1)),
        anchor: String::new(),
        omitted_before,
        width: (columns.len() + shift) * COLUMN_PX,
        height: rows * ROW_PX,
        columns: head,
        boxes,
    }
}

/// `ops` must be sorted by start (as `ops::client_ops` returns them). `highlight` holds the
/// history indices (invocation or completion) of the ops a checker named as the violation:
/// they are marked, and the first carries the jump links' target.
pub fn build(
    history: &[Op],
    ops: &[ClientOp],
    windows: &[FaultWindow],
    violations: &[(u64, u64)],
    highlight: &HashSet<u64>,
) -> Timeline {
    let mut segments = Vec::new();
    let mut prev_end = 0;
    let mut shown = 0;
    let first_violation = violations.iter().map(|v| v.0).min();
    let mut anchored = false;
    for (a, b) in ranges(ops, windows, violations) {
        let mut seg = segment(history, &ops[a..b], a - prev_end, highlight);
        // The jump lands on the first violating op itself; without named ops, on the segment.
        if !anchored {
            if let Some(b) = seg.boxes.iter_mut().filter(|b| b.class.ends_with(" violating")).min_by_key(|b| b.top) {
                b.id = "violation".into();
                anchored = true;
            }
        }
        let holds = |t: u64| ops[a..b].iter().any(|o| o.start <= t && o.end.unwrap_or(o.start) >= t);
        if !anchored && first_violation.is_some_and(holds) {
            seg.anchor = "violation".into();
            anchored = true;
        }
        segments.push(seg);
        shown += b - a;
        prev_end = b;
    }
    Timeline { segments, shown, total: ops.len(), omitted_after: ops.len() - prev_end }
}

#[cfg(test)]
mod tests {
    use super::*;
    use faultline_checkers::{OpType, Process};
    use serde_json::json;

    fn history(n: u64) -> Vec<Op> {
        let mut h = Vec::new();
        for i in 0..n {
            let p = i % 3;
            for (k, kind) in [OpType::Invoke, OpType::Ok].into_iter().enumerate() {
                h.push(Op {
                    index: h.len() as u64,
                    time: i * 100 + k as u64 * 50,
                    kind,
                    process: Process::Client(p),
                    f: "write".into(),
                    value: json!(i),
                    key: None,
                    node: None,
                    error: None,
                });
            }
        }
        h
    }

    #[test]
    fn small_histories_are_shown_whole() {
        let h = history(10);
        let ops = crate::ops::client_ops(&h);
        let t = build(&h, &ops, &[], &[], &HashSet::new());
        assert_eq!((t.segments.len(), t.shown, t.omitted_after), (1, 10, 0));
        assert_eq!(t.segments[0].columns.len(), 3);
        assert_eq!(t.segments[0].boxes[1].left, COLUMN_PX);
        assert_eq!(t.segments[0].boxes[1].top, 2 * ROW_PX);
    }

    #[test]
    fn large_histories_keep_the_start_and_the_violation() {
        let h = history(10_000);
        let ops = crate::ops::client_ops(&h);
        let t = build(&h, &ops, &[], &[(500_000, 500_100)], &HashSet::new());
        assert_eq!(t.segments.len(), 2);
        assert_eq!(t.segments[0].boxes.len(), FIRST);
        let seg = &t.segments[1];
        assert!(seg.omitted_before > 0);
        assert!(seg.boxes.iter().any(|b| b.title.contains("write 5000 ")), "the op at the violation must be shown");
        assert_eq!(seg.anchor, "violation", "the violation's segment is the link target");
        assert_eq!(t.shown + t.segments.iter().map(|s| s.omitted_before).sum::<usize>() + t.omitted_after, 10_000);
    }
}
