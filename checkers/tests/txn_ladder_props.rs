//! Every model of the transactional ladder against brute force, on small list-append histories
//! with process and realtime order.
//!
//! Each history is a few transactions on up to three processes, their invocations and
//! completions interleaved at random (each process one transaction at a time). Their reads are
//! what one serial order gives (random, or one that respects realtime), sometimes corrupted (a
//! read replaced by another prefix of its key's list); a few transactions fail. A final read of
//! every key, invoked after everything else completed, observes every append, so the version
//! order of every key is known.
//!
//! Two brute forces, each written from the definitions and sharing no code with the checker:
//! - **Serial orders.** A history is serializable when some order of its committed transactions,
//!   executed one after another, gives every read exactly; strong-session serializable when some
//!   such order also keeps each process's order; strict serializable when it keeps realtime
//!   order (a transaction that completed before another was invoked comes first). The checker's
//!   ladder must say "no" for each of these exactly when no such order exists.
//! - **Cycles.** The dependency graph is built from the definitions (ww between consecutive
//!   appends of a key, wr from the writer of a read's last element, rw from a reader to the
//!   writer of the element after its read's last), with process order and realtime order, and
//!   every relation between a pair kept. Every simple cycle, with every choice of relation per
//!   step, is classified by Adya's definitions as Elle names them (G0, G1c, G-single-item,
//!   G-nonadjacent-item, G2-item, each plain, -process or -realtime). The models those cycles
//!   (and the anomalies the checker finds without cycles) rule out, by Elle's model table, must
//!   be exactly the ladder's "no" rungs: all fifteen, the strong-session and strong ones
//!   included.
//!
//! A checker that keeps one relation per pair (an rw edge hiding a realtime edge between the
//! same two transactions) fails both.

use faultline_checkers::txn::{check, models, parse_txn_history, TxnOptions, TxnResult, Workload, LADDER};
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeSet;

const KEYS: [&str; 3] = ["x", "y", "z"];

#[derive(Debug, Clone)]
enum M {
    Append(usize, i64),
    Read(usize, Vec<i64>),
}

#[derive(Debug, Clone)]
struct T {
    process: usize,
    mops: Vec<M>,
    failed: bool,
    /// Positions of the invocation and completion in the event order.
    invoked: usize,
    completed: usize,
}

/// A random history, as the module doc says. The last transaction is the final read.
fn generate(seed: u64) -> Vec<T> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let n = rng.random_range(2..=5);
    let keys = rng.random_range(1..=3);
    let processes = rng.random_range(1..=3);
    let mut next = [1i64; 3];
    let mut txns: Vec<T> = (0..n)
        .map(|_| {
            let len = rng.random_range(1..=3);
            let mops = (0..len)
                .map(|_| {
                    let k = rng.random_range(0..keys);
                    if rng.random_bool(0.5) {
                        next[k] += 1;
                        M::Append(k, next[k] - 1)
                    } else {
                        M::Read(k, vec![])
                    }
                })
                .collect();
            T { process: rng.random_range(0..processes), mops, failed: false, invoked: 0, completed: 0 }
        })
        .collect();
    // Interleave: each process runs its transactions one at a time, in their order.
    let mut queues: Vec<Vec<usize>> = vec![Vec::new(); processes];
    for (t, x) in txns.iter().enumerate() {
        queues[x.process].push(t);
    }
    let mut open: Vec<Option<usize>> = vec![None; processes];
    let mut at = 0;
    loop {
        let live: Vec<usize> = (0..processes).filter(|&p| open[p].is_some() || !queues[p].is_empty()).collect();
        if live.is_empty() {
            break;
        }
        let p = live[rng.random_range(0..live.len())];
        match open[p].take() {
            None => {
                let t = queues[p].remove(0);
                txns[t].invoked = at;
                open[p] = Some(t);
            }
            Some(t) => txns[t].completed = at,
        }
        at += 1;
    }
    // The serial order the reads come from: any, or one inside the intervals (realtime kept).
    let mut order: Vec<usize> = (0..n).collect();
    if rng.random_bool(0.5) {
        for i in (1..n).rev() {
            order.swap(i, rng.random_range(0..=i));
        }
    } else {
        let points: Vec<f64> =
            txns.iter().map(|t| t.invoked as f64 + rng.random::<f64>() * (t.completed - t.invoked) as f64).collect();
        order.sort_by(|&a, &b| points[a].total_cmp(&points[b]));
    }
    let mut state: [Vec<i64>; 3] = Default::default();
    for &t in &order {
        for m in txns[t].mops.iter_mut() {
            match m {
                M::Append(k, v) => state[*k].push(*v),
                M::Read(k, r) => *r = state[*k].clone(),
            }
        }
    }
    if rng.random_bool(0.5) {
        let reads: Vec<(usize, usize)> = (0..n)
            .flat_map(|t| (0..txns[t].mops.len()).map(move |i| (t, i)))
            .filter(|&(t, i)| matches!(txns[t].mops[i], M::Read(..)))
            .collect();
        if !reads.is_empty() {
            let (t, i) = reads[rng.random_range(0..reads.len())];
            if let M::Read(k, r) = &mut txns[t].mops[i] {
                *r = state[*k][..rng.random_range(0..=state[*k].len())].to_vec();
            }
        }
    }
    if rng.random_bool(0.1) {
        let t = rng.random_range(0..n);
        txns[t].failed = true;
    }
    txns.push(T {
        process: processes,
        mops: (0..keys).map(|k| M::Read(k, state[k].clone())).collect(),
        failed: false,
        invoked: at,
        completed: at + 1,
    });
    txns
}

