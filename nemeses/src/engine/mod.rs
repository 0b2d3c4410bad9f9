//! The nemesis engine: applies and stops faults on a cluster through `Control`, tracks exactly what
//! it applied, verifies partitions with probes, and heals everything.
//!
//! Every `start`/`stop` returns a JSON value for the completion of the nemesis op in the history
//! (see `faultline_checkers::faults`): `fault`, `targets`, what was applied (`grudge`, `loss`,
//! `delay_ms`, `offsets_ms`, ...), `verified` (+ `reason` when false), the probe matrix and timings.
//! A fault that did not take effect is reported as `verified: false` rather than as an error; errors
//! are kept for requests that make no sense (starting an applied fault, clock on a shared clock).
//!
//! This module holds what every fault shares (targets, the iptables chain and its rules, what is
//! applied, stop, heal, teardown); each fault family starts and undoes its faults in a module of
//! its own: `partition` (partitions and failover), `packet` (flaky, slow through netem), `queued`
//! (the packet agent: slow without netem, duplicate, reorder, corrupt, bandwidth), `process`
//! (kill, pause), `clock`.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use crate::agent::{Distribution, LinkProfile};
use crate::control::{join_all, Control, Task};
use crate::fault::{Family, Fault, Targets, DEFAULT_LOSS};
use crate::grudge::{self, Grudge};
use crate::netem;
use crate::probe::{probe_all, ProbeMatrix};
use crate::render;
use crate::schedule::Action;

mod clock;
mod packet;
mod partition;
mod process;
mod queued;

/// Knobs of the faults.
#[derive(Debug, Clone)]
pub struct NemesisOptions {
    /// `--nemesis-targets`; `None` = each fault's default (one for kill/pause, all otherwise).
    pub targets: Option<Targets>,
    /// Packet-loss probability of `flaky`.
    pub loss: f64,
    /// Mean delay and jitter of `slow`.
    pub delay: Duration,
    pub jitter: Duration,
    /// How the jitter of `slow` is drawn (packet agent; netem uses its own normal shape).
    pub distribution: Distribution,
    /// Probabilities of `duplicate`, `reorder`, `corrupt`.
    pub duplicate: f64,
    pub reorder: f64,
    /// How much longer `reorder` holds a packet back.
    pub reorder_gap: Duration,
    pub corrupt: f64,
    /// Rate limit of `bandwidth`, bits per second.
    pub bandwidth_bps: u64,
    /// Largest clock bump of `clock` (each target gets a seeded offset of 100 ms ..= this, either sign).
    pub clock_max_offset: Duration,
    /// Seconds a probe's TCP connect may take before the link counts as cut.
    pub probe_timeout_s: u32,
    /// Probe partitions after applying and healing them.
    pub verify: bool,
}

impl Default for NemesisOptions {
    fn default() -> Self {
        NemesisOptions {
            targets: None,
            loss: DEFAULT_LOSS,
            delay: Duration::from_millis(50),
            jitter: Duration::from_millis(10),
            distribution: Distribution::Normal,
            duplicate: 0.1,
            reorder: 0.2,
            reorder_gap: Duration::from_millis(10),
            corrupt: 0.05,
            bandwidth_bps: 1_000_000,
            clock_max_offset: Duration::from_secs(30),
            probe_timeout_s: 1,
            verify: true,
        }
    }
}

/// One iptables rule faultline added.
#[derive(Debug, Clone, PartialEq)]
struct Rule {
    node: String,
    bin: &'static str,
    spec: Vec<String>,
}

