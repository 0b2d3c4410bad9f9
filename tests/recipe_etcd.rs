//! The recipe path cross-checked against the built-in adapter: etcd from examples/etcd (a recipe
//! file and a Python client over the JSON gateway) and the built-in `--db etcd` with its Rust
//! client, on one exact schedule each, give the same verdicts: valid with linearizable reads
//! through a kill and a partition; invalid with serializable reads from a node cut off from the
//! majority.

mod common;

use common::results;
use std::path::Path;

const RECIPE: &str = "examples/etcd/etcd.toml";
const CLIENT: &str = "/usr/bin/python3 examples/etcd/client.py";

/// `faultline test` with `db` flags on `schedule`; returns the exit code, the verdict, what the
/// run printed and its faultline.log.
fn verdict(store: &Path, db: &[&str], schedule: &Path, extra: &[&str]) -> (i32, String, String, String) {
    let mut args: Vec<&str> = db.to_vec();
    args.extend_from_slice(&[
        "--workload",
        "register",
        "--nemesis-schedule",
        schedule.to_str().unwrap(),
        "--concurrency",
        "9",
        "--rate",
        "200",
        "--op-timeout",
        "1s",
        "--seed",
        "11",
    ]);
    args.extend_from_slice(extra);
    let (code, run, log) = common::run_local_test(store, &args);
    let r = results(&run);
    let run_log = std::fs::read_to_string(run.join("faultline.log")).unwrap_or_default();
    (code, r["verdict"].as_str().unwrap_or("").to_string(), log, run_log)
}

#[test]
fn recipe_etcd_and_builtin_etcd_agree() {
    if !common::have_root() {
        return;
    }
    let _lock = common::cluster_lock();
    common::ensure_cluster();
    let dir = tempfile::tempdir().unwrap();
    let kill_and_cut = dir.path().join("kill-and-cut.toml");
    std::fs::write(
        &kill_and_cut,
        "[[step]]\nat = \"2s\"\nstart = \"kill\"\nnodes = [\"n2\"]\n\n[[step]]\nat = \"3s\"\nstop = \"kill\"\n\n\
         [[step]]\nat = \"4s\"\nstart = \"partition-one\"\n[step.grudge]\nn1 = [\"n2\", \"n3\"]\nn2 = [\"n1\"]\nn3 = [\"n1\"]\n\n\
         [[step]]\nat = \"8s\"\nheal = true\n",
    )
    .unwrap();
    let cut_off = common::n1_cut_off_schedule(dir.path());
    let store = dir.path().join("store");
    let builtin = ["--db", "etcd"];
    let recipe = ["--db-recipe", RECIPE, "--client", CLIENT];
    let stale = format!("{CLIENT} --serializable");
    let recipe_stale = ["--db-recipe", RECIPE, "--client", stale.as_str()];

    let a = verdict(&store, &builtin, &kill_and_cut, &["--time-limit", "10s"]);
    let b = verdict(&store, &recipe, &kill_and_cut, &["--time-limit", "10s"]);
    assert_eq!((a.0, a.1.as_str()), (0, "valid"), "built-in etcd, linearizable reads:\n{}", a.2);
    assert_eq!((b.0, b.1.as_str()), (0, "valid"), "recipe etcd, linearizable reads:\n{}", b.2);
    assert!(b.3.contains("n2: restarted etcd"), "the recipe's kill was not undone by a restart:\n{}", b.3);

    // Long-lived keys: n1's readers race ahead of the majority's writers (whose ops time out
    // while a new leader is elected, when n1 led), so with short-lived keys n1 could read each
    // key only before the majority writes it and see nothing stale.
    let c = verdict(&store, &builtin, &cut_off, &["--time-limit", "12s", "--serializable", "--ops-per-key", "1000"]);
    let d = verdict(&store, &recipe_stale, &cut_off, &["--time-limit", "12s", "--ops-per-key", "1000"]);
    assert_eq!((c.0, c.1.as_str()), (1, "invalid"), "built-in etcd, serializable reads:\n{}", c.2);
    assert_eq!((d.0, d.1.as_str()), (1, "invalid"), "recipe etcd, serializable reads:\n{}", d.2);
    common::assert_nodes_clean("after the etcd cross-check");
}
