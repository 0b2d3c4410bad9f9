//! etcd client for the workloads, over etcd's v3 JSON gateway (`/v3/kv/*`) with HTTP keep-alive.
//!
//! Keys and values travel base64-encoded; int64 fields come back as strings; a missing key has
//! no `kvs`; a failed txn has no `succeeded`. Register keys are `r/<key>`, set elements are keys
//! `s/<element>`, the counter is the key `c`. Values are decimal integers.
//!
//! Outcome mapping (see `faultline_workloads::client`): an error before the request was sent
//! (connection refused, connect timeout) is `fail`; a timeout, 5xx, 408 or lost connection on an
//! operation that writes is `info` and on a read `fail`; any other 4xx is a definite rejection
//! (`fail`); a cas whose comparison did not hold is `fail`. The counter's `add` is a
//! read-modify-write guarded by the key's mod_revision, so a lost race is a clean `fail`.

use crate::{ClientOptions, KvShape};
use async_trait::async_trait;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use faultline_workloads::{Client, Completion, Invocation};
use serde_json::{json, Value};

/// One worker's client, bound to one etcd member.
#[derive(Debug, Clone)]
pub struct EtcdClient {
    http: reqwest::Client,
    /// `http://host:port`, without a trailing slash.
    base: String,
    kind: KvShape,
    opts: ClientOptions,
}

/// Why a request did not produce an answer.
#[derive(Debug, Clone, PartialEq)]
enum CallError {
    /// The request never left this machine: certainly not applied.
    NotSent(String),
    /// The server refused it: certainly not applied.
    Rejected(String),
    /// It may have been applied.
    Unknown(String),
}

impl CallError {
    fn message(&self) -> &str {
        match self {
            CallError::NotSent(e) | CallError::Rejected(e) | CallError::Unknown(e) => e,
        }
    }

    /// The completion of `op` that this error implies.
    fn completion(self, op: &Invocation) -> Completion {
        match self {
            CallError::NotSent(e) | CallError::Rejected(e) => Completion::fail(op, e),
            CallError::Unknown(e) => Completion::indeterminate(op, e),
        }
    }
}

const REGISTER_PREFIX: &str = "r/";
const SET_PREFIX: &str = "s/";
/// The first key after every `s/...` key (`/` + 1 = `0`), the end of the set's range.
const SET_RANGE_END: &str = "s0";
const COUNTER_KEY: &str = "c";

impl EtcdClient {
    /// A client for the member at `endpoint` (`host:port` or `http://host:port`).
    pub fn new(endpoint: &str, kind: KvShape, opts: ClientOptions) -> anyhow::Result<EtcdClient> {
        let endpoint = endpoint.trim().trim_end_matches('/');
        let base = if endpoint.contains("://") { endpoint.to_string() } else { format!("http://{endpoint}") };
        if !base.starts_with("http://") {
            anyhow::bail!("etcd endpoint {endpoint:?} must be host:port or http://host:port (no TLS)");
        }
        let http = reqwest::Client::builder()
            .no_proxy()
            .tcp_nodelay(true)
            // Shorter than the request timeout, so that a connect that hangs is reported as
            // "not sent" (fail) rather than as an ambiguous request timeout.
            .connect_timeout(opts.timeout / 2)
            .build()
            .map_err(|e| anyhow::anyhow!("cannot build the HTTP client for etcd at {base}: {e}"))?;
        Ok(EtcdClient { http, base, kind, opts })
    }

