//! `faultline report RUN_DIR...`: re-render each run's `report/index.html` from its stored
//! files (test.json, history.jsonl, results.json), then refresh the store's `index.html`.

use crate::exit::{bad_input, Exit};
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct ReportArgs {
    /// Run directories (store/<test-name>/<timestamp>/) to re-render.
    pub runs: Vec<PathBuf>,
    /// The store whose index.html to refresh (default: the store the first run is in).
    #[arg(long)]
    pub store: Option<PathBuf>,
    /// Re-render every run in the store (needs --store, or a run to find the store from).
    #[arg(long)]
    pub all: bool,
}

/// Every run directory under a store (the store module knows the layout).
fn runs_in(store: &Path) -> Vec<PathBuf> {
    crate::store::Store::new(store).runs().map(|runs| runs.into_iter().map(|r| r.path).collect()).unwrap_or_default()
}

pub fn run(args: ReportArgs) -> anyhow::Result<Exit> {
    if args.runs.is_empty() && !(args.all && args.store.is_some()) {
        return Err(bad_input("give at least one run directory (store/<test>/<timestamp>), or --all --store DIR"));
    }
    for r in &args.runs {
        if !r.is_dir() {
            return Err(bad_input(format!("run directory {} does not exist", r.display())));
        }
        if !["test.json", "history.jsonl"].iter().any(|f| r.join(f).is_file()) {
            return Err(bad_input(format!(
                "{} is not a run directory: it has neither test.json nor history.jsonl",
                r.display()
            )));
        }
    }
    // The store is two levels above a run: store/<test-name>/<timestamp>.
    let store = args.store.clone().or_else(|| {
        args.runs.first().and_then(|r| r.canonicalize().ok()).and_then(|r| r.parent()?.parent().map(Path::to_path_buf))
    });
    let mut runs = args.runs.clone();
    if args.all {
        match &store {
            Some(s) if s.is_dir() => runs.extend(runs_in(s)),
            Some(s) => return Err(bad_input(format!("store directory {} does not exist", s.display()))),
            None => return Err(bad_input("--all needs --store DIR or a run directory")),
        }
    }
    runs.dedup();
    for r in &runs {
        let started = std::time::Instant::now();
        let page = crate::store::RunDir::at(r)
            .write_report()
            .map_err(|e| e.context(format!("rendering the report of {}", r.display())))?;
        println!("{} ({:.2} s)", page.display(), started.elapsed().as_secs_f64());
    }
    // Only a real store gets an index: a run directory's grandparent is a store when it holds a
    // `latest` link or was named with --store.
    let is_store = |s: &Path| args.store.is_some() || s.join("latest").exists();
    if let Some(store) = store.filter(|s| s.is_dir() && is_store(s)) {
        let index = crate::store::Store::new(&store).write_index()?;
        println!("{}", index.display());
    }
    Ok(Exit::Valid)
}
