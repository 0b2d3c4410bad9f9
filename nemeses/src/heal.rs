//! `faultline heal`: repair nodes after the harness died mid-run (SIGKILL, power loss), without
//! any record of what was applied. It removes everything faultline can recognise as its own: the
//! FAULTLINE chains and their jumps (IPv4 and IPv6), root qdiscs with faultline's handle, and the
//! packet agent (found by its pidfile under `/run/faultline`). It
//! needs only the [`Shell`]: database processes (stopped ones to resume, leftovers to stop) are
//! the database adapter's business (`faultline_dbs::lifecycle`). A libfaketime offset (clock faults
//! on a shared clock) is a file under `/run/faultline`: removed. Offsets set with `date` cannot be
//! undone without the run's record; resync those hosts with NTP.

use crate::control::{join_all, Shell, Task};
use crate::render;

/// At most this many jumps are removed per builtin chain (a guard against a command that "succeeds"
/// forever).
const MAX_JUMPS: usize = 16;

/// What `heal_nodes` fixed and what it could not.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HealNodesReport {
    pub fixed: Vec<String>,
    pub errors: Vec<String>,
}

/// Flush the rules of FAULTLINE in `bin` on `node`, keeping the chain and its jumps (healing
/// mid-run). `Ok(None)` when there was nothing to flush: no chain, or an empty one.
pub async fn flush_rules<C: Shell>(ctl: &C, node: &str, bin: &'static str) -> Result<Option<String>, String> {
    let listed = ctl
        .run(node, render::list_chain(bin))
        .await
        .map_err(|e| format!("{node}: listing {bin} chain FAULTLINE: {e:#}"))?;
    // No chain: nothing of ours there.
    if !listed.ok() {
        return Ok(None);
    }
    let n = render::count_rules(&listed.stdout);
    if n == 0 {
        return Ok(None);
    }
    match ctl.run(node, render::flush_chain(bin)).await {
        Ok(f) if f.ok() => Ok(Some(format!("{node}: flushed {n} rule(s) from {bin} chain FAULTLINE"))),
        Ok(f) => Err(format!("{node}: `{bin} -F FAULTLINE` failed: {}", f.stderr.trim())),
        Err(e) => Err(format!("{node}: `{bin} -F FAULTLINE`: {e:#}")),
    }
}

/// Remove FAULTLINE from `bin` on `node`: jumps from INPUT/OUTPUT, rules, chain. `Ok(None)` when
/// there was no chain and no jump (or the binary is not installed).
pub async fn remove_chain<C: Shell>(ctl: &C, node: &str, bin: &'static str) -> Result<Option<String>, String> {
    let run = |argv: Vec<String>| async move {
        ctl.run(node, argv.clone()).await.map_err(|e| format!("{node}: `{}`: {e:#}", argv.join(" ")))
    };
    let listed = run(render::list_chain(bin)).await?;
    if listed.status == 127 || listed.stderr.contains("not found") {
        return Ok(None);
    }
    let mut jumps = 0;
    for builtin in ["INPUT", "OUTPUT"] {
        for _ in 0..MAX_JUMPS {
            if !run(render::check_jump(bin, builtin)).await?.ok() {
                break;
            }
            let deleted = run(render::delete_jump(bin, builtin)).await?;
            if !deleted.ok() {
                return Err(format!("{node}: `{bin} -D {builtin} -j FAULTLINE` failed: {}", deleted.stderr.trim()));
            }
            jumps += 1;
        }
    }
    if !listed.ok() {
        return Ok((jumps > 0).then(|| format!("{node}: removed {jumps} jump(s) to a missing {bin} chain FAULTLINE")));
    }
    let rules = render::count_rules(&listed.stdout);
    for argv in [render::flush_chain(bin), render::delete_chain(bin)] {
        let out = run(argv.clone()).await?;
        if !out.ok() {
            return Err(format!("{node}: `{}` failed: {}", argv.join(" "), out.stderr.trim()));
        }
    }
    Ok(Some(format!("{node}: removed {bin} chain FAULTLINE ({rules} rule(s), {jumps} jump(s))")))
}

async fn heal_node<C: Shell>(ctl: &C, node: &str) -> HealNodesReport {
    let mut report = HealNodesReport::default();
    for bin in ["iptables", "ip6tables"] {
        match remove_chain(ctl, node, bin).await {
            Ok(Some(line)) => report.fixed.push(line),
            Ok(None) => {}
            Err(e) => report.errors.push(e),
        }
    }
    // After the chain is gone nothing feeds the agent: stop it (it lets held packets go).
    match ctl.run(node, crate::agent::stop_argv()).await {
        Ok(o) if o.ok() => {
            if let Some(pid) = o.stdout.trim().strip_prefix("stopped ") {
                report.fixed.push(format!("{node}: stopped the packet agent (pid {pid})"));
            }
        }
        Ok(o) => report.errors.push(format!("{node}: stopping the packet agent failed: {}", o.stderr.trim())),
        Err(e) => report.errors.push(format!("{node}: stopping the packet agent: {e:#}")),
    }
    match ctl.run(node, crate::faketime::reset_argv()).await {
        Ok(o) if o.ok() => {
            if o.stdout.trim() == "reset" {
                report.fixed.push(format!("{node}: removed the database's libfaketime clock offset"));
            }
        }
        Ok(o) => report.errors.push(format!("{node}: removing the libfaketime offset failed: {}", o.stderr.trim())),
        Err(e) => report.errors.push(format!("{node}: removing the libfaketime offset: {e:#}")),
    }
    match ctl.run(node, render::qdisc_show()).await {
        Ok(o) if o.ok() => {
            for dev in render::parse_faultline_qdisc_devs(&o.stdout) {
                match ctl.run(node, render::netem_delete(&dev)).await {
                    Ok(d) if d.ok() => report.fixed.push(format!("{node}: removed faultline's netem qdisc from {dev}")),
                    Ok(d) => report.errors.push(format!("{node}: removing qdisc on {dev} failed: {}", d.stderr.trim())),
                    Err(e) => report.errors.push(format!("{node}: removing qdisc on {dev}: {e:#}")),
                }
            }
        }
        // No tc on the node: faultline cannot have added qdiscs there.
        Ok(o) if o.status == 127 => {}
        Ok(o) => report.errors.push(format!("{node}: `tc qdisc show` failed: {}", o.stderr.trim())),
        Err(e) => report.errors.push(format!("{node}: `tc qdisc show`: {e:#}")),
    }
    report
}

/// Heal every node (in parallel) and report what was fixed, node by node.
pub async fn heal_nodes<C: Shell>(ctl: &C) -> HealNodesReport {
    let nodes = ctl.nodes();
    let tasks: Vec<Task<'_, HealNodesReport>> =
        nodes.iter().map(|n| Box::pin(heal_node(ctl, n)) as Task<'_, _>).collect();
    let mut report = HealNodesReport::default();
    for r in join_all(tasks).await {
        report.fixed.extend(r.fixed);
        report.errors.extend(r.errors);
    }
    report
}
