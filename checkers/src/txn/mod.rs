//! Transactional isolation checking, Elle-class: list-append and rw-register histories.
//!
//! A transaction (`:f :txn`) is a vector of micro-ops: `[:append k v]` and `[:r k [v ...]]`
//! (list-append), or `[:w k v]` and `[:r k v]` (rw-register). From the values reads return, the
//! workload's analysis (`list_append`, `rw_register`) infers a dependency graph over the
//! committed (`ok`) and indeterminate (`info`) transactions, with write-write (ww), write-read
//! (wr) and read-write (rw, anti-dependency) edges, and finds the anomalies that need no cycle
//! (aborted and intermediate reads, internal inconsistency, lost updates, ...). `graph` adds
//! process and realtime edges when the models asked for need them, splits the graph into
//! strongly connected components and, in each, finds the shortest cycle of each kind Elle
//! names (G0, G1c, G-single-item, G-nonadjacent-item, G2-item, each with -process and -realtime
//! variants). `models` turns anomalies into the models they rule out.
//!
//! The entry points: `read_txn_history` / `parse_txn_history` (EDN, Elle-cli JSON, faultline
//! JSONL; errors name the file and line) and `check`, which gives a `TxnResult` whose JSON uses
//! Elle's field names (`valid?`, `anomaly-types`, `anomalies`, `not`, `also-not`).

pub mod graph;
pub mod list_append;
pub mod models;
pub mod read;
pub mod rw_register;
#[cfg(test)]
mod tests;

pub use read::{parse_txn_history, read_txn_history, TxnFormat};

use crate::Verdict;
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Which kind of transactional workload a history holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Workload {
    ListAppend,
    RwRegister,
}

impl std::str::FromStr for Workload {
    type Err = String;
    fn from_str(s: &str) -> Result<Workload, String> {
        match s {
            "list-append" | "append" => Ok(Workload::ListAppend),
            "rw-register" | "wr-register" | "register" => Ok(Workload::RwRegister),
            _ => Err(format!("unknown transactional workload {s:?} (expected list-append or rw-register)")),
        }
    }
}

impl Workload {
    pub fn as_str(self) -> &'static str {
        match self {
            Workload::ListAppend => "list-append",
            Workload::RwRegister => "rw-register",
        }
    }
}

/// A key, interned: an index into `TxnHistory::keys`.
pub type Key = u32;

/// One micro-op.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mop {
    /// `[:append k v]`.
    Append(Key, i64),
    /// `[:w k v]`.
    Write(Key, i64),
    /// `[:r k value]`.
    Read(Key, Read),
}

impl Mop {
    pub fn key(&self) -> Key {
        match *self {
            Mop::Append(k, _) | Mop::Write(k, _) | Mop::Read(k, _) => k,
        }
    }
}

/// What a read returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    /// nil: in an invocation or an `info`, unknown; in an `ok` list-append read, the empty list;
    /// in an `ok` register read, the initial state.
    Nil,
    /// A list: `len` elements from `start` in `TxnHistory::elements`.
    List { start: u32, len: u32 },
    /// A register's value.
    Value(i64),
}

/// How a transaction ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Ok,
    Info,
    Fail,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Info => "info",
            Outcome::Fail => "fail",
        }
    }
}

/// One transaction: its completion, and where it was invoked (if the history says).
#[derive(Debug, Clone)]
pub struct Txn {
    /// The completion's `:index` (its position when the history has none): the name `T<index>`.
    pub index: u64,
    /// The client process, if any.
    pub process: Option<u64>,
    pub outcome: Outcome,
    /// Positions in the history's event order of the invocation (None in completion-only
    /// histories) and of the completion.
    pub invoked_at: Option<u64>,
    pub completed_at: u64,
    /// The 1-based line of the completion in the file (0 if not read from a file).
    pub line: usize,
    /// The micro-ops, a range of `TxnHistory::mops`.
    pub mops: std::ops::Range<u32>,
}

