//! Generate a large, seeded list-append history in faultline's JSONL format (or Jepsen EDN),
//! strictly serializable unless anomalies are injected, for benchmarks and tests:
//!
//! ```text
//! cargo run --release -p faultline-checkers --example txn_history -- \
//!     --txns 1000000 --keys 1000 --processes 20 --info 0.01 --out FILE \
//!     [--seed 1] [--edn] [--max-writes 32] [--inject all|G0,G1a,...] [--stale-reads 0.5 [--stale-lag 1000]]
//! ```
//!
//! Client slots invoke transactions of 1-5 micro-ops (appends and reads, half each) on keys
//! drawn from 1,000 active keys; a key that has taken `--max-writes` appends is retired and a
//! fresh key takes its place (keys rotate, so lists stay short). A transaction takes effect
//! atomically at its completion, so the history is strictly serializable; with probability
//! `--info` the completion is `info` (its effect applied or not, at random; reads unknown) and
//! the slot's process is replaced by a new one, as in Jepsen.
//!
//! `--stale-reads P`: with probability P a transaction reads the state as of its invocation
//! (a snapshot) while its appends still take effect at its completion, as snapshot isolation
//! does (write skew, G-single-item and G2-item cycles everywhere); with `--stale-lag N`, the
//! state as of N completions before its own, as a lagging replica would serve it. Its reads
//! still see its own appends. With a lag of hundreds, the rw edges from stale readers reach
//! far back and most transactions fall into one huge strongly connected component, for the
//! cycle search's benchmarks.
//!
//! `--inject` adds, at random places, small groups of transactions on keys of their own that show
//! one anomaly each: G0, G1a, G1b, G1c, G-single-item, G2-item, internal, lost-update,
//! duplicate-elements, incompatible-order, dirty-update, G-single-item-realtime.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::fmt::Write as _;
use std::io::Write;

/// The injectable anomalies, each as a sequence of (type, transaction) run one after the other
/// on fresh processes; keys `x`, `y` are renamed apart per injection.
const PATTERNS: &[(&str, &[(&str, &str)])] = &[
    ("G0", &[("ok", "ax1ay1"), ("ok", "ax2ay2"), ("ok", "rx12ry21")]),
    ("G1a", &[("fail", "ax1"), ("ok", "rx1")]),
    ("G1b", &[("ok", "ax1ax2"), ("ok", "rx1")]),
    ("G1c", &[("ok", "ax1ry1"), ("ok", "ax2ay1"), ("ok", "rx12ry1")]),
    ("G-single-item", &[("ok", "ax1ay1"), ("ok", "ax2ry"), ("ok", "rx12")]),
    ("G2-item", &[("ok", "ax1ry"), ("ok", "ay1rx")]),
    ("internal", &[("ok", "ax1ax2"), ("ok", "ax3rx1")]),
    ("lost-update", &[("ok", "ax0"), ("ok", "rx0ax1"), ("ok", "rx0ax2")]),
    ("duplicate-elements", &[("ok", "ax1"), ("ok", "ax2"), ("ok", "rx121")]),
    ("incompatible-order", &[("ok", "ax1"), ("ok", "ax2"), ("ok", "ax3"), ("ok", "rx12"), ("ok", "rx13")]),
    ("dirty-update", &[("fail", "ax1"), ("ok", "ax2"), ("ok", "rx12")]),
    ("G-single-item-realtime", &[("ok", "ax1"), ("ok", "ax2"), ("ok", "rx1"), ("ok", "rx12")]),
];

struct Args {
    txns: u64,
    keys: u64,
    processes: u64,
    info: f64,
    out: String,
    seed: u64,
    edn: bool,
    max_writes: u64,
    inject: Vec<String>,
    stale_reads: f64,
    stale_lag: u64,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        txns: 100_000,
        keys: 1000,
        processes: 20,
        info: 0.01,
        out: String::new(),
        seed: 1,
        edn: false,
        max_writes: 32,
        inject: Vec::new(),
        stale_reads: 0.0,
        stale_lag: 0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--edn" {
            a.edn = true;
            continue;
        }
        let v = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let num = |v: &str| v.parse::<u64>().map_err(|e| format!("{flag} {v}: {e}"));
        match flag.as_str() {
            "--txns" => a.txns = num(&v)?,
            "--keys" => a.keys = num(&v)?.max(1),
            "--processes" => a.processes = num(&v)?.max(1),
            "--seed" => a.seed = num(&v)?,
            "--max-writes" => a.max_writes = num(&v)?.max(1),
            "--stale-lag" => a.stale_lag = num(&v)?,
            "--stale-reads" => a.stale_reads = v.parse::<f64>().map_err(|e| format!("--stale-reads {v}: {e}"))?,
            "--info" => a.info = v.parse::<f64>().map_err(|e| format!("--info {v}: {e}"))?,
            "--out" => a.out = v,
            "--inject" => {
                a.inject = if v == "all" {
                    PATTERNS.iter().map(|(n, _)| n.to_string()).collect()
                } else {
                    v.split(',').map(str::to_string).collect()
                };
                for n in &a.inject {
                    if !PATTERNS.iter().any(|(p, _)| p == n) {
                        return Err(format!(
                            "unknown anomaly {n} (known: {})",
                            PATTERNS.iter().map(|p| p.0).collect::<Vec<_>>().join(", ")
                        ));
                    }
                }
            }
            other => return Err(format!("unknown flag {other}")),
        }
    }
    if a.out.is_empty() {
        return Err("--out FILE is required".into());
    }
    Ok(a)
}