    /// POST a JSON request to a gateway path and return the decoded JSON answer.
    async fn call(&self, path: &str, body: &Value) -> Result<Value, CallError> {
        let url = format!("{}{}", self.base, path);
        let resp = self.http.post(&url).json(body).timeout(self.opts.timeout).send().await.map_err(classify)?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(classify)?;
        if status.is_success() {
            return serde_json::from_slice(&bytes)
                .map_err(|_| CallError::Unknown("undecodable response from etcd".into()));
        }
        let message = serde_json::from_slice::<Value>(&bytes)
            .ok()
            .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_string))
            .unwrap_or_else(|| String::from_utf8_lossy(&bytes).chars().take(200).collect());
        let error = format!("http {}: {message}", status.as_u16());
        // 408 is gRPC's Canceled and 5xx covers Unavailable/DeadlineExceeded/Unknown: the
        // proposal may still commit. Other 4xx are validation errors raised before proposing.
        if status.is_server_error() || status.as_u16() == 408 {
            Err(CallError::Unknown(error))
        } else {
            Err(CallError::Rejected(error))
        }
    }

    /// Get one key: `Some((value, mod_revision))`, or `None` if absent.
    async fn get(&self, key: &str) -> Result<Option<(String, i64)>, CallError> {
        let mut req = json!({ "key": B64.encode(key) });
        if self.opts.serializable_reads {
            req["serializable"] = json!(true);
        }
        let resp = self.call("/v3/kv/range", &req).await?;
        let Some(kv) = resp.get("kvs").and_then(Value::as_array).and_then(|kvs| kvs.first()) else {
            return Ok(None);
        };
        let value =
            decode_b64_field(kv, "value").ok_or_else(|| CallError::Unknown("undecodable value from etcd".into()))?;
        let mod_revision = int64_field(kv, "mod_revision").unwrap_or(0);
        Ok(Some((value, mod_revision)))
    }

    async fn put(&self, key: &str, value: &str) -> Result<(), CallError> {
        self.call("/v3/kv/put", &json!({ "key": B64.encode(key), "value": B64.encode(value) })).await.map(drop)
    }

    /// A txn: if `compare` holds, put `key = value`. Returns whether it succeeded.
    async fn put_if(&self, compare: Value, key: &str, value: &str) -> Result<bool, CallError> {
        let req = json!({
            "compare": [compare],
            "success": [{ "request_put": { "key": B64.encode(key), "value": B64.encode(value) } }],
        });
        let resp = self.call("/v3/kv/txn", &req).await?;
        Ok(resp.get("succeeded").and_then(Value::as_bool).unwrap_or(false))
    }

    async fn register(&self, op: &Invocation) -> Completion {
        let Some(key) = op.key.as_ref().map(|k| format!("{REGISTER_PREFIX}{}", key_text(k))) else {
            return Completion::fail(op, "register op without a key");
        };
        match op.f.as_str() {
            "read" | "final-read" => match self.get(&key).await {
                Ok(None) => Completion::ok(Value::Null),
                Ok(Some((v, _))) => match v.parse::<i64>() {
                    Ok(n) => Completion::ok(json!(n)),
                    Err(_) => Completion::fail(op, format!("non-integer value {v:?} in etcd")),
                },
                Err(e) => e.completion(op),
            },
            "write" => match op.value.as_i64() {
                Some(n) => match self.put(&key, &n.to_string()).await {
                    Ok(()) => Completion::ok(op.value.clone()),
                    Err(e) => e.completion(op),
                },
                None => Completion::fail(op, "write value is not an integer"),
            },
            "cas" => {
                let Some((old, new)) = cas_args(&op.value) else {
                    return Completion::fail(op, "cas value is not [old, new] integers");
                };
                let compare = json!({
                    "key": B64.encode(&key), "target": "VALUE", "result": "EQUAL", "value": B64.encode(old.to_string()),
                });
                match self.put_if(compare, &key, &new.to_string()).await {
                    Ok(true) => Completion::ok(op.value.clone()),
                    Ok(false) => Completion::fail(op, "value did not match"),
                    Err(e) => e.completion(op),
                }
            }
            f => Completion::fail(op, format!("register does not support {f:?}")),
        }
    }

    async fn set(&self, op: &Invocation) -> Completion {
        match op.f.as_str() {
            "add" => match op.value.as_i64() {
                Some(e) => match self.put(&format!("{SET_PREFIX}{e}"), &e.to_string()).await {
                    Ok(()) => Completion::ok(op.value.clone()),
                    Err(err) => err.completion(op),
                },
                None => Completion::fail(op, "set element is not an integer"),
            },
            "read" | "final-read" => {
                let mut req =
                    json!({ "key": B64.encode(SET_PREFIX), "range_end": B64.encode(SET_RANGE_END), "keys_only": true });
                if self.opts.serializable_reads {
                    req["serializable"] = json!(true);
                }
                let resp = match self.call("/v3/kv/range", &req).await {
                    Ok(resp) => resp,
                    Err(e) => return e.completion(op),
                };
                let kvs = resp.get("kvs").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
                let mut elements = Vec::with_capacity(kvs.len());
                for kv in kvs {
                    let element = decode_b64_field(kv, "key")
                        .and_then(|k| k.strip_prefix(SET_PREFIX).and_then(|e| e.parse::<i64>().ok()));
                    match element {
                        Some(e) => elements.push(e),
                        None => return Completion::fail(op, "non-integer set element in etcd"),
                    }
                }
                elements.sort_unstable();
                Completion::ok(json!(elements))
            }
            f => Completion::fail(op, format!("set does not support {f:?}")),
        }
    }

    async fn counter(&self, op: &Invocation) -> Completion {
        let current = |got: Option<(String, i64)>| -> Result<(i64, i64), String> {
            match got {
                None => Ok((0, 0)),
                Some((v, rev)) => {
                    v.parse::<i64>().map(|n| (n, rev)).map_err(|_| format!("non-integer counter {v:?} in etcd"))
                }
            }
        };
        match op.f.as_str() {
            "read" | "final-read" => match self.get(COUNTER_KEY).await {
                Ok(got) => match current(got) {
                    Ok((n, _)) => Completion::ok(json!(n)),
                    Err(e) => Completion::fail(op, e),
                },
                Err(e) => e.completion(op),
            },
            "add" => {
                let Some(delta) = op.value.as_i64() else {
                    return Completion::fail(op, "counter increment is not an integer");
                };
                // The read writes nothing: any error here is a clean failure of the add.
                let (value, mod_revision) = match self.get(COUNTER_KEY).await {
                    Ok(got) => match current(got) {
                        Ok(cur) => cur,
                        Err(e) => return Completion::fail(op, e),
                    },
                    Err(e) => return Completion::fail(op, format!("read before add: {}", e.message())),
                };
                // mod_revision 0 matches an absent key, so the first add creates it.
                let compare = json!({
                    "key": B64.encode(COUNTER_KEY), "target": "MOD", "result": "EQUAL", "mod_revision": mod_revision.to_string(),
                });
                match self.put_if(compare, COUNTER_KEY, &(value + delta).to_string()).await {
                    Ok(true) => Completion::ok(op.value.clone()),
                    Ok(false) => Completion::fail(op, "counter changed concurrently"),
                    Err(e) => e.completion(op),
                }
            }
            f => Completion::fail(op, format!("counter does not support {f:?}")),
        }
    }
}