/// The history as Jepsen EDN: invocations (reads nil) and completions in event order.
fn edn(txns: &[T]) -> String {
    let mops = |t: &T, invoke: bool| -> String {
        t.mops
            .iter()
            .map(|m| match m {
                M::Append(k, v) => format!("[:append :{} {v}]", KEYS[*k]),
                M::Read(k, _) if invoke => format!("[:r :{} nil]", KEYS[*k]),
                M::Read(k, r) => {
                    format!("[:r :{} [{}]]", KEYS[*k], r.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(" "))
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut events: Vec<(usize, String)> = Vec::new();
    for t in txns {
        events.push((
            t.invoked,
            format!("{{:process {}, :type :invoke, :f :txn, :value [{}]}}", t.process, mops(t, true)),
        ));
        let kind = if t.failed { "fail" } else { "ok" };
        events.push((
            t.completed,
            format!("{{:process {}, :type :{kind}, :f :txn, :value [{}]}}", t.process, mops(t, t.failed)),
        ));
    }
    events.sort_by_key(|e| e.0);
    events.into_iter().map(|e| e.1).collect::<Vec<_>>().join("\n")
}

/// Whether `a` must precede `b` under the order a model adds: none, process or realtime.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Order {
    None,
    Process,
    Realtime,
}

fn precedes(order: Order, a: &T, b: &T) -> bool {
    match order {
        Order::None => false,
        Order::Process => a.process == b.process && a.completed < b.invoked,
        Order::Realtime => a.completed < b.invoked,
    }
}

/// Whether some order of the committed transactions that keeps `order` explains every read.
fn serial_order_exists(txns: &[T], order: Order) -> bool {
    let committed: Vec<&T> = txns.iter().filter(|t| !t.failed).collect();
    let mut placed = vec![false; committed.len()];
    let mut state: [Vec<i64>; 3] = Default::default();
    search(&committed, order, &mut placed, &mut state)
}

/// Depth-first over orders: place any unplaced transaction whose predecessors are all placed
/// and whose reads match the state, then the rest.
fn search(c: &[&T], order: Order, placed: &mut Vec<bool>, state: &mut [Vec<i64>; 3]) -> bool {
    if placed.iter().all(|&p| p) {
        return true;
    }
    for t in 0..c.len() {
        if placed[t] || (0..c.len()).any(|u| !placed[u] && u != t && precedes(order, c[u], c[t])) {
            continue;
        }
        let saved = state.clone();
        let fits = c[t].mops.iter().all(|m| match m {
            M::Append(k, v) => {
                state[*k].push(*v);
                true
            }
            M::Read(k, r) => state[*k] == *r,
        });
        if fits {
            placed[t] = true;
            if search(c, order, placed, state) {
                return true;
            }
            placed[t] = false;
        }
        *state = saved;
    }
    false
}

// Relations, as the definitions name them.
const WW: u8 = 1;
const WR: u8 = 2;
const RW: u8 = 4;
const PROCESS: u8 = 8;
const REALTIME: u8 = 16;

/// The dependency graph with process and realtime order: a set of relations per ordered pair
/// of committed transactions.
fn graph(txns: &[T]) -> Vec<Vec<u8>> {
    let n = txns.len();
    let mut g = vec![vec![0u8; n]; n];
    let final_read = &txns[n - 1];
    let mut writer = std::collections::HashMap::new();
    for (t, x) in txns.iter().enumerate() {
        for m in &x.mops {
            if let M::Append(k, v) = m {
                writer.insert((*k, *v), t);
            }
        }
    }
    // Each key's version order: the final read, which saw every append.
    let version = |k: usize| -> &[i64] {
        final_read
            .mops
            .iter()
            .find_map(|m| match m {
                M::Read(kk, r) if *kk == k => Some(r.as_slice()),
                _ => None,
            })
            .unwrap_or(&[])
    };
    let mut add = |a: usize, b: usize, r: u8| {
        if a != b && !txns[a].failed && !txns[b].failed {
            g[a][b] |= r;
        }
    };
    for k in 0..3 {
        for w in version(k).windows(2) {
            add(writer[&(k, w[0])], writer[&(k, w[1])], WW);
        }
    }
    for (t, x) in txns.iter().enumerate() {
        for m in &x.mops {
            let M::Read(k, r) = m else { continue };
            if let Some(last) = r.last() {
                add(writer[&(*k, *last)], t, WR);
            }
            if let Some(next) = version(*k).get(r.len()) {
                add(t, writer[&(*k, *next)], RW);
            }
        }
    }
    for a in 0..n {
        for b in 0..n {
            if precedes(Order::Process, &txns[a], &txns[b]) {
                add(a, b, PROCESS);
            }
            if precedes(Order::Realtime, &txns[a], &txns[b]) {
                add(a, b, REALTIME);
            }
        }
    }
    g
}

/// Adya's class of a cycle, by the relations of its steps, as Elle names it. A cycle that uses
/// both process and realtime steps is left out: its process steps are realtime steps too, so
/// the same cycle is also classified with realtime steps only.
fn classify(steps: &[u8]) -> Option<String> {
    let has = |r: u8| steps.contains(&r);
    if has(PROCESS) && has(REALTIME) {
        return None;
    }
    let rw = steps.iter().filter(|&&r| r == RW).count();
    let adjacent = (0..steps.len()).any(|i| steps[i] == RW && steps[(i + 1) % steps.len()] == RW);
    let base = match rw {
        0 if has(WR) => "G1c",
        0 => "G0",
        1 => "G-single-item",
        _ if adjacent => "G2-item",
        _ => "G-nonadjacent-item",
    };
    let suffix = if has(PROCESS) {
        "-process"
    } else if has(REALTIME) {
        "-realtime"
    } else {
        ""
    };
    Some(format!("{base}{suffix}"))
}

/// Every kind of simple cycle in the graph, with every choice of relation per step.
fn cycle_kinds(g: &[Vec<u8>]) -> BTreeSet<String> {
    let mut kinds = BTreeSet::new();
    let n = g.len();
    // Simple cycles whose least vertex is `start`.
    fn walk(g: &[Vec<u8>], start: usize, path: &mut Vec<usize>, kinds: &mut BTreeSet<String>) {
        let v = *path.last().expect("the path starts at start");
        for w in 0..g.len() {
            if g[v][w] == 0 {
                continue;
            }
            if w == start {
                path.push(w);
                choices(g, path, 0, &mut Vec::new(), kinds);
                path.pop();
            } else if w > start && !path.contains(&w) {
                path.push(w);
                walk(g, start, path, kinds);
                path.pop();
            }
        }
    }
    fn choices(g: &[Vec<u8>], cycle: &[usize], i: usize, steps: &mut Vec<u8>, kinds: &mut BTreeSet<String>) {
        if i + 1 == cycle.len() {
            kinds.extend(classify(steps));
            return;
        }
        let rels = g[cycle[i]][cycle[i + 1]];
        for r in [WW, WR, RW, PROCESS, REALTIME] {
            if rels & r != 0 {
                steps.push(r);
                choices(g, cycle, i + 1, steps, kinds);
                steps.pop();
            }
        }
    }
    for start in 0..n {
        walk(g, start, &mut vec![start], &mut kinds);
    }
    kinds
}

/// The checker on the history, asked for strict serializability (so every order is built).
fn checked(text: &str) -> TxnResult {
    let (h, _) = parse_txn_history(text, Some(Workload::ListAppend)).unwrap_or_else(|e| panic!("{e}\n{text}"));
    check(&h, &TxnOptions::new(Workload::ListAppend))
}

fn rung(r: &TxnResult, model: &str) -> &'static str {
    r.ladder.iter().find(|x| x.model == model).map(|x| x.consistent).unwrap_or("missing")
}

/// The cycle kinds the checker searches for; other anomaly types it finds without cycles.
fn is_cycle_kind(a: &str) -> bool {
    ["G0", "G1c", "G-single-item", "G-nonadjacent-item", "G2-item"]
        .iter()
        .any(|k| a == *k || a == format!("{k}-process") || a == format!("{k}-realtime"))
}

/// What went wrong, if anything, comparing the checker with both brute forces.
fn disagreement(txns: &[T]) -> Option<String> {
    let text = edn(txns);
    let r = checked(&text);
    for (model, order) in [
        ("serializable", Order::None),
        ("strong-session-serializable", Order::Process),
        ("strict-serializable", Order::Realtime),
    ] {
        let brute = serial_order_exists(txns, order);
        let said = rung(&r, model);
        if (said == "yes") != brute {
            return Some(format!(
                "{model}: checker {said}, a serial order exists: {brute}\n{text}\n{:?}",
                r.all_anomaly_types
            ));
        }
    }
    if txns.iter().any(|t| t.failed) {
        return None; // The cycle brute force builds no edges through failed appends' neighbours.
    }
    let cycles = cycle_kinds(&graph(txns));
    let mut types: BTreeSet<String> = cycles.clone();
    types.extend(
        r.all_anomaly_types
            .iter()
            .filter(|a| !is_cycle_kind(a) && *a != "empty-transaction-graph" && *a != "cycle-search-timeout")
            .cloned(),
    );
    let impossible = models::impossible_models(types.iter().map(String::as_str));
    for m in LADDER {
        let brute = if impossible.contains(models::canonical(m)) { "no" } else { "yes" };
        let said = rung(&r, m);
        if said != brute {
            return Some(format!(
                "{m}: checker {said}, cycles say {brute}\n{text}\nbrute-force cycles {cycles:?}\nchecker {:?}",
                r.all_anomaly_types
            ));
        }
    }
    None
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn ladder_agrees_with_brute_force(seed in any::<u64>()) {
        let txns = generate(seed);
        if let Some(why) = disagreement(&txns) {
            prop_assert!(false, "{}", why);
        }
    }
}

/// The generator makes every verdict the serial brute force can give, often: not vacuous.
#[test]
fn every_boundary_occurs() {
    let (mut strict, mut session_only, mut serial_only, mut none, mut rt_cycles) = (0, 0, 0, 0, 0);
    for seed in 0..1000 {
        let t = generate(seed);
        match (
            serial_order_exists(&t, Order::Realtime),
            serial_order_exists(&t, Order::Process),
            serial_order_exists(&t, Order::None),
        ) {
            (true, _, _) => strict += 1,
            (false, true, _) => session_only += 1,
            (false, false, true) => serial_only += 1,
            _ => none += 1,
        }
        if !t.iter().any(|x| x.failed) && cycle_kinds(&graph(&t)).iter().any(|k| k == "G-single-item-realtime") {
            rt_cycles += 1;
        }
    }
    assert!(
        strict > 100 && session_only > 30 && serial_only > 30 && none > 100 && rt_cycles > 30,
        "strict {strict}, strong-session only {session_only}, serializable only {serial_only}, none {none}, G-single-item-realtime {rt_cycles}"
    );
}

/// The litmus histories, by hand: T0 reads x = [] and appends 1 to y, and completes;
/// T1 starts after that (on another process, then on the same one), reads y = [] and appends 1
/// to x. T1 missed T0's committed append: T0 -realtime-> T1 -rw-> T0.
#[test]
fn an_rw_edge_does_not_hide_a_realtime_edge() {
    for (p1, model, kind) in [
        (1, "strong-snapshot-isolation", "G-single-item-realtime"),
        (0, "strong-session-snapshot-isolation", "G-single-item-process"),
    ] {
        let text = format!(
            "{{:process 0, :type :invoke, :f :txn, :value [[:r :x nil] [:append :y 1]]}}
             {{:process 0, :type :ok, :f :txn, :value [[:r :x []] [:append :y 1]]}}
             {{:process {p1}, :type :invoke, :f :txn, :value [[:r :y nil] [:append :x 1]]}}
             {{:process {p1}, :type :ok, :f :txn, :value [[:r :y []] [:append :x 1]]}}"
        );
        let (h, _) = parse_txn_history(&text, Some(Workload::ListAppend)).expect("parses");
        let mut o = TxnOptions::new(Workload::ListAppend);
        o.consistency_models = vec![model.into()];
        let r = check(&h, &o);
        assert_eq!(r.valid, faultline_checkers::txn::Validity::False, "{model}: {:?}", r.anomaly_types);
        assert!(r.anomaly_types.iter().any(|a| a == kind), "{model}: {:?}", r.anomaly_types);
        assert!(r.not.iter().any(|m| m == model), "{model}: not {:?}", r.not);
        // Under strict serializability the same cycle is reported, and the models it rules out
        // are named.
        let strict = check(&h, &TxnOptions::new(Workload::ListAppend));
        assert!(strict.anomaly_types.iter().any(|a| a == kind), "{:?}", strict.anomaly_types);
        assert!(
            strict.not.iter().chain(&strict.also_not).any(|m| m == model),
            "{:?} {:?}",
            strict.not,
            strict.also_not
        );
    }
}
