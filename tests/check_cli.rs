//! `faultline check` as users run it: several files, their order, the exit code (the worst
//! verdict; 254 for unreadable input), `--json` and `--report`. No cluster needed.

use std::path::PathBuf;
use std::process::{Command, Output};

/// The shared histories: `$FAULTLINE_SHARED/histories`, else `shared/` beside the checkout.
fn shared() -> PathBuf {
    let root = std::env::var_os("FAULTLINE_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared"));
    root.join("histories")
}

/// Whether the shared histories are there; if not, says in one line that `test` is skipped
/// (a newcomer's clone has no `../shared`).
fn have_shared(test: &str) -> bool {
    let there = shared().is_dir();
    if !there {
        println!("skipped: {test}: needs the shared histories at {} (set FAULTLINE_SHARED)", shared().display());
    }
    there
}

fn check(args: &[&str], files: &[PathBuf]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_faultline")).arg("check").args(args).args(files).output().unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Small files first and large ones after (the checker takes large files first internally):
/// the lines still come in argument order, and one invalid file makes the exit code 1.
#[test]
fn lines_follow_the_arguments_and_the_worst_verdict_is_the_exit_code() {
    if !have_shared("lines_follow_the_arguments_and_the_worst_verdict_is_the_exit_code") {
        return;
    }
    let k = shared().join("knossos-cas-register");
    let files = vec![
        k.join("bad/immediate-failure.edn"),
        k.join("good/memstress3-1.edn"),
        k.join("good/mongodb-v0-ack-rollback-8.edn"),
        k.join("bad/cas-failure.edn"),
        k.join("good/cas-register-bug.edn"),
    ];
    let out = check(&["--init", "0"], &files);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let text = stdout(&out);
    let verdicts: Vec<(&str, &str)> = text
        .lines()
        .filter(|l| l.contains(".edn"))
        .map(|l| (l.split_whitespace().next().unwrap(), l.rsplit('/').next().unwrap()))
        .collect();
    assert_eq!(
        verdicts,
        vec![
            ("invalid", "immediate-failure.edn"),
            ("valid", "memstress3-1.edn"),
            ("valid", "mongodb-v0-ack-rollback-8.edn"),
            ("invalid", "cas-failure.edn"),
            ("valid", "cas-register-bug.edn"),
        ],
        "{text}"
    );
    assert!(text.contains("5 files: 3 valid, 2 invalid, 0 unknown, 0 unreadable"), "{text}");

    // Only valid files: exit 0.
    let out = check(&["--init", "0"], &files[1..3]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
}

#[test]
fn json_gives_one_object_per_file_and_a_summary() {
    if !have_shared("json_gives_one_object_per_file_and_a_summary") {
        return;
    }
    let p = shared().join("porcupine-kv");
    let out = check(&["--json"], &[p.join("c10-ok.txt"), p.join("c10-bad.txt")]);
    assert_eq!(out.status.code(), Some(1));
    let lines: Vec<serde_json::Value> = stdout(&out).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["verdict"], "valid");
    assert_eq!(lines[0]["format"], "porcupine");
    assert_eq!(lines[1]["verdict"], "invalid");
    // The failure explains itself: the key, the op that cannot be linearized, the prefix.
    let failure = &lines[1]["checkers"]["linearizable"]["failure"];
    assert!(failure["key"].is_string() && failure["failing"].is_u64() && failure["ops"].is_array(), "{failure}");
    assert_eq!(lines[2]["summary"]["files"], 2);
    assert_eq!(lines[2]["summary"]["verdict"], "invalid");
}

/// A malformed file is reported with its name and line, the others are still checked, and the
/// exit code says the input was bad.
#[test]
fn bad_input_names_the_file_and_line_and_loses_the_others_nothing() {
    if !have_shared("bad_input_names_the_file_and_line_and_loses_the_others_nothing") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.edn");
    std::fs::write(&broken, "[{:process 1, :type :invoke, :f :read, :value nil}\n {:process 1, :type :ok, :f :read}\n {:process 2, :type :ok, :f :read, :value 3}]\n").unwrap();
    let missing = dir.path().join("missing.edn");
    let good = shared().join("knossos-cas-register/good/cas-register-bug.edn");
    let out = check(&["--init", "0"], &[broken.clone(), good, missing.clone()]);
    assert_eq!(out.status.code(), Some(254));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("{}:3:", broken.display())) && err.contains("without an invoke"), "{err}");
    assert!(err.contains(&missing.display().to_string()), "{err}");
    assert!(stdout(&out).contains("valid") && stdout(&out).contains("cas-register-bug.edn"), "{}", stdout(&out));
}

