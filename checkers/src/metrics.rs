//! Fault metrics: how the clients fared around each fault, for every run whatever the workload.
//!
//! Computed from client operations only (nemesis events just delimit the fault windows, see
//! `faults`):
//! - availability: the share of completed workload operations that succeeded,
//!   `ok / (ok + fail + info - expected)`, overall and inside each fault window (an operation
//!   belongs to a window when it *completed* inside it). `expected` failures are the database's
//!   correct "no" (a cas whose expected value did not match): an answer, not unavailability.
//! - failures by reason: every `fail` and `info` workload operation in a [`FailureClass`] by its
//!   client's error text (expected, refused, timeout, conflict, unavailable, other), with the
//!   nodes that saw it, when, and its commonest error texts. Operations that never completed are counted as
//!   `pending` and left out. The runner's after-run `final-*` polls are not workload operations:
//!   they are counted separately and excluded from availability and throughput, but they do count
//!   as evidence that a node serves again (recovery, outages).
//! - longest outage per node: the longest stretch, between the first client invocation and the last
//!   workload completion, in which the node completed no successful operation (the quiet between
//!   the workload and the final reads, while faults are healed, is not an outage).
//! - detection: from a fault's start to the first client operation that failed or timed out
//!   (`fail`/`info`, expected failures aside) inside the window; `null` when no client noticed
//!   the fault.
//! - recovery: from the heal (the window's end) to the first success on *every* node; and
//!   recovery-90: from the heal to the first throughput bucket (1 s by default) whose ok-throughput
//!   is back to 90% of the mean ok-throughput of the 10 s before the fault (clipped to the time since
//!   the previous fault ended). It is reported at bucket resolution, as the bucket's start.
//! - with several windows the run-level detection/recovery numbers are the **worst** (largest) over
//!   the windows; a healed window that never recovered is listed in `unrecovered` and makes any
//!   recovery expectation fail.
//!
//! This module also holds `client_operations`, the invoke/completion pairing that the set,
//! convergence and counter checkers share.

use crate::faults::{fault_windows, FaultWindow};
use crate::history::{Op, OpType, Process};
use crate::Verdict;
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// One client operation: its invocation and, when recorded, its completion.
#[derive(Debug, Clone, Copy)]
pub struct ClientOp<'a> {
    /// The `invoke` event (for a completion recorded without an invocation, the completion itself).
    pub invoke: &'a Op,
    /// `None` when the history ends before the operation completed.
    pub completion: Option<&'a Op>,
}

impl<'a> ClientOp<'a> {
    pub fn f(&self) -> &'a str {
        &self.invoke.f
    }

    /// How the operation ended; `None` while pending.
    pub fn outcome(&self) -> Option<OpType> {
        self.completion.map(|c| c.kind)
    }

    pub fn is_ok(&self) -> bool {
        self.outcome() == Some(OpType::Ok)
    }

    /// Whether this is one of the runner's after-run polls (`final-read`, ...).
    pub fn is_final(&self) -> bool {
        self.f().starts_with("final-")
    }

    pub fn invoke_time(&self) -> u64 {
        self.invoke.time
    }

    pub fn complete_time(&self) -> Option<u64> {
        self.completion.map(|c| c.time)
    }

    pub fn invoke_index(&self) -> u64 {
        self.invoke.index
    }

    pub fn complete_index(&self) -> Option<u64> {
        self.completion.map(|c| c.index)
    }

    /// The operation's value: the completion's when it succeeded with one (reads), otherwise the
    /// invocation's (what was attempted, e.g. the element of an `add`).
    pub fn value(&self) -> &'a serde_json::Value {
        match self.completion {
            Some(c) if c.kind == OpType::Ok && !c.value.is_null() => &c.value,
            _ => &self.invoke.value,
        }
    }

    /// The node the operation went to (either event may carry it).
    pub fn node(&self) -> Option<&'a str> {
        self.completion.and_then(|c| c.node.as_deref()).or(self.invoke.node.as_deref())
    }
}

/// Pair each client invocation with the next completion on the same process, in invocation order.
/// Nemesis events are skipped. A second invocation on a process whose operation is still open
/// leaves the earlier one pending (malformed histories are the format reader's to reject).
pub fn client_operations(history: &[Op]) -> Vec<ClientOp<'_>> {
    let mut ops: Vec<ClientOp<'_>> = Vec::new();
    let mut open: HashMap<u64, usize> = HashMap::new();
    for op in history {
        let Process::Client(process) = op.process else { continue };
        match op.kind {
            OpType::Invoke => {
                open.insert(process, ops.len());
                ops.push(ClientOp { invoke: op, completion: None });
            }
            _ => match open.remove(&process) {
                Some(i) => ops[i].completion = Some(op),
                None => ops.push(ClientOp { invoke: op, completion: Some(op) }),
            },
        }
    }
    ops
}

/// Tunables of the fault metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsOptions {
    /// Width of a throughput bucket, ns.
    pub bucket_ns: u64,
    /// How far before a fault the baseline throughput is measured, ns.
    pub baseline_ns: u64,
    /// The share of the baseline throughput that counts as recovered.
    pub recovery_fraction: f64,
}

impl Default for MetricsOptions {
    fn default() -> Self {
        MetricsOptions { bucket_ns: 1_000_000_000, baseline_ns: 10_000_000_000, recovery_fraction: 0.9 }
    }
}

/// Operation counts by outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpCounts {
    pub ok: u64,
    pub fail: u64,
    pub info: u64,
    pub pending: u64,
    /// Of `fail`, the database's correct "no" (`FailureClass::Expected`).
    #[serde(default)]
    pub expected: u64,
}

