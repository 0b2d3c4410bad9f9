//! The consistency ladder for single-object histories (registers, cas-registers, key-value
//! stores): for each model, strongest first, whether the history keeps it, with the few
//! operations that show it does not, and the strongest models it does keep.
//!
//! Rungs (and what implies what, which the ladder uses and the tests check):
//! - `linearizable`: the existing checker (`linearizable::check`).
//! - `sequential`: one total order respecting process order (`sequential`). Linearizable implies
//!   it (then no search runs); a broken causal rung breaks it too (SC implies CM and CCv), so on
//!   differentiated histories the polynomial causal checks often decide it before any search.
//! - `causal-memory` (CM), `causal-convergence` (CCv), `causal` (CC): Bouajjani et al. POPL 2017,
//!   bad-pattern checks on differentiated histories (`causal`); CM and CCv each imply CC.
//! - `read-your-writes`, `monotonic-reads`, `monotonic-writes`, `writes-follow-reads`: session
//!   guarantees, Terry et al. 1994 (`session`); CM implies all four.
//! - `convergence`: the existing convergence checker, for histories with final reads.
//!
//! The causal and session rungs need unique written values (`extract`); where values repeat they
//! are `not-applicable` with the reason "values are not unique".

mod causal;
mod extract;
mod graph;
mod sequential;
mod session;
#[cfg(test)]
mod tests;

use crate::history::{Op, Process};
use crate::linearizable::{self, LinearizableResult, ModelKind, Options};
use crate::models::{FifoQueue, Kv, Mutex, Register, Val};
use crate::Verdict;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// How to climb the ladder.
#[derive(Debug, Clone)]
pub struct LadderOptions {
    /// Model, initial value, nil reads, timeout (per rung search), memory budget, threads: as for
    /// the linearizability checker.
    pub check: Options,
}

impl LadderOptions {
    pub fn new(check: Options) -> Self {
        LadderOptions { check }
    }
}

/// A rung's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Holds,
    Broken,
    NotApplicable,
    Unknown,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Holds => "holds",
            Status::Broken => "broken",
            Status::NotApplicable => "not applicable",
            Status::Unknown => "unknown",
        }
    }
}

/// One operation of a witness.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WitnessOp {
    /// History index of the invocation.
    pub index: u64,
    pub process: u64,
    pub f: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<Value>,
    /// The invocation's value.
    pub value: Value,
    /// The completion's value, or null for an info op.
    pub output: Value,
    /// "ok" or "info".
    #[serde(rename = "type")]
    pub kind: String,
    /// Nanoseconds since the run started, of the invocation and of the completion (none for
    /// an info op): the report draws the witness on process lanes, as it draws a
    /// linearizability failure.
    #[serde(default)]
    pub start: u64,
    #[serde(default)]
    pub end: Option<u64>,
}

/// Why a model is broken: the pattern, the few operations involved, and a sentence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Witness {
    pub pattern: String,
    pub ops: Vec<WitnessOp>,
    pub explanation: String,
}

/// One model of the ladder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rung {
    pub model: String,
    pub status: Status,
    /// One sentence: why it holds, is broken, does not apply, or is unknown.
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub witness: Option<Witness>,
}

/// The ladder's result (`checkers.ladder` in results.json). `verdict` is the linearizable rung's
/// (holds: valid, broken: invalid, else unknown), so that the ladder agrees with the
/// linearizability checker wherever a single verdict is asked for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LadderResult {
    pub verdict: Verdict,
    pub summary: String,
    /// The strongest models that hold: those no stronger holding model implies (CM and CCv are
    /// incomparable, as are the four session guarantees).
    pub strongest: Vec<String>,
    pub rungs: Vec<Rung>,
    /// Milliseconds spent per part: `extract` (the differentiated abstraction), `causal` (CC, CCv,
    /// CM), `sessions`, `sequential` (0 when decided without a search).
    pub timings_ms: std::collections::BTreeMap<String, f64>,
}

crate::checker_result!(LadderResult, crate::outcome::Checker::Ladder);

impl LadderResult {
    pub fn rung(&self, model: &str) -> Option<&Rung> {
        self.rungs.iter().find(|r| r.model == model)
    }
}

/// The rungs in order, strongest first.
pub const MODELS: [&str; 10] = [
    "linearizable",
    "sequential",
    "causal-memory",
    "causal-convergence",
    "causal",
    "read-your-writes",
    "monotonic-reads",
    "monotonic-writes",
    "writes-follow-reads",
    "convergence",
];