#[test]
fn report_writes_a_page_per_file() {
    if !have_shared("report_writes_a_page_per_file") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let bad = shared().join("knossos-cas-register/bad/rethink-fail-smaller.edn");
    let out = check(&["--init", "0", "--report", dir.path().to_str().unwrap()], &[bad]);
    assert_eq!(out.status.code(), Some(1));
    let page = std::fs::read_to_string(dir.path().join("rethink-fail-smaller.edn/index.html")).unwrap();
    assert!(page.contains("cannot be linearized"), "the page explains the violation");
}

/// A plain EDN register history takes the quick path (`linearizable::quick`) unless a report
/// needs its ops; both paths give the same result.
#[test]
fn quick_and_general_paths_give_the_same_result() {
    if !have_shared("quick_and_general_paths_give_the_same_result") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let files = [
        shared().join("knossos-cas-register/good/memstress3-1.edn"),
        shared().join("knossos-cas-register/good/mongodb-v0-ack-rollback-8.edn"),
    ];
    let quick = check(&["--init", "0", "--json"], &files);
    let general = check(&["--init", "0", "--json", "--report", dir.path().to_str().unwrap()], &files);
    assert_eq!(quick.status.code(), Some(0));
    assert_eq!(general.status.code(), Some(0));
    let results = |out: &Output| -> Vec<serde_json::Value> {
        stdout(out)
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .filter(|v| v.get("file").is_some())
            .map(|v| serde_json::json!([v["file"], v["format"], v["verdict"], v["checkers"]]))
            .collect()
    };
    assert_eq!(results(&quick), results(&general));
    assert_eq!(results(&quick).len(), 2);
}

