//! Redis client for the workloads, plus the replication commands the Redis adapter and the
//! failover fault need. A small RESP2 client over one tokio `TcpStream` (connected lazily,
//! dropped after any transport error so that no stale reply is ever read).
//!
//! Workloads: register = `GET`/`SET` on `r/<key>`, cas = a Lua script (`EVAL`: set if the current
//! value equals `old`); set = `SADD`/`SMEMBERS` on `faultline-set`; counter = `INCRBY`/`GET` on
//! `faultline-counter`.
//!
//! Outcome mapping (see `faultline_workloads::client`): a failure to connect (refused, connect
//! timeout) is `fail`; a timeout or lost connection after the command was written is `info` for a
//! command that writes and `fail` for a read; an error reply (`-READONLY`, `-LOADING`, ...) means
//! Redis did not run the command: `fail`; a cas whose comparison did not hold is `fail`.

use crate::KvShape;
use async_trait::async_trait;
use faultline_workloads::{Client, Completion, Invocation};
use serde_json::{json, Value};
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::time::{timeout_at, Instant};

/// Register cas: set KEYS[1] to ARGV[2] if it currently holds ARGV[1]; 1 if it did, else 0.
const CAS_SCRIPT: &str =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('SET', KEYS[1], ARGV[2]) return 1 else return 0 end";
const REGISTER_PREFIX: &str = "r/";
const SET_KEY: &str = "faultline-set";
const COUNTER_KEY: &str = "faultline-counter";

/// Largest bulk string or array accepted from the server (guards against a garbled stream).
const MAX_REPLY_LEN: i64 = 512 * 1024 * 1024;

/// A RESP2 reply.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Simple(String),
    Integer(i64),
    /// `None` is the null bulk string (e.g. GET of an absent key).
    Bulk(Option<Vec<u8>>),
    /// `None` is the null array.
    Array(Option<Vec<Reply>>),
}

impl Reply {
    /// The reply as text (simple or bulk string).
    pub fn as_text(&self) -> Option<String> {
        match self {
            Reply::Simple(s) => Some(s.clone()),
            Reply::Bulk(Some(b)) => String::from_utf8(b.clone()).ok(),
            _ => None,
        }
    }
}

/// Why a command produced no reply.
#[derive(Debug, Clone, PartialEq)]
pub enum RedisError {
    /// Could not connect: the command was never sent.
    NotSent(String),
    /// Redis answered with an error reply: the command did not run.
    Server(String),
    /// Timeout, lost connection or garbled reply after sending: the command may have run.
    Unknown(String),
}

impl std::fmt::Display for RedisError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RedisError::NotSent(e) | RedisError::Unknown(e) => f.write_str(e),
            RedisError::Server(e) => write!(f, "redis error: {e}"),
        }
    }
}

impl std::error::Error for RedisError {}

impl RedisError {
    fn completion(self, op: &Invocation) -> Completion {
        match self {
            RedisError::NotSent(_) | RedisError::Server(_) => Completion::fail(op, self.to_string()),
            RedisError::Unknown(_) => Completion::indeterminate(op, self.to_string()),
        }
    }
}

/// What `ROLE` says about a server.
#[derive(Debug, Clone, PartialEq)]
pub enum Role {
    /// A primary, with its connected replicas as (host, port).
    Primary { replicas: Vec<(String, u16)> },
    /// A replica of `primary_host:primary_port`; `state` is e.g. "connected" or "connecting".
    Replica { primary_host: String, primary_port: u16, state: String },
    /// Anything else (e.g. "sentinel").
    Other(String),
}

/// One connection to one Redis server, with a per-command timeout.
#[derive(Debug)]
pub struct RedisConnection {
    addr: String,
    timeout: Duration,
    stream: Option<BufReader<TcpStream>>,
}

impl RedisConnection {
    /// A connection to `addr` (`host:port`), opened on first use.
    pub fn new(addr: &str, timeout: Duration) -> RedisConnection {
        RedisConnection { addr: addr.trim().to_string(), timeout, stream: None }
    }

