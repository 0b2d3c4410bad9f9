//! Which checkers decide which workload's history, in one place: the runner (at the end of a run)
//! and `faultline check` (offline, on a stored history) both call [`check_workload`], so they
//! give the same answer. It also composes the run's results: the worst checker verdict and its
//! reason, the fault metrics, the `--expect` thresholds and throughput/latency figures.

use crate::outcome::{CheckOutcome, LatencyMs, RunResults, RunStats};
use crate::{expect, linearizable, metrics, set, Op, Verdict};
use anyhow::Result;
use indexmap::IndexMap;

/// The workloads whose histories are decided by run checkers (set / convergence, counter) rather
/// than a linearizability model.
pub const RUN_WORKLOADS: [&str; 2] = ["set", "counter"];

/// The checkers for one workload's history, plus metrics and expectations.
/// `consistency_models` are the transactional workloads' `--consistency-models` (empty: Elle's
/// default, strict-serializable); other workloads ignore them.
pub fn check_workload(
    ops: &[Op],
    workload: &str,
    expectations: &[String],
    consistency_models: &[String],
) -> Result<RunResults> {
    let mut checkers: IndexMap<String, CheckOutcome> = IndexMap::new();
    let mut set_result = None;
    let mut convergence_result = None;
    let mut ladder_result = None;
    match workload {
        "register" => {
            let mut opts = linearizable::Options::new(linearizable::ModelKind::CasRegister);
            opts.timeout = Some(std::time::Duration::from_secs(120));
            let r = linearizable::check(ops, &opts).map_err(|e| anyhow::anyhow!("linearizability checker: {e}"))?;
            let mut outcome = CheckOutcome::from_result(&r)?;
            // The failing op tied to its node and the faults active on it then.
            let failing = r.failure.as_ref().and_then(|f| f.ops.iter().find(|o| o.id == f.failing));
            if let Some(why) = failing.and_then(|o| crate::explain::explain_op(ops, o.index)) {
                outcome.details.insert("explanation".into(), why.into());
            }
            checkers.insert("linearizable".into(), outcome);
            // The consistency ladder on top: which weaker models the history still satisfies. Its
            // verdict is the linearizable rung's, so it never changes the run's.
            let l = crate::ladder::check_with_linearizable(ops, &crate::ladder::LadderOptions::new(opts), r)
                .map_err(|e| anyhow::anyhow!("consistency ladder: {e}"))?;
            checkers.insert("ladder".into(), CheckOutcome::from_result(&l)?);
            ladder_result = Some(l);
        }
        "set" => {
            let s = set::check_set(ops, &set::SetOptions::default());
            let c = crate::convergence::check_convergence(ops);
            let mut outcome = CheckOutcome::from_result(&s)?;
            // The first lost element's add tied to the node that acknowledged it and its faults.
            if let Some(why) = s.lost.first().and_then(|l| crate::explain::explain_add(ops, l.element)) {
                let missing = s.lost[0].missing_on.join(", ");
                outcome.details.insert("explanation".into(), format!("{why}; it is missing on {missing}").into());
            }
            checkers.insert("set".into(), outcome);
            let mut outcome = CheckOutcome::from_result(&c)?;
            // Each diverged node tied to what it lacks, where that was acknowledged, and its faults.
            let per_node = crate::explain::explain_divergence(ops, &c);
            if let Some(first) = per_node.first() {
                outcome.details.insert("explanation".into(), first.clone().into());
                outcome.details.insert("node_explanations".into(), per_node.into());
            }
            checkers.insert("convergence".into(), outcome);
            set_result = Some(s);
            convergence_result = Some(c);
        }
        "counter" => {
            let c = crate::counter::check_counter(ops);
            checkers.insert("counter".into(), CheckOutcome::from_result(&c)?);
        }
        "list-append" | "rw-register" => {
            checkers.insert("txn".into(), crate::txn_run::check(ops, workload, consistency_models)?);
        }
        other => anyhow::bail!("no checkers for workload {other:?}"),
    }
    let m = metrics::fault_metrics(ops, &metrics::MetricsOptions::default());
    if !expectations.is_empty() {
        let parsed = expect::parse_expectations(expectations).map_err(|e| anyhow::anyhow!("{e}"))?;
        let inputs = expect::ExpectInputs {
            metrics: Some(&m),
            set: set_result.as_ref(),
            convergence: convergence_result.as_ref(),
            ladder: ladder_result.as_ref(),
        };
        checkers.insert("expectations".into(), CheckOutcome::from_result(&expect::evaluate(&parsed, &inputs))?);
    }
    checkers.insert("metrics".into(), CheckOutcome::from_result(&m)?);

    // The run's verdict is the worst checker verdict; the reason is the summary of the first
    // checker with it (the workload's own checkers come before the metrics).
    let mut results = RunResults::from_checkers(checkers, run_stats(ops));
    if ops.is_empty() {
        results.verdict = results.verdict.max(Verdict::Unknown);
        results.reason = "the history is empty: no operation was recorded".into();
    }
    Ok(results)
}

/// Throughput and latency quantiles of the workload's operations (final reads excluded).
pub fn run_stats(ops: &[Op]) -> RunStats {
    let client_ops: Vec<_> = metrics::client_operations(ops).into_iter().filter(|o| !o.is_final()).collect();
    let mut latencies: Vec<u64> =
        client_ops.iter().filter_map(|o| o.complete_time().map(|end| end.saturating_sub(o.invoke_time()))).collect();
    latencies.sort_unstable();
    let q = |p: f64| -> Option<f64> {
        let i = ((latencies.len().checked_sub(1)?) as f64 * p).round() as usize;
        Some(latencies[i] as f64 / 1e6)
    };
    let first = client_ops.iter().map(|o| o.invoke_time()).min().unwrap_or(0);
    let last = client_ops.iter().filter_map(|o| o.complete_time()).max().unwrap_or(first);
    let span_s = (last.saturating_sub(first)) as f64 / 1e9;
    let completed = latencies.len();
    RunStats {
        ops: completed,
        ops_per_s: if span_s > 0.0 { completed as f64 / span_s } else { 0.0 },
        latency_ms: LatencyMs { p50: q(0.5), p95: q(0.95), p99: q(0.99), max: q(1.0) },
        ..RunStats::default()
    }
}
