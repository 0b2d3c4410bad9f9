//! Elle's own test histories with the anomaly types it expects, transcribed. Sources (all in
//! jepsen-io/elle): test/elle/list_append_test.clj (`checker-test`, `unobserved-write-test`,
//! `repeatable-read-test`, `G-nonadjacent-test`, `lost-update-test`, `wr-process-test`,
//! `rr-g-single-item-test`, `rr-g-nonadjacent-item-test`, `future-read-test`,
//! `internal-cases-test`) and test/elle/rw_register_test.clj (`checker-test`,
//! `lost-update-test`); plus elle-cli's histories/elle/*.edn and *.json (ligurio/elle-cli).
//! Elle's `(op "ax1ry12")` shorthand is kept: `a`ppend or `r`ead, a key letter, then digits
//! (values for appends, list elements for reads; `_` is nil for rw-register).

use super::*;
use serde_json::json;

/// One op map in EDN, from Elle's shorthand (list-append when `append`, else rw-register).
fn op_edn(s: &str, process: u64, kind: &str, index: Option<usize>) -> String {
    // `R` marks a register op whose only micro-ops are reads.
    let (s, forced) = match s.strip_prefix('R') {
        Some(rest) => (rest, true),
        None => (s, false),
    };
    let mut mops: Vec<(String, char, Vec<String>)> = Vec::new();
    for c in s.chars() {
        match c {
            'a' => mops.push(("append".into(), ' ', vec![])),
            'r' => mops.push(("r".into(), ' ', vec![])),
            'w' => mops.push(("w".into(), ' ', vec![])),
            'x' | 'y' | 'z' | 't' | 'u' => mops.last_mut().expect("a mop").1 = c,
            '_' => mops.last_mut().expect("a mop").2.push("nil".into()),
            d => mops.last_mut().expect("a mop").2.push(d.to_string()),
        }
    }
    let register = forced || s.contains('w');
    let value: Vec<String> = mops
        .iter()
        .map(|(f, k, vs)| {
            let v = if kind == "invoke" && f == "r" {
                "nil".to_string()
            } else if f == "append" || f == "w" || register {
                vs.first().cloned().unwrap_or_else(|| "nil".into())
            } else {
                format!("[{}]", vs.join(" "))
            };
            format!("[:{f} :{k} {v}]")
        })
        .collect();
    let index = index.map_or(String::new(), |i| format!(":index {i}, "));
    format!("{{{index}:process {process}, :type :{kind}, :f :txn, :value [{}]}}", value.join(" "))
}

/// Completion-only ok ops, all on process 0 (as Elle's `op`).
fn oks(ops: &[&str]) -> String {
    ops.iter().map(|o| op_edn(o, 0, "ok", None)).collect::<Vec<_>>().join("\n")
}

/// Invoke/complete pairs, one after the other.
fn pairs(ops: &[(&str, u64, &str)]) -> String {
    ops.iter()
        .flat_map(|(o, p, k)| [op_edn(o, *p, "invoke", None), op_edn(o, *p, k, None)])
        .collect::<Vec<_>>()
        .join("\n")
}

/// Events in the order given: (shorthand, process, type).
fn events(evs: &[(&str, u64, &str)]) -> TxnHistory {
    hist(&evs.iter().map(|(o, p, k)| op_edn(o, *p, k, None)).collect::<Vec<_>>().join("\n"))
}

fn hist(text: &str) -> TxnHistory {
    parse_txn_history(text, None).unwrap_or_else(|e| panic!("{e}\n{text}")).0
}

/// Check with Elle's options: `models` None is Elle's `:consistency-models nil`.
fn c(h: &TxnHistory, models: Option<&[&str]>, anomalies: &[&str]) -> TxnResult {
    let register = h.mops.iter().any(|m| matches!(m, Mop::Write(..) | Mop::Read(_, Read::Value(_))));
    let workload = if register { Workload::RwRegister } else { Workload::ListAppend };
    let mut o = TxnOptions::new(workload);
    o.consistency_models = models.unwrap_or(&[]).iter().map(|s| s.to_string()).collect();
    o.anomalies = anomalies.iter().map(|s| s.to_string()).collect();
    check(h, &o)
}

fn cm(h: &TxnHistory, models: &[&str]) -> TxnResult {
    c(h, Some(models), &[])
}

/// The parts of Elle's result its tests compare (also-not aside, as `c` in list_append_test).
fn assert_result(r: &TxnResult, valid: Validity, types: &[&str], not: &[&str]) {
    assert_eq!((r.valid, r.anomaly_types.clone(), r.not.clone()), (valid, s(types), s(not)), "{r:#?}");
}

fn s(xs: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = xs.iter().map(|x| x.to_string()).collect();
    v.sort();
    v
}

fn valid(r: &TxnResult) {
    assert_eq!(r.valid, Validity::True, "{r:#?}");
}

/// The cycle of the first instance of `kind`: its length and step types.
fn cycle_steps(r: &TxnResult, kind: &str) -> Vec<String> {
    r.anomalies[kind][0]["steps"].as_array().unwrap().iter().map(|s| s["type"].as_str().unwrap().to_string()).collect()
}

use Validity::{False, True, Unknown};

#[test]
fn g0() {
    let h = hist(&oks(&["ax1ay1", "ax2ay2", "rx12ry21"]));
    assert_result(&c(&h, None, &["G0"]), False, &["G0"], &["read-uncommitted"]);
    assert_result(&c(&h, None, &["G1"]), False, &["G0"], &["read-uncommitted"]);
    valid(&c(&h, None, &["G2"]));
    let r = c(&h, None, &["G0"]);
    let g0 = &r.anomalies["G0"][0];
    assert_eq!(
        g0["steps"][0],
        json!({"type": "ww", "key": "x", "value": 1, "value'": 2, "a-mop-index": 0, "b-mop-index": 0})
    );
    assert_eq!(
        g0["steps"][1],
        json!({"type": "ww", "key": "y", "value": 2, "value'": 1, "a-mop-index": 1, "b-mop-index": 1})
    );
    assert_eq!(g0["cycle"][0]["index"], 0);
    assert_eq!(g0["cycle"][1]["index"], 1);
    let text = g0["explanation"].as_str().unwrap();
    assert!(text.contains("T0 appended 1 to key x and T1 appended 2"), "{text}");
    assert!(text.ends_with("a G0 cycle of 2 transactions."), "{text}");
}

#[test]
fn g1a() {
    let h = hist(&[op_edn("ax1", 0, "fail", None), op_edn("rx1", 0, "ok", None)].join("\n"));
    assert_result(&cm(&h, &["read-uncommitted"]), Unknown, &["empty-transaction-graph"], &["read-committed"]);
    assert_result(&cm(&h, &["read-committed"]), False, &["G1a", "empty-transaction-graph"], &["read-committed"]);
    assert_result(&c(&h, None, &["G2"]), Unknown, &["empty-transaction-graph"], &["read-committed"]);
    let r = cm(&h, &["repeatable-read"]);
    assert_result(&r, False, &["G1a", "empty-transaction-graph"], &["read-committed"]);
    assert_eq!(r.anomalies["G1a"][0]["element"], 1);
    assert_eq!(r.anomalies["G1a"][0]["mop"], json!(["r", "x", [1]]));
}

