//! Each checker's result in words, with its evidence, ready for the template.
//!
//! Known checkers get a tailored view (linearizable: the failure picture; set: lost elements
//! and when they were acknowledged; convergence: what each node holds; expectations: each
//! threshold; metrics: the headline numbers). Every other checker, and every field a tailored
//! view does not use, is shown generically as pretty JSON. Missing or oddly typed fields never
//! fail rendering: they are simply not shown.

use crate::linear_svg;
use crate::style;
use faultline_checkers::outcome::Checker;
use serde::Serialize;
use serde_json::{Map, Value};

/// Items listed per table before "and N more".
const MAX_ROWS: usize = 200;
/// Characters of pretty JSON shown before cutting.
const MAX_DETAILS: usize = 20_000;

#[derive(Debug, Clone, Serialize, Default)]
pub struct Table {
    pub title: String,
    pub headers: Vec<String>,
    pub rows: Vec<Row>,
    /// e.g. "showing 200 of 1234".
    pub note: String,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct Row {
    pub cells: Vec<String>,
    /// CSS class for the row: "", "bad" or "good".
    pub class: String,
}

/// A titled picture.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Figure {
    pub title: String,
    /// Markup built by `linear_svg` (all text in it escaped there).
    pub svg: String,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct CheckerView {
    pub name: String,
    /// Which checker it is, when faultline knows it (the view is chosen by it).
    #[serde(skip)]
    pub kind: Option<Checker>,
    pub verdict: String,
    pub summary: String,
    /// Sentences explaining the evidence.
    pub explanation: Vec<String>,
    /// Headline figures as label/value pairs.
    pub facts: Vec<(String, String)>,
    pub tables: Vec<Table>,
    /// Markup built by `linear_svg` (all text in it escaped there).
    pub svg: String,
    /// Further pictures, each with its title (the ladder's witnesses, by `linear_svg`).
    pub figures: Vec<Figure>,
    /// Model states after the linearizable prefix.
    pub states: Vec<String>,
    /// Pretty JSON of the fields not shown above; empty when there are none.
    pub details: String,
}

/// A verdict string we can colour; anything else becomes "unknown".
pub fn verdict_of(v: Option<&Value>) -> String {
    match v.and_then(Value::as_str) {
        Some(s @ ("valid" | "invalid" | "unknown")) => s.to_string(),
        Some("true") => "valid".into(),
        Some("false") => "invalid".into(),
        _ => match v.and_then(Value::as_bool) {
            Some(true) => "valid".into(),
            Some(false) => "invalid".into(),
            None => "unknown".into(),
        },
    }
}

pub fn views(checkers: Option<&Value>) -> Vec<CheckerView> {
    let Some(map) = checkers.and_then(Value::as_object) else { return Vec::new() };
    let mut out: Vec<CheckerView> = map.iter().map(|(name, result)| view(name, result)).collect();
    // The consistency ladder heads the section (it summarises the rest); then the checkers that
    // found something; otherwise in the order they ran.
    let rank = |v: &str| match v {
        "invalid" => 0,
        "unknown" => 1,
        _ => 2,
    };
    out.sort_by_key(|c| (c.name != "ladder", rank(&c.verdict)));
    out
}

fn ns_text(v: Option<&Value>) -> String {
    match v.and_then(Value::as_u64) {
        Some(n) => style::secs(n),
        None => match v.and_then(Value::as_f64) {
            Some(f) if f >= 0.0 => style::secs(f as u64),
            _ => "—".into(),
        },
    }
}

fn text(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "—".into(),
        Some(v) => style::value_text(v, 300),
    }
}

fn list_text(v: Option<&Value>, max: usize) -> String {
    match v.and_then(Value::as_array) {
        Some(a) => {
            let shown: Vec<String> = a.iter().take(max).map(|x| style::value_text(x, 60)).collect();
            let more = if a.len() > max { format!(" … and {} more", a.len() - max) } else { String::new() };
            format!("{}{more}", shown.join(", "))
        }
        None => text(v),
    }
}

fn rows_note(shown: usize, total: usize, declared: Option<u64>) -> String {
    let total = declared.map(|d| d as usize).unwrap_or(total).max(total);
    if shown < total {
        format!("showing {shown} of {total}")
    } else {
        String::new()
    }
}

