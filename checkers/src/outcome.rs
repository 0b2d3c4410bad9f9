//! Typed results: what one checker concludes ([`CheckOutcome`]) and what a whole run concludes
//! ([`RunResults`], stored as `results.json`).
//!
//! The checker contract: every checker's own result type implements [`CheckerResult`] (which
//! [`Checker`] it is, its verdict and its summary). [`CheckOutcome`] keeps those two typed and the
//! rest (the checker's evidence: anomalies, witnesses, counts) as details, so the run can pick
//! its worst verdict and reason without knowing each checker's shape, while the JSON stays
//! exactly the checker's own. results.json keys each outcome by its checker's name, and the
//! report turns the key back into a [`Checker`] to choose its view.

use crate::Verdict;
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Every checker a run's results can hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Checker {
    /// Linearizability of a register history (Knossos's, Porcupine's question).
    Linearizable,
    /// The consistency ladder over a register history.
    Ladder,
    /// Lost and stale elements of a set (Jepsen's set-full).
    Set,
    /// Whether the nodes' final reads agree.
    Convergence,
    /// A counter's reads within the bounds of the adds.
    Counter,
    /// A bank's reads: every balance read sums to the initial total, none overdrawn.
    Bank,
    /// Every acknowledged id distinct.
    UniqueIds,
    /// Elle's transactional checker (list-append, rw-register).
    Txn,
    /// `--expect` thresholds.
    Expectations,
    /// Availability, detection and recovery around the faults.
    Metrics,
    /// A checker of an extension (docs/extending.md): results.json keys it by this name and the
    /// report shows its result with the generic view.
    Other(&'static str),
}

impl Checker {
    /// faultline's own checkers, each with a view of its own in the report.
    pub const ALL: [Checker; 10] = [
        Checker::Linearizable,
        Checker::Ladder,
        Checker::Set,
        Checker::Convergence,
        Checker::Counter,
        Checker::Bank,
        Checker::UniqueIds,
        Checker::Txn,
        Checker::Expectations,
        Checker::Metrics,
    ];

    /// Its key in results.json.
    pub fn name(self) -> &'static str {
        match self {
            Checker::Linearizable => "linearizable",
            Checker::Ladder => "ladder",
            Checker::Set => "set",
            Checker::Convergence => "convergence",
            Checker::Counter => "counter",
            Checker::Bank => "bank",
            Checker::UniqueIds => "unique-ids",
            Checker::Txn => "txn",
            Checker::Expectations => "expectations",
            Checker::Metrics => "metrics",
            Checker::Other(name) => name,
        }
    }

    /// Which of faultline's own checkers a results key names: faultline's names, and the ones
    /// Jepsen's results use for the same checkers (`linearizability`, `set-full`, `expect`);
    /// `None` for any other checker.
    pub fn from_name(name: &str) -> Option<Checker> {
        match name {
            "linearizability" => Some(Checker::Linearizable),
            "set-full" => Some(Checker::Set),
            "expect" => Some(Checker::Expectations),
            other => Checker::ALL.into_iter().find(|c| c.name() == other),
        }
    }
}

/// What every checker's result type promises: which checker it is, its verdict and a summary in
/// words. The rest of its fields are its evidence, kept as they serialise.
pub trait CheckerResult: Serialize {
    const CHECKER: Checker;
    fn verdict(&self) -> Verdict;
    fn summary(&self) -> &str;
}

/// A checker result type whose `verdict` and `summary` are plain fields.
#[macro_export]
macro_rules! checker_result {
    ($ty:ty, $checker:expr) => {
        impl $crate::outcome::CheckerResult for $ty {
            const CHECKER: $crate::outcome::Checker = $checker;
            fn verdict(&self) -> $crate::Verdict {
                self.verdict
            }
            fn summary(&self) -> &str {
                &self.summary
            }
        }
    };
}

/// One checker's conclusion. Serialises flat: `{"verdict": .., "summary": .., <details>}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckOutcome {
    pub verdict: Verdict,
    pub summary: String,
    #[serde(flatten)]
    pub details: Map<String, Value>,
}

impl CheckOutcome {
    /// From a checker's result: its verdict and summary, and every other field as details.
    pub fn from_result<T: CheckerResult>(result: &T) -> anyhow::Result<Self> {
        let mut details = match serde_json::to_value(result)? {
            Value::Object(m) => m,
            other => anyhow::bail!("the {} checker's result is not an object: {other}", T::CHECKER.name()),
        };
        // shift_remove keeps the evidence in the order the checker wrote it.
        details.shift_remove("verdict");
        details.shift_remove("summary");
        Ok(CheckOutcome { verdict: result.verdict(), summary: result.summary().to_string(), details })
    }
}

/// Latency quantiles in milliseconds; `None` when no operation completed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencyMs {
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
    pub max: Option<f64>,
}

