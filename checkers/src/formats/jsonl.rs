//! faultline's JSON Lines reader: one `Op` per line, streamed in blocks and parsed in parallel.
//!
//! Large histories (millions of ops, hundreds of MB) are read in blocks of a few MB cut at line
//! boundaries; one worker per core takes the next block, parses it, and the blocks' ops are
//! appended to the history in file order. The file's text is never held whole, so peak memory is
//! the ops themselves plus a few blocks.
//!
//! Lines of the usual shape (the fields of `Op`, scalar values, strings without escapes, one
//! level of arrays) are parsed by a small hand-written scanner straight into an `Op`; anything
//! else (escapes, floats, objects, unknown fields, errors) goes through serde, which has the last
//! word on what is valid and words the error. A run killed mid-write leaves a partial last line:
//! an unterminated final line that fails to parse is ignored and reported as a warning; any
//! other bad line is an error naming its line.

use super::LineError;
use crate::history::{History, Op, OpType, Process};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// A time; a negative one (Jepsen's -1) is unknown, as if absent.
fn time_or_unknown<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    use serde::de::Error;
    match <Option<serde_json::Number> as serde::Deserialize>::deserialize(d)? {
        None => Ok(None),
        Some(n) if n.as_i64().is_some_and(|t| t < 0) => Ok(None),
        Some(n) => n.as_u64().map(Some).ok_or_else(|| D::Error::custom(format!("bad time {n} (expected an integer)"))),
    }
}

/// The on-disk record, with `index` and `time` optional (they default to the position).
#[derive(serde::Deserialize)]
struct RawOp {
    index: Option<u64>,
    #[serde(default, deserialize_with = "time_or_unknown")]
    time: Option<u64>,
    #[serde(rename = "type")]
    kind: OpType,
    #[serde(deserialize_with = "process_fast")]
    process: Process,
    f: crate::history::FnName,
    #[serde(default)]
    value: Value,
    #[serde(default)]
    key: Option<Value>,
    #[serde(default)]
    node: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

/// `Process`'s own deserializer is untagged (it buffers every value); this visitor reads an
/// integer or a string directly. Same accepted inputs and meaning.
fn process_fast<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Process, D::Error> {
    struct V;
    impl serde::de::Visitor<'_> for V {
        type Value = Process;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a process: an integer or \"nemesis\"")
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Process, E> {
            Ok(Process::Client(v))
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Process, E> {
            u64::try_from(v)
                .map(Process::Client)
                .map_err(|_| E::custom(format!("process must be non-negative, got {v}")))
        }
        fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Process, E> {
            process_from_str(s)
                .ok_or_else(|| E::custom(format!("process must be an integer or \"nemesis\", got {s:?}")))
        }
    }
    d.deserialize_any(V)
}

fn process_from_str(s: &str) -> Option<Process> {
    if s == "nemesis" {
        return Some(Process::Nemesis);
    }
    s.parse::<u64>().ok().map(Process::Client)
}

/// Bytes per block. Big enough that taking a block (under a lock) is rare, small enough that
/// the blocks in flight cost little memory and both cores get work on a few-MB file.
const BLOCK: usize = 4 << 20;

/// Ops, their 1-based line numbers, and warnings.
type Parsed = (History, Vec<usize>, Vec<String>);

/// Parse JSONL text (see `read_stream`).
pub(super) fn read(text: &str) -> Result<Parsed, LineError> {
    read_stream(text.as_bytes(), text.len())
}

/// Parse JSONL from a reader, in blocks, on all cores. `size_hint` (the input's length, if
/// known) sizes the history up front.
pub(super) fn read_stream<R: Read + Send>(reader: R, size_hint: usize) -> Result<Parsed, LineError> {
    let input = Mutex::new(Blocks { reader, carry: Vec::new(), seq: 0, lines: 0, done: false });
    let merged = Mutex::new(Merged::default());
    let failed = AtomicBool::new(false);
    let worker = || loop {
        if failed.load(Ordering::Relaxed) {
            break;
        }
        // Take the next block; a poisoned lock means another worker panicked: stop.
        let Ok(mut blocks) = input.lock() else { break };
        let next = blocks.next_block();
        drop(blocks);
        let parsed = match next {
            Ok(None) => break,
            Ok(Some(b)) => {
                // Reuse a merged block's vectors: their pages are already mapped.
                let spare = merged.lock().ok().and_then(|mut m| m.spare.pop()).unwrap_or_default();
                b.parse(spare).map(|c| (b.seq, c)).map_err(|e| (b.seq, e))
            }
            Err(e) => Err((usize::MAX, e)),
        };
        let Ok(mut m) = merged.lock() else { break };
        if !m.add(parsed, size_hint) {
            failed.store(true, Ordering::Relaxed);
        }
    };
    let threads = if size_hint < BLOCK { 1 } else { crate::linearizable::cores() };
    if threads == 1 {
        worker();
    } else {
        std::thread::scope(|s| {
            for _ in 1..threads {
                s.spawn(worker);
            }
            worker();
        });
    }
    let m = merged.into_inner().map_err(|_| LineError { line: 0, message: "a parser thread panicked".into() })?;
    if let Some(e) = m.error {
        return Err(e);
    }
    if !m.pending.is_empty() {
        return Err(LineError { line: 0, message: "a parser thread stopped early".into() });
    }
    Ok((m.ops, m.lines, m.warnings))
}