/// Per node: the (node, binary) chains made ready, the rules added, the errors.
type NodeRulesOutcome = (Vec<(String, &'static str)>, Vec<Rule>, Vec<String>);
/// A (node, network device) pair.
type NodeDev = (String, String);
/// What undoing a fault did: lines done, errors, and what is still applied.
type Undone = (Vec<String>, Vec<String>, Option<Applied>);

/// What an applied fault changed, so stopping and healing undo exactly that.
#[derive(Debug, Clone)]
enum Applied {
    /// Partitions and flaky links: the rules added (and the grudge for partitions).
    Rules {
        grudge: Option<Grudge>,
        rules: Vec<Rule>,
    },
    /// `slow`: (node, device) pairs that got faultline's root qdisc.
    Qdiscs(Vec<(String, String)>),
    Killed(Vec<String>),
    Paused(Vec<String>),
    /// node -> net offset in milliseconds; and each node's offset from the control node's clock
    /// measured before the bump, to verify the stop against.
    Clock {
        offsets: BTreeMap<String, i64>,
        baseline: BTreeMap<String, f64>,
    },
    /// Packet agent faults: node -> what its agent does to the packets it sends to every other
    /// node; and the RTTs measured before (`slow`), to verify the heal against.
    Agent {
        profiles: BTreeMap<String, LinkProfile>,
        baseline_rtt: Vec<(String, String, f64)>,
    },
    /// The old primary cut off by `rules` (grudge), and the replica promoted in its place.
    Failover {
        grudge: Grudge,
        rules: Vec<Rule>,
        old_primary: String,
        new_primary: String,
    },
}

/// What `heal_all` did.
#[derive(Debug, Clone, Default)]
pub struct HealReport {
    /// One human-readable line per thing healed (empty when nothing needed healing).
    pub lines: Vec<String>,
    /// Things that could not be healed (they stay tracked and are retried by the next heal).
    pub errors: Vec<String>,
    /// Probes after the heal (None when verification is off).
    pub probes: Option<ProbeMatrix>,
    pub heal_ms: u64,
    pub verify_ms: u64,
}

impl HealReport {
    /// Healed without errors and, when probed, every link is back.
    pub fn verified(&self) -> bool {
        self.errors.is_empty() && self.probes.as_ref().is_none_or(|p| p.agrees())
    }

    /// The value for the completion of a `heal` nemesis op.
    pub fn value(&self) -> Value {
        let mut v = json!({
            "fault": "all",
            "healed": self.lines,
            "verified": self.verified(),
            "heal_ms": self.heal_ms,
        });
        if let Some(p) = &self.probes {
            v["probes"] = p.matrix_json();
            v["verify_ms"] = json!(self.verify_ms);
        }
        if !self.verified() {
            let mut why: Vec<String> = self.errors.clone();
            if let Some(p) = &self.probes {
                why.extend(p.mismatches.iter().map(|m| format!("after heal {m}")));
            }
            v["reason"] = json!(why.join("; "));
        }
        v
    }
}

fn ms(d: Duration) -> u64 {
    d.as_millis() as u64
}

/// The nemesis for one run, generic over how it reaches the nodes.
pub struct Nemesis<C: Control> {
    ctl: C,
    opts: NemesisOptions,
    rng: ChaCha8Rng,
    nodes: Vec<String>,
    /// (node, iptables binary) pairs whose chain and jumps are in place.
    prepared: BTreeSet<(String, &'static str)>,
    applied: BTreeMap<Fault, Applied>,
    /// Nodes whose packet agent this engine started and has not stopped.
    agent_nodes: BTreeSet<String>,
    /// The NFQUEUE rules feeding the agents, by node.
    agent_rules: BTreeMap<String, Vec<Rule>>,
    /// Whether `slow` uses the agent (no netem on some node), once a start has found out.
    slow_by_agent: Option<bool>,
}

impl<C: Control> Nemesis<C> {
    pub fn new(ctl: C, seed: u64, opts: NemesisOptions) -> Self {
        let nodes = ctl.nodes();
        Nemesis {
            ctl,
            opts,
            rng: ChaCha8Rng::seed_from_u64(seed),
            nodes,
            prepared: BTreeSet::new(),
            applied: BTreeMap::new(),
            agent_nodes: BTreeSet::new(),
            agent_rules: BTreeMap::new(),
            slow_by_agent: None,
        }
    }

    pub fn control(&self) -> &C {
        &self.ctl
    }

    /// The faults currently applied.
    pub fn active(&self) -> Vec<Fault> {
        self.applied.keys().copied().collect()
    }

    /// The faults this cluster cannot do, each with the reason (for `--nemesis all` and preflight).
    /// Probes each node's kernel for `slow` (read-only).
    pub async fn unsupported_faults(&self) -> Vec<(Fault, String)> {
        let mut out = Vec::new();
        let n = self.nodes.len();
        for f in Fault::ALL.into_iter().filter(|f| f.is_partition()) {
            let min = if matches!(f, Fault::PartitionRing | Fault::PartitionBridge) { 3 } else { 2 };
            if n < min {
                out.push((f, format!("needs at least {min} nodes; the cluster has {n}")));
            }
        }
        if self.ctl.shared_clock() && self.ctl.per_process_clock_refusal().is_some() {
            out.push((Fault::Clock, self.shared_clock_refusal()));
        }
        let agent = self.ctl.agent_binary().is_some();
        if !agent {
            for f in Fault::ALL.into_iter().filter(|f| f.needs_agent()) {
                out.push((
                    f,
                    "needs the packet agent (the faultline binary on the nodes), which this cluster has not".into(),
                ));
            }
        }
        if !self.ctl.supports_failover() {
            out.push((
                Fault::Failover,
                "the database elects its own leader (failover is for primary/replica databases such as redis)".into(),
            ));
        } else if n < 2 {
            out.push((Fault::Failover, format!("needs at least 2 nodes; the cluster has {n}")));
        }
        // Nodes usually share a kernel: say each distinct problem once, naming all its nodes.
        const NODE: &str = "\u{0}";
        let tasks: Vec<Task<'_, Result<(), String>>> = self
            .nodes
            .iter()
            .map(|node| {
                let t: Task<'_, _> = Box::pin(async move {
                    match self.ctl.run(node, netem::probe_argv()).await {
                        Ok(o) => netem::interpret_probe(NODE, &o.stdout),
                        Err(e) => Err(format!("cannot probe {NODE} for netem: {e:#}")),
                    }
                });
                t
            })
            .collect();
        let mut problems: Vec<(String, Vec<&String>)> = Vec::new();
        for (node, r) in self.nodes.iter().zip(join_all(tasks).await) {
            if let Err(template) = r {
                match problems.iter_mut().find(|(t, _)| *t == template) {
                    Some((_, nodes)) => nodes.push(node),
                    None => problems.push((template, vec![node])),
                }
            }
        }
        if !problems.is_empty() && !agent {
            let lines: Vec<String> = problems
                .iter()
                .map(|(t, nodes)| t.replace(NODE, &nodes.iter().map(|n| n.as_str()).collect::<Vec<_>>().join(", ")))
                .collect();
            out.push((Fault::Slow, lines.join("; ")));
        }
        out
    }

    /// Why `clock` is refused on a shared clock: why a per-process clock does not help either.
    fn shared_clock_refusal(&self) -> String {
        let why = self.ctl.per_process_clock_refusal().unwrap_or_default();
        format!("{}; nor can the database get a clock of its own with libfaketime: {why}", clock_refusal())
    }

    /// Run one schedule step. `Start` and `Stop` return the op value; `HealAll` returns the heal
    /// report's value.
    pub async fn apply(&mut self, action: &Action) -> anyhow::Result<Value> {
        match action {
            Action::Start { fault, targets, nodes, grudge } => {
                self.start(*fault, *targets, nodes.clone(), grudge.clone()).await
            }
            Action::Stop { fault } => self.stop(*fault).await,
            Action::HealAll => Ok(self.heal_all().await.value()),
        }
    }

    fn check_nodes(&self, what: &str, nodes: &[String]) -> anyhow::Result<()> {
        for n in nodes {
            if !self.nodes.contains(n) {
                anyhow::bail!("{what} names '{n}', which is not a node of this cluster ({})", self.nodes.join(", "));
            }
        }
        Ok(())
    }

    async fn choose_targets(
        &mut self,
        fault: Fault,
        targets: Option<Targets>,
        pinned: Option<Vec<String>>,
    ) -> anyhow::Result<Vec<String>> {
        if let Some(nodes) = pinned {
            self.check_nodes(&format!("{fault} nodes"), &nodes)?;
            return Ok(nodes);
        }
        let targets = targets.or(self.opts.targets).unwrap_or(fault.default_targets());
        let primaries = if targets == Targets::Primaries { self.ctl.primaries().await? } else { Vec::new() };
        targets.choose(&self.nodes, &primaries, &mut self.rng).map_err(|e| anyhow::anyhow!("{fault}: {e}"))
    }

    /// Apply `fault`. `targets`/`nodes` choose the nodes for kill, pause, clock, flaky and slow;
    /// `grudge` pins a partition (otherwise it is drawn from the seeded rng).
    pub async fn start(
        &mut self,
        fault: Fault,
        targets: Option<Targets>,
        nodes: Option<Vec<String>>,
        grudge: Option<Grudge>,
    ) -> anyhow::Result<Value> {
        if self.applied.contains_key(&fault) {
            anyhow::bail!("{fault} is already applied; stop it before starting it again");
        }
        let began = Instant::now();
        let mut value = match fault.family() {
            Family::Partition => {
                let grudge = match grudge {
                    Some(g) => {
                        let mut named: Vec<String> = g.keys().cloned().collect();
                        named.extend(g.values().flatten().cloned());
                        self.check_nodes(&format!("{fault} grudge"), &named)?;
                        if let Some((k, _)) = g.iter().find(|(k, v)| v.contains(*k)) {
                            anyhow::bail!("{fault} grudge: {k} cannot drop its own packets");
                        }
                        g
                    }
                    None if fault == Fault::PartitionLeader => {
                        let primaries = self.ctl.primaries().await?;
                        grudge::partition_primaries(&self.nodes, &primaries).map_err(anyhow::Error::msg)?
                    }
                    None => grudge::topology(fault, &self.nodes, &mut self.rng).map_err(anyhow::Error::msg)?,
                };
                self.start_partition(fault, grudge).await?
            }
            Family::Flaky => {
                let targets = self.choose_targets(fault, targets, nodes).await?;
                self.start_flaky(targets).await?
            }
            Family::Slow => {
                let targets = self.choose_targets(fault, targets, nodes).await?;
                if self.slow_uses_agent().await {
                    self.start_queued(fault, targets).await
                } else {
                    let mut v = self.start_slow(targets).await;
                    v["mechanism"] = json!("netem");
                    v
                }
            }
            Family::Packet => {
                let targets = self.choose_targets(fault, targets, nodes).await?;
                self.start_queued(fault, targets).await
            }
            Family::Process => {
                let targets = self.choose_targets(fault, targets, nodes).await?;
                self.start_process(fault, targets).await
            }
            Family::Clock => {
                if self.ctl.shared_clock() && self.ctl.per_process_clock_refusal().is_some() {
                    anyhow::bail!("{}", self.shared_clock_refusal());
                }
                let targets = self.choose_targets(fault, targets, nodes).await?;
                self.start_clock(targets).await
            }
            Family::Failover => self.start_failover().await?,
        };
        value["fault"] = json!(fault.name());
        if value.get("apply_ms").is_none() {
            value["apply_ms"] = json!(ms(began.elapsed()));
        }
        Ok(value)
    }

    /// Make sure `node` has the FAULTLINE chain in `bin` and INPUT/OUTPUT jump to it (idempotent:
    /// `-C` before `-I`).
    async fn ensure_chain(ctl: &C, node: &str, bin: &'static str) -> Result<(), String> {
        let fail = |what: &str, o: anyhow::Result<crate::control::Output>| -> Result<crate::control::Output, String> {
            match o {
                Ok(o) => Ok(o),
                Err(e) => Err(format!("{node}: {what}: {e:#}")),
            }
        };
        let listed = fail("list chain", ctl.run(node, render::list_chain(bin)).await)?;
        if !listed.ok() {
            let created = fail("create chain", ctl.run(node, render::create_chain(bin)).await)?;
            if !created.ok() && !created.stderr.contains("already exists") {
                return Err(format!(
                    "{node}: `{}` failed: {}",
                    render::create_chain(bin).join(" "),
                    created.stderr.trim()
                ));
            }
        }
        for builtin in ["INPUT", "OUTPUT"] {
            let present = fail("check jump", ctl.run(node, render::check_jump(bin, builtin)).await)?;
            if !present.ok() {
                let argv = render::insert_jump(bin, builtin);
                let inserted = fail("insert jump", ctl.run(node, argv.clone()).await)?;
                if !inserted.ok() {
                    return Err(format!("{node}: `{}` failed: {}", argv.join(" "), inserted.stderr.trim()));
                }
            }
        }
        Ok(())
    }

    /// Add `rules` (grouped by node; nodes in parallel). Returns the rules that were added and the
    /// errors of those that were not.
    async fn add_rules(&mut self, rules: Vec<Rule>) -> (Vec<Rule>, Vec<String>) {
        let mut by_node: BTreeMap<String, Vec<Rule>> = BTreeMap::new();
        for r in rules {
            by_node.entry(r.node.clone()).or_default().push(r);
        }
        let ctl = &self.ctl;
        let prepared = &self.prepared;
        let tasks: Vec<Task<'_, NodeRulesOutcome>> = by_node
            .into_iter()
            .map(|(node, rules)| {
                let t: Task<'_, _> = Box::pin(async move {
                    let (mut ready, mut added, mut errors) = (Vec::new(), Vec::new(), Vec::new());
                    let bins: BTreeSet<&'static str> = rules.iter().map(|r| r.bin).collect();
                    for bin in bins {
                        if prepared.contains(&(node.clone(), bin)) {
                            continue;
                        }
                        match Self::ensure_chain(ctl, &node, bin).await {
                            Ok(()) => ready.push((node.clone(), bin)),
                            Err(e) => errors.push(e),
                        }
                    }
                    if !errors.is_empty() {
                        return (ready, added, errors);
                    }
                    for rule in rules {
                        let argv = render::append_rule(rule.bin, &rule.spec);
                        match ctl.run(&node, argv.clone()).await {
                            Ok(o) if o.ok() => added.push(rule),
                            Ok(o) => errors.push(format!("{node}: `{}` failed: {}", argv.join(" "), o.stderr.trim())),
                            Err(e) => errors.push(format!("{node}: `{}`: {e:#}", argv.join(" "))),
                        }
                    }
                    (ready, added, errors)
                });
                t
            })
            .collect();
        let (mut added, mut errors) = (Vec::new(), Vec::new());
        for (ready, a, e) in join_all(tasks).await {
            self.prepared.extend(ready);
            added.extend(a);
            errors.extend(e);
        }
        (added, errors)
    }

    /// Delete `rules` one instance each. Returns the rules that could not be deleted, with errors.
    async fn delete_rules(&self, rules: Vec<Rule>) -> (Vec<Rule>, Vec<String>) {
        let ctl = &self.ctl;
        let tasks: Vec<Task<'_, Result<(), (Rule, String)>>> = rules
            .into_iter()
            .map(|rule| {
                let t: Task<'_, _> = Box::pin(async move {
                    let argv = render::delete_rule(rule.bin, &rule.spec);
                    match ctl.run(&rule.node, argv.clone()).await {
                        Ok(o) if o.ok() => Ok(()),
                        // Already gone (a heal flushed it): nothing left to undo.
                        Ok(o) if o.stderr.contains("does a matching rule exist") || o.stderr.contains("No chain") => {
                            Ok(())
                        }
                        Ok(o) => {
                            let e = format!("{}: `{}` failed: {}", rule.node, argv.join(" "), o.stderr.trim());
                            Err((rule, e))
                        }
                        Err(e) => {
                            let e = format!("{}: `{}`: {e:#}", rule.node, argv.join(" "));
                            Err((rule, e))
                        }
                    }
                });
                t
            })
            .collect();
        let (mut kept, mut errors) = (Vec::new(), Vec::new());
        for r in join_all(tasks).await {
            if let Err((rule, e)) = r {
                kept.push(rule);
                errors.push(e);
            }
        }
        (kept, errors)
    }

    fn rule_address(&self, node: &str) -> anyhow::Result<String> {
        let addr = self.ctl.address(node);
        render::check_rule_address(&addr, &self.ctl.control_addresses()).map_err(|e| anyhow::anyhow!("{node}: {e}"))?;
        Ok(addr)
    }

    /// The grudges of every applied partition, for expectations.
    fn active_grudges(&self) -> Vec<&Grudge> {
        self.applied
            .values()
            .filter_map(|a| match a {
                Applied::Rules { grudge: Some(g), .. } => Some(g),
                Applied::Failover { grudge, .. } => Some(grudge),
                _ => None,
            })
            .collect()
    }

    async fn probe_expected(&self) -> ProbeMatrix {
        let grudges = self.active_grudges();
        let expect = |from: &str, to: &str| grudge::tcp_reachable(&grudges, from, to);
        probe_all(&self.ctl, &self.nodes, self.opts.probe_timeout_s, &expect).await
    }
    /// Undo what `applied` changed: (lines done, errors, what is still applied).
    async fn undo(&self, fault: Fault, applied: Applied) -> Undone {
        match applied {
            Applied::Rules { grudge, rules } => self.undo_rules(fault, grudge, rules).await,
            Applied::Failover { grudge, rules, old_primary, new_primary } => {
                self.undo_failover(grudge, rules, old_primary, new_primary).await
            }
            Applied::Qdiscs(pairs) => self.undo_qdiscs(pairs).await,
            Applied::Killed(nodes) | Applied::Paused(nodes) => self.undo_process(fault, nodes).await,
            Applied::Clock { offsets, baseline } => self.undo_clock(offsets, baseline).await,
            // The agents serve every packet fault at once: `reconcile_agents` undoes these.
            Applied::Agent { .. } => (Vec::new(), Vec::new(), None),
        }
    }

    /// Remove `fault`. For partitions, probes that the links it cut are back (links other applied
    /// partitions still cut are expected to stay cut).
    pub async fn stop(&mut self, fault: Fault) -> anyhow::Result<Value> {
        let Some(applied) = self.applied.remove(&fault) else {
            anyhow::bail!("{fault} is not applied, so it cannot be stopped");
        };
        let began = Instant::now();
        let baseline = match &applied {
            Applied::Agent { baseline_rtt, profiles } => Some((baseline_rtt.clone(), profiles.clone())),
            _ => None,
        };
        let clock_baseline = match &applied {
            Applied::Clock { baseline, .. } => baseline.clone(),
            _ => BTreeMap::new(),
        };
        let (mut lines, mut errors, left) = self.undo(fault, applied).await;
        if let Some(left) = left {
            // Keep what could not be undone so heal_all retries it.
            self.applied.insert(fault, left);
        }
        if baseline.is_some() {
            let (l, e) = self.reconcile_agents().await;
            lines.extend(l);
            errors.extend(e);
        }
        let mut value = json!({ "fault": fault.name(), "healed": lines, "heal_ms": ms(began.elapsed()) });
        let mut reasons = errors;
        if let Some((baseline, removed)) = baseline.filter(|(b, _)| !b.is_empty() && self.opts.verify) {
            let t = Instant::now();
            let (measured, problems) = self.verify_rtt_restored(&baseline, &removed).await;
            value["verify_ms"] = json!(ms(t.elapsed()));
            value["measured"] = measured;
            reasons.extend(problems);
        }
        if !clock_baseline.is_empty() && self.opts.verify {
            let t = Instant::now();
            let (measured, problems) = self.verify_clock_restored(&clock_baseline).await;
            value["verify_ms"] = json!(ms(t.elapsed()));
            value["measured"] = measured;
            reasons.extend(problems);
        }
        if fault.is_partition() && self.opts.verify {
            let t = Instant::now();
            let probes = self.probe_expected().await;
            value["verify_ms"] = json!(ms(t.elapsed()));
            value["probes"] = probes.matrix_json();
            reasons.extend(probes.mismatches.iter().map(|m| format!("after stop {m}")));
        }
        value["verified"] = json!(reasons.is_empty());
        if !reasons.is_empty() {
            value["reason"] = json!(format!("{fault} was not fully removed: {}", reasons.join("; ")));
        }
        Ok(value)
    }

    /// Heal everything: flush FAULTLINE on every node (also rules faultline did not track), remove
    /// the netem qdiscs it added, SIGCONT paused and restart killed databases, undo clock offsets;
    /// then probe that every link is back. Exact (only what was applied is undone) and idempotent (a
    /// second call finds nothing to do).
    pub async fn heal_all(&mut self) -> HealReport {
        let began = Instant::now();
        let mut report = HealReport::default();
        let (lines, errors) = self.on_every_chain(crate::heal::flush_rules).await;
        report.lines.extend(lines);
        let flush_failed = !errors.is_empty();
        report.errors.extend(errors);
        // Rules are gone with the flush (unless it failed somewhere: then keep them tracked).
        if !flush_failed {
            self.agent_rules.clear();
        }
        let applied = std::mem::take(&mut self.applied);
        for (fault, a) in applied {
            match a {
                Applied::Rules { .. } if !flush_failed => {}
                Applied::Failover { grudge, old_primary, new_primary, .. } if !flush_failed => {
                    let emptied = Applied::Failover { grudge, rules: Vec::new(), old_primary, new_primary };
                    let (lines, errors, _) = self.undo(fault, emptied).await;
                    report.lines.extend(lines);
                    report.errors.extend(errors);
                }
                other => {
                    let (lines, errors, left) = self.undo(fault, other).await;
                    report.lines.extend(lines);
                    report.errors.extend(errors);
                    if let Some(left) = left {
                        self.applied.insert(fault, left);
                    }
                }
            }
        }
        // No packet fault is left: the agents' rules go and the agents stop.
        let (lines, errors) = self.reconcile_agents().await;
        report.lines.extend(lines);
        report.errors.extend(errors);
        report.heal_ms = ms(began.elapsed());
        if self.opts.verify {
            let t = Instant::now();
            report.probes = Some(self.probe_expected().await);
            report.verify_ms = ms(t.elapsed());
        }
        report
    }

    /// The iptables binaries for the address families of the nodes.
    fn families(&self) -> Vec<&'static str> {
        let mut bins: Vec<&'static str> =
            self.nodes.iter().map(|n| render::iptables_for(&self.ctl.address(n))).collect();
        bins.sort();
        bins.dedup();
        bins
    }

    /// Run `action` on the FAULTLINE chain of every address family of every node (nodes in
    /// parallel); returns what it did and what failed.
    async fn on_every_chain<'a, F, Fut>(&'a self, action: F) -> (Vec<String>, Vec<String>)
    where
        F: Fn(&'a C, &'a str, &'static str) -> Fut + Copy + Send + 'a,
        Fut: std::future::Future<Output = Result<Option<String>, String>> + Send + 'a,
    {
        let bins = self.families();
        let tasks: Vec<Task<'a, (Vec<String>, Vec<String>)>> = self
            .nodes
            .iter()
            .map(|node| {
                let bins = bins.clone();
                Box::pin(async move {
                    let (mut lines, mut errors) = (Vec::new(), Vec::new());
                    for bin in bins {
                        match action(&self.ctl, node, bin).await {
                            Ok(Some(line)) => lines.push(line),
                            Ok(None) => {}
                            Err(e) => errors.push(e),
                        }
                    }
                    (lines, errors)
                }) as Task<'a, _>
            })
            .collect();
        let (mut lines, mut errors) = (Vec::new(), Vec::new());
        for (l, e) in join_all(tasks).await {
            lines.extend(l);
            errors.extend(e);
        }
        (lines, errors)
    }

    /// Heal, then remove the jumps and the FAULTLINE chain from every node (end of run).
    pub async fn teardown(&mut self) -> HealReport {
        let mut report = self.heal_all().await;
        let (lines, errors) = self.on_every_chain(crate::heal::remove_chain).await;
        report.lines.extend(lines);
        report.errors.extend(errors);
        self.prepared.clear();
        report
    }
}

/// Why `clock` is refused on a cluster whose nodes share one clock.
pub fn clock_refusal() -> String {
    "the clock fault is refused here: the nodes share one kernel clock (the local cluster's nodes are namespaces \
     of this machine), so bumping one node's clock would bump every node's and the control node's; run clock \
     faults against real hosts, or on a database that runs under libfaketime (postgres)"
        .into()
}
