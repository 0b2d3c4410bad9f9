//! `faultline heal`: repair nodes after the harness itself was killed (SIGKILL, a crash): flush
//! and remove faultline's iptables chains, remove its qdiscs, SIGCONT stopped database processes,
//! and say what was fixed.

use crate::db::{DbKind, DbNode};
use crate::exit::Exit;
use crate::nemesis_exec::SshControl;
use crate::test_cmd::{TargetArgs, Targets};
use anyhow::Result;

#[derive(clap::Args, Debug)]
pub struct HealArgs {
    #[command(flatten)]
    pub target: TargetArgs,
}

pub fn run(args: HealArgs) -> Result<Exit> {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(heal(args))
}

async fn heal(args: HealArgs) -> Result<Exit> {
    let targets = if args.target.local {
        let Some(c) = crate::cluster::load_local_cluster()? else {
            println!("no local cluster: nothing to heal");
            return Ok(Exit::Valid);
        };
        Targets::local(&c)
    } else {
        Targets::remote(&args.target.ssh, "say which nodes to heal: --local, --nodes n1,n2,... or --nodes-file FILE")?
    };
    let Targets { specs, ssh: opts, roots, shared_clock, control_addresses: control } =
        targets.limit(args.target.node_count)?;
    // Heal every node that answers; one dead node must not leave the others broken.
    let attempts = futures::future::join_all(specs.iter().map(|s| crate::ssh::Node::connect(s, &opts))).await;
    let mut db_nodes = Vec::new();
    let mut unreachable = Vec::new();
    for (attempt, root) in attempts.into_iter().zip(roots) {
        match attempt {
            Ok(ssh) => db_nodes.push(DbNode::new(ssh, root)),
            Err(e) => unreachable.push(format!("{e:#}")),
        }
    }
    for e in &unreachable {
        eprintln!("NOT healed (unreachable): {e}");
    }
    let ctl = SshControl::new(db_nodes, DbKind::Etcd, shared_clock, control);
    let report = faultline_nemeses::heal::heal_nodes(&ctl).await;
    if report.fixed.is_empty() && report.errors.is_empty() {
        println!("nothing to heal on {} node(s)", specs.len());
    }
    for line in &report.fixed {
        println!("healed: {line}");
    }
    for line in &report.errors {
        eprintln!("NOT healed: {line}");
    }
    let problems = report.errors.len() + unreachable.len();
    if problems == 0 {
        Ok(Exit::Valid)
    } else {
        anyhow::bail!("{problems} problem(s) could not be healed")
    }
}
