//! What every database adapter offers the runner and the nemesis, as plain data and one enum.
//!
//! An adapter installs, configures, starts, stops, kills (SIGKILL), pauses (SIGSTOP), resumes,
//! wipes, finds the primary/leader, and knows where its logs are. Daemons are started with
//! pidfiles and signalled only after checking /proc/PID/comm (pids wrap).

use crate::ssh::Node;
use anyhow::{bail, Context, Result};
use std::path::PathBuf;
use std::time::Duration;

/// One database node as the adapters see it: the SSH handle, the address the other nodes and
/// the clients use, and a directory of its own (nodes of the local cluster share one filesystem).
#[derive(Clone, Debug)]
pub struct DbNode {
    pub ssh: Node,
    pub name: String,
    pub host: String,
    pub root: String,
}

impl DbNode {
    /// A connected node whose files live under `root`; other nodes and clients reach it at the
    /// host it was connected to.
    pub fn new(ssh: Node, root: String) -> DbNode {
        DbNode { name: ssh.name.clone(), host: ssh.host.clone(), ssh, root }
    }

    pub fn path(&self, file: &str) -> String {
        format!("{}/{}", self.root.trim_end_matches('/'), file)
    }
}

/// The databases faultline knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DbKind {
    Etcd,
    Redis,
}

impl DbKind {
    pub const ALL: [DbKind; 2] = [DbKind::Etcd, DbKind::Redis];

    pub fn parse(name: &str) -> Result<DbKind> {
        match name.to_ascii_lowercase().as_str() {
            "etcd" => Ok(DbKind::Etcd),
            "redis" => Ok(DbKind::Redis),
            other => Err(crate::exit::bad_input(format!("--db {other:?}: unknown database; known: etcd, redis"))),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            DbKind::Etcd => "etcd",
            DbKind::Redis => "redis",
        }
    }

    /// The process name (/proc/PID/comm) of the daemon.
    pub fn comm(self) -> &'static str {
        match self {
            DbKind::Etcd => "etcd",
            DbKind::Redis => "redis-server",
        }
    }

    /// (binary, Debian package) pairs the database needs; installed on the host for the local
    /// cluster, whose nodes share its filesystem.
    pub fn host_packages(self) -> &'static [(&'static str, &'static str)] {
        match self {
            DbKind::Etcd => &[("etcd", "etcd-server")],
            DbKind::Redis => &[("redis-server", "redis-server")],
        }
    }

    /// Tools the adapter needs on every node, checked by preflight.
    pub fn required_tools(self) -> &'static [&'static str] {
        &["sh", "kill", "cat", "rm", "mkdir"]
    }
}

/// Options shared by the adapters.
#[derive(Debug, Clone, Default)]
pub struct DbOptions {
    /// Upload this binary instead of using the distribution's.
    pub binary: Option<PathBuf>,
}

pub const SHORT: Duration = Duration::from_secs(20);

/// Install a Debian package on a node when `binary` is not on its PATH. Daemons the package
/// would start on install are blocked with policy-rc.d: faultline starts its own.
async fn ensure_package(node: &DbNode, binary: &str, package: &str) -> Result<()> {
    let probe = node.ssh.run_root(&["sh", "-c", &format!("command -v {binary}")], SHORT).await?;
    if probe.success() {
        return Ok(());
    }
    eprintln!("{}: installing {package} with apt-get (no {binary} found)", node.name);
    let script = format!(
        "set -e; printf '#!/bin/sh\\nexit 101\\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; \
         trap 'rm -f /usr/sbin/policy-rc.d' EXIT; \
         DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends {package} \
         || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends {package})"
    );
    let out = node.ssh.run_root(&["sh", "-c", &script], Duration::from_secs(600)).await?;
    if !out.success() {
        bail!("{}: apt-get install {package} failed (status {}): {}", node.name, out.status, tail(&out.stderr));
    }
    Ok(())
}

/// Upload a user-supplied database binary to `<root>/bin/<name>` and return that path.
async fn upload_binary(node: &DbNode, local: &std::path::Path, name: &str) -> Result<String> {
    let remote = node.path(&format!("bin/{name}"));
    node.ssh.run_root(&["mkdir", "-p", &node.path("bin")], SHORT).await?.check(&node.name, &["mkdir"])?;
    node.ssh
        .upload(local, &remote)
        .await
        .with_context(|| format!("uploading --db-binary {} to {}", local.display(), node.name))?;
    node.ssh.run_root(&["chmod", "755", &remote], SHORT).await?.check(&node.name, &["chmod"])?;
    Ok(remote)
}

/// Send a signal to the daemon whose pidfile is `pidfile`; false if it was not running.
async fn signal(node: &DbNode, pidfile: &str, comm: &str, sig: &str) -> Result<bool> {
    node.ssh.signal_pidfile(pidfile, comm, sig).await
}

