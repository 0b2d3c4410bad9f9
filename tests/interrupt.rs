//! Always healed, never a history lost (issue 19's crash and interrupt rounds):
//! - SIGINT / SIGTERM aimed at each phase of a run — set-up, a fault's apply, the heal, the final
//!   reads — counting the rounds that really landed in each phase (the harness names the phase it
//!   was interrupted in);
//! - SIGKILL at random moments, then `faultline check` on what is on disk (a readable prefix: a
//!   torn last line is reported and ignored) and `faultline heal`;
//! - a store that fills up mid-run: the run stops, heals, and says where the history went.
//!
//! Afterwards no FAULTLINE rule remains on any node and no database process is stopped (state T).
//! The suite runs a few rounds; `FAULTLINE_RELIABILITY_ROUNDS=20` runs the campaign of
//! RELIABILITY.md.

mod common;

use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How many rounds of each kind (the suite's default is the quick version).
fn rounds(quick: usize) -> usize {
    std::env::var("FAULTLINE_RELIABILITY_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(quick)
}

/// A running `faultline test` whose stderr is collected as it comes.
struct Run {
    child: Child,
    stderr: Arc<Mutex<String>>,
    store: PathBuf,
}

impl Run {
    fn start(store: &Path, seed: u64, time_limit: &str) -> Run {
        let mut child = Command::new(env!("CARGO_BIN_EXE_faultline"))
            .args(["test", "--local", "--node-count", "3", "--db", "etcd", "--workload", "set"])
            .args(["--nemesis", "partition-halves,pause,kill,flaky", "--nemesis-interval", "1s"])
            .args(["--time-limit", time_limit, "--concurrency", "6", "--rate", "100"])
            .args(["--seed", &seed.to_string(), "--store"])
            .arg(store)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start faultline test");
        let stderr = Arc::new(Mutex::new(String::new()));
        let pipe = child.stderr.take().unwrap();
        let sink = stderr.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(pipe).lines().map_while(Result::ok) {
                let mut s = sink.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
        });
        Run { child, stderr, store: store.to_path_buf() }
    }

    fn said(&self, needle: &str) -> bool {
        self.stderr.lock().unwrap().contains(needle)
    }

    fn history(&self) -> String {
        std::fs::canonicalize(self.store.join("latest"))
            .ok()
            .and_then(|run| std::fs::read_to_string(run.join("history.jsonl")).ok())
            .unwrap_or_default()
    }

    fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child's pid.
        let rc = unsafe { libc::kill(self.child.id() as i32, sig) };
        assert_eq!(rc, 0, "kill failed");
    }

    fn wait_bounded(&mut self, limit: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("faultline did not finish within {limit:?} after the signal:\n{}", self.stderr.lock().unwrap());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// The moment a signal is aimed at.
#[derive(Debug, Clone, Copy)]
enum Aim {
    SetUp,
    FaultApply,
    Heal,
    FinalReads,
}

impl Aim {
    /// The phase the harness names when the signal lands where it was aimed.
    fn phase(self) -> &'static str {
        match self {
            Aim::SetUp => "set-up",
            Aim::FaultApply => "workload, applying a fault",
            Aim::Heal => "heal",
            Aim::FinalReads => "final reads",
        }
    }

    /// Whether the run is at the aimed moment now.
    fn reached(self, run: &Run) -> bool {
        match self {
            Aim::SetUp => run.said("setting up etcd"),
            // The nemesis records a fault's invoke before applying it and its completion after.
            Aim::FaultApply => {
                let history = run.history();
                let last = history.lines().rev().find(|l| l.contains("\"process\":\"nemesis\""));
                last.is_some_and(|l| {
                    l.contains("\"f\":\"start-") && l.contains("\"type\":\"info\"") && !l.contains("verified")
                })
            }
            Aim::Heal => run.said("healing every node"),
            Aim::FinalReads => run.said("final reads from every node"),
        }
    }
}

/// Every complete line of the history parses (the file may end mid-line only after SIGKILL).
fn assert_history_parses(store: &Path, context: &str) {
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
fn interrupts_aimed_at_each_phase_always_heal() {
    if !common::have_root() {
        return;
    }
    let _lock = common::cluster_lock();
    common::ensure_cluster();
    let aims = [Aim::SetUp, Aim::FaultApply, Aim::Heal, Aim::FinalReads];
    // The rounds that landed in each phase, by the phase the harness named.
    let mut landed: BTreeMap<String, usize> = BTreeMap::new();
    // FAULTLINE_RELIABILITY_ROUNDS counts all rounds, spread over the four aims.
    let per_aim = rounds(aims.len()).div_ceil(aims.len());
    let mut round = 0;
    for aim in aims {
        // `per_aim` rounds at each aim, and up to two more while none has landed there (a fault's
        // apply and the final reads last a fraction of a second).
        let (mut tries, mut hits) = (0, 0);
        while tries < per_aim || (hits == 0 && tries < per_aim + 2) {
            let phase = interrupt_round(round, aim);
            hits += (phase == aim.phase()) as usize;
            *landed.entry(phase).or_default() += 1;
            tries += 1;
            round += 1;
        }
        assert!(hits > 0, "no round aimed at {aim:?} landed in the {}: {landed:?}", aim.phase());
    }
    eprintln!("interrupt rounds: {round}; landed in: {landed:?}");
}

/// One run interrupted at `aim`; returns the phase the harness says it was in.
fn interrupt_round(round: usize, aim: Aim) -> String {
    let store = tempfile::tempdir().unwrap();
    let mut run = Run::start(store.path(), round as u64, "6s");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !aim.reached(&run) && Instant::now() < deadline && run.child.try_wait().unwrap().is_none() {
        std::thread::sleep(Duration::from_millis(5));
    }
    let (sig, name) = if round.is_multiple_of(2) { (libc::SIGINT, "SIGINT") } else { (libc::SIGTERM, "SIGTERM") };
    // A run that ended before its aim is counted as landing "after the run".
    if run.child.try_wait().unwrap().is_none() {
        run.signal(sig);
    }
    let status = run.wait_bounded(Duration::from_secs(90));
    let stderr = run.stderr.lock().unwrap().clone();
    let context = format!("round {round}: {name} aimed at {aim:?} (exit {status})\n{stderr}");
    let phase = stderr
        .split(&format!("faultline: {name} during "))
        .nth(1)
        .and_then(|rest| rest.split(';').next())
        .map(str::to_string)
        .unwrap_or_else(|| "after the run".into());
    eprintln!("round {round}: {name} aimed at {aim:?} landed in {phase}");
    common::assert_nodes_clean(&context);
    assert_history_parses(store.path(), &context);
    // The interrupted run was still checked.
    if let Ok(dir) = std::fs::canonicalize(store.path().join("latest")) {
        assert!(dir.join("results.json").exists(), "{context}: no results.json after the interrupt");
    }
    phase
}

#[test]
fn sigkill_at_any_moment_leaves_a_checkable_history_and_heal_repairs() {
    if !common::have_root() {
        return;
    }
    let _lock = common::cluster_lock();
    common::ensure_cluster();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(20261206);
    let total = rounds(2);
    let (mut with_history, mut torn) = (0, 0);
    for round in 0..total {
        let store = tempfile::tempdir().unwrap();
        let mut run = Run::start(store.path(), 100 + round as u64, "20s");
        // Round 0: once a fault is applied (the worst moment); the others anywhere in the run.
        let wait = if round == 0 {
            let deadline = Instant::now() + Duration::from_secs(60);
            while !(run.history().lines().any(|l| l.contains("\"start-") && l.contains("\"verified\""))) {
                assert!(Instant::now() < deadline, "no fault was applied within 60 s");
                std::thread::sleep(Duration::from_millis(50));
            }
            Duration::ZERO
        } else {
            Duration::from_millis(rng.random_range(500..14_000))
        };
        std::thread::sleep(wait);
        run.signal(libc::SIGKILL);
        let _ = run.child.wait();
        let context = format!("SIGKILL round {round} (after {wait:?})");

        // What is on disk is a history `faultline check` decides; a torn last line is reported.
        if let Ok(dir) = std::fs::canonicalize(store.path().join("latest")) {
            let file = dir.join("history.jsonl");
            let text = std::fs::read(&file).unwrap_or_default();
            if !text.is_empty() {
                with_history += 1;
                let out = common::faultline().arg("check").arg(&file).output().unwrap();
                let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
                assert!(matches!(out.status.code(), Some(0..=2)), "{context}: check gave no verdict: {said}");
                if !text.ends_with(b"\n") {
                    torn += 1;
                    assert!(said.contains("truncated last line"), "{context}: the torn line was not reported: {said}");
                }
            }
        }
        let heal = common::faultline().args(["heal", "--local"]).output().unwrap();
        let said = String::from_utf8_lossy(&heal.stdout);
        assert!(heal.status.success(), "{context}: heal failed: {said}{}", String::from_utf8_lossy(&heal.stderr));
        common::assert_nodes_clean(&format!("{context}, after faultline heal"));
        assert_history_parses(store.path(), &context);
        // Heal also stopped the etcd the killed run left.
        for n in ["n1", "n2", "n3"] {
            let out =
                common::faultline().args(["cluster", "exec", n, "--", "sh", "-c", "pgrep -x etcd || true"]).output();
            let left = String::from_utf8_lossy(&out.unwrap().stdout).trim().to_string();
            assert!(left.is_empty(), "{context}: etcd still runs on {n} after heal: pids {left}");
        }
    }
    eprintln!("SIGKILL rounds: {total}; with a history on disk: {with_history} (torn last line: {torn}); all checked and healed");
}

#[test]
fn a_full_store_stops_the_run_heals_and_says_where_the_history_went() {
    if !common::have_root() {
        return;
    }
    let _lock = common::cluster_lock();
    common::ensure_cluster();
    let store = tempfile::tempdir().unwrap();
    let rescue = tempfile::tempdir().unwrap();
    // A 256 KiB store: full within seconds at this rate.
    let mounted = Command::new("mount").args(["-t", "tmpfs", "-o", "size=256k", "tmpfs"]).arg(store.path()).status();
    assert!(mounted.unwrap().success(), "mount a small tmpfs for the store");
    let started = Instant::now();
    let out = common::faultline()
        .env("FAULTLINE_RESCUE_DIR", rescue.path())
        .args(["test", "--local", "--node-count", "3", "--db", "etcd", "--workload", "register"])
        .args(["--nemesis", "partition-halves", "--nemesis-interval", "1s", "--time-limit", "60s"])
        .args(["--concurrency", "10", "--rate", "1000", "--store"])
        .arg(store.path())
        .output()
        .unwrap();
    let elapsed = started.elapsed();
    let said = format!("{}{}", String::from_utf8_lossy(&out.stderr), String::from_utf8_lossy(&out.stdout));
    let _ = Command::new("umount").arg(store.path()).status();
    assert!(elapsed < Duration::from_secs(50), "the run did not stop when the store filled up ({elapsed:?}):\n{said}");
    assert_eq!(out.status.code(), Some(255), "a run whose store filled up is an error:\n{said}");
    assert!(said.contains("No space left on device"), "the cause is named:\n{said}");
    let rescued: Vec<PathBuf> = std::fs::read_dir(rescue.path()).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(rescued.len(), 1, "one rescue file:\n{said}");
    assert!(
        said.contains(&format!("history: {}", rescued[0].display())),
        "the summary points at the rescue file:\n{said}"
    );
    let check = common::faultline().arg("check").arg(&rescued[0]).output().unwrap();
    assert!(matches!(check.status.code(), Some(0..=2)), "the rescued history is checkable: {check:?}");
    common::assert_nodes_clean("after the store filled up");
}
