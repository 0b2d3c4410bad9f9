//! Benchmark: render the report of a large run and print the time and page size.
//!
//! `cargo run --release -p faultline-reports --example report_bench -- --ops 1000000`
//! generates a synthetic run (20 processes, 1,000 keys, 1% info, 0.5% fail, a partition every
//! 60 s for 20 s, and a linearizability failure in the middle) in a temporary store, then times
//! `write_run_report` (read + parse + render + write) and `render_store_index`.
//! `--history FILE` uses an existing history.jsonl instead (e.g. from the checkers'
//! synth_history example). `--keep DIR` writes the run under DIR and keeps it.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Instant;

/// A small deterministic generator (xorshift), so runs are comparable.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// (time, line) events of a synthetic history, in time order.
fn synth(ops: usize) -> String {
    let mut rng = Rng(0x9e3779b97f4a7c15);
    let procs = 20u64;
    let ms = 1_000_000u64;
    // Per worker: current process id and when it is next free.
    let mut workers: Vec<(u64, u64)> = (0..procs).map(|p| (p, 0)).collect();
    let mut events: Vec<(u64, u8, String)> = Vec::with_capacity(ops * 2 + 64);
    let in_fault = |t: u64| (t / (60_000 * ms)) > 0 && (t % (60_000 * ms)) < 20_000 * ms;
    for i in 0..ops {
        let w = i % procs as usize;
        let (p, free) = workers[w];
        let start = free + (rng.unit() * 4.0 * ms as f64) as u64;
        let mut lat = ((rng.unit() * 2.5).exp() * ms as f64 * 0.5) as u64;
        let r = rng.unit();
        let faulty = in_fault(start);
        let kind = if r < 0.01 || (faulty && r < 0.05) {
            "info"
        } else if r < 0.015 || (faulty && r < 0.2) {
            "fail"
        } else {
            "ok"
        };
        if faulty {
            lat *= 8;
        }
        let end = start + lat;
        let key = rng.next() % 1000;
        let (f, v, out) = if rng.unit() < 0.5 {
            ("read", "null".to_string(), (rng.next() % 100).to_string())
        } else {
            let v = (rng.next() % 100).to_string();
            ("write", v.clone(), v)
        };
        let out = if kind == "ok" { out } else { v.clone() };
        events.push((
            start,
            0,
            format!(r#""type":"invoke","process":{p},"f":"{f}","key":{key},"value":{v},"node":"n{}""#, w % 5 + 1),
        ));
        events.push((
            end,
            1,
            format!(r#""type":"{kind}","process":{p},"f":"{f}","key":{key},"value":{out},"node":"n{}""#, w % 5 + 1),
        ));
        // After an info op the process is crashed; the worker continues as a new process.
        workers[w] = (if kind == "info" { p + procs } else { p }, end);
    }
    let last = events.iter().map(|e| e.0).max().unwrap_or(0);
    let mut t = 60_000 * ms;
    while t < last {
        for (dt, f, v) in [
            (0, "start-partition-halves", "null"),
            (
                50 * ms,
                "start-partition-halves",
                r#"{"fault":"partition-halves","targets":["n1","n2"],"verified":true}"#,
            ),
            (20_000 * ms, "stop-partition-halves", "null"),
            (20_050 * ms, "stop-partition-halves", r#"{"healed":true}"#),
        ] {
            events.push((t + dt, 2, format!(r#""type":"info","process":"nemesis","f":"{f}","value":{v}"#)));
        }
        t += 60_000 * ms;
    }
    events.sort_by_key(|e| (e.0, e.1));
    let mut out = String::with_capacity(events.len() * 110);
    for (i, (time, _, body)) in events.iter().enumerate() {
        let _ = writeln!(out, r#"{{"index":{i},"time":{time},{body}}}"#);
    }
    out
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let flag = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let ops: usize = flag("--ops").map(|s| s.parse()).transpose()?.unwrap_or(1_000_000);
    let tmp = tempfile::tempdir()?;
    let store = flag("--keep").map(PathBuf::from).unwrap_or_else(|| tmp.path().to_path_buf());
    let run = store.join("bench").join("20240101T000000Z");
    std::fs::create_dir_all(&run)?;
    let started = Instant::now();
    match flag("--history") {
        Some(h) => {
            std::fs::copy(&h, run.join("history.jsonl"))?;
        }
        None => std::fs::write(run.join("history.jsonl"), synth(ops))?,
    }
    let hist_bytes = std::fs::metadata(run.join("history.jsonl"))?.len();
    eprintln!("history: {} MB written in {:.2} s", hist_bytes / 1_000_000, started.elapsed().as_secs_f64());
    // A linearizability failure in the middle of the run, as the checker reports it.
    let ms = 1_000_000u64;
    let mid = 150_000 * ms;
    let fops: Vec<serde_json::Value> = (0..40u64)
        .map(|i| serde_json::json!({"id": i, "index": i, "process": i % 20, "f": if i % 2 == 0 {"write"} else {"read"}, "value": i, "output": i, "type": if i == 39 {"info"} else {"ok"}, "start": mid + i * 3 * ms, "end": if i == 39 { None } else { Some(mid + i * 3 * ms + 10 * ms) }}))
        .collect();
    let results = serde_json::json!({"verdict": "invalid", "reason": "linearizable: key 7 cannot be linearized",
        "checkers": {"linearizable": {"verdict": "invalid", "summary": "key 7: read 3 by process 1 cannot be linearized",
            "failure": {"key": 7, "ops": fops, "linearized": (0..20).collect::<Vec<u64>>(), "states": ["19"], "failing": 21, "concurrent": [22, 23]}}}});
    std::fs::write(run.join("results.json"), results.to_string())?;
    std::fs::write(run.join("test.json"), serde_json::json!({"name": "bench", "db": "synthetic", "workload": "register", "nemesis": "partition-halves", "seed": 1, "command_line": "report_bench"}).to_string())?;

    let t = Instant::now();
    let page = faultline_reports::write_run_report(&run)?;
    let render_s = t.elapsed().as_secs_f64();
    let size = std::fs::metadata(&page)?.len();
    let t = Instant::now();
    faultline_reports::render_store_index(&store)?;
    let index_s = t.elapsed().as_secs_f64();
    println!(
        "history: {} MB, {} lines",
        hist_bytes / 1_000_000,
        std::fs::read_to_string(run.join("history.jsonl"))?.lines().count()
    );
    println!("report: {:.2} s (read + parse + render + write), page {:.2} MB", render_s, size as f64 / 1e6);
    println!("store index: {:.3} s", index_s);
    println!("page: {}", page.display());
    Ok(())
}
