//! Property tests for the linearizability checker.
//!
//! Histories are generated from a real sequential execution of a cas-register or a kv string
//! (one per key):
//! each operation gets a linearization point, and its invocation and completion are spread
//! randomly around that point, so overlaps are random but the history is always linearizable.
//! Some ops end `info` (taken effect or not). Then one `ok` read (or kv get) is corrupted. The checker's
//! verdict is compared with a brute-force checker that tries every order consistent with
//! real-time order (small histories only), written independently of the checker and its models.
//! The quick path for EDN register histories (`linearizable::quick`) is compared with the
//! general path on the same histories written as EDN.

use faultline_checkers::formats::{parse_history, write_edn, Format};
use faultline_checkers::linearizable::search::{self, Decision, Limits, Outcome, SearchOp};
use faultline_checkers::linearizable::{check, quick, unique, ModelKind, Options};
use faultline_checkers::models::{Register, RegisterOp, Val};
use faultline_checkers::{Op, OpType, Process, Verdict};
use proptest::prelude::*;
use serde_json::{json, Value};

/// A generated operation: what was called, what it returned, and when.
#[derive(Debug, Clone)]
struct GenOp {
    key: u8,
    f: &'static str,
    input: Value,
    /// `None`: ended `info`.
    output: Option<Value>,
    call: u32,
    ret: Option<u32>,
}

/// Raw choices for one op: (key, kind 0..3, a, b, took effect if info, info?, call delay, return delay).
type Choice = (u8, u8, u8, u8, bool, bool, u8, u8);

/// The call and return times of the `i`th op of a sequential execution: its linearization
/// point is 100 * i (plus 1000), and the call and return lie the given delays before and after
/// it. Calls fall on 4k+1 and returns on 4k+3: never equal, so real-time order is unambiguous.
fn spread(i: usize, d_call: u8, d_ret: u8) -> (u32, u32) {
    let point = 100 * i as u32 + 1000;
    (4 * (point - 1 - u32::from(d_call) * 3) + 1, 4 * (point + 1 + u32::from(d_ret) * 3) + 3)
}

/// Run the ops sequentially (linearization point of op i is 100*i) and spread calls/returns.
fn generate(choices: &[Choice]) -> Vec<GenOp> {
    let mut state: [Option<i64>; 2] = [None, None];
    let mut ops = Vec::new();
    for (i, &(key, kind, a, b, effect, info, d_call, d_ret)) in choices.iter().enumerate() {
        let key = key % 2;
        let (call, ret) = spread(i, d_call, d_ret);
        let (a, b) = (i64::from(a % 3), i64::from(b % 3));
        let s = &mut state[key as usize];
        let took_effect = !info || effect;
        let (f, input, output) = match kind % 3 {
            0 => {
                let out = json!(*s);
                ("read", Value::Null, out)
            }
            1 => {
                if took_effect {
                    *s = Some(a);
                }
                ("write", json!(a), json!(a))
            }
            _ => {
                // A cas that did not apply would end `fail`, which the checker drops: only
                // generate cas ops that apply, or info ones.
                if *s != Some(a) && !info {
                    continue;
                }
                if took_effect && *s == Some(a) {
                    *s = Some(b);
                }
                ("cas", json!([a, b]), json!([a, b]))
            }
        };
        ops.push(GenOp { key, f, input, output: (!info).then_some(output), call, ret: (!info).then_some(ret) });
    }
    ops
}

/// The history's events in time order; each op on its own process (so no process overlaps).
fn to_history(ops: &[GenOp]) -> Vec<Op> {
    let mut events: Vec<(u32, usize, bool)> = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        events.push((op.call, i, true));
        events.push((op.ret.unwrap_or(u32::MAX - 1), i, false));
    }
    events.sort();
    events
        .iter()
        .enumerate()
        .map(|(pos, &(t, i, is_call))| {
            let op = &ops[i];
            let (kind, value) = if is_call {
                (OpType::Invoke, op.input.clone())
            } else if let Some(out) = &op.output {
                (OpType::Ok, out.clone())
            } else {
                (OpType::Info, op.input.clone())
            };
            Op {
                index: pos as u64,
                time: u64::from(t),
                kind,
                process: Process::Client(i as u64),
                f: op.f.into(),
                value,
                key: Some(json!(op.key)),
                node: None,
                error: None,
            }
        })
        .collect()
}