#[test]
fn g1b() {
    let h = hist(&pairs(&[("ax1ax2", 0, "ok"), ("rx1", 0, "ok")]));
    valid(&c(&h, None, &["G0"]));
    assert_result(&c(&h, None, &["G1"]), False, &["G1b"], &["read-committed"]);
    assert_result(&c(&h, None, &["G2"]), False, &["G-single-item"], &["read-committed"]);
    let r = cm(&h, &["strict-serializable"]);
    assert_result(&r, False, &["G-single-item", "G1b"], &["read-committed"]);
    assert_eq!(cycle_steps(&r, "G-single-item"), ["rw", "wr"]);
}

#[test]
fn g1c() {
    let h = hist(&oks(&["ax1ry1", "ax2ay1", "rx12ry1"]));
    valid(&c(&h, None, &["G0"]));
    let r = c(&h, None, &["G1"]);
    assert_result(&r, False, &["G1c"], &["read-committed"]);
    assert_eq!(
        r.anomalies["G1c"][0]["steps"][0],
        json!({"type": "wr", "key": "y", "value": 1, "a-mop-index": 1, "b-mop-index": 1})
    );
    valid(&c(&h, None, &["G2"]));
}

#[test]
fn g_single() {
    let h = hist(&oks(&["ax1ay1", "ax2ry", "rx12"]));
    valid(&c(&h, None, &["G0"]));
    valid(&c(&h, None, &["G1"]));
    for a in ["G-single", "G2"] {
        let r = c(&h, None, &[a]);
        assert_result(&r, False, &["G-single-item"], &["consistent-view", "repeatable-read"]);
        assert_eq!(cycle_steps(&r, "G-single-item"), ["rw", "ww"]);
    }
}

#[test]
fn g2_item() {
    let h = hist(&oks(&["ax1ry", "ay1rx"]));
    valid(&c(&h, None, &["G0"]));
    valid(&c(&h, None, &["G1"]));
    valid(&cm(&h, &["read-committed"]));
    for r in [c(&h, None, &["G2"]), cm(&h, &["serializable"]), cm(&h, &["repeatable-read"])] {
        assert_result(&r, False, &["G2-item"], &["repeatable-read"]);
        assert_eq!(cycle_steps(&r, "G2-item"), ["rw", "rw"]);
        // The instance in one sentence before its proof.
        assert_eq!(
            r.anomalies["G2-item"][0]["summary"],
            json!("T0 and T1 each missed the other's append (keys y and x)")
        );
    }
}

#[test]
fn a_cycle_in_short_says_what_each_transaction_did_to_the_next() {
    let names: Vec<String> = ["T1", "T2", "T3", "T1"].iter().map(|s| s.to_string()).collect();
    let steps = [json!({"type": "rw", "key": 1}), json!({"type": "ww", "key": 2}), json!({"type": "realtime"})];
    assert_eq!(
        graph::cycle_in_short(&names, &steps, "write"),
        "T1 missed T2's write to key 1; T2's write to key 2 came before T3's; T2 completed before T3 began"
            .replace("T2 completed before T3 began", "T3 completed before T1 began")
    );
    let two = |kind: &str| {
        let steps = [json!({"type": kind, "key": "x"}), json!({"type": kind, "key": "x"})];
        graph::cycle_in_short(&names[..2].iter().chain([&names[0]]).cloned().collect::<Vec<_>>(), &steps, "write")
    };
    assert_eq!(two("wr"), "T1 and T2 each saw the other's write (key x)");
    assert_eq!(two("ww"), "T1 and T2 each overwrote the other (key x)");
}

/// Elle's indexed ops with invocations: (process, type, index, value).
fn indexed(ops: &[(u64, &str, usize, &str)]) -> TxnHistory {
    hist(&ops.iter().map(|(p, k, i, v)| op_edn(v, *p, k, Some(*i))).collect::<Vec<_>>().join("\n"))
}

#[test]
fn strong_si_violation() {
    let h = indexed(&[
        (0, "invoke", 0, "ax1"),
        (0, "ok", 1, "ax1"),
        (1, "invoke", 2, "ax2"),
        (1, "ok", 3, "ax2"),
        (2, "invoke", 4, "rx"),
        (2, "ok", 5, "rx1"),
        (3, "invoke", 6, "rx"),
        (3, "ok", 7, "rx12"),
    ]);
    valid(&c(&h, None, &["G2"]));
    valid(&cm(&h, &["serializable"]));
    let r = cm(&h, &["strict-serializable"]);
    assert_result(&r, False, &["G-single-item-realtime"], &["strong-snapshot-isolation"]);
    assert_eq!(cycle_steps(&r, "G-single-item-realtime"), ["rw", "realtime"]);
    let cyc = &r.anomalies["G-single-item-realtime"][0]["cycle"];
    assert_eq!((cyc[0]["index"].as_u64(), cyc[1]["index"].as_u64()), (Some(5), Some(3)));
}

#[test]
fn strong_session_si_violation() {
    let h = indexed(&[
        (0, "invoke", 0, "ax1"),
        (0, "ok", 1, "ax1"),
        (1, "invoke", 2, "ax2"),
        (1, "ok", 3, "ax2"),
        (1, "invoke", 4, "rx"),
        (1, "ok", 5, "rx1"),
        (2, "invoke", 6, "rx"),
        (2, "ok", 7, "rx12"),
    ]);
    valid(&cm(&h, &["serializable"]));
    let r = cm(&h, &["strong-session-snapshot-isolation"]);
    assert_result(&r, False, &["G-single-item-process"], &["strong-session-snapshot-isolation"]);
    assert_eq!(r.anomalies["G-single-item-process"][0]["steps"][1], json!({"type": "process", "process": 1}));
}

#[test]
fn g_nonadjacent_process() {
    let h = indexed(&[
        (0, "invoke", 0, "rxrz"),
        (0, "ok", 1, "rxrz1"),
        (1, "invoke", 2, "ax1"),
        (1, "ok", 3, "ax1"),
        (1, "invoke", 4, "rz"),
        (1, "ok", 5, "rz"),
        (2, "invoke", 6, "az1"),
        (2, "ok", 7, "az1"),
    ]);
    valid(&cm(&h, &["serializable"]));
    let r = cm(&h, &["strong-session-snapshot-isolation"]);
    assert_result(&r, False, &["G-nonadjacent-item-process"], &["strong-session-snapshot-isolation"]);
    let steps = cycle_steps(&r, "G-nonadjacent-item-process");
    assert_eq!(steps.len(), 4);
    assert_eq!(steps.iter().filter(|s| *s == "rw").count(), 2);
}

#[test]
fn contradictory_read_orders() {
    let h = hist(&oks(&["ax1ry1", "ax2", "ax3ay1", "rx13", "rx123"]));
    let r = c(&h, None, &["G1"]);
    assert_result(&r, False, &["G1c", "incompatible-order"], &["read-committed"]);
    let io = &r.anomalies["incompatible-order"][0];
    assert_eq!((&io["key"], &io["values"]), (&json!("x"), &json!([[1, 3], [1, 2, 3]])));
    assert_eq!(cycle_steps(&r, "G1c"), ["wr", "ww", "ww"]);
}

