//! Clock skew: bump and strobe each target's clock by its own offset (so the nodes disagree with
//! each other, as Jepsen's clock nemesis does), and move it back on stop. Two mechanisms:
//! - nodes with clocks of their own (real hosts): `date -s`, read back with `date`;
//! - nodes sharing one kernel clock (the local cluster): the database runs under libfaketime
//!   and the offset is a file of its node ([`crate::faketime`]), read back by asking the database
//!   for its time. Databases that cannot run under libfaketime are refused before the run.
//!
//! Verified both ways: each target's offset against the control node's clock is measured before
//! and after the bump (the midpoint of the question's round trip stands for "now"); the change
//! must be the offset applied, within the round trip plus a small slack. After the stop the
//! offset must be back where it was.

use super::*;
use crate::faketime::{self, unix_now};

/// Slack on a measured clock offset beyond the measurement's own round trip.
const CLOCK_SLACK_MS: f64 = 50.0;

/// One reading of a node's clock against the control node's: offset and half the round trip.
#[derive(Debug, Clone, Copy)]
pub(super) struct ClockReading {
    offset_ms: f64,
    uncertainty_ms: f64,
}

impl<C: Control> Nemesis<C> {
    /// Whether clock faults go through libfaketime (the nodes share one kernel clock).
    fn clock_by_faketime(&self) -> bool {
        self.ctl.shared_clock()
    }

