//! The fault window table: one row per window, what was done to whom, and how the system fared.
//!
//! Availability, detection and recovery come from the metrics checker
//! (`results.checkers.metrics.windows`) when it ran; otherwise availability is computed here
//! from the ops that completed inside the window, and the rest is shown as unknown.

use crate::ops::{ClientOp, Outcome};
use crate::style;
use faultline_checkers::faults::FaultWindow;
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, Serialize)]
pub struct WindowRow {
    pub fault: String,
    pub targets: String,
    pub start: String,
    pub duration: String,
    pub availability: String,
    pub detection: String,
    pub recovery: String,
    pub recovery_90: String,
    /// "yes", "no" or "—".
    pub verified: String,
    /// Packet and clock faults: the profile (offsets) applied and how (agent, netem, libfaketime,
    /// date), and what the verification measured (RTTs, probe counts, clock readings; again
    /// after the stop). Empty for other faults.
    pub profile: String,
    pub measured: String,
}

/// The profile a packet fault applied (a clock fault: its offsets), and through what.
fn profile_text(detail: &Value) -> String {
    let offsets = detail.get("offsets_ms").and_then(Value::as_object).filter(|o| !o.is_empty()).map(|o| {
        let each: Vec<String> = o
            .iter()
            .map(|(n, ms)| {
                format!("{} {:+} ms", style::value_text(&Value::String(n.clone()), 40), ms.as_i64().unwrap_or(0))
            })
            .collect();
        format!("offsets {}", each.join(", "))
    });
    let profile = detail.get("profile").and_then(Value::as_str).map(str::to_string).or(offsets).or_else(|| {
        detail.get("delay_ms").map(|d| format!("delay {}ms ± {}ms", d, detail.get("jitter_ms").unwrap_or(&Value::Null)))
    });
    match (profile, detail.get("mechanism").and_then(Value::as_str)) {
        (Some(p), Some(m)) => format!("{p} (via {m})"),
        (Some(p), None) => p,
        (None, _) => String::new(),
    }
}

/// What a packet fault's verification measured at the start, and after the stop.
fn measured_text(detail: &Value, heal: Option<&Value>) -> String {
    let mut parts: Vec<String> = Vec::new();
    if let Some(t) = detail.get("measured_text").and_then(Value::as_str).filter(|t| !t.is_empty()) {
        parts.push(t.to_string());
    }
    if let Some(m) = heal.and_then(|h| h.get("measured")).and_then(Value::as_object) {
        let after: Vec<String> = m
            .iter()
            .filter_map(|(link, v)| {
                let ms = v.get("after_heal_ms")?.as_f64()?;
                Some(format!("{} {ms:.1} ms", link.replace("->", "→")))
            })
            .collect();
        if !after.is_empty() {
            let what = if detail.get("offsets_ms").is_some() { "clock offset" } else { "RTT" };
            parts.push(format!("{what} after the stop: {}", after.join(", ")));
        }
    }
    parts.join("; ")
}

/// What a fault did to whom: a partition as its sides (`n1 | n2 n3 n4 n5`), with one-way cuts
/// as arrows and a bridge named; other faults as the nodes they targeted.
fn targets_text(detail: Option<&Value>) -> String {
    let Some(d) = detail else { return "—".into() };
    if let Some(g) = d.get("grudge").and_then(Value::as_object).filter(|g| !g.is_empty()) {
        let grudge: BTreeMap<String, BTreeSet<String>> = g
            .iter()
            .map(|(n, cut)| {
                let cut = cut.as_array().into_iter().flatten().map(|x| style::value_text(x, 40)).collect();
                (style::value_text(&Value::String(n.clone()), 40), cut)
            })
            .collect();
        let mut nodes: BTreeSet<String> = grudge.keys().cloned().collect();
        nodes.extend(grudge.values().flatten().cloned());
        if let Some(t) = d.get("targets").and_then(Value::as_array) {
            nodes.extend(t.iter().map(|x| style::value_text(x, 40)));
        }
        return topology_text(&grudge, &nodes);
    }
    if let Some(t) = d.get("targets").filter(|t| !t.is_null()) {
        return match t.as_array() {
            Some(a) => a.iter().map(|x| style::value_text(x, 40)).collect::<Vec<_>>().join(", "),
            None => style::value_text(t, 200),
        };
    }
    "—".into()
}

