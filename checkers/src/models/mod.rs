//! Sequential specifications for the linearizability checker, Porcupine-style: a model is an
//! initial state and a step function saying whether an operation, with its observed output, can
//! happen in a state, and what the next state is.
//!
//! The checker hands a model each operation's function name, input (the invoke's value) and
//! output (the completion's value, or `None` when unknown: an `info` op, or an `ok` read of nil in
//! imported Jepsen EDN). The model turns it into its own compact operation once, so the search
//! only ever calls `step`. An operation that can never change the state and whose output is
//! unknown (an unknown read) carries no information, and `prepare` drops it.
//!
//! Models: `register` (read/write), `cas-register` (read/write/cas), `kv` (Porcupine's
//! get/put/append over strings, one key at a time), `mutex` (acquire/release) and `fifo-queue`
//! (enqueue/dequeue). Keys are split off before the model sees ops (P-compositionality).

use serde_json::Value;
use std::fmt::Debug;
use std::hash::Hash;
use std::sync::Arc;

/// A compact, hashable value: integers and strings stay cheap; anything else is kept as its JSON
/// text, which is canonical enough for equality of what a database returns.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Val {
    Nil,
    Int(i64),
    Str(Arc<str>),
    Json(Arc<str>),
}

impl Val {
    pub fn from_json(v: &Value) -> Val {
        match v {
            Value::Null => Val::Nil,
            Value::Number(n) if n.is_i64() => Val::Int(n.as_i64().unwrap_or(0)),
            Value::String(s) => Val::Str(Arc::from(s.as_str())),
            other => Val::Json(Arc::from(other.to_string())),
        }
    }
}

impl std::fmt::Display for Val {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Val::Nil => f.write_str("nil"),
            Val::Int(i) => write!(f, "{i}"),
            Val::Str(s) => write!(f, "{s:?}"),
            Val::Json(s) => f.write_str(s),
        }
    }
}

/// One sequential specification.
pub trait Model: Send + Sync {
    /// The model's compact form of an operation (input and observed output).
    /// Equal ops are interchangeable (the search tries only one of several equal crashed ops).
    type Op: Send + Sync + Debug + Eq + Hash;
    type State: Clone + Eq + Hash + Send + Debug;

    /// The model's name as used on the command line.
    fn name(&self) -> &'static str;
    fn init(&self) -> Self::State;
    /// Convert an operation. `Ok(None)` drops it (it carries no information); `Err` explains why
    /// the operation does not fit the model (an unknown function, a malformed value).
    fn prepare(&self, f: &str, input: &Value, output: Option<&Value>) -> Result<Option<Self::Op>, String>;
    /// The state after `op` in `state`, or `None` if `op` (with its output) cannot happen there.
    fn step(&self, state: &Self::State, op: &Self::Op) -> Option<Self::State>;
    /// Whether `op` never changes the state (`step` returns the same state or `None`), like a
    /// read. The search linearizes such an op as soon as it can and never tries it later (see
    /// `search`), so saying `true` wrongly would make the checker unsound; `false` is always safe.
    fn is_read_only(&self, _op: &Self::Op) -> bool {
        false
    }
    /// Whether `op` is enabled in every state and leads to the same state from all of them,
    /// like a write. A crashed op followed at once by a blind op could as well not have happened,
    /// so the search never tries that order. `false` (the default) is always safe.
    fn is_blind(&self, _op: &Self::Op) -> bool {
        false
    }
    /// Read pruning (optional; the defaults never prune). For a read-only `read` with a known
    /// output: whether a state in which it succeeds can still follow `state` through operations
    /// that do not `may_restore` it. A kv get of "ab" can follow "a" (by appends) but not "b".
    /// Saying `false` wrongly would make the checker unsound; `true` is always safe.
    fn can_reach(&self, _state: &Self::State, _read: &Self::Op) -> bool {
        true
    }
    /// Whether `op` may, from any state, lead to a state in which `read` succeeds: a write of the
    /// value read, a put of a prefix of it. `true` is always safe.
    fn may_restore(&self, _op: &Self::Op, _read: &Self::Op) -> bool {
        true
    }
    /// Whether `can_reach` ever says `false`, so that the search bothers to ask.
    fn prunes_reads(&self) -> bool {
        false
    }
    /// A short human rendering of a state, for reports.
    fn describe(&self, state: &Self::State) -> String;
}

