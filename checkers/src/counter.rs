//! The counter checker (Jepsen's counter): is every read within what the increments allow?
//!
//! History convention: `add` ops carry an integer increment (any sign; usually 1 or more); `read`
//! and `final-read` ops complete `ok` with the counter's integer value. The counter starts at 0.
//!
//! For a read invoked at event `r0` and completed at `r1` (history order):
//! - *certain* increments: `ok` adds completed before `r0` — they are in the value;
//! - *possible* increments: every other add that was not `fail` and was invoked before `r1`
//!   (`ok` adds concurrent with the read, `info` adds — which may take effect at any time after
//!   their invocation — and adds that never completed).
//!
//! The read must lie in `[certain + negative possible, certain + positive possible]`; with only
//! positive increments that is Jepsen's `[acknowledged before the read, attempted before its end]`.

use crate::history::{Op, OpType};
use crate::metrics::{client_operations, format_ns};
use crate::set::LIST_LIMIT;
use crate::Verdict;
use serde::{Deserialize, Serialize};

/// One read outside its bounds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CounterViolation {
    /// Index of the read's completion event.
    pub index: u64,
    pub f: String,
    pub node: Option<String>,
    pub value: i64,
    pub lower: i64,
    pub upper: i64,
    /// ns since run start.
    pub invoked_at: u64,
    pub completed_at: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CounterCounts {
    pub reads: u64,
    pub violations: u64,
    pub adds_ok: u64,
    pub adds_info: u64,
    pub adds_fail: u64,
}

/// The counter checker's result (`checkers.counter` in results.json).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CounterResult {
    pub verdict: Verdict,
    pub summary: String,
    pub counts: CounterCounts,
    /// Sum of acknowledged (`ok`) increments.
    pub acknowledged_sum: i64,
    /// Sum of every increment not known to have failed.
    pub attempted_sum: i64,
    /// The first `LIST_LIMIT` violating reads, in history order.
    pub violations: Vec<CounterViolation>,
    pub malformed: Vec<String>,
}

crate::checker_result!(CounterResult, crate::outcome::Checker::Counter);

/// Prefix sums over increments sorted by an event index, split by sign.
struct Prefix {
    index: Vec<u64>,
    positive: Vec<i64>,
    negative: Vec<i64>,
}

impl Prefix {
    fn new(mut items: Vec<(u64, i64)>) -> Prefix {
        items.sort_unstable();
        let mut prefix = Prefix { index: Vec::new(), positive: vec![0], negative: vec![0] };
        for (index, v) in items {
            prefix.index.push(index);
            prefix.positive.push(prefix.positive.last().unwrap().saturating_add(v.max(0)));
            prefix.negative.push(prefix.negative.last().unwrap().saturating_add(v.min(0)));
        }
        prefix
    }

    /// (positive sum, negative sum) of the increments with index < `before`.
    fn before(&self, before: u64) -> (i64, i64) {
        let n = self.index.partition_point(|&i| i < before);
        (self.positive[n], self.negative[n])
    }
}