fn view(name: &str, result: &Value) -> CheckerView {
    let obj = result.as_object().cloned().unwrap_or_default();
    let kind = Checker::from_name(name);
    let mut v = CheckerView {
        name: name.to_string(),
        kind,
        verdict: verdict_of(obj.get("verdict").or(obj.get("valid?")).or(obj.get("valid"))),
        summary: obj.get("summary").map(|s| style::value_text(s, 2000)).unwrap_or_default(),
        ..Default::default()
    };
    let mut rest = obj.clone();
    for k in ["verdict", "summary"] {
        rest.remove(k);
    }
    match kind {
        Some(Checker::Linearizable) => linearizable(&mut v, &obj, &mut rest),
        Some(Checker::Set) => set(&mut v, &obj, &mut rest),
        Some(Checker::Convergence) => convergence(&mut v, &obj, &mut rest),
        Some(Checker::Expectations) => expectations(&mut v, &obj, &mut rest),
        Some(Checker::Metrics) => metrics(&mut v, &obj, &mut rest),
        Some(Checker::Counter) => counter(&mut v, &obj, &mut rest),
        Some(Checker::Bank) => bank(&mut v, &obj, &mut rest),
        Some(Checker::UniqueIds) => unique_ids(&mut v, &obj, &mut rest),
        Some(Checker::Ladder) => ladder(&mut v, &obj, &mut rest),
        Some(Checker::Txn) => txn(&mut v, &obj, &mut rest),
        // An extension's or another tool's checker: its result as it is.
        Some(Checker::Other(_)) | None => {}
    }
    if !result.is_object() {
        v.details = style::truncate(&result.to_string(), MAX_DETAILS);
    } else if !rest.is_empty() {
        let pretty = serde_json::to_string_pretty(&Value::Object(rest)).unwrap_or_default();
        v.details = if pretty.len() > MAX_DETAILS {
            format!(
                "{}\n… ({} more characters in results.json)",
                style::truncate(&pretty, MAX_DETAILS),
                pretty.len() - MAX_DETAILS
            )
        } else {
            pretty
        };
    }
    v
}

fn linearizable(v: &mut CheckerView, obj: &Map<String, Value>, rest: &mut Map<String, Value>) {
    for k in ["model", "keys", "ops"] {
        if let Some(x) = obj.get(k) {
            v.facts.push((k.to_string(), text(Some(x))));
            rest.remove(k);
        }
    }
    let Some(failure) = obj.get("failure").filter(|f| !f.is_null()) else { return };
    if let Some(f) = linear_svg::Failure::parse(failure) {
        v.explanation = linear_svg::explain(&f);
        v.svg = linear_svg::draw(&f);
        v.states = f.states.clone();
        rest.remove("failure");
    }
    if let Some(why) = obj.get("explanation").and_then(Value::as_str) {
        v.explanation.push(format!("Why: {why}."));
        rest.remove("explanation");
    }
}

fn set(v: &mut CheckerView, obj: &Map<String, Value>, rest: &mut Map<String, Value>) {
    let counts = obj.get("counts").and_then(Value::as_object);
    if let Some(counts) = counts {
        for (k, x) in counts {
            v.facts.push((k.clone(), text(Some(x))));
        }
        rest.remove("counts");
    }
    let declared = |k: &str| counts.and_then(|c| c.get(k)).and_then(Value::as_u64);
    let element_rows = |items: &[Value], cols: &dyn Fn(&Value) -> Vec<String>, class: &str| -> Vec<Row> {
        items.iter().take(MAX_ROWS).map(|i| Row { cells: cols(i), class: class.into() }).collect()
    };
    if let Some(lost) = obj.get("lost").and_then(Value::as_array) {
        if !lost.is_empty() {
            v.explanation.push(format!(
                "{} acknowledged element{} missing from the final reads: the database confirmed the write and then lost it.",
                declared("lost").unwrap_or(lost.len() as u64),
                if lost.len() == 1 { " is" } else { "s are" }
            ));
        }
        let rows = element_rows(
            lost,
            &|i| {
                vec![
                    text(i.get("element").or(Some(i))),
                    ns_text(i.get("acknowledged_at")),
                    list_text(i.get("missing_on"), 20),
                ]
            },
            "bad",
        );
        v.tables.push(Table {
            title: "Lost (acknowledged, then missing)".into(),
            headers: vec!["element".into(), "acknowledged at (since start)".into(), "missing on".into()],
            note: rows_note(rows.len(), lost.len(), declared("lost")),
            rows,
        });
        rest.remove("lost");
    }
    for (key, title) in [
        ("unexpected", "Unexpected (read but never written)"),
        ("recovered", "Recovered (unknown writes that are present)"),
    ] {
        if let Some(items) = obj.get(key).and_then(Value::as_array) {
            if !items.is_empty() {
                let rows = element_rows(
                    items,
                    &|i| vec![text(i.get("element").or(Some(i)))],
                    if key == "unexpected" { "bad" } else { "" },
                );
                v.tables.push(Table {
                    title: title.into(),
                    headers: vec!["element".into()],
                    note: rows_note(rows.len(), items.len(), declared(key)),
                    rows,
                });
            }
            rest.remove(key);
        }
    }
    if let Some(stale) = obj.get("stale").and_then(Value::as_array) {
        if !stale.is_empty() {
            let rows = element_rows(
                stale,
                &|i| {
                    vec![
                        text(i.get("element").or(Some(i))),
                        ns_text(i.get("acknowledged_at")),
                        text(i.get("stale_reads")),
                        i.get("worst_ns").and_then(Value::as_u64).map(style::duration).unwrap_or("—".into()),
                    ]
                },
                "",
            );
            v.tables.push(Table {
                title: "Stale reads (acknowledged, not yet visible)".into(),
                headers: vec![
                    "element".into(),
                    "acknowledged at".into(),
                    "stale reads".into(),
                    "worst staleness".into(),
                ],
                note: rows_note(rows.len(), stale.len(), declared("stale")),
                rows,
            });
        }
        rest.remove("stale");
    }
    if let Some(why) = obj.get("explanation").and_then(Value::as_str) {
        v.explanation.push(format!("Why: {why}."));
        rest.remove("explanation");
    }
}

