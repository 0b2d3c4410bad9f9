//! `store/index.html`: every stored run, newest first, with its verdict colour and a link to
//! its report. Figures come from each run's `report/summary.json` (written with the report),
//! so listing a store of large runs does not re-read their histories.

use crate::load::{href, read_json};
use crate::render;
use crate::style;
use anyhow::Context as _;
use serde::Serialize;
use serde_json::Value;
use std::path::{Path, PathBuf};

#[derive(Debug, Serialize)]
struct RunRow {
    verdict: String,
    name: String,
    date: String,
    db: String,
    workload: String,
    nemesis: String,
    ops: String,
    duration: String,
    href: String,
    dir_href: String,
    has_report: bool,
}

#[derive(Serialize)]
struct IndexView {
    store: String,
    runs: Vec<RunRow>,
    css: &'static str,
}

fn is_run_dir(p: &Path) -> bool {
    ["test.json", "results.json", "history.jsonl"].iter().any(|f| p.join(f).is_file())
}

/// Real subdirectories (not symlinks such as `latest`, which would list a run twice).
fn subdirs(p: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(p)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
        .map(|e| e.path())
        .collect();
    out.sort();
    out
}

fn field(test: Option<&Value>, keys: &[&str]) -> String {
    keys.iter()
        .find_map(|k| test.and_then(|t| t.get(*k)).filter(|v| !v.is_null()))
        .map(|v| style::value_text(v, 80))
        .unwrap_or_else(|| "—".into())
}

fn row(store: &Path, run: &Path) -> RunRow {
    // A malformed file must not hide the rest of the store: show what can be read.
    let test = read_json(&run.join("test.json")).ok().flatten();
    let results = read_json(&run.join("results.json")).ok().flatten();
    let summary = read_json(&run.join("report/summary.json")).ok().flatten();
    let rel = run.strip_prefix(store).unwrap_or(run).to_string_lossy().replace('\\', "/");
    let test_dir =
        run.parent().and_then(|p| p.file_name()).map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    let stamp = run.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    let t = test.as_ref();
    let ops = summary.as_ref().and_then(|s| s.get("ops")).and_then(Value::as_u64);
    let dur = summary.as_ref().and_then(|s| s.get("duration_ns")).and_then(Value::as_u64);
    RunRow {
        verdict: results
            .as_ref()
            .map(|r| crate::checks::verdict_of(r.get("verdict")))
            .unwrap_or_else(|| "unknown".into()),
        name: t.and_then(|t| t.get("name")).and_then(Value::as_str).map(String::from).unwrap_or(test_dir),
        date: t
            .and_then(|t| t.get("start").or(t.get("start_time")))
            .and_then(Value::as_str)
            .map(String::from)
            .unwrap_or(stamp),
        db: field(t, &["db", "database"]),
        workload: field(t, &["workload"]),
        nemesis: field(t, &["nemesis"]),
        ops: ops.map(|o| o.to_string()).unwrap_or_else(|| "—".into()),
        duration: dur.map(style::secs).unwrap_or_else(|| field(t, &["time_limit"])),
        href: href(&format!("{rel}/report/index.html")),
        dir_href: href(&format!("{rel}/")),
        has_report: run.join("report/index.html").is_file(),
    }
}

/// Write `store_dir/index.html` listing every run under `store_dir/<test>/<timestamp>/`.
pub fn render_store_index(store_dir: &Path) -> anyhow::Result<PathBuf> {
    let html = store_index_html(store_dir)?;
    let out = store_dir.join("index.html");
    std::fs::write(&out, html).with_context(|| format!("writing {}", out.display()))?;
    Ok(out)
}

/// The store index page listing every run under `store_dir/<test>/<timestamp>/` (reads only).
pub fn store_index_html(store_dir: &Path) -> anyhow::Result<String> {
    if !store_dir.is_dir() {
        anyhow::bail!("store directory {} does not exist", store_dir.display());
    }
    let mut runs: Vec<RunRow> = Vec::new();
    for test in subdirs(store_dir) {
        for run in subdirs(&test).into_iter().filter(|r| is_run_dir(r)) {
            runs.push(row(store_dir, &run));
        }
    }
    runs.sort_by(|a, b| b.date.cmp(&a.date).then(a.name.cmp(&b.name)));
    render::render_index(&IndexView { store: store_dir.display().to_string(), runs, css: render::CSS })
}
