//! The history model: one record per event, with Jepsen's meaning.
//!
//! An operation is an `invoke` event followed (on the same process) by one completion:
//! `ok` (it took effect), `fail` (it certainly did not) or `info` (it may have, at any time
//! after its invocation). A process has at most one operation outstanding, and a process whose
//! operation ended `info` never invokes again. The nemesis records its actions under the
//! process `nemesis`, as `info` events.
//!
//! Values are kept as JSON values so that every workload (registers, sets, queues, lists)
//! fits one record type; checkers convert them into their own compact form.

use serde::{Deserialize, Serialize};

/// What kind of event a record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum OpType {
    Invoke,
    Ok,
    Fail,
    Info,
}

impl OpType {
    pub fn as_str(self) -> &'static str {
        match self {
            OpType::Invoke => "invoke",
            OpType::Ok => "ok",
            OpType::Fail => "fail",
            OpType::Info => "info",
        }
    }

    /// Whether this event ends an operation.
    pub fn is_completion(self) -> bool {
        !matches!(self, OpType::Invoke)
    }
}

/// Who performed an event: a client process (an integer, as in Jepsen) or the nemesis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Process {
    Client(u64),
    Nemesis,
}

impl Serialize for Process {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Process::Client(p) => s.serialize_u64(*p),
            Process::Nemesis => s.serialize_str("nemesis"),
        }
    }
}

impl<'de> Deserialize<'de> for Process {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Int(u64),
            Str(String),
        }
        match Raw::deserialize(d)? {
            Raw::Int(p) => Ok(Process::Client(p)),
            Raw::Str(s) if s == "nemesis" => Ok(Process::Nemesis),
            Raw::Str(s) => s
                .parse::<u64>()
                .map(Process::Client)
                .map_err(|_| serde::de::Error::custom(format!("process must be an integer or \"nemesis\", got {s:?}"))),
        }
    }
}

impl std::fmt::Display for Process {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Process::Client(p) => write!(f, "{p}"),
            Process::Nemesis => f.write_str("nemesis"),
        }
    }
}

/// One event of a history. This is exactly one line of `history.jsonl`.
///
/// `value` keeps JSON's distinction between `null` and a value: in faultline's own histories an
/// `ok` read whose value is `null` means "the key was absent", which a checker must not confuse
/// with "unknown" (Jepsen's EDN, where an `ok` read of nil carries no information, is imported
/// with that convention switched on; see `formats`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Op {
    /// Position in the history, 0-based, dense.
    pub index: u64,
    /// Nanoseconds since the run started.
    #[serde(default)]
    pub time: u64,
    #[serde(rename = "type")]
    pub kind: OpType,
    pub process: Process,
    /// The function: read, write, cas, add, append, ...; nemesis ops name their fault. Kept
    /// inline (up to 24 bytes): a history holds millions of these short names.
    pub f: FnName,
    #[serde(default)]
    pub value: serde_json::Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Op {
    pub fn is_nemesis(&self) -> bool {
        self.process == Process::Nemesis
    }
}

/// An operation's function name: a string stored inline when short, so that reading a history
/// does not allocate one per event.
pub type FnName = compact_str::CompactString;

/// A whole history in event order.
pub type History = Vec<Op>;

/// Where a client process stands as its events go by, by the rules of a well-formed history: at
/// most one operation outstanding, and none after one that ended `info`. `T` names an event: the
/// open invocation, or the completion that ended `info`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum ProcessState<T> {
    Idle,
    Open(T),
    Crashed(T),
}

/// An event the rules do not allow, given where its process stood.
pub(crate) enum Misstep<T> {
    /// An invoke while the invocation `T` is still outstanding.
    TwoOutstanding(T),
    /// An invoke after the operation that ended `info` at `T`.
    AfterCrash(T),
    /// A completion with no invocation outstanding.
    NoInvoke,
}

impl<T: Copy> ProcessState<T> {
    /// Where the process stands after an event of `kind`, which `here` names.
    pub(crate) fn after(self, kind: OpType, here: T) -> Result<ProcessState<T>, Misstep<T>> {
        use ProcessState::*;
        match (kind, self) {
            (OpType::Invoke, Idle) => Ok(Open(here)),
            (OpType::Invoke, Open(j)) => Err(Misstep::TwoOutstanding(j)),
            (OpType::Invoke, Crashed(j)) => Err(Misstep::AfterCrash(j)),
            (OpType::Info, Open(_)) => Ok(Crashed(here)),
            (_, Open(_)) => Ok(Idle),
            (_, _) => Err(Misstep::NoInvoke),
        }
    }
}

/// Something per client process, for passes over a history: in a vector indexed by the process
/// number when the numbers are small (they usually count up from 0), else in a hash map.
pub(crate) struct ByProcess<T> {
    dense: Vec<T>,
    sparse: rustc_hash::FxHashMap<u64, T>,
    use_dense: bool,
    empty: T,
}

impl<T: Clone> ByProcess<T> {
    /// A table for the client processes of `history`, every entry `empty` at first.
    pub(crate) fn new(history: &[Op], empty: T) -> Self {
        let most = history.iter().filter_map(|o| if let Process::Client(p) = o.process { Some(p) } else { None }).max();
        let use_dense = most.is_some_and(|m| m < 4 * history.len() as u64 + 1024);
        let dense = if use_dense { vec![empty.clone(); most.unwrap_or(0) as usize + 1] } else { Vec::new() };
        ByProcess { dense, sparse: Default::default(), use_dense, empty }
    }

    pub(crate) fn get_mut(&mut self, p: u64) -> &mut T {
        if self.use_dense {
            &mut self.dense[p as usize]
        } else {
            self.sparse.entry(p).or_insert_with(|| self.empty.clone())
        }
    }

    /// Every process's entry that is not `empty`, in process order.
    pub(crate) fn into_entries(self) -> Vec<(u64, T)>
    where
        T: PartialEq,
    {
        let empty = self.empty;
        let mut all: Vec<(u64, T)> = if self.use_dense {
            self.dense.into_iter().enumerate().map(|(p, t)| (p as u64, t)).collect()
        } else {
            self.sparse.into_iter().collect()
        };
        all.retain(|(_, t)| *t != empty);
        all.sort_unstable_by_key(|(p, _)| *p);
        all
    }
}
