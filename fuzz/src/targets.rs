//! The readers a fuzz case goes to, and what each promises on bad input: no panic, an error that
//! names the file (and, when it names a line, a line the file has), and — for register histories
//! — the quick path and the general path agree whenever both answer. Recipes and client lines are
//! read the same way. A history that reads is also
//! checked (with a short timeout), so the checkers see the mutated histories too.

use crate::seeds::Kind;
use faultline_checkers::formats::{parse_history, read_history, Format, HistoryError};
use faultline_checkers::linearizable::{self, quick, ModelKind, Options};
use faultline_checkers::{txn, Verdict};
use std::path::Path;
use std::time::Duration;

/// A reader's answer that kept its promises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    Accepted,
    Refused,
}

/// One reader: `run` gets the file and its bytes; `Err` is a broken promise.
pub struct Target {
    pub name: &'static str,
    pub run: fn(&Path, &[u8]) -> Result<Read, String>,
}

/// How long a checker may think about one mutated history.
const CHECK_TIMEOUT: Duration = Duration::from_millis(500);

const HISTORY_AUTO: Target = Target { name: "history-auto", run: |p, b| history(p, b, Format::Auto) };
const HISTORY_EDN: Target = Target { name: "history-edn", run: |p, b| history(p, b, Format::Edn) };
const HISTORY_JSONL: Target = Target { name: "history-jsonl", run: |p, b| history(p, b, Format::Jsonl) };
const HISTORY_PORCUPINE: Target = Target { name: "history-porcupine", run: |p, b| history(p, b, Format::Porcupine) };
const QUICK_VS_GENERAL: Target = Target { name: "quick-vs-general", run: quick_vs_general };
const TXN: Target = Target { name: "txn", run: txn_history };
const SCHEDULE: Target = Target { name: "schedule", run: schedule };
const RECIPE: Target = Target { name: "recipe", run: recipe };
const CLIENT_LINES: Target = Target { name: "client-lines", run: client_lines };

/// The readers that take inputs of `kind`.
pub fn for_kind(kind: Kind) -> &'static [Target] {
    match kind {
        Kind::RegisterEdn => &[HISTORY_AUTO, HISTORY_EDN, QUICK_VS_GENERAL, TXN],
        Kind::Porcupine => &[HISTORY_AUTO, HISTORY_PORCUPINE],
        Kind::Jsonl => &[HISTORY_AUTO, HISTORY_JSONL],
        Kind::Txn => &[TXN, HISTORY_AUTO],
        Kind::Schedule => &[SCHEDULE],
        Kind::Recipe => &[RECIPE],
        Kind::ClientLines => &[CLIENT_LINES],
    }
}

/// Read a history file as `format`; when it reads, check it as its detected model.
fn history(path: &Path, bytes: &[u8], format: Format) -> Result<Read, String> {
    match read_history(path, format) {
        Ok(loaded) => {
            if let Ok(model) = ModelKind::detect(&loaded.ops) {
                let mut opts = Options::new(model);
                opts.nil_read_is_unknown = loaded.nil_read_is_unknown;
                opts.timeout = Some(CHECK_TIMEOUT);
                // A checker may refuse a history (an op its model does not know); it must not panic.
                let _ = linearizable::check(&loaded.ops, &opts);
            }
            Ok(Read::Accepted)
        }
        Err(e) => history_error(path, bytes, &e).map(|()| Read::Refused),
    }
}

/// An error must name this file, and any line it names must exist.
fn history_error(path: &Path, bytes: &[u8], e: &HistoryError) -> Result<(), String> {
    if e.path != path {
        return Err(format!("the error names {:?}, not the file read: {e}", e.path));
    }
    if e.message.trim().is_empty() {
        return Err(format!("the error says nothing: {e}"));
    }
    let lines = bytes.iter().filter(|&&b| b == b'\n').count() + 1;
    match e.line {
        Some(0) => Err(format!("the error names line 0: {e}")),
        Some(line) if line > lines => Err(format!("the error names line {line} of a {lines}-line file: {e}")),
        _ => Ok(()),
    }
}

