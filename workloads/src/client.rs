//! The client side of a workload: an operation to perform ([`Invocation`]), how it ended
//! ([`Completion`]) and the [`Client`] trait every database client implements.
//!
//! Outcome convention (Jepsen's): `Ok` = it took effect, `Fail` = it certainly did not, `Info` =
//! it may have (timeouts and lost connections after a request was sent). When in doubt a client
//! must answer `Info`: a wrong `Fail` makes a correct database look broken, a wrong `Ok` hides bugs.

use async_trait::async_trait;
use faultline_checkers::history::OpType;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One operation a worker is about to perform (becomes the `invoke` event of the history).
/// Serializable: a client written in another language receives exactly this as JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Invocation {
    /// The function: `read`, `write`, `cas`, `add`, `final-read`.
    pub f: String,
    /// The independent key (register workload only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<Value>,
    /// The argument: `null` for reads, an integer for write/add, `[old, new]` for cas.
    pub value: Value,
}

impl Invocation {
    pub fn new(f: &str, key: Option<Value>, value: Value) -> Invocation {
        Invocation { f: f.to_string(), key, value }
    }

    /// Whether this operation only observes state (a failed or lost read changed nothing).
    pub fn is_read(&self) -> bool {
        match self.f.as_str() {
            "read" => true,
            // A transaction (or a transactional final read) is a read when all its micro-ops are.
            "txn" | "final-read" if self.value.is_array() => read_only(self),
            f => f == "final-read",
        }
    }
}

/// How an operation ended (becomes the completion event of the history). Serializable, as
/// [`Invocation`] is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Completion {
    /// `Ok`, `Fail` or `Info`; never `Invoke`.
    #[serde(rename = "type")]
    pub kind: OpType,
    /// For ok reads the value read; otherwise the invocation's value.
    pub value: Value,
    /// A short reason for `Fail` and `Info` (e.g. "timeout", "connection refused").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The node that served the operation when it is not the client's own (e.g. a write a Redis
    /// client sent to the current primary); the runner records it on the completion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub served_by: Option<String>,
}

impl Completion {
    /// It took effect; `value` is what was read, or the invocation's value for writes.
    pub fn ok(value: Value) -> Completion {
        Completion { kind: OpType::Ok, value, error: None, served_by: None }
    }

    /// It certainly did not take effect.
    pub fn fail(op: &Invocation, error: impl Into<String>) -> Completion {
        Completion { kind: OpType::Fail, value: op.value.clone(), error: Some(error.into()), served_by: None }
    }

    /// It may or may not have taken effect.
    pub fn info(op: &Invocation, error: impl Into<String>) -> Completion {
        Completion { kind: OpType::Info, value: op.value.clone(), error: Some(error.into()), served_by: None }
    }

    /// An error whose outcome is unknown: `Fail` for reads (nothing can have changed), `Info`
    /// for anything that may have written.
    pub fn indeterminate(op: &Invocation, error: impl Into<String>) -> Completion {
        if op.is_read() {
            Completion::fail(op, error)
        } else {
            Completion::info(op, error)
        }
    }
}

/// A database client, Jepsen's shape: `open` (connect), `setup` (create what the workload needs,
/// once per client), any number of `invoke`s, `teardown`, `close`. The runner creates one per
/// worker; each talks to ONE node (the runner records that node on every op). A client must never
/// panic on a database answer it does not understand: it reports `Fail` (reads) or `Info`
/// (writes) with a short error instead. Object-safe: the runner holds `Box<dyn Client>`.
#[async_trait]
pub trait Client: Send {
    /// Connect. Clients that connect lazily (on the first operation) need not implement it.
    async fn open(&mut self) -> anyhow::Result<()> {
        Ok(())
    }

    /// Prepare what the workload needs (tables, keys). Most need nothing.
    async fn setup(&mut self) -> anyhow::Result<()> {
        Ok(())
    }

    /// Perform one operation.
    async fn invoke(&mut self, op: &Invocation) -> Completion;

    /// Undo `setup`.
    async fn teardown(&mut self) -> anyhow::Result<()> {
        Ok(())
    }

    /// Disconnect.
    async fn close(&mut self) {}

    /// The node `op` is about to be sent to, when it is not the client's own (a write routed to
    /// the current primary), so that the invoke records where the request goes. The completion
    /// says which node served it (`Completion::served_by`).
    fn target(&self, _op: &Invocation) -> Option<String> {
        None
    }
}

/// Whether a transaction only reads (an error then changed nothing: `fail`, not `info`).
pub fn read_only(op: &Invocation) -> bool {
    op.value.as_array().is_some_and(|mops| mops.iter().all(|m| m.get(0).and_then(Value::as_str) == Some("r")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invocations_and_completions_travel_as_json() {
        let op = Invocation::new("cas", Some(serde_json::json!(3)), serde_json::json!([1, 2]));
        let text = serde_json::to_string(&op).unwrap();
        assert_eq!(text, r#"{"f":"cas","key":3,"value":[1,2]}"#);
        assert_eq!(serde_json::from_str::<Invocation>(&text).unwrap(), op);
        let c = Completion::info(&op, "timeout");
        let text = serde_json::to_string(&c).unwrap();
        assert_eq!(text, r#"{"type":"info","value":[1,2],"error":"timeout"}"#);
        assert_eq!(serde_json::from_str::<Completion>(&text).unwrap(), c);
    }
}
