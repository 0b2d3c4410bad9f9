//! Partitions (a grudge cut with iptables, verified with probes) and the failover that cuts the
//! primary off and promotes a replica.

use super::*;

impl<C: Control> Nemesis<C> {
    pub(super) async fn start_partition(&mut self, fault: Fault, grudge: Grudge) -> anyhow::Result<Value> {
        let began = Instant::now();
        let rules = self.grudge_rules(&grudge)?;
        let (added, errors) = self.add_rules(rules).await;
        self.applied.insert(fault, Applied::Rules { grudge: Some(grudge.clone()), rules: added });
        let apply_ms = ms(began.elapsed());
        let mut value = json!({
            "targets": grudge.keys().collect::<Vec<_>>(),
            "grudge": grudge::grudge_json(&grudge),
            "apply_ms": apply_ms,
        });
        if fault == Fault::PartitionOneway {
            value["note"] = json!(
                "one-way partition: a TCP connect needs both directions, so links are probed as cut both ways; \
                 the probes verify the cut direction, not that the other direction still carries packets"
            );
        }
        self.verify_applied(fault, &mut value, errors).await;
        Ok(value)
    }

    /// Probe the links (when verification is on) and record in `value` whether `fault` took effect
    /// as planned: `verified`, and the `reason` (with the `errors` met while applying it) if not.
    async fn verify_applied(&self, fault: Fault, value: &mut Value, errors: Vec<String>) {
        let mut reasons = errors;
        if self.opts.verify {
            let t = Instant::now();
            let probes = self.probe_expected().await;
            value["verify_ms"] = json!(ms(t.elapsed()));
            value["probes"] = probes.matrix_json();
            reasons.extend(probes.mismatches.iter().cloned());
        }
        value["verified"] = json!(reasons.is_empty());
        if !reasons.is_empty() {
            value["reason"] = json!(format!("{fault} did not take effect as planned: {}", reasons.join("; ")));
        }
    }

    /// Partition the current primary away from every other node, then promote a (seeded) replica
    /// and send the clients to it. Writes the old primary acknowledged after the cut, and those
    /// it had not yet replicated, are what asynchronous replication loses at the heal.
    pub(super) async fn start_failover(&mut self) -> anyhow::Result<Value> {
        if !self.ctl.supports_failover() {
            anyhow::bail!("failover: the database elects its own leader; use partition-leader instead");
        }
        let primaries = self.ctl.primaries().await?;
        let Some(old) = primaries.first().cloned() else {
            anyhow::bail!("failover: no node is a primary right now");
        };
        let replicas: Vec<String> = self.nodes.iter().filter(|n| **n != old).cloned().collect();
        if replicas.is_empty() {
            anyhow::bail!("failover: {old} has no replica to promote");
        }
        let new = replicas[self.rng.random_range(0..replicas.len())].clone();
        let grudge =
            grudge::partition_primaries(&self.nodes, std::slice::from_ref(&old)).map_err(anyhow::Error::msg)?;
        let rules = self.grudge_rules(&grudge)?;
        let (added, mut reasons) = self.add_rules(rules).await;
        self.applied.insert(
            Fault::Failover,
            Applied::Failover {
                grudge: grudge.clone(),
                rules: added,
                old_primary: old.clone(),
                new_primary: new.clone(),
            },
        );
        let promoted = match self.ctl.promote(&new).await {
            Ok(line) => line,
            Err(e) => {
                reasons.push(format!("promoting {new}: {e:#}"));
                String::new()
            }
        };
        let mut value = json!({
            "targets": [old.clone()],
            "old_primary": old,
            "new_primary": new,
            "grudge": grudge::grudge_json(&grudge),
            "promoted": promoted,
        });
        self.verify_applied(Fault::Failover, &mut value, reasons).await;
        Ok(value)
    }
    /// Undo a partition or `flaky`: delete the rules it added.
    pub(super) async fn undo_rules(&self, fault: Fault, grudge: Option<Grudge>, rules: Vec<Rule>) -> Undone {
        let n = rules.len();
        let mut nodes: BTreeSet<String> = rules.iter().map(|r| r.node.clone()).collect();
        let (kept, errors) = self.delete_rules(rules).await;
        for r in &kept {
            nodes.remove(&r.node);
        }
        let lines = if n > kept.len() {
            vec![format!(
                "{fault}: removed {} rule(s) on {}",
                n - kept.len(),
                nodes.into_iter().collect::<Vec<_>>().join(", ")
            )]
        } else {
            vec![]
        };
        let left = (!kept.is_empty()).then_some(Applied::Rules { grudge, rules: kept });
        (lines, errors, left)
    }

    /// Undo a failover: reconnect the old primary, then make every node follow the new one.
    pub(super) async fn undo_failover(
        &self,
        grudge: Grudge,
        rules: Vec<Rule>,
        old_primary: String,
        new_primary: String,
    ) -> Undone {
        let ctl = &self.ctl;
        let n = rules.len();
        let (kept, mut errors) = self.delete_rules(rules).await;
        let mut lines = Vec::new();
        if n > kept.len() {
            lines.push(format!("failover: removed {} rule(s) isolating {old_primary}", n - kept.len()));
        }
        if !kept.is_empty() {
            // The old primary is still cut off: following now would not reach it.
            let left = Applied::Failover { grudge, rules: kept, old_primary, new_primary };
            return (lines, errors, Some(left));
        }
        match ctl.follow(&new_primary).await {
            Ok(line) => {
                lines.push(format!("failover: {old_primary} and the other nodes now follow {new_primary}: {line}"))
            }
            Err(e) => errors.push(format!("failover: making the nodes follow {new_primary}: {e:#}")),
        }
        (lines, errors, None)
    }

    /// The iptables rules that cut a grudge: on each node, drop what comes from each peer it holds
    /// a grudge against.
    fn grudge_rules(&self, grudge: &Grudge) -> anyhow::Result<Vec<Rule>> {
        let mut rules = Vec::new();
        for (node, dropped) in grudge {
            for peer in dropped {
                let addr = self.rule_address(peer)?;
                rules.push(Rule {
                    node: node.clone(),
                    bin: render::iptables_for(&addr),
                    spec: render::drop_from_spec(&addr),
                });
            }
        }
        Ok(rules)
    }
}
