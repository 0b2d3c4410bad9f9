//! PostgreSQL 15 on the local cluster (a primary and two streaming replicas), under the
//! transactional workloads: each isolation level shows the anomalies it allows and no others,
//! serializable holds under partitions and kills, and an asynchronous replica's promotion loses
//! acknowledged transactions, which the run finds and names.

mod common;

use common::{results, run_local_test as run};

/// `faultline check` of a run's history against `models`: the exit code and what it printed.
fn recheck(dir: &std::path::Path, models: &str) -> (i32, String) {
    let out = common::faultline()
        .args(["check", "--workload", "list-append", "--consistency-models", models])
        .arg(dir.join("history.jsonl"))
        .output()
        .unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).to_string())
}

/// The anomaly types the run's transactional checker found.
fn anomaly_types(dir: &std::path::Path) -> Vec<String> {
    let r = results(dir);
    let types = r["checkers"]["txn"]["anomaly-types"].as_array().cloned().unwrap_or_default();
    types.iter().filter_map(|t| t.as_str().map(String::from)).collect()
}

/// Contention on few keys from many clients, unthrottled: what makes the weaker levels show
/// their anomalies within seconds.
const CONTENDED: [&str; 10] =
    ["--db", "postgres", "--workload", "list-append", "--concurrency", "10", "--rate", "0", "--key-count", "4"];

#[test]
fn postgres_isolation_levels_show_their_anomalies() {
    if !common::have_root() {
        return;
    }
    let _lock = common::cluster_lock();
    common::ensure_cluster();
    let store = tempfile::tempdir().unwrap();

    // Repeatable read (snapshot isolation in PostgreSQL): write skew, G2-item, under
    // serializable; the same history is valid under snapshot isolation.
    let mut args = CONTENDED.to_vec();
    args.extend(["--isolation", "repeatable-read", "--consistency-models", "serializable", "--time-limit", "6s"]);
    args.extend(["--seed", "1"]);
    let (code, dir, log) = run(store.path(), &args);
    assert_eq!(code, 1, "repeatable-read must be invalid under serializable:\n{log}");
    let types = anomaly_types(&dir);
    assert!(types.contains(&"G2-item".to_string()), "{types:?}\n{log}");
    assert!(!types.iter().any(|t| t.starts_with("G1") || t == "G0"), "snapshot isolation allows no G0/G1: {types:?}");
    let (code, out) = recheck(&dir, "snapshot-isolation");
    assert_eq!(code, 0, "the same history is valid under snapshot-isolation:\n{out}");
    // The headline says what still holds (snapshot isolation, what PostgreSQL promises), and
    // each instance is said in one sentence before its proof.
    common::assert_report_explains(
        &dir,
        "postgres-repeatable-read",
        &["G2-item (1 of", "Consistency models", "still consistent with snapshot-isolation", "missed", "Step by step:"],
    );
    // With no flags, `check` uses the run's own consistency models (serializable), not Elle's
    // default, and so gives the run's verdict.
    common::assert_recheck_agrees(&dir);

    // Read committed: read skew / lost update, ruled out by repeatable read.
    let store = tempfile::tempdir().unwrap();
    let mut args = CONTENDED.to_vec();
    args.extend(["--isolation", "read-committed", "--consistency-models", "repeatable-read", "--time-limit", "6s"]);
    args.extend(["--seed", "2"]);
    let (code, dir, log) = run(store.path(), &args);
    assert_eq!(code, 1, "read-committed must be invalid under repeatable-read:\n{log}");
    let types = anomaly_types(&dir);
    assert!(
        types.iter().any(|t| t == "G-single-item" || t == "lost-update"),
        "read committed shows G-single-item or lost-update: {types:?}\n{log}"
    );
    assert!(!types.iter().any(|t| t.starts_with("G1") || t == "G0"), "read committed allows no G0/G1: {types:?}");
}

