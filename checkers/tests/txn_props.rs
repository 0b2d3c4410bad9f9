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

use faultline_checkers::txn::{check, models, parse_txn_history, TxnOptions, Validity, Workload};
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

/// A random rw-register history with invocations: 2-6 transactions on up to 3 processes, their
/// invocations and completions interleaved at random (each process one at a time), reads
/// returning nil or any value written to the key anywhere (so anything goes), some `info` and
/// `fail` completions.
fn register_history(seed: u64) -> String {
    /// A micro-op: (a write?, key, value; 0 for a read of nil).
    type RegMop = (bool, usize, i64);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let n = rng.random_range(2..=6);
    let processes = rng.random_range(1..=3u64);
    let keys = rng.random_range(1..=2);
    let mut next = [1i64; 2];
    let mut txns: Vec<(u64, Vec<RegMop>)> = (0..n)
        .map(|_| {
            let len = rng.random_range(1..=3);
            let mops = (0..len)
                .map(|_| {
                    let k = rng.random_range(0..keys);
                    let write = rng.random_bool(0.5);
                    let v = if write {
                        next[k] += 1;
                        next[k] - 1
                    } else {
                        0
                    };
                    (write, k, v)
                })
                .collect();
            (rng.random_range(0..processes), mops)
        })
        .collect();
    for (_, mops) in txns.iter_mut() {
        for m in mops.iter_mut() {
            if !m.0 {
                let written = next[m.1] - 1;
                m.2 = if written == 0 || rng.random_bool(0.2) { 0 } else { rng.random_range(1..=written) };
            }
        }
    }
    let mop_text = |mops: &[RegMop], invoke: bool| -> String {
        mops.iter()
            .map(|&(w, k, v)| match (w, invoke || v == 0) {
                (true, _) => format!("[:w :{} {v}]", KEYS[k]),
                (false, true) => format!("[:r :{} nil]", KEYS[k]),
                (false, false) => format!("[:r :{} {v}]", KEYS[k]),
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    // Per process, its transactions in order; interleave their events at random.
    let mut queues: Vec<Vec<usize>> = vec![Vec::new(); processes as usize];
    for (t, (p, _)) in txns.iter().enumerate() {
        queues[*p as usize].push(t);
    }
    let mut open: Vec<Option<usize>> = vec![None; processes as usize];
    let mut lines = Vec::new();
    loop {
        let live: Vec<usize> =
            (0..processes as usize).filter(|&p| open[p].is_some() || !queues[p].is_empty()).collect();
        if live.is_empty() {
            break;
        }
        let p = live[rng.random_range(0..live.len())];
        match open[p].take() {
            None => {
                let t = queues[p].remove(0);
                lines
                    .push(format!("{{:process {p}, :type :invoke, :f :txn, :value [{}]}}", mop_text(&txns[t].1, true)));
                open[p] = Some(t);
            }
            Some(t) => {
                let kind = match rng.random_range(0..10) {
                    0 => "fail",
                    1 => "info",
                    _ => "ok",
                };
                let reads_known = kind == "ok";
                lines.push(format!(
                    "{{:process {p}, :type :{kind}, :f :txn, :value [{}]}}",
                    mop_text(&txns[t].1, !reads_known)
                ));
            }
        }
    }
    lines.join("\n")
}

/// What the checker says under serializability with some assumptions: the verdict, the
/// anomaly types (except the one that only says the graph is empty) and the models ruled out
/// (`not` and `also-not`).
struct Said {
    valid: Validity,
    types: Vec<String>,
    ruled_out: Vec<String>,
}

fn anomaly_types(text: &str, assume: [bool; 3]) -> Said {
    let (h, _) = parse_txn_history(text, Some(Workload::RwRegister)).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let mut o = TxnOptions::new(Workload::RwRegister);
    [o.wfr_keys, o.sequential_keys, o.linearizable_keys] = assume;
    o.consistency_models = vec!["serializable".into()];
    let r = check(&h, &o);
    Said {
        valid: r.valid,
        types: r.all_anomaly_types.into_iter().filter(|a| a != "empty-transaction-graph").collect(),
        ruled_out: r.not.into_iter().chain(r.also_not).collect(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1500))]

    /// Assuming more about the version order (writes follow reads, sequential keys, linearizable
    /// keys) only adds dependency edges, so it never makes a history look more consistent: every
    /// model an anomaly found without the assumption rules out is still ruled out with it (the
    /// anomaly is found again, or one that rules out as much), and an invalid history stays
    /// invalid.
    ///
    /// Not "the same anomaly types", for two reasons:
    /// - in each component the kinds implied by one already found there are not searched
    ///   (Elle's design), so a new edge that makes a G-single-item where there was only a
    ///   G-single-item-process leaves the -process one unreported (it rules out nothing more);
    /// - sources are added in a fixed order (writes-follow-reads, sequential, linearizable) and
    ///   one that makes some key's versions cyclic is reported (`cyclic-versions`) and dropped, so
    ///   a new assumption that contradicts the history can push out a later one that was in use,
    ///   with the cycles it showed; cyclic versions rule out every model, so nothing is ruled
    ///   back in.
    #[test]
    fn rw_register_assumptions_never_remove_anomalies(seed in any::<u64>(), base in 0u8..8, more in 1u8..8) {
        let text = register_history(seed);
        let bits = |b: u8| [b & 1 != 0, b & 2 != 0, b & 4 != 0];
        let before = anomaly_types(&text, bits(base));
        let after = anomaly_types(&text, bits(base | more));
        let why = format!("{:?} over {:?}\n{}\nbefore {:?}\nafter {:?}", bits(base | more), bits(base), text, before.types, after.types);
        let ruled_out_after = models::impossible_models(after.types.iter().map(String::as_str));
        for a in &before.types {
            let by_a = models::impossible_models([a.as_str()]);
            prop_assert!(by_a.is_subset(&ruled_out_after), "{} lost with {}", a, why);
        }
        for m in &before.ruled_out {
            prop_assert!(after.ruled_out.contains(m), "{} ruled back in with {}", m, why);
        }
        if before.valid == Validity::False {
            prop_assert_eq!(after.valid, Validity::False, "{}", why);
        }
    }
}

/// The register histories above do show anomalies the assumptions find: not vacuous.
#[test]
fn assumptions_find_more() {
    let (mut gained, mut cyclic) = (0, 0);
    for seed in 0..500 {
        let text = register_history(seed);
        let plain = anomaly_types(&text, [false; 3]).types;
        let all = anomaly_types(&text, [true; 3]).types;
        gained += usize::from(all.len() > plain.len());
        cyclic += usize::from(all.iter().any(|a| a == "cyclic-versions"));
    }
    assert!(gained > 50 && cyclic > 20, "more anomalies in {gained}, cyclic versions in {cyclic}");
}
