//! The partition detector: TCP connects between every ordered pair of nodes, run on the source node
//! through `Control`, compared with what the active grudges predict.
//!
//! A connect needs packets in both directions, so the expectation for a link is "ok unless either end
//! drops the other" (`grudge::tcp_reachable`). For a one-way partition this means the direction that
//! still carries packets cannot be shown by a connect; the matrix records what TCP saw and the value
//! says so. A link expected to work that looks cut is probed again (a lost SYN under `flaky` looks
//! like a cut), a link expected cut that connects is a definite failure.

use std::collections::BTreeMap;

use crate::control::{join_all, Shell, Task};
use crate::render;

/// Attempts for a link that is expected to work but looks cut.
const ATTEMPTS_EXPECTED_OK: usize = 3;

/// What the probes found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProbeMatrix {
    /// from -> to -> "ok" | "cut" | "error: ..."
    pub matrix: BTreeMap<String, BTreeMap<String, String>>,
    /// Human-readable disagreements with the expectation ("n1 -> n3: expected cut, got ok").
    pub mismatches: Vec<String>,
    pub links: usize,
    pub cut: usize,
}

impl ProbeMatrix {
    pub fn agrees(&self) -> bool {
        self.mismatches.is_empty()
    }

    pub fn matrix_json(&self) -> serde_json::Value {
        serde_json::to_value(&self.matrix).unwrap_or(serde_json::Value::Null)
    }
}

/// Probe one link, retrying when it is expected to work.
async fn probe_link<C: Shell>(
    ctl: &C,
    from: &str,
    to_addr: &str,
    port: u16,
    timeout_s: u32,
    expect_ok: bool,
) -> String {
    let attempts = if expect_ok { ATTEMPTS_EXPECTED_OK } else { 1 };
    let mut last = String::new();
    for _ in 0..attempts {
        last = match ctl.run(from, render::probe(to_addr, port, timeout_s)).await {
            Ok(out) if render::probe_connected(out.status, &out.stderr) => return "ok".into(),
            Ok(_) => "cut".into(),
            Err(e) => format!("error: {e:#}"),
        };
    }
    last
}

/// Probe every ordered pair of `nodes` (in parallel) and compare with `expect_ok(from, to)`.
pub async fn probe_all<C: Shell>(
    ctl: &C,
    nodes: &[String],
    timeout_s: u32,
    expect_ok: &(dyn Fn(&str, &str) -> bool + Sync),
) -> ProbeMatrix {
    let port = ctl.probe_port();
    let mut links: Vec<(String, String, bool)> = Vec::new();
    for from in nodes {
        for to in nodes {
            if from != to {
                links.push((from.clone(), to.clone(), expect_ok(from, to)));
            }
        }
    }
    let tasks: Vec<Task<'_, String>> = links
        .iter()
        .map(|(from, to, ok)| {
            let addr = ctl.address(to);
            let t: Task<'_, String> = Box::pin(async move { probe_link(ctl, from, &addr, port, timeout_s, *ok).await });
            t
        })
        .collect();
    let seen = join_all(tasks).await;
    let mut result = ProbeMatrix { links: links.len(), ..ProbeMatrix::default() };
    for ((from, to, ok), got) in links.iter().zip(seen) {
        let want = if *ok { "ok" } else { "cut" };
        if got == "cut" {
            result.cut += 1;
        }
        if got != want {
            result.mismatches.push(format!("{from} -> {to}: expected {want}, got {got}"));
        }
        result.matrix.entry(from.clone()).or_default().insert(to.clone(), got);
    }
    result
}
