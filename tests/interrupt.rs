//! Always healed: interrupt running tests at random moments (SIGINT and SIGTERM, ten times) and
//! kill the harness outright (SIGKILL) followed by `faultline heal`; afterwards no FAULTLINE rule
//! remains on any node, no database process is stopped (state T), and after SIGKILL + heal none
//! is left running.

mod common;

use rand::{Rng, SeedableRng};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn start_test(store: &std::path::Path, seed: u64) -> Child {
    Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["test", "--local", "--node-count", "3", "--db", "etcd", "--workload", "register"])
        .args(["--nemesis", "partition-halves,pause,kill,flaky", "--nemesis-interval", "1s", "--time-limit", "40s"])
        .args(["--concurrency", "6", "--rate", "100", "--seed", &seed.to_string(), "--store"])
        .arg(store)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start faultline test")
}

fn signal(child: &Child, sig: i32) {
    // SAFETY: kill(2) on our own child's pid.
    let rc = unsafe { libc::kill(child.id() as i32, sig) };
    assert_eq!(rc, 0, "kill failed");
}

fn wait_bounded(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("faultline did not finish within {limit:?} after the signal");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Every complete line of the history parses (the file may end mid-line only after SIGKILL).
fn assert_history_parses(store: &std::path::Path, context: &str) {
    let Ok(run) = std::fs::canonicalize(store.join("latest")) else { return };
    let Ok(text) = std::fs::read_to_string(run.join("history.jsonl")) else { return };
    for (i, line) in text.split_inclusive('\n').enumerate() {
        if line.ends_with('\n') {
            serde_json::from_str::<serde_json::Value>(line)
                .unwrap_or_else(|e| panic!("{context}: history line {} does not parse: {e}", i + 1));
        }
    }
}

#[test]
fn interrupted_runs_always_heal() {
    let _lock = common::cluster_lock();
    common::ensure_cluster();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(20261122);
    // Rounds interrupted before the run directory existed have no history to check; count the
    // rounds that were checked, so that a harness that never gets that far fails the test.
    let mut checked = 0;
    for round in 0..10 {
        let store = tempfile::tempdir().unwrap();
        let mut child = start_test(store.path(), round);
        // Anywhere from set-up to the middle of the fault schedule.
        let wait = Duration::from_millis(rng.random_range(1_500..9_000));
        std::thread::sleep(wait);
        let (sig, name) = if round % 2 == 0 { (libc::SIGINT, "SIGINT") } else { (libc::SIGTERM, "SIGTERM") };
        signal(&child, sig);
        let status = wait_bounded(&mut child, Duration::from_secs(90));
        let context = format!("round {round}: {name} after {wait:?} (exit {status})");
        common::assert_nodes_clean(&context);
        assert_history_parses(store.path(), &context);
        // The interrupted run was still checked and reported.
        if let Ok(run) = std::fs::canonicalize(store.path().join("latest")) {
            assert!(run.join("results.json").exists(), "{context}: no results.json after the interrupt");
            checked += 1;
        }
    }
    assert!(checked >= 7, "only {checked} of 10 interrupted rounds had reached their run directory");
}

#[test]
fn heal_repairs_nodes_after_sigkill() {
    let _lock = common::cluster_lock();
    common::ensure_cluster();
    let store = tempfile::tempdir().unwrap();
    let mut child = start_test(store.path(), 99);
    // Wait until a fault is applied (a completed start-* in the history), then SIGKILL.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        assert!(Instant::now() < deadline, "no fault was applied within 60 s");
        let applied = std::fs::canonicalize(store.path().join("latest"))
            .ok()
            .and_then(|run| std::fs::read_to_string(run.join("history.jsonl")).ok())
            .map(|h| h.lines().any(|l| l.contains("\"start-") && l.contains("\"verified\"")))
            .unwrap_or(false);
        if applied {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    signal(&child, libc::SIGKILL);
    let _ = child.wait();
    let heal = common::faultline().args(["heal", "--local"]).output().unwrap();
    let said = String::from_utf8_lossy(&heal.stdout);
    assert!(heal.status.success(), "heal failed: {said}{}", String::from_utf8_lossy(&heal.stderr));
    common::assert_nodes_clean("after SIGKILL and faultline heal");
    assert_history_parses(store.path(), "after SIGKILL");
    // Heal also stopped the etcd the killed run left.
    for n in ["n1", "n2", "n3"] {
        let out = common::faultline().args(["cluster", "exec", n, "--", "sh", "-c", "pgrep -x etcd || true"]).output();
        let left = String::from_utf8_lossy(&out.unwrap().stdout).trim().to_string();
        assert!(left.is_empty(), "etcd still runs on {n} after heal: pids {left}");
    }
}