/// A micro-op: append (key, value) or read (key, list when known).
enum Mop {
    Append(i64, i64),
    Read(i64, Option<Vec<i64>>),
}

/// Key names: integers; injected patterns use negative keys.
struct Writer {
    out: std::io::BufWriter<std::fs::File>,
    edn: bool,
    index: u64,
    line: String,
}

impl Writer {
    fn event(&mut self, kind: &str, process: u64, mops: &[Mop]) -> std::io::Result<()> {
        let l = &mut self.line;
        l.clear();
        let i = self.index;
        self.index += 1;
        if self.edn {
            let _ = write!(l, "{{:index {i}, :time {i}, :type :{kind}, :process {process}, :f :txn, :value [");
        } else {
            let _ = write!(
                l,
                "{{\"index\":{i},\"time\":{i},\"type\":\"{kind}\",\"process\":{process},\"f\":\"txn\",\"value\":["
            );
        }
        for (j, m) in mops.iter().enumerate() {
            let sep = if j == 0 {
                ""
            } else if self.edn {
                " "
            } else {
                ","
            };
            l.push_str(sep);
            match (m, self.edn) {
                (Mop::Append(k, v), true) => {
                    let _ = write!(l, "[:append {k} {v}]");
                }
                (Mop::Append(k, v), false) => {
                    let _ = write!(l, "[\"append\",{k},{v}]");
                }
                (Mop::Read(k, r), edn) => {
                    let _ = if edn { write!(l, "[:r {k} ") } else { write!(l, "[\"r\",{k},") };
                    match r {
                        None => l.push_str(if edn { "nil" } else { "null" }),
                        Some(xs) => {
                            l.push('[');
                            for (n, x) in xs.iter().enumerate() {
                                if n > 0 {
                                    l.push(if edn { ' ' } else { ',' });
                                }
                                let _ = write!(l, "{x}");
                            }
                            l.push(']');
                        }
                    }
                    l.push(']');
                }
            }
        }
        l.push_str("]}\n");
        self.out.write_all(l.as_bytes())
    }
}

/// The transactions of a pattern, with keys x, y mapped to fresh negative keys.
fn pattern_txns(spec: &str, x: i64, y: i64) -> Vec<Mop> {
    let mut mops = Vec::new();
    let mut chars = spec.chars().peekable();
    while let Some(f) = chars.next() {
        let k = match chars.next() {
            Some('x') => x,
            _ => y,
        };
        let mut digits = Vec::new();
        while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
            digits.push(d as i64);
            chars.next();
        }
        mops.push(if f == 'a' { Mop::Append(k, digits[0]) } else { Mop::Read(k, Some(digits)) });
    }
    mops
}

