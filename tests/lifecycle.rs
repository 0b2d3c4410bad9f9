//! A crashed run must not break the next one (Jepsen's `db/setup!` kills and wipes first; its
//! teardown runs on every exit). Against etcd on the real local cluster:
//! - SIGKILL, then `faultline heal`: heal stops the etcd processes the killed run left, and the
//!   next run is valid;
//! - SIGKILL, then the next run straight away: set-up stops the stale processes (and says so), and
//!   the run is valid;
//! - a run that stops early (an etcd that never serves its client port): no etcd is left;
//! - something else listening on the client port: set-up stops it (naming node, port and pid).
//!
//! These use the local cluster, so they take the shared cluster lock.

mod common;

use common::{faultline, results};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const NODES: [&str; 3] = ["n1", "n2", "n3"];

/// A 60 s etcd run on three nodes, in the background.
fn start_long_run(store: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["test", "--local", "--node-count", "3", "--db", "etcd", "--workload", "register"])
        .args(["--nemesis", "partition-halves", "--nemesis-interval", "3s", "--time-limit", "60s"])
        .args(["--concurrency", "6", "--rate", "100", "--seed", "3", "--store"])
        .arg(store)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start faultline test")
}

/// Wait until the run's clients have completed some operations, then SIGKILL the harness.
fn kill_when_running(mut child: Child, store: &Path) {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        assert!(Instant::now() < deadline, "the run did not get going within 90 s");
        let oks = std::fs::canonicalize(store.join("latest"))
            .ok()
            .and_then(|run| std::fs::read_to_string(run.join("history.jsonl")).ok())
            .map(|h| h.lines().filter(|l| l.contains("\"type\":\"ok\"")).count())
            .unwrap_or(0);
        if oks >= 50 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // SAFETY: kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGKILL) }, 0);
    let _ = child.wait();
}

