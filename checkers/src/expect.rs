//! `--expect` thresholds: service-level expectations checked against a run's results.
//!
//! An expectation is `<metric><operator><value>`, e.g. `availability>=0.99`, `recovery<=10s`,
//! `lost==0`, with operators `>= <= == != < >` and optional spaces. Values by metric kind:
//! fractions are numbers in [0, 1] or percentages (`99%`), durations are humantime (`10s`,
//! `500ms`, `1m 30s`, or a bare `0`), counts are whole numbers.
//!
//! Metrics (see `METRICS`); the fault metrics summarise several windows by the **worst** window:
//! - `availability`: overall workload availability; `window_availability`: the lowest inside a
//!   fault window;
//! - `detection`, `recovery`, `recovery90`: the largest over the fault windows. A healed window that
//!   never recovered breaks a `recovery` (resp. `recovery90`) expectation whatever the threshold;
//!   windows never healed have no recovery and are skipped;
//! - `outage`: the longest stretch without a success on any node;
//! - `converge` (time to converge after the heal) and `divergence`, from the convergence checker;
//!   a run whose final states differ breaks `converge`;
//! - `lost`, `unexpected`, `recovered`, `stale` (elements with stale reads): set checker counts;
//! - `model>=M`: the consistency ladder's rung M holds (`causal`, `sequential`, `read-your-writes`,
//!   ...; see `ladder::MODELS`, with `cc`, `ccv`, `cm` and `eventual` as aliases). Only `>=`: the
//!   models are partially ordered, and a rung that holds is what the expectation asks for.
//!
//! Each expectation ends `kept`, `broken` (the run is invalid, and the message says by how much), or
//! `unmeasured` when the run has no such number (no fault windows, no set workload...; the verdict
//! is then at best unknown).

use crate::convergence::ConvergenceResult;
use crate::metrics::{format_ns, MetricsResult};
use crate::set::SetResult;
use crate::Verdict;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// What kind of number a metric is, which decides how thresholds are written and shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    Fraction,
    Duration,
    Count,
    /// A consistency model of the ladder (the threshold is its index in `ladder::MODELS`).
    Model,
}

impl MetricKind {
    fn as_str(self) -> &'static str {
        match self {
            MetricKind::Fraction => "fraction",
            MetricKind::Duration => "duration",
            MetricKind::Count => "count",
            MetricKind::Model => "consistency model",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    Availability,
    WindowAvailability,
    Detection,
    Recovery,
    Recovery90,
    Outage,
    Converge,
    Divergence,
    Lost,
    Unexpected,
    Recovered,
    Stale,
    Model,
}

/// Every metric an expectation may name, with its kind.
pub const METRICS: &[(&str, Metric, MetricKind)] = &[
    ("availability", Metric::Availability, MetricKind::Fraction),
    ("window_availability", Metric::WindowAvailability, MetricKind::Fraction),
    ("detection", Metric::Detection, MetricKind::Duration),
    ("recovery", Metric::Recovery, MetricKind::Duration),
    ("recovery90", Metric::Recovery90, MetricKind::Duration),
    ("outage", Metric::Outage, MetricKind::Duration),
    ("converge", Metric::Converge, MetricKind::Duration),
    ("divergence", Metric::Divergence, MetricKind::Fraction),
    ("lost", Metric::Lost, MetricKind::Count),
    ("unexpected", Metric::Unexpected, MetricKind::Count),
    ("recovered", Metric::Recovered, MetricKind::Count),
    ("stale", Metric::Stale, MetricKind::Count),
    ("model", Metric::Model, MetricKind::Model),
];

/// A ladder model named in `model>=M`: its index in `ladder::MODELS`.
fn model_index(name: &str) -> Option<usize> {
    let name = name.trim().to_ascii_lowercase().replace('_', "-");
    let name = match name.as_str() {
        "cc" | "causal-consistency" => "causal",
        "ccv" => "causal-convergence",
        "cm" => "causal-memory",
        "eventual" | "eventual-consistency" => "convergence",
        "strong" | "linearizability" => "linearizable",
        "sequential-consistency" => "sequential",
        other => other,
    };
    crate::ladder::MODELS.iter().position(|m| *m == name)
}

impl Metric {
    fn entry(self) -> &'static (&'static str, Metric, MetricKind) {
        METRICS.iter().find(|(_, m, _)| *m == self).expect("every metric is listed in METRICS")
    }