fn convergence(v: &mut CheckerView, obj: &Map<String, Value>, rest: &mut Map<String, Value>) {
    if let Some(c) = obj.get("converged") {
        v.facts.push(("converged".into(), text(Some(c))));
        rest.remove("converged");
    }
    if let Some(d) = obj.get("divergence").and_then(Value::as_f64) {
        v.facts.push(("divergence".into(), format!("{d:.4}")));
        rest.remove("divergence");
    }
    if obj.contains_key("time_to_converge_ns") {
        let t = obj.get("time_to_converge_ns").and_then(Value::as_u64).map(style::duration).unwrap_or("never".into());
        v.facts.push(("time to converge".into(), t));
        rest.remove("time_to_converge_ns");
    }
    let diffs = obj.get("differences").and_then(Value::as_object);
    let Some(nodes) = obj.get("nodes").and_then(Value::as_object) else { return };
    let mut rows = Vec::new();
    for (node, elements) in nodes {
        let d = diffs.and_then(|d| d.get(node));
        let missing = d.and_then(|d| d.get("missing"));
        let extra = d.and_then(|d| d.get("extra"));
        let differs = [missing, extra].iter().any(|x| x.and_then(Value::as_array).is_some_and(|a| !a.is_empty()));
        rows.push(Row {
            cells: vec![
                node.clone(),
                elements.as_array().map(|a| a.len().to_string()).unwrap_or("—".into()),
                list_text(missing, 50),
                list_text(extra, 50),
                list_text(Some(elements), 50),
            ],
            class: if differs { "bad".into() } else { String::new() },
        });
    }
    if rows.iter().any(|r| r.class == "bad") {
        v.explanation.push(
            "The nodes' final reads differ; the highlighted nodes lack elements others hold or hold extra ones.".into(),
        );
    }
    // One sentence per diverged node (the first is also the checker's one-line why).
    let per_node = obj.get("node_explanations").and_then(Value::as_array);
    for sentence in per_node.into_iter().flatten().filter_map(Value::as_str) {
        v.explanation.push(format!("{sentence}."));
    }
    if per_node.is_some() {
        rest.remove("node_explanations");
        rest.remove("explanation");
    } else if let Some(why) = obj.get("explanation").and_then(Value::as_str) {
        v.explanation.push(format!("Why: {why}."));
        rest.remove("explanation");
    }
    v.tables.push(Table {
        title: "What each node holds (final read)".into(),
        headers: vec!["node".into(), "elements".into(), "missing (vs union)".into(), "extra".into(), "holds".into()],
        rows,
        note: String::new(),
    });
    rest.remove("nodes");
    rest.remove("differences");
}

fn expectations(v: &mut CheckerView, obj: &Map<String, Value>, rest: &mut Map<String, Value>) {
    let Some(results) = obj.get("results").and_then(Value::as_array) else { return };
    let rows = results
        .iter()
        .map(|r| {
            let ok = r.get("ok").and_then(Value::as_bool);
            Row {
                cells: vec![
                    text(r.get("expect")),
                    text(r.get("actual")),
                    match ok {
                        Some(true) => "kept".into(),
                        Some(false) => "broken".into(),
                        None => "—".into(),
                    },
                    text(r.get("message")),
                ],
                class: match ok {
                    Some(true) => "good".into(),
                    Some(false) => "bad".into(),
                    None => String::new(),
                },
            }
        })
        .collect();
    v.tables.push(Table {
        title: "Expectations".into(),
        headers: vec!["expectation".into(), "actual".into(), "".into(), "message".into()],
        rows,
        note: String::new(),
    });
    rest.remove("results");
}

