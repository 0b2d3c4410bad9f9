//! The set checker (Jepsen's set-full): were acknowledged elements kept, and how soon were they seen?
//!
//! History convention (the runner's set workload): `add` ops carry one integer element as value;
//! `read` ops (periodic) and `final-read` ops (after the heal, one per node per round) complete
//! `ok` with the whole set as an array of integers; every op carries its `node`. A node's final
//! state is its last `ok` final-read.
//!
//! Every element is classified by its adds: *acknowledged* (some add `ok`), *unknown* (no `ok`, but
//! some add `info` or never completed), *failed* (every add `fail`), or never attempted. Then:
//! - **lost**: acknowledged but absent from some node's final state (those nodes are named);
//! - **unexpected**: present in a read although never attempted, although every add of it failed,
//!   or in a read that completed before its first add was invoked;
//! - **recovered**: unknown, and present in some final state;
//! - **never read**: attempted, but no successful read began after the add was invoked;
//! - **stale reads**: a read (periodic or final) that began after the element's add was
//!   acknowledged and does not contain it. Per element: how many, and the worst staleness (the
//!   read's invocation time minus the acknowledgement time) — the time it took until every later
//!   read saw the element. Stale reads make the verdict invalid only with `linearizable: true`.
//!
//! "Before"/"after" use history order (event indexes), durations use event times. Lists in the
//! result are bounded by `LIST_LIMIT`; `counts` always holds the full numbers.

