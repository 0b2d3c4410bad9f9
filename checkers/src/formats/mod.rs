//! History file formats: faultline's JSON Lines, Jepsen/Knossos EDN and Porcupine's key-value
//! EDN, auto-detected from the content; and EDN output so that faultline histories can be fed to
//! Elle or Knossos.
//!
//! Every reader produces the same `Op` records. Histories without `:index`/`:time` get
//! index = time = position, which keeps their order. After reading, the history is checked for
//! well-formedness (see `validate`), so a checker can rely on: each completion follows an
//! invocation on its process, a process has at most one operation outstanding, and a process
//! whose operation ended `info` never invokes again. Every problem is reported with the file, the
//! line and what is wrong; nothing here panics on bad input.

pub mod edn;
mod edn_scan;
mod jsonl;
mod write;
pub use write::{write_edn, write_edn_to, write_jsonl};

pub(crate) use edn_scan::{Fields, RegisterValue};
pub(crate) use jsonl::Scanner as JsonScanner;

use crate::history::{History, Op, OpType, Process};
use edn::{Edn, Reader};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// A history file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Detect from the content.
    Auto,
    /// faultline's own: one JSON `Op` per line.
    Jsonl,
    /// Jepsen or Knossos EDN: a map per line (`history.edn`) or one vector/list of maps.
    Edn,
    /// Porcupine's key-value histories: one EDN map per line, with `:key`.
    Porcupine,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Auto => "auto",
            Format::Jsonl => "jsonl",
            Format::Edn => "edn",
            Format::Porcupine => "porcupine",
        }
    }
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(Format::Auto),
            "jsonl" | "json" => Ok(Format::Jsonl),
            "edn" => Ok(Format::Edn),
            "porcupine" => Ok(Format::Porcupine),
            _ => Err(format!("unknown format {s:?} (expected auto, jsonl, edn or porcupine)")),
        }
    }
}

/// A history read from a file.
#[derive(Debug, Clone)]
pub struct LoadedHistory {
    pub ops: History,
    /// The format actually read (never `Auto`).
    pub format: Format,
    /// Whether an `ok` read of nil means "unknown" (imported Jepsen/Knossos EDN) rather than
    /// "the key was absent" (faultline's own histories).
    pub nil_read_is_unknown: bool,
    /// The 1-based line each op starts on, parallel to `ops`.
    pub lines: Vec<usize>,
    /// Problems that did not stop the read, e.g. a truncated last line that was ignored.
    pub warnings: Vec<String>,
}

/// Why a history could not be read: names the file, the line when known, and what is wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryError {
    pub path: PathBuf,
    pub line: Option<usize>,
    pub message: String,
}

impl std::fmt::Display for HistoryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}: {}", self.path.display(), line, self.message),
            None => write!(f, "{}: {}", self.path.display(), self.message),
        }
    }
}

impl std::error::Error for HistoryError {}

/// A problem at a line, before the file name is attached.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LineError {
    pub line: usize,
    pub message: String,
}

/// Read and validate a history file. faultline's JSON Lines are streamed (the file's text is
/// never held whole, see `jsonl`); the other formats are read whole.
pub fn read_history(path: impl AsRef<Path>, format: Format) -> Result<LoadedHistory, HistoryError> {
    use std::io::Read;
    let path = path.as_ref();
    let cannot_read = |e| cannot_read(path, e);
    let (mut file, size) = match open_history(path)? {
        Opened::Small(text) => return parse_history_file(path, &text, format),
        Opened::Large(file, size) => (file, size),
    };
    // The start of the file tells the format.
    let mut head = Vec::with_capacity(HEAD.min(size + 1));
    (&mut file).take(HEAD as u64).read_to_end(&mut head).map_err(cannot_read)?;
    let head_text = match std::str::from_utf8(&head) {
        Ok(t) => t,
        Err(e) => std::str::from_utf8(&head[..e.valid_up_to()]).unwrap_or(""),
    };
    let streamed = format == Format::Jsonl || (format == Format::Auto && detect(head_text) == Some(Format::Jsonl));
    if streamed {
        let (ops, lines, mut warnings) = jsonl::read_stream(head.as_slice().chain(file), size)
            .map_err(|e| HistoryError { path: path.to_path_buf(), line: Some(e.line), message: e.message })?;
        if ops.is_empty() && warnings.is_empty() {
            // Every line was blank (a bad line would have been an error or a warning).
            warnings.push("the history is empty".into());
        }
        let at = |e: LineError| HistoryError { path: path.to_path_buf(), line: Some(e.line), message: e.message };
        validate(&ops, &lines).map_err(at)?;
        return Ok(LoadedHistory { ops, format: Format::Jsonl, nil_read_is_unknown: false, lines, warnings });
    }
    let mut bytes = head;
    file.read_to_end(&mut bytes).map_err(cannot_read)?;
    let text = into_text(bytes, path)?;
    parse_history_file(path, &text, format)
}

