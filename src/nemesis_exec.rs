//! Runs the nemesis during a test: the `Control` implementation over SSH and the database
//! adapter, the schedule loop that records every action in the history, and the final heal.
//!
//! Every action is two `info` events on process `nemesis` (see `faultline_checkers::faults`):
//! `start-<fault>` / `stop-<fault>` when the action begins, and again, carrying what was
//! really applied (grudge, probes, timings, `verified`), when it has completed.

use crate::db::{self, DbKind, DbNode};
use crate::exit::bad_input;
use crate::store::{Event, HistoryWriter};
use crate::test_cmd::TestArgs;
use anyhow::Result;
use faultline_checkers::{OpType, Process};
use faultline_nemeses::control::{Control, Output};
use faultline_nemeses::engine::{Nemesis, NemesisOptions};
use faultline_nemeses::fault::{Fault, NemesisChoice, Targets};
use faultline_nemeses::schedule::{self, Action, Step};
use serde_json::{json, Value};
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long one nemesis command may take on a node.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(20);

/// The nodes as the nemesis sees them: commands over SSH as root, process faults through the
/// database adapter. Cheap to clone.
#[derive(Clone)]
pub struct SshControl {
    nodes: Vec<DbNode>,
    db: DbKind,
    shared_clock: bool,
    control_addresses: Vec<String>,
    /// Where clients send writes on primary/replica databases (Redis): the current primary.
    write_primary: Arc<std::sync::RwLock<String>>,
}

/// How long a failover waits between cutting the primary off and promoting a replica: the time
/// an operator or Sentinel (`down-after-milliseconds`) needs to notice. Writes the old primary
/// acknowledges meanwhile are the ones async replication loses.
const FAILOVER_DETECTION_DELAY: Duration = Duration::from_secs(2);

/// How long to wait for the database to name a primary/leader when it has none.
const PRIMARY_WAIT: Duration = Duration::from_secs(10);

impl SshControl {
    pub fn new(nodes: Vec<DbNode>, db: DbKind, shared_clock: bool, control_addresses: Vec<String>) -> SshControl {
        let first = nodes.first().map(|n| n.name.clone()).unwrap_or_default();
        SshControl {
            nodes,
            db,
            shared_clock,
            control_addresses,
            write_primary: Arc::new(std::sync::RwLock::new(first)),
        }
    }

    /// The node that takes writes on a primary/replica database (the first node until a failover).
    pub fn write_primary(&self) -> Option<DbNode> {
        let name = self.write_primary.read().unwrap().clone();
        self.nodes.iter().find(|n| n.name == name).cloned()
    }

    fn node(&self, name: &str) -> Result<&DbNode> {
        self.nodes.iter().find(|n| n.name == name).ok_or_else(|| anyhow::anyhow!("no node named {name}"))
    }
}

