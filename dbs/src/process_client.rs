//! The client protocol (`--client 'COMMAND ARGS'`, `docs/client-protocol.md`): a workload client
//! in any language, run as one subprocess per worker on the control node, speaking JSON lines.
//!
//! faultline writes requests on the subprocess's stdin, one JSON object per line, each with an
//! `id`: `open` (node, address, worker, workload, nodes, options), then `invoke` (f, key, value),
//! then `close`. The subprocess answers each on stdout with the same `id` and a `type` of `ok`,
//! `fail` or `info`, and a `value`. stderr goes to the run's log.
//!
//! What can go wrong is the harness's problem, not the run's: a request that is not answered in
//! time completes `info` (a read: `fail`), and its late answer is recognised by its id and
//! dropped, never taken for the next request's; a subprocess that exits or prints something that
//! is not an answer completes its pending request the same way and is started again (a fresh
//! `open`) before the next request. Every protocol error is logged and kept for
//! `faultline client-check` ([`ProcessClient::problems`]).
//!
//! Pipes are driven by two tasks per subprocess (a writer fed by a channel and a reader that
//! parses lines), so that an `invoke` cancelled by the runner's timeout never leaves half a line
//! on the pipe or an answer unread.

use faultline_workloads::{Client, Completion, Invocation, OpType};
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::{BTreeSet, VecDeque};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

/// Unanswered timed-out requests after which a subprocess counts as stuck and is restarted.
const STUCK_AFTER: usize = 3;
/// How long `open` may take (starting an interpreter and connecting), at least.
const MIN_OPEN_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a subprocess has to answer `close` and exit.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// A node as the subprocess is told about it.
#[derive(Debug, Clone, Serialize)]
pub struct NodeAddress {
    pub name: String,
    pub address: String,
}

/// What `open` tells the subprocess: where it is and what it will be asked.
#[derive(Debug, Clone, Serialize)]
pub struct OpenInfo {
    /// The node this client talks to, and its address.
    pub node: String,
    pub address: String,
    /// The worker (0-based) this subprocess serves.
    pub worker: usize,
    /// `register`, `set`, `counter`, or a transactional workload.
    pub workload: String,
    /// Every node of the cluster.
    pub nodes: Vec<NodeAddress>,
    /// The run's client options (`timeout_ms`: the per-operation timeout).
    pub options: Value,
}

/// How faultline starts a client subprocess: `sh -c 'exec COMMAND'` in the current directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClientCommand(pub String);

/// The protocol errors seen by one or more clients; shared so `client-check` can report them.
#[derive(Debug, Clone, Default)]
pub struct Problems(Arc<Mutex<Vec<String>>>);

impl Problems {
    /// Log a protocol error and keep it.
    pub fn record(&self, p: String) {
        tracing::warn!(target: "faultline::client", "{p}");
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(p);
    }
    /// Every problem so far, in order.
    pub fn all(&self) -> Vec<String> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// One line the subprocess printed on stdout.
#[derive(Debug)]
enum Line {
    Answer(Answer),
    /// Not an answer: what was wrong, and the line.
    Garbage(String),
    /// stdout closed: the subprocess exited (or closed it).
    Closed,
}

#[derive(Debug)]
struct Answer {
    id: u64,
    kind: OpType,
    /// `None` when the answer had no `value` field.
    value: Option<Value>,
    error: Option<String>,
}

/// One line of a client's stdout as the protocol reads it: the id of a well-formed answer, or why
/// the line is garbage (which makes the pending op `info` and restarts the client). For
/// `client-check`-like tools and the fuzzer.
pub fn read_answer_line(line: &str) -> Result<u64, String> {
    match parse_line(line) {
        Line::Answer(a) => Ok(a.id),
        Line::Garbage(why) => Err(why),
        Line::Closed => Err("stdout closed".into()),
    }
}

/// Parse one stdout line into an answer.
fn parse_line(line: &str) -> Line {
    let garbage = |why: &str| Line::Garbage(format!("{why}: {}", shorten(line)));
    let Ok(Value::Object(mut m)) = serde_json::from_str::<Value>(line) else {
        return garbage("not a JSON object");
    };
    let Some(id) = m.get("id").and_then(Value::as_u64) else { return garbage("no integer \"id\"") };
    let kind = match m.get("type").and_then(Value::as_str) {
        Some("ok") => OpType::Ok,
        Some("fail") => OpType::Fail,
        Some("info") => OpType::Info,
        _ => return garbage("\"type\" is not \"ok\", \"fail\" or \"info\""),
    };
    let error = match m.remove("error") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(other) => Some(other.to_string()),
    };
    Line::Answer(Answer { id, kind, value: m.remove("value"), error })
}

