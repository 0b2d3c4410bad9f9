//! The Redis adapter: Debian's redis-server 7, the first node the primary, the others replicas
//! with asynchronous replication (`replicaof`). `repl-diskless-sync-delay 0`, or replicas answer
//! empty for five seconds after they connect.

pub mod client;
pub mod routed;

use crate::daemon::{Daemon, SHORT};
use crate::{ClientOptions, Db, DbNode, PauseControl, PrimaryControl, PrimaryRoute, ProcessControl};
use anyhow::{bail, Result};
use async_trait::async_trait;
use client::{RedisConnection, Role};
use faultline_workloads::{Client, Workload};
use futures::future::join_all;
use std::time::Duration;

pub const PORT: u16 = 6379;
const REDIS: Daemon = Daemon { prefix: "redis", comm: "redis-server", binary: "redis-server", package: "redis-server" };

pub fn addr(n: &DbNode) -> String {
    format!("{}:{PORT}", n.host)
}

/// The argv that starts one server; `primary` is None for the primary itself.
pub fn start_argv(binary: &str, node: &DbNode, primary: Option<&DbNode>) -> Vec<String> {
    let mut argv: Vec<String> = vec![
        binary.into(),
        "--port".into(),
        PORT.to_string(),
        "--bind".into(),
        format!("{} 127.0.0.1", node.host),
        "--protected-mode".into(),
        "no".into(),
        "--dir".into(),
        REDIS.data_dir(node),
        "--save".into(),
        "".into(),
        "--appendonly".into(),
        "no".into(),
        "--daemonize".into(),
        "no".into(),
        "--repl-diskless-sync".into(),
        "yes".into(),
        "--repl-diskless-sync-delay".into(),
        "0".into(),
    ];
    if let Some(p) = primary {
        argv.extend(["--replicaof".into(), p.host.clone(), PORT.to_string()]);
    }
    argv
}

/// Redis: the first node the primary, the others asynchronous replicas.
pub struct Redis;

#[async_trait]
impl Db for Redis {
    fn per_process_clock_refusal(&self) -> Option<&'static str> {
        Some("Debian's redis-server links jemalloc, which deadlocks at start-up under libfaketime 0.9.10 (wolfcw/libfaketime#130; redis-server never answers)")
    }

    fn name(&self) -> &'static str {
        "redis"
    }
    fn daemon(&self) -> &Daemon {
        &REDIS
    }
    fn ports(&self) -> &'static [u16] {
        &[PORT]
    }
    fn host_packages(&self) -> &'static [(&'static str, &'static str)] {
        &[("redis-server", "redis-server")]
    }

    /// Start the primary on the first node and a replica on each other node; wait until every
    /// replica's link to the primary is up.
    async fn setup(&self, nodes: &[DbNode], _opts: &crate::DbOptions) -> Result<()> {
        let Some(primary) = nodes.first() else { bail!("redis needs at least one node") };
        let results = join_all(nodes.iter().enumerate().map(|(i, n)| async move {
            REDIS.stop(n).await?;
            n.ssh.run_root(&["rm", "-rf", &REDIS.data_dir(n), &REDIS.logfile(n)], SHORT).await?;
            n.ssh.run_root(&["mkdir", "-p", &REDIS.data_dir(n)], SHORT).await?.check(&n.name, &["mkdir"])?;
            let binary = REDIS.installed_binary(n).await?;
            start(n, &binary, if i == 0 { None } else { Some(primary) }).await
        }))
        .await;
        for r in results {
            r?;
        }
        wait_replicated(nodes, Duration::from_secs(30)).await
    }

    /// Reads go to the client's own node (a replica may serve stale data: that is part of what
    /// the set checker measures); writes go to the current primary.
    fn client(
        &self,
        workload: &dyn Workload,
        node: &DbNode,
        opts: &ClientOptions,
        route: &PrimaryRoute,
    ) -> Result<Box<dyn Client>> {
        let shape = crate::KvShape::of(workload, self.name())?;
        Ok(Box::new(routed::RedisRouted::new(node, shape, opts.timeout, route.clone())))
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
impl ProcessControl for Redis {
    async fn kill(&self, n: &DbNode) -> Result<bool> {
        REDIS.kill(n).await
    }
    /// Restart a killed server. It comes back as a replica of the current primary (its data was
    /// in memory only), or as the primary when no other node is one.
    async fn start(&self, n: &DbNode, nodes: &[DbNode]) -> Result<()> {
        if REDIS.is_running(n).await? {
            return Ok(());
        }
        let binary = REDIS.installed_binary(n).await?;
        let others: Vec<DbNode> = nodes.iter().filter(|m| m.name != n.name).cloned().collect();
        let current = primaries(&others).await?;
        let primary = current.first().and_then(|name| nodes.iter().find(|m| &m.name == name));
        start(n, &binary, primary).await
    }
}

#[async_trait]
impl PauseControl for Redis {
    async fn pause(&self, n: &DbNode) -> Result<bool> {
        REDIS.pause(n).await
    }
}

#[async_trait]
impl PrimaryControl for Redis {
    async fn primaries(&self, nodes: &[DbNode]) -> Result<Vec<String>> {
        primaries(nodes).await
    }
    fn can_promote(&self) -> bool {
        true
    }
    async fn promote(&self, n: &DbNode) -> Result<()> {
        promote(n).await
    }
    async fn follow(&self, nodes: &[DbNode], primary: &DbNode) -> Result<()> {
        follow(nodes, primary).await
    }
}

async fn start(n: &DbNode, binary: &str, primary: Option<&DbNode>) -> Result<()> {
    REDIS.start(n, &start_argv(binary, n, primary), &[]).await
}

async fn wait_replicated(nodes: &[DbNode], limit: Duration) -> Result<()> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let mut waiting = Vec::new();
        for n in nodes {
            let mut c = RedisConnection::new(&addr(n), Duration::from_secs(1));
            match c.role().await {
                Ok(Role::Primary { .. }) => {}
                Ok(Role::Replica { state, .. }) if state == "connected" => {}
                Ok(other) => waiting.push(format!("{}: {other:?}", n.name)),
                Err(e) => waiting.push(format!("{}: {e}", n.name)),
            }
        }
        if waiting.is_empty() {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            bail!("redis replication did not come up within {}s: {}", limit.as_secs(), waiting.join("; "));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The nodes whose ROLE is master.
pub async fn primaries(nodes: &[DbNode]) -> Result<Vec<String>> {
    let roles = join_all(nodes.iter().map(|n| async move {
        let mut c = RedisConnection::new(&addr(n), Duration::from_secs(1));
        (n.name.clone(), c.role().await)
    }))
    .await;
    Ok(roles.into_iter().filter_map(|(name, role)| matches!(role, Ok(Role::Primary { .. })).then_some(name)).collect())
}

/// The `failover` fault's promotion: make `new_primary` a primary (`REPLICAOF NO ONE`).
pub async fn promote(new_primary: &DbNode) -> Result<()> {
    RedisConnection::new(&addr(new_primary), Duration::from_secs(2)).replicaof_no_one().await
}

/// Point every node except `primary` at it (after the heal: the old primary becomes a replica
/// of the new one and discards what only it had — the writes async replication loses).
pub async fn follow(nodes: &[DbNode], primary: &DbNode) -> Result<()> {
    for n in nodes.iter().filter(|n| n.name != primary.name) {
        RedisConnection::new(&addr(n), Duration::from_secs(2)).replicaof(&primary.host, PORT).await?;
    }
    Ok(())
}
