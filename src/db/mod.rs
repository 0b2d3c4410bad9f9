//! Database support: adapters (install, start, kill, pause, leader, logs) and workload clients.

pub mod adapter;
pub mod etcd;
pub mod etcd_client;
pub mod redis;
pub mod redis_client;

pub use adapter::{DbKind, DbNode, DbOptions};

use anyhow::Result;

/// Install the database on every node; returns what `setup` needs to start it (a binary path).
pub async fn install(kind: DbKind, nodes: &[DbNode], opts: &DbOptions) -> Result<String> {
    match kind {
        DbKind::Etcd => etcd::install(nodes, opts).await,
        DbKind::Redis => redis::install(nodes, opts).await,
    }
}

/// Wipe, configure and start the database on every node and wait until it serves.
pub async fn setup(kind: DbKind, nodes: &[DbNode], binary: &str) -> Result<()> {
    match kind {
        DbKind::Etcd => etcd::setup(nodes, binary).await,
        DbKind::Redis => redis::setup(nodes, binary).await,
    }
}

pub async fn teardown(kind: DbKind, nodes: &[DbNode]) -> Result<()> {
    match kind {
        DbKind::Etcd => etcd::teardown(nodes).await,
        DbKind::Redis => redis::teardown(nodes).await,
    }
}

pub async fn kill(kind: DbKind, node: &DbNode) -> Result<bool> {
    match kind {
        DbKind::Etcd => etcd::kill(node).await,
        DbKind::Redis => redis::kill(node).await,
    }
}

pub async fn restart(kind: DbKind, node: &DbNode, nodes: &[DbNode]) -> Result<()> {
    match kind {
        DbKind::Etcd => etcd::restart(node, nodes).await,
        DbKind::Redis => redis::restart(node, nodes).await,
    }
}

pub async fn pause(kind: DbKind, node: &DbNode) -> Result<bool> {
    match kind {
        DbKind::Etcd => etcd::pause(node).await,
        DbKind::Redis => redis::pause(node).await,
    }
}

/// The nodes the database considers its leaders/primaries right now.
pub async fn primaries(kind: DbKind, nodes: &[DbNode]) -> Result<Vec<String>> {
    match kind {
        DbKind::Etcd => etcd::leaders(nodes).await,
        DbKind::Redis => redis::primaries(nodes).await,
    }
}

pub fn log_files(kind: DbKind, node: &DbNode) -> Vec<String> {
    match kind {
        DbKind::Etcd => etcd::log_files(node),
        DbKind::Redis => redis::log_files(node),
    }
}