#[test]
fn postgres_serializable_holds_under_partitions_and_kills() {
    if !common::have_root() {
        return;
    }
    let _lock = common::cluster_lock();
    common::ensure_cluster();
    let store = tempfile::tempdir().unwrap();
    let mut args = CONTENDED.to_vec();
    args.extend(["--isolation", "serializable", "--consistency-models", "serializable"]);
    args.extend(["--nemesis", "partition-halves,kill", "--nemesis-interval", "3s", "--time-limit", "15s"]);
    args.extend(["--seed", "3"]);
    let (code, dir, log) = run(store.path(), &args);
    assert_eq!(code, 0, "serializable must be valid:\n{log}");
    let r = results(&dir);
    let txn = &r["checkers"]["txn"];
    assert_eq!(txn["valid?"], true, "{txn}");
    assert_eq!(txn["lost-count"], 0, "{txn}");
    // The faults really happened, and serialization failures were recorded as fail.
    let history = std::fs::read_to_string(dir.join("history.jsonl")).unwrap();
    assert!(history.contains("\"start-kill\"") && history.contains("\"start-partition-halves\""), "{log}");
    assert!(history.contains("40001"), "no serialization failure recorded:\n{log}");
    assert!(txn["stats"]["ok"].as_u64().unwrap() > 1000, "{txn}");
    common::assert_txn_recheck_agrees(&dir);
    common::assert_recheck_agrees(&dir);
    common::assert_nodes_clean("postgres serializable");
}

/// The rw-register workload end to end: PostgreSQL's serializable transactions over registers
/// are serializable, and `faultline check` on the history gives the run's results.
#[test]
fn postgres_rw_register_is_serializable_and_rechecks_offline() {
    if !common::have_root() {
        return;
    }
    let _lock = common::cluster_lock();
    common::ensure_cluster();
    let store = tempfile::tempdir().unwrap();
    let args = ["--db", "postgres", "--workload", "rw-register", "--concurrency", "6", "--rate", "0"];
    let mut args = args.to_vec();
    args.extend(["--key-count", "4", "--isolation", "serializable", "--consistency-models", "serializable"]);
    args.extend(["--time-limit", "6s", "--seed", "6"]);
    let (code, dir, log) = run(store.path(), &args);
    assert_eq!(code, 0, "serializable rw-register must be valid:\n{log}");
    let txn = &results(&dir)["checkers"]["txn"];
    assert_eq!(txn["workload"], "rw-register", "{txn}");
    assert!(txn["stats"]["ok"].as_u64().unwrap() > 100, "{txn}");
    common::assert_recheck_agrees(&dir);
    common::assert_nodes_clean("postgres rw-register");
}

#[test]
fn postgres_async_failover_loses_acknowledged_transactions() {
    if !common::have_root() {
        return;
    }
    let _lock = common::cluster_lock();
    common::ensure_cluster();
    let store = tempfile::tempdir().unwrap();
    let schedule = common::failover_schedule(store.path(), "3s", "7s");
    let mut args = CONTENDED.to_vec();
    args.extend(["--isolation", "serializable", "--consistency-models", "serializable"]);
    args.extend(["--nemesis-schedule", schedule.to_str().unwrap(), "--time-limit", "10s", "--seed", "4"]);
    let (code, dir, log) = run(store.path(), &args);
    assert_eq!(code, 1, "the failover must be found to lose transactions:\n{log}");
    let r = results(&dir);
    let txn = &r["checkers"]["txn"];
    let lost = txn["lost-count"].as_u64().unwrap();
    assert!(lost > 0, "no acknowledged append lost: {txn}");
    // Named: acknowledged by the old primary while it was cut off, missing after the promotion.
    let summary = txn["summary"].as_str().unwrap();
    assert!(summary.starts_with(&format!("lost: {lost} acknowledged appends")), "{summary}");
    let why = txn["explanation"].as_str().unwrap_or_else(|| panic!("no explanation: {txn}"));
    assert!(why.contains("(failover, from ") && why.contains("missing from the final read"), "{why}");
    let old = txn["lost"][0]["node"].as_str().unwrap().to_string();
    // The promotion happened and the old primary rejoined the new one as a replica.
    let history = std::fs::read_to_string(dir.join("history.jsonl")).unwrap();
    let promoted = history
        .lines()
        .find(|l| l.contains("\"start-failover\"") && l.contains("\"new_primary\""))
        .unwrap_or_else(|| panic!("no promotion:\n{log}"));
    assert!(promoted.contains(&format!("\"old_primary\":\"{old}\"")), "{promoted}");
    assert!(history.contains("now follow"), "the old primary did not rejoin:\n{log}");
    let faultline_log = std::fs::read_to_string(dir.join("faultline.log")).unwrap();
    assert!(faultline_log.contains(&format!("{old} rejoined as a replica of")), "{faultline_log}");
    common::assert_report_explains(&dir, "postgres-failover", &["Why: txn ", "Lost appends"]);
    common::assert_recheck_agrees(&dir);
    common::assert_nodes_clean("postgres failover");
}

