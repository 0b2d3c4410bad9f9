//! The valid inputs the fuzzer mutates: the shared histories (Knossos, Porcupine), faultline's own
//! JSON Lines made from them, small transactional histories in each of the three formats the
//! transactional reader takes, and nemesis schedules.

use faultline_checkers::formats::{parse_history, write_jsonl, Format};
use faultline_nemeses::{fault::Fault, schedule};
use rand::{Rng, SeedableRng};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What kind of input a seed is, which decides the readers it goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Jepsen/Knossos register history (EDN).
    RegisterEdn,
    /// Porcupine key-value history (EDN map per line).
    Porcupine,
    /// faultline's `history.jsonl`.
    Jsonl,
    /// A transactional history (EDN, Elle-cli JSON or JSON Lines).
    Txn,
    /// A nemesis schedule (TOML).
    Schedule,
    /// A database recipe (TOML, `--db-recipe`).
    Recipe,
    /// Lines a `--client` subprocess prints (JSON lines).
    ClientLines,
}

impl Kind {
    pub fn extension(self) -> &'static str {
        match self {
            Kind::RegisterEdn | Kind::Porcupine => "edn",
            Kind::Jsonl => "jsonl",
            Kind::Txn => "txn",
            Kind::Schedule | Kind::Recipe => "toml",
            Kind::ClientLines => "jsonl",
        }
    }
}

/// One valid input.
#[derive(Debug, Clone)]
pub struct Seed {
    pub kind: Kind,
    pub name: String,
    pub bytes: Vec<u8>,
}

/// Seeds larger than this are left out: a case should take milliseconds.
const MAX_SEED_BYTES: u64 = 48 << 10;

/// `../shared`, or `FAULTLINE_SHARED`.
pub fn shared_dir() -> PathBuf {
    std::env::var_os("FAULTLINE_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared"))
}

/// Every seed: shared histories from `shared` plus the generated ones.
pub fn all(shared: &Path) -> Result<Vec<Seed>, String> {
    let mut seeds = Vec::new();
    let histories = shared.join("histories");
    for (dir, kind) in [
        ("knossos-cas-register/good", Kind::RegisterEdn),
        ("knossos-cas-register/bad", Kind::RegisterEdn),
        ("porcupine-kv", Kind::Porcupine),
    ] {
        let dir = histories.join(dir);
        if !histories.exists() {
            continue;
        }
        let entries =
            std::fs::read_dir(&dir).map_err(|e| format!("cannot read seed directory {}: {e}", dir.display()))?;
        let mut files: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        files.sort();
        for path in files {
            let small = std::fs::metadata(&path).map(|m| m.len() <= MAX_SEED_BYTES).unwrap_or(false);
            if small {
                let bytes = std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                seeds.push(Seed { kind, name: path.display().to_string(), bytes });
            }
        }
    }
    if !histories.exists() {
        // A clone without the shared data: small histories of the same two kinds, made here.
        seeds.push(Seed { kind: Kind::RegisterEdn, name: "register by hand".into(), bytes: REGISTER_EDN.into() });
        seeds.push(Seed { kind: Kind::Porcupine, name: "key-value by hand".into(), bytes: PORCUPINE_KV.into() });
    }
    if seeds.is_empty() {
        return Err(format!("no seed histories under {}", histories.display()));
    }
    // faultline's own format, from a few of the register histories and a run's nemesis ops.
    let registers: Vec<Seed> = seeds.iter().filter(|s| s.kind == Kind::RegisterEdn).take(8).cloned().collect();
    for s in registers {
        let text = String::from_utf8_lossy(&s.bytes);
        if let Ok(h) = parse_history(&text, Format::Edn) {
            let mut jsonl = write_jsonl(&h.ops);
            jsonl.push_str(NEMESIS_JSONL);
            seeds.push(Seed { kind: Kind::Jsonl, name: format!("{} as jsonl", s.name), bytes: jsonl.into_bytes() });
        }
    }
    for (i, seed) in [1u64, 2, 3].into_iter().enumerate() {
        let ops = txn_ops(seed, i % 2 == 0);
        seeds.push(Seed { kind: Kind::Txn, name: format!("txn {seed} edn"), bytes: txn_edn(&ops).into_bytes() });
        seeds.push(Seed {
            kind: Kind::Txn,
            name: format!("txn {seed} json"),
            bytes: txn_json(&ops, true).into_bytes(),
        });
        seeds.push(Seed {
            kind: Kind::Txn,
            name: format!("txn {seed} jsonl"),
            bytes: txn_json(&ops, false).into_bytes(),
        });
    }
    let faults: Vec<Fault> = ["partition-halves", "kill", "pause", "flaky", "partition-ring"]
        .iter()
        .map(|f| Fault::parse(f))
        .collect::<Result<_, _>>()?;
    for seed in 1..=3 {
        let steps = schedule::interval_schedule(seed, &faults, Duration::from_secs(2), Duration::from_secs(30))?;
        seeds.push(Seed {
            kind: Kind::Schedule,
            name: format!("schedule {seed}"),
            bytes: schedule::to_toml(&steps).into_bytes(),
        });
    }
    seeds.push(Seed { kind: Kind::Schedule, name: "schedule by hand".into(), bytes: SCHEDULE.as_bytes().to_vec() });
    // The shipped recipes (the examples' own files).
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    for name in ["etcd/etcd.toml", "zookeeper/zookeeper.toml", "nats/nats.toml"] {
        let path = examples.join(name);
        let bytes = std::fs::read(&path).map_err(|e| format!("cannot read seed recipe {}: {e}", path.display()))?;
        seeds.push(Seed { kind: Kind::Recipe, name: path.display().to_string(), bytes });
    }
    seeds.push(Seed {
        kind: Kind::ClientLines,
        name: "client answers".into(),
        bytes: CLIENT_LINES.as_bytes().to_vec(),
    });
    Ok(seeds)
}