/// The input cut into blocks of whole lines.
struct Blocks<R> {
    reader: R,
    /// The start of a line that did not fit in the previous block.
    carry: Vec<u8>,
    seq: usize,
    /// Lines in the blocks handed out so far.
    lines: usize,
    done: bool,
}

/// One block: whole lines (the last block may end without a newline).
struct Block {
    seq: usize,
    /// Lines before this block.
    line_base: usize,
    bytes: Vec<u8>,
    last: bool,
}

impl<R: Read> Blocks<R> {
    fn next_block(&mut self) -> Result<Option<Block>, LineError> {
        if self.done {
            return Ok(None);
        }
        let mut bytes = std::mem::take(&mut self.carry);
        // Read until the block holds at least BLOCK bytes and a newline, or the input ends.
        loop {
            let have = bytes.len();
            let want = BLOCK.max(have / 2);
            bytes.reserve(want);
            let got = (&mut self.reader)
                .take(want as u64)
                .read_to_end(&mut bytes)
                .map_err(|e| LineError { line: self.lines + 1, message: format!("cannot read: {e}") })?;
            if got == 0 {
                self.done = true;
                break;
            }
            if bytes.len() >= BLOCK && bytes[have..].contains(&b'\n') {
                break;
            }
        }
        let last = self.done;
        if !last {
            // Cut after the last newline; the rest starts the next block.
            let cut = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
            self.carry = bytes[cut..].to_vec();
            bytes.truncate(cut);
        }
        let line_base = self.lines;
        self.lines += bytes.iter().filter(|&&b| b == b'\n').count();
        let seq = self.seq;
        self.seq += 1;
        Ok(Some(Block { seq, line_base, bytes, last }))
    }
}

/// Parsed blocks, appended to the history in file order.
#[derive(Default)]
struct Merged {
    next: usize,
    pending: BTreeMap<usize, Chunk>,
    ops: History,
    lines: Vec<usize>,
    warnings: Vec<String>,
    error: Option<LineError>,
    /// Emptied block vectors, for reuse.
    spare: Vec<(Vec<Op>, Vec<usize>)>,
}

impl Merged {
    /// Add a parsed block (or its error); false once the read has failed.
    fn add(&mut self, parsed: Result<(usize, Chunk), (usize, LineError)>, size_hint: usize) -> bool {
        if self.error.is_some() {
            return false;
        }
        match parsed {
            Ok((seq, chunk)) => {
                self.pending.insert(seq, chunk);
            }
            Err((usize::MAX, e)) => {
                // The input could not be read: nothing after this point will come.
                self.error = Some(e);
                self.pending.clear();
                return false;
            }
            Err((seq, e)) => {
                // Blocks before this one may still hold an earlier error: only an error in the
                // next block to merge is final. Keep it as a pending failure until then.
                self.pending.insert(seq, Chunk { error: Some(e), ..Chunk::default() });
            }
        }
        while let Some(chunk) = self.pending.remove(&self.next) {
            self.next += 1;
            if let Some(e) = chunk.error {
                self.error = Some(e);
                self.pending.clear();
                return false;
            }
            if self.ops.capacity() == 0 && size_hint > 0 && !chunk.ops.is_empty() {
                // Size the history for the whole input from this block's line length (a
                // reallocation later would move hundreds of MB).
                let est = (size_hint as f64 / chunk.bytes.max(1) as f64 * chunk.ops.len() as f64 * 1.02) as usize + 16;
                self.ops.reserve(est);
                self.lines.reserve(est);
            }
            let base = self.ops.len() as u64;
            let (mut ops, mut lines) = (chunk.ops, chunk.lines);
            for (j, op) in ops.iter_mut().enumerate() {
                // u64::MAX marks "absent": the position stands in.
                if op.index == u64::MAX {
                    op.index = base + j as u64;
                }
                if op.time == u64::MAX {
                    op.time = base + j as u64;
                }
            }
            self.ops.append(&mut ops);
            self.lines.append(&mut lines);
            self.spare.push((ops, lines));
            self.warnings.extend(chunk.warning);
        }
        true
    }
}

