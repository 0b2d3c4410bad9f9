//! Clock skew: bump each target's clock, and move it back on stop (refused on a shared clock).

use super::*;

impl<C: Control> Nemesis<C> {
    pub(super) async fn start_clock(&mut self, targets: Vec<String>) -> Value {
        let max_ms = (ms(self.opts.clock_max_offset) as i64).max(100);
        // Draw every number first, in target order, so the run is reproducible from the seed.
        let plans: Vec<(String, i64, i64, u32, u64)> = targets
            .iter()
            .map(|node| {
                let magnitude = self.rng.random_range(100..=max_ms);
                let offset = if self.rng.random_bool(0.5) { magnitude } else { -magnitude };
                let strobe = self.rng.random_range(10..=200);
                let flips = self.rng.random_range(0..=10);
                let period = self.rng.random_range(10..=100);
                (node.clone(), offset, strobe, flips, period)
            })
            .collect();
        let ctl = &self.ctl;
        let tasks: Vec<Task<'_, anyhow::Result<crate::control::Output>>> = plans
            .iter()
            .map(|(node, offset, strobe, flips, period)| {
                let t: Task<'_, _> = Box::pin(ctl.run(node, render::clock_bump(*offset, *strobe, *flips, *period)));
                t
            })
            .collect();
        let (mut offsets, mut errors) = (BTreeMap::new(), Vec::new());
        for ((node, offset, ..), r) in plans.iter().zip(join_all(tasks).await) {
            match r {
                Ok(o) if o.ok() => {
                    offsets.insert(node.clone(), *offset);
                }
                Ok(o) => errors.push(format!("{node}: clock bump failed: {}", o.stderr.trim())),
                Err(e) => errors.push(format!("{node}: clock bump: {e:#}")),
            }
        }
        let strobes: BTreeMap<&String, Value> =
            plans.iter().map(|(n, _, s, f, p)| (n, json!({"delta_ms": s, "flips": f, "period_ms": p}))).collect();
        self.applied.insert(Fault::Clock, Applied::Clock(offsets.clone()));
        let mut value = json!({
            "targets": targets,
            "offsets_ms": offsets,
            "strobe": strobes,
            "verified": errors.is_empty(),
        });
        if !errors.is_empty() {
            value["reason"] = json!(format!("clock bump failed on some targets: {}", errors.join("; ")));
        }
        value
    }
    /// Undo `clock`: move each clock back by the offset applied.
    pub(super) async fn undo_clock(&self, offsets: BTreeMap<String, i64>) -> Undone {
        let ctl = &self.ctl;
        let tasks: Vec<Task<'_, anyhow::Result<crate::control::Output>>> = offsets
            .iter()
            .map(|(node, off)| Box::pin(ctl.run(node, render::clock_bump(-off, 0, 0, 0))) as Task<'_, _>)
            .collect();
        let (mut lines, mut errors, mut kept) = (Vec::new(), Vec::new(), BTreeMap::new());
        let results = join_all(tasks).await;
        for ((node, off), r) in offsets.iter().map(|(n, o)| (n.clone(), *o)).zip(results) {
            match r {
                Ok(o) if o.ok() => lines.push(format!("clock: moved {node}'s clock back by {off} ms")),
                Ok(o) => {
                    errors.push(format!("{node}: clock restore failed: {}", o.stderr.trim()));
                    kept.insert(node, off);
                }
                Err(e) => {
                    errors.push(format!("{node}: clock restore: {e:#}"));
                    kept.insert(node, off);
                }
            }
        }
        (lines, errors, (!kept.is_empty()).then_some(Applied::Clock(kept)))
    }
}
