//! The real-host path, end to end: `faultline test --nodes` with the local cluster's addresses and
//! key, exactly as a user with their own hosts runs it (the nodes keep their files at the same
//! paths and do not share them, as separate machines would). etcd under partitions and kills is
//! valid; Redis failover loses acknowledged writes and says so; and a login that is not root
//! works through passwordless sudo (`--username`).
//!
//! These use the local cluster, so they take the shared cluster lock.

mod common;

use common::results;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The cluster's client key, at the path earlier versions kept it (a link to the state
/// directory keeps it working).
const KEY: &str = "/var/lib/faultline/cluster/id_ed25519";
const NODES: &str = "10.233.0.11,10.233.0.12,10.233.0.13";

/// `faultline test --nodes ...` into `store`: exit code, run directory, everything printed.
fn run_nodes(store: &Path, args: &[&str]) -> (i32, PathBuf, String) {
    common::run_test(&["--nodes", NODES, "--ssh-key", KEY], store, args)
}

/// Each node's database log is its own: three different files naming three different members.
fn assert_separate_logs(run: &Path, file: &str) {
    let logs: Vec<String> = ["10.233.0.11", "10.233.0.12", "10.233.0.13"]
        .iter()
        .map(|n| std::fs::read_to_string(run.join("nodes").join(n).join(file)).unwrap_or_default())
        .collect();
    assert!(logs.iter().all(|l| !l.is_empty()), "a node's {file} is missing or empty");
    assert!(logs[0] != logs[1] && logs[1] != logs[2] && logs[0] != logs[2], "the nodes' {file} are the same file");
}

/// The command of the issue that found the shared data directory, as a user would type it.
#[test]
fn etcd_set_under_partitions_and_kills_through_nodes() {
    if !common::have_root() {
        return;
    }
    let _lock = common::cluster_lock();
    common::ensure_cluster();
    let store = tempfile::tempdir().unwrap();
    let (code, run, log) = run_nodes(
        store.path(),
        &[
            "--db",
            "etcd",
            "--workload",
            "set",
            "--nemesis",
            "partition-ring,kill",
            "--time-limit",
            "20s",
            "--seed",
            "8",
        ],
    );
    assert_eq!(code, 0, "expected valid (exit 0):\n{log}");
    let r = results(&run);
    assert_eq!(r["verdict"], "valid", "{r}");
    let test: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("test.json")).unwrap()).unwrap();
    assert_eq!(test["local"], false);
    assert_eq!(test["nodes"], serde_json::json!(["10.233.0.11", "10.233.0.12", "10.233.0.13"]));
    assert_separate_logs(&run, "etcd.log");
    let history = std::fs::read_to_string(run.join("history.jsonl")).unwrap();
    assert!(history.lines().any(|l| l.contains("\"start-kill\"") && l.contains("\"verified\":true")), "no kill");
    common::assert_nodes_clean("after the --nodes etcd run");
}

/// The main etcd acceptance test (register, partitions, linearizable), through `--nodes`.
#[test]
fn etcd_register_under_partitions_through_nodes_is_linearizable() {
    if !common::have_root() {
        return;
    }
    let _lock = common::cluster_lock();
    common::ensure_cluster();
    let store = tempfile::tempdir().unwrap();
    let (code, run, log) = run_nodes(
        store.path(),
        &[
            "--db",
            "etcd",
            "--workload",
            "register",
            "--nemesis",
            "partition-halves,partition-one",
            "--nemesis-interval",
            "4s",
            "--time-limit",
            "20s",
            "--rate",
            "150",
            "--seed",
            "7",
        ],
    );
    assert_eq!(code, 0, "expected valid (exit 0):\n{log}");
    let r = results(&run);
    assert!(r["checkers"]["linearizable"]["ops"].as_u64().unwrap() > 500, "too few ops: {r}");
    assert_separate_logs(&run, "etcd.log");
    common::assert_nodes_clean("after the --nodes register run");
}

#[test]
fn redis_failover_through_nodes_loses_acknowledged_writes() {
    if !common::have_root() {
        return;
    }
    let _lock = common::cluster_lock();
    common::ensure_cluster();
    let store = tempfile::tempdir().unwrap();
    let schedule = common::failover_schedule(store.path(), "4s", "12s");
    let (code, run, log) = run_nodes(
        store.path(),
        &[
            "--db",
            "redis",
            "--workload",
            "set",
            "--nemesis-schedule",
            schedule.to_str().unwrap(),
            "--time-limit",
            "16s",
            "--concurrency",
            "6",
            "--rate",
            "200",
            "--recovery-time",
            "10s",
            "--seed",
            "5",
        ],
    );
    assert_eq!(code, 1, "redis must be found invalid:\n{log}");
    let set = &results(&run)["checkers"]["set"];
    assert!(set["counts"]["lost"].as_u64().unwrap() > 0, "no acknowledged write was lost: {set}");
    assert_separate_logs(&run, "redis.log");
    common::assert_nodes_clean("after the --nodes redis run");
}

/// A user on this machine (the nodes share its accounts) with sudo, passwordless or with a
/// password; removed on drop.
struct SudoUser;