/// Transactional histories (Elle's list-append and rw-register): detected from the content,
/// exit codes 0 / 1 / 2, Elle's fields in `--json`, and malformed input named by file and line.
#[test]
fn transactional_histories() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    // Elle's G2-item example (list_append_test.clj): valid under read-committed, not under serializable.
    let g2 = write(
        "g2.edn",
        "{:process 0, :type :ok, :f :txn, :value [[:append :x 1] [:r :y []]]}\n{:process 1, :type :ok, :f :txn, :value [[:append :y 1] [:r :x []]]}\n",
    );
    let out = check(&[], std::slice::from_ref(&g2));
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stdout(&out).contains("G2-item") && stdout(&out).contains("(rw)"), "{}", stdout(&out));
    let out = check(&["--consistency-models", "read-committed"], std::slice::from_ref(&g2));
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let out = check(
        &["--json", "--workload", "list-append", "--consistency-models", "serializable"],
        std::slice::from_ref(&g2),
    );
    let first: serde_json::Value = serde_json::from_str(stdout(&out).lines().next().unwrap()).unwrap();
    assert_eq!(first["valid?"], false);
    assert_eq!(first["anomaly-types"], serde_json::json!(["G2-item"]));
    assert_eq!(first["not"], serde_json::json!(["repeatable-read"]));
    assert!(first["also-not"].as_array().unwrap().contains(&serde_json::json!("serializable")));
    // Nothing to analyse: unknown.
    let lone = write("lone.jsonl", "{\"type\":\"ok\",\"process\":0,\"f\":\"txn\",\"value\":[[\"append\",1,1]]}\n");
    assert_eq!(check(&[], &[lone]).status.code(), Some(2));
    // rw-register, elle-cli's JSON array form.
    let rw = write("rw.json", "[{\"type\":\"ok\",\"f\":\"txn\",\"value\":[[\"w\",\"x\",1],[\"r\",\"y\",1]],\"process\":0},\n{\"type\":\"ok\",\"f\":\"txn\",\"value\":[[\"w\",\"y\",1],[\"r\",\"x\",1]],\"process\":1}]\n");
    let out = check(&["--workload", "rw-register"], &[rw]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stdout(&out).contains("G1c"), "{}", stdout(&out));
    // rw-register version-order assumptions (Elle's rw_register_test.clj, "cyclic version order"):
    // one process writes 1, then 2, then reads 1. Only --sequential-keys and --linearizable-keys
    // see that the versions of x went 1, 2, 1.
    let seq = write(
        "seq.edn",
        &[
            ("invoke", "[[:w :x 1]]"),
            ("ok", "[[:w :x 1]]"),
            ("invoke", "[[:w :x 2]]"),
            ("ok", "[[:w :x 2]]"),
            ("invoke", "[[:r :x nil]]"),
            ("ok", "[[:r :x 1]]"),
        ]
        .iter()
        .map(|(t, v)| format!("{{:process 0, :type :{t}, :f :txn, :value {v}}}\n"))
        .collect::<String>(),
    );
    assert_eq!(check(&["--workload", "rw-register"], std::slice::from_ref(&seq)).status.code(), Some(0));
    for flag in ["--sequential-keys", "--linearizable-keys"] {
        let out = check(&["--json", "--workload", "rw-register", flag], std::slice::from_ref(&seq));
        assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
        let first: serde_json::Value = serde_json::from_str(stdout(&out).lines().next().unwrap()).unwrap();
        assert_eq!(first["anomaly-types"], serde_json::json!(["cyclic-versions"]), "{flag}");
        assert_eq!(first["anomalies"]["cyclic-versions"][0]["scc"], serde_json::json!([1, 2]), "{flag}");
    }
    let out = check(&["--sequential-keys"], std::slice::from_ref(&g2));
    assert_eq!(out.status.code(), Some(254));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--sequential-keys applies to rw-register histories"));
    // Malformed: the file and line.
    let bad = write("bad.edn", "{:process 0, :type :ok, :f :txn, :value [[:append :x 1]]}\n{:process 1, :type :ok, :f :txn, :value [[:append :x 1]]}\n");
    let out = check(&[], std::slice::from_ref(&bad));
    assert_eq!(out.status.code(), Some(254));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("{}:2: value 1 is appended to key x twice", bad.display())), "{err}");
    // Unknown model names are bad arguments.
    assert_eq!(check(&["--consistency-models", "serializeable"], std::slice::from_ref(&g2)).status.code(), Some(254));
    // Elle's `:consistency-models nil` with `:anomalies`: only those anomalies count. The G2-item
    // history has no G0, so it is valid when only G0 is asked for, and invalid when G2-item is.
    let out = check(&["--consistency-models", "none", "--anomalies", "G0"], std::slice::from_ref(&g2));
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let out = check(&["--json", "--consistency-models", "none", "--anomalies", "G2-item"], std::slice::from_ref(&g2));
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let first: serde_json::Value = serde_json::from_str(stdout(&out).lines().next().unwrap()).unwrap();
    assert_eq!(first["anomaly-types"], serde_json::json!(["G2-item"]));
    let out = check(&["--consistency-models", "none"], std::slice::from_ref(&g2));
    assert_eq!(out.status.code(), Some(254));
    assert!(String::from_utf8_lossy(&out.stderr).contains("name the anomalies with --anomalies"));
    let out = check(&["--consistency-models", "none,serializable", "--anomalies", "G0"], std::slice::from_ref(&g2));
    assert_eq!(out.status.code(), Some(254));
    assert!(String::from_utf8_lossy(&out.stderr).contains("none names no model, so it stands alone"));
    // Elle's test histories: `:time -1` (unknown) and a process that invokes again before its
    // transaction completed (unobserved-write-test), which is checked as Elle does and said.
    let elle = write(
        "unobserved.edn",
        &["[[:append :x 1] [:append :y 1]]", "[[:append :x 2] [:append :y 2]]", "[[:r :x [1 2]]]", "[[:r :y [2]]]"]
            .iter()
            .map(|v| format!("{{:time -1, :process 0, :type :invoke, :f :txn, :value {v}}}\n"))
            .chain(
                [
                    "[[:append :x 1] [:append :y 1]]",
                    "[[:append :x 2] [:append :y 2]]",
                    "[[:r :x [1 2]]]",
                    "[[:r :y [2]]]",
                ]
                .iter()
                .map(|v| format!("{{:time -1, :process 0, :type :ok, :f :txn, :value {v}}}\n")),
            )
            .collect::<String>(),
    );
    let out = check(&["--json", "--consistency-models", "serializable"], &[elle]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let first: serde_json::Value = serde_json::from_str(stdout(&out).lines().next().unwrap()).unwrap();
    assert_eq!(first["anomaly-types"], serde_json::json!(["G-single-item", "G0"]), "{first}");
    let warnings = first["warnings"].to_string();
    assert!(warnings.contains("process 0 invokes at line 2 while its transaction invoked at line 1"), "{warnings}");
    // A summary never calls a run with an unreadable file valid.
    let out = check(&["--json", "--consistency-models", "read-committed"], &[g2, dir.path().join("missing.edn")]);
    assert_eq!(out.status.code(), Some(254));
    let last: serde_json::Value = serde_json::from_str(stdout(&out).lines().last().unwrap()).unwrap();
    assert_eq!((last["summary"]["errors"].as_u64(), last["summary"]["verdict"].as_str()), (Some(1), Some("unknown")));
}