    pub fn name(self) -> &'static str {
        self.entry().0
    }

    pub fn kind(self) -> MetricKind {
        self.entry().2
    }

    /// Look a metric up by name; case, `-` versus `_`, and `recovery_90` are forgiven.
    pub fn from_name(name: &str) -> Option<Metric> {
        let normal = name.trim().to_ascii_lowercase().replace('-', "_");
        let normal = if normal == "recovery_90" { "recovery90".to_string() } else { normal };
        METRICS.iter().find(|(n, _, _)| *n == normal).map(|(_, m, _)| *m)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    AtLeast,
    AtMost,
    Equal,
    NotEqual,
    Less,
    Greater,
}

impl Comparison {
    pub fn symbol(self) -> &'static str {
        match self {
            Comparison::AtLeast => ">=",
            Comparison::AtMost => "<=",
            Comparison::Equal => "==",
            Comparison::NotEqual => "!=",
            Comparison::Less => "<",
            Comparison::Greater => ">",
        }
    }

    /// The symbol that holds when this comparison does not.
    fn negated_symbol(self) -> &'static str {
        match self {
            Comparison::AtLeast => "<",
            Comparison::AtMost => ">",
            Comparison::Equal => "!=",
            Comparison::NotEqual => "==",
            Comparison::Less => ">=",
            Comparison::Greater => "<=",
        }
    }

    fn holds(self, actual: f64, threshold: f64) -> bool {
        match self {
            Comparison::AtLeast => actual >= threshold,
            Comparison::AtMost => actual <= threshold,
            Comparison::Equal => actual == threshold,
            Comparison::NotEqual => actual != threshold,
            Comparison::Less => actual < threshold,
            Comparison::Greater => actual > threshold,
        }
    }
}

/// A parsed `--expect` string.
#[derive(Debug, Clone, PartialEq)]
pub struct Expectation {
    /// The text as given (trimmed).
    pub text: String,
    pub metric: Metric,
    pub comparison: Comparison,
    /// In the metric's unit: a fraction, ns, or a count.
    pub threshold: f64,
    /// The threshold as written, for messages.
    pub threshold_text: String,
}

/// Why an expectation string could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectError {
    pub expectation: String,
    pub problem: String,
}

impl fmt::Display for ExpectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let known: Vec<String> = METRICS.iter().map(|(n, _, k)| format!("{n} ({})", k.as_str())).collect();
        write!(
            f,
            "bad expectation {:?}: {}. Write <metric><op><value> with op one of >= <= == != < >, e.g. \
             availability>=0.99 or recovery<=10s; known metrics: {}",
            self.expectation,
            self.problem,
            known.join(", ")
        )
    }
}

impl std::error::Error for ExpectError {}

impl FromStr for Expectation {
    type Err = ExpectError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_expectation(s)
    }
}

impl fmt::Display for Expectation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Parse one expectation such as `availability>=0.99`.
pub fn parse_expectation(input: &str) -> Result<Expectation, ExpectError> {
    let text = input.trim();
    let error = |problem: String| ExpectError { expectation: text.to_string(), problem };
    if text.is_empty() {
        return Err(error("it is empty".to_string()));
    }
    let Some(at) = text.find(['<', '>', '=', '!']) else {
        return Err(error("there is no comparison operator".to_string()));
    };
    let (name, rest) = text.split_at(at);
    let (comparison, value) = match rest.get(..2) {
        Some(">=") => (Comparison::AtLeast, &rest[2..]),
        Some("<=") => (Comparison::AtMost, &rest[2..]),
        Some("==") => (Comparison::Equal, &rest[2..]),
        Some("!=") => (Comparison::NotEqual, &rest[2..]),
        _ if rest.starts_with('<') => (Comparison::Less, &rest[1..]),
        _ if rest.starts_with('>') => (Comparison::Greater, &rest[1..]),
        _ if rest.starts_with('=') => return Err(error("a single '=' is not an operator; use ==".to_string())),
        _ => return Err(error("'!' must be followed by '=' (!=)".to_string())),
    };
    let name = name.trim();
    if name.is_empty() {
        return Err(error("the metric name before the operator is missing".to_string()));
    }
    let Some(metric) = Metric::from_name(name) else {
        return Err(error(format!("unknown metric {name:?}")));
    };
    let value = value.trim();
    if value.is_empty() {
        return Err(error(format!("there is no value after {}", comparison.symbol())));
    }
    if value.contains(['<', '>', '=', '!']) {
        return Err(error(format!("the value {value:?} contains a second operator")));
    }
    if metric == Metric::Model && comparison != Comparison::AtLeast {
        return Err(error("a model is expected with >= (model>=causal): models are not totally ordered".into()));
    }
    let threshold = parse_threshold(metric, value).map_err(error)?;
    Ok(Expectation { text: text.to_string(), metric, comparison, threshold, threshold_text: value.to_string() })
}

