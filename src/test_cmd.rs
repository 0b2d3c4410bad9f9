//! `faultline test` and `faultline demo`: the raw flags ([`TestArgs`]), resolved once into a
//! typed [`TestPlan`] that the runner takes and `test.json` records. Nothing below this module
//! sees a clap type.

use crate::args::TargetArgs;
use crate::exit::Exit;
use crate::plan::{Concurrency, DbPlan, FaultPlan, RunPlan, StorePlan, TestPlan, WorkloadPlan};
use anyhow::Result;
use faultline_control::bad_input;
use faultline_dbs::Db;
use faultline_workloads::{CheckOptions, Flag};
use std::path::PathBuf;
use std::time::Duration;

#[derive(clap::Args, Debug, Clone)]
pub struct TestArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Test name, used for the store directory (default: DB-WORKLOAD).
    #[arg(long)]
    pub name: Option<String>,
    /// Database under test (default etcd).
    #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(faultline_dbs::names()), conflicts_with = "db_recipe")]
    pub db: Option<String>,
    /// A database described by a recipe file instead of a built-in one (docs/db-recipe.md);
    /// needs --client.
    #[arg(long, value_name = "FILE.toml", requires = "client")]
    pub db_recipe: Option<PathBuf>,
    /// A workload client in any language: this command is started once per worker and speaks
    /// JSON lines on stdin/stdout (docs/client-protocol.md).
    #[arg(long, value_name = "COMMAND ARGS")]
    pub client: Option<String>,
    /// Workload.
    #[arg(long, default_value = faultline_workloads::registry::DEFAULT, value_parser = clap::builder::PossibleValuesParser::new(faultline_workloads::registry::names()))]
    pub workload: String,
    /// Faults, comma-separated (e.g. partition-halves,kill), `none` or `all`.
    #[arg(long, default_value = "none", long_help = nemesis_help())]
    pub nemesis: String,
    /// Which nodes a fault targets.
    #[arg(long, value_enum)]
    pub nemesis_targets: Option<TargetsArg>,
    /// Mean time between fault start and stop, and between faults (seeded random schedule).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub nemesis_interval: Duration,
    /// An explicit fault timeline (TOML) to replay, instead of the random schedule.
    #[arg(long)]
    pub nemesis_schedule: Option<PathBuf>,
    /// Packet loss probability for the `flaky` fault.
    #[arg(long, default_value_t = 0.2)]
    pub loss: f64,
    #[command(flatten)]
    pub packet: PacketArgs,
    /// How long clients run.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub time_limit: Duration,
    /// Number of clients: N in total, or Nn for N per node.
    #[arg(long, default_value = "10")]
    pub concurrency: String,
    /// Total request rate across all clients, ops/s (0: as fast as possible).
    #[arg(long, default_value_t = 200.0)]
    pub rate: f64,
    /// Seed for the operation stream and the fault schedule (random when absent; always printed).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Run the test this many times (each run gets its own directory and seed+i).
    #[arg(long, default_value_t = 1)]
    pub test_count: u32,
    /// Leave the database running after the test.
    #[arg(long)]
    pub leave_db_running: bool,
    /// Register workload: operations per key before moving to a fresh key.
    #[arg(long, default_value_t = 200)]
    pub ops_per_key: u64,
    /// Per-operation timeout; an operation that times out is recorded as `info`.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub op_timeout: Duration,
    /// Serializable (possibly stale) reads instead of linearizable ones (etcd only).
    #[arg(long)]
    pub serializable: bool,
    /// Register workload: every write and cas writes a value never written before, so that the
    /// causal rungs of the consistency ladder can be checked.
    #[arg(long)]
    pub unique_writes: bool,
    /// list-append / rw-register: at most this many micro-ops per transaction.
    #[arg(long, default_value_t = 4)]
    pub max_txn_length: usize,
    /// list-append / rw-register: how many keys a worker draws from at a time.
    #[arg(long, default_value_t = 5)]
    pub key_count: usize,
    /// list-append / rw-register: about this many writes to a key before it is retired for a
    /// fresh one.
    #[arg(long, default_value_t = 32)]
    pub max_writes_per_key: usize,
    /// list-append / rw-register: the models the history must satisfy, by Elle's names
    /// (default strict-serializable), e.g. serializable or snapshot-isolation.
    #[arg(long, value_delimiter = ',')]
    pub consistency_models: Vec<String>,
    /// Transactional databases: the isolation level every transaction runs at.
    #[arg(long, value_enum, default_value = "serializable", help = isolation_help())]
    pub isolation: IsolationArg,
    /// postgres: synchronous replication (synchronous_standby_names = every replica, ANY 1).
    #[arg(long)]
    pub pg_sync: bool,
    /// Which node serves each read: the client's own node, the current leader (primary), a
    /// follower (replica), or any node drawn per read. Writes always go where they go today.
    #[arg(long, value_enum, default_value = "own-node")]
    pub read_from: ReadFromArg,
    /// After the heal: how long to wait for recovery and convergence before final reads.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub recovery_time: Duration,
    /// Expectations that make the run invalid when broken, e.g. `availability>=0.99`, `lost==0`.
    #[arg(long = "expect")]
    pub expect: Vec<String>,
    /// Upload this database binary to the nodes instead of installing the distribution's.
    #[arg(long)]
    pub db_binary: Option<PathBuf>,
    /// Where runs are stored.
    #[arg(long, default_value = "store", env = "FAULTLINE_STORE")]
    pub store: PathBuf,
    /// Print the results as JSON.
    #[arg(long)]
    pub json: bool,
}