/// The text of history file `path` if it has at most `SMALL_FILE` bytes; `None` for a larger one
/// (give it to `read_history`, which streams JSON Lines). For callers that look at the text
/// before parsing it (`linearizable::quick`).
pub fn read_small_file(path: &Path) -> Result<Option<String>, HistoryError> {
    Ok(match open_history(path)? {
        Opened::Small(text) => Some(text),
        Opened::Large(..) => None,
    })
}

/// `parse_history` for the text of file `path`: errors name the file.
pub fn parse_history_file(path: &Path, text: &str, format: Format) -> Result<LoadedHistory, HistoryError> {
    parse_history(text, format).map_err(|e| HistoryError { path: path.to_path_buf(), ..e })
}

/// A history file, opened: read whole when small, else left open with its size.
enum Opened {
    Small(String),
    Large(std::fs::File, usize),
}

fn open_history(path: &Path) -> Result<Opened, HistoryError> {
    use std::io::Read;
    let mut file = std::fs::File::open(path).map_err(|e| cannot_read(path, e))?;
    let size = file.metadata().map(|m| m.len() as usize).unwrap_or(0);
    if size > SMALL_FILE {
        return Ok(Opened::Large(file, size));
    }
    // One read: checking many small files is mostly system calls otherwise.
    let mut bytes = Vec::with_capacity(size + 1);
    file.read_to_end(&mut bytes).map_err(|e| cannot_read(path, e))?;
    into_text(bytes, path).map(Opened::Small)
}

fn cannot_read(path: &Path, e: std::io::Error) -> HistoryError {
    HistoryError { path: path.to_path_buf(), line: None, message: format!("cannot read: {e}") }
}

/// Files up to this size are read whole in one go; larger JSON Lines files are streamed.
const SMALL_FILE: usize = 4 << 20;

/// The file's bytes as text, or an error naming the line that is not UTF-8.
fn into_text(bytes: Vec<u8>, path: &Path) -> Result<String, HistoryError> {
    String::from_utf8(bytes).map_err(|e| {
        let line = 1 + e.as_bytes()[..e.utf8_error().valid_up_to()].iter().filter(|&&b| b == b'\n').count();
        HistoryError { path: path.to_path_buf(), line: Some(line), message: "not valid UTF-8".into() }
    })
}

/// How much of a file `read_history` looks at to detect its format.
const HEAD: usize = 64 << 10;

/// Parse and validate history text (the error's path is empty; `read_history` fills it in).
pub fn parse_history(text: &str, format: Format) -> Result<LoadedHistory, HistoryError> {
    let at = |e: LineError| HistoryError { path: PathBuf::new(), line: Some(e.line), message: e.message };
    let format = match format {
        Format::Auto => detect(text).ok_or_else(|| HistoryError {
            path: PathBuf::new(),
            line: None,
            message: "cannot detect the format (expected JSON Lines, EDN or Porcupine; try --format)".into(),
        })?,
        f => f,
    };
    let mut loaded = match format {
        Format::Jsonl => {
            let (ops, lines, warnings) = jsonl::read(text).map_err(at)?;
            LoadedHistory { ops, format, nil_read_is_unknown: false, lines, warnings }
        }
        Format::Edn | Format::Porcupine | Format::Auto => {
            let (ops, lines) = read_edn_ops(text).map_err(at)?;
            LoadedHistory { ops, format, nil_read_is_unknown: format == Format::Edn, lines, warnings: Vec::new() }
        }
    };
    if loaded.ops.is_empty() && loaded.warnings.is_empty() && text.trim().is_empty() {
        loaded.warnings.push("the history is empty".into());
    }
    validate(&loaded.ops, &loaded.lines).map_err(at)?;
    Ok(loaded)
}

