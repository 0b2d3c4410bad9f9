//! `faultline test-all` on the local cluster: every combination runs, the matrix page links
//! each run's report and names what was found, and the exit code is the worst verdict. A bad
//! combination is refused before anything runs.

mod common;

#[test]
fn a_matrix_runs_every_combination_and_sums_it_up() {
    if !common::have_root() {
        return;
    }
    let _lock = common::cluster_lock();
    common::ensure_cluster();
    let store = tempfile::tempdir().unwrap();
    // A bad fault name in one column: exit 254, nothing run.
    let out = common::faultline()
        .args(["test-all", "--db", "postgres", "--workload", "bank", "--nemesis", "none,kil", "--store"])
        .arg(store.path())
        .args(["--", "--local", "--time-limit", "5s"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(254), "{err}");
    assert!(err.contains("kil"), "{err}");
    assert!(!store.path().join("latest").exists(), "nothing may run before every combination is known good");

    // PostgreSQL's bank at read committed, without faults and with kills: both lose money.
    let out = common::faultline()
        .args(["test-all", "--db", "postgres", "--workload", "bank", "--nemesis", "none,kill", "--store"])
        .arg(store.path())
        .args(["--", "--local", "--node-count", "3", "--time-limit", "5s", "--isolation", "read-committed"])
        .args(["--concurrency", "10", "--rate", "0", "--nemesis-interval", "2s", "--seed", "5"])
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "the worst verdict is invalid:\n{text}");
    let page =
        std::fs::read_dir(store.path().join("test-all")).unwrap().next().unwrap().unwrap().path().join("index.html");
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("<th>none</th><th>kill</th>") && html.contains("postgres · bank"), "{html}");
    assert_eq!(html.matches("badge v-invalid").count(), 2, "{html}");
    for href in html.split("href=\"").skip(1).map(|s| &s[..s.find('"').unwrap()]) {
        assert!(page.parent().unwrap().join(href).is_file(), "the link {href} leads nowhere");
    }
    assert!(html.contains(">bank</span>"), "the cell names the checker that found it: {html}");
    common::assert_nodes_clean("test-all");
}

/// Ctrl-C in the middle of a matrix: the run in progress heals and is checked, the rest do not
/// start, and the page says what ran and that it stopped early.
#[test]
fn an_interrupted_matrix_heals_and_keeps_its_page() {
    use std::io::{BufRead, BufReader};
    if !common::have_root() {
        return;
    }
    let _lock = common::cluster_lock();
    common::ensure_cluster();
    let store = tempfile::tempdir().unwrap();
    let mut child = common::faultline()
        .args([
            "test-all",
            "--db",
            "etcd",
            "--workload",
            "register",
            "--nemesis",
            "none,partition-one,partition-halves",
        ])
        .arg("--store")
        .arg(store.path())
        .args(["--", "--local", "--time-limit", "8s", "--nemesis-interval", "2s", "--seed", "2"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the second combination to start, then interrupt it.
    // Its stderr is read to the end on a thread of its own (a closed pipe would kill it).
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut lines = Vec::new();
        for line in stderr.lines().map_while(Result::ok) {
            if line.contains("test-all: 2 of 3") {
                let _ = tx.send(());
            }
            lines.push(line);
        }
        lines
    });
    rx.recv_timeout(std::time::Duration::from_secs(120)).expect("the second combination starts");
    std::thread::sleep(std::time::Duration::from_secs(4));
    // SAFETY: kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let out = child.wait_with_output().unwrap();
    let lines = reader.join().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(matches!(out.status.code(), Some(0..=2)), "a verdict after Ctrl-C:\n{}\n{stdout}", lines.join("\n"));
    let page =
        std::fs::read_dir(store.path().join("test-all")).unwrap().next().unwrap().unwrap().path().join("index.html");
    let html = std::fs::read_to_string(page).unwrap();
    assert!(html.contains("stopped early (interrupted)"), "{html}");
    assert!(html.contains("2 runs in"), "the first run and the interrupted one: {html}");
    assert!(!store.path().join("etcd-register-partition-halves").exists(), "the third combination must not start");
    common::assert_nodes_clean("an interrupted test-all");
}
