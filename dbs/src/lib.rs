//! faultline-dbs: the databases faultline can test, behind one small interface.
//!
//! Shaped like Jepsen's: a [`Db`] installs, sets up and tears down the database and knows its log
//! files; optional capabilities say what faults it supports ([`ProcessControl`]: start and kill
//! for the `kill` fault; [`PauseControl`]: SIGSTOP/SIGCONT for `pause`; [`PrimaryControl`]: find
//! the primaries for `partition-leader`, promote for `failover`). A fault that needs a capability
//! the database lacks is refused at preflight. A [`Db`] also makes the workload clients
//! ([`faultline_workloads::Client`]) that talk to it.
//!
//! Adding a database is one module implementing [`Db`] plus one line in [`registry`]; see
//! `docs/extending.md`. Or, without Rust, a recipe file ([`recipe`], `docs/db-recipe.md`) with a
//! client in any language speaking JSON lines ([`process_client`], `docs/client-protocol.md`). What every adapter shares (pidfiles, stale processes from a killed run,
//! wiping) lives in [`daemon::Daemon`] and [`lifecycle`], not in the adapters.

pub mod daemon;
pub mod etcd;
pub mod galera;
pub mod lifecycle;
pub mod node;
pub mod postgres;
pub mod process_client;
pub mod reads;
pub mod recipe;
pub mod redis;
pub mod txn;

pub use daemon::Daemon;
pub use node::DbNode;
pub use reads::{LeaderWatch, ReadFrom, ReadRouted};

use anyhow::Result;
use async_trait::async_trait;
use faultline_workloads::{Client, Shape, Workload};
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// How to install a database.
#[derive(Debug, Clone, Default)]
pub struct DbOptions {
    /// Upload this binary instead of installing the distribution's package.
    pub binary: Option<PathBuf>,
    /// Primary/replica databases that can replicate either way (postgres): commit only once a
    /// replica has the transaction (`--pg-sync`).
    pub sync_replication: bool,
}

/// How a workload client behaves.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Per-operation timeout; an operation that times out is `info` (or `fail` for reads).
    pub timeout: Duration,
    /// Serve reads locally without a quorum round (etcd's serializable reads; may be stale).
    pub serializable_reads: bool,
    /// Transactional databases: the isolation level of every transaction (`--isolation`).
    pub isolation: Isolation,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions { timeout: Duration::from_secs(5), serializable_reads: false, isolation: Isolation::Serializable }
    }
}

/// An SQL isolation level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Isolation {
    ReadCommitted,
    RepeatableRead,
    #[default]
    Serializable,
}

impl Isolation {
    /// As `--isolation` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Isolation::ReadCommitted => "read-committed",
            Isolation::RepeatableRead => "repeatable-read",
            Isolation::Serializable => "serializable",
        }
    }
    /// As SQL writes it (`SET TRANSACTION ISOLATION LEVEL ...`).
    pub fn sql(self) -> &'static str {
        match self {
            Isolation::ReadCommitted => "READ COMMITTED",
            Isolation::RepeatableRead => "REPEATABLE READ",
            Isolation::Serializable => "SERIALIZABLE",
        }
    }
}

/// The node that takes writes on a primary/replica database, shared by the clients (which send
/// writes there) and the failover fault (which moves it). Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct PrimaryRoute(Arc<RwLock<Primary>>);

/// A primary: its node name and the address clients reach it at.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Primary {
    pub name: String,
    pub host: String,
}

impl PrimaryRoute {
    /// Writes go to `node` until [`PrimaryRoute::set`] says otherwise.
    pub fn new(node: &DbNode) -> PrimaryRoute {
        PrimaryRoute(Arc::new(RwLock::new(Primary { name: node.name.clone(), host: node.host.clone() })))
    }
    /// The current primary.
    pub fn get(&self) -> Primary {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
    pub fn set(&self, node: &DbNode) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) =
            Primary { name: node.name.clone(), host: node.host.clone() };
    }
}

/// The key-value shapes the bundled etcd and Redis clients implement (of a workload's
/// [`faultline_workloads::Shape`]s). A client is built for one workload, as Jepsen's are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KvShape {
    /// Independent keys, read / write / cas.
    Register,
    /// add of unique elements, read of the whole set.
    Set,
    /// add of a small integer, read.
    Counter,
}

impl KvShape {
    /// The shape of `workload`, or an error naming what `db` supports.
    pub fn of(workload: &dyn Workload, db: &str) -> Result<KvShape> {
        Ok(match workload.shape() {
            Shape::Register => KvShape::Register,
            Shape::Set => KvShape::Set,
            Shape::Counter => KvShape::Counter,
            Shape::ListAppend | Shape::RwRegister | Shape::Bank | Shape::UniqueIds => anyhow::bail!(
                "{db} has no client for workload {:?} (it has: {})",
                workload.name(),
                faultline_workloads::registry::names_with_shape(&[Shape::Register, Shape::Set, Shape::Counter])
                    .join(", ")
            ),
        })
    }
}