/// A Knossos-style CAS register history (write, cas, read, a crashed op), for a clone without
/// the shared histories.
const REGISTER_EDN: &str = "[{:process 0, :type :invoke, :f :write, :value 1}
 {:process 0, :type :ok, :f :write, :value 1}
 {:process 1, :type :invoke, :f :cas, :value [1 2]}
 {:process 2, :type :invoke, :f :read, :value nil}
 {:process 1, :type :ok, :f :cas, :value [1 2]}
 {:process 2, :type :ok, :f :read, :value 2}
 {:process 3, :type :invoke, :f :write, :value 3}
 {:process 3, :type :info, :f :write, :value 3}
 {:process 0, :type :invoke, :f :read, :value nil}
 {:process 0, :type :ok, :f :read, :value 3}]
";

/// A Porcupine key-value history (put, append, get), likewise.
const PORCUPINE_KV: &str = r#"{:process 0, :type :invoke, :f :put, :key "1", :value "x"}
{:process 1, :type :invoke, :f :append, :key "1", :value "y"}
{:process 0, :type :ok, :f :put, :key "1", :value "x"}
{:process 1, :type :ok, :f :append, :key "1", :value "y"}
{:process 2, :type :invoke, :f :get, :key "1", :value nil}
{:process 2, :type :ok, :f :get, :key "1", :value "xy"}
{:process 0, :type :invoke, :f :get, :key "2", :value nil}
{:process 0, :type :ok, :f :get, :key "2", :value ""}
"#;

/// Nemesis ops as a run records them (with the probe matrix).
const NEMESIS_JSONL: &str = r#"{"index":900,"time":900000000,"type":"info","process":"nemesis","f":"start-partition-halves","value":null}
{"index":901,"time":901000000,"type":"info","process":"nemesis","f":"start-partition-halves","value":{"targets":["n1","n2"],"grudge":{"n1":["n3"],"n3":["n1","n2"]},"verified":true,"probe":{"n1":{"n3":false}}}}
{"index":902,"time":902000000,"type":"info","process":"nemesis","f":"stop-partition-halves","value":null}
{"index":903,"time":903000000,"type":"info","process":"nemesis","f":"stop-partition-halves","value":{"healed":true}}
"#;