fn metrics(v: &mut CheckerView, obj: &Map<String, Value>, rest: &mut Map<String, Value>) {
    if let Some(a) = obj.get("availability").and_then(Value::as_f64) {
        v.facts.push(("availability".into(), style::percent(Some(a))));
        rest.remove("availability");
    }
    if let Some(ops) = obj.get("ops").and_then(Value::as_object) {
        v.tables.push(op_counts_table(ops));
        rest.remove("ops");
    }
    if let Some(failures) = obj.get("failures").and_then(Value::as_array).filter(|f| !f.is_empty()) {
        v.tables.push(failures_table(failures));
        rest.remove("failures");
    }
    if let Some(outage) = obj.get("longest_outage_ns").and_then(Value::as_object) {
        let rows = outage
            .iter()
            .map(|(node, ns)| Row {
                cells: vec![node.clone(), ns.as_u64().map(style::duration).unwrap_or_else(|| text(Some(ns)))],
                class: String::new(),
            })
            .collect();
        v.tables.push(Table {
            title: "Longest stretch without a successful op".into(),
            headers: vec!["node".into(), "duration".into()],
            rows,
            note: String::new(),
        });
        rest.remove("longest_outage_ns");
    }
    if obj.get("windows").and_then(Value::as_array).is_some() {
        v.explanation
            .push("Per-window availability, detection and recovery are in the fault window table above.".into());
        rest.remove("windows");
    }
}

/// Failed and timed-out operations by reason: how many, where, when, and in the clients' words.
fn failures_table(failures: &[Value]) -> Table {
    let counts = |m: Option<&Value>| -> String {
        m.and_then(Value::as_object)
            .map(|m| m.iter().map(|(k, n)| format!("{k} ({})", text(Some(n)))).collect::<Vec<_>>().join(", "))
            .unwrap_or_default()
    };
    let rows = failures
        .iter()
        .map(|f| {
            let class = text(f.get("class"));
            let span = match (f.get("first_ns").and_then(Value::as_u64), f.get("last_ns").and_then(Value::as_u64)) {
                (Some(a), Some(b)) => format!("{} – {}", style::duration(a), style::duration(b)),
                _ => "—".into(),
            };
            let reason = if class == "expected" {
                "expected: the database's correct no (a cas whose value did not match); not counted against availability".to_string()
            } else {
                class.clone()
            };
            Row {
                cells: vec![reason, text(f.get("fail")), text(f.get("info")), counts(f.get("nodes")), span, counts(f.get("errors"))],
                class: if class == "expected" { String::new() } else { "bad".into() },
            }
        })
        .collect();
    Table {
        title: "Failures by reason".into(),
        headers: ["reason", "fail", "info", "by node", "from – to (since start)", "commonest errors"]
            .map(String::from)
            .to_vec(),
        rows,
        note: String::new(),
    }
}