/// Throughput and latency of the workload's operations, plus what the runner adds about itself.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunStats {
    /// Completed client operations (final reads excluded).
    pub ops: usize,
    pub ops_per_s: f64,
    /// Latency quantiles of the successful operations.
    pub latency_ms: LatencyMs,
    /// The harness's own CPU share over the run, in cores (set by the runner, not by `check`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub harness_cpu_cores: Option<f64>,
    /// The run's wall-clock time in seconds (set by the runner).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wall_s: Option<f64>,
    /// The harness's own memory and descriptors over the run, sampled every 10 s (set by the
    /// runner): flat memory and a steady descriptor count say nothing leaks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub harness_samples: Vec<HarnessSample>,
}

/// One sample of the harness process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HarnessSample {
    /// Seconds since the run started.
    pub t_s: f64,
    /// Resident memory, MB.
    pub rss_mb: f64,
    /// Open file descriptors (sockets to the nodes' ssh masters among them).
    pub fds: u64,
    pub threads: u64,
}

/// A run's conclusion: the worst checker verdict, the reason (that checker's summary), every
/// checker's outcome in the order they ran, and the run's figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunResults {
    pub verdict: Verdict,
    pub reason: String,
    pub checkers: IndexMap<String, CheckOutcome>,
    pub stats: RunStats,
    /// The run's own failure, when it stopped early.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl RunResults {
    /// The worst verdict among `checkers`, with the summary of the first checker that has it.
    pub fn from_checkers(checkers: IndexMap<String, CheckOutcome>, stats: RunStats) -> Self {
        let verdict = checkers.values().map(|c| c.verdict).max().unwrap_or(Verdict::Unknown);
        let reason = checkers
            .iter()
            .find(|(_, c)| c.verdict == verdict)
            .map(|(name, c)| format!("{name}: {}", c.summary))
            .unwrap_or_default();
        RunResults { verdict, reason, checkers, stats, error: None }
    }

    /// Lower the verdict to `unknown` (never raise it): an invalid history stays invalid whatever
    /// else went wrong, but a valid one cannot pass when the run itself did not finish cleanly.
    pub fn degrade(&mut self, why: String) {
        if self.verdict == Verdict::Valid {
            self.verdict = Verdict::Unknown;
            self.reason = why;
        } else {
            self.reason = format!("{} (also: {why})", self.reason);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn outcome(verdict: Verdict, summary: &str) -> CheckOutcome {
        CheckOutcome { verdict, summary: summary.into(), details: Map::new() }
    }

    #[derive(Serialize)]
    struct Lost {
        verdict: Verdict,
        summary: String,
        lost: Vec<i64>,
    }
    crate::checker_result!(Lost, Checker::Set);

    #[test]
    fn checker_names_round_trip_and_take_jepsens_names() {
        for c in Checker::ALL {
            assert_eq!(Checker::from_name(c.name()), Some(c));
        }
        assert_eq!(Checker::from_name("set-full"), Some(Checker::Set));
        assert_eq!(Checker::from_name("nemesis"), None);
    }

    #[test]
    fn a_checker_result_keeps_its_fields_flat() {
        let lost = Lost { verdict: Verdict::Invalid, summary: "lost 2".into(), lost: vec![1, 2] };
        let c = CheckOutcome::from_result(&lost).unwrap();
        assert_eq!(c.verdict, Verdict::Invalid);
        assert_eq!(c.details["lost"], json!([1, 2]));
        assert_eq!(
            serde_json::to_value(&c).unwrap(),
            json!({"verdict": "invalid", "summary": "lost 2", "lost": [1, 2]})
        );
    }

    #[test]
    fn the_reason_is_the_first_checker_with_the_worst_verdict_and_degrade_never_raises() {
        let mut checkers = IndexMap::new();
        checkers.insert(Checker::Set.name().to_string(), outcome(Verdict::Valid, "all there"));
        checkers.insert(Checker::Convergence.name().to_string(), outcome(Verdict::Unknown, "no final reads"));
        checkers.insert(Checker::Metrics.name().to_string(), outcome(Verdict::Unknown, "no faults"));
        let mut r = RunResults::from_checkers(checkers, RunStats::default());
        assert_eq!((r.verdict, r.reason.as_str()), (Verdict::Unknown, "convergence: no final reads"));
        r.degrade("healing failed".into());
        assert_eq!(r.verdict, Verdict::Unknown);
        assert_eq!(r.reason, "convergence: no final reads (also: healing failed)");

        let mut ok = RunResults::from_checkers(
            [(Checker::Counter.name().to_string(), outcome(Verdict::Valid, "ok"))].into_iter().collect(),
            RunStats::default(),
        );
        ok.degrade("the run stopped early".into());
        assert_eq!((ok.verdict, ok.reason.as_str()), (Verdict::Unknown, "the run stopped early"));
        let back: RunResults = serde_json::from_value(serde_json::to_value(&ok).unwrap()).unwrap();
        assert_eq!(back, ok);
    }
}
