//! The Redis adapter: Debian's redis-server 7, the first node the primary, the others replicas
//! with asynchronous replication (`replicaof`). `repl-diskless-sync-delay 0`, or replicas answer
//! empty for five seconds after they connect.

use super::adapter::{Daemon, DbNode, DbOptions, SHORT};
use super::redis_client::{RedisConnection, Role};
use anyhow::{bail, Result};
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

pub async fn install(nodes: &[DbNode], opts: &DbOptions) -> Result<String> {
    REDIS.install(nodes, opts).await
}

/// Start the primary on the first node and a replica on each other node; wait until every
/// replica's link to the primary is up.
pub async fn setup(nodes: &[DbNode], binary: &str) -> Result<()> {
    let Some(primary) = nodes.first() else { bail!("redis needs at least one node") };
    let results = join_all(nodes.iter().enumerate().map(|(i, n)| async move {
        REDIS.stop(n).await?;
        n.ssh.run_root(&["rm", "-rf", &REDIS.data_dir(n), &REDIS.logfile(n)], SHORT).await?;
        n.ssh.run_root(&["mkdir", "-p", &REDIS.data_dir(n)], SHORT).await?.check(&n.name, &["mkdir"])?;
        start(n, binary, if i == 0 { None } else { Some(primary) }).await
    }))
    .await;
    for r in results {
        r?;
    }
    wait_replicated(nodes, Duration::from_secs(30)).await
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

/// Restart a killed server. It comes back as a replica of the current primary (its data was
/// in memory only), or as the primary when no other node is one.
pub async fn restart(n: &DbNode, nodes: &[DbNode]) -> Result<()> {
    if REDIS.is_running(n).await? {
        return Ok(());
    }
    let binary = REDIS.installed_binary(n).await?;
    let others: Vec<DbNode> = nodes.iter().filter(|m| m.name != n.name).cloned().collect();
    let current = primaries(&others).await?;
    let primary = current.first().and_then(|name| nodes.iter().find(|m| &m.name == name));
    start(n, &binary, primary).await
}

pub async fn kill(n: &DbNode) -> Result<bool> {
    REDIS.kill(n).await
}
pub async fn pause(n: &DbNode) -> Result<bool> {
    REDIS.pause(n).await
}

pub async fn teardown(nodes: &[DbNode]) -> Result<()> {
    REDIS.teardown(nodes).await
}

pub fn log_files(n: &DbNode) -> Vec<String> {
    REDIS.log_files(n)
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