/// Brute force: is there an order of the ops, respecting real time (a before b when a returned
/// before b was called), in which every `ok` op happens, each `info` op happens or not, and each
/// op's output matches the model's sequential specification (`step`) from `init`? Per key.
fn brute_force(ops: &[GenOp], init: Value, step: fn(&Value, &GenOp) -> Option<Value>) -> bool {
    (0..2u8).all(|k| {
        let mine: Vec<&GenOp> = ops.iter().filter(|o| o.key == k).collect();
        let mut placed = vec![false; mine.len()];
        search(&mine, &mut placed, init.clone(), step)
    })
}

fn search(ops: &[&GenOp], placed: &mut Vec<bool>, state: Value, step: fn(&Value, &GenOp) -> Option<Value>) -> bool {
    if ops.iter().zip(placed.iter()).all(|(o, &p)| p || o.ret.is_none()) {
        return true;
    }
    for i in 0..ops.len() {
        if placed[i] {
            continue;
        }
        // Every unplaced ok op that returned before this one was called must come first.
        let blocked = ops.iter().zip(placed.iter()).any(|(b, &p)| !p && b.ret.is_some_and(|r| r < ops[i].call));
        if blocked {
            continue;
        }
        let Some(next) = step(&state, ops[i]) else { continue };
        placed[i] = true;
        if search(ops, placed, next, step) {
            placed[i] = false;
            return true;
        }
        placed[i] = false;
    }
    false
}

/// A cas-register started at nil, written independently of the checker's models.
fn cas_register_step(state: &Value, op: &GenOp) -> Option<Value> {
    match op.f {
        "read" => match &op.output {
            Some(v) if v != state => None,
            _ => Some(state.clone()),
        },
        "write" => Some(op.input.clone()),
        _ => (*state == op.input[0]).then(|| op.input[1].clone()),
    }
}

/// Porcupine's kv model for one key: a string started at "".
fn kv_step(state: &Value, op: &GenOp) -> Option<Value> {
    let s = state.as_str().unwrap_or("");
    match op.f {
        "get" => match &op.output {
            Some(v) if v.as_str() != Some(s) => None,
            _ => Some(state.clone()),
        },
        "put" => Some(op.input.clone()),
        _ => Some(json!(format!("{s}{}", op.input.as_str().unwrap_or("")))),
    }
}

/// kv histories from a real sequential execution, spread like `generate`'s: gets, puts and
/// appends of one letter, so that concurrent appends must be ordered by what gets returned.
fn generate_kv(choices: &[Choice]) -> Vec<GenOp> {
    let mut state = [String::new(), String::new()];
    let mut ops = Vec::new();
    for (i, &(key, kind, a, b, effect, info, d_call, d_ret)) in choices.iter().enumerate() {
        let key = key % 2;
        let (call, ret) = spread(i, d_call, d_ret);
        let letter = ["a", "b", "c"][usize::from(a % 3)];
        let s = &mut state[key as usize];
        let took_effect = !info || effect;
        let (f, input, output) = match kind % 3 {
            0 => ("get", Value::Null, json!(s.clone())),
            // Puts are rarer than appends, as in Porcupine's histories.
            1 if b % 3 == 0 => {
                if took_effect {
                    *s = letter.to_string();
                }
                ("put", json!(letter), json!(letter))
            }
            _ => {
                if took_effect {
                    s.push_str(letter);
                }
                ("append", json!(letter), json!(letter))
            }
        };
        ops.push(GenOp { key, f, input, output: (!info).then_some(output), call, ret: (!info).then_some(ret) });
    }
    ops
}

/// The positions of the `ok` ops calling `f`: the reads a test may corrupt.
fn acknowledged(ops: &[GenOp], f: &str) -> Vec<usize> {
    (0..ops.len()).filter(|&i| ops[i].f == f && ops[i].output.is_some()).collect()
}

fn checker_says(ops: &[GenOp]) -> Verdict {
    checker_with(ops, ModelKind::CasRegister, Value::Null)
}

