//! Runs the nemesis during a test: the `Control` implementation over SSH and the database
//! adapter, the schedule loop that records every action in the history, and the final heal.
//!
//! Every action is two `info` events on process `nemesis` (see `faultline_checkers::faults`):
//! `start-<fault>` / `stop-<fault>` when the action begins, and again, carrying what was
//! really applied (grudge, probes, timings, `verified`), when it has completed.

use crate::plan::TestPlan;
use crate::store::{Event, HistoryWriter};
use anyhow::Result;
use faultline_checkers::faults::{Applied, Phase};
use faultline_checkers::{OpType, Process};
use faultline_control::bad_input;
use faultline_dbs::{Db, DbNode, PrimaryRoute};
use faultline_nemeses::control::{DbControl, Output, Shell};
use faultline_nemeses::engine::{Nemesis, NemesisOptions};
use faultline_nemeses::fault::{DbCapability, Fault, NemesisChoice};
use faultline_nemeses::schedule::{self, Action, Step};
use serde_json::{json, Value};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How long one nemesis command may take on a node.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(20);

/// The nodes as the nemesis sees them: commands over SSH as root, process faults through the
/// database adapter's capabilities. Cheap to clone.
#[derive(Clone)]
pub struct SshControl {
    nodes: Vec<DbNode>,
    db: &'static dyn Db,
    shared_clock: bool,
    control_addresses: Vec<String>,
    /// Where clients send writes on primary/replica databases (Redis): the current primary.
    route: PrimaryRoute,
    /// The faultline binary on the nodes, for the packet agent and its probes.
    agent_binary: Option<String>,
}

/// How long a failover waits between cutting the primary off and promoting a replica: the time
/// an operator or Sentinel (`down-after-milliseconds`) needs to notice. Writes the old primary
/// acknowledges meanwhile are the ones async replication loses.
const FAILOVER_DETECTION_DELAY: Duration = Duration::from_secs(2);

/// How long to wait for the database to name a primary/leader when it has none.
const PRIMARY_WAIT: Duration = Duration::from_secs(10);

impl SshControl {
    pub fn new(
        nodes: Vec<DbNode>,
        db: &'static dyn Db,
        shared_clock: bool,
        control_addresses: Vec<String>,
        route: PrimaryRoute,
    ) -> SshControl {
        SshControl { nodes, db, shared_clock, control_addresses, route, agent_binary: None }
    }

    /// The faultline binary on the nodes (see [`install_agent`]).
    pub fn with_agent_binary(mut self, path: Option<String>) -> SshControl {
        self.agent_binary = path;
        self
    }

    fn node(&self, name: &str) -> Result<&DbNode> {
        self.nodes.iter().find(|n| n.name == name).ok_or_else(|| anyhow::anyhow!("no node named {name}"))
    }

