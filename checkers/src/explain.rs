//! Anomalies tied to the node and the fault behind them, in words a person can check against the
//! history: which node served the operation, which faults were active on it (or between it and
//! the others) at that moment, and, for a read, which write produced the value it returned.
//!
//! Example: "read 631 by process 4 at 16.400s on n2; at that moment n2 was cut off from n1, n3
//! (partition-one, from 13.190s to 18.820s); 631 was written by process 7 on n1 at 12.301s".

use crate::faults::{fault_windows, Applied, FaultWindow};
use crate::metrics::{client_operations, format_ns, ClientOp};
use crate::Op;
use serde_json::Value;

/// Explain the client operation whose invocation has history index `invoke_index`: its node, the
/// faults active on that node while it ran, and for a read the write behind its value. `None`
/// when the history has no such operation.
pub fn explain_op(history: &[Op], invoke_index: u64) -> Option<String> {
    let ops = client_operations(history);
    let op = ops.iter().find(|o| o.invoke_index() == invoke_index)?;
    let start = op.invoke_time();
    let end = op.complete_time().unwrap_or(start);
    let node = op.node();
    // A history read without times (EDN with none) has each op's position as its time: say
    // "event N" there, never a time nobody measured.
    let timed = history.iter().any(|o| o.time != o.index);
    let at = |e: &Op| if timed { format_ns(e.time) } else { format!("event {}", e.index) };
    let mut sentence = format!(
        "{} {} by process {} at {}{}",
        op.f(),
        value_text(op.value()),
        process_text(op),
        at(op.invoke),
        node.map(|n| format!(" on {n}")).unwrap_or_default()
    );
    let history_end = history.last().map_or(end, |o| o.time);
    let active: Vec<String> = fault_windows(history)
        .iter()
        .filter(|w| w.start <= end && w.end_or(history_end) >= start)
        .map(|w| fault_on_node(w, node, history_end))
        .collect();
    if active.is_empty() {
        sentence.push_str("; no fault was active then");
    } else {
        sentence.push_str(&format!("; at that moment {}", active.join(", and ")));
    }
    if op.f() == "read" && op.is_ok() {
        if let Some(w) = writer_of(&ops, op) {
            sentence.push_str(&format!(
                "; {} was written by process {} at {}{} ({})",
                value_text(op.value()),
                process_text(w),
                at(w.invoke),
                w.node().map(|n| format!(" on {n}")).unwrap_or_default(),
                w.outcome().map_or("pending", |k| k.as_str()),
            ));
            // Acknowledged writes that overwrote it before the read began: the read is stale.
            let after = w.complete_time().unwrap_or(w.invoke_time());
            let newer: Vec<String> = ops
                .iter()
                .filter(|o| o.invoke.key == op.invoke.key && o.is_ok() && written(o).is_some())
                .filter(|o| o.invoke_time() > after && o.complete_time().is_some_and(|t| t < start))
                .take(3)
                .map(|o| {
                    format!(
                        "{} (process {}{}, acknowledged at {})",
                        value_text(written(o).unwrap_or(&Value::Null)),
                        process_text(o),
                        o.node().map(|n| format!(" on {n}")).unwrap_or_default(),
                        o.completion.map(at).unwrap_or_default()
                    )
                })
                .collect();
            if !newer.is_empty() {
                sentence.push_str(&format!("; before the read began it was overwritten by {}", newer.join(", ")));
            }
        }
    }
    Some(sentence)
}

/// Explain an acknowledged `add` of `element` that was later lost: the node that acknowledged it
/// and the faults active on that node then. `None` when no acknowledged add of it is in the history.
pub fn explain_add(history: &[Op], element: i64) -> Option<String> {
    let ops = client_operations(history);
    let add = ops.iter().find(|o| o.f() == "add" && o.is_ok() && o.invoke.value.as_i64() == Some(element))?;
    explain_op(history, add.invoke_index())
}

/// Why the nodes' final states differ, one sentence per node that differs: what it lacks and
/// holds beyond the others, where the first element it lacks was acknowledged (node, faults), and
/// every fault that touched this node during the run (cut off, killed, paused...).
pub fn explain_divergence(history: &[Op], c: &crate::convergence::ConvergenceResult) -> Vec<String> {
    let history_end = history.last().map_or(0, |o| o.time);
    let windows = fault_windows(history);
    let some = |v: &[i64], count: u64| {
        let shown: Vec<String> = v.iter().take(5).map(i64::to_string).collect();
        format!("{count} element{} (e.g. {})", if count == 1 { "" } else { "s" }, shown.join(", "))
    };
    let mut out = Vec::new();
    for (node, d) in &c.differences {
        if d.missing_count == 0 && d.extra_count == 0 {
            continue;
        }
        let mut parts = Vec::new();
        if d.missing_count > 0 {
            let mut lacks = format!("{node} lacks {} that other nodes hold", some(&d.missing, d.missing_count));
            if let Some(why) = d.missing.first().and_then(|&e| explain_add(history, e)) {
                lacks.push_str(&format!(" — the first was added by {why}"));
            }
            parts.push(lacks);
        }
        if d.extra_count > 0 {
            parts.push(format!("{node} holds {} that some other node lacks", some(&d.extra, d.extra_count)));
        }
        let touched: Vec<String> =
            windows.iter().filter(|w| touches(w, node)).map(|w| fault_on_node(w, Some(node), history_end)).collect();
        parts.push(if touched.is_empty() {
            format!("no fault touched {node} during the run")
        } else {
            format!("during the run {}", touched.join("; "))
        });
        out.push(parts.join("; "));
    }
    out
}

