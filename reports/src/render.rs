//! Assemble a run's page: gather every view (plots, fault table, checkers, timeline) into one
//! serializable value and render it with the embedded tera template (autoescape on, so every
//! string from the database is shown as text; only markup we built and escaped ourselves is
//! passed through `safe`).

use crate::checks::{self, CheckerView};
use crate::linear_svg;
use crate::ops::{self, Outcome};
use crate::plots::{self, Plots};
use crate::style;
use crate::timeline::{self, Timeline};
use crate::windows::{self, WindowRow};
use crate::{Link, RunInput};
use anyhow::Context as _;
use faultline_checkers::outcome::{Checker, HarnessSample};
use serde::Serialize;
use serde_json::Value;
use std::sync::OnceLock;

pub const CSS: &str = include_str!("../templates/style.css");
const RUN_TEMPLATE: &str = include_str!("../templates/run.html");
const INDEX_TEMPLATE: &str = include_str!("../templates/index.html");

/// The template engine with our two pages, parsed once per process.
pub fn tera() -> anyhow::Result<&'static tera::Tera> {
    static TERA: OnceLock<Result<tera::Tera, String>> = OnceLock::new();
    let t = TERA.get_or_init(|| {
        let mut t = tera::Tera::default();
        // Names end in .html, so autoescaping applies (tera's default suffixes).
        t.add_raw_templates([
            ("run.html", RUN_TEMPLATE),
            ("index.html", INDEX_TEMPLATE),
            ("matrix.html", include_str!("../templates/matrix.html")),
        ])
        .map_err(|e| format!("{e:?}"))?;
        t.autoescape_on([".html"]);
        Ok(t)
    });
    t.as_ref().map_err(|e| anyhow::anyhow!("report templates do not parse: {e}"))
}

#[derive(Debug, Serialize)]
pub struct LabelValue {
    pub label: String,
    pub value: String,
}

#[derive(Serialize)]
struct RunView<'a> {
    title: &'a str,
    subtitle: String,
    verdict: String,
    reason: String,
    seed: String,
    command_line: String,
    /// Settings given on the command line (the ones that differ from the defaults).
    config_set: Vec<LabelValue>,
    /// Every other setting: the defaults, collapsed.
    config_default: Vec<LabelValue>,
    stats: Vec<LabelValue>,
    /// The harness's memory over the run (empty without samples).
    harness_svg: String,
    notes: &'a [String],
    plots: Plots,
    windows: Vec<WindowRow>,
    /// Whether any window is a packet fault (the table then shows profile and measurements).
    packet_faults: bool,
    checkers: Vec<CheckerView>,
    timeline: Timeline,
    /// When the first violation happened, for the "jump to the violation" link; `None` without.
    first_violation: Option<String>,
    /// The verdict's anomaly tied to its node and faults (a checker's `explanation`).
    why: Option<String>,
    /// An unknown verdict in full: what passed, what could not be decided and why, what to do.
    undecided: Vec<String>,
    links: &'a [Link],
    css: &'static str,
    version: &'static str,
}

/// Keys of test.json shown first, in this order; the rest follow alphabetically.
const CONFIG_ORDER: [&str; 13] = [
    "name",
    "db",
    "db_recipe",
    "client",
    "workload",
    "nemesis",
    "nodes",
    "seed",
    "time_limit",
    "concurrency",
    "rate",
    "start",
    "start_time",
];

/// test.json as rows, split in two: the settings the command line gave (what differs from the
/// defaults, shown), and the rest (collapsed). A flag `--time-limit` names `time_limit` or
/// `time_limit_s`; the name, the workload and the database are always shown.
fn config_rows(test: &Value) -> (Vec<LabelValue>, Vec<LabelValue>) {
    let Some(obj) = test.as_object() else {
        return (vec![LabelValue { label: "test.json".into(), value: style::value_text(test, 2000) }], Vec::new());
    };
    let mut keys: Vec<&String> = obj.keys().filter(|k| k.as_str() != "command_line").collect();
    keys.sort_by_key(|k| (CONFIG_ORDER.iter().position(|o| o == k).unwrap_or(usize::MAX), k.to_string()));
    let given: Vec<String> = obj
        .get("command_line")
        .and_then(Value::as_str)
        .unwrap_or("")
        .split_whitespace()
        .filter_map(|t| t.strip_prefix("--"))
        .map(|t| t.split('=').next().unwrap_or(t).replace('-', "_"))
        .collect();
    let is_given = |k: &str| {
        ["name", "db", "workload"].contains(&k)
            || given.iter().any(|g| g == k || format!("{g}_s") == k || (g == "db_recipe" && k == "db_recipe"))
    };
    // Lists of plain values read as lists ("n1, n2, n3") and maps of plain values as
    // "latency: 50, jitter: 10", not as JSON.
    let plain = |x: &Value| !x.is_object() && !x.is_array();
    let text = |v: &Value| match v {
        Value::Array(a) if a.iter().all(plain) => a.iter().map(|x| scalar_text(Some(x))).collect::<Vec<_>>().join(", "),
        Value::Object(m) if m.values().all(plain) => {
            m.iter().map(|(k, x)| format!("{k}: {}", scalar_text(Some(x)))).collect::<Vec<_>>().join(", ")
        }
        _ => style::value_text(v, 2000),
    };
    let (set, rest): (Vec<&String>, Vec<&String>) = keys.into_iter().partition(|k| is_given(k));
    let rows =
        |ks: Vec<&String>| ks.into_iter().map(|k| LabelValue { label: k.clone(), value: text(&obj[k]) }).collect();
    (rows(set), rows(rest))
}

