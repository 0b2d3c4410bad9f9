//! Typed results: what one checker concludes ([`CheckOutcome`]) and what a whole run concludes
//! ([`RunResults`], stored as `results.json`).
//!
//! Every checker's own result type carries `verdict` and `summary`; [`CheckOutcome`] keeps those
//! two typed and the rest (the checker's evidence: anomalies, witnesses, counts) as details, so
//! the run can pick its worst verdict and reason without knowing each checker's shape, while the
//! JSON stays exactly the checker's own.

use crate::Verdict;
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One checker's conclusion. Serialises flat: `{"verdict": .., "summary": .., <details>}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckOutcome {
    pub verdict: Verdict,
    pub summary: String,
    #[serde(flatten)]
    pub details: Map<String, Value>,
}

impl CheckOutcome {
    /// From a checker's result, which must serialise to an object with `verdict` and `summary`.
    pub fn from_result<T: Serialize>(result: &T) -> anyhow::Result<Self> {
        let value = serde_json::to_value(result)?;
        serde_json::from_value(value).map_err(|e| anyhow::anyhow!("a checker's result lacks verdict or summary: {e}"))
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

    #[test]
    fn a_checker_result_keeps_its_fields_flat() {
        let c = CheckOutcome::from_result(&json!({"verdict": "invalid", "summary": "lost 2", "lost": [1, 2]})).unwrap();
        assert_eq!(c.verdict, Verdict::Invalid);
        assert_eq!(c.details["lost"], json!([1, 2]));
        assert_eq!(
            serde_json::to_value(&c).unwrap(),
            json!({"verdict": "invalid", "summary": "lost 2", "lost": [1, 2]})
        );
        assert!(CheckOutcome::from_result(&json!({"summary": "no verdict"})).is_err());
    }

    #[test]
    fn the_reason_is_the_first_checker_with_the_worst_verdict_and_degrade_never_raises() {
        let mut checkers = IndexMap::new();
        checkers.insert("set".to_string(), outcome(Verdict::Valid, "all there"));
        checkers.insert("convergence".to_string(), outcome(Verdict::Unknown, "no final reads"));
        checkers.insert("metrics".to_string(), outcome(Verdict::Unknown, "no faults"));
        let mut r = RunResults::from_checkers(checkers, RunStats::default());
        assert_eq!((r.verdict, r.reason.as_str()), (Verdict::Unknown, "convergence: no final reads"));
        r.degrade("healing failed".into());
        assert_eq!(r.verdict, Verdict::Unknown);
        assert_eq!(r.reason, "convergence: no final reads (also: healing failed)");

        let mut ok = RunResults::from_checkers(
            [("counter".to_string(), outcome(Verdict::Valid, "ok"))].into_iter().collect(),
            RunStats::default(),
        );
        ok.degrade("the run stopped early".into());
        assert_eq!((ok.verdict, ok.reason.as_str()), (Verdict::Unknown, "the run stopped early"));
        let back: RunResults = serde_json::from_value(serde_json::to_value(&ok).unwrap()).unwrap();
        assert_eq!(back, ok);
    }
}
