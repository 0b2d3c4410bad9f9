//! The control plane against the real local cluster (run as root): `faultline cluster
//! up|down|status|exec` through the binary, and the ssh API of `faultline-control` against the
//! cluster's nodes.
//!
//! Every test takes the shared cluster lock first.

mod common;

use faultline_control::{preflight, ssh};

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{cluster_lock, ensure_cluster, faultline, local_cluster_state};
use sha2::{Digest, Sha256};
use ssh::{Node, NodeSpec, SshOptions};

const T: Duration = Duration::from_secs(20);

/// The running cluster's nodes and login options, from `cluster status --json`.
fn cluster_targets() -> (Vec<NodeSpec>, SshOptions, serde_json::Value) {
    let state = local_cluster_state();
    assert_eq!(state["running"], true, "cluster not running: {state}");
    let port = state["ssh_port"].as_u64().unwrap() as u16;
    let specs = state["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| NodeSpec {
            name: n["name"].as_str().unwrap().into(),
            host: n["address"].as_str().unwrap().into(),
            port,
        })
        .collect();
    let opts = SshOptions {
        user: state["user"].as_str().unwrap().into(),
        key: Some(PathBuf::from(state["key_path"].as_str().unwrap())),
        strict: true,
        known_hosts: Some(PathBuf::from(state["known_hosts_path"].as_str().unwrap())),
        config_file: Some(PathBuf::from(state["ssh_config_path"].as_str().unwrap())),
        ..SshOptions::default()
    };
    (specs, opts, state)
}

fn sh(cmd: &str) -> String {
    let out = Command::new("sh").args(["-c", cmd]).output().unwrap();
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

fn node_namespaces() -> Vec<String> {
    std::fs::read_dir("/run/netns")
        .map(|rd| {
            rd.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect::<Vec<String>>()
        })
        .unwrap_or_default()
        .into_iter()
        .filter(|n: &String| n.starts_with("fl-n"))
        .collect()
}

fn cluster_links() -> Vec<String> {
    std::fs::read_dir("/sys/class/net")
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("flv-n") || n == "fl-br0")
        .collect()
}

fn alive(pid: u64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| !matches!(s.rsplit_once(')').and_then(|(_, r)| r.split_whitespace().next()), Some("Z") | Some("X")))
        .unwrap_or(false)
}

