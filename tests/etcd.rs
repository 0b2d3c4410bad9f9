//! Acceptance tests against a real etcd (Debian's etcd-server) on the local namespace cluster:
//! partitions with linearizable reads are valid, serializable reads under a partition are caught
//! as stale, `--nemesis all` heals and checks valid, and every history passes `faultline check`.
//!
//! These build the local cluster, so they take the shared cluster lock.

mod common;

use common::{faultline, results};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// `faultline test` against etcd on three local nodes.
fn run_test(store: &Path, args: &[&str]) -> (i32, PathBuf, String) {
    let mut all = vec!["--db", "etcd"];
    all.extend_from_slice(args);
    common::run_local_test(store, &all)
}

/// `faultline check` on the run's stored history; returns its exit code.
fn check_history(run: &Path) -> i32 {
    let out = faultline().arg("check").arg(run.join("history.jsonl")).output().unwrap();
    out.status.code().unwrap_or(-1)
}

#[test]
fn partitions_with_linearizable_reads_are_valid() {
    if !common::have_root() {
        return;
    }
    let _lock = common::cluster_lock();
    common::ensure_cluster();
    let store = tempfile::tempdir().unwrap();
    let (code, run, log) = run_test(
        store.path(),
        &[
            "--workload",
            "register",
            "--unique-writes",
            "--nemesis",
            "partition-halves,partition-one",
            "--nemesis-interval",
            "4s",
            "--time-limit",
            "20s",
            "--concurrency",
            "10",
            "--rate",
            "150",
            "--seed",
            "7",
        ],
    );
    assert_eq!(code, 0, "expected valid (exit 0):\n{log}");
    let r = results(&run);
    assert_eq!(r["verdict"], "valid");
    assert!(r["checkers"]["linearizable"]["ops"].as_u64().unwrap() > 500, "too few ops: {r}");
    // With linearizable reads and unique values every rung below holds too, and the ladder says so.
    let ladder = &r["checkers"]["ladder"];
    assert_eq!(ladder["strongest"], serde_json::json!(["linearizable"]), "{ladder}");
    for rung in ladder["rungs"].as_array().unwrap() {
        assert!(["holds", "not-applicable"].contains(&rung["status"].as_str().unwrap()), "{rung}");
    }
    // The partitions really happened and were verified by probes.
    let history = std::fs::read_to_string(run.join("history.jsonl")).unwrap();
    let verified =
        history.lines().filter(|l| l.contains("\"start-partition") && l.contains("\"verified\":true")).count();
    assert!(verified >= 1, "no verified partition in the history");
    common::assert_report_explains(&run, "etcd-partitions-valid", &["VALID", "Operations by outcome"]);
    for f in ["test.json", "history.edn", "report/index.html", "nodes/n1/etcd.log"] {
        assert!(run.join(f).exists(), "{f} missing from the run directory");
    }
    assert_eq!(check_history(&run), 0, "the stored history must check valid offline too");
    common::assert_recheck_agrees(&run);
    common::assert_nodes_clean("after the run");
}