impl OpCounts {
    fn add(&mut self, op: &ClientOp<'_>) {
        match op.outcome() {
            Some(OpType::Ok) => self.ok += 1,
            Some(OpType::Fail) => {
                self.fail += 1;
                self.expected += u64::from(FailureClass::of(op) == Some(FailureClass::Expected));
            }
            Some(OpType::Info) | Some(OpType::Invoke) => self.info += 1,
            None => self.pending += 1,
        }
    }

    /// Operations that completed in any way.
    pub fn completed(&self) -> u64 {
        self.ok + self.fail + self.info
    }

    /// `ok` over the completed operations that were not expected failures; `None` without any.
    pub fn availability(&self) -> Option<f64> {
        let asked = self.completed() - self.expected;
        (asked > 0).then(|| self.ok as f64 / asked as f64)
    }
}

/// Why an operation did not succeed, from its outcome and its client's error text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailureClass {
    /// The database's correct "no": a cas whose expected value did not match. Not a failure
    /// of the database; left out of availability and detection.
    Expected,
    /// The connection was refused or reset: nothing listening, or the node going down.
    Refused,
    /// No answer in time.
    Timeout,
    /// The database aborted the operation for a conflict (deadlock, serialization failure, a
    /// concurrent change); retrying may succeed.
    Conflict,
    /// The node said it cannot serve now (no leader or quorum, read-only, not ready).
    Unavailable,
    /// Anything else.
    Other,
}

impl FailureClass {
    /// The class of a `fail` or `info` operation (`None` for ok and pending ones).
    pub fn of(op: &ClientOp<'_>) -> Option<FailureClass> {
        let c = op.completion?;
        if !matches!(c.kind, OpType::Fail | OpType::Info) {
            return None;
        }
        let e = c.error.as_deref().unwrap_or("").to_ascii_lowercase();
        let has = |words: &[&str]| words.iter().any(|w| e.contains(w));
        // A refused overdraft is the bank's correct "no", as a cas whose value did not match is.
        Some(
            if c.kind == OpType::Fail
                && (op.f() == "cas" && has(&["did not match", "mismatch", "compare failed"])
                    || op.f() == "transfer" && has(&["insufficient funds"]))
            {
                FailureClass::Expected
            } else if has(&["timed out", "timeout", "deadline"]) {
                FailureClass::Timeout
            } else if has(&["refused", "reset", "broken pipe", "connection closed", "unexpected eof", "not connected"])
            {
                FailureClass::Refused
            } else if has(&["deadlock", "1213", "40001", "serializ", "conflict", "changed concurrently", "lock wait"]) {
                FailureClass::Conflict
            } else if has(&[
                "leader",
                "quorum",
                "read-only",
                "readonly",
                "not ready",
                "unavailable",
                "no primary",
                "wsrep",
            ]) {
                FailureClass::Unavailable
            } else {
                FailureClass::Other
            },
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            FailureClass::Expected => "expected",
            FailureClass::Refused => "refused",
            FailureClass::Timeout => "timeout",
            FailureClass::Conflict => "conflict",
            FailureClass::Unavailable => "unavailable",
            FailureClass::Other => "other",
        }
    }
}

/// The workload operations that failed or timed out for one reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailureRow {
    pub class: FailureClass,
    pub fail: u64,
    pub info: u64,
    /// How many on each node, busiest first.
    pub nodes: IndexMap<String, u64>,
    /// When the first and the last of them completed, ns since the run started.
    pub first_ns: u64,
    pub last_ns: u64,
    /// The commonest error texts (at most three, 120 characters each) with their counts.
    pub errors: IndexMap<String, u64>,
}

/// Failed and timed-out workload operations by class, the commonest class first.
fn failures_by_reason(ops: &[ClientOp<'_>]) -> Vec<FailureRow> {
    let mut rows: IndexMap<FailureClass, (FailureRow, IndexMap<String, u64>)> = IndexMap::new();
    for op in ops.iter().filter(|o| !o.is_final()) {
        let (Some(class), Some(c)) = (FailureClass::of(op), op.completion) else { continue };
        let (row, errors) = rows.entry(class).or_insert_with(|| {
            let row = FailureRow {
                class,
                fail: 0,
                info: 0,
                nodes: IndexMap::new(),
                first_ns: c.time,
                last_ns: c.time,
                errors: IndexMap::new(),
            };
            (row, IndexMap::new())
        });
        if c.kind == OpType::Fail {
            row.fail += 1;
        } else {
            row.info += 1;
        }
        *row.nodes.entry(op.node().unwrap_or(NO_NODE).to_string()).or_default() += 1;
        row.first_ns = row.first_ns.min(c.time);
        row.last_ns = row.last_ns.max(c.time);
        let text: String = c.error.as_deref().unwrap_or("(no error text)").chars().take(120).collect();
        *errors.entry(text).or_default() += 1;
    }
    let mut out: Vec<FailureRow> = rows
        .into_values()
        .map(|(mut row, mut errors)| {
            row.nodes.sort_by(|a, x, b, y| y.cmp(x).then(a.cmp(b)));
            errors.sort_by(|a, x, b, y| y.cmp(x).then(a.cmp(b)));
            row.errors = errors.into_iter().take(3).collect();
            row
        })
        .collect();
    out.sort_by_key(|r| std::cmp::Reverse(r.fail + r.info));
    out
}

/// All operation counts of a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunOpCounts {
    /// Workload operations (everything but the `final-*` polls).
    pub workload: OpCounts,
    /// The runner's after-run polls.
    pub final_polls: OpCounts,
    /// Workload operations by function.
    pub by_f: IndexMap<String, OpCounts>,
}