/// A database under test. Every method that touches nodes takes all of them: a database is a
/// cluster, not a set of independent servers.
#[async_trait]
pub trait Db: Send + Sync {
    /// The name `--db` takes and results record.
    fn name(&self) -> &'static str;
    /// The daemon faultline runs on each node (pidfile, log, data directory, process name).
    fn daemon(&self) -> &Daemon;
    /// The TCP ports the database listens on (clients and peers); at set-up, whatever holds them
    /// and is not this run's is stopped.
    fn ports(&self) -> &'static [u16];
    /// Install the database on every node (`opts.binary` uploads a binary instead).
    async fn install(&self, nodes: &[DbNode], opts: &DbOptions) -> Result<()> {
        self.daemon().install(nodes, opts).await
    }
    /// Wipe, configure and start the database on every node and wait until it serves. Stale
    /// processes are already gone ([`lifecycle::setup`] runs this).
    async fn setup(&self, nodes: &[DbNode], opts: &DbOptions) -> Result<()>;
    /// Stop the database everywhere and remove its data (logs stay, for collection).
    async fn teardown(&self, nodes: &[DbNode]) -> Result<()> {
        self.daemon().teardown(nodes).await
    }
    /// Log files to collect from a node.
    fn log_files(&self, node: &DbNode) -> Vec<String> {
        self.daemon().log_files(node)
    }
    /// (binary, Debian package) pairs the local cluster needs installed on the host, whose
    /// filesystem its nodes share for packages.
    fn host_packages(&self) -> &'static [(&'static str, &'static str)] {
        &[]
    }
    /// Tools the adapter needs on every node, checked by preflight.
    fn required_tools(&self) -> &'static [&'static str] {
        &["sh", "kill", "cat", "rm", "mkdir", "pgrep", "awk"]
    }
    /// A client for `workload` bound to `node`; an error when this database has no client for it.
    fn client(
        &self,
        workload: &dyn Workload,
        node: &DbNode,
        opts: &ClientOptions,
        route: &PrimaryRoute,
    ) -> Result<Box<dyn Client>>;
    /// After the heal, before the final reads: bring every node back into service (restart what
    /// is down, wait until it caught up). Returns what it did, one line each.
    async fn recover(&self, _nodes: &[DbNode]) -> Result<Vec<String>> {
        Ok(Vec::new())
    }
    /// Start and kill single nodes (the `kill` fault), if the database supports it.
    fn process(&self) -> Option<&dyn ProcessControl> {
        None
    }
    /// SIGSTOP / SIGCONT (the `pause` fault), if the database supports it.
    fn pause(&self) -> Option<&dyn PauseControl> {
        None
    }
    /// Primaries or leaders (`partition-leader`, `--nemesis-targets primaries`, `failover`).
    fn primary(&self) -> Option<&dyn PrimaryControl> {
        None
    }
    /// Whether its transactional clients run at `--isolation` (`ClientOptions::isolation`).
    fn honours_isolation(&self) -> bool {
        false
    }
    /// Why the database process cannot be given a clock of its own by preloading libfaketime
    /// (how `clock` would run on nodes that share one kernel clock), or `None` if it can.
    fn per_process_clock_refusal(&self) -> Option<&'static str> {
        Some("this database's adapter has not been shown to run under libfaketime")
    }
    /// The time the server on `n` reads, as Unix seconds, asked of the server itself (how a
    /// clock fault under libfaketime is verified); `None` when the database cannot say.
    async fn clock_now(&self, _n: &DbNode) -> Result<Option<f64>> {
        Ok(None)
    }
}

/// Start and kill one node's database.
#[async_trait]
pub trait ProcessControl: Send + Sync {
    /// SIGKILL; false when it was not running.
    async fn kill(&self, node: &DbNode) -> Result<bool>;
    /// Start it again with its existing data (after a kill); nothing when it runs.
    async fn start(&self, node: &DbNode, nodes: &[DbNode]) -> Result<()>;
}

/// Pause one node's database; resuming is [`lifecycle::resume_all`], shared by every database.
#[async_trait]
pub trait PauseControl: Send + Sync {
    /// SIGSTOP; false when it was not running.
    async fn pause(&self, node: &DbNode) -> Result<bool>;
}

/// Who leads, and (for primary/replica databases) promoting another node.
#[async_trait]
pub trait PrimaryControl: Send + Sync {
    /// The nodes the database considers its leaders/primaries right now.
    async fn primaries(&self, nodes: &[DbNode]) -> Result<Vec<String>>;
    /// Whether [`PrimaryControl::promote`] works (the `failover` fault needs it).
    fn can_promote(&self) -> bool {
        false
    }
    /// Make `node` a primary.
    async fn promote(&self, node: &DbNode) -> Result<()> {
        anyhow::bail!("{}: this database cannot promote a node", node.name)
    }
    /// Make every node but `primary` follow it.
    async fn follow(&self, _nodes: &[DbNode], primary: &DbNode) -> Result<()> {
        anyhow::bail!("{}: this database cannot re-point replicas", primary.name)
    }
}

/// Every database faultline knows; `--db` takes their names. Add a line here for a new one.
pub fn registry() -> &'static [&'static dyn Db] {
    &[&etcd::Etcd, &redis::Redis, &postgres::Postgres, &galera::Galera]
}

/// The built-in databases and every recipe this process loaded (`--db-recipe`): whose processes
/// a heal resumes and a set-up clears.
pub fn known() -> Vec<&'static dyn Db> {
    let mut all: Vec<&'static dyn Db> = registry().to_vec();
    all.extend(recipe::loaded_recipes());
    all
}

/// The database called `name`.
pub fn by_name(name: &str) -> Option<&'static dyn Db> {
    registry().iter().copied().find(|d| d.name() == name)
}

/// The databases whose transactions run at `--isolation`.
pub fn isolation_names() -> Vec<&'static str> {
    registry().iter().filter(|d| d.honours_isolation()).map(|d| d.name()).collect()
}

/// The names `--db` accepts.
pub fn names() -> Vec<&'static str> {
    registry().iter().map(|d| d.name()).collect()
}
