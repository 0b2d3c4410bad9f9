//! One database daemon as faultline runs it on a node: pidfile, log, data directory, binary.
//!
//! Every adapter is built on [`Daemon`], so install, kill, pause, teardown and logs behave the same
//! for every database. Daemons are started with pidfiles and signalled only after checking
//! /proc/PID/comm (pids wrap).

use crate::{DbNode, DbOptions};
use anyhow::{bail, Context, Result};
use std::time::Duration;

pub const SHORT: Duration = Duration::from_secs(20);

/// Install a Debian package on a node when `binary` is not on its PATH. Daemons the package
/// would start on install are blocked with policy-rc.d: faultline starts its own.
pub async fn ensure_package(node: &DbNode, binary: &str, package: &str) -> Result<()> {
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
pub(crate) async fn upload_binary(node: &DbNode, local: &std::path::Path, name: &str) -> Result<String> {
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

    /// Install (or upload `--db-binary`) on every node and remember there which binary to run
    /// ([`Daemon::installed_binary`]). One node at a time: the local cluster's nodes share one
    /// dpkg database.
    pub async fn install(&self, nodes: &[DbNode], opts: &DbOptions) -> Result<()> {
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
        Ok(())
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
        let argv = with_node_env(argv, &n.env);
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

/// `argv` with the node's extra environment (libfaketime) set for the database process itself:
/// after `setpriv ... --` when the server drops privileges that way, so that the root `setpriv`
/// is not preloaded too (libfaketime's first preloaded process creates a semaphore only its owner
/// may open, and the database, running as another user, then cannot start).
fn with_node_env(argv: &[String], node_env: &[(String, String)]) -> Vec<String> {
    if node_env.is_empty() {
        return argv.to_vec();
    }
    let at = match argv.first().map(String::as_str) {
        Some("setpriv") => argv.iter().position(|a| a == "--").map_or(0, |i| i + 1),
        _ => 0,
    };
    let mut out = argv[..at].to_vec();
    out.push("env".into());
    out.extend(node_env.iter().map(|(k, v)| format!("{k}={v}")));
    out.extend_from_slice(&argv[at..]);
    out
}

/// Kill every process of this database on a node that this run did not start: by pidfile; then by
/// process name with the data directory or one of `ports` in its command line; then whoever
/// listens on `ports`. A stale process from a killed run would otherwise hold the data
/// directory's lock or answer the clients in place of the fresh one. Returns one line per process
/// killed: `pid <pid> (<how found>): <command line>`.
const CLEAR_STALE: &str = r#"comm=$1 datadir=$2 pidfile=$3; shift 3; ports="$*"
killed=" "
kill_one() {
  case "$killed" in *" $1 "*) return;; esac
  [ "$1" = "$$" ] && return
  cmd=$(tr '\0' ' ' < "/proc/$1/cmdline" 2>/dev/null) || return
  kill -CONT "$1" 2>/dev/null
  if kill -KILL "$1" 2>/dev/null; then killed="$killed$1 "; printf 'pid %s (%s): %s\n' "$1" "$2" "$cmd"; fi
}
if [ -r "$pidfile" ]; then
  pid=$(cat "$pidfile")
  case "$pid" in ''|*[!0-9]*) ;; *) [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$comm" ] && kill_one "$pid" pidfile;; esac
fi
for pid in $(pgrep -x "$comm"); do
  cmd=$(tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null)
  hit=""
  case "$cmd" in *"$datadir"*) hit="name and data directory";; esac
  for p in $ports; do case "$cmd " in *":$p "*|*":$p,"*|*" $p "*) hit="name and port $p";; esac; done
  [ -n "$hit" ] && kill_one "$pid" "$hit"
done
for p in $ports; do
  for pid in $(ss -Htlnp "sport = :$p" 2>/dev/null | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u); do
    kill_one "$pid" "listening on port $p"
  done
