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

use crate::history::Op;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// Whether a nemesis action applies a fault or removes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Start,
    Stop,
}

impl Phase {
    /// The history's `f` for this phase of `fault`: `start-<fault>` or `stop-<fault>`.
    pub fn f(self, fault: &str) -> String {
        match self {
            Phase::Start => format!("start-{fault}"),
            Phase::Stop => format!("stop-{fault}"),
        }
    }

    /// The phase and fault an `f` names, if it is a start or a stop.
    pub fn parse(f: &str) -> Option<(Phase, &str)> {
        if let Some(fault) = f.strip_prefix("start-") {
            Some((Phase::Start, fault))
        } else {
            f.strip_prefix("stop-").map(|fault| (Phase::Stop, fault))
        }
    }
}

/// What a nemesis action's value says, typed: the fields faultline's engine writes. Histories
/// from elsewhere may carry none of them; every field is then empty.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Applied {
    #[serde(default)]
    pub fault: Option<String>,
    /// The nodes the fault was applied to.
    #[serde(default)]
    pub targets: Vec<String>,
    /// For partitions: each node and the nodes it no longer hears from.
    #[serde(default)]
    pub grudge: Option<BTreeMap<String, BTreeSet<String>>>,
    /// Whether the engine checked that the fault took effect (`false`: it did not).
    #[serde(default)]
    pub verified: Option<bool>,
    /// Why it did not take effect, when it did not.
    #[serde(default)]
    pub reason: Option<String>,
}

impl Applied {
    /// The typed view of a value; a value of another shape gives the empty view.
    pub fn of(value: &Value) -> Applied {
        Applied::deserialize(value).unwrap_or_default()
    }
}

/// One nemesis action: its two `info` events (begun, completed) paired.
#[derive(Debug, Clone, PartialEq)]
pub struct NemesisAction<'a> {
    pub phase: Phase,
    pub fault: &'a str,
    /// The first event's time (when the action began).
    pub began: u64,
    /// The second event's time; `None` when the history ends before the action completed.
    pub completed: Option<u64>,
    /// The first event's value (what was asked for).
    pub asked: &'a Value,
    /// The completion's value (what was done), if there is a completion.
    pub done: Option<&'a Value>,
}

impl NemesisAction<'_> {
    /// What was done, or failing that what was asked for.
    pub fn value(&self) -> &Value {
        self.done.filter(|v| !v.is_null()).unwrap_or(self.asked)
    }

    pub fn applied(&self) -> Applied {
        Applied::of(self.value())
    }
}

/// Every start and stop action of the nemesis, in history order. Events of one `f` alternate
/// begin, complete (the engine runs one action at a time), so the n-th event of an `f` is a
/// completion exactly when n is even. Other nemesis events (e.g. `heal`) are not actions.
pub fn nemesis_actions(history: &[Op]) -> Vec<NemesisAction<'_>> {
    let mut actions: Vec<NemesisAction> = Vec::new();
    // Actions begun but not completed, by f, as indexes into `actions`.
    let mut open: BTreeMap<&str, usize> = BTreeMap::new();
    for op in history.iter().filter(|op| op.is_nemesis()) {
        let Some((phase, fault)) = Phase::parse(&op.f) else { continue };
        match open.remove(op.f.as_str()) {
            Some(i) => {
                actions[i].completed = Some(op.time);
                actions[i].done = Some(&op.value);
            }
            None => {
                open.insert(op.f.as_str(), actions.len());
                actions.push(NemesisAction {
                    phase,
                    fault,
                    began: op.time,
                    completed: None,
                    asked: &op.value,
                    done: None,
                });
            }
        }
    }
    actions
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultWindow {
    /// The fault's name, e.g. `partition-halves`, `kill`, `pause`.
    pub fault: String,
    /// Nanoseconds since the run started.
    pub start: u64,
    /// `None` when the fault was still applied at the end of the history.
    pub end: Option<u64>,
    /// The value of the start action's completion (what was applied), or of its first event.
    pub detail: Value,
    /// The value of the stop action's completion, if any (heal probes, time-to-heal).
    pub heal_detail: Option<Value>,
}

impl FaultWindow {
    /// The end of the window, or `history_end` if it never closed.
    pub fn end_or(&self, history_end: u64) -> u64 {
        self.end.unwrap_or(history_end)
    }
}

/// Pair every start action with the next stop action of the same fault. A window runs from the
/// start's first event to the stop's completion (or its first event, if it never completed).
pub fn fault_windows(history: &[Op]) -> Vec<FaultWindow> {
    let mut windows: Vec<FaultWindow> = Vec::new();
    // Open windows by fault name, as indexes into `windows`.
    let mut open: BTreeMap<&str, usize> = BTreeMap::new();
    for action in nemesis_actions(history) {
        match action.phase {
            Phase::Start => {
                if open.contains_key(action.fault) {
                    continue; // started twice without a stop: the first start opened the window
                }
                open.insert(action.fault, windows.len());
                windows.push(FaultWindow {
                    fault: action.fault.to_string(),
                    start: action.began,
                    end: None,
                    detail: action.value().clone(),
                    heal_detail: None,
                });
            }
            Phase::Stop => {
                if let Some(i) = open.remove(action.fault) {
                    windows[i].end = Some(action.completed.unwrap_or(action.began));
                    windows[i].heal_detail = action.done.filter(|v| !v.is_null()).cloned();
                }
            }
        }
    }
    windows
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{OpType, Process};
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

    #[test]
    fn actions_pair_their_two_events_and_type_the_value() {
        let h = vec![
            nem(0, 10, "start-partition-one", json!({"fault": "partition-one"})),
            nem(1, 20, "heal", json!(null)),
            nem(
                2,
                30,
                "start-partition-one",
                json!({"fault": "partition-one", "targets": ["n2"], "grudge": {"n2": ["n1"]}, "verified": true}),
            ),
            nem(3, 40, "stop-partition-one", json!(null)),
        ];
        let a = nemesis_actions(&h);
        assert_eq!(a.len(), 2);
        assert_eq!((a[0].phase, a[0].fault, a[0].began, a[0].completed), (Phase::Start, "partition-one", 10, Some(30)));
        let applied = a[0].applied();
        assert_eq!(applied.targets, vec!["n2".to_string()]);
        assert_eq!(applied.grudge.unwrap()["n2"], BTreeSet::from(["n1".to_string()]));
        assert_eq!(applied.verified, Some(true));
        assert_eq!((a[1].phase, a[1].completed), (Phase::Stop, None));
        assert_eq!(Phase::parse(&Phase::Stop.f("kill")), Some((Phase::Stop, "kill")));
        assert_eq!(Phase::parse("heal"), None);
        assert_eq!(Applied::of(&json!("not an object")), Applied::default());
    }
}