/// The quick register path answers only for plain, linearizable EDN register histories; when it
/// does, the general path must read the same text and, if it decides, agree.
fn quick_vs_general(_path: &Path, bytes: &[u8]) -> Result<Read, String> {
    let Ok(text) = std::str::from_utf8(bytes) else { return Ok(Read::Refused) };
    let mut opts = Options::new(ModelKind::Register);
    opts.nil_read_is_unknown = true;
    opts.timeout = Some(CHECK_TIMEOUT);
    let Some(fast) = quick::check_register_edn(text, &opts, true) else { return Ok(Read::Refused) };
    let general = parse_history(text, Format::Edn)
        .map_err(|e| format!("the quick path answered {:?} but the general path cannot read it: {e}", fast.verdict))?;
    let model = ModelKind::detect(&general.ops)
        .map_err(|e| format!("the quick path answered {:?} but the general path finds no model: {e}", fast.verdict))?;
    let mut opts = Options::new(model);
    opts.nil_read_is_unknown = true;
    opts.timeout = Some(CHECK_TIMEOUT);
    let slow = linearizable::check(&general.ops, &opts)
        .map_err(|e| format!("the quick path answered {:?} but the general path fails: {e}", fast.verdict))?;
    if slow.verdict != Verdict::Unknown && slow.verdict != fast.verdict {
        return Err(format!(
            "the quick path says {:?}, the general path {:?} ({})",
            fast.verdict, slow.verdict, slow.summary
        ));
    }
    Ok(Read::Accepted)
}

/// A transactional history: read, then checked under the default models.
fn txn_history(path: &Path, bytes: &[u8]) -> Result<Read, String> {
    match txn::read_txn_history(path, None) {
        Ok((history, workload)) => {
            let _ = txn::check(&history, &txn::TxnOptions::new(workload));
            Ok(Read::Accepted)
        }
        Err(e) => history_error(path, bytes, &e).map(|()| Read::Refused),
    }
}

/// A nemesis schedule: its errors name the file.
fn schedule(path: &Path, _bytes: &[u8]) -> Result<Read, String> {
    match faultline_nemeses::schedule::load_schedule(path) {
        Ok(_) => Ok(Read::Accepted),
        Err(e) if e.contains(&path.display().to_string()) => Ok(Read::Refused),
        Err(e) => Err(format!("the error does not name the file: {e}")),
    }
}

/// A database recipe: refused as bad input naming the file, before any node is touched. (Recipes
/// name binaries and archives on this machine; a mutated path that happens to exist is read, not
/// run.)
fn recipe(path: &Path, _bytes: &[u8]) -> Result<Read, String> {
    match faultline_dbs::recipe::spec::load(path) {
        Ok(_) => Ok(Read::Accepted),
        Err(e) => {
            let said = format!("{e:#}");
            if !faultline_control::error::is_bad_input(&e) {
                return Err(format!("not reported as bad input (exit 254): {said}"));
            }
            if said.contains(&path.display().to_string()) {
                Ok(Read::Refused)
            } else {
                Err(format!("the error does not name the file: {said}"))
            }
        }
    }
}

/// A client's stdout, line by line as the subprocess client reads it: every line is an answer or
/// garbage with a reason, never a panic, and the reason quotes at most a short piece of the line.
fn client_lines(_path: &Path, bytes: &[u8]) -> Result<Read, String> {
    let text = String::from_utf8_lossy(bytes);
    let mut any = Read::Refused;
    for line in text.lines() {
        match faultline_dbs::process_client::read_answer_line(line) {
            Ok(_) => any = Read::Accepted,
            Err(why) if why.chars().count() > 300 => {
                return Err(format!("the reason is not shortened: {} chars", why.len()))
            }
            Err(_) => {}
        }
    }
    Ok(any)
}
