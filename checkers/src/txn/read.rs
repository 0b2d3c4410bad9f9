//! Reading transactional histories: Jepsen EDN (a map per line, or one vector), Elle-cli JSON
//! (one array of op objects) and faultline JSON Lines, detected from the content.
//!
//! EDN goes through the crate's EDN reader (`formats`) one op at a time, each turned into
//! micro-ops before the next is read; JSON and JSON Lines are read object by object with serde
//! straight into micro-ops (no JSON values kept), so a million-transaction history costs little
//! more than its text and its micro-ops. Invocations are paired with completions per
//! process; a completion without an invocation (Elle's completion-only test histories) is
//! accepted and simply has no place in the process or realtime order. An invocation that never
//! completes counts as `info`. Every problem names the file and line: an unknown micro-op, a
//! read of a non-list in a list-append history, a duplicate append, a non-integer value.

use super::{Key, Mop, Outcome, Read, Txn, TxnHistory, Workload};
use crate::formats::{HistoryError, JsonScanner};
use crate::history::OpType;
use rustc_hash::FxHashMap;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The text formats of transactional histories.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnFormat {
    Edn,
    /// One JSON array of op objects (Elle-cli's `.json`).
    JsonArray,
    /// One JSON object per line (faultline's `history.jsonl`).
    Jsonl,
}

/// Guess the format from the first significant characters.
pub fn detect(text: &str) -> Option<TxnFormat> {
    let t = skip_space_and_comments(text);
    let rest = |s: &str| skip_space_and_comments(s).to_string();
    if let Some(r) = t.strip_prefix('[') {
        let r = rest(r);
        return Some(if r.starts_with('{') && rest(&r[1..]).starts_with('"') {
            TxnFormat::JsonArray
        } else {
            TxnFormat::Edn
        });
    }
    if let Some(r) = t.strip_prefix('{') {
        return Some(if rest(r).starts_with('"') { TxnFormat::Jsonl } else { TxnFormat::Edn });
    }
    if t.starts_with('(') || t.starts_with('#') {
        return Some(TxnFormat::Edn);
    }
    None
}

fn skip_space_and_comments(mut t: &str) -> &str {
    loop {
        t = t.trim_start_matches(|c: char| c.is_whitespace() || c == ',');
        if t.starts_with(';') {
            t = t.find('\n').map_or("", |i| &t[i..]);
        } else {
            return t;
        }
    }
}

/// Read a transactional history file. `workload` None: detect it from the micro-ops.
pub fn read_txn_history(path: &Path, workload: Option<Workload>) -> Result<(TxnHistory, Workload), HistoryError> {
    let text = std::fs::read_to_string(path).map_err(|e| HistoryError {
        path: path.to_path_buf(),
        line: None,
        message: format!("cannot read: {e}"),
    })?;
    parse_txn_history(&text, workload).map_err(|e| HistoryError { path: path.to_path_buf(), ..e })
}

/// Whether text looks like a transactional history: its first client op has `:f :txn` (or no
/// `:f` and a vector of micro-ops). Looks at the first few KB only.
pub fn looks_transactional(text: &str) -> bool {
    let head = &text.as_bytes()[..text.len().min(16 << 10)];
    // Whitespace and commas removed, so `[[ :append 4 2]` and `"f": "txn"` match too.
    let squeezed: Vec<u8> = head.iter().copied().filter(|c| !c.is_ascii_whitespace() && *c != b',').collect();
    let has = |pat: &[u8]| squeezed.windows(pat.len()).any(|w| w == pat);
    has(b":f:txn")
        || has(b"\"f\":\"txn\"")
        || has(b"[:append")
        || has(b"[\"append\"")
        || has(b"[[:r")
        || has(b"[[:w")
        || has(b"[[\"r\"")
        || has(b"[[\"w\"")
}

/// Parse a transactional history (errors carry an empty path; `read_txn_history` fills it in).
pub fn parse_txn_history(text: &str, workload: Option<Workload>) -> Result<(TxnHistory, Workload), HistoryError> {
    let err = |line: Option<usize>, message: String| HistoryError { path: PathBuf::new(), line, message };
    let format = detect(text).ok_or_else(|| {
        err(None, "cannot detect the format (expected Jepsen EDN, Elle-cli JSON or faultline JSON Lines)".into())
    })?;
    let mut b = Builder::new(workload);
    b.reserve_for(text.len());
    match format {
        TxnFormat::Edn => {
            // Op by op: each is turned into micro-ops and dropped before the next is read.
            crate::formats::for_each_edn_op(text, |op, line| {
                add_ops(&mut b, std::iter::once((&op, line)))
                    .map_err(|(line, message)| crate::formats::LineError { line, message })
            })
            .map_err(|e| err(Some(e.line), e.message))?;
        }
        TxnFormat::Jsonl => read_jsonl(text, &mut b).map_err(|(line, m)| err(Some(line), m))?,
        TxnFormat::JsonArray => {
            for (start, end, line) in json_array_items(text).map_err(|(line, m)| err(Some(line), m))? {
                let raw: RawOp = serde_json::from_str(&text[start..end])
                    .map_err(|e| err(Some(line + e.line() - 1), format!("bad JSON: {e}")))?;
                b.add_raw(raw, line).map_err(|m| err(Some(line), m))?;
            }
        }
    }
    b.finish().map_err(|(line, m)| err(line, m))
}

/// The transactional history in a run's ops (faultline's own workloads: `txn` and transactional
/// `final-read` ops; nemesis ops are skipped). Errors name the op's index.
pub fn history_from_ops(ops: &[crate::Op], workload: Workload) -> Result<TxnHistory, String> {
    let mut b = Builder::new(Some(workload));
    add_ops(&mut b, ops.iter().map(|o| (o, o.index as usize + 1)))
        .map_err(|(line, m)| format!("op {}: {m}", line - 1))?;
    b.finish().map(|(h, _)| h).map_err(|(_, m)| m)
}

