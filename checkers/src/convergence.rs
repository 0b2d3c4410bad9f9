//! Convergence: after the heal, do all nodes end up with the same state, and how soon?
//!
//! After the main phase and the heal the runner polls every node with `final-read` ops (one per
//! node per round) until all agree or the recovery time has passed. A node's final state is its
//! last `ok` final-read. States are sets of integers: an array value is a set, an integer value
//! (the counter workload) is the one-element set `{value}`, and a transactional final read (a
//! vector of `["r", k, v]` micro-ops) is the set of every value it read: every element of every
//! list (list-append) or every register's value (rw-register). The workloads write unique values,
//! so two nodes with the same set hold the same appends and writes; an order of the same
//! appends that differs between nodes is the transactional checker's to find, not this one's.
//!
//! - `converged`: every polled node has a final state and all final states are equal.
//! - differences, per node against the union `U` and the intersection `I` of the final states:
//!   `missing = U − S(node)` (elements some node has and this one lacks) and
//!   `extra = S(node) − I` (elements this node has and some other node lacks).
//! - `divergence = |U − I| / |U|`: the share of all elements seen in a final state that are not on
//!   every node (for two nodes, |symmetric difference| / |union|); 0 when `U` is empty.
//! - time to converge: final reads are replayed in completion order, keeping each node's latest
//!   state; the nodes agree from the completion of the read after which every node's latest state
//!   is equal *and stays equal to the end*. Measured from the heal time (see `heal_time`), or from
//!   the first final-read invocation when the run had no fault. `null` when never converged.
//!   Agreement is judged per latest state, not per numbered round, so a failed poll in a round
//!   does not shift the rounds of the other nodes.

use crate::faults::Phase;
use crate::history::{Op, OpType};
use crate::metrics::{client_operations, format_ns};
use crate::set::{as_element, as_elements, LIST_LIMIT};
use crate::Verdict;
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};

/// The time faults were last healed: the last event of a nemesis `stop-*` action, or of a nemesis
/// op with `f = "heal"`, whichever is later. `None` when the nemesis never healed anything.
pub fn heal_time(history: &[Op]) -> Option<u64> {
    let heals = |op: &&Op| op.f == "heal" || matches!(Phase::parse(&op.f), Some((Phase::Stop, _)));
    history.iter().filter(|op| op.is_nemesis()).filter(heals).map(|op| op.time).max()
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeDifference {
    /// Elements some node has and this one lacks (first `LIST_LIMIT`).
    pub missing: Vec<i64>,
    /// Elements this node has and some other node lacks (first `LIST_LIMIT`).
    pub extra: Vec<i64>,
    pub missing_count: u64,
    pub extra_count: u64,
}

/// The convergence checker's result (`checkers.convergence` in results.json).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConvergenceResult {
    pub verdict: Verdict,
    pub summary: String,
    pub converged: bool,
    /// Each node's final state, sorted (first `LIST_LIMIT` elements; see `node_sizes`).
    pub nodes: IndexMap<String, Vec<i64>>,
    pub node_sizes: IndexMap<String, u64>,
    /// Per node, empty when converged.
    pub differences: IndexMap<String, NodeDifference>,
    pub divergence: f64,
    pub union_size: u64,
    pub intersection_size: u64,
    pub time_to_converge_ns: Option<u64>,
    pub heal_time: Option<u64>,
    /// The time the convergence time is measured from (heal, or the first final read).
    pub measured_from: Option<u64>,
    /// Successful final reads examined.
    pub final_reads: u64,
    /// Nodes polled without any successful final read.
    pub unreachable: Vec<String>,
    pub malformed: Vec<String>,
}

crate::checker_result!(ConvergenceResult, crate::outcome::Checker::Convergence);

/// Every value a transactional final read returned: the elements of each list read, or each
/// register's value (nil: none). `None` when it is not a vector of `["r", k, v]` micro-ops.
fn txn_values(value: &serde_json::Value) -> Option<Vec<i64>> {
    let mut out = Vec::new();
    for m in value.as_array()? {
        let m = m.as_array().filter(|m| m.len() == 3 && m[0] == "r")?;
        match &m[2] {
            serde_json::Value::Null => {}
            serde_json::Value::Array(list) => out.extend(list.iter().map(as_element).collect::<Option<Vec<_>>>()?),
            v => out.push(as_element(v)?),
        }
    }
    Some(out)
}