/// Whether fault window `w` acted on `node`: cut some link of it (its grudge), or targeted it.
/// The same cases in which `fault_on_node` says "`node` was ..." or "`node` could not hear ...".
fn touches(w: &FaultWindow, node: &str) -> bool {
    let applied = Applied::of(&w.detail);
    match &applied.grudge {
        Some(grudge) => {
            grudge.get(node).is_some_and(|deaf_to| !deaf_to.is_empty())
                || grudge.values().any(|deaf_to| deaf_to.iter().any(|n| n == node))
        }
        None => applied.targets.iter().any(|t| t == node),
    }
}

/// One active fault, as it concerns `node`.
fn fault_on_node(w: &FaultWindow, node: Option<&str>, history_end: u64) -> String {
    let applied = Applied::of(&w.detail);
    let span = format!(
        "{}, from {} to {}",
        w.fault,
        format_ns(w.start),
        w.end.map(format_ns).unwrap_or_else(|| format!("the end ({})", format_ns(history_end)))
    );
    let Some(node) = node else { return format!("{span} was active") };
    if let Some(grudge) = &applied.grudge {
        // Who `node` cannot hear, and who cannot hear it.
        let deaf_to: Vec<&str> = grudge.get(node).into_iter().flatten().map(String::as_str).collect();
        let unheard_by: Vec<&str> = grudge.iter().filter(|(_, d)| d.contains(node)).map(|(n, _)| n.as_str()).collect();
        return if !deaf_to.is_empty() && deaf_to == unheard_by {
            format!("{node} was cut off from {} ({span})", deaf_to.join(", "))
        } else if !deaf_to.is_empty() || !unheard_by.is_empty() {
            format!(
                "{node} could not hear {} and was not heard by {} ({span})",
                list_or_none(&deaf_to),
                list_or_none(&unheard_by)
            )
        } else {
            format!("{node} was on the connected side of {span}")
        };
    }
    if applied.targets.iter().any(|t| t == node) {
        let what = match w.fault.as_str() {
            "kill" => "killed",
            "pause" => "paused",
            "clock" => "running with a skewed clock",
            "slow" => "slowed",
            "flaky" => "dropping packets",
            "duplicate" => "duplicating packets",
            "reorder" => "reordering packets",
            "corrupt" => "corrupting packets",
            "bandwidth" => "rate-limited",
            _ => "a target",
        };
        return format!("{node} was {what} ({span})");
    }
    if applied.targets.is_empty() {
        format!("{span} was active")
    } else {
        format!("{span} was active on {}, not on {node}", applied.targets.join(", "))
    }
}

fn list_or_none(nodes: &[&str]) -> String {
    if nodes.is_empty() {
        "—".into()
    } else {
        nodes.join(", ")
    }
}

/// The write (or cas) on the same key whose written value the read returned, when exactly one op
/// wrote it (with repeated values the read's origin is ambiguous and nothing is claimed).
fn writer_of<'a>(ops: &'a [ClientOp<'a>], read: &ClientOp<'_>) -> Option<&'a ClientOp<'a>> {
    let value = read.value();
    if value.is_null() {
        return None;
    }
    let key = read.invoke.key.as_ref();
    let mut writers = ops.iter().filter(|o| o.invoke.key.as_ref() == key && written(o) == Some(value));
    let first = writers.next()?;
    writers.next().is_none().then_some(first)
}

/// The value a write or cas writes (a cas only when it succeeded, which the caller checks).
fn written<'v>(o: &ClientOp<'v>) -> Option<&'v Value> {
    match o.f() {
        "write" => Some(&o.invoke.value),
        "cas" => o.invoke.value.get(1),
        _ => None,
    }
}

fn value_text(v: &Value) -> String {
    match v {
        Value::Null => "nil".into(),
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    }
}