/// Feed ops (each with its line, or position) to the builder.
fn add_ops<'a>(b: &mut Builder, ops: impl Iterator<Item = (&'a crate::Op, usize)>) -> Result<(), (usize, String)> {
    for (op, line) in ops {
        let process = match op.process {
            crate::Process::Client(p) => p,
            crate::Process::Nemesis => continue,
        };
        check_f(Some(op.f.as_str())).map_err(|m| (line, m))?;
        let mops = mops_from_json(&op.value).map_err(|m| (line, m))?;
        let ev =
            Event { kind: op.kind, process, f: Some(op.f.as_str()), index: Some(op.index), mops: EventMops::Raw(mops) };
        b.add(ev, line).map_err(|m| (line, m))?;
    }
    Ok(())
}

/// A micro-op's function, as the fast path reads it.
#[derive(Debug, Clone, Copy, PartialEq)]
enum FlatF {
    Append,
    R,
    W,
}

/// A key as the fast path reads it: an integer, or a string without escapes.
#[derive(Debug, Clone, Copy, PartialEq)]
enum FlatKey<'a> {
    Int(i64),
    Str(&'a str),
}

/// A micro-op's value as the fast path reads it; a list is a range of its block's elements.
#[derive(Debug, Clone, Copy, PartialEq)]
enum FlatVal {
    Nil,
    Int(i64),
    List(u32, u32),
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct FlatMop<'a> {
    f: FlatF,
    key: FlatKey<'a>,
    value: FlatVal,
}

impl FlatMop<'_> {
    fn to_raw(self, elements: &[i64]) -> RawMop {
        let f = match self.f {
            FlatF::Append => "append",
            FlatF::R => "r",
            FlatF::W => "w",
        };
        let key = match self.key {
            FlatKey::Int(i) => RawVal::Int(i),
            FlatKey::Str(s) => RawVal::Str(s.to_string()),
        };
        let value = match self.value {
            FlatVal::Nil => RawVal::Nil,
            FlatVal::Int(i) => RawVal::Int(i),
            FlatVal::List(start, len) => RawVal::List(elements[start as usize..(start + len) as usize].to_vec()),
        };
        RawMop { f: f.into(), key, value }
    }
}

/// An op line as the fast path reads it (`process` None: the nemesis); its micro-ops are a
/// range of its block's micro-op buffer.
#[derive(Debug, Clone, PartialEq)]
struct FlatOp<'a> {
    kind: OpType,
    process: Option<u64>,
    f: Option<&'a str>,
    index: Option<u64>,
    mops: std::ops::Range<u32>,
}

/// A line of a block: read by the fast path, or by serde (which also gives the errors).
enum Parsed<'a> {
    Flat(FlatOp<'a>),
    Raw(Result<RawOp, String>),
}

/// A block of JSON Lines, parsed: each non-blank line's number within the block (0-based) and
/// op (or error); how many lines the block has; and the micro-ops and list elements of the
/// lines the fast path read, back to back.
struct ParsedBlock<'a> {
    ops: Vec<(usize, Parsed<'a>)>,
    lines: usize,
    mops: Vec<FlatMop<'a>>,
    elements: Vec<i64>,
}

/// The fast path for the usual shape of a transactional JSON line: the fields faultline writes
/// (`index`, `time`, `type`, `process`, `f`, `value`, `node`, `error`), micro-ops of integers
/// and plain strings, straight into the block's buffers without allocating. It declines
/// (`None`, the buffers as they were) anything else: escapes, floats, other fields, a
/// repeated field, nested values beyond a read's list, a nemesis line. serde then reads the
/// line and gives any error, so the two paths never read a line differently.
fn scan_txn_line<'a>(line: &'a str, mops: &mut Vec<FlatMop<'a>>, elements: &mut Vec<i64>) -> Option<FlatOp<'a>> {
    let (m0, e0) = (mops.len(), elements.len());
    let r = JsonScanner::new(line).txn_op(mops, elements);
    if r.is_none() {
        mops.truncate(m0);
        elements.truncate(e0);
    }
    r
}

/// The transactional fields of a line, on the JSON Lines reader's scanner (its strings,
/// literals and punctuation).
impl<'a> JsonScanner<'a> {
    /// An integer in canonical JSON form that fits an i64 (serde reads it as one).
    fn int(&mut self) -> Option<i64> {
        self.peek()?;
        let neg = self.b[self.i] == b'-';
        if neg {
            self.i += 1;
        }
        let start = self.i;
        let mut n: u64 = 0;
        while let Some(&c @ b'0'..=b'9') = self.b.get(self.i) {
            n = n.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
            self.i += 1;
        }
        let len = self.i - start;
        if len == 0 || (len > 1 && self.b[start] == b'0') || (neg && n == 0) {
            return None;
        }
        if matches!(self.b.get(self.i), Some(b'.' | b'e' | b'E')) {
            return None;
        }
        if neg {
            (n <= 1 << 63).then(|| (n as i64).wrapping_neg())
        } else {
            i64::try_from(n).ok()
        }
    }

