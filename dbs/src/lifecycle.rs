//! What every database shares around its adapter: a clean slate before set-up, a check that the
//! database serving the clients is the one this run started, resuming paused processes, and
//! stopping what a killed run left behind. One piece for every [`Db`], never per adapter.

use crate::{known, Db, DbNode, DbOptions};
use anyhow::Result;
use futures::future::join_all;
use std::time::Duration;

/// Set the database up on every node, Jepsen's `db/setup!` way: first stop every process of
/// this database that is not this run's (a killed run's leftovers hold data locks and ports;
/// each is logged with pid, command line and node), then the adapter's set-up (wipe, configure,
/// start, wait until it serves), then make sure each node's ports are served by what this run
/// started. Returns the lines saying what was stopped.
pub async fn setup(db: &dyn Db, nodes: &[DbNode], opts: &DbOptions) -> Result<Vec<String>> {
    let cleared = join_all(nodes.iter().map(|n| db.daemon().clear_stale(n, db.ports()))).await;
    let mut stopped = Vec::new();
    for r in cleared {
        stopped.extend(r?);
    }
    for line in &stopped {
        tracing::warn!("{line}");
    }
    db.setup(nodes, opts).await?;
    for r in join_all(nodes.iter().map(|n| db.daemon().check_ports_owned(n, db.ports()))).await {
        r?;
    }
    Ok(stopped)
}

/// Stop the database processes a killed run left on `node`, of every database faultline knows
/// and of every recipe this process loaded (`faultline heal` does not know which one the run
/// used). Found by pidfile and by name with
/// faultline's data directory in the command line: never a database faultline did not start.
pub async fn stop_leftovers(node: &DbNode) -> Result<Vec<String>> {
    let mut lines = Vec::new();
    for db in known() {
        lines.extend(db.daemon().clear_stale(node, &[]).await?);
    }
    Ok(lines)
}

/// SIGCONT every process of every known database (built-in, or a recipe loaded) in state T (stopped) on `node`, not only the
/// pidfile's: a pause may have outlived a restart, and `faultline heal` after a killed harness
/// does not know which database the run used. Returns the `comm:pid` of each process resumed.
pub async fn resume_all(node: &DbNode) -> Result<Vec<String>> {
    let comms: Vec<String> = known().iter().map(|d| d.daemon().comm.chars().take(15).collect()).collect();
    let script = format!(
        "for c in {comms}; do for p in $(pgrep -x $c); do s=$(awk '{{print $3}}' /proc/$p/stat 2>/dev/null); \
         if [ \"$s\" = T ]; then kill -CONT $p && echo $c:$p; fi; done; done",
        comms = comms.join(" ")
    );
    let out = node.ssh.run_root(&["sh", "-c", &script], Duration::from_secs(20)).await?;
    Ok(out.stdout.split_whitespace().map(String::from).collect())
}
