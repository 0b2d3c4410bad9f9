//! Client operations rebuilt from a history's events: each invoke paired with its completion.
//!
//! Plots, tables and the timeline work on whole operations rather than events. An operation
//! keeps indexes into the history instead of copies of its values, so that a million-op
//! history costs a few tens of megabytes here, not hundreds.

use faultline_checkers::{Op, OpType, Process};
use std::collections::HashMap;

/// How an operation ended, as drawn: the three completions plus "never completed".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Outcome {
    Ok,
    Fail,
    Info,
    /// Invoked but no completion in the history (the run was cut short): drawn like info.
    Pending,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Fail => "fail",
            Outcome::Info => "info",
            Outcome::Pending => "pending",
        }
    }

    /// Whether the op may or may not have taken effect (info and never-completed ops).
    pub fn is_indeterminate(self) -> bool {
        matches!(self, Outcome::Info | Outcome::Pending)
    }
}

/// One client operation: positions of its events in the history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientOp {
    pub process: u64,
    /// History position of the invoke event (or of the completion when the invoke is missing).
    pub invoke: usize,
    /// History position of the completion event, if any.
    pub complete: Option<usize>,
    pub start: u64,
    /// Completion time; `None` when the op never completed.
    pub end: Option<u64>,
    pub outcome: Outcome,
}

impl ClientOp {
    pub fn latency_ns(&self) -> Option<u64> {
        self.end.map(|e| e.saturating_sub(self.start))
    }

    /// The event that says the most about the op: the completion if there is one.
    pub fn last_event<'h>(&self, history: &'h [Op]) -> &'h Op {
        &history[self.complete.unwrap_or(self.invoke)]
    }
}

/// Pair invokes with completions, per process, in history order. Ops are returned ordered by
/// invocation. A completion without an invoke (some imported histories) becomes an op of zero
/// duration rather than being dropped.
pub fn client_ops(history: &[Op]) -> Vec<ClientOp> {
    let mut ops: Vec<ClientOp> = Vec::with_capacity(history.len() / 2 + 1);
    // Open op per process, as an index into `ops`.
    let mut open: HashMap<u64, usize> = HashMap::new();
    for (i, op) in history.iter().enumerate() {
        let Process::Client(p) = op.process else { continue };
        let outcome = match op.kind {
            OpType::Invoke => {
                open.insert(p, ops.len());
                ops.push(ClientOp {
                    process: p,
                    invoke: i,
                    complete: None,
                    start: op.time,
                    end: None,
                    outcome: Outcome::Pending,
                });
                continue;
            }
            OpType::Ok => Outcome::Ok,
            OpType::Fail => Outcome::Fail,
            OpType::Info => Outcome::Info,
        };
        match open.remove(&p) {
            Some(j) => {
                let o = &mut ops[j];
                o.complete = Some(i);
                o.end = Some(op.time.max(o.start));
                o.outcome = outcome;
            }
            None => ops.push(ClientOp {
                process: p,
                invoke: i,
                complete: Some(i),
                start: op.time,
                end: Some(op.time),
                outcome,
            }),
        }
    }
    ops
}

/// The time of the last event, i.e. the run's length as far as the history knows.
pub fn history_end(history: &[Op]) -> u64 {
    history.iter().map(|o| o.time).max().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ev(index: u64, time: u64, kind: OpType, p: u64, f: &str) -> Op {
        Op {
            index,
            time,
            kind,
            process: Process::Client(p),
            f: f.into(),
            value: json!(null),
            key: None,
            node: None,
            error: None,
        }
    }

    #[test]
    fn pairs_per_process_and_keeps_orphans() {
        let h = vec![
            ev(0, 10, OpType::Invoke, 1, "write"),
            ev(1, 12, OpType::Invoke, 2, "read"),
            ev(2, 30, OpType::Ok, 2, "read"),
            ev(3, 40, OpType::Info, 1, "write"),
            ev(4, 50, OpType::Invoke, 3, "read"),
            ev(5, 60, OpType::Fail, 4, "read"),
        ];
        let ops = client_ops(&h);
        assert_eq!(ops.len(), 4);
        assert_eq!((ops[0].process, ops[0].outcome, ops[0].latency_ns()), (1, Outcome::Info, Some(30)));
        assert_eq!((ops[1].process, ops[1].outcome, ops[1].latency_ns()), (2, Outcome::Ok, Some(18)));
        assert_eq!((ops[2].process, ops[2].outcome, ops[2].end), (3, Outcome::Pending, None));
        assert_eq!((ops[3].process, ops[3].outcome, ops[3].latency_ns()), (4, Outcome::Fail, Some(0)));
        assert_eq!(history_end(&h), 60);
    }
}