use crate::history::{Op, OpType};
use crate::metrics::{client_operations, format_ns, ClientOp};
use crate::Verdict;
use rustc_hash::FxBuildHasher;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// At most this many entries are listed per category.
pub const LIST_LIMIT: usize = 1000;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SetOptions {
    /// The database claims linearizable sets: a stale read is then a violation.
    pub linearizable: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetCounts {
    /// Distinct elements some add was invoked for.
    pub attempted: u64,
    pub acknowledged: u64,
    pub unknown: u64,
    pub failed: u64,
    pub lost: u64,
    pub unexpected: u64,
    pub recovered: u64,
    /// Elements with at least one stale read.
    pub stale: u64,
    /// Stale reads over all elements.
    pub stale_reads: u64,
    pub never_read: u64,
    /// Successful reads examined (periodic and final).
    pub reads: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LostElement {
    pub element: i64,
    /// ns since run start.
    pub acknowledged_at: u64,
    pub missing_on: Vec<String>,
    /// When a read last contained it (ns), if ever.
    pub last_seen: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnexpectedElement {
    pub element: i64,
    /// "never attempted", "every add failed" or "read before its add was invoked".
    pub reason: String,
    /// Completion time (ns) of the first read that contained it.
    pub first_seen: u64,
    pub seen_on: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecoveredElement {
    pub element: i64,
    pub present_on: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StaleElement {
    pub element: i64,
    pub acknowledged_at: u64,
    pub stale_reads: u64,
    /// The longest time (ns) from acknowledgement to the invocation of a read that missed it.
    pub worst_ns: u64,
    /// Nodes that served a stale read of it.
    pub nodes: Vec<String>,
}

/// The set checker's result (`checkers.set` in results.json).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SetResult {
    pub verdict: Verdict,
    pub summary: String,
    pub linearizable: bool,
    pub counts: SetCounts,
    /// Ordered by acknowledgement time.
    pub lost: Vec<LostElement>,
    /// Ordered by element.
    pub unexpected: Vec<UnexpectedElement>,
    /// Ordered by element.
    pub recovered: Vec<RecoveredElement>,
    /// Worst first.
    pub stale: Vec<StaleElement>,
    pub never_read: Vec<i64>,
    pub worst_stale_ns: Option<u64>,
    /// Nodes with a final state, and nodes seen in the history without one.
    pub final_read_nodes: Vec<String>,
    pub nodes_without_final_read: Vec<String>,
    /// Ops whose value does not follow the convention (they were skipped).
    pub malformed: Vec<String>,
}

crate::checker_result!(SetResult, crate::outcome::Checker::Set);

/// Everything known about one element.
#[derive(Debug, Clone)]
struct Element {
    value: i64,
    /// The first add invocation's index, `None` if never attempted.
    first_invoke: Option<u64>,
    /// The earliest `ok` add completion (index, time).
    ack: Option<(u64, u64)>,
    /// Some add ended `info` or never completed.
    maybe: bool,
    attempts: u64,
    failures: u64,
    stale_reads: u64,
    worst_stale_ns: u64,
    stale_nodes: Vec<u16>,
    /// First read containing it: (completion index, completion time).
    first_seen: Option<(u64, u64)>,
    last_seen: Option<u64>,
    seen_nodes: Vec<u16>,
}

impl Element {
    fn new(value: i64) -> Self {
        Element {
            value,
            first_invoke: None,
            ack: None,
            maybe: false,
            attempts: 0,
            failures: 0,
            stale_reads: 0,
            worst_stale_ns: 0,
            stale_nodes: Vec::new(),
            first_seen: None,
            last_seen: None,
            seen_nodes: Vec::new(),
        }
    }

    fn is_failed_only(&self) -> bool {
        self.attempts > 0 && self.failures == self.attempts
    }
}

/// Interns node names so that per-element node sets stay small.
#[derive(Default)]
struct Nodes {
    names: Vec<String>,
    ids: HashMap<String, u16>,
}

impl Nodes {
    fn id(&mut self, name: Option<&str>) -> u16 {
        let name = name.unwrap_or("(no node)");
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = self.names.len().min(u16::MAX as usize) as u16;
        self.names.push(name.to_string());
        self.ids.insert(name.to_string(), id);
        id
    }

    fn names(&self, ids: &[u16]) -> Vec<String> {
        let mut names: Vec<String> = ids.iter().map(|&i| self.names[i as usize].clone()).collect();
        names.sort();
        names
    }
}

fn push_node(list: &mut Vec<u16>, id: u16) {
    if !list.contains(&id) {
        list.push(id);
    }
}

/// Element value -> dense index.
/// Fx hashing: histories are our own data, so hash-flooding resistance buys nothing, and SipHash
/// dominated the time of large reads.
pub(crate) type ElementIndex = HashMap<i64, usize, FxBuildHasher>;

/// Parse an integer element; JSON integers only.
pub(crate) fn as_element(value: &serde_json::Value) -> Option<i64> {
    value.as_i64()
}

/// Parse a read's value: an array of integers.
pub(crate) fn as_elements(value: &serde_json::Value) -> Option<Vec<i64>> {
    value.as_array()?.iter().map(as_element).collect()
}

struct Read<'a> {
    op: ClientOp<'a>,
    node: u16,
    /// Indexes into the element table.
    elements: Vec<usize>,
}

/// The dense index of an element, creating its entry on first sight.
fn element_index(elements: &mut Vec<Element>, index_of: &mut ElementIndex, value: i64) -> usize {
    *index_of.entry(value).or_insert_with(|| {
        elements.push(Element::new(value));
        elements.len() - 1
    })
}

/// Check a set history, in four steps: gather every element and read; find the reads that missed
/// an acknowledged element (stale); take each node's final state; classify every element (lost,
/// unexpected, recovered, stale, never read) and conclude.
pub fn check_set(history: &[Op], options: &SetOptions) -> SetResult {
    let ops = client_operations(history);
    let mut g = gather(&ops);
    let last_read_invoke = mark_stale_reads(&mut g.elements, &g.reads);
    let finals = FinalStates::of(&g.reads, &g.nodes, g.elements.len());
    let found = classify(&g, &finals, last_read_invoke);
    let nodes_without_final_read: Vec<String> = {
        let missing: Vec<u16> = g.all_nodes.iter().copied().filter(|n| !finals.by_node.contains_key(n)).collect();
        g.nodes.names(&missing)
    };
    let (verdict, summary) = conclude(&found, &finals, &nodes_without_final_read, &g, options);
    let Found { counts, lost, unexpected, recovered, stale, never_read, worst_stale_ns } = found;
    SetResult {
        verdict,
        summary,
        linearizable: options.linearizable,
        counts,
        lost,
        unexpected,
        recovered,
        stale,
        never_read,
        worst_stale_ns,
        final_read_nodes: g.nodes.names(&finals.nodes),
        nodes_without_final_read,
        malformed: g.malformed,
    }
}

/// What the first pass gathers: every element with its adds, the successful reads (as element
/// indexes), every node seen, and the ops that broke the convention.
struct Gathered<'a> {
    nodes: Nodes,
    elements: Vec<Element>,
    reads: Vec<Read<'a>>,
    all_nodes: Vec<u16>,
    malformed: Vec<String>,
    malformed_count: usize,
}

/// Pass 1: adds, and the successful reads parsed.
fn gather<'a>(ops: &[ClientOp<'a>]) -> Gathered<'a> {
    let mut nodes = Nodes::default();
    let mut elements: Vec<Element> = Vec::new();
    let mut index_of = ElementIndex::default();
    let mut malformed: Vec<String> = Vec::new();
    let mut malformed_count = 0usize;
    let mut note_malformed = |msg: String| {
        malformed_count += 1;
        if malformed.len() < LIST_LIMIT {
            malformed.push(msg);
        }
    };
    let mut reads: Vec<Read<'a>> = Vec::new();
    let mut all_nodes: Vec<u16> = Vec::new();
    for op in ops {
        if let Some(node) = op.node() {
            push_node(&mut all_nodes, nodes.id(Some(node)));
        }
        match op.f() {
            "add" => {
                let Some(value) = as_element(&op.invoke.value) else {
                    note_malformed(format!(
                        "op {}: add value must be an integer element, got {}",
                        op.invoke_index(),
                        op.invoke.value
                    ));
                    continue;
                };
                let i = element_index(&mut elements, &mut index_of, value);
                let e = &mut elements[i];
                e.attempts += 1;
                e.first_invoke = Some(e.first_invoke.map_or(op.invoke_index(), |f| f.min(op.invoke_index())));
                match op.completion {
                    Some(c) if c.kind == OpType::Ok => {
                        if e.ack.is_none_or(|(index, _)| c.index < index) {
                            e.ack = Some((c.index, c.time));
                        }
                    }
                    Some(c) if c.kind == OpType::Fail => e.failures += 1,
                    _ => e.maybe = true,
                }
            }
            "read" | "final-read" if op.is_ok() => match as_elements(op.value()) {
                Some(list) => {
                    let node = nodes.id(op.node());
                    let list = list.into_iter().map(|v| element_index(&mut elements, &mut index_of, v)).collect();
                    reads.push(Read { op: *op, node, elements: list });
                }
                None => note_malformed(format!(
                    "op {}: {} value must be an array of integer elements, got {}",
                    op.complete_index().unwrap_or(op.invoke_index()),
                    op.f(),
                    op.value()
                )),
            },
            _ => {}
        }
    }

    Gathered { nodes, elements, reads, all_nodes, malformed, malformed_count }
}

