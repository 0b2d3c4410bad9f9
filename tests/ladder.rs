//! The consistency ladder against a real database: etcd on the local cluster with serializable
//! reads served by followers (`--serializable --read-from follower`), unique written values, and
//! one node partitioned away now and then. Such reads may be stale, so the history is not
//! linearizable; the ladder says which weaker promises also fall and shows the witness, and
//! `--expect 'model>=causal'` turns that into the run's verdict.

mod common;

use common::{results, run_local_test as run};

#[test]
fn etcd_follower_reads_break_the_ladder_and_the_model_expectation() {
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
            "register",
            "--unique-writes",
            "--read-from",
            "follower",
            "--serializable",
            "--nemesis",
            "partition-one",
            "--nemesis-interval",
            "4s",
            "--time-limit",
            "16s",
            "--expect",
            "model>=causal",
            "--seed",
            "3",
        ],
    );
    assert_eq!(code, 1, "stale follower reads must be found (exit 1):\n{log}");
    let r = results(&dir);
    let ladder = &r["checkers"]["ladder"];
    let rung = |m: &str| {
        ladder["rungs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["model"] == m)
            .unwrap_or_else(|| panic!("no {m}: {ladder}"))
            .clone()
    };
    assert_eq!(rung("linearizable")["status"], "broken", "{ladder}");
    // Every read went to a follower, and the history says which.
    let history = std::fs::read_to_string(dir.join("history.jsonl")).unwrap();
    let test: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("test.json")).unwrap()).unwrap();
    assert_eq!((test["read_from"].as_str(), test["unique_writes"].as_bool()), (Some("follower"), Some(true)));
    assert!(history.lines().any(|l| l.contains("\"f\":\"read\"") && l.contains("\"node\":\"n")));
    // Written values are unique, so the causal rungs apply: each is decided, with a witness when broken.
    for m in ["causal", "causal-convergence", "causal-memory", "read-your-writes", "monotonic-reads"] {
        let x = rung(m);
        assert_ne!(x["status"], "not-applicable", "{m}: {x}");
        if x["status"] == "broken" {
            let w = &x["witness"];
            assert!(
                !w["ops"].as_array().unwrap().is_empty()
                    && w["explanation"].as_str().unwrap().contains("history index"),
                "{m}: {x}"
            );
        }
    }
    // `--expect model>=causal` follows the causal rung.
    let expectation = &r["checkers"]["expectations"];
    let causal_holds = rung("causal")["status"] == "holds";
    assert_eq!(expectation["verdict"], if causal_holds { "valid" } else { "invalid" }, "{expectation}");
    common::assert_report_explains(
        &dir,
        "etcd-follower-ladder",
        &["Consistency ladder (strongest first)", "NotLinearizable"],
    );
}

/// Redis with reads from the replicas while the primary is failed over: asynchronous replication
/// loses acknowledged writes and replicas lag, so linearizability falls; with unique values every
/// causal and session rung is decided (none is "not applicable"), each broken one with a witness.
#[test]
fn redis_replica_reads_under_failover_climb_down_the_ladder() {
    if !common::have_root() {
        return;
    }
    let _lock = common::cluster_lock();
    common::ensure_cluster();
    let store = tempfile::tempdir().unwrap();
    let schedule = common::failover_schedule(store.path(), "4s", "11s");
    let (code, dir, log) = run(
        store.path(),
        &[
            "--db",
            "redis",
            "--workload",
            "register",
            "--unique-writes",
            "--read-from",
            "follower",
            "--nemesis-schedule",
            schedule.to_str().unwrap(),
            "--time-limit",
            "15s",
            "--rate",
            "200",
            "--seed",
            "5",
        ],
    );
    assert_eq!(code, 1, "replica reads under failover must not be linearizable (exit 1):\n{log}");
    let r = results(&dir);
    let ladder = &r["checkers"]["ladder"];
    let rungs = ladder["rungs"].as_array().unwrap();
    let status = |m: &str| rungs.iter().find(|x| x["model"] == m).map(|x| x["status"].clone()).unwrap();
    assert_eq!(status("linearizable"), "broken", "{ladder}");
    for x in rungs.iter().filter(|x| x["model"] != "convergence") {
        assert_ne!(x["status"], "not-applicable", "{x}");
        if x["status"] == "broken" {
            assert!(x["witness"]["explanation"].as_str().is_some_and(|e| e.contains("history index")), "{x}");
        }
    }
    // Reads succeeded (served by the replicas the history names).
    let history = std::fs::read_to_string(dir.join("history.jsonl")).unwrap();
    assert!(history.lines().any(|l| l.contains("\"f\":\"read\"") && l.contains("\"type\":\"ok\"")));
}