#[test]
fn dirty_update() {
    let h = hist(&op_edn("ax1", 0, "fail", None));
    assert_result(&c(&h, None, &["dirty-update"]), Unknown, &["empty-transaction-graph"], &[]);
    let h =
        hist(&[op_edn("ax1", 0, "fail", None), op_edn("ax2", 1, "ok", None), op_edn("rx12", 2, "ok", None)].join("\n"));
    let r = c(&h, None, &["dirty-update"]);
    assert_result(&r, False, &["dirty-update"], &["read-committed"]);
    assert_eq!(r.anomalies["dirty-update"][0]["values"], json!([1, 2]));
    let h = hist(
        &[
            op_edn("ax1", 0, "fail", None),
            op_edn("ax2", 1, "info", None),
            op_edn("ax3", 2, "ok", None),
            op_edn("rx123", 3, "ok", None),
        ]
        .join("\n"),
    );
    let r = c(&h, None, &["dirty-update"]);
    assert_result(&r, False, &["dirty-update"], &["read-committed"]);
    assert_eq!(r.anomalies["dirty-update"][0]["values"], json!([1, 2, 3]));
}

#[test]
fn duplicated_elements() {
    let h = hist(&oks(&["ax1ry1", "ax2ay1", "rx121"]));
    let r = cm(&h, &["read-committed"]);
    assert_result(&r, False, &["G1c", "duplicate-elements"], &["read-uncommitted"]);
    assert_eq!(r.anomalies["duplicate-elements"][0]["duplicates"], json!({"1": 2}));
}

#[test]
fn internal_consistency_violation() {
    let h = hist(&oks(&["ax1ax2ax4", "ax3rx1234"]));
    let r = c(&h, None, &["internal"]);
    assert_result(&r, False, &["internal"], &["read-uncommitted"]);
    assert_eq!(r.anomalies["internal"][0]["expected"], json!(["...", 3]));
}

#[test]
fn internal_cases_and_future_reads() {
    // list_append_test.clj, internal-cases-test.
    let h = hist(&oks(&["ax1rx01ax0ax3"]));
    let r = cm(&h, &["read-committed"]);
    assert_eq!(r.all_anomaly_types, s(&["empty-transaction-graph", "future-read"]), "{r:#?}");
    assert_eq!(r.anomalies["future-read"][0]["element"], 0);
    let h = hist(&oks(&["rx012ax1"]));
    assert_eq!(cm(&h, &["read-committed"]).anomalies["future-read"][0]["element"], 1);
    let h = hist(&oks(&["rxax1rx"]));
    assert_eq!(cm(&h, &["serializable"]).anomalies["internal"][0]["expected"], json!([1]));
    let h = hist(&oks(&["rx1ax2rx12"]));
    assert!(!cm(&h, &["serializable"]).all_anomaly_types.contains(&"internal".to_string()));
}

#[test]
fn unobserved_write() {
    // Elle's history as Elle has it: five invocations on process 0 before their completions.
    let ops = ["ax1ay1", "ax2ay2", "ax3ay3", "rx12", "ry2"];
    let text = ops
        .iter()
        .map(|o| op_edn(o, 0, "invoke", None))
        .chain(ops.iter().map(|o| op_edn(o, 0, "ok", None)))
        .collect::<Vec<_>>()
        .join("\n");
    let h = hist(&text);
    let r = cm(&h, &["serializable"]);
    assert_result(&r, False, &["G-single-item", "G0"], &["read-uncommitted"]);
    assert_eq!(cycle_steps(&r, "G-single-item"), ["rw", "ww", "wr"]);
    assert_eq!(cycle_steps(&r, "G0"), ["ww", "ww"]);
    // Which completion ends which invocation is unknown: said, and the models that need process
    // or realtime order are unchecked rather than claimed.
    assert_eq!(h.notes.len(), 1, "{:?}", h.notes);
    assert!(
        h.notes[0].starts_with("process 0 invokes at line 2 while its transaction invoked at line 1"),
        "{:?}",
        h.notes
    );
    assert_eq!(h.unordered(), 5);
    assert!(
        r.notes.iter().any(|n| n.contains("5 transactions have no place in process or realtime order")),
        "{:?}",
        r.notes
    );
    let rung = |r: &TxnResult, m: &str| r.ladder.iter().find(|x| x.model == m).unwrap().consistent;
    let clean = cm(&hist(&text.replace("[:r :y [2]]", "[:r :y [1 2]]")), &["strict-serializable"]);
    assert_eq!(clean.valid, True, "{clean:#?}");
    assert_eq!((rung(&clean, "serializable"), rung(&clean, "strict-serializable")), ("yes", "unchecked"));
    assert_eq!(rung(&clean, "strong-session-snapshot-isolation"), "unchecked");
}

#[test]
fn repeatable_read() {
    let h = hist(&oks(&["rxay1", "ryax1"]));
    valid(&cm(&h, &["read-committed"]));
    assert_result(&cm(&h, &["repeatable-read"]), False, &["G2-item"], &["repeatable-read"]);
}

#[test]
fn g_nonadjacent() {
    let h = hist(&pairs(&[("ax1", 0, "ok"), ("rx1ry", 0, "ok"), ("ay1", 0, "ok"), ("ry1rx", 0, "ok")]));
    let r = cm(&h, &["strict-serializable"]);
    // Elle reports G-nonadjacent-item alone, with the same `not`. All four run on process 0, so
    // the fourth, which read x = nil, missed the append of x = 1 that its own process made
    // first: T7 -rw-> T1 -wr-> T3 -process-> T5 -wr-> T7 has one rw step, a
    // G-single-item-process, which strong session SI forbids. Elle names a step by the first
    // relation of the pair (T3 -rw-> T5 before T3 -process-> T5) and so reads that cycle as
    // the G-nonadjacent one.
    assert_result(
        &r,
        False,
        &["G-nonadjacent-item", "G-single-item-process"],
        &["repeatable-read", "snapshot-isolation"],
    );
    assert_eq!(cycle_steps(&r, "G-nonadjacent-item"), ["rw", "wr", "rw", "wr"]);
    assert_eq!(cycle_steps(&r, "G-single-item-process"), ["rw", "wr", "process", "wr"]);
    assert!(r.also_not.contains(&"strong-session-snapshot-isolation".to_string()), "{:?}", r.also_not);
    // rw rw wr rw wr: two rw edges are adjacent, so not G-nonadjacent: SI holds.
    let h = hist(&pairs(&[
        ("rx5ay1", 0, "ok"),
        ("ryaz2", 0, "ok"),
        ("rzat3", 0, "ok"),
        ("rt3au4", 0, "ok"),
        ("ruax5", 0, "ok"),
    ]));
    valid(&cm(&h, &["snapshot-isolation"]));
}

#[test]
fn lost_update() {
    let h = hist(&pairs(&[("ax0", 0, "ok"), ("rx0ax1", 0, "ok"), ("rx0ax2", 0, "ok")]));
    let r = cm(&h, &["strict-serializable"]);
    // Elle: G2-item and lost-update, with the same `not`. All three run on process 0, so the
    // third read x = [0] after its own process appended 1 (second transaction): T5 -rw-> T3
    // -process-> T5, a G-single-item-process, hidden in Elle by the rw edge T3 -rw-> T5 beside it.
    assert_result(
        &r,
        False,
        &["G-single-item-process", "G2-item", "lost-update"],
        &["cursor-stability", "update-atomic"],
    );
    assert_eq!(cycle_steps(&r, "G-single-item-process"), ["rw", "process"]);
    assert_eq!(r.anomalies["lost-update"][0]["value"], json!([0]));
    assert_eq!(r.anomalies["lost-update"][0]["txns"].as_array().unwrap().len(), 2);
    // One transaction writing over its read twice is fine.
    valid(&cm(&hist(&pairs(&[("rxax1ax2", 0, "ok"), ("rx12", 0, "ok")])), &["strict-serializable"]));
}