/// Check that the nodes' final states agree.
pub fn check_convergence(history: &[Op]) -> ConvergenceResult {
    let ops = client_operations(history);
    let heal = heal_time(history);
    let mut malformed = Vec::new();

    // Successful final reads as (completion index, time, node, sorted deduplicated state).
    let mut polled: BTreeSet<String> = BTreeSet::new();
    let mut reads: Vec<(u64, u64, String, Vec<i64>)> = Vec::new();
    let mut first_poll: Option<u64> = None;
    for op in ops.iter().filter(|op| op.f() == "final-read") {
        let Some(node) = op.node() else {
            if malformed.len() < LIST_LIMIT {
                malformed.push(format!("op {}: final-read without a node", op.invoke_index()));
            }
            continue;
        };
        polled.insert(node.to_string());
        first_poll = Some(first_poll.map_or(op.invoke_time(), |f| f.min(op.invoke_time())));
        let Some(completion) = op.completion.filter(|c| c.kind == OpType::Ok) else { continue };
        let value = op.value();
        let state =
            match as_elements(value).or_else(|| as_element(value).map(|v| vec![v])).or_else(|| txn_values(value)) {
                Some(mut state) => {
                    state.sort_unstable();
                    state.dedup();
                    state
                }
                None => {
                    if malformed.len() < LIST_LIMIT {
                        malformed.push(format!(
                        "op {}: final-read value must be an array of integers, an integer or read micro-ops, got {}",
                        completion.index, value
                    ));
                    }
                    continue;
                }
            };
        reads.push((completion.index, completion.time, node.to_string(), state));
    }
    reads.sort_by_key(|r| r.0);

    // Replay: latest state per node; track the start of the current all-agree stretch.
    let node_ids: HashMap<&str, usize> = polled.iter().enumerate().map(|(i, n)| (n.as_str(), i)).collect();
    let mut latest: Vec<Option<&Vec<i64>>> = vec![None; polled.len()];
    let mut agreed_since: Option<u64> = None;
    for (_, time, node, state) in &reads {
        latest[node_ids[node.as_str()]] = Some(state);
        let all_equal = latest.iter().all(|s| s.is_some_and(|s| Some(s) == latest[0]));
        if !all_equal {
            agreed_since = None;
        } else if agreed_since.is_none() {
            agreed_since = Some(*time);
        }
    }

    let unreachable: Vec<String> =
        polled.iter().zip(&latest).filter(|(_, s)| s.is_none()).map(|(n, _)| n.clone()).collect();
    let finals: Vec<(&String, &Vec<i64>)> = polled.iter().zip(&latest).filter_map(|(n, s)| s.map(|s| (n, s))).collect();

    // Union and intersection through per-element counts.
    let mut holders: HashMap<i64, usize> = HashMap::new();
    for (_, state) in &finals {
        for &e in state.iter() {
            *holders.entry(e).or_default() += 1;
        }
    }
    let everywhere = finals.len();
    let union_size = holders.len() as u64;
    let intersection_size = holders.values().filter(|&&c| c == everywhere).count() as u64;
    let divergence = if union_size == 0 { 0.0 } else { (union_size - intersection_size) as f64 / union_size as f64 };
    let states_equal = finals.windows(2).all(|w| w[0].1 == w[1].1);
    let converged = !finals.is_empty() && unreachable.is_empty() && states_equal;

    let mut nodes = IndexMap::new();
    let mut node_sizes = IndexMap::new();
    let mut differences = IndexMap::new();
    let mut not_everywhere: Vec<i64> = holders.iter().filter(|(_, &c)| c < everywhere).map(|(&e, _)| e).collect();
    not_everywhere.sort_unstable();
    for (node, state) in &finals {
        nodes.insert((*node).clone(), state.iter().copied().take(LIST_LIMIT).collect());
        node_sizes.insert((*node).clone(), state.len() as u64);
        if !states_equal {
            let mut difference = NodeDifference::default();
            for &e in &not_everywhere {
                if state.binary_search(&e).is_ok() {
                    difference.extra_count += 1;
                    if difference.extra.len() < LIST_LIMIT {
                        difference.extra.push(e);
                    }
                } else {
                    difference.missing_count += 1;
                    if difference.missing.len() < LIST_LIMIT {
                        difference.missing.push(e);
                    }
                }
            }
            differences.insert((*node).clone(), difference);
        }
    }

    let measured_from = heal.or(first_poll);
    let time_to_converge_ns = match (converged, agreed_since) {
        (true, Some(t)) => Some(t.saturating_sub(measured_from.unwrap_or(0))),
        _ => None,
    };

    let (verdict, summary) = if polled.is_empty() {
        (Verdict::Unknown, "no final reads in the history, so convergence cannot be judged".to_string())
    } else if !states_equal {
        // Every differing node, the first few named.
        let differing: Vec<String> = differences
            .iter()
            .filter(|(_, d)| d.missing_count + d.extra_count > 0)
            .map(|(n, d)| format!("{n} lacks {}, has {} extra", d.missing_count, d.extra_count))
            .collect();
        let mut worst = differing.iter().take(5).cloned().collect::<Vec<_>>().join("; ");
        if differing.len() > 5 {
            worst.push_str(&format!("; and {} more nodes", differing.len() - 5));
        }
        (
            Verdict::Invalid,
            format!(
                "final states of {} nodes differ: {} of {} elements are not on every node (divergence {:.4}); {}",
                finals.len(),
                union_size - intersection_size,
                union_size,
                divergence,
                worst
            ),
        )
    } else if !unreachable.is_empty() {
        (Verdict::Unknown, format!("no successful final read from {}; the other nodes agree", unreachable.join(", ")))
    } else {
        let when = match time_to_converge_ns {
            Some(t) if heal.is_some() => format!(" {} after the heal", format_ns(t)),
            Some(t) => format!(" {} after the first final read", format_ns(t)),
            None => String::new(),
        };
        (Verdict::Valid, format!("all {} nodes converged{} on {} elements", finals.len(), when, union_size))
    };
    let (verdict, summary) = if malformed.is_empty() || verdict == Verdict::Invalid {
        (verdict, summary)
    } else {
        (Verdict::Unknown, format!("{} malformed final reads skipped ({}); {}", malformed.len(), malformed[0], summary))
    };

    ConvergenceResult {
        verdict,
        summary,
        converged,
        nodes,
        node_sizes,
        differences,
        divergence,
        union_size,
        intersection_size,
        time_to_converge_ns,
        heal_time: heal,
        measured_from,
        final_reads: reads.len() as u64,
        unreachable,
        malformed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::testing::{s, HistoryBuilder};
    use serde_json::{json, Value};
    use OpType::{Info, Ok as OkT};

    fn round(h: &mut HistoryBuilder, t: f64, states: &[(&str, Value)]) {
        for (i, (node, state)) in states.iter().enumerate() {
            h.op(100 + i as u64, node, "final-read", s(t), s(t + 0.01), OkT, json!(null), state.clone());
        }
    }

    fn healed_at_10s() -> HistoryBuilder {
        let mut h = HistoryBuilder::new();
        h.op(1, "n1", "add", s(0.0), s(0.1), OkT, json!(1), json!(1));
        h.nemesis(s(2.0), s(2.0), "start-partition-halves", json!(null));
        h.nemesis(s(9.5), s(10.0), "stop-partition-halves", json!(null));
        h
    }

    /// Transactional final reads (read micro-ops) are compared by the values they read: a node
    /// whose list lacks an append, or whose register holds another write, differs, and says on
    /// what.
    #[test]
    fn transactional_final_reads_converge_or_name_what_differs() {
        let la = |l2: Value| json!([["r", 1, [1, 2]], ["r", 2, l2], ["r", 3, null]]);
        let mut h = healed_at_10s();
        round(&mut h, 11.0, &[("n1", la(json!([3]))), ("n2", la(json!([3, 4])))]);
        let c = check_convergence(&h.build());
        assert_eq!(c.verdict, Verdict::Invalid, "{}", c.summary);
        assert_eq!(c.differences["n1"].missing, vec![4]);
        assert!(c.malformed.is_empty(), "{:?}", c.malformed);
        round(&mut h, 12.0, &[("n1", la(json!([3, 4]))), ("n2", la(json!([3, 4])))]);
        let c = check_convergence(&h.build());
        assert_eq!(c.verdict, Verdict::Valid, "{}", c.summary);
        assert_eq!(c.nodes["n1"], vec![1, 2, 3, 4]);
        // rw-register: each register's value.
        let mut h = healed_at_10s();
        round(
            &mut h,
            11.0,
            &[("n1", json!([["r", 1, 7], ["r", 2, null]])), ("n2", json!([["r", 1, 8], ["r", 2, null]]))],
        );
        let c = check_convergence(&h.build());
        assert_eq!((c.verdict, c.differences["n1"].missing.clone()), (Verdict::Invalid, vec![8]));
        // Anything else is still malformed.
        let mut h = healed_at_10s();
        round(&mut h, 11.0, &[("n1", json!([["append", 1, 2]])), ("n2", json!([["r", 1, "x"]]))]);
        assert_eq!(check_convergence(&h.build()).malformed.len(), 2);
    }

    #[test]
    fn heal_time_is_the_last_stop_or_heal() {
        let mut h = healed_at_10s();
        assert_eq!(heal_time(&h.build()), Some(s(10.0)));
        h.nemesis(s(11.0), s(11.5), "heal", json!(null));
        assert_eq!(heal_time(&h.build()), Some(s(11.5)));
        assert_eq!(heal_time(&HistoryBuilder::new().build()), None);
    }

    #[test]
    fn converged_with_time_from_the_heal() {
        let mut h = healed_at_10s();
        round(&mut h, 11.0, &[("n1", json!([1, 2, 3])), ("n2", json!([1, 2]))]);
        round(&mut h, 12.0, &[("n1", json!([3, 2, 1])), ("n2", json!([1, 2, 3]))]);
        let r = check_convergence(&h.build());
        assert_eq!(r.verdict, Verdict::Valid, "{}", r.summary);
        assert!(r.converged);
        assert_eq!(r.divergence, 0.0);
        assert_eq!(r.time_to_converge_ns, Some(s(2.01)));
        assert_eq!(r.heal_time, Some(s(10.0)));
        assert_eq!(r.nodes["n1"], vec![1, 2, 3]);
        assert!(r.differences.is_empty());
        assert!(r.summary.contains("2.010s after the heal"), "{}", r.summary);
    }

    #[test]
    fn agreement_counts_from_the_last_stretch_that_lasts() {
        let mut h = healed_at_10s();
        round(&mut h, 11.0, &[("n1", json!([1])), ("n2", json!([1]))]);
        round(&mut h, 12.0, &[("n1", json!([1, 2])), ("n2", json!([1]))]);
        round(&mut h, 13.0, &[("n1", json!([1, 2])), ("n2", json!([1, 2]))]);
        let r = check_convergence(&h.build());
        assert_eq!(r.time_to_converge_ns, Some(s(3.01)));
        assert_eq!(r.final_reads, 6);
    }

    #[test]
    fn diverged_final_states_list_differences_and_divergence() {
        let mut h = healed_at_10s();
        round(&mut h, 11.0, &[("n1", json!([1, 2, 3])), ("n2", json!([1, 2])), ("n3", json!([1, 2, 4]))]);
        let r = check_convergence(&h.build());
        assert_eq!(r.verdict, Verdict::Invalid);
        assert!(!r.converged);
        assert_eq!(r.time_to_converge_ns, None);
        // Union {1,2,3,4}, on every node {1,2}: 2 of 4 elements diverge.
        assert_eq!((r.union_size, r.intersection_size), (4, 2));
        assert_eq!(r.divergence, 0.5);
        assert_eq!(
            r.differences["n1"],
            NodeDifference { missing: vec![4], extra: vec![3], missing_count: 1, extra_count: 1 }
        );
        assert_eq!(r.differences["n2"].missing, vec![3, 4]);
        assert!(r.differences["n2"].extra.is_empty());
        assert_eq!(r.differences["n3"].extra, vec![4]);
        assert!(r.summary.contains("n1 lacks 1, has 1 extra; n2 lacks 2, has 0 extra; n3 lacks 1"), "{}", r.summary);
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["differences"]["n2"]["missing"], json!([3, 4]));
        assert_eq!(json["time_to_converge_ns"], Value::Null);
    }

    #[test]
    fn two_node_divergence_is_symmetric_difference_over_union() {
        let mut h = healed_at_10s();
        round(&mut h, 11.0, &[("n1", json!([1, 2, 3, 4])), ("n2", json!([1, 2, 3, 5]))]);
        let r = check_convergence(&h.build());
        assert!((r.divergence - 2.0 / 5.0).abs() < 1e-12);
    }

    #[test]
    fn unreachable_node_is_unknown_and_not_converged() {
        let mut h = healed_at_10s();
        round(&mut h, 11.0, &[("n1", json!([1])), ("n2", json!([1]))]);
        h.op(300, "n3", "final-read", s(11.0), s(12.0), Info, json!(null), json!(null));
        let r = check_convergence(&h.build());
        assert_eq!(r.verdict, Verdict::Unknown);
        assert!(!r.converged);
        assert_eq!(r.unreachable, vec!["n3"]);
        assert_eq!(r.time_to_converge_ns, None);
    }

    #[test]
    fn no_final_reads_is_unknown() {
        let r = check_convergence(&healed_at_10s().build());
        assert_eq!(r.verdict, Verdict::Unknown);
        assert!(!r.converged);
    }

    #[test]
    fn counter_values_compare_as_single_elements_and_without_a_fault_time_runs_from_the_first_poll() {
        let mut h = HistoryBuilder::new();
        round(&mut h, 1.0, &[("n1", json!(5)), ("n2", json!(5))]);
        let r = check_convergence(&h.build());
        assert!(r.converged);
        assert_eq!(r.heal_time, None);
        assert_eq!(r.time_to_converge_ns, Some(s(0.01)));
        round(&mut h, 2.0, &[("n1", json!(5)), ("n2", json!(7))]);
        let r = check_convergence(&h.build());
        assert_eq!(r.verdict, Verdict::Invalid);
        assert_eq!(r.divergence, 1.0);
    }

    #[test]
    fn malformed_final_read_is_reported() {
        let mut h = healed_at_10s();
        round(&mut h, 11.0, &[("n1", json!([1])), ("n2", json!("oops"))]);
        let r = check_convergence(&h.build());
        assert_eq!(r.verdict, Verdict::Unknown);
        assert_eq!(r.malformed.len(), 1);
        assert_eq!(r.unreachable, vec!["n2"]);
    }
}