fn scalar_text(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
    }
}

pub fn render_run(input: &RunInput) -> anyhow::Result<String> {
    let history = &input.history;
    let mut ops = ops::client_ops(history);
    ops.sort_by_key(|o| (o.start, o.invoke));
    let end_ns = ops::history_end(history);
    let fault_windows = faultline_checkers::faults::fault_windows(history);
    let results = input.results.as_ref();
    let checkers_json = results.and_then(|r| r.get("checkers"));

    // Spans around violations: the linearizability failure's window, and lost elements' acks.
    // Markers: the moment of each anomaly (the op that cannot be linearized, each lost element's
    // acknowledgement), drawn on the charts.
    let mut violations: Vec<(u64, u64)> = Vec::new();
    let mut markers: Vec<(u64, String)> = Vec::new();
    let mut highlight: std::collections::HashSet<u64> = std::collections::HashSet::new();
    if let Some(f) = checkers_json
        .and_then(|c| checker(c, Checker::Linearizable))
        .and_then(|l| l.get("failure"))
        .and_then(linear_svg::Failure::parse)
    {
        violations.extend(f.span());
        markers.extend(f.failing_time().map(|t| (t, "not linearizable".to_string())));
        highlight.extend(f.named_indices());
    }
    // Transactional anomalies: the transactions of each type's first instances, and lost
    // appends' transactions, by their completions' history indices.
    if let Some(txn) = checkers_json.and_then(|c| checker(c, Checker::Txn)) {
        let cycles = txn.get("anomalies").and_then(Value::as_object).into_iter().flat_map(|a| a.values());
        let named = cycles
            .filter_map(Value::as_array)
            .flat_map(|cases| cases.iter().take(3))
            .filter_map(|c| c.get("cycle").and_then(Value::as_array))
            .flatten()
            .chain(txn.get("lost").and_then(Value::as_array).into_iter().flatten().take(20))
            .filter_map(|t| t.get("index").and_then(Value::as_u64));
        for index in named {
            if let Some(op) = history.get(index as usize).filter(|op| op.index == index) {
                violations.push((op.time, op.time));
                highlight.insert(index);
            }
        }
        let lost = txn.get("lost").and_then(Value::as_array).map_or(0, Vec::len);
        let first_lost = txn
            .get("lost")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|l| l.get("time")?.as_u64())
            .min();
        if let Some(t) = first_lost {
            let label = if lost == 1 {
                "lost append acknowledged".to_string()
            } else {
                format!("first of {lost} lost appends acknowledged")
            };
            markers.push((t, label));
        }
    }
    // The bank's wrong reads: marked on the charts (the first) and in the timeline.
    let bank_bad = checkers_json
        .and_then(|c| checker(c, Checker::Bank))
        .and_then(|b| b.get("violations"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for (i, v) in bank_bad.iter().take(20).enumerate() {
        let (Some(index), Some(at)) =
            (v.get("index").and_then(Value::as_u64), v.get("invoked_at").and_then(Value::as_u64))
        else {
            continue;
        };
        highlight.insert(index);
        violations.push((at, v.get("completed_at").and_then(Value::as_u64).unwrap_or(at)));
        if i == 0 {
            markers.push((at, format!("first of {} wrong bank reads", bank_bad.len())));
        }
    }
    let set_result = checkers_json.and_then(|c| checker(c, Checker::Set));
    if let Some(lost) = set_result.and_then(|s| s.get("lost")).and_then(Value::as_array) {
        let acks: Vec<u64> =
            lost.iter().take(20).filter_map(|l| l.get("acknowledged_at").and_then(Value::as_u64)).collect();
        violations.extend(acks.iter().map(|&t| (t, t)));
        // One marker, at the first lost element's acknowledgement: twenty lines would be a wall.
        let total =
            set_result.and_then(|c| c.pointer("/counts/lost")).and_then(Value::as_u64).unwrap_or(lost.len() as u64);
        if let Some(&first) = acks.iter().min() {
            let label = if total == 1 {
                "lost element acknowledged".to_string()
            } else {
                format!("first of {total} lost elements acknowledged")
            };
            markers.push((first, label));
        }
    }

    let plots = plots::draw(&plots::PlotInput {
        history,
        ops: &ops,
        windows: &fault_windows,
        end_ns,
        keep_spans: &violations,
        markers: &markers,
    })?;
    let windows = windows::rows(&fault_windows, checkers_json.and_then(|c| checker(c, Checker::Metrics)), &ops, end_ns);
    let mut checkers = checks::views(checkers_json);
    // The set checker's lost elements over time, against the fault windows.
    let lost_acks: Vec<u64> = set_result
        .and_then(|c| c.get("lost"))
        .and_then(Value::as_array)
        .map(|l| l.iter().filter_map(|e| e.get("acknowledged_at").and_then(Value::as_u64)).collect())
        .unwrap_or_default();
    if let Some(set) = checkers.iter_mut().find(|c| c.kind == Some(Checker::Set)).filter(|_| !lost_acks.is_empty()) {
        set.svg = plots::lost_chart(&lost_acks, &fault_windows, end_ns)?;
    }
    // The bank's total over time, against the fault windows.
    let bank = checkers_json.and_then(|c| checker(c, Checker::Bank));
    let totals: Vec<(u64, i64)> =
        bank.and_then(|b| b.get("totals")).and_then(|t| serde_json::from_value(t.clone()).ok()).unwrap_or_default();
    if let (Some(view), Some(total)) = (
        checkers.iter_mut().find(|c| c.kind == Some(Checker::Bank)),
        bank.and_then(|b| b.get("total")).and_then(Value::as_i64),
    ) {
        if !totals.is_empty() {
            view.svg = plots::total_chart(&totals, total, &fault_windows, end_ns)?;
        }
    }
    let timeline = timeline::build(history, &ops, &fault_windows, &violations, &highlight);

    let (verdict, reason) = match results {
        Some(r) => (
            checks::verdict_of(r.get("verdict").or(r.get("valid?"))),
            r.get("reason")
                .map(|s| style::value_text(s, 2000))
                .unwrap_or_else(|| "results.json gives no reason.".into()),
        ),
        None => ("unknown".into(), "This history has not been checked (no results).".into()),
    };
    let test = input.test.as_ref();
    let count = |o: Outcome| ops.iter().filter(|x| x.outcome == o).count();
    let mut stats = vec![
        LabelValue { label: "client ops".into(), value: ops.len().to_string() },
        LabelValue { label: "ok".into(), value: count(Outcome::Ok).to_string() },
        LabelValue { label: "fail".into(), value: count(Outcome::Fail).to_string() },
        LabelValue { label: "info".into(), value: count(Outcome::Info).to_string() },
        LabelValue { label: "never completed".into(), value: count(Outcome::Pending).to_string() },
        LabelValue {
            label: "processes".into(),
            value: ops.iter().map(|o| o.process).collect::<std::collections::HashSet<_>>().len().to_string(),
        },
        LabelValue { label: "fault windows".into(), value: fault_windows.len().to_string() },
        LabelValue { label: "duration".into(), value: style::secs(end_ns) },
    ];
    // The harness watching itself (runs only; `faultline check` has no samples).
    let samples: Vec<HarnessSample> = results
        .and_then(|r| r.pointer("/stats/harness_samples"))
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .unwrap_or_default();
    if let (Some(first), Some(last)) = (samples.first(), samples.last()) {
        let peak = samples.iter().map(|s| s.rss_mb).fold(0.0, f64::max);
        stats.push(LabelValue { label: "harness peak RSS".into(), value: format!("{peak:.0} MB") });
        stats.push(LabelValue { label: "harness descriptors".into(), value: format!("{} -> {}", first.fds, last.fds) });
    }
    let harness_svg = if samples.len() >= 2 { plots::harness_chart(&samples)? } else { String::new() };
    let why = checkers
        .iter()
        .filter(|c| c.verdict != "valid")
        .find_map(|c| c.explanation.iter().find_map(|e| e.strip_prefix("Why: ")))
        .map(|w| w.trim_end_matches('.').to_string());
    let undecided = if view_verdict_is_unknown(results) { unknown_story(&checkers, results) } else { Vec::new() };
    let (config_set, config_default) = test.map(config_rows).unwrap_or_default();
    let view = RunView {
        title: &input.title,
        subtitle: input.subtitle.clone(),
        verdict,
        reason,
        seed: scalar_text(test.and_then(|t| t.get("seed"))),
        command_line: scalar_text(test.and_then(|t| t.get("command_line"))),
        config_set,
        config_default,
        stats,
        harness_svg,
        notes: &input.notes,
        plots,
        packet_faults: windows.iter().any(|w| !w.profile.is_empty() || !w.measured.is_empty()),
        windows,
        checkers,
        timeline,
        first_violation: violations.first().map(|(t, _)| style::secs(*t)),
        why,
        undecided,
        links: &input.links,
        css: CSS,
        version: env!("CARGO_PKG_VERSION"),
    };
    let ctx = tera::Context::from_serialize(&view).map_err(|e| anyhow::anyhow!("report data: {e:?}"))?;
    tera()?.render("run.html", &ctx).map_err(|e| anyhow::anyhow!("{e:?}")).context("rendering the run report")
}

pub fn render_index(ctx: &impl Serialize) -> anyhow::Result<String> {
    let ctx = tera::Context::from_serialize(ctx).map_err(|e| anyhow::anyhow!("store index data: {e:?}"))?;
    tera()?.render("index.html", &ctx).map_err(|e| anyhow::anyhow!("{e:?}")).context("rendering the store index")
}

fn view_verdict_is_unknown(results: Option<&Value>) -> bool {
    results.is_none_or(|r| checks::verdict_of(r.get("verdict").or(r.get("valid?"))) == "unknown")
}

/// An unknown verdict told in full: which checks passed (with their summaries), which could not
/// decide and why, and the next step for each. A reader must not take "unknown" for "failed".
fn unknown_story(checkers: &[CheckerView], results: Option<&Value>) -> Vec<String> {
    let mut out = Vec::new();
    let passed: Vec<String> =
        checkers.iter().filter(|c| c.verdict == "valid").map(|c| format!("{}: {}", c.name, c.summary)).collect();
    if !passed.is_empty() {
        out.push(format!("Passed: {}.", passed.join("; ")));
    }
    for c in checkers.iter().filter(|c| c.verdict == "unknown") {
        let next = match c.kind {
            Some(Checker::Metrics) => {
                "a fault's effect or its removal could not be verified (see its row in Fault windows and the node's \
                 agent log); re-run with the same seed to see whether it repeats"
            }
            Some(Checker::Linearizable | Checker::Ladder) => {
                "the search ran out of time or memory: re-check offline with more, e.g. faultline check --timeout 30m \
                 history.jsonl"
            }
            Some(Checker::Convergence) => {
                "a node gave no final read: raise --recovery-time, or look at that node's database log"
            }
            Some(
                Checker::Set
                | Checker::Counter
                | Checker::Bank
                | Checker::UniqueIds
                | Checker::Txn
                | Checker::Expectations
                | Checker::Other(_),
            )
            | None => "see this checker's section below",
        };
        out.push(format!("Undecided: {}: {}. Next: {next}.", c.name, c.summary.trim_end_matches('.')));
    }
    if let Some(e) = results.and_then(|r| r.get("error")).and_then(Value::as_str) {
        out.push(format!(
            "The run stopped early: {}. Next: faultline.log (Files) says where; the history up to then was checked.",
            style::truncate(e, 400)
        ));
    }
    out
}

/// The result of `which` among a results' checkers, under its name or another tool's for it.
fn checker(checkers: &Value, which: Checker) -> Option<&Value> {
    checkers.as_object()?.iter().find(|(k, _)| Checker::from_name(k) == Some(which)).map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// An unknown verdict names what passed, what could not be decided and why, and what to do.
    #[test]
    fn an_unknown_verdict_tells_what_passed_what_did_not_and_what_next() {
        let results = json!({"verdict": "unknown", "reason": "metrics: fault not verified", "checkers": {
            "linearizable": {"verdict": "valid", "summary": "all 6271 operations on 12 keys are linearizable"},
            "metrics": {"verdict": "unknown", "summary": "fault not verified in window 3 (slow at 12.0s)"}}});
        let checkers = checks::views(results.get("checkers"));
        let story = unknown_story(&checkers, Some(&results));
        assert_eq!(story[0], "Passed: linearizable: all 6271 operations on 12 keys are linearizable.");
        assert!(
            story[1].starts_with("Undecided: metrics: fault not verified in window 3 (slow at 12.0s). Next: "),
            "{}",
            story[1]
        );
        assert!(view_verdict_is_unknown(Some(&results)));
        assert!(!view_verdict_is_unknown(Some(&json!({"verdict": "valid"}))));
    }
}
