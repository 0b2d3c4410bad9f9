//! Final reads: after the heal, poll every node until all agree (or `--recovery-time` passes),
//! recording each poll as `final-read` ops. The convergence checker takes each node's last read
//! and the first round in which all agreed.

use crate::perform::perform;
use crate::plan::TestPlan;
use crate::store::HistoryWriter;
use anyhow::Result;
use faultline_checkers::OpType;
use faultline_dbs::{DbNode, PrimaryRoute};
use faultline_workloads::Generator;
use serde_json::Value;
use std::time::{Duration, Instant};

/// Process numbers for final reads start here, far from the workers' (which grow by the
/// concurrency after every `info`).
const FINAL_READ_PROCESS_BASE: u64 = 1 << 40;

pub async fn run(
    plan: &TestPlan,
    nodes: &[DbNode],
    route: &PrimaryRoute,
    generator: &Generator,
    writer: &HistoryWriter,
) -> Result<()> {
    let Some(op) = generator.final_read() else {
        // Register histories need no final state: linearizability speaks for every read.
        return Ok(());
    };
    crate::store::say(&format!(
        "final reads from every node (up to {})",
        humantime::format_duration(plan.run.recovery_time)
    ));
    let deadline = Instant::now() + plan.run.recovery_time;
    let mut clients = Vec::new();
    for (i, n) in nodes.iter().enumerate() {
        // Numbered after the workers, so that a `--client` subprocess's log lines are told apart.
        let worker = plan.run.concurrency.clients(nodes.len()) + i;
        let mut client = plan.make_client(worker, n, nodes, route)?;
        client.open().await?;
        clients.push(client);
    }
    let mut processes: Vec<u64> = (0..nodes.len() as u64).map(|i| FINAL_READ_PROCESS_BASE + i).collect();
    loop {
        let round_started = Instant::now();
        let reads =
            futures::future::join_all(clients.iter_mut().zip(nodes).zip(processes.iter()).map(|((c, n), p)| {
                let op = op.clone();
                async move { perform(c.as_mut(), &op, *p, &n.name, writer, plan.db.op_timeout).await }
            }))
            .await;
        let mut values: Vec<Option<Value>> = Vec::new();
        for (i, r) in reads.iter().enumerate() {
            if r.kind == OpType::Info {
                processes[i] += nodes.len() as u64;
            }
            values.push((r.kind == OpType::Ok).then(|| r.value.clone()));
        }
        let all_agree = values.iter().all(|v| v.is_some()) && values.windows(2).all(|w| w[0] == w[1]);
        if all_agree || Instant::now() >= deadline {
            if !all_agree {
                crate::store::say(&format!(
                    "nodes still disagree after {}",
                    humantime::format_duration(plan.run.recovery_time)
                ));
            }
            return Ok(());
        }
        let pause = Duration::from_millis(500).saturating_sub(round_started.elapsed());
        tokio::time::sleep(pause).await;
    }
}
