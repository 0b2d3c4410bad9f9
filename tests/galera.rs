//! MariaDB Galera (10.11 + galera-4) on the local cluster, three nodes: under a partition that
//! cuts one node off and a kill of another, whatever it does is reported with evidence, the run
//! heals, the killed node rejoins and every node is Synced before the final reads.

mod common;

use common::{results, run_local_test as run};

#[test]
fn galera_under_partition_and_kill_is_reported_and_resynced() {
    if !common::have_root() {
        return;
    }
    let _lock = common::cluster_lock();
    common::ensure_cluster();
    let store = tempfile::tempdir().unwrap();
    // The schedule is timed from the start of the run, set-up included (Galera's takes ~15 s
    // here: a state transfer per joiner), so the faults come after it, while the clients run.
    let schedule = store.path().join("galera.toml");
    std::fs::write(
        &schedule,
        "[[step]]\nat = \"21s\"\nstart = \"partition-halves\"\ngrudge = { n1 = [\"n2\", \"n3\"], n2 = [\"n1\"], n3 = [\"n1\"] }\n\
         [[step]]\nat = \"26s\"\nstop = \"partition-halves\"\n\
         [[step]]\nat = \"27s\"\nstart = \"kill\"\nnodes = [\"n3\"]\n\
         [[step]]\nat = \"30s\"\nstop = \"kill\"\n",
    )
    .unwrap();
    let (code, dir, log) = run(
        store.path(),
        &[
            "--db",
            "galera",
            "--workload",
            "list-append",
            "--isolation",
            "repeatable-read",
            "--consistency-models",
            "serializable",
            "--nemesis-schedule",
            schedule.to_str().unwrap(),
            "--time-limit",
            "20s",
            "--concurrency",
            "6",
            "--rate",
            "0",
            "--seed",
            "6",
        ],
    );
    // Whatever Galera does at repeatable read, the verdict comes with evidence.
    assert!(code == 0 || code == 1, "a verdict, not an error:\n{log}");
    let r = results(&dir);
    let txn = &r["checkers"]["txn"];
    assert!(txn["stats"]["ok"].as_u64().unwrap() > 500, "{txn}");
    if code == 1 {
        let types = txn["anomaly-types"].as_array().unwrap();
        assert!(!types.is_empty(), "{txn}");
        let first = &txn["anomalies"][types[0].as_str().unwrap()][0];
        assert!(first["explanation"].as_str().is_some_and(|e| e.contains('T')), "no evidence: {first}");
        assert!(txn["explanation"].as_str().is_some_and(|w| w.contains(" on n")), "{txn}");
    }
    // The faults happened while the clients ran: the cut-off node refused service, then the run
    // healed, the killed node rejoined, and every node was Synced before the final reads.
    let history = std::fs::read_to_string(dir.join("history.jsonl")).unwrap();
    assert!(history.contains("\"start-partition-halves\"") && history.contains("\"start-kill\""), "{log}");
    let faultline_log = std::fs::read_to_string(dir.join("faultline.log")).unwrap();
    assert!(faultline_log.contains("every node is Synced (n1, n2, n3)"), "{faultline_log}");
    let final_reads: Vec<serde_json::Value> = history
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|o| o["f"] == "final-read" && o["type"] == "ok")
        .collect();
    let nodes: std::collections::BTreeSet<&str> = final_reads.iter().filter_map(|o| o["node"].as_str()).collect();
    assert_eq!(nodes.len(), 3, "every node answers the final read once Synced: {nodes:?}\n{log}");
    assert_eq!(r["checkers"]["txn"]["lost-count"], 0, "{txn}");
    // The page: Galera's set-up (a state transfer per joiner) left off the time axes.
    common::assert_report_explains(&dir, "galera-partition-kill", &["The time axes start at"]);
    common::assert_txn_recheck_agrees(&dir);
    common::assert_recheck_agrees(&dir);
    common::assert_nodes_clean("galera partition + kill");
}

/// The bank on Galera at repeatable read (Jepsen found Galera creating and destroying money
/// with it in 2015): whatever it finds comes with evidence, and is printed for the record.
#[test]
fn galera_bank_at_repeatable_read_is_judged_with_evidence() {
    if !common::have_root() {
        return;
    }
    let _lock = common::cluster_lock();
    common::ensure_cluster();
    let store = tempfile::tempdir().unwrap();
    let (code, dir, log) = run(
        store.path(),
        &[
            "--db",
            "galera",
            "--workload",
            "bank",
            "--isolation",
            "repeatable-read",
            "--concurrency",
            "6",
            "--rate",
            "0",
            "--time-limit",
            "10s",
            "--seed",
            "8",
        ],
    );
    assert!(code == 0 || code == 1, "a verdict, not an error:\n{log}");
    let b = &results(&dir)["checkers"]["bank"];
    eprintln!("galera bank at repeatable-read: {}", b["summary"]);
    assert!(b["counts"]["reads"].as_u64().unwrap() > 50, "{b}");
    if code == 1 {
        let first = &b["violations"][0];
        assert!(first["explanation"].as_str().is_some_and(|e| e.contains(" saw {")), "{first}");
    }
    common::assert_recheck_agrees(&dir);
    common::assert_nodes_clean("galera bank");
}