#[derive(Default)]
struct Chunk {
    ops: Vec<Op>,
    /// File line numbers of the ops.
    lines: Vec<usize>,
    /// Bytes of text parsed (for sizing the history).
    bytes: usize,
    warning: Option<String>,
    error: Option<LineError>,
}

impl Block {
    fn parse(&self, (ops, lines): (Vec<Op>, Vec<usize>)) -> Result<Chunk, LineError> {
        let text = std::str::from_utf8(&self.bytes).map_err(|e| {
            let before = &self.bytes[..e.valid_up_to()];
            LineError {
                line: self.line_base + 1 + before.iter().filter(|&&b| b == b'\n').count(),
                message: "not valid UTF-8".into(),
            }
        })?;
        // About 100 bytes per op in faultline's histories.
        let mut chunk = Chunk { ops, lines, bytes: text.len(), ..Chunk::default() };
        chunk.ops.reserve(text.len() / 90 + 1);
        chunk.lines.reserve(text.len() / 90 + 1);
        let mut line_no = self.line_base;
        let mut rest = text;
        while !rest.is_empty() {
            line_no += 1;
            let (line, terminated) = match rest.find('\n') {
                Some(i) => {
                    let l = &rest[..i];
                    rest = &rest[i + 1..];
                    (l, true)
                }
                None => (std::mem::take(&mut rest), false),
            };
            let trimmed = line.trim();
            if trimmed.is_empty() {
                continue;
            }
            match parse_line(trimmed) {
                Ok(op) => {
                    chunk.ops.push(op);
                    chunk.lines.push(line_no);
                }
                Err(message) if !terminated && self.last => {
                    chunk.warning = Some(format!("line {line_no}: ignored a truncated last line ({message})"));
                }
                Err(message) => return Err(LineError { line: line_no, message }),
            }
        }
        Ok(chunk)
    }
}

/// One line into an `Op`: the fast scanner, or serde when the scanner declines. Absent `index`
/// and `time` are `u64::MAX` (the caller fills in the position).
fn parse_line(line: &str) -> Result<Op, String> {
    if let Some(op) = Scanner::new(line).op() {
        return Ok(op);
    }
    match serde_json::from_str::<RawOp>(line) {
        Ok(raw) => Ok(Op {
            index: raw.index.unwrap_or(u64::MAX),
            time: raw.time.unwrap_or(u64::MAX),
            kind: raw.kind,
            process: raw.process,
            f: raw.f,
            value: raw.value,
            key: raw.key,
            node: raw.node,
            error: raw.error,
        }),
        Err(e) => Err(format!("bad JSON op: {e}")),
    }
}

/// A scanner for the common shape of an op line. Every method returns `None` on anything it
/// does not handle, and the line then goes to serde: the scanner must never accept a line
/// serde would reject or read it differently, so it declines escapes, floats, `-0`, leading
/// zeros, objects, nested arrays, unknown or repeated fields.
/// (The transactional reader adds its own methods: `txn::read`.)
pub(crate) struct Scanner<'a> {
    pub(crate) b: &'a [u8],
    pub(crate) s: &'a str,
    pub(crate) i: usize,
}

