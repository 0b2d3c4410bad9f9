//! Replaying a run: the schedule it really followed, rebuilt from the nemesis ops of its history.

use crate::fault::Fault;
use crate::schedule::{Action, Step};
use std::time::Duration;

/// The schedule a run really followed, rebuilt from its history: every start with the exact
/// nodes and grudge that were applied, every stop, at the times they began. Saved as
/// `schedule.toml` in the run directory, so `--nemesis-schedule` replays the failure exactly.
pub fn replay_schedule(ops: &[faultline_checkers::Op]) -> Vec<Step> {
    use std::collections::BTreeMap;
    let mut steps = Vec::new();
    // The time each action began (its first event), by f.
    let mut began: BTreeMap<&str, u64> = BTreeMap::new();
    for op in ops.iter().filter(|o| o.is_nemesis()) {
        let Some(first) = began.remove(op.f.as_str()) else {
            began.insert(op.f.as_str(), op.time);
            continue;
        };
        let at = Duration::from_nanos(first);
        if let Some(name) = op.f.strip_prefix("start-") {
            let Ok(fault) = Fault::parse(name) else { continue };
            let grudge =
                fault.is_partition().then(|| serde_json::from_value(op.value["grudge"].clone()).ok()).flatten();
            let nodes = (fault.uses_targets())
                .then(|| serde_json::from_value::<Vec<String>>(op.value["targets"].clone()).ok())
                .flatten()
                .filter(|n| !n.is_empty());
            steps.push(Step { at, action: Action::Start { fault, targets: None, nodes, grudge } });
        } else if let Some(name) = op.f.strip_prefix("stop-") {
            if let Ok(fault) = Fault::parse(name) {
                steps.push(Step { at, action: Action::Stop { fault } });
            }
        }
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule;
    use faultline_checkers::{Op, OpType, Process};
    use serde_json::{json, Value};

    fn nem(time: u64, f: &str, value: Value) -> Op {
        Op {
            index: 0,
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
    fn replay_keeps_the_applied_grudge_and_targets() {
        let ops = vec![
            nem(1_000_000_000, "start-partition-one", json!({"fault": "partition-one"})),
            nem(
                1_500_000_000,
                "start-partition-one",
                json!({"grudge": {"n1": ["n2", "n3"], "n2": ["n1"], "n3": ["n1"]}, "verified": true}),
            ),
            nem(4_000_000_000, "stop-partition-one", json!({"fault": "partition-one"})),
            nem(4_100_000_000, "stop-partition-one", json!({"verified": true})),
            nem(5_000_000_000, "start-kill", json!({"fault": "kill"})),
            nem(5_200_000_000, "start-kill", json!({"targets": ["n2"]})),
        ];
        let steps = replay_schedule(&ops);
        assert_eq!(steps.len(), 3);
        assert_eq!(steps[0].at, Duration::from_secs(1));
        match &steps[0].action {
            Action::Start { fault: Fault::PartitionOne, grudge: Some(g), .. } => assert_eq!(g["n1"].len(), 2),
            other => panic!("unexpected {other:?}"),
        }
        assert!(matches!(&steps[1].action, Action::Stop { fault: Fault::PartitionOne }));
        match &steps[2].action {
            Action::Start { fault: Fault::Kill, nodes: Some(n), .. } => assert_eq!(n, &vec!["n2".to_string()]),
            other => panic!("unexpected {other:?}"),
        }
        // What we write, the schedule parser reads back.
        let text = schedule::to_toml(&steps);
        let back = schedule::parse_schedule("replay", &text).unwrap();
        assert_eq!(back, steps);
    }
}
