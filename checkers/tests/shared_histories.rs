//! Every history in shared/histories must get its label: the 6 Porcupine key-value files
//! (`-ok` linearizable, `-bad` not) and the 120 Knossos cas-register files (good/ and bad/).

use faultline_checkers::formats::{read_history, Format};
use faultline_checkers::linearizable::{check, quick, ModelKind, Options};
use faultline_checkers::Verdict;
use serde_json::Value;
use std::path::Path;

mod common;

use common::{files, shared};

/// Check a file the way `faultline check --model auto` does, with the Knossos convention for
/// the initial value (0, except rethink-fail-minimal which starts at nil).
fn verdict_of(path: &Path) -> (Verdict, String) {
    let r = general_check(path);
    // Every explanation of a violation passes its own cross-check against the history.
    assert!(!r.summary.contains("failed its own check"), "{}: {}", path.display(), r.summary);
    (r.verdict, r.summary)
}

fn general_check(path: &Path) -> faultline_checkers::linearizable::LinearizableResult {
    let loaded = read_history(path, Format::Auto).unwrap_or_else(|e| panic!("{e}"));
    let model = ModelKind::detect(&loaded.ops).unwrap();
    let mut opts = Options::new(model);
    opts.nil_read_is_unknown = loaded.nil_read_is_unknown;
    opts.init = init_for(path, loaded.format);
    check(&loaded.ops, &opts).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn init_for(path: &Path, format: Format) -> Value {
    match format {
        Format::Porcupine => Value::String(String::new()),
        _ if path.ends_with("rethink-fail-minimal.edn") => Value::Null,
        _ => Value::from(0),
    }
}

/// The quick path for EDN register histories (`linearizable::quick`) takes the good Knossos
/// files and gives exactly the general path's result; it declines the invalid ones (which need
/// the general path's explanation) and the Porcupine kv files (keys, strings).
#[test]
fn quick_path_agrees_with_the_general_path() {
    if !common::have_shared("quick_path_agrees_with_the_general_path") {
        return;
    }
    let mut taken = 0;
    for dir in ["knossos-cas-register/good", "knossos-cas-register/bad", "porcupine-kv"] {
        for path in files(&shared().join(dir)) {
            let general = general_check(&path);
            let text = std::fs::read_to_string(&path).unwrap();
            let mut opts = Options::new(ModelKind::Register);
            opts.init = init_for(&path, Format::Edn);
            match quick::check_register_edn(&text, &opts, true) {
                Some(quick) => {
                    assert_eq!(quick, general, "{}", path.display());
                    taken += 1;
                }
                None => assert!(
                    dir == "porcupine-kv" || general.verdict != Verdict::Valid || general.ops == 0,
                    "{} was declined",
                    path.display()
                ),
            }
        }
    }
    // Of the 113 good files, one has only nemesis ops: nothing to check, so nothing to hurry.
    assert_eq!(taken, 112);
}

#[test]
fn porcupine_kv_files_get_their_labels() {
    if !common::have_shared("porcupine_kv_files_get_their_labels") {
        return;
    }
    let all = files(&shared().join("porcupine-kv"));
    assert_eq!(all.len(), 6);
    for path in all {
        let loaded = read_history(&path, Format::Auto).unwrap();
        assert_eq!(loaded.format, Format::Porcupine, "{}", path.display());
        assert_eq!(ModelKind::detect(&loaded.ops).unwrap(), ModelKind::Kv);
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let want = if name.contains("-ok") { Verdict::Valid } else { Verdict::Invalid };
        let (got, summary) = verdict_of(&path);
        assert_eq!(got, want, "{name}: {summary}");
    }
}

#[test]
fn knossos_good_files_are_linearizable() {
    if !common::have_shared("knossos_good_files_are_linearizable") {
        return;
    }
    let all = files(&shared().join("knossos-cas-register/good"));
    assert_eq!(all.len(), 113);
    let wrong: Vec<String> = all
        .iter()
        .filter_map(|p| {
            let (v, s) = verdict_of(p);
            (v != Verdict::Valid).then(|| format!("{}: {v:?} {s}", p.display()))
        })
        .collect();
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn knossos_bad_files_are_not_linearizable() {
    if !common::have_shared("knossos_bad_files_are_not_linearizable") {
        return;
    }
    let all = files(&shared().join("knossos-cas-register/bad"));
    assert_eq!(all.len(), 7);
    for p in &all {
        let loaded = read_history(p, Format::Auto).unwrap();
        assert_eq!(loaded.format, Format::Edn);
        assert!(loaded.nil_read_is_unknown);
        let (v, s) = verdict_of(p);
        assert_eq!(v, Verdict::Invalid, "{}: {s}", p.display());
    }
}

#[test]
fn invalid_verdict_explains_itself() {
    if !common::have_shared("invalid_verdict_explains_itself") {
        return;
    }
    let path = shared().join("knossos-cas-register/bad/rethink-fail-minimal.edn");
    let loaded = read_history(&path, Format::Auto).unwrap();
    let mut opts = Options::new(ModelKind::CasRegister);
    opts.nil_read_is_unknown = true;
    let r = check(&loaded.ops, &opts).unwrap();
    assert_eq!(r.verdict, Verdict::Invalid);
    let f = r.failure.expect("a failure");
    // write 0 is linearized; then read 3 (op 1) cannot be: the register holds 0 (or 4).
    let failing = f.ops.iter().find(|o| o.id == f.failing).expect("failing op in ops");
    assert_eq!(failing.f, "read");
    assert_eq!(failing.output, Value::from(3));
    assert!(f.linearized_count >= 1);
    assert!(f.states.iter().any(|s| s == "0" || s == "4"), "{:?}", f.states);
    assert!(r.summary.contains("read 3 by process 1"), "{}", r.summary);
    assert!(f.concurrent.iter().any(|&id| f.ops.iter().any(|o| o.id == id && o.f == "write")));
    let json = serde_json::to_value(&f).unwrap();
    for field in ["key", "ops", "linearized", "states", "failing", "concurrent"] {
        assert!(json.get(field).is_some(), "missing {field}");
    }
}

/// An unfinished search is `unknown` with its reason, never a hang or an out-of-memory.
#[test]
fn out_of_time_or_memory_is_unknown() {
    if !common::have_shared("out_of_time_or_memory_is_unknown") {
        return;
    }
    let path = shared().join("porcupine-kv/c50-ok.txt");
    let loaded = read_history(&path, Format::Auto).unwrap();
    let mut opts = Options::new(ModelKind::Kv);
    opts.init = Value::String(String::new());
    opts.timeout = Some(std::time::Duration::from_millis(1));
    let r = check(&loaded.ops, &opts).unwrap();
    assert_eq!(r.verdict, Verdict::Unknown, "{}", r.summary);
    assert!(r.summary.contains("timed out"), "{}", r.summary);

    let mut opts = Options::new(ModelKind::Kv);
    opts.init = Value::String(String::new());
    opts.memory_budget = 64 << 10;
    let r = check(&loaded.ops, &opts).unwrap();
    assert_eq!(r.verdict, Verdict::Unknown, "{}", r.summary);
    assert!(r.summary.contains("memory budget"), "{}", r.summary);
}

/// The wrong model is an error naming the op, not a verdict.
#[test]
fn ops_that_do_not_fit_the_model_are_an_error() {
    if !common::have_shared("ops_that_do_not_fit_the_model_are_an_error") {
        return;
    }
    let path = shared().join("knossos-cas-register/bad/cas-failure.edn");
    let loaded = read_history(&path, Format::Auto).unwrap();
    let e = check(&loaded.ops, &Options::new(ModelKind::Register)).unwrap_err();
    assert!(e.contains("cas") && e.contains("history index"), "{e}");
}