/// A transactional history, compact: micro-ops and read lists in flat arrays.
#[derive(Debug, Clone, Default)]
pub struct TxnHistory {
    /// Transactions in completion order.
    pub txns: Vec<Txn>,
    pub mops: Vec<Mop>,
    /// The elements of every list read, back to back.
    pub elements: Vec<i64>,
    /// Key names as they appear in the history (numbers or strings).
    pub keys: Vec<Value>,
    /// Whether any invocation was seen (else there is no process or realtime order).
    pub has_invocations: bool,
    /// What the reader had to decide about the history that the verdict depends on (e.g. a
    /// process that invoked twice without completing), in words, for the output.
    pub notes: Vec<String>,
}

impl TxnHistory {
    /// Transactions (not failed) with no place in process and realtime order although the
    /// history has invocations: completions without invocations, or a process's unpaired ones.
    pub fn unordered(&self) -> usize {
        if !self.has_invocations {
            return 0;
        }
        self.txns.iter().filter(|t| t.outcome != Outcome::Fail && t.invoked_at.is_none()).count()
    }

    pub fn mops_of(&self, t: &Txn) -> &[Mop] {
        &self.mops[t.mops.start as usize..t.mops.end as usize]
    }

    /// The elements of a list read (empty for nil).
    pub fn list(&self, r: Read) -> &[i64] {
        match r {
            Read::List { start, len } => &self.elements[start as usize..(start + len) as usize],
            _ => &[],
        }
    }

    pub fn key_name(&self, k: Key) -> &Value {
        &self.keys[k as usize]
    }

    /// A micro-op as Elle writes it, e.g. `["append", 7, 4]` or `["r", 7, [1, 2]]`.
    pub fn mop_json(&self, m: &Mop) -> Value {
        match *m {
            Mop::Append(k, v) => json!(["append", self.key_name(k), v]),
            Mop::Write(k, v) => json!(["w", self.key_name(k), v]),
            Mop::Read(k, r) => {
                let v = match r {
                    Read::Nil => Value::Null,
                    Read::Value(v) => json!(v),
                    Read::List { .. } => json!(self.list(r)),
                };
                json!(["r", self.key_name(k), v])
            }
        }
    }

    /// A transaction as JSON: its index, process, outcome and micro-ops.
    pub fn txn_json(&self, t: usize) -> Value {
        let txn = &self.txns[t];
        json!({
            "index": txn.index,
            "process": txn.process,
            "type": txn.outcome.as_str(),
            "value": self.mops_of(txn).iter().map(|m| self.mop_json(m)).collect::<Vec<_>>(),
        })
    }

    /// A read's value written for people: `[1 2 3]` (long lists shortened), `nil`, `5`.
    pub fn read_text(&self, r: Read) -> String {
        match r {
            Read::Nil => "nil".into(),
            Read::Value(v) => v.to_string(),
            Read::List { .. } => list_text(self.list(r)),
        }
    }

    pub fn key_text(&self, k: Key) -> String {
        match self.key_name(k) {
            Value::String(s) => s.clone(),
            v => v.to_string(),
        }
    }
}

/// `[1 2 3]`, or `[1 2 ... 9 10]` (n elements) for a long list.
pub fn list_text(xs: &[i64]) -> String {
    let show = |xs: &[i64]| xs.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(" ");
    if xs.len() <= 8 {
        format!("[{}]", show(xs))
    } else {
        format!("[{} ... {}] ({} elements)", show(&xs[..3]), show(&xs[xs.len() - 3..]), xs.len())
    }
}

