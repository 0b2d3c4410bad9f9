//! Packet faults through the packet agent (NFQUEUE) against the real databases on the local
//! cluster: etcd under `slow` (delay far above its 100 ms heartbeat) holds elections and stays
//! linearizable; Redis under `duplicate`, `reorder` and then `corrupt` stays checkable, and what
//! the corruption did to Redis is read from its own logs; every packet fault is healed (no rule,
//! no agent) after SIGINT, SIGTERM, and SIGKILL followed by `faultline heal`.

mod common;

use serde_json::Value;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// Hold the local cluster and run `faultline test --local --node-count 3` under a schedule of
/// (at, start|stop, fault) steps with the flags in `args` (space-separated); returns the exit
/// code, the run directory and what the run printed (and the store holding the run).
fn run_scheduled(steps: &[(&str, &str, &str)], args: &str) -> (tempfile::TempDir, (i32, std::path::PathBuf, String)) {
    let store = tempfile::tempdir().unwrap();
    let sched = schedule(store.path(), steps);
    let mut all: Vec<&str> = args.split_whitespace().collect();
    all.extend(["--nemesis-schedule", sched.to_str().unwrap()]);
    let out = common::run_local_test(store.path(), &all);
    (store, out)
}

fn schedule(dir: &Path, steps: &[(&str, &str, &str)]) -> std::path::PathBuf {
    let path = dir.join("packet.toml");
    let toml: String =
        steps.iter().map(|(at, verb, fault)| format!("[[step]]\nat = \"{at}\"\n{verb} = \"{fault}\"\n\n")).collect();
    std::fs::write(&path, toml).unwrap();
    path
}

/// The completed nemesis events (second event of each action) with their values.
fn nemesis_values(run: &Path) -> Vec<(String, Value)> {
    let text = std::fs::read_to_string(run.join("history.jsonl")).unwrap();
    let mut seen = std::collections::BTreeMap::<String, usize>::new();
    let mut out = Vec::new();
    for line in text.lines() {
        let op: Value = serde_json::from_str(line).unwrap();
        if op["process"] != "nemesis" {
            continue;
        }
        let f = op["f"].as_str().unwrap().to_string();
        let n = seen.entry(f.clone()).or_default();
        *n += 1;
        if n.is_multiple_of(2) {
            out.push((f, op["value"].clone()));
        }
    }
    out
}

fn completed<'a>(values: &'a [(String, Value)], f: &str) -> &'a Value {
    &values.iter().find(|(g, _)| g == f).unwrap_or_else(|| panic!("no completed {f} in {values:?}")).1
}

#[test]
fn etcd_under_slow_holds_elections_and_stays_linearizable() {
    if !common::have_root() {
        return;
    }
    let _lock = common::cluster_lock();
    common::ensure_cluster();
    // A 1.2 s delay each way: far above etcd's 100 ms heartbeat and 1 s election timeout.
    let (_store, (code, run, log)) = run_scheduled(
        &[("2s", "start", "slow"), ("8s", "stop", "slow")],
        "--db etcd --workload register --latency 1200ms --jitter 100ms --time-limit 12s --concurrency 6 \
         --rate 50 --op-timeout 3s --recovery-time 5s --seed 16",
    );
    assert_eq!(code, 0, "etcd under slow must stay linearizable:\n{log}");
    assert!(log.contains("slow: through the packet agent"), "the run says how slow is done:\n{log}");
    let values = nemesis_values(&run);
    let start = completed(&values, "start-slow");
    assert_eq!(start["mechanism"], "agent", "{start}");
    assert_eq!(start["verified"], true, "RTT rose by the delay: {start}");
    for (link, m) in start["measured"].as_object().unwrap() {
        let rise = m["after_ms"].as_f64().unwrap() - m["before_ms"].as_f64().unwrap();
        assert!(rise > 1500.0, "{link}: RTT rose by {rise} ms only");
    }
    let stop = completed(&values, "stop-slow");
    assert_eq!(stop["verified"], true, "RTT back after the stop: {stop}");
    // Elections: some node became leader after the first election's term.
    let mut terms = Vec::new();
    for n in ["n1", "n2", "n3"] {
        let text = std::fs::read_to_string(run.join(format!("nodes/{n}/etcd.log"))).unwrap_or_default();
        for l in text.lines().filter(|l| l.contains("became leader at term")) {
            terms.push(l.rsplit(' ').next().unwrap().trim().parse::<u64>().unwrap());
        }
    }
    let (first, last) = (terms.iter().min().copied(), terms.iter().max().copied());
    assert!(last > first, "no election after the first one under a 1.2 s delay: terms {terms:?}");
    let html = std::fs::read_to_string(run.join("report/index.html")).unwrap();
    assert!(html.contains("delay 1200ms ± 100ms (normal) (via agent)") && html.contains("RTT after the stop"));
    common::assert_nodes_clean("after etcd under slow");
}