fn checker_with(ops: &[GenOp], model: ModelKind, init: Value) -> Verdict {
    let history = to_history(ops);
    let mut opts = Options::new(model);
    opts.threads = 2;
    opts.init = init;
    let r = check(&history, &opts).expect("ops fit the model");
    // Every explanation of a violation passes its own cross-check against the history.
    assert!(!r.summary.contains("failed its own check"), "{}: {ops:?}", r.summary);
    assert!(
        r.verdict != Verdict::Invalid || r.failure.as_ref().is_some_and(|f| !f.ops.is_empty()),
        "a violation without its explanation: {}: {ops:?}",
        r.summary
    );
    r.verdict
}

fn choice() -> impl Strategy<Value = Choice> {
    (0u8..2, 0u8..3, 0u8..3, 0u8..3, any::<bool>(), prop::bool::weighted(0.15), 0u8..80, 0u8..80)
}

/// Many crashed ops (40 %), long overlaps: the histories of issue 18, in small.
fn crashing_choice() -> impl Strategy<Value = Choice> {
    (0u8..2, 0u8..3, 0u8..5, 0u8..3, any::<bool>(), prop::bool::weighted(0.4), 0u8..120, 0u8..120)
}

/// A single cas-register where every write and cas writes a value never written before (the
/// op's number + 1; the register starts at nil): the histories `linearizable::unique` decides.
/// A cas mostly expects the current value, else an older one (or nil).
fn generate_unique(choices: &[Choice]) -> Vec<GenOp> {
    let mut state: Option<i64> = None;
    let mut ops = Vec::new();
    for (i, &(_, kind, a, b, effect, info, d_call, d_ret)) in choices.iter().enumerate() {
        let (call, ret) = spread(i, d_call, d_ret);
        let fresh = i as i64 + 1;
        let took_effect = !info || effect;
        let (f, input, output) = match kind % 3 {
            0 => ("read", Value::Null, json!(state)),
            1 => {
                if took_effect {
                    state = Some(fresh);
                }
                ("write", json!(fresh), json!(fresh))
            }
            _ => {
                let older = i64::from(a) % fresh;
                let expected = if b % 3 == 0 { (older > 0).then_some(older) } else { state };
                if state != expected && !info {
                    continue;
                }
                if took_effect && state == expected {
                    state = Some(fresh);
                }
                ("cas", json!([expected, fresh]), json!([expected, fresh]))
            }
        };
        ops.push(GenOp { key: 0, f, input, output: (!info).then_some(output), call, ret: (!info).then_some(ret) });
    }
    ops
}

/// Corrupt one ok read (if `bad` says so) to `bad - 1` (0: nil), a value maybe never written.
fn corrupt_read(ops: &mut [GenOp], which: usize, bad: i64) {
    let reads = acknowledged(ops, "read");
    if bad == 0 || reads.is_empty() {
        return;
    }
    let r = reads[which % reads.len()];
    ops[r].output = Some(if bad == 1 { Value::Null } else { json!(bad - 1) });
}

/// The search's ops for one key of generated ops, as `Register::prepare` makes them (a crashed
/// read carries no information and is left out).
fn search_ops(ops: &[GenOp], key: u8) -> Vec<SearchOp<RegisterOp>> {
    ops.iter()
        .filter(|o| o.key == key && !(o.f == "read" && o.output.is_none()))
        .map(|o| SearchOp {
            op: match o.f {
                "read" => RegisterOp::Read(Val::from_json(o.output.as_ref().unwrap())),
                "write" => RegisterOp::Write(Val::from_json(&o.input)),
                _ => RegisterOp::Cas(Val::from_json(&o.input[0]), Val::from_json(&o.input[1])),
            },
            call_at: o.call as usize,
            return_at: o.ret.map(|r| r as usize),
        })
        .collect()
}

