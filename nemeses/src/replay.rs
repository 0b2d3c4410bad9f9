//! Replaying a run: the schedule it really followed, rebuilt from the nemesis ops of its history.

use crate::fault::Fault;
use crate::schedule::{Action, Step};
use faultline_checkers::faults::{nemesis_actions, Applied, Phase};
use std::time::Duration;

/// The schedule a run really followed, rebuilt from its history: every start with the exact
/// nodes and grudge that were applied, every stop, at the times they began. Saved as
/// `schedule.toml` in the run directory, so `--nemesis-schedule` replays the failure exactly.
pub fn replay_schedule(ops: &[faultline_checkers::Op]) -> Vec<Step> {
    let mut steps = Vec::new();
    for action in nemesis_actions(ops) {
        // An action the history never saw complete was not applied as far as anyone knows.
        let Some(done) = action.done else { continue };
        let Ok(fault) = Fault::parse(action.fault) else { continue };
        let at = Duration::from_nanos(action.began);
        match action.phase {
            Phase::Start => {
                let applied = Applied::of(done);
                let grudge = if fault.is_partition() { applied.grudge } else { None };
                let nodes = (fault.uses_targets() && !applied.targets.is_empty()).then_some(applied.targets);
                steps.push(Step { at, action: Action::Start { fault, targets: None, nodes, grudge } });
            }
            Phase::Stop => steps.push(Step { at, action: Action::Stop { fault } }),
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