/// Which rungs directly imply which (the partial order the "strongest" list follows).
fn implies(a: &str, b: &str) -> bool {
    let direct: &[(&str, &str)] = &[
        ("linearizable", "sequential"),
        ("sequential", "causal-memory"),
        ("sequential", "causal-convergence"),
        ("causal-memory", "causal"),
        ("causal-convergence", "causal"),
        ("causal-memory", "read-your-writes"),
        ("causal-memory", "monotonic-reads"),
        ("causal-memory", "monotonic-writes"),
        ("causal-memory", "writes-follow-reads"),
    ];
    a == b || direct.iter().any(|&(x, y)| x == a && implies(y, b))
}

fn rung(model: &str, status: Status, reason: impl Into<String>, witness: Option<Witness>) -> Rung {
    Rung { model: model.into(), status, reason: reason.into(), witness }
}

fn witness_op(history: &[Op], call_at: usize, done: Option<usize>) -> WitnessOp {
    let inv = &history[call_at];
    let done = done.map(|d| &history[d]);
    WitnessOp {
        index: inv.index,
        process: match inv.process {
            Process::Client(p) => p,
            Process::Nemesis => u64::MAX,
        },
        f: inv.f.to_string(),
        key: inv.key.clone(),
        value: inv.value.clone(),
        output: done.map(|d| d.value.clone()).unwrap_or(Value::Null),
        kind: if done.is_some() { "ok" } else { "info" }.into(),
        start: inv.time,
        end: done.map(|d| d.time),
    }
}

fn diff_witness(d: &extract::Diff, b: &causal::Bad) -> Witness {
    let mut srcs: Vec<u32> = b.ops.iter().map(|&u| d.ops[u].src).collect();
    srcs.sort_unstable();
    srcs.dedup();
    Witness {
        pattern: b.pattern.to_string(),
        ops: srcs
            .iter()
            .map(|&s| {
                let s = &d.sources[s as usize];
                WitnessOp {
                    index: s.index,
                    process: s.process,
                    f: s.f.clone(),
                    key: s.key.clone(),
                    value: s.value.clone(),
                    output: s.output.clone(),
                    kind: if s.ok { "ok" } else { "info" }.into(),
                    start: s.start,
                    end: s.end,
                }
            })
            .collect(),
        explanation: b.explanation.clone(),
    }
}

fn from_res(model: &str, r: &causal::Res, d: &extract::Diff, holds: &str) -> Rung {
    match r {
        causal::Res::Holds => rung(model, Status::Holds, holds, None),
        causal::Res::Unknown(why) => rung(model, Status::Unknown, why.clone(), None),
        causal::Res::Broken(b) => {
            rung(model, Status::Broken, format!("{}: {}", b.pattern, b.explanation), Some(diff_witness(d, b)))
        }
    }
}

/// Climb the ladder. `Err` when an op does not fit the model (as for `linearizable::check`).
pub fn check(history: &[Op], opts: &LadderOptions) -> Result<LadderResult, String> {
    let lin = linearizable::check(history, &opts.check)?;
    check_with_linearizable(history, opts, lin)
}

