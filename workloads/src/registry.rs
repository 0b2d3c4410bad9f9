//! Every workload faultline knows: adding one is a module implementing [`Workload`] and one
//! line in [`all`]. The command line's value lists are derived from it.

use crate::bank::Bank;
use crate::counter::Counter;
use crate::generator::{Generator, GeneratorOptions};
use crate::register::Register;
use crate::set::Set;
use crate::txn::{Txn, TxnKind};
use crate::unique_ids::UniqueIds;
use crate::workload::{Flag, Shape, Workload};
use anyhow::{bail, Result};

/// The workload `faultline test` runs unless told otherwise.
pub const DEFAULT: &str = crate::register::NAME;

/// Every workload, in the order help texts list them.
pub fn all() -> &'static [&'static dyn Workload] {
    &[&Register, &Set, &Counter, &Txn(TxnKind::ListAppend), &Txn(TxnKind::RwRegister), &Bank, &UniqueIds]
}

/// The names `--workload` accepts.
pub fn names() -> Vec<&'static str> {
    all().iter().map(|w| w.name()).collect()
}

/// The names of the workloads of these shapes (what a database adapter's client runs, for its
/// errors).
pub fn names_with_shape(shapes: &[Shape]) -> Vec<&'static str> {
    all().iter().filter(|w| shapes.contains(&w.shape())).map(|w| w.name()).collect()
}

/// The workload called `name` (case-insensitive, surrounding blanks ignored); the error lists
/// the valid names.
pub fn by_name(name: &str) -> Result<&'static dyn Workload> {
    let wanted = name.trim().to_ascii_lowercase();
    match all().iter().find(|w| w.name() == wanted) {
        Some(w) => Ok(*w),
        None => bail!("unknown workload {name:?}; valid workloads are: {}", names().join(", ")),
    }
}

/// The workloads a flag applies to, in words: "the register workload", "list-append and
/// rw-register".
pub fn applies_to(flag: Flag) -> String {
    let names: Vec<&str> = all().iter().filter(|w| w.flags().contains(&flag)).map(|w| w.name()).collect();
    match names.as_slice() {
        [one] => format!("the {one} workload"),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
        [] => "no workload".into(),
    }
}

/// The generator of `workload` with these options.
pub fn generator(workload: &dyn Workload, opts: GeneratorOptions) -> Generator {
    Generator::new(opts, |o| workload.ops(o))
}

