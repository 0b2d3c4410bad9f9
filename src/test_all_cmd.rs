//! `faultline test-all`: Jepsen's `test-all`, a test matrix. Every combination of the databases,
//! workloads and fault sets given runs as `faultline test` would run it (every other flag after
//! `--` applies to each), `--test-count` times; one page sums them up, a matrix of verdicts
//! linking to each run's report with the anomaly kinds found. The exit code is the worst
//! verdict (an error in any run: 255). Ctrl-C stops after the run in progress has healed and
//! been checked, and leaves the page with what ran.

use crate::exit::{bad_input, Exit};
use crate::test_cmd::TestArgs;
use anyhow::{Context, Result};
use faultline_checkers::Verdict;
use faultline_reports::{MatrixRow, MatrixRun, MatrixView};
use serde_json::Value;
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct TestAllArgs {
    /// Databases, comma-separated: rows (default etcd).
    #[arg(long, default_value = "etcd")]
    pub db: String,
    /// Workloads, comma-separated: rows.
    #[arg(long, default_value = faultline_workloads::registry::DEFAULT)]
    pub workload: String,
    /// Fault sets, comma-separated: one column each. Faults that act together in one run are
    /// joined with `+` (e.g. `none,partition-one,partition-halves+kill`).
    #[arg(long, default_value = "none")]
    pub nemesis: String,
    /// Where runs and the matrix page are stored.
    #[arg(long, default_value = "store", env = "FAULTLINE_STORE")]
    pub store: PathBuf,
    /// Every other `faultline test` flag, after `--` (e.g. `-- --local --time-limit 20s`).
    #[arg(last = true)]
    pub test_args: Vec<String>,
}

/// A comma list, blanks trimmed, empty items refused with the flag's name.
fn list(flag: &str, value: &str) -> Result<Vec<String>> {
    let items: Vec<String> = value.split(',').map(|s| s.trim().to_string()).collect();
    if items.iter().any(String::is_empty) {
        return Err(bad_input(format!("{flag}: empty item in {value:?}")));
    }
    Ok(items)
}

/// One cell's test: its arguments parsed as `faultline test` parses them.
struct Combination {
    row: usize,
    column: usize,
    args: TestArgs,
}

fn combination_args(a: &TestAllArgs, db: &str, workload: &str, nemesis: &str) -> Result<TestArgs> {
    #[derive(clap::Parser)]
    struct Wrapper {
        #[command(flatten)]
        test: TestArgs,
    }
    let name = format!("{db}-{workload}-{}", nemesis.replace('+', "_"));
    let mut words: Vec<String> = vec!["faultline-test-all".into()];
    words.extend(["--db", db, "--workload", workload, "--nemesis", &nemesis.replace('+', ",")].map(String::from));
    words.extend(["--name".to_string(), name, "--store".to_string(), a.store.display().to_string()]);
    words.extend(a.test_args.iter().cloned());
    <Wrapper as clap::Parser>::try_parse_from(&words)
        .map(|w| w.test)
        .map_err(|e| bad_input(format!("{db} · {workload} · {nemesis}: {}", e.render().to_string().trim())))
}

/// What the matrix says of a finished run: its verdict, the link to its report and the
/// anomaly kinds its checkers found.
fn run_cell(store: &Path, page_dir: &Path) -> MatrixRun {
    let latest = store.join("latest");
    let Ok(target) = std::fs::read_link(&latest) else {
        return MatrixRun {
            verdict: "error".into(),
            href: String::new(),
            kinds: String::new(),
            note: "no run directory".into(),
        };
    };
    let run = store.join(&target);
    let results: Option<Value> =
        std::fs::read_to_string(run.join("results.json")).ok().and_then(|t| serde_json::from_str(&t).ok());
    let verdict =
        results.as_ref().and_then(|r| r.get("verdict")).and_then(Value::as_str).unwrap_or("error").to_string();
    let mut kinds: Vec<String> = Vec::new();
    if let Some(checkers) = results.as_ref().and_then(|r| r.get("checkers")).and_then(Value::as_object) {
        for (name, c) in checkers {
            if c.get("verdict").and_then(Value::as_str) != Some("invalid") {
                continue;
            }
            let types: Vec<String> = c
                .get("anomaly-types")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect();
            if types.is_empty() {
                kinds.push(name.clone());
            } else {
                kinds.extend(types);
            }
        }
    }
    kinds.dedup();
    let rel = pathdiff(page_dir, &run.join("report/index.html"));
    let note = if results.is_none() { "no results.json (see the run's faultline.log)".into() } else { String::new() };
    MatrixRun { verdict, href: rel, kinds: kinds.join(", "), note }
}

