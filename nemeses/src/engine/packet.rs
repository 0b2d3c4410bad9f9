//! Packet faults: `flaky` (iptables statistic drops) and `slow` (netem delay, where the kernel has
//! sch_netem).

use super::*;

impl<C: Control> Nemesis<C> {
    pub(super) async fn start_flaky(&mut self, targets: Vec<String>) -> anyhow::Result<Value> {
        let loss = self.opts.loss;
        let mut rules = Vec::new();
        for node in &targets {
            for peer in self.nodes.iter().filter(|p| *p != node) {
                let addr = self.rule_address(peer)?;
                rules.push(Rule {
                    node: node.clone(),
                    bin: render::iptables_for(&addr),
                    spec: render::random_drop_from_spec(&addr, loss),
                });
            }
        }
        let wanted = rules.len();
        let (added, errors) = self.add_rules(rules).await;
        let n_added = added.len();
        self.applied.insert(Fault::Flaky, Applied::Rules { grudge: None, rules: added });
        let mut value = json!({ "targets": targets, "loss": loss, "rules": n_added });
        value["verified"] = json!(errors.is_empty() && n_added == wanted);
        if !errors.is_empty() {
            value["reason"] = json!(format!("flaky rules were not all added: {}", errors.join("; ")));
        }
        Ok(value)
    }

    pub(super) async fn start_slow(&mut self, targets: Vec<String>) -> Value {
        let (delay, jitter) = (self.opts.delay, self.opts.jitter);
        let ctl = &self.ctl;
        let nodes = &self.nodes;
        let tasks: Vec<Task<'_, (Vec<NodeDev>, Vec<String>)>> = targets
            .iter()
            .map(|node| {
                let t: Task<'_, _> = Box::pin(async move {
                    let (mut done, mut errors) = (Vec::new(), Vec::new());
                    // Which device reaches each peer.
                    let mut by_dev: BTreeMap<String, Vec<String>> = BTreeMap::new();
                    for peer in nodes.iter().filter(|p| *p != node) {
                        let addr = ctl.address(peer);
                        match ctl.run(node, render::route_get(&addr)).await {
                            Ok(o) if o.ok() => match render::parse_route_dev(&o.stdout) {
                                Some(dev) => by_dev.entry(dev).or_default().push(addr),
                                None => errors
                                    .push(format!("{node}: no device in `ip route get {addr}`: {}", o.stdout.trim())),
                            },
                            Ok(o) => errors.push(format!("{node}: `ip route get {addr}` failed: {}", o.stderr.trim())),
                            Err(e) => errors.push(format!("{node}: `ip route get {addr}`: {e:#}")),
                        }
                    }
                    for (dev, peers) in by_dev {
                        let mut ok = true;
                        for (i, argv) in render::netem_commands(&dev, &peers, delay, jitter).into_iter().enumerate() {
                            let r = ctl.run(node, argv.clone()).await;
                            let failed = match &r {
                                Ok(o) if o.ok() => None,
                                Ok(o) => Some(o.stderr.trim().to_string()),
                                Err(e) => Some(format!("{e:#}")),
                            };
                            if let Some(why) = failed {
                                errors.push(format!("{node}: `{}` failed: {why}", argv.join(" ")));
                                if i > 0 {
                                    // The root qdisc is ours: take the half-built tree away again.
                                    let _ = ctl.run(node, render::netem_delete(&dev)).await;
                                }
                                ok = false;
                                break;
                            }
                        }
                        if ok {
                            done.push((node.clone(), dev));
                        }
                    }
                    (done, errors)
                });
                t
            })
            .collect();
        let (mut done, mut errors) = (Vec::new(), Vec::new());
        for (d, e) in join_all(tasks).await {
            done.extend(d);
            errors.extend(e);
        }
        let mut devices: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (node, dev) in &done {
            devices.entry(node.clone()).or_default().push(dev.clone());
        }
        self.applied.insert(Fault::Slow, Applied::Qdiscs(done));
        let mut value = json!({
            "targets": targets,
            "delay_ms": ms(delay),
            "jitter_ms": ms(jitter),
            "devices": devices,
            "verified": errors.is_empty(),
        });
        if !errors.is_empty() {
            value["reason"] = json!(format!("slow did not take effect everywhere: {}", errors.join("; ")));
        }
        value
    }
    /// Undo `slow`: remove faultline's root qdiscs.
    pub(super) async fn undo_qdiscs(&self, pairs: Vec<NodeDev>) -> Undone {
        let ctl = &self.ctl;
        let tasks: Vec<Task<'_, anyhow::Result<crate::control::Output>>> =
            pairs.iter().map(|(node, dev)| Box::pin(ctl.run(node, render::netem_delete(dev))) as Task<'_, _>).collect();
        let (mut lines, mut errors, mut kept) = (Vec::new(), Vec::new(), Vec::new());
        let results = join_all(tasks).await;
        for ((node, dev), r) in pairs.iter().cloned().zip(results) {
            match r {
                Ok(o) if o.ok() || o.stderr.contains("Cannot find") || o.stderr.contains("Invalid handle") => {
                    lines.push(format!("slow: removed netem delay on {node} {dev}"))
                }
                Ok(o) => {
                    errors.push(format!("{node}: removing netem on {dev} failed: {}", o.stderr.trim()));
                    kept.push((node, dev));
                }
                Err(e) => {
                    errors.push(format!("{node}: removing netem on {dev}: {e:#}"));
                    kept.push((node, dev));
                }
            }
        }
        (lines, errors, (!kept.is_empty()).then_some(Applied::Qdiscs(kept)))
    }
}