/// Parse every expectation, stopping at the first bad one.
pub fn parse_expectations<S: AsRef<str>>(inputs: &[S]) -> Result<Vec<Expectation>, ExpectError> {
    inputs.iter().map(|s| parse_expectation(s.as_ref())).collect()
}

fn parse_threshold(metric: Metric, value: &str) -> Result<f64, String> {
    let name = metric.name();
    match metric.kind() {
        MetricKind::Fraction => {
            let (number, scale) = match value.strip_suffix('%') {
                Some(percent) => (percent.trim(), 100.0),
                None => (value, 1.0),
            };
            let bad = || format!("{name} is a fraction between 0 and 1 (or a percentage like 99%), got {value:?}");
            let x: f64 = number.parse().map_err(|_| bad())?;
            let x = x / scale;
            if !(0.0..=1.0).contains(&x) {
                return Err(bad());
            }
            Ok(x)
        }
        MetricKind::Duration => {
            if value == "0" {
                return Ok(0.0);
            }
            let d = humantime::parse_duration(value).map_err(|e| {
                format!("{name} is a duration like 10s, 500ms or 1m 30s, but {value:?} is not one ({e})")
            })?;
            Ok(d.as_nanos() as f64)
        }
        MetricKind::Count => value
            .parse::<u64>()
            .map(|n| n as f64)
            .map_err(|_| format!("{name} is a count (a whole number like 0 or 3), got {value:?}")),
        MetricKind::Model => model_index(value).map(|i| i as f64).ok_or_else(|| {
            format!("unknown model {value:?}; known: {} (and cc, ccv, cm, eventual)", crate::ladder::MODELS.join(", "))
        }),
    }
}

/// What an expectation is evaluated against; absent results make their metrics unmeasured.
#[derive(Debug, Clone, Copy, Default)]
pub struct ExpectInputs<'a> {
    pub metrics: Option<&'a MetricsResult>,
    pub set: Option<&'a SetResult>,
    pub convergence: Option<&'a ConvergenceResult>,
    /// The consistency ladder (register runs), for `model>=M`.
    pub ladder: Option<&'a crate::ladder::LadderResult>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExpectStatus {
    Kept,
    Broken,
    Unmeasured,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExpectationResult {
    pub expect: String,
    /// The measured value in the metric's unit (fraction, ns, count); `null` when there is none.
    pub actual: Option<f64>,
    /// "fraction", "ns" or "count".
    pub unit: String,
    pub ok: bool,
    pub status: ExpectStatus,
    pub message: String,
}

/// The expectations' result (`checkers.expect` in results.json).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExpectResult {
    pub verdict: Verdict,
    pub summary: String,
    pub results: Vec<ExpectationResult>,
}

crate::checker_result!(ExpectResult, crate::outcome::Checker::Expectations);

/// A metric's measured value, or why there is none / why it is broken regardless of a threshold.
enum Measured {
    Value(f64),
    /// The run has no such number.
    Missing(String),
    /// The metric failed outright (never recovered, never converged).
    Failed(String),
}