    fn txn_op(mut self, mops: &mut Vec<FlatMop<'a>>, elements: &mut Vec<i64>) -> Option<FlatOp<'a>> {
        self.eat(b'{')?;
        let (mut kind, mut process, mut f, mut index, mut value) = (None, None, None, None, None);
        let mut seen = 0u16;
        loop {
            let name = self.str()?;
            self.eat(b':')?;
            let bit = match name {
                "index" => {
                    index = Some(u64::try_from(self.int()?).ok()?);
                    1
                }
                "time" => {
                    self.int()?;
                    2
                }
                "type" => {
                    kind = Some(self.op_type()?);
                    4
                }
                "process" => {
                    process = Some(u64::try_from(self.int()?).ok()?);
                    8
                }
                "f" => {
                    f = Some(self.str()?.trim_start_matches(':'));
                    16
                }
                "value" => {
                    value = Some(self.txn_mops(mops, elements)?);
                    32
                }
                "node" => {
                    self.str()?;
                    64
                }
                "error" => {
                    if self.peek()? == b'n' {
                        self.literal("null")?;
                    } else {
                        self.str()?;
                    }
                    128
                }
                _ => return None,
            };
            if self.end_field(&mut seen, bit)? {
                break;
            }
        }
        if self.peek().is_some() {
            return None;
        }
        let n = mops.len() as u32;
        Some(FlatOp { kind: kind?, process: Some(process?), f, index, mops: value.unwrap_or(n..n) })
    }

    /// `null`, or a vector of micro-ops `[f, key, value]`.
    fn txn_mops(&mut self, mops: &mut Vec<FlatMop<'a>>, elements: &mut Vec<i64>) -> Option<std::ops::Range<u32>> {
        let start = mops.len() as u32;
        if self.peek()? == b'n' {
            self.literal("null")?;
            return Some(start..start);
        }
        self.eat(b'[')?;
        if self.peek()? == b']' {
            self.i += 1;
            return Some(start..start);
        }
        loop {
            self.eat(b'[')?;
            let f = match self.str()?.trim_start_matches(':') {
                "append" => FlatF::Append,
                "r" => FlatF::R,
                "w" => FlatF::W,
                _ => return None,
            };
            self.eat(b',')?;
            let key = match self.peek()? {
                b'"' => FlatKey::Str(self.str()?),
                _ => FlatKey::Int(self.int()?),
            };
            let value = match self.peek()? {
                b']' => FlatVal::Nil,
                _ => {
                    self.eat(b',')?;
                    match self.peek()? {
                        b'n' => {
                            self.literal("null")?;
                            FlatVal::Nil
                        }
                        b'[' => {
                            self.i += 1;
                            let at = elements.len() as u32;
                            if self.peek()? == b']' {
                                self.i += 1;
                            } else {
                                loop {
                                    elements.push(self.int()?);
                                    match self.peek()? {
                                        b',' => self.i += 1,
                                        b']' => {
                                            self.i += 1;
                                            break;
                                        }
                                        _ => return None,
                                    }
                                }
                            }
                            FlatVal::List(at, elements.len() as u32 - at)
                        }
                        _ => FlatVal::Int(self.int()?),
                    }
                }
            };
            self.eat(b']')?;
            mops.push(FlatMop { f, key, value });
            match self.peek()? {
                b',' => self.i += 1,
                b']' => {
                    self.i += 1;
                    return Some(start..mops.len() as u32);
                }
                _ => return None,
            }
        }
    }
}

/// Parse a block of JSON Lines: the fast path first, serde for what it declines.
fn parse_block(block: &str) -> ParsedBlock<'_> {
    let mut p = ParsedBlock {
        ops: Vec::with_capacity(block.len() / 100),
        lines: 0,
        mops: Vec::with_capacity(block.len() / 40),
        elements: Vec::with_capacity(block.len() / 8),
    };
    for (i, l) in block.lines().enumerate() {
        p.lines = i + 1;
        if l.trim().is_empty() {
            continue;
        }
        let op = match scan_txn_line(l, &mut p.mops, &mut p.elements) {
            Some(op) => Parsed::Flat(op),
            None => Parsed::Raw(serde_json::from_str::<RawOp>(l).map_err(|e| format!("bad JSON: {e}"))),
        };
        p.ops.push((i, op));
    }
    p
}