/// The knobs of the packet faults (`slow`, `duplicate`, `reorder`, `corrupt`, `bandwidth`).
#[derive(clap::Args, Debug, Clone)]
pub struct PacketArgs {
    /// Mean delay `slow` adds to each packet between nodes.
    #[arg(long, default_value = "50ms", value_parser = parse_duration)]
    pub latency: Duration,
    /// Jitter of `slow`'s delay.
    #[arg(long, default_value = "10ms", value_parser = parse_duration)]
    pub jitter: Duration,
    /// How `slow`'s jitter is drawn (packet agent): normal or uniform.
    #[arg(long, default_value = "normal")]
    pub distribution: String,
    /// Probability `duplicate` sends a packet twice.
    #[arg(long, default_value = "0.1")]
    pub duplicate: String,
    /// Probability `reorder` holds a packet back so later ones overtake it.
    #[arg(long, default_value = "0.2")]
    pub reorder: String,
    /// Probability `corrupt` flips a bit in a packet's payload.
    #[arg(long, default_value = "0.05")]
    pub corrupt: String,
    /// Rate limit of `bandwidth` (e.g. 1mbit, 500kbit).
    #[arg(long, default_value = "1mbit")]
    pub bandwidth: String,
}

impl PacketArgs {
    fn resolve(&self) -> Result<crate::plan::PacketPlan> {
        use faultline_nemeses::fault::{parse_bandwidth, parse_probability};
        let p = |flag: &str, w: &str| parse_probability(flag, w).map_err(bad_input);
        Ok(crate::plan::PacketPlan {
            latency: self.latency,
            jitter: self.jitter,
            distribution: faultline_nemeses::agent::Distribution::parse(&self.distribution).map_err(bad_input)?,
            duplicate: p("--duplicate", &self.duplicate)?,
            reorder: p("--reorder", &self.reorder)?,
            corrupt: p("--corrupt", &self.corrupt)?,
            bandwidth_bps: parse_bandwidth(&self.bandwidth).map_err(bad_input)?,
        })
    }
}

/// `--read-from`, as clap lists it.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadFromArg {
    OwnNode,
    Leader,
    Follower,
    Any,
}

impl ReadFromArg {
    fn resolve(self) -> faultline_dbs::ReadFrom {
        use faultline_dbs::ReadFrom;
        match self {
            ReadFromArg::OwnNode => ReadFrom::OwnNode,
            ReadFromArg::Leader => ReadFrom::Leader,
            ReadFromArg::Follower => ReadFrom::Follower,
            ReadFromArg::Any => ReadFrom::Any,
        }
    }
}

/// `--nemesis`'s long help, with every fault's name (from `Fault::ALL`).
fn nemesis_help() -> String {
    let names: Vec<&str> = faultline_nemeses::Fault::ALL.iter().map(|f| f.name()).collect();
    format!("Faults, comma-separated (e.g. partition-halves,kill), `none` or `all`.\n\nFaults: {}.", names.join(", "))
}

/// `--isolation`'s help, naming the databases that honour it (from the registry).
fn isolation_help() -> String {
    format!(
        "Transactional databases ({}): the isolation level every transaction runs at",
        faultline_dbs::isolation_names().join(", ")
    )
}

/// `--nemesis-targets`, as clap lists it.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum IsolationArg {
    ReadCommitted,
    RepeatableRead,
    Serializable,
}

impl IsolationArg {
    fn resolve(self) -> faultline_dbs::Isolation {
        use faultline_dbs::Isolation;
        match self {
            IsolationArg::ReadCommitted => Isolation::ReadCommitted,
            IsolationArg::RepeatableRead => Isolation::RepeatableRead,
            IsolationArg::Serializable => Isolation::Serializable,
        }
    }
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetsArg {
    One,
    Minority,
    Majority,
    All,
    Primaries,
}

impl TargetsArg {
    fn resolve(self) -> faultline_nemeses::Targets {
        use faultline_nemeses::Targets;
        match self {
            TargetsArg::One => Targets::One,
            TargetsArg::Minority => Targets::Minority,
            TargetsArg::Majority => Targets::Majority,
            TargetsArg::All => Targets::All,
            TargetsArg::Primaries => Targets::Primaries,
        }
    }
}

pub fn parse_duration(s: &str) -> std::result::Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("{s:?} is not a duration like 30s, 1m or 500ms ({e})"))
}