#[test]
fn wr_process() {
    let text = r#"{:process 1, :type :invoke, :f :txn, :value [[:r :x] [:append :y 1]], :index 0}
{:process 1, :type :ok, :f :txn, :value [[:r :x [1]] [:append :y 1]], :index 1}
{:process 2, :type :invoke, :f :txn, :value [[:r :y]], :index 2}
{:process 2, :type :ok, :f :txn, :value [[:r :y [1]]], :index 3}
{:process 2, :type :invoke, :f :txn, :value [[:append :x 1]], :index 4}
{:process 2, :type :ok, :f :txn, :value [[:append :x 1]], :index 5}"#;
    let r = cm(&hist(text), &["strong-session-snapshot-isolation"]);
    assert_result(&r, False, &["G1c-process"], &["strong-session-read-committed"]);
    assert_eq!(cycle_steps(&r, "G1c-process").len(), 3);
}

#[test]
fn rr_g_single_item() {
    let h = hist(&pairs(&[("ax1ay1", 0, "ok"), ("rx1ry", 0, "ok")]));
    assert_result(&cm(&h, &["repeatable-read"]), False, &["G-single-item"], &["consistent-view", "repeatable-read"]);
}

#[test]
fn rr_g_nonadjacent_item() {
    let h = hist(&pairs(&[("ax1at1", 0, "ok"), ("rx1ry", 0, "ok"), ("ay1az2", 0, "ok"), ("rz2rt", 0, "ok")]));
    assert_result(
        &cm(&h, &["repeatable-read"]),
        False,
        &["G-nonadjacent-item"],
        &["repeatable-read", "snapshot-isolation"],
    );
}

#[test]
fn future_read() {
    let text = "{:process 0, :type :invoke, :f :txn, :value [[:r :x [1]] [:append :x 1]]}\n\
                {:process 0, :type :ok, :f :txn, :value [[:r :x [1]] [:append :x 1]]}";
    let r = cm(&hist(text), &["read-committed"]);
    assert_result(&r, False, &["empty-transaction-graph", "future-read"], &["read-committed"]);
}

// rw-register: test/elle/rw_register_test.clj, checker-test and lost-update-test.

#[test]
fn rw_g1a() {
    let h = hist(&[op_edn("Rrx1", 0, "ok", None), op_edn("wx1", 0, "fail", None)].join("\n"));
    assert_result(&c(&h, None, &["G1"]), False, &["G1a", "empty-transaction-graph"], &["read-committed"]);
}

#[test]
fn rw_g1b() {
    let h = hist(&oks(&["wx1wx2", "Rrx1"]));
    assert_result(&c(&h, None, &["G0"]), Unknown, &["empty-transaction-graph"], &["read-committed"]);
    assert_result(&c(&h, None, &["G1"]), False, &["G1b", "empty-transaction-graph"], &["read-committed"]);
    assert_result(&cm(&h, &["repeatable-read"]), False, &["G1b", "empty-transaction-graph"], &["read-committed"]);
}

#[test]
fn rw_g1c() {
    let h = hist(&oks(&["wx1ry1", "wy1rx1"]));
    valid(&c(&h, None, &["G0"]));
    valid(&cm(&h, &["read-uncommitted"]));
    for r in [c(&h, None, &["G1"]), cm(&h, &["read-committed"]), cm(&h, &["serializable"])] {
        assert_result(&r, False, &["G1c"], &["read-committed"]);
        assert_eq!(cycle_steps(&r, "G1c"), ["wr", "wr"]);
    }
    valid(&c(&h, None, &["G2"]));
    let r = c(&h, None, &["G1"]);
    let text = r.anomalies["G1c"][0]["explanation"].as_str().unwrap();
    assert!(text.starts_with("T0 wrote key x = 1 and T1 read it, so T0 precedes T1 (wr)"), "{text}");
}

#[test]
fn rw_internal() {
    let h = hist(&oks(&["Rrx1rx2"]));
    let r = c(&h, None, &["internal"]);
    assert_result(&r, False, &["empty-transaction-graph", "internal"], &["read-atomic"]);
    assert_eq!(r.anomalies["internal"][0]["expected"], 1);
}

#[test]
fn rw_initial_state() {
    let h = events(&[("Rrx_ry1", 0, "invoke"), ("wy1wx2", 1, "invoke"), ("wy1wx2", 1, "ok"), ("Rrx_ry1", 0, "ok")]);
    let r = cm(&h, &["serializable"]);
    assert_result(&r, False, &["G-single-item"], &["consistent-view", "repeatable-read"]);
    assert_eq!(cycle_steps(&r, "G-single-item"), ["rw", "wr"]);
}

#[test]
fn rw_wfr() {
    let h = hist(&oks(&["ry1wx1wy2", "Rrx1ry1"]));
    let mut o = TxnOptions::new(Workload::RwRegister);
    o.consistency_models = vec!["serializable".into()];
    valid(&check(&h, &o));
    o.wfr_keys = true;
    let r = check(&h, &o);
    assert_result(&r, False, &["G-single-item"], &["consistent-view", "repeatable-read"]);
    assert_eq!(
        r.anomalies["G-single-item"][0]["steps"][0],
        json!({"type": "rw", "key": "y", "value": 1, "value'": 2, "a-mop-index": 1, "b-mop-index": 2})
    );
}

#[test]
fn rw_lost_update() {
    let h = hist(&pairs(&[("rx0wx1", 0, "ok"), ("rx0wx2", 1, "ok")]));
    let r = cm(&h, &["strict-serializable"]);
    assert_result(&r, False, &["lost-update"], &["cursor-stability", "update-atomic"]);
}

/// rw-register options: `o(models, anomalies, [wfr, sequential, linearizable])`.
fn rw_opts(models: Option<&[&str]>, anomalies: &[&str], assume: [bool; 3]) -> TxnOptions {
    let mut o = TxnOptions::new(Workload::RwRegister);
    o.consistency_models = models.unwrap_or(&[]).iter().map(|s| s.to_string()).collect();
    o.anomalies = anomalies.iter().map(|s| s.to_string()).collect();
    [o.wfr_keys, o.sequential_keys, o.linearizable_keys] = assume;
    o
}

/// Anomaly instances as Elle gives them (our explanation in words aside).
fn without_explanation(cases: &[Value]) -> Vec<Value> {
    cases
        .iter()
        .map(|c| {
            let mut c = c.clone();
            c.as_object_mut().unwrap().remove("explanation");
            c
        })
        .collect()
}

const LINEARIZABLE: [bool; 3] = [false, false, true];
const SEQUENTIAL: [bool; 3] = [false, true, false];

#[test]
fn rw_linearizable_keys_read_of_a_newer_value() {
    // checker-test "Read doesn't return what was just been written": Elle calls this valid
    // (a TODO in its test: a read of 2, which nobody wrote, after the write of 1).
    let h = hist(&pairs(&[("wx1", 0, "ok"), ("Rrx2", 0, "ok")]));
    valid(&check(&h, &rw_opts(Some(&["strict-serializable"]), &[], LINEARIZABLE)));
    // "Read read returns what was just been written": 1 < 2 < 1 in realtime.
    let h = hist(&pairs(&[("wx1", 0, "ok"), ("Rrx2", 0, "ok"), ("Rrx1", 0, "ok")]));
    versions_1_2_cycle(&h, LINEARIZABLE, "linearizable-keys");
}