/// Guess the format from the first significant characters.
pub fn detect(text: &str) -> Option<Format> {
    let t = text.trim_start();
    if t.starts_with('[') || t.starts_with('(') || t.starts_with(';') || t.starts_with('#') {
        return Some(Format::Edn);
    }
    if let Some(rest) = t.strip_prefix('{') {
        let rest = rest.trim_start();
        if rest.starts_with('"') || rest.starts_with('}') {
            return Some(Format::Jsonl);
        }
        if rest.starts_with(':') {
            // Porcupine's key-value files are maps with :key, one per line.
            let first_line = t.lines().next().unwrap_or("");
            return Some(if first_line.contains(":key ") { Format::Porcupine } else { Format::Edn });
        }
    }
    None
}

/// Read EDN ops: either one top-level vector/list of maps, or a sequence of top-level maps.
pub(crate) fn read_edn_ops(text: &str) -> Result<(History, Vec<usize>), LineError> {
    // Size the vectors once rather than growing them: an op map takes 40 bytes or more.
    let expected = text.len() / 40 + 16;
    let mut ops = Vec::with_capacity(expected);
    let mut lines = Vec::with_capacity(expected);
    for_each_edn_op(text, |op, line| {
        ops.push(op);
        lines.push(line);
        Ok(())
    })?;
    Ok((ops, lines))
}

/// Read EDN ops one at a time, handing each (with the line it starts on) to `each` as soon as
/// it is read, so a caller that keeps something smaller than an `Op` (the transactional
/// reader) never holds the whole history as `Op`s.
pub(crate) fn for_each_edn_op(
    text: &str,
    mut each: impl FnMut(Op, usize) -> Result<(), LineError>,
) -> Result<(), LineError> {
    let mut one: Vec<Op> = Vec::with_capacity(1);
    let mut position = 0u64;
    each_edn_op(text, |r, tag, line| {
        let scanned = match text.as_bytes().get(r.offset()) {
            Some(b'{') => edn_scan::scan_op(text, r.offset(), position, &mut one),
            _ => None,
        };
        let op = match scanned {
            Some((end, newlines)) => {
                r.advance(end, newlines);
                one.pop().expect("scan_op pushed the op")
            }
            None => read_op(r, tag, position)?,
        };
        position += 1;
        each(op, line)
    })
}

