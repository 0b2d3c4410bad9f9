//! The runner: the phases of one test, in Jepsen's order.
//!
//! preflight -> database set-up on every node -> clients open -> workers drive clients while the
//! nemesis follows its schedule -> heal everything -> recovery wait -> final reads -> collect
//! node logs -> tear down -> checkers (on the history read back from the store) -> report ->
//! exit code. Whatever happens after the run directory exists (an error, Ctrl-C, SIGTERM, a
//! panic in a task), the nodes are healed and the history stays on disk.

use crate::exit::Exit;
use crate::nemesis_exec::{NemesisPlan, SharedNemesis, SshControl};
use crate::perform::perform;
use crate::plan::{RunFacts, TestPlan};
use crate::store::{HistoryWriter, RunDir, Store};
use anyhow::Result;
use faultline_checkers::{OpType, RunResults, Verdict};
use faultline_control::cluster::LocalCluster;
use faultline_control::targets::Targets;
use faultline_dbs::{Db, DbNode, DbOptions, PrimaryRoute};
use faultline_nemeses::engine::Nemesis;
use faultline_workloads::{Client, Generator, GeneratorOptions};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Run `--test-count` tests; the exit code is the worst verdict.
pub fn run_tests(plan: TestPlan) -> Result<Exit> {
    let session = Session::new()?;
    Ok(Exit::from_verdict(session.run(&plan)?))
}

/// The tokio runtime and the signal handling that several runs share (`--test-count`,
/// `faultline test-all`): from its start Ctrl-C and SIGTERM no longer kill the process; the
/// first asks the run to stop, heal and check what it has, a second cleans up in a hurry and
/// exits.
pub struct Session {
    rt: tokio::runtime::Runtime,
    shutdown: CancellationToken,
    emergency: Emergency,
}

impl Session {
    pub fn new() -> Result<Session> {
        let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
        let shutdown = CancellationToken::new();
        let emergency = Emergency::default();
        rt.spawn(watch_signals(shutdown.clone(), emergency.clone()));
        Ok(Session { rt, shutdown, emergency })
    }

    /// The plan's runs (`test_count` of them, seeds counting up), the worst verdict; stops
    /// early once interrupted.
    pub fn run(&self, plan: &TestPlan) -> Result<Verdict> {
        let mut worst = Verdict::Valid;
        for i in 0..plan.run.test_count {
            let seed = plan.run.seed.wrapping_add(i as u64);
            let verdict = self.rt.block_on(run_one(plan, seed, &self.shutdown, &self.emergency))?;
            worst = worst.max(verdict);
            if self.interrupted() {
                break;
            }
        }
        Ok(worst)
    }

    /// Whether Ctrl-C or SIGTERM asked everything to stop.
    pub fn interrupted(&self) -> bool {
        self.shutdown.is_cancelled()
    }
}

/// What a second Ctrl-C must still undo before the process exits: the nemesis's faults and the
/// database this run started. Set once the nodes are known.
#[derive(Clone, Default)]
struct Emergency(Arc<Mutex<Option<Armed>>>);