/// Under strict-serializability with the assumption, the versions 1 and 2 of x form a cycle.
fn versions_1_2_cycle(h: &TxnHistory, assume: [bool; 3], source: &str) {
    let r = check(h, &rw_opts(Some(&["strict-serializable"]), &[], assume));
    assert_result(&r, False, &["cyclic-versions"], &["read-uncommitted"]);
    assert_eq!(
        without_explanation(&r.anomalies["cyclic-versions"]),
        vec![json!({"key": "x", "scc": [1, 2], "sources": ["initial-state", source]})]
    );
}

#[test]
fn rw_sequential_keys_g0() {
    // checker-test "G0": T1 wx1wy2 and T2 wx2wy1 alone say nothing about versions ...
    let h = hist(&pairs(&[("wx1wy2", 0, "ok"), ("wx2wy1", 1, "ok")]));
    assert_result(&c(&h, None, &["G0"]), Unknown, &["empty-transaction-graph"], &[]);
    // ... but later reads of x = 2 (process 0) and y = 2 (process 1) order them both ways.
    let h = hist(&pairs(&[("wx1wy2", 0, "ok"), ("wx2wy1", 1, "ok"), ("Rrx2", 0, "ok"), ("Rry2", 1, "ok")]));
    let r = check(&h, &rw_opts(None, &["G0"], SEQUENTIAL));
    assert_result(&r, False, &["G0"], &["read-uncommitted"]);
    let g0 = &r.anomalies["G0"][0];
    let cycle: Vec<u64> = g0["cycle"].as_array().unwrap().iter().map(|t| t["index"].as_u64().unwrap()).collect();
    assert_eq!(cycle, [1, 3, 1]);
    assert_eq!(
        g0["steps"],
        json!([
            {"type": "ww", "key": "x", "value": 1, "value'": 2, "a-mop-index": 0, "b-mop-index": 0},
            {"type": "ww", "key": "y", "value": 1, "value'": 2, "a-mop-index": 1, "b-mop-index": 1}
        ])
    );
    let text = g0["explanation"].as_str().unwrap();
    assert!(text.contains("(sequential keys)"), "{text}");
    // Without the assumption the versions stay unordered.
    assert_result(&c(&h, None, &["G0"]), True, &[], &[]);
}

#[test]
fn rw_linearizable_keys_g2_item() {
    // checker-test "G2-item": T1 reads x = 1, y = 1; T2 (rx1wy2) and T3 (ry1wx2) overlap.
    let h = events(&[
        ("Rrx1ry1", 0, "invoke"),
        ("Rrx1ry1", 0, "ok"),
        ("rx1wy2", 1, "invoke"),
        ("ry1wx2", 2, "invoke"),
        ("ry1wx2", 2, "ok"),
        ("rx1wy2", 1, "ok"),
    ]);
    valid(&check(&h, &rw_opts(Some(&["read-committed"]), &[], LINEARIZABLE)));
    let r = check(&h, &rw_opts(None, &["G2"], LINEARIZABLE));
    assert_result(&r, False, &["G2-item"], &["repeatable-read"]);
    assert_eq!(cycle_steps(&r, "G2-item"), ["rw", "rw"]);
    // Process order says nothing here (each process ran one transaction): no G2-item.
    let r = check(&h, &rw_opts(None, &["G2"], SEQUENTIAL));
    assert_result(&r, Unknown, &["empty-transaction-graph"], &[]);
}

#[test]
fn rw_sequential_keys_cyclic_versions() {
    // checker-test "cyclic version order": one process writes 1, then 2, then reads 1.
    let h = hist(&pairs(&[("wx1", 0, "ok"), ("wx2", 0, "ok"), ("Rrx1", 0, "ok")]));
    versions_1_2_cycle(&h, SEQUENTIAL, "sequential-keys");
    // Completions only: a process's completions are still in its order.
    versions_1_2_cycle(&hist(&oks(&["wx1", "wx2", "Rrx1"])), SEQUENTIAL, "sequential-keys");
}

#[test]
fn rw_scc_sort_bug() {
    // scc-sort-bug-test: realtime says x went 1 -> nil (and nil precedes everything), and
    // 3 -> 4 while wfr says 4 -> 3; the G1c-realtime comes from the realtime graph.
    let h = hist(&pairs(&[("Rrx1", 0, "ok"), ("Rrx_", 0, "ok"), ("rx4wx3", 0, "ok"), ("wx4", 0, "ok")]));
    let r = check(&h, &rw_opts(Some(&["strong-serializable"]), &[], [true, false, true]));
    // Elle: G1c-realtime (it builds realtime order alone). With process order too, the same
    // component holds a stronger one: T5 (rx4 wx3) and T7 (wx4) ran on process 0 in that order,
    // and T5 read 4 before writing 3, so 4 precedes 3 (wfr): T5 -process-> T7 -ww-> T5, a
    // G0-process, which implies G1c-realtime. `not` is Elle's.
    assert_result(&r, False, &["G0-process", "cyclic-versions"], &["read-uncommitted"]);
    assert_eq!(cycle_steps(&r, "G0-process"), ["process", "ww"]);
    assert!(models::implied_anomalies(["G0-process"]).contains("G1c-realtime"));
    let sources = json!(["initial-state", "wfr-keys", "linearizable-keys"]);
    assert_eq!(
        without_explanation(&r.anomalies["cyclic-versions"]),
        vec![
            json!({"key": "x", "scc": [null, 1], "sources": sources}),
            json!({"key": "x", "scc": [3, 4], "sources": sources})
        ]
    );
}

#[test]
fn rw_cyclic_versions_bug() {
    // cyclic-versions-bug-test: valid under serializable with linearizable keys.
    let text = r#"{:index 1,   :time 33189116, :type :invoke,  :process 0, :f :txn, :value []}
{:index 2,   :time 34621247, :type :ok,      :process 0, :f :txn, :value []}
{:index 3,   :time 36022782, :type :invoke,  :process 0, :f :txn, :value [[:r 1 nil]]}
{:index 4,   :time 36230324, :type :invoke,  :process 1, :f :txn, :value [[:w 1 4]]}
{:index 5,   :time 36827540, :type :invoke,  :process 2, :f :txn, :value []}
{:index 320, :time 37708797, :type :ok,      :process 0, :f :txn, :value [[:r 1 nil]]}
{:index 322, :time 37894295, :type :ok,      :process 1, :f :txn, :value [[:w 1 4]]}
{:index 323, :time 37992467, :type :ok,      :process 2, :f :txn, :value []}
{:index 324, :time 38532405, :type :invoke,  :process 0, :f :txn, :value []}
{:index 325, :time 39475568, :type :ok,      :process 0, :f :txn, :value []}
{:index 326, :time 39956694, :type :invoke,  :process 0, :f :txn, :value [[:r 1 nil]]}
{:index 327, :time 40746079, :type :ok,      :process 0, :f :txn, :value [[:r 1 4]]}"#;
    let (h, _) = parse_txn_history(text, Some(Workload::RwRegister)).unwrap();
    valid(&check(&h, &rw_opts(Some(&["serializable"]), &[], LINEARIZABLE)));
    valid(&check(&h, &rw_opts(Some(&["serializable"]), &[], SEQUENTIAL)));
}