/// For the linearizability checker's quick path (`linearizable::quick`): scan the op maps of EDN
/// text with register values, without building `Op`s, handing each to `each`. `None` as soon as
/// a map is not in the scanner's usual shape or `each` declines; the text then goes through
/// `parse_history`, which reads it all and words any error.
pub(crate) fn scan_register_ops(
    text: &str,
    mut each: impl FnMut(Fields<'_, RegisterValue>) -> Option<()>,
) -> Option<()> {
    let declined = || LineError { line: 0, message: String::new() };
    each_edn_op(text, |r, _tag, _line| {
        let at = r.offset();
        if text.as_bytes().get(at) != Some(&b'{') {
            return Err(declined());
        }
        let (fields, end, newlines) = edn_scan::scan_fields(text, at).ok_or_else(declined)?;
        each(fields).ok_or_else(declined)?;
        r.advance(end, newlines);
        Ok(())
    })
    .ok()
}

/// Walk EDN history text: either one top-level vector/list of maps, or a sequence of top-level
/// maps. `each` is called with the reader at each op (after its tag, which it is given, and the
/// line the op starts on) and must consume it.
fn each_edn_op<'a>(
    text: &'a str,
    mut each: impl FnMut(&mut Reader<'a>, Option<&'a str>, usize) -> Result<(), LineError>,
) -> Result<(), LineError> {
    let mut r = Reader::new(text);
    let le = |e: edn::EdnError| LineError { line: e.line, message: format!("bad EDN: {}", e.message) };
    let mut one = |r: &mut Reader<'a>| -> Result<(), LineError> {
        // The caller peeked, so the op starts here (after its tag, if it has one).
        let line = r.line();
        let mut tag = None;
        if text.as_bytes().get(r.offset()) == Some(&b'#') {
            tag = r.read_tag().map_err(le)?;
            r.peek().map_err(le)?;
        }
        each(r, tag, line)
    };
    match r.peek().map_err(le)? {
        Some(open @ (b'[' | b'(')) => {
            let close = if open == b'[' { b']' } else { b')' };
            let start = r.line();
            r.bump();
            loop {
                match r.peek().map_err(le)? {
                    None => {
                        return Err(LineError {
                            line: start,
                            message: format!("bad EDN: '{}' opened here is never closed", open as char),
                        })
                    }
                    Some(c) if c == close => {
                        r.bump();
                        break;
                    }
                    Some(_) => one(&mut r)?,
                }
            }
            if r.peek().map_err(le)?.is_some() {
                return Err(LineError {
                    line: r.line(),
                    message: "bad EDN: unexpected text after the history vector".into(),
                });
            }
        }
        _ => {
            while r.peek().map_err(le)?.is_some() {
                one(&mut r)?;
            }
        }
    }
    Ok(())
}

/// Read one op map (its tag, if any, already read) with the general reader, when `edn_scan`
/// declined it. The common fields are still taken from the text without building EDN values;
/// the other fields are read as EDN.
fn read_op(r: &mut Reader, tag: Option<&str>, position: u64) -> Result<Op, LineError> {
    let line = r.line();
    let le = |e: edn::EdnError| LineError { line: e.line, message: format!("bad EDN: {}", e.message) };
    let at = |message: String| LineError { line, message };
    if r.peek().map_err(le)? != Some(b'{') {
        let v = r.read().map_err(le)?;
        let v = match tag {
            Some(t) => Edn::Tagged(t.to_string(), Box::new(v)),
            None => v,
        };
        return op_from_edn(&v, position).map_err(at);
    }
    r.bump();
    let mut fast = Fast::default();
    let mut rest: Vec<(Edn, Edn)> = Vec::new();
    loop {
        match r.peek().map_err(le)? {
            None => return Err(at("bad EDN: '{' opened here is never closed".into())),
            Some(b'}') => {
                r.bump();
                break;
            }
            Some(_) => {}
        }
        let key = match r.read_keyword().map_err(le)? {
            Some(k) => k,
            None => {
                let k = r.read().map_err(le)?;
                let v = r.read().map_err(le)?;
                rest.push((k, v));
                continue;
            }
        };
        let took = match key {
            "type" => r.read_keyword().map_err(le)?.map(|t| fast.kind = Some(t)).is_some(),
            "f" => r.read_keyword().map_err(le)?.map(|name| fast.f = Some(name.into())).is_some(),
            "process" => {
                let nemesis = r.peek().map_err(le)? == Some(b':');
                let is_int = matches!(r.peek().map_err(le)?, Some(c) if c.is_ascii_digit());
                if nemesis || is_int {
                    let v = if nemesis {
                        r.read_keyword().map_err(le)?.map(|k| Edn::Keyword(k.to_string())).unwrap_or(Edn::Nil)
                    } else {
                        r.read().map_err(le)?
                    };
                    fast.process = Some(process_from(&v).map_err(at)?);
                    true
                } else {
                    false
                }
            }
            "value" => {
                fast.value = Some(r.read_json().map_err(le)?);
                true
            }
            "key" => {
                fast.key = Some(r.read_json().map_err(le)?);
                true
            }
            "index" => r.read_unsigned().map_err(le)?.map(|i| fast.index = Some(i)).is_some(),
            "time" => r.read_unsigned().map_err(le)?.map(|t| fast.time = Some(t)).is_some(),
            _ => false,
        };
        if !took {
            let v = r.read().map_err(le)?;
            rest.push((Edn::Keyword(key.to_string()), v));
        }
    }
    op_from_fields(&Edn::Map(rest), fast, position).map_err(at)
}

