//! History formats: malformed input is an error naming file, line and what is wrong; a truncated
//! last JSONL line is tolerated and reported; EDN written by faultline reads back identically.

use faultline_checkers::formats::{parse_history, read_history, split_independent, write_edn, write_jsonl, Format};
use faultline_checkers::{Op, OpType, Process};
use proptest::prelude::*;
use serde_json::{json, Value};
use std::path::PathBuf;

fn write_file(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// Read `text` as file `name` and return the error message, which must name the file and line.
fn error_of(name: &str, text: &str, line: usize) -> String {
    let dir = tempfile::tempdir().unwrap();
    let p = write_file(&dir, name, text);
    let e = read_history(&p, Format::Auto).expect_err("must be rejected");
    let msg = e.to_string();
    assert_eq!(e.line, Some(line), "{msg}");
    assert!(msg.contains(name), "message must name the file: {msg}");
    assert!(msg.contains(&format!(":{line}:")), "message must name line {line}: {msg}");
    msg
}

#[test]
fn ok_without_invoke() {
    let msg = error_of(
        "h.jsonl",
        "{\"index\":0,\"type\":\"invoke\",\"process\":0,\"f\":\"read\"}\n{\"index\":1,\"type\":\"ok\",\"process\":0,\"f\":\"read\",\"value\":1}\n{\"index\":2,\"type\":\"ok\",\"process\":3,\"f\":\"write\",\"value\":1}\n",
        3,
    );
    assert!(msg.contains("without an invoke"), "{msg}");
}

#[test]
fn two_outstanding_invocations() {
    let msg = error_of(
        "h.edn",
        "{:type :invoke, :process 1, :f :read}\n{:type :invoke, :process 2, :f :read}\n\n{:type :invoke, :process 1, :f :write, :value 3}\n",
        4,
    );
    assert!(msg.contains("two outstanding invocations") && msg.contains("line 1"), "{msg}");
}

#[test]
fn unknown_type() {
    let msg = error_of("h.edn", "[{:type :invoke, :process 1, :f :read}\n {:type :done, :process 1, :f :read}]", 2);
    assert!(msg.contains("unknown type :done"), "{msg}");
    let msg = error_of(
        "h.jsonl",
        "{\"type\":\"invoke\",\"process\":0,\"f\":\"read\"}\n{\"type\":\"bogus\",\"process\":0,\"f\":\"read\"}\n",
        2,
    );
    assert!(msg.contains("bogus"), "{msg}");
}

#[test]
fn bad_edn() {
    let msg = error_of("h.edn", "; comment\n[{:type :invoke, :process 1, :f :read}\n {:type :ok, :process 1 :f :read, :value \"unterminated}]\n", 3);
    assert!(msg.contains("bad EDN"), "{msg}");
    let msg = error_of(
        "h2.edn",
        "{:type :invoke, :process 1, :f :read}\n{:type :ok, :process 1, :f :read, :value [1 2}\n",
        2,
    );
    assert!(msg.contains("bad EDN"), "{msg}");
}

#[test]
fn invoke_after_info() {
    let msg = error_of(
        "h.edn",
        "{:type :invoke, :process 7, :f :write, :value 1}\n{:type :info, :process 7, :f :write, :value 1}\n{:type :invoke, :process 7, :f :read}\n",
        3,
    );
    assert!(msg.contains("after its operation ended info at line 2"), "{msg}");
}

#[test]
fn bad_jsonl_line_in_the_middle_is_an_error() {
    let msg = error_of(
        "h.jsonl",
        "{\"type\":\"invoke\",\"process\":0,\"f\":\"read\"}\n{\"type\":\"ok\",\"proc\n{\"type\":\"ok\"}\n",
        2,
    );
    assert!(msg.contains("bad JSON op"), "{msg}");
}

#[test]
fn truncated_last_jsonl_line_is_ignored_and_reported() {
    let text = "{\"index\":0,\"type\":\"invoke\",\"process\":0,\"f\":\"write\",\"value\":1}\n{\"index\":1,\"type\":\"ok\",\"process\":0,\"f\":\"write\",\"value\":1}\n{\"index\":2,\"type\":\"inv";
    let h = parse_history(text, Format::Auto).unwrap();
    assert_eq!(h.format, Format::Jsonl);
    assert_eq!(h.ops.len(), 2);
    assert_eq!(h.warnings.len(), 1);
    assert!(h.warnings[0].contains("line 3") && h.warnings[0].contains("truncated"), "{:?}", h.warnings);
    // A complete but unterminated last line is read normally.
    let complete = &text[..text.rfind('\n').unwrap()];
    let h = parse_history(complete, Format::Jsonl).unwrap();
    assert_eq!(h.ops.len(), 2);
    assert!(h.warnings.is_empty(), "{:?}", h.warnings);
}

#[test]
fn missing_file_names_it() {
    let e = read_history("/nonexistent/dir/h.jsonl", Format::Auto).unwrap_err();
    assert!(e.to_string().contains("/nonexistent/dir/h.jsonl"), "{e}");
}

#[test]
fn detects_formats_and_fills_index_and_time() {
    let edn = parse_history("#jepsen.history.Op{:type :invoke, :process 0, :f :read, :value nil}\n#jepsen.history.Op{:type :ok, :process 0, :f :read, :value 2}\n", Format::Auto).unwrap();
    assert_eq!(edn.format, Format::Edn);
    assert!(edn.nil_read_is_unknown);
    assert_eq!((edn.ops[1].index, edn.ops[1].time, edn.ops[1].value.clone()), (1, 1, json!(2)));
    let porc = parse_history("{:process 0, :type :invoke, :f :get, :key \"3\", :value nil}\n{:process 0, :type :ok, :f :get, :key \"3\", :value \"\"}\n", Format::Auto).unwrap();
    assert_eq!(porc.format, Format::Porcupine);
    assert!(!porc.nil_read_is_unknown);
    assert_eq!(porc.ops[0].key, Some(json!("3")));
    let vec = parse_history("; c\n({:process :nemesis, :type :info, :f :start, :value nil})", Format::Auto).unwrap();
    assert_eq!(vec.ops[0].process, Process::Nemesis);
    assert!(parse_history("hello", Format::Auto).is_err());
}

#[test]
fn independent_values_split_into_keys() {
    let mut h = parse_history(
        "{:type :invoke, :process 0, :f :write, :value [5 1]}\n{:type :ok, :process 0, :f :write, :value [5 1]}\n{:type :invoke, :process 0, :f :read, :value [6 nil]}\n{:type :ok, :process 0, :f :read, :value [6 1]}\n",
        Format::Edn,
    )
    .unwrap()
    .ops;
    split_independent(&mut h).unwrap();
    assert_eq!(h[0].key, Some(json!(5)));
    assert_eq!(h[3].key, Some(json!(6)));
    assert_eq!(h[3].value, json!(1));
}

fn sample_history() -> Vec<Op> {
    let op = |index: u64, kind, process, f: &str, value: Value| Op {
        index,
        time: index * 1000 + 7,
        kind,
        process,
        f: f.into(),
        value,
        key: None,
        node: None,
        error: None,
    };
    let mut h = vec![
        op(0, OpType::Invoke, Process::Client(0), "write", json!(3)),
        op(
            1,
            OpType::Info,
            Process::Nemesis,
            "start-partition",
            json!({"targets": ["n1", "n2"], "grudge": {"n1": ["n3"]}, "two words": 2.5}),
        ),
        op(2, OpType::Ok, Process::Client(0), "write", json!(3)),
        op(3, OpType::Invoke, Process::Client(1), "cas", json!([3, 4])),
        op(4, OpType::Fail, Process::Client(1), "cas", json!([3, 4])),
        op(5, OpType::Invoke, Process::Client(2), "read", Value::Null),
        op(6, OpType::Info, Process::Client(2), "read", Value::Null),
        op(7, OpType::Invoke, Process::Client(3), "odd f name", json!("quote \" and \\ and\nnewline")),
        op(8, OpType::Ok, Process::Client(3), "odd f name", json!([null, true, false, -1, "x", {"k": [1]}])),
    ];
    h[0].key = Some(json!("k1"));
    h[2].key = Some(json!("k1"));
    h[2].node = Some("n1".into());
    h[4].error = Some("timeout: \"slow\"".into());
    h[6].error = Some("connection reset".into());
    h
}

#[test]
fn edn_round_trip() {
    let h = sample_history();
    let text = write_edn(&h);
    assert!(
        text.contains(":type :invoke") && text.contains(":f :write") && text.contains(":process :nemesis"),
        "{text}"
    );
    assert!(text.contains(":key \"k1\"") && text.contains(":node \"n1\""), "{text}");
    let back = parse_history(&text, Format::Edn).unwrap();
    assert_eq!(back.ops, h);
    let back = parse_history(&write_jsonl(&h), Format::Auto).unwrap();
    assert_eq!(back.ops, h);
}

proptest! {
    #[test]
    fn edn_round_trip_of_arbitrary_strings_and_ints(s in ".{0,20}", f in "[a-z][a-z -]{0,8}", v in any::<i64>(), t in 0u64..u64::MAX / 2) {
        let h = vec![
            Op { index: 0, time: t, kind: OpType::Invoke, process: Process::Client(9), f: f.clone().into(), value: json!({"s": s.clone(), s.clone(): v}), key: Some(json!(v)), node: Some(s.clone()), error: None },
            Op { index: 1, time: t + 1, kind: OpType::Ok, process: Process::Client(9), f: f.into(), value: json!([s.clone(), v]), key: Some(json!(v)), node: None, error: Some(s) },
        ];
        let back = parse_history(&write_edn(&h), Format::Edn).unwrap();
        prop_assert_eq!(back.ops, h);
    }
}