/// The metrics of one fault window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowMetrics {
    pub fault: String,
    /// ns since run start.
    pub start: u64,
    /// ns since run start; `null` when the fault was never healed.
    pub end: Option<u64>,
    pub targets: Vec<String>,
    /// The nemesis' own check that the fault took effect (`detail.verified`), when it made one.
    pub verified: Option<bool>,
    /// The nemesis' check that the fault was removed (`heal_detail.verified`: every link back).
    pub heal_verified: Option<bool>,
    /// Why the nemesis could not verify the fault or its removal, in its words.
    pub verify_reason: Option<String>,
    /// Workload availability inside the window; `null` without completed operations there.
    pub availability: Option<f64>,
    pub ops: OpCounts,
    pub detection_ns: Option<u64>,
    pub recovery_ns: Option<u64>,
    /// Nodes with no success after the heal (recovery is `null` then).
    pub unrecovered_nodes: Vec<String>,
    pub recovery_90_ns: Option<u64>,
    /// Mean ok-throughput (ops/s) before the fault, the reference for recovery-90.
    pub baseline_ops_per_s: Option<f64>,
    /// Throughput was measured after the heal and never got back to the recovery fraction.
    pub recovery_90_unreached: bool,
    /// Why a number is `null`, in words (empty when all were measured).
    pub notes: Vec<String>,
}

/// The fault metrics of a run (`checkers.metrics` in results.json).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricsResult {
    pub verdict: Verdict,
    pub summary: String,
    /// Workload availability over the whole run; `null` without completed operations.
    pub availability: Option<f64>,
    pub ops: RunOpCounts,
    /// Failed and timed-out workload operations by reason, the commonest first.
    #[serde(default)]
    pub failures: Vec<FailureRow>,
    pub windows: Vec<WindowMetrics>,
    pub longest_outage_ns: IndexMap<String, u64>,
    /// Worst (largest) detection over the windows where a client noticed the fault.
    pub detection_ns: Option<u64>,
    /// Worst recovery over the healed windows that recovered.
    pub recovery_ns: Option<u64>,
    /// Worst recovery-90 over the healed windows where it was measured and reached.
    pub recovery_90_ns: Option<u64>,
    /// Lowest availability inside any window.
    pub window_availability: Option<f64>,
    /// Healed windows that never recovered, e.g. "window 2 (kill): n3 never succeeded after the heal".
    pub unrecovered: Vec<String>,
    /// Healed windows whose throughput never got back to the recovery fraction of the baseline.
    pub unrecovered_90: Vec<String>,
}

crate::checker_result!(MetricsResult, crate::outcome::Checker::Metrics);

/// Key under which operations without a `node` are grouped.
const NO_NODE: &str = "(no node)";

/// Compute the fault metrics of a history.
pub fn fault_metrics(history: &[Op], options: &MetricsOptions) -> MetricsResult {
    let ops = client_operations(history);
    let history_end = history.iter().map(|op| op.time).max().unwrap_or(0);
    let counts = count_ops(&ops);
    let times = SuccessTimes::of(&ops);
    let fault_windows = fault_windows(history);
    let windows: Vec<WindowMetrics> = (0..fault_windows.len())
        .map(|i| window_metrics(&fault_windows, i, &ops, &times, options, history_end))
        .collect();
    let longest_outage_ns = longest_outages(&times);
    let mut result = summarize(counts, windows, longest_outage_ns);
    result.failures = failures_by_reason(&ops);
    result
}