fn shorten(s: &str) -> String {
    let s = s.trim_end();
    if s.chars().count() > 200 {
        format!("{}...", s.chars().take(200).collect::<String>())
    } else {
        s.to_string()
    }
}

/// A running subprocess: its stdin (through the writer task) and its parsed stdout.
struct Proc {
    child: Child,
    pid: u32,
    to_stdin: mpsc::UnboundedSender<String>,
    from_stdout: mpsc::UnboundedReceiver<Line>,
    /// Timed-out requests whose answers may still come (and must be dropped).
    abandoned: BTreeSet<u64>,
    /// The last lines the subprocess wrote to stderr (all of them go to the log), and the task
    /// that reads them: when it exits, its error shows why (a missing module, a refused
    /// connection) without a look in the log.
    stderr_tail: Arc<Mutex<VecDeque<String>>>,
    stderr_reader: tokio::task::JoinHandle<()>,
}

/// How many of a client's last stderr lines its exit error shows.
const STDERR_TAIL_LINES: usize = 8;

/// A workload client that is a subprocess speaking the JSON-lines protocol.
pub struct ProcessClient {
    command: ClientCommand,
    open: OpenInfo,
    timeout: Duration,
    proc: Option<Proc>,
    next_id: u64,
    /// The request in flight when an `invoke` was cancelled (the runner's timeout).
    pending: Option<u64>,
    problems: Problems,
    /// Subprocesses started, for the log.
    starts: u64,
}

impl ProcessClient {
    pub fn new(command: ClientCommand, open: OpenInfo, timeout: Duration) -> ProcessClient {
        ProcessClient::with_problems(command, open, timeout, Problems::default())
    }

    /// A client that records its protocol errors in `problems` (shared with others).
    pub fn with_problems(
        command: ClientCommand,
        open: OpenInfo,
        timeout: Duration,
        problems: Problems,
    ) -> ProcessClient {
        ProcessClient { command, open, timeout, proc: None, next_id: 1, pending: None, problems, starts: 0 }
    }

    fn label(&self) -> String {
        format!("client of worker {} ({})", self.open.worker, self.open.node)
    }

    /// Start the subprocess and open it; kept only once `open` was answered `ok`.
    async fn start(&mut self) -> anyhow::Result<()> {
        self.starts += 1;
        let label = self.label();
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(format!("exec {}", self.command.0))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| anyhow::anyhow!("--client {:?}: cannot start: {e}", self.command.0))?;
        let pid = child.id().unwrap_or(0);
        let (to_stdin, mut lines_in) = mpsc::unbounded_channel::<String>();
        let (lines_out, from_stdout) = mpsc::unbounded_channel::<Line>();
        let (stdin, stdout, stderr) = (
            child.stdin.take().expect("piped"),
            child.stdout.take().expect("piped"),
            child.stderr.take().expect("piped"),
        );
        tokio::spawn(async move {
            let mut stdin = tokio::io::BufWriter::new(stdin);
            while let Some(first) = lines_in.recv().await {
                let mut batch = Some(first);
                while let Some(line) = batch {
                    if stdin.write_all(line.as_bytes()).await.is_err() {
                        return;
                    }
                    batch = lines_in.try_recv().ok();
                }
                if stdin.flush().await.is_err() {
                    return;
                }
            }
            // The channel closed: EOF on the subprocess's stdin.
            let _ = stdin.shutdown().await;
        });
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if line.trim().is_empty() {
                    continue;
                }
                if lines_out.send(parse_line(&line)).is_err() {
                    return;
                }
            }
            let _ = lines_out.send(Line::Closed);
        });
        let log_label = label.clone();
        let stderr_tail = Arc::new(Mutex::new(VecDeque::new()));
        let tail = stderr_tail.clone();
        let stderr_reader = tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                tracing::info!(target: "faultline::client", "{log_label} pid {pid} stderr: {line}");
                let mut tail = tail.lock().unwrap_or_else(|e| e.into_inner());
                if tail.len() == STDERR_TAIL_LINES {
                    tail.pop_front();
                }
                tail.push_back(line);
            }
        });
        let mut proc =
            Proc { child, pid, to_stdin, from_stdout, abandoned: BTreeSet::new(), stderr_tail, stderr_reader };
        let id = self.take_id();
        let mut request = serde_json::to_value(&self.open)?;
        request["id"] = json!(id);
        request["type"] = json!("open");
        let _ = proc.to_stdin.send(format!("{request}\n"));
        let wait = self.timeout.max(MIN_OPEN_TIMEOUT);
        let answer = tokio::time::timeout(wait, next_answer(&mut proc, id, &self.problems, &label)).await;
        match answer {
            Err(_) => {
                anyhow::bail!("{label}: pid {pid} did not answer open within {}", humantime::format_duration(wait))
            }
            Ok(Err(e)) => anyhow::bail!("{label}: pid {pid} {e}"),
            Ok(Ok(a)) if a.kind == OpType::Ok => {
                tracing::info!(target: "faultline::client", "{label}: pid {pid} opened (start {})", self.starts);
                self.proc = Some(proc);
                Ok(())
            }
            Ok(Ok(a)) => anyhow::bail!(
                "{label}: open answered {:?}: {}",
                a.kind.as_str(),
                a.error.unwrap_or_else(|| "no error given".into())
            ),
        }
    }

    fn take_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// Forget the subprocess (kill_on_drop ends it) after it broke the protocol or exited.
    fn discard(&mut self, why: &str) {
        if let Some(p) = self.proc.take() {
            tracing::info!(target: "faultline::client", "{}: pid {} discarded: {why}", self.label(), p.pid);
        }
    }

    /// Every protocol error seen so far.
    pub fn problems(&self) -> Vec<String> {
        self.problems.all()
    }
}

