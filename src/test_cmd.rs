//! `faultline test` and `faultline demo`: parse and resolve a test's configuration, then hand it
//! to the runner. The resolved configuration is what `test.json` records, seed included.

use crate::exit::{bad_input, Exit};
use anyhow::Result;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

/// Where the nodes are and how to reach them.
#[derive(clap::Args, Debug, Clone)]
pub struct TargetArgs {
    /// Use the local namespace cluster (built with 5 nodes first if there is none).
    #[arg(long, conflicts_with_all = ["nodes", "nodes_file"])]
    pub local: bool,
    #[command(flatten)]
    pub ssh: crate::ssh::NodeArgs,
    /// Use only the first N of the nodes (e.g. 3 of the local cluster's 5).
    #[arg(long)]
    pub node_count: Option<usize>,
}

/// Where each node of a real host keeps faultline's files (daemons, pidfiles, logs).
const REMOTE_ROOT: &str = "/var/lib/faultline";

/// The nodes of a run, resolved: how to reach them and where each keeps its files.
pub struct Targets {
    pub specs: Vec<crate::ssh::NodeSpec>,
    pub ssh: crate::ssh::SshOptions,
    /// Per node, the directory for faultline's files (local nodes share one filesystem).
    pub roots: Vec<String>,
    /// The nodes share one clock (the local cluster): the clock fault is refused.
    pub shared_clock: bool,
    /// Where control traffic comes from, never named in a firewall rule.
    pub control_addresses: Vec<String>,
}

impl Targets {
    /// The local cluster's nodes.
    pub fn local(cluster: &crate::cluster::LocalCluster) -> Targets {
        Targets {
            specs: cluster.node_specs(),
            ssh: cluster.ssh_options(),
            roots: cluster.nodes.iter().map(|n| n.data_dir.display().to_string()).collect(),
            shared_clock: true,
            control_addresses: vec![cluster.control_address.clone()],
        }
    }

    /// Real hosts from `--nodes` / `--nodes-file`; `none_named` is the error when there are none.
    pub fn remote(args: &crate::ssh::NodeArgs, none_named: &str) -> Result<Targets> {
        let (specs, ssh) = args.resolve()?;
        if specs.is_empty() {
            return Err(bad_input(none_named.to_string()));
        }
        let roots = specs.iter().map(|_| REMOTE_ROOT.to_string()).collect();
        Ok(Targets { specs, ssh, roots, shared_clock: false, control_addresses: Vec::new() })
    }

    /// Keep the first `--node-count` nodes.
    pub fn limit(mut self, node_count: Option<usize>) -> Result<Targets> {
        if let Some(n) = node_count {
            if n == 0 || n > self.specs.len() {
                return Err(bad_input(format!(
                    "--node-count {n}: there are {} node(s) to choose from",
                    self.specs.len()
                )));
            }
            self.specs.truncate(n);
            self.roots.truncate(n);
        }
        Ok(self)
    }
}

#[derive(clap::Args, Debug, Clone)]
pub struct TestArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Test name, used for the store directory (default: DB-WORKLOAD).
    #[arg(long)]
    pub name: Option<String>,
    /// Database under test: etcd or redis.
    #[arg(long, default_value = "etcd")]
    pub db: String,
    /// Workload: register, set or counter.
    #[arg(long, default_value = "register")]
    pub workload: String,
    /// Faults, comma-separated (e.g. partition-halves,kill), `none` or `all`.
    #[arg(long, default_value = "none")]
    pub nemesis: String,
    /// Which nodes a fault targets: one, minority, majority, all or primaries.
    #[arg(long)]
    pub nemesis_targets: Option<String>,
    /// Mean time between fault start and stop, and between faults (seeded random schedule).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub nemesis_interval: Duration,
    /// An explicit fault timeline (TOML) to replay, instead of the random schedule.
    #[arg(long)]
    pub nemesis_schedule: Option<PathBuf>,
    /// Packet loss probability for the `flaky` fault.
    #[arg(long, default_value_t = 0.2)]
    pub loss: f64,
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

/// `--concurrency` as the user gave it: a total, or a number per node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
    if args.serializable && args.db != "etcd" {
        return Err(bad_input(format!("--serializable is only meaningful for etcd, not --db {}", args.db)));
    }
    if !args.target.local && args.target.ssh.nodes.is_empty() && args.target.ssh.nodes_file.is_none() {
        return Err(bad_input("say where the nodes are: --local, --nodes n1,n2,... or --nodes-file FILE"));
    }
    Concurrency::parse(&args.concurrency)?;
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

pub fn run(args: TestArgs) -> Result<Exit> {
    validate(&args)?;
    crate::runner::run_tests(args)
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
        "register".into(),
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
}