/// What to check for, as Elle's options.
#[derive(Debug, Clone)]
pub struct TxnOptions {
    pub workload: Workload,
    /// The models the history must satisfy (default strict-serializable); any name Elle knows.
    pub consistency_models: Vec<String>,
    /// Further anomalies that must not occur (with the ones that imply them).
    pub anomalies: Vec<String>,
    /// rw-register: within a transaction, a write follows the transaction's read of the same key
    /// (its version comes after the version read).
    pub wfr_keys: bool,
    /// rw-register: each key is sequentially consistent, so a process's successive transactions
    /// on a key give its version order (Elle's sequential-keys).
    pub sequential_keys: bool,
    /// rw-register: each key is linearizable, so realtime order of the transactions on a key
    /// gives its version order (Elle's linearizable-keys).
    pub linearizable_keys: bool,
    // Not yet: Elle's transaction-order (a commit order from the database).
    /// Edges the cycle search may visit per anomaly kind and component while proving cycles
    /// the shortest of their kind. Past it, or past `search_time`, it reports the shortest
    /// cycle found so far (`"shortest": false`), or, with none yet, the first real cycle of the
    /// kind it finds: it never falls back to saying only that a cycle exists.
    pub search_budget: u64,
    /// Edges the search may visit in all per anomaly kind and component while looking for any
    /// cycle of a kind it has found none of; past it, `cycle-search-timeout` (the component may
    /// have no cycle of the kind, and proving so means searching from every start).
    pub search_ceiling: u64,
    /// How long the search may spend proving cycles shortest in one component (all kinds).
    pub search_time: std::time::Duration,
}

impl TxnOptions {
    pub fn new(workload: Workload) -> TxnOptions {
        TxnOptions {
            workload,
            consistency_models: vec!["strict-serializable".into()],
            anomalies: Vec::new(),
            wfr_keys: false,
            sequential_keys: false,
            linearizable_keys: false,
            search_budget: 20_000_000,
            search_ceiling: 2_000_000_000,
            search_time: std::time::Duration::from_secs(2),
        }
    }

    /// Set the models from the user's list: empty keeps the default (strict-serializable);
    /// `none` alone asks for no model, so that only `anomalies` are checked (Elle's
    /// `:consistency-models nil`).
    pub fn set_consistency_models(&mut self, models: &[String]) -> Result<(), String> {
        if models.iter().any(|m| m == "none") {
            if models.len() > 1 {
                return Err(format!("none names no model, so it stands alone (got {})", models.join(",")));
            }
            self.consistency_models.clear();
        } else if !models.is_empty() {
            self.consistency_models = models.to_vec();
        }
        Ok(())
    }

    /// Check the names of the models and anomalies asked for.
    pub fn validate(&self) -> Result<(), String> {
        if self.consistency_models.is_empty() && self.anomalies.is_empty() {
            return Err("no consistency model and no anomaly to check: with --consistency-models none, \
                        name the anomalies with --anomalies"
                .into());
        }
        for m in &self.consistency_models {
            if !models::is_model(m) {
                return Err(format!(
                    "unknown consistency model {m:?} (known: {})",
                    models::all_models().into_iter().collect::<Vec<_>>().join(", ")
                ));
            }
        }
        let known = models::all_anomalies();
        for a in &self.anomalies {
            if !known.contains(a) && !graph::UNKNOWN_ANOMALIES.contains(&a.as_str()) {
                return Err(format!("unknown anomaly {a:?} (known: {})", known.join(", ")));
            }
        }
        Ok(())
    }

    /// Anomalies that make the history invalid.
    pub fn prohibited(&self) -> std::collections::BTreeSet<String> {
        let mut p = models::anomalies_prohibited_by(self.consistency_models.iter().map(String::as_str));
        p.extend(models::anomalies_implying(self.anomalies.iter().map(String::as_str)));
        p
    }

    /// Anomalies worth reporting: the prohibited ones, and those that make the result unknown.
    pub fn reportable(&self) -> std::collections::BTreeSet<String> {
        let mut r = self.prohibited();
        r.extend(graph::UNKNOWN_ANOMALIES.iter().map(|s| s.to_string()));
        r
    }
}

/// Elle's `valid?`: true, false, or `"unknown"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validity {
    True,
    False,
    Unknown,
}