/// Completed operations, by phase (workload or final reads) and by function.
fn count_ops(ops: &[ClientOp<'_>]) -> RunOpCounts {
    let mut counts = RunOpCounts::default();
    for op in ops {
        if op.is_final() {
            counts.final_polls.add(op);
        } else {
            counts.workload.add(op);
            counts.by_f.entry(op.f().to_string()).or_default().add(op);
        }
    }
    counts
}

/// When operations succeeded, sorted: per node (all client ops, for recovery and outages) and
/// for the workload as a whole (for throughput), with the client span.
struct SuccessTimes {
    by_node: IndexMap<String, Vec<u64>>,
    workload_ok: Vec<u64>,
    workload_end: Option<u64>,
    client_start: Option<u64>,
    client_end: Option<u64>,
}

impl SuccessTimes {
    fn of(ops: &[ClientOp<'_>]) -> SuccessTimes {
        let mut by_node: IndexMap<String, Vec<u64>> = IndexMap::new();
        for op in ops {
            let node = op.node().unwrap_or(NO_NODE).to_string();
            let times = by_node.entry(node).or_default();
            if op.is_ok() {
                times.push(op.complete_time().unwrap_or(op.invoke_time()));
            }
        }
        by_node.sort_keys();
        for times in by_node.values_mut() {
            times.sort_unstable();
        }
        let mut workload_ok: Vec<u64> =
            ops.iter().filter(|op| !op.is_final() && op.is_ok()).filter_map(|op| op.complete_time()).collect();
        workload_ok.sort_unstable();
        SuccessTimes {
            by_node,
            workload_ok,
            workload_end: ops.iter().filter(|op| !op.is_final()).filter_map(|op| op.complete_time()).max(),
            client_start: ops.iter().map(|op| op.invoke_time()).min(),
            client_end: ops
                .iter()
                .filter_map(|op| op.complete_time())
                .chain(ops.iter().map(|op| op.invoke_time()))
                .max(),
        }
    }
}

/// The metrics of fault window `i`: operations in it, detection, recovery, recovery-90.
fn window_metrics(
    fault_windows: &[FaultWindow],
    i: usize,
    ops: &[ClientOp<'_>],
    times: &SuccessTimes,
    options: &MetricsOptions,
    history_end: u64,
) -> WindowMetrics {
    let window = &fault_windows[i];
    let start = window.start;
    let end = window.end_or(history_end);
    let mut notes = Vec::new();

    // Detection: the first failure or timeout completed inside the window.
    let mut in_window = OpCounts::default();
    let mut first_trouble: Option<u64> = None;
    for op in ops {
        let Some(t) = op.complete_time() else { continue };
        if t < start || t > end {
            continue;
        }
        if !op.is_final() {
            in_window.add(op);
        }
        if FailureClass::of(op).is_some_and(|c| c != FailureClass::Expected) {
            first_trouble = Some(first_trouble.map_or(t, |f| f.min(t)));
        }
    }
    let detection_ns = first_trouble.map(|t| t - start);
    if detection_ns.is_none() {
        notes.push("no client operation failed or timed out during the fault".to_string());
    }

    let mut recovery = Recovery::default();
    match window.end {
        None => notes.push("the fault was never healed".to_string()),
        Some(heal) => {
            // Recovery is measured up to the next fault: after it, a node's silence is that
            // fault's doing, not this one's.
            let next = fault_windows.iter().filter(|w| w.start > heal).min_by_key(|w| w.start);
            recovery = recovery_after(heal, next.map(|w| (w.start, w.fault.as_str())), times, &mut notes);
            recovery_90_after(fault_windows, i, heal, times, options, &mut recovery, &mut notes);
        }
    }

    WindowMetrics {
        fault: window.fault.clone(),
        start,
        end: window.end,
        targets: string_list(&window.detail["targets"]),
        verified: window.detail.get("verified").and_then(|v| v.as_bool()),
        heal_verified: window.heal_detail.as_ref().and_then(|h| h.get("verified")).and_then(|v| v.as_bool()),
        verify_reason: [Some(&window.detail), window.heal_detail.as_ref()]
            .into_iter()
            .flatten()
            .filter_map(|d| d.get("reason").and_then(|r| r.as_str()))
            .map(str::to_string)
            .reduce(|a, b| format!("{a}; {b}")),
        availability: in_window.availability(),
        ops: in_window,
        detection_ns,
        recovery_ns: recovery.recovery_ns,
        unrecovered_nodes: recovery.unrecovered_nodes,
        recovery_90_ns: recovery.recovery_90_ns,
        baseline_ops_per_s: recovery.baseline_ops_per_s,
        recovery_90_unreached: recovery.unreached_90,
        notes,
    }
}

/// How a window recovered after its heal.
#[derive(Default)]
struct Recovery {
    recovery_ns: Option<u64>,
    unrecovered_nodes: Vec<String>,
    recovery_90_ns: Option<u64>,
    baseline_ops_per_s: Option<f64>,
    unreached_90: bool,
}

/// Recovery: the time from the heal to the first success on every node (the slowest node),
/// unless the next fault (`next`: its start and name) begins first.
fn recovery_after(heal: u64, next: Option<(u64, &str)>, times: &SuccessTimes, notes: &mut Vec<String>) -> Recovery {
    let mut r = Recovery::default();
    let mut worst = 0u64;
    let mut overtaken = Vec::new();
    for (node, node_times) in &times.by_node {
        let first = node_times.partition_point(|&t| t < heal);
        match node_times.get(first) {
            Some(&t) if next.is_some_and(|(start, _)| t > start) => overtaken.push(node.clone()),
            Some(&t) => worst = worst.max(t - heal),
            None => r.unrecovered_nodes.push(node.clone()),
        }
    }
    if r.unrecovered_nodes.is_empty() && !overtaken.is_empty() {
        let (start, fault) = next.expect("overtaken only with a next fault");
        notes.push(format!(
            "the next fault ({fault} at {}) began before {} succeeded again: recovery not measured",
            format_ns(start),
            overtaken.join(", ")
        ));
    } else if r.unrecovered_nodes.is_empty() && !times.by_node.is_empty() {
        r.recovery_ns = Some(worst);
    } else if times.by_node.is_empty() {
        notes.push("no client operations".to_string());
    } else {
        notes.push(format!("no success after the heal on {}", r.unrecovered_nodes.join(", ")));
    }
    r
}

/// Recovery-90: the first bucket after the heal whose ok-throughput reaches
/// `recovery_fraction` of the baseline (the ok-throughput before the fault, after the previous
/// fault ended).
fn recovery_90_after(
    fault_windows: &[FaultWindow],
    i: usize,
    heal: u64,
    times: &SuccessTimes,
    options: &MetricsOptions,
    r: &mut Recovery,
    notes: &mut Vec<String>,
) {
    let bucket_ns = options.bucket_ns.max(1);
    let start = fault_windows[i].start;
    let previous_end = fault_windows[..i]
        .iter()
        .chain(fault_windows[i + 1..].iter())
        .filter_map(|w| w.end)
        .filter(|&e| e <= start)
        .max();
    let baseline_from = [Some(start.saturating_sub(options.baseline_ns)), previous_end, times.client_start]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(0);
    let baseline_span = start.saturating_sub(baseline_from);
    if baseline_span < bucket_ns {
        notes.push(format!(
            "less than {} of fault-free operation before the fault: no throughput baseline",
            format_ns(bucket_ns)
        ));
        return;
    }
    let count = count_in(&times.workload_ok, baseline_from, start);
    let rate = count as f64 / (baseline_span as f64 / 1e9);
    r.baseline_ops_per_s = Some(rate);
    if count == 0 {
        notes.push("no successful operations before the fault: no throughput baseline".to_string());
        return;
    }
    let needed = rate * options.recovery_fraction * (bucket_ns as f64 / 1e9);
    let mut bucket_start = heal;
    let mut buckets_seen = 0usize;
    let workload_end = times.workload_end.unwrap_or(0);
    while bucket_start + bucket_ns <= workload_end {
        buckets_seen += 1;
        let n = count_in(&times.workload_ok, bucket_start, bucket_start + bucket_ns);
        if n as f64 >= needed {
            r.recovery_90_ns = Some(bucket_start - heal);
            break;
        }
        bucket_start += bucket_ns;
    }
    if buckets_seen == 0 {
        // The last heal usually comes at the end of the main phase: nothing to measure.
        notes.push("the workload ended within one bucket of the heal: recovery-90 not measured".to_string());
    } else if r.recovery_90_ns.is_none() {
        r.unreached_90 = true;
        notes.push(format!(
            "throughput never got back to {:.0}% of {:.1} ops/s before the workload ended",
            options.recovery_fraction * 100.0,
            rate
        ));
    }
}

/// Longest stretch without a success, per node, over the client span.
fn longest_outages(times: &SuccessTimes) -> IndexMap<String, u64> {
    let mut longest_outage_ns = IndexMap::new();
    // Up to the workload's last completion: the quiet between the workload and the final reads
    // (the heal, the database's recovery) is nobody's outage.
    if let (Some(from), Some(to)) = (times.client_start, times.workload_end.or(times.client_end)) {
        for (node, node_times) in &times.by_node {
            let mut longest = 0u64;
            let mut previous = from;
            for &t in node_times.iter().filter(|&&t| t <= to) {
                longest = longest.max(t.saturating_sub(previous));
                previous = previous.max(t);
            }
            longest = longest.max(to.saturating_sub(previous));
            longest_outage_ns.insert(node.clone(), longest);
        }
    }
    longest_outage_ns
}

/// The run-wide figures, the verdict (unknown when a fault was not verified) and the summary.
fn summarize(
    counts: RunOpCounts,
    windows: Vec<WindowMetrics>,
    longest_outage_ns: IndexMap<String, u64>,
) -> MetricsResult {
    let mut unrecovered = Vec::new();
    let mut unrecovered_90 = Vec::new();
    for (i, w) in windows.iter().enumerate() {
        if w.end.is_some() && w.recovery_ns.is_none() && !w.unrecovered_nodes.is_empty() {
            unrecovered.push(format!(
                "window {} ({} at {}): {} never succeeded after the heal",
                i + 1,
                w.fault,
                format_ns(w.start),
                w.unrecovered_nodes.join(", ")
            ));
        }
        if w.recovery_90_unreached {
            unrecovered_90.push(format!("window {} ({} at {})", i + 1, w.fault, format_ns(w.start)));
        }
    }
    let detection_ns = windows.iter().filter_map(|w| w.detection_ns).max();
    let recovery_ns = windows.iter().filter_map(|w| w.recovery_ns).max();
    let recovery_90_ns = windows.iter().filter_map(|w| w.recovery_90_ns).max();
    let window_availability = windows.iter().filter_map(|w| w.availability).min_by(|a, b| a.total_cmp(b));

    let unverified: Vec<String> = windows
        .iter()
        .enumerate()
        .filter(|(_, w)| w.verified == Some(false) || w.heal_verified == Some(false))
        .map(|(i, w)| {
            let what = if w.verified == Some(false) { "applied" } else { "healed" };
            let why = w.verify_reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default();
            format!("window {} ({} at {}, not verified as {what}{why})", i + 1, w.fault, format_ns(w.start))
        })
        .collect();
    let availability = counts.workload.availability();
    let mut summary = match availability {
        Some(a) => format!("availability {:.3} over {} completed operations", a, counts.workload.completed()),
        None => "no completed workload operations".to_string(),
    };
    if counts.workload.expected > 0 {
        summary.push_str(&format!(
            " ({} expected failures, a cas whose value did not match, left out)",
            counts.workload.expected
        ));
    }
    summary.push_str(&format!("; {} fault window(s)", windows.len()));
    if let Some(r) = recovery_ns {
        summary.push_str(&format!(", worst recovery {}", format_ns(r)));
    }
    if !unrecovered.is_empty() {
        summary.push_str(&format!(", {} never recovered", unrecovered.len()));
    }
    let verdict = if unverified.is_empty() {
        Verdict::Valid
    } else {
        summary = format!("fault not verified in {}; {}", unverified.join(", "), summary);
        Verdict::Unknown
    };

    MetricsResult {
        verdict,
        summary,
        availability,
        ops: counts,
        failures: Vec::new(),
        windows,
        longest_outage_ns,
        detection_ns,
        recovery_ns,
        recovery_90_ns,
        window_availability,
        unrecovered,
        unrecovered_90,
    }
}

/// How many sorted times lie in `[from, to)`.
fn count_in(sorted: &[u64], from: u64, to: u64) -> usize {
    sorted.partition_point(|&t| t < to) - sorted.partition_point(|&t| t < from)
}

fn string_list(value: &serde_json::Value) -> Vec<String> {
    match value {
        serde_json::Value::Array(items) => {
            items.iter().map(|v| v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())).collect()
        }
        _ => Vec::new(),
    }
}

/// A duration in ns for people: `12.300s`, `45.0ms`, `800ns`.
pub fn format_ns(ns: u64) -> String {
    if ns >= 1_000_000_000 {
        format!("{:.3}s", ns as f64 / 1e9)
    } else if ns >= 1_000_000 {
        format!("{:.1}ms", ns as f64 / 1e6)
    } else if ns >= 1_000 {
        format!("{:.1}us", ns as f64 / 1e3)
    } else {
        format!("{ns}ns")
    }
}

/// A small builder of histories for the tests of this crate's workload checkers.
#[cfg(test)]
pub(crate) mod testing {
    use crate::history::{Op, OpType, Process};
    use serde_json::Value;

    /// Seconds to ns.
    pub fn s(seconds: f64) -> u64 {
        (seconds * 1e9).round() as u64
    }

    #[derive(Default)]
    pub struct HistoryBuilder {
        ops: Vec<Op>,
    }

    impl HistoryBuilder {
        pub fn new() -> Self {
            Self::default()
        }

        fn push(&mut self, time: u64, kind: OpType, process: Process, f: &str, value: Value, node: Option<&str>) {
            self.ops.push(Op {
                index: self.ops.len() as u64,
                time,
                kind,
                process,
                f: f.into(),
                value,
                key: None,
                node: node.map(str::to_string),
                error: None,
            });
        }

        pub fn invoke(&mut self, time: u64, process: u64, node: &str, f: &str, value: Value) -> &mut Self {
            self.push(time, OpType::Invoke, Process::Client(process), f, value, Some(node));
            self
        }

        pub fn complete(
            &mut self,
            time: u64,
            process: u64,
            node: &str,
            kind: OpType,
            f: &str,
            value: Value,
        ) -> &mut Self {
            self.push(time, kind, Process::Client(process), f, value, Some(node));
            self
        }

        /// A whole operation, invoked at `t0` and completed at `t1` with nothing in between.
        #[allow(clippy::too_many_arguments)]
        pub fn op(
            &mut self,
            process: u64,
            node: &str,
            f: &str,
            t0: u64,
            t1: u64,
            kind: OpType,
            invoke_value: Value,
            result: Value,
        ) -> &mut Self {
            self.invoke(t0, process, node, f, invoke_value);
            self.complete(t1, process, node, kind, f, result)
        }

        /// A nemesis action: its start and completion events.
        pub fn nemesis(&mut self, t0: u64, t1: u64, f: &str, value: Value) -> &mut Self {
            self.push(t0, OpType::Info, Process::Nemesis, f, Value::Null, None);
            self.push(t1, OpType::Info, Process::Nemesis, f, value, None);
            self
        }

        /// The last event's error text.
        pub fn error(&mut self, text: &str) -> &mut Self {
            self.ops.last_mut().expect("an event").error = Some(text.to_string());
            self
        }

        pub fn build(&self) -> Vec<Op> {
            self.ops.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{s, HistoryBuilder};
    use super::*;
    use serde_json::json;
    use OpType::{Fail, Info, Ok as OkT};

    fn read(h: &mut HistoryBuilder, p: u64, node: &str, t: f64, kind: OpType) {
        h.op(p, node, "read", s(t), s(t) + 1_000_000, kind, json!(null), json!(1));
    }

    /// A cas the database refused because the value did not match is its correct answer: it is
    /// classed expected and left out of availability and detection; refusals, timeouts and
    /// deadlocks are counted by class, node and time, with their commonest texts.
    #[test]
    fn failures_are_classed_and_expected_ones_do_not_count_against_availability() {
        let mut h = HistoryBuilder::new();
        h.op(1, "n1", "write", s(1.0), s(1.1), OkT, json!(1), json!(1));
        h.op(1, "n1", "cas", s(2.0), s(2.1), Fail, json!([3, 4]), json!([3, 4])).error("value did not match");
        h.nemesis(s(3.0), s(3.0), "start-partition-one", json!({"targets": ["n2"]}));
        h.op(2, "n2", "cas", s(4.0), s(4.1), Fail, json!([1, 2]), json!([1, 2])).error("value did not match");
        h.op(2, "n2", "read", s(5.0), s(5.5), Fail, json!(null), json!(null)).error("connect: Connection refused");
        h.op(2, "n2", "read", s(6.0), s(6.5), Fail, json!(null), json!(null)).error("connect: Connection refused");
        h.op(3, "n3", "write", s(7.0), s(12.0), Info, json!(5), json!(5)).error("timed out");
        h.op(4, "n1", "txn", s(8.0), s(8.1), Fail, json!([]), json!([]))
            .error("1213 Deadlock found when trying to get lock");
        h.nemesis(s(13.0), s(13.0), "stop-partition-one", json!({}));
        let m = fault_metrics(&h.build(), &MetricsOptions::default());
        assert_eq!(m.ops.workload.expected, 2);
        // 1 ok of 7 completed, 2 of them expected: 1 / 5.
        assert_eq!(m.availability, Some(0.2));
        assert!(m.summary.contains("2 expected failures"), "{}", m.summary);
        let classes: Vec<(&str, u64, u64)> = m.failures.iter().map(|f| (f.class.as_str(), f.fail, f.info)).collect();
        assert_eq!(
            classes,
            [("expected", 2, 0), ("refused", 2, 0), ("timeout", 0, 1), ("conflict", 1, 0)],
            "{:?}",
            m.failures
        );
        let refused = &m.failures[1];
        assert_eq!(refused.nodes, IndexMap::from([("n2".to_string(), 2)]));
        assert_eq!((refused.first_ns, refused.last_ns), (s(5.5), s(6.5)));
        assert_eq!(refused.errors, IndexMap::from([("connect: Connection refused".to_string(), 2)]));
        // Detection is the refused read, not the expected cas before it.
        assert_eq!(m.windows[0].detection_ns, Some(s(5.5) - s(3.0)));
    }

    #[test]
    fn pairs_operations_per_process_and_keeps_pending() {
        let mut h = HistoryBuilder::new();
        h.invoke(1, 1, "n1", "add", json!(5));
        h.invoke(2, 2, "n2", "read", json!(null));
        h.complete(3, 2, "n2", OkT, "read", json!([5]));
        h.complete(4, 1, "n1", Info, "add", json!(5));
        h.invoke(5, 3, "n3", "add", json!(6));
        let history = h.build();
        let ops = client_operations(&history);
        assert_eq!(ops.len(), 3);
        assert_eq!((ops[0].f(), ops[0].outcome(), ops[0].complete_time()), ("add", Some(Info), Some(4)));
        assert_eq!(ops[1].value(), &json!([5]));
        assert_eq!(ops[2].outcome(), None);
        assert_eq!(ops[2].value(), &json!(6));
    }

    #[test]
    fn availability_overall_and_inside_a_window_with_detection() {
        let mut h = HistoryBuilder::new();
        // 0-10 s: 10 successes on n1.
        for i in 0..10 {
            read(&mut h, 1, "n1", i as f64, OkT);
        }
        h.nemesis(s(10.0), s(10.1), "start-partition-halves", json!({"targets": ["n1", "n2"], "verified": true}));
        read(&mut h, 1, "n1", 10.5, OkT);
        read(&mut h, 1, "n1", 11.0, Fail); // first trouble: completes at 11.001 s
        read(&mut h, 1, "n1", 12.0, Info);
        read(&mut h, 1, "n1", 13.0, Fail);
        h.nemesis(s(14.0), s(14.2), "stop-partition-halves", json!(null));
        read(&mut h, 1, "n1", 15.0, OkT);
        let m = fault_metrics(&h.build(), &MetricsOptions::default());
        assert_eq!(m.verdict, Verdict::Valid);
        assert_eq!(m.ops.workload, OpCounts { ok: 12, fail: 2, info: 1, pending: 0, expected: 0 });
        assert!((m.availability.unwrap() - 12.0 / 15.0).abs() < 1e-9);
        assert_eq!(m.windows.len(), 1);
        let w = &m.windows[0];
        assert_eq!((w.start, w.end), (s(10.0), Some(s(14.2))));
        assert_eq!(w.targets, vec!["n1", "n2"]);
        assert_eq!(w.verified, Some(true));
        assert_eq!(w.ops, OpCounts { ok: 1, fail: 2, info: 1, pending: 0, expected: 0 });
        assert!((w.availability.unwrap() - 0.25).abs() < 1e-9);
        assert_eq!(w.detection_ns, Some(s(1.001)));
        assert_eq!(m.detection_ns, Some(s(1.001)));
        assert_eq!(w.recovery_ns, Some(s(15.001) - s(14.2)));
        assert!((m.window_availability.unwrap() - 0.25).abs() < 1e-9);
    }

    #[test]
    fn recovery_waits_for_every_node_and_reports_unrecovered_nodes() {
        let mut h = HistoryBuilder::new();
        read(&mut h, 1, "n1", 1.0, OkT);
        read(&mut h, 2, "n2", 1.0, OkT);
        read(&mut h, 3, "n3", 1.0, OkT);
        h.nemesis(s(2.0), s(2.0), "start-kill", json!({"targets": ["n3"]}));
        read(&mut h, 3, "n3", 3.0, Info);
        h.nemesis(s(5.0), s(5.5), "stop-kill", json!(null));
        read(&mut h, 1, "n1", 5.6, OkT);
        read(&mut h, 2, "n2", 6.5, OkT);
        let m = fault_metrics(&h.build(), &MetricsOptions::default());
        let w = &m.windows[0];
        assert_eq!(w.recovery_ns, None);
        assert_eq!(w.unrecovered_nodes, vec!["n3"]);
        assert_eq!(m.unrecovered.len(), 1);
        assert!(m.unrecovered[0].contains("n3"), "{}", m.unrecovered[0]);
        assert!(m.summary.contains("never recovered"), "{}", m.summary);

        // n3 comes back (here via a final read, which counts as serving again): recovery is the slowest node.
        h.op(4, "n3", "final-read", s(7.0), s(7.5), OkT, json!(null), json!(1));
        let m = fault_metrics(&h.build(), &MetricsOptions::default());
        assert_eq!(m.windows[0].recovery_ns, Some(s(2.0)));
        assert_eq!(m.recovery_ns, Some(s(2.0)));
        assert!(m.unrecovered.is_empty());
        // The final read is not a workload op: it is counted apart from the 6 workload ops.
        assert_eq!(m.ops.workload.completed(), 6);
        assert_eq!(m.ops.final_polls.ok, 1);

        // A next fault before n3 is back: this window's recovery is not measured across it
        // (n3's silence is the partition's doing now), and it is not "never recovered" either.
        h.nemesis(s(6.8), s(6.8), "start-partition-one", json!({"targets": ["n3"]}));
        let m = fault_metrics(&h.build(), &MetricsOptions::default());
        let w = &m.windows[0];
        assert_eq!((w.recovery_ns, w.unrecovered_nodes.len()), (None, 0));
        assert!(w.notes.iter().any(|n| n.contains("partition-one") && n.contains("before n3")), "{:?}", w.notes);
        assert!(m.unrecovered.is_empty());
    }

    #[test]
    fn recovery_90_against_the_pre_fault_throughput() {
        let mut h = HistoryBuilder::new();
        // 10 ops/s for 10 s before the fault.
        for i in 0..100 {
            read(&mut h, 1, "n1", i as f64 * 0.1, OkT);
        }
        h.nemesis(s(10.0), s(10.0), "start-pause", json!({"targets": ["n1"]}));
        h.nemesis(s(12.0), s(12.0), "stop-pause", json!(null));
        // [12,13): 3 ops; [13,14): 5 ops; [14,15): 9 ops (>= 90% of 10); then 10/s to 16.
        for (count, start) in [(3, 12.0), (5, 13.0), (9, 14.0), (10, 15.0)] {
            for k in 0..count {
                read(&mut h, 1, "n1", start + k as f64 * (1.0 / count as f64), OkT);
            }
        }
        let m = fault_metrics(&h.build(), &MetricsOptions::default());
        let w = &m.windows[0];
        assert!((w.baseline_ops_per_s.unwrap() - 10.0).abs() < 0.2, "{:?}", w.baseline_ops_per_s);
        assert_eq!(w.recovery_90_ns, Some(s(2.0)));
        assert_eq!(m.recovery_90_ns, Some(s(2.0)));
        assert_eq!(w.detection_ns, None, "no failure during a pause without failures");

        // A stricter fraction is never reached in the buckets that follow.
        let strict = MetricsOptions { recovery_fraction: 1.5, ..MetricsOptions::default() };
        let m = fault_metrics(&h.build(), &strict);
        assert_eq!(m.windows[0].recovery_90_ns, None);
        assert!(m.windows[0].recovery_90_unreached);
        assert_eq!(m.unrecovered_90.len(), 1);
    }

    #[test]
    fn recovery_90_is_not_measured_when_the_workload_ends_at_the_heal() {
        let mut h = HistoryBuilder::new();
        for i in 0..20 {
            read(&mut h, 1, "n1", i as f64 * 0.5, OkT);
        }
        h.nemesis(s(10.0), s(10.0), "start-pause", json!(null));
        h.nemesis(s(12.0), s(12.0), "stop-pause", json!(null));
        h.op(2, "n1", "final-read", s(12.1), s(12.2), OkT, json!(null), json!(1));
        let m = fault_metrics(&h.build(), &MetricsOptions::default());
        let w = &m.windows[0];
        assert_eq!(w.recovery_90_ns, None);
        assert!(!w.recovery_90_unreached);
        assert!(m.unrecovered_90.is_empty());
        assert_eq!(w.recovery_ns, Some(s(0.2)));
    }

    #[test]
    fn longest_outage_per_node() {
        let mut h = HistoryBuilder::new();
        read(&mut h, 1, "n1", 0.0, OkT);
        read(&mut h, 1, "n1", 1.0, OkT);
        read(&mut h, 1, "n1", 6.0, Fail);
        read(&mut h, 1, "n1", 7.0, OkT);
        read(&mut h, 2, "n2", 0.0, Fail);
        read(&mut h, 2, "n2", 8.0, Fail);
        let m = fault_metrics(&h.build(), &MetricsOptions::default());
        // n1: successes at 0.001, 1.001, 7.001 within [0, 8.001]: longest gap 6 s.
        assert_eq!(m.longest_outage_ns["n1"], s(6.0));
        // n2 never succeeded: the whole span.
        assert_eq!(m.longest_outage_ns["n2"], s(8.001));
        // Final reads 5 s after the workload (the heal, the recovery) make no outage of that
        // quiet: the span ends at the workload's last completion.
        h.op(100, "n1", "final-read", s(13.0), s(13.01), OkT, json!(null), json!(1));
        h.op(101, "n2", "final-read", s(13.0), s(13.01), OkT, json!(null), json!(1));
        let m = fault_metrics(&h.build(), &MetricsOptions::default());
        assert_eq!((m.longest_outage_ns["n1"], m.longest_outage_ns["n2"]), (s(6.0), s(8.001)));
    }

    #[test]
    fn unverified_fault_makes_the_verdict_unknown() {
        let mut h = HistoryBuilder::new();
        read(&mut h, 1, "n1", 0.0, OkT);
        h.nemesis(s(1.0), s(1.1), "start-partition-ring", json!({"verified": false}));
        h.nemesis(s(2.0), s(2.1), "stop-partition-ring", json!(null));
        let m = fault_metrics(&h.build(), &MetricsOptions::default());
        assert_eq!(m.verdict, Verdict::Unknown);
        assert!(m.summary.contains("partition-ring"), "{}", m.summary);
        assert_eq!(m.windows[0].verified, Some(false));
    }

    #[test]
    fn unverified_heal_makes_the_verdict_unknown() {
        let mut h = HistoryBuilder::new();
        read(&mut h, 1, "n1", 0.0, OkT);
        h.nemesis(s(1.0), s(1.1), "start-partition-one", json!({"verified": true}));
        h.nemesis(
            s(2.0),
            s(2.1),
            "stop-partition-one",
            json!({"verified": false, "reason": "after stop n1 -> n2 still cut"}),
        );
        let m = fault_metrics(&h.build(), &MetricsOptions::default());
        assert_eq!(m.verdict, Verdict::Unknown);
        assert_eq!(m.windows[0].heal_verified, Some(false));
        assert!(m.summary.contains("not verified as healed: after stop n1 -> n2 still cut"), "{}", m.summary);
        // A verified heal keeps the verdict.
        let mut h = HistoryBuilder::new();
        read(&mut h, 1, "n1", 0.0, OkT);
        h.nemesis(s(1.0), s(1.1), "start-partition-one", json!({"verified": true}));
        h.nemesis(s(2.0), s(2.1), "stop-partition-one", json!({"verified": true}));
        assert_eq!(fault_metrics(&h.build(), &MetricsOptions::default()).verdict, Verdict::Valid);
    }

    #[test]
    fn empty_history_has_no_availability() {
        let m = fault_metrics(&[], &MetricsOptions::default());
        assert_eq!(m.availability, None);
        assert!(m.windows.is_empty());
        assert_eq!(m.verdict, Verdict::Valid);
        let json = serde_json::to_value(&m).unwrap();
        assert_eq!(json["verdict"], "valid");
        assert!(json["summary"].is_string());
    }
}