/// The generator of the workload called `name` (see [`by_name`]).
pub fn new_generator(name: &str, opts: GeneratorOptions) -> Result<Generator> {
    Ok(generator(by_name(name)?, opts))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::Invocation;
    use serde_json::Value;

    /// The key of the register generator `g` for `worker`'s `seq`-th op, read off the op itself.
    fn register_key(g: &Generator, worker: usize, seq: u64) -> u64 {
        g.op_at(worker, seq).key.and_then(|k| k.as_u64()).expect("register ops have integer keys")
    }
    use std::collections::{HashMap, HashSet};

    fn opts(seed: u64, concurrency: usize) -> GeneratorOptions {
        GeneratorOptions { seed, concurrency, ..GeneratorOptions::default() }
    }

    fn stream(g: &Generator, worker: usize, n: usize) -> Vec<Invocation> {
        (0..n).map(|_| g.next(worker).unwrap()).collect()
    }

    #[test]
    fn by_name_accepts_known_names_and_lists_them_on_error() {
        assert_eq!(by_name("register").unwrap().name(), "register");
        assert_eq!(by_name(" Set ").unwrap().name(), "set");
        assert_eq!(by_name("counter").unwrap().name(), "counter");
        let err = by_name("queue").unwrap_err().to_string();
        assert!(err.contains("\"queue\"") && err.contains("register, set, counter, list-append"), "{err}");
    }

    #[test]
    fn flags_name_the_workloads_they_apply_to() {
        assert_eq!(applies_to(Flag::UniqueWrites), "the register workload");
        assert_eq!(applies_to(Flag::ConsistencyModels), "list-append and rw-register");
    }

    #[test]
    fn same_seed_same_stream_regardless_of_interleaving() {
        for kind in names() {
            let a = new_generator(kind, opts(7, 4)).unwrap();
            let b = new_generator(kind, opts(7, 4)).unwrap();
            // a: workers one after the other; b: round robin, in reverse worker order.
            let a_streams: Vec<_> = (0..4).map(|w| stream(&a, w, 300)).collect();
            let mut b_streams = vec![Vec::new(); 4];
            for _ in 0..300 {
                for w in (0..4).rev() {
                    b_streams[w].push(b.next(w).unwrap());
                }
            }
            assert_eq!(a_streams, b_streams, "{kind}");
        }
    }

    #[test]
    fn different_seeds_differ() {
        let a = new_generator("register", opts(1, 4)).unwrap();
        let b = new_generator("register", opts(2, 4)).unwrap();
        assert_ne!(stream(&a, 3, 50), stream(&b, 3, 50));
        let a = new_generator("counter", opts(1, 4)).unwrap();
        let b = new_generator("counter", opts(2, 4)).unwrap();
        assert_ne!(stream(&a, 0, 50), stream(&b, 0, 50));
    }

    #[test]
    fn register_keys_roll_over_after_ops_per_key() {
        let o = GeneratorOptions { ops_per_key: 20, threads_per_key: 4, reserved_reads: 1, ..opts(3, 8) };
        let g = new_generator("register", o).unwrap();
        let mut per_key: HashMap<u64, (usize, HashSet<usize>)> = HashMap::new();
        for _ in 0..100 {
            for w in 0..8 {
                let op = g.next(w).unwrap();
                let key = op.key.as_ref().and_then(Value::as_u64).expect("integer key");
                let entry = per_key.entry(key).or_default();
                entry.0 += 1;
                entry.1.insert(w);
            }
        }
        // 2 groups of 4 workers, 5 ops per worker per key: 20 ops and 4 workers on every key.
        assert_eq!(per_key.len(), 800 / 20);
        for (key, (count, workers)) in &per_key {
            assert_eq!(*count, 20, "key {key}");
            assert_eq!(workers.len(), 4, "key {key}");
        }
        // Groups use disjoint keys: even keys for workers 0..4, odd keys for 4..8.
        assert!(register_key(&g, 0, 0) == 0 && register_key(&g, 4, 0) == 1 && register_key(&g, 3, 5) == 2);
    }

    #[test]
    fn register_never_exceeds_ops_per_key_when_concurrency_is_large() {
        let o = GeneratorOptions { ops_per_key: 3, threads_per_key: 10, ..opts(0, 10) };
        let g = new_generator("register", o).unwrap();
        let mut counts: HashMap<u64, u64> = HashMap::new();
        for w in 0..10 {
            for op in stream(&g, w, 30) {
                *counts.entry(op.key.unwrap().as_u64().unwrap()).or_default() += 1;
            }
        }
        assert!(counts.values().all(|&c| c <= 3), "{counts:?}");
    }

    #[test]
    fn reserved_readers_only_read_and_others_mix() {
        let o = GeneratorOptions { reserved_reads: 2, threads_per_key: 5, ..opts(11, 10) };
        let g = new_generator("register", o).unwrap();
        for w in 0..10 {
            let fs: HashSet<String> = stream(&g, w, 200).into_iter().map(|op| op.f).collect();
            if w % 5 < 2 {
                assert_eq!(fs, HashSet::from(["read".to_string()]), "worker {w}");
            } else {
                assert_eq!(fs.len(), 3, "worker {w}: {fs:?}");
            }
        }
    }

    #[test]
    fn reserved_readers_leave_one_writer_per_group() {
        let o = GeneratorOptions { reserved_reads: 99, threads_per_key: 3, ..opts(0, 3) };
        let g = new_generator("register", o).unwrap();
        assert!(stream(&g, 2, 50).iter().any(|op| op.f != "read"));
    }

    #[test]
    fn register_values_are_small_integers() {
        let g = new_generator("register", GeneratorOptions { reserved_reads: 0, ..opts(5, 2) }).unwrap();
        for op in stream(&g, 1, 500) {
            match op.f.as_str() {
                "read" => assert!(op.value.is_null()),
                "write" => assert!((0..5).contains(&op.value.as_i64().unwrap())),
                "cas" => {
                    let pair = op.value.as_array().unwrap();
                    assert_eq!(pair.len(), 2);
                    assert!(pair.iter().all(|v| (0..5).contains(&v.as_i64().unwrap())));
                }
                other => panic!("unexpected f {other}"),
            }
        }
    }

    #[test]
    fn unique_writes_never_repeat_a_value_and_cas_expects_one_written_before() {
        let o = GeneratorOptions { reserved_reads: 0, unique_writes: true, threads_per_key: 3, ..opts(9, 6) };
        let g = new_generator("register", o).unwrap();
        let mut written = HashSet::new();
        let mut expected = Vec::new();
        for w in 0..6 {
            for op in stream(&g, w, 300) {
                let new = match op.f.as_str() {
                    "read" => continue,
                    "write" => op.value.as_i64().unwrap(),
                    _ => {
                        expected.push(op.value[0].as_i64().unwrap());
                        op.value[1].as_i64().unwrap()
                    }
                };
                assert!(new >= 5, "a unique value is never one of 0..5 (the usual values): {new}");
                assert!(written.insert(new), "value {new} written twice");
            }
        }
        let plausible = expected.iter().filter(|v| written.contains(v)).count();
        assert!(
            plausible * 2 > expected.len(),
            "most cas expect a value some op writes: {plausible}/{}",
            expected.len()
        );
    }

    #[test]
    fn set_elements_are_unique_and_reads_are_periodic() {
        let g = new_generator("set", opts(0, 3)).unwrap();
        let mut seen = HashSet::new();
        for w in 0..3 {
            let ops = stream(&g, w, 100);
            let reads = ops.iter().filter(|op| op.f == "read").count();
            assert_eq!(reads, 10, "worker {w}");
            for op in ops.iter().filter(|op| op.f == "add") {
                assert!(seen.insert(op.value.as_u64().unwrap()), "duplicate element {}", op.value);
            }
        }
        assert_eq!(seen.len(), 270);
        assert_eq!(g.final_read().unwrap().f, "final-read");
    }

    #[test]
    fn counter_adds_small_positive_integers() {
        let g = new_generator("counter", opts(9, 1)).unwrap();
        let ops = stream(&g, 0, 500);
        assert!(ops.iter().any(|op| op.f == "read"));
        for op in ops.iter().filter(|op| op.f == "add") {
            assert!((1..=5).contains(&op.value.as_i64().unwrap()));
        }
        assert!(new_generator("register", opts(0, 1)).unwrap().final_read().is_none());
    }

    #[test]
    fn limit_and_worker_range_end_the_stream() {
        let g = new_generator("counter", GeneratorOptions { limit: Some(5), ..opts(0, 2) }).unwrap();
        assert!(g.next(2).is_none(), "worker 2 is out of range for concurrency 2");
        let handed_out = (0..10).filter(|i| g.next(i % 2).is_some()).count();
        assert_eq!(handed_out, 5);
    }

    #[test]
    fn concurrent_next_is_consistent() {
        let g = std::sync::Arc::new(new_generator("register", opts(42, 8)).unwrap());
        let handles: Vec<_> = (0..8)
            .map(|w| {
                let g = g.clone();
                std::thread::spawn(move || stream(&g, w, 1000))
            })
            .collect();
        for (w, h) in handles.into_iter().enumerate() {
            let got = h.join().unwrap();
            let expected: Vec<_> = (0..1000).map(|i| g.op_at(w, i)).collect();
            assert_eq!(got, expected);
        }
    }
}
