//! The MariaDB Galera adapter: Debian's mariadb-server 10.11 with galera-4, a multi-primary
//! cluster. The first node bootstraps a new cluster (`--wsrep-new-cluster`) with the data
//! directory `mariadb-install-db` made and the workload's user, database and tables; every other
//! node joins it and receives the data by state transfer (SST over rsync), one at a time. Each
//! client talks to its own node; a node cut off from the majority stops serving (wsrep not
//! ready: `fail`).
//!
//! After the heal, [`Db::recover`] restarts any node that is not running (it rejoins with IST,
//! or SST when the donor's cache no longer covers it), re-forms a primary component if none is
//! left (`pc.bootstrap` on the most advanced node), and waits until every node is Synced.

pub mod client;

use crate::daemon::{Daemon, SHORT};
use crate::{ClientOptions, Db, DbNode, DbOptions, PauseControl, PrimaryRoute, ProcessControl};
use anyhow::{bail, Context, Result};
use async_trait::async_trait;
use faultline_workloads::{Client, Workload};
use std::time::Duration;

pub const PORT: u16 = 3306;
const GALERA: Daemon = Daemon { prefix: "galera", comm: "mariadbd", binary: "mariadbd", package: "mariadb-server" };
const PROVIDER: &str = "/usr/lib/galera/libgalera_smm.so";

/// The ports a node serves: clients, group communication, SST (rsync), IST.
const PORTS: &[u16] = &[PORT, 4567, 4444, 4568];

fn config_path(n: &DbNode) -> String {
    n.path("galera.cnf")
}

/// mariadbd's own pid file, in its data directory (faultline's pidfile is `galera.pid`).
fn pid_path(n: &DbNode) -> String {
    format!("{}/mariadbd.pid", GALERA.data_dir(n))
}

/// The server's socket, in its data directory: mariadbd runs as mysql, which cannot write to
/// the node's root.
fn socket_path(n: &DbNode) -> String {
    format!("{}/mariadbd.sock", GALERA.data_dir(n))
}

/// The node's my.cnf: its own paths and address, every node in the cluster address.
fn config(n: &DbNode, nodes: &[DbNode]) -> String {
    let members: Vec<&str> = nodes.iter().map(|m| m.host.as_str()).collect();
    format!(
        "[mysqld]
user=mysql
datadir={data}
socket={sock}
pid-file={pid}
port={PORT}
bind-address=0.0.0.0
skip-name-resolve
binlog_format=ROW
default_storage_engine=InnoDB
innodb_autoinc_lock_mode=2
innodb_flush_log_at_trx_commit=0
innodb_buffer_pool_size=64M
max_connections=200
wsrep_on=ON
wsrep_provider={PROVIDER}
wsrep_cluster_name=faultline
wsrep_cluster_address=gcomm://{members}
wsrep_node_address={host}
wsrep_node_name={name}
wsrep_sst_method=rsync
wsrep_provider_options=\"gcache.size=256M;evs.suspect_timeout=PT3S;evs.inactive_timeout=PT6S;evs.keepalive_period=PT1S\"
",
        data = GALERA.data_dir(n),
        sock = socket_path(n),
        pid = pid_path(n),
        members = members.join(","),
        host = n.host,
        name = n.name,
    )
}

/// Start mariadbd on `n`; `bootstrap` starts a new cluster.
async fn start(n: &DbNode, bootstrap: bool) -> Result<()> {
    let mut argv = vec![GALERA.installed_binary(n).await?, format!("--defaults-file={}", config_path(n))];
    if bootstrap {
        argv.push("--wsrep-new-cluster".into());
    }
    GALERA.start(n, &argv, &[]).await
}

/// SQL through the node's socket as root (before the workload's user exists).
async fn local_sql(n: &DbNode, sql: &str) -> Result<String> {
    let sock = socket_path(n);
    let out = n
        .ssh
        .run_root(
            &["mariadb", "--protocol=socket", &format!("--socket={sock}"), "-uroot", "-N", "-B", "-e", sql],
            SHORT,
        )
        .await?;
    if !out.success() {
        bail!("{}: mariadb -e {sql:?}: {}", n.name, crate::daemon::tail(&out.stderr));
    }
    Ok(out.stdout)
}

/// Wait until `n` answers on its socket.
async fn wait_socket(n: &DbNode, limit: Duration) -> Result<()> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match local_sql(n, "SELECT 1").await {
            Ok(_) => return Ok(()),
            Err(e) if tokio::time::Instant::now() >= deadline => return Err(e),
            Err(_) => tokio::time::sleep(Duration::from_millis(300)).await,
        }
    }
}

