//! The quick path for the commonest input of `faultline check`: a Jepsen or Knossos register
//! history in EDN (`:f` read, write or cas; values nil, integers or `[old new]` pairs; no keys).
//!
//! Reading such a file into `Op`s and then partitioning them costs several times the search
//! itself: an `Op` is about 180 bytes with JSON values, and most of it is never looked at. This
//! path scans the text straight into the search's ops instead, pairing and converting them as
//! `partition` and `Register::prepare` do, then searches them with the same code as `check`.
//!
//! Fields it has no use for (`:error`, `:node`, ...) and the values of nemesis ops, whatever
//! their shape, are read and dropped, so Jepsen's own `history.edn` of a register test qualifies.
//! It declines (`None`) on anything unusual: another function, a client op's value of another
//! shape, a key, a map the scanner does not take, a history that `formats::validate` would
//! reject, or an invalid verdict (explaining one needs the ops themselves). The caller then takes the general
//! path (`formats::parse_history`, then `check`), which gives the same verdict and words every
//! error and explanation. Tests check that both paths agree on every shared history and on
//! generated ones.

use super::{check_parts, Call, LinearizableResult, ModelKind, Options, Part};
use crate::formats::{self, Fields, Format, RegisterValue};
use crate::history::{OpType, Process, ProcessState};
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
    end: End,
}