/// Read until the answer to `id`; late answers to abandoned requests are dropped. An error is a
/// protocol error or the end of stdout, already recorded in `problems`.
async fn next_answer(proc: &mut Proc, id: u64, problems: &Problems, label: &str) -> Result<Answer, String> {
    loop {
        match proc.from_stdout.recv().await {
            Some(Line::Answer(a)) if a.id == id => return Ok(a),
            Some(Line::Answer(a)) if proc.abandoned.remove(&a.id) => {
                tracing::debug!(target: "faultline::client", "{label}: dropped a late answer to request {}", a.id);
            }
            Some(Line::Answer(a)) => {
                let e = format!("answered request {} while request {id} was pending (no such request is open)", a.id);
                problems.record(format!("{label}: pid {}: {e}", proc.pid));
                return Err(e);
            }
            Some(Line::Garbage(g)) => {
                let e = format!("printed a line that is not an answer ({g})");
                problems.record(format!("{label}: pid {}: {e}", proc.pid));
                return Err(e);
            }
            Some(Line::Closed) | None => {
                let status = match tokio::time::timeout(Duration::from_millis(500), proc.child.wait()).await {
                    Ok(Ok(s)) => s.to_string(),
                    _ => "stdout closed".to_string(),
                };
                // Its stderr ends when it exits: read to the end, briefly, before quoting it.
                let _ = tokio::time::timeout(Duration::from_millis(500), &mut proc.stderr_reader).await;
                let tail: Vec<String> =
                    proc.stderr_tail.lock().unwrap_or_else(|e| e.into_inner()).iter().cloned().collect();
                let said = if tail.is_empty() {
                    "; it wrote nothing to stderr".to_string()
                } else {
                    format!("; its last stderr lines:\n    {}", tail.join("\n    "))
                };
                let e = format!("exited ({status}) with request {id} pending{said}");
                problems.record(format!("{label}: pid {}: {e}", proc.pid));
                return Err(e);
            }
        }
    }
}

/// The completion an answer makes for `op`: its value when it has one, else the invocation's.
fn completion(op: &Invocation, a: Answer) -> Result<Completion, String> {
    let value = match (a.kind, a.value) {
        (OpType::Ok, Some(v)) => v,
        (OpType::Ok, None) if op.is_read() => return Err(format!("answered ok to a {} without a value", op.f)),
        (_, _) => op.value.clone(),
    };
    Ok(Completion { kind: a.kind, value, error: a.error, served_by: None })
}

#[derive(Serialize)]
struct InvokeRequest<'a> {
    id: u64,
    #[serde(rename = "type")]
    kind: &'static str,
    f: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<&'a Value>,
    value: &'a Value,
}

#[async_trait::async_trait]
impl Client for ProcessClient {
    async fn open(&mut self) -> anyhow::Result<()> {
        if self.proc.is_none() {
            self.start().await?;
        }
        Ok(())
    }