/// JSON Lines, one op per line. Large texts are cut into blocks of whole lines, parsed by two
/// threads, and fed to the builder in file order by this one (pairing and interning are
/// sequential; parsing the JSON is most of the work). Line numbers are counted within blocks
/// and offset as the blocks are fed, so this thread never scans the text. The first bad line
/// in file order is the error.
fn read_jsonl(text: &str, b: &mut Builder) -> Result<(), (usize, String)> {
    const BLOCK: usize = 1 << 20;
    let parse = parse_block;
    // `first`: the 1-based number of the block's first line.
    let feed = |b: &mut Builder, parsed: &mut ParsedBlock<'_>, first: usize| -> Result<(), (usize, String)> {
        for (i, op) in parsed.ops.drain(..) {
            let line = first + i;
            match op {
                Parsed::Flat(op) => b.add_flat(&op, &parsed.mops, &parsed.elements, line),
                Parsed::Raw(raw) => b.add_raw(raw.map_err(|m| (line, m))?, line),
            }
            .map_err(|m| (line, m))?;
        }
        Ok(())
    };
    // Blocks: (start, end), cut after a newline.
    let bytes = text.as_bytes();
    let mut blocks = Vec::new();
    let mut start = 0usize;
    while start < bytes.len() {
        let mut end = (start + BLOCK).min(bytes.len());
        if end < bytes.len() {
            end = bytes[end..].iter().position(|&c| c == b'\n').map_or(bytes.len(), |i| end + i + 1);
        }
        blocks.push((start, end));
        start = end;
    }
    let mut first = 1;
    if blocks.len() < 4 {
        for &(s, e) in &blocks {
            let mut parsed = parse(&text[s..e]);
            feed(b, &mut parsed, first)?;
            first += parsed.lines;
        }
        return Ok(());
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    b.defer_frees = true;
    std::thread::scope(|scope| {
        // Freed on their own thread, off this one's path (see `Builder::dead`).
        let (graves, dropper) = std::sync::mpsc::channel::<(ParsedBlock, Vec<Vec<RawMop>>)>();
        scope.spawn(move || dropper.into_iter().for_each(drop));
        let (tx, rx) = std::sync::mpsc::sync_channel::<(usize, ParsedBlock)>(8);
        for _ in 0..2 {
            let (tx, next, blocks, parse) = (tx.clone(), &next, &blocks, &parse);
            scope.spawn(move || loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(&(s, e)) = blocks.get(i) else { break };
                if tx.send((i, parse(&text[s..e]))).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        let mut pending = std::collections::BTreeMap::new();
        let mut want = 0;
        for (i, parsed) in rx {
            pending.insert(i, parsed);
            while let Some(mut parsed) = pending.remove(&want) {
                feed(b, &mut parsed, first)?;
                first += parsed.lines;
                let _ = graves.send((parsed, b.take_dead()));
                want += 1;
            }
        }
        Ok(())
    })
}

/// The byte ranges (and first lines) of the items of a top-level JSON array of objects.
/// Each item: (start byte, end byte, first line); an error: (line, message).
type Items = Result<Vec<(usize, usize, usize)>, (usize, String)>;

fn json_array_items(text: &str) -> Items {
    let b = text.as_bytes();
    let mut items = Vec::new();
    let mut i = b.iter().position(|&c| c == b'[').ok_or((1, "expected a JSON array".to_string()))? + 1;
    let mut line = 1 + b[..i].iter().filter(|&&c| c == b'\n').count();
    loop {
        while i < b.len() && (b[i].is_ascii_whitespace() || b[i] == b',') {
            if b[i] == b'\n' {
                line += 1;
            }
            i += 1;
        }
        match b.get(i) {
            None => return Err((line, "the JSON array is never closed".into())),
            Some(b']') => break,
            Some(b'{') => {}
            Some(&c) => return Err((line, format!("expected an op object in the JSON array, got {:?}", c as char))),
        }
        let (start, start_line) = (i, line);
        let mut depth = 0usize;
        let mut in_str = false;
        while i < b.len() {
            let c = b[i];
            if c == b'\n' {
                line += 1;
            }
            if in_str {
                if c == b'\\' {
                    i += 1;
                } else if c == b'"' {
                    in_str = false;
                }
            } else if c == b'"' {
                in_str = true;
            } else if c == b'{' || c == b'[' {
                depth += 1;
            } else if c == b'}' || c == b']' {
                depth -= 1;
                if depth == 0 {
                    i += 1;
                    break;
                }
            }
            i += 1;
        }
        if depth != 0 {
            return Err((start_line, "this op object is never closed".into()));
        }
        items.push((start, i, start_line));
    }
    Ok(items)
}

/// A micro-op as read, before the workload is known.
#[derive(Debug, Clone, PartialEq)]
struct RawMop {
    f: std::borrow::Cow<'static, str>,
    key: RawVal,
    value: RawVal,
}

/// A key or value as read.
#[derive(Debug, Clone, PartialEq)]
enum RawVal {
    Nil,
    Int(i64),
    Str(String),
    List(Vec<i64>),
    /// Anything else, as text (for the error message, or as a key).
    Other(String),
}

impl<'de> serde::Deserialize<'de> for RawVal {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<RawVal, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawVal;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("null, an integer, a string or a list of integers")
            }
            fn visit_unit<E>(self) -> Result<RawVal, E> {
                Ok(RawVal::Nil)
            }
            fn visit_none<E>(self) -> Result<RawVal, E> {
                Ok(RawVal::Nil)
            }
            fn visit_i64<E>(self, v: i64) -> Result<RawVal, E> {
                Ok(RawVal::Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawVal, E> {
                Ok(i64::try_from(v).map(RawVal::Int).unwrap_or(RawVal::Other(v.to_string())))
            }
            fn visit_f64<E>(self, v: f64) -> Result<RawVal, E> {
                Ok(RawVal::Other(v.to_string()))
            }
            fn visit_bool<E>(self, v: bool) -> Result<RawVal, E> {
                Ok(RawVal::Other(v.to_string()))
            }
            fn visit_str<E>(self, v: &str) -> Result<RawVal, E> {
                Ok(RawVal::Str(v.to_string()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawVal, A::Error> {
                let mut xs = Vec::with_capacity(seq.size_hint().unwrap_or(4));
                let mut other = false;
                while let Some(v) = seq.next_element::<Value>()? {
                    match v.as_i64() {
                        Some(x) if !other => xs.push(x),
                        _ => other = true,
                    }
                }
                Ok(if other { RawVal::Other("a list with non-integers".into()) } else { RawVal::List(xs) })
            }
            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<RawVal, A::Error> {
                while map.next_entry::<de::IgnoredAny, de::IgnoredAny>()?.is_some() {}
                Ok(RawVal::Other("a map".into()))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> serde::Deserialize<'de> for RawMop {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<RawMop, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawMop;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a micro-op [f key value]")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawMop, A::Error> {
                let f: Name = seq.next_element()?.ok_or_else(|| de::Error::custom("empty micro-op"))?;
                let f = f.0;
                let key: RawVal = seq.next_element()?.ok_or_else(|| de::Error::custom("micro-op without a key"))?;
                let value: RawVal = seq.next_element()?.unwrap_or(RawVal::Nil);
                if seq.next_element::<de::IgnoredAny>()?.is_some() {
                    return Err(de::Error::custom("micro-op with more than 3 items"));
                }
                Ok(RawMop { f, key, value })
            }
        }
        d.deserialize_seq(V)
    }
}

/// A micro-op's or an op's function name, without its keyword colon; the usual ones without
/// allocating.
struct Name(std::borrow::Cow<'static, str>);

impl<'de> serde::Deserialize<'de> for Name {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Name, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Name;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a name")
            }
            fn visit_str<E>(self, v: &str) -> Result<Name, E> {
                Ok(Name(match v.trim_start_matches(':') {
                    "append" => "append".into(),
                    "r" => "r".into(),
                    "w" => "w".into(),
                    "txn" => "txn".into(),
                    other => other.to_string().into(),
                }))
            }
        }
        d.deserialize_str(V)
    }
}

/// A JSON op object.
#[derive(serde::Deserialize)]
struct RawOp {
    #[serde(rename = "type")]
    kind: OpType,
    process: Value,
    #[serde(default)]
    f: Option<Name>,
    #[serde(default)]
    index: Option<u64>,
    #[serde(default)]
    value: OpValue,
}

/// An op's value as read: micro-ops (none for nil), or what else it was. A nemesis op's value
/// is a map, and must not stop the reading of the line before its process says to skip it.
#[derive(Default)]
enum OpValue {
    #[default]
    Nil,
    Mops(Vec<RawMop>),
    /// Not a vector: what it was, for the error.
    Other(&'static str),
}

impl<'de> serde::Deserialize<'de> for OpValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<OpValue, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = OpValue;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a vector of micro-ops")
            }
            fn visit_unit<E>(self) -> Result<OpValue, E> {
                Ok(OpValue::Nil)
            }
            fn visit_none<E>(self) -> Result<OpValue, E> {
                Ok(OpValue::Nil)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<OpValue, A::Error> {
                let mut mops = Vec::with_capacity(seq.size_hint().unwrap_or(4));
                while let Some(m) = seq.next_element::<RawMop>()? {
                    mops.push(m);
                }
                Ok(OpValue::Mops(mops))
            }
            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<OpValue, A::Error> {
                while map.next_entry::<de::IgnoredAny, de::IgnoredAny>()?.is_some() {}
                Ok(OpValue::Other("a map"))
            }
            fn visit_str<E>(self, _: &str) -> Result<OpValue, E> {
                Ok(OpValue::Other("a string"))
            }
            fn visit_i64<E>(self, _: i64) -> Result<OpValue, E> {
                Ok(OpValue::Other("a number"))
            }
            fn visit_u64<E>(self, _: u64) -> Result<OpValue, E> {
                Ok(OpValue::Other("a number"))
            }
            fn visit_f64<E>(self, _: f64) -> Result<OpValue, E> {
                Ok(OpValue::Other("a number"))
            }
            fn visit_bool<E>(self, _: bool) -> Result<OpValue, E> {
                Ok(OpValue::Other("a boolean"))
            }
        }
        d.deserialize_any(V)
    }
}

