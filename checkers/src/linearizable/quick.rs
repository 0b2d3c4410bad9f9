//! The quick path for the commonest input of `faultline check`: a Jepsen or Knossos register
//! history in EDN (`:f` read, write or cas; values nil, integers or `[old new]` pairs; no keys).
//!
//! Reading such a file into `Op`s and then partitioning them costs several times the search
//! itself: an `Op` is about 180 bytes with JSON values, and most of it is never looked at. This
//! path scans the text straight into the search's ops instead, pairing and converting them as
//! `partition` and `Register::prepare` do, then searches them with the same code as `check`.
//!
//! It declines (`None`) on anything unusual: another function, a value of another shape, a key,
//! a map the scanner does not take, a history that `formats::validate` would reject, or an
//! invalid verdict (explaining one needs the ops themselves). The caller then takes the general
//! path (`formats::parse_history`, then `check`), which gives the same verdict and words every
//! error and explanation. A test checks that both paths agree on every shared history.

use super::search::SearchOp;
use super::{check_parts, Call, LinearizableResult, ModelKind, Options, Part};
use crate::formats::{self, Fields, Format, RegisterValue};
use crate::history::{OpType, Process};
use crate::models::{Register, RegisterOp, Val};
use crate::Verdict;
use std::time::Instant;

/// What a register op does.
#[derive(Clone, Copy, PartialEq)]
enum RegisterF {
    Read,
    Write,
    Cas,
}

/// One client invocation and what became of it.
struct Slot {
    /// Position of the invoke in the history.
    invoke: usize,
    f: RegisterF,
    input: RegisterValue,
    /// Position of the `ok` completion.
    ok: Option<usize>,
    /// Whether a completion (`ok` or `info`) has been seen.
    completed: bool,
    /// It ended `fail`: it certainly did not happen, and is dropped.
    failed: bool,
    /// The search's form of it, once converted (`None`: it carries no information).
    op: Option<RegisterOp>,
}

/// Where a client process stands, as `formats::validate` tracks it.
#[derive(Clone, Copy)]
enum Status {
    Idle,
    /// Its invocation is this slot.
    Open(usize),
    /// Its last operation ended `info`: it must not invoke again.
    Crashed,
}

/// Process numbers beyond this decline to the general path (which keeps them in a hash map).
const MAX_DENSE_PROCESS: u64 = 1 << 20;

/// Check EDN history `text` for linearizability as a register, if it is a plain register
/// history; `None` otherwise, or when it is not linearizable (see the module doc). With
/// `detect_model`, the model is picked as `ModelKind::detect` would (cas-register when any op is
/// a cas) and `opts.model` is ignored; otherwise `opts.model` must be a register model.
pub fn check_register_edn(text: &str, opts: &Options, detect_model: bool) -> Option<LinearizableResult> {
    let started = Instant::now();
    if formats::detect(text) != Some(Format::Edn) {
        return None;
    }
    let mut slots: Vec<Slot> = Vec::with_capacity(text.len() / 100 + 16);
    let mut processes: Vec<Status> = Vec::new();
    let (mut position, mut invocations, mut any_cas) = (0usize, 0usize, false);
    formats::scan_register_ops(text, |op: Fields<'_, RegisterValue>| {
        let at = position;
        position += 1;
        let Process::Client(p) = op.process else { return Some(()) };
        if op.key.is_some() || p >= MAX_DENSE_PROCESS {
            return None;
        }
        let p = p as usize;
        if p >= processes.len() {
            processes.resize(p + 1, Status::Idle);
        }
        let value = op.value.unwrap_or(RegisterValue::Nil);
        match (op.kind, processes[p]) {
            (OpType::Invoke, Status::Idle) => {
                let f = match op.f {
                    "read" => RegisterF::Read,
                    "write" => RegisterF::Write,
                    "cas" => RegisterF::Cas,
                    _ => return None,
                };
                any_cas |= f == RegisterF::Cas;
                invocations += 1;
                processes[p] = Status::Open(slots.len());
                slots.push(Slot { invoke: at, f, input: value, ok: None, completed: false, failed: false, op: None });
            }
            (OpType::Invoke, _) => return None,
            (kind, Status::Open(i)) => {
                let slot = &mut slots[i];
                processes[p] = if kind == OpType::Info { Status::Crashed } else { Status::Idle };
                match kind {
                    OpType::Fail => slot.failed = true,
                    _ => {
                        let output = (kind == OpType::Ok).then_some(value);
                        slot.ok = output.map(|_| at);
                        slot.completed = true;
                        slot.op = convert(slot.f, slot.input, output)?;
                    }
                }
            }
            (_, _) => return None,
        }
        Some(())
    })?;
    if invocations == 0 {
        return None;
    }
    let model = match (detect_model, opts.model) {
        (true, _) => {
            if any_cas {
                ModelKind::CasRegister
            } else {
                ModelKind::Register
            }
        }
        (false, ModelKind::Register) if any_cas => return None,
        (false, m @ (ModelKind::Register | ModelKind::CasRegister)) => m,
        (false, _) => return None,
    };
    let mut part = Part { key: None, calls: Vec::with_capacity(slots.len()), ids: Vec::new(), ops: Vec::new() };
    part.ops.reserve(slots.len());
    part.ids.reserve(slots.len());
    for slot in slots.into_iter().filter(|s| !s.failed) {
        // Invocations that never completed stay open to the end, like `info`.
        let op = if slot.completed { slot.op } else { convert(slot.f, slot.input, None)? };
        let id = part.calls.len();
        part.calls.push(Call { invoke: slot.invoke, ok: slot.ok });
        if let Some(op) = op {
            part.ids.push(id);
            part.ops.push(SearchOp { op, call_at: slot.invoke, return_at: slot.ok });
        }
    }
    let register = Register { init: Val::from_json(&opts.init), allow_cas: model == ModelKind::CasRegister };
    let result = check_parts(&register, &[part], invocations, None, opts, started);
    (result.verdict != Verdict::Invalid).then_some(result)
}

/// `Register::prepare` on scanned values, for EDN (an `ok` read of nil carries no information):
/// `Some(None)` drops the op, `None` declines a value the general path would convert otherwise
/// (a string, a pair where one value belongs) or reject.
fn convert(f: RegisterF, input: RegisterValue, output: Option<RegisterValue>) -> Option<Option<RegisterOp>> {
    let val = |v: Option<i64>| v.map_or(Val::Nil, Val::Int);
    match (f, input, output) {
        (RegisterF::Read, _, None | Some(RegisterValue::Nil)) => Some(None),
        (RegisterF::Read, _, Some(RegisterValue::Int(i))) => Some(Some(RegisterOp::Read(Val::Int(i)))),
        (RegisterF::Write, RegisterValue::Nil, _) => Some(Some(RegisterOp::Write(Val::Nil))),
        (RegisterF::Write, RegisterValue::Int(i), _) => Some(Some(RegisterOp::Write(Val::Int(i)))),
        (RegisterF::Cas, RegisterValue::Pair(old, new), _) => Some(Some(RegisterOp::Cas(val(old), val(new)))),
        _ => None,
    }
}
