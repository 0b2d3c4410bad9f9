//! `faultline check`: check stored histories offline for linearizability (or, with
//! `--models ladder`, for the consistency ladder: see `faultline_checkers::ladder`).
//!
//! Each file is read (format auto-detected or forced with `--format`), checked against a model
//! (picked from the ops or forced with `--model`), and reported as one line (or one JSON object
//! with `--json`), followed by a summary. The exit code is the worst verdict: 0 valid, 1 invalid,
//! 2 unknown; a missing or malformed file makes it 254, with a message naming the file and what
//! is wrong. Files are checked in parallel; within a file, keys are checked in parallel.
//! Transactional histories (Elle's list-append and rw-register, `--workload`, or detected) go to
//! `faultline_checkers::txn`; `--json` then also carries Elle's fields (`valid?`,
//! `anomaly-types`, `anomalies`, `not`, `also-not`) at the top of each file's object.

use crate::exit::{bad_input, Exit};
use crate::term;
use faultline_checkers::formats::{
    parse_history_file, read_history, read_small_file, split_independent, Format, LoadedHistory,
};
use faultline_checkers::linearizable::{check, quick, LinearizableResult, ModelKind, Options};
use faultline_checkers::outcome::Checker;
use faultline_checkers::txn::{self, read_txn_history, TxnOptions, Workload};
use faultline_checkers::Verdict;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(clap::Args, Debug, Clone)]
pub struct CheckArgs {
    /// History files to check.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Model: auto, register, cas-register, kv, mutex, fifo-queue; or a workload's own checks
    /// (set, counter, list-append, rw-register; auto picks set and counter for faultline's runs).
    #[arg(long, default_value = "auto")]
    pub model: String,
    /// History format: auto, jsonl, edn or porcupine.
    #[arg(long, default_value = "auto")]
    pub format: Format,
    /// Give up after this long per file (e.g. 30s, 2m); the verdict is then unknown.
    #[arg(long)]
    pub timeout: Option<humantime::Duration>,
    /// Initial value of the register (or of each kv key), as JSON or EDN nil; default nil
    /// (Porcupine kv files: ""). The Knossos cas-register histories need --init 0.
    #[arg(long)]
    pub init: Option<String>,
    /// Jepsen independent-key history: values are [key value] pairs, checked per key.
    #[arg(long)]
    pub independent: bool,
    /// Print one JSON object per file and a JSON summary.
    #[arg(long)]
    pub json: bool,
    /// Write an HTML report per file into this directory (rendered by the reports crate).
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Transactional history (Elle's): list-append or rw-register. Detected from the content
    /// when the model is auto.
    #[arg(long)]
    pub workload: Option<String>,
    /// Transactional: the consistency models the history must satisfy, by Elle's names
    /// (default strict-serializable), e.g. serializable,strong-session-snapshot-isolation;
    /// `none` checks only the --anomalies given (Elle's `:consistency-models nil`).
    #[arg(long, value_delimiter = ',')]
    pub consistency_models: Vec<String>,
    /// Transactional: further anomalies that must not occur, by Elle's names (e.g. G1,G2-item).
    #[arg(long, value_delimiter = ',')]
    pub anomalies: Vec<String>,
    /// rw-register: a transaction's write of a key follows its read of that key in the key's
    /// version order (Elle's wfr-keys).
    #[arg(long)]
    pub wfr_keys: bool,
    /// rw-register: assume each key is sequentially consistent: a process's successive
    /// transactions on a key give the key's version order (Elle's sequential-keys).
    #[arg(long)]
    pub sequential_keys: bool,
    /// rw-register: assume each key is linearizable: the realtime order of the transactions on
    /// a key gives the key's version order (Elle's linearizable-keys).
    #[arg(long)]
    pub linearizable_keys: bool,
    /// Which models to check: `linearizable` (the default) or `ladder`: linearizable,
    /// sequential, causal (CM, CCv, CC), the session guarantees and convergence, as a table with
    /// a witness per broken model and the strongest that holds (`checkers.ladder` with --json).
    /// The exit code stays the linearizable rung's verdict, as without --models.
    #[arg(long, value_enum, default_value_t = Models::Linearizable)]
    pub models: Models,
}

/// `--models`: what `check` checks.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Models {
    Linearizable,
    Ladder,
}