fn main() {
    let a = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(254);
        }
    };
    let mut rng = ChaCha8Rng::seed_from_u64(a.seed);
    let file = std::fs::File::create(&a.out).unwrap_or_else(|e| panic!("{}: {e}", a.out));
    let mut w =
        Writer { out: std::io::BufWriter::with_capacity(1 << 20, file), edn: a.edn, index: 0, line: String::new() };
    // Keys: the active set; per key the applied list and the count of values handed out.
    let mut active: Vec<i64> = (0..a.keys as i64).collect();
    let mut next_key = a.keys as i64;
    let mut lists: rustc_hash::FxHashMap<i64, Vec<i64>> = Default::default();
    let mut handed: rustc_hash::FxHashMap<i64, i64> = Default::default();
    // Slots: the process using each, and its outstanding transaction.
    let mut procs: Vec<u64> = (0..a.processes).collect();
    let mut next_proc = a.processes;
    let mut open: Vec<Option<Vec<Mop>>> = (0..a.processes).map(|_| None).collect();
    // --stale-lag: whether each slot's open transaction reads stale; per key, its list's length
    // after each completion that appended to it: (completion number, length).
    let mut lagging: Vec<bool> = vec![false; a.processes as usize];
    let mut lengths: rustc_hash::FxHashMap<i64, Vec<(u64, usize)>> = Default::default();
    let mut completions = 0u64;
    let (mut invoked, mut outstanding) = (0u64, 0u64);
    // Where the injections go: before this many invocations.
    let mut inject_at: Vec<(u64, usize)> = a
        .inject
        .iter()
        .map(|n| (rng.random_range(0..a.txns.max(1)), PATTERNS.iter().position(|(p, _)| p == n).unwrap_or(0)))
        .collect();
    inject_at.sort();
    inject_at.reverse();
    let mut inj_key = -1i64;
    while invoked < a.txns || outstanding > 0 {
        while inject_at.last().is_some_and(|&(at, _)| at <= invoked) {
            let (_, p) = inject_at.pop().expect("checked");
            let (x, y) = (inj_key, inj_key - 1);
            inj_key -= 2;
            for (kind, spec) in PATTERNS[p].1 {
                let mops = pattern_txns(spec, x, y);
                let inv: Vec<Mop> = mops
                    .iter()
                    .map(|m| match m {
                        Mop::Append(k, v) => Mop::Append(*k, *v),
                        Mop::Read(k, _) => Mop::Read(*k, None),
                    })
                    .collect();
                let proc = next_proc;
                next_proc += 1;
                w.event("invoke", proc, &inv).expect("write");
                w.event(kind, proc, &mops).expect("write");
            }
        }
        let s = rng.random_range(0..procs.len());
        match open[s].take() {
            None if invoked < a.txns => {
                let n = rng.random_range(1..=5);
                let mut mops = Vec::with_capacity(n);
                for _ in 0..n {
                    let k = active[rng.random_range(0..active.len())];
                    if rng.random_bool(0.5) {
                        let c = handed.entry(k).or_insert(0);
                        *c += 1;
                        mops.push(Mop::Append(k, *c));
                    } else {
                        mops.push(Mop::Read(k, None));
                    }
                }
                w.event("invoke", procs[s], &mops).expect("write");
                let stale = a.stale_reads > 0.0 && rng.random_bool(a.stale_reads);
                lagging[s] = stale && a.stale_lag > 0;
                if stale && a.stale_lag == 0 {
                    for m in mops.iter_mut() {
                        if let Mop::Read(k, r) = m {
                            *r = Some(lists.get(k).cloned().unwrap_or_default());
                        }
                    }
                }
                open[s] = Some(mops);
                invoked += 1;
                outstanding += 1;
            }
            None => {}
            Some(mut mops) => {
                outstanding -= 1;
                let info = rng.random_bool(a.info);
                if !info || rng.random_bool(0.5) {
                    // A snapshot read still sees the transaction's own earlier appends.
                    let mut own: Vec<(i64, i64)> = Vec::new();
                    for m in mops.iter_mut() {
                        match m {
                            Mop::Append(k, v) => {
                                lists.entry(*k).or_default().push(*v);
                                own.push((*k, *v));
                            }
                            Mop::Read(k, r @ None) if lagging[s] => {
                                // The list as it was `stale_lag` completions ago, and the
                                // transaction's own appends.
                                let then = completions.saturating_sub(a.stale_lag);
                                let log = lengths.get(k).map_or(&[][..], |l| l.as_slice());
                                let at = log.partition_point(|&(c, _)| c <= then);
                                let len = if at == 0 { 0 } else { log[at - 1].1 };
                                let mut xs = lists.get(k).map_or(Vec::new(), |l| l[..len].to_vec());
                                xs.extend(own.iter().filter(|(o, _)| o == k).map(|(_, v)| *v));
                                *r = Some(xs);
                            }
                            Mop::Read(k, r @ None) => *r = Some(lists.get(k).cloned().unwrap_or_default()),
                            Mop::Read(k, Some(snapshot)) => {
                                snapshot.extend(own.iter().filter(|(o, _)| o == k).map(|(_, v)| *v))
                            }
                        }
                    }
                    if a.stale_lag > 0 {
                        for (k, _) in &own {
                            let len = lists.get(k).map_or(0, Vec::len);
                            lengths.entry(*k).or_default().push((completions + 1, len));
                        }
                    }
                }
                completions += 1;
                if info {
                    for m in mops.iter_mut() {
                        if let Mop::Read(_, r) = m {
                            *r = None;
                        }
                    }
                }
                w.event(if info { "info" } else { "ok" }, procs[s], &mops).expect("write");
                // Retire keys that have had their appends.
                for m in &mops {
                    if let Mop::Append(k, _) = m {
                        if handed.get(k).copied().unwrap_or(0) as u64 >= a.max_writes {
                            if let Some(i) = active.iter().position(|x| x == k) {
                                active[i] = next_key;
                                next_key += 1;
                            }
                        }
                    }
                }
                if info {
                    procs[s] = next_proc;
                    next_proc += 1;
                }
            }
        }
    }
    w.out.flush().expect("flush");
    eprintln!("wrote {} events ({} transactions, {} injected anomalies) to {}", w.index, a.txns, a.inject.len(), a.out);
}
