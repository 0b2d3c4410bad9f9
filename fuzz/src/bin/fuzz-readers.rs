//! The long fuzzing run (RELIABILITY.md): `fuzz-readers [CASES] [SEED]`, default 1,000,000 cases.
//! Prints the figures; exits 1 when any case broke a promise, listing the saved inputs.

use std::time::{Duration, Instant};

fn main() {
    let mut args = std::env::args().skip(1);
    let cases: u64 = args.next().map(|a| a.replace('_', "").parse().expect("CASES: a number")).unwrap_or(1_000_000);
    let seed: u64 = args.next().map(|a| a.parse().expect("SEED: a number")).unwrap_or(1);
    let seeds = faultline_fuzz::seeds::all(&faultline_fuzz::seeds::shared_dir()).unwrap_or_else(|e| {
        eprintln!("fuzz-readers: {e}");
        std::process::exit(2)
    });
    let opts = faultline_fuzz::Options {
        cases,
        seed,
        case_limit: Duration::from_secs(20),
        work_dir: std::env::temp_dir().join(format!("faultline-fuzz-{}", std::process::id())),
    };
    let started = Instant::now();
    let report = faultline_fuzz::run(&seeds, &opts);
    let elapsed = started.elapsed().as_secs_f64();
    println!("fuzz-readers: {} seeds, seed {seed}", seeds.len());
    println!("  cases              {}", report.cases);
    println!("  reader calls       {}", report.calls);
    println!("  accepted           {}", report.accepted);
    println!("  refused (clean)    {}", report.refused);
    println!("  broken promises    {}", report.failures.len());
    println!("  slowest case       {:.1} ms", report.slowest.as_secs_f64() * 1e3);
    println!("  wall time          {elapsed:.0} s ({:.0} cases/s)", report.cases as f64 / elapsed);
    for f in report.failures.iter().take(20) {
        println!("  case {} {}: {} ({})", f.case, f.target, f.problem, f.input.display());
    }
    if report.failures.is_empty() {
        let _ = std::fs::remove_dir_all(&opts.work_dir);
    } else {
        std::process::exit(1);
    }
}