/// The check of one file: the loaded history and the result that goes into results.json under
/// `checkers.linearizable`, for the report renderer.
#[derive(Debug)]
pub struct FileCheck {
    pub path: PathBuf,
    pub history: LoadedHistory,
    pub verdict: Verdict,
    /// Client operations checked.
    pub ops: usize,
    pub summary: String,
    /// Shaped like a run's results.json: `{verdict, reason, checkers: {...}}`; built only for
    /// `--json` and `--report` (null otherwise).
    pub results: Value,
    pub elapsed: Duration,
    /// With `--models ladder`.
    pub ladder: Option<faultline_checkers::ladder::LadderResult>,
}

/// The run `history` belongs to, when its directory holds a test.json: its workload and the
/// options it was checked with. `Err` names the file and the field that is wrong.
fn run_plan(history: &std::path::Path) -> Result<Option<crate::plan::TestRecord>, String> {
    let Some(test) = history.parent().map(|d| d.join("test.json")).filter(|t| t.is_file()) else {
        return Ok(None);
    };
    crate::plan::TestRecord::read(&test).map(Some).map_err(|e| format!("{e:#}"))
}

/// Whether the flags leave the check to the run's own plan: nothing given that changes what is
/// checked or how the file is read.
fn plan_decides(args: &CheckArgs) -> bool {
    args.model == "auto"
        && args.workload.is_none()
        && matches!(args.format, Format::Auto | Format::Jsonl)
        && args.consistency_models.is_empty()
        && args.anomalies.is_empty()
        && !(args.wfr_keys || args.sequential_keys || args.linearizable_keys || args.independent)
        && args.init.is_none()
        && args.models == Models::Linearizable
}

/// The workload `--model` names when it is not a linearizability model (`set`, `counter`).
fn model_workload(model: &str) -> Option<&'static dyn faultline_workloads::Workload> {
    if model == "auto" || ModelKind::from_name(model).is_some() {
        return None;
    }
    faultline_workloads::by_name(model).ok()
}

/// A history checked as its workload's run is (`faultline_workloads::check_run`): the run's
/// own options when they come from its test.json.
fn workload_check(
    path: &std::path::Path,
    history: LoadedHistory,
    workload: &dyn faultline_workloads::Workload,
    mut opts: faultline_workloads::CheckOptions,
    args: &CheckArgs,
    started: Instant,
) -> Result<FileCheck, String> {
    if let Some(t) = args.timeout {
        opts.timeout = Some(t.into());
    }
    let results = faultline_workloads::check_run(&history.ops, workload, &opts)
        .map_err(|e| format!("{}: {e:#}", path.display()))?;
    Ok(FileCheck {
        path: path.to_path_buf(),
        history,
        verdict: results.verdict,
        ops: results.stats.ops,
        summary: results.reason.clone(),
        results: serde_json::to_value(&results).map_err(|e| format!("{}: {e}", path.display()))?,
        elapsed: started.elapsed(),
        ladder: None,
    })
}

/// Whether the file holds a transactional history (by its first few KB).
fn looks_transactional(path: &std::path::Path) -> bool {
    use std::io::Read;
    let mut head = Vec::new();
    let ok = std::fs::File::open(path).and_then(|f| f.take(16 << 10).read_to_end(&mut head)).is_ok();
    ok && faultline_checkers::txn::read::looks_transactional(&String::from_utf8_lossy(&head))
}

/// The transactional checker's options from the flags (`workload` None: detect it).
pub fn txn_options(args: &CheckArgs, workload: Workload) -> Result<TxnOptions, String> {
    let mut o = TxnOptions::new(workload);
    o.set_consistency_models(&args.consistency_models).map_err(|e| format!("--consistency-models: {e}"))?;
    o.anomalies = args.anomalies.clone();
    o.wfr_keys = args.wfr_keys;
    o.sequential_keys = args.sequential_keys;
    o.linearizable_keys = args.linearizable_keys;
    if workload != Workload::RwRegister {
        let flags = [
            ("--wfr-keys", o.wfr_keys),
            ("--sequential-keys", o.sequential_keys),
            ("--linearizable-keys", o.linearizable_keys),
        ];
        if let Some((flag, _)) = flags.iter().find(|f| f.1) {
            return Err(format!("{flag} applies to rw-register histories, not {}", workload.as_str()));
        }
    }
    o.validate()?;
    Ok(o)
}

