//! The transactional checker against brute force, on small random list-append histories.
//!
//! Each history is made by running a few transactions in a random serial order (so every read is
//! what that order gives), then sometimes corrupting it: a read replaced by another prefix of
//! its key's final list (stale, or from the future), or a transaction marked failed although
//! others read its appends. The brute force tries every order of the committed transactions,
//! executing them one after another; the history is serializable when one order explains every
//! read exactly. The checker, asked for serializability, must report an anomaly exactly when no
//! order does. (It may say unknown when the dependency graph is empty: that is no anomaly.)
//!
//! rw-register inference is partial by design (a register's version order is not visible), so
//! there only soundness is checked: an anomaly reported means no serial order exists.

use faultline_checkers::txn::{check, parse_txn_history, TxnOptions, Validity, Workload};
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

#[derive(Debug, Clone)]
enum M {
    Append(usize, i64),
    Read(usize, Vec<i64>),
    Write(usize, i64),
    ReadReg(usize, Option<i64>),
}

#[derive(Debug, Clone)]
struct T {
    mops: Vec<M>,
    failed: bool,
}

const KEYS: [&str; 3] = ["x", "y", "z"];

/// A random history, as described in the module doc.
fn generate(seed: u64, register: bool) -> Vec<T> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let n = rng.random_range(2..=5);
    let keys = rng.random_range(1..=3);
    let mut next = [1i64; 3];
    let mut txns: Vec<T> = (0..n)
        .map(|_| {
            let len = rng.random_range(1..=3);
            let mops = (0..len)
                .map(|_| {
                    let k = rng.random_range(0..keys);
                    if rng.random_bool(0.5) {
                        let v = next[k];
                        next[k] += 1;
                        if register {
                            M::Write(k, v)
                        } else {
                            M::Append(k, v)
                        }
                    } else if register {
                        M::ReadReg(k, None)
                    } else {
                        M::Read(k, vec![])
                    }
                })
                .collect();
            T { mops, failed: false }
        })
        .collect();
    // Run them in a random order.
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        order.swap(i, rng.random_range(0..=i));
    }
    let mut state: [Vec<i64>; 3] = Default::default();
    for &t in &order {
        for m in txns[t].mops.iter_mut() {
            match m {
                M::Append(k, v) | M::Write(k, v) => state[*k].push(*v),
                M::Read(k, r) => *r = state[*k].clone(),
                M::ReadReg(k, r) => *r = state[*k].last().copied(),
            }
        }
    }
    // Corrupt it, sometimes.
    if rng.random_bool(0.5) {
        let reads: Vec<(usize, usize)> = txns
            .iter()
            .enumerate()
            .flat_map(|(t, x)| {
                x.mops
                    .iter()
                    .enumerate()
                    .filter(|(_, m)| matches!(m, M::Read(..) | M::ReadReg(..)))
                    .map(move |(i, _)| (t, i))
            })
            .collect();
        if !reads.is_empty() {
            let (t, i) = reads[rng.random_range(0..reads.len())];
            match &mut txns[t].mops[i] {
                M::Read(k, r) => *r = state[*k][..rng.random_range(0..=state[*k].len())].to_vec(),
                M::ReadReg(k, r) => {
                    let all = &state[*k];
                    *r = if all.is_empty() || rng.random_bool(0.2) {
                        None
                    } else {
                        Some(all[rng.random_range(0..all.len())])
                    }
                }
                _ => {}
            }
        }
    }
    if rng.random_bool(0.15) {
        let t = rng.random_range(0..n);
        txns[t].failed = true;
    }
    txns
}

fn edn(txns: &[T]) -> String {
    txns.iter()
        .map(|t| {
            let mops: Vec<String> = t
                .mops
                .iter()
                .map(|m| match m {
                    M::Append(k, v) => format!("[:append :{} {v}]", KEYS[*k]),
                    M::Write(k, v) => format!("[:w :{} {v}]", KEYS[*k]),
                    M::Read(k, r) => {
                        format!(
                            "[:r :{} [{}]]",
                            KEYS[*k],
                            r.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(" ")
                        )
                    }
                    M::ReadReg(k, r) => format!("[:r :{} {}]", KEYS[*k], r.map_or("nil".into(), |v| v.to_string())),
                })
                .collect();
            format!(
                "{{:process 0, :type :{}, :f :txn, :value [{}]}}",
                if t.failed { "fail" } else { "ok" },
                mops.join(" ")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Whether some order of the committed transactions explains every read.
fn serializable(txns: &[T]) -> bool {
    let committed: Vec<&T> = txns.iter().filter(|t| !t.failed).collect();
    let mut idx: Vec<usize> = (0..committed.len()).collect();
    permutations(&mut idx, 0, &mut |order| {
        let mut state: [Vec<i64>; 3] = Default::default();
        order.iter().all(|&t| {
            committed[t].mops.iter().all(|m| match m {
                M::Append(k, v) | M::Write(k, v) => {
                    state[*k].push(*v);
                    true
                }
                M::Read(k, r) => state[*k] == *r,
                M::ReadReg(k, r) => state[*k].last().copied() == *r,
            })
        })
    })
}

/// Whether `f` holds for some permutation of `xs[at..]` (Heap-style swaps).
fn permutations(xs: &mut Vec<usize>, at: usize, f: &mut impl FnMut(&[usize]) -> bool) -> bool {
    if at == xs.len() {
        return f(xs);
    }
    for i in at..xs.len() {
        xs.swap(at, i);
        if permutations(xs, at + 1, f) {
            xs.swap(at, i);
            return true;
        }
        xs.swap(at, i);
    }
    false
}

fn verdict(text: &str, workload: Workload) -> (Validity, Vec<String>) {
    let (h, _) = parse_txn_history(text, Some(workload)).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let mut o = TxnOptions::new(workload);
    o.consistency_models = vec!["serializable".into()];
    let r = check(&h, &o);
    (r.valid, r.anomaly_types)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn list_append_agrees_with_brute_force(seed in any::<u64>()) {
        let txns = generate(seed, false);
        let text = edn(&txns);
        let brute = serializable(&txns);
        let (valid, types) = verdict(&text, Workload::ListAppend);
        prop_assert_eq!(valid != Validity::False, brute, "history:\n{}\nchecker: {:?} {:?}", text, valid, types);
    }

    #[test]
    fn rw_register_anomalies_are_real(seed in any::<u64>()) {
        let txns = generate(seed, true);
        let text = edn(&txns);
        let (valid, types) = verdict(&text, Workload::RwRegister);
        if valid == Validity::False {
            prop_assert!(!serializable(&txns), "history:\n{}\nchecker: {:?}", text, types);
        }
    }
}

/// The generator makes both kinds: the property is not vacuous.
#[test]
fn both_verdicts_occur() {
    let (mut yes, mut no) = (0, 0);
    for seed in 0..400 {
        if serializable(&generate(seed, false)) {
            yes += 1;
        } else {
            no += 1;
        }
    }
    assert!(yes > 50 && no > 50, "serializable {yes}, not {no}");
}
