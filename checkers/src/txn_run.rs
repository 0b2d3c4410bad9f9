//! The transactional checker over a faultline run (`list-append`, `rw-register`): Elle's
//! analysis (`txn::check`) of the run's transactions, plus what only a run with final reads can
//! say: acknowledged appends missing from the final read of their key (lost, e.g. by a failover
//! of an asynchronous replica), each tied to its node and the faults active on it.

use crate::outcome::CheckOutcome;
use crate::txn::{self, TxnOptions, Workload};
use crate::{Op, OpType, Verdict};
use anyhow::Result;
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};

/// Check a run's transactions against `consistency_models` (empty: strict-serializable).
pub fn check(ops: &[Op], w: Workload, consistency_models: &[String]) -> Result<CheckOutcome> {
    let h = txn::read::history_from_ops(ops, w).map_err(|e| anyhow::anyhow!("transactional history: {e}"))?;
    let mut opts = TxnOptions::new(w);
    opts.set_consistency_models(consistency_models).map_err(|e| anyhow::anyhow!("--consistency-models: {e}"))?;
    opts.validate().map_err(|e| anyhow::anyhow!("--consistency-models: {e}"))?;
    let r = txn::check(&h, &opts);
    let mut outcome = CheckOutcome::from_result(&r)?;
    let lost = if w == Workload::ListAppend { lost_appends(ops) } else { Vec::new() };
    let mut why = None;
    if let Some(first) = lost.first() {
        let at = first["index"].as_u64().and_then(|i| invoke_of(ops, i));
        why = at.and_then(|i| explain_txn(ops, i)).map(|w| {
            format!(
                "{w}; its append of {} to key {} was acknowledged but is missing from the final read",
                first["value"], first["key"]
            )
        });
        outcome.verdict = outcome.verdict.max(Verdict::Invalid);
        outcome.summary =
            format!("lost: {} acknowledged appends missing from the final reads; {}", lost.len(), outcome.summary);
    } else if let Some(index) = r.anomalies.values().flatten().find_map(first_txn_index) {
        why = invoke_of(ops, index).and_then(|i| explain_txn(ops, i));
    }
    outcome.details.insert("lost".into(), json!(lost));
    outcome.details.insert("lost-count".into(), json!(lost.len()));
    if let Some(why) = why {
        outcome.details.insert("explanation".into(), why.into());
    }
    Ok(outcome)
}

/// `explain::explain_op` for a transaction, its micro-ops written short (long reads elided), so
/// that the sentence fits a line: `txn [r 3 [1 2 ... 9] (12 elements), append 3 10] by process ...`.
fn explain_txn(ops: &[Op], invoke: u64) -> Option<String> {
    let why = crate::explain::explain_op(ops, invoke)?;
    let Some(rest) = why.find(" by process ").map(|i| &why[i..]) else { return Some(why) };
    let done = ops.iter().skip_while(|o| o.index <= invoke).find(|o| {
        let invoked = ops.iter().find(|i| i.index == invoke);
        invoked.is_some_and(|i| i.process == o.process) && o.kind != OpType::Invoke
    });
    let value = done.map_or(&Value::Null, |o| &o.value);
    let mops: Vec<String> = value
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            let part = |i: usize| match m.get(i) {
                Some(Value::Array(xs)) => txn::list_text(&xs.iter().filter_map(Value::as_i64).collect::<Vec<_>>()),
                Some(Value::String(s)) => s.clone(),
                Some(v) => v.to_string(),
                None => String::new(),
            };
            format!("{} {} {}", part(0), part(1), part(2))
        })
        .collect();
    Some(format!("txn [{}]{rest}", mops.join(", ")))
}

/// The index of the invocation of the op completed at `completion` (same process, before it).
fn invoke_of(ops: &[Op], completion: u64) -> Option<u64> {
    let pos = ops.iter().position(|o| o.index == completion)?;
    let process = ops[pos].process;
    ops[..=pos].iter().rev().find(|o| o.process == process && o.kind == OpType::Invoke).map(|o| o.index)
}

/// The first transaction an anomaly names (an object with an `index` and a `type`).
fn first_txn_index(v: &Value) -> Option<u64> {
    match v {
        Value::Object(m) => {
            if let (Some(i), Some(_)) = (m.get("index").and_then(Value::as_u64), m.get("type")) {
                return Some(i);
            }
            m.values().find_map(first_txn_index)
        }
        Value::Array(xs) => xs.iter().find_map(first_txn_index),
        _ => None,
    }
}

/// Appends of committed (`ok`) transactions whose value is missing from the last successful final
/// read of their key. Keys no final read covered are not judged.
pub fn lost_appends(ops: &[Op]) -> Vec<Value> {
    let mut final_lists: HashMap<String, HashSet<i64>> = HashMap::new();
    for o in ops.iter().filter(|o| o.f == "final-read" && o.kind == OpType::Ok) {
        for m in o.value.as_array().into_iter().flatten() {
            if let (Some(k), Some(list)) = (m.get(1), m.get(2).and_then(Value::as_array)) {
                final_lists.insert(k.to_string(), list.iter().filter_map(Value::as_i64).collect());
            }
        }
    }
    let mut lost = Vec::new();
    for o in ops.iter().filter(|o| o.f == "txn" && o.kind == OpType::Ok) {
        for m in o.value.as_array().into_iter().flatten() {
            if m.get(0).and_then(Value::as_str) != Some("append") {
                continue;
            }
            let (Some(k), Some(v)) = (m.get(1), m.get(2).and_then(Value::as_i64)) else { continue };
            if final_lists.get(&k.to_string()).is_some_and(|seen| !seen.contains(&v)) {
                lost.push(json!({"key": k, "value": v, "index": o.index, "node": o.node, "time": o.time}));
            }
        }
    }
    lost
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Process;

    fn op(index: u64, kind: OpType, process: u64, f: &str, value: Value) -> Op {
        Op {
            index,
            time: index * 1000,
            kind,
            process: Process::Client(process),
            f: f.into(),
            value,
            key: None,
            node: Some("n1".into()),
            error: None,
        }
    }

    #[test]
    fn an_acknowledged_append_missing_from_the_final_read_is_lost() {
        let ops = vec![
            op(0, OpType::Invoke, 0, "txn", json!([["append", 1, 1]])),
            op(1, OpType::Ok, 0, "txn", json!([["append", 1, 1]])),
            op(2, OpType::Invoke, 0, "txn", json!([["append", 1, 2]])),
            op(3, OpType::Ok, 0, "txn", json!([["append", 1, 2]])),
            op(4, OpType::Invoke, 9, "final-read", json!([["r", 1, null]])),
            op(5, OpType::Ok, 9, "final-read", json!([["r", 1, [1]]])),
        ];
        let out = check(&ops, Workload::ListAppend, &["serializable".into()]).unwrap();
        assert_eq!(out.verdict, Verdict::Invalid, "{out:?}");
        assert!(out.summary.starts_with("lost: 1 acknowledged"), "{}", out.summary);
        assert_eq!(out.details["lost"][0]["value"], 2);
        let why = out.details["explanation"].as_str().unwrap();
        assert!(
            why.contains("missing from the final read") && why.starts_with("txn [append 1 2] by process 0"),
            "{why}"
        );
        // Without the loss the same history is valid.
        let mut ok = ops.clone();
        ok[5].value = json!([["r", 1, [1, 2]]]);
        assert_eq!(check(&ok, Workload::ListAppend, &[]).unwrap().verdict, Verdict::Valid);
    }
}