/// Climb the ladder reusing a linearizability result already computed for `history`.
pub fn check_with_linearizable(
    history: &[Op],
    opts: &LadderOptions,
    lin: LinearizableResult,
) -> Result<LadderResult, String> {
    let o = &opts.check;
    let mut rungs = Vec::new();
    let lin_status = match lin.verdict {
        Verdict::Valid => Status::Holds,
        Verdict::Invalid => Status::Broken,
        Verdict::Unknown => Status::Unknown,
    };
    let lin_witness = lin.failure.as_ref().map(|f| Witness {
        pattern: "NotLinearizable".into(),
        ops: f
            .ops
            .iter()
            .filter(|op| op.id == f.failing || f.fixed_by == Some(op.id) || f.concurrent.contains(&op.id))
            .take(12)
            .map(|op| WitnessOp {
                index: op.index,
                process: op.process,
                f: op.f.clone(),
                key: (!f.key.is_null()).then(|| f.key.clone()),
                value: op.value.clone(),
                output: op.output.clone(),
                kind: op.kind.clone(),
                start: op.start,
                end: op.end,
            })
            .collect(),
        explanation: lin.summary.clone(),
    });
    rungs.push(rung("linearizable", lin_status, lin.summary.clone(), lin_witness));

    // Causal and session rungs on the differentiated abstraction.
    let register_like = matches!(o.model, ModelKind::Register | ModelKind::CasRegister | ModelKind::Kv);
    let deadline = o.timeout.map(|t| std::time::Instant::now() + t);
    let extract_started = std::time::Instant::now();
    let diff = if register_like {
        extract::extract(history, &o.init, o.nil_read_is_unknown).map_err(|e| match e {
            extract::NotApplicable::NotUnique(s) | extract::NotApplicable::Unsupported(s) => s,
        })
    } else {
        Err(format!("the {} model is not a register", o.model.name()))
    };
    let mut timings = std::collections::BTreeMap::new();
    let ms = |t: std::time::Instant| t.elapsed().as_secs_f64() * 1e3;
    timings.insert("extract".to_string(), ms(extract_started));
    let mut causal_rungs = Vec::new();
    let mut sc_from_causal: Option<Rung> = None;
    match &diff {
        Ok(d) => {
            let t = std::time::Instant::now();
            let c = causal::check(d, deadline);
            timings.insert("causal".to_string(), ms(t));
            let cm = from_res("causal-memory", &c.cm, d, "no bad pattern of causal memory (CyclicCO, WriteCOInitRead, ThinAirRead, WriteCORead, WriteHBInitRead, CyclicHB)");
            let ccv = from_res(
                "causal-convergence",
                &c.ccv,
                d,
                "no bad pattern of causal convergence (CyclicCO, WriteCOInitRead, ThinAirRead, WriteCORead, CyclicCF)",
            );
            let cc = from_res(
                "causal",
                &c.cc,
                d,
                "no bad pattern of causal consistency (CyclicCO, WriteCOInitRead, ThinAirRead, WriteCORead)",
            );
            // SC implies CM and CCv: either broken breaks SC with the same witness.
            for r in [&cm, &ccv] {
                if r.status == Status::Broken && sc_from_causal.is_none() {
                    sc_from_causal = Some(rung(
                        "sequential",
                        Status::Broken,
                        format!("{} is broken, and sequential consistency implies it: {}", r.model, r.reason),
                        r.witness.clone(),
                    ));
                }
            }
            causal_rungs.extend([cm, ccv, cc]);
            let t = std::time::Instant::now();
            let s = session::check(d);
            timings.insert("sessions".to_string(), ms(t));
            causal_rungs.push(from_res(
                "read-your-writes",
                &s.ryw,
                d,
                "every process's reads reflect its own earlier writes",
            ));
            causal_rungs.push(from_res(
                "monotonic-reads",
                &s.mr,
                d,
                "no process's successive reads go back to an older write",
            ));
            causal_rungs.push(from_res(
                "monotonic-writes",
                &s.mw,
                d,
                "no process saw a process's writes out of their order",
            ));
            causal_rungs.push(from_res(
                "writes-follow-reads",
                &s.wfr,
                d,
                "no process saw a write before a write it followed",
            ));
        }
        Err(why) => {
            for m in &MODELS[2..9] {
                causal_rungs.push(rung(m, Status::NotApplicable, why.clone(), None));
            }
        }
    }

    // Sequential consistency.
    let t = std::time::Instant::now();
    let sc = if lin_status == Status::Holds {
        rung("sequential", Status::Holds, "implied by linearizability", None)
    } else if let Some(r) = sc_from_causal {
        r
    } else {
        sc_rung(history, sequential_check(history, o, ScMode::After(&lin))?)
    };
    timings.insert("sequential".to_string(), ms(t));
    rungs.push(sc);
    rungs.extend(causal_rungs);

    // Convergence: only for histories with final reads.
    let has_final = history.iter().any(|op| op.f == "final-read");
    if has_final {
        let c = crate::convergence::check_convergence(history);
        let status = match c.verdict {
            Verdict::Valid => Status::Holds,
            Verdict::Invalid => Status::Broken,
            Verdict::Unknown => Status::Unknown,
        };
        rungs.push(rung("convergence", status, c.summary.clone(), None));
    } else {
        rungs.push(rung(
            "convergence",
            Status::NotApplicable,
            "the convergence checker needs final reads (set and counter runs), which this history has none of",
            None,
        ));
    }

    let strongest: Vec<String> = rungs
        .iter()
        .filter(|r| r.status == Status::Holds)
        .filter(|r| {
            !rungs.iter().any(|s| s.status == Status::Holds && s.model != r.model && implies(&s.model, &r.model))
        })
        .map(|r| r.model.clone())
        .collect();
    let broken: Vec<&str> = rungs.iter().filter(|r| r.status == Status::Broken).map(|r| r.model.as_str()).collect();
    let summary = format!(
        "strongest model that holds: {}{}",
        if strongest.is_empty() { "none".to_string() } else { strongest.join(", ") },
        if broken.is_empty() { String::new() } else { format!("; broken: {}", broken.join(", ")) }
    );
    Ok(LadderResult { verdict: lin.verdict, summary, strongest, rungs, timings_ms: timings })
}

