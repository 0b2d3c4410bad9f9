//! One client operation, recorded: the invoke before the request leaves and the completion after
//! the answer (or the timeout), so the history brackets the real operation. Used by the workers
//! and by the final reads.

use crate::store::{Event, HistoryWriter};
use faultline_checkers::{OpType, Process};
use faultline_workloads::{Client, Completion, Invocation};
use std::time::Duration;

/// One operation: the invoke is recorded before the request leaves and the completion after the
/// answer arrives, so the history brackets the real operation.
pub async fn perform(
    client: &mut dyn Client,
    op: &Invocation,
    process: u64,
    node: &str,
    writer: &HistoryWriter,
    op_timeout: Duration,
) -> Completion {
    writer.record(Event {
        time: 0,
        kind: OpType::Invoke,
        process: Process::Client(process),
        f: op.f.clone(),
        value: op.value.clone(),
        key: op.key.clone(),
        // Where the request goes: the client's node, or the primary a write is routed to.
        node: Some(client.target(op).unwrap_or_else(|| node.to_string())),
        error: None,
    });
    let completion = match tokio::time::timeout(op_timeout, client.invoke(op)).await {
        Ok(c) => c,
        Err(_) => Completion::indeterminate(op, format!("timed out after {}", humantime::format_duration(op_timeout))),
    };
    writer.record(Event {
        time: 0,
        kind: completion.kind,
        process: Process::Client(process),
        f: op.f.clone(),
        value: completion.value.clone(),
        key: op.key.clone(),
        node: Some(completion.served_by.clone().unwrap_or_else(|| node.to_string())),
        error: completion.error.clone(),
    });
    completion
}
