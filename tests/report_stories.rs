//! The two stored runs of the reports issue (`../shared/runs`), re-checked with today's
//! checkers and re-rendered, read as a person reads them: the story under the verdict is
//! right (each claim can be checked against the picture and the history), the first screen
//! is verdict, reproduce command and plots, and the timeline's jump link lands on the
//! violating ops. Each page is screenshotted in Chromium (`common::assert_report_explains`).

mod common;

use std::path::{Path, PathBuf};

fn stored_run(name: &str, test: &str) -> Option<PathBuf> {
    let root = std::env::var_os("FAULTLINE_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared"));
    let run = root.join("runs").join(name);
    if !run.is_dir() {
        println!("skipped: {test}: needs {} (set FAULTLINE_SHARED)", run.display());
        return None;
    }
    Some(run)
}

/// Copy a stored run, re-check its history offline with the run's own plan (test.json beside
/// it), put the checkers' results in its results.json and render its report.
fn recheck_and_render(run: &Path, dir: &Path) -> PathBuf {
    let copy = dir.join(run.file_name().unwrap());
    let status = std::process::Command::new("cp").arg("-r").arg(run).arg(&copy).status().unwrap();
    assert!(status.success());
    let out = common::faultline().args(["check", "--json"]).arg(copy.join("history.jsonl")).output().unwrap();
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", String::from_utf8_lossy(&out.stderr));
    let first = String::from_utf8_lossy(&out.stdout).lines().next().unwrap().to_string();
    let checked: serde_json::Value = serde_json::from_str(&first).unwrap();
    let mut results = common::results(&copy);
    let mut reason = None;
    for (name, result) in checked["checkers"].as_object().unwrap() {
        if reason.is_none() && result["verdict"] == "invalid" {
            reason = Some(format!("{name}: {}", result["summary"].as_str().unwrap_or("")));
        }
        results["checkers"][name] = result.clone();
    }
    results["reason"] = reason.unwrap_or_default().into();
    std::fs::write(copy.join("results.json"), serde_json::to_string(&results).unwrap()).unwrap();
    let out = common::faultline().arg("report").arg(&copy).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    copy
}

fn page(run: &Path) -> String {
    std::fs::read_to_string(run.join("report/index.html")).unwrap()
}

/// The etcd stale read: the explanation names the write of 0 that set the state it names, and
/// draws it; nothing is called concurrent that is drawn as linearized.
#[test]
fn the_etcd_stale_read_is_explained_with_the_write_that_fixed_the_state() {
    let Some(run) = stored_run("etcd-serializable-stale-read", "the_etcd_stale_read_is_explained") else { return };
    let dir = tempfile::tempdir().unwrap();
    let copy = recheck_and_render(&run, dir.path());
    common::assert_report_explains(
        &copy,
        "shared-etcd-stale-read",
        &[
            "cannot be linearized after a prefix of 63 operations, which leaves the cas-register at 0",
            "holds 63 ops",
            "It leaves the model at 0: op 61 (process 4: write 0) set it",
            "no op outside the prefix overlaps it",
            "written by process 2 (op 50: write 2, ok)",
        ],
    );
    let html = page(&copy);
    // The configuration is collapsed to what the command line set, the rest at their defaults.
    assert!(html.contains("more at their defaults (open for the table)"));
    // The picture draws the write of 0 and the write of 4, numbered by their place in the prefix.
    assert!(html.contains(">#63 write 0<") && html.contains(">#62 write 4<"));
    // The jump link lands on an op of the violation, not on a heading.
    assert!(html.contains(r#"<div id="violation" class="op ok violating""#));
    // Verdict, reproduce command, then the plots: the configuration comes after them, collapsed.
    let at = |needle: &str| html.find(needle).unwrap_or_else(|| panic!("no {needle}"));
    assert!(at(r#"id="reproduce""#) < at(r#"id="latency""#));
    assert!(at(r#"id="latency""#) < at(r#"id="checkers""#));
    assert!(at(r#"id="checkers""#) < at(r#"<section id="config">"#));
}

/// The Galera run with every node killed: the outage clients saw (refused connections), the
/// nodes' final states differing, the lost appends marked in the timeline with readable
/// transactions, the nemesis in a column, and the set-up left off the time axes.
#[test]
fn the_galera_kill_all_run_tells_the_outage_the_loss_and_the_final_states() {
    let Some(run) = stored_run("galera-kill-all", "the_galera_kill_all_run_tells_the_outage") else { return };
    let dir = tempfile::tempdir().unwrap();
    let copy = recheck_and_render(&run, dir.path());
    common::assert_report_explains(
        &copy,
        "shared-galera-kill-all",
        &[
            "lost: 2 acknowledged appends missing from the final reads",
            "Failures by reason",
            "refused",
            "Connection refused",
            "final states of 5 nodes differ",
            "The time axes start at 34 s",
            "r 2 [], a 3 22, r 1 [], a 1 24",
            ">nemesis<",
        ],
    );
    let html = page(&copy);
    assert!(html.contains(r#"<div id="violation" class="op ok violating""#));
    assert!(!html.contains("not: [] also-not: []"));
}