    /// What a reading asks: the database (libfaketime) or the node's `date`.
    fn clock_source(&self) -> &'static str {
        if self.clock_by_faketime() {
            "the database's own clock"
        } else {
            "date on the node"
        }
    }

    /// Read `node`'s clock against ours.
    async fn read_clock(&self, node: &str) -> Result<ClockReading, String> {
        let before = unix_now();
        let theirs = if self.clock_by_faketime() {
            match self.ctl.db_time(node).await {
                Ok(Some(t)) => t,
                Ok(None) => return Err("the database cannot tell its time".into()),
                Err(e) => return Err(format!("asking the database for its time: {e:#}")),
            }
        } else {
            match self.ctl.run(node, faketime::date_argv()).await {
                Ok(o) if o.ok() => {
                    o.stdout.trim().parse::<f64>().map_err(|_| format!("date printed {:?}", o.stdout))?
                }
                Ok(o) => return Err(format!("date failed: {}", o.stderr.trim())),
                Err(e) => return Err(format!("date: {e:#}")),
            }
        };
        let after = unix_now();
        Ok(ClockReading {
            offset_ms: (theirs - (before + after) / 2.0) * 1000.0,
            uncertainty_ms: (after - before) * 1000.0 / 2.0,
        })
    }

    /// Read every node of `nodes` in parallel. Under libfaketime a node whose database this
    /// nemesis has killed or paused cannot be asked: it is left out (not measured, not failed).
    async fn read_clocks(&self, nodes: &[String]) -> BTreeMap<String, Result<ClockReading, String>> {
        let down: BTreeSet<&String> = if self.clock_by_faketime() {
            self.applied
                .values()
                .flat_map(|a| match a {
                    Applied::Killed(n) | Applied::Paused(n) => n.iter().collect(),
                    _ => Vec::new(),
                })
                .collect()
        } else {
            BTreeSet::new()
        };
        let asked: Vec<String> = nodes.iter().filter(|n| !down.contains(n)).cloned().collect();
        let tasks: Vec<Task<'_, Result<ClockReading, String>>> =
            asked.iter().map(|n| Box::pin(self.read_clock(n)) as Task<'_, _>).collect();
        let readings = join_all(tasks).await;
        asked.iter().cloned().zip(readings).collect()
    }

    /// Compare readings after a change with the ones before: (measured JSON, text, problems).
    /// `expected` is the change each node's clock should show.
    fn compare_clocks(
        &self,
        before: &BTreeMap<String, Result<ClockReading, String>>,
        after: &BTreeMap<String, Result<ClockReading, String>>,
        expected: &BTreeMap<String, i64>,
    ) -> (Value, Vec<String>, Vec<String>) {
        let (mut measured, mut text, mut problems) = (serde_json::Map::new(), Vec::new(), Vec::new());
        for (node, want) in expected {
            let (b, a) = match (before.get(node), after.get(node)) {
                (Some(Ok(b)), Some(Ok(a))) => (b, a),
                (Some(Err(e)), _) | (_, Some(Err(e))) => {
                    problems.push(format!("{node}: {e}"));
                    continue;
                }
                _ => continue,
            };
            let change = a.offset_ms - b.offset_ms;
            let tolerance = CLOCK_SLACK_MS + a.uncertainty_ms + b.uncertainty_ms;
            measured.insert(
                node.clone(),
                json!({
                    "before_ms": (b.offset_ms * 10.0).round() / 10.0,
                    "after_ms": (a.offset_ms * 10.0).round() / 10.0,
                    "expected_change_ms": want,
                    "tolerance_ms": (tolerance * 10.0).round() / 10.0,
                }),
            );
            text.push(format!("{node} {:+.0} ms (expected {want:+})", change));
            if (change - *want as f64).abs() > tolerance {
                problems.push(format!("{node}: clock moved by {change:+.0} ms, expected {want:+} ± {tolerance:.0} ms"));
            }
        }
        (Value::Object(measured), text, problems)
    }

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
        let faketime = self.clock_by_faketime();
        let verify = self.opts.verify;
        let before = if verify { self.read_clocks(&targets).await } else { BTreeMap::new() };
        let ctl = &self.ctl;
        let tasks: Vec<Task<'_, anyhow::Result<crate::control::Output>>> = plans
            .iter()
            .map(|(node, offset, strobe, flips, period)| {
                let argv = if faketime {
                    faketime::bump_argv(*offset, *strobe, *flips, *period)
                } else {
                    render::clock_bump(*offset, *strobe, *flips, *period)
                };
                Box::pin(ctl.run(node, argv)) as Task<'_, _>
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
        let baseline: BTreeMap<String, f64> =
            before.iter().filter_map(|(n, r)| r.as_ref().ok().map(|r| (n.clone(), r.offset_ms))).collect();
        self.applied.insert(Fault::Clock, Applied::Clock { offsets: offsets.clone(), baseline });
        let mut value = json!({
            "targets": targets,
            "mechanism": if faketime { "libfaketime" } else { "date" },
            "offsets_ms": offsets,
            "strobe": strobes,
        });
        if verify && errors.is_empty() {
            let t = Instant::now();
            let after = self.read_clocks(&targets).await;
            let (measured, text, problems) = self.compare_clocks(&before, &after, &offsets);
            value["verify_ms"] = json!(ms(t.elapsed()));
            value["measured"] = measured;
            value["measured_text"] = json!(format!("{}: {}", self.clock_source(), text.join("; ")));
            errors.extend(problems);
        }
        value["verified"] = json!(errors.is_empty());
        if !errors.is_empty() {
            value["reason"] = json!(format!("clock did not take effect as configured: {}", errors.join("; ")));
        }
        value
    }

    /// Undo `clock`: move each clock back by the offset applied (remove the libfaketime offset).
    pub(super) async fn undo_clock(&self, offsets: BTreeMap<String, i64>, baseline: BTreeMap<String, f64>) -> Undone {
        let faketime = self.clock_by_faketime();
        let ctl = &self.ctl;
        let tasks: Vec<Task<'_, anyhow::Result<crate::control::Output>>> = offsets
            .iter()
            .map(|(node, off)| {
                let argv = if faketime { faketime::reset_argv() } else { render::clock_bump(-off, 0, 0, 0) };
                Box::pin(ctl.run(node, argv)) as Task<'_, _>
            })
            .collect();
        let (mut lines, mut errors, mut kept) = (Vec::new(), Vec::new(), BTreeMap::new());
        let results = join_all(tasks).await;
        for ((node, off), r) in offsets.iter().map(|(n, o)| (n.clone(), *o)).zip(results) {
            match r {
                Ok(o) if o.ok() => lines.push(if faketime {
                    format!("clock: removed {node}'s libfaketime offset of {off} ms")
                } else {
                    format!("clock: moved {node}'s clock back by {off} ms")
                }),
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
        let left = (!kept.is_empty()).then(|| {
            let baseline =
                baseline.iter().filter(|(n, _)| kept.contains_key(*n)).map(|(n, b)| (n.clone(), *b)).collect();
            Applied::Clock { offsets: kept, baseline }
        });
        (lines, errors, left)
    }

    /// After a stop: is every clock back where it was before the bump? (measured JSON, problems)
    pub(super) async fn verify_clock_restored(&self, baseline: &BTreeMap<String, f64>) -> (Value, Vec<String>) {
        let nodes: Vec<String> = baseline.keys().cloned().collect();
        let after = self.read_clocks(&nodes).await;
        let (mut measured, mut problems) = (serde_json::Map::new(), Vec::new());
        for (node, b) in baseline {
            match after.get(node) {
                Some(Ok(a)) => {
                    let tolerance = CLOCK_SLACK_MS + 2.0 * a.uncertainty_ms;
                    measured.insert(
                        node.clone(),
                        json!({"before_ms": (b * 10.0).round() / 10.0, "after_heal_ms": (a.offset_ms * 10.0).round() / 10.0}),
                    );
                    if (a.offset_ms - b).abs() > tolerance {
                        problems.push(format!(
                            "{node}: clock is {:+.0} ms off after the heal, was {b:+.0} ms before",
                            a.offset_ms
                        ));
                    }
                }
                Some(Err(e)) => problems.push(format!("{node}: {e}")),
                None => {}
            }
        }
        (Value::Object(measured), problems)
    }
}
