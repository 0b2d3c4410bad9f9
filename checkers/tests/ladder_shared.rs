//! The consistency ladder on the shared histories (`$FAULTLINE_SHARED/histories`, else `shared/`
//! beside the checkout):
//! - the sequential-consistency checker must never call a linearizable history inconsistent
//!   (linearizable implies sequential) and must decide every file; its time against the
//!   linearizability checker's is printed per set (`--nocapture`);
//! - the whole ladder must agree with the linearizability checker on its first rung.

use faultline_checkers::formats::{read_history, Format};
use faultline_checkers::ladder::{self, LadderOptions, Status};
use faultline_checkers::linearizable::{check, ModelKind, Options};
use faultline_checkers::Verdict;
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};

mod common;

use common::{files, shared};

fn init_for(path: &Path, format: Format) -> Value {
    match format {
        Format::Porcupine => Value::String(String::new()),
        _ if path.ends_with("rethink-fail-minimal.edn") => Value::Null,
        _ => Value::from(0),
    }
}

/// The fastest of `runs` timings of `f`.
fn best_of<T>(runs: usize, mut f: impl FnMut() -> T) -> (T, Duration) {
    let mut best = Duration::MAX;
    let mut out = None;
    for _ in 0..runs {
        let t = Instant::now();
        out = Some(f());
        best = best.min(t.elapsed());
    }
    (out.expect("one run"), best)
}

/// The sequential-consistency checker as the ladder uses it (`ladder::check_sequential`:
/// linearizability first, then the sequential search), timed against the linearizability checker
/// per set of files: it must never call a linearizable history inconsistent, must decide every
/// file, and the figures (BENCHMARKS.md, Consistency ladder) are printed with `--nocapture`.
/// `LADDER_SEARCH_ALONE=1` adds a column for the sequential search alone (no linearizability
/// first; up to 10 s on each of three files).
#[test]
fn sequential_checker_against_linearizability_on_the_shared_histories() {
    if !common::have_shared("sequential_checker_against_linearizability_on_the_shared_histories") {
        return;
    }
    let search_alone = std::env::var_os("LADDER_SEARCH_ALONE").is_some();
    let mut undecided = Vec::new();
    for dir in ["knossos-cas-register/good", "knossos-cas-register/bad", "porcupine-kv"] {
        let (mut lin_total, mut sc_total, mut alone_total) = (Duration::ZERO, Duration::ZERO, Duration::ZERO);
        let mut files_n = 0;
        let mut alone_unknown = 0;
        for path in files(&shared().join(dir)) {
            let loaded = read_history(&path, Format::Auto).unwrap_or_else(|e| panic!("{e}"));
            let model = ModelKind::detect(&loaded.ops).unwrap();
            let mut opts = Options::new(model);
            opts.nil_read_is_unknown = loaded.nil_read_is_unknown;
            opts.init = init_for(&path, loaded.format);
            // One search thread each: the comparison is search against search.
            opts.threads = 1;
            opts.timeout = Some(Duration::from_secs(10));
            let (lin, lin_t) = best_of(5, || check(&loaded.ops, &opts).unwrap());
            let (sc, sc_t) = best_of(5, || ladder::check_sequential(&loaded.ops, &opts).unwrap());
            let name = path.strip_prefix(shared()).unwrap_or(&path).display().to_string();
            if lin.verdict == Verdict::Valid {
                assert_eq!(sc.status, Status::Holds, "{name}: linearizable but not said sequential: {}", sc.reason);
            }
            if sc.status == Status::Unknown {
                undecided.push(name.clone());
            }
            let alone = search_alone.then(|| {
                let mut o = opts.clone();
                o.timeout = Some(Duration::from_secs(10));
                best_of(1, || ladder::check_sequential_search(&loaded.ops, &o).unwrap())
            });
            if let Some((status, t)) = alone {
                alone_total += t;
                alone_unknown += usize::from(status == Status::Unknown);
                if status != Status::Unknown && sc.status != Status::Unknown {
                    assert_eq!(status, sc.status, "{name}: the search alone and the checker disagree");
                }
            }
            files_n += 1;
            lin_total += lin_t;
            sc_total += sc_t;
            if !dir.ends_with("good") {
                println!(
                    "{name:<52} lin {:>8.3} ms ({:?})  sequential {:>8.3} ms ({:?}){}",
                    lin_t.as_secs_f64() * 1e3,
                    lin.verdict,
                    sc_t.as_secs_f64() * 1e3,
                    sc.status,
                    alone
                        .map(|(s, t)| format!("  search alone {:>9.3} ms ({s:?})", t.as_secs_f64() * 1e3))
                        .unwrap_or_default()
                );
            }
        }
        println!(
            "SET {dir}: {files_n} files, linearizability {:.3} ms, sequential checker {:.3} ms, ratio {:.2}x{}",
            lin_total.as_secs_f64() * 1e3,
            sc_total.as_secs_f64() * 1e3,
            sc_total.as_secs_f64() / lin_total.as_secs_f64(),
            if search_alone {
                format!(
                    "; search alone {:.3} ms ({:.1}x), undecided {alone_unknown}",
                    alone_total.as_secs_f64() * 1e3,
                    alone_total.as_secs_f64() / lin_total.as_secs_f64()
                )
            } else {
                String::new()
            }
        );
    }
    println!("sequential checker undecided on {} files: {undecided:?}", undecided.len());
    // Speed is measured, not asserted (the machine is shared); deciding every file is asserted.
    assert!(undecided.is_empty(), "undecided: {undecided:?}");
}

#[test]
fn the_ladder_agrees_with_the_linearizability_checker() {
    if !common::have_shared("the_ladder_agrees_with_the_linearizability_checker") {
        return;
    }
    for dir in ["porcupine-kv", "knossos-cas-register/bad"] {
        for path in files(&shared().join(dir)) {
            let loaded = read_history(&path, Format::Auto).unwrap_or_else(|e| panic!("{e}"));
            let model = ModelKind::detect(&loaded.ops).unwrap();
            let mut opts = Options::new(model);
            opts.nil_read_is_unknown = loaded.nil_read_is_unknown;
            opts.init = init_for(&path, loaded.format);
            let lin = check(&loaded.ops, &opts).unwrap();
            let l = ladder::check(&loaded.ops, &LadderOptions::new(opts)).unwrap();
            assert_eq!(l.verdict, lin.verdict, "{}", path.display());
            let first = l.rung("linearizable").unwrap();
            assert_eq!(first.status == Status::Holds, lin.verdict == Verdict::Valid);
            if lin.verdict == Verdict::Valid {
                assert_eq!(l.rung("sequential").unwrap().status, Status::Holds);
            }
            // Porcupine's kv appends are not register writes.
            for m in ["causal", "causal-memory", "causal-convergence", "read-your-writes"] {
                if dir != "porcupine-kv" {
                    break;
                }
                assert_eq!(l.rung(m).unwrap().status, Status::NotApplicable, "{} {m}", path.display());
            }
        }
    }
}