// elle-cli's histories (ligurio/elle-cli, histories/elle/), transcribed.

const PAPER_EXAMPLE_EDN: &str = r#"{:index 1, :type :invoke, :process 2, :value [[ :append 4 2] [ :append 5 5] ]}
{:index 2, :type :invoke, :process 0, :value [[ :r 2 nil] [ :r 3 nil] [ :append 4 0] ]}
{:index 3, :type :invoke, :process 1, :value [[ :append 3 1] [ :append 2 4] [ :r 4 nil] ]}
{:index 4, :type :ok, :process 2, :value [[ :append 4 2] [ :append 5 5] ]}
{:index 5, :type :invoke, :process 2, :value [[ :append 2 8] ]}
{:index 6, :type :ok, :process 1, :value [[ :append 3 1] [ :append 2 4] [ :r 4 [ ]] ]}
{:index 7, :type :invoke, :process 1, :value [[ :append 3 7] [ :append 4 10] ]}
{:index 8, :type :ok, :process 0, :value [[ :r 2 [ ]] [ :r 3 [ ]] [ :append 4 0] ]}
{:index 9, :type :ok, :process 2, :value [[ :append 2 8] ]}
{:index 10, :type :ok, :process 1, :value [[ :append 3 7] [ :append 4 10] ]}"#;

const GH30_EDN: &str = r#"{:index 0 :process 1 :type :invoke  :value [[:append 253 1] [:append 253 3] [:append 253 4] [:append 255 2] [:append 255 3] [:append 255 4] [:append 255 5] [:append 256 1] [:append 256 2]]}
{:index 1 :process 1 :type :ok      :value [[:append 253 1] [:append 253 3] [:append 253 4] [:append 255 2] [:append 255 3] [:append 255 4] [:append 255 5] [:append 256 1] [:append 256 2]]}
{:index 2 :process 1 :type :invoke, :value [[:append 255 8] [:r 253 nil]]}
{:index 3 :process 1 :type :ok,     :value [[:append 255 8] [:r 253 [1 3 4]]]}
{:index 4 :process 1 :type :invoke, :value [[:append 256 4] [:r 255 nil] [:r 256 nil] [:r 253 nil]]}
{:index 5 :process 1 :type :ok,     :value [[:append 256 4] [:r 255 [2 3 4 5 8]] [:r 256 [1 2 4]] [:r 253 [1 3 4]]]}
{:index 6 :process 1 :type :invoke, :value [[:append 250 10] [:r 253 nil] [:r 255 nil] [:append 256 3]]}
{:index 7 :process 1 :type :ok      :value [[:append 250 10] [:r 253 [1 3 4]] [:r 255 [2 3 4 5]] [:append 256 3]]}"#;

const GH30_JSON: &str = r#"[{"index":0,"process":1,"type":"invoke","value":[["append",253,1],["append",253,3],["append",253,4],["append",255,2],["append",255,3],["append",255,4],["append",255,5],["append",256,1],["append",256,2]]},
{"index":1,"process":1,"type":"ok","value":[["append",253,1],["append",253,3],["append",253,4],["append",255,2],["append",255,3],["append",255,4],["append",255,5],["append",256,1],["append",256,2]]},
{"index":2,"process":1,"type":"invoke","value":[["append",255,8],["r",253,null]]},
{"index":3,"process":1,"type":"ok","value":[["append",255,8],["r",253,[1,3,4]]]},
{"index":4,"process":1,"type":"invoke","value":[["append",256,4],["r",255,null],["r",256,null],["r",253,null]]},
{"index":5,"process":1,"type":"ok","value":[["append",256,4],["r",255,[2,3,4,5,8]],["r",256,[1,2,4]],["r",253,[1,3,4]]]},
{"index":6,"process":1,"type":"invoke","value":[["append",250,10],["r",253,null],["r",255,null],["append",256,3]]},
{"index":7,"process":1,"type":"ok","value":[["append",250,10],["r",253,[1,3,4]],["r",255,[2,3,4,5]],["append",256,3]]}]"#;

const RW_REGISTER_EDN: &str = r#"{:type :invoke, :f :txn :value [[:w :x 2]],   :process 0, :index 1}
{:type :ok,     :f :txn :value [[:w :x 2]],   :process 0, :index 2}
{:type :invoke, :f :txn :value [[:r :x nil]], :process 0, :index 3}
{:type :ok,     :f :txn :value [[:r :x 3]],   :process 0, :index 4}
{:type :invoke, :f :txn :value [[:r :x nil]], :process 0, :index 5}
{:type :ok,     :f :txn :value [[:r :x 2]],   :process 0, :index 6}"#;

const RW_REGISTER_JSON: &str = r#"[{"type":"invoke","f":"txn","value":[["w","x",2]],"process":0,"index":1},
{"type":"ok","f":"txn","value":[["w","x",2]],"process":0,"index":2},
{"type":"invoke","f":"txn","value":[["r","x",null]],"process":0,"index":3},
{"type":"ok","f":"txn","value":[["r","x",3]],"process":0,"index":4},
{"type":"invoke","f":"txn","value":[["r","x",null]],"process":0,"index":5},
{"type":"ok","f":"txn","value":[["r","x",2]],"process":0,"index":6}]"#;

#[test]
fn elle_cli_histories() {
    // test.sh expects: paper-example invalid; gh-30 invalid under serializable; rw-register valid.
    let (h, w) = parse_txn_history(PAPER_EXAMPLE_EDN, None).unwrap();
    assert_eq!(w, Workload::ListAppend);
    let r = cm(&h, &["strict-serializable"]);
    assert_eq!(r.valid, False, "{r:#?}");
    for text in [GH30_EDN, GH30_JSON] {
        let (h, _) = parse_txn_history(text, None).unwrap();
        let r = cm(&h, &["serializable"]);
        // T7 read key 255 = [2 3 4 5] without T3's 8 (rw T7 -> T3); T5 read 255 ending in 8
        // (wr T3 -> T5); T7's append of 3 to 256 was never read, so it follows T5's 4 (ww).
        assert_result(&r, False, &["G-single-item"], &["consistent-view", "repeatable-read"]);
        assert_eq!(cycle_steps(&r, "G-single-item"), ["rw", "wr", "ww"]);
    }
    for text in [RW_REGISTER_EDN, RW_REGISTER_JSON] {
        let (h, w) = parse_txn_history(text, None).unwrap();
        assert_eq!(w, Workload::RwRegister);
        let mut o = TxnOptions::new(w);
        o.consistency_models = vec!["strict-serializable".into()];
        assert_ne!(check(&h, &o).valid, False);
    }
}