    async fn invoke(&mut self, op: &Invocation) -> Completion {
        // The previous invoke was cancelled (timed out) with its request in flight: its answer,
        // if it ever comes, belongs to no one.
        if let Some(id) = self.pending.take() {
            if let Some(p) = self.proc.as_mut() {
                p.abandoned.insert(id);
            }
        }
        if self.proc.as_ref().is_some_and(|p| p.abandoned.len() >= STUCK_AFTER) {
            self.discard(&format!("{STUCK_AFTER} requests unanswered"));
        }
        if self.proc.is_none() {
            if let Err(e) = self.start().await {
                // Nothing was sent: the operation certainly did not happen.
                return Completion::fail(op, format!("client not running: {e:#}"));
            }
        }
        let id = self.take_id();
        let label = self.label();
        let request = InvokeRequest { id, kind: "invoke", f: &op.f, key: op.key.as_ref(), value: &op.value };
        let line = match serde_json::to_string(&request) {
            Ok(l) => l + "\n",
            Err(e) => return Completion::fail(op, format!("cannot encode the request: {e}")),
        };
        let proc = self.proc.as_mut().expect("started above");
        if proc.to_stdin.send(line).is_err() {
            self.discard("stdin closed");
            return Completion::fail(op, "client stdin closed before the request was sent");
        }
        self.pending = Some(id);
        let answer = next_answer(proc, id, &self.problems, &label).await;
        self.pending = None;
        match answer.map(|a| completion(op, a)) {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => {
                self.problems.record(format!("{label}: pid {}: {e}", proc.pid));
                self.discard(&e);
                Completion::indeterminate(op, format!("client protocol error: {e}"))
            }
            Err(e) => {
                self.discard(&e);
                Completion::indeterminate(op, format!("client {e}"))
            }
        }
    }

    async fn close(&mut self) {
        let label = self.label();
        let Some(mut proc) = self.proc.take() else { return };
        if let Some(id) = self.pending.take() {
            proc.abandoned.insert(id);
        }
        let id = self.take_id();
        let _ = proc.to_stdin.send(format!("{}\n", json!({"id": id, "type": "close"})));
        match tokio::time::timeout(CLOSE_GRACE, next_answer(&mut proc, id, &self.problems, &label)).await {
            Ok(Ok(_)) => {}
            Ok(Err(_)) => {}
            Err(_) => {
                self.problems.record(format!("{label}: pid {}: did not answer close within {CLOSE_GRACE:?}", proc.pid))
            }
        }
        let Proc { mut child, pid, to_stdin, .. } = proc;
        drop(to_stdin);
        if tokio::time::timeout(CLOSE_GRACE, child.wait()).await.is_err() {
            self.problems
                .record(format!("{label}: pid {pid}: still running {CLOSE_GRACE:?} after close and EOF; killed"));
            let _ = child.kill().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_parse_and_garbage_is_named() {
        match parse_line(r#"{"id":3,"type":"ok","value":[["append",1,2],["r",1,[1,2]]]}"#) {
            Line::Answer(a) => {
                assert_eq!((a.id, a.kind), (3, OpType::Ok));
                assert_eq!(a.value, Some(json!([["append", 1, 2], ["r", 1, [1, 2]]])));
            }
            other => panic!("{other:?}"),
        }
        match parse_line(r#"{"id":4,"type":"info","error":"timeout"}"#) {
            Line::Answer(a) => assert_eq!((a.kind, a.value, a.error.as_deref()), (OpType::Info, None, Some("timeout"))),
            other => panic!("{other:?}"),
        }
        assert!(matches!(parse_line("hello"), Line::Garbage(g) if g.contains("not a JSON object")));
        assert!(matches!(parse_line(r#"{"type":"ok"}"#), Line::Garbage(g) if g.contains("id")));
        assert!(matches!(parse_line(r#"{"id":1,"type":"maybe"}"#), Line::Garbage(g) if g.contains("type")));
    }

    #[test]
    fn completions_keep_the_invocation_value_unless_answered() {
        let w = Invocation::new("write", Some(json!(1)), json!(5));
        let a = Answer { id: 1, kind: OpType::Ok, value: None, error: None };
        assert_eq!(completion(&w, a).unwrap(), Completion::ok(json!(5)));
        let r = Invocation::new("read", Some(json!(1)), Value::Null);
        let a = Answer { id: 1, kind: OpType::Ok, value: None, error: None };
        assert!(completion(&r, a).is_err());
        let a = Answer { id: 1, kind: OpType::Ok, value: Some(Value::Null), error: None };
        assert_eq!(completion(&r, a).unwrap(), Completion::ok(Value::Null));
        let txn = Invocation::new("txn", None, json!([["append", 1, 2], ["r", 1, null]]));
        let a = Answer { id: 1, kind: OpType::Ok, value: Some(json!([["append", 1, 2], ["r", 1, [2]]])), error: None };
        assert_eq!(completion(&txn, a).unwrap().value, json!([["append", 1, 2], ["r", 1, [2]]]));
    }
}
