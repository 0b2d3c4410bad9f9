//! The resolved test plan: every flag of `faultline test` parsed once into typed values. The runner
//! follows it; `test.json` records it ([`TestPlan::record`]) with what the run itself decided
//! (nodes, seed, clients, the faults the cluster supports).

use crate::args::TargetArgs;
use anyhow::Result;
use faultline_control::bad_input;
use faultline_dbs::process_client::{ClientCommand, NodeAddress, OpenInfo, ProcessClient};
use faultline_dbs::{Db, DbNode, PrimaryRoute};
use faultline_nemeses::schedule::Step;
use faultline_nemeses::{Fault, NemesisChoice, Targets};
use faultline_workloads::{CheckOptions, Client, GeneratorOptions, Workload};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

/// What `faultline test` was asked to do, resolved, in groups: the database, the workload, the
/// faults, the run and where it is stored.
#[derive(Clone)]
pub struct TestPlan {
    pub name: String,
    pub db: DbPlan,
    pub workload: WorkloadPlan,
    pub nemesis: FaultPlan,
    pub run: RunPlan,
    pub store: StorePlan,
}

/// The database under test and how its clients behave.
#[derive(Clone)]
pub struct DbPlan {
    pub adapter: &'static dyn Db,
    /// `--db-recipe`: the file the adapter was read from.
    pub recipe: Option<PathBuf>,
    /// `--client`: the subprocess every worker runs instead of the database's built-in client.
    pub client: Option<ClientCommand>,
    /// `--db-binary`: uploaded instead of the distribution's package.
    pub binary: Option<PathBuf>,
    pub isolation: faultline_dbs::Isolation,
    pub pg_sync: bool,
    pub read_from: faultline_dbs::ReadFrom,
    pub serializable: bool,
    pub op_timeout: Duration,
    pub leave_running: bool,
}

/// The faults: which, where, when, and the packet faults' knobs.
#[derive(Clone)]
pub struct FaultPlan {
    pub choice: NemesisChoice,
    pub targets: Option<Targets>,
    pub interval: Duration,
    /// `--nemesis-schedule`: the file and the steps read from it.
    pub schedule: Option<(PathBuf, Vec<Step>)>,
    pub loss: f64,
    pub packet: PacketPlan,
}

/// The run itself: where, how long, how many clients, how fast.
#[derive(Clone)]
pub struct RunPlan {
    pub target: TargetArgs,
    /// The first run's seed; run `i` of `--test-count` uses `seed + i`.
    pub seed: u64,
    pub time_limit: Duration,
    pub concurrency: Concurrency,
    pub rate: f64,
    pub test_count: u32,
    pub recovery_time: Duration,
}

/// Where runs are stored and how results are printed.
#[derive(Clone)]
pub struct StorePlan {
    pub dir: PathBuf,
    pub json: bool,
}

/// The packet faults' knobs, resolved.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PacketPlan {
    #[serde(serialize_with = "as_millis", deserialize_with = "from_millis")]
    pub latency: Duration,
    #[serde(serialize_with = "as_millis", deserialize_with = "from_millis")]
    pub jitter: Duration,
    pub distribution: faultline_nemeses::agent::Distribution,
    pub duplicate: f64,
    pub reorder: f64,
    pub corrupt: f64,
    pub bandwidth_bps: u64,
}

fn as_millis<S: serde::Serializer>(d: &Duration, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64() * 1000.0)
}

fn from_millis<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Duration, D::Error> {
    let ms = f64::deserialize(d)?;
    Duration::try_from_secs_f64(ms / 1000.0).map_err(serde::de::Error::custom)
}

/// test.json's `workload`: the workload's name, read back through the registry.
mod workload_name {
    use faultline_workloads::Workload;
    use serde::Deserialize;

    pub fn serialize<S: serde::Serializer>(w: &&'static dyn Workload, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(w.name())
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<&'static dyn Workload, D::Error> {
        let name = String::deserialize(d)?;
        faultline_workloads::by_name(&name).map_err(|e| serde::de::Error::custom(format!("{e:#}")))
    }
}

/// The workload part of the plan: which workload, the knobs of its generator and how its history
/// is checked. test.json records it as it is (its fields at the top level).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkloadPlan {
    #[serde(rename = "workload", with = "workload_name")]
    pub kind: &'static dyn Workload,
    /// Register: operations per key before a fresh key.
    pub ops_per_key: u64,
    /// Register: every write a fresh value.
    pub unique_writes: bool,
    /// Transactional: micro-ops per transaction, keys at a time, writes per key.
    pub max_txn_length: usize,
    pub key_count: usize,
    pub max_writes_per_key: usize,
    /// Transactional: Elle's consistency models (empty: strict-serializable).
    pub consistency_models: Vec<String>,
    /// `--expect` thresholds.
    pub expect: Vec<String>,
}