    /// Run one command (connecting first if needed) within the timeout.
    pub async fn command(&mut self, args: &[&[u8]]) -> Result<Reply, RedisError> {
        let deadline = Instant::now() + self.timeout;
        if self.stream.is_none() {
            let stream = match timeout_at(deadline, TcpStream::connect(&self.addr)).await {
                Err(_) => return Err(RedisError::NotSent("connect timeout".into())),
                Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                    return Err(RedisError::NotSent("connection refused".into()))
                }
                Ok(Err(e)) => return Err(RedisError::NotSent(format!("connect failed: {e}"))),
                Ok(Ok(s)) => s,
            };
            let _ = stream.set_nodelay(true);
            self.stream = Some(BufReader::new(stream));
        }
        // Take the connection out for the exchange and put it back only after a whole reply: if
        // this future is dropped mid-exchange (a caller's timeout), the connection goes with it,
        // so a late reply is never read as the answer to another command.
        let mut stream = self.stream.take().expect("connected above");
        let request = encode_command(args);
        let exchange = async {
            stream.get_mut().write_all(&request).await?;
            read_reply(&mut stream).await
        };
        match timeout_at(deadline, exchange).await {
            Ok(Ok(Err(server_error))) => {
                self.stream = Some(stream);
                Err(RedisError::Server(server_error))
            }
            Ok(Ok(Ok(reply))) => {
                self.stream = Some(stream);
                Ok(reply)
            }
            Ok(Err(e)) => Err(RedisError::Unknown(match e.kind() {
                std::io::ErrorKind::UnexpectedEof => "connection closed".to_string(),
                std::io::ErrorKind::InvalidData => format!("bad reply: {e}"),
                _ => format!("connection error: {e}"),
            })),
            // The reply may still arrive later; the connection is dropped with it.
            Err(_) => Err(RedisError::Unknown("timeout".into())),
        }
    }

    /// A command given as text words.
    pub async fn command_str(&mut self, args: &[&str]) -> Result<Reply, RedisError> {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        self.command(&args).await
    }

    /// `REPLICAOF host port`: make this server a replica of another.
    pub async fn replicaof(&mut self, host: &str, port: u16) -> anyhow::Result<()> {
        let port = port.to_string();
        self.expect_ok(&["REPLICAOF", host, &port]).await
    }

    /// `REPLICAOF NO ONE`: promote this server to a primary.
    pub async fn replicaof_no_one(&mut self) -> anyhow::Result<()> {
        self.expect_ok(&["REPLICAOF", "NO", "ONE"]).await
    }

    /// `ROLE`: whether this server is a primary or a replica (and of whom).
    pub async fn role(&mut self) -> anyhow::Result<Role> {
        let reply = self.command_str(&["ROLE"]).await.map_err(|e| anyhow::anyhow!("ROLE on {}: {e}", self.addr))?;
        parse_role(&reply).ok_or_else(|| anyhow::anyhow!("ROLE on {}: unexpected reply {reply:?}", self.addr))
    }

    async fn expect_ok(&mut self, args: &[&str]) -> anyhow::Result<()> {
        match self.command_str(args).await {
            Ok(Reply::Simple(s)) if s.starts_with("OK") => Ok(()),
            Ok(other) => anyhow::bail!("{} on {}: unexpected reply {other:?}", args.join(" "), self.addr),
            Err(e) => anyhow::bail!("{} on {}: {e}", args.join(" "), self.addr),
        }
    }
}

fn parse_role(reply: &Reply) -> Option<Role> {
    let Reply::Array(Some(items)) = reply else { return None };
    let text = |i: usize| items.get(i).and_then(Reply::as_text);
    let role = text(0)?;
    match role.as_str() {
        "master" => {
            let Some(Reply::Array(Some(list))) = items.get(2) else {
                return Some(Role::Primary { replicas: Vec::new() });
            };
            let replicas = list
                .iter()
                .filter_map(|r| match r {
                    Reply::Array(Some(fields)) => {
                        let host = fields.first()?.as_text()?;
                        let port = fields.get(1)?.as_text()?.parse().ok()?;
                        Some((host, port))
                    }
                    _ => None,
                })
                .collect();
            Some(Role::Primary { replicas })
        }
        "slave" => {
            let primary_port = match items.get(2)? {
                Reply::Integer(p) => u16::try_from(*p).ok()?,
                other => other.as_text()?.parse().ok()?,
            };
            Some(Role::Replica { primary_host: text(1)?, primary_port, state: text(3).unwrap_or_default() })
        }
        _ => Some(Role::Other(role)),
    }
}

/// A command as a RESP array of bulk strings.
fn encode_command(args: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + args.iter().map(|a| a.len() + 16).sum::<usize>());
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    out
}

type ReplyResult = std::io::Result<Result<Reply, String>>;