/// Micro-ops from a JSON value (the EDN reader's form: keywords are strings).
fn mops_from_json(v: &Value) -> Result<Vec<RawMop>, String> {
    let items = match v {
        Value::Array(items) => items,
        Value::Null => return Ok(Vec::new()),
        other => return Err(format!("a transaction's value must be a vector of micro-ops, got {other}")),
    };
    items
        .iter()
        .map(|m| {
            let parts = m.as_array().ok_or_else(|| format!("a micro-op must be a vector [f key value], got {m}"))?;
            if parts.len() < 2 || parts.len() > 3 {
                return Err(format!("a micro-op must be a vector [f key value], got {m}"));
            }
            let f = parts[0].as_str().ok_or_else(|| format!("unknown micro-op {m}"))?;
            Ok(RawMop {
                f: f.to_string().into(),
                key: raw_from_json(&parts[1]),
                value: parts.get(2).map_or(RawVal::Nil, raw_from_json),
            })
        })
        .collect()
}

fn raw_from_json(v: &Value) -> RawVal {
    match v {
        Value::Null => RawVal::Nil,
        Value::String(s) => RawVal::Str(s.clone()),
        Value::Number(n) => n.as_i64().map(RawVal::Int).unwrap_or_else(|| RawVal::Other(n.to_string())),
        Value::Array(xs) => match xs.iter().map(Value::as_i64).collect::<Option<Vec<i64>>>() {
            Some(l) => RawVal::List(l),
            None => RawVal::Other(v.to_string()),
        },
        other => RawVal::Other(other.to_string()),
    }
}

/// One event of the history, as read.
struct Event<'a> {
    kind: OpType,
    process: u64,
    f: Option<&'a str>,
    index: Option<u64>,
    mops: EventMops<'a>,
}

/// An event's micro-ops: owned (serde, EDN), or the fast JSON Lines path's, borrowed from its
/// block's buffers (no allocation per op).
enum EventMops<'a> {
    Raw(Vec<RawMop>),
    Flat(&'a [FlatMop<'a>], &'a [i64]),
}

impl EventMops<'_> {
    /// Owned micro-ops, for the rare keeping of an event past its block (an invocation).
    fn into_raw(self) -> Vec<RawMop> {
        match self {
            EventMops::Raw(m) => m,
            EventMops::Flat(mops, elements) => mops.iter().map(|m| m.to_raw(elements)).collect(),
        }
    }
}

/// Builds the history event by event.
struct Builder {
    workload: Option<Workload>,
    h: TxnHistory,
    /// Events read so far (positions in event order).
    position: u64,
    /// Per process: the open invocation (its position and line).
    open: FxHashMap<u64, (u64, usize)>,
    int_keys: FxHashMap<i64, Key>,
    other_keys: FxHashMap<String, Key>,
    /// Transactions whose micro-ops were read before the workload was known, kept raw.
    raw: Vec<Vec<RawMop>>,
    /// The micro-ops of each open invocation: the transaction's, if it never completes.
    pending_invocations: FxHashMap<u64, Vec<RawMop>>,
    /// Micro-ops already turned into `h.mops`, to be freed by another thread (`take_dead`):
    /// they were allocated by the parsing threads, and freeing them one by one here would
    /// cost this thread, which the others wait for, a lock per free.
    dead: Vec<Vec<RawMop>>,
    /// Whether another thread takes `dead` (else micro-ops are freed at once).
    defer_frees: bool,
    /// Processes that invoked while a transaction of theirs was still outstanding (Elle's
    /// test histories do this): their open invocations, oldest first, with their lines and
    /// micro-ops. Which completion ends which invocation is unknown, so from then on the
    /// process's transactions have no place in process or realtime order, as completions
    /// without invocations; Elle accepts such a history and never asks for its pairs unless a
    /// model needs those orders.
    unpaired: FxHashMap<u64, std::collections::VecDeque<(usize, Vec<RawMop>)>>,
}

impl Builder {
    fn new(workload: Option<Workload>) -> Builder {
        Builder {
            workload,
            h: TxnHistory::default(),
            position: 0,
            open: FxHashMap::default(),
            int_keys: FxHashMap::default(),
            other_keys: FxHashMap::default(),
            raw: Vec::new(),
            pending_invocations: FxHashMap::default(),
            dead: Vec::new(),
            defer_frees: false,
            unpaired: FxHashMap::default(),
        }
    }

    /// Size the history's arrays once for a text of `bytes` bytes, generously: growing them
    /// by doubling, between the many small allocations of parsing, leaves the freed halves as
    /// holes in the heap (the peak memory of a large EDN history was most of it). Capacity
    /// never written is never touched, so costs no memory.
    fn reserve_for(&mut self, bytes: usize) {
        // A transaction is at least two maps of 30 bytes; a micro-op at least 8 bytes, a list
        // element at least 2.
        self.h.txns.reserve(bytes / 60);
        self.h.mops.reserve(bytes / 8);
        self.h.elements.reserve(bytes / 2);
    }