#[test]
fn serializable_reads_under_partition_are_stale() {
    if !common::have_root() {
        return;
    }
    let _lock = common::cluster_lock();
    common::ensure_cluster();
    let store = tempfile::tempdir().unwrap();
    // Isolate n1 for the whole run: its serializable reads keep serving the old value while
    // the majority moves on. All nine clients share each key, and worker 0 (on n1) is one of the
    // generator's reserved readers, so n1 keeps reading keys the majority keeps writing. A short
    // op timeout keeps n1's writers (which cannot reach a quorum) from sitting out the fault. The
    // partition lasts the whole run (healed after the workers stop): a follower's serializable
    // read can be a little stale without any fault (apply lag on a loaded machine, or catching up
    // after a heal), and the search may name such an op on some key instead.
    let schedule = common::n1_cut_off_schedule(store.path());
    let (code, run, log) = run_test(
        store.path(),
        &[
            "--workload",
            "register",
            "--serializable",
            "--nemesis-schedule",
            schedule.to_str().unwrap(),
            "--time-limit",
            "18s",
            "--concurrency",
            "9",
            "--rate",
            "200",
            "--op-timeout",
            "1s",
            // Long-lived keys, so that n1's readers (never blocked) and the majority's writers
            // (blocked while a new leader is elected) still meet on a key.
            "--ops-per-key",
            "1000",
            "--seed",
            "11",
        ],
    );
    assert_eq!(code, 1, "expected invalid (exit 1):\n{log}");
    let r = results(&run);
    assert_eq!(r["verdict"], "invalid");
    let failure = &r["checkers"]["linearizable"]["failure"];
    let failing = failure["failing"].as_u64().unwrap();
    assert!(failure["ops"].as_array().unwrap().iter().any(|o| o["id"].as_u64() == Some(failing)), "{failure}");
    // The search names whichever op cannot go next (a stale read, or a write that the stale
    // reads before it leave no room for); either way the stale reads are in the picture.
    let ops = failure["ops"].as_array().unwrap();
    assert!(ops.iter().any(|o| o["f"] == "read" && o["type"] == "ok"), "no read in the failure: {failure}");
    // The why names the failing op's node and what the partition did to it (n1 is cut off from n2
    // and n3; which side served the op depends on the election).
    let why = r["checkers"]["linearizable"]["explanation"].as_str().unwrap_or_else(|| panic!("no why: {r}"));
    let node = why.split(" on ").nth(1).and_then(|s| s.split(';').next()).unwrap_or_else(|| panic!("no node: {why}"));
    assert!(why.contains(&format!("at that moment {node} was cut off from ")), "{why}");
    assert!(why.contains("(partition-one, from "), "{why}");
    common::assert_report_explains(&run, "etcd-serializable", &["Why: ", "(partition-one, from ", "n1 | n2 n3"]);
    assert_eq!(check_history(&run), 1, "the stored history must check invalid offline too");
    common::assert_recheck_agrees(&run);
    common::assert_nodes_clean("after the run");
}

#[test]
fn nemesis_all_heals_and_checks_valid() {
    if !common::have_root() {
        return;
    }
    let _lock = common::cluster_lock();
    common::ensure_cluster();
    let store = tempfile::tempdir().unwrap();
    let (code, run, log) = run_test(
        store.path(),
        &[
            "--workload",
            "register",
            "--nemesis",
            "all",
            "--nemesis-interval",
            "3s",
            "--time-limit",
            "30s",
            "--concurrency",
            "6",
            "--rate",
            "100",
            "--seed",
            "3",
        ],
    );
    assert_eq!(code, 0, "expected valid (exit 0):\n{log}");
    let test: Value = serde_json::from_str(&std::fs::read_to_string(run.join("test.json")).unwrap()).unwrap();
    let faults: Vec<&str> = test["nemesis"].as_array().unwrap().iter().filter_map(|v| v.as_str()).collect();
    for f in ["partition-halves", "partition-ring", "kill", "pause", "flaky"] {
        assert!(faults.contains(&f), "--nemesis all should include {f} here: {faults:?}");
    }
    assert!(!faults.contains(&"clock"), "clock must be refused on the local cluster");
    assert_eq!(check_history(&run), 0);
    common::assert_recheck_agrees(&run);
    common::assert_nodes_clean("after the run");
}

/// The counter workload end to end: etcd's counter under partitions stays within the bounds the
/// acknowledged adds allow, and `faultline check` on its history gives the run's results.
#[test]
fn counter_under_partitions_is_valid_and_rechecks_offline() {
    if !common::have_root() {
        return;
    }
    let _lock = common::cluster_lock();
    common::ensure_cluster();
    let store = tempfile::tempdir().unwrap();
    let (code, run, log) = run_test(
        store.path(),
        &[
            "--workload",
            "counter",
            "--nemesis",
            "partition-halves",
            "--nemesis-interval",
            "3s",
            "--time-limit",
            "10s",
            "--concurrency",
            "6",
            "--rate",
            "100",
            "--seed",
            "5",
        ],
    );
    assert_eq!(code, 0, "expected valid (exit 0):\n{log}");
    let r = results(&run);
    assert_eq!(r["checkers"]["counter"]["verdict"], "valid", "{r}");
    assert!(r["stats"]["ops"].as_u64().unwrap() > 100, "too few ops: {r}");
    common::assert_recheck_agrees(&run);
    common::assert_nodes_clean("after the run");
}