fn measure(metric: Metric, inputs: &ExpectInputs<'_>) -> Measured {
    use Measured::*;
    let no_metrics = || Missing("no fault metrics for this run".to_string());
    let no_set = || Missing("no set checker result for this run".to_string());
    let no_convergence = || Missing("no convergence result for this run".to_string());
    let ns = |v: Option<u64>| v.map(|v| v as f64);
    match metric {
        Metric::Availability => match inputs.metrics {
            None => no_metrics(),
            Some(m) => m.availability.map_or_else(|| Missing("no completed workload operations".into()), Value),
        },
        Metric::WindowAvailability => match inputs.metrics {
            None => no_metrics(),
            Some(m) if m.windows.is_empty() => Missing("no fault windows".into()),
            Some(m) => m
                .window_availability
                .map_or_else(|| Missing("no operation completed inside a fault window".into()), Value),
        },
        Metric::Detection => match inputs.metrics {
            None => no_metrics(),
            Some(m) if m.windows.is_empty() => Missing("no fault windows".into()),
            Some(m) => ns(m.detection_ns)
                .map_or_else(|| Missing("no client operation failed or timed out during any fault".into()), Value),
        },
        Metric::Recovery => match inputs.metrics {
            None => no_metrics(),
            Some(m) if !m.unrecovered.is_empty() => Failed(m.unrecovered.join("; ")),
            Some(m) if m.windows.is_empty() => Missing("no fault windows".into()),
            Some(m) => ns(m.recovery_ns).map_or_else(|| Missing("no fault window was healed".into()), Value),
        },
        Metric::Recovery90 => match inputs.metrics {
            None => no_metrics(),
            Some(m) if !m.unrecovered_90.is_empty() => {
                Failed(format!("throughput never got back to the pre-fault level in {}", m.unrecovered_90.join("; ")))
            }
            Some(m) if m.windows.is_empty() => Missing("no fault windows".into()),
            Some(m) => ns(m.recovery_90_ns).map_or_else(
                || Missing("no window had a throughput baseline and workload after its heal".into()),
                Value,
            ),
        },
        Metric::Outage => match inputs.metrics {
            None => no_metrics(),
            Some(m) => ns(m.longest_outage_ns.values().copied().max())
                .map_or_else(|| Missing("no client operations".into()), Value),
        },
        Metric::Converge => match inputs.convergence {
            None => no_convergence(),
            Some(c) if !c.differences.is_empty() => Failed(format!("never converged: {}", c.summary)),
            Some(c) => ns(c.time_to_converge_ns).map_or_else(|| Missing(c.summary.clone()), Value),
        },
        Metric::Divergence => match inputs.convergence {
            None => no_convergence(),
            Some(c) if c.final_reads == 0 => Missing(c.summary.clone()),
            Some(c) => Value(c.divergence),
        },
        Metric::Lost => inputs.set.map_or_else(no_set, |s| Value(s.counts.lost as f64)),
        Metric::Unexpected => inputs.set.map_or_else(no_set, |s| Value(s.counts.unexpected as f64)),
        Metric::Recovered => inputs.set.map_or_else(no_set, |s| Value(s.counts.recovered as f64)),
        Metric::Stale => inputs.set.map_or_else(no_set, |s| Value(s.counts.stale as f64)),
        Metric::Model => unreachable!("model expectations are evaluated by model_expectation"),
    }
}

/// A value of a metric for people.
fn show(kind: MetricKind, x: f64) -> String {
    match kind {
        MetricKind::Fraction if x == 0.0 || x.abs() >= 0.001 => format!("{x:.3}"),
        MetricKind::Fraction => format!("{x:.2e}"),
        MetricKind::Duration => format_ns(x.max(0.0).round() as u64),
        MetricKind::Count => format!("{}", x.round() as i64),
        MetricKind::Model => crate::ladder::MODELS.get(x as usize).copied().unwrap_or("?").to_string(),
    }
}