    /// Micro-ops done with: freed now, or kept for `take_dead`.
    fn bury(&mut self, mops: Vec<RawMop>) {
        if self.defer_frees {
            self.dead.push(mops);
        }
    }

    /// The micro-ops done with since the last call, for another thread to drop.
    fn take_dead(&mut self) -> Vec<Vec<RawMop>> {
        std::mem::take(&mut self.dead)
    }

    fn add_raw(&mut self, raw: RawOp, line: usize) -> Result<(), String> {
        let process = match &raw.process {
            Value::Number(n) => {
                n.as_u64().ok_or_else(|| format!("bad process {n} (expected a non-negative integer or \"nemesis\")"))?
            }
            Value::String(s) if s == "nemesis" || s == ":nemesis" => return Ok(()),
            Value::String(s) => {
                s.parse().map_err(|_| format!("bad process {s:?} (expected a non-negative integer or \"nemesis\")"))?
            }
            other => return Err(format!("bad process {other} (expected a non-negative integer or \"nemesis\")")),
        };
        let mops = match raw.value {
            OpValue::Nil => Vec::new(),
            OpValue::Mops(mops) => mops,
            OpValue::Other(what) => {
                return Err(format!("a transaction's value must be a vector of micro-ops, got {what}"))
            }
        };
        let ev = Event {
            kind: raw.kind,
            process,
            f: raw.f.as_ref().map(|f| f.0.as_ref()),
            index: raw.index,
            mops: EventMops::Raw(mops),
        };
        self.add(ev, line)
    }

