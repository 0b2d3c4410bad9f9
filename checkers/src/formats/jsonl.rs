//! faultline's JSON Lines reader: one `Op` per line, parsed in parallel chunks.
//!
//! Large histories (millions of ops) are split at line boundaries into one chunk per core; each
//! chunk is parsed on its own thread and the results are concatenated in order. A run killed
//! mid-write leaves a partial last line: an unterminated final line that fails to parse is
//! ignored and reported as a warning; any other bad line is an error naming its line.

use super::LineError;
use crate::history::{History, Op, OpType, Process};

/// The on-disk record, with `index` and `time` optional (they default to the position).
#[derive(serde::Deserialize)]
struct RawOp {
    index: Option<u64>,
    time: Option<u64>,
    #[serde(rename = "type")]
    kind: OpType,
    #[serde(deserialize_with = "process_fast")]
    process: Process,
    f: String,
    #[serde(default)]
    value: serde_json::Value,
    #[serde(default)]
    key: Option<serde_json::Value>,
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
            u64::try_from(v).map(Process::Client).map_err(|_| E::custom(format!("process must be non-negative, got {v}")))
        }
        fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Process, E> {
            if s == "nemesis" {
                return Ok(Process::Nemesis);
            }
            s.parse::<u64>()
                .map(Process::Client)
                .map_err(|_| E::custom(format!("process must be an integer or \"nemesis\", got {s:?}")))
        }
    }
    d.deserialize_any(V)
}

/// Below this size, parsing on one thread is faster than starting others.
const PARALLEL_THRESHOLD: usize = 1 << 20;

/// Parse JSONL text into ops, their line numbers, and warnings.
pub(super) fn read(text: &str) -> Result<(History, Vec<usize>, Vec<String>), LineError> {
    let threads = crate::linearizable::cores();
    let chunks = if text.len() < PARALLEL_THRESHOLD || threads == 1 { vec![text] } else { split_chunks(text, threads) };
    // The first chunk's vector becomes the history: size it for every line up front, so the
    // other chunks are appended without reallocating (copying 100s of MB costs more than counting).
    let total_lines = text.as_bytes().iter().filter(|&&b| b == b'\n').count() + 1;
    let results: Vec<Result<Chunk, LineError>> = if chunks.len() == 1 {
        vec![parse_chunk(chunks[0], total_lines)]
    } else {
        std::thread::scope(|s| {
            let handles: Vec<_> = chunks
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    s.spawn(move || {
                        let cap = if i == 0 { total_lines } else { c.as_bytes().iter().filter(|&&b| b == b'\n').count() + 1 };
                        parse_chunk(c, cap)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|_| Err(LineError { line: 0, message: "parser thread panicked".into() })))
                .collect()
        })
    };
    // Chunk-local line numbers become file line numbers by adding the lines of earlier chunks.
    let mut ops: Vec<Op> = Vec::new();
    let mut lines: Vec<usize> = Vec::new();
    let mut warnings = Vec::new();
    let mut line_base = 0usize;
    let last = results.len().saturating_sub(1);
    for (i, result) in results.into_iter().enumerate() {
        let chunk = result.map_err(|e| LineError { line: e.line + line_base, ..e })?;
        if let Some(bad) = chunk.bad_unterminated_last {
            let line = bad.line + line_base;
            if i == last {
                warnings.push(format!("line {line}: ignored a truncated last line ({})", bad.message));
            } else {
                return Err(LineError { line, message: bad.message });
            }
        }
        let base_index = ops.len() as u64;
        let mut chunk_ops = chunk.ops;
        for (j, op) in chunk_ops.iter_mut().enumerate() {
            if op.index == u64::MAX {
                op.index = base_index + j as u64;
            }
            if op.time == u64::MAX {
                op.time = base_index + j as u64;
            }
        }
        if ops.is_empty() {
            ops = chunk_ops;
            lines = chunk.lines;
        } else {
            ops.append(&mut chunk_ops);
            lines.extend(chunk.lines.into_iter().map(|l| l + line_base));
        }
        line_base += chunk.line_count;
    }
    Ok((ops, lines, warnings))
}

struct Chunk {
    ops: Vec<Op>,
    lines: Vec<usize>,
    line_count: usize,
    bad_unterminated_last: Option<LineError>,
}

/// Split into about `n` pieces, each ending just after a newline (the last takes the rest).
fn split_chunks(text: &str, n: usize) -> Vec<&str> {
    let target = text.len() / n + 1;
    let bytes = text.as_bytes();
    let mut chunks = Vec::with_capacity(n);
    let mut start = 0;
    while start < text.len() {
        let mut end = (start + target).min(text.len());
        while end < text.len() && bytes[end - 1] != b'\n' {
            end += 1;
        }
        chunks.push(&text[start..end]);
        start = end;
    }
    if chunks.is_empty() {
        chunks.push(text);
    }
    chunks
}

fn parse_chunk(text: &str, capacity: usize) -> Result<Chunk, LineError> {
    let mut ops = Vec::with_capacity(capacity);
    let mut lines = Vec::with_capacity(capacity);
    let mut line_no = 0;
    let mut rest = text;
    let mut bad_unterminated_last = None;
    while !rest.is_empty() {
        line_no += 1;
        let (line, terminated) = match rest.find('\n') {
            Some(i) => {
                let l = &rest[..i];
                rest = &rest[i + 1..];
                (l, true)
            }
            None => {
                let l = rest;
                rest = "";
                (l, false)
            }
        };
        let trimmed = line.trim();
        if trimmed.is_empty() {
            continue;
        }
        match serde_json::from_str::<RawOp>(trimmed) {
            Ok(raw) => {
                ops.push(Op {
                    // u64::MAX marks "absent"; `read` fills in the position.
                    index: raw.index.unwrap_or(u64::MAX),
                    time: raw.time.unwrap_or(u64::MAX),
                    kind: raw.kind,
                    process: raw.process,
                    f: raw.f,
                    value: raw.value,
                    key: raw.key,
                    node: raw.node,
                    error: raw.error,
                });
                lines.push(line_no);
            }
            Err(e) => {
                let message = format!("bad JSON op: {e}");
                if !terminated {
                    bad_unterminated_last = Some(LineError { line: line_no, message });
                } else {
                    return Err(LineError { line: line_no, message });
                }
            }
        }
    }
    Ok(Chunk { ops, lines, line_count: line_no, bad_unterminated_last })
}
