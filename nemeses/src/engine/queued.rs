//! Packet faults through the packet agent (`faultline agent`, an NFQUEUE reader on each node):
//! `slow` where the kernel has no netem, `duplicate`, `reorder`, `corrupt`, `bandwidth`.
//!
//! Every active packet fault contributes a [`LinkProfile`] per target node; `reconcile_agents`
//! makes the nodes match the union: agents started where a profile is wanted, the merged profile
//! written (the agent re-reads it, no restart), NFQUEUE rules for every peer; rules removed and
//! agents stopped where nothing is wanted any more. Each start is verified by measuring the
//! links: RTT for `slow` (again after the stop), a numbered UDP burst for the others, counted at
//! the receiver (duplicates, overtaken datagrams, altered payloads, receive rate).

use super::*;
use crate::agent::{self, Profile, RttReport, SinkReport};

/// TCP connects per RTT measurement (the median is kept).
const RTT_SAMPLES: u32 = 5;
/// Slack on a measured RTT rise beyond the jitter (scheduling on a loaded machine).
const RTT_SLACK_MS: f64 = 5.0;
/// Measurements of a link after `slow` stops before it is called unhealed.
const RESTORE_PROBES: usize = 3;
/// Measurements of a packet fault's start before it is called not in effect.
const VERIFY_TRIES: usize = 3;

/// The highest RTT a link may show once `slow` stopped and is healed: its baseline, plus the
/// larger of the fixed slack and a tenth of the delay removed (both ends, `removed_ms`), plus
/// what the packet faults still active on its ends may add (`still_ms`).
fn restored_limit_ms(before: f64, removed_ms: f64, still_ms: f64) -> f64 {
    before + RTT_SLACK_MS.max(removed_ms / 10.0) + still_ms
}

/// The most a profile may add to a packet's trip: its delay, twice its jitter, and the gap of a
/// reordered packet.
fn added_delay_ms(p: &LinkProfile) -> f64 {
    let gap = if p.reorder > 0.0 { p.reorder_gap_us } else { 0 };
    (p.delay_us + 2 * p.jitter_us + gap) as f64 / 1000.0
}

impl<C: Control> Nemesis<C> {
    /// `slow` uses netem where every node has it, and the agent otherwise (probed once).
    pub(super) async fn slow_uses_agent(&mut self) -> bool {
        if let Some(known) = self.slow_by_agent {
            return known;
        }
        if self.ctl.agent_binary().is_none() {
            return false;
        }
        let ctl = &self.ctl;
        let tasks: Vec<Task<'_, bool>> = self
            .nodes
            .iter()
            .map(|node| {
                Box::pin(async move {
                    match ctl.run(node, netem::probe_argv()).await {
                        Ok(o) => netem::interpret_probe(node, &o.stdout).is_ok(),
                        Err(_) => false,
                    }
                }) as Task<'_, bool>
            })
            .collect();
        let by_agent = !join_all(tasks).await.into_iter().all(|ok| ok);
        self.slow_by_agent = Some(by_agent);
        by_agent
    }

    /// The profile `fault` gives each target's packets.
    fn link_profile(&self, fault: Fault) -> LinkProfile {
        let o = &self.opts;
        let us = |d: Duration| d.as_micros() as u64;
        let Some(fault) = AgentFault::of(fault) else { return LinkProfile::default() };
        match fault {
            AgentFault::Slow => LinkProfile {
                delay_us: us(o.delay),
                jitter_us: us(o.jitter),
                distribution: o.distribution,
                ..LinkProfile::default()
            },
            AgentFault::Duplicate => LinkProfile { duplicate: o.duplicate, ..LinkProfile::default() },
            AgentFault::Reorder => {
                LinkProfile { reorder: o.reorder, reorder_gap_us: us(o.reorder_gap), ..LinkProfile::default() }
            }
            AgentFault::Corrupt => LinkProfile { corrupt: o.corrupt, ..LinkProfile::default() },
            AgentFault::Bandwidth => LinkProfile { rate_bps: o.bandwidth_bps, ..LinkProfile::default() },
        }
    }

    /// The links a start verifies: each target to the next node after it.
    fn probe_pairs(&self, targets: &[String]) -> Vec<(String, String)> {
        targets
            .iter()
            .filter_map(|t| {
                let i = self.nodes.iter().position(|n| n == t)?;
                let peer = &self.nodes[(i + 1) % self.nodes.len()];
                (peer != t).then(|| (t.clone(), peer.clone()))
            })
            .collect()
    }