#[async_trait]
impl Client for EtcdClient {
    async fn invoke(&mut self, op: &Invocation) -> Completion {
        match self.kind {
            KvShape::Register => self.register(op).await,
            KvShape::Set => self.set(op).await,
            KvShape::Counter => self.counter(op).await,
        }
    }
}

/// Sort a transport error into "not sent" (connect phase) or "unknown" (anything later).
fn classify(e: reqwest::Error) -> CallError {
    if e.is_connect() {
        let refused = source_chain(&e).any(|s| {
            s.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::ConnectionRefused)
        });
        if refused {
            CallError::NotSent("connection refused".into())
        } else if e.is_timeout() {
            CallError::NotSent("connect timeout".into())
        } else {
            CallError::NotSent(format!("connect failed: {}", root_cause(&e)))
        }
    } else if e.is_timeout() {
        CallError::Unknown("timeout".into())
    } else {
        CallError::Unknown(format!("connection error: {}", root_cause(&e)))
    }
}

fn source_chain<'a>(
    e: &'a (dyn std::error::Error + 'static),
) -> impl Iterator<Item = &'a (dyn std::error::Error + 'static)> {
    std::iter::successors(Some(e), |e| e.source())
}

/// The innermost error message (reqwest's outer messages carry the whole URL).
fn root_cause(e: &reqwest::Error) -> String {
    source_chain(e).last().map(|s| s.to_string()).unwrap_or_default()
}

/// A key as text: integers and strings as they are, anything else as JSON.
fn key_text(k: &Value) -> String {
    match k {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn decode_b64_field(obj: &Value, field: &str) -> Option<String> {
    // etcd omits empty fields, so a missing value is the empty string.
    let Some(encoded) = obj.get(field) else { return Some(String::new()) };
    let bytes = B64.decode(encoded.as_str()?).ok()?;
    String::from_utf8(bytes).ok()
}

/// An int64 field, which the gateway sends as a string (accept a number too).
fn int64_field(obj: &Value, field: &str) -> Option<i64> {
    match obj.get(field)? {
        Value::String(s) => s.parse().ok(),
        v => v.as_i64(),
    }
}

/// `[old, new]` as two integers.
fn cas_args(v: &Value) -> Option<(i64, i64)> {
    match v.as_array()?.as_slice() {
        [old, new] => Some((old.as_i64()?, new.as_i64()?)),
        _ => None,
    }
}
