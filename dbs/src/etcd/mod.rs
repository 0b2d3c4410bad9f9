//! The etcd adapter: Debian's etcd-server (or `--db-binary`), one member per node, a fresh
//! cluster on every set-up.

pub mod client;

use crate::daemon::{tail, Daemon, SHORT};
use crate::{ClientOptions, Db, DbNode, PauseControl, PrimaryControl, PrimaryRoute, ProcessControl};
use anyhow::{bail, Result};
use async_trait::async_trait;
use faultline_workloads::{Client, Workload};
use futures::future::join_all;
use std::time::Duration;

pub const CLIENT_PORT: u16 = 2379;
pub const PEER_PORT: u16 = 2380;
const ETCD: Daemon = Daemon { prefix: "etcd", comm: "etcd", binary: "etcd", package: "etcd-server" };

/// The `--initial-cluster` line: every member's name and peer URL.
pub fn initial_cluster(nodes: &[DbNode]) -> String {
    nodes.iter().map(|n| format!("{}=http://{}:{PEER_PORT}", n.name, n.host)).collect::<Vec<_>>().join(",")
}

/// The argv that starts one member.
pub fn start_argv(binary: &str, node: &DbNode, cluster: &str) -> Vec<String> {
    let host = &node.host;
    vec![
        binary.to_string(),
        "--name".into(),
        node.name.clone(),
        "--data-dir".into(),
        ETCD.data_dir(node),
        "--listen-peer-urls".into(),
        format!("http://{host}:{PEER_PORT}"),
        "--initial-advertise-peer-urls".into(),
        format!("http://{host}:{PEER_PORT}"),
        "--listen-client-urls".into(),
        format!("http://{host}:{CLIENT_PORT},http://127.0.0.1:{CLIENT_PORT}"),
        "--advertise-client-urls".into(),
        format!("http://{host}:{CLIENT_PORT}"),
        "--initial-cluster".into(),
        cluster.to_string(),
        "--initial-cluster-state".into(),
        "new".into(),
        "--initial-cluster-token".into(),
        "faultline".into(),
        // Fail fast enough that a 30 s test sees elections, as in Jepsen's etcd suite.
        "--heartbeat-interval".into(),
        "100".into(),
        "--election-timeout".into(),
        "1000".into(),
    ]
}

/// etcd: one member per node, a fresh cluster on every set-up.
pub struct Etcd;

#[async_trait]
impl Db for Etcd {
    fn per_process_clock_refusal(&self) -> Option<&'static str> {
        Some("etcd is a Go binary: Go reads the time through the kernel's vDSO, not libc, so a preloaded libfaketime cannot shift it")
    }

    fn name(&self) -> &'static str {
        "etcd"
    }
    fn daemon(&self) -> &Daemon {
        &ETCD
    }
    fn ports(&self) -> &'static [u16] {
        &[CLIENT_PORT, PEER_PORT]
    }
    fn host_packages(&self) -> &'static [(&'static str, &'static str)] {
        &[("etcd", "etcd-server")]
    }

    /// Wipe data and start every member, then wait until the cluster has a leader.
    async fn setup(&self, nodes: &[DbNode], _opts: &crate::DbOptions) -> Result<()> {
        let cluster = initial_cluster(nodes);
        let starts = nodes.iter().map(|n| {
            let cluster = cluster.clone();
            async move {
                ETCD.stop(n).await?;
                n.ssh
                    .run_root(&["rm", "-rf", &ETCD.data_dir(n), &ETCD.logfile(n)], SHORT)
                    .await?
                    .check(&n.name, &["rm"])?;
                let binary = ETCD.installed_binary(n).await?;
                start(n, &binary, &cluster).await
            }
        });
        for r in join_all(starts).await {
            r?;
        }
        wait_for_leader(nodes, Duration::from_secs(60)).await
    }

    fn client(
        &self,
        workload: &dyn Workload,
        node: &DbNode,
        opts: &ClientOptions,
        _route: &PrimaryRoute,
    ) -> Result<Box<dyn Client>> {
        let shape = crate::KvShape::of(workload, self.name())?;
        Ok(Box::new(client::EtcdClient::new(&format!("{}:{CLIENT_PORT}", node.host), shape, opts.clone())?))
    }
    fn process(&self) -> Option<&dyn ProcessControl> {
        Some(self)
    }
    fn pause(&self) -> Option<&dyn PauseControl> {
        Some(self)
    }
    fn primary(&self) -> Option<&dyn PrimaryControl> {
        Some(self)
    }
}

#[async_trait]
impl ProcessControl for Etcd {
    async fn kill(&self, n: &DbNode) -> Result<bool> {
        ETCD.kill(n).await
    }
    /// Restart a member (after a kill) with its existing data: it joins the cluster it already
    /// belongs to (`--initial-cluster-state` is ignored once the data dir exists).
    async fn start(&self, n: &DbNode, nodes: &[DbNode]) -> Result<()> {
        if ETCD.is_running(n).await? {
            return Ok(());
        }
        let binary = ETCD.installed_binary(n).await?;
        start(n, &binary, &initial_cluster(nodes)).await
    }
}

#[async_trait]
impl PauseControl for Etcd {
    async fn pause(&self, n: &DbNode) -> Result<bool> {
        ETCD.pause(n).await
    }
}

#[async_trait]
impl PrimaryControl for Etcd {
    async fn primaries(&self, nodes: &[DbNode]) -> Result<Vec<String>> {
        leaders(nodes).await
    }
}

async fn start(n: &DbNode, binary: &str, cluster: &str) -> Result<()> {
    // etcd refuses to start on some architectures without this; harmless elsewhere.
    let arch = std::env::consts::ARCH.replace("x86_64", "amd64").replace("aarch64", "arm64");
    ETCD.start(n, &start_argv(binary, n, cluster), &[("ETCD_UNSUPPORTED_ARCH".to_string(), arch)]).await
}

/// Ask each member who the leader is (`/v3/maintenance/status`): the names of the members
/// that say they are it.
pub async fn leaders(nodes: &[DbNode]) -> Result<Vec<String>> {
    let http = reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(2)).build()?;
    let mut leaders = Vec::new();
    for n in nodes {
        let url = format!("http://{}:{CLIENT_PORT}/v3/maintenance/status", n.host);
        let Ok(resp) = http.post(&url).json(&serde_json::json!({})).send().await else { continue };
        let Ok(v) = resp.json::<serde_json::Value>().await else { continue };
        let member = v["header"]["member_id"].as_str().unwrap_or("");
        let leader = v["leader"].as_str().unwrap_or("");
        if !member.is_empty() && member == leader {
            leaders.push(n.name.clone());
        }
    }
    Ok(leaders)
}

async fn wait_for_leader(nodes: &[DbNode], limit: Duration) -> Result<()> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if !leaders(nodes).await?.is_empty() {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            let mut why = String::new();
            for n in nodes {
                let out = n.ssh.run_root(&["tail", "-n", "3", &ETCD.logfile(n)], SHORT).await;
                if let Ok(o) = out {
                    why.push_str(&format!("\n  {}: {}", n.name, tail(&o.stdout)));
                }
            }
            bail!("etcd elected no leader within {}s; last log lines:{why}", limit.as_secs());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
