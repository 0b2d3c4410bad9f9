//! A few thousand fuzz cases over every reader (the million-case run is `fuzz-readers`, see
//! RELIABILITY.md). Fails on a panic, a hang, an error that does not name its file or line, or a
//! disagreement between the quick and the general register paths.

use std::time::Duration;

#[test]
fn readers_keep_their_promises_on_mutated_inputs() {
    let shared = faultline_fuzz::seeds::shared_dir();
    if !shared.join("histories").exists() {
        println!(
            "partly skipped: readers_keep_their_promises_on_mutated_inputs: no shared histories at {} \
             (set FAULTLINE_SHARED); fuzzing built-in register and key-value seeds instead",
            shared.display()
        );
    }
    let seeds = faultline_fuzz::seeds::all(&shared).expect("seeds");
    let kinds: std::collections::BTreeSet<String> = seeds.iter().map(|s| format!("{:?}", s.kind)).collect();
    assert_eq!(kinds.len(), 7, "every kind of input has seeds: {kinds:?}");
    let work = tempfile::tempdir().unwrap();
    let opts = faultline_fuzz::Options {
        cases: 4_000,
        seed: 20261206,
        case_limit: Duration::from_secs(20),
        work_dir: work.path().to_path_buf(),
    };
    let report = faultline_fuzz::run(&seeds, &opts);
    let listed: Vec<String> = report
        .failures
        .iter()
        .map(|f| format!("case {} {}: {} ({})", f.case, f.target, f.problem, f.input.display()))
        .collect();
    assert!(report.failures.is_empty(), "{} broken promises:\n{}", listed.len(), listed.join("\n"));
    // The mutations must reach past the tokenizers: some inputs read, some are refused.
    assert!(report.accepted > 400 && report.refused > 400, "accepted {} refused {}", report.accepted, report.refused);
}
