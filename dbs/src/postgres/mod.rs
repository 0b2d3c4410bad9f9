//! The PostgreSQL adapter: Debian's postgresql 15, initdb and configuration by faultline. The
//! first node is the primary; every other node a streaming replica made with `pg_basebackup`
//! (asynchronous, or synchronous with `--pg-sync`: `synchronous_standby_names = 'ANY 1 (*)'`).
//! Every server runs as the `postgres` user (`setpriv`), and a kill or a pause reaches the postmaster
//! and every backend it forked.
//!
//! Clients always talk to the current primary ([`crate::PrimaryRoute`]); the `failover` fault
//! promotes a replica (`pg_promote`), re-points the others and later rejoins the old primary,
//! rewound with `pg_rewind` onto the new timeline, or re-copied with `pg_basebackup` when it
//! cannot be rewound.

pub mod client;

use crate::daemon::{Daemon, SHORT};
use crate::{ClientOptions, Db, DbNode, DbOptions, PauseControl, PrimaryControl, PrimaryRoute, ProcessControl};
use anyhow::{bail, Context, Result};
use async_trait::async_trait;
use faultline_workloads::{Client, Workload};
use futures::future::join_all;
use std::time::Duration;

pub const PORT: u16 = 5432;
const BIN: &str = "/usr/lib/postgresql/15/bin";
const PG: Daemon = Daemon {
    prefix: "postgres",
    comm: "postgres",
    binary: "/usr/lib/postgresql/15/bin/postgres",
    package: "postgresql-15",
};

/// Settings appended to the primary's postgresql.conf (replicas copy them with the data).
const CONFIG: &str = "
listen_addresses = '*'
port = 5432
unix_socket_directories = ''
wal_level = replica
max_wal_senders = 16
max_replication_slots = 16
wal_keep_size = 512MB
wal_log_hints = on
hot_standby = on
max_connections = 200
shared_buffers = 32MB
fsync = off
deadlock_timeout = 100ms
wal_receiver_status_interval = 1s
wal_retrieve_retry_interval = 500ms
log_min_messages = warning
";

/// Lines appended to pg_hba.conf: the test network trusts itself (no secrets on test nodes).
const HBA: &str = "host all all 0.0.0.0/0 trust\nhost replication all 0.0.0.0/0 trust\n";

/// Connection string of the server on `n` (as the superuser, for faultline's own queries).
pub fn conninfo(n: &DbNode) -> String {
    format!("host={} port={PORT} user=postgres dbname=postgres connect_timeout=3", n.host)
}

/// PostgreSQL: a primary and streaming replicas.
pub struct Postgres;

/// Run `argv` on `n` as the postgres user.
async fn as_postgres(n: &DbNode, argv: &[&str], timeout: Duration) -> Result<faultline_control::ssh::CmdOutput> {
    let mut full = vec!["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--"];
    full.extend_from_slice(argv);
    n.ssh.run_root(&full, timeout).await
}

/// Start the server on `n` with its data directory as it is.
async fn start(n: &DbNode) -> Result<()> {
    let data = PG.data_dir(n);
    let argv: Vec<String> =
        ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--", PG.binary, "-D", &data]
            .map(String::from)
            .to_vec();
    PG.start(n, &argv, &[]).await
}

/// Signal the postmaster and, with `children`, every process it forked (the backends; each sits
/// in its own process group, so a group signal would miss them). False when it was not running.
async fn signal_server(n: &DbNode, sig: &str, children: bool) -> Result<bool> {
    const SCRIPT: &str = r#"pid=$(cat "$1" 2>/dev/null) || exit 0
case "$pid" in ''|*[!0-9]*) exit 0;; esac
[ "$(cat /proc/$pid/comm 2>/dev/null)" = postgres ] || exit 0
kids=""; [ "$3" = yes ] && kids=$(pgrep -P "$pid")
kill -s "$2" "$pid" $kids 2>/dev/null && echo yes"#;
    let children = if children { "yes" } else { "no" };
    let out = n.ssh.run_root(&["sh", "-c", SCRIPT, "sh", &PG.pidfile(n), sig, children], SHORT).await?;
    Ok(out.stdout.trim() == "yes")
}

