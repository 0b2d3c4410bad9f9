//! Preflight: before any fault is injected, make sure every node answers over ssh, that we can
//! act as root there (logged in as root, or sudo works), and that the tools the run needs are
//! installed. A bad node fails the run in seconds with a message naming it.

use std::time::Duration;

use anyhow::{bail, Result};

use crate::ssh::{connect_all, Node, NodeSpec, SshOptions};

/// How long each check command may take on a node.
const CHECK_TIMEOUT: Duration = Duration::from_secs(10);

/// Connect to every node in parallel and check root access and `required_tools`; returns the
/// connected nodes for the run to reuse. The error lists every failing node and why.
pub async fn preflight(specs: &[NodeSpec], opts: &SshOptions, required_tools: &[&str]) -> Result<Vec<Node>> {
    if specs.is_empty() {
        bail!("preflight: no nodes given");
    }
    let nodes = connect_all(specs, opts).await.map_err(|e| e.context("preflight failed"))?;
    check_nodes(&nodes, required_tools).await?;
    Ok(nodes)
}

/// Check root access and `required_tools` on connected nodes, in parallel (also used once the
/// faults of a run are known, for the tools they need).
pub async fn check_nodes(nodes: &[Node], required_tools: &[&str]) -> Result<()> {
    let mut tasks = Vec::new();
    for node in nodes {
        let node = node.clone();
        let tools: Vec<String> = required_tools.iter().map(|t| t.to_string()).collect();
        tasks.push(tokio::spawn(async move { check_node(&node, &tools).await }));
    }
    let mut failures = Vec::new();
    for (node, task) in nodes.iter().zip(tasks) {
        match task.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => failures.push(format!("{e:#}")),
            Err(e) => failures.push(format!("node {}: preflight task failed: {e}", node.name)),
        }
    }
    if !failures.is_empty() {
        bail!("preflight failed on {} of {} nodes:\n  {}", failures.len(), nodes.len(), failures.join("\n  "));
    }
    Ok(())
}

/// Root (or working sudo) and the tools, on one node.
async fn check_node(node: &Node, tools: &[String]) -> Result<()> {
    let id = node.run_root(&["id", "-u"], CHECK_TIMEOUT).await?;
    if !id.success() || id.stdout.trim() != "0" {
        let how = if node.user() == "root" { "logged in as root" } else { "through sudo" };
        bail!(
            "node {}: cannot act as root {how} (user {}; `id -u` gave status {} and {:?}{}); root or passwordless sudo (or --sudo-password) is required",
            node.name,
            node.user(),
            id.status,
            id.stdout.trim(),
            if id.stderr.trim().is_empty() { String::new() } else { format!(", stderr {:?}", id.stderr.trim()) }
        );
    }
    if tools.is_empty() {
        return Ok(());
    }
    // Checked as root: root's PATH includes the sbin directories where iptables and tc live.
    let script = r#"for t; do command -v "$t" >/dev/null 2>&1 || echo "$t"; done"#;
    let mut argv = vec!["sh", "-c", script, "sh"];
    argv.extend(tools.iter().map(String::as_str));
    let out = node.run_root(&argv, CHECK_TIMEOUT).await?;
    let missing: Vec<&str> = out.stdout.split_whitespace().collect();
    if !out.success() || !missing.is_empty() {
        bail!(
            "node {}: required tools missing: {}",
            node.name,
            if missing.is_empty() { "(check failed)".to_string() } else { missing.join(", ") }
        );
    }
    Ok(())
}

/// Whether some of `nodes` share a clock with each other or with this machine: the same kernel
/// (`/proc/sys/kernel/random/boot_id`) means the same clock, so a clock fault on one would move
/// the others' (and ours). The local cluster's nodes always do; real hosts normally do not.
pub async fn shared_clock(nodes: &[Node]) -> Result<bool> {
    const BOOT_ID: &str = "/proc/sys/kernel/random/boot_id";
    let mut seen: Vec<String> =
        std::fs::read_to_string(BOOT_ID).ok().map(|s| s.trim().to_string()).into_iter().collect();
    for node in nodes {
        let out = node.run(&["cat", BOOT_ID], CHECK_TIMEOUT).await?;
        let id = out.stdout.trim().to_string();
        if !out.success() || id.is_empty() {
            // Not Linux, or no procfs: assume separate machines, as before.
            continue;
        }
        if seen.contains(&id) {
            return Ok(true);
        }
        seen.push(id);
    }
    Ok(false)
}