/// Wait until every node says Synced; the error names the ones that do not.
async fn wait_synced(nodes: &[DbNode], limit: Duration) -> Result<()> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let states = futures::future::join_all(nodes.iter().map(client::state)).await;
        let waiting: Vec<String> = nodes
            .iter()
            .zip(&states)
            .filter(|(_, s)| !matches!(s, Ok(s) if s.synced()))
            .map(|(n, s)| format!("{}: {}", n.name, s.as_ref().map_or_else(|e| format!("{e:#}"), |s| s.to_string())))
            .collect();
        if waiting.is_empty() {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            bail!("galera: not every node is Synced after {}s: {}", limit.as_secs(), waiting.join("; "));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// MariaDB Galera: every node a primary.
pub struct Galera;

#[async_trait]
impl Db for Galera {
    fn name(&self) -> &'static str {
        "galera"
    }
    fn honours_isolation(&self) -> bool {
        true
    }
    fn daemon(&self) -> &Daemon {
        &GALERA
    }
    fn ports(&self) -> &'static [u16] {
        PORTS
    }
    fn host_packages(&self) -> &'static [(&'static str, &'static str)] {
        &[("mariadbd", "mariadb-server"), (PROVIDER, "galera-4"), ("rsync", "rsync")]
    }
    fn required_tools(&self) -> &'static [&'static str] {
        &["sh", "kill", "cat", "rm", "mkdir", "pgrep", "awk", "chown", "mariadb", "mariadb-install-db", "rsync"]
    }

    /// Install mariadb-server, then make sure the Galera provider is there too.
    async fn install(&self, nodes: &[DbNode], opts: &DbOptions) -> Result<()> {
        GALERA.install(nodes, opts).await?;
        for n in nodes {
            let probe = n.ssh.run_root(&["test", "-f", PROVIDER], SHORT).await?;
            if !probe.success() {
                bail!("{}: {PROVIDER} is missing: install galera-4 (apt-get install galera-4 rsync)", n.name);
            }
        }
        Ok(())
    }

    async fn setup(&self, nodes: &[DbNode], _opts: &DbOptions) -> Result<()> {
        let Some((first, others)) = nodes.split_first() else { bail!("galera needs at least one node") };
        for r in futures::future::join_all(nodes.iter().map(|n| async move {
            GALERA.stop(n).await?;
            let data = GALERA.data_dir(n);
            let script =
                "rm -rf \"$1\" \"$3\" && mkdir -p \"$1\" && chown mysql:mysql \"$1\" && printf %s \"$2\" > \"$4\"";
            n.ssh
                .run_root(
                    &["sh", "-c", script, "sh", &data, &config(n, nodes), &GALERA.logfile(n), &config_path(n)],
                    SHORT,
                )
                .await?
                .check(&n.name, &["sh", "-c", "(prepare galera)"])?;
            anyhow::Ok(())
        }))
        .await
        {
            r?;
        }
        let install = [
            "mariadb-install-db",
            &format!("--defaults-file={}", config_path(first)),
            "--user=mysql",
            "--skip-test-db",
            "--auth-root-authentication-method=socket",
        ];
        first.ssh.run_root(&install, Duration::from_secs(120)).await?.check(&first.name, &install)?;
        start(first, true).await?;
        wait_socket(first, Duration::from_secs(60)).await.context("the bootstrap node does not serve")?;
        local_sql(first, client::SCHEMA).await.context("creating the workload's user and tables")?;
        local_sql(first, &client::seed_accounts()).await.context("setting the bank's accounts")?;
        // One joiner at a time: a donor serves one state transfer at once.
        for n in others {
            start(n, false).await?;
            wait_synced(std::slice::from_ref(n), Duration::from_secs(90)).await?;
        }
        wait_synced(nodes, Duration::from_secs(30)).await
    }

    /// Each client talks to its own node.
    fn client(
        &self,
        workload: &dyn Workload,
        node: &DbNode,
        opts: &ClientOptions,
        _route: &PrimaryRoute,
    ) -> Result<Box<dyn Client>> {
        let table = crate::txn::Table::of(workload, self.name())?;
        Ok(Box::new(client::GaleraClient::new(node, table, opts.isolation, opts.timeout)))
    }

    /// Restart nodes that are down, re-form a primary component if there is none, and wait
    /// until every node is Synced.
    async fn recover(&self, nodes: &[DbNode]) -> Result<Vec<String>> {
        let mut lines = Vec::new();
        for n in nodes {
            if !GALERA.is_running(n).await? {
                start(n, false).await?;
                lines.push(format!("{}: restarted mariadbd to rejoin the cluster", n.name));
            }
        }
        // A partition plus a kill may leave no primary component: after a grace period, the
        // most advanced node bootstraps one and the others rejoin it.
        tokio::time::sleep(Duration::from_secs(2)).await;
        if wait_synced(nodes, Duration::from_secs(20)).await.is_err() {
            let states = futures::future::join_all(nodes.iter().map(client::state)).await;
            if !states.iter().any(|s| matches!(s, Ok(s) if s.primary())) {
                let best = nodes
                    .iter()
                    .zip(&states)
                    .filter_map(|(n, s)| s.as_ref().ok().map(|s| (s.last_committed, n)))
                    .max_by_key(|(seqno, _)| *seqno);
                if let Some((_, n)) = best {
                    client::bootstrap_primary_component(n).await?;
                    lines.push(format!("{}: no primary component left; bootstrapped one (pc.bootstrap)", n.name));
                }
            }
            wait_synced(nodes, Duration::from_secs(60)).await?;
        }
        lines.push(format!(
            "every node is Synced ({})",
            nodes.iter().map(|n| n.name.as_str()).collect::<Vec<_>>().join(", ")
        ));
        Ok(lines)
    }

    fn process(&self) -> Option<&dyn ProcessControl> {
        Some(self)
    }
    fn pause(&self) -> Option<&dyn PauseControl> {
        Some(self)
    }
}

#[async_trait]
impl ProcessControl for Galera {
    async fn kill(&self, n: &DbNode) -> Result<bool> {
        GALERA.kill(n).await
    }
    /// Rejoin the cluster with the data as it is (IST, or SST if needed).
    async fn start(&self, n: &DbNode, _nodes: &[DbNode]) -> Result<()> {
        if GALERA.is_running(n).await? {
            return Ok(());
        }
        start(n, false).await
    }
}

#[async_trait]
impl PauseControl for Galera {
    async fn pause(&self, n: &DbNode) -> Result<bool> {
        GALERA.pause(n).await
    }
}