/// The bank workload (Jepsen's): read-modify-write transfers between five accounts. At
/// serializable every read sums to the initial 100; at read committed two transfers from the
/// same account both read its old balance and one debit is lost, so reads see money created,
/// and the report names the first wrong read and the transfers concurrent with it.
#[test]
fn postgres_bank_holds_at_serializable_and_loses_updates_at_read_committed() {
    if !common::have_root() {
        return;
    }
    let _lock = common::cluster_lock();
    common::ensure_cluster();
    let store = tempfile::tempdir().unwrap();
    let bank = ["--db", "postgres", "--workload", "bank", "--concurrency", "10", "--rate", "0", "--time-limit", "6s"];
    let mut args = bank.to_vec();
    args.extend(["--isolation", "serializable", "--seed", "4"]);
    let (code, dir, log) = run(store.path(), &args);
    assert_eq!(code, 0, "serializable transfers keep the total:\n{log}");
    let b = &results(&dir)["checkers"]["bank"];
    assert_eq!(b["verdict"], "valid", "{b}");
    assert!(b["counts"]["reads"].as_u64().unwrap() > 100 && b["counts"]["transfers_ok"].as_u64().unwrap() > 100, "{b}");
    let history = std::fs::read_to_string(dir.join("history.jsonl")).unwrap();
    assert!(history.contains("40001"), "concurrent transfers must conflict at serializable:\n{log}");
    common::assert_recheck_agrees(&dir);

    let mut args = bank.to_vec();
    args.extend(["--isolation", "read-committed", "--seed", "5"]);
    let (code, dir, log) = run(store.path(), &args);
    assert_eq!(code, 1, "read-committed transfers lose updates:\n{log}");
    let b = &results(&dir)["checkers"]["bank"];
    assert_eq!(b["verdict"], "invalid", "{b}");
    let first = &b["violations"][0];
    assert_eq!(first["kind"], "wrong-total", "{first}");
    assert_ne!(first["total"], 100, "{first}");
    common::assert_report_explains(
        &dir,
        "postgres-bank-read-committed",
        &["The first wrong read: ", "Wrong reads", "ran concurrently with it"],
    );
    common::assert_recheck_agrees(&dir);
    common::assert_nodes_clean("postgres bank");
}

/// unique-ids (Jepsen's): ids from a PostgreSQL sequence, through kills of the primary's
/// process, are all distinct; `faultline check` agrees offline.
#[test]
fn postgres_unique_ids_are_distinct() {
    if !common::have_root() {
        return;
    }
    let _lock = common::cluster_lock();
    common::ensure_cluster();
    let store = tempfile::tempdir().unwrap();
    let args = ["--db", "postgres", "--workload", "unique-ids", "--concurrency", "6", "--rate", "0"];
    let mut args = args.to_vec();
    args.extend(["--nemesis", "kill", "--nemesis-interval", "2s", "--time-limit", "6s", "--seed", "7"]);
    let (code, dir, log) = run(store.path(), &args);
    assert_eq!(code, 0, "a sequence hands out each id once:\n{log}");
    let u = &results(&dir)["checkers"]["unique-ids"];
    assert!(u["counts"]["acknowledged"].as_u64().unwrap() > 500, "{u}");
    common::assert_recheck_agrees(&dir);
    common::assert_nodes_clean("postgres unique-ids");
}