/// The models by name.
pub const MODEL_NAMES: [&str; 5] = ["register", "cas-register", "kv", "mutex", "fifo-queue"];

// ---------------------------------------------------------------------------------------------
// register and cas-register

/// A read/write register, optionally with compare-and-set. `init` is the initial value (nil
/// unless the user says otherwise).
#[derive(Debug, Clone)]
pub struct Register {
    pub init: Val,
    pub allow_cas: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RegisterOp {
    Read(Val),
    Write(Val),
    /// Compare-and-set, `ok` (known to have succeeded) or unknown.
    Cas(Val, Val),
}

impl Model for Register {
    type Op = RegisterOp;
    type State = Val;

    fn name(&self) -> &'static str {
        if self.allow_cas {
            "cas-register"
        } else {
            "register"
        }
    }

    fn init(&self) -> Val {
        self.init.clone()
    }

    fn prepare(&self, f: &str, input: &Value, output: Option<&Value>) -> Result<Option<RegisterOp>, String> {
        match f {
            "read" | "get" => Ok(output.map(|v| RegisterOp::Read(Val::from_json(v)))),
            "write" | "put" => Ok(Some(RegisterOp::Write(Val::from_json(input)))),
            "cas" if self.allow_cas => match input {
                Value::Array(pair) if pair.len() == 2 => {
                    Ok(Some(RegisterOp::Cas(Val::from_json(&pair[0]), Val::from_json(&pair[1]))))
                }
                other => Err(format!("cas value must be [old new], got {other}")),
            },
            "cas" => Err("cas is not an operation of the register model (use --model cas-register)".into()),
            other => Err(format!("{other} is not an operation of the {} model", self.name())),
        }
    }

    fn step(&self, state: &Val, op: &RegisterOp) -> Option<Val> {
        match op {
            RegisterOp::Read(v) => (v == state).then(|| state.clone()),
            RegisterOp::Write(v) => Some(v.clone()),
            RegisterOp::Cas(old, new) => (old == state).then(|| new.clone()),
        }
    }

    fn is_read_only(&self, op: &RegisterOp) -> bool {
        matches!(op, RegisterOp::Read(_))
    }

    fn is_blind(&self, op: &RegisterOp) -> bool {
        matches!(op, RegisterOp::Write(_))
    }

    fn can_reach(&self, state: &Val, read: &RegisterOp) -> bool {
        // Only a write or cas of the value read can change the register into it.
        !matches!(read, RegisterOp::Read(v) if v != state)
    }

    fn may_restore(&self, op: &RegisterOp, read: &RegisterOp) -> bool {
        let RegisterOp::Read(v) = read else { return true };
        match op {
            RegisterOp::Read(_) => false,
            RegisterOp::Write(w) | RegisterOp::Cas(_, w) => w == v,
        }
    }

    fn prunes_reads(&self) -> bool {
        true
    }

    fn describe(&self, state: &Val) -> String {
        state.to_string()
    }
}

// ---------------------------------------------------------------------------------------------
// kv

/// Porcupine's key-value model for one key: a string, `put` sets it, `append` appends to it,
/// `get` returns it. `init` is `Some("")` for Porcupine histories (every key starts empty) and
/// `None` ("absent") for faultline's, where an ok get of null means the key was absent.
#[derive(Debug, Clone)]
pub struct Kv {
    pub init: Option<Arc<str>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KvOp {
    Get(Option<String>),
    Put(String),
    Append(String),
}

fn as_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl Model for Kv {
    type Op = KvOp;
    type State = Option<Arc<str>>;

    fn name(&self) -> &'static str {
        "kv"
    }