const USER: &str = "fl-runner";
const SUDOERS: &str = "/etc/sudoers.d/faultline-real-hosts";

impl SudoUser {
    /// `password`: None for passwordless sudo; else the login's password, which sudo asks for.
    fn create(password: Option<&str>) -> SudoUser {
        let sh = |cmd: &str| assert!(Command::new("sh").args(["-c", cmd]).status().unwrap().success(), "{cmd}");
        if !Command::new("id").arg(USER).output().unwrap().status.success() {
            sh(&format!("useradd -m -s /bin/sh {USER}"));
        }
        // A locked account cannot log in even with a key (sshd runs without PAM here).
        sh(&format!("echo '{USER}:{}' | chpasswd", password.unwrap_or("not-used-for-login")));
        let rule = if password.is_some() { "ALL=(ALL) ALL" } else { "ALL=(ALL) NOPASSWD: ALL" };
        std::fs::write(SUDOERS, format!("{USER} {rule}\n")).unwrap();
        sh(&format!("chmod 0440 {SUDOERS} && visudo -cf {SUDOERS}"));
        SudoUser
    }
}

impl Drop for SudoUser {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(SUDOERS);
        let _ = Command::new("userdel").args(["-r", USER]).output();
    }
}

/// Every file under `dir` whose bytes contain `needle`.
fn files_containing(dir: &Path, needle: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            if path.is_symlink() {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else if std::fs::read(&path).unwrap_or_default().windows(needle.len()).any(|w| w == needle.as_bytes()) {
                found.push(path);
            }
        }
    }
    found
}

#[test]
fn a_sudo_password_from_the_environment_runs_a_whole_test_and_is_never_written() {
    if !common::have_root() {
        return;
    }
    let _lock = common::cluster_lock();
    common::ensure_cluster();
    let password = format!("pw-{}-never-shown", std::process::id());
    let _user = SudoUser::create(Some(&password));
    let store = tempfile::tempdir().unwrap();
    let cluster = common::local_cluster_state();
    let key = cluster["key_path"].as_str().unwrap();
    let out = common::faultline()
        .env("FAULTLINE_SUDO_PASSWORD", &password)
        .args(["test", "--nodes", NODES, "--ssh-key", key, "--username", USER])
        .args(["--db", "etcd", "--workload", "register", "--nemesis", "partition-one,pause"])
        .args(["--nemesis-interval", "3s", "--time-limit", "10s", "--seed", "5", "--store"])
        .arg(store.path())
        .output()
        .unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&out.stderr), String::from_utf8_lossy(&out.stdout));
    assert_eq!(out.status.code(), Some(0), "expected valid (exit 0) through sudo with a password:\n{said}");
    assert!(!said.contains(&password), "the password was printed");
    let run = std::fs::canonicalize(store.path().join("latest")).unwrap();
    let history = std::fs::read_to_string(run.join("history.jsonl")).unwrap();
    assert!(
        history.lines().any(|l| l.contains("\"start-partition-one\"") && l.contains("\"verified\":true")),
        "the partition was not applied through sudo"
    );
    // Not in the history, test.json, faultline.log, the collected node logs or the report.
    assert_eq!(files_containing(store.path(), &password), Vec::<PathBuf>::new(), "files holding the password");
    common::assert_nodes_clean("after the sudo-password run");

    // A wrong password is refused at preflight, naming the node, and is not echoed either.
    let wrong = format!("wrong-{password}");
    let out = common::faultline()
        .env("FAULTLINE_SUDO_PASSWORD", &wrong)
        .args(["test", "--nodes", NODES, "--ssh-key", key, "--username", USER])
        .args(["--db", "etcd", "--time-limit", "5s", "--store"])
        .arg(store.path())
        .output()
        .unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&out.stderr), String::from_utf8_lossy(&out.stdout));
    assert_ne!(out.status.code(), Some(0), "a wrong sudo password must fail:\n{said}");
    assert!(said.contains("n1") || said.contains("10.233.0.11"), "the error names the node:\n{said}");
    assert!(!said.contains(&wrong), "the wrong password was printed:\n{said}");
}

#[test]
fn a_sudo_login_runs_a_whole_test() {
    if !common::have_root() {
        return;
    }
    let _lock = common::cluster_lock();
    common::ensure_cluster();
    let _user = SudoUser::create(None);
    let store = tempfile::tempdir().unwrap();
    let (code, run, log) = run_nodes(
        store.path(),
        &[
            "--username",
            USER,
            "--db",
            "etcd",
            "--workload",
            "register",
            "--nemesis",
            "partition-one",
            "--nemesis-interval",
            "3s",
            "--time-limit",
            "12s",
            "--seed",
            "4",
        ],
    );
    assert_eq!(code, 0, "expected valid (exit 0) through sudo:\n{log}");
    let history = std::fs::read_to_string(run.join("history.jsonl")).unwrap();
    assert!(
        history.lines().any(|l| l.contains("\"start-partition-one\"") && l.contains("\"verified\":true")),
        "the partition was not applied through sudo"
    );
    common::assert_nodes_clean("after the sudo run");
}