/// `model>=M`: kept when the ladder's rung M holds, broken when it is broken (with the
/// witness's sentence), unmeasured otherwise (no ladder, the rung does not apply or is unknown).
fn model_expectation(expectation: &Expectation, inputs: &ExpectInputs<'_>) -> (ExpectStatus, String) {
    use crate::ladder::Status;
    let model = crate::ladder::MODELS.get(expectation.threshold as usize).copied().unwrap_or("?");
    let Some(ladder) = inputs.ladder else {
        return (ExpectStatus::Unmeasured, "model: not measured (no consistency ladder for this run)".to_string());
    };
    let strongest = ladder.strongest.join(", ");
    match ladder.rung(model) {
        Some(r) if r.status == Status::Holds => {
            (ExpectStatus::Kept, format!("model: {model} holds (strongest holding: {strongest})"))
        }
        Some(r) if r.status == Status::Broken => (
            ExpectStatus::Broken,
            format!(
                "model: {model} is broken: {} (strongest holding: {})",
                r.reason,
                if strongest.is_empty() { "none" } else { &strongest }
            ),
        ),
        Some(r) => (ExpectStatus::Unmeasured, format!("model: {model} is {}: {}", r.status.as_str(), r.reason)),
        None => (ExpectStatus::Unmeasured, format!("model: the ladder has no rung {model}")),
    }
}

/// Evaluate one expectation.
pub fn evaluate_one(expectation: &Expectation, inputs: &ExpectInputs<'_>) -> ExpectationResult {
    if expectation.metric == Metric::Model {
        let (status, message) = model_expectation(expectation, inputs);
        return ExpectationResult {
            expect: expectation.text.clone(),
            actual: None,
            unit: "model".into(),
            ok: status == ExpectStatus::Kept,
            status,
            message,
        };
    }
    let metric = expectation.metric;
    let kind = metric.kind();
    let name = metric.name();
    let unit = match kind {
        MetricKind::Fraction => "fraction",
        MetricKind::Duration => "ns",
        MetricKind::Count => "count",
        MetricKind::Model => "model",
    };
    let (actual, status, message) = match measure(metric, inputs) {
        Measured::Missing(why) => (None, ExpectStatus::Unmeasured, format!("{name}: not measured ({why})")),
        Measured::Failed(why) => (None, ExpectStatus::Broken, format!("{name}: {why}")),
        Measured::Value(actual) => {
            let c = expectation.comparison;
            let threshold = expectation.threshold;
            let shown = show(kind, actual);
            if c.holds(actual, threshold) {
                let message = format!("{name} {shown} {} {}", c.symbol(), expectation.threshold_text);
                (Some(actual), ExpectStatus::Kept, message)
            } else {
                let gap = (actual - threshold).abs();
                let by = match c {
                    Comparison::AtLeast | Comparison::Greater if gap > 0.0 => format!("short by {}", show(kind, gap)),
                    Comparison::Greater => "must be above it".to_string(),
                    Comparison::AtMost | Comparison::Less if gap > 0.0 => format!("over by {}", show(kind, gap)),
                    Comparison::Less => "must be below it".to_string(),
                    Comparison::Equal => format!("off by {}", show(kind, gap)),
                    _ => "must differ from it".to_string(),
                };
                let message = format!("{name} {shown} {} {} ({by})", c.negated_symbol(), expectation.threshold_text);
                (Some(actual), ExpectStatus::Broken, message)
            }
        }
    };
    ExpectationResult {
        expect: expectation.text.clone(),
        actual,
        unit: unit.to_string(),
        ok: status == ExpectStatus::Kept,
        status,
        message,
    }
}