/// A grudge (node -> the nodes it drops packets from) in words. Symmetric cuts that split the
/// nodes into groups read `a b | c d`; a node that still hears every group is the bridge; cuts
/// in one direction only read `a ↛ b` (b no longer hears a).
fn topology_text(grudge: &BTreeMap<String, BTreeSet<String>>, nodes: &BTreeSet<String>) -> String {
    let cut = |from: &str, to: &str| grudge.get(to).is_some_and(|d| d.contains(from));
    // Groups: nodes joined by links that work both ways.
    let mut group_of: BTreeMap<&str, usize> = BTreeMap::new();
    let mut groups: Vec<Vec<&str>> = Vec::new();
    for n in nodes {
        if group_of.contains_key(n.as_str()) {
            continue;
        }
        let g = groups.len();
        let mut members = vec![n.as_str()];
        group_of.insert(n, g);
        let mut i = 0;
        while i < members.len() {
            let m = members[i];
            for o in nodes {
                if !group_of.contains_key(o.as_str()) && !cut(m, o) && !cut(o, m) {
                    group_of.insert(o, g);
                    members.push(o);
                }
            }
            i += 1;
        }
        groups.push(members);
    }
    let one_way: Vec<String> = nodes
        .iter()
        .flat_map(|a| nodes.iter().map(move |b| (a, b)))
        .filter(|(a, b)| cut(a, b) && !cut(b, a))
        .map(|(a, b)| format!("{a} ↛ {b}"))
        .collect();
    // Groups whose members can all talk within and not across read as sides.
    let clean = nodes.iter().all(|a| {
        nodes.iter().all(|b| a == b || (group_of[a.as_str()] == group_of[b.as_str()]) != (cut(a, b) || cut(b, a)))
    });
    if clean && one_way.is_empty() {
        let mut sides: Vec<String> = groups.iter().map(|g| g.join(" ")).collect();
        sides.sort_by_key(|s| s.split(' ').count());
        return sides.join(" | ");
    }
    let bridges: Vec<&String> =
        nodes.iter().filter(|n| nodes.iter().all(|o| o == *n || (!cut(n, o) && !cut(o, n)))).collect();
    let mut parts = Vec::new();
    if !bridges.is_empty() {
        let rest: BTreeSet<&String> = nodes.iter().filter(|n| !bridges.contains(n)).collect();
        let mut sides: Vec<Vec<&String>> = Vec::new();
        for n in rest {
            match sides.iter_mut().find(|s| s.iter().all(|m| !cut(m, n) && !cut(n, m))) {
                Some(s) => s.push(n),
                None => sides.push(vec![n]),
            }
        }
        let sides: Vec<String> =
            sides.iter().map(|s| s.iter().map(|n| n.as_str()).collect::<Vec<_>>().join(" ")).collect();
        parts.push(format!(
            "{} (bridge: {})",
            sides.join(" | "),
            bridges.iter().map(|b| b.as_str()).collect::<Vec<_>>().join(" ")
        ));
    } else {
        for (n, dropped) in grudge.iter().filter(|(_, d)| !d.is_empty()) {
            let both: Vec<&str> = dropped.iter().filter(|d| cut(n, d)).map(String::as_str).collect();
            if !both.is_empty() {
                parts.push(format!("{n} ⊘ {}", both.join(" ")));
            }
        }
    }
    parts.extend(one_way);
    parts.join("; ")
}
/// Whether the fault took effect and was removed: a window whose heal could not be verified must
/// not read "yes" (that is what made such a run unknown).
fn verified_with_heal(applied: Option<&Value>, healed: Option<&Value>, reason: Option<&Value>) -> String {
    let applied = verified_text(applied);
    let reason = reason.and_then(Value::as_str).map(|r| format!(": {}", style::truncate(r, 300))).unwrap_or_default();
    match healed.and_then(Value::as_bool) {
        Some(false) => format!("applied: {applied}; heal not verified{reason}"),
        _ if applied == "no" => format!("no{reason}"),
        _ => applied,
    }
}

fn verified_text(v: Option<&Value>) -> String {
    match v.and_then(Value::as_bool) {
        Some(true) => "yes".into(),
        Some(false) => "no".into(),
        None => "—".into(),
    }
}

fn opt_duration(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "—".into(),
        Some(v) => match v.as_u64() {
            Some(ns) => style::duration(ns),
            None => v.as_f64().filter(|f| *f >= 0.0).map(|f| style::duration(f as u64)).unwrap_or_else(|| "—".into()),
        },
    }
}

