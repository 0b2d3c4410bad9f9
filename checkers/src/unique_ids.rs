//! The unique-ids checker (Jepsen's): every id a `generate` acknowledged is distinct. A
//! duplicate is a promise broken (a sequence handed out twice, e.g. after a failover to a replica
//! that had not seen the first grant); the result names each duplicated id and the operations
//! that were given it.
//!
//! History convention: `generate` ops are invoked with no value and complete `ok` with the id
//! (any JSON value: an integer, a string).

use crate::history::{Op, OpType};
use crate::metrics::{client_operations, format_ns};
use crate::set::LIST_LIMIT;
use crate::Verdict;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// One id given out more than once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Duplicate {
    pub id: serde_json::Value,
    /// History indices of the completions that carried it, in history order.
    pub indices: Vec<u64>,
    /// In words: who got it, where and when.
    pub explanation: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UniqueIdsCounts {
    pub attempted: u64,
    pub acknowledged: u64,
    pub duplicated: u64,
}

/// The unique-ids checker's result (`checkers.unique-ids` in results.json).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UniqueIdsResult {
    pub verdict: Verdict,
    pub summary: String,
    pub counts: UniqueIdsCounts,
    /// The first `LIST_LIMIT` duplicated ids.
    pub duplicates: Vec<Duplicate>,
}

crate::checker_result!(UniqueIdsResult, crate::outcome::Checker::UniqueIds);

/// Check a unique-ids history.
pub fn check_unique_ids(history: &[Op]) -> UniqueIdsResult {
    let ops = client_operations(history);
    let mut counts = UniqueIdsCounts::default();
    let mut given: HashMap<String, Vec<&Op>> = HashMap::new();
    let mut order: Vec<String> = Vec::new();
    for op in ops.iter().filter(|o| o.f() == "generate") {
        counts.attempted += 1;
        let Some(done) = op.completion.filter(|c| c.kind == OpType::Ok) else { continue };
        counts.acknowledged += 1;
        let key = done.value.to_string();
        let entry = given.entry(key.clone()).or_default();
        if entry.is_empty() {
            order.push(key);
        }
        entry.push(done);
    }
    let mut duplicates = Vec::new();
    for key in &order {
        let got = &given[key];
        if got.len() < 2 {
            continue;
        }
        counts.duplicated += 1;
        if duplicates.len() >= LIST_LIMIT {
            continue;
        }
        let who: Vec<String> = got
            .iter()
            .map(|d| {
                let node = d.node.as_ref().map(|n| format!(" on {n}")).unwrap_or_default();
                format!("process {} at {}{node}", d.process, format_ns(d.time))
            })
            .collect();
        duplicates.push(Duplicate {
            id: got[0].value.clone(),
            indices: got.iter().map(|d| d.index).collect(),
            explanation: format!("id {} was given {} times: to {}", got[0].value, got.len(), who.join(", ")),
        });
    }
    let verdict = if counts.duplicated > 0 {
        Verdict::Invalid
    } else if counts.acknowledged == 0 {
        Verdict::Unknown
    } else {
        Verdict::Valid
    };
    let summary = match verdict {
        Verdict::Invalid => format!(
            "{} ids given more than once (the first: {})",
            counts.duplicated,
            duplicates.first().map_or(String::new(), |d| d.explanation.clone())
        ),
        Verdict::Unknown => "no id was acknowledged: nothing was checked".into(),
        Verdict::Valid => {
            format!("all {} acknowledged ids are distinct ({} attempted)", counts.acknowledged, counts.attempted)
        }
    };
    UniqueIdsResult { verdict, summary, counts, duplicates }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Process;
    use serde_json::{json, Value};

    fn history(ids: &[Value]) -> Vec<Op> {
        let mut h = Vec::new();
        for (i, id) in ids.iter().enumerate() {
            for (kind, value) in [(OpType::Invoke, Value::Null), (OpType::Ok, id.clone())] {
                h.push(Op {
                    index: h.len() as u64,
                    time: h.len() as u64 * 1_000_000,
                    kind,
                    process: Process::Client(i as u64 % 3),
                    f: "generate".into(),
                    value,
                    key: None,
                    node: Some(format!("n{}", i % 3 + 1)),
                    error: None,
                });
            }
        }
        h
    }

    #[test]
    fn distinct_ids_are_valid_and_a_repeat_is_named() {
        assert_eq!(check_unique_ids(&history(&[json!(1), json!(2), json!("3")])).verdict, Verdict::Valid);
        let r = check_unique_ids(&history(&[json!(1), json!(2), json!(1)]));
        assert_eq!(r.verdict, Verdict::Invalid);
        assert_eq!(r.duplicates[0].indices, vec![1, 5]);
        assert!(r.duplicates[0].explanation.contains("id 1 was given 2 times: to process 0 at"), "{r:?}");
        assert!(r.duplicates[0].explanation.contains(" on n3"), "{r:?}");
        assert_eq!(check_unique_ids(&[]).verdict, Verdict::Unknown, "nothing acknowledged is never valid");
    }
}
