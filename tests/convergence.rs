//! Convergence and loss against real databases on the local cluster: Redis with asynchronous
//! replication loses acknowledged writes when its primary is failed over (and the test must find
//! and report them); etcd under partitions and kills loses nothing and converges.

mod common;

use common::{results, run_local_test as run};

#[test]
fn redis_failover_loses_acknowledged_writes() {
    if !common::have_root() {
        return;
    }
    let _lock = common::cluster_lock();
    common::ensure_cluster();
    let store = tempfile::tempdir().unwrap();
    let schedule = common::failover_schedule(store.path(), "4s", "12s");
    let (code, dir, log) = run(
        store.path(),
        &[
            "--db",
            "redis",
            "--workload",
            "set",
            "--nemesis-schedule",
            schedule.to_str().unwrap(),
            "--time-limit",
            "16s",
            "--concurrency",
            "6",
            "--rate",
            "200",
            "--recovery-time",
            "10s",
            "--expect",
            "lost==0",
            "--seed",
            "5",
        ],
    );
    assert_eq!(code, 1, "redis must be found invalid:\n{log}");
    let r = results(&dir);
    let set = &r["checkers"]["set"];
    assert_eq!(set["verdict"], "invalid", "{set}");
    let lost = set["counts"]["lost"].as_u64().unwrap();
    assert!(lost > 0, "no acknowledged write was lost: {set}");
    // Each lost element says when it was acknowledged, and it was acknowledged: it is in no
    // final read.
    let first = &set["lost"][0];
    assert!(first["acknowledged_at"].as_u64().is_some(), "{first}");
    // After the heal the old primary follows the new one: the replicas converge (on less).
    assert_eq!(r["checkers"]["convergence"]["converged"], true, "{}", r["checkers"]["convergence"]);
    // The why: the first lost element's add, the node that acknowledged it, the failover then.
    let why = set["explanation"].as_str().unwrap_or_else(|| panic!("no explanation: {set}"));
    assert!(why.contains("failover") && why.contains(" on n"), "{why}");
    common::assert_report_explains(&dir, "redis-failover", &["Why: add ", "(failover, from "]);
    let broken = &r["checkers"]["expectations"];
    assert_eq!(broken["verdict"], "invalid");
    assert!(broken["summary"].as_str().unwrap().contains("lost"), "{broken}");
    // Offline, with no flags, the same checkers and the same broken expectations.
    common::assert_recheck_agrees(&dir);
    // The failover really happened: a replica was promoted while the primary was cut off.
    let history = std::fs::read_to_string(dir.join("history.jsonl")).unwrap();
    assert!(history
        .lines()
        .any(|l| l.contains("\"start-failover\"") && l.contains("\"new_primary\"") && l.contains("\"verified\":true")));
    // Writes go to the primary, and their invokes say so: an add's invoke names the node that
    // then served it (except around the failover, when the primary changes in between).
    let ops: Vec<serde_json::Value> = history.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let mut invoked_at = std::collections::HashMap::new();
    let (mut same, mut acked) = (0, 0);
    for op in ops.iter().filter(|o| o["f"] == "add") {
        match op["type"].as_str() {
            Some("invoke") => {
                invoked_at.insert(op["process"].as_u64(), op["node"].clone());
            }
            Some("ok") => {
                acked += 1;
                same += usize::from(invoked_at.get(&op["process"].as_u64()) == Some(&op["node"]));
            }
            _ => {}
        }
    }
    assert!(
        acked > 0 && same * 10 >= acked * 9,
        "{same} of {acked} acknowledged adds name their serving node at invoke"
    );
}

#[test]
fn etcd_set_under_partitions_loses_nothing_and_converges() {
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
            "etcd",
            "--workload",
            "set",
            "--nemesis",
            "partition-leader,partition-halves,kill",
            "--nemesis-interval",
            "3s",
            "--time-limit",
            "20s",
            "--concurrency",
            "6",
            "--rate",
            "150",
            "--recovery-time",
            "10s",
            "--expect",
            "lost==0",
            "--expect",
            "divergence<=0.0",
            "--seed",
            "8",
        ],
    );
    assert_eq!(code, 0, "etcd's set must be valid:\n{log}");
    let r = results(&dir);
    assert_eq!(r["checkers"]["set"]["counts"]["lost"], 0);
    assert!(r["checkers"]["set"]["counts"]["acknowledged"].as_u64().unwrap() > 100);
    assert_eq!(r["checkers"]["convergence"]["converged"], true);
    assert_eq!(r["checkers"]["convergence"]["divergence"], 0.0);
    assert_eq!(r["checkers"]["expectations"]["verdict"], "valid");
    let windows = r["checkers"]["metrics"]["windows"].as_array().unwrap();
    assert!(!windows.is_empty(), "no fault window measured");
    common::assert_recheck_agrees(&dir);
}
