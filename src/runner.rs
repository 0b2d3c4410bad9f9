//! The runner: the phases of one test, in Jepsen's order.
//!
//! preflight -> database set-up on every node -> clients open -> workers drive clients while the
//! nemesis follows its schedule -> heal everything -> recovery wait -> final reads -> collect
//! node logs -> tear down -> checkers (on the history read back from the store) -> report ->
//! exit code. Whatever happens after the run directory exists (an error, Ctrl-C, SIGTERM, a
//! panic in a task), the nodes are healed and the history stays on disk.

use crate::db::{self, DbKind, DbNode, DbOptions};
use crate::exit::{bad_input, Exit};
use crate::nemesis_exec::{NemesisPlan, SharedNemesis, SshControl};
use crate::store::{Event, HistoryWriter, RunDir, Store};
use crate::test_cmd::{Concurrency, Targets, TestArgs};
use anyhow::Result;
use faultline_checkers::{OpType, Process, Verdict};
use faultline_nemeses::engine::Nemesis;
use faultline_workloads::{Client, Completion, Generator, GeneratorOptions, Invocation, WorkloadKind};
use serde_json::Value;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Run `--test-count` tests; the exit code is the worst verdict.
pub fn run_tests(args: TestArgs) -> Result<Exit> {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    // From here on Ctrl-C and SIGTERM no longer kill the process: they ask the run to stop, heal
    // and check what it has.
    let _signals = rt.spawn(watch_signals());
    // A random seed is kept small so that it is easy to read and retype.
    let base_seed = args.seed.unwrap_or_else(|| rand::random::<u32>() as u64);
    let mut worst = Verdict::Valid;
    for i in 0..args.test_count {
        let seed = base_seed.wrapping_add(i as u64);
        let verdict = rt.block_on(run_one(&args, seed))?;
        worst = worst.max(verdict);
        if STOP_REQUESTED.load(Ordering::SeqCst) {
            break;
        }
    }
    Ok(Exit::from_verdict(worst))
}

/// Set by Ctrl-C / SIGTERM: stop the clients, heal, keep the history and check what there is.
pub static STOP_REQUESTED: AtomicBool = AtomicBool::new(false);

/// The fully resolved configuration: what `test.json` records.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TestConfig {
    pub name: String,
    pub db: DbKind,
    pub workload: &'static str,
    pub nemesis: Vec<String>,
    pub nemesis_targets: Option<String>,
    pub nemesis_interval_s: f64,
    pub nemesis_schedule: Option<String>,
    pub loss: f64,
    pub nodes: Vec<String>,
    pub local: bool,
    pub seed: u64,
    pub time_limit_s: f64,
    pub concurrency: usize,
    pub rate: f64,
    pub ops_per_key: u64,
    pub op_timeout_s: f64,
    pub serializable: bool,
    pub recovery_time_s: f64,
    pub expect: Vec<String>,
    pub leave_db_running: bool,
    pub command_line: String,
    pub start_time: String,
    pub faultline_version: &'static str,
}

/// Live counters for the progress line.
#[derive(Default)]
pub struct Stats {
    ok: AtomicU64,
    fail: AtomicU64,
    info: AtomicU64,
}