fn process_text(op: &ClientOp<'_>) -> String {
    match op.invoke.process {
        crate::Process::Client(p) => p.to_string(),
        crate::Process::Nemesis => "nemesis".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{OpType, Process};
    use serde_json::json;

    fn ev(index: u64, time: u64, kind: OpType, process: Process, f: &str, value: Value, node: Option<&str>) -> Op {
        Op {
            index,
            time,
            kind,
            process,
            f: f.into(),
            value,
            key: Some(json!(1)),
            node: node.map(String::from),
            error: None,
        }
    }

    #[test]
    fn a_stale_read_names_its_node_the_partition_and_the_write() {
        use OpType::{Info, Invoke, Ok};
        use Process::{Client as C, Nemesis as N};
        let s = 1_000_000_000u64;
        let grudge = json!({"n1": ["n2", "n3"], "n2": ["n1"], "n3": ["n1"]});
        let h = vec![
            ev(0, s, Invoke, C(7), "write", json!(5), Some("n1")),
            ev(1, s + 1000, Ok, C(7), "write", json!(5), Some("n1")),
            ev(2, 2 * s, Info, N, "start-partition-one", json!({"fault": "partition-one"}), None),
            ev(
                3,
                2 * s + 10,
                Info,
                N,
                "start-partition-one",
                json!({"fault": "partition-one", "grudge": grudge}),
                None,
            ),
            ev(4, 3 * s, Invoke, C(2), "write", json!(6), Some("n2")),
            ev(5, 3 * s + 1000, Ok, C(2), "write", json!(6), Some("n2")),
            ev(6, 4 * s, Invoke, C(4), "read", json!(null), Some("n1")),
            ev(7, 4 * s + 1000, Ok, C(4), "read", json!(5), Some("n1")),
            ev(8, 5 * s, Info, N, "stop-partition-one", json!(null), None),
            ev(9, 5 * s + 10, Info, N, "stop-partition-one", json!({"healed": true}), None),
        ];
        let why = explain_op(&h, 6).unwrap();
        assert_eq!(
            why,
            "read 5 by process 4 at 4.000s on n1; at that moment n1 was cut off from n2, n3 \
             (partition-one, from 2.000s to 5.000s); 5 was written by process 7 at 1.000s on n1 (ok); before the read began it was overwritten by \
             6 (process 2 on n2, acknowledged at 3.000s)"
        );
        let w = explain_op(&h, 4).unwrap();
        assert!(w.contains("n2 was cut off from n1 (partition-one"), "{w}");
        assert!(explain_op(&h, 0).unwrap().ends_with("no fault was active then"));
        assert_eq!(explain_op(&h, 99), None);
        assert_eq!(explain_add(&h, 5), None, "no add in this history");
    }

    /// A history read without times (each op's time is its position) names events, not times.
    #[test]
    fn a_history_without_times_names_events() {
        use OpType::{Invoke, Ok};
        use Process::Client as C;
        let h = vec![
            ev(0, 0, Invoke, C(7), "write", json!(5), None),
            ev(1, 1, Ok, C(7), "write", json!(5), None),
            ev(2, 2, Invoke, C(2), "write", json!(6), None),
            ev(3, 3, Ok, C(2), "write", json!(6), None),
            ev(4, 4, Invoke, C(4), "read", json!(null), None),
            ev(5, 5, Ok, C(4), "read", json!(5), None),
        ];
        assert_eq!(
            explain_op(&h, 4).unwrap(),
            "read 5 by process 4 at event 4; no fault was active then; 5 was written by process 7 at event 0 (ok); \
             before the read began it was overwritten by 6 (process 2, acknowledged at event 3)"
        );
    }

    #[test]
    fn a_diverged_node_is_tied_to_what_it_lacks_where_that_was_acknowledged_and_its_faults() {
        use crate::metrics::testing::{s, HistoryBuilder};
        let mut h = HistoryBuilder::new();
        h.nemesis(
            s(1.0),
            s(1.1),
            "start-partition-one",
            json!({"fault": "partition-one", "grudge": {"n2": ["n1", "n3"], "n1": ["n2"], "n3": ["n2"]}}),
        );
        h.op(1, "n1", "add", s(2.0), s(2.1), OpType::Ok, json!(7), json!(7));
        h.op(2, "n2", "add", s(2.5), s(2.6), OpType::Ok, json!(8), json!(8));
        h.nemesis(s(5.0), s(5.1), "stop-partition-one", json!({"healed": true}));
        h.op(100, "n1", "final-read", s(6.0), s(6.1), OpType::Ok, json!(null), json!([7]));
        h.op(101, "n2", "final-read", s(6.0), s(6.1), OpType::Ok, json!(null), json!([8]));
        h.op(102, "n3", "final-read", s(6.0), s(6.1), OpType::Ok, json!(null), json!([7]));
        let history = h.build();
        let c = crate::convergence::check_convergence(&history);
        let said = explain_divergence(&history, &c);
        let n2 = said.iter().find(|l| l.starts_with("n2 ")).expect("a sentence for n2");
        assert!(n2.contains("n2 lacks 1 element (e.g. 7) that other nodes hold"), "{n2}");
        assert!(n2.contains("added by add 7 by process 1 at 2.000s on n1"), "{n2}");
        assert!(n2.contains("n2 holds 1 element (e.g. 8) that some other node lacks"), "{n2}");
        assert!(
            n2.contains("during the run n2 was cut off from n1, n3 (partition-one, from 1.000s to 5.100s)"),
            "{n2}"
        );
        let n1 = said.iter().find(|l| l.starts_with("n1 ")).expect("a sentence for n1");
        assert!(
            n1.contains("n1 lacks 1 element (e.g. 8) that other nodes hold") && n1.contains("n1 was cut off from n2"),
            "{n1}"
        );
    }
}