/// The sequential-consistency checker on its own: the linearizability search first (a
/// linearization is a sequential order), then, when it finds none, the sequential search (see
/// `sequential`). This is what the ladder does when linearizability is broken and no causal
/// rung decides; the benchmarks time it against linearizability alone.
pub fn check_sequential(history: &[Op], opts: &Options) -> Result<Rung, String> {
    Ok(sc_rung(history, sequential_check(history, opts, ScMode::Full)?))
}

/// Only the sequential search, without asking linearizability first, for benchmarks and tests:
/// holds, broken or unknown.
pub fn check_sequential_search(history: &[Op], opts: &Options) -> Result<Status, String> {
    Ok(match sequential_check(history, opts, ScMode::SearchOnly)? {
        sequential::ScOutcome::Holds { .. } => Status::Holds,
        sequential::ScOutcome::Broken { .. } => Status::Broken,
        sequential::ScOutcome::Unknown(_) => Status::Unknown,
    })
}

/// The sequential rung from the checker's outcome.
fn sc_rung(history: &[Op], outcome: sequential::ScOutcome) -> Rung {
    match outcome {
        sequential::ScOutcome::Holds { linearizable: true } => rung(
            "sequential",
            Status::Holds,
            "the history is linearizable, and a linearization keeps each process's order: it is a sequential order",
            None,
        ),
        sequential::ScOutcome::Holds { linearizable: false } => rung(
            "sequential",
            Status::Holds,
            "a total order of the operations respects every process's order and the model",
            None,
        ),
        sequential::ScOutcome::Unknown(why) => rung("sequential", Status::Unknown, why, None),
        sequential::ScOutcome::Broken { ops, explanation } => rung(
            "sequential",
            Status::Broken,
            explanation.clone(),
            Some(Witness {
                pattern: "NoSequentialOrder".into(),
                ops: ops.iter().map(|&(c, d)| witness_op(history, c, d)).collect(),
                explanation,
            }),
        ),
    }
}

/// How the sequential checker starts.
#[derive(Clone, Copy)]
enum ScMode<'a> {
    /// Linearizability was checked already, with this result.
    After(&'a LinearizableResult),
    /// Linearizability first, then the search.
    Full,
    /// The search alone.
    SearchOnly,
}

fn sequential_check(history: &[Op], o: &Options, mode: ScMode) -> Result<sequential::ScOutcome, String> {
    let mut o = o.clone();
    // The search may explode where linearizability's did not (no real time to cut orders):
    // at most 10 s unless the caller allows less.
    o.timeout = Some(o.timeout.unwrap_or(Duration::from_secs(10)).min(Duration::from_secs(10)));
    fn run<M: crate::linearizable::Shortcuts>(
        model: &M,
        history: &[Op],
        o: &Options,
        mode: ScMode,
    ) -> Result<sequential::ScOutcome, String> {
        match mode {
            ScMode::After(lin) => sequential::check(model, history, o, Some(lin)),
            ScMode::Full => sequential::check(model, history, o, None),
            ScMode::SearchOnly => sequential::check_search_only(model, history, o),
        }
    }
    match o.model {
        ModelKind::Register => run(&Register { init: Val::from_json(&o.init), allow_cas: false }, history, &o, mode),
        ModelKind::CasRegister => run(&Register { init: Val::from_json(&o.init), allow_cas: true }, history, &o, mode),
        ModelKind::Kv => {
            let init = match &o.init {
                Value::Null => None,
                Value::String(s) => Some(Arc::from(s.as_str())),
                other => Some(Arc::from(other.to_string())),
            };
            run(&Kv { init }, history, &o, mode)
        }
        ModelKind::Mutex => run(&Mutex, history, &o, mode),
        ModelKind::FifoQueue => run(&FifoQueue, history, &o, mode),
    }
}