impl WorkloadPlan {
    /// The generator of a run with this seed and this many clients.
    pub fn generator_options(&self, seed: u64, concurrency: usize) -> GeneratorOptions {
        GeneratorOptions {
            seed,
            concurrency,
            ops_per_key: self.ops_per_key,
            unique_writes: self.unique_writes,
            max_txn_length: self.max_txn_length,
            key_count: self.key_count,
            max_writes_per_key: self.max_writes_per_key,
            ..GeneratorOptions::default()
        }
    }

    /// How the run's history is checked: the same options at the end of the run and in
    /// `faultline check` later (from test.json).
    pub fn check_options(&self) -> CheckOptions {
        CheckOptions {
            expectations: self.expect.clone(),
            consistency_models: self.consistency_models.clone(),
            ..CheckOptions::default()
        }
    }
}

/// What one run decided beyond the plan.
pub struct RunFacts<'a> {
    pub seed: u64,
    pub nodes: Vec<String>,
    pub clients: usize,
    pub faults: &'a [Fault],
}

/// `test.json`: the plan as run, field for field what earlier versions wrote. Read back typed
/// ([`TestRecord::read`]): a missing or unknown field is an error naming it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TestRecord {
    pub name: String,
    pub db: String,
    /// The recipe file the database came from (`--db-recipe`), when it is not built in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub db_recipe: Option<String>,
    /// The client command (`--client`), when not the database's built-in client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    /// The workload and its knobs, exactly as the plan has them.
    #[serde(flatten)]
    pub workload: WorkloadPlan,
    pub nemesis: Vec<String>,
    pub nemesis_targets: Option<String>,
    pub nemesis_interval_s: f64,
    pub nemesis_schedule: Option<String>,
    pub loss: f64,
    /// The packet faults' knobs (latency and jitter in milliseconds).
    pub packet: PacketPlan,
    pub nodes: Vec<String>,
    pub local: bool,
    pub remote_root: String,
    pub seed: u64,
    pub time_limit_s: f64,
    pub concurrency: usize,
    pub rate: f64,
    pub op_timeout_s: f64,
    pub serializable: bool,
    pub isolation: String,
    pub pg_sync: bool,
    pub read_from: String,
    pub recovery_time_s: f64,
    pub leave_db_running: bool,
    pub command_line: String,
    pub start_time: String,
    pub faultline_version: String,
    /// Whatever else the file holds: an error when read back (an unknown or misspelt field).
    #[serde(flatten, skip_serializing)]
    pub unknown: serde_json::Map<String, serde_json::Value>,
}

impl TestRecord {
    /// A run's test.json, typed; the error names the file and the field that is wrong.
    pub fn read(path: &std::path::Path) -> Result<TestRecord> {
        let text = std::fs::read_to_string(path).map_err(|e| bad_input(format!("{}: {e}", path.display())))?;
        let record: TestRecord =
            serde_json::from_str(&text).map_err(|e| bad_input(format!("{}: {e}", path.display())))?;
        // serde cannot deny unknown fields beside flattened ones: the leftovers say it.
        if let Some(field) = record.unknown.keys().next() {
            return Err(bad_input(format!("{}: unknown field `{field}`", path.display())));
        }
        Ok(record)
    }
}

impl TestPlan {
    /// The record of one run of this plan.
    pub fn record(&self, facts: RunFacts<'_>) -> TestRecord {
        TestRecord {
            name: self.name.clone(),
            db: self.db.adapter.name().to_string(),
            db_recipe: self.db.recipe.as_ref().map(|p| p.display().to_string()),
            client: self.db.client.as_ref().map(|c| c.0.clone()),
            workload: self.workload.clone(),
            nemesis: facts.faults.iter().map(|f| f.name().to_string()).collect(),
            nemesis_targets: self.nemesis.targets.map(|t| t.name().to_string()),
            nemesis_interval_s: self.nemesis.interval.as_secs_f64(),
            nemesis_schedule: self.nemesis.schedule.as_ref().map(|(p, _)| p.display().to_string()),
            loss: self.nemesis.loss,
            packet: self.nemesis.packet.clone(),
            nodes: facts.nodes,
            local: self.run.target.local,
            remote_root: self.run.target.remote_root.clone(),
            seed: facts.seed,
            time_limit_s: self.run.time_limit.as_secs_f64(),
            concurrency: facts.clients,
            rate: self.run.rate,
            op_timeout_s: self.db.op_timeout.as_secs_f64(),
            serializable: self.db.serializable,
            isolation: self.db.isolation.name().to_string(),
            pg_sync: self.db.pg_sync,
            read_from: self.db.read_from.name().to_string(),
            recovery_time_s: self.run.recovery_time.as_secs_f64(),
            leave_db_running: self.db.leave_running,
            command_line: reproduce_command_line(facts.seed),
            start_time: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
            faultline_version: env!("CARGO_PKG_VERSION").to_string(),
            unknown: serde_json::Map::new(),
        }
    }