async fn run_one(args: &TestArgs, seed: u64) -> Result<Verdict> {
    let db_kind = DbKind::parse(&args.db)?;
    let workload =
        faultline_workloads::parse_workload(&args.workload).map_err(|e| bad_input(format!("--workload: {e:#}")))?;
    for e in &args.expect {
        faultline_checkers::expect::parse_expectation(e).map_err(|err| bad_input(format!("--expect {e:?}: {err}")))?;
    }

    // The nemesis flags are parsed before anything touches a node: a bad fault name or schedule
    // file is refused up front (faults the cluster cannot do are refused after preflight).
    let mut plan = NemesisPlan::parse(args, seed)?;

    // Where the nodes are.
    let Targets { specs, ssh: ssh_opts, roots, shared_clock, control_addresses } = resolve_nodes(args).await?;
    let concurrency = Concurrency::parse(&args.concurrency)?.clients(specs.len());
    crate::store::say(&format!("seed {seed} ({} nodes, {} clients)", specs.len(), concurrency));

    let node_names: Vec<String> = specs.iter().map(|s| s.name.clone()).collect();

    // Preflight: every node reachable, root, the tools the db and the faults need.
    let ssh_nodes = crate::preflight::preflight(&specs, &ssh_opts, db_kind.required_tools()).await?;
    let nodes: Vec<DbNode> = ssh_nodes.iter().cloned().zip(roots).map(|(ssh, root)| DbNode::new(ssh, root)).collect();

    let control = SshControl::new(nodes.clone(), db_kind, shared_clock, control_addresses);
    let nemesis: SharedNemesis =
        Arc::new(tokio::sync::Mutex::new(Nemesis::new(control.clone(), seed, plan.options.clone())));
    // Faults the cluster cannot do are refused here, before anything is injected.
    plan.resolve(&*nemesis.lock().await).await?;
    crate::preflight::check_nodes(&ssh_nodes, &plan.required_tools()).await?;

    let name = args.name.clone().unwrap_or_else(|| format!("{}-{}", db_kind.name(), workload.name()));
    let store = Store::new(&args.store);
    let run = store.create_run(&name)?;
    run.capture_log()?;
    let config = TestConfig {
        name: name.clone(),
        db: db_kind,
        workload: workload.name(),
        nemesis: plan.fault_names(),
        nemesis_targets: args.nemesis_targets.clone(),
        nemesis_interval_s: args.nemesis_interval.as_secs_f64(),
        nemesis_schedule: args.nemesis_schedule.as_ref().map(|p| p.display().to_string()),
        loss: args.loss,
        nodes: node_names.clone(),
        local: args.target.local,
        seed,
        time_limit_s: args.time_limit.as_secs_f64(),
        concurrency,
        rate: args.rate,
        ops_per_key: args.ops_per_key,
        op_timeout_s: args.op_timeout.as_secs_f64(),
        serializable: args.serializable,
        recovery_time_s: args.recovery_time.as_secs_f64(),
        expect: args.expect.clone(),
        leave_db_running: args.leave_db_running,
        command_line: reproduce_command_line(seed),
        start_time: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        faultline_version: env!("CARGO_PKG_VERSION"),
    };
    run.write_json("test.json", &config)?;
    crate::store::say(&format!("run directory {}", run.path.display()));
    tracing::info!(seed, "test {name} starting on {}", node_names.join(","));

    let control = Arc::new(control);
    let cpu_at_start = process_cpu_seconds();
    let start = Instant::now();
    let writer = run.history_writer(start)?;

    // Everything from here on may fail; the heal and the history must survive it.
    // The phases run in their own task so that a panic in them still reaches the heal below.
    let phases = {
        let (args, config, nodes, control, plan, writer, nemesis) = (
            args.clone(),
            config.clone(),
            nodes.clone(),
            control.clone(),
            plan.clone(),
            writer.clone(),
            nemesis.clone(),
        );
        tokio::spawn(async move {
            run_phases(&args, &config, workload, db_kind, &nodes, control, &plan, nemesis, &writer).await
        })
    };
    let outcome = match phases.await {
        Ok(r) => r,
        Err(e) => Err(anyhow::anyhow!("the run panicked: {e}")),
    };

    // Always healed, whatever happened above; then faultline's chains are removed.
    let healed = crate::nemesis_exec::heal_everything(&nemesis, &writer).await;
    let removed = crate::nemesis_exec::teardown(&nemesis).await;
    tracing::info!("teardown: {}", removed.join("; "));
    match &healed {
        Ok(lines) if !lines.is_empty() => crate::store::say(&format!("healed: {}", lines.join("; "))),
        Ok(_) => {}
        Err(e) => crate::store::say(&format!("HEAL FAILED: {e:#} (run `faultline heal` to repair the nodes)")),
    }
    let history_error = match writer.finish() {
        Ok(written) => {
            tracing::info!(written, "history closed");
            None
        }
        Err(e) => {
            crate::store::say(&format!("the history could not be written completely: {e:#}"));
            Some(e)
        }
    };
    collect_logs(db_kind, &nodes, &run).await;

    if !args.leave_db_running {
        if let Err(e) = db::teardown(db_kind, &nodes).await {
            crate::store::say(&format!("teardown failed: {e:#}"));
        }
    }

    // Check what there is, even after an error or an interrupt.
    let (mut results, history) = crate::analyze::analyze_run(&run, &config_json(&config), outcome.as_ref().err())?;
    if let Err(e) = &healed {
        crate::analyze::degrade(&mut results, format!("the nodes could not be healed: {e:#}"));
    }
    if let Some(e) = &history_error {
        crate::analyze::degrade(&mut results, format!("the history is incomplete: {e:#}"));
    }
    // The harness's own CPU share over the run (set-up, clients, nemesis, heal), before checking.
    let wall = start.elapsed().as_secs_f64();
    results["stats"]["harness_cpu_cores"] = serde_json::json!((process_cpu_seconds() - cpu_at_start) / wall.max(1e-9));
    results["stats"]["wall_s"] = serde_json::json!(wall);
    run.write_json("results.json", &results)?;
    let report = crate::analyze::write_report(&store, &run, history);
    let verdict = crate::analyze::verdict_of(&results);
    print_summary(args, &run, &results, report.as_ref().ok());
    if let Err(e) = report {
        crate::store::say(&format!("the report could not be written: {e:#}"));
    }
    if let Err(e) = outcome {
        // The history is on disk and checked; the error itself still fails the command.
        return Err(e.context(format!("the run stopped early; its history is in {}", run.path.display())));
    }
    Ok(verdict)
}