/// Validate what clap cannot: combinations and value ranges. Errors exit 254.
pub fn validate(args: &TestArgs) -> Result<()> {
    if !(0.0..=1.0).contains(&args.loss) {
        return Err(bad_input(format!("--loss {}: must be a probability between 0 and 1", args.loss)));
    }
    if args.rate < 0.0 || !args.rate.is_finite() || (args.rate > 0.0 && args.rate < 0.01) {
        return Err(bad_input(format!(
            "--rate {}: must be 0 (unlimited) or between 0.01 and any finite number of ops/s",
            args.rate
        )));
    }
    if args.nemesis_interval < Duration::from_millis(100) {
        return Err(bad_input(format!(
            "--nemesis-interval {}: must be at least 100ms (faults take that long to apply and verify)",
            humantime::format_duration(args.nemesis_interval)
        )));
    }
    if args.op_timeout.is_zero() {
        return Err(bad_input("--op-timeout must be longer than 0s"));
    }
    if let Some(name) = &args.name {
        validate_test_name(name)?;
    }
    if args.time_limit.is_zero() {
        return Err(bad_input("--time-limit must be longer than 0s"));
    }
    if args.ops_per_key == 0 {
        return Err(bad_input("--ops-per-key must be at least 1"));
    }
    if args.test_count == 0 {
        return Err(bad_input("--test-count must be at least 1"));
    }
    if args.serializable
        && (args.db_name() != faultline_dbs::Db::name(&faultline_dbs::etcd::Etcd) || args.client.is_some())
    {
        return Err(bad_input(format!(
            "--serializable is only meaningful for etcd's built-in client, not --db {}{}",
            args.db_name(),
            if args.client.is_some() { " with --client" } else { "" }
        )));
    }
    if args.client.as_ref().is_some_and(|c| c.trim().is_empty()) {
        return Err(bad_input("--client: give the command that starts the client, e.g. 'python3 client.py'"));
    }
    let workload = faultline_workloads::by_name(&args.workload).map_err(|e| bad_input(format!("--workload: {e:#}")))?;
    let given =
        [(Flag::UniqueWrites, args.unique_writes), (Flag::ConsistencyModels, !args.consistency_models.is_empty())];
    if let Some((flag, _)) = given.iter().find(|(flag, given)| *given && !workload.flags().contains(flag)) {
        return Err(bad_input(format!(
            "{} applies to {}, not --workload {}",
            flag.as_str(),
            faultline_workloads::registry::applies_to(*flag),
            args.workload
        )));
    }
    let check = CheckOptions { consistency_models: args.consistency_models.clone(), ..CheckOptions::default() };
    workload.validate(&check).map_err(|e| bad_input(format!("--consistency-models: {e}")))?;
    if args.max_txn_length == 0 || args.key_count == 0 || args.max_writes_per_key == 0 {
        return Err(bad_input("--max-txn-length, --key-count and --max-writes-per-key must be at least 1"));
    }
    if args.pg_sync && args.db_name() != "postgres" {
        return Err(bad_input(format!("--pg-sync applies to --db postgres, not --db {}", args.db_name())));
    }
    if args.read_from.resolve().needs_leader()
        && faultline_dbs::by_name(args.db_name()).is_some_and(|d| d.primary().is_none())
    {
        return Err(bad_input(format!(
            "--read-from {}: --db {} cannot say which node leads",
            args.read_from.resolve().name(),
            args.db_name()
        )));
    }
    if !args.target.local && args.target.ssh.nodes.is_empty() && args.target.ssh.nodes_file.is_none() {
        return Err(bad_input("say where the nodes are: --local, --nodes n1,n2,... or --nodes-file FILE"));
    }
    Ok(())
}

/// A test name becomes a directory under the store: it must stay one.
pub fn validate_test_name(name: &str) -> Result<()> {
    if name.is_empty() || name == "." || name == ".." || name == "latest" || name.contains('/') || name.starts_with('.')
    {
        return Err(bad_input(format!(
            "--name {name:?}: must be a plain directory name (not empty, '.', '..', 'latest', no '/', not starting with '.')"
        )));
    }
    Ok(())
}

impl TestArgs {
    /// The built-in database asked for (etcd when none is named).
    pub fn db_name(&self) -> &str {
        self.db.as_deref().unwrap_or("etcd")
    }

