//! A mutation fuzzer for every reader of user input, on stable Rust.
//!
//! Each case takes a valid seed input (the shared Jepsen/Knossos/Porcupine histories, faultline's
//! own JSON Lines, transactional histories, nemesis schedules), mutates it (`mutate`), writes it to
//! a file and hands it to the readers that take that kind of input (`targets`). A case fails when
//! a reader panics, runs longer than the time bound, returns an error that does not name the file
//! (or names a line the file does not have), or when the quick register path and the general path
//! both answer and disagree. Failing inputs are saved so they can be replayed.
//!
//! The suite runs a few thousand cases (`tests/readers.rs`); the benchmark binary
//! `fuzz-readers` runs a million (RELIABILITY.md has the command and the figures).

pub mod mutate;
pub mod seeds;
pub mod targets;

use rand::{Rng, SeedableRng};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use seeds::{Kind, Seed};

/// What a run of the fuzzer found.
#[derive(Debug, Default)]
pub struct Report {
    pub cases: u64,
    /// Reader calls (a case calls every reader of its kind).
    pub calls: u64,
    /// Calls whose input was read (or checked) successfully.
    pub accepted: u64,
    /// Calls whose input was refused with a well-formed error.
    pub refused: u64,
    /// The slowest single case.
    pub slowest: Duration,
    pub failures: Vec<Failure>,
}

/// A case that broke a promise.
#[derive(Debug)]
pub struct Failure {
    pub case: u64,
    pub target: &'static str,
    pub problem: String,
    /// Where the failing input was saved.
    pub input: PathBuf,
}

/// How to run.
pub struct Options {
    pub cases: u64,
    pub seed: u64,
    /// A case that runs longer than this aborts the process (after saving its input): a hang.
    pub case_limit: Duration,
    /// Where inputs are written and failing ones saved.
    pub work_dir: PathBuf,
}

/// Run `opts.cases` cases over `seeds`.
pub fn run(seeds: &[Seed], opts: &Options) -> Report {
    assert!(!seeds.is_empty(), "no seeds");
    std::fs::create_dir_all(&opts.work_dir).expect("create the fuzz work directory");
    let donors: Vec<&[u8]> = seeds.iter().map(|s| s.bytes.as_slice()).collect();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(opts.seed);
    let watchdog = Watchdog::start(opts.case_limit);
    let previous_hook = std::panic::take_hook();
    // Panics are counted as failures; their default message would only flood the output.
    std::panic::set_hook(Box::new(|_| {}));
    let mut report = Report::default();
    for case in 0..opts.cases {
        let seed = &seeds[rng.random_range(0..seeds.len())];
        let input = mutate::mutate(&seed.bytes, &donors, &mut rng);
        let path = opts.work_dir.join(format!("case.{}", seed.kind.extension()));
        std::fs::write(&path, &input).expect("write the fuzz case");
        let started = Instant::now();
        watchdog.arm(&path, case);
        for target in targets::for_kind(seed.kind) {
            report.calls += 1;
            let outcome = std::panic::catch_unwind(|| (target.run)(&path, &input));
            let problem = match outcome {
                Ok(Ok(targets::Read::Accepted)) => {
                    report.accepted += 1;
                    None
                }
                Ok(Ok(targets::Read::Refused)) => {
                    report.refused += 1;
                    None
                }
                Ok(Err(problem)) => Some(problem),
                Err(panic) => Some(format!("panicked: {}", panic_message(&panic))),
            };
            if let Some(problem) = problem {
                let saved = save_failure(&opts.work_dir, case, target.name, &input);
                report.failures.push(Failure { case, target: target.name, problem, input: saved });
            }
        }
        watchdog.disarm();
        report.slowest = report.slowest.max(started.elapsed());
        report.cases += 1;
    }
    std::panic::set_hook(previous_hook);
    report
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "(no message)".into())
}

fn save_failure(dir: &Path, case: u64, target: &str, input: &[u8]) -> PathBuf {
    let path = dir.join(format!("failure-{case}-{target}.bin"));
    let _ = std::fs::write(&path, input);
    path
}

/// Aborts the process when one case runs past the limit: a hang must not pass as a slow test.
struct Watchdog {
    current: Arc<Mutex<Option<(Instant, PathBuf, u64)>>>,
}

impl Watchdog {
    fn start(limit: Duration) -> Watchdog {
        let current: Arc<Mutex<Option<(Instant, PathBuf, u64)>>> = Arc::default();
        // The thread watches through a weak reference, so it ends when the fuzzer drops the watchdog.
        let watched = Arc::downgrade(&current);
        std::thread::spawn(move || {
            while let Some(watched) = watched.upgrade() {
                if let Some((since, path, case)) = &*watched.lock().unwrap() {
                    if since.elapsed() > limit {
                        let kept = path.with_extension("hang");
                        let _ = std::fs::copy(path, &kept);
                        eprintln!(
                            "fuzz: case {case} ran longer than {limit:?}: a hang; its input is {}",
                            kept.display()
                        );
                        std::process::abort();
                    }
                }
                drop(watched);
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        Watchdog { current }
    }

    fn arm(&self, path: &Path, case: u64) {
        *self.current.lock().unwrap() = Some((Instant::now(), path.to_path_buf(), case));
    }

    fn disarm(&self) {
        *self.current.lock().unwrap() = None;
    }
}