impl Control for SshControl {
    fn nodes(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.name.clone()).collect()
    }
    fn address(&self, node: &str) -> String {
        self.nodes.iter().find(|n| n.name == node).map(|n| n.host.clone()).unwrap_or_default()
    }
    fn control_addresses(&self) -> Vec<String> {
        self.control_addresses.clone()
    }
    fn shared_clock(&self) -> bool {
        self.shared_clock
    }
    fn probe_port(&self) -> u16 {
        // sshd answers on every node whatever the database is doing (killed, paused).
        self.nodes.first().map(|n| n.ssh.port).unwrap_or(22)
    }
    fn run(&self, node: &str, argv: Vec<String>) -> impl Future<Output = Result<Output>> + Send {
        let n = self.node(node).cloned();
        async move {
            let n = n?;
            let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
            let out = n.ssh.run_root(&argv, COMMAND_TIMEOUT).await?;
            Ok(Output { status: out.status, stdout: out.stdout, stderr: out.stderr })
        }
    }
    fn kill_db(&self, node: &str) -> impl Future<Output = Result<String>> + Send {
        let (n, db) = (self.node(node).cloned(), self.db);
        async move {
            let n = n?;
            Ok(if db::kill(db, &n).await? {
                format!("{}: SIGKILL {}", n.name, db.comm())
            } else {
                format!("{}: {} was not running", n.name, db.comm())
            })
        }
    }
    fn restart_db(&self, node: &str) -> impl Future<Output = Result<String>> + Send {
        let (n, db, all) = (self.node(node).cloned(), self.db, self.nodes.clone());
        async move {
            let n = n?;
            db::restart(db, &n, &all).await?;
            Ok(format!("{}: restarted {}", n.name, db.comm()))
        }
    }
    fn pause_db(&self, node: &str) -> impl Future<Output = Result<String>> + Send {
        let (n, db) = (self.node(node).cloned(), self.db);
        async move {
            let n = n?;
            Ok(if db::pause(db, &n).await? {
                format!("{}: SIGSTOP {}", n.name, db.comm())
            } else {
                format!("{}: {} was not running", n.name, db.comm())
            })
        }
    }
    fn resume_db(&self, node: &str) -> impl Future<Output = Result<String>> + Send {
        let (n, db) = (self.node(node).cloned(), self.db);
        async move {
            let n = n?;
            // SIGCONT every process of the database in state T, not only the pidfile's: a fault
            // may have outlived a restart.
            // Every database faultline manages, not only this run's: `faultline heal` after a
            // killed harness does not know which database the run used.
            let comms: Vec<&str> = DbKind::ALL.iter().map(|d| d.comm()).collect();
            let script = format!(
                "for c in {comms}; do for p in $(pgrep -x $c); do s=$(awk '{{print $3}}' /proc/$p/stat 2>/dev/null); \
                 if [ \"$s\" = T ]; then kill -CONT $p && echo $c:$p; fi; done; done",
                comms = comms.join(" ")
            );
            let out = n.ssh.run_root(&["sh", "-c", &script], COMMAND_TIMEOUT).await?;
            let pids: Vec<&str> = out.stdout.split_whitespace().collect();
            let _ = db;
            Ok(if pids.is_empty() { String::new() } else { format!("{}: SIGCONT {}", n.name, pids.join(", ")) })
        }
    }
    fn primaries(&self) -> impl Future<Output = Result<Vec<String>>> + Send {
        let (db, all) = (self.db, self.nodes.clone());
        async move {
            // Right after a heal or a kill the database may be mid-election: give it a few
            // seconds to name a leader rather than failing the fault.
            let deadline = tokio::time::Instant::now() + PRIMARY_WAIT;
            loop {
                let found = db::primaries(db, &all).await?;
                if !found.is_empty() || tokio::time::Instant::now() >= deadline {
                    return Ok(found);
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    fn supports_failover(&self) -> bool {
        self.db == DbKind::Redis
    }
    fn promote(&self, node: &str) -> impl Future<Output = Result<String>> + Send {
        let (n, all, route) = (self.node(node).cloned(), self.nodes.clone(), self.write_primary.clone());
        async move {
            let n = n?;
            let old = route.read().unwrap().clone();
            tokio::time::sleep(FAILOVER_DETECTION_DELAY).await;
            db::redis::promote(&n).await?;
            // The other replicas follow the new primary; the old one is cut off until the heal.
            let others: Vec<DbNode> = all.into_iter().filter(|m| m.name != old).collect();
            db::redis::follow(&others, &n).await?;
            *route.write().unwrap() = n.name.clone();
            Ok(format!(
                "{} promoted (REPLICAOF NO ONE) after {}s; clients now write to it",
                n.name,
                FAILOVER_DETECTION_DELAY.as_secs()
            ))
        }
    }
    fn follow(&self, primary: &str) -> impl Future<Output = Result<String>> + Send {
        let (p, all) = (self.node(primary).cloned(), self.nodes.clone());
        async move {
            let p = p?;
            db::redis::follow(&all, &p).await?;
            Ok(format!("every other node is now a replica of {}", p.name))
        }
    }
}

/// The faults and the schedule of one run.
#[derive(Clone)]
pub struct NemesisPlan {
    pub choice: NemesisChoice,
    pub faults: Vec<Fault>,
    pub steps: Vec<Step>,
    pub options: NemesisOptions,
    pub seed: u64,
    interval: Duration,
    time_limit: Duration,
    schedule_file: Option<std::path::PathBuf>,
}

/// The engine shared by the schedule loop and the final heal.
pub type SharedNemesis = Arc<tokio::sync::Mutex<Nemesis<SshControl>>>;

impl NemesisPlan {
    /// Parse the nemesis flags (no node is touched): bad names exit 254.
    pub fn parse(args: &TestArgs, seed: u64) -> Result<NemesisPlan> {
        let choice = NemesisChoice::parse(&args.nemesis).map_err(bad_input)?;
        let targets = match &args.nemesis_targets {
            Some(t) => Some(Targets::parse(t).map_err(|e| bad_input(format!("--nemesis-targets: {e}")))?),
            None => None,
        };
        let options = NemesisOptions { targets, loss: args.loss, ..NemesisOptions::default() };
        let mut steps = Vec::new();
        if let Some(path) = &args.nemesis_schedule {
            steps = schedule::load_schedule(path).map_err(bad_input)?;
        }
        Ok(NemesisPlan {
            choice,
            faults: Vec::new(),
            steps,
            options,
            seed,
            interval: args.nemesis_interval,
            time_limit: args.time_limit,
            schedule_file: args.nemesis_schedule.clone(),
        })
    }

    /// Decide the faults against what the cluster supports and draw the schedule.
    pub async fn resolve(&mut self, engine: &Nemesis<SshControl>) -> Result<()> {
        let unsupported = engine.unsupported_faults().await;
        if self.schedule_file.is_some() {
            for step in &self.steps {
                if let Action::Start { fault, .. } = &step.action {
                    if let Some((_, why)) = unsupported.iter().find(|(f, _)| f == fault) {
                        return Err(bad_input(format!(
                            "--nemesis-schedule starts {fault}, which this cluster cannot do: {why}"
                        )));
                    }
                    if !self.faults.contains(fault) {
                        self.faults.push(*fault);
                    }
                }
            }
            return Ok(());
        }
        self.faults = self.choice.resolve(&unsupported).map_err(bad_input)?;
        self.steps =
            schedule::interval_schedule(self.seed, &self.faults, self.interval, self.time_limit).map_err(bad_input)?;
        Ok(())
    }

    pub fn fault_names(&self) -> Vec<String> {
        self.faults.iter().map(|f| f.name().to_string()).collect()
    }

    /// Tools the resolved faults need on every node (checked before the run starts).
    pub fn required_tools(&self) -> Vec<&'static str> {
        let mut tools = Vec::new();
        for f in &self.faults {
            let more: &[&str] = match f {
                f if f.is_partition() => &["iptables", "timeout", "bash"],
                Fault::Flaky => &["iptables"],
                Fault::Slow => &["tc", "ip"],
                Fault::Kill | Fault::Pause => &["pgrep", "awk", "kill"],
                Fault::Clock => &["date"],
                Fault::Failover => &["iptables", "timeout", "bash"],
                _ => &[],
            };
            for t in more {
                if !tools.contains(t) {
                    tools.push(*t);
                }
            }
        }
        tools
    }
}

fn record(writer: &HistoryWriter, f: String, value: Value) {
    // The run's log tells the fault story too, not only the history.
    tracing::info!(target: "faultline::nemesis", "{f} {value}");
    writer.record(Event {
        time: 0,
        kind: OpType::Info,
        process: Process::Nemesis,
        f,
        value,
        key: None,
        node: None,
        error: None,
    });
}

/// Follow the schedule until its end, the time limit or a stop request.
pub async fn run_schedule(
    nemesis: SharedNemesis,
    steps: Vec<Step>,
    writer: HistoryWriter,
    stop: Arc<AtomicBool>,
    active_fault: Arc<Mutex<String>>,
) -> Result<()> {
    let start = writer.start();
    for step in steps {
        // Sleep in short slices so a stop request ends the nemesis promptly.
        while start.elapsed() < step.at {
            if stop.load(Ordering::Relaxed) || crate::runner::STOP_REQUESTED.load(Ordering::Relaxed) {
                return Ok(());
            }
            let left = step.at.saturating_sub(start.elapsed());
            tokio::time::sleep(left.min(Duration::from_millis(100))).await;
        }
        if stop.load(Ordering::Relaxed) {
            return Ok(());
        }
        let mut engine = nemesis.lock().await;
        match &step.action {
            Action::Start { fault, .. } => {
                let f = format!("start-{}", fault.name());
                record(&writer, f.clone(), json!({"fault": fault.name()}));
                let value = match engine.apply(&step.action).await {
                    Ok(v) => v,
                    Err(e) => json!({"fault": fault.name(), "verified": false, "reason": format!("{e:#}")}),
                };
                if value.get("verified") == Some(&json!(false)) {
                    tracing::warn!("nemesis: {} did not take effect: {}", fault.name(), value["reason"]);
                }
                record(&writer, f, value);
            }
            Action::Stop { fault } => {
                let f = format!("stop-{}", fault.name());
                record(&writer, f.clone(), json!({"fault": fault.name()}));
                let value = match engine.apply(&step.action).await {
                    Ok(v) => v,
                    Err(e) => json!({"fault": fault.name(), "verified": false, "reason": format!("{e:#}")}),
                };
                record(&writer, f, value);
            }
            Action::HealAll => {
                heal_locked(&mut engine, &writer).await;
            }
        }
        *active_fault.lock().unwrap() = describe_active(&engine.active());
    }
    Ok(())
}

fn describe_active(active: &[Fault]) -> String {
    if active.is_empty() {
        "none".into()
    } else {
        active.iter().map(|f| f.name()).collect::<Vec<_>>().join(",")
    }
}

/// Heal with the engine held: every still-applied fault gets its `stop-X` events, so fault
/// windows close in the history. Returns what was healed and what could not be.
async fn heal_locked(engine: &mut Nemesis<SshControl>, writer: &HistoryWriter) -> (Vec<String>, Vec<String>) {
    let active = engine.active();
    for f in &active {
        record(writer, format!("stop-{}", f.name()), json!({"fault": f.name(), "by": "heal"}));
    }
    let report = engine.heal_all().await;
    let value = report.value();
    for f in &active {
        let mut v = value.clone();
        v["fault"] = json!(f.name());
        record(writer, format!("stop-{}", f.name()), v);
    }
    if active.is_empty() && !report.lines.is_empty() {
        // Something needed healing that no window tracked (e.g. rules left by a killed run).
        record(writer, "heal".into(), value.clone());
    }
    let mut failures = report.errors.clone();
    if report.errors.is_empty() && !report.verified() {
        // Healed as far as the commands say, but the probes still see cut links.
        failures.push(value["reason"].as_str().unwrap_or("probes after the heal disagree").to_string());
    }
    (report.lines, failures)
}

/// Heal everything the nemesis did (idempotent); errors only when something could not be healed.
pub async fn heal_everything(nemesis: &SharedNemesis, writer: &HistoryWriter) -> Result<Vec<String>> {
    let mut engine = nemesis.lock().await;
    let (lines, failures) = heal_locked(&mut engine, writer).await;
    if !failures.is_empty() {
        anyhow::bail!("{}", failures.iter().map(|f| format!("NOT HEALED: {f}")).collect::<Vec<_>>().join("; "));
    }
    Ok(lines)
}

/// End of run: heal, then remove faultline's chains and jumps from every node.
pub async fn teardown(nemesis: &SharedNemesis) -> Vec<String> {
    let mut engine = nemesis.lock().await;
    let report = engine.teardown().await;
    let mut lines = report.lines;
    lines.extend(report.errors.iter().map(|e| format!("NOT HEALED: {e}")));
    lines
}

/// The schedule a run really followed, rebuilt from its history: every start with the exact
/// nodes and grudge that were applied, every stop, at the times they began. Saved as
/// `schedule.toml` in the run directory, so `--nemesis-schedule` replays the failure exactly.
pub fn replay_schedule(ops: &[faultline_checkers::Op]) -> Vec<Step> {
    use std::collections::BTreeMap;
    let mut steps = Vec::new();
    // The time each action began (its first event), by f.
    let mut began: BTreeMap<&str, u64> = BTreeMap::new();
    for op in ops.iter().filter(|o| o.is_nemesis()) {
        let Some(first) = began.remove(op.f.as_str()) else {
            began.insert(op.f.as_str(), op.time);
            continue;
        };
        let at = Duration::from_nanos(first);
        if let Some(name) = op.f.strip_prefix("start-") {
            let Ok(fault) = Fault::parse(name) else { continue };
            let grudge =
                fault.is_partition().then(|| serde_json::from_value(op.value["grudge"].clone()).ok()).flatten();
            let nodes = (fault.uses_targets())
                .then(|| serde_json::from_value::<Vec<String>>(op.value["targets"].clone()).ok())
                .flatten()
                .filter(|n| !n.is_empty());
            steps.push(Step { at, action: Action::Start { fault, targets: None, nodes, grudge } });
        } else if let Some(name) = op.f.strip_prefix("stop-") {
            if let Ok(fault) = Fault::parse(name) {
                steps.push(Step { at, action: Action::Stop { fault } });
            }
        }
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;
    use faultline_checkers::{Op, OpType, Process};

    fn nem(time: u64, f: &str, value: Value) -> Op {
        Op {
            index: 0,
            time,
            kind: OpType::Info,
            process: Process::Nemesis,
            f: f.into(),
            value,
            key: None,
            node: None,
            error: None,
        }
    }

    #[test]
    fn replay_keeps_the_applied_grudge_and_targets() {
        let ops = vec![
            nem(1_000_000_000, "start-partition-one", json!({"fault": "partition-one"})),
            nem(
                1_500_000_000,
                "start-partition-one",
                json!({"grudge": {"n1": ["n2", "n3"], "n2": ["n1"], "n3": ["n1"]}, "verified": true}),
            ),
            nem(4_000_000_000, "stop-partition-one", json!({"fault": "partition-one"})),
            nem(4_100_000_000, "stop-partition-one", json!({"verified": true})),
            nem(5_000_000_000, "start-kill", json!({"fault": "kill"})),
            nem(5_200_000_000, "start-kill", json!({"targets": ["n2"]})),
        ];
        let steps = replay_schedule(&ops);
        assert_eq!(steps.len(), 3);
        assert_eq!(steps[0].at, Duration::from_secs(1));
        match &steps[0].action {
            Action::Start { fault: Fault::PartitionOne, grudge: Some(g), .. } => assert_eq!(g["n1"].len(), 2),
            other => panic!("unexpected {other:?}"),
        }
        assert!(matches!(&steps[1].action, Action::Stop { fault: Fault::PartitionOne }));
        match &steps[2].action {
            Action::Start { fault: Fault::Kill, nodes: Some(n), .. } => assert_eq!(n, &vec!["n2".to_string()]),
            other => panic!("unexpected {other:?}"),
        }
        // What we write, the schedule parser reads back.
        let text = schedule::to_toml(&steps);
        let back = schedule::parse_schedule("replay", &text).unwrap();
        assert_eq!(back, steps);
    }
}