/// Read one reply. The outer error is a transport/protocol failure; the inner `Err` is a
/// server error reply (`-ERR ...`), which leaves the connection usable.
fn read_reply<'a>(r: &'a mut BufReader<TcpStream>) -> Pin<Box<dyn Future<Output = ReplyResult> + Send + 'a>> {
    Box::pin(async move {
        let bad = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string());
        let mut line = Vec::new();
        if r.read_until(b'\n', &mut line).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        if !line.ends_with(b"\r\n") || line.len() < 3 {
            return Err(bad("reply line not terminated by CRLF"));
        }
        let body = String::from_utf8_lossy(&line[1..line.len() - 2]).into_owned();
        let int = |s: &str| s.parse::<i64>().map_err(|_| bad("bad integer in reply"));
        match line[0] {
            b'+' => Ok(Ok(Reply::Simple(body))),
            b'-' => Ok(Err(body)),
            b':' => Ok(Ok(Reply::Integer(int(&body)?))),
            b'$' => {
                let len = int(&body)?;
                if len < 0 {
                    return Ok(Ok(Reply::Bulk(None)));
                }
                if len > MAX_REPLY_LEN {
                    return Err(bad("bulk reply too long"));
                }
                let mut data = vec![0u8; len as usize + 2];
                r.read_exact(&mut data).await?;
                if !data.ends_with(b"\r\n") {
                    return Err(bad("bulk reply not terminated by CRLF"));
                }
                data.truncate(len as usize);
                Ok(Ok(Reply::Bulk(Some(data))))
            }
            b'*' => {
                let len = int(&body)?;
                if len < 0 {
                    return Ok(Ok(Reply::Array(None)));
                }
                if len > MAX_REPLY_LEN {
                    return Err(bad("array reply too long"));
                }
                let mut items = Vec::with_capacity((len as usize).min(1 << 16));
                for _ in 0..len {
                    // An error nested in an array (e.g. from EXEC) becomes the whole reply's error.
                    match read_reply(r).await? {
                        Ok(item) => items.push(item),
                        Err(e) => return Ok(Err(e)),
                    }
                }
                Ok(Ok(Reply::Array(Some(items))))
            }
            _ => Err(bad("unknown reply type")),
        }
    })
}

/// One worker's client, bound to one Redis server.
#[derive(Debug)]
pub struct RedisClient {
    conn: RedisConnection,
    kind: KvShape,
}

impl RedisClient {
    /// A client for the server at `addr` (`host:port`) with a per-operation timeout.
    pub fn new(addr: &str, kind: KvShape, timeout: Duration) -> RedisClient {
        RedisClient { conn: RedisConnection::new(addr, timeout), kind }
    }

    async fn register(&mut self, op: &Invocation) -> Completion {
        let Some(key) = op.key.as_ref().map(|k| match k {
            Value::String(s) => format!("{REGISTER_PREFIX}{s}"),
            other => format!("{REGISTER_PREFIX}{other}"),
        }) else {
            return Completion::fail(op, "register op without a key");
        };
        match op.f.as_str() {
            "read" | "final-read" => match self.conn.command_str(&["GET", &key]).await {
                Ok(Reply::Bulk(None)) => Completion::ok(Value::Null),
                Ok(reply) => match reply.as_text().and_then(|t| t.parse::<i64>().ok()) {
                    Some(n) => Completion::ok(json!(n)),
                    None => Completion::fail(op, format!("unexpected reply {reply:?}")),
                },
                Err(e) => e.completion(op),
            },
            "write" => {
                let Some(n) = op.value.as_i64() else { return Completion::fail(op, "write value is not an integer") };
                match self.conn.command_str(&["SET", &key, &n.to_string()]).await {
                    Ok(Reply::Simple(_)) => Completion::ok(op.value.clone()),
                    Ok(reply) => Completion::info(op, format!("unexpected reply {reply:?}")),
                    Err(e) => e.completion(op),
                }
            }
            "cas" => {
                let Some((old, new)) = cas_args(&op.value) else {
                    return Completion::fail(op, "cas value is not [old, new] integers");
                };
                let (old, new) = (old.to_string(), new.to_string());
                match self.conn.command_str(&["EVAL", CAS_SCRIPT, "1", &key, &old, &new]).await {
                    Ok(Reply::Integer(1)) => Completion::ok(op.value.clone()),
                    Ok(Reply::Integer(0)) => Completion::fail(op, "value did not match"),
                    Ok(reply) => Completion::info(op, format!("unexpected reply {reply:?}")),
                    Err(e) => e.completion(op),
                }
            }
            f => Completion::fail(op, format!("register does not support {f:?}")),
        }
    }

