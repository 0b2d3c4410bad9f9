//! Helpers shared by the integration tests that use the local namespace cluster.
//!
//! Every test that builds, uses or tears down the local cluster takes [`cluster_lock`] first: the
//! cluster is one set of namespaces on this machine, shared by all test binaries.

#![allow(dead_code)]

use std::os::fd::AsRawFd;
use std::process::Command;

/// Whether this test may run: it needs root (it builds the local cluster, or changes a node's
/// firewall). As another user it is skipped with a line saying so; under scripts/test, which
/// sets FAULTLINE_REQUIRE_ROOT, a missing root fails it instead (a skip there would be a test
/// that cannot fail).
pub fn have_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    // The test harness names each test's thread after the test.
    let test = std::thread::current().name().unwrap_or("this test").to_string();
    if std::env::var_os("FAULTLINE_REQUIRE_ROOT").is_some() {
        panic!("{test} needs root, and FAULTLINE_REQUIRE_ROOT is set");
    }
    // Straight to the descriptor: the harness captures print! and eprint! of passing tests.
    use std::io::Write;
    let line = format!("skipped: {test}: needs root (it builds the local cluster and changes nodes' firewalls)\n");
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
    false
}

/// Held for as long as a test uses the local cluster; released on drop.
pub struct LockGuard {
    _file: std::fs::File,
}

/// Wait for exclusive use of the local cluster (an flock on /tmp/faultline-cluster-tests.lock,
/// so it holds across test binaries and across threads of one binary).
pub fn cluster_lock() -> LockGuard {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open("/tmp/faultline-cluster-tests.lock")
        .expect("open /tmp/faultline-cluster-tests.lock");
    // SAFETY: flock on a descriptor we own; the lock goes with the descriptor when dropped.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
    assert_eq!(rc, 0, "flock failed: {}", std::io::Error::last_os_error());
    LockGuard { _file: file }
}

/// The faultline binary under test.
pub fn faultline() -> Command {
    Command::new(env!("CARGO_BIN_EXE_faultline"))
}

/// Make sure a healthy local cluster of at least 5 nodes is running.
pub fn ensure_cluster() {
    ensure_cluster_with(5)
}

/// Make sure a healthy local cluster of at least `n` nodes is running (rebuilding a smaller one).
pub fn ensure_cluster_with(n: usize) {
    assert_eq!(unsafe { libc::geteuid() }, 0, "the local cluster tests need root");
    let state = local_cluster_state();
    let running = state["running"].as_bool() == Some(true);
    let size = state["nodes"].as_array().map_or(0, |a| a.len());
    if running && size >= n {
        return;
    }
    let down = faultline().args(["cluster", "down"]).output().expect("run faultline cluster down");
    assert!(down.status.success(), "cluster down failed: {}", String::from_utf8_lossy(&down.stderr));
    let up = faultline().args(["cluster", "up", "--nodes", &n.to_string()]).output().expect("run faultline cluster up");
    assert!(
        up.status.success(),
        "cluster up failed: {}{}",
        String::from_utf8_lossy(&up.stdout),
        String::from_utf8_lossy(&up.stderr)
    );
}