    /// An op the fast JSON Lines path read (`mops` and `elements`: its block's buffers).
    fn add_flat(&mut self, op: &FlatOp<'_>, mops: &[FlatMop<'_>], elements: &[i64], line: usize) -> Result<(), String> {
        let Some(process) = op.process else { return Ok(()) };
        let mops = EventMops::Flat(&mops[op.mops.start as usize..op.mops.end as usize], elements);
        self.add(Event { kind: op.kind, process, f: op.f, index: op.index, mops }, line)
    }

    fn add(&mut self, ev: Event, line: usize) -> Result<(), String> {
        let position = self.position;
        self.position += 1;
        check_f(ev.f)?;
        if ev.kind == OpType::Invoke {
            self.h.has_invocations = true;
            if let Some(queue) = self.unpaired.get_mut(&ev.process) {
                queue.push_back((line, ev.mops.into_raw()));
                return Ok(());
            }
            if let Some((_, at)) = self.open.remove(&ev.process) {
                let earlier = self.pending_invocations.remove(&ev.process).unwrap_or_default();
                self.h.notes.push(format!(
                    "process {} invokes at line {line} while its transaction invoked at line {at} is still \
                     outstanding, so which completion ends which invocation is unknown: from line {at} on, its \
                     transactions are checked as completions alone, with no place in process or realtime order \
                     (as Elle does)",
                    ev.process
                ));
                self.unpaired.insert(ev.process, [(at, earlier), (line, ev.mops.into_raw())].into());
                return Ok(());
            }
            self.open.insert(ev.process, (position, line));
            // The invocation's micro-ops matter only if it never completes: keep them until then.
            self.pending_invocations.insert(ev.process, ev.mops.into_raw());
            return Ok(());
        }
        let invoked_at = match self.unpaired.get_mut(&ev.process) {
            Some(queue) => {
                if let Some((_, mops)) = queue.pop_front() {
                    self.bury(mops);
                }
                None
            }
            None => {
                if let Some(mops) = self.pending_invocations.remove(&ev.process) {
                    self.bury(mops);
                }
                self.open.remove(&ev.process).map(|(p, _)| p)
            }
        };
        let outcome = match ev.kind {
            OpType::Ok => Outcome::Ok,
            OpType::Info => Outcome::Info,
            _ => Outcome::Fail,
        };
        self.push_txn(ev.mops, ev.index.unwrap_or(position), ev.process, outcome, invoked_at, position, line)
    }

    #[allow(clippy::too_many_arguments)]
    fn push_txn(
        &mut self,
        mops: EventMops<'_>,
        index: u64,
        process: u64,
        outcome: Outcome,
        invoked_at: Option<u64>,
        completed_at: u64,
        line: usize,
    ) -> Result<(), String> {
        if self.workload.is_none() {
            self.workload = match &mops {
                EventMops::Raw(m) => detect_workload(m),
                EventMops::Flat(m, elements) => detect_workload_flat(m, elements),
            };
        }
        let start = self.h.mops.len() as u32;
        match (self.workload, mops) {
            (Some(w), EventMops::Raw(mops)) => {
                for m in &mops {
                    let mop = self.convert(w, m)?;
                    self.h.mops.push(mop);
                }
                self.bury(mops);
            }
            (Some(w), EventMops::Flat(mops, elements)) => {
                for m in mops {
                    let mop = self.convert_flat(w, m, elements)?;
                    self.h.mops.push(mop);
                }
            }
            (None, mops) => self.raw.push(mops.into_raw()),
        }
        let end = if self.workload.is_some() { self.h.mops.len() as u32 } else { u32::MAX };
        self.h.txns.push(Txn {
            index,
            process: Some(process),
            outcome,
            invoked_at,
            completed_at,
            line,
            mops: start..end,
        });
        Ok(())
    }

    fn key(&mut self, k: &RawVal) -> Result<Key, String> {
        let next = self.h.keys.len() as Key;
        let name = match k {
            RawVal::Int(i) => {
                return Ok(*self.int_keys.entry(*i).or_insert_with(|| {
                    self.h.keys.push(Value::from(*i));
                    next
                }))
            }
            RawVal::Str(s) | RawVal::Other(s) => std::borrow::Cow::Borrowed(s.as_str()),
            RawVal::List(l) => std::borrow::Cow::Owned(format!("{l:?}")),
            RawVal::Nil => return Err("a micro-op's key is nil".into()),
        };
        if let Some(&k) = self.other_keys.get(name.as_ref()) {
            return Ok(k);
        }
        self.h.keys.push(Value::String(name.to_string()));
        self.other_keys.insert(name.into_owned(), next);
        Ok(next)
    }

    fn key_flat(&mut self, k: FlatKey<'_>) -> Key {
        let next = self.h.keys.len() as Key;
        match k {
            FlatKey::Int(i) => *self.int_keys.entry(i).or_insert_with(|| {
                self.h.keys.push(Value::from(i));
                next
            }),
            FlatKey::Str(s) => {
                if let Some(&k) = self.other_keys.get(s) {
                    return k;
                }
                self.h.keys.push(Value::String(s.to_string()));
                self.other_keys.insert(s.to_string(), next);
                next
            }
        }
    }

    /// `convert` for a micro-op of the fast path: the same rules, the same errors.
    fn convert_flat(&mut self, w: Workload, m: &FlatMop<'_>, elements: &[i64]) -> Result<Mop, String> {
        match (w, m.f, m.value) {
            (Workload::ListAppend, FlatF::Append, FlatVal::Int(v)) => Ok(Mop::Append(self.key_flat(m.key), v)),
            (Workload::RwRegister, FlatF::W, FlatVal::Int(v)) => Ok(Mop::Write(self.key_flat(m.key), v)),
            (Workload::ListAppend, FlatF::R, FlatVal::Nil) | (Workload::RwRegister, FlatF::R, FlatVal::Nil) => {
                Ok(Mop::Read(self.key_flat(m.key), Read::Nil))
            }
            (Workload::ListAppend, FlatF::R, FlatVal::List(start, len)) => {
                let key = self.key_flat(m.key);
                let at = self.h.elements.len() as u32;
                self.h.elements.extend_from_slice(&elements[start as usize..(start + len) as usize]);
                Ok(Mop::Read(key, Read::List { start: at, len }))
            }
            (Workload::RwRegister, FlatF::R, FlatVal::Int(v)) => Ok(Mop::Read(self.key_flat(m.key), Read::Value(v))),
            // Anything else errs exactly as the general path does.
            _ => self.convert(w, &m.to_raw(elements)),
        }
    }

    fn convert(&mut self, w: Workload, m: &RawMop) -> Result<Mop, String> {
        let key = self.key(&m.key)?;
        let int = |v: &RawVal, what: &str| match v {
            RawVal::Int(i) => Ok(*i),
            other => Err(format!("{what} must be an integer, got {}", raw_text(other))),
        };
        Ok(match (w, m.f.as_ref()) {
            (Workload::ListAppend, "append") => Mop::Append(key, int(&m.value, "an appended value")?),
            (Workload::RwRegister, "w") => Mop::Write(key, int(&m.value, "a written value")?),
            (Workload::ListAppend, "r") => match &m.value {
                RawVal::Nil => Mop::Read(key, Read::Nil),
                RawVal::List(l) => {
                    let start = self.h.elements.len() as u32;
                    let len = l.len() as u32;
                    self.h.elements.extend_from_slice(l);
                    Mop::Read(key, Read::List { start, len })
                }
                other => {
                    return Err(format!(
                        "a list-append read must return a list of integers or nil, got {}",
                        raw_text(other)
                    ))
                }
            },
            (Workload::RwRegister, "r") => match &m.value {
                RawVal::Nil => Mop::Read(key, Read::Nil),
                RawVal::Int(i) => Mop::Read(key, Read::Value(*i)),
                other => return Err(format!("a register read must return an integer or nil, got {}", raw_text(other))),
            },
            (w, f) => {
                return Err(format!(
                    "unknown micro-op :{f} in a {} history (expected {})",
                    w.as_str(),
                    if w == Workload::ListAppend { ":append and :r" } else { ":w and :r" }
                ))
            }
        })
    }

    fn finish(mut self) -> Result<(TxnHistory, Workload), (Option<usize>, String)> {
        // Invocations never completed: indeterminate, with what they meant to do.
        let mut never: Vec<(u64, u64, usize)> = self.open.iter().map(|(p, (pos, line))| (*p, *pos, *line)).collect();
        never.sort_by_key(|(_, pos, _)| *pos);
        for (p, pos, line) in never {
            let mops = self.pending_invocations.remove(&p).unwrap_or_default();
            let end = self.position;
            self.position += 1;
            self.push_txn(EventMops::Raw(mops), end, p, Outcome::Info, Some(pos), end, line)
                .map_err(|m| (Some(line), m))?;
        }
        // Unpaired invocations never completed: indeterminate too, without a place in order.
        let mut unpaired: Vec<(u64, usize, Vec<RawMop>)> = std::mem::take(&mut self.unpaired)
            .into_iter()
            .flat_map(|(p, queue)| queue.into_iter().map(move |(line, mops)| (p, line, mops)))
            .collect();
        unpaired.sort_by_key(|(_, line, _)| *line);
        for (p, line, mops) in unpaired {
            let end = self.position;
            self.position += 1;
            self.push_txn(EventMops::Raw(mops), end, p, Outcome::Info, None, end, line).map_err(|m| (Some(line), m))?;
        }
        let w = self.workload.unwrap_or(Workload::ListAppend);
        if !self.raw.is_empty() {
            // Transactions read before the workload was known (only reads of nil so far).
            let raw = std::mem::take(&mut self.raw);
            let mut raw = raw.into_iter();
            for t in 0..self.h.txns.len() {
                if self.h.txns[t].mops.end != u32::MAX {
                    continue;
                }
                let start = self.h.mops.len() as u32;
                for m in &raw.next().unwrap_or_default() {
                    let mop = self.convert(w, m).map_err(|e| (Some(self.h.txns[t].line), e))?;
                    self.h.mops.push(mop);
                }
                self.h.txns[t].mops = start..self.h.mops.len() as u32;
            }
        }
        check_unique_writes(&self.h, w)?;
        Ok((self.h, w))
    }
}

/// Only transactions (`:f :txn`, or no `:f`) are allowed.
fn check_f(f: Option<&str>) -> Result<(), String> {
    match f.map(|f| f.trim_start_matches(':')) {
        // faultline's final reads of every key are read-only transactions too.
        None | Some("txn") | Some("final-read") => Ok(()),
        Some(other) => Err(format!("expected a transaction (:f :txn), got :f :{other}")),
    }
}