#[test]
fn up_twice_then_down_leaves_nothing_and_stays_sealed() {
    if !common::have_root() {
        return;
    }
    let _lock = cluster_lock();
    // From whatever state the last test left: an untimed up (it may install packages on a
    // fresh machine), down, then a timed up.
    ensure_cluster();
    assert!(faultline().args(["cluster", "down"]).status().unwrap().success());
    let started = Instant::now();
    let up = faultline().args(["cluster", "up", "--nodes", "5"]).output().unwrap();
    let took = started.elapsed();
    assert!(up.status.success(), "{}", String::from_utf8_lossy(&up.stderr));
    assert!(took < Duration::from_secs(5), "cluster up took {took:?}");
    let state = local_cluster_state();
    assert_eq!(state["running"], true);
    let nodes = state["nodes"].as_array().unwrap().clone();
    assert_eq!(nodes.len(), 5);
    assert_eq!(node_namespaces().len(), 5);

    // Sealed while up: no default route in any node, the outside world unreachable from inside.
    for n in &nodes {
        let ns = n["netns"].as_str().unwrap();
        assert_eq!(sh(&format!("ip -n {ns} route show default")).trim(), "", "{ns} has a default route");
        let probe = sh(&format!("ip netns exec {ns} ip route get 192.0.2.1"));
        assert!(probe.contains("unreachable"), "{ns} can route outside: {probe}");
        assert_eq!(n["sshd_alive"], true);
    }
    // Nodes reach each other over the bridge.
    let peer =
        faultline().args(["cluster", "exec", "n1", "--", "nc", "-z", "-w", "2", "10.233.0.12", "22"]).status().unwrap();
    assert!(peer.success(), "n1 cannot reach n2");
    // Hostname, /proc, /var/lib/faultline, /tmp and /run are the node's own: at the same paths as
    // on the others, but not shared, as on separate hosts.
    let out = faultline()
        .args([
            "cluster",
            "exec",
            "n3",
            "--",
            "sh",
            "-c",
            "hostname; cat /proc/1/comm; touch /var/lib/faultline/mine /tmp/mine /run/mine",
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "n3\nsshd\n");
    assert!(PathBuf::from(nodes[2]["host_data_dir"].as_str().unwrap()).join("mine").exists());
    assert!(!PathBuf::from(nodes[1]["host_data_dir"].as_str().unwrap()).join("mine").exists());
    let others = faultline()
        .args([
            "cluster",
            "exec",
            "n2",
            "--",
            "sh",
            "-c",
            "ls /var/lib/faultline/mine /tmp/mine /run/mine 2>/dev/null | wc -l",
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&others.stdout).trim(), "0", "n2 sees n3's files");
    for shared in ["/tmp/mine", "/run/mine", "/var/lib/faultline/mine"] {
        assert!(!PathBuf::from(shared).exists(), "the host sees n3's {shared}");
    }

    // `up` again reports the running cluster instead of rebuilding it.
    let again = faultline().args(["cluster", "up"]).output().unwrap();
    assert!(again.status.success());
    assert!(String::from_utf8_lossy(&again.stdout).contains("already running"));
    assert_eq!(local_cluster_state()["nodes"][0]["sshd_pid"], nodes[0]["sshd_pid"]);

    let down = faultline().args(["cluster", "down"]).output().unwrap();
    assert!(down.status.success(), "{}", String::from_utf8_lossy(&down.stderr));
    assert!(node_namespaces().is_empty(), "namespaces left: {:?}", node_namespaces());
    assert!(cluster_links().is_empty(), "links left: {:?}", cluster_links());
    for n in &nodes {
        assert!(!alive(n["sshd_pid"].as_u64().unwrap()), "sshd of {} still alive", n["name"]);
    }
    assert_eq!(local_cluster_state()["running"], false);

    // Sealed after down: node addresses are unreachable, and a connect fails at once.
    let route = sh("ip route get 10.233.0.11");
    assert!(route.contains("unreachable") || route.contains("No route to host"), "{route}");
    let t = Instant::now();
    let err =
        std::net::TcpStream::connect_timeout(&"10.233.0.11:22".parse().unwrap(), Duration::from_secs(3)).unwrap_err();
    assert!(t.elapsed() < Duration::from_millis(500), "connect took {:?}", t.elapsed());
    assert!(
        matches!(err.kind(), std::io::ErrorKind::HostUnreachable | std::io::ErrorKind::NetworkUnreachable),
        "unexpected error {err:?}"
    );

    // Commands without a cluster fail clearly.
    let exec = faultline().args(["cluster", "exec", "n1", "--", "true"]).output().unwrap();
    assert_eq!(exec.status.code(), Some(255));
    assert!(String::from_utf8_lossy(&exec.stderr).contains("no local cluster"));
}

#[test]
fn up_after_a_crash_cleans_up_first() {
    if !common::have_root() {
        return;
    }
    let _lock = cluster_lock();
    ensure_cluster();
    // Simulate a crashed cluster: lose the state file and kill one node's sshd.
    let state = local_cluster_state();
    std::fs::remove_file(state["state_file"].as_str().unwrap()).unwrap();
    let pid = state["nodes"][1]["sshd_pid"].as_i64().unwrap();
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    let up = faultline().args(["cluster", "up", "--nodes", "3"]).output().unwrap();
    assert!(up.status.success(), "{}", String::from_utf8_lossy(&up.stderr));
    assert_eq!(node_namespaces().len(), 3, "{:?}", node_namespaces());
    let state = local_cluster_state();
    assert_eq!(state["running"], true);
    // A different size while one runs is refused with a clear message.
    let other = faultline().args(["cluster", "up", "--nodes", "4"]).output().unwrap();
    assert_eq!(other.status.code(), Some(254));
    assert!(String::from_utf8_lossy(&other.stderr).contains("already running"));
    assert!(faultline().args(["cluster", "down"]).status().unwrap().success());
}

#[test]
fn exec_streams_output_and_passes_the_exit_status() {
    if !common::have_root() {
        return;
    }
    let _lock = cluster_lock();
    ensure_cluster();
    let out = faultline()
        .args(["cluster", "exec", "n2", "--", "sh", "-c", "echo out; echo err >&2; exit 3"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "out\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "err\n");
    let bad = faultline().args(["cluster", "exec", "n99", "--", "true"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(254));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("n99"));
}

#[tokio::test]
async fn fifty_concurrent_commands_across_five_nodes() {
    if !common::have_root() {
        return;
    }
    let _lock = cluster_lock();
    ensure_cluster();
    let (specs, opts, _) = cluster_targets();
    let nodes = ssh::connect_all(&specs[..5], &opts).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..50 {
        let node = nodes[i % 5].clone();
        tasks.push(tokio::spawn(async move {
            let arg = i.to_string();
            let out = node.run(&["sh", "-c", "sleep 0.2; echo $(hostname) $1", "sh", &arg], T).await;
            (node.name.clone(), i, out)
        }));
    }
    for task in tasks {
        let (name, i, out) = task.await.unwrap();
        let out = out.unwrap_or_else(|e| panic!("command {i} on {name}: {e:#}"));
        assert_eq!(out.status, 0);
        assert_eq!(out.stdout, format!("{name} {i}\n"));
    }
    let all = ssh::run_all(&nodes, &["hostname"], T).await;
    for (name, out) in all {
        assert_eq!(out.unwrap().stdout.trim(), name);
    }
}

#[tokio::test]
async fn hostile_arguments_arrive_literally() {
    if !common::have_root() {
        return;
    }
    let _lock = cluster_lock();
    ensure_cluster();
    let (specs, opts, _) = cluster_targets();
    let node = Node::connect(&specs[0], &opts).await.unwrap();
    let hostile = [
        "",
        "two words",
        "  leading and trailing  ",
        "it's",
        "\"double\"",
        "$(touch /tmp/faultline-pwned)",
        "`touch /tmp/faultline-pwned`",
        "; touch /tmp/faultline-pwned",
        "a && b || c | d & e",
        "line one\nline two\n",
        "back\\slash\\\\ \\n",
        "$HOME ${PATH} $1 $@",
        "*",
        "!bang !! !$",
        "-n",
        "tab\there",
        "ünïcødé ✓",
        "> /tmp/faultline-pwned",
    ];
    let mut argv = vec!["printf", "%s\\0"];
    argv.extend(hostile);
    let out = node.run(&argv, T).await.unwrap();
    assert_eq!(out.status, 0, "{}", out.stderr);
    let got: Vec<&str> = out.stdout.split('\0').collect();
    assert_eq!(&got[..got.len() - 1], &hostile[..]);
    assert!(!std::path::Path::new("/tmp/faultline-pwned").exists());
    // The same through root and through `sh -c` positional parameters.
    let out = node.run_root(&["sh", "-c", "printf '%s\\0' \"$@\"", "sh", hostile[5], hostile[9], ""], T).await.unwrap();
    assert_eq!(out.stdout, format!("{}\0{}\0\0", hostile[5], hostile[9]));
}

#[tokio::test]
async fn statuses_timeouts_and_daemons() {
    if !common::have_root() {
        return;
    }
    let _lock = cluster_lock();
    ensure_cluster();
    let (specs, opts, _) = cluster_targets();
    let node = Node::connect(&specs[1], &opts).await.unwrap();
    // Non-zero exits, 255 and 127 included, are results.
    for code in [1, 42, 255] {
        let out = node.sh(&format!("echo oops >&2; exit {code}"), T).await.unwrap();
        assert_eq!((out.status, out.stderr.as_str()), (code, "oops\n"));
    }
    let missing = node.run(&["no-such-command-here"], T).await.unwrap();
    assert_eq!(missing.status, 127);
    // A timeout is an error naming node, command and duration, and returns on time.
    let t = Instant::now();
    let err = node.run(&["sleep", "5"], Duration::from_millis(300)).await.unwrap_err().to_string();
    assert!(t.elapsed() < Duration::from_secs(2), "timeout took {:?}", t.elapsed());
    assert!(err.contains(&node.name) && err.contains("sleep 5") && err.contains("timed out after 300ms"), "{err}");
    assert_eq!(node.run(&["true"], T).await.unwrap().status, 0);
    // ... and the command does not outlive it on the node, as root either.
    let err = node.run_root(&["sleep", "77.25"], Duration::from_millis(300)).await.unwrap_err().to_string();
    assert!(err.contains("timed out"), "{err}");
    let left = node.run(&["pgrep", "-f", "^sleep 77.25"], T).await.unwrap();
    assert_eq!(left.status, 1, "the timed-out command still runs on the node: {}", left.stdout);

    // A daemon outlives its channel and is signalled only when its comm matches.
    let dir = "/var/lib/faultline/daemon-test";
    let pidfile = format!("{dir}/sleep.pid");
    let env = vec![("FAULTLINE_TEST".to_string(), "a b".to_string())];
    let pid = node.start_daemon(&["sleep", "1000"], &pidfile, &format!("{dir}/sleep.log"), &env, dir).await.unwrap();
    let check = node.sh(&format!("cat /proc/{pid}/comm; tr '\\0' '\\n' < /proc/{pid}/environ | grep FAULTLINE_TEST; readlink /proc/{pid}/cwd"), T).await.unwrap();
    assert_eq!(check.stdout, format!("sleep\nFAULTLINE_TEST=a b\n{dir}\n"));
    assert!(!node.signal_pidfile(&pidfile, "etcd", "KILL").await.unwrap());
    assert!(node.signal_pidfile(&pidfile, "sleep", "KILL").await.unwrap());
    // Once the killed daemon is gone, its pidfile signals nothing (polled until it is gone).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while node.signal_pidfile(&pidfile, "sleep", "0").await.unwrap() {
        assert!(std::time::Instant::now() < deadline, "the killed daemon is still there after 10 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!node.signal_pidfile(&pidfile, "sleep", "KILL").await.unwrap());
    assert!(!node.signal_pidfile("/nonexistent/pid", "sleep", "KILL").await.unwrap());
}

#[tokio::test]
async fn upload_and_download_50_mb_round_trip() {
    if !common::have_root() {
        return;
    }
    let _lock = cluster_lock();
    ensure_cluster();
    let (specs, opts, state) = cluster_targets();
    let node = Node::connect(&specs[0], &opts).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("blob");
    let mut data = vec![0u8; 50 * 1024 * 1024];
    let mut x: u64 = 0x9E3779B97F4A7C15;
    for chunk in data.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
    }
    std::fs::write(&local, &data).unwrap();
    let sum = Sha256::digest(&data);
    let t = Instant::now();
    node.upload(&local, "/var/lib/faultline/blob").await.unwrap();
    let up = t.elapsed();
    // It landed in n1's own data directory.
    let host_copy = PathBuf::from(state["nodes"][0]["host_data_dir"].as_str().unwrap()).join("blob");
    assert_eq!(Sha256::digest(std::fs::read(&host_copy).unwrap()), sum);
    let back = dir.path().join("back");
    let t = Instant::now();
    node.download("/var/lib/faultline/blob", &back).await.unwrap();
    eprintln!("50 MB upload {up:?}, download {:?}", t.elapsed());
    assert_eq!(Sha256::digest(std::fs::read(&back).unwrap()), sum);
    std::fs::remove_file(host_copy).unwrap();
    let err = node.download("/var/lib/faultline/missing", &back).await.unwrap_err().to_string();
    assert!(err.contains("n1") && err.contains("missing"), "{err}");
}

#[tokio::test]
async fn preflight_names_a_dead_node_within_the_connect_timeout() {
    if !common::have_root() {
        return;
    }
    let _lock = cluster_lock();
    ensure_cluster();
    let (specs, mut opts, _) = cluster_targets();
    opts.connect_timeout = Duration::from_secs(2);
    let ok = preflight::preflight(&specs[..3], &opts, &["sh", "iptables", "ip"]).await.unwrap();
    assert_eq!(ok.len(), 3);
    // An unused address inside the sealed subnet: nothing answers there.
    let mut with_dead = specs[..2].to_vec();
    with_dead.push(NodeSpec { name: "ghost".into(), host: "10.233.0.99".into(), port: 22 });
    let t = Instant::now();
    let err = format!("{:#}", preflight::preflight(&with_dead, &opts, &["sh"]).await.unwrap_err());
    assert!(t.elapsed() < Duration::from_secs(6), "preflight took {:?}", t.elapsed());
    eprintln!("dead address ({:?}): {err}", t.elapsed());
    assert!(err.contains("ghost") && err.contains("10.233.0.99"), "{err}");
    assert!(err.contains("timed out") || err.contains("unreachable"), "{err}");
    assert!(!err.contains("n1 ("), "healthy nodes are not blamed: {err}");
    // A port with nothing listening is refused at once.
    let refused = vec![NodeSpec { name: "closed".into(), host: specs[0].host.clone(), port: 2 }];
    let t = Instant::now();
    let err = format!("{:#}", preflight::preflight(&refused, &opts, &[]).await.unwrap_err());
    eprintln!("refused ({:?}): {err}", t.elapsed());
    assert!(
        t.elapsed() < Duration::from_secs(2) && err.contains("closed") && err.contains("connection refused"),
        "{err}"
    );
    // A missing tool is named.
    let err = format!("{:#}", preflight::preflight(&specs[..1], &opts, &["sh", "no-such-tool-xyz"]).await.unwrap_err());
    assert!(err.contains("n1") && err.contains("no-such-tool-xyz"), "{err}");
}

#[tokio::test]
async fn a_dead_master_is_restarted_without_rerunning_commands() {
    if !common::have_root() {
        return;
    }
    let _lock = cluster_lock();
    ensure_cluster();
    let (specs, opts, _) = cluster_targets();
    let node = Node::connect(&specs[2], &opts).await.unwrap();
    let before = node.control_socket();
    // Kill the master behind the node's back.
    let stop = Command::new("ssh").arg("-S").arg(&before).args(["-O", "exit", "x"]).output().unwrap();
    assert!(stop.status.success(), "{}", String::from_utf8_lossy(&stop.stderr));
    let out = node.run(&["hostname"], T).await.unwrap();
    assert_eq!(out.stdout.trim(), "n3");
    assert_ne!(node.control_socket(), before);
    // A counter incremented once per run shows nothing ran twice.
    let counter = "/var/lib/faultline/counter";
    node.run(&["rm", "-f", counter], T).await.unwrap();
    for _ in 0..3 {
        let sock = node.control_socket();
        Command::new("ssh").arg("-S").arg(&sock).args(["-O", "exit", "x"]).output().unwrap();
        node.sh(&format!("echo x >> {counter}"), T).await.unwrap();
    }
    assert_eq!(node.run(&["wc", "-l", counter], T).await.unwrap().stdout.split_whitespace().next(), Some("3"));
}

#[tokio::test]
async fn wrong_key_and_changed_host_key_are_named() {
    if !common::have_root() {
        return;
    }
    let _lock = cluster_lock();
    ensure_cluster();
    let (specs, opts, _) = cluster_targets();
    let dir = tempfile::tempdir().unwrap();
    // A key the nodes do not know.
    let key = dir.path().join("other");
    assert!(Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .status()
        .unwrap()
        .success());
    let wrong_key = SshOptions { key: Some(key), config_file: None, ..opts.clone() };
    let err = format!("{:#}", Node::connect(&specs[0], &wrong_key).await.unwrap_err());
    eprintln!("wrong key: {err}");
    assert!(err.contains("n1") && err.contains("authentication failed"), "{err}");
    // A known_hosts entry with another key for the node's address.
    let fake = dir.path().join("fake");
    assert!(Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&fake)
        .status()
        .unwrap()
        .success());
    let fake_pub = std::fs::read_to_string(fake.with_extension("pub")).unwrap();
    let kh = dir.path().join("known_hosts");
    std::fs::write(&kh, format!("{} {}", specs[0].host, fake_pub)).unwrap();
    let changed = SshOptions { known_hosts: Some(kh), config_file: None, strict: false, ..opts.clone() };
    let err = format!("{:#}", Node::connect(&specs[0], &changed).await.unwrap_err());
    eprintln!("changed host key: {err}");
    assert!(err.contains("host key changed"), "{err}");
}

/// Test users on this machine (the cluster's nodes share its accounts): one with passwordless
/// sudo, one whose sudo wants a password, one without sudo. Removed again on drop.
struct SudoUsers;

const SUDOERS: &str = "/etc/sudoers.d/faultline-test";
const SUDO_USERS: [&str; 3] = ["fl-nopass", "fl-passwd", "fl-nosudo"];
const SUDO_PASSWORD: &str = "faultline-test-pw";

impl SudoUsers {
    fn create() -> SudoUsers {
        for user in SUDO_USERS {
            if !Command::new("id").arg(user).output().unwrap().status.success() {
                sh(&format!("useradd -m -s /bin/sh {user}"));
            }
            // A locked account cannot log in even with a key (sshd runs without PAM here).
            sh(&format!("echo '{user}:{SUDO_PASSWORD}' | chpasswd"));
        }
        std::fs::write(SUDOERS, "fl-nopass ALL=(ALL) NOPASSWD: ALL\nfl-passwd ALL=(ALL) ALL\n").unwrap();
        sh(&format!("chmod 0440 {SUDOERS} && visudo -cf {SUDOERS}"));
        SudoUsers
    }
}

impl Drop for SudoUsers {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(SUDOERS);
        for user in SUDO_USERS {
            let _ = Command::new("userdel").args(["-r", user]).output();
        }
    }
}

/// A login that is not root acts as root through sudo: passwordless, or with the password
/// written to sudo's stdin (`--sudo-password`). Preflight accepts both and names a user without
/// sudo; a root command that times out is ended on the node through sudo as well.
#[tokio::test]
async fn sudo_logins_act_as_root() {
    if !common::have_root() {
        return;
    }
    let _lock = cluster_lock();
    ensure_cluster();
    let _users = SudoUsers::create();
    let (specs, opts, _) = cluster_targets();
    let login = |user: &str, password: Option<&str>| SshOptions {
        user: user.into(),
        sudo_password: password.map(ssh::Secret::new),
        ..opts.clone()
    };

    let node = Node::connect(&specs[0], &login("fl-nopass", None)).await.unwrap();
    assert_ne!(node.run(&["id", "-u"], T).await.unwrap().stdout.trim(), "0");
    assert_eq!(node.run_root(&["id", "-u"], T).await.unwrap().stdout.trim(), "0");
    let err = node.run_root(&["sleep", "66.25"], Duration::from_millis(300)).await.unwrap_err().to_string();
    assert!(err.contains("timed out"), "{err}");
    let left = node.run_root(&["pgrep", "-f", "^sleep 66.25"], T).await.unwrap();
    assert_eq!(left.status, 1, "the timed-out root command still runs: {}", left.stdout);

    let node = Node::connect(&specs[1], &login("fl-passwd", Some(SUDO_PASSWORD))).await.unwrap();
    assert_eq!(node.run_root(&["id", "-u"], T).await.unwrap().stdout.trim(), "0");
    let out = node.run_root(&["sh", "-c", "iptables -S INPUT >/dev/null && echo root-tools"], T).await.unwrap();
    assert_eq!(out.stdout.trim(), "root-tools", "{out:?}");

    preflight::preflight(&specs[..2], &login("fl-nopass", None), &["sh", "iptables"]).await.unwrap();
    preflight::preflight(&specs[..1], &login("fl-passwd", Some(SUDO_PASSWORD)), &["sh"]).await.unwrap();
    // Without the password, or without sudo at all, preflight says the login cannot act as root.
    for (user, password) in [("fl-passwd", None), ("fl-nosudo", None)] {
        let err =
            format!("{:#}", preflight::preflight(&specs[..1], &login(user, password), &["sh"]).await.unwrap_err());
        assert!(err.contains("cannot act as root") && err.contains(user), "{err}");
    }
}