#[test]
fn redis_under_duplicate_reorder_and_corrupt() {
    if !common::have_root() {
        return;
    }
    let _lock = common::cluster_lock();
    common::ensure_cluster();
    let (_store, (code, run, log)) = run_scheduled(
        &[
            ("1s", "start", "duplicate"),
            ("4s", "stop", "duplicate"),
            ("4s", "start", "reorder"),
            ("7s", "stop", "reorder"),
            ("7s", "start", "corrupt"),
            ("10s", "stop", "corrupt"),
            ("10s", "start", "bandwidth"),
            ("12s", "stop", "bandwidth"),
            // After other faults' agents came and went: the profile is in force before the probe.
            ("12s", "start", "slow"),
            ("14s", "stop", "slow"),
        ],
        "--db redis --workload set --duplicate 0.2 --reorder 0.3 --corrupt 0.02 --bandwidth 1mbit --time-limit 15s \
         --concurrency 6 --rate 100 --recovery-time 3s --seed 16",
    );
    // Checkable: a verdict, valid or not, never "unknown" or an error.
    assert!(code == 0 || code == 1, "the run must stay checkable (exit {code}):\n{log}");
    let values = nemesis_values(&run);
    for (f, what) in [
        ("start-duplicate", "duplicated"),
        ("start-reorder", "overtaken"),
        ("start-corrupt", "corrupted"),
        ("start-bandwidth", "kbit/s"),
        ("start-slow", "RTT"),
    ] {
        let v = completed(&values, f);
        assert_eq!(v["verified"], true, "{f}: {v}");
        assert_eq!(v["mechanism"], "agent", "{f}: {v}");
        assert!(v["measured_text"].as_str().unwrap().contains(what), "{f}: {v}");
    }
    // Duplicates and reordering are TCP's business: no client op failed while they were on.
    let history = std::fs::read_to_string(run.join("history.jsonl")).unwrap();
    let (dup_start, corrupt_start) = (1_000_000_000u64, 7_000_000_000u64);
    let failed_early = history
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|op| op["process"] != "nemesis" && op["type"] == "fail")
        .filter(|op| (dup_start..corrupt_start).contains(&op["time"].as_u64().unwrap()))
        .count();
    assert_eq!(failed_early, 0, "ops failed under duplicate/reorder");
    // What corruption did to Redis: say it (the replicas' own logs), whatever it was.
    let mut protocol_errors = 0;
    for n in ["n1", "n2", "n3"] {
        let text = std::fs::read_to_string(run.join(format!("nodes/{n}/redis.log"))).unwrap_or_default();
        protocol_errors += text.lines().filter(|l| l.contains("Protocol error")).count();
    }
    let verdict = log.lines().find(|l| l.starts_with("verdict:")).unwrap_or("").to_string();
    eprintln!("redis under corrupt: {protocol_errors} protocol error(s) in the Redis logs; {verdict}");
    let html = std::fs::read_to_string(run.join("report/index.html")).unwrap();
    assert!(html.contains("corrupt 2% (via agent)") && html.contains("corrupted"), "report shows the profile");
    common::assert_nodes_clean("after redis under duplicate, reorder and corrupt");
}

