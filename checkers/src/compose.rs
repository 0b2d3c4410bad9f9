//! A run's results from what its workload's checkers found: the worst checker verdict and its
//! reason, the fault metrics, the `--expect` thresholds and throughput/latency figures. Which
//! checkers decide a workload is the workload's own business (`faultline_workloads`); this is
//! the part every workload shares, so that the runner and `faultline check` compose alike.

use crate::convergence::ConvergenceResult;
use crate::ladder::LadderResult;
use crate::outcome::{CheckOutcome, Checker, CheckerResult, LatencyMs, RunResults, RunStats};
use crate::set::SetResult;
use crate::{expect, metrics, Op, Verdict};
use anyhow::Result;
use indexmap::IndexMap;

/// What a workload's checkers found, by checker name in report order, with the typed results
/// that `--expect` thresholds can refer to.
#[derive(Debug, Default)]
pub struct Checked {
    pub checkers: IndexMap<String, CheckOutcome>,
    /// The set checker's result (`lost`, `stale`).
    pub set: Option<SetResult>,
    /// The convergence checker's result (`diverged`).
    pub convergence: Option<ConvergenceResult>,
    /// The consistency ladder's result (`model>=M`).
    pub ladder: Option<LadderResult>,
}

impl Checked {
    /// Add a checker's outcome under its checker's name; returns it, to add details (an
    /// explanation) to.
    pub fn add<T: CheckerResult>(&mut self, result: &T) -> Result<&mut CheckOutcome> {
        Ok(self.insert(T::CHECKER, CheckOutcome::from_result(result)?))
    }

    /// Add an outcome built by hand (a checker that adds run facts to its result).
    pub fn insert(&mut self, checker: Checker, outcome: CheckOutcome) -> &mut CheckOutcome {
        let (i, _) = self.checkers.insert_full(checker.name().to_string(), outcome);
        &mut self.checkers[i]
    }
}

/// The run's results: the workload's checkers, then the expectations and the fault metrics.
/// The run's verdict is the worst checker verdict; the reason is the summary of the first
/// checker with it (the workload's own checkers come before the metrics).
pub fn compose(ops: &[Op], checked: Checked, expectations: &[String]) -> Result<RunResults> {
    let mut checked = checked;
    let m = metrics::fault_metrics(ops, &metrics::MetricsOptions::default());
    if !expectations.is_empty() {
        let parsed = expect::parse_expectations(expectations).map_err(|e| anyhow::anyhow!("{e}"))?;
        let inputs = expect::ExpectInputs {
            metrics: Some(&m),
            set: checked.set.as_ref(),
            convergence: checked.convergence.as_ref(),
            ladder: checked.ladder.as_ref(),
        };
        let result = expect::evaluate(&parsed, &inputs);
        checked.add(&result)?;
    }
    checked.add(&m)?;
    let mut results = RunResults::from_checkers(checked.checkers, run_stats(ops));
    if ops.is_empty() {
        results.verdict = results.verdict.max(Verdict::Unknown);
        results.reason = "the history is empty: no operation was recorded".into();
    }
    Ok(results)
}

/// Throughput of the workload's completed operations (final reads excluded) and the latency
/// quantiles of its successful ones (a refused connection answers fast and would flatter them).
pub fn run_stats(ops: &[Op]) -> RunStats {
    let client_ops: Vec<_> = metrics::client_operations(ops).into_iter().filter(|o| !o.is_final()).collect();
    let completed = client_ops.iter().filter(|o| o.complete_time().is_some()).count();
    let mut latencies: Vec<u64> = client_ops
        .iter()
        .filter(|o| o.is_ok())
        .filter_map(|o| o.complete_time().map(|end| end.saturating_sub(o.invoke_time())))
        .collect();
    latencies.sort_unstable();
    let q = |p: f64| -> Option<f64> {
        let i = ((latencies.len().checked_sub(1)?) as f64 * p).round() as usize;
        Some(latencies[i] as f64 / 1e6)
    };
    let first = client_ops.iter().map(|o| o.invoke_time()).min().unwrap_or(0);
    let last = client_ops.iter().filter_map(|o| o.complete_time()).max().unwrap_or(first);
    let span_s = (last.saturating_sub(first)) as f64 / 1e9;
    RunStats {
        ops: completed,
        ops_per_s: if span_s > 0.0 { completed as f64 / span_s } else { 0.0 },
        latency_ms: LatencyMs { p50: q(0.5), p95: q(0.95), p99: q(0.99), max: q(1.0) },
        ..RunStats::default()
    }
}