/// Share of the ops completing in `[a, b]` that succeeded.
fn availability(ops: &[ClientOp], a: u64, b: u64) -> Option<f64> {
    let (mut ok, mut all) = (0u64, 0u64);
    for o in ops {
        if let Some(e) = o.end {
            if e >= a && e <= b {
                all += 1;
                if o.outcome == Outcome::Ok {
                    ok += 1;
                }
            }
        }
    }
    (all > 0).then(|| ok as f64 / all as f64)
}

/// Rows for the computed windows, merged with the metrics checker's windows when present.
pub fn rows(windows: &[FaultWindow], metrics: Option<&Value>, ops: &[ClientOp], end_ns: u64) -> Vec<WindowRow> {
    let measured: Vec<&Value> = metrics
        .and_then(|m| m.get("windows"))
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    let mut out = Vec::new();
    for (i, w) in windows.iter().enumerate() {
        // The metrics window for this one: same fault and start, else the same position.
        let m = measured
            .iter()
            .find(|m| {
                m.get("fault").and_then(Value::as_str) == Some(w.fault.as_str())
                    && m.get("start").and_then(Value::as_u64) == Some(w.start)
            })
            .or_else(|| measured.get(i).filter(|m| m.get("fault").and_then(Value::as_str).is_none_or(|f| f == w.fault)))
            .copied();
        let end = w.end_or(end_ns);
        let avail =
            m.and_then(|m| m.get("availability")).and_then(Value::as_f64).or_else(|| availability(ops, w.start, end));
        // What the nemesis applied (a partition's grudge) says more than the metrics' target list.
        let targets = match targets_text(Some(&w.detail)) {
            t if t != "—" => t,
            _ => m
                .and_then(|m| m.get("targets"))
                .filter(|t| !t.is_null())
                .map(|t| targets_text(Some(&serde_json::json!({ "targets": t }))))
                .unwrap_or_else(|| "—".into()),
        };
        out.push(WindowRow {
            fault: w.fault.clone(),
            targets,
            start: style::secs(w.start),
            duration: if w.end.is_some() {
                style::duration(end - w.start)
            } else {
                format!("{} (never healed)", style::duration(end - w.start))
            },
            availability: style::percent(avail),
            detection: opt_duration(m.and_then(|m| m.get("detection_ns"))),
            recovery: opt_duration(m.and_then(|m| m.get("recovery_ns"))),
            recovery_90: opt_duration(m.and_then(|m| m.get("recovery_90_ns"))),
            verified: verified_with_heal(
                m.and_then(|m| m.get("verified")).filter(|v| !v.is_null()).or(w.detail.get("verified")),
                m.and_then(|m| m.get("heal_verified")),
                m.and_then(|m| m.get("verify_reason")),
            ),
            profile: profile_text(&w.detail),
            measured: measured_text(&w.detail, w.heal_detail.as_ref()),
        });
    }
    // Windows only the metrics checker knows of (e.g. a report without nemesis events).
    if windows.is_empty() {
        for m in measured {
            let start = m.get("start").and_then(Value::as_u64).unwrap_or(0);
            let end = m.get("end").and_then(Value::as_u64);
            out.push(WindowRow {
                fault: m.get("fault").map(|f| style::value_text(f, 80)).unwrap_or("?".into()),
                targets: targets_text(Some(m)),
                start: style::secs(start),
                duration: end.map(|e| style::duration(e.saturating_sub(start))).unwrap_or("—".into()),
                availability: style::percent(m.get("availability").and_then(Value::as_f64)),
                detection: opt_duration(m.get("detection_ns")),
                recovery: opt_duration(m.get("recovery_ns")),
                recovery_90: opt_duration(m.get("recovery_90_ns")),
                verified: verified_text(m.get("verified")),
                profile: String::new(),
                measured: String::new(),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn window(fault: &str, start: u64, end: Option<u64>, detail: Value) -> FaultWindow {
        FaultWindow { fault: fault.into(), start, end, detail, heal_detail: None }
    }

    #[test]
    fn partitions_read_as_their_sides_bridges_and_one_way_cuts() {
        let t = |d: Value| targets_text(Some(&d));
        let one = json!({"targets": ["n1", "n2", "n3", "n4", "n5"],
            "grudge": {"n1": ["n2", "n3", "n4", "n5"], "n2": ["n1"], "n3": ["n1"], "n4": ["n1"], "n5": ["n1"]}});
        assert_eq!(t(one), "n1 | n2 n3 n4 n5");
        let halves =
            json!({"grudge": {"n1": ["n3", "n4"], "n2": ["n3", "n4"], "n3": ["n1", "n2"], "n4": ["n1", "n2"]}});
        assert_eq!(t(halves), "n1 n2 | n3 n4");
        let bridge = json!({"grudge": {"n1": ["n4", "n5"], "n2": ["n4", "n5"], "n4": ["n1", "n2"], "n5": ["n1", "n2"], "n3": []}});
        assert_eq!(t(bridge), "n1 n2 | n4 n5 (bridge: n3)");
        let one_way = json!({"grudge": {"n2": ["n1"]}});
        assert_eq!(t(one_way), "n1 ↛ n2");
        assert_eq!(t(json!({"targets": ["n3"]})), "n3");
        assert_eq!(t(json!({"fault": "clock"})), "—");
    }

    fn op(start: u64, end: u64, outcome: Outcome) -> ClientOp {
        ClientOp { process: 0, invoke: 0, complete: Some(0), start, end: Some(end), outcome }
    }

    #[test]
    fn computes_availability_without_metrics() {
        let ops = [
            op(0, 10, Outcome::Ok),
            op(100, 150, Outcome::Fail),
            op(110, 160, Outcome::Ok),
            op(300, 400, Outcome::Info),
        ];
        let w = [window("kill", 100, Some(200), json!({"targets": ["n1", "<n2>"], "verified": true}))];
        let r = rows(&w, None, &ops, 1000);
        assert_eq!(r[0].availability, "50.0 %");
        assert_eq!(r[0].targets, "n1, <n2>");
        assert_eq!(r[0].verified, "yes");
        assert_eq!(r[0].detection, "—");
    }

    /// A window whose fault took effect but whose removal was not verified (what makes a run
    /// unknown) says so, with the nemesis's reason, instead of "yes".
    #[test]
    fn an_unverified_heal_is_not_verified_yes() {
        let w = [window("slow", 100, Some(200), json!({"verified": true}))];
        let m = json!({"windows": [{"fault": "slow", "start": 100, "verified": true, "heal_verified": false,
            "verify_reason": "n2 -> n3: RTT 51 ms after the heal"}]});
        let r = rows(&w, Some(&m), &[], 1000);
        assert_eq!(r[0].verified, "applied: yes; heal not verified: n2 -> n3: RTT 51 ms after the heal");
    }

    #[test]
    fn prefers_metrics_and_tolerates_odd_fields() {
        let w = [window("partition-halves", 5, None, json!({"grudge": {"n1": ["n3"]}}))];
        let m = json!({"windows": [{"fault": "partition-halves", "start": 5, "availability": 0.25, "detection_ns": 2_000_000, "recovery_ns": "x", "verified": false}]});
        let r = rows(&w, Some(&m), &[], 3_000_000_000);
        assert_eq!(r[0].availability, "25.0 %");
        assert_eq!(r[0].detection, "2.0 ms");
        assert_eq!(r[0].recovery, "—");
        assert_eq!(r[0].verified, "no");
        assert_eq!(r[0].targets, "n3 ↛ n1", "n1 drops what n3 sends");
        assert!(r[0].duration.contains("never healed"));
        let r = rows(&[], Some(&json!({"windows": [{"fault": 3}]})), &[], 0);
        assert_eq!(r.len(), 1);
    }

    #[test]
    fn clock_windows_show_offsets_mechanism_and_readings() {
        let mut w = window(
            "clock",
            0,
            Some(5),
            json!({"targets": ["n1", "n2"], "mechanism": "libfaketime", "offsets_ms": {"n1": -1500, "n2": 250},
                   "measured_text": "the database's own clock: n1 -1501 ms (expected -1500); n2 +251 ms (expected +250)"}),
        );
        w.heal_detail = Some(json!({"measured": {"n1": {"before_ms": 0.1, "after_heal_ms": 0.4}}}));
        let r = rows(&[w], None, &[], 10);
        assert_eq!(r[0].profile, "offsets n1 -1500 ms, n2 +250 ms (via libfaketime)");
        assert!(r[0].measured.starts_with("the database's own clock: n1 -1501 ms"), "{}", r[0].measured);
        assert!(r[0].measured.ends_with("clock offset after the stop: n1 0.4 ms"), "{}", r[0].measured);
    }
}