/// The workload a transaction's micro-ops show, if they show one.
fn detect_workload_flat(mops: &[FlatMop<'_>], elements: &[i64]) -> Option<Workload> {
    detect_workload(&mops.iter().map(|m| m.to_raw(elements)).collect::<Vec<_>>())
}

fn detect_workload(mops: &[RawMop]) -> Option<Workload> {
    for m in mops {
        match (m.f.as_ref(), &m.value) {
            ("append", _) => return Some(Workload::ListAppend),
            ("w", _) => return Some(Workload::RwRegister),
            ("r", RawVal::List(_)) => return Some(Workload::ListAppend),
            ("r", RawVal::Int(_)) => return Some(Workload::RwRegister),
            _ => {}
        }
    }
    None
}

fn raw_text(v: &RawVal) -> String {
    match v {
        RawVal::Nil => "nil".into(),
        RawVal::Int(i) => i.to_string(),
        RawVal::Str(s) => format!("{s:?}"),
        RawVal::List(l) => format!("{l:?}"),
        RawVal::Other(s) => s.clone(),
    }
}

/// Appends (list-append) must be unique per key: the version order rests on it. The same
/// value appended twice is an error naming both lines. (rw-register writes may repeat; a read
/// of a value written twice simply gives no wr edge.)
fn check_unique_writes(h: &TxnHistory, w: Workload) -> Result<(), (Option<usize>, String)> {
    if w != Workload::ListAppend {
        return Ok(());
    }
    let mut seen: FxHashMap<(Key, i64), usize> = FxHashMap::default();
    seen.reserve(h.mops.len() / 2);
    for (t, txn) in h.txns.iter().enumerate() {
        for m in h.mops_of(txn) {
            if let Mop::Append(k, v) = *m {
                if let Some(first) = seen.insert((k, v), t) {
                    let line = |t: usize| h.txns[t].line;
                    let same = first == t;
                    return Err((
                        Some(txn.line),
                        format!(
                            "value {v} is appended to key {} twice ({}): appended values must be unique per key",
                            h.key_text(k),
                            if same {
                                "in this transaction".to_string()
                            } else {
                                format!("first at line {}", line(first))
                            }
                        ),
                    ));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fast path reads a line exactly as serde does, or declines it.
    #[test]
    fn the_fast_path_agrees_with_serde_or_declines() {
        let read = [
            r#"{"index":6,"time":36058705340,"type":"ok","process":0,"f":"txn","value":[["r",0,[]],["append",0,2],["r",0,[2]],["r",1,[]]],"node":"n1"}"#,
            r#"{"index":0,"time":3,"type":"invoke","process":0,"f":"txn","value":[["r",0,null],["append",0,2]],"node":"n1"}"#,
            r#"{"type":"ok","process":1099511627776,"f":"final-read","value":[["r",0,[2, -3,4]]]}"#,
            r#"{ "type" : "fail" , "process" : 3 , "value" : [ [ "w" , "x" , -9223372036854775808 ] ] , "error" : null }"#,
            r#"{"type":"info","process":3,"f":"txn","value":[["r","k",7]],"error":"timed out","time":-1}"#,
            r#"{"type":"ok","process":3,"f":"txn","value":[]}"#,
            r#"{"type":"ok","process":3,"f":"txn","value":null}"#,
            r#"{"type":"ok","process":3,"f":":txn","value":[[":append",5,1]]}"#,
        ];
        let declined = [
            r#"{"index":1,"type":"info","process":"nemesis","f":"start-kill","value":{"fault":"kill"}}"#,
            r#"{"type":"ok","process":3,"f":"txn","value":[["r","a\"b",7]]}"#,
            r#"{"type":"ok","process":3,"f":"txn","value":[["w",1,1.5]]}"#,
            r#"{"type":"ok","process":3,"f":"txn","value":[["w",1,9223372036854775808]]}"#,
            r#"{"type":"ok","process":3,"f":"txn","value":[["w",1,01]]}"#,
            r#"{"type":"ok","process":3,"f":"txn","value":[["w",1,-0]]}"#,
            r#"{"type":"ok","process":3,"f":"txn","extra":1,"value":[]}"#,
            r#"{"type":"ok","process":3,"process":4,"f":"txn","value":[]}"#,
            r#"{"type":"ok","process":3,"f":"txn","value":[["r",1,[[1]]]]}"#,
            r#"{"type":"weird","process":3,"f":"txn","value":[]}"#,
            r#"{"type":"ok","process":3,"f":"txn","value":[]} trailing"#,
            r#"{"type":"ok","process":3,"f":"txn","value":[["r",1,[1,]]]}"#,
        ];
        for line in read {
            let (mut mops, mut elements) = (Vec::new(), Vec::new());
            let flat = scan_txn_line(line, &mut mops, &mut elements).unwrap_or_else(|| panic!("declined {line}"));
            let raw: RawOp = serde_json::from_str(line).unwrap();
            assert_eq!(Some(flat.kind), Some(raw.kind), "{line}");
            assert_eq!(flat.process, raw.process.as_u64(), "{line}");
            assert_eq!(flat.f, raw.f.as_ref().map(|f| f.0.as_ref()), "{line}");
            assert_eq!(flat.index, raw.index, "{line}");
            let flat_mops: Vec<RawMop> =
                mops[flat.mops.start as usize..flat.mops.end as usize].iter().map(|m| m.to_raw(&elements)).collect();
            let serde_mops = match raw.value {
                OpValue::Nil => Vec::new(),
                OpValue::Mops(m) => m,
                OpValue::Other(w) => panic!("{w}"),
            };
            assert_eq!(flat_mops, serde_mops, "{line}");
        }
        for line in declined {
            let (mut mops, mut elements) =
                (vec![FlatMop { f: FlatF::R, key: FlatKey::Int(0), value: FlatVal::Nil }], vec![9]);
            assert!(scan_txn_line(line, &mut mops, &mut elements).is_none(), "accepted {line}");
            assert_eq!((mops.len(), elements.len()), (1, 1), "buffers left as they were: {line}");
        }
    }
}