/// A faulted transactional run, as faultline wrote it (nemesis lines with map values, final
/// reads), is read back by `faultline check`, and its transactional verdict is the run's.
#[test]
fn a_faulted_transactional_run_is_rechecked_offline() {
    let run = shared().parent().unwrap().join("runs/galera-kill-all");
    if !run.exists() {
        println!(
            "skipped: a_faulted_transactional_run_is_rechecked_offline: needs {} (set FAULTLINE_SHARED)",
            run.display()
        );
        return;
    }
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("results.json")).unwrap()).unwrap();
    let txn = &results["checkers"]["txn"];
    let models: Vec<&str> = txn["consistency-models"].as_array().unwrap().iter().map(|m| m.as_str().unwrap()).collect();
    let out = check(&["--json", "--consistency-models", &models.join(",")], &[run.join("history.jsonl")]);
    assert!(out.status.code() == Some(0) || out.status.code() == Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let first: serde_json::Value = serde_json::from_str(stdout(&out).lines().next().unwrap()).unwrap();
    for field in ["valid?", "anomaly-types", "not", "also-not"] {
        assert_eq!(first[field], txn[field], "{field}");
    }
    assert_eq!(first["checkers"]["txn"]["stats"]["txns"], txn["stats"]["txns"]);
}

/// Hostile values (terminal escape sequences, a bell, a carriage return) in a history reach the
/// terminal as visible escapes, in the verdict's explanation and in a read error alike; a node
/// name with shell metacharacters is refused before anything runs.
#[test]
fn hostile_values_are_shown_as_text_and_hostile_node_names_refused() {
    let dir = tempfile::tempdir().unwrap();
    let hostile = r#"\u001b]0;pwned\u0007\u001b[31mRED\r"#;
    let invalid = dir.path().join("invalid.jsonl");
    std::fs::write(
        &invalid,
        format!(
            "{}\n{}\n{}\n{}\n",
            r#"{"type":"invoke","process":0,"f":"write","value":1}"#,
            r#"{"type":"ok","process":0,"f":"write","value":1}"#,
            r#"{"type":"invoke","process":0,"f":"read","value":null}"#,
            format_args!(r#"{{"type":"ok","process":0,"f":"read","value":"{hostile}"}}"#),
        ),
    )
    .unwrap();
    let unreadable = dir.path().join("unreadable.jsonl");
    std::fs::write(&unreadable, format!("{{\"type\":\"{hostile}\",\"process\":0}}\n")).unwrap();
    for (file, code) in [(&invalid, 1), (&unreadable, 254)] {
        let out = check(&[], std::slice::from_ref(file));
        assert_eq!(out.status.code(), Some(code), "{}", stdout(&out));
        let all = [out.stdout.as_slice(), out.stderr.as_slice()].concat();
        let text = String::from_utf8_lossy(&all);
        assert!(
            !all.iter().any(|&b| b == 0x1b || b == 0x07 || b == b'\r'),
            "a control byte reached the terminal: {text:?}"
        );
        assert!(text.contains("pwned"), "the value is still shown: {text}");
    }
    let pwned = dir.path().join("pwned");
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["test", "--db", "etcd", "--time-limit", "1s", "--store"])
        .arg(dir.path())
        .arg("--nodes")
        .arg(format!("n1;touch {0},$(touch {0}),`touch {0}`", pwned.display()))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(254), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad node"), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!pwned.exists(), "a node name was interpreted by a shell");
}