fn config_json(c: &TestConfig) -> Value {
    serde_json::to_value(c).unwrap_or(Value::Null)
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

/// The nodes of the run: the local cluster (built first when there is none) or `--nodes`.
async fn resolve_nodes(args: &TestArgs) -> Result<Targets> {
    let targets = if args.target.local {
        let cluster = tokio::task::spawn_blocking(|| -> Result<crate::cluster::LocalCluster> {
            if let Some(c) = crate::cluster::load_local_cluster()? {
                if crate::cluster::cluster_is_healthy(&c) {
                    return Ok(c);
                }
            }
            crate::store::say("no local cluster running; building one with 5 nodes");
            crate::cluster::ensure_local_cluster(5)
        })
        .await??;
        let db = DbKind::parse(&args.db)?;
        tokio::task::spawn_blocking(move || crate::cluster::ensure_host_packages(db.host_packages())).await??;
        Targets::local(&cluster)
    } else {
        Targets::remote(&args.target.ssh, "--nodes / --nodes-file named no nodes")?
    };
    targets.limit(args.target.node_count)
}

/// The phases that touch the database. Any error returns early; the caller heals and checks.
#[allow(clippy::too_many_arguments)]
async fn run_phases(
    args: &TestArgs,
    config: &TestConfig,
    workload: WorkloadKind,
    db_kind: DbKind,
    nodes: &[DbNode],
    control: Arc<SshControl>,
    plan: &NemesisPlan,
    nemesis: SharedNemesis,
    writer: &HistoryWriter,
) -> Result<()> {
    let result = async {
        crate::store::say(&format!("setting up {} on {} nodes", db_kind.name(), nodes.len()));
        let binary = db::install(db_kind, nodes, &DbOptions { binary: args.db_binary.clone() }).await?;
        db::setup(db_kind, nodes, &binary).await?;

        let generator = Arc::new(faultline_workloads::new_generator(
            workload,
            GeneratorOptions {
                seed: config.seed,
                concurrency: config.concurrency,
                ops_per_key: args.ops_per_key,
                ..GeneratorOptions::default()
            },
        ));
        let stats = Arc::new(Stats::default());
        let stop = Arc::new(AtomicBool::new(false));
        let active_fault = Arc::new(std::sync::Mutex::new(String::from("none")));

        // Workers: one task each, with its own client bound to one node. Every client is made
        // before any worker starts, so a failure here leaves no worker running.
        let mut clients = Vec::with_capacity(config.concurrency);
        for w in 0..config.concurrency {
            let node = &nodes[w % nodes.len()];
            clients.push((node.name.clone(), crate::clients::client_for(db_kind, workload, node, args, control.clone())?));
        }
        let mut workers = Vec::new();
        for (w, (node, client)) in clients.into_iter().enumerate() {
            workers.push(tokio::spawn(worker_loop(
                w,
                config.concurrency,
                client,
                node,
                generator.clone(),
                writer.clone(),
                stats.clone(),
                stop.clone(),
                per_worker_interval(args.rate, config.concurrency),
                args.op_timeout,
            )));
        }

        // The nemesis follows its own schedule until the time limit.
        let nemesis_task = tokio::spawn(crate::nemesis_exec::run_schedule(
            nemesis.clone(),
            plan.steps.clone(),
            writer.clone(),
            stop.clone(),
            active_fault.clone(),
        ));

        let progress = progress_loop(args.time_limit, stats.clone(), writer.clone(), active_fault.clone(), stop.clone());
        let deadline = tokio::time::Instant::now() + args.time_limit;
        tokio::select! {
            _ = tokio::time::sleep_until(deadline) => {}
            _ = wait_for_stop_request() => { eprintln!("\nfaultline: interrupted; stopping clients, healing, checking what there is"); }
            _ = progress => {}
        }
        stop.store(true, Ordering::SeqCst);
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
        let healed = crate::nemesis_exec::heal_everything(&nemesis, writer).await?;
        if !healed.is_empty() {
            crate::store::say(&format!("healed: {}", healed.join("; ")));
        }
        if !STOP_REQUESTED.load(Ordering::SeqCst) {
            crate::final_reads::run(workload, db_kind, nodes, args, control.clone(), &generator, writer).await?;
        }
        anyhow::Ok(())
    }
    .await;
    result
}

/// Seconds between one worker's operations for a total rate across all workers.
fn per_worker_interval(rate: f64, workers: usize) -> Option<Duration> {
    // `validate` bounds the rate, so the interval always fits a Duration.
    (rate > 0.0).then(|| Duration::try_from_secs_f64(workers as f64 / rate).unwrap_or(Duration::MAX))
}

#[allow(clippy::too_many_arguments)]
async fn worker_loop<C: Client>(
    worker: usize,
    concurrency: usize,
    mut client: C,
    node: String,
    generator: Arc<Generator>,
    writer: HistoryWriter,
    stats: Arc<Stats>,
    stop: Arc<AtomicBool>,
    interval: Option<Duration>,
    op_timeout: Duration,
) {
    // Jepsen's rule: a process whose op ended `info` may still have it in flight, so the worker
    // carries on as a fresh process.
    let mut process = worker as u64;
    // Spread the workers' first ops over one interval, so a rate limit does not come in bursts.
    let mut next = tokio::time::Instant::now()
        + interval.map(|i| i.mul_f64(worker as f64 / concurrency.max(1) as f64)).unwrap_or_default();
    loop {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        if let Some(i) = interval {
            tokio::time::sleep_until(next).await;
            // After a slow op, start again from now rather than firing the missed slots at once.
            next = (next + i).max(tokio::time::Instant::now());
            if stop.load(Ordering::Relaxed) {
                return;
            }
        }
        let Some(op) = generator.next(worker) else { return };
        let completion = perform(&mut client, &op, process, &node, &writer, op_timeout).await;
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
}

/// One operation: the invoke is recorded before the request leaves and the completion after the
/// answer arrives, so the history brackets the real operation.
pub async fn perform(
    client: &mut impl Client,
    op: &Invocation,
    process: u64,
    node: &str,
    writer: &HistoryWriter,
    op_timeout: Duration,
) -> Completion {
    writer.record(Event {
        time: 0,
        kind: OpType::Invoke,
        process: Process::Client(process),
        f: op.f.clone(),
        value: op.value.clone(),
        key: op.key.clone(),
        // Where the request goes: the client's node, or the primary a write is routed to.
        node: Some(client.target(op).unwrap_or_else(|| node.to_string())),
        error: None,
    });
    let completion = match tokio::time::timeout(op_timeout, client.invoke(op)).await {
        Ok(c) => c,
        Err(_) => Completion::indeterminate(op, format!("timed out after {}", humantime::format_duration(op_timeout))),
    };
    writer.record(Event {
        time: 0,
        kind: completion.kind,
        process: Process::Client(process),
        f: op.f.clone(),
        value: completion.value.clone(),
        key: op.key.clone(),
        node: Some(completion.served_by.clone().unwrap_or_else(|| node.to_string())),
        error: completion.error.clone(),
    });
    completion
}

async fn progress_loop(
    limit: Duration,
    stats: Arc<Stats>,
    writer: HistoryWriter,
    active_fault: Arc<std::sync::Mutex<String>>,
    stop: Arc<AtomicBool>,
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
    while !stop.load(Ordering::Relaxed) {
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

async fn watch_signals() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    STOP_REQUESTED.store(true, Ordering::SeqCst);
    // A second signal means "now": the user gave up on the heal; say how to finish it.
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    eprintln!(
        "\nfaultline: second interrupt; exiting without finishing the heal. Run `faultline heal` to repair the nodes."
    );
    std::process::exit(crate::exit::Exit::Error.code());
}

async fn wait_for_stop_request() {
    while !STOP_REQUESTED.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Download every database log into `nodes/<node>/`. Failures are logged, not fatal.
async fn collect_logs(db_kind: DbKind, nodes: &[DbNode], run: &RunDir) {
    for n in nodes {
        let Ok(dir) = run.node_dir(&n.name) else { continue };
        for remote in db::log_files(db_kind, n) {
            let file = remote.rsplit('/').next().unwrap_or("db.log").to_string();
            if let Err(e) = n.ssh.download(&remote, &dir.join(&file)).await {
                tracing::warn!("could not collect {remote} from {}: {e:#}", n.name);
            }
        }
    }
}

fn print_summary(args: &TestArgs, run: &RunDir, results: &Value, report: Option<&std::path::PathBuf>) {
    if args.json {
        println!("{}", serde_json::to_string_pretty(results).unwrap_or_default());
        return;
    }
    let verdict = results["verdict"].as_str().unwrap_or("unknown");
    println!("verdict: {}  {}", verdict.to_uppercase(), results["reason"].as_str().unwrap_or(""));
    let st = &results["stats"];
    let ms = |k: &str| st["latency_ms"][k].as_f64().map(|v| format!("{v:.1}")).unwrap_or_else(|| "-".into());
    println!(
        "ops:     {} at {:.0} ops/s; latency p50 {} ms, p95 {} ms, p99 {} ms, max {} ms; harness CPU {:.2} cores",
        st["ops"].as_u64().unwrap_or(0),
        st["ops_per_s"].as_f64().unwrap_or(0.0),
        ms("p50"),
        ms("p95"),
        ms("p99"),
        ms("max"),
        st["harness_cpu_cores"].as_f64().unwrap_or(0.0)
    );
    println!("history: {}", run.history_jsonl().display());
    if let Some(r) = report {
        println!("report:  {}", r.display());
    }
}

/// `faultline bench-runner`: how fast the runner records operations when the database is not the
/// bottleneck (an in-memory register), i.e. the harness's own ceiling.
pub fn bench_runner(concurrency: usize, duration: Duration) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let dir = tempfile_dir()?;
    let store = Store::new(&dir);
    let run = store.create_run("bench-runner")?;
    let writer = run.history_writer(Instant::now())?;
    let generator = Arc::new(faultline_workloads::new_generator(
        WorkloadKind::Register,
        GeneratorOptions { seed: 1, concurrency, ..GeneratorOptions::default() },
    ));
    let stats = Arc::new(Stats::default());
    let stop = Arc::new(AtomicBool::new(false));
    let cpu_before = process_cpu_seconds();
    let started = Instant::now();
    rt.block_on(async {
        let shared = faultline_workloads::InMemoryClient::new(WorkloadKind::Register);
        let mut tasks = Vec::new();
        for w in 0..concurrency {
            tasks.push(tokio::spawn(worker_loop(
                w,
                concurrency,
                shared.clone(),
                format!("n{}", w % 5 + 1),
                generator.clone(),
                writer.clone(),
                stats.clone(),
                stop.clone(),
                None,
                Duration::from_secs(5),
            )));
        }
        tokio::time::sleep(duration).await;
        stop.store(true, Ordering::SeqCst);
        for t in tasks {
            let _ = t.await;
        }
    });
    let events = writer.finish()?;
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = process_cpu_seconds() - cpu_before;
    let ops =
        stats.ok.load(Ordering::Relaxed) + stats.fail.load(Ordering::Relaxed) + stats.info.load(Ordering::Relaxed);
    let size = std::fs::metadata(run.history_jsonl()).map(|m| m.len()).unwrap_or(0);
    println!("runner benchmark: in-memory register, concurrency {concurrency}, {elapsed:.1} s");
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

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("--nemesis"), "--nemesis");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
    }
}