    /// The database: the recipe's when `--db-recipe` is given (checked now, before any node is
    /// touched), else the built-in one.
    fn resolve_db(&self) -> Result<&'static dyn Db> {
        if let Some(file) = &self.db_recipe {
            let db = faultline_dbs::recipe::RecipeDb::leak(file)?;
            if self.read_from.resolve().needs_leader() && db.primary().is_none() {
                return Err(bad_input(format!(
                    "--read-from {}: {} has no [primary] command, so it cannot say which node leads",
                    self.read_from.resolve().name(),
                    file.display()
                )));
            }
            return Ok(db);
        }
        let name = self.db_name();
        faultline_dbs::by_name(name).ok_or_else(|| bad_input(format!("--db {name:?}: unknown")))
    }

    /// Check the flags and resolve them into the plan the runner follows. The seed is drawn here
    /// when none was given, so that `test.json` records it.
    pub fn resolve(&self) -> Result<TestPlan> {
        validate(self)?;
        let db = self.resolve_db()?;
        let workload =
            faultline_workloads::by_name(&self.workload).map_err(|e| bad_input(format!("--workload: {e:#}")))?;
        faultline_checkers::expect::parse_expectations(&self.expect)
            .map_err(|e| bad_input(format!("--expect: {e}")))?;
        let nemesis = faultline_nemeses::NemesisChoice::parse(&self.nemesis).map_err(bad_input)?;
        let schedule = match &self.nemesis_schedule {
            Some(path) => Some(faultline_nemeses::schedule::load_schedule(path).map_err(bad_input)?),
            None => None,
        };
        Ok(TestPlan {
            name: self.name.clone().unwrap_or_else(|| format!("{}-{}", db.name(), workload.name())),
            db: DbPlan {
                adapter: db,
                recipe: self.db_recipe.clone(),
                client: self.client.clone().map(faultline_dbs::process_client::ClientCommand),
                binary: self.db_binary.clone(),
                isolation: self.isolation.resolve(),
                pg_sync: self.pg_sync,
                read_from: self.read_from.resolve(),
                serializable: self.serializable,
                op_timeout: self.op_timeout,
                leave_running: self.leave_db_running,
            },
            workload: WorkloadPlan {
                kind: workload,
                ops_per_key: self.ops_per_key,
                unique_writes: self.unique_writes,
                max_txn_length: self.max_txn_length,
                key_count: self.key_count,
                max_writes_per_key: self.max_writes_per_key,
                consistency_models: self.consistency_models.clone(),
                expect: self.expect.clone(),
            },
            nemesis: FaultPlan {
                choice: nemesis,
                targets: self.nemesis_targets.map(TargetsArg::resolve),
                interval: self.nemesis_interval,
                schedule: self.nemesis_schedule.clone().zip(schedule),
                loss: self.loss,
                packet: self.packet.resolve()?,
            },
            run: RunPlan {
                target: self.target.clone(),
                // A random seed is kept small so that it is easy to read and retype.
                seed: self.seed.unwrap_or_else(|| rand::random::<u32>() as u64),
                time_limit: self.time_limit,
                concurrency: Concurrency::parse(&self.concurrency)?,
                rate: self.rate,
                test_count: self.test_count,
                recovery_time: self.recovery_time,
            },
            store: StorePlan { dir: self.store.clone(), json: self.json },
        })
    }
}

pub fn run(args: TestArgs) -> Result<Exit> {
    let plan = args.resolve()?;
    crate::runner::run_tests(plan)
}

#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// How long the demo's clients run.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub time_limit: Duration,
    /// Where runs are stored.
    #[arg(long, default_value = "store", env = "FAULTLINE_STORE")]
    pub store: PathBuf,
    /// Seed (random when absent).
    #[arg(long)]
    pub seed: Option<u64>,
}

/// `faultline demo`: etcd, register workload, partitions, on the local cluster.
pub fn demo(args: DemoArgs) -> Result<Exit> {
    #[derive(clap::Parser)]
    struct Wrapper {
        #[command(flatten)]
        test: TestArgs,
    }
    let mut words: Vec<String> = vec![
        "faultline-demo".into(),
        "--local".into(),
        "--db".into(),
        "etcd".into(),
        "--workload".into(),
        faultline_workloads::register::NAME.into(),
        "--nemesis".into(),
        "partition-halves,partition-ring,partition-one".into(),
        "--nemesis-interval".into(),
        "5s".into(),
        "--time-limit".into(),
        format!("{}s", args.time_limit.as_secs().max(1)),
        "--concurrency".into(),
        "10".into(),
        "--rate".into(),
        "200".into(),
        "--name".into(),
        "demo".into(),
        "--store".into(),
        args.store.display().to_string(),
    ];
    if let Some(seed) = args.seed {
        words.extend(["--seed".into(), seed.to_string()]);
    }
    let wrapper =
        <Wrapper as clap::Parser>::try_parse_from(words).map_err(|e| anyhow::anyhow!("demo arguments: {e}"))?;
    run(wrapper.test)
}
