//! Reading a stored run back: test.json, results.json, history.jsonl and the list of files a
//! report links to. Errors name the file and, for history lines, the line number.

use crate::Link;
use anyhow::Context as _;
use faultline_checkers::Op;
use serde_json::Value;
use std::path::Path;

/// Read an optional JSON file: `Ok(None)` when absent, an error naming it when malformed.
pub fn read_json(path: &Path) -> anyhow::Result<Option<Value>> {
    match std::fs::read_to_string(path) {
        Ok(s) => serde_json::from_str(&s).map(Some).with_context(|| format!("{} is not valid JSON", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Parse faultline's JSONL history (one `Op` per line). Blank lines are skipped; an
/// unterminated last line that does not parse (a run cut off mid-write) is skipped with a
/// note; any other bad line is an error naming the file and line. Returns the ops and notes.
pub fn parse_history_jsonl(text: &str, name: &str) -> anyhow::Result<(Vec<Op>, Vec<String>)> {
    let mut notes = Vec::new();
    let mut body = text;
    if !text.is_empty() && !text.ends_with('\n') {
        let cut = text.rfind('\n').map(|i| i + 1).unwrap_or(0);
        let last = &text[cut..];
        if serde_json::from_str::<Op>(last.trim()).is_err() {
            if !last.trim().is_empty() {
                notes.push(format!(
                    "{name}: skipped an unterminated last line ({} bytes), probably cut off mid-write.",
                    last.len()
                ));
            }
            body = &text[..cut];
        }
    }
    let lines: Vec<&str> = body.lines().collect();
    // Parse in parallel chunks: a million lines is most of a report's time.
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).min(8);
    let chunk = lines.len().div_ceil(threads.max(1)).max(1);
    let parsed: Vec<anyhow::Result<Vec<Op>>> = std::thread::scope(|s| {
        let handles: Vec<_> = lines
            .chunks(chunk)
            .enumerate()
            .map(|(c, part)| {
                s.spawn(move || {
                    let mut out = Vec::with_capacity(part.len());
                    for (i, line) in part.iter().enumerate() {
                        if line.trim().is_empty() {
                            continue;
                        }
                        let op: Op = serde_json::from_str(line)
                            .with_context(|| format!("{name} line {}: not a history op", c * chunk + i + 1))?;
                        out.push(op);
                    }
                    Ok(out)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err(anyhow::anyhow!("{name}: history parser thread panicked"))))
            .collect()
    });
    let mut ops = Vec::with_capacity(lines.len());
    for p in parsed {
        ops.extend(p?);
    }
    Ok((ops, notes))
}

pub fn read_history_jsonl(path: &Path) -> anyhow::Result<(Vec<Op>, Vec<String>)> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading history {}", path.display()))?;
    parse_history_jsonl(&text, &path.display().to_string())
}

/// Percent-encode a relative path for an href, and make sure it cannot be read as a scheme.
pub fn href(path: &str) -> String {
    let mut out = String::with_capacity(path.len() + 2);
    if !path.starts_with("../") && !path.starts_with("./") {
        out.push_str("./");
    }
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The run's files, as links relative to `run_dir/report/`.
pub fn run_links(run_dir: &Path) -> Vec<Link> {
    let mut links = Vec::new();
    for f in ["history.jsonl", "history.edn", "results.json", "test.json", "faultline.log"] {
        if run_dir.join(f).is_file() {
            links.push(Link { label: f.into(), href: href(&format!("../{f}")) });
        }
    }
    let nodes = run_dir.join("nodes");
    let mut node_dirs: Vec<_> =
        std::fs::read_dir(&nodes).into_iter().flatten().flatten().filter(|e| e.path().is_dir()).collect();
    node_dirs.sort_by_key(|e| e.file_name());
    for d in node_dirs {
        let node = d.file_name().to_string_lossy().to_string();
        let mut files: Vec<_> =
            std::fs::read_dir(d.path()).into_iter().flatten().flatten().filter(|e| e.path().is_file()).collect();
        files.sort_by_key(|e| e.file_name());
        for f in files {
            let name = f.file_name().to_string_lossy().to_string();
            links.push(Link { label: format!("nodes/{node}/{name}"), href: href(&format!("../nodes/{node}/{name}")) });
        }
    }
    links
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &str = r#"{"index":0,"time":5,"type":"invoke","process":0,"f":"read","value":null}"#;

    #[test]
    fn skips_a_cut_off_last_line_only() {
        let text = format!("{LINE}\n\n{LINE}\n{{\"index\":2,\"ti");
        let (ops, notes) = parse_history_jsonl(&text, "h.jsonl").unwrap();
        assert_eq!(ops.len(), 2);
        assert_eq!(notes.len(), 1);
        let (ops, notes) = parse_history_jsonl(LINE, "h.jsonl").unwrap();
        assert_eq!((ops.len(), notes.len()), (1, 0), "a complete unterminated line is kept");
        let err = parse_history_jsonl(&format!("{LINE}\nnope\n{LINE}\n"), "h.jsonl").unwrap_err();
        assert!(format!("{err:#}").contains("h.jsonl line 2"), "{err:#}");
    }

    #[test]
    fn hrefs_are_relative_and_encoded() {
        assert_eq!(href("javascript:alert(1)"), "./javascript%3Aalert%281%29");
        assert_eq!(href("../nodes/n1/db log#1.txt"), "../nodes/n1/db%20log%231.txt");
    }
}