/// The pids of processes named `comm` on a node of the local cluster.
fn pids_on(node: &str, comm: &str) -> Vec<u32> {
    let out = faultline()
        .args(["cluster", "exec", node, "--", "sh", "-c", &format!("pgrep -x {comm} || true")])
        .output()
        .unwrap();
    assert!(out.status.success(), "cannot ask {node}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).split_whitespace().map(|p| p.parse().unwrap()).collect()
}

fn etcd_left() -> Vec<(String, Vec<u32>)> {
    NODES.iter().map(|n| (n.to_string(), pids_on(n, "etcd"))).filter(|(_, p)| !p.is_empty()).collect()
}

/// A short valid run; returns everything it printed.
fn short_valid_run(context: &str) -> String {
    let store = tempfile::tempdir().unwrap();
    let (code, run, log) = common::run_local_test(
        store.path(),
        &[
            "--db",
            "etcd",
            "--workload",
            "register",
            "--nemesis",
            "partition-halves",
            "--nemesis-interval",
            "3s",
            "--time-limit",
            "10s",
            "--rate",
            "100",
            "--seed",
            "11",
        ],
    );
    assert_eq!(code, 0, "{context}: the next run must be valid (exit 0):\n{log}");
    assert_eq!(results(&run)["verdict"], "valid");
    assert!(etcd_left().is_empty(), "{context}: the run left etcd running: {:?}", etcd_left());
    log
}

#[test]
fn sigkill_then_heal_then_a_valid_run() {
    if !common::have_root() {
        return;
    }
    let _lock = common::cluster_lock();
    common::ensure_cluster();
    let store = tempfile::tempdir().unwrap();
    kill_when_running(start_long_run(store.path()), store.path());
    assert_eq!(etcd_left().len(), 3, "the killed run should have left etcd on every node");
    let heal = faultline().args(["heal", "--local"]).output().unwrap();
    let said = String::from_utf8_lossy(&heal.stdout).to_string();
    assert!(heal.status.success(), "heal failed: {said}{}", String::from_utf8_lossy(&heal.stderr));
    for n in NODES {
        let line = said.lines().find(|l| l.contains(&format!("{n}: killed stale process pid")));
        assert!(line.is_some_and(|l| l.contains("etcd")), "heal does not say what it stopped on {n}:\n{said}");
    }
    assert!(etcd_left().is_empty(), "heal left etcd running: {:?}", etcd_left());
    common::assert_nodes_clean("after SIGKILL and heal");
    short_valid_run("after SIGKILL and heal");
}

#[test]
fn sigkill_then_a_valid_run_without_heal() {
    if !common::have_root() {
        return;
    }
    let _lock = common::cluster_lock();
    common::ensure_cluster();
    let store = tempfile::tempdir().unwrap();
    kill_when_running(start_long_run(store.path()), store.path());
    let stale: Vec<u32> = NODES.iter().flat_map(|n| pids_on(n, "etcd")).collect();
    assert_eq!(stale.len(), 3, "the killed run should have left etcd on every node");
    let log = short_valid_run("after SIGKILL without heal");
    for n in NODES {
        assert!(
            log.contains(&format!("{n}: killed stale process pid")),
            "set-up does not say what it stopped on {n}:\n{log}"
        );
    }
    for pid in stale {
        assert!(log.contains(&format!("pid {pid} ")), "set-up does not name stale pid {pid}:\n{log}");
    }
}

#[test]
fn heal_keep_db_leaves_the_database_running() {
    if !common::have_root() {
        return;
    }
    let _lock = common::cluster_lock();
    common::ensure_cluster();
    let store = tempfile::tempdir().unwrap();
    kill_when_running(start_long_run(store.path()), store.path());
    let heal = faultline().args(["heal", "--local", "--keep-db"]).output().unwrap();
    assert!(heal.status.success(), "heal --keep-db failed: {}", String::from_utf8_lossy(&heal.stderr));
    assert_eq!(etcd_left().len(), 3, "heal --keep-db stopped etcd");
    let heal = faultline().args(["heal", "--local"]).output().unwrap();
    assert!(heal.status.success());
    assert!(etcd_left().is_empty(), "heal left etcd running: {:?}", etcd_left());
}

#[test]
fn a_run_that_stops_early_leaves_no_etcd() {
    if !common::have_root() {
        return;
    }
    let _lock = common::cluster_lock();
    common::ensure_cluster();
    let store = tempfile::tempdir().unwrap();
    // A "broken build" of etcd: it starts and forms its cluster, but serves clients on another
    // port, so set-up never sees a leader and the run stops early.
    let bin = store.path().join("etcd");
    std::fs::write(
        &bin,
        "#!/bin/sh\nexec /usr/bin/etcd \"$@\" --listen-client-urls http://127.0.0.1:2399 --advertise-client-urls http://127.0.0.1:2399\n",
    )
    .unwrap();
    Command::new("chmod").arg("755").arg(&bin).status().unwrap();
    let started = Instant::now();
    let (code, _run, log) = common::run_local_test(
        store.path(),
        &["--db", "etcd", "--db-binary", bin.to_str().unwrap(), "--time-limit", "10s", "--seed", "1"],
    );
    assert_eq!(code, 255, "a run whose etcd never serves must fail (255):\n{log}");
    assert!(log.contains("no leader"), "the error should say why:\n{log}");
    assert!(etcd_left().is_empty(), "the failed run left etcd running: {:?}", etcd_left());
    eprintln!("early stop took {:?}", started.elapsed());
}

#[test]
fn a_stranger_on_the_client_port_is_stopped_at_set_up() {
    if !common::have_root() {
        return;
    }
    let _lock = common::cluster_lock();
    common::ensure_cluster();
    // Something that is not this run's etcd holds n2's client port.
    let out = faultline()
        .args(["cluster", "exec", "n2", "--", "sh", "-c", "setsid nc -lk 2379 </dev/null >/dev/null 2>&1 & echo $!"])
        .output()
        .unwrap();
    let pid: u32 = String::from_utf8_lossy(&out.stdout).trim().parse().expect("pid of the listener");
    // Wait until it listens (polled, not a fixed sleep): set-up must find it on the port.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let ss = faultline().args(["cluster", "exec", "n2", "--", "ss", "-Hltn", "sport = :2379"]).output().unwrap();
        if !String::from_utf8_lossy(&ss.stdout).trim().is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "nc did not listen on n2:2379 within 10 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    let log = short_valid_run("with a stranger on n2:2379");
    assert!(
        log.contains(&format!("n2: killed stale process pid {pid} (listening on port 2379)")),
        "set-up does not name the listener it stopped:\n{log}"
    );
    assert!(pids_on("n2", "nc").is_empty(), "the listener is still there");
}