/// Read and check a transactional history (Elle's list-append or rw-register).
fn check_txn_file(path: &std::path::Path, args: &CheckArgs, started: Instant) -> Result<FileCheck, String> {
    let forced = args.workload.as_deref().map(str::parse::<Workload>).transpose()?;
    let (h, workload) = read_txn_history(path, forced).map_err(|e| e.to_string())?;
    let opts = txn_options(args, workload).map_err(|e| format!("{}: {e}", path.display()))?;
    let loaded_at = started.elapsed();
    let r = txn::check(&h, &opts);
    tracing::debug!(file = %path.display(), load_ms = loaded_at.as_secs_f64() * 1e3, check_ms = (started.elapsed() - loaded_at).as_secs_f64() * 1e3, "checked");
    let mut summary = r.summary.clone();
    // Every anomaly type, with its first instance in words a person can check.
    for (kind, cases) in &r.anomalies {
        let first = &cases[0];
        let words = match first.get("explanation").and_then(Value::as_str) {
            Some(e) => e.to_string(),
            None => first.to_string(),
        };
        let words: String =
            if words.len() > 600 { format!("{}...", &words[..words.floor_char_boundary_compat(597)]) } else { words };
        summary.push_str(&format!("\n         {kind} ({} found): {words}", cases.len()));
    }
    let results = if args.json || args.report.is_some() {
        let result_json = serde_json::to_value(&r).map_err(|e| e.to_string())?;
        let txn = Checker::Txn.name();
        json!({"verdict": r.verdict, "reason": format!("{txn}: {}", r.summary), "checkers": {txn: result_json}})
    } else {
        Value::Null
    };
    let history = LoadedHistory {
        ops: Vec::new(),
        format: Format::Auto,
        nil_read_is_unknown: true,
        lines: Vec::new(),
        warnings: r.notes.clone(),
    };
    Ok(FileCheck {
        path: path.to_path_buf(),
        history,
        verdict: r.verdict,
        ops: h.txns.len(),
        summary,
        results,
        ladder: None,
        elapsed: started.elapsed(),
    })
}

/// `str::floor_char_boundary` for the stable toolchain.
trait FloorCharBoundary {
    fn floor_char_boundary_compat(&self, i: usize) -> usize;
}

impl FloorCharBoundary for String {
    fn floor_char_boundary_compat(&self, mut i: usize) -> usize {
        i = i.min(self.len());
        while !self.is_char_boundary(i) {
            i -= 1;
        }
        i
    }
}