/// Check a counter history.
pub fn check_counter(history: &[Op]) -> CounterResult {
    let ops = client_operations(history);
    let mut counts = CounterCounts::default();
    let mut malformed = Vec::new();
    let mut certain = Vec::new(); // (completion index, increment) of ok adds
    let mut possible = Vec::new(); // (invocation index, increment) of adds not failed
    let mut acknowledged_sum = 0i64;
    let mut attempted_sum = 0i64;
    for op in ops.iter().filter(|op| op.f() == "add") {
        let Some(v) = op.invoke.value.as_i64() else {
            if malformed.len() < LIST_LIMIT {
                malformed.push(format!(
                    "op {}: add value must be an integer, got {}",
                    op.invoke_index(),
                    op.invoke.value
                ));
            }
            continue;
        };
        match op.outcome() {
            Some(OpType::Fail) => counts.adds_fail += 1,
            Some(OpType::Ok) => {
                counts.adds_ok += 1;
                acknowledged_sum = acknowledged_sum.saturating_add(v);
                certain.push((op.complete_index().unwrap_or(op.invoke_index()), v));
            }
            _ => counts.adds_info += 1,
        }
        if op.outcome() != Some(OpType::Fail) {
            attempted_sum = attempted_sum.saturating_add(v);
            possible.push((op.invoke_index(), v));
        }
    }
    let certain = Prefix::new(certain);
    let possible = Prefix::new(possible);

    let mut violations = Vec::new();
    for op in ops.iter().filter(|op| matches!(op.f(), "read" | "final-read") && op.is_ok()) {
        let Some(completion) = op.completion else { continue };
        let Some(value) = op.value().as_i64() else {
            if malformed.len() < LIST_LIMIT {
                malformed.push(format!(
                    "op {}: {} value must be an integer, got {}",
                    completion.index,
                    op.f(),
                    op.value()
                ));
            }
            continue;
        };
        counts.reads += 1;
        let (certain_pos, certain_neg) = certain.before(op.invoke_index());
        let (possible_pos, possible_neg) = possible.before(completion.index);
        // Certain adds are a subset of possible ones (completed before r0, so invoked before r1).
        let lower = certain_pos.saturating_add(possible_neg);
        let upper = certain_neg.saturating_add(possible_pos);
        if value < lower || value > upper {
            counts.violations += 1;
            if violations.len() < LIST_LIMIT {
                violations.push(CounterViolation {
                    index: completion.index,
                    f: op.f().to_string(),
                    node: op.node().map(str::to_string),
                    value,
                    lower,
                    upper,
                    invoked_at: op.invoke_time(),
                    completed_at: completion.time,
                });
            }
        }
    }

    let (verdict, summary) = if let Some(first) = violations.first() {
        (
            Verdict::Invalid,
            format!(
                "{} of {} reads out of bounds; first: {} of {} at {} on {} not in [{}, {}]",
                counts.violations,
                counts.reads,
                first.f,
                first.value,
                format_ns(first.completed_at),
                first.node.as_deref().unwrap_or("?"),
                first.lower,
                first.upper
            ),
        )
    } else if !malformed.is_empty() {
        (Verdict::Unknown, format!("{} malformed ops skipped ({})", malformed.len(), malformed[0]))
    } else if counts.reads == 0 {
        (Verdict::Unknown, "no successful reads to check".to_string())
    } else {
        (
            Verdict::Valid,
            format!(
                "all {} reads within bounds; {} acknowledged increments sum to {}, {} attempted",
                counts.reads, counts.adds_ok, acknowledged_sum, attempted_sum
            ),
        )
    };

    CounterResult { verdict, summary, counts, acknowledged_sum, attempted_sum, violations, malformed }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::testing::{s, HistoryBuilder};
    use serde_json::json;
    use OpType::{Fail, Info, Ok as OkT};

    fn add(h: &mut HistoryBuilder, p: u64, v: i64, t: f64, kind: OpType) {
        h.op(p, "n1", "add", s(t), s(t + 0.1), kind, json!(v), json!(v));
    }

    fn read(h: &mut HistoryBuilder, p: u64, value: i64, t: f64) {
        h.op(p, "n2", "read", s(t), s(t + 0.1), OkT, json!(null), json!(value));
    }

    #[test]
    fn sequential_reads_of_the_exact_sum_are_valid() {
        let mut h = HistoryBuilder::new();
        add(&mut h, 1, 1, 0.0, OkT);
        add(&mut h, 1, 5, 1.0, OkT);
        read(&mut h, 2, 6, 2.0);
        h.op(3, "n3", "final-read", s(3.0), s(3.1), OkT, json!(null), json!(6));
        let r = check_counter(&h.build());
        assert_eq!(r.verdict, Verdict::Valid, "{}", r.summary);
        assert_eq!(r.counts.reads, 2);
        assert_eq!((r.acknowledged_sum, r.attempted_sum), (6, 6));
    }

    #[test]
    fn read_above_the_attempted_sum_is_invalid_with_bounds() {
        let mut h = HistoryBuilder::new();
        add(&mut h, 1, 2, 0.0, OkT);
        read(&mut h, 2, 3, 1.0);
        let r = check_counter(&h.build());
        assert_eq!(r.verdict, Verdict::Invalid);
        assert_eq!(r.counts.violations, 1);
        let v = &r.violations[0];
        assert_eq!((v.value, v.lower, v.upper), (3, 2, 2));
        assert_eq!(v.node.as_deref(), Some("n2"));
        assert_eq!((v.invoked_at, v.completed_at), (s(1.0), s(1.1)));
        assert!(r.summary.contains("not in [2, 2]"), "{}", r.summary);
    }

    #[test]
    fn read_below_the_acknowledged_sum_is_invalid() {
        let mut h = HistoryBuilder::new();
        add(&mut h, 1, 1, 0.0, OkT);
        add(&mut h, 1, 1, 1.0, OkT);
        read(&mut h, 2, 1, 2.0);
        let r = check_counter(&h.build());
        assert_eq!(r.verdict, Verdict::Invalid);
        assert_eq!((r.violations[0].lower, r.violations[0].upper), (2, 2));
    }

    #[test]
    fn concurrent_and_unknown_increments_widen_the_bounds() {
        let mut h = HistoryBuilder::new();
        add(&mut h, 1, 1, 0.0, OkT);
        add(&mut h, 4, 10, 0.5, Info); // may apply at any later time
                                       // An ok add of 3 concurrent with two reads.
        h.invoke(s(1.0), 1, "n1", "add", json!(3));
        read(&mut h, 2, 1, 1.1);
        read(&mut h, 3, 14, 1.3);
        h.complete(s(1.5), 1, "n1", OkT, "add", json!(3));
        read(&mut h, 2, 4, 2.0);
        read(&mut h, 2, 14, 3.0);
        let r = check_counter(&h.build());
        assert_eq!(r.verdict, Verdict::Valid, "{}", r.summary);
        // A read after the add of 3 completed that misses it is too low.
        read(&mut h, 2, 3, 4.0);
        let r = check_counter(&h.build());
        assert_eq!(r.verdict, Verdict::Invalid);
        assert_eq!((r.violations[0].lower, r.violations[0].upper), (4, 14));
    }

    #[test]
    fn failed_increments_must_not_be_seen() {
        let mut h = HistoryBuilder::new();
        add(&mut h, 1, 1, 0.0, OkT);
        add(&mut h, 1, 7, 1.0, Fail);
        read(&mut h, 2, 8, 2.0);
        let r = check_counter(&h.build());
        assert_eq!(r.verdict, Verdict::Invalid);
        assert_eq!(r.counts.adds_fail, 1);
        assert_eq!(r.attempted_sum, 1);
    }

    #[test]
    fn negative_increments_lower_the_lower_bound_only_while_uncertain() {
        let mut h = HistoryBuilder::new();
        add(&mut h, 1, 5, 0.0, OkT);
        add(&mut h, 4, -2, 0.5, Info);
        read(&mut h, 2, 3, 1.0);
        read(&mut h, 2, 5, 2.0);
        let r = check_counter(&h.build());
        assert_eq!(r.verdict, Verdict::Valid, "{}", r.summary);
        read(&mut h, 2, 2, 3.0);
        let r = check_counter(&h.build());
        assert_eq!(r.verdict, Verdict::Invalid);
        assert_eq!((r.violations[0].lower, r.violations[0].upper), (3, 5));
    }

    #[test]
    fn malformed_or_missing_reads_are_unknown() {
        let mut h = HistoryBuilder::new();
        add(&mut h, 1, 1, 0.0, OkT);
        assert_eq!(check_counter(&h.build()).verdict, Verdict::Unknown);
        h.op(2, "n2", "read", s(1.0), s(1.1), OkT, json!(null), json!([1]));
        let r = check_counter(&h.build());
        assert_eq!(r.verdict, Verdict::Unknown);
        assert_eq!(r.malformed.len(), 1);
    }
}
