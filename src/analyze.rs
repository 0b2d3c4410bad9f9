//! After a run: read the history back from the store, save its EDN copy and the schedule it
//! followed, run the checks the workload calls for (`faultline_workloads::check_run`, with the
//! options test.json records), and render the report.
//!
//! Checkers see only what the store holds, so `faultline check` on `history.jsonl` later gives
//! the same answer as the run did.

use crate::plan::TestRecord;
use crate::store::{RunDir, Store};
use anyhow::{Context, Result};
use faultline_checkers::formats;
use faultline_checkers::RunResults;
use std::path::{Path, PathBuf};

/// Check a stored run, reading its history from `history` (the run's `history.jsonl`, or the
/// rescue file when the store filled up). `error` is the run's own failure, if it stopped early: the verdict is
/// then at best unknown, and the reason says why. Returns the results and the history read back
/// (for the report, so that it is not read twice).
pub fn analyze_run(
    run: &RunDir,
    history: &Path,
    record: &TestRecord,
    error: Option<&anyhow::Error>,
) -> Result<(RunResults, formats::LoadedHistory)> {
    let loaded = formats::read_history(history, formats::Format::Jsonl)
        .map_err(|e| anyhow::anyhow!("{e}"))
        .context("reading the run's history back from the store")?;
    for w in &loaded.warnings {
        tracing::warn!("history: {w}");
    }
    // The EDN copy is for Elle and Knossos users.
    // Neither copy is worth the verdict: a full store only loses them, with a warning.
    let edn = formats::write_edn(&loaded.ops);
    if let Err(e) = run.write_text("history.edn", &edn) {
        tracing::warn!("{e:#}");
    }
    // The faults exactly as applied, to replay with --nemesis-schedule.
    let replay = faultline_nemeses::replay::replay_schedule(&loaded.ops);
    if !replay.is_empty() {
        let header = "# The faults this run applied, as applied: replay with --nemesis-schedule THIS_FILE\n";
        let text = format!("{header}{}", faultline_nemeses::schedule::to_toml(&replay));
        if let Err(e) = run.write_text("schedule.toml", &text) {
            tracing::warn!("{e:#}");
        }
    }

    let mut results =
        faultline_workloads::check_run(&loaded.ops, record.workload.kind, &record.workload.check_options())?;
    if let Some(e) = error {
        results.degrade(format!("the run stopped early: {e:#}"));
        results.error = Some(format!("{e:#}"));
    }
    Ok((results, loaded))
}

/// Render the run's report from the history just checked, and refresh the store's index.
pub fn write_report(store: &Store, run: &RunDir, history: formats::LoadedHistory) -> Result<PathBuf> {
    let path = run.write_report_with(history.ops, history.warnings)?;
    if let Err(e) = store.write_index() {
        tracing::warn!("store index: {e:#}");
    }
    Ok(path)
}