    pub(super) async fn start_queued(&mut self, fault: Fault, targets: Vec<String>) -> Value {
        let link = self.link_profile(fault);
        let pairs = self.probe_pairs(&targets);
        let verify = self.opts.verify;
        let baseline = if fault == Fault::Slow && verify { self.measure_rtts(&pairs).await } else { Vec::new() };
        let profiles: BTreeMap<String, LinkProfile> = targets.iter().map(|t| (t.clone(), link)).collect();
        let baseline_rtt: Vec<(String, String, f64)> = baseline
            .iter()
            .filter_map(|(a, b, r)| r.as_ref().ok().map(|r| (a.clone(), b.clone(), r.median_ms)))
            .collect();
        self.applied.insert(fault, Applied::Agent { profiles, baseline_rtt: baseline_rtt.clone() });
        let (lines, mut reasons) = self.reconcile_agents().await;
        let mut value = json!({
            "targets": targets,
            "mechanism": "agent",
            "profile": link.describe(),
            "link": link,
            "agents": lines,
        });
        if verify && reasons.is_empty() {
            // Measured again, up to `VERIFY_TRIES` times, before the fault is called not in
            // effect: a loaded machine can spoil one measurement; a fault not applied spoils
            // each. Every try's problems are kept in the record.
            let t = Instant::now();
            let mut failed_tries: Vec<String> = Vec::new();
            let (measured, text, problems) = loop {
                let r = if fault == Fault::Slow {
                    self.verify_slow(&targets, &baseline, &link).await
                } else {
                    self.verify_by_datagrams(fault, &pairs, &link).await
                };
                if r.2.is_empty() || failed_tries.len() + 1 == VERIFY_TRIES {
                    break r;
                }
                failed_tries.push(r.2.join("; "));
            };
            value["verify_ms"] = json!(ms(t.elapsed()));
            value["verify_tries"] = json!(failed_tries.len() + 1);
            if !failed_tries.is_empty() {
                value["failed_tries"] = json!(failed_tries);
            }
            value["measured"] = measured;
            value["measured_text"] = json!(text);
            reasons.extend(problems);
        }
        value["verified"] = json!(reasons.is_empty());
        if !reasons.is_empty() {
            value["reason"] = json!(format!("{fault} did not take effect as configured: {}", reasons.join("; ")));
        }
        value
    }