done
# Wait (up to 5 s) until every process killed is gone, so that ports and locks are free.
for i in $(seq 50); do
  left=""
  for pid in $killed; do s=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null); [ -n "$s" ] && [ "$s" != Z ] && left="$left $pid"; done
  [ -z "$left" ] && break
  sleep 0.1
done
rm -f "$pidfile""#;

/// Which processes listen on `ports` and are not the daemon of `pidfile` or one of its children:
/// lines `<port> <pid> <command line>`.
const FOREIGN_LISTENERS: &str = r#"pidfile=$1; shift
ours=$(cat "$pidfile" 2>/dev/null)
for p in "$@"; do
  for pid in $(ss -Htlnp "sport = :$p" 2>/dev/null | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u); do
    q=$pid
    while [ -n "$q" ] && [ "$q" != 0 ] && [ "$q" != 1 ] && [ "$q" != "$ours" ]; do q=$(awk '{print $4}' "/proc/$q/stat" 2>/dev/null); done
    [ -n "$ours" ] && [ "$q" = "$ours" ] || echo "$p $pid $(tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null)"
  done
done"#;

impl Daemon {
    /// Stop any process of this database on `n` that is not this run's (see [`CLEAR_STALE`]).
    pub async fn clear_stale(&self, n: &DbNode, ports: &[u16]) -> Result<Vec<String>> {
        let comm: String = self.comm.chars().take(15).collect();
        let (data, pidfile) = (self.data_dir(n), self.pidfile(n));
        let mut argv: Vec<String> = ["sh", "-c", CLEAR_STALE, "sh", &comm, &data, &pidfile].map(String::from).to_vec();
        argv.extend(ports.iter().map(u16::to_string));
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let out = n.ssh.run_root(&argv, SHORT).await?.check(&n.name, &["sh", "-c", "(clear stale processes)"])?;
        Ok(out.stdout.lines().map(|l| format!("{}: killed stale process {l}", n.name)).collect())
    }

    /// Refuse a node whose database ports are served by a process this run did not start.
    pub async fn check_ports_owned(&self, n: &DbNode, ports: &[u16]) -> Result<()> {
        let pidfile = self.pidfile(n);
        let mut argv: Vec<String> = ["sh", "-c", FOREIGN_LISTENERS, "sh", &pidfile].map(String::from).to_vec();
        argv.extend(ports.iter().map(u16::to_string));
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let out = n.ssh.run_root(&argv, SHORT).await?.check(&n.name, &["sh", "-c", "(check port owners)"])?;
        let foreign: Vec<String> = out
            .stdout
            .lines()
            .filter_map(|l| {
                let mut parts = l.splitn(3, ' ');
                let (port, pid, cmd) = (parts.next()?, parts.next()?, parts.next().unwrap_or("").trim());
                Some(format!("port {port} is served by pid {pid} ({cmd})"))
            })
            .collect();
        if !foreign.is_empty() {
            bail!(
                "node {}: {}, not by the {} this run started; refusing to test against it",
                n.name,
                foreign.join("; "),
                self.comm
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(v: &[&str]) -> Vec<String> {
        v.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn node_environment_reaches_the_database_not_setpriv() {
        let env = vec![("LD_PRELOAD".to_string(), "/lib/ft.so".to_string())];
        let pg = words(&["setpriv", "--reuid=postgres", "--", "/usr/bin/postgres", "-D", "/d"]);
        assert_eq!(
            with_node_env(&pg, &env),
            words(&[
                "setpriv",
                "--reuid=postgres",
                "--",
                "env",
                "LD_PRELOAD=/lib/ft.so",
                "/usr/bin/postgres",
                "-D",
                "/d"
            ])
        );
        let plain = words(&["/usr/bin/etcd", "--name", "n1"]);
        assert_eq!(
            with_node_env(&plain, &env),
            words(&["env", "LD_PRELOAD=/lib/ft.so", "/usr/bin/etcd", "--name", "n1"])
        );
        assert_eq!(with_node_env(&plain, &[]), plain);
    }
}