/// How an invocation ended.
enum End {
    /// Not (yet): it stays open to the end of the history, like `info`.
    Open,
    /// `fail`: it certainly did not happen, and is dropped.
    Failed,
    /// `ok` or `info`, and the search's form of it (`None`: it carries no information).
    Completed(Option<RegisterOp>),
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
    // Per process, as `formats::validate` tracks it; an open invocation is named by its slot.
    let mut processes: Vec<ProcessState<usize>> = Vec::new();
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
            processes.resize(p + 1, ProcessState::Idle);
        }
        let value = op.value.unwrap_or(RegisterValue::Nil);
        // Every client op's function counts for the model, as in `ModelKind::detect`.
        let f = match op.f {
            "read" => RegisterF::Read,
            "write" => RegisterF::Write,
            "cas" => RegisterF::Cas,
            _ => return None,
        };
        any_cas |= f == RegisterF::Cas;
        // A history `validate` would reject declines, for the general path to word it.
        let before = processes[p];
        processes[p] = before.after(op.kind, slots.len()).ok()?;
        match (op.kind, before) {
            (OpType::Invoke, _) => {
                invocations += 1;
                slots.push(Slot { invoke: at, f, input: value, ok: None, end: End::Open });
            }
            (OpType::Fail, ProcessState::Open(i)) => slots[i].end = End::Failed,
            (kind, ProcessState::Open(i)) => {
                let slot = &mut slots[i];
                let output = (kind == OpType::Ok).then_some(value);
                slot.ok = output.map(|_| at);
                slot.end = End::Completed(convert(slot.f, slot.input, output)?);
            }
            // `after` lets a completion through only when an invocation is open.
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
    let mut calls = Vec::with_capacity(slots.len());
    for slot in slots {
        let op = match slot.end {
            End::Failed => continue,
            End::Completed(op) => op,
            // Invocations that never completed stay open to the end, like `info`.
            End::Open => convert(slot.f, slot.input, None)?,
        };
        calls.push((Call { invoke: slot.invoke, ok: slot.ok }, op));
    }
    let part = Part::new(None, calls.len(), calls);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::parse_history;
    use crate::linearizable::check;

    fn opts(model: ModelKind) -> Options {
        let mut o = Options::new(model);
        o.nil_read_is_unknown = true;
        o.threads = 1;
        o
    }

    /// The general path's result for the same text, model detected.
    fn general(text: &str) -> LinearizableResult {
        let loaded = parse_history(text, Format::Auto).unwrap();
        check(&loaded.ops, &opts(ModelKind::detect(&loaded.ops).unwrap())).unwrap()
    }

    #[test]
    fn takes_what_the_general_path_takes() {
        for text in [
            // Nemesis ops are skipped; a fail is dropped; an info write stays open to the end.
            "[{:process :nemesis, :type :info, :f :start, :value \"cut\"}
              {:process 0, :type :invoke, :f :write, :value 1}
              {:process 0, :type :info, :f :write, :value 1}
              {:process 1, :type :invoke, :f :write, :value 2}
              {:process 1, :type :fail, :f :write, :value 2}
              {:process 2, :type :invoke, :f :read, :value nil}
              {:process 2, :type :ok, :f :read, :value 1}]",
            // Jepsen's history.edn: a map per line, with index and time; a read of nil says
            // nothing; an invocation never completed.
            "{:index 0, :time 5, :type :invoke, :process 3, :f :cas, :value [nil 4]}
             {:index 1, :time 9, :type :invoke, :process 4, :f :read, :value nil}
             {:index 2, :time 12, :type :ok, :process 4, :f :read, :value nil}
             {:index 3, :time 15, :type :invoke, :process 5, :f :read, :value nil}
             {:index 4, :time 20, :type :ok, :process 5, :f :read, :value 4}",
            // A real Jepsen history.edn: fields the checker does not read (`:error`, `:node`) and
            // nemesis values of any shape are skipped.
            "{:type :info, :f :start, :value {\"n1\" #{\"n2\" \"n3\"}}, :process :nemesis, :time 10, :index 0}
             {:type :invoke, :f :write, :value 3, :process 0, :time 11, :index 1}
             {:type :info, :f :write, :value 3, :process 0, :time 20, :index 2, :error [:timeout \"5 s\"]}
             {:type :invoke, :f :read, :value nil, :process 1, :time 21, :index 3}
             {:type :ok, :f :read, :value 3, :process 1, :time 25, :index 4, :node \"n1\"}
             {:type :info, :f :stop, :value nil, :process :nemesis, :time 30, :index 5}",
        ] {
            let quick = check_register_edn(text, &opts(ModelKind::Register), true).expect(text);
            assert_eq!(quick, general(text));
            assert_eq!(quick.verdict, Verdict::Valid);
        }
    }

    #[test]
    fn declines_the_unusual_and_the_invalid() {
        let forced_register = "[{:process 0, :type :invoke, :f :cas, :value [1 2]}]";
        assert!(check_register_edn(forced_register, &opts(ModelKind::Register), false).is_none());
        assert!(check_register_edn(forced_register, &opts(ModelKind::CasRegister), false).is_some());
        assert!(check_register_edn(forced_register, &opts(ModelKind::Mutex), false).is_none());
        // A completion's function counts for the model too, as in the general path.
        let cas_completion = "[{:process 0, :type :invoke, :f :read} {:process 0, :type :ok, :f :cas, :value nil}]";
        let quick = check_register_edn(cas_completion, &opts(ModelKind::Register), true).unwrap();
        assert_eq!((quick.model.as_str(), &quick), ("cas-register", &general(cas_completion)));
        for text in [
            // Not linearizable: the general path explains it.
            "[{:process 0, :type :invoke, :f :write, :value 1} {:process 0, :type :ok, :f :write, :value 1}
              {:process 1, :type :invoke, :f :read, :value nil} {:process 1, :type :ok, :f :read, :value 2}]",
            // Ill-formed: the general path words the error.
            "[{:process 0, :type :invoke, :f :read} {:process 0, :type :invoke, :f :read}]",
            "[{:process 0, :type :ok, :f :read, :value 1}]",
            "[{:process 0, :type :invoke, :f :read} {:process 0, :type :info, :f :read}
              {:process 0, :type :invoke, :f :read}]",
            // Shapes it does not take.
            "[{:process 0, :type :invoke, :f :write, :value \"a\"}]",
            "[{:process 0, :type :invoke, :f :write, :value 1, :key 3}]",
            "[{:process 0, :type :invoke, :f :add, :value 1}]",
            "[{:process 0, :type :invoke, :f :write, :value 1.5}]",
            "[{:process 0, :type :invoke, :f :write, :value {:a 1}}]",
            "[{:process 0, :type :invoke, :f :write, :value 1, :error {:a]}]",
            "[{:process 0, :type :invoke ; a comment inside a map\n :f :write, :value 1}]",
            "[{:process 0, :type :invoke, :f :cas, :value 1}]",
            "{:process 0, :type :invoke, :f :put, :key \"1\", :value \"x\"}",
            "{\"index\":0,\"type\":\"invoke\",\"process\":0,\"f\":\"read\",\"value\":null}",
            // Nothing to check.
            "[{:process :nemesis, :type :info, :f :start}]",
        ] {
            assert!(check_register_edn(text, &opts(ModelKind::Register), true).is_none(), "{text}");
        }
    }
}