/// The control, the database and its nodes, and whether the database stays up after the run.
type Armed = (SshControl, &'static dyn Db, Vec<DbNode>, bool);

impl Emergency {
    fn arm(&self, control: SshControl, db: &'static dyn Db, nodes: Vec<DbNode>, leave_db_running: bool) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some((control, db, nodes, leave_db_running));
    }
    fn disarm(&self) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
    /// Heal and tear down, bounded in time (the user is waiting to get their terminal back).
    async fn run(&self) {
        let armed = self.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let Some((control, db, nodes, leave)) = armed else { return };
        let work = async {
            // The schedule loop may hold the engine mid-fault: heal by what is on the nodes, as
            // `faultline heal` does, not through the engine.
            let report = faultline_nemeses::heal::heal_nodes(&control).await;
            for line in report.fixed.iter().chain(&report.errors) {
                eprintln!("faultline: {line}");
            }
            for n in &nodes {
                if let Err(e) = faultline_dbs::lifecycle::resume_all(n).await {
                    eprintln!("faultline: {}: resuming the database: {e:#}", n.name);
                }
            }
            if !leave {
                if let Err(e) = db.teardown(&nodes).await {
                    eprintln!("faultline: stopping {} failed: {e:#}", db.name());
                }
            }
        };
        if tokio::time::timeout(Duration::from_secs(30), work).await.is_err() {
            eprintln!("faultline: the emergency clean-up took longer than 30 s");
        }
    }
}

/// Live counters for the progress line.
#[derive(Default)]
pub struct Stats {
    ok: AtomicU64,
    fail: AtomicU64,
    info: AtomicU64,
}

async fn run_one(plan: &TestPlan, seed: u64, shutdown: &CancellationToken, emergency: &Emergency) -> Result<Verdict> {
    let db = plan.db.adapter;
    crate::phase::enter(crate::phase::RunPhase::Preflight);
    // Faults the cluster cannot do are refused after preflight, before anything is injected.
    let mut nemesis_plan = NemesisPlan::new(plan, seed);

    // Where the nodes are.
    let Targets { specs, ssh: ssh_opts, root, control_addresses } = resolve_nodes(plan).await?;
    let clients = plan.run.concurrency.clients(specs.len());
    crate::store::say(&format!("seed {seed} ({} nodes, {clients} clients)", specs.len()));
    let node_names: Vec<String> = specs.iter().map(|s| s.name.clone()).collect();

    // Preflight: every node reachable, root, the tools the db and the faults need.
    let ssh_nodes = faultline_control::preflight::preflight(&specs, &ssh_opts, db.required_tools()).await?;
    let shared_clock = faultline_control::preflight::shared_clock(&ssh_nodes).await?;
    let mut nodes: Vec<DbNode> = ssh_nodes.iter().cloned().map(|ssh| DbNode::new(ssh, root.clone())).collect();
    if shared_clock && nemesis_plan.may_use_clock() && db.per_process_clock_refusal().is_none() {
        crate::store::say(&crate::nemesis_exec::prepare_faketime(&mut nodes).await?);
    }
    let route = PrimaryRoute::new(&nodes[0]);

    // The packet agent (and its probes) is this binary, on every node.
    let agent_binary = if nemesis_plan.may_use_agent() {
        Some(crate::nemesis_exec::install_agent(plan.run.target.local, &nodes).await?)
    } else {
        None
    };
    let control = SshControl::new(nodes.clone(), db, shared_clock, control_addresses, route.clone())
        .with_agent_binary(agent_binary);
    let nemesis: SharedNemesis =
        Arc::new(tokio::sync::Mutex::new(Nemesis::new(control.clone(), seed, nemesis_plan.options.clone())));
    nemesis_plan.resolve(&*nemesis.lock().await, db).await?;
    faultline_control::preflight::check_nodes(&ssh_nodes, &nemesis_plan.required_tools()).await?;

    let store = Store::new(&plan.store.dir);
    let run = store.create_run(&plan.name)?;
    run.capture_log()?;
    let record = plan.record(RunFacts { seed, nodes: node_names.clone(), clients, faults: &nemesis_plan.faults });
    run.write_json("test.json", &record)?;
    crate::store::say(&format!("run directory {}", run.path.display()));
    tracing::info!(seed, "test {} starting on {}", plan.name, node_names.join(","));
    emergency.arm(control.clone(), db, nodes.clone(), plan.db.leave_running);
    // Faults a killed run left on the nodes (its firewall rules, its qdiscs) would cut links this
    // run believes whole: remove them first, and say so. Its database processes are the set-up's.
    let stale = faultline_nemeses::heal::heal_nodes(&control).await;
    for line in &stale.fixed {
        crate::store::say(&format!("left by an earlier run: {line}"));
    }
    if !stale.errors.is_empty() {
        anyhow::bail!("faults left by an earlier run could not be removed: {}", stale.errors.join("; "));
    }
    // Packet faults: start the agent on every node now (idle until a fault writes its profile),
    // so a node where NFQUEUE does not work fails the run before it begins.
    if let Some(line) =
        nemesis.lock().await.start_agents(&nemesis_plan.faults).await.map_err(|e| anyhow::anyhow!("{e}"))?
    {
        crate::store::say(&line);
    }

    let cpu_at_start = process_cpu_seconds();
    let start = Instant::now();
    let sampler = crate::resources::Sampler::start(start);
    // A store that stops taking the history (disk full) stops the run like an interrupt.
    let writer = run.history_writer(start, Some(shutdown.clone()))?;

    // Everything from here on may fail; the heal, the teardown and the history must survive it.
    // The phases run in their own task so that a panic in them still reaches the heal below.
    let phases = {
        let ctx = Phases {
            plan: plan.clone(),
            seed,
            clients,
            nodes: nodes.clone(),
            route,
            nemesis_plan: nemesis_plan.clone(),
            nemesis: nemesis.clone(),
            writer: writer.clone(),
            shutdown: shutdown.clone(),
        };
        tokio::spawn(async move { ctx.run().await })
    };
    let outcome = match phases.await {
        Ok(r) => r,
        Err(e) => Err(anyhow::anyhow!("the run panicked: {e}")),
    };

    // Always healed, whatever happened above; then faultline's chains are removed.
    crate::phase::enter(crate::phase::RunPhase::Heal);
    let healed = crate::nemesis_exec::heal_everything(&nemesis, &writer).await;
    let removed = crate::nemesis_exec::teardown(&nemesis).await;
    tracing::info!("teardown: {}", removed.join("; "));
    match &healed {
        Ok(lines) if !lines.is_empty() => crate::store::say(&format!("healed: {}", lines.join("; "))),
        Ok(_) => {}
        Err(e) => crate::store::say(&format!("HEAL FAILED: {e:#} (run `faultline heal` to repair the nodes)")),
    }
    let history = writer.finish()?;
    tracing::info!(history.written, "history closed");
    let history_file = history.history_file(&run);
    let history_error = history.failure.as_ref().map(|failure| {
        let mut said = format!("{failure}; the history is in {}", history_file.display());
        if history.lost > 0 {
            said.push_str(&format!(" (its last {} events could be written nowhere)", history.lost));
        }
        crate::store::say(&said);
        anyhow::anyhow!("the store could not take the history: {said}")
    });
    crate::phase::enter(crate::phase::RunPhase::Teardown);
    collect_logs(db, &nodes, &run).await;

    // Whatever happened (no leader, an error in a fault, a panic), the database this run started
    // does not outlive it, unless asked to.
    if !plan.db.leave_running {
        if let Err(e) = db.teardown(&nodes).await {
            crate::store::say(&format!("teardown failed: {e:#}"));
        }
    }
    emergency.disarm();

    // Check what there is, even after an error or an interrupt.
    crate::phase::enter(crate::phase::RunPhase::Check);
    let outcome = match (outcome, history_error) {
        (Ok(()), Some(e)) => Err(e),
        (outcome, _) => outcome,
    };
    let (mut results, history) = crate::analyze::analyze_run(&run, &history_file, &record, outcome.as_ref().err())?;
    if let Err(e) = &healed {
        results.degrade(format!("the nodes could not be healed: {e:#}"));
    }
    // The harness's own CPU share over the run (set-up, clients, nemesis, heal), before checking.
    let wall = start.elapsed().as_secs_f64();
    results.stats.harness_cpu_cores = Some((process_cpu_seconds() - cpu_at_start) / wall.max(1e-9));
    results.stats.wall_s = Some(wall);
    results.stats.harness_samples = sampler.finish();
    // A full store must not cost the verdict: it is printed below whatever happens here.
    if let Err(e) = run.write_json("results.json", &results) {
        crate::store::say(&format!("results.json could not be written: {e:#}"));
    }
    let report = crate::analyze::write_report(&store, &run, history);
    let verdict = results.verdict;
    print_summary(plan, &history_file, &results, report.as_ref().ok());
    if let Err(e) = report {
        crate::store::say(&format!("the report could not be written: {e:#}"));
    }
    if let Err(e) = outcome {
        // The history is on disk and checked; the error itself still fails the command.
        return Err(e.context(format!("the run stopped early; its history is in {}", history_file.display())));
    }
    Ok(verdict)
}

/// The nodes of the run: the local cluster (built first when there is none) or `--nodes`.
async fn resolve_nodes(plan: &TestPlan) -> Result<Targets> {
    let cluster = if plan.run.target.local {
        let packages = plan.db.adapter.host_packages();
        Some(
            tokio::task::spawn_blocking(move || -> Result<LocalCluster> {
                let cluster = match faultline_control::cluster::load_local_cluster()? {
                    Some(c) if faultline_control::cluster::cluster_is_healthy(&c) => c,
                    _ => {
                        crate::store::say("no local cluster running; building one with 5 nodes");
                        faultline_control::cluster::ensure_local_cluster(5)?
                    }
                };
                // The local nodes share this machine's packages and have no route to a mirror.
                faultline_control::packages::ensure_host_packages(packages)?;
                Ok(cluster)
            })
            .await??,
        )
    } else {
        None
    };
    plan.run.target.resolve(cluster.as_ref(), "--nodes / --nodes-file named no nodes")
}

/// Everything the phases that touch the database need, owned (they run in their own task).
struct Phases {
    plan: TestPlan,
    seed: u64,
    clients: usize,
    nodes: Vec<DbNode>,
    route: PrimaryRoute,
    nemesis_plan: NemesisPlan,
    nemesis: SharedNemesis,
    writer: HistoryWriter,
    shutdown: CancellationToken,
}

impl Phases {
    /// The phases that touch the database. Any error returns early; the caller heals, tears down
    /// and checks.
    async fn run(self) -> Result<()> {
        let Phases { plan, seed, clients, nodes, route, nemesis_plan, nemesis, writer, shutdown } = self;
        let db = plan.db.adapter;
        crate::phase::enter(crate::phase::RunPhase::SetUp);
        crate::store::say(&format!("setting up {} on {} nodes", db.name(), nodes.len()));
        let db_opts = DbOptions { binary: plan.db.binary.clone(), sync_replication: plan.db.pg_sync };
        db.install(&nodes, &db_opts).await?;
        for line in faultline_dbs::lifecycle::setup(db, &nodes, &db_opts).await? {
            crate::store::say(&line);
        }

        let generator = Arc::new(faultline_workloads::registry::generator(
            plan.workload.kind,
            plan.workload.generator_options(seed, clients),
        ));
        let stats = Arc::new(Stats::default());
        // Cancelled at the time limit, or with the whole run by an interrupt.
        let stop = shutdown.child_token();
        let active_fault = Arc::new(Mutex::new(String::from("none")));

        // Workers: one task each, with its own client bound to one node (and, with
        // `--read-from`, one per node for the reads). Every client is made and opened before any
        // worker starts, so a failure here leaves no worker running.
        let leaders = if plan.db.read_from.needs_leader() {
            faultline_dbs::LeaderWatch::start(db, nodes.clone(), stop.clone()).await
        } else {
            faultline_dbs::LeaderWatch::default()
        };
        let mut workers_clients = Vec::with_capacity(clients);
        for w in 0..clients {
            let own = w % nodes.len();
            let mut client = if plan.db.read_from == faultline_dbs::ReadFrom::OwnNode {
                plan.make_client(w, &nodes[own], &nodes, &route)?
            } else {
                let mut per_node = Vec::with_capacity(nodes.len());
                for n in &nodes {
                    per_node.push((n.name.clone(), plan.make_client(w, n, &nodes, &route)?));
                }
                let draw_seed = seed ^ (w as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                Box::new(faultline_dbs::ReadRouted::new(per_node, own, plan.db.read_from, leaders.clone(), draw_seed))
            };
            client.open().await?;
            client.setup().await?;
            workers_clients.push((nodes[own].name.clone(), client));
        }
        let mut workers = Vec::new();
        for (w, (node, client)) in workers_clients.into_iter().enumerate() {
            workers.push(tokio::spawn(worker_loop(Worker {
                index: w,
                concurrency: clients,
                client,
                node,
                generator: generator.clone(),
                writer: writer.clone(),
                stats: stats.clone(),
                stop: stop.clone(),
                interval: per_worker_interval(plan.run.rate, clients),
                op_timeout: plan.db.op_timeout,
            })));
        }

        crate::phase::enter(crate::phase::RunPhase::Workload);
        // The nemesis follows its own schedule until the time limit.
        let nemesis_task = tokio::spawn(crate::nemesis_exec::run_schedule(
            nemesis.clone(),
            nemesis_plan.steps.clone(),
            writer.clone(),
            stop.clone(),
            active_fault.clone(),
        ));

        let progress =
            progress_loop(plan.run.time_limit, stats.clone(), writer.clone(), active_fault.clone(), stop.clone());
        tokio::select! {
            _ = tokio::time::sleep(plan.run.time_limit) => {}
            _ = shutdown.cancelled() => {}
            _ = progress => {}
        }
        stop.cancel();
        // Await every worker (their completions must reach the history before it closes), and
        // only then report a panic.
        let mut panicked = None;
        for w in workers {
            if let Err(e) = w.await {
                panicked = Some(e);
            }
        }
        eprintln!();
        match nemesis_task.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!("nemesis: {e:#}"),
            Err(e) => tracing::warn!("nemesis task panicked: {e}"),
        }
        if let Some(e) = panicked {
            anyhow::bail!("a client worker panicked: {e}");
        }

        // Heal now (not only at the end) so that recovery and final reads see a whole cluster.
        crate::phase::enter(crate::phase::RunPhase::Heal);
        crate::store::say("healing every node");
        let healed = crate::nemesis_exec::heal_everything(&nemesis, &writer).await?;
        if !healed.is_empty() {
            crate::store::say(&format!("healed: {}", healed.join("; ")));
        }
        if !shutdown.is_cancelled() {
            // Every node back in service (restarted, caught up) before the final reads.
            for line in db.recover(&nodes).await? {
                crate::store::say(&line);
            }
            crate::phase::enter(crate::phase::RunPhase::FinalReads);
            crate::final_reads::run(&plan, &nodes, &route, &generator, &writer).await?;
        }
        Ok(())
    }
}

/// Seconds between one worker's operations for a total rate across all workers.
fn per_worker_interval(rate: f64, workers: usize) -> Option<Duration> {
    // `validate` bounds the rate, so the interval always fits a Duration.
    (rate > 0.0).then(|| Duration::try_from_secs_f64(workers as f64 / rate).unwrap_or(Duration::MAX))
}

/// One worker: a client bound to one node, and where its operations come from and go.
struct Worker {
    index: usize,
    concurrency: usize,
    client: Box<dyn Client>,
    node: String,
    generator: Arc<Generator>,
    writer: HistoryWriter,
    stats: Arc<Stats>,
    stop: CancellationToken,
    interval: Option<Duration>,
    op_timeout: Duration,
}

async fn worker_loop(w: Worker) {
    let Worker { index, concurrency, mut client, node, generator, writer, stats, stop, interval, op_timeout } = w;
    // Jepsen's rule: a process whose op ended `info` may still have it in flight, so the worker
    // carries on as a fresh process.
    let mut process = index as u64;
    // Spread the workers' first ops over one interval, so a rate limit does not come in bursts.
    let mut next = tokio::time::Instant::now()
        + interval.map(|i| i.mul_f64(index as f64 / concurrency.max(1) as f64)).unwrap_or_default();
    loop {
        if stop.is_cancelled() {
            break;
        }
        if let Some(i) = interval {
            tokio::select! {
                _ = tokio::time::sleep_until(next) => {}
                _ = stop.cancelled() => break,
            }
            // After a slow op, start again from now rather than firing the missed slots at once.
            next = (next + i).max(tokio::time::Instant::now());
        }
        let Some(op) = generator.next(index) else { break };
        let completion = perform(client.as_mut(), &op, process, &node, &writer, op_timeout).await;
        match completion.kind {
            OpType::Ok => stats.ok.fetch_add(1, Ordering::Relaxed),
            OpType::Fail => stats.fail.fetch_add(1, Ordering::Relaxed),
            _ => stats.info.fetch_add(1, Ordering::Relaxed),
        };
        if completion.kind == OpType::Info {
            process += concurrency as u64;
        }
        if interval.is_none() {
            // Let other tasks (the nemesis, the progress line) run under full load.
            tokio::task::yield_now().await;
        }
    }
    if let Err(e) = client.teardown().await {
        tracing::warn!("worker {index}: client teardown: {e:#}");
    }
    client.close().await;
}

async fn progress_loop(
    limit: Duration,
    stats: Arc<Stats>,
    writer: HistoryWriter,
    active_fault: Arc<Mutex<String>>,
    stop: CancellationToken,
) {
    use std::io::IsTerminal;
    let tty = std::io::stderr().is_terminal();
    let bar = indicatif::ProgressBar::new_spinner();
    if !tty {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let start = writer.start();
    let mut last_ops = 0u64;
    let mut last_t = Instant::now();
    let mut last_plain = Instant::now();
    let mut rate = 0.0;
    while !stop.is_cancelled() {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let ok = stats.ok.load(Ordering::Relaxed);
        let fail = stats.fail.load(Ordering::Relaxed);
        let info = stats.info.load(Ordering::Relaxed);
        let total = ok + fail + info;
        let dt = last_t.elapsed().as_secs_f64();
        if dt >= 1.0 {
            rate = (total - last_ops) as f64 / dt;
            last_ops = total;
            last_t = Instant::now();
        }
        let fault = active_fault.lock().unwrap().clone();
        let line = format!(
            "{:>5.1}s/{}s  {:>7.0} ops/s  ok {ok}  fail {fail}  info {info}  fault: {fault}",
            start.elapsed().as_secs_f64(),
            limit.as_secs(),
            rate
        );
        if tty {
            bar.set_message(line);
            bar.tick();
        } else if last_plain.elapsed() >= Duration::from_secs(5) {
            eprintln!("{line}");
            last_plain = Instant::now();
        }
    }
    bar.finish_and_clear();
}

async fn watch_signals(shutdown: CancellationToken, emergency: Emergency) {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    let name = tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    };
    // The phase is named so that the user (and the reliability tests) know what was cut short.
    eprintln!(
        "\nfaultline: {name} during {}; stopping clients, healing, checking what there is",
        crate::phase::describe()
    );
    shutdown.cancel();
    // A second signal means "now": heal and stop the database in a hurry, then exit.
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    eprintln!("\nfaultline: second interrupt; healing the nodes and stopping the database, then exiting");
    emergency.run().await;
    eprintln!("faultline: run `faultline heal` if anything above says it was not healed");
    std::process::exit(crate::exit::Exit::Error.code());
}

/// Download every database log into `nodes/<node>/`. Failures are logged, not fatal.
async fn collect_logs(db: &dyn Db, nodes: &[DbNode], run: &RunDir) {
    for n in nodes {
        let Ok(dir) = run.node_dir(&n.name) else { continue };
        for remote in db.log_files(n) {
            let file = remote.rsplit('/').next().unwrap_or("db.log").to_string();
            if let Err(e) = n.ssh.download(&remote, &dir.join(&file)).await {
                tracing::warn!("could not collect {remote} from {}: {e:#}", n.name);
            }
        }
    }
}

fn print_summary(
    plan: &TestPlan,
    history: &std::path::Path,
    results: &RunResults,
    report: Option<&std::path::PathBuf>,
) {
    if plan.store.json {
        println!("{}", serde_json::to_string_pretty(results).unwrap_or_default());
        return;
    }
    println!("verdict: {}  {}", results.verdict.as_str().to_uppercase(), crate::term::text(&results.reason));
    // Why, in one line: the anomaly tied to its node and the faults active on it.
    let why =
        results.checkers.values().filter(|c| c.verdict == results.verdict).find_map(|c| c.details.get("explanation"));
    if let Some(why) = why.and_then(|w| w.as_str()) {
        println!("why:     {}", crate::term::text(why));
    }
    let st = &results.stats;
    let ms = |v: Option<f64>| v.map(|v| format!("{v:.1}")).unwrap_or_else(|| "-".into());
    println!(
        "ops:     {} at {:.0} ops/s; latency p50 {} ms, p95 {} ms, p99 {} ms, max {} ms; harness CPU {:.2} cores",
        st.ops,
        st.ops_per_s,
        ms(st.latency_ms.p50),
        ms(st.latency_ms.p95),
        ms(st.latency_ms.p99),
        ms(st.latency_ms.max),
        st.harness_cpu_cores.unwrap_or(0.0)
    );
    println!("history: {}", history.display());
    if let Some(r) = report {
        println!("report:  {}", r.display());
    }
}

/// `faultline bench-runner`: how fast the runner records operations when the database is not the
/// bottleneck (an in-memory register), i.e. the harness's own ceiling; with `client`, through one
/// `--client` subprocess per worker (the JSON-lines protocol's cost).
pub fn bench_runner(concurrency: usize, duration: Duration, client: Option<String>) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let dir = tempfile_dir()?;
    let store = Store::new(&dir);
    let run = store.create_run("bench-runner")?;
    let writer = run.history_writer(Instant::now(), None)?;
    // The in-memory double the benchmark drives is a register.
    let workload: &dyn faultline_workloads::Workload = &faultline_workloads::register::Register;
    let generator = Arc::new(faultline_workloads::registry::generator(
        workload,
        GeneratorOptions { seed: 1, concurrency, ..GeneratorOptions::default() },
    ));
    let stats = Arc::new(Stats::default());
    let stop = CancellationToken::new();
    let (started, cpu_before) = rt.block_on(async {
        let shared = faultline_workloads::InMemoryClient::new(workload.shape());
        let mut clients: Vec<Box<dyn Client>> = Vec::new();
        for w in 0..concurrency {
            clients.push(match &client {
                None => Box::new(shared.clone()),
                Some(cmd) => {
                    use faultline_dbs::process_client::{ClientCommand, OpenInfo, ProcessClient};
                    let open = OpenInfo {
                        node: format!("n{}", w % 5 + 1),
                        address: "127.0.0.1".into(),
                        worker: w,
                        workload: workload.name().into(),
                        nodes: Vec::new(),
                        options: serde_json::json!({ "timeout_ms": 5000 }),
                    };
                    let mut c = ProcessClient::new(ClientCommand(cmd.clone()), open, Duration::from_secs(5));
                    c.open().await?;
                    Box::new(c)
                }
            });
        }
        // Measured from here: starting the subprocesses is not the protocol's cost.
        let (started, cpu_before) = (Instant::now(), process_cpu_seconds());
        let mut tasks = Vec::new();
        for (w, client) in clients.into_iter().enumerate() {
            tasks.push(tokio::spawn(worker_loop(Worker {
                index: w,
                concurrency,
                client,
                node: format!("n{}", w % 5 + 1),
                generator: generator.clone(),
                writer: writer.clone(),
                stats: stats.clone(),
                stop: stop.clone(),
                interval: None,
                op_timeout: Duration::from_secs(5),
            })));
        }
        tokio::time::sleep(duration).await;
        stop.cancel();
        for t in tasks {
            let _ = t.await;
        }
        anyhow::Ok((started, cpu_before))
    })?;
    let events = writer.finish()?.written;
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = process_cpu_seconds() - cpu_before;
    let ops =
        stats.ok.load(Ordering::Relaxed) + stats.fail.load(Ordering::Relaxed) + stats.info.load(Ordering::Relaxed);
    let size = std::fs::metadata(run.history_jsonl()).map(|m| m.len()).unwrap_or(0);
    let through = client.map_or("in-memory register".to_string(), |c| format!("--client {c:?}"));
    println!("runner benchmark: {through}, concurrency {concurrency}, {elapsed:.1} s");
    println!("  operations completed   {ops}");
    println!("  throughput             {:.0} ops/s", ops as f64 / elapsed);
    println!("  history events written {events} ({:.1} MB)", size as f64 / 1e6);
    println!("  harness CPU            {:.2} cores", cpu / elapsed);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn tempfile_dir() -> Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("faultline-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// User + system CPU seconds of this process so far (for the harness's own CPU share).
pub fn process_cpu_seconds() -> f64 {
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes into the struct we own.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    t(usage.ru_utime) + t(usage.ru_stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_interval_spreads_total_rate() {
        assert_eq!(per_worker_interval(200.0, 10), Some(Duration::from_millis(50)));
        assert_eq!(per_worker_interval(0.0, 10), None);
    }
}