/// A test.json as a run of the set workload writes it, with `--expect lost==0`.
fn set_run_record() -> serde_json::Value {
    serde_json::json!({
        "name": "redis-set", "db": "redis", "workload": "set", "nemesis": [], "nemesis_targets": null,
        "nemesis_interval_s": 10.0, "nemesis_schedule": null, "loss": 0.2,
        "packet": {"latency": 50.0, "jitter": 10.0, "distribution": "normal", "duplicate": 0.1,
                   "reorder": 0.2, "corrupt": 0.05, "bandwidth_bps": 1000000},
        "nodes": ["n1", "n2"], "local": true, "remote_root": "/var/lib/faultline", "seed": 1,
        "time_limit_s": 5.0, "concurrency": 2, "rate": 10.0, "ops_per_key": 200, "op_timeout_s": 5.0,
        "serializable": false, "unique_writes": false, "max_txn_length": 4, "key_count": 5,
        "max_writes_per_key": 32, "consistency_models": [], "isolation": "serializable", "pg_sync": false,
        "read_from": "own-node", "recovery_time_s": 10.0, "expect": ["lost==0"], "leave_db_running": false,
        "command_line": "faultline test --workload set --expect lost==0", "start_time": "2026-12-07T16:35:35Z",
        "faultline_version": "0.1.0"
    })
}

/// A set run's history: two acknowledged adds, and final reads on both nodes that miss one.
const SET_RUN_HISTORY: &str = r#"{"index":0,"time":1000,"type":"invoke","process":0,"f":"add","value":1,"node":"n1"}
{"index":1,"time":2000,"type":"ok","process":0,"f":"add","value":1,"node":"n1"}
{"index":2,"time":3000,"type":"invoke","process":1,"f":"add","value":2,"node":"n2"}
{"index":3,"time":4000,"type":"ok","process":1,"f":"add","value":2,"node":"n2"}
{"index":4,"time":5000,"type":"invoke","process":10,"f":"final-read","value":null,"node":"n1"}
{"index":5,"time":6000,"type":"ok","process":10,"f":"final-read","value":[1],"node":"n1"}
{"index":6,"time":5000,"type":"invoke","process":11,"f":"final-read","value":null,"node":"n2"}
{"index":7,"time":6000,"type":"ok","process":11,"f":"final-read","value":[1],"node":"n2"}
"#;

/// `check` on a run's history, with no flags, checks it as the run did: the workload and the
/// `--expect` thresholds of its test.json (so the expectations checker is there, as in the run's
/// results.json); without the test.json the history is recognised as a set run and checked
/// without them.
#[test]
fn a_run_history_is_checked_with_its_test_json() {
    let dir = tempfile::tempdir().unwrap();
    let history = dir.path().join("history.jsonl");
    std::fs::write(&history, SET_RUN_HISTORY).unwrap();
    let bare = check(&["--json"], std::slice::from_ref(&history));
    assert_eq!(bare.status.code(), Some(1), "{}", String::from_utf8_lossy(&bare.stderr));
    let first: serde_json::Value = serde_json::from_str(stdout(&bare).lines().next().unwrap()).unwrap();
    assert_eq!(first["checkers"]["set"]["verdict"], "invalid", "{first}");
    assert!(first["checkers"].get("expectations").is_none(), "{first}");

    std::fs::write(dir.path().join("test.json"), set_run_record().to_string()).unwrap();
    let run = check(&["--json"], std::slice::from_ref(&history));
    assert_eq!(run.status.code(), Some(1), "{}", String::from_utf8_lossy(&run.stderr));
    let first: serde_json::Value = serde_json::from_str(stdout(&run).lines().next().unwrap()).unwrap();
    let names: Vec<&str> = first["checkers"].as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(names, ["set", "convergence", "expectations", "metrics"], "{first}");
    assert_eq!(first["checkers"]["expectations"]["verdict"], "invalid", "{first}");
    // A flag that changes the check leaves the plan out: --model set checks without --expect.
    let forced = check(&["--json", "--model", "set"], std::slice::from_ref(&history));
    let first: serde_json::Value = serde_json::from_str(stdout(&forced).lines().next().unwrap()).unwrap();
    assert!(first["checkers"].get("expectations").is_none(), "{first}");
}