/// The search alone (crashed-op pruning included, no decision procedure) on one key.
fn search_says(ops: &[GenOp], key: u8) -> bool {
    let stop = std::sync::atomic::AtomicBool::new(false);
    let limits = Limits { deadline: None, memory_budget: 1 << 30, stop: &stop, max_steps: u64::MAX, symmetry_after: 0 };
    let model = Register { init: Val::Nil, allow_cas: true };
    match search::search(&model, &search_ops(ops, key), &limits) {
        Outcome::Linearizable => true,
        Outcome::NotLinearizable(_) => false,
        other => panic!("the search gave up: {other:?}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, max_global_rejects: 1_000_000, .. ProptestConfig::default() })]

    /// Generated histories are linearizable, and the checker agrees with brute force.
    #[test]
    fn generated_histories_are_linearizable(choices in prop::collection::vec(choice(), 1..9)) {
        let ops = generate(&choices);
        prop_assert!(brute_force(&ops, Value::Null, cas_register_step), "the generator must produce linearizable histories: {ops:?}");
        prop_assert_eq!(checker_says(&ops), Verdict::Valid, "{:?}", ops);
    }

    /// Corrupting one ok read: the checker agrees with brute force either way.
    #[test]
    fn corrupted_read_agrees_with_brute_force(choices in prop::collection::vec(choice(), 1..9), which in 0usize..8, bad in 0i64..4) {
        let mut ops = generate(&choices);
        let reads = acknowledged(&ops, "read");
        prop_assume!(!reads.is_empty());
        let r = reads[which % reads.len()];
        let new = if bad == 3 { Value::Null } else { json!(bad) };
        prop_assume!(ops[r].output.as_ref() != Some(&new));
        ops[r].output = Some(new);
        let expected = if brute_force(&ops, Value::Null, cas_register_step) { Verdict::Valid } else { Verdict::Invalid };
        prop_assert_eq!(checker_says(&ops), expected, "{:?}", ops);
    }

    /// The quick path for EDN register histories gives the general path's result, or declines
    /// (it must when the history is not linearizable: the explanation needs the general path).
    #[test]
    fn quick_path_agrees_with_the_general_path(choices in prop::collection::vec(choice(), 1..12), which in 0usize..8, bad in 0i64..5, nemesis_at in 0usize..30) {
        let mut ops = generate(&choices);
        let reads = acknowledged(&ops, "read");
        if bad < 4 && !reads.is_empty() {
            ops[reads[which % reads.len()]].output = Some(json!(bad));
        }
        // One register: the keys go, and with them the split per key.
        let mut history = to_history(&ops);
        history.iter_mut().for_each(|op| op.key = None);
        prop_assume!(!history.is_empty());
        // What real Jepsen histories carry besides: a nemesis op with a map for its value, and
        // an error on the ops that ended info. The quick path skips both.
        for op in history.iter_mut().filter(|op| op.kind == OpType::Info) {
            op.error = Some("timeout".into());
        }
        let nemesis = Op {
            index: 0,
            time: 0,
            kind: OpType::Info,
            process: Process::Nemesis,
            f: "start-partition".into(),
            value: json!({"n1": ["n2", "n3"]}),
            key: None,
            node: None,
            error: None,
        };
        history.insert(nemesis_at.min(history.len()), nemesis);
        let text = write_edn(&history);
        let loaded = parse_history(&text, Format::Auto).unwrap();
        let mut opts = Options::new(ModelKind::detect(&loaded.ops).unwrap());
        opts.nil_read_is_unknown = loaded.nil_read_is_unknown;
        let general = check(&loaded.ops, &opts).unwrap();
        match quick::check_register_edn(&text, &opts, true) {
            Some(quick) => prop_assert_eq!(quick, general),
            None => prop_assert_eq!(general.verdict, Verdict::Invalid),
        }
    }

    /// kv histories (get/put/append, the model the search prunes hardest) are linearizable.
    #[test]
    fn generated_kv_histories_are_linearizable(choices in prop::collection::vec(choice(), 1..10)) {
        let ops = generate_kv(&choices);
        prop_assert!(brute_force(&ops, json!(""), kv_step), "the generator must produce linearizable histories: {ops:?}");
        prop_assert_eq!(checker_with(&ops, ModelKind::Kv, json!("")), Verdict::Valid, "{:?}", ops);
    }

    /// Corrupting one kv get (another string, or a reordering of the appends it saw): the
    /// checker agrees with brute force either way.
    #[test]
    fn corrupted_kv_get_agrees_with_brute_force(choices in prop::collection::vec(choice(), 1..10), which in 0usize..8, bad in 0usize..4) {
        let mut ops = generate_kv(&choices);
        let gets = acknowledged(&ops, "get");
        prop_assume!(!gets.is_empty());
        let g = gets[which % gets.len()];
        let seen = ops[g].output.as_ref().and_then(Value::as_str).unwrap_or("").to_string();
        let new = match bad {
            0 => seen.chars().rev().collect::<String>(),
            1 => format!("{seen}a"),
            2 => seen.chars().skip(1).collect(),
            _ => format!("b{seen}"),
        };
        prop_assume!(new != seen);
        ops[g].output = Some(json!(new));
        let expected = if brute_force(&ops, json!(""), kv_step) { Verdict::Valid } else { Verdict::Invalid };
        prop_assert_eq!(checker_with(&ops, ModelKind::Kv, json!("")), expected, "{:?}", ops);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, .. ProptestConfig::default() })]

    /// Unique values, many crashed ops, one read maybe corrupted: the unique-value procedure,
    /// the search alone and the whole checker all agree with brute force.
    #[test]
    fn unique_values_agree_with_brute_force(choices in prop::collection::vec(crashing_choice(), 1..13), which in 0usize..8, bad in 0i64..8) {
        let mut ops = generate_unique(&choices);
        corrupt_read(&mut ops, which, bad);
        let expected = brute_force(&ops, Value::Null, cas_register_step);
        if bad == 0 {
            prop_assert!(expected, "the generator must produce linearizable histories: {ops:?}");
        }
        let decided = unique::decide(&Val::Nil, &search_ops(&ops, 0)).expect("values are unique");
        prop_assert_eq!(matches!(decided, Decision::Linearizable), expected, "unique: {:?}", ops);
        prop_assert_eq!(search_says(&ops, 0), expected, "search: {:?}", ops);
        let verdict = if expected { Verdict::Valid } else { Verdict::Invalid };
        prop_assert_eq!(checker_says(&ops), verdict, "checker: {:?}", ops);
    }

    /// Repeated small values, many crashed ops (which the search prunes and deduplicates), one
    /// read maybe corrupted: the search alone agrees with brute force, on each key.
    #[test]
    fn crashed_ops_pruned_soundly(choices in prop::collection::vec(crashing_choice(), 1..13), which in 0usize..8, bad in 0i64..5) {
        let mut ops = generate(&choices);
        corrupt_read(&mut ops, which, bad);
        for key in 0..2u8 {
            let mine: Vec<GenOp> = ops.iter().filter(|o| o.key == key).cloned().collect();
            let expected = brute_force(&mine, Value::Null, cas_register_step);
            prop_assert_eq!(search_says(&mine, key), expected, "key {}: {:?}", key, mine);
        }
        let expected = if brute_force(&ops, Value::Null, cas_register_step) { Verdict::Valid } else { Verdict::Invalid };
        prop_assert_eq!(checker_says(&ops), expected, "{:?}", ops);
    }
}

/// A read of a value never written is always caught, and the report names it.
#[test]
fn stale_read_after_acknowledged_write_is_invalid() {
    let ops = vec![
        GenOp { key: 0, f: "write", input: json!(1), output: Some(json!(1)), call: 0, ret: Some(1) },
        // faultline's own convention: an ok read of null means "absent", which is impossible now.
        GenOp { key: 0, f: "read", input: Value::Null, output: Some(Value::Null), call: 2, ret: Some(3) },
    ];
    assert!(!brute_force(&ops, Value::Null, cas_register_step));
    let mut opts = Options::new(ModelKind::CasRegister);
    let r = check(&to_history(&ops), &opts).unwrap();
    assert_eq!(r.verdict, Verdict::Invalid);
    assert_eq!(r.failure.as_ref().unwrap().states, vec!["1".to_string()]);
    // Under the Jepsen convention the same null read carries no information.
    opts.nil_read_is_unknown = true;
    assert_eq!(check(&to_history(&ops), &opts).unwrap().verdict, Verdict::Valid);
}