fn start_interrupted(store: &Path, sched: &Path, seed: u64) -> Child {
    common::faultline()
        .args(["test", "--local", "--node-count", "3", "--db", "redis", "--workload", "set"])
        .args(["--nemesis-schedule", sched.to_str().unwrap(), "--time-limit", "40s", "--latency", "20ms"])
        .args(["--concurrency", "4", "--rate", "50", "--seed", &seed.to_string(), "--store"])
        .arg(store)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start faultline test")
}

/// Wait until the history of the run in `store` satisfies `done` (`what` names it on time-out).
fn wait_for_history(store: &Path, timeout: Duration, what: &str, done: impl Fn(&str) -> bool) {
    let deadline = Instant::now() + timeout;
    loop {
        let history = std::fs::canonicalize(store.join("latest"))
            .ok()
            .and_then(|run| std::fs::read_to_string(run.join("history.jsonl")).ok());
        if history.as_deref().is_some_and(&done) {
            return;
        }
        assert!(Instant::now() < deadline, "not within {timeout:?}: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Agents running on the machine (the nodes share its process table).
fn agents_running() -> usize {
    let out = std::process::Command::new("pgrep").args(["-f", "[f]aultline agent --queue"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).lines().count()
}

#[test]
fn packet_faults_heal_after_sigint_sigterm_and_sigkill() {
    if !common::have_root() {
        return;
    }
    let _lock = common::cluster_lock();
    common::ensure_cluster();
    for (round, (sig, name)) in
        [(libc::SIGINT, "SIGINT"), (libc::SIGTERM, "SIGTERM"), (libc::SIGKILL, "SIGKILL")].into_iter().enumerate()
    {
        let store = tempfile::tempdir().unwrap();
        let sched = schedule(store.path(), &[("1s", "start", "slow"), ("1s", "start", "corrupt")]);
        let mut child = start_interrupted(store.path(), &sched, round as u64);
        // Wait until both faults are applied (completed starts in the history).
        wait_for_history(store.path(), Duration::from_secs(60), &format!("{name}: both packet faults applied"), |h| {
            h.lines().filter(|l| l.contains("\"mechanism\":\"agent\"")).count() >= 2
        });
        assert_eq!(agents_running(), 3, "{name}: an agent per node while the faults are on");
        // SAFETY: kill(2) on our own child's pid.
        assert_eq!(unsafe { libc::kill(child.id() as i32, sig) }, 0);
        let status = child.wait().unwrap();
        if sig == libc::SIGKILL {
            assert!(agents_running() > 0, "SIGKILL leaves the agents (nothing healed yet)");
            let heal = common::faultline().args(["heal", "--local"]).output().unwrap();
            let said = String::from_utf8_lossy(&heal.stdout);
            assert!(heal.status.success(), "heal failed: {said}");
            assert!(said.contains("stopped the packet agent"), "heal says it stopped the agents: {said}");
        }
        common::assert_nodes_clean(&format!("after {name} (exit {status}) with slow and corrupt on"));
        assert_eq!(agents_running(), 0, "{name}: agents left");
    }
}

/// `clock` on the local cluster with PostgreSQL, which runs under libfaketime: every bump is
/// seen by the database itself (`clock_timestamp()` moves by the offset drawn for its node), the
/// offsets differ per node, the stop brings each back, and nothing is left on the nodes.
#[test]
fn postgres_clock_skew_through_libfaketime_is_seen_by_the_database_and_healed() {
    if !common::have_root() {
        return;
    }
    let _lock = common::cluster_lock();
    common::ensure_cluster();
    let store = tempfile::tempdir().unwrap();
    let args = ["--db", "postgres", "--workload", "list-append", "--concurrency", "4", "--nemesis", "clock"];
    let mut args = args.to_vec();
    args.extend(["--nemesis-interval", "3s", "--time-limit", "16s", "--seed", "5"]);
    let (code, dir, log) = common::run_local_test(store.path(), &args);
    assert_eq!(code, 0, "clock skew does not break PostgreSQL's serializability:\n{log}");
    assert!(log.contains("runs under libfaketime"), "the run says how the clock moves: {log}");
    let values = nemesis_values(&dir);
    let starts: Vec<&Value> = values.iter().filter(|(f, _)| f == "start-clock").map(|(_, v)| v).collect();
    let stops: Vec<&Value> = values.iter().filter(|(f, _)| f == "stop-clock").map(|(_, v)| v).collect();
    assert!(!starts.is_empty() && !stops.is_empty(), "{values:?}");
    let mut distinct = std::collections::BTreeSet::new();
    for v in &starts {
        assert_eq!(v["mechanism"], "libfaketime", "{v}");
        assert_eq!(v["verified"], true, "{v}");
        for (node, off) in v["offsets_ms"].as_object().unwrap() {
            let off = off.as_f64().unwrap();
            assert!(off.abs() >= 100.0, "{v}");
            distinct.insert(off as i64);
            let m = &v["measured"][node];
            let change = m["after_ms"].as_f64().unwrap() - m["before_ms"].as_f64().unwrap();
            assert!(
                (change - off).abs() <= m["tolerance_ms"].as_f64().unwrap(),
                "{node}: the database's clock moved {change} ms for an offset of {off}: {v}"
            );
        }
    }
    assert!(distinct.len() > 1, "each node gets its own offset: {distinct:?}");
    for v in &stops {
        assert_eq!(v["verified"], true, "{v}");
        for (node, m) in v["measured"].as_object().unwrap() {
            assert!(m["after_heal_ms"].as_f64().unwrap().abs() < 100.0, "{node} still skewed after the stop: {v}");
        }
    }
    common::assert_nodes_clean("after the postgres clock run");

    // SIGKILL while the offsets are on: `faultline heal` removes them.
    let store = tempfile::tempdir().unwrap();
    let sched = schedule(store.path(), &[("1s", "start", "clock")]);
    let mut child = common::faultline()
        .args(["test", "--local", "--node-count", "3", "--db", "postgres", "--workload", "list-append"])
        .args(["--nemesis-schedule", sched.to_str().unwrap(), "--time-limit", "60s", "--concurrency", "2"])
        .args(["--seed", "6", "--store"])
        .arg(store.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start faultline test");
    wait_for_history(store.path(), Duration::from_secs(90), "the clock fault applied", |h| {
        h.contains("\"mechanism\":\"libfaketime\"")
    });
    let offsets = (1..=3)
        .filter(|i| Path::new(&format!("/var/lib/faultline-cluster/nodes/n{i}/run/faultline/faketime")).exists())
        .count();
    assert!(offsets > 0, "an offset file on the targets while the fault is on");
    child.kill().unwrap();
    child.wait().unwrap();
    let heal = common::faultline().args(["heal", "--local"]).output().unwrap();
    let said = String::from_utf8_lossy(&heal.stdout);
    assert!(heal.status.success(), "heal failed: {said}");
    assert_eq!(said.matches("removed the database's libfaketime clock offset").count(), offsets, "{said}");
    common::assert_nodes_clean("after SIGKILL with clock offsets on, and faultline heal");
}

/// `clock` on the local cluster (one kernel clock) is refused before anything runs, and the
/// reason says why a per-process clock (libfaketime) does not apply to the database either.
#[test]
fn clock_on_the_shared_clock_is_refused_with_the_database_reason() {
    if !common::have_root() {
        return;
    }
    let _lock = common::cluster_lock();
    common::ensure_cluster();
    for (db, why) in [("etcd", "Go binary"), ("redis", "jemalloc")] {
        let store = tempfile::tempdir().unwrap();
        let out = common::faultline()
            .args(["test", "--local", "--node-count", "3", "--db", db, "--nemesis", "clock", "--time-limit", "5s"])
            .arg("--store")
            .arg(store.path())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(254), "{db}: clock must be refused as a bad argument: {err}");
        assert!(
            err.contains("share one kernel clock") && err.contains("libfaketime") && err.contains(why),
            "{db}: {err}"
        );
    }
}
