//! The ZooKeeper example (examples/zookeeper: Debian's zookeeper from a recipe file, a Python
//! kazoo client over the JSON-lines protocol) on the local cluster, register workload under
//! partitions: with sync() before each read the history is linearizable; with plain reads from
//! each client's own server it is still sequentially consistent (the ladder says so) and
//! linearizability is decided, not left unknown (these partitions usually catch a stale read).
//! In between, `faultline client-check` drives the client against the ensemble left running, and
//! `faultline list` and the report name the recipe and the client.
//!
//! One test, so the ensemble is set up twice and not more (the JVM is slow to start).

mod common;

use common::{faultline, results};
use serde_json::Value;

const RECIPE: &str = "examples/zookeeper/zookeeper.toml";
const SYNC_CLIENT: &str = "/usr/bin/python3 examples/zookeeper/client.py --sync";
const PLAIN_CLIENT: &str = "/usr/bin/python3 examples/zookeeper/client.py";

fn zk_run(store: &std::path::Path, client: &str, extra: &[&str]) -> (i32, std::path::PathBuf, String) {
    common::recipe_register_run(store, RECIPE, client, "15s", extra)
}

#[test]
fn zookeeper_sync_reads_are_linearizable_and_plain_reads_sequential() {
    if !common::have_root() {
        return;
    }
    let _lock = common::cluster_lock();
    common::ensure_cluster();
    let store = tempfile::tempdir().unwrap();

    let (code, run, log) = zk_run(store.path(), SYNC_CLIENT, &["--leave-db-running"]);
    assert_eq!(code, 0, "sync reads: expected valid:\n{log}");
    let r = results(&run);
    assert!(r["checkers"]["linearizable"]["ops"].as_u64().unwrap() > 300, "too few ops: {r}");
    let test: Value = serde_json::from_str(&std::fs::read_to_string(run.join("test.json")).unwrap()).unwrap();
    assert_eq!((test["db"].as_str(), test["db_recipe"].as_str()), (Some("zookeeper"), Some(RECIPE)));
    assert_eq!(test["client"], SYNC_CLIENT);
    let page = std::fs::read_to_string(run.join("report/index.html")).unwrap();
    assert!(page.contains(RECIPE) && page.contains("examples/zookeeper/client.py --sync"), "report names neither");
    // A cas whose value did not match is ZooKeeper's correct "no": the page says it is not
    // counted against availability.
    common::assert_report_explains(&run, "zookeeper-sync", &["VALID", "expected"]);
    let list = faultline().args(["list", "--store"]).arg(store.path()).output().unwrap();
    let list = String::from_utf8_lossy(&list.stdout);
    assert!(list.contains(RECIPE) && list.contains("client.py --sync"), "{list}");

    // The ensemble is still up: the client keeps the protocol against it.
    let check = faultline()
        .args(["client-check", "--client", SYNC_CLIENT, "--local", "--node-count", "3", "--ops", "90"])
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&check.stdout), String::from_utf8_lossy(&check.stderr));
    assert_eq!(check.status.code(), Some(0), "{text}");
    assert!(text.contains("protocol: no errors") && text.contains("ok "), "{text}");

    // Plain reads: each server answers from what it has. The set-up stops the ensemble left
    // running and starts a fresh one.
    let (code, run, log) = zk_run(store.path(), PLAIN_CLIENT, &[]);
    assert!(log.contains("killed stale process"), "the ensemble left running was not cleared:\n{log}");
    let r = results(&run);
    let lin = r["checkers"]["linearizable"]["verdict"].as_str().unwrap();
    assert!(lin == "valid" || lin == "invalid", "linearizability undecided: {r}");
    assert_eq!(code, if lin == "valid" { 0 } else { 1 }, "{log}");
    let ladder = &r["checkers"]["ladder"];
    let rung =
        |m: &str| ladder["rungs"].as_array().unwrap().iter().find(|x| x["model"] == m).unwrap()["status"].clone();
    assert_eq!(rung("sequential"), "holds", "{ladder}");
    assert_eq!(rung("causal"), "holds", "{ladder}");
    eprintln!("zookeeper plain reads: linearizable {lin}; {}", ladder["summary"]);
    common::assert_nodes_clean("after the zookeeper runs");
}