#[test]
fn ladder_and_json_field_names() {
    let h = hist(&oks(&["ax1ry", "ay1rx"]));
    let r = cm(&h, &["serializable"]);
    let v = serde_json::to_value(&r).unwrap();
    assert_eq!(v["valid?"], json!(false));
    assert_eq!(v["anomaly-types"], json!(["G2-item"]));
    assert_eq!(v["not"], json!(["repeatable-read"]));
    assert!(v["also-not"].as_array().unwrap().contains(&json!("serializable")));
    let rung = |m: &str| r.ladder.iter().find(|x| x.model == m).unwrap().consistent;
    assert_eq!((rung("read-committed"), rung("repeatable-read"), rung("serializable")), ("yes", "no", "no"));
    assert_eq!(rung("strict-serializable"), "no");
    let ok = cm(&hist(&pairs(&[("ax1", 0, "ok"), ("rx1", 0, "ok")])), &["strict-serializable"]);
    assert_eq!(serde_json::to_value(&ok).unwrap()["valid?"], json!(true));
    assert!(ok.ladder.iter().all(|x| x.consistent == "yes"), "{:?}", ok.ladder);
}

// Malformed input: a clear error naming the line, never a panic.

fn error_of(text: &str, w: Option<Workload>) -> String {
    match parse_txn_history(text, w) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn malformed_histories_name_the_line() {
    let ok = "{:process 0, :type :ok, :f :txn, :value [[:append :x 1]]}\n";
    let e = error_of(&format!("{ok}{{:process 0, :type :ok, :f :txn, :value [[:frob :x 1]]}}"), None);
    assert!(e.starts_with(":2: unknown micro-op :frob in a list-append history"), "{e}");
    let e = error_of(&format!("{ok}{{:process 1, :type :ok, :f :txn, :value [[:r :x 3]]}}"), None);
    assert!(e.starts_with(":2: a list-append read must return a list"), "{e}");
    let e = error_of(&format!("{ok}\n{{:process 1, :type :ok, :f :txn, :value [[:append :x 1]]}}"), None);
    assert!(e.starts_with(":3: value 1 is appended to key x twice (first at line 1)"), "{e}");
    let e = error_of("{:process 1, :type :ok, :f :txn, :value [[:append :x 1] [:append :x 1]]}", None);
    assert!(e.contains("twice (in this transaction)"), "{e}");
    let e = error_of(&format!("{ok}{{:process 1, :type :ok, :f :txn, :value [[:append :x \"a\"]]}}"), None);
    assert!(e.starts_with(":2: an appended value must be an integer, got \"a\""), "{e}");
    let e = error_of(&format!("{ok}{{:process 1, :type :ok, :f :txn, :value [[:append :x 2]"), None);
    assert!(e.starts_with(":2: bad EDN"), "{e}");
    let e = error_of(&format!("{ok}{{:process 1, :type :ok, :f :read, :value 3}}"), None);
    assert!(e.starts_with(":2: expected a transaction (:f :txn), got :f :read"), "{e}");
    let e = error_of(&format!("{ok}{{:process 1, :type :ok, :f :txn, :value [[:r]]}}"), None);
    assert!(e.starts_with(":2: a micro-op must be a vector [f key value]"), "{e}");
    let e = error_of("{:process 0, :type :ok, :f :txn, :value [[:w :x 1]]}", Some(Workload::ListAppend));
    assert!(e.contains("unknown micro-op :w in a list-append history"), "{e}");
    // JSON Lines and JSON arrays.
    let e = error_of("{\"type\":\"ok\",\"process\":0,\"f\":\"txn\",\"value\":[[\"append\",1,1]]}\n{\"type\":\"ok\",\"process\":0,\"f\":\"txn\",\"value\":[[\"append\",1,1]]}", None);
    assert!(e.starts_with(":2: value 1 is appended to key 1 twice"), "{e}");
    let e = error_of("{\"type\":\"ok\",\"process\":0,\"f\":\"txn\",\"value\":[[\"append\",1,1]]}\n{\"type\":\"ok\",\"process\":0,\"value\":[[\"append\",1,2]]", None);
    assert!(e.starts_with(":2: bad JSON"), "{e}");
    let e = error_of("[{\"type\":\"ok\",\"process\":0,\"value\":[[\"append\",1,1]]},\n{\"type\":\"weird\",\"process\":0,\"value\":[]}]", None);
    assert!(e.starts_with(":2: bad JSON: unknown variant `weird`"), "{e}");
    let e = error_of(
        "[{\"type\":\"ok\",\"process\":0,\"value\":[[\"append\",1,1]]},\n{\"type\":\"ok\",\"process\":0,",
        None,
    );
    assert!(e.starts_with(":2: this op object is never closed"), "{e}");
    assert!(error_of("hello", None).contains("cannot detect the format"));
}

#[test]
fn odd_but_valid_histories() {
    // Completion-only, nemesis ops skipped, keys of several types, an invocation never completed
    // (indeterminate), nil and [] as the empty list.
    let text = r#"{:process :nemesis, :type :info, :f :start-partition, :value nil}
{:process 0, :type :ok, :f :txn, :value [[:append "k" 1] [:r 5 nil]]}
{:process 1, :type :invoke, :f :txn, :value [[:append "k" 2]]}
{:process 2, :type :ok, :f :txn, :value [[:r "k" [1 2]] [:r 5 []]]}"#;
    let (h, w) = parse_txn_history(text, None).unwrap();
    assert_eq!(w, Workload::ListAppend);
    assert_eq!(h.txns.len(), 3);
    assert_eq!(h.txns.last().unwrap().outcome, Outcome::Info);
    let r = cm(&h, &["strict-serializable"]);
    assert_ne!(r.valid, False, "{r:#?}");
    let text = "{\"type\":\"ok\",\"process\":0,\"f\":\"txn\",\"value\":[[\"append\",1,1]]}\n\n{\"type\":\"ok\",\"process\":\"1\",\"f\":\"txn\",\"value\":[[\"r\",1,[1]]]}\n";
    let (h, _) = parse_txn_history(text, None).unwrap();
    assert_eq!(h.txns.len(), 2);
    assert_eq!(h.txns[1].line, 3);
}

#[test]
fn large_json_lines_are_read_in_parallel_in_order() {
    // Over 4 blocks of 1 MB: the threaded path; its first bad line is the one reported.
    let mut text = String::new();
    for i in 0..70_000 {
        text.push_str(&format!(
            "{{\"type\":\"ok\",\"process\":{},\"f\":\"txn\",\"value\":[[\"append\",{},{i}],[\"r\",{},null]]}}\n",
            i % 7,
            i % 13,
            i % 13
        ));
    }
    let (h, w) = parse_txn_history(&text, None).unwrap();
    assert_eq!((h.txns.len(), w), (70_000, Workload::ListAppend));
    assert_eq!(h.txns[69_999].line, 70_000);
    assert!(h.txns.windows(2).all(|p| p[0].completed_at < p[1].completed_at));
    let mut lines: Vec<&str> = text.lines().collect();
    lines[60_000] = "{\"type\":\"ok\",\"process\":1,\"f\":\"txn\",\"value\":[[\"frob\",1,1]]}";
    lines[65_000] = "not json";
    let e = error_of(&lines.join("\n"), None);
    assert!(e.starts_with(":60001: unknown micro-op :frob"), "{e}");
}

#[test]
fn si_without_g_single() {
    // jepsen-io/elle histories/si-without-g-single.edn (intermediate-sequential-extension-test):
    // [:G2-item], not repeatable-read, when asked for snapshot-isolation and repeatable-read.
    let text = r#"{:index 10, :time 0, :type :invoke, :process 2, :f :txn, :value [[:append 9 2]]}
{:index 11, :time 0, :type :ok, :process 2, :f :txn, :value [[:append 9 2]]}
{:index 20, :time 0, :type :invoke, :process 4, :f :txn, :value [[:append 8 1] [:r 9 nil]]}
{:index 21, :time 0, :type :ok, :process 4, :f :txn, :value [[:append 8 1] [:r 9 nil]]}
{:index 30, :time 0, :type :invoke, :process 7, :f :txn, :value [[:r 6 nil] [:r 8 nil] [:append 9 5]]}
{:index 31, :time 0, :type :ok, :process 7, :f :txn, :value [[:r 6 nil] [:r 8 nil] [:append 9 5]]}
{:index 40, :time 0, :type :invoke, :process 9, :f :txn, :value [[:append 6 2] [:r 9 nil]]}
{:index 41, :time 0, :type :ok, :process 9, :f :txn, :value [[:append 6 2] [:r 9 [2]]]}"#;
    let r = cm(&hist(text), &["snapshot-isolation", "repeatable-read"]);
    assert_result(&r, False, &["G2-item"], &["repeatable-read"]);
}

#[test]
fn non_cycle_anomalies_are_explained() {
    let h = hist(
        &[
            op_edn("ax1", 0, "fail", None),
            op_edn("rx1", 0, "ok", None),
            op_edn("ax2ax3", 1, "ok", None),
            op_edn("rx2", 2, "ok", None),
        ]
        .join("\n"),
    );
    let r = cm(&h, &["read-committed"]);
    let g1a = r.anomalies["G1a"][0]["explanation"].as_str().unwrap();
    assert_eq!(g1a, "T1 read key x = [1], which includes 1, written by T0, which failed: an aborted read");
    let g1b = r.anomalies["G1b"][0]["explanation"].as_str().unwrap();
    assert!(g1b.starts_with("T3 read key x = [2], an intermediate state of T2"), "{g1b}");
}

#[test]
fn summary_names_the_weakest_models_ruled_out() {
    let r = cm(&hist(&oks(&["ax1ry", "ay1rx"])), &["serializable"]);
    // Write skew: Adya's repeatable read (PL-2.99) is ruled out, and the headline also says
    // that snapshot isolation (what PostgreSQL calls repeatable read) still holds.
    assert_eq!(
        r.summary,
        "G2-item (2 transactions); not repeatable-read; still consistent with snapshot-isolation, read-committed"
    );
}

#[test]
fn transactional_histories_are_recognised() {
    use super::read::looks_transactional;
    assert!(looks_transactional(PAPER_EXAMPLE_EDN));
    assert!(looks_transactional(GH30_JSON));
    assert!(looks_transactional(RW_REGISTER_EDN));
    assert!(looks_transactional("{\"type\": \"ok\", \"process\": 0, \"f\": \"txn\", \"value\": []}"));
    // Not transactions: Porcupine's kv appends, Knossos registers, faultline's set adds.
    assert!(!looks_transactional("{:process 0, :type :invoke, :f :append, :key \"0\", :value \"x 0 0 y\"}"));
    assert!(!looks_transactional("[{:process 4, :type :invoke, :f :cas, :value [0 2]}]"));
    assert!(!looks_transactional("{\"type\":\"ok\",\"process\":0,\"f\":\"add\",\"value\":3}"));
}

// Huge strongly connected components: the cycle search never settles for "a cycle exists".

/// A ring of `n` committed list-append transactions: T(i) appends 1 to key i and reads key i+1
/// (mod n) as empty, so T(i) precedes T(i+1) by rw, all the way round: one component of n
/// transactions whose only cycle is the whole ring, a G2-item. With `chord` = Some(j), T(j+1)
/// also appends 1 to key -1 and T(j) reads it as [1]: T(j+1) precedes T(j) by wr, a G-single-item
/// of two transactions somewhere in the middle.
fn ring(n: usize, chord: Option<usize>) -> TxnHistory {
    let mut text = String::with_capacity(n * 80);
    for i in 0..n {
        let mut mops = format!("[:append {i} 1] [:r {} []]", (i + 1) % n);
        if chord == Some(i) {
            mops.push_str(" [:r -1 [1]]");
        }
        if chord.map(|j| j + 1) == Some(i) {
            mops.push_str(" [:append -1 1]");
        }
        text.push_str(&format!("{{:process {}, :type :ok, :f :txn, :value [{mops}]}}\n", i % 7));
    }
    hist(&text)
}

fn serializable_opts() -> TxnOptions {
    let mut o = TxnOptions::new(Workload::ListAppend);
    o.consistency_models = vec!["serializable".into()];
    o
}

#[test]
fn huge_ring_is_reported_with_its_whole_cycle() {
    let n = 20_000;
    let r = check(&ring(n, None), &serializable_opts());
    assert_eq!(r.stats.largest_component, n);
    assert_result(&r, False, &["G2-item"], &["repeatable-read"]);
    let steps = cycle_steps(&r, "G2-item");
    assert_eq!(steps.len(), n);
    assert!(steps.iter().all(|s| s == "rw"));
    let cycle = r.anomalies["G2-item"][0]["cycle"].as_array().unwrap();
    assert_eq!(cycle.first(), cycle.last());
}

#[test]
fn huge_component_finds_its_short_cycle() {
    let n = 100_000;
    let r = check(&ring(n, Some(n / 2)), &serializable_opts());
    assert_eq!(r.stats.largest_component, n);
    assert_result(&r, False, &["G-single-item"], &["consistent-view", "repeatable-read"]);
    assert_eq!(cycle_steps(&r, "G-single-item"), ["rw", "wr"]);
    assert_eq!(r.anomalies["G-single-item"][0]["shortest"], true);
}

#[test]
fn a_search_cut_short_still_reports_a_real_cycle() {
    // A budget of 10 edges cuts the first search (the ring is 1,000 long): the search goes on
    // unbounded for the first cycle it can find, and says it is not proven shortest.
    let mut o = serializable_opts();
    o.search_budget = 10;
    let r = check(&ring(1000, None), &o);
    assert_result(&r, False, &["G2-item"], &["repeatable-read"]);
    assert_eq!(cycle_steps(&r, "G2-item").len(), 1000);
    assert_eq!(r.anomalies["G2-item"][0]["shortest"], false);
    // Out of time before it starts: the same.
    let mut o = serializable_opts();
    o.search_time = std::time::Duration::ZERO;
    let r = check(&ring(300, Some(150)), &o);
    assert_result(&r, False, &["G-single-item"], &["consistent-view", "repeatable-read"]);
    assert_eq!(cycle_steps(&r, "G-single-item"), ["rw", "wr"]);
}

#[test]
fn past_the_ceiling_a_kind_never_found_is_a_timeout() {
    // A ceiling of 100 edges: the ring's G-single-item and G-nonadjacent-item searches (there
    // are none) and its G2-item search (its one cycle has 1,000 edges) all give up, and say so.
    let mut o = serializable_opts();
    o.search_budget = 10;
    o.search_ceiling = 100;
    let r = check(&ring(1000, None), &o);
    assert_result(&r, Unknown, &["cycle-search-timeout"], &[]);
    let kinds: Vec<&str> =
        r.anomalies["cycle-search-timeout"].iter().map(|c| c["anomaly-spec-type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["G-single-item", "G-nonadjacent-item", "G2-item"]);
    assert_eq!(r.anomalies["cycle-search-timeout"][0]["scc-size"], 1000);
}
