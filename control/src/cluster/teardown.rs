//! Tearing the local cluster down: every node process, link, namespace and the state file.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Result};

use super::{load_local_cluster, state_file, BRIDGE, SEALED_PREFIX};
use crate::sys::{list_dir, netns_pids, process_alive, process_comm};

/// Remove every trace of a local cluster, whether or not a state file describes it: kill every
/// process of every node at once, then delete the veths, then the namespaces, then the bridge.
/// The unreachable route for the sealed prefix stays. Returns how many node namespaces went.
pub fn teardown() -> Result<usize> {
    let namespaces: Vec<String> = list_dir("/run/netns").into_iter().filter(|n| is_node_name(n, "fl-n")).collect();
    let mut pids: BTreeSet<u32> = namespaces.iter().flat_map(|ns| netns_pids(ns)).collect();
    if let Ok(Some(c)) = load_local_cluster() {
        for n in &c.nodes {
            if process_comm(n.sshd_pid).as_deref() == Some("sshd") {
                pids.insert(n.sshd_pid);
            }
        }
    }
    // SAFETY: kill(2) on pids found in our node namespaces (or recorded as our sshds and
    // checked by name just above).
    for pid in &pids {
        unsafe { libc::kill(*pid as i32, libc::SIGKILL) };
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while pids.iter().any(|p| process_alive(*p)) {
        if Instant::now() > deadline {
            let left: Vec<String> = pids.iter().filter(|p| process_alive(**p)).map(u32::to_string).collect();
            bail!("node processes did not die within 5s of SIGKILL: pids {}", left.join(" "));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let links: Vec<String> = list_dir("/sys/class/net").into_iter().filter(|n| is_node_name(n, "flv-n")).collect();
    let mut batch = String::new();
    for l in &links {
        batch.push_str(&format!("link del {l}\n"));
    }
    for ns in &namespaces {
        batch.push_str(&format!("netns del {ns}\n"));
    }
    if Path::new("/sys/class/net").join(BRIDGE).exists() {
        batch.push_str(&format!("link del {BRIDGE}\n"));
    }
    if !batch.is_empty() {
        // -force: carry on past a link that vanished with its namespace.
        let _ = Command::new("ip")
            .args(["-force", "-batch", "-"])
            .stdin(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .and_then(|mut c| {
                c.stdin.take().expect("piped").write_all(batch.as_bytes())?;
                c.wait()
            });
    }
    // Keep the seal even if the cluster was never built by this version.
    let _ = Command::new("ip").args(["route", "replace", "unreachable", SEALED_PREFIX]).status();
    let _ = std::fs::remove_file(state_file());
    let left_ns: Vec<String> = list_dir("/run/netns").into_iter().filter(|n| is_node_name(n, "fl-n")).collect();
    let left_links: Vec<String> =
        list_dir("/sys/class/net").into_iter().filter(|n| is_node_name(n, "flv-n") || n == BRIDGE).collect();
    if !left_ns.is_empty() || !left_links.is_empty() {
        bail!("teardown left namespaces [{}] and links [{}] behind", left_ns.join(" "), left_links.join(" "));
    }
    Ok(namespaces.len())
}

/// `fl-n12` style names: the prefix then digits only.
pub(super) fn is_node_name(name: &str, prefix: &str) -> bool {
    name.strip_prefix(prefix).is_some_and(|d| !d.is_empty() && d.chars().all(|c| c.is_ascii_digit()))
}