/// `to` relative to the directory `from`, both under the same store.
fn pathdiff(from: &Path, to: &Path) -> String {
    let from: Vec<_> = from.components().collect();
    let to_parts: Vec<_> = to.components().collect();
    let common = from.iter().zip(&to_parts).take_while(|(a, b)| a == b).count();
    let mut out = PathBuf::new();
    for _ in common..from.len() {
        out.push("..");
    }
    for c in &to_parts[common..] {
        out.push(c);
    }
    out.display().to_string()
}

pub fn run(a: TestAllArgs) -> Result<Exit> {
    let (dbs, workloads, nemeses) =
        (list("--db", &a.db)?, list("--workload", &a.workload)?, list("--nemesis", &a.nemesis)?);
    // Every combination is parsed and resolved before anything runs: a bad one is a bad
    // argument (exit 254), not a failure half-way through the matrix.
    let mut combos = Vec::new();
    let mut rows = Vec::new();
    for db in &dbs {
        for workload in &workloads {
            let row = rows.len();
            rows.push(MatrixRow { label: format!("{db} · {workload}"), cells: vec![Vec::new(); nemeses.len()] });
            for (column, nemesis) in nemeses.iter().enumerate() {
                let args = combination_args(&a, db, workload, nemesis)?;
                args.resolve().with_context(|| format!("{db} · {workload} · {nemesis}"))?;
                combos.push(Combination { row, column, args });
            }
        }
    }
    let page_dir = a.store.join("test-all").join(crate::store::timestamp_now());
    std::fs::create_dir_all(&page_dir).with_context(|| format!("cannot create {}", page_dir.display()))?;
    let page_dir = page_dir.canonicalize()?;
    let store = a.store.canonicalize()?;
    let mut view = MatrixView {
        store: store.display().to_string(),
        started: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        columns: nemeses.clone(),
        rows,
        worst: "valid".into(),
        runs: 0,
        stopped: false,
    };
    let session = crate::runner::Session::new()?;
    let (mut worst, mut errors) = (Verdict::Valid, 0);
    let page = page_dir.join("index.html");
    for (i, c) in combos.into_iter().enumerate() {
        crate::store::say(&format!(
            "test-all: {} of {}: {} · {}",
            i + 1,
            view.rows.len() * view.columns.len(),
            view.rows[c.row].label,
            view.columns[c.column]
        ));
        // One cell per run of the combination (`--test-count`), one run at a time.
        let plan = c.args.resolve()?;
        let mut one = plan.clone();
        one.run.test_count = 1;
        for k in 0..plan.run.test_count {
            one.run.seed = plan.run.seed.wrapping_add(k as u64);
            match session.run(&one) {
                Ok(v) => {
                    worst = worst.max(v);
                    view.rows[c.row].cells[c.column].push(run_cell(&store, &page_dir));
                }
                Err(e) => {
                    errors += 1;
                    crate::store::say(&format!("test-all: {}: {e:#}", view.rows[c.row].label));
                    view.rows[c.row].cells[c.column].push(MatrixRun {
                        verdict: "error".into(),
                        href: String::new(),
                        kinds: String::new(),
                        note: crate::term::text(&format!("{e:#}")).into_owned(),
                    });
                }
            }
            view.runs += 1;
            if session.interrupted() {
                break;
            }
        }
        view.worst = if errors > 0 { "error".into() } else { worst.as_str().into() };
        view.stopped = session.interrupted();
        std::fs::write(&page, faultline_reports::matrix_html(&view)?)
            .with_context(|| format!("cannot write {}", page.display()))?;
        if session.interrupted() {
            break;
        }
    }
    println!("{}", page.display());
    Ok(if errors > 0 { Exit::Error } else { Exit::from_verdict(worst) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_relative_to_the_page() {
        let from = Path::new("/s/test-all/2026");
        assert_eq!(
            pathdiff(from, Path::new("/s/etcd-register-none/x/report/index.html")),
            "../../etcd-register-none/x/report/index.html"
        );
    }

    #[test]
    fn lists_refuse_empty_items() {
        assert_eq!(list("--db", "etcd, postgres").unwrap(), ["etcd", "postgres"]);
        assert!(list("--nemesis", "none,,kill").unwrap_err().to_string().contains("--nemesis: empty item"));
    }
}