/// Read and check one file. `Err` names the file and what is wrong (bad input).
pub fn check_file(path: &std::path::Path, args: &CheckArgs) -> Result<FileCheck, String> {
    let started = Instant::now();
    // A run's own history: checked as the run checked it, with the options its test.json holds.
    if plan_decides(args) {
        if let Some(record) = run_plan(path)? {
            let history = read_history(path, args.format).map_err(|e| e.to_string())?;
            if history.format == Format::Jsonl {
                return workload_check(
                    path,
                    history,
                    record.workload.kind,
                    record.workload.check_options(),
                    args,
                    started,
                );
            }
        }
    }
    if args.workload.is_some() || (args.model == "auto" && looks_transactional(path)) {
        return check_txn_file(path, args, started);
    }
    let quick_model = args.model == "auto"
        || matches!(ModelKind::from_name(&args.model), Some(ModelKind::Register | ModelKind::CasRegister));
    let quick = matches!(args.format, Format::Auto | Format::Edn)
        && quick_model
        && !args.independent
        && args.models == Models::Linearizable;
    // A report draws the ops, so it needs the general path.
    let text = if quick && args.report.is_none() { read_small_file(path).map_err(|e| e.to_string())? } else { None };
    if let Some(text) = &text {
        if let Some(checked) = quick_check(path, text, args, started) {
            return Ok(checked);
        }
    }
    let mut history = match &text {
        Some(text) => parse_history_file(path, text, args.format),
        None => read_history(path, args.format),
    }
    .map_err(|e| e.to_string())?;
    drop(text);
    if args.independent {
        split_independent(&mut history.ops).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    let detected = (args.model == "auto").then(|| ModelKind::detect(&history.ops));
    // A history no linearizability model fits may be a workload's that says so (set, counter).
    let workload = match &detected {
        Some(Err(_)) => faultline_workloads::registry::all().iter().copied().find(|w| w.recognises(&history.ops)),
        _ => model_workload(&args.model),
    };
    if let Some(workload) = workload {
        let opts = faultline_workloads::CheckOptions::default();
        return workload_check(path, history, workload, opts, args, started);
    }
    let model = if let Some(detected) = detected {
        detected.map_err(|e| format!("{}: {e}", path.display()))?
    } else {
        ModelKind::from_name(&args.model).ok_or_else(|| format!("unknown model {:?}", args.model))?
    };
    let opts = options(model, &history, args);
    let loaded_at = started.elapsed();
    let result = check(&history.ops, &opts).map_err(|e| format!("{}: {e}", path.display()))?;
    if args.models == Models::Ladder {
        return ladder_check(path, history, result, opts, args, started);
    }
    tracing::debug!(file = %path.display(), load_ms = loaded_at.as_secs_f64() * 1e3, check_ms = (started.elapsed() - loaded_at).as_secs_f64() * 1e3, "checked");
    file_check(path, history, result, args, started)
}

/// The quick path (`linearizable::quick`) for a plain EDN register history: `None` when it
/// declines, and the general path then reads and checks the same text.
fn quick_check(path: &std::path::Path, text: &str, args: &CheckArgs, started: Instant) -> Option<FileCheck> {
    let detect = args.model == "auto";
    let model = ModelKind::from_name(&args.model).unwrap_or(ModelKind::Register);
    // What the general path would find: EDN, where an ok read of nil carries no information.
    let history = LoadedHistory {
        ops: Vec::new(),
        format: Format::Edn,
        nil_read_is_unknown: true,
        lines: Vec::new(),
        warnings: Vec::new(),
    };
    let opts = options(model, &history, args);
    let result = quick::check_register_edn(text, &opts, detect)?;
    file_check(path, history, result, args, started).ok()
}

/// How to check a history read from a file, with the flags given.
fn options(model: ModelKind, history: &LoadedHistory, args: &CheckArgs) -> Options {
    let mut opts = Options::new(model);
    opts.nil_read_is_unknown = history.nil_read_is_unknown;
    opts.timeout = args.timeout.map(Into::into);
    opts.init = match &args.init {
        Some(v) => parse_init(v),
        // Porcupine's kv model starts every key as the empty string.
        None if history.format == Format::Porcupine && model == ModelKind::Kv => Value::String(String::new()),
        None => Value::Null,
    };
    opts
}

fn file_check(
    path: &std::path::Path,
    history: LoadedHistory,
    result: LinearizableResult,
    args: &CheckArgs,
    started: Instant,
) -> Result<FileCheck, String> {
    // The failing op tied to its node and the faults active on it then (histories from a run).
    let failing = result.failure.as_ref().and_then(|f| f.ops.iter().find(|o| o.id == f.failing));
    let why = failing.and_then(|o| faultline_checkers::explain::explain_op(&history.ops, o.index));
    let mut summary = result.summary.clone();
    if let Some(why) = &why {
        summary.push_str(&format!("\n         why: {why}"));
    }
    // Only --json and --report show the whole result; the line per file needs none of it.
    let results = if args.json || args.report.is_some() {
        let mut result_json = serde_json::to_value(&result).map_err(|e| e.to_string())?;
        if let Some(why) = why {
            result_json["explanation"] = json!(why);
        }
        json!({
            "verdict": result.verdict,
            "reason": format!("linearizable: {}", result.summary),
            "checkers": { Checker::Linearizable.name(): result_json },
        })
    } else {
        Value::Null
    };
    Ok(FileCheck {
        path: path.to_path_buf(),
        history,
        verdict: result.verdict,
        ops: result.ops,
        summary,
        results,
        elapsed: started.elapsed(),
        ladder: None,
    })
}

/// `--models ladder`: the ladder on top of the linearizability result just computed. The
/// verdict (and so the exit code) stays the linearizable rung's.
fn ladder_check(
    path: &std::path::Path,
    history: LoadedHistory,
    result: LinearizableResult,
    opts: Options,
    args: &CheckArgs,
    started: Instant,
) -> Result<FileCheck, String> {
    use faultline_checkers::ladder;
    let lad = ladder::check_with_linearizable(&history.ops, &ladder::LadderOptions::new(opts), result.clone())
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let mut fc = file_check(path, history, result, args, started)?;
    if !fc.results.is_null() {
        fc.results["checkers"][Checker::Ladder.name()] = serde_json::to_value(&lad).map_err(|e| e.to_string())?;
    }
    fc.summary = format!("{}; {}", fc.summary, lad.summary);
    fc.ladder = Some(lad);
    fc.elapsed = started.elapsed();
    Ok(fc)
}

/// The ladder as a table: model, status, and the reason or witness.
fn ladder_table(l: &faultline_checkers::ladder::LadderResult) -> String {
    let mut out = String::new();
    for r in &l.rungs {
        let detail = match &r.witness {
            Some(w) => {
                let ops: Vec<String> = w.ops.iter().map(|o| format!("#{} p{} {}", o.index, o.process, o.f)).collect();
                format!("{} [{}]", r.reason, ops.join(", "))
            }
            None => r.reason.clone(),
        };
        out.push_str(&format!("         {:<20} {:<15} {}\n", r.model, r.status.as_str(), detail));
    }
    let strongest = if l.strongest.is_empty() { "none".to_string() } else { l.strongest.join(", ") };
    out.push_str(&format!("         strongest model that holds: {strongest}\n"));
    out
}

/// `--init`: JSON, or EDN's nil, or else a bare string.
fn parse_init(v: &str) -> Value {
    if v == "nil" {
        return Value::Null;
    }
    serde_json::from_str(v).unwrap_or_else(|_| Value::String(v.to_string()))
}

/// Check every file (in parallel across files), results in argument order.
pub fn check_files(args: &CheckArgs) -> Vec<Result<FileCheck, String>> {
    let n = args.files.len();
    let workers = faultline_checkers::linearizable::worker_threads().min(n).max(1);
    // Only a report needs the ops again, and only when another file follows is it worth freeing
    // them now: the next file then reuses the memory instead of faulting in fresh pages.
    let check = |f: &PathBuf| {
        let mut checked = check_file(f, args);
        if let (Ok(fc), None, true) = (&mut checked, &args.report, n > 1) {
            fc.history.ops = Vec::new();
            fc.history.lines = Vec::new();
        }
        checked
    };
    if workers == 1 {
        return args.files.iter().map(check).collect();
    }
    // Largest files first, so that the workers finish together rather than one waiting on a
    // big file taken last.
    let mut order: Vec<(u64, usize)> =
        args.files.iter().enumerate().map(|(i, f)| (std::fs::metadata(f).map_or(0, |m| m.len()), i)).collect();
    order.sort_unstable_by(|a, b| b.cmp(a));
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut results: Vec<(usize, Result<FileCheck, String>)> = std::thread::scope(|s| {
        let worker = || {
            let mut done = Vec::new();
            loop {
                let at = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(&(_, i)) = order.get(at) else { break };
                let f = &args.files[i];
                done.push((i, check(f)));
            }
            done
        };
        // This thread is one of the workers: one thread fewer to start.
        let handles: Vec<_> = (1..workers).map(|_| s.spawn(worker)).collect();
        let mut all = worker();
        all.extend(handles.into_iter().flat_map(|h| h.join().unwrap_or_default()));
        all
    });
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
}

pub fn run(args: CheckArgs) -> anyhow::Result<Exit> {
    keep_freed_memory();
    if let Some(w) = &args.workload {
        let w = w.parse::<Workload>().map_err(bad_input)?;
        txn_options(&args, w).map_err(bad_input)?;
    } else if !args.consistency_models.is_empty() || !args.anomalies.is_empty() {
        txn_options(&args, Workload::ListAppend).map_err(bad_input)?;
    }
    if args.model != "auto" && ModelKind::from_name(&args.model).is_none() && model_workload(&args.model).is_none() {
        let workloads: Vec<&str> =
            faultline_workloads::registry::names().into_iter().filter(|w| model_workload(w).is_some()).collect();
        return Err(bad_input(format!(
            "unknown model {:?} (expected auto, {}, or a workload's checks: {})",
            args.model,
            faultline_checkers::models::MODEL_NAMES.join(", "),
            workloads.join(", ")
        )));
    }
    if let Some(dir) = &args.report {
        std::fs::create_dir_all(dir)
            .map_err(|e| bad_input(format!("--report {}: cannot create the directory: {e}", dir.display())))?;
    }
    let started = Instant::now();
    let mut results = check_files(&args);
    // One write for all the lines (a line per file adds up over many small files); flushed
    // before anything goes to stderr, so that a terminal shows both in order.
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut worst = Verdict::Valid;
    let (mut valid, mut invalid, mut unknown, mut errors) = (0, 0, 0, 0);
    for r in &mut results {
        match r {
            Ok(fc) => {
                worst = worst.max(fc.verdict);
                match fc.verdict {
                    Verdict::Valid => valid += 1,
                    Verdict::Invalid => invalid += 1,
                    Verdict::Unknown => unknown += 1,
                }
                if args.json {
                    let mut obj = json!({
                        "file": fc.path.display().to_string(),
                        "format": fc.history.format.as_str(),
                        "elapsed_ms": fc.elapsed.as_secs_f64() * 1e3,
                        "warnings": fc.history.warnings,
                    });
                    obj["verdict"] = json!(fc.verdict);
                    obj["checkers"] = fc.results["checkers"].clone();
                    // Elle's fields at the top, so that scripts written for elle-cli keep working.
                    if let Some(t) = fc.results["checkers"].get(Checker::Txn.name()) {
                        for f in ["valid?", "anomaly-types", "anomalies", "not", "also-not"] {
                            obj[f] = t[f].clone();
                        }
                    }
                    let _ = writeln!(out, "{obj}");
                } else {
                    if !fc.history.warnings.is_empty() {
                        let _ = out.flush();
                    }
                    for w in &fc.history.warnings {
                        eprintln!("warning: {}", term::text(&format!("{}: {w}", fc.path.display())));
                    }
                    let _ = writeln!(
                        out,
                        "{:<8} {:>9} ops {:>10}  {}{}",
                        fc.verdict.as_str(),
                        fc.ops,
                        format_ms(fc.elapsed),
                        term::text(&fc.path.display().to_string()),
                        if fc.verdict == Verdict::Valid {
                            String::new()
                        } else {
                            format!("\n         {}", term::text(&fc.summary))
                        }
                    );
                    if let Some(l) = &fc.ladder {
                        let _ = write!(out, "{}", ladder_table(l));
                    }
                }
                if let Some(dir) = &args.report {
                    let _ = out.flush();
                    match write_report(dir, fc) {
                        Ok(page) => eprintln!("report: {}", page.display()),
                        Err(e) => {
                            errors += 1;
                            let said = format!("{}: the report could not be written: {e:#}", fc.path.display());
                            eprintln!("error: {}", term::text(&said));
                        }
                    }
                }
            }
            Err(e) => {
                errors += 1;
                if args.json {
                    let _ = writeln!(out, "{}", json!({"error": e}));
                }
                let _ = out.flush();
                eprintln!("error: {}", term::text(e));
            }
        }
    }
    let total = started.elapsed();
    // A file that could not be read was not checked: the summary never calls the whole valid.
    let summary_verdict = if errors > 0 && worst == Verdict::Valid { Verdict::Unknown } else { worst };
    if args.json {
        let _ = writeln!(
            out,
            "{}",
            json!({"summary": {"files": results.len(), "valid": valid, "invalid": invalid, "unknown": unknown,
                   "errors": errors, "verdict": summary_verdict.as_str(), "elapsed_ms": total.as_secs_f64() * 1e3}})
        );
    } else {
        let _ = writeln!(
            out,
            "{} files: {valid} valid, {invalid} invalid, {unknown} unknown, {errors} unreadable, in {}",
            results.len(),
            format_ms(total)
        );
    }
    let _ = out.flush();
    // The process is about to exit: freeing a million-op history op by op would only cost time.
    std::mem::forget(results);
    if errors > 0 {
        return Ok(Exit::BadArguments);
    }
    Ok(Exit::from_verdict(worst))
}

/// Tell glibc's malloc to keep what is freed rather than hand it back to the kernel at once.
/// Each file's search allocates tables of a few hundred KB and frees them; by default those go to
/// the kernel (an mmap and munmap each, or a trim of the heap) and come back as fresh pages, one
/// page fault per 4 KB, with a TLB shootdown across the worker threads at every munmap.
fn keep_freed_memory() {
    // SAFETY: mallopt only sets malloc's tuning parameters; it is called before the workers
    // start, and its failure (0) leaves the defaults, which are correct, only slower.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 256 << 20);
    }
}

fn format_ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

/// `--report DIR`: one report per checked file, in `DIR/<file name>/index.html`.
fn write_report(dir: &std::path::Path, fc: &mut FileCheck) -> anyhow::Result<PathBuf> {
    let name: String = fc
        .path
        .file_name()
        .map(|n| {
            n.to_string_lossy()
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '-' })
                .collect()
        })
        .unwrap_or_else(|| "history".into());
    let out = dir.join(name);
    std::fs::create_dir_all(&out)?;
    faultline_reports::write_history_report(
        &out,
        &fc.path.display().to_string(),
        // The ops are not needed after the report.
        std::mem::take(&mut fc.history.ops),
        Some(fc.results.clone()),
        Vec::new(),
    )
}