/// Fields already read by `read_op`'s fast path.
#[derive(Default)]
struct Fast<'a> {
    kind: Option<&'a str>,
    f: Option<crate::history::FnName>,
    process: Option<Process>,
    value: Option<Value>,
    /// `Some(Null)` when the map says `:key nil`.
    key: Option<Value>,
    index: Option<u64>,
    time: Option<u64>,
}

/// Convert one EDN op map into an `Op`; `position` is its position in the history.
fn op_from_edn(v: &Edn, position: u64) -> Result<Op, String> {
    let map_ok = match v {
        Edn::Map(_) => true,
        Edn::Tagged(_, inner) => matches!(**inner, Edn::Map(_)),
        _ => false,
    };
    if !map_ok {
        return Err(format!("expected an op map, got {}", short(v)));
    }
    op_from_fields(v, Fast::default(), position)
}

fn process_from(p: &Edn) -> Result<Process, String> {
    match p {
        Edn::Int(p) if *p >= 0 => Ok(Process::Client(*p as u64)),
        p if p.as_name() == Some("nemesis") => Ok(Process::Nemesis),
        p => Err(format!("bad :process {} (expected a non-negative integer or :nemesis)", short(p))),
    }
}

/// Build an `Op` from a map `v`, preferring the fields in `fast` when present.
fn op_from_fields(v: &Edn, fast: Fast, position: u64) -> Result<Op, String> {
    let kind_name = match fast.kind {
        Some(k) => Some(k),
        None => match v.get("type") {
            Some(t) => match t.as_name() {
                Some(n) => Some(n),
                None => return Err(format!("unknown type {} (expected :invoke, :ok, :fail or :info)", short(t))),
            },
            None => None,
        },
    };
    let kind = match kind_name {
        Some("invoke") => OpType::Invoke,
        Some("ok") => OpType::Ok,
        Some("fail") => OpType::Fail,
        Some("info") => OpType::Info,
        Some(other) => return Err(format!("unknown type :{other} (expected :invoke, :ok, :fail or :info)")),
        None => return Err("op has no :type".into()),
    };
    let process = match fast.process {
        Some(p) => p,
        None => match v.get("process") {
            Some(p) => process_from(p)?,
            None => return Err("op has no :process".into()),
        },
    };
    let f = match fast.f {
        Some(f) => f,
        None => match v.get("f") {
            Some(f) => match f.as_name() {
                Some(s) => s.into(),
                None => f.to_string().into(),
            },
            // Elle's own test histories leave out `:f` on transactions: a value that is a
            // vector of micro-op vectors is a `:txn`.
            None if is_txn_value(fast.value.as_ref(), v.get("value")) => "txn".into(),
            None => return Err("op has no :f".into()),
        },
    };
    let int_field = |name: &str| -> Result<Option<u64>, String> {
        match v.get(name) {
            None | Some(Edn::Nil) => Ok(None),
            Some(Edn::Int(i)) if *i >= 0 => Ok(Some(*i as u64)),
            Some(x) => Err(format!("bad :{name} {} (expected a non-negative integer)", short(x))),
        }
    };
    let index = match fast.index {
        Some(i) => i,
        None => int_field("index")?.unwrap_or(position),
    };
    // Jepsen writes `:time -1` for a time it does not know (Elle's test histories do): as if
    // absent, the op's position.
    let time = match fast.time {
        Some(t) => t,
        None => match v.get("time") {
            Some(Edn::Int(i)) if *i < 0 => position,
            _ => int_field("time")?.unwrap_or(position),
        },
    };
    let value = match fast.value {
        Some(v) => v,
        None => v.get("value").map(Edn::to_json).unwrap_or(Value::Null),
    };
    let key = match fast.key {
        Some(Value::Null) => None,
        Some(k) => Some(k),
        None => match v.get("key") {
            None | Some(Edn::Nil) => None,
            Some(k) => Some(k.to_json()),
        },
    };
    let node = match v.get("node") {
        None | Some(Edn::Nil) => None,
        Some(n) => Some(n.as_name().map(str::to_string).unwrap_or_else(|| n.to_string())),
    };
    let error = match v.get("error") {
        None | Some(Edn::Nil) => None,
        Some(Edn::Str(s)) => Some(s.clone()),
        Some(e) => Some(e.to_string()),
    };
    Ok(Op { index, time, kind, process, f, value, key, node, error })
}

