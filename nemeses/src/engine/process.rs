//! Process faults through the database control: `kill` (SIGKILL, started again on stop) and
//! `pause` (SIGSTOP, SIGCONT on stop).

use super::*;

impl<C: Control> Nemesis<C> {
    pub(super) async fn start_process(&mut self, fault: Fault, targets: Vec<String>) -> Value {
        let ctl = &self.ctl;
        let tasks: Vec<Task<'_, anyhow::Result<String>>> = targets
            .iter()
            .map(|node| {
                let t: Task<'_, _> =
                    if fault == Fault::Kill { Box::pin(ctl.kill_db(node)) } else { Box::pin(ctl.pause_db(node)) };
                t
            })
            .collect();
        let (mut results, mut errors) = (BTreeMap::new(), Vec::new());
        for (node, r) in targets.iter().zip(join_all(tasks).await) {
            match r {
                Ok(line) => {
                    results.insert(node.clone(), line);
                }
                Err(e) => errors.push(format!("{node}: {e:#}")),
            }
        }
        // Track every target, not only those that answered: a signal whose command timed out may
        // still have landed, and resume/restart are idempotent.
        let tracked = targets.clone();
        self.applied
            .insert(fault, if fault == Fault::Kill { Applied::Killed(tracked) } else { Applied::Paused(tracked) });
        let mut value = json!({
            "targets": targets,
            "signal": if fault == Fault::Kill { "SIGKILL" } else { "SIGSTOP" },
            "results": results,
            "verified": errors.is_empty(),
        });
        if !errors.is_empty() {
            value["reason"] = json!(format!("{fault} failed on some targets: {}", errors.join("; ")));
        }
        value
    }
    /// Undo `kill` (start the database again) or `pause` (SIGCONT).
    pub(super) async fn undo_process(&self, fault: Fault, nodes: Vec<String>) -> Undone {
        let ctl = &self.ctl;
        let kill = fault == Fault::Kill;
        let tasks: Vec<Task<'_, anyhow::Result<String>>> = nodes
            .iter()
            .map(|n| {
                if kill {
                    Box::pin(ctl.restart_db(n)) as Task<'_, _>
                } else {
                    Box::pin(ctl.resume_db(n)) as Task<'_, _>
                }
            })
            .collect();
        let (mut lines, mut errors, mut kept) = (Vec::new(), Vec::new(), Vec::new());
        let results = join_all(tasks).await;
        for (node, r) in nodes.iter().cloned().zip(results) {
            match r {
                Ok(line) => {
                    let what = if kill { "restarted the database" } else { "resumed the database (SIGCONT)" };
                    lines.push(if line.is_empty() {
                        format!("{fault}: {what} on {node}")
                    } else {
                        format!("{fault}: {what} on {node}: {line}")
                    });
                }
                Err(e) => {
                    errors.push(format!("{node}: {e:#}"));
                    kept.push(node);
                }
            }
        }
        let left = (!kept.is_empty()).then_some(if kill { Applied::Killed(kept) } else { Applied::Paused(kept) });
        (lines, errors, left)
    }
}
