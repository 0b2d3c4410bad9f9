//! Which checkers decide which workload's history, in one place: the runner (at the end of a run)
//! and `faultline check` (offline, on a stored history) both call [`check_workload`], so they
//! give the same answer. It also composes the run's results: the worst checker verdict and its
//! reason, the fault metrics, the `--expect` thresholds and throughput/latency figures.

use crate::{expect, linearizable, metrics, set, Op, Verdict};
use anyhow::Result;
use serde_json::{json, Value};

/// The workloads whose histories are decided by run checkers (set / convergence, counter) rather
/// than a linearizability model.
pub const RUN_WORKLOADS: [&str; 2] = ["set", "counter"];

/// The checkers for one workload's history, plus metrics and expectations.
pub fn check_workload(ops: &[Op], workload: &str, expectations: &[String]) -> Result<Value> {
    let mut checkers = serde_json::Map::new();
    let mut set_result = None;
    let mut convergence_result = None;
    match workload {
        "register" => {
            let mut opts = linearizable::Options::new(linearizable::ModelKind::CasRegister);
            opts.timeout = Some(std::time::Duration::from_secs(120));
            let r = linearizable::check(ops, &opts).map_err(|e| anyhow::anyhow!("linearizability checker: {e}"))?;
            checkers.insert("linearizable".into(), serde_json::to_value(&r)?);
        }
        "set" => {
            let s = set::check_set(ops, &set::SetOptions::default());
            let c = crate::convergence::check_convergence(ops);
            checkers.insert("set".into(), serde_json::to_value(&s)?);
            checkers.insert("convergence".into(), serde_json::to_value(&c)?);
            set_result = Some(s);
            convergence_result = Some(c);
        }
        "counter" => {
            let c = crate::counter::check_counter(ops);
            checkers.insert("counter".into(), serde_json::to_value(&c)?);
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
        };
        checkers.insert("expectations".into(), serde_json::to_value(expect::evaluate(&parsed, &inputs))?);
    }
    checkers.insert("metrics".into(), serde_json::to_value(&m)?);

    // The run's verdict is the worst checker verdict; the reason is that checker's summary.
    let verdict_of_checker =
        |r: &Value| serde_json::from_value::<Verdict>(r["verdict"].clone()).unwrap_or(Verdict::Unknown);
    let mut verdict = checkers.values().map(verdict_of_checker).max().unwrap_or(Verdict::Unknown);
    // The reason is the summary of the first checker with the worst verdict (the workload's own
    // checkers come before the metrics).
    let mut reason = checkers
        .iter()
        .find(|(_, r)| verdict_of_checker(r) == verdict)
        .map(|(name, r)| format!("{name}: {}", r["summary"].as_str().unwrap_or("")))
        .unwrap_or_default();
    if ops.is_empty() {
        verdict = verdict.max(Verdict::Unknown);
        reason = "the history is empty: no operation was recorded".into();
    }
    Ok(json!({ "verdict": verdict, "reason": reason, "checkers": Value::Object(checkers), "stats": run_stats(ops) }))
}

/// Throughput and latency quantiles of the workload's operations (final reads excluded).
pub fn run_stats(ops: &[Op]) -> Value {
    let client_ops: Vec<_> = metrics::client_operations(ops).into_iter().filter(|o| !o.is_final()).collect();
    let mut latencies: Vec<u64> =
        client_ops.iter().filter_map(|o| o.complete_time().map(|end| end.saturating_sub(o.invoke_time()))).collect();
    latencies.sort_unstable();
    let q = |p: f64| -> Value {
        if latencies.is_empty() {
            return Value::Null;
        }
        let i = ((latencies.len() - 1) as f64 * p).round() as usize;
        json!(latencies[i] as f64 / 1e6)
    };
    let first = client_ops.iter().map(|o| o.invoke_time()).min().unwrap_or(0);
    let last = client_ops.iter().filter_map(|o| o.complete_time()).max().unwrap_or(first);
    let span_s = (last.saturating_sub(first)) as f64 / 1e9;
    let completed = latencies.len();
    json!({
        "ops": completed,
        "ops_per_s": if span_s > 0.0 { completed as f64 / span_s } else { 0.0 },
        "latency_ms": { "p50": q(0.5), "p95": q(0.95), "p99": q(0.99), "max": q(1.0) },
    })
}

/// Lower a result to `unknown` (never raise it): an invalid history stays invalid whatever else
/// went wrong, but a valid one cannot pass when the run itself did not finish cleanly.
pub fn degrade(results: &mut Value, why: String) {
    let current: Verdict = serde_json::from_value(results["verdict"].clone()).unwrap_or(Verdict::Unknown);
    if current == Verdict::Valid {
        results["verdict"] = json!(Verdict::Unknown);
        results["reason"] = json!(why);
    } else {
        let r = results["reason"].as_str().unwrap_or("").to_string();
        results["reason"] = json!(format!("{r} (also: {why})"));
    }
}

pub fn verdict_of(results: &Value) -> Verdict {
    serde_json::from_value(results["verdict"].clone()).unwrap_or(Verdict::Unknown)
}