/// Pass 2: reads in invocation order against acknowledgements in completion order. A read that
/// lacks an element acknowledged before the read was invoked is stale for that element. Returns
/// the last read's invocation index.
fn mark_stale_reads(elements: &mut [Element], reads: &[Read<'_>]) -> Option<u64> {
    let mut acked: Vec<(u64, usize)> =
        elements.iter().enumerate().filter_map(|(i, e)| e.ack.map(|(index, _)| (index, i))).collect();
    acked.sort_unstable();
    let mut stamp: Vec<u32> = vec![0; elements.len()];
    let mut acked_before = 0usize;
    let mut last_read_invoke: Option<u64> = None;
    for (n, read) in reads.iter().enumerate() {
        let mark = n as u32 + 1;
        let invoke_index = read.op.invoke_index();
        let complete_index = read.op.complete_index().unwrap_or(invoke_index);
        let complete_time = read.op.complete_time().unwrap_or(read.op.invoke_time());
        last_read_invoke = Some(last_read_invoke.map_or(invoke_index, |l| l.max(invoke_index)));
        for &i in &read.elements {
            stamp[i] = mark;
            let e = &mut elements[i];
            if e.first_seen.is_none_or(|(index, _)| complete_index < index) {
                e.first_seen = Some((complete_index, complete_time));
            }
            e.last_seen = Some(e.last_seen.map_or(complete_time, |l| l.max(complete_time)));
            push_node(&mut e.seen_nodes, read.node);
        }
        // Reads are in invocation order, so the acknowledged-before prefix only grows.
        while acked_before < acked.len() && acked[acked_before].0 < invoke_index {
            acked_before += 1;
        }
        for &(_, i) in &acked[..acked_before] {
            if stamp[i] != mark {
                let e = &mut elements[i];
                let ack_time = e.ack.map_or(0, |(_, t)| t);
                e.stale_reads += 1;
                e.worst_stale_ns = e.worst_stale_ns.max(read.op.invoke_time().saturating_sub(ack_time));
                push_node(&mut e.stale_nodes, read.node);
            }
        }
    }

    last_read_invoke
}

/// Each node's final state: its last ok final-read.
struct FinalStates<'r, 'a> {
    by_node: HashMap<u16, &'r Read<'a>>,
    /// The nodes with a final state, by name.
    nodes: Vec<u16>,
    /// present_on[i]: final-state nodes holding element i.
    present_on: Vec<Vec<u16>>,
}

impl<'r, 'a> FinalStates<'r, 'a> {
    fn of(reads: &'r [Read<'a>], nodes: &Nodes, element_count: usize) -> Self {
        let mut final_state: HashMap<u16, &'r Read<'a>> = HashMap::new();
        for read in reads.iter().filter(|r| r.op.f() == "final-read") {
            let newer =
                final_state.get(&read.node).is_none_or(|prev| prev.op.complete_index() < read.op.complete_index());
            if newer {
                final_state.insert(read.node, read);
            }
        }
        let mut final_nodes: Vec<u16> = final_state.keys().copied().collect();
        final_nodes.sort_by(|a, b| nodes.names[*a as usize].cmp(&nodes.names[*b as usize]));
        // present_on[i]: final-state nodes holding element i.
        let mut present_on: Vec<Vec<u16>> = vec![Vec::new(); element_count];
        for &node in &final_nodes {
            for &i in &final_state[&node].elements {
                push_node(&mut present_on[i], node);
            }
        }

        FinalStates { by_node: final_state, nodes: final_nodes, present_on }
    }
}

