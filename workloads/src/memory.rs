//! In-memory test doubles: [`Client`]s over shared in-process state, for the runner's
//! benchmark and for unit tests. They are linearizable by construction (one mutex or atomic per
//! store), so a history they produce must check valid. Cloning a double shares its state, the
//! way several clients share one database.

use crate::client::{Client, Completion, Invocation};
use crate::workload::Shape;
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// Lock a mutex, ignoring poisoning (the state is plain data, always consistent between ops).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Register workload double: a map from key to integer.
#[derive(Debug, Clone, Default)]
pub struct InMemoryRegister {
    map: Arc<Mutex<HashMap<String, i64>>>,
}

impl InMemoryRegister {
    pub fn new() -> Self {
        Self::default()
    }

    fn apply(&self, op: &Invocation) -> Completion {
        let Some(key) = op.key.as_ref().map(Value::to_string) else {
            return Completion::fail(op, "register op without a key");
        };
        match (op.f.as_str(), &op.value) {
            ("read" | "final-read", _) => Completion::ok(lock(&self.map).get(&key).map_or(Value::Null, |v| json!(v))),
            ("write", v) => match v.as_i64() {
                Some(n) => {
                    lock(&self.map).insert(key, n);
                    Completion::ok(op.value.clone())
                }
                None => Completion::fail(op, "write value is not an integer"),
            },
            ("cas", v) => match cas_args(v) {
                Some((old, new)) => {
                    let mut map = lock(&self.map);
                    if map.get(&key) == Some(&old) {
                        map.insert(key, new);
                        Completion::ok(op.value.clone())
                    } else {
                        Completion::fail(op, "value did not match")
                    }
                }
                None => Completion::fail(op, "cas value is not [old, new] integers"),
            },
            (f, _) => Completion::fail(op, format!("register does not support {f:?}")),
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

#[async_trait::async_trait]
impl Client for InMemoryRegister {
    async fn invoke(&mut self, op: &Invocation) -> Completion {
        self.apply(op)
    }
}

/// Set workload double: a set of integers.
#[derive(Debug, Clone, Default)]
pub struct InMemorySet {
    set: Arc<Mutex<BTreeSet<i64>>>,
}

impl InMemorySet {
    pub fn new() -> Self {
        Self::default()
    }

    fn apply(&self, op: &Invocation) -> Completion {
        match op.f.as_str() {
            "add" => match op.value.as_i64() {
                Some(e) => {
                    lock(&self.set).insert(e);
                    Completion::ok(op.value.clone())
                }
                None => Completion::fail(op, "set element is not an integer"),
            },
            "read" | "final-read" => Completion::ok(json!(lock(&self.set).iter().collect::<Vec<_>>())),
            f => Completion::fail(op, format!("set does not support {f:?}")),
        }
    }
}

#[async_trait::async_trait]
impl Client for InMemorySet {
    async fn invoke(&mut self, op: &Invocation) -> Completion {
        self.apply(op)
    }
}

/// Counter workload double: one integer.
#[derive(Debug, Clone, Default)]
pub struct InMemoryCounter {
    value: Arc<AtomicI64>,
}

impl InMemoryCounter {
    pub fn new() -> Self {
        Self::default()
    }

    fn apply(&self, op: &Invocation) -> Completion {
        match op.f.as_str() {
            "add" => match op.value.as_i64() {
                Some(n) => {
                    self.value.fetch_add(n, Ordering::SeqCst);
                    Completion::ok(op.value.clone())
                }
                None => Completion::fail(op, "counter increment is not an integer"),
            },
            "read" | "final-read" => Completion::ok(json!(self.value.load(Ordering::SeqCst))),
            // unique-ids: the counter's next value, handed out once.
            "generate" => Completion::ok(json!(self.value.fetch_add(1, Ordering::SeqCst) + 1)),
            f => Completion::fail(op, format!("counter does not support {f:?}")),
        }
    }
}

#[async_trait::async_trait]
impl Client for InMemoryCounter {
    async fn invoke(&mut self, op: &Invocation) -> Completion {
        self.apply(op)
    }
}

/// Bank workload double: the balances under one lock, so transfers and reads are atomic.
#[derive(Debug, Clone)]
pub struct InMemoryBank {
    balances: Arc<Mutex<Vec<i64>>>,
}

impl Default for InMemoryBank {
    fn default() -> Self {
        InMemoryBank { balances: Arc::new(Mutex::new(vec![crate::bank::INITIAL; crate::bank::ACCOUNTS as usize])) }
    }
}

impl InMemoryBank {
    pub fn new() -> Self {
        Self::default()
    }

    fn apply(&self, op: &Invocation) -> Completion {
        let mut b = lock(&self.balances);
        match op.f.as_str() {
            "read" | "final-read" => {
                Completion::ok(Value::Object(b.iter().enumerate().map(|(a, v)| (a.to_string(), json!(v))).collect()))
            }
            "transfer" => match crate::bank::transfer_parts(op) {
                Ok((from, to, _)) if from as usize >= b.len() || to as usize >= b.len() => {
                    Completion::fail(op, "no such account")
                }
                Ok((from, _, amount)) if b[from as usize] < amount => Completion::fail(op, crate::bank::INSUFFICIENT),
                Ok((from, to, amount)) => {
                    b[from as usize] -= amount;
                    b[to as usize] += amount;
                    Completion::ok(op.value.clone())
                }
                Err(e) => Completion::fail(op, e),
            },
            f => Completion::fail(op, format!("bank does not support {f:?}")),
        }
    }
}

/// Any of the doubles, chosen by workload, so a runner can be generic over one client type.
#[derive(Debug, Clone)]
pub enum InMemoryClient {
    Register(InMemoryRegister),
    Set(InMemorySet),
    Counter(InMemoryCounter),
    Bank(InMemoryBank),
}

impl InMemoryClient {
    /// A fresh, empty store for workloads of this shape (register for the transactional
    /// ones, which have no double); clone it to give every worker a client of the same store.
    pub fn new(shape: Shape) -> Self {
        match shape {
            Shape::Set => InMemoryClient::Set(InMemorySet::new()),
            Shape::Counter => InMemoryClient::Counter(InMemoryCounter::new()),
            Shape::Bank => InMemoryClient::Bank(InMemoryBank::new()),
            // A counter's `generate` hands out its next value: distinct ids.
            Shape::UniqueIds => InMemoryClient::Counter(InMemoryCounter::new()),
            Shape::Register | Shape::ListAppend | Shape::RwRegister => {
                InMemoryClient::Register(InMemoryRegister::new())
            }
        }
    }
}

#[async_trait::async_trait]
impl Client for InMemoryClient {
    async fn invoke(&mut self, op: &Invocation) -> Completion {
        match self {
            InMemoryClient::Register(c) => c.apply(op),
            InMemoryClient::Set(c) => c.apply(op),
            InMemoryClient::Counter(c) => c.apply(op),
            InMemoryClient::Bank(c) => c.apply(op),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::OpType;

    fn run<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
    }

    fn inv(f: &str, key: Option<Value>, value: Value) -> Invocation {
        Invocation::new(f, key, value)
    }

    #[test]
    fn register_read_write_cas() {
        run(async {
            let mut a = InMemoryRegister::new();
            let mut b = a.clone();
            let k = Some(json!(1));
            assert_eq!(a.invoke(&inv("read", k.clone(), Value::Null)).await, Completion::ok(Value::Null));
            assert_eq!(a.invoke(&inv("write", k.clone(), json!(3))).await.kind, OpType::Ok);
            assert_eq!(b.invoke(&inv("read", k.clone(), Value::Null)).await.value, json!(3));
            let bad_cas = inv("cas", k.clone(), json!([2, 4]));
            let c = b.invoke(&bad_cas).await;
            assert_eq!((c.kind, c.value), (OpType::Fail, json!([2, 4])));
            assert_eq!(b.invoke(&inv("cas", k.clone(), json!([3, 4]))).await.kind, OpType::Ok);
            assert_eq!(a.invoke(&inv("read", k.clone(), Value::Null)).await.value, json!(4));
            assert_eq!(a.invoke(&inv("read", Some(json!(2)), Value::Null)).await.value, Value::Null);
            assert_eq!(a.invoke(&inv("read", None, Value::Null)).await.kind, OpType::Fail);
            assert_eq!(a.invoke(&inv("write", k, json!("x"))).await.kind, OpType::Fail);
        });
    }

    #[test]
    fn set_and_counter() {
        run(async {
            let mut s = InMemoryClient::new(Shape::Set);
            for e in [5, 1, 3] {
                assert_eq!(s.invoke(&inv("add", None, json!(e))).await.kind, OpType::Ok);
            }
            assert_eq!(s.invoke(&inv("final-read", None, Value::Null)).await.value, json!([1, 3, 5]));
            let mut c = InMemoryClient::new(Shape::Counter);
            assert_eq!(c.invoke(&inv("read", None, Value::Null)).await.value, json!(0));
            c.invoke(&inv("add", None, json!(2))).await;
            c.clone().invoke(&inv("add", None, json!(3))).await;
            assert_eq!(c.invoke(&inv("read", None, Value::Null)).await.value, json!(5));
            assert_eq!(c.invoke(&inv("cas", None, json!([1, 2]))).await.kind, OpType::Fail);
        });
    }
}