/// What clients answer, per workload (docs/client-protocol.md).
const CLIENT_LINES: &str = r#"{"id": 1, "type": "ok", "value": null}
{"id": 2, "type": "ok", "value": 3}
{"id": 3, "type": "fail", "error": "cas mismatch"}
{"id": 4, "type": "info", "error": "timeout"}
{"id": 5, "type": "ok", "value": [1, 2, 3]}
{"id": 6, "type": "ok", "value": [["append", 1, 7], ["r", 2, [1, 4]]]}
{"id": 7, "type": "ok", "value": {"nested": [1, {"a": "b"}]}, "error": null}
"#;

const SCHEDULE: &str = r#"[[step]]
at = "1s"
start = "partition-halves"
grudge = { n1 = ["n2", "n3"] }

[[step]]
at = "3s"
start = "kill"
targets = "minority"

[[step]]
at = "5s"
stop = "kill"

[[step]]
at = "6s"
start = "pause"
nodes = ["n2"]

[[step]]
at = "8s"
heal = true
"#;

/// A micro-op: (append or write, key, value) or a read (key, what it saw).
#[derive(Debug, Clone)]
enum Mop {
    Write(u32, u32),
    Read(u32, Vec<u32>),
}

/// A serial, valid transactional history: (process, mops) in commit order.
fn txn_ops(seed: u64, list_append: bool) -> Vec<(u32, Vec<Mop>, bool)> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut state: Vec<Vec<u32>> = vec![Vec::new(); 4];
    let mut next = 1;
    let mut ops = Vec::new();
    for _ in 0..40 {
        let mut mops = Vec::new();
        for _ in 0..rng.random_range(1..=3) {
            let k = rng.random_range(0..4u32);
            if rng.random_bool(0.5) {
                mops.push(Mop::Write(k, next));
                if list_append {
                    state[k as usize].push(next);
                } else {
                    state[k as usize] = vec![next];
                }
                next += 1;
            } else {
                mops.push(Mop::Read(k, state[k as usize].clone()));
            }
        }
        ops.push((rng.random_range(0..4), mops, list_append));
    }
    ops
}

fn txn_edn(ops: &[(u32, Vec<Mop>, bool)]) -> String {
    let mut out = String::new();
    for (i, (p, mops, list_append)) in ops.iter().enumerate() {
        for (kind, complete) in [("invoke", false), ("ok", true)] {
            let value: Vec<String> = mops
                .iter()
                .map(|m| match m {
                    Mop::Write(k, v) if *list_append => format!("[:append {k} {v}]"),
                    Mop::Write(k, v) => format!("[:w {k} {v}]"),
                    Mop::Read(k, _) if !complete => format!("[:r {k} nil]"),
                    Mop::Read(k, seen) if *list_append => {
                        format!("[:r {k} [{}]]", seen.iter().map(u32::to_string).collect::<Vec<_>>().join(" "))
                    }
                    Mop::Read(k, seen) => format!("[:r {k} {}]", seen.last().map_or("nil".into(), u32::to_string)),
                })
                .collect();
            out.push_str(&format!(
                "{{:index {}, :type :{kind}, :process {p}, :f :txn, :value [{}]}}\n",
                2 * i + complete as usize,
                value.join(" ")
            ));
        }
    }
    out
}

/// Elle-cli's JSON array (`array`) or faultline's JSON Lines.
fn txn_json(ops: &[(u32, Vec<Mop>, bool)], array: bool) -> String {
    let mut lines = Vec::new();
    for (i, (p, mops, list_append)) in ops.iter().enumerate() {
        for (kind, complete) in [("invoke", false), ("ok", true)] {
            let value: Vec<serde_json::Value> = mops
                .iter()
                .map(|m| match m {
                    Mop::Write(k, v) => serde_json::json!([if *list_append { "append" } else { "w" }, k, v]),
                    Mop::Read(k, _) if !complete => serde_json::json!(["r", k, null]),
                    Mop::Read(k, seen) if *list_append => serde_json::json!(["r", k, seen]),
                    Mop::Read(k, seen) => serde_json::json!(["r", k, seen.last()]),
                })
                .collect();
            let op = serde_json::json!({"index": 2 * i + complete as usize, "type": kind, "process": p, "f": "txn", "value": value});
            lines.push(op.to_string());
        }
    }
    if array {
        format!("[{}]\n", lines.join(",\n"))
    } else {
        lines.join("\n") + "\n"
    }
}
