//! `faultline client-check`: drive a `--client` subprocess against a running database and report
//! every protocol error (docs/client-protocol.md) before a long test is started: answers that are
//! not JSON, wrong ids, unknown types, values of the wrong shape for the workload, an `ok` write
//! that answers another value, no answer to `close`, no exit after it. For the register workload
//! it also runs a short write / read / cas sequence on one key whose answers are known.
//!
//! Exit 0 when the client kept the protocol, 1 when it did not (each error printed), 254 for bad
//! flags, 255 when it could not run at all.

use crate::args::TargetArgs;
use crate::exit::Exit;
use anyhow::Result;
use faultline_dbs::process_client::{ClientCommand, NodeAddress, OpenInfo, Problems, ProcessClient};
use faultline_workloads::{Client, Completion, GeneratorOptions, Invocation, OpType, Workload};
use serde_json::json;
use std::time::Duration;

#[derive(clap::Args, Debug)]
pub struct ClientCheckArgs {
    /// The client command, as `faultline test --client` takes it.
    #[arg(long, value_name = "COMMAND ARGS")]
    pub client: String,
    /// The workload whose operations to send.
    #[arg(long, default_value = faultline_workloads::registry::DEFAULT, value_parser = clap::builder::PossibleValuesParser::new(faultline_workloads::registry::names()))]
    pub workload: String,
    #[command(flatten)]
    pub target: TargetArgs,
    /// Operations to send in all (spread over the workers).
    #[arg(long, default_value_t = 200)]
    pub ops: usize,
    /// Client subprocesses at once, one per node in turn.
    #[arg(long, default_value_t = 3)]
    pub concurrency: usize,
    /// Per-operation timeout.
    #[arg(long, default_value = "5s", value_parser = crate::test_cmd::parse_duration)]
    pub op_timeout: Duration,
    /// Seed of the operations.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

pub fn run(args: ClientCheckArgs) -> Result<Exit> {
    if args.concurrency == 0 || args.ops == 0 {
        return Err(faultline_control::bad_input("--concurrency and --ops must be at least 1"));
    }
    let cluster = if args.target.local { faultline_control::cluster::load_local_cluster()? } else { None };
    let targets =
        args.target.resolve(cluster.as_ref(), "say where the database runs: --local, --nodes or --nodes-file")?;
    let nodes: Vec<NodeAddress> =
        targets.specs.iter().map(|s| NodeAddress { name: s.name.clone(), address: s.host.clone() }).collect();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let report = rt.block_on(check(&args, &nodes))?;
    println!(
        "client-check: {} ops through {} client(s) of {:?} ({}): ok {}, fail {}, info {}",
        report.ops, args.concurrency, args.client, args.workload, report.counts[0], report.counts[1], report.counts[2]
    );
    if report.problems.is_empty() {
        println!("protocol: no errors");
        Ok(Exit::Valid)
    } else {
        println!("protocol errors: {}", report.problems.len());
        for p in &report.problems {
            println!("  - {p}");
        }
        Ok(Exit::Invalid)
    }
}

struct Report {
    ops: usize,
    /// ok, fail, info.
    counts: [usize; 3],
    problems: Vec<String>,
}

async fn check(args: &ClientCheckArgs, nodes: &[NodeAddress]) -> Result<Report> {
    let problems = Problems::default();
    let workload = faultline_workloads::by_name(&args.workload)?;
    let generator = faultline_workloads::registry::generator(
        workload,
        GeneratorOptions { seed: args.seed, concurrency: args.concurrency, ..GeneratorOptions::default() },
    );
    let mut clients = Vec::new();
    for w in 0..args.concurrency {
        let node = &nodes[w % nodes.len()];
        let open = OpenInfo {
            node: node.name.clone(),
            address: node.address.clone(),
            worker: w,
            workload: workload.name().to_string(),
            nodes: nodes.to_vec(),
            options: json!({ "timeout_ms": args.op_timeout.as_millis() as u64 }),
        };
        let mut c =
            ProcessClient::with_problems(ClientCommand(args.client.clone()), open, args.op_timeout, problems.clone());
        c.open().await.map_err(|e| anyhow::anyhow!("open failed: {e:#}"))?;
        clients.push(c);
    }
    let per_worker = args.ops.div_ceil(args.concurrency);
    let runs = clients.iter_mut().enumerate().map(|(w, c)| {
        let (generator, problems) = (&generator, &problems);
        async move {
            let mut counts = [0usize; 3];
            let mut done = 0;
            while done < per_worker {
                let Some(op) = generator.next(w) else { break };
                let completion = invoke(c, &op, args.op_timeout).await;
                if let Some(p) = value_problem(workload, &op, &completion) {
                    problems.record(format!("worker {w}: {p}"));
                }
                counts[kind_index(completion.kind)] += 1;
                done += 1;
            }
            (done, counts)
        }
    });
    let mut report = Report { ops: 0, counts: [0; 3], problems: Vec::new() };
    for (done, counts) in futures::future::join_all(runs).await {
        report.ops += done;
        for (total, n) in report.counts.iter_mut().zip(counts) {
            *total += n;
        }
    }
    for p in probe(workload, &mut clients[0], args.op_timeout).await {
        problems.record(format!("{} sequence: {p}", workload.name()));
    }
    for c in clients.iter_mut() {
        c.close().await;
    }
    report.problems = problems.all();
    Ok(report)
}

fn kind_index(k: OpType) -> usize {
    match k {
        OpType::Ok => 0,
        OpType::Fail => 1,
        _ => 2,
    }
}

/// One operation with the runner's timeout (a timed-out request's late answer must be dropped).
async fn invoke(c: &mut ProcessClient, op: &Invocation, timeout: Duration) -> Completion {
    match tokio::time::timeout(timeout, c.invoke(op)).await {
        Ok(c) => c,
        Err(_) => Completion::indeterminate(op, "timed out"),
    }
}

/// What is wrong with an `ok` answer's value for the workload (nothing for fail/info).
fn value_problem(workload: &dyn Workload, op: &Invocation, c: &Completion) -> Option<String> {
    if c.kind != OpType::Ok {
        return None;
    }
    workload.value_problem(op, c)
}

/// The workload's fixed probe (`Workload::probe`) on one client.
async fn probe(workload: &dyn Workload, c: &mut ProcessClient, timeout: Duration) -> Vec<String> {
    let mut problems = Vec::new();
    for step in workload.probe() {
        let (f, value) = (&step.op.f, &step.op.value);
        let got = invoke(c, &step.op, timeout).await;
        if step.kind != got.kind {
            problems.push(format!(
                "{f} {value} answered {}{}; expected {}",
                got.kind.as_str(),
                got.error.map(|e| format!(" ({e})")).unwrap_or_default(),
                step.kind.as_str()
            ));
            break;
        }
        if let Some(v) = step.value {
            if got.value != v {
                problems.push(format!("{f} answered {}; expected {v}", got.value));
                break;
            }
        }
    }
    problems
}