/// Evaluate every expectation: any broken one makes the result invalid, any unmeasured one unknown.
pub fn evaluate(expectations: &[Expectation], inputs: &ExpectInputs<'_>) -> ExpectResult {
    let results: Vec<ExpectationResult> = expectations.iter().map(|e| evaluate_one(e, inputs)).collect();
    let of_status =
        |s: ExpectStatus| results.iter().filter(|r| r.status == s).map(|r| r.message.clone()).collect::<Vec<_>>();
    let broken = of_status(ExpectStatus::Broken);
    let unmeasured = of_status(ExpectStatus::Unmeasured);
    let (verdict, summary) = if !broken.is_empty() {
        (Verdict::Invalid, format!("{} of {} expectations broken: {}", broken.len(), results.len(), broken.join("; ")))
    } else if !unmeasured.is_empty() {
        (
            Verdict::Unknown,
            format!(
                "{} of {} expectations could not be measured: {}",
                unmeasured.len(),
                results.len(),
                unmeasured.join("; ")
            ),
        )
    } else if results.is_empty() {
        (Verdict::Valid, "no expectations given".to_string())
    } else {
        (Verdict::Valid, format!("all {} expectations kept", results.len()))
    };
    ExpectResult { verdict, summary, results }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::convergence::check_convergence;
    use crate::history::OpType;
    use crate::metrics::testing::{s, HistoryBuilder};
    use crate::metrics::{fault_metrics, MetricsOptions};

    #[test]
    fn model_expectations_ask_the_ladder() {
        use crate::ladder::{LadderResult, Rung, Status};
        assert!(parse_expectation("model>=causal").is_ok());
        assert!(parse_expectation("model >= CCv").is_ok());
        assert!(parse_expectation("model<=causal").unwrap_err().problem.contains("with >="));
        assert!(parse_expectation("model>=strongish").unwrap_err().problem.contains("unknown model"));
        let rung = |model: &str, status| Rung {
            model: model.into(),
            status,
            reason: format!("{model} says so"),
            witness: None,
        };
        let ladder = LadderResult {
            verdict: Verdict::Invalid,
            summary: String::new(),
            strongest: vec!["causal".into()],
            rungs: vec![
                rung("linearizable", Status::Broken),
                rung("sequential", Status::Broken),
                rung("causal", Status::Holds),
                rung("read-your-writes", Status::NotApplicable),
            ],
            timings_ms: Default::default(),
        };
        let inputs = ExpectInputs { ladder: Some(&ladder), ..ExpectInputs::default() };
        let status = |e: &str| evaluate_one(&parse_expectation(e).unwrap(), &inputs).status;
        assert_eq!(status("model>=cc"), ExpectStatus::Kept);
        assert_eq!(status("model>=sequential"), ExpectStatus::Broken);
        assert_eq!(status("model>=read-your-writes"), ExpectStatus::Unmeasured);
        let r = evaluate(&parse_expectations(&["model>=sequential"]).unwrap(), &inputs);
        assert_eq!(r.verdict, Verdict::Invalid);
        assert!(r.summary.contains("sequential is broken: sequential says so"), "{}", r.summary);
        let none = evaluate_one(&parse_expectation("model>=causal").unwrap(), &ExpectInputs::default());
        assert_eq!(none.status, ExpectStatus::Unmeasured);
    }
    use crate::set::{check_set, SetOptions};
    use serde_json::json;

    fn parse(s: &str) -> Expectation {
        parse_expectation(s).unwrap_or_else(|e| panic!("{e}"))
    }

    fn parse_err(s: &str) -> String {
        match parse_expectation(s) {
            Ok(e) => panic!("{s:?} parsed as {e:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn parses_every_operator_and_kind() {
        let e = parse("availability>=0.99");
        assert_eq!((e.metric, e.comparison, e.threshold), (Metric::Availability, Comparison::AtLeast, 0.99));
        assert_eq!(parse(" recovery <= 10s ").threshold, 10e9);
        assert_eq!(parse("recovery<=1m 30s").threshold, 90e9);
        assert_eq!(parse("detection<500ms").comparison, Comparison::Less);
        assert_eq!(parse("converge<=0").threshold, 0.0);
        assert_eq!(parse("divergence<=0.0").metric, Metric::Divergence);
        assert_eq!(parse("lost==0").comparison, Comparison::Equal);
        assert_eq!(parse("stale!=3").comparison, Comparison::NotEqual);
        assert_eq!(parse("unexpected>0").comparison, Comparison::Greater);
        assert!((parse("availability>=99.5%").threshold - 0.995).abs() < 1e-12);
        assert_eq!(parse("Recovery-90<=5s").metric, Metric::Recovery90);
        assert_eq!(parse("window-availability>=0.5").metric, Metric::WindowAvailability);
        assert_eq!(parse("lost==0").to_string(), "lost==0");
        // Every listed metric round-trips through its name.
        for (name, metric, _) in METRICS {
            assert_eq!(Metric::from_name(name), Some(*metric));
            assert_eq!(metric.name(), *name);
        }
    }

    #[test]
    fn bad_expectations_say_what_is_wrong() {
        let e = parse_err("availabilty>=0.99");
        assert!(e.contains("\"availabilty>=0.99\"") && e.contains("unknown metric \"availabilty\""), "{e}");
        assert!(e.contains("known metrics: availability (fraction)") && e.contains("recovery (duration)"), "{e}");
        assert!(parse_err("availability 0.99").contains("no comparison operator"));
        assert!(parse_err("").contains("empty"));
        assert!(parse_err("lost=0").contains("use =="));
        assert!(parse_err("lost!0").contains("!="));
        assert!(parse_err(">=3").contains("metric name"));
        assert!(parse_err("lost==").contains("no value after =="));
        assert!(parse_err("lost==-1").contains("lost is a count"));
        assert!(parse_err("lost==1.5").contains("lost is a count"));
        assert!(parse_err("recovery<=10").contains("recovery is a duration"));
        assert!(parse_err("recovery<=fast").contains("recovery is a duration"));
        assert!(parse_err("availability>=1.5").contains("between 0 and 1"));
        assert!(parse_err("availability>=150%").contains("between 0 and 1"));
        assert!(parse_err("availability>=0.9<1").contains("second operator"));
        let all = parse_expectations(&["lost==0", "oops"]);
        assert!(all.unwrap_err().to_string().contains("\"oops\""));
        assert_eq!(parse_expectations(&["lost==0", "stale==0"]).unwrap().len(), 2);
    }

    /// A set run: 4 ok adds and 1 failed read on n1, a partition, then a lost element on n2.
    fn run() -> (MetricsResult, SetResult, ConvergenceResult) {
        let mut h = HistoryBuilder::new();
        for e in 0..4 {
            h.op(1, "n1", "add", s(e as f64), s(e as f64 + 0.5), OpType::Ok, json!(e), json!(e));
        }
        h.nemesis(s(4.0), s(4.0), "start-partition-halves", json!({"verified": true}));
        h.op(1, "n1", "read", s(4.5), s(5.0), OpType::Fail, json!(null), json!(null));
        h.nemesis(s(6.0), s(6.0), "stop-partition-halves", json!(null));
        h.op(9, "n1", "final-read", s(7.0), s(7.5), OpType::Ok, json!(null), json!([0, 1, 2, 3]));
        h.op(8, "n2", "final-read", s(7.0), s(8.0), OpType::Ok, json!(null), json!([0, 1, 2]));
        let history = h.build();
        (
            fault_metrics(&history, &MetricsOptions::default()),
            check_set(&history, &SetOptions::default()),
            check_convergence(&history),
        )
    }

    #[test]
    fn kept_and_broken_expectations_with_amounts() {
        let (metrics, set, convergence) = run();
        let inputs =
            ExpectInputs { metrics: Some(&metrics), set: Some(&set), convergence: Some(&convergence), ladder: None };
        // 4 ok of 5 workload ops.
        let r = evaluate_one(&parse("availability>=0.99"), &inputs);
        assert_eq!(r.actual, Some(0.8));
        assert!(!r.ok);
        assert_eq!(r.status, ExpectStatus::Broken);
        assert_eq!(r.message, "availability 0.800 < 0.99 (short by 0.190)");
        // Exactly at the threshold: kept by >= and <=, broken by > and <.
        assert!(evaluate_one(&parse("availability>=0.8"), &inputs).ok);
        assert!(evaluate_one(&parse("lost<=1"), &inputs).ok);
        assert!(!evaluate_one(&parse("lost<1"), &inputs).ok);
        let r = evaluate_one(&parse("availability>=75%"), &inputs);
        assert!(r.ok, "{}", r.message);
        assert_eq!(r.message, "availability 0.800 >= 75%");
        // Detection: the failed read completed 1 s after the fault started.
        let r = evaluate_one(&parse("detection<5s"), &inputs);
        assert!(r.ok);
        assert_eq!(r.actual, Some(1e9));
        let r = evaluate_one(&parse("detection<=500ms"), &inputs);
        assert_eq!(r.message, "detection 1.000s > 500ms (over by 500.0ms)");
        // Recovery: n1 succeeds 1.5 s after the heal, n2 2 s after: the slowest node counts.
        let r = evaluate_one(&parse("recovery<=1s"), &inputs);
        assert_eq!(r.message, "recovery 2.000s > 1s (over by 1.000s)");
        assert!(evaluate_one(&parse("recovery<=2s"), &inputs).ok);
        // Set: element 3 lost on n2.
        let r = evaluate_one(&parse("lost==0"), &inputs);
        assert_eq!(r.message, "lost 1 != 0 (off by 1)");
        assert!(evaluate_one(&parse("unexpected==0"), &inputs).ok);
        assert_eq!(evaluate_one(&parse("lost!=1"), &inputs).message, "lost 1 == 1 (must differ from it)");
        assert_eq!(evaluate_one(&parse("lost>1"), &inputs).message, "lost 1 <= 1 (must be above it)");
        // Divergence: 1 of 4 elements not everywhere; the states never agreed.
        let r = evaluate_one(&parse("divergence<=0.0"), &inputs);
        assert_eq!(r.actual, Some(0.25));
        assert_eq!(r.message, "divergence 0.250 > 0.0 (over by 0.250)");
        let r = evaluate_one(&parse("converge<=5s"), &inputs);
        assert_eq!(r.status, ExpectStatus::Broken);
        assert!(r.message.starts_with("converge: never converged"), "{}", r.message);

        let all = evaluate(&[parse("availability>=0.5"), parse("lost==0"), parse("recovery<=1s")], &inputs);
        assert_eq!(all.verdict, Verdict::Invalid);
        assert!(all.summary.starts_with("2 of 3 expectations broken: lost 1 != 0"), "{}", all.summary);
        let json = serde_json::to_value(&all).unwrap();
        assert_eq!(json["results"][0]["ok"], true);
        assert_eq!(json["results"][1]["expect"], "lost==0");
        assert_eq!(json["results"][1]["actual"], 1.0);
        // n2's final read lacks element 3 after its acknowledgement, so it is stale too.
        assert_eq!(evaluate_one(&parse("stale==0"), &inputs).message, "stale 1 != 0 (off by 1)");
        let kept = evaluate(&[parse("availability>=0.5"), parse("unexpected==0")], &inputs);
        assert_eq!(kept.verdict, Verdict::Valid, "{}", kept.summary);
        assert_eq!(kept.summary, "all 2 expectations kept");
    }

    #[test]
    fn unrecovered_window_breaks_recovery_whatever_the_threshold() {
        let (mut metrics, _, _) = run();
        metrics.unrecovered = vec!["window 1 (kill at 4.000s): n3 never succeeded after the heal".into()];
        let inputs = ExpectInputs { metrics: Some(&metrics), ..ExpectInputs::default() };
        let r = evaluate_one(&parse("recovery<=1h"), &inputs);
        assert_eq!(r.status, ExpectStatus::Broken);
        assert_eq!(r.actual, None);
        assert!(r.message.contains("n3 never succeeded"), "{}", r.message);
    }

    #[test]
    fn metrics_absent_from_the_run_are_unmeasured_and_unknown() {
        let (metrics, _, _) = run();
        let inputs = ExpectInputs { metrics: Some(&metrics), ..ExpectInputs::default() };
        let r = evaluate(&[parse("lost==0"), parse("availability>=0.5")], &inputs);
        assert_eq!(r.verdict, Verdict::Unknown);
        assert_eq!(r.results[0].status, ExpectStatus::Unmeasured);
        assert!(r.results[0].message.contains("no set checker result"), "{}", r.results[0].message);
        // No fault windows at all: recovery cannot be measured.
        let quiet = fault_metrics(&[], &MetricsOptions::default());
        let inputs = ExpectInputs { metrics: Some(&quiet), ..ExpectInputs::default() };
        let r = evaluate_one(&parse("recovery<=10s"), &inputs);
        assert_eq!(r.status, ExpectStatus::Unmeasured);
        assert!(r.message.contains("no fault windows"), "{}", r.message);
        assert_eq!(evaluate(&[], &inputs).verdict, Verdict::Valid);
    }
}
