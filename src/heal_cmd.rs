//! `faultline heal`: repair nodes after the harness itself was killed (SIGKILL, a crash): flush
//! and remove faultline's iptables chains, remove its qdiscs, SIGCONT stopped database processes,
//! stop the database processes the killed run left running (unless `--keep-db`), and say, node by
//! node, what was fixed.

use crate::args::TargetArgs;
use crate::exit::Exit;
use crate::nemesis_exec::SshControl;
use anyhow::Result;
use faultline_control::ssh::Node;
use faultline_control::targets::Targets;
use faultline_dbs::{DbNode, PrimaryRoute};

#[derive(clap::Args, Debug)]
pub struct HealArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Leave database processes running (only undo faults).
    #[arg(long)]
    pub keep_db: bool,
    /// Also resume and stop the processes of the database this recipe describes (the run used
    /// `--db-recipe`); the built-in databases' are always handled.
    #[arg(long, value_name = "FILE.toml")]
    pub db_recipe: Vec<std::path::PathBuf>,
}

pub fn run(args: HealArgs) -> Result<Exit> {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(heal(args))
}

async fn heal(args: HealArgs) -> Result<Exit> {
    for file in &args.db_recipe {
        // Loaded, the recipe's process name joins the known databases' (lifecycle::known).
        faultline_dbs::recipe::RecipeDb::leak(file)?;
    }
    let cluster = if args.target.local {
        let Some(c) = faultline_control::cluster::load_local_cluster()? else {
            println!("no local cluster: nothing to heal");
            return Ok(Exit::Valid);
        };
        Some(c)
    } else {
        None
    };
    let Targets { specs, ssh: opts, root, control_addresses: control } = args
        .target
        .resolve(cluster.as_ref(), "say which nodes to heal: --local, --nodes n1,n2,... or --nodes-file FILE")?;
    // Heal every node that answers; one dead node must not leave the others broken.
    let attempts = futures::future::join_all(specs.iter().map(|s| Node::connect(s, &opts))).await;
    let mut db_nodes = Vec::new();
    let mut unreachable = Vec::new();
    for attempt in attempts {
        match attempt {
            Ok(ssh) => db_nodes.push(DbNode::new(ssh, root.clone())),
            Err(e) => unreachable.push(format!("{e:#}")),
        }
    }
    for e in &unreachable {
        eprintln!("NOT healed (unreachable): {}", crate::term::text(&e.to_string()));
    }
    let Some(first) = db_nodes.first() else { anyhow::bail!("no node could be reached") };
    // Heal knows nothing of the run's database: faults are undone by what is on the nodes, and
    // stopped processes of every known database are resumed.
    let route = PrimaryRoute::new(first);
    let any_db = faultline_dbs::registry()[0];
    let ctl = SshControl::new(db_nodes.clone(), any_db, true, control, route);
    let mut report = faultline_nemeses::heal::heal_nodes(&ctl).await;
    let resumed = futures::future::join_all(db_nodes.iter().map(faultline_dbs::lifecycle::resume_all)).await;
    for (node, r) in db_nodes.iter().zip(resumed) {
        match r {
            Ok(pids) if pids.is_empty() => {}
            Ok(pids) => report.fixed.push(format!("{}: SIGCONT {}", node.name, pids.join(", "))),
            Err(e) => report.errors.push(format!("{}: resuming stopped database processes: {e:#}", node.name)),
        }
    }
    if !args.keep_db {
        let stopped = futures::future::join_all(db_nodes.iter().map(faultline_dbs::lifecycle::stop_leftovers)).await;
        for (node, r) in db_nodes.iter().zip(stopped) {
            match r {
                Ok(lines) => report.fixed.extend(lines),
                Err(e) => report.errors.push(format!("{}: stopping leftover database processes: {e:#}", node.name)),
            }
        }
    }
    if report.fixed.is_empty() && report.errors.is_empty() {
        println!("nothing to heal on {} node(s)", specs.len());
    }
    for line in &report.fixed {
        println!("healed: {}", crate::term::text(line));
    }
    for line in &report.errors {
        eprintln!("NOT healed: {}", crate::term::text(line));
    }
    let problems = report.errors.len() + unreachable.len();
    if problems == 0 {
        Ok(Exit::Valid)
    } else {
        anyhow::bail!("{problems} problem(s) could not be healed")
    }
}
