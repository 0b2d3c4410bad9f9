//! Generate a large, seeded, linearizable cas-register history in faultline's JSONL format, for
//! benchmarks and report tests:
//!
//! ```text
//! cargo run --release -p faultline-checkers --example synth_history -- \
//!     --ops 1000000 --keys 1000 --processes 20 --info 0.01 --out FILE [--seed 1] [--corrupt]
//! ```
//!
//! `--ops` counts operations (invocations); each gets one completion, so the file has twice as
//! many records (JSONL lines). Each client process repeatedly invokes a read, write or cas on a random key; its
//! effect happens atomically at a random moment between invocation and completion (so the
//! history is linearizable); with probability `--info` the completion is `info` instead, the
//! effect having happened or not, and the process is replaced by a new one (as in Jepsen). A cas
//! whose expected value does not match ends `fail`. Reads of a never-written key return null.
//! `--corrupt` changes one late ok read to a value never written, making the history invalid.
//! `--unique` makes every write and cas write a value never written before (a differentiated
//! history, as the causal rungs of the consistency ladder need); a cas then expects the key's
//! current value half of the time.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};
use std::io::Write;

struct Args {
    ops: u64,
    keys: u64,
    processes: u64,
    info: f64,
    out: String,
    seed: u64,
    corrupt: bool,
    unique: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        ops: 1_000_000,
        keys: 1000,
        processes: 20,
        info: 0.01,
        out: String::new(),
        seed: 1,
        corrupt: false,
        unique: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--corrupt" {
            a.corrupt = true;
            continue;
        }
        if flag == "--unique" {
            a.unique = true;
            continue;
        }
        let v = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let num = |v: &str| v.parse::<u64>().map_err(|e| format!("{flag} {v}: {e}"));
        match flag.as_str() {
            "--ops" => a.ops = num(&v)?,
            "--keys" => a.keys = num(&v)?.max(1),
            "--processes" => a.processes = num(&v)?.max(1),
            "--seed" => a.seed = num(&v)?,
            "--info" => a.info = v.parse::<f64>().map_err(|e| format!("--info {v}: {e}"))?,
            "--out" => a.out = v,
            other => return Err(format!("unknown flag {other}")),
        }
    }
    if a.out.is_empty() {
        return Err("--out FILE is required".into());
    }
    Ok(a)
}

/// One client slot: the process currently using it and its outstanding operation.
struct Slot {
    process: u64,
    op: Option<InFlight>,
}

struct InFlight {
    key: u64,
    f: &'static str,
    input: Value,
    /// Set once the effect has been applied: the completion's value and type.
    result: Option<(Value, &'static str)>,
    will_be_info: bool,
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("synth_history: {e}");
            std::process::exit(254);
        }
    };
    let mut rng = ChaCha8Rng::seed_from_u64(args.seed);
    let file = std::fs::File::create(&args.out).unwrap_or_else(|e| {
        eprintln!("synth_history: cannot create {}: {e}", args.out);
        std::process::exit(255);
    });
    let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
    let mut registers: Vec<Option<i64>> = vec![None; args.keys as usize];
    let mut slots: Vec<Slot> = (0..args.processes).map(|p| Slot { process: p, op: None }).collect();
    let mut index = 0u64;
    let mut time = 0u64;
    let mut corrupted = false;
    let mut line = String::with_capacity(200);
    let mut invoked = 0u64;
    let mut outstanding = 0u64;
    let mut fresh = 0i64;
    // Invoke `--ops` operations, then complete what is outstanding.
    while invoked < args.ops || outstanding > 0 {
        let s = rng.random_range(0..slots.len());
        let slot = &mut slots[s];
        let mut record: Option<(&str, Value, u64, &'static str)> = None;
        match &mut slot.op {
            None if invoked < args.ops => {
                let key = rng.random_range(0..args.keys);
                let (f, input) = match (rng.random_range(0..10), args.unique) {
                    (0..=3, _) => ("read", Value::Null),
                    (4..=7, false) => ("write", json!(rng.random_range(0..10))),
                    (_, false) => ("cas", json!([rng.random_range(0..10), rng.random_range(0..10)])),
                    (4..=7, true) => {
                        fresh += 1;
                        ("write", json!(fresh))
                    }
                    (_, true) => {
                        fresh += 1;
                        let old = if rng.random_bool(0.5) { json!(registers[key as usize]) } else { json!(fresh + 1) };
                        ("cas", json!([old, fresh]))
                    }
                };
                let will_be_info = rng.random_bool(args.info.clamp(0.0, 1.0));
                record = Some(("invoke", input.clone(), key, f));
                slot.op = Some(InFlight { key, f, input, result: None, will_be_info });
            }
            None => {}
            Some(op) if op.result.is_none() && !(op.will_be_info && rng.random_bool(0.5)) => {
                // The linearization point: apply the effect now, remember what to report.
                let reg = &mut registers[op.key as usize];
                op.result = Some(match op.f {
                    "read" => (json!(*reg), "ok"),
                    "write" => {
                        *reg = op.input.as_i64();
                        (op.input.clone(), "ok")
                    }
                    _ => {
                        if *reg == op.input[0].as_i64() {
                            *reg = op.input[1].as_i64();
                            (op.input.clone(), "ok")
                        } else {
                            (op.input.clone(), "fail")
                        }
                    }
                });
            }
            Some(op) => {
                let (mut value, mut kind) = op.result.clone().unwrap_or((op.input.clone(), "info"));
                if op.will_be_info {
                    kind = "info";
                    value = op.input.clone();
                }
                if args.corrupt && !corrupted && kind == "ok" && op.f == "read" && index > args.ops {
                    value = json!(1_000_000);
                    corrupted = true;
                }
                record = Some((kind, value, op.key, op.f));
            }
        }
        if let Some((kind, value, key, f)) = record {
            time += rng.random_range(1_000..50_000);
            line.clear();
            line.push_str(
                &json!({"index": index, "time": time, "type": kind, "process": slot.process, "f": f, "value": value, "key": key})
                    .to_string(),
            );
            line.push('\n');
            if let Err(e) = out.write_all(line.as_bytes()) {
                eprintln!("synth_history: writing {}: {e}", args.out);
                std::process::exit(255);
            }
            index += 1;
            if kind == "invoke" {
                invoked += 1;
                outstanding += 1;
            } else {
                outstanding -= 1;
                slot.op = None;
                if kind == "info" {
                    // A crashed process never invokes again; a new one takes its slot.
                    slot.process += args.processes;
                }
            }
        }
    }
    if let Err(e) = out.flush() {
        eprintln!("synth_history: writing {}: {e}", args.out);
        std::process::exit(255);
    }
    eprintln!("synth_history: wrote {invoked} operations ({index} records) to {}", args.out);
}