    fn init(&self) -> Self::State {
        self.init.clone()
    }

    fn prepare(&self, f: &str, input: &Value, output: Option<&Value>) -> Result<Option<KvOp>, String> {
        match f {
            "get" | "read" => Ok(output.map(|v| KvOp::Get(if v.is_null() { None } else { Some(as_text(v)) }))),
            "put" | "write" => Ok(Some(KvOp::Put(as_text(input)))),
            "append" => Ok(Some(KvOp::Append(as_text(input)))),
            other => Err(format!("{other} is not an operation of the kv model (get, put, append)")),
        }
    }

    fn step(&self, state: &Self::State, op: &KvOp) -> Option<Self::State> {
        match op {
            KvOp::Get(v) => (v.as_deref() == state.as_deref()).then(|| state.clone()),
            KvOp::Put(v) => Some(Some(Arc::from(v.as_str()))),
            KvOp::Append(v) => {
                let old = state.as_deref().unwrap_or("");
                let mut s = String::with_capacity(old.len() + v.len());
                s.push_str(old);
                s.push_str(v);
                Some(Some(Arc::from(s)))
            }
        }
    }

    fn is_read_only(&self, op: &KvOp) -> bool {
        matches!(op, KvOp::Get(_))
    }

    fn is_blind(&self, op: &KvOp) -> bool {
        matches!(op, KvOp::Put(_))
    }

    fn can_reach(&self, state: &Self::State, read: &KvOp) -> bool {
        // Appends only extend the string, so without a put a get can only ever return an
        // extension of the current value; and nothing makes a present key absent.
        match read {
            KvOp::Get(Some(v)) => v.starts_with(state.as_deref().unwrap_or("")),
            KvOp::Get(None) => state.is_none(),
            _ => true,
        }
    }

    fn may_restore(&self, op: &KvOp, read: &KvOp) -> bool {
        match (op, read) {
            (KvOp::Put(p), KvOp::Get(Some(v))) => v.starts_with(p.as_str()),
            (KvOp::Put(_) | KvOp::Append(_) | KvOp::Get(_), KvOp::Get(_)) => false,
            _ => true,
        }
    }

    fn prunes_reads(&self) -> bool {
        true
    }