    fn capability<T: ?Sized>(&self, cap: Option<&'static T>, what: &str) -> Result<&'static T> {
        cap.ok_or_else(|| anyhow::anyhow!("{} cannot {what}", self.db.name()))
    }
}

impl Shell for SshControl {
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
    fn agent_binary(&self) -> Option<String> {
        self.agent_binary.clone()
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
}

impl DbControl for SshControl {
    fn kill_db(&self, node: &str) -> impl Future<Output = Result<String>> + Send {
        let (n, cap, comm) =
            (self.node(node).cloned(), self.capability(self.db.process(), "kill a node"), self.db.daemon().comm);
        async move {
            let n = n?;
            Ok(if cap?.kill(&n).await? {
                format!("{}: SIGKILL {comm}", n.name)
            } else {
                format!("{}: {comm} was not running", n.name)
            })
        }
    }
    fn restart_db(&self, node: &str) -> impl Future<Output = Result<String>> + Send {
        let (n, cap, all, comm) = (
            self.node(node).cloned(),
            self.capability(self.db.process(), "restart a node"),
            self.nodes.clone(),
            self.db.daemon().comm,
        );
        async move {
            let n = n?;
            cap?.start(&n, &all).await?;
            Ok(format!("{}: restarted {comm}", n.name))
        }
    }
    fn pause_db(&self, node: &str) -> impl Future<Output = Result<String>> + Send {
        let (n, cap, comm) =
            (self.node(node).cloned(), self.capability(self.db.pause(), "pause a node"), self.db.daemon().comm);
        async move {
            let n = n?;
            Ok(if cap?.pause(&n).await? {
                format!("{}: SIGSTOP {comm}", n.name)
            } else {
                format!("{}: {comm} was not running", n.name)
            })
        }
    }
    fn resume_db(&self, node: &str) -> impl Future<Output = Result<String>> + Send {
        let n = self.node(node).cloned();
        async move {
            let n = n?;
            let resumed = faultline_dbs::lifecycle::resume_all(&n).await?;
            Ok(if resumed.is_empty() { String::new() } else { format!("{}: SIGCONT {}", n.name, resumed.join(", ")) })
        }
    }
    fn primaries(&self) -> impl Future<Output = Result<Vec<String>>> + Send {
        let (cap, all) = (self.capability(self.db.primary(), "name its primaries"), self.nodes.clone());
        async move {
            let cap = cap?;
            // Right after a heal or a kill the database may be mid-election: give it a few
            // seconds to name a leader rather than failing the fault.
            let deadline = tokio::time::Instant::now() + PRIMARY_WAIT;
            loop {
                let found = cap.primaries(&all).await?;
                if !found.is_empty() || tokio::time::Instant::now() >= deadline {
                    return Ok(found);
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    fn supports_failover(&self) -> bool {
        self.db.primary().is_some_and(|p| p.can_promote())
    }
    fn per_process_clock_refusal(&self) -> Option<String> {
        self.db.per_process_clock_refusal().map(|why| format!("{}: {why}", self.db.name()))
    }
    fn db_time(&self, node: &str) -> impl Future<Output = Result<Option<f64>>> + Send {
        let (n, db) = (self.node(node).cloned(), self.db);
        async move { db.clock_now(&n?).await }
    }
    fn promote(&self, node: &str) -> impl Future<Output = Result<String>> + Send {
        let (n, all, route) = (self.node(node).cloned(), self.nodes.clone(), self.route.clone());
        let cap = self.capability(self.db.primary(), "promote a node");
        async move {
            let (n, cap) = (n?, cap?);
            let old = route.get().name;
            tokio::time::sleep(FAILOVER_DETECTION_DELAY).await;
            cap.promote(&n).await?;
            // Clients write to the new primary as soon as it takes writes, not only once the
            // other replicas follow it (a PostgreSQL replica restarts to do that).
            route.set(&n);
            // The other replicas follow the new primary; the old one is cut off until the heal.
            let others: Vec<DbNode> = all.into_iter().filter(|m| m.name != old).collect();
            cap.follow(&others, &n).await?;
            Ok(format!("{} promoted after {}s; clients now write to it", n.name, FAILOVER_DETECTION_DELAY.as_secs()))
        }
    }
    fn follow(&self, primary: &str) -> impl Future<Output = Result<String>> + Send {
        let (p, all) = (self.node(primary).cloned(), self.nodes.clone());
        let cap = self.capability(self.db.primary(), "re-point replicas");
        async move {
            let p = p?;
            cap?.follow(&all, &p).await?;
            Ok(format!("every other node is now a replica of {}", p.name))
        }
    }
}

/// Make this faultline binary available on the nodes for the packet agent and return its path
/// there: the local cluster's nodes see this machine's files, except their own private
/// directories (`/tmp`, `/run`, `/var/lib/faultline`: a clone under /tmp is invisible there);
/// real hosts, and local nodes that cannot see the binary, get a copy under
/// `<remote root>/bin/faultline` (built for this machine: the hosts need a compatible libc).
pub async fn install_agent(local: bool, nodes: &[DbNode]) -> Result<String> {
    let exe = std::env::current_exe().map_err(|e| anyhow::anyhow!("cannot find faultline's own binary: {e}"))?;
    let private = faultline_control::cluster::NODE_PRIVATE_DIRS.iter().any(|d| exe.starts_with(d));
    if local && !private {
        return Ok(exe.display().to_string());
    }
    let uploads = futures::future::join_all(nodes.iter().map(|n| {
        let exe = exe.clone();
        async move {
            let remote = n.path("bin/faultline");
            n.ssh.run_root(&["mkdir", "-p", &n.path("bin")], COMMAND_TIMEOUT).await?;
            n.ssh.upload(&exe, &remote).await?;
            n.ssh.run_root(&["chmod", "755", &remote], COMMAND_TIMEOUT).await?;
            Ok::<String, anyhow::Error>(remote)
        }
    }))
    .await;
    let mut path = String::new();
    for (n, r) in nodes.iter().zip(uploads) {
        path = r.map_err(|e| anyhow::anyhow!("uploading the packet agent to {}: {e:#}", n.name))?;
    }
    Ok(path)
}

/// Clock faults on nodes that share one clock: find (or install, Debian's `faketime`) libfaketime
/// on every node and start each node's database with it preloaded, reading its offset from the
/// node's own file. Returns the line the run says.
pub async fn prepare_faketime(nodes: &mut [DbNode]) -> Result<String> {
    let found = futures::future::join_all(nodes.iter().map(|n| async move {
        let find = || async {
            let argv = faultline_nemeses::faketime::find_lib_argv();
            let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
            Ok::<String, anyhow::Error>(n.ssh.run_root(&argv, COMMAND_TIMEOUT).await?.stdout.trim().to_string())
        };
        let mut lib = find().await?;
        if lib.is_empty() {
            faultline_dbs::daemon::ensure_package(n, "faketime", "faketime").await?;
            lib = find().await?;
        }
        anyhow::ensure!(!lib.is_empty(), "no {} after installing faketime", faultline_nemeses::faketime::LIB_GLOB);
        Ok(lib)
    }))
    .await;
    let mut libs = Vec::new();
    for (n, lib) in nodes.iter_mut().zip(found) {
        let lib = lib.map_err(|e| anyhow::anyhow!("{}: libfaketime for the clock fault: {e:#}", n.name))?;
        n.env = faultline_nemeses::faketime::env(&lib);
        libs.push(lib);
    }
    libs.dedup();
    Ok(format!(
        "clock: the nodes share one kernel clock, so the database runs under libfaketime ({}) and each node's \
         offset is its own file {}",
        libs.join(", "),
        faultline_nemeses::faketime::FILE
    ))
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
    from_file: bool,
}

/// The faults a database's missing capabilities rule out (a recipe without `[primary]`, say),
/// with the reason. Built-in databases have every capability but promotion.
fn capability_gaps(db: &dyn Db) -> Vec<(Fault, String)> {
    let name = db.name();
    let gap = |need: DbCapability| -> Option<String> {
        match need {
            DbCapability::KillAndRestart => {
                db.process().is_none().then(|| format!("{name} cannot kill and restart a node"))
            }
            DbCapability::Pause => db.pause().is_none().then(|| format!("{name} cannot pause a node")),
            DbCapability::NamePrimaries => db
                .primary()
                .is_none()
                .then(|| format!("{name} cannot name its primaries{}", recipe_hint(db, "[primary] command"))),
            // A built-in database without promotion refuses failover itself, with its own reason.
            DbCapability::Promote => recipe_of(db)
                .filter(|_| !db.primary().is_some_and(|p| p.can_promote()))
                .map(|r| format!("{name} cannot promote a node ({r} has no primary.promote)")),
        }
    };
    Fault::ALL.into_iter().filter_map(|f| Some((f, gap(f.needs()?)?))).collect()
}

/// The recipe file `db` came from, if it is a recipe.
fn recipe_of(db: &dyn Db) -> Option<String> {
    faultline_dbs::recipe::loaded_recipe_file(db.name()).map(|p| p.display().to_string())
}

/// " (FILE has no FIELD)" for a recipe's missing field; nothing for a built-in database.
fn recipe_hint(db: &dyn Db, field: &str) -> String {
    recipe_of(db).map(|f| format!(" ({f} has no {field})")).unwrap_or_default()
}

/// The engine shared by the schedule loop and the final heal.
pub type SharedNemesis = Arc<tokio::sync::Mutex<Nemesis<SshControl>>>;

impl NemesisPlan {
    /// The nemesis part of the test plan, for the run with `seed` (no node is touched).
    pub fn new(plan: &TestPlan, seed: u64) -> NemesisPlan {
        let p = &plan.nemesis.packet;
        let options = NemesisOptions {
            targets: plan.nemesis.targets,
            loss: plan.nemesis.loss,
            delay: p.latency,
            jitter: p.jitter,
            distribution: p.distribution,
            duplicate: p.duplicate,
            reorder: p.reorder,
            corrupt: p.corrupt,
            bandwidth_bps: p.bandwidth_bps,
            ..NemesisOptions::default()
        };
        NemesisPlan {
            choice: plan.nemesis.choice.clone(),
            faults: Vec::new(),
            steps: plan.nemesis.schedule.as_ref().map(|(_, s)| s.clone()).unwrap_or_default(),
            options,
            seed,
            interval: plan.nemesis.interval,
            time_limit: plan.run.time_limit,
            from_file: plan.nemesis.schedule.is_some(),
        }
    }

    /// Decide the faults against what the cluster and the database support and draw the
    /// schedule.
    pub async fn resolve(&mut self, engine: &Nemesis<SshControl>, db: &dyn Db) -> Result<()> {
        // The database's own reasons first (they name the recipe's missing field).
        let mut unsupported = capability_gaps(db);
        for (f, why) in engine.unsupported_faults().await {
            if !unsupported.iter().any(|(g, _)| *g == f) {
                unsupported.push((f, why));
            }
        }
        if self.options.targets == Some(faultline_nemeses::Targets::Primaries) && db.primary().is_none() {
            return Err(bad_input(format!(
                "--nemesis-targets primaries: {} cannot name its primaries{}",
                db.name(),
                recipe_hint(db, "[primary] command")
            )));
        }
        if self.from_file {
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

    /// The faults the run may start, asked before they are resolved against the cluster.
    fn wanted(&self) -> Vec<Fault> {
        match (&self.choice, self.from_file) {
            (_, true) => self
                .steps
                .iter()
                .filter_map(|s| match &s.action {
                    Action::Start { fault, .. } => Some(*fault),
                    _ => None,
                })
                .collect(),
            (NemesisChoice::All, _) => Fault::ALL.to_vec(),
            (NemesisChoice::Faults(f), _) => f.clone(),
            (NemesisChoice::None, _) => Vec::new(),
        }
    }

    /// Whether the run may start the packet agent: a fault only it does, or `slow` (which uses it
    /// where the kernel has no netem).
    pub fn may_use_agent(&self) -> bool {
        self.wanted().iter().any(|f| f.needs_agent() || *f == Fault::Slow)
    }

    /// Whether the run may skew clocks (then, on a shared clock, the database starts under
    /// libfaketime).
    pub fn may_use_clock(&self) -> bool {
        self.wanted().contains(&Fault::Clock)
    }

    /// Tools the resolved faults need on every node (checked before the run starts).
    pub fn required_tools(&self) -> Vec<&'static str> {
        let mut tools = Vec::new();
        for f in &self.faults {
            let more = f.required_tools();
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
    stop: CancellationToken,
    active_fault: Arc<Mutex<String>>,
) -> Result<()> {
    let start = tokio::time::Instant::from_std(writer.start());
    for step in steps {
        tokio::select! {
            _ = tokio::time::sleep_until(start + step.at) => {}
            _ = stop.cancelled() => return Ok(()),
        }
        let mut engine = nemesis.lock().await;
        match &step.action {
            Action::Start { fault, .. } => {
                let f = Phase::Start.f(fault.name());
                record(&writer, f.clone(), json!({"fault": fault.name()}));
                let applying = crate::phase::Applying::start();
                let value = match engine.apply(&step.action).await {
                    Ok(v) => v,
                    Err(e) => json!({"fault": fault.name(), "verified": false, "reason": format!("{e:#}")}),
                };
                drop(applying);
                let applied = Applied::of(&value);
                if applied.verified == Some(false) {
                    tracing::warn!(
                        "nemesis: {} did not take effect: {}",
                        fault.name(),
                        applied.reason.unwrap_or_default()
                    );
                }
                record(&writer, f, value);
            }
            Action::Stop { fault } => {
                let f = Phase::Stop.f(fault.name());
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
        record(writer, Phase::Stop.f(f.name()), json!({"fault": f.name(), "by": "heal"}));
    }
    let report = engine.heal_all().await;
    let value = report.value();
    for f in &active {
        let mut v = value.clone();
        v["fault"] = json!(f.name());
        record(writer, Phase::Stop.f(f.name()), v);
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