/// The consistency ladder: a row per model (strongest first) with its status and the reason, and
/// for a broken model the witness in words with the operations it involves; then each witness
/// drawn as the linearizability failure is (its operations on their process lanes).
fn ladder(v: &mut CheckerView, obj: &Map<String, Value>, rest: &mut Map<String, Value>) {
    let Some(rungs) = obj.get("rungs").and_then(Value::as_array) else { return };
    // The linearizable rung's failure has its own, fuller picture in the linearizable section.
    for r in rungs.iter().filter(|r| text(r.get("status")) == "broken" && text(r.get("model")) != "linearizable") {
        let Some(w) = r.get("witness") else { continue };
        if let Some(f) = linear_svg::Failure::from_witness(w) {
            v.figures.push(Figure {
                title: format!("{}: {}", text(r.get("model")), text(w.get("pattern"))),
                svg: linear_svg::draw(&f),
            });
        }
    }
    if let Some(strongest) = obj.get("strongest") {
        v.facts.push(("strongest model that holds".into(), list_text(Some(strongest), 10)));
    }
    let rows = rungs
        .iter()
        .map(|r| {
            let status = text(r.get("status"));
            let witness = r.get("witness");
            let ops = witness.and_then(|w| w.get("ops")).and_then(Value::as_array).map(|ops| {
                ops.iter()
                    .map(|o| {
                        format!(
                            "{} {} → {} (process {}, history index {})",
                            text(o.get("f")),
                            text(o.get("value")),
                            text(o.get("output")),
                            text(o.get("process")),
                            text(o.get("index"))
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("; ")
            });
            let why = match witness {
                Some(w) => format!(
                    "{}: {}{}",
                    text(w.get("pattern")),
                    text(w.get("explanation")),
                    ops.map(|o| format!(" [{o}]")).unwrap_or_default()
                ),
                None => text(r.get("reason")),
            };
            let class = match status.as_str() {
                "broken" => "bad",
                "holds" => "good",
                _ => "",
            };
            Row { cells: vec![text(r.get("model")), status, why], class: class.into() }
        })
        .collect();
    v.tables.push(Table {
        title: "Consistency ladder (strongest first)".into(),
        headers: vec!["model".into(), "status".into(), "why (the witness for a broken model)".into()],
        rows,
        note: String::new(),
    });
    for k in ["rungs", "strongest", "timings_ms"] {
        rest.remove(k);
    }
}

/// The metrics' operation counts as one table: a row per group (the workload, each function, the
/// final polls), a column per outcome. Groups of another shape are shown as text in their row.
fn op_counts_table(ops: &Map<String, Value>) -> Table {
    const OUTCOMES: [&str; 4] = ["ok", "fail", "info", "pending"];
    let mut rows = Vec::new();
    let mut push = |label: String, counts: &Value| {
        let cells = match counts.as_object() {
            Some(c) => OUTCOMES.iter().map(|k| text(c.get(*k))).collect(),
            None => vec![text(Some(counts)), String::new(), String::new(), String::new()],
        };
        rows.push(Row { cells: std::iter::once(label).chain(cells).collect(), class: String::new() });
    };
    if let Some(w) = ops.get("workload") {
        push("workload operations".into(), w);
    }
    for (f, c) in ops.get("by_f").and_then(Value::as_object).into_iter().flatten() {
        push(format!("· {f}"), c);
    }
    if let Some(p) = ops.get("final_polls") {
        push("final polls".into(), p);
    }
    for (group, counts) in ops.iter().filter(|(g, _)| !["workload", "by_f", "final_polls"].contains(&g.as_str())) {
        push(group.clone(), counts);
    }
    Table {
        title: "Operations by outcome".into(),
        headers: std::iter::once("operations").chain(OUTCOMES).map(String::from).collect(),
        rows,
        note: String::new(),
    }
}

fn counter(v: &mut CheckerView, obj: &Map<String, Value>, rest: &mut Map<String, Value>) {
    let Some(bad) = obj.get("violations").or(obj.get("errors")).and_then(Value::as_array) else { return };
    if bad.is_empty() || !bad[0].is_object() {
        return;
    }
    // Columns: the union of the violation objects' keys, in first-seen order.
    let mut headers: Vec<String> = Vec::new();
    for b in bad.iter().take(MAX_ROWS) {
        for k in b.as_object().into_iter().flat_map(|o| o.keys()) {
            if !headers.contains(k) {
                headers.push(k.clone());
            }
        }
    }
    let rows: Vec<Row> = bad
        .iter()
        .take(MAX_ROWS)
        .map(|b| Row { cells: headers.iter().map(|h| text(b.get(h))).collect(), class: "bad".into() })
        .collect();
    v.tables.push(Table {
        title: "Reads outside their bounds".into(),
        headers,
        note: rows_note(rows.len(), bad.len(), None),
        rows,
    });
    rest.remove("violations");
    rest.remove("errors");
}

/// The unique-ids checker (`checkers::unique_ids`): each duplicated id in words.
fn unique_ids(v: &mut CheckerView, obj: &Map<String, Value>, rest: &mut Map<String, Value>) {
    if let Some(c) = obj.get("counts").and_then(Value::as_object) {
        for (k, x) in c {
            v.facts.push((k.clone(), text(Some(x))));
        }
        rest.remove("counts");
    }
    for d in obj.get("duplicates").and_then(Value::as_array).into_iter().flatten().take(MAX_ROWS) {
        if let Some(e) = d.get("explanation").and_then(Value::as_str) {
            v.explanation.push(format!("{e}."));
        }
    }
    rest.remove("duplicates");
}

/// The bank checker (`checkers::bank`): the first wrong read in words, the wrong reads as a
/// table; the total over time is drawn by `render` (it needs the fault windows).
fn bank(v: &mut CheckerView, obj: &Map<String, Value>, rest: &mut Map<String, Value>) {
    for k in ["total", "accounts"] {
        if let Some(x) = obj.get(k) {
            v.facts.push((k.to_string(), text(Some(x))));
            rest.remove(k);
        }
    }
    if let Some(c) = obj.get("counts").and_then(Value::as_object) {
        for (k, x) in c {
            v.facts.push((k.replace('_', " "), text(Some(x))));
        }
        rest.remove("counts");
    }
    rest.remove("totals");
    let Some(bad) = obj.get("violations").and_then(Value::as_array) else { return };
    if let Some(first) = bad.first().and_then(|b| b.get("explanation")).and_then(Value::as_str) {
        v.explanation.push(format!("The first wrong read: {first}."));
    }
    if !bad.is_empty() {
        let rows: Vec<Row> = bad
            .iter()
            .take(MAX_ROWS)
            .map(|b| Row {
                cells: vec![
                    text(b.get("index")),
                    text(b.get("node")),
                    b.get("invoked_at")
                        .and_then(Value::as_u64)
                        .map_or(String::new(), |t| format!("{:.3}s", t as f64 / 1e9)),
                    text(b.get("kind")),
                    text(b.get("total")),
                    text(b.get("concurrent_transfers")),
                ],
                class: "bad".into(),
            })
            .collect();
        v.tables.push(Table {
            title: "Wrong reads".into(),
            headers: ["read (history index)", "node", "invoked", "what is wrong", "total", "concurrent transfers"]
                .map(String::from)
                .to_vec(),
            note: rows_note(rows.len(), bad.len(), None),
            rows,
        });
    }
    rest.remove("violations");
}

/// The transactional checker (`checkers::txn`): the models ruled out, each anomaly with its
/// first instances in words (cycles step by step), and the ladder of models.
fn txn(v: &mut CheckerView, obj: &Map<String, Value>, rest: &mut Map<String, Value>) {
    for k in ["workload", "consistency-models"] {
        if let Some(x) = obj.get(k) {
            v.facts.push((k.to_string(), text(Some(x))));
            rest.remove(k);
        }
    }
    // Elle's `valid?`, `not` and `also-not` speak of the models asked for; the ladder below of
    // every anomaly found. Both are said in words, so that an empty `not` never stands beside
    // a ladder of "no" (anomalies found that the models asked for allow).
    let asked_hold = obj.get("valid?").and_then(Value::as_bool);
    if let Some(hold) = asked_hold {
        v.facts.push(("models asked for".into(), if hold { "hold" } else { "do not hold" }.into()));
    }
    let list = |k: &str| -> Vec<String> {
        obj.get(k).and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).map(String::from).collect()
    };
    let (not, also_not) = (list("not"), list("also-not"));
    if !not.is_empty() {
        v.facts.push(("not".into(), not.join(", ")));
    }
    if !also_not.is_empty() {
        v.facts.push(("also not".into(), also_not.join(", ")));
    }
    let all: Vec<String> = list("all-anomaly-types");
    let (weakest, _) = faultline_checkers::txn::models::boundary(all.iter().map(String::as_str));
    let beyond: Vec<&String> = weakest.iter().filter(|m| !not.contains(m)).collect();
    if !beyond.is_empty() && !all.is_empty() {
        v.facts.push((
            "ruled out by anomalies the models asked for allow".into(),
            format!("{} ({})", beyond.iter().map(|m| m.as_str()).collect::<Vec<_>>().join(", "), all.join(", ")),
        ));
    }
    for k in ["valid?", "not", "also-not", "all-anomaly-types"] {
        rest.remove(k);
    }
    if let Some(n) = obj.get("stats").and_then(|s| s.get("txns")) {
        v.facts.push(("transactions".into(), text(Some(n))));
    }
    // A run's extras (checkers::txn_run): the first anomaly or loss tied to its node and faults,
    // and the acknowledged appends its final reads lack.
    if let Some(why) = obj.get("explanation").and_then(Value::as_str) {
        v.explanation.push(format!("Why: {why}."));
        rest.remove("explanation");
    }
    if let Some(n) = obj.get("lost-count") {
        v.facts.push(("lost appends".into(), text(Some(n))));
        rest.remove("lost-count");
    }
    if let Some(lost) = obj.get("lost").and_then(Value::as_array) {
        if !lost.is_empty() {
            let rows = lost
                .iter()
                .take(10)
                .map(|l| Row {
                    cells: vec![
                        text(l.get("key")),
                        text(l.get("value")),
                        format!("T{}", text(l.get("index"))),
                        text(l.get("node")),
                        l.get("time")
                            .and_then(Value::as_u64)
                            .map_or(String::new(), |t| format!("{:.3}s", t as f64 / 1e9)),
                    ],
                    class: "bad".into(),
                })
                .collect();
            v.tables.push(Table {
                title: "Lost appends (acknowledged, missing from the final read)".into(),
                headers: vec!["key".into(), "value".into(), "transaction".into(), "node".into(), "acknowledged".into()],
                note: if lost.len() > 10 { format!("the first 10 of {}", lost.len()) } else { String::new() },
                rows,
            });
        }
        rest.remove("lost");
    }
    let empty = Map::new();
    let anomalies = obj.get("anomalies").and_then(Value::as_object).unwrap_or(&empty);
    let mut rows = Vec::new();
    for (kind, cases) in anomalies {
        let cases = cases.as_array().cloned().unwrap_or_default();
        // The anomaly in words first, then its instances.
        let in_words = faultline_checkers::txn::models::anomaly_in_words(kind);
        v.explanation.push(format!("{kind}: {in_words}."));
        for (i, c) in cases.iter().take(3).enumerate() {
            let words =
                c.get("explanation").and_then(Value::as_str).map(str::to_string).unwrap_or_else(|| c.to_string());
            // The instance in one sentence (which transactions, what each did to the next),
            // then its proof step by step.
            let words = match c.get("summary").and_then(Value::as_str) {
                Some(short) => format!("{short}. Step by step: {words}"),
                None => words,
            };
            v.explanation.push(format!("{kind} ({} of {}): {words}", i + 1, cases.len()));
        }
        let steps = cases.first().and_then(|c| c.get("steps")).and_then(Value::as_array).map_or(String::new(), |s| {
            s.iter().filter_map(|x| x.get("type").and_then(Value::as_str)).collect::<Vec<_>>().join(" -> ")
        });
        rows.push(Row { cells: vec![kind.clone(), in_words, cases.len().to_string(), steps], class: "bad".into() });
        // The first instance of each of the first few kinds, drawn.
        if v.svg.matches("<svg class=\"cycle\"").count() < 4 {
            if let Some(svg) = cases.first().and_then(|c| crate::cycle_svg::draw(kind, c)) {
                v.svg.push_str(&svg);
            }
        }
    }
    if !rows.is_empty() {
        v.tables.push(Table {
            title: "Anomalies".into(),
            headers: vec!["type".into(), "in words".into(), "instances".into(), "first cycle's edges".into()],
            note: String::new(),
            rows,
        });
        rest.remove("anomalies");
        rest.remove("anomaly-types");
    }
    if let Some(ladder) = obj.get("ladder").and_then(Value::as_array) {
        let rows = ladder
            .iter()
            .map(|r| {
                let c = r.get("consistent").and_then(Value::as_str).unwrap_or("");
                let class = match c {
                    "yes" => "good",
                    "no" => "bad",
                    _ => "",
                };
                Row { cells: vec![text(r.get("model")), c.to_string()], class: class.into() }
            })
            .collect();
        v.tables.push(Table {
            title: "Consistency models".into(),
            headers: vec!["model".into(), "consistent".into()],
            note: String::new(),
            rows,
        });
        rest.remove("ladder");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn set_lists_lost_elements_with_their_acknowledgement() {
        let v = views(Some(&json!({"set": {"verdict": "invalid", "summary": "2 lost",
            "lost": [{"element": 7, "acknowledged_at": 1_500_000_000u64, "missing_on": ["n1"]}, {"element": "<i>x</i>"}],
            "counts": {"lost": 2}, "extra_field": 1}})));
        assert_eq!(v.len(), 1);
        let t = &v[0].tables[0];
        assert_eq!(t.rows[0].cells, vec!["7", "1.50 s", "n1"]);
        assert_eq!(t.rows[1].cells[0], "<i>x</i>", "escaping is the template's job");
        assert!(v[0].details.contains("extra_field"));
        assert!(!v[0].details.contains("acknowledged_at"));
    }

    /// The metrics card says why operations failed: a row per reason with its nodes, its span
    /// and its commonest errors; expected failures are marked as such, not as trouble.
    #[test]
    fn metrics_list_failures_by_reason() {
        let v = views(Some(&json!({"metrics": {"verdict": "valid", "summary": "availability 0.9",
            "failures": [
                {"class": "refused", "fail": 3900, "info": 0, "nodes": {"n1": 1300, "n2": 1300},
                 "first_ns": 36_400_000_000u64, "last_ns": 59_800_000_000u64,
                 "errors": {"connect: Connection refused": 3900}},
                {"class": "expected", "fail": 1054, "info": 0, "nodes": {"n3": 1054},
                 "first_ns": 1_000_000_000u64, "last_ns": 2_000_000_000u64, "errors": {"value did not match": 1054}}]}})));
        let t = v[0].tables.iter().find(|t| t.title == "Failures by reason").expect("a failures table");
        assert_eq!(t.rows[0].cells[0], "refused");
        assert_eq!(t.rows[0].cells[3], "n1 (1300), n2 (1300)");
        assert_eq!(t.rows[0].cells[4], "36.40 s – 59.80 s");
        assert_eq!(t.rows[0].cells[5], "connect: Connection refused (3900)");
        assert_eq!(t.rows[0].class, "bad");
        assert!(t.rows[1].cells[0].starts_with("expected: ") && t.rows[1].class.is_empty());
        assert!(!v[0].details.contains("first_ns"), "the failures are shown, not dumped");
    }

    #[test]
    fn odd_shapes_do_not_break() {
        let v = views(Some(&json!({"a": 3, "b": {"verdict": 5}, "convergence": {"nodes": "x"}, "set": {"lost": "y"},
            "linearizable": {"failure": {"ops": "z"}}, "expectations": {"results": [1, {"ok": false}]}})));
        assert_eq!(v.len(), 6);
        assert!(v.iter().all(|c| c.verdict == "unknown"));
        assert!(views(None).is_empty());
        assert!(views(Some(&json!([1, 2]))).is_empty());
    }

    #[test]
    fn convergence_marks_nodes_that_differ() {
        let v = views(Some(&json!({"convergence": {"verdict": "invalid", "nodes": {"n1": [1, 2], "n2": [1]},
            "differences": {"n2": {"missing": [2], "extra": []}}, "divergence": 0.5, "converged": false}})));
        let t = &v[0].tables[0];
        assert_eq!(t.rows[0].class, "");
        assert_eq!(t.rows[1].class, "bad");
        assert_eq!(t.rows[1].cells[2], "2");
        assert!(v[0].details.is_empty());
    }

    #[test]
    fn txn_results_show_anomalies_in_words_and_the_ladder() {
        let v = views(Some(
            &json!({"txn": {"valid?": false, "verdict": "invalid", "summary": "G2-item (2 transactions)",
            "not": ["repeatable-read"], "also-not": ["serializable"], "workload": "list-append",
            "anomalies": {"G2-item": [{"summary": "T0 and T1 each missed the other's append (keys y and x)", "explanation": "T0 read key x = [] ...", "steps": [{"type": "rw"}, {"type": "rw"}]}]},
            "anomaly-types": ["G2-item"],
            "ladder": [{"model": "read-committed", "consistent": "yes"}, {"model": "serializable", "consistent": "no"}]}}),
        ));
        assert_eq!(v[0].verdict, "invalid");
        // The anomaly in words first, then its instances.
        assert_eq!(
            v[0].explanation,
            vec![
                "G2-item: write skew: each transaction missed another's write; ruled out by repeatable-read and every \
                 stronger model; snapshot-isolation allows it."
                    .to_string(),
                "G2-item (1 of 1): T0 and T1 each missed the other's append (keys y and x). Step by step: T0 read key x = [] ..."
                    .to_string()
            ]
        );
        assert_eq!(v[0].tables[0].rows[0].cells[0], "G2-item");
        assert!(v[0].tables[0].rows[0].cells[1].starts_with("write skew: "));
        assert_eq!(v[0].tables[0].rows[0].cells[2..], ["1", "rw -> rw"]);
        assert_eq!(v[0].tables[1].rows[1].class, "bad");
        assert!(!v[0].details.contains("ladder") && !v[0].details.contains("valid?"));
        let fact = |v: &CheckerView, k: &str| v.facts.iter().find(|(f, _)| f == k).map(|(_, x)| x.clone());
        assert_eq!(fact(&v[0], "models asked for").as_deref(), Some("do not hold"));
        assert_eq!(fact(&v[0], "not").as_deref(), Some("repeatable-read"));
        assert_eq!(fact(&v[0], "also not").as_deref(), Some("serializable"));
        // The Galera kill-all run: read-committed holds, anomalies it allows rule out stronger
        // models (the ladder's "no" rows), and the run is invalid for lost appends. The card
        // says so in words, never "not: [] also-not: []" beside a ladder of "no".
        let v = views(Some(&json!({"txn": {"valid?": true, "verdict": "invalid", "summary": "lost: 2",
            "not": [], "also-not": [], "workload": "list-append", "consistency-models": ["read-committed"],
            "all-anomaly-types": ["G-single-item", "G2-item", "internal", "lost-update"], "anomalies": {},
            "anomaly-types": []}})));
        assert_eq!(fact(&v[0], "models asked for").as_deref(), Some("hold"));
        assert_eq!(fact(&v[0], "not"), None);
        let beyond = fact(&v[0], "ruled out by anomalies the models asked for allow").unwrap();
        assert!(beyond.contains("read-atomic") && beyond.contains("cursor-stability"), "{beyond}");
        assert!(!v[0].details.contains("not") && !v[0].details.contains("valid?"), "{}", v[0].details);
    }
}