    /// Make the agents match the packet faults applied: (lines done, errors).
    pub(super) async fn reconcile_agents(&mut self) -> (Vec<String>, Vec<String>) {
        let want = self.active_agent_profiles();
        let (mut lines, mut errors) = (Vec::new(), Vec::new());
        let bin = self.ctl.agent_binary();
        // 1. Agents and profiles where wanted.
        if !want.is_empty() {
            let Some(bin) = bin.clone() else {
                return (lines, vec!["no faultline binary on the nodes for the packet agent".into()]);
            };
            let ctl = &self.ctl;
            let nodes = &self.nodes;
            let tasks: Vec<Task<'_, Result<String, String>>> = want
                .iter()
                .map(|(node, link)| {
                    let bin = bin.clone();
                    Box::pin(async move {
                        let start = agent::start_argv(&bin);
                        match ctl.run(node, start).await {
                            Ok(o) if o.ok() => {}
                            Ok(o) => return Err(format!("{node}: {}", o.stderr.trim())),
                            Err(e) => return Err(format!("{node}: starting the packet agent: {e:#}")),
                        }
                        let mut profile = Profile::default();
                        for peer in nodes.iter().filter(|p| *p != node) {
                            profile.links.insert(ctl.address(peer), *link);
                        }
                        match ctl.run(node, agent::write_profile_argv(&profile)).await {
                            Ok(o) if o.ok() => Ok(format!("{node}: packet agent applies {}", link.describe())),
                            Ok(o) => Err(format!("{node}: writing the agent's profile: {}", o.stderr.trim())),
                            Err(e) => Err(format!("{node}: writing the agent's profile: {e:#}")),
                        }
                    }) as Task<'_, _>
                })
                .collect();
            for (node, r) in want.keys().zip(join_all(tasks).await) {
                match r {
                    Ok(line) => {
                        self.agent_nodes.insert(node.clone());
                        lines.push(line);
                    }
                    Err(e) => errors.push(e),
                }
            }
        }
        // 2. Rules: feed the wanted nodes' agents, stop feeding the others.
        let mut new_rules = Vec::new();
        for node in want.keys().filter(|n| self.agent_nodes.contains(*n) && !self.agent_rules.contains_key(*n)) {
            for peer in self.nodes.iter().filter(|p| *p != node) {
                match self.rule_address(peer) {
                    Ok(addr) => new_rules.push(Rule {
                        node: node.clone(),
                        bin: render::iptables_for(&addr),
                        spec: agent::queue_rule_spec(&addr),
                    }),
                    Err(e) => errors.push(format!("{e:#}")),
                }
            }
        }
        if !new_rules.is_empty() {
            let (added, e) = self.add_rules(new_rules).await;
            errors.extend(e);
            for r in added {
                self.agent_rules.entry(r.node.clone()).or_default().push(r);
            }
        }
        let unwanted: Vec<String> = self.agent_rules.keys().filter(|n| !want.contains_key(*n)).cloned().collect();
        for node in unwanted {
            let rules = self.agent_rules.remove(&node).unwrap_or_default();
            let n = rules.len();
            let (kept, e) = self.delete_rules(rules).await;
            if kept.is_empty() {
                lines.push(format!("{node}: removed {n} packet agent rule(s)"));
            } else {
                errors.extend(e);
                self.agent_rules.insert(node, kept);
            }
        }
        // 3. Agents no longer fed: stop them (they let every held packet go first).
        let idle: Vec<String> = self
            .agent_nodes
            .iter()
            .filter(|n| !want.contains_key(*n) && !self.agent_rules.contains_key(*n))
            .cloned()
            .collect();
        let ctl = &self.ctl;
        let tasks: Vec<Task<'_, anyhow::Result<crate::control::Output>>> =
            idle.iter().map(|n| Box::pin(ctl.run(n, agent::stop_argv())) as Task<'_, _>).collect();
        for (node, r) in idle.iter().zip(join_all(tasks).await) {
            match r {
                Ok(o) if o.ok() => {
                    self.agent_nodes.remove(node);
                    lines.push(format!("{node}: packet agent stopped"));
                }
                Ok(o) => errors.push(format!("{node}: stopping the packet agent: {}", o.stderr.trim())),
                Err(e) => errors.push(format!("{node}: stopping the packet agent: {e:#}")),
            }
        }
        (lines, errors)
    }

    /// Median TCP connect time over each (from, to) link, in parallel.
    async fn measure_rtts(&self, pairs: &[(String, String)]) -> Vec<(String, String, Result<RttReport, String>)> {
        let Some(bin) = self.ctl.agent_binary() else {
            return pairs.iter().map(|(a, b)| (a.clone(), b.clone(), Err("no faultline binary".into()))).collect();
        };
        let ctl = &self.ctl;
        let port = ctl.probe_port();
        let tasks: Vec<Task<'_, Result<RttReport, String>>> = pairs
            .iter()
            .map(|(from, to)| {
                let argv = agent::rtt_argv(&bin, &ctl.address(to), port, RTT_SAMPLES);
                Box::pin(async move {
                    match ctl.run(from, argv).await {
                        Ok(o) if o.ok() => agent::parse_report::<RttReport>("net-probe rtt", &o.stdout).and_then(|r| {
                            if r.median_ms < 0.0 {
                                Err("no connect completed".into())
                            } else {
                                Ok(r)
                            }
                        }),
                        Ok(o) => Err(format!("net-probe rtt failed: {}", o.stderr.trim())),
                        Err(e) => Err(format!("net-probe rtt: {e:#}")),
                    }
                }) as Task<'_, _>
            })
            .collect();
        pairs.iter().zip(join_all(tasks).await).map(|((a, b), r)| (a.clone(), b.clone(), r)).collect()
    }

    /// `slow`: the RTT of each probed link rose by the delay of each of its ends that is a target.
    async fn verify_slow(
        &self,
        targets: &[String],
        baseline: &[(String, String, Result<RttReport, String>)],
        link: &LinkProfile,
    ) -> (Value, String, Vec<String>) {
        let pairs: Vec<(String, String)> = baseline.iter().map(|(a, b, _)| (a.clone(), b.clone())).collect();
        let after = self.measure_rtts(&pairs).await;
        let delay_ms = link.delay_us as f64 / 1000.0;
        let jitter_ms = link.jitter_us as f64 / 1000.0;
        let (mut measured, mut texts, mut problems) = (serde_json::Map::new(), Vec::new(), Vec::new());
        for ((from, to, before), (_, _, now)) in baseline.iter().zip(after) {
            let ends = 1 + targets.contains(to) as u32;
            let expected = delay_ms * ends as f64;
            let key = format!("{from}->{to}");
            match (before, now) {
                (Ok(b), Ok(a)) => {
                    let rise = a.median_ms - b.median_ms;
                    let tolerance = 2.0 * jitter_ms * ends as f64 + 0.15 * expected + RTT_SLACK_MS;
                    measured.insert(
                        key.clone(),
                        json!({"before_ms": round2(b.median_ms), "after_ms": round2(a.median_ms),
                               "expected_rise_ms": round2(expected), "tolerance_ms": round2(tolerance)}),
                    );
                    texts.push(format!(
                        "{from}→{to} RTT {:.1} → {:.1} ms (expected +{expected:.0})",
                        b.median_ms, a.median_ms
                    ));
                    if (rise - expected).abs() > tolerance {
                        problems.push(format!(
                            "{key}: RTT rose by {rise:.1} ms, expected {expected:.1} ± {tolerance:.1} ms"
                        ));
                    }
                }
                (b, a) => {
                    let why = [b.as_ref().err(), a.as_ref().err()].into_iter().flatten().cloned().collect::<Vec<_>>();
                    problems.push(format!("{key}: RTT not measured: {}", why.join("; ")));
                }
            }
        }
        (Value::Object(measured), texts.join("; "), problems)
    }

    /// After `slow` stops: each link's RTT is back near what it was before. Judged against the
    /// size of the fault: back within the larger of `RTT_SLACK_MS` and a tenth of the delay that
    /// was removed, plus what the packet faults still active on the link's ends may add (a
    /// `reorder` holds some packets back by its gap). A link that is not back is probed again,
    /// up to `RESTORE_PROBES` times, before it is called unhealed (a loaded machine delays one
    /// probe; a rule left behind delays every one), and every probe is recorded.
    pub(super) async fn verify_rtt_restored(
        &self,
        baseline: &[(String, String, f64)],
        removed: &BTreeMap<String, LinkProfile>,
    ) -> (Value, Vec<String>) {
        let still = self.active_agent_profiles();
        let allowance = |node: &str| still.get(node).map_or(0.0, added_delay_ms);
        let removed_ms = |node: &str| removed.get(node).map_or(0.0, |p| p.delay_us as f64 / 1000.0);
        let limits: Vec<f64> = baseline
            .iter()
            .map(|(from, to, before)| {
                restored_limit_ms(*before, removed_ms(from) + removed_ms(to), allowance(from) + allowance(to))
            })
            .collect();
        let (mut measured, mut problems) = (serde_json::Map::new(), Vec::new());
        let mut pending: Vec<usize> = (0..baseline.len()).collect();
        let mut probes: Vec<Vec<Result<f64, String>>> = vec![Vec::new(); baseline.len()];
        for _ in 0..RESTORE_PROBES {
            let pairs: Vec<(String, String)> =
                pending.iter().map(|&i| (baseline[i].0.clone(), baseline[i].1.clone())).collect();
            let now = self.measure_rtts(&pairs).await;
            let mut again = Vec::new();
            for (&i, (_, _, r)) in pending.iter().zip(now) {
                let back = r.as_ref().is_ok_and(|a| a.median_ms <= limits[i]);
                probes[i].push(r.map(|a| a.median_ms));
                if !back {
                    again.push(i);
                }
            }
            pending = again;
            if pending.is_empty() {
                break;
            }
        }
        for (i, (from, to, before)) in baseline.iter().enumerate() {
            let key = format!("{from}->{to}");
            let limit = limits[i];
            let medians: Vec<Value> =
                probes[i].iter().map(|r| r.as_ref().map_or(Value::Null, |m| json!(round2(*m)))).collect();
            let last = probes[i].last().and_then(|r| r.as_ref().ok()).copied();
            measured.insert(
                key.clone(),
                json!({"before_ms": round2(*before), "after_heal_ms": last.map(round2),
                       "limit_ms": round2(limit), "probes_ms": medians}),
            );
            if pending.contains(&i) {
                match probes[i].last() {
                    Some(Ok(a)) => problems.push(format!(
                        "{key}: RTT still {a:.1} ms after the stop in each of {} probes (was {before:.1} ms before \
                         the fault; at most {limit:.1} ms expected)",
                        probes[i].len()
                    )),
                    Some(Err(e)) => problems.push(format!("{key}: RTT not measured after the stop: {e}")),
                    None => problems.push(format!("{key}: RTT not measured after the stop")),
                }
            }
        }
        (Value::Object(measured), problems)
    }

    /// The merged link profile of every packet fault still applied, per node.
    fn active_agent_profiles(&self) -> BTreeMap<String, LinkProfile> {
        let mut want: BTreeMap<String, LinkProfile> = BTreeMap::new();
        for a in self.applied.values() {
            if let Applied::Agent { profiles, .. } = a {
                for (node, p) in profiles {
                    let merged = want.get(node).map(|w| w.merge(p)).unwrap_or(*p);
                    want.insert(node.clone(), merged);
                }
            }
        }
        want.retain(|_, p| !p.is_empty());
        want
    }

    /// Send a numbered UDP burst over each link and count at the receiver what the fault did.
    async fn verify_by_datagrams(
        &self,
        fault: Fault,
        pairs: &[(String, String)],
        link: &LinkProfile,
    ) -> (Value, String, Vec<String>) {
        let Some(bin) = self.ctl.agent_binary() else {
            return (Value::Null, String::new(), vec!["no faultline binary for the probe".into()]);
        };
        let p = match AgentFault::of(fault) {
            Some(AgentFault::Duplicate) => link.duplicate,
            Some(AgentFault::Reorder) => link.reorder,
            Some(AgentFault::Corrupt) => link.corrupt,
            Some(AgentFault::Slow | AgentFault::Bandwidth) | None => 1.0,
        };
        // Enough datagrams that the fault shows up about 30 times.
        let count = ((30.0 / p.max(1e-6)).ceil() as u32).clamp(200, 3000);
        let (count, size) = if fault == Fault::Bandwidth { (60, 1000) } else { (count, 200) };
        let send_time = (count as u64 * size as u64 * 8 * 1000).checked_div(link.rate_bps).unwrap_or(0);
        let wait = Duration::from_millis(3000 + send_time * 2);
        let ctl = &self.ctl;
        let tasks: Vec<Task<'_, Result<SinkReport, String>>> = pairs
            .iter()
            .map(|(from, to)| {
                let sink = agent::sink_argv(&bin, count, wait);
                let send = agent::send_argv(&bin, &ctl.address(to), count, size, Duration::from_millis(400));
                Box::pin(async move {
                    let (got, sent) = futures::join!(ctl.run(to, sink), ctl.run(from, send));
                    match sent {
                        Ok(o) if o.ok() => {}
                        Ok(o) => return Err(format!("net-probe send failed: {}", o.stderr.trim())),
                        Err(e) => return Err(format!("net-probe send: {e:#}")),
                    }
                    match got {
                        Ok(o) if o.ok() => agent::parse_report("net-probe sink", &o.stdout),
                        Ok(o) => Err(format!("net-probe sink failed: {}", o.stderr.trim())),
                        Err(e) => Err(format!("net-probe sink: {e:#}")),
                    }
                }) as Task<'_, _>
            })
            .collect();
        let (mut measured, mut texts, mut problems) = (serde_json::Map::new(), Vec::new(), Vec::new());
        for ((from, to), r) in pairs.iter().zip(join_all(tasks).await) {
            let key = format!("{from}->{to}");
            let report = match r {
                Ok(r) => r,
                Err(e) => {
                    problems.push(format!("{key}: {e}"));
                    continue;
                }
            };
            let (seen, what) = match AgentFault::of(fault) {
                Some(AgentFault::Duplicate) => (report.duplicates, "duplicated"),
                Some(AgentFault::Reorder) => (report.reordered, "overtaken"),
                Some(AgentFault::Corrupt) => (report.corrupted, "corrupted"),
                Some(AgentFault::Slow | AgentFault::Bandwidth) | None => (0, ""),
            };
            if fault == Fault::Bandwidth {
                let rate = report.rate_bps();
                texts.push(format!("{from}→{to} received at {:.0} kbit/s", rate / 1000.0));
                if report.unique < 2 || rate > link.rate_bps as f64 * 1.3 {
                    problems.push(format!(
                        "{key}: received {} datagrams at {:.0} kbit/s, limit {} kbit/s",
                        report.unique,
                        rate / 1000.0,
                        link.rate_bps / 1000
                    ));
                }
            } else {
                texts.push(format!("{from}→{to} {seen} of {count} {what}"));
                if seen == 0 {
                    problems.push(format!("{key}: the probe saw none of {count} datagrams {what}"));
                }
            }
            measured.insert(key, json!({"sent": count, "report": report, "rate_bps": report.rate_bps().round()}));
        }
        (Value::Object(measured), texts.join("; "), problems)
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

impl<C: Control> Nemesis<C> {
    /// At preflight, when `faults` include one the agent serves: start an idle agent on every
    /// node (a node where NFQUEUE cannot be read fails here, before the run). Returns the line
    /// to show, which says how `slow` will be done.
    pub async fn start_agents(&mut self, faults: &[Fault]) -> Result<Option<String>, String> {
        let slow = faults.contains(&Fault::Slow);
        let slow_by_agent = slow && self.slow_uses_agent().await;
        if !faults.iter().any(|f| f.needs_agent()) && !slow_by_agent {
            return Ok(slow.then(|| "slow: through tc netem (the kernel has sch_netem)".to_string()));
        }
        let Some(bin) = self.ctl.agent_binary() else {
            return Err("packet faults need the packet agent, and the nodes have no faultline binary".into());
        };
        let ctl = &self.ctl;
        let tasks: Vec<Task<'_, anyhow::Result<crate::control::Output>>> =
            self.nodes.iter().map(|n| Box::pin(ctl.run(n, agent::start_argv(&bin))) as Task<'_, _>).collect();
        let mut errors = Vec::new();
        for (node, r) in self.nodes.clone().iter().zip(join_all(tasks).await) {
            match r {
                Ok(o) if o.ok() => {
                    self.agent_nodes.insert(node.clone());
                }
                Ok(o) => errors.push(format!("{node}: {}", o.stderr.trim())),
                Err(e) => errors.push(format!("{node}: starting the packet agent: {e:#}")),
            }
        }
        if !errors.is_empty() {
            return Err(format!("the packet agent could not start: {}", errors.join("; ")));
        }
        let how = if !slow {
            String::new()
        } else if slow_by_agent {
            "; slow: through the packet agent (no sch_netem in the nodes' kernel)".into()
        } else {
            "; slow: through tc netem".into()
        };
        Ok(Some(format!("packet agent started on {} ({bin}){how}", self.nodes.join(", "))))
    }
}

#[cfg(test)]
mod restore_tests {
    use super::*;

    /// 50 ms removed while `reorder` (10 ms gap) is still on at both ends: a probe held back by
    /// reorder at each end (20 ms) is what reorder adds, not a delay left behind.
    #[test]
    fn a_heal_is_judged_against_the_size_of_the_fault() {
        let reorder = LinkProfile { reorder: 0.2, reorder_gap_us: 10_000, ..LinkProfile::default() };
        let still = 2.0 * added_delay_ms(&reorder);
        assert!(20.5 <= restored_limit_ms(0.0, 50.0, still));
        // With nothing else active the same probe is a delay not removed.
        assert!(20.5 > restored_limit_ms(0.0, 50.0, 0.0));
        // A delay left behind (a rule not removed: the whole 50 ms, or 100 ms for two ends) is
        // caught whatever else is active.
        assert!(50.0 + 0.1 > restored_limit_ms(0.1, 50.0, still));
        assert!(100.1 > restored_limit_ms(0.1, 100.0, still));
        // A large delay gets a tenth of itself as slack; a small one the fixed 5 ms.
        assert_eq!(restored_limit_ms(0.0, 400.0, 0.0), 40.0);
        assert_eq!(restored_limit_ms(1.0, 20.0, 0.0), 6.0);
    }
}

/// The faults the packet agent applies: a fault's place here is decided once, by an exhaustive
/// match, so a new fault cannot slip into the agent's code paths unnoticed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AgentFault {
    Slow,
    Duplicate,
    Reorder,
    Corrupt,
    Bandwidth,
}

impl AgentFault {
    fn of(f: Fault) -> Option<AgentFault> {
        match f {
            Fault::Slow => Some(AgentFault::Slow),
            Fault::Duplicate => Some(AgentFault::Duplicate),
            Fault::Reorder => Some(AgentFault::Reorder),
            Fault::Corrupt => Some(AgentFault::Corrupt),
            Fault::Bandwidth => Some(AgentFault::Bandwidth),
            Fault::PartitionOne
            | Fault::PartitionHalves
            | Fault::PartitionRing
            | Fault::PartitionBridge
            | Fault::PartitionLeader
            | Fault::PartitionOneway
            | Fault::Flaky
            | Fault::Kill
            | Fault::Pause
            | Fault::Clock
            | Fault::Failover => None,
        }
    }
}