    /// The client of worker `worker` bound to `node`: the `--client` subprocess, or the
    /// database's own.
    pub fn make_client(
        &self,
        worker: usize,
        node: &DbNode,
        nodes: &[DbNode],
        route: &PrimaryRoute,
    ) -> Result<Box<dyn Client>> {
        let opts = self.db.client_options();
        let Some(command) = &self.db.client else {
            return self.db.adapter.client(self.workload.kind, node, &opts, route);
        };
        let open = OpenInfo {
            node: node.name.clone(),
            address: node.host.clone(),
            worker,
            workload: self.workload.kind.name().to_string(),
            nodes: nodes.iter().map(|n| NodeAddress { name: n.name.clone(), address: n.host.clone() }).collect(),
            options: serde_json::json!({ "timeout_ms": opts.timeout.as_millis() as u64 }),
        };
        Ok(Box::new(ProcessClient::new(command.clone(), open, opts.timeout)))
    }
}

impl DbPlan {
    /// How the workload's clients behave.
    pub fn client_options(&self) -> faultline_dbs::ClientOptions {
        faultline_dbs::ClientOptions {
            timeout: self.op_timeout,
            serializable_reads: self.serializable,
            isolation: self.isolation,
        }
    }
}

/// `--concurrency` as the user gave it: a total, or a number per node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Concurrency {
    Total(usize),
    PerNode(usize),
}

impl Concurrency {
    pub fn parse(s: &str) -> Result<Concurrency> {
        let bad = || {
            bad_input(format!(
                "--concurrency {s:?}: expected a number of clients (e.g. 10) or a number per node (e.g. 2n)"
            ))
        };
        let (digits, per_node) = match s.strip_suffix('n') {
            Some(d) => (d, true),
            None => (s, false),
        };
        let n: usize = digits.trim().parse().map_err(|_| bad())?;
        if n == 0 {
            return Err(bad_input(format!("--concurrency {s:?}: needs at least one client")));
        }
        Ok(if per_node { Concurrency::PerNode(n) } else { Concurrency::Total(n) })
    }

    pub fn clients(self, nodes: usize) -> usize {
        match self {
            Concurrency::Total(n) => n,
            Concurrency::PerNode(n) => n * nodes.max(1),
        }
    }
}

/// The exact command line, with the seed made explicit so that it reproduces the run.
fn reproduce_command_line(seed: u64) -> String {
    let mut words: Vec<String> = Vec::new();
    let mut skip_next = false;
    for a in std::env::args() {
        if skip_next {
            skip_next = false;
            continue;
        }
        if a == "--seed" {
            skip_next = true;
            continue;
        }
        if a.starts_with("--seed=") {
            continue;
        }
        words.push(a);
    }
    words.push("--seed".into());
    words.push(seed.to_string());
    words.iter().map(|w| shell_quote(w)).collect::<Vec<_>>().join(" ")
}

fn shell_quote(s: &str) -> String {
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c)) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrency_forms() {
        assert_eq!(Concurrency::parse("10").unwrap(), Concurrency::Total(10));
        assert_eq!(Concurrency::parse("2n").unwrap(), Concurrency::PerNode(2));
        assert_eq!(Concurrency::parse("2n").unwrap().clients(5), 10);
        assert!(Concurrency::parse("0").is_err());
        assert!(Concurrency::parse("x").is_err());
        assert!(Concurrency::parse("n").is_err());
    }

    /// A test.json as this version writes it (the shared etcd run's): read back typed and written
    /// again, it has the same fields with the same values.
    const RECORD: &str = r#"{"name": "etcd-register", "db": "etcd", "workload": "register",
        "nemesis": ["partition-one"], "nemesis_targets": null, "nemesis_interval_s": 10.0,
        "nemesis_schedule": null, "loss": 0.2,
        "packet": {"latency": 50.0, "jitter": 10.0, "distribution": "normal", "duplicate": 0.1,
                   "reorder": 0.2, "corrupt": 0.05, "bandwidth_bps": 1000000},
        "nodes": ["n1", "n2", "n3"], "local": true, "remote_root": "/var/lib/faultline", "seed": 2,
        "time_limit_s": 30.0, "concurrency": 10, "rate": 200.0, "ops_per_key": 200, "op_timeout_s": 5.0,
        "serializable": true, "unique_writes": false, "max_txn_length": 4, "key_count": 5,
        "max_writes_per_key": 32, "consistency_models": [], "isolation": "serializable", "pg_sync": false,
        "read_from": "own-node", "recovery_time_s": 10.0, "expect": [], "leave_db_running": false,
        "command_line": "faultline test --local --db etcd --seed 2", "start_time": "2026-12-07T16:35:35Z",
        "faultline_version": "0.1.0"}"#;

    #[test]
    fn test_json_round_trips_typed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("test.json");
        std::fs::write(&path, RECORD).unwrap();
        let record = TestRecord::read(&path).unwrap();
        assert_eq!(record.workload.kind.name(), "register");
        let want: serde_json::Value = serde_json::from_str(RECORD).unwrap();
        assert_eq!(serde_json::to_value(&record).unwrap(), want);
    }

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("--nemesis"), "--nemesis");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
    }
}
