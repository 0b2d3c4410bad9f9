//! The NATS example (examples/nats: Debian's nats-server from a recipe file, a Node.js client
//! with the `nats` npm package over the JSON-lines protocol) on the local cluster: JetStream
//! key-value under partitions, register workload. The run must complete, be decided (valid or
//! invalid, never unknown) and check the same offline; the README says what it gives (a lost
//! update from a revision-checked update racing a put, in some runs). Needs `npm ci` in
//! examples/nats (scripts/test runs it).

mod common;

use common::{faultline, results};

#[test]
fn nats_jetstream_kv_under_partitions_is_decided() {
    if !common::have_root() {
        return;
    }
    assert!(
        std::path::Path::new("examples/nats/node_modules/nats").is_dir(),
        "run `npm ci` in examples/nats first (scripts/test does)"
    );
    let _lock = common::cluster_lock();
    common::ensure_cluster();
    let store = tempfile::tempdir().unwrap();
    let (code, run, log) = common::recipe_register_run(
        store.path(),
        "examples/nats/nats.toml",
        "node examples/nats/client.js",
        "12s",
        &[],
    );
    let r = results(&run);
    let verdict = r["verdict"].as_str().unwrap();
    assert!(verdict == "valid" || verdict == "invalid", "undecided:\n{log}");
    assert_eq!(code, if verdict == "valid" { 0 } else { 1 }, "{log}");
    assert!(r["checkers"]["linearizable"]["ops"].as_u64().unwrap() > 300, "too few ops: {r}");
    let run_log = std::fs::read_to_string(run.join("faultline.log")).unwrap();
    // No client broke the protocol (each such error is a warning of faultline::client).
    assert!(!run_log.contains("WARN faultline::client"), "{run_log}");
    let offline = faultline().arg("check").arg(run.join("history.jsonl")).output().unwrap();
    assert_eq!(offline.status.code(), Some(code), "offline check disagrees");
    eprintln!("nats: {verdict}: {}", r["reason"]);
    common::assert_nodes_clean("after the nats run");
}