/// Whether the postmaster or any process it forked is alive.
async fn anything_running(n: &DbNode) -> Result<bool> {
    const SCRIPT: &str = r#"pid=$(cat "$1" 2>/dev/null) || exit 0
case "$pid" in ''|*[!0-9]*) exit 0;; esac
[ "$(cat /proc/$pid/comm 2>/dev/null)" = postgres ] && echo yes"#;
    let out = n.ssh.run_root(&["sh", "-c", SCRIPT, "sh", &PG.pidfile(n)], SHORT).await?;
    Ok(out.stdout.trim() == "yes")
}

/// Fast shutdown (SIGINT to the postmaster: roll back open transactions, disconnect clients),
/// then SIGKILL of the postmaster and its children after 5 s (a primary cut off from its
/// replicas may wait for them forever).
async fn stop(n: &DbNode) -> Result<()> {
    let _ = signal_server(n, "CONT", true).await;
    if !signal_server(n, "INT", false).await? {
        return Ok(());
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while tokio::time::Instant::now() < deadline {
        if !anything_running(n).await? {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    signal_server(n, "KILL", true).await?;
    // The children go with their postmaster; wait for them, or a restart finds its lock taken.
    for _ in 0..50 {
        let out = n.ssh.run_root(&["sh", "-c", "pgrep -x postgres >/dev/null && echo yes"], SHORT).await?;
        if out.stdout.trim() != "yes" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

/// A fresh, empty data directory owned by postgres.
async fn empty_data_dir(n: &DbNode) -> Result<()> {
    let data = PG.data_dir(n);
    let script = "rm -rf \"$1\" && mkdir -p \"$1\" && chown postgres:postgres \"$1\" && chmod 700 \"$1\"";
    n.ssh
        .run_root(&["sh", "-c", script, "sh", &data], SHORT)
        .await?
        .check(&n.name, &["sh", "-c", "(empty data dir)"])?;
    Ok(())
}

/// initdb and configure the primary.
async fn init_primary(n: &DbNode) -> Result<()> {
    let data = PG.data_dir(n);
    let initdb = format!("{BIN}/initdb");
    as_postgres(
        n,
        &[&initdb, "-D", &data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"],
        Duration::from_secs(120),
    )
    .await?
    .check(&n.name, &["initdb"])?;
    let config = CONFIG.to_string();
    let script = "printf %s \"$2\" >> \"$1/postgresql.conf\" && printf %s \"$3\" >> \"$1/pg_hba.conf\"";
    n.ssh.run_root(&["sh", "-c", script, "sh", &data, &config, HBA], SHORT).await?.check(&n.name, &["(configure)"])?;
    Ok(())
}

/// Copy the primary's data to `n` as a streaming replica (standby.signal, primary_conninfo).
async fn base_backup(n: &DbNode, primary: &DbNode) -> Result<()> {
    empty_data_dir(n).await?;
    let data = PG.data_dir(n);
    let tool = format!("{BIN}/pg_basebackup");
    let source = format!("host={} port={PORT} user=postgres application_name={}", primary.host, n.name);
    as_postgres(n, &[&tool, "-d", &source, "-D", &data, "-X", "stream", "-R", "-c", "fast"], Duration::from_secs(120))
        .await?
        .check(&n.name, &["pg_basebackup"])?;
    Ok(())
}

/// Wait until `n` accepts connections and answers a query.
async fn wait_serving(n: &DbNode, limit: Duration) -> Result<()> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match client::query_bool(n, "SELECT pg_is_in_recovery()").await {
            Ok(_) => return Ok(()),
            Err(e) if tokio::time::Instant::now() >= deadline => {
                bail!("{}: postgres does not serve after {}s: {e:#}", n.name, limit.as_secs())
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// Wait until the primary sees every replica streaming.
async fn wait_streaming(primary: &DbNode, replicas: usize, limit: Duration) -> Result<()> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let n = client::query_i64(primary, "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'").await;
        match n {
            Ok(n) if n as usize >= replicas => return Ok(()),
            _ if tokio::time::Instant::now() >= deadline => {
                bail!("{}: not every replica streams after {}s ({n:?})", primary.name, limit.as_secs())
            }
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// Make `n` a replica of `primary`, whatever it was: rewound onto the primary's timeline with
/// pg_rewind (`-R` writes standby.signal and primary_conninfo), or, when it cannot be rewound,
/// copied afresh with pg_basebackup. Returns how it rejoined.
async fn rejoin(n: &DbNode, primary: &DbNode) -> Result<&'static str> {
    stop(n).await?;
    let data = PG.data_dir(n);
    let tool = format!("{BIN}/pg_rewind");
    let source = format!("host={} port={PORT} user=postgres dbname=postgres application_name={}", primary.host, n.name);
    let rewind =
        as_postgres(n, &[&tool, "-D", &data, "--source-server", &source, "-R"], Duration::from_secs(120)).await?;
    if rewind.success() {
        start(n).await?;
        if wait_streaming_from(n, primary, Duration::from_secs(8)).await {
            return Ok("pg_rewind");
        }
        // pg_rewind judges a replica by its last checkpoint: one that had replayed past the
        // fork point may come back unable to follow the new timeline.
        tracing::info!("{}: does not stream from {} after pg_rewind; taking a fresh base backup", n.name, primary.name);
        stop(n).await?;
    } else {
        tracing::info!(
            "{}: pg_rewind failed ({}); taking a fresh base backup",
            n.name,
            crate::daemon::tail(&rewind.stderr)
        );
    }
    base_backup(n, primary).await?;
    start(n).await?;
    Ok("pg_basebackup")
}

/// Wait until `n` streams from `primary`; false after `limit`.
async fn wait_streaming_from(n: &DbNode, primary: &DbNode, limit: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < deadline {
        if client::streams_from(n, primary).await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    false
}

#[async_trait]
impl Db for Postgres {
    fn name(&self) -> &'static str {
        "postgres"
    }
    fn honours_isolation(&self) -> bool {
        true
    }
    /// PostgreSQL reads the time through libc, and glibc's malloc does not clash with libfaketime.
    fn per_process_clock_refusal(&self) -> Option<&'static str> {
        None
    }
    /// `clock_timestamp()`: the backend's wall clock now (not the transaction's start).
    async fn clock_now(&self, n: &DbNode) -> Result<Option<f64>> {
        let sql = "SELECT extract(epoch FROM clock_timestamp())::float8";
        let t = tokio::time::timeout(Duration::from_secs(5), client::query_f64(n, sql))
            .await
            .map_err(|_| anyhow::anyhow!("{}: {sql}: no answer within 5 s", n.name))??;
        Ok(Some(t))
    }
    fn daemon(&self) -> &Daemon {
        &PG
    }
    fn ports(&self) -> &'static [u16] {
        &[PORT]
    }
    fn host_packages(&self) -> &'static [(&'static str, &'static str)] {
        &[("/usr/lib/postgresql/15/bin/postgres", "postgresql-15")]
    }
    fn required_tools(&self) -> &'static [&'static str] {
        &["sh", "kill", "cat", "rm", "mkdir", "pgrep", "awk", "setpriv", "chown"]
    }

    /// initdb on the first node, start it, create the workloads' tables, then a base backup and
    /// a replica on every other node; wait until all of them stream.
    async fn setup(&self, nodes: &[DbNode], opts: &DbOptions) -> Result<()> {
        let Some((primary, replicas)) = nodes.split_first() else { bail!("postgres needs at least one node") };
        for r in join_all(nodes.iter().map(|n| async move {
            stop(n).await?;
            n.ssh.run_root(&["rm", "-f", &PG.logfile(n)], SHORT).await?;
            empty_data_dir(n).await
        }))
        .await
        {
            r?;
        }
        init_primary(primary).await?;
        start(primary).await?;
        wait_serving(primary, Duration::from_secs(30)).await?;
        client::create_tables(primary).await.context("creating the workload tables")?;
        for r in join_all(replicas.iter().map(|n| async move {
            base_backup(n, primary).await?;
            start(n).await?;
            wait_serving(n, Duration::from_secs(30)).await
        }))
        .await
        {
            r?;
        }
        wait_streaming(primary, replicas.len(), Duration::from_secs(30)).await?;
        // Synchronous only once the replicas stream: before, every commit (the tables') would
        // wait for a standby that does not exist yet.
        if opts.sync_replication && !replicas.is_empty() {
            client::execute(primary, "ALTER SYSTEM SET synchronous_standby_names = 'ANY 1 (*)'").await?;
            client::query_bool(primary, "SELECT pg_reload_conf()").await?;
        }
        Ok(())
    }

    async fn teardown(&self, nodes: &[DbNode]) -> Result<()> {
        for r in join_all(nodes.iter().map(|n| async move {
            stop(n).await?;
            n.ssh.run_root(&["rm", "-rf", &PG.data_dir(n)], SHORT).await?;
            anyhow::Ok(())
        }))
        .await
        {
            r?;
        }
        Ok(())
    }

    /// Transactions always go to the current primary, whichever node the worker is bound to.
    fn client(
        &self,
        workload: &dyn Workload,
        _node: &DbNode,
        opts: &ClientOptions,
        route: &PrimaryRoute,
    ) -> Result<Box<dyn Client>> {
        let table = crate::txn::Table::of(workload, self.name())?;
        Ok(Box::new(client::PgClient::new(table, opts.isolation, opts.timeout, route.clone())))
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
impl ProcessControl for Postgres {
    /// SIGKILL of the postmaster and every backend.
    async fn kill(&self, n: &DbNode) -> Result<bool> {
        signal_server(n, "KILL", true).await
    }
    /// Restart with the data as it is: a primary comes back a primary, a replica a replica.
    async fn start(&self, n: &DbNode, _nodes: &[DbNode]) -> Result<()> {
        if PG.is_running(n).await? {
            return Ok(());
        }
        // Backends of the killed postmaster may take a moment to go; until then the shared
        // memory block is in use and the new postmaster refuses to start.
        for attempt in 0..5 {
            start(n).await?;
            tokio::time::sleep(Duration::from_millis(500)).await;
            if PG.is_running(n).await? || attempt == 4 {
                break;
            }
        }
        Ok(())
    }
}

#[async_trait]
impl PauseControl for Postgres {
    async fn pause(&self, n: &DbNode) -> Result<bool> {
        signal_server(n, "STOP", true).await
    }
}

#[async_trait]
impl PrimaryControl for Postgres {
    /// The nodes not in recovery.
    async fn primaries(&self, nodes: &[DbNode]) -> Result<Vec<String>> {
        let found = join_all(
            nodes
                .iter()
                .map(|n| async move { (n.name.clone(), client::query_bool(n, "SELECT pg_is_in_recovery()").await) }),
        )
        .await;
        Ok(found.into_iter().filter_map(|(name, r)| matches!(r, Ok(false)).then_some(name)).collect())
    }
    fn can_promote(&self) -> bool {
        true
    }
    async fn promote(&self, n: &DbNode) -> Result<()> {
        let promoted = client::query_bool(n, "SELECT pg_promote(true, 30)").await?;
        if !promoted {
            bail!("{}: pg_promote did not finish within 30 s", n.name);
        }
        Ok(())
    }
    /// Every node but `primary` becomes its replica; nodes already streaming from it are left
    /// alone, the others are rewound (or re-copied) and restarted.
    async fn follow(&self, nodes: &[DbNode], primary: &DbNode) -> Result<()> {
        let results = join_all(nodes.iter().filter(|n| n.name != primary.name).map(|n| async move {
            if client::streams_from(n, primary).await {
                return Ok(());
            }
            let how = rejoin(n, primary).await?;
            tracing::info!("{} rejoined as a replica of {} ({how})", n.name, primary.name);
            anyhow::Ok(())
        }))
        .await;
        for r in results {
            r?;
        }
        Ok(())
    }
}