impl Serialize for Validity {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Validity::True => s.serialize_bool(true),
            Validity::False => s.serialize_bool(false),
            Validity::Unknown => s.serialize_str("unknown"),
        }
    }
}

/// Whether the history is consistent with one model.
#[derive(Debug, Clone, Serialize)]
pub struct Rung {
    pub model: String,
    /// "yes", "no", or "unchecked" (the model needs a realtime or process order the analysis
    /// did not build, or the history does not give).
    pub consistent: &'static str,
}

/// The result of `check`, with Elle's field names.
#[derive(Debug, Clone, Serialize)]
pub struct TxnResult {
    #[serde(rename = "valid?")]
    pub valid: Validity,
    pub verdict: Verdict,
    #[serde(rename = "anomaly-types")]
    pub anomaly_types: Vec<String>,
    /// Reportable anomalies: type -> instances.
    pub anomalies: BTreeMap<String, Vec<Value>>,
    pub not: Vec<String>,
    #[serde(rename = "also-not")]
    pub also_not: Vec<String>,
    /// Each model of the usual ladder, weakest first, and whether the history satisfies it.
    pub ladder: Vec<Rung>,
    /// Every anomaly type found, reportable or not.
    #[serde(rename = "all-anomaly-types")]
    pub all_anomaly_types: Vec<String>,
    pub workload: Workload,
    #[serde(rename = "consistency-models")]
    pub consistency_models: Vec<String>,
    pub stats: TxnStats,
    pub summary: String,
    /// What the verdict rests on that the history left open (see `TxnHistory::notes`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

crate::checker_result!(TxnResult, crate::outcome::Checker::Txn);

/// Sizes, for the record and the benchmarks.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TxnStats {
    pub txns: usize,
    pub ok: usize,
    pub info: usize,
    pub fail: usize,
    pub edges: usize,
    /// Strongly connected components with more than one transaction.
    pub cyclic_components: usize,
    pub largest_component: usize,
    pub realtime_edges: bool,
    pub process_edges: bool,
    /// Transactions with no place in process or realtime order in a history that has them
    /// (see `TxnHistory::unordered`): models that need those orders are then unchecked.
    pub unordered: usize,
}

/// The models of the ladder, weakest first.
pub const LADDER: &[&str] = &[
    "read-uncommitted",
    "read-committed",
    "monotonic-atomic-view",
    "read-atomic",
    "update-atomic",
    "cursor-stability",
    "repeatable-read",
    "snapshot-isolation",
    "serializable",
    "strong-session-read-committed",
    "strong-session-snapshot-isolation",
    "strong-session-serializable",
    "strong-read-committed",
    "strong-snapshot-isolation",
    "strict-serializable",
];

/// What a workload's analysis gives the graph search: anomalies found without cycles, and the
/// dependency edges, with a way to explain each.
pub struct Analysis {
    pub anomalies: BTreeMap<String, Vec<Value>>,
    /// (from txn, to txn, relation bits of `graph::rel`), txns as positions in `txns`.
    pub edges: Vec<(u32, u32, u8)>,
    pub explainer: Box<dyn Explain + Send + Sync>,
}

/// Why transaction `a` precedes `b` by a data relation: what goes in a cycle's steps.
pub trait Explain {
    /// The step as Elle writes it (`type`, `key`, `value`, `value'`, `a-mop-index`,
    /// `b-mop-index`) and as a sentence, or None if the relation does not hold.
    fn explain(&self, h: &TxnHistory, a: usize, b: usize, rel: u8) -> Option<(Value, String)>;
    /// What a write is called in this workload's words ("append", "write").
    fn write_word(&self) -> &'static str {
        "write"
    }
}

