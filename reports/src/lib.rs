//! faultline-reports: self-contained HTML reports for runs and checked histories.
//!
//! A run's report (`store/<test>/<timestamp>/report/index.html`) shows the verdict and why,
//! the configuration and how to reproduce it, latency/throughput plots with the fault windows
//! shaded, a table per fault window, each checker's result with its evidence, a bounded
//! timeline of operations, and links to the run's files. The store index lists every run.
//!
//! Pages are rendered from tera templates embedded in the binary (autoescape on); plots are
//! plotters SVG inlined in the page. Nothing is fetched from the network when a page opens.

pub mod checks;
pub mod cycle_svg;
pub mod linear_svg;
pub mod load;
mod matrix;
pub mod ops;
pub mod plots;
mod render;
mod store_index;
pub mod style;
pub mod timeline;
pub mod windows;

use anyhow::Context as _;
use faultline_checkers::Op;
use serde::Serialize;
use serde_json::Value;
use std::path::{Path, PathBuf};

pub use matrix::{matrix_html, MatrixRow, MatrixRun, MatrixView};
pub use store_index::{render_store_index, store_index_html};

/// A link from the report to a file (href relative to the report's directory).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Link {
    pub label: String,
    pub href: String,
}

/// Everything a report is drawn from. `test` (the resolved config) and `results` are optional
/// so that a history checked offline (Jepsen's, Porcupine's) can be reported too.
#[derive(Debug, Clone, Default)]
pub struct RunInput {
    pub title: String,
    /// A line under the title, e.g. where the run is stored.
    pub subtitle: String,
    pub test: Option<Value>,
    pub history: Vec<Op>,
    pub results: Option<Value>,
    pub links: Vec<Link>,
    /// Things the reader should know about the input (e.g. a skipped partial line).
    pub notes: Vec<String>,
}

/// Render a report page to a string.
pub fn render_run(input: &RunInput) -> anyhow::Result<String> {
    render::render_run(input)
}

/// Read a stored run: `test.json` and `results.json` (optional), `history.jsonl` (optional,
/// with a note when absent), and the links to its files.
pub fn load_run(run_dir: &Path) -> anyhow::Result<RunInput> {
    if !run_dir.is_dir() {
        anyhow::bail!("run directory {} does not exist", run_dir.display());
    }
    let history_path = run_dir.join("history.jsonl");
    let (history, notes) = if history_path.is_file() {
        load::read_history_jsonl(&history_path)?
    } else {
        (Vec::new(), vec![format!("{} is missing: the plots and timeline are empty.", history_path.display())])
    };
    load_run_with(run_dir, history, notes)
}

/// Like `load_run`, with the history already in memory (the end of a run has just read it to
/// check it: a million-op history is not read twice). `notes` are what reading it found.
pub fn load_run_with(run_dir: &Path, history: Vec<Op>, mut notes: Vec<String>) -> anyhow::Result<RunInput> {
    let test = load::read_json(&run_dir.join("test.json"))?;
    let results = load::read_json(&run_dir.join("results.json"))?;
    if test.is_none() {
        notes.push("test.json is missing: the configuration is not shown.".into());
    }
    let title = test
        .as_ref()
        .and_then(|t| t.get("name"))
        .and_then(Value::as_str)
        .map(String::from)
        .or_else(|| run_dir.parent().and_then(|p| p.file_name()).map(|n| n.to_string_lossy().to_string()))
        .unwrap_or_else(|| "run".into());
    Ok(RunInput {
        title,
        subtitle: format!("Run stored in {}", run_dir.display()),
        test,
        history,
        results,
        links: load::run_links(run_dir),
        notes,
    })
}

/// Summary figures written next to a report, read by the store index.
#[derive(Debug, Serialize)]
struct Summary {
    ops: usize,
    duration_ns: u64,
    verdict: String,
}

/// A rendered report: the page and the summary the store index reads (`summary.json`). The
/// caller decides where they go (the binary's store module writes runs' reports).
#[derive(Debug, Clone)]
pub struct RenderedReport {
    pub html: String,
    pub summary_json: String,
}

/// Render a report page and its summary.
pub fn render_report(input: &RunInput) -> anyhow::Result<RenderedReport> {
    let html = render_run(input)?;
    let summary = Summary {
        ops: ops::client_ops(&input.history).len(),
        duration_ns: ops::history_end(&input.history),
        verdict: checks::verdict_of(input.results.as_ref().and_then(|r| r.get("verdict"))),
    };
    Ok(RenderedReport { html, summary_json: serde_json::to_string_pretty(&summary)? })
}

/// Read a stored run and render its report (reads only).
pub fn render_run_dir(run_dir: &Path) -> anyhow::Result<RenderedReport> {
    render_report(&load_run(run_dir)?)
}

/// Write a rendered report as `dir/index.html` and `dir/summary.json`.
pub fn write_rendered(dir: &Path, report: &RenderedReport) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let out = dir.join("index.html");
    std::fs::write(&out, &report.html).with_context(|| format!("writing {}", out.display()))?;
    let path = dir.join("summary.json");
    std::fs::write(&path, &report.summary_json).with_context(|| format!("writing {}", path.display()))?;
    Ok(out)
}

fn write_report(dir: &Path, input: &RunInput) -> anyhow::Result<PathBuf> {
    write_rendered(dir, &render_report(input)?)
}

/// Re-render `run_dir/report/index.html` from the stored files (tests and benchmarks; the
/// binary renders with `render_run_dir` and lets its store module write). Returns the page.
pub fn write_run_report(run_dir: &Path) -> anyhow::Result<PathBuf> {
    let input = load_run(run_dir)?;
    write_report(&run_dir.join("report"), &input)
}

/// Render a report for a history checked offline (`faultline check --report DIR`): no
/// configuration, links to nothing but what the caller passes. Writes `out_dir/index.html`.
pub fn write_history_report(
    out_dir: &Path,
    source: &str,
    history: Vec<Op>,
    results: Option<Value>,
    links: Vec<Link>,
) -> anyhow::Result<PathBuf> {
    let input = RunInput {
        title: source.to_string(),
        subtitle: format!("History checked offline from {source}"),
        test: None,
        history,
        results,
        links,
        notes: Vec::new(),
    };
    write_report(out_dir, &input)
}