/// Every element classified, each list ordered for the report and cut to `LIST_LIMIT`.
struct Found {
    counts: SetCounts,
    lost: Vec<LostElement>,
    unexpected: Vec<UnexpectedElement>,
    recovered: Vec<RecoveredElement>,
    stale: Vec<StaleElement>,
    never_read: Vec<i64>,
    worst_stale_ns: Option<u64>,
}

fn classify(g: &Gathered<'_>, finals: &FinalStates<'_, '_>, last_read_invoke: Option<u64>) -> Found {
    let (elements, nodes, reads) = (&g.elements, &g.nodes, &g.reads);
    let (final_nodes, present_on) = (&finals.nodes, &finals.present_on);
    let mut counts = SetCounts { reads: reads.len() as u64, ..SetCounts::default() };
    let mut lost = Vec::new();
    let mut unexpected = Vec::new();
    let mut recovered = Vec::new();
    let mut stale = Vec::new();
    let mut never_read = Vec::new();
    for (i, e) in elements.iter().enumerate() {
        if e.attempts > 0 {
            counts.attempted += 1;
        }
        if e.ack.is_some() {
            counts.acknowledged += 1;
        } else if e.maybe {
            counts.unknown += 1;
        } else if e.is_failed_only() {
            counts.failed += 1;
        }
        let unexpected_reason = match (e.first_seen, e.first_invoke) {
            (None, _) => None,
            (Some(_), None) => Some("never attempted"),
            (Some(_), Some(_)) if e.is_failed_only() => Some("every add failed"),
            (Some((seen, _)), Some(invoked)) if seen < invoked => Some("read before its add was invoked"),
            _ => None,
        };
        if let Some(reason) = unexpected_reason {
            counts.unexpected += 1;
            unexpected.push(UnexpectedElement {
                element: e.value,
                reason: reason.to_string(),
                first_seen: e.first_seen.map_or(0, |(_, t)| t),
                seen_on: nodes.names(&e.seen_nodes),
            });
        }
        if let Some((_, ack_time)) = e.ack {
            if !final_nodes.is_empty() && present_on[i].len() < final_nodes.len() {
                counts.lost += 1;
                let missing: Vec<u16> = final_nodes.iter().copied().filter(|n| !present_on[i].contains(n)).collect();
                lost.push(LostElement {
                    element: e.value,
                    acknowledged_at: ack_time,
                    missing_on: nodes.names(&missing),
                    last_seen: e.last_seen,
                });
            }
            if e.stale_reads > 0 {
                counts.stale += 1;
                counts.stale_reads += e.stale_reads;
                stale.push(StaleElement {
                    element: e.value,
                    acknowledged_at: ack_time,
                    stale_reads: e.stale_reads,
                    worst_ns: e.worst_stale_ns,
                    nodes: nodes.names(&e.stale_nodes),
                });
            }
        } else if e.maybe && !present_on[i].is_empty() {
            counts.recovered += 1;
            recovered.push(RecoveredElement { element: e.value, present_on: nodes.names(&present_on[i]) });
        }
        let attempted_not_failed = e.attempts > 0 && !e.is_failed_only();
        if attempted_not_failed && e.first_invoke.is_some_and(|f| last_read_invoke.is_none_or(|l| l < f)) {
            counts.never_read += 1;
            never_read.push(e.value);
        }
    }
    lost.sort_by_key(|l| (l.acknowledged_at, l.element));
    unexpected.sort_by_key(|u| u.element);
    recovered.sort_by_key(|r| r.element);
    stale.sort_by(|a, b| b.worst_ns.cmp(&a.worst_ns).then(a.element.cmp(&b.element)));
    never_read.sort_unstable();
    let worst_stale_ns = stale.first().map(|s| s.worst_ns);
    lost.truncate(LIST_LIMIT);
    unexpected.truncate(LIST_LIMIT);
    recovered.truncate(LIST_LIMIT);
    stale.truncate(LIST_LIMIT);
    never_read.truncate(LIST_LIMIT);

    Found { counts, lost, unexpected, recovered, stale, never_read, worst_stale_ns }
}