impl<'a> Scanner<'a> {
    pub(crate) fn new(s: &'a str) -> Self {
        Scanner { b: s.as_bytes(), s, i: 0 }
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\r' | b'\n') = self.b.get(self.i) {
            self.i += 1;
        }
    }

    pub(crate) fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.b.get(self.i).copied()
    }

    /// After an object's field: refuse a repeated one (`bit` already in `seen`), then take the
    /// comma (false: more fields) or the closing brace (true).
    pub(crate) fn end_field(&mut self, seen: &mut u16, bit: u16) -> Option<bool> {
        if *seen & bit != 0 {
            return None;
        }
        *seen |= bit;
        match self.peek()? {
            b',' => self.i += 1,
            b'}' => {
                self.i += 1;
                return Some(true);
            }
            _ => return None,
        }
        Some(false)
    }

    /// An op's `type`: one of Jepsen's four names.
    pub(crate) fn op_type(&mut self) -> Option<OpType> {
        Some(match self.str()? {
            "invoke" => OpType::Invoke,
            "ok" => OpType::Ok,
            "fail" => OpType::Fail,
            "info" => OpType::Info,
            _ => return None,
        })
    }

    pub(crate) fn eat(&mut self, c: u8) -> Option<()> {
        (self.peek()? == c).then(|| self.i += 1)
    }

    pub(crate) fn literal(&mut self, word: &str) -> Option<()> {
        self.ws();
        self.b[self.i..].starts_with(word.as_bytes()).then(|| self.i += word.len())
    }

    /// A string without escapes or control characters.
    pub(crate) fn str(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let start = self.i;
        loop {
            match *self.b.get(self.i)? {
                b'"' => break,
                b'\\' | 0..=0x1f => return None,
                _ => self.i += 1,
            }
        }
        self.i += 1;
        // Both ends are ASCII quotes, so this is a char boundary.
        self.s.get(start..self.i - 1)
    }

    /// A non-negative integer in canonical form.
    fn u64(&mut self) -> Option<u64> {
        self.ws();
        let start = self.i;
        let mut n: u64 = 0;
        while let Some(&c @ b'0'..=b'9') = self.b.get(self.i) {
            n = n.checked_mul(10)?.checked_add((c - b'0') as u64)?;
            self.i += 1;
        }
        let len = self.i - start;
        // Leading zeros are not JSON; a following '.', 'e' or 'E' is caught by the caller,
        // which expects ',', '}' or ']' next.
        (len == 1 || (len > 1 && self.b[start] != b'0')).then_some(n)
    }

    fn opt_u64(&mut self) -> Option<Option<u64>> {
        if self.peek()? == b'n' {
            self.literal("null")?;
            return Some(None);
        }
        self.u64().map(Some)
    }

    fn opt_string(&mut self) -> Option<Option<String>> {
        if self.peek()? == b'n' {
            self.literal("null")?;
            return Some(None);
        }
        self.str().map(|s| Some(s.to_string()))
    }

    /// A scalar, or (at depth 0) an array of scalars.
    fn value(&mut self, depth: u32) -> Option<Value> {
        match self.peek()? {
            b'n' => self.literal("null").map(|_| Value::Null),
            b't' => self.literal("true").map(|_| Value::Bool(true)),
            b'f' => self.literal("false").map(|_| Value::Bool(false)),
            b'"' => self.str().map(|s| Value::String(s.to_string())),
            b'0'..=b'9' => self.u64().map(Value::from),
            b'-' => {
                self.i += 1;
                if !matches!(self.b.get(self.i), Some(b'1'..=b'9')) {
                    return None; // "-0", "- 1" and friends: let serde decide
                }
                let m = self.u64()?;
                // serde_json reads -2^63 ..= -1 as i64 and anything smaller as a float.
                (m <= 1 << 63).then(|| Value::from((m as i64).wrapping_neg()))
            }
            b'[' if depth == 0 => {
                self.i += 1;
                let mut items = Vec::new();
                if self.peek()? == b']' {
                    self.i += 1;
                    return Some(Value::Array(items));
                }
                loop {
                    items.push(self.value(depth + 1)?);
                    match self.peek()? {
                        b',' => self.i += 1,
                        b']' => {
                            self.i += 1;
                            return Some(Value::Array(items));
                        }
                        _ => return None,
                    }
                }
            }
            _ => None,
        }
    }

    fn op(mut self) -> Option<Op> {
        self.eat(b'{')?;
        let mut op = Op {
            index: u64::MAX,
            time: u64::MAX,
            kind: OpType::Invoke,
            process: Process::Nemesis,
            f: Default::default(),
            value: Value::Null,
            key: None,
            node: None,
            error: None,
        };
        // Fields seen, one bit each: a repeated field goes to serde (which rejects it).
        let mut seen = 0u16;
        if self.peek()? == b'}' {
            return None; // no fields: serde words the error
        }
        loop {
            let name = self.str()?;
            self.eat(b':')?;
            let bit = match name {
                "index" => {
                    op.index = self.opt_u64()?.unwrap_or(u64::MAX);
                    1
                }
                "time" => {
                    op.time = self.opt_u64()?.unwrap_or(u64::MAX);
                    2
                }
                "type" => {
                    op.kind = self.op_type()?;
                    4
                }
                "process" => {
                    op.process = match self.peek()? {
                        b'"' => process_from_str(self.str()?)?,
                        _ => Process::Client(self.u64()?),
                    };
                    8
                }
                "f" => {
                    op.f = self.str()?.into();
                    16
                }
                "value" => {
                    op.value = self.value(0)?;
                    32
                }
                "key" => {
                    op.key = match self.value(0)? {
                        Value::Null => None,
                        v => Some(v),
                    };
                    64
                }
                "node" => {
                    op.node = self.opt_string()?;
                    128
                }
                "error" => {
                    op.error = self.opt_string()?;
                    256
                }
                _ => return None,
            };
            if self.end_field(&mut seen, bit)? {
                break;
            }
        }
        // Nothing may follow, and type, process and f are required.
        self.ws();
        (self.i == self.b.len() && seen & (4 | 8 | 16) == (4 | 8 | 16)).then_some(op)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The scanner and serde agree on every line the scanner accepts.
    #[test]
    fn scanner_agrees_with_serde() {
        let lines = [
            r#"{"index":0,"time":11746,"type":"invoke","process":10,"f":"read","value":null,"key":984}"#,
            r#"{ "type" : "ok" , "process" : "nemesis", "f":"start", "value":[1,-2,"a",true,null], "node":"n1", "error":null }"#,
            r#"{"type":"info","process":"7","f":"cas","value":[0,2],"key":"k","time":null,"index":9223372036854775808}"#,
            r#"{"type":"ok","process":0,"f":"x","value":-9223372036854775808}"#,
            r#"{"type":"ok","process":0,"f":"x","value":"héllo"}"#,
            r#"{"type":"ok","process":0,"f":"","value":[ ],"key":null}"#,
        ];
        for line in lines {
            let fast = Scanner::new(line).op().unwrap_or_else(|| panic!("scanner declined {line}"));
            let raw: RawOp = serde_json::from_str(line).unwrap();
            assert_eq!(fast.index, raw.index.unwrap_or(u64::MAX), "{line}");
            assert_eq!(fast.time, raw.time.unwrap_or(u64::MAX), "{line}");
            assert_eq!((fast.kind, fast.process, &fast.f), (raw.kind, raw.process, &raw.f), "{line}");
            assert_eq!(
                (&fast.value, &fast.key, &fast.node, &fast.error),
                (&raw.value, &raw.key, &raw.node, &raw.error),
                "{line}"
            );
        }
        // Declined: serde reads these differently or rejects them.
        for line in [
            r#"{"type":"ok","process":0,"f":"x","value":1.5}"#,
            r#"{"type":"ok","process":0,"f":"x","value":-0}"#,
            r#"{"type":"ok","process":0,"f":"x","value":01}"#,
            r#"{"type":"ok","process":0,"f":"x","value":"a\"b"}"#,
            r#"{"type":"ok","process":0,"f":"x","value":{"a":1}}"#,
            r#"{"type":"ok","process":0,"f":"x","f":"y"}"#,
            r#"{"type":"ok","process":0,"f":"x","other":1}"#,
            r#"{"type":"ok","process":0,"f":"x"} x"#,
            r#"{"type":"ok","process":0}"#,
            r#"{"type":"ok","process":-1,"f":"x"}"#,
            r#"{"type":"ok","process":0,"f":"x","value":18446744073709551616}"#,
            r#"{"type":"ok","process":0,"f":"x","value":[[1]]}"#,
        ] {
            assert!(Scanner::new(line).op().is_none(), "scanner must decline {line}");
        }
    }

    /// Blocks cut at line boundaries give the same ops and line numbers as one pass.
    #[test]
    fn blocks_keep_order_and_line_numbers() {
        let mut text = String::new();
        for i in 0..200_000u64 {
            if i % 1000 == 7 {
                text.push('\n');
            }
            text.push_str(&format!("{{\"type\":\"invoke\",\"process\":{i},\"f\":\"read\",\"value\":null}}\n"));
        }
        let (ops, lines, warnings) = read(&text).unwrap();
        assert_eq!(ops.len(), 200_000);
        assert!(warnings.is_empty());
        let mut line = 0;
        for (i, op) in ops.iter().enumerate() {
            line += 1 + usize::from(i % 1000 == 7);
            assert_eq!(
                (op.index, op.time, op.process, lines[i]),
                (i as u64, i as u64, Process::Client(i as u64), line)
            );
        }
        // An error in a late block names its line.
        let bad = format!("{text}{{\"type\":\"ok\"\n{{}}\n");
        assert_eq!(read(&bad).unwrap_err().line, line + 1);
    }
}