/// Check a transactional history against the options' models and anomalies.
pub fn check(h: &TxnHistory, opts: &TxnOptions) -> TxnResult {
    let mut analysis = match opts.workload {
        Workload::ListAppend => list_append::analyze(h),
        Workload::RwRegister => rw_register::analyze(h, opts),
    };
    for (kind, cases) in analysis.anomalies.iter_mut() {
        for case in cases.iter_mut() {
            if let Some(words) = explain_case(kind, case) {
                case["explanation"] = Value::String(words);
            }
        }
    }
    graph::finish(h, opts, analysis)
}

/// A value as people write it: `[1 2]`, `nil`, `x`.
fn text(v: &Value) -> String {
    match v {
        Value::Null => "nil".into(),
        Value::String(s) => s.clone(),
        Value::Array(xs) => list_text(&xs.iter().filter_map(Value::as_i64).collect::<Vec<_>>()),
        v => v.to_string(),
    }
}

/// An anomaly found without a cycle, in words a person can check against the history.
fn explain_case(kind: &str, c: &Value) -> Option<String> {
    let t = |field: &str| c.get(field).and_then(|o| o.get("index")).map(|i| format!("T{i}"));
    let (key, read) = match c.get("mop") {
        Some(m) => (text(&m[1]), text(&m[2])),
        None => (c.get("key").map(text).unwrap_or_default(), String::new()),
    };
    Some(match kind {
        "G1a" => format!(
            "{} read key {key} = {read}, which includes {}, written by {}, which failed: an aborted read",
            t("op")?,
            c.get("element").map_or_else(|| read.clone(), text),
            t("writer")?
        ),
        "G1b" => format!(
            "{} read key {key} = {read}, an intermediate state of {}, which wrote key {key} again afterwards: an intermediate read",
            t("op")?,
            t("writer")?
        ),
        "internal" => format!(
            "{}'s read of key {key} = {read} disagrees with its own earlier reads and writes of the key, which give {}",
            t("op")?,
            c.get("expected").map(|e| match e {
                Value::Array(xs) if xs.first() == Some(&Value::from("...")) => {
                    format!("[... {}]", xs[1..].iter().map(text).collect::<Vec<_>>().join(" "))
                }
                e => text(e),
            })?
        ),
        "future-read" => format!(
            "{} read key {key} = {read}, which includes {}, a value it appends only later",
            t("op")?,
            text(c.get("element")?)
        ),
        "duplicate-elements" => format!(
            "{} read key {key} = {read}, which holds {} more than once, though each value is appended once",
            t("op")?,
            c.get("duplicates")?.as_object()?.keys().cloned().collect::<Vec<_>>().join(", ")
        ),
        "incompatible-order" => {
            let vs = c.get("values")?.as_array()?;
            format!(
                "key {key} was read as {} and as {}: neither is a prefix of the other, so no one order of appends gives both",
                text(&vs[0]),
                text(vs.get(1)?)
            )
        }
        "dirty-update" => {
            let txns = c.get("txns")?.as_array()?;
            let vs = c.get("values")?.as_array()?;
            format!(
                "key {key}: T{} failed after appending {}, yet the committed T{} appended {} after it in the version order",
                txns.first()?.get("index")?,
                text(vs.first()?),
                txns.last()?.get("index")?,
                text(vs.last()?)
            )
        }
        "lost-update" => {
            let txns = c.get("txns")?.as_array()?;
            format!(
                "{} all read key {key} = {} and then wrote key {key}: all but one of those updates is lost",
                txns.iter().filter_map(|x| x.get("index")).map(|i| format!("T{i}")).collect::<Vec<_>>().join(", "),
                text(c.get("value")?)
            )
        }
        "cyclic-versions" => {
            let sources = c.get("sources").and_then(Value::as_array).map(|s| {
                s.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", ")
            });
            let versions = c.get("scc")?.as_array()?.iter().map(text).collect::<Vec<_>>().join(" ");
            format!(
                "the version order inferred for key {key} (from {}) has a cycle through [{versions}]: no order of its versions agrees with all of it",
                sources.unwrap_or_default()
            )
        }
        _ => return None,
    })
}