    fn describe(&self, state: &Self::State) -> String {
        match state {
            Some(s) => format!("{s:?}"),
            None => "absent".into(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// mutex

/// A lock: `acquire` succeeds only when free, `release` only when held.
#[derive(Debug, Clone, Default)]
pub struct Mutex;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MutexOp {
    Acquire,
    Release,
}

impl Model for Mutex {
    type Op = MutexOp;
    type State = bool;

    fn name(&self) -> &'static str {
        "mutex"
    }

    fn init(&self) -> bool {
        false
    }

    fn prepare(&self, f: &str, _input: &Value, _output: Option<&Value>) -> Result<Option<MutexOp>, String> {
        match f {
            "acquire" | "lock" => Ok(Some(MutexOp::Acquire)),
            "release" | "unlock" => Ok(Some(MutexOp::Release)),
            other => Err(format!("{other} is not an operation of the mutex model (acquire, release)")),
        }
    }

    fn step(&self, held: &bool, op: &MutexOp) -> Option<bool> {
        match op {
            MutexOp::Acquire => (!held).then_some(true),
            MutexOp::Release => held.then_some(false),
        }
    }

    fn describe(&self, held: &bool) -> String {
        if *held { "held" } else { "free" }.into()
    }
}

// ---------------------------------------------------------------------------------------------
// fifo-queue

/// A FIFO queue: `enqueue v` appends; `dequeue` removes the head and returns it, or returns
/// nil when empty. A dequeue with an unknown output removes the head if there is one.
#[derive(Debug, Clone, Default)]
pub struct FifoQueue;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum QueueOp {
    Enqueue(Val),
    /// `None`: output unknown.
    Dequeue(Option<Val>),
}

impl Model for FifoQueue {
    type Op = QueueOp;
    type State = Arc<[Val]>;

    fn name(&self) -> &'static str {
        "fifo-queue"
    }

    fn init(&self) -> Self::State {
        Arc::from(Vec::new())
    }

    fn prepare(&self, f: &str, input: &Value, output: Option<&Value>) -> Result<Option<QueueOp>, String> {
        match f {
            "enqueue" => Ok(Some(QueueOp::Enqueue(Val::from_json(input)))),
            "dequeue" => Ok(Some(QueueOp::Dequeue(output.map(Val::from_json)))),
            other => Err(format!("{other} is not an operation of the fifo-queue model (enqueue, dequeue)")),
        }
    }

    fn step(&self, q: &Self::State, op: &QueueOp) -> Option<Self::State> {
        match op {
            QueueOp::Enqueue(v) => {
                let mut next = q.to_vec();
                next.push(v.clone());
                Some(Arc::from(next))
            }
            QueueOp::Dequeue(None) => Some(if q.is_empty() { q.clone() } else { Arc::from(&q[1..]) }),
            QueueOp::Dequeue(Some(Val::Nil)) => q.is_empty().then(|| q.clone()),
            QueueOp::Dequeue(Some(v)) => (q.first() == Some(v)).then(|| Arc::from(&q[1..])),
        }
    }

    fn is_read_only(&self, op: &QueueOp) -> bool {
        // A dequeue that saw the queue empty only checks that it is.
        matches!(op, QueueOp::Dequeue(Some(Val::Nil)))
    }

    fn describe(&self, q: &Self::State) -> String {
        let items: Vec<String> = q.iter().map(Val::to_string).collect();
        format!("[{}]", items.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cas_register_steps() {
        let m = Register { init: Val::Int(0), allow_cas: true };
        let cas = m.prepare("cas", &json!([0, 2]), Some(&json!([0, 2]))).unwrap().unwrap();
        assert_eq!(m.step(&Val::Int(0), &cas), Some(Val::Int(2)));
        assert_eq!(m.step(&Val::Int(1), &cas), None);
        assert!(m.prepare("read", &Value::Null, None).unwrap().is_none(), "unknown reads are dropped");
        assert!(Register { init: Val::Nil, allow_cas: false }.prepare("cas", &json!([0, 1]), None).is_err());
    }

    #[test]
    fn kv_and_queue_and_mutex_steps() {
        let kv = Kv { init: Some(Arc::from("")) };
        let app = kv.prepare("append", &json!("x"), None).unwrap().unwrap();
        let s = kv.step(&kv.init(), &app).unwrap();
        let get = kv.prepare("get", &Value::Null, Some(&json!("x"))).unwrap().unwrap();
        assert!(kv.step(&s, &get).is_some());
        assert!(kv.step(&kv.init(), &get).is_none());

        let q = FifoQueue;
        let e = q.prepare("enqueue", &json!(1), None).unwrap().unwrap();
        let d2 = q.prepare("dequeue", &Value::Null, Some(&json!(2))).unwrap().unwrap();
        let d1 = q.prepare("dequeue", &Value::Null, Some(&json!(1))).unwrap().unwrap();
        let s = q.step(&q.init(), &e).unwrap();
        assert!(q.step(&s, &d2).is_none());
        assert_eq!(q.step(&s, &d1).unwrap().len(), 0);

        let m = Mutex;
        let a = m.prepare("acquire", &Value::Null, Some(&Value::Null)).unwrap().unwrap();
        assert_eq!(m.step(&false, &a), Some(true));
        assert_eq!(m.step(&true, &a), None);
    }
}