    async fn set(&mut self, op: &Invocation) -> Completion {
        match op.f.as_str() {
            "add" => {
                let Some(e) = op.value.as_i64() else { return Completion::fail(op, "set element is not an integer") };
                match self.conn.command_str(&["SADD", SET_KEY, &e.to_string()]).await {
                    // 0 means "already a member": the element is in the set either way.
                    Ok(Reply::Integer(_)) => Completion::ok(op.value.clone()),
                    Ok(reply) => Completion::info(op, format!("unexpected reply {reply:?}")),
                    Err(err) => err.completion(op),
                }
            }
            "read" | "final-read" => match self.conn.command_str(&["SMEMBERS", SET_KEY]).await {
                Ok(Reply::Array(Some(items))) => {
                    let parsed: Option<Vec<i64>> =
                        items.iter().map(|i| i.as_text().and_then(|t| t.parse::<i64>().ok())).collect();
                    match parsed {
                        Some(mut elements) => {
                            elements.sort_unstable();
                            Completion::ok(json!(elements))
                        }
                        None => Completion::fail(op, "non-integer set element in redis"),
                    }
                }
                Ok(reply) => Completion::fail(op, format!("unexpected reply {reply:?}")),
                Err(e) => e.completion(op),
            },
            f => Completion::fail(op, format!("set does not support {f:?}")),
        }
    }

    async fn counter(&mut self, op: &Invocation) -> Completion {
        match op.f.as_str() {
            "add" => {
                let Some(n) = op.value.as_i64() else {
                    return Completion::fail(op, "counter increment is not an integer");
                };
                match self.conn.command_str(&["INCRBY", COUNTER_KEY, &n.to_string()]).await {
                    Ok(Reply::Integer(_)) => Completion::ok(op.value.clone()),
                    Ok(reply) => Completion::info(op, format!("unexpected reply {reply:?}")),
                    Err(e) => e.completion(op),
                }
            }
            "read" | "final-read" => match self.conn.command_str(&["GET", COUNTER_KEY]).await {
                Ok(Reply::Bulk(None)) => Completion::ok(json!(0)),
                Ok(reply) => match reply.as_text().and_then(|t| t.parse::<i64>().ok()) {
                    Some(n) => Completion::ok(json!(n)),
                    None => Completion::fail(op, format!("unexpected reply {reply:?}")),
                },
                Err(e) => e.completion(op),
            },
            f => Completion::fail(op, format!("counter does not support {f:?}")),
        }
    }
}

#[async_trait]
impl Client for RedisClient {
    async fn invoke(&mut self, op: &Invocation) -> Completion {
        match self.kind {
            KvShape::Register => self.register(op).await,
            KvShape::Set => self.set(op).await,
            KvShape::Counter => self.counter(op).await,
        }
    }
}

/// `[old, new]` as two integers.
fn cas_args(v: &Value) -> Option<(i64, i64)> {
    match v.as_array()?.as_slice() {
        [old, new] => Some((old.as_i64()?, new.as_i64()?)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_commands_as_resp_arrays() {
        assert_eq!(encode_command(&[b"GET", b"r/1"]), b"*2\r\n$3\r\nGET\r\n$3\r\nr/1\r\n".to_vec());
    }

    #[test]
    fn parses_role_replies() {
        let bulk = |s: &str| Reply::Bulk(Some(s.as_bytes().to_vec()));
        let primary = Reply::Array(Some(vec![
            bulk("master"),
            Reply::Integer(10),
            Reply::Array(Some(vec![Reply::Array(Some(vec![bulk("10.0.0.2"), bulk("6379"), bulk("10")]))])),
        ]));
        assert_eq!(parse_role(&primary), Some(Role::Primary { replicas: vec![("10.0.0.2".into(), 6379)] }));
        let replica = Reply::Array(Some(vec![
            bulk("slave"),
            bulk("10.0.0.1"),
            Reply::Integer(6379),
            bulk("connected"),
            Reply::Integer(3),
        ]));
        assert_eq!(
            parse_role(&replica),
            Some(Role::Replica { primary_host: "10.0.0.1".into(), primary_port: 6379, state: "connected".into() })
        );
        assert_eq!(parse_role(&Reply::Integer(1)), None);
    }
}