/// The verdict and its one-sentence summary.
fn conclude(
    found: &Found,
    finals: &FinalStates<'_, '_>,
    nodes_without_final_read: &[String],
    g: &Gathered<'_>,
    options: &SetOptions,
) -> (Verdict, String) {
    let Found { counts, lost, worst_stale_ns, .. } = found;
    let worst_stale_ns = *worst_stale_ns;
    let final_nodes = &finals.nodes;
    let (malformed, malformed_count) = (&g.malformed, g.malformed_count);
    // Verdict and one-sentence summary.
    let mut problems = Vec::new();
    if counts.lost > 0 {
        let mut on: Vec<String> = lost.iter().flat_map(|l| l.missing_on.iter().cloned()).collect();
        on.sort();
        on.dedup();
        problems.push(format!(
            "{} of {} acknowledged elements lost (missing on {})",
            counts.lost,
            counts.acknowledged,
            on.join(", ")
        ));
    }
    if counts.unexpected > 0 {
        problems.push(format!("{} unexpected elements read", counts.unexpected));
    }
    if options.linearizable && counts.stale > 0 {
        problems.push(format!(
            "{} stale reads of {} elements (worst {}) in a linearizable set",
            counts.stale_reads,
            counts.stale,
            format_ns(worst_stale_ns.unwrap_or(0))
        ));
    }
    let mut doubts = Vec::new();
    if final_nodes.is_empty() {
        doubts.push("no successful final read, so lost elements cannot be determined".to_string());
    } else if !nodes_without_final_read.is_empty() {
        doubts.push(format!("no successful final read from {}", nodes_without_final_read.join(", ")));
    }
    if malformed_count > 0 {
        doubts.push(format!("{malformed_count} malformed ops skipped ({})", malformed[0]));
    }
    let details = format!(
        "{} acknowledged, {} unknown, {} failed; {} lost, {} unexpected, {} recovered, {} stale reads of {} elements{}",
        counts.acknowledged,
        counts.unknown,
        counts.failed,
        counts.lost,
        counts.unexpected,
        counts.recovered,
        counts.stale_reads,
        counts.stale,
        worst_stale_ns.map(|w| format!(" (worst {})", format_ns(w))).unwrap_or_default()
    );
    if !problems.is_empty() {
        (Verdict::Invalid, format!("{}; {}", problems.join("; "), details))
    } else if !doubts.is_empty() {
        (Verdict::Unknown, format!("{}; {}", doubts.join("; "), details))
    } else {
        (Verdict::Valid, details)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::testing::{s, HistoryBuilder};
    use serde_json::json;
    use OpType::{Fail, Info, Ok as OkT};

    fn add(h: &mut HistoryBuilder, p: u64, node: &str, e: i64, t0: f64, t1: f64, kind: OpType) {
        h.op(p, node, "add", s(t0), s(t1), kind, json!(e), json!(e));
    }

    fn read(h: &mut HistoryBuilder, f: &str, p: u64, node: &str, t0: f64, t1: f64, set: serde_json::Value) {
        h.op(p, node, f, s(t0), s(t1), OkT, json!(null), set);
    }

    /// Three adds acknowledged, read back everywhere.
    fn healthy() -> HistoryBuilder {
        let mut h = HistoryBuilder::new();
        add(&mut h, 1, "n1", 1, 0.0, 0.1, OkT);
        add(&mut h, 2, "n2", 2, 0.2, 0.3, OkT);
        read(&mut h, "read", 3, "n3", 0.4, 0.5, json!([1, 2]));
        add(&mut h, 1, "n1", 3, 0.6, 0.7, OkT);
        h
    }

    fn finals(h: &mut HistoryBuilder, t: f64, states: &[(&str, serde_json::Value)]) {
        for (i, (node, state)) in states.iter().enumerate() {
            read(h, "final-read", 100 + i as u64, node, t, t + 0.01, state.clone());
        }
    }

    #[test]
    fn all_acknowledged_elements_present_is_valid() {
        let mut h = healthy();
        finals(&mut h, 5.0, &[("n1", json!([1, 2, 3])), ("n2", json!([3, 2, 1])), ("n3", json!([1, 2, 3]))]);
        let r = check_set(&h.build(), &SetOptions::default());
        assert_eq!(r.verdict, Verdict::Valid, "{}", r.summary);
        assert_eq!(r.counts.acknowledged, 3);
        assert_eq!(r.counts.reads, 4);
        assert_eq!((r.counts.lost, r.counts.unexpected, r.counts.stale), (0, 0, 0));
        assert_eq!(r.final_read_nodes, vec!["n1", "n2", "n3"]);
        assert!(r.never_read.is_empty());
    }

    #[test]
    fn acknowledged_element_missing_on_a_node_is_lost() {
        let mut h = healthy();
        finals(&mut h, 5.0, &[("n1", json!([1, 2, 3])), ("n2", json!([1, 3])), ("n3", json!([1, 3]))]);
        let r = check_set(&h.build(), &SetOptions::default());
        assert_eq!(r.verdict, Verdict::Invalid);
        assert_eq!(r.counts.lost, 1);
        assert_eq!(r.lost[0].element, 2);
        assert_eq!(r.lost[0].acknowledged_at, s(0.3));
        assert_eq!(r.lost[0].missing_on, vec!["n2", "n3"]);
        assert_eq!(r.lost[0].last_seen, Some(s(5.01)));
        assert!(r.summary.contains("lost"), "{}", r.summary);
        // Absent on n2/n3 at the final reads, which began after its acknowledgement: also stale there.
        assert_eq!(r.counts.stale, 1);
    }

    #[test]
    fn elements_never_attempted_or_failed_are_unexpected() {
        let mut h = healthy();
        add(&mut h, 2, "n2", 4, 0.8, 0.9, Fail);
        finals(&mut h, 5.0, &[("n1", json!([1, 2, 3, 4, 99])), ("n2", json!([1, 2, 3, 4, 99]))]);
        let r = check_set(&h.build(), &SetOptions::default());
        assert_eq!(r.verdict, Verdict::Invalid);
        assert_eq!(r.counts.unexpected, 2);
        assert_eq!(r.counts.failed, 1);
        let reasons: Vec<(i64, &str)> = r.unexpected.iter().map(|u| (u.element, u.reason.as_str())).collect();
        assert_eq!(reasons, vec![(4, "every add failed"), (99, "never attempted")]);
        assert_eq!(r.unexpected[1].seen_on, vec!["n1", "n2"]);
    }

    #[test]
    fn element_read_before_its_add_was_invoked_is_unexpected() {
        let mut h = HistoryBuilder::new();
        read(&mut h, "read", 1, "n1", 0.0, 0.1, json!([7]));
        add(&mut h, 2, "n1", 7, 0.2, 0.3, OkT);
        finals(&mut h, 1.0, &[("n1", json!([7]))]);
        let r = check_set(&h.build(), &SetOptions::default());
        assert_eq!(r.verdict, Verdict::Invalid);
        assert_eq!(r.unexpected[0].reason, "read before its add was invoked");
        assert_eq!(r.unexpected[0].first_seen, s(0.1));
    }

    #[test]
    fn unknown_add_that_shows_up_is_recovered_and_valid() {
        let mut h = healthy();
        add(&mut h, 2, "n2", 5, 0.8, 1.8, Info);
        h.invoke(s(0.9), 4, "n1", "add", json!(6)); // never completes, never shows up
        finals(&mut h, 5.0, &[("n1", json!([1, 2, 3, 5])), ("n2", json!([1, 2, 3])), ("n3", json!([1, 2, 3]))]);
        let r = check_set(&h.build(), &SetOptions::default());
        assert_eq!(r.verdict, Verdict::Valid, "{}", r.summary);
        assert_eq!(r.counts.unknown, 2);
        assert_eq!(r.counts.recovered, 1);
        assert_eq!(r.recovered[0].element, 5);
        assert_eq!(r.recovered[0].present_on, vec!["n1"]);
    }

    #[test]
    fn stale_reads_are_reported_and_invalid_only_when_linearizable() {
        let mut h = HistoryBuilder::new();
        // A read concurrent with the add: may miss it, not stale.
        h.invoke(s(0.0), 1, "n1", "add", json!(1));
        h.invoke(s(0.5), 2, "n2", "read", json!(null));
        h.complete(s(1.0), 1, "n1", OkT, "add", json!(1));
        h.complete(s(1.5), 2, "n2", OkT, "read", json!([]));
        // Began after the acknowledgement and misses it: stale, 1 s and 3 s after.
        read(&mut h, "read", 2, "n2", 2.0, 2.1, json!([]));
        read(&mut h, "read", 3, "n3", 4.0, 4.1, json!([]));
        read(&mut h, "read", 2, "n2", 5.0, 5.1, json!([1]));
        finals(&mut h, 6.0, &[("n1", json!([1])), ("n2", json!([1])), ("n3", json!([1]))]);
        let history = h.build();
        let r = check_set(&history, &SetOptions::default());
        assert_eq!(r.verdict, Verdict::Valid, "{}", r.summary);
        assert_eq!(r.counts.stale, 1);
        assert_eq!(r.counts.stale_reads, 2);
        assert_eq!(r.stale[0].element, 1);
        assert_eq!(r.stale[0].acknowledged_at, s(1.0));
        assert_eq!(r.stale[0].worst_ns, s(3.0));
        assert_eq!(r.stale[0].nodes, vec!["n2", "n3"]);
        assert_eq!(r.worst_stale_ns, Some(s(3.0)));

        let r = check_set(&history, &SetOptions { linearizable: true });
        assert_eq!(r.verdict, Verdict::Invalid);
        assert!(r.summary.contains("stale"), "{}", r.summary);
        assert!(r.linearizable);
    }

    #[test]
    fn add_after_the_last_read_is_never_read() {
        let mut h = healthy();
        add(&mut h, 1, "n1", 9, 2.0, 2.1, Info);
        let r = check_set(&h.build(), &SetOptions::default());
        assert_eq!(r.never_read, vec![3, 9]);
        assert_eq!(r.counts.never_read, 2);
        // Without any final read, losses cannot be judged.
        assert_eq!(r.verdict, Verdict::Unknown);
        assert!(r.summary.contains("no successful final read"), "{}", r.summary);
    }

    #[test]
    fn node_without_a_final_read_makes_it_unknown() {
        let mut h = healthy();
        finals(&mut h, 5.0, &[("n1", json!([1, 2, 3])), ("n2", json!([1, 2, 3]))]);
        h.op(200, "n3", "final-read", s(5.0), s(6.0), Info, json!(null), json!(null));
        let r = check_set(&h.build(), &SetOptions::default());
        assert_eq!(r.verdict, Verdict::Unknown);
        assert_eq!(r.nodes_without_final_read, vec!["n3"]);
    }

    #[test]
    fn last_final_read_per_node_is_its_final_state() {
        let mut h = healthy();
        finals(&mut h, 5.0, &[("n1", json!([1, 2, 3])), ("n2", json!([1])), ("n3", json!([1, 2, 3]))]);
        finals(&mut h, 6.0, &[("n1", json!([1, 2, 3])), ("n2", json!([1, 2, 3])), ("n3", json!([1, 2, 3]))]);
        let r = check_set(&h.build(), &SetOptions::default());
        assert_eq!(r.verdict, Verdict::Valid, "{}", r.summary);
        assert_eq!(r.counts.lost, 0);
        // The first round's n2 read was stale for 2 and 3.
        assert_eq!(r.counts.stale, 2);
    }

    #[test]
    fn malformed_values_are_skipped_and_unknown() {
        let mut h = healthy();
        h.op(1, "n1", "add", s(1.0), s(1.1), OkT, json!("x"), json!("x"));
        read(&mut h, "read", 3, "n3", 1.2, 1.3, json!({"not": "a set"}));
        finals(&mut h, 5.0, &[("n1", json!([1, 2, 3]))]);
        let r = check_set(&h.build(), &SetOptions::default());
        assert_eq!(r.verdict, Verdict::Unknown);
        assert_eq!(r.malformed.len(), 2);
        assert!(r.malformed[0].contains("op "), "{:?}", r.malformed);
    }

    #[test]
    fn lists_are_bounded_but_counts_are_not() {
        let mut h = HistoryBuilder::new();
        for e in 0..1500 {
            add(&mut h, 1, "n1", e, e as f64, e as f64 + 0.5, OkT);
        }
        finals(&mut h, 2000.0, &[("n1", json!([]))]);
        let r = check_set(&h.build(), &SetOptions::default());
        assert_eq!(r.counts.lost, 1500);
        assert_eq!(r.lost.len(), LIST_LIMIT);
        assert_eq!(r.lost[0].element, 0, "ordered by acknowledgement");
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["verdict"], "invalid");
        assert_eq!(json["counts"]["lost"], 1500);
        assert_eq!(json["lost"][0]["missing_on"], json!(["n1"]));
    }
}
