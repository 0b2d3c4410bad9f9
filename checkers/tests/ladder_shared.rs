//! The consistency ladder on the shared histories (`$FAULTLINE_SHARED/histories`, else `shared/`
//! beside the checkout):
//! - the sequential-consistency search, run on its own (no shortcut through linearizability),
//!   must never call a linearizable history inconsistent (linearizable implies sequential); its
//!   time against the linearizability search's is printed (`--nocapture`);
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

#[test]
fn sequential_search_never_breaks_a_linearizable_history_and_its_time_is_printed() {
    let (mut lin_total, mut sc_total) = (Duration::ZERO, Duration::ZERO);
    let mut rows = Vec::new();
    let mut unknown = 0;
    for dir in ["porcupine-kv", "knossos-cas-register/good", "knossos-cas-register/bad"] {
        for path in files(&shared().join(dir)) {
            let loaded = read_history(&path, Format::Auto).unwrap_or_else(|e| panic!("{e}"));
            let model = ModelKind::detect(&loaded.ops).unwrap();
            let mut opts = Options::new(model);
            opts.nil_read_is_unknown = loaded.nil_read_is_unknown;
            opts.init = init_for(&path, loaded.format);
            // One search thread each: the comparison is search against search.
            opts.threads = 1;
            opts.timeout = Some(Duration::from_secs(10));
            let (lin, lin_t) = best_of(3, || check(&loaded.ops, &opts).unwrap());
            let (sc, sc_t) = best_of(3, || ladder::check_sequential(&loaded.ops, &opts).unwrap());
            if lin.verdict == Verdict::Valid {
                assert_ne!(sc, Status::Broken, "{}: linearizable but said not sequential", path.display());
            }
            if sc == Status::Unknown {
                unknown += 1;
            }
            lin_total += lin_t;
            sc_total += sc_t;
            rows.push(format!(
                "{:<45} lin {:>9.3} ms ({:?})  sc {:>9.3} ms ({:?})",
                path.strip_prefix(shared()).unwrap_or(&path).display().to_string(),
                lin_t.as_secs_f64() * 1e3,
                lin.verdict,
                sc_t.as_secs_f64() * 1e3,
                sc
            ));
        }
    }
    for r in &rows {
        println!("{r}");
    }
    println!(
        "total: linearizability {:.1} ms, sequential {:.1} ms ({:.2}x)",
        lin_total.as_secs_f64() * 1e3,
        sc_total.as_secs_f64() * 1e3,
        sc_total.as_secs_f64() / lin_total.as_secs_f64()
    );
    println!("sequential undecided on {unknown} files");
    // The target (at most 2x the linearizability search) is not met by the search on
    // its own (BENCHMARKS.md, Consistency ladder, has the figures): without real time to cut the
    // orders, proving that no order exists on Porcupine's c10-bad, or that one exists for the
    // whole of a multi-key history, runs out of its budget. Only soundness is asserted here.
    let _ = (lin_total, sc_total);
}

#[test]
fn the_ladder_agrees_with_the_linearizability_checker() {
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
