//! Writers: a history as Jepsen EDN (one map per line, readable by Elle and Knossos) or as
//! faultline JSON Lines. The readers are in the parent module.

use super::edn;
use crate::history::{Op, Process};
use serde_json::Value;

/// Write a history as EDN, one map per line (Jepsen's `history.edn` shape), so that it can be
/// read by Elle or Knossos: `type` and `f` as keywords, `:process` as an integer or `:nemesis`,
/// and `:key`, `:node`, `:error` when set.
pub fn write_edn(history: &[Op]) -> String {
    let mut out = String::with_capacity(history.len() * 80);
    for op in history {
        write_edn_op(&mut out, op);
        out.push('\n');
    }
    out
}

/// Write a history as EDN to a writer (see `write_edn`).
pub fn write_edn_to(history: &[Op], mut w: impl std::io::Write) -> std::io::Result<()> {
    let mut line = String::new();
    for op in history {
        line.clear();
        write_edn_op(&mut line, op);
        line.push('\n');
        w.write_all(line.as_bytes())?;
    }
    Ok(())
}

fn write_edn_op(out: &mut String, op: &Op) {
    use std::fmt::Write;
    let _ = write!(out, "{{:index {}, :time {}, :type :{}, :process ", op.index, op.time, op.kind.as_str());
    match op.process {
        Process::Client(p) => {
            let _ = write!(out, "{p}");
        }
        Process::Nemesis => out.push_str(":nemesis"),
    }
    out.push_str(", :f ");
    edn::write_name(out, &op.f);
    out.push_str(", :value ");
    edn::write_json_as_edn(out, &op.value);
    if let Some(k) = &op.key {
        out.push_str(", :key ");
        edn::write_json_as_edn(out, k);
    }
    if let Some(n) = &op.node {
        out.push_str(", :node ");
        edn::write_json_as_edn(out, &Value::String(n.clone()));
    }
    if let Some(e) = &op.error {
        out.push_str(", :error ");
        edn::write_json_as_edn(out, &Value::String(e.clone()));
    }
    out.push('}');
}

/// Write a history as faultline JSON Lines.
pub fn write_jsonl(history: &[Op]) -> String {
    let mut out = String::with_capacity(history.len() * 80);
    for op in history {
        // Serializing plain data into a String cannot fail.
        out.push_str(&serde_json::to_string(op).unwrap_or_default());
        out.push('\n');
    }
    out
}
