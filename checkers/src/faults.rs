//! Fault windows: the spans of a history during which the nemesis had a fault applied.
//!
//! Convention (shared by the runner, the nemesis, the metrics and the reports): every nemesis
//! action is two `info` events on process `nemesis`. The first is written when the action
//! starts, the second when it has completed; both carry the same `f`. A fault is applied by
//! `f = "start-<fault>"` and removed by `f = "stop-<fault>"`; the completion's `value` is an
//! object that says what was applied, e.g.
//! `{"fault": "partition-halves", "targets": ["n1","n2"], "grudge": {"n1": ["n3"]}, "verified": true}`.
//! A window runs from the start action's first event to the stop action's completion; a fault
//! never stopped runs to the end of the history.

use crate::history::{Op, OpType};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultWindow {
    /// The fault's name, e.g. `partition-halves`, `kill`, `pause`.
    pub fault: String,
    /// Nanoseconds since the run started.
    pub start: u64,
    /// `None` when the fault was still applied at the end of the history.
    pub end: Option<u64>,
    /// The value of the start action's completion (what was applied), or of its first event.
    pub detail: serde_json::Value,
    /// The value of the stop action's completion, if any (heal probes, time-to-heal).
    pub heal_detail: Option<serde_json::Value>,
}

impl FaultWindow {
    /// The end of the window, or `history_end` if it never closed.
    pub fn end_or(&self, history_end: u64) -> u64 {
        self.end.unwrap_or(history_end)
    }
}

/// Pair every `start-X` with the next `stop-X`.
pub fn fault_windows(history: &[Op]) -> Vec<FaultWindow> {
    let mut windows: Vec<FaultWindow> = Vec::new();
    // Open windows by fault name, as indexes into `windows`.
    let mut open: indexmap::IndexMap<String, usize> = indexmap::IndexMap::new();
    // Whether we have already seen the first event of the current action, per f.
    let mut started: std::collections::HashSet<&str> = std::collections::HashSet::new();
    for op in history.iter().filter(|op| op.is_nemesis()) {
        let first_event = started.insert(op.f.as_str());
        if !first_event {
            started.remove(op.f.as_str());
        }
        if op.kind != OpType::Info && op.kind != OpType::Invoke && op.kind != OpType::Ok {
            continue;
        }
        if let Some(fault) = op.f.strip_prefix("start-") {
            match open.get(fault) {
                Some(&i) => {
                    // The completion of the start action: keep what was really applied.
                    if !op.value.is_null() {
                        windows[i].detail = op.value.clone();
                    }
                }
                None => {
                    open.insert(fault.to_string(), windows.len());
                    windows.push(FaultWindow {
                        fault: fault.to_string(),
                        start: op.time,
                        end: None,
                        detail: op.value.clone(),
                        heal_detail: None,
                    });
                }
            }
        } else if let Some(fault) = op.f.strip_prefix("stop-") {
            if let Some(&i) = open.get(fault) {
                windows[i].end = Some(op.time);
                if !op.value.is_null() {
                    windows[i].heal_detail = Some(op.value.clone());
                }
                if !first_event {
                    open.shift_remove(fault);
                }
            }
        }
    }
    windows
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Process;
    use serde_json::json;

    fn nem(index: u64, time: u64, f: &str, value: serde_json::Value) -> Op {
        Op {
            index,
            time,
            kind: OpType::Info,
            process: Process::Nemesis,
            f: f.into(),
            value,
            key: None,
            node: None,
            error: None,
        }
    }

    #[test]
    fn pairs_start_and_stop() {
        let h = vec![
            nem(0, 10, "start-partition-halves", json!(null)),
            nem(1, 20, "start-partition-halves", json!({"fault": "partition-halves", "verified": true})),
            nem(2, 100, "stop-partition-halves", json!(null)),
            nem(3, 110, "stop-partition-halves", json!({"healed": true})),
            nem(4, 200, "start-kill", json!({"targets": ["n1"]})),
            nem(5, 210, "start-kill", json!({"targets": ["n1"]})),
        ];
        let w = fault_windows(&h);
        assert_eq!(w.len(), 2);
        assert_eq!(w[0].fault, "partition-halves");
        assert_eq!((w[0].start, w[0].end), (10, Some(110)));
        assert_eq!(w[0].detail["verified"], json!(true));
        assert_eq!(w[1].fault, "kill");
        assert_eq!(w[1].end, None);
    }
}