/// A test.json with a missing, unknown or misspelt field is an error naming the field and the
/// file (exit 254), never a silent default.
#[test]
fn a_bad_test_json_is_an_error_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let history = dir.path().join("history.jsonl");
    std::fs::write(&history, SET_RUN_HISTORY).unwrap();
    type Change = fn(&mut serde_json::Value);
    let cases: [(&str, Change); 3] = [
        ("missing field `workload`", |r| drop(r.as_object_mut().unwrap().remove("workload"))),
        ("unknown field `workloads`", |r| r["workloads"] = "set".into()),
        ("unknown workload \"sett\"", |r| r["workload"] = "sett".into()),
    ];
    for (want, change) in cases {
        let mut record = set_run_record();
        change(&mut record);
        std::fs::write(dir.path().join("test.json"), record.to_string()).unwrap();
        let out = check(&[], std::slice::from_ref(&history));
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(254), "{want}: {err}");
        assert!(err.contains(want) && err.contains("test.json"), "{want}: {err}");
    }
}

/// The shared etcd run, re-checked with no flags, gives its results.json's checkers exactly
/// (the ladder's timings aside), the fault metrics and the linearizability explanation apart:
/// they have learnt failures by reason and the op that fixed the state since the run was stored (the suite's own runs compare every checker:
/// common::assert_recheck_agrees).
#[test]
fn a_stored_register_run_rechecks_to_its_results() {
    let run = shared().parent().unwrap().join("runs/etcd-serializable-stale-read");
    if !run.exists() {
        println!(
            "skipped: a_stored_register_run_rechecks_to_its_results: needs {} (set FAULTLINE_SHARED)",
            run.display()
        );
        return;
    }
    let out = check(&["--json"], &[run.join("history.jsonl")]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let mut got: serde_json::Value = serde_json::from_str(stdout(&out).lines().next().unwrap()).unwrap();
    let mut want: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("results.json")).unwrap()).unwrap();
    // The linearizability failure names the same op and state when it reports the same key
    // (with several invalid keys it reports the first a thread finishes); its picture has
    // learnt the op that fixed the state since the run was stored, and the summary's wording.
    let (g, w) = (&got["checkers"]["linearizable"]["failure"], &want["checkers"]["linearizable"]["failure"]);
    assert_eq!(got["checkers"]["linearizable"]["verdict"], "invalid");
    if g["key"] == w["key"] {
        for field in ["failing", "states", "linearized_count", "writer"] {
            assert_eq!(g[field], w[field], "{field}");
        }
    }
    for v in [&mut got, &mut want] {
        v["checkers"]["ladder"].as_object_mut().unwrap().remove("timings_ms");
        v["checkers"].as_object_mut().unwrap().shift_remove("metrics");
        let lin = v["checkers"]["linearizable"].as_object_mut().unwrap();
        lin.remove("failure");
        lin.remove("summary");
        for rung in v["checkers"]["ladder"]["rungs"].as_array_mut().unwrap() {
            let rung = rung.as_object_mut().unwrap();
            if rung["model"] == "linearizable" {
                rung.remove("witness");
                rung.remove("reason");
            }
        }
    }
    assert_eq!(got["checkers"], want["checkers"]);
}