/// `faultline cluster status --json`: `running`, `nodes` (name, address, data_dir,
/// host_data_dir, sshd_pid, sshd_alive), key_path, known_hosts_path, ssh_config_path, ...
pub fn local_cluster_state() -> serde_json::Value {
    let out = faultline().args(["cluster", "status", "--json"]).output().expect("run faultline cluster status");
    assert!(out.status.success(), "cluster status failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("cluster status --json prints JSON")
}

/// After a run, however it ended: no FAULTLINE rule (IPv4 or IPv6) on any node of the local
/// cluster, no packet agent running, and no database process stopped (state T). The check itself must work: a node that
/// cannot be asked fails the test rather than passing it.
pub fn assert_nodes_clean(context: &str) {
    let state = local_cluster_state();
    const SCRIPT: &str = r#"set -e
v4=$(iptables -S); v6=$(ip6tables -S 2>/dev/null || true)
printf '%s\n%s\n' "$v4" "$v6" | grep -c FAULTLINE || true
for c in etcd redis-server postgres mariadbd; do for p in $(pgrep -x $c || true); do echo "$c $(awk '{print $3}' /proc/$p/stat)"; done; done
for p in $(pgrep -f '[f]aultline agent --queue' || true); do echo "agent $p"; done
if [ -e /run/faultline/faketime ]; then echo "faketime $(cat /run/faultline/faketime)"; fi"#;
    for node in state["nodes"].as_array().expect("cluster status lists nodes") {
        let name = node["name"].as_str().unwrap();
        let out = faultline().args(["cluster", "exec", name, "--", "sh", "-c", SCRIPT]).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            out.status.success(),
            "{context}: could not inspect {name}: {}{text}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut lines = text.lines();
        let rules: usize = lines
            .next()
            .and_then(|l| l.trim().parse().ok())
            .unwrap_or_else(|| panic!("{context}: unexpected output from {name}: {text:?}"));
        assert_eq!(rules, 0, "{context}: {name} still has FAULTLINE rules");
        for proc_state in lines {
            assert!(!proc_state.starts_with("agent "), "{context}: a packet agent still runs: {proc_state}");
            assert!(!proc_state.starts_with("faketime "), "{context}: {name} keeps a libfaketime offset: {proc_state}");
            assert!(
                !proc_state.trim().ends_with(" T"),
                "{context}: {name} has a stopped database process: {proc_state}"
            );
        }
    }
}

/// Run `faultline test --local --node-count 3` with `args` into `store`; returns the exit code,
/// the run directory and everything the run printed (for assertion messages).
pub fn run_local_test(store: &std::path::Path, args: &[&str]) -> (i32, std::path::PathBuf, String) {
    run_test(&["--local", "--node-count", "3"], store, args)
}

/// Run `faultline test TARGETS --store STORE ARGS` (TARGETS: `--local ...` or `--nodes ...`).
pub fn run_test(targets: &[&str], store: &std::path::Path, args: &[&str]) -> (i32, std::path::PathBuf, String) {
    let out =
        faultline().arg("test").args(targets).arg("--store").arg(store).args(args).output().expect("run faultline");
    let log = format!("{}\n{}", String::from_utf8_lossy(&out.stderr), String::from_utf8_lossy(&out.stdout));
    let dir = std::fs::canonicalize(store.join("latest")).unwrap_or_else(|e| panic!("no run directory ({e}):\n{log}"));
    (out.status.code().unwrap_or(-1), dir, log)
}

/// A `--nemesis-schedule` file in `dir` that fails the primary over at `start` and stops the
/// failover at `stop` (humantime, e.g. "4s").
pub fn failover_schedule(dir: &std::path::Path, start: &str, stop: &str) -> std::path::PathBuf {
    let path = dir.join("failover.toml");
    let toml =
        format!("[[step]]\nat = \"{start}\"\nstart = \"failover\"\n\n[[step]]\nat = \"{stop}\"\nstop = \"failover\"\n");
    std::fs::write(&path, toml).unwrap();
    path
}

/// A `--nemesis-schedule` file in `dir` that cuts n1 off from n2 and n3 when the run starts and
/// keeps it cut off to the end (the run's final heal): every read n1 serves while the majority
/// writes is one the cut made stale, and no op falls outside the fault.
pub fn n1_cut_off_schedule(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("cut-off.toml");
    let toml = "[[step]]\nat = \"0s\"\nstart = \"partition-one\"\n[step.grudge]\nn1 = [\"n2\", \"n3\"]\nn2 = [\"n1\"]\nn3 = [\"n1\"]\n";
    std::fs::write(&path, toml).unwrap();
    path
}

/// `faultline check` reads back the history a transactional run wrote (nemesis lines, final
/// reads and all) and, under the run's consistency models, gives the run's transactional
/// verdict: the same `valid?`, anomaly types and boundary.
pub fn assert_txn_recheck_agrees(run: &std::path::Path) {
    let txn = results(run)["checkers"]["txn"].clone();
    let models: Vec<&str> = txn["consistency-models"].as_array().unwrap().iter().filter_map(|m| m.as_str()).collect();
    let out = faultline()
        .args(["check", "--json", "--workload", txn["workload"].as_str().unwrap()])
        .args(["--consistency-models", &models.join(",")])
        .arg(run.join("history.jsonl"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(matches!(out.status.code(), Some(0..=2)), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let first: serde_json::Value = serde_json::from_str(stdout.lines().next().unwrap()).unwrap();
    for field in ["valid?", "anomaly-types", "not", "also-not"] {
        assert_eq!(first[field], txn[field], "re-checking {}: {field}", run.display());
    }
}

/// `faultline check` on a run's history, with no flags, checks it as the run did (the workload
/// and options of its test.json) and gives the same checker section as its results.json
/// (timings aside), and the same verdict when the run itself did not stop early.
pub fn assert_recheck_agrees(run: &std::path::Path) {
    fn without_timings(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(m) => {
                m.retain(|k, _| !k.starts_with("timings") && !k.starts_with("elapsed"));
                m.values_mut().for_each(without_timings);
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(without_timings),
            _ => {}
        }
    }
    let out = faultline().args(["check", "--json"]).arg(run.join("history.jsonl")).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(matches!(out.status.code(), Some(0..=2)), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let first: serde_json::Value = serde_json::from_str(stdout.lines().next().unwrap()).unwrap();
    let want = results(run);
    let (mut got_checkers, mut want_checkers) = (first["checkers"].clone(), want["checkers"].clone());
    without_timings(&mut got_checkers);
    without_timings(&mut want_checkers);
    // Every checker's verdict and summary exactly; the evidence exactly too, except the
    // linearizability search's (and the ladder built on it): with several invalid keys the
    // checker reports the first a thread finishes (it stops the others, so that one hard key
    // cannot hold up a violation found on another), so its summary is compared only when the
    // same key was reported.
    let lin_key = |c: &serde_json::Value| c["linearizable"]["failure"]["key"].clone();
    let same_key = lin_key(&got_checkers) == lin_key(&want_checkers);
    for (name, want_c) in want_checkers.as_object().unwrap() {
        let got_c = &got_checkers[name];
        for field in ["verdict", "summary"] {
            if field == "summary" && !same_key && ["linearizable", "ladder"].contains(&name.as_str()) {
                continue;
            }
            assert_eq!(got_c[field], want_c[field], "re-checking {}: {name}.{field}", run.display());
        }
        if !["linearizable", "ladder"].contains(&name.as_str()) {
            assert_eq!(got_c, want_c, "re-checking {} offline: {name}", run.display());
        }
    }
    assert_eq!(
        got_checkers.as_object().unwrap().keys().collect::<Vec<_>>(),
        want_checkers.as_object().unwrap().keys().collect::<Vec<_>>(),
        "re-checking {}: the same checkers",
        run.display()
    );
    if want.get("error").is_none_or(serde_json::Value::is_null) {
        assert_eq!(first["verdict"], want["verdict"], "re-checking {}: verdict", run.display());
    }
}

/// A run's `results.json`.
pub fn results(run: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(run.join("results.json")).unwrap()).unwrap()
}

/// The run's report explains its verdict: the page (outside `<details>`, scripts and styles)
/// holds every one of `needles` (e.g. the node and the fault of the anomaly) and no raw JSON
/// object (`{"`). A screenshot of the page's top is saved as `<CARGO_TARGET_TMPDIR>/reports/
/// <name>.png` and its path printed, so a person can look at what the suite saw.
pub fn assert_report_explains(run: &std::path::Path, name: &str, needles: &[&str]) {
    let page = run.join("report/index.html");
    let html = std::fs::read_to_string(&page).unwrap_or_else(|e| panic!("{}: {e}", page.display()));
    let mut visible = String::new();
    let mut rest = html.as_str();
    // Drop what a reader does not see unless they ask: details blocks, scripts, styles, SVG.
    const HIDDEN: [(&str, &str); 4] =
        [("<details", "</details>"), ("<script", "</script>"), ("<style", "</style>"), ("<svg", "</svg>")];
    while let Some((i, close)) = HIDDEN.iter().filter_map(|(open, close)| rest.find(open).map(|i| (i, *close))).min() {
        visible.push_str(&rest[..i]);
        rest = rest[i..].find(close).map_or("", |j| &rest[i + j + close.len()..]);
    }
    visible.push_str(rest);
    for raw in ["{\"", "{&quot;"] {
        if let Some(i) = visible.find(raw) {
            panic!(
                "{}: raw JSON outside a details block: …{}…",
                page.display(),
                &visible[i.saturating_sub(200)..(i + 200).min(visible.len())]
            );
        }
    }
    for n in needles {
        assert!(visible.contains(n), "{}: the report does not say {n:?}", page.display());
    }
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("reports");
    std::fs::create_dir_all(&dir).unwrap();
    let shot = dir.join(format!("{name}.png"));
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new("chromium")
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run"])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--window-size=1300,1800")
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", page.display()))
        .output();
    match out {
        Ok(o) if o.status.success() && shot.exists() => eprintln!("report screenshot: {}", shot.display()),
        Ok(o) => panic!("chromium could not take {}: {}", shot.display(), String::from_utf8_lossy(&o.stderr)),
        Err(e) if std::env::var_os("FAULTLINE_REQUIRE_BROWSER").is_some() => panic!("chromium: {e}"),
        Err(e) => eprintln!("!!!!! no report screenshot (chromium: {e})"),
    }
}

/// A register run of a recipe database with a `--client` on three local nodes under
/// `partition-halves` every 3 s (unique writes, 9 clients, 200 ops/s, seed 7), for `time_limit`.
pub fn recipe_register_run(
    store: &std::path::Path,
    recipe: &str,
    client: &str,
    time_limit: &str,
    extra: &[&str],
) -> (i32, std::path::PathBuf, String) {
    let mut args = vec!["--db-recipe", recipe, "--client", client, "--workload", "register", "--unique-writes"];
    args.extend_from_slice(&["--nemesis", "partition-halves", "--nemesis-interval", "3s", "--time-limit", time_limit]);
    args.extend_from_slice(&["--concurrency", "9", "--rate", "200", "--seed", "7"]);
    args.extend_from_slice(extra);
    run_local_test(store, &args)
}