/// Stop a daemon: TERM, wait up to `grace`, then KILL; also resumes it first in case it is paused.
async fn stop_daemon(node: &DbNode, pidfile: &str, comm: &str, grace: Duration) -> Result<()> {
    let _ = signal(node, pidfile, comm, "CONT").await;
    if !signal(node, pidfile, comm, "TERM").await? {
        return Ok(());
    }
    let deadline = tokio::time::Instant::now() + grace;
    while tokio::time::Instant::now() < deadline {
        if !is_running(node, pidfile, comm).await? {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    signal(node, pidfile, comm, "KILL").await?;
    Ok(())
}

/// Whether the pidfile names a live process with the expected name.
async fn is_running(node: &DbNode, pidfile: &str, comm: &str) -> Result<bool> {
    // Signal 0 checks existence without touching the process.
    signal(node, pidfile, comm, "0").await
}

pub fn tail(s: &str) -> String {
    let t: Vec<&str> = s.trim().lines().rev().take(5).collect();
    t.into_iter().rev().collect::<Vec<_>>().join(" | ")
}

/// One database daemon as faultline runs it on a node: where its files live under the node's
/// root, its process name, and the Debian package that provides it. Both adapters are built on
/// this, so install, kill, pause, teardown and logs behave the same for every database.
#[derive(Debug, Clone, Copy)]
pub struct Daemon {
    /// File prefix under the node's root: `<prefix>.pid`, `<prefix>.log`, `<prefix>.data/`.
    pub prefix: &'static str,
    /// /proc/PID/comm of the running daemon.
    pub comm: &'static str,
    /// The binary on PATH, and the package that installs it.
    pub binary: &'static str,
    pub package: &'static str,
}

impl Daemon {
    pub fn pidfile(&self, n: &DbNode) -> String {
        n.path(&format!("{}.pid", self.prefix))
    }
    pub fn logfile(&self, n: &DbNode) -> String {
        n.path(&format!("{}.log", self.prefix))
    }
    pub fn data_dir(&self, n: &DbNode) -> String {
        n.path(&format!("{}.data", self.prefix))
    }
    /// Where the binary chosen at install is remembered, for restarts after a kill.
    fn binary_marker(&self, n: &DbNode) -> String {
        n.path(&format!("{}.binary", self.prefix))
    }

    /// Install (or upload `--db-binary`) on every node; returns the binary to run. One node at a
    /// time: the local cluster's nodes share one dpkg database.
    pub async fn install(&self, nodes: &[DbNode], opts: &DbOptions) -> Result<String> {
        let mut binary = self.binary.to_string();
        for n in nodes {
            match &opts.binary {
                Some(local) => binary = upload_binary(n, local, self.binary).await?,
                None => ensure_package(n, self.binary, self.package).await?,
            }
            n.ssh
                .run_root(
                    &[
                        "sh",
                        "-c",
                        "mkdir -p \"$1\" && printf %s \"$2\" > \"$3\"",
                        "sh",
                        &n.root,
                        &binary,
                        &self.binary_marker(n),
                    ],
                    SHORT,
                )
                .await?
                .check(&n.name, &["mkdir"])?;
        }
        Ok(binary)
    }

    /// The binary recorded at install.
    pub async fn installed_binary(&self, n: &DbNode) -> Result<String> {
        let marker = self.binary_marker(n);
        let out = n.ssh.run_root(&["cat", &marker], SHORT).await?.check(&n.name, &["cat", &marker])?;
        Ok(out.stdout.trim().to_string())
    }

    pub async fn is_running(&self, n: &DbNode) -> Result<bool> {
        is_running(n, &self.pidfile(n), self.comm).await
    }
    pub async fn kill(&self, n: &DbNode) -> Result<bool> {
        signal(n, &self.pidfile(n), self.comm, "KILL").await
    }
    pub async fn pause(&self, n: &DbNode) -> Result<bool> {
        signal(n, &self.pidfile(n), self.comm, "STOP").await
    }
    pub async fn stop(&self, n: &DbNode) -> Result<()> {
        stop_daemon(n, &self.pidfile(n), self.comm, Duration::from_secs(5)).await
    }

    /// Start `argv` as this daemon on `n` (pidfile, log appended, cwd the node's root).
    pub async fn start(&self, n: &DbNode, argv: &[String], env: &[(String, String)]) -> Result<()> {
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        n.ssh
            .start_daemon(&argv, &self.pidfile(n), &self.logfile(n), env, &n.root)
            .await
            .with_context(|| format!("starting {} on {}", self.comm, n.name))?;
        Ok(())
    }

    /// Stop the daemon everywhere and remove its data (logs stay for collection).
    pub async fn teardown(&self, nodes: &[DbNode]) -> Result<()> {
        let results = futures::future::join_all(nodes.iter().map(|n| async move {
            self.stop(n).await?;
            n.ssh.run_root(&["rm", "-rf", &self.data_dir(n)], SHORT).await?;
            anyhow::Ok(())
        }))
        .await;
        results.into_iter().collect()
    }

    pub fn log_files(&self, n: &DbNode) -> Vec<String> {
        vec![self.logfile(n)]
    }
}