/// Whether an op's value (read fast, or else in the map) is a transaction: a non-empty vector
/// whose items are all vectors.
fn is_txn_value(fast: Option<&Value>, slow: Option<&Edn>) -> bool {
    match (fast, slow) {
        (Some(Value::Array(items)), _) => !items.is_empty() && items.iter().all(Value::is_array),
        (None, Some(Edn::Vector(items) | Edn::List(items))) => {
            !items.is_empty() && items.iter().all(|i| matches!(i, Edn::Vector(_) | Edn::List(_)))
        }
        _ => false,
    }
}

/// A short rendering of an EDN value for error messages.
fn short(v: &Edn) -> String {
    let s = v.to_string();
    if s.len() > 60 {
        format!(
            "{}...",
            &s[..s.char_indices().take_while(|(i, _)| *i < 57).last().map_or(0, |(i, c)| i + c.len_utf8())]
        )
    } else {
        s
    }
}

/// Check that the history is well formed (see the module doc). Nemesis events are not checked:
/// the nemesis records its actions as pairs of `info` events.
pub(crate) fn validate(ops: &[Op], lines: &[usize]) -> Result<(), LineError> {
    use crate::history::{Misstep, ProcessState};
    let line_of = |i: usize| lines.get(i).copied().unwrap_or(i + 1);
    let mut procs = crate::history::ByProcess::new(ops, ProcessState::Idle);
    for (i, op) in ops.iter().enumerate() {
        let Process::Client(p) = op.process else { continue };
        let slot = procs.get_mut(p);
        let message = match slot.after(op.kind, i) {
            Ok(next) => {
                *slot = next;
                continue;
            }
            Err(Misstep::TwoOutstanding(j)) => format!(
                "process {p} invokes {} while its {} invoked at line {} is still outstanding (two outstanding invocations on one process)",
                op.f,
                ops[j].f,
                line_of(j)
            ),
            Err(Misstep::AfterCrash(j)) => format!(
                "process {p} invokes {} after its operation ended info at line {} (a crashed process must not invoke again)",
                op.f,
                line_of(j)
            ),
            Err(Misstep::NoInvoke) => format!("{} {} on process {p} without an invoke", op.kind.as_str(), op.f),
        };
        return Err(LineError { line: line_of(i), message });
    }
    Ok(())
}

/// Jepsen's independent-key histories carry `:value [key value]`; move the key into `key` so the
/// history splits per key. Ops whose value is not a pair (e.g. nemesis ops) are left alone, as
/// are ops that already have a key. Fails on an invoke or ok of a client op that is not a pair.
pub fn split_independent(ops: &mut [Op]) -> Result<(), String> {
    for op in ops.iter_mut() {
        if op.is_nemesis() || op.key.is_some() {
            continue;
        }
        match &mut op.value {
            Value::Array(pair) if pair.len() == 2 => {
                let v = pair.pop().unwrap_or(Value::Null);
                let k = pair.pop().unwrap_or(Value::Null);
                op.key = Some(k);
                op.value = v;
            }
            Value::Null if op.kind != OpType::Invoke => {}
            other => {
                return Err(format!(
                    "op at index {} has value {} but --independent expects [key value]",
                    op.index, other
                ))
            }
        }
    }
    Ok(())
}
