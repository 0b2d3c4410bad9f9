//! The JSON-lines client protocol without a database (docs/client-protocol.md): subprocesses
//! that crash, print garbage, answer late or with a wrong id make their pending operation
//! `info` (a read: `fail`) and are restarted, a late answer is never taken for the next request,
//! and `faultline client-check` reports each of these as a protocol error (exit 1) while the
//! echo client passes (exit 0). Transactional values pass through unchanged.

mod common;

use common::faultline;
use faultline_dbs::process_client::{ClientCommand, OpenInfo, ProcessClient};
use faultline_workloads::{Client, Completion, Invocation, OpType};
use serde_json::{json, Value};
use std::time::Duration;

const MISBEHAVING: &str = "/usr/bin/python3 tests/fixtures/misbehaving_client.py";
const ECHO: &str = "/usr/bin/python3 examples/echo/client.py";

fn open_info(workload: &str) -> OpenInfo {
    OpenInfo {
        node: "n1".into(),
        address: "127.0.0.1".into(),
        worker: 0,
        workload: workload.into(),
        nodes: Vec::new(),
        options: json!({"timeout_ms": 1000}),
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

/// One op as the runner performs it: cancelled at `timeout`.
async fn perform(c: &mut ProcessClient, op: &Invocation, timeout: Duration) -> Completion {
    match tokio::time::timeout(timeout, c.invoke(op)).await {
        Ok(c) => c,
        Err(_) => Completion::indeterminate(op, "timed out"),
    }
}

fn write(k: i64, v: i64) -> Invocation {
    Invocation::new("write", Some(json!(k)), json!(v))
}
fn read(k: i64) -> Invocation {
    Invocation::new("read", Some(json!(k)), Value::Null)
}

/// Run five writes then a read against a misbehaving client; returns completions, how many
/// times it was started and the protocol errors recorded.
fn misbehave(mode: &str, at: usize) -> (Vec<Completion>, usize, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let starts = dir.path().join("starts");
    let cmd = ClientCommand(format!("{MISBEHAVING} {mode} {at} {}", starts.display()));
    rt().block_on(async {
        let mut c = ProcessClient::new(cmd, open_info("register"), Duration::from_millis(500));
        c.open().await.unwrap();
        let mut done = Vec::new();
        // The runner gives up on the misbehaving op at 0.5 s; the others get 3 s, so that the ops
        // queued behind a late answer are not also timed out on a loaded machine (three
        // unanswered requests make the client count as stuck and restart, by design).
        let timeout = |i: usize| Duration::from_millis(if i == at { 500 } else { 3000 });
        for i in 1..=5 {
            done.push(perform(&mut c, &write(1, i as i64), timeout(i)).await);
        }
        done.push(perform(&mut c, &read(1), timeout(6)).await);
        c.close().await;
        let n = std::fs::read_to_string(&starts).unwrap().lines().count();
        (done, n, c.problems())
    })
}

#[test]
fn a_crash_makes_the_pending_op_info_and_the_client_restarts() {
    let (done, starts, problems) = misbehave("crash", 2);
    assert_eq!(done[0].kind, OpType::Ok);
    assert_eq!(done[1].kind, OpType::Info, "{:?}", done[1]);
    assert!(done[1].error.as_deref().unwrap().contains("exited"), "{:?}", done[1]);
    // The rest went to a fresh subprocess (with its own, empty memory).
    assert_eq!(starts, 2, "{problems:?}");
    for c in &done[2..5] {
        assert_eq!(c.kind, OpType::Ok, "{c:?}");
    }
    assert_eq!(done[5].value, json!(5));
    assert!(problems.iter().any(|p| p.contains("exited (exit status: 3)")), "{problems:?}");
}

#[test]
fn garbage_makes_the_pending_op_info_and_the_client_restarts() {
    let (done, starts, problems) = misbehave("garbage", 3);
    assert_eq!(done[2].kind, OpType::Info, "{:?}", done[2]);
    assert!(problems.iter().any(|p| p.contains("not a JSON object: this is not json")), "{problems:?}");
    assert_eq!(starts, 2);
    // The read after a restart sees the fresh process's own (empty or rewritten) state: it is
    // answered, not lost.
    assert_ne!(done[5].kind, OpType::Info);
}

#[test]
fn a_late_answer_is_never_taken_for_the_next_request() {
    // The 2nd write (value 2) answers after 1.5 s; the runner gave up at 0.5 s.
    let (done, starts, problems) = misbehave("slow", 2);
    assert_eq!(done[1].kind, OpType::Info, "{:?}", done[1]);
    // Write 3 waits behind the slow one and its own answer, id-matched, arrives in time or not;
    // either way no completion carries another request's answer: every ok write echoes its value.
    for (i, c) in done.iter().enumerate().take(5) {
        if c.kind == OpType::Ok {
            assert_eq!(c.value, json!(i + 1), "write {} took another request's answer: {c:?}", i + 1);
        }
    }
    assert_eq!(done[5].kind, OpType::Ok);
    assert_eq!(done[5].value, json!(5), "the read must see the last write: {:?}", done[5]);
    assert_eq!(starts, 1, "a late answer is not a reason to restart: {problems:?}");
    assert!(problems.is_empty(), "{problems:?}");
}

#[test]
fn an_answer_to_an_unknown_id_is_a_protocol_error() {
    let (done, starts, problems) = misbehave("wrong-id", 1);
    assert_eq!(done[0].kind, OpType::Info);
    assert!(problems.iter().any(|p| p.contains("answered request 1002 while request 2 was pending")), "{problems:?}");
    assert_eq!(starts, 2);
    assert_eq!(done[1].kind, OpType::Ok);
}

#[test]
fn transactional_values_pass_through_unchanged() {
    // A client that answers every invoke with its value, reads filled in: what a list-append
    // client does.
    let script = r#"import json,sys
for l in sys.stdin:
    r=json.loads(l); a={"id":r["id"],"type":"ok"}
    if r["type"]=="invoke": a["value"]=[[f,k,([1,2] if f=="r" else v)] for f,k,v in r["value"]]
    print(json.dumps(a),flush=True)
    if r["type"]=="close": break"#;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("txn.py");
    std::fs::write(&file, script).unwrap();
    let cmd = ClientCommand(format!("/usr/bin/python3 {}", file.display()));
    rt().block_on(async {
        let mut c = ProcessClient::new(cmd, open_info("list-append"), Duration::from_secs(2));
        c.open().await.unwrap();
        let op = Invocation::new("txn", None, json!([["append", 3, 2], ["r", 3, null]]));
        let done = c.invoke(&op).await;
        assert_eq!(done.kind, OpType::Ok);
        assert_eq!(done.value, json!([["append", 3, 2], ["r", 3, [1, 2]]]));
        c.close().await;
        assert!(c.problems().is_empty(), "{:?}", c.problems());
    });
}

fn client_check(client: &str, workload: &str) -> (i32, String) {
    let out = faultline()
        .args(["client-check", "--client", client, "--workload", workload, "--nodes", "127.0.0.1", "--ops", "60"])
        .args(["--op-timeout", "1s"])
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn client_check_passes_the_echo_client_and_names_each_protocol_error() {
    for workload in ["register", "set", "counter", "bank"] {
        let (code, text) = client_check(ECHO, workload);
        assert_eq!(code, 0, "{workload}: {text}");
        assert!(text.contains("protocol: no errors") && text.contains("60 ops"), "{text}");
    }
    let dir = tempfile::tempdir().unwrap();
    let starts = dir.path().join("starts");
    let (code, text) = client_check(&format!("{MISBEHAVING} garbage 4 {}", starts.display()), "register");
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("protocol errors:") && text.contains("not a JSON object"), "{text}");
    // A client whose reads answer the wrong shape.
    let bad = dir.path().join("bad.py");
    std::fs::write(
        &bad,
        "import json,sys\nfor l in sys.stdin:\n    r=json.loads(l); a={'id':r['id'],'type':'ok'}\n    \
         if r['type']=='invoke' and r['f']=='read': a['value']='five'\n    print(json.dumps(a),flush=True)\n    \
         if r['type']=='close': break\n",
    )
    .unwrap();
    let (code, text) = client_check(&format!("/usr/bin/python3 {}", bad.display()), "register");
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("ok read key") && text.contains("answered value \"five\"; expected an integer or null"),
        "{text}"
    );
    assert!(text.contains("register sequence: read answered \"five\"; expected 11"), "{text}");
    // A command that does not exist fails to open: an error, not a verdict.
    let (code, text) = client_check("/nonexistent/client", "register");
    assert_eq!(code, 255, "{text}");
    assert!(text.contains("open failed"), "{text}");
}

/// A client that dies at start says why in the error itself: its last stderr lines (Python's
/// `ModuleNotFoundError` when the `python3` first on PATH lacks a module), not only in the log.
#[test]
fn a_client_that_dies_at_start_shows_its_stderr() {
    let cmd = ClientCommand(
        "sh -c 'echo Traceback >&2; echo \"ModuleNotFoundError: No module named kazoo\" >&2; exit 1'".into(),
    );
    let err = rt().block_on(async {
        let mut c = ProcessClient::new(cmd, open_info("register"), Duration::from_millis(500));
        c.open().await.expect_err("the client exits before answering open")
    });
    let err = format!("{err:#}");
    assert!(err.contains("exited (exit status: 1)"), "{err}");
    assert!(
        err.contains("its last stderr lines:\n    Traceback\n    ModuleNotFoundError: No module named kazoo"),
        "{err}"
    );
}
