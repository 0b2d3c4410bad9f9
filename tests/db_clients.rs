//! Integration tests of the etcd and Redis workload clients against real servers started on
//! loopback (random free ports, own data directories, killed by pid at the end): every outcome
//! mapping, including connection refused (fail) and a stopped server (write times out: info).
//! Needs `etcd` and `redis-server` on PATH (Debian: etcd-server, redis-server).

use faultline_dbs::etcd::client::EtcdClient;
use faultline_dbs::redis::client::{RedisClient, RedisConnection, Role};
use faultline_dbs::{ClientOptions as EtcdOptions, KvShape as WorkloadKind};
use faultline_workloads::{Client, Completion, Invocation, OpType};
use serde_json::{json, Value};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A server process we started; killed (by its pid) when dropped, even if stopped.
struct Server {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Server {
    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn signal(&self, sig: libc::c_int) {
        let rc = unsafe { libc::kill(self.child.id() as libc::pid_t, sig) };
        assert_eq!(rc, 0, "kill({}, {sig}) failed", self.child.id());
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn require_binary(name: &str, package: &str) {
    let found = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|p| p.join(name).is_file()))
        .unwrap_or(false);
    assert!(found, "`{name}` is not on PATH; install it (Debian: apt-get install {package})");
}

fn wait_for_port(server: &mut Server, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(server.addr()).is_err() {
        if let Ok(Some(status)) = server.child.try_wait() {
            panic!("{what} exited before listening: {status}");
        }
        assert!(Instant::now() < deadline, "{what} did not listen on {} within 20s", server.addr());
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn start_etcd() -> Server {
    require_binary("etcd", "etcd-server");
    let dir = tempfile::tempdir().unwrap();
    let (client_port, peer_port) = (free_port(), free_port());
    let client_url = format!("http://127.0.0.1:{client_port}");
    let peer_url = format!("http://127.0.0.1:{peer_port}");
    let child = Command::new("etcd")
        .args(["--name", "default", "--data-dir"])
        .arg(dir.path().join("data"))
        .args(["--listen-client-urls", &client_url, "--advertise-client-urls", &client_url])
        .args(["--listen-peer-urls", &peer_url, "--initial-advertise-peer-urls", &peer_url])
        .args(["--initial-cluster", &format!("default={peer_url}")])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("etcd.log")).unwrap())
        .spawn()
        .expect("spawn etcd");
    let mut server = Server { child, port: client_port, _dir: dir };
    wait_for_port(&mut server, "etcd");
    server
}

fn start_redis() -> Server {
    require_binary("redis-server", "redis-server");
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .args(["--daemonize", "no", "--dir"])
        .arg(dir.path())
        .stdout(std::fs::File::create(dir.path().join("redis.log")).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn redis-server");
    let mut server = Server { child, port, _dir: dir };
    wait_for_port(&mut server, "redis-server");
    server
}

fn etcd_client(server_addr: &str, kind: WorkloadKind, timeout_ms: u64) -> EtcdClient {
    let opts =
        EtcdOptions { timeout: Duration::from_millis(timeout_ms), serializable_reads: false, ..Default::default() };
    EtcdClient::new(server_addr, kind, opts).unwrap()
}

/// Poll until etcd answers a linearizable read (it has elected itself leader).
async fn wait_etcd_ready(server: &Server) {
    let mut c = etcd_client(&server.addr(), WorkloadKind::Counter, 1000);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let done = c.invoke(&read(None)).await;
        if done.kind == OpType::Ok {
            return;
        }
        assert!(Instant::now() < deadline, "etcd at {} not ready: {done:?}", server.addr());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn read(key: Option<Value>) -> Invocation {
    Invocation::new("read", key, Value::Null)
}

fn write(key: u64, v: i64) -> Invocation {
    Invocation::new("write", Some(json!(key)), json!(v))
}

fn cas(key: u64, old: i64, new: i64) -> Invocation {
    Invocation::new("cas", Some(json!(key)), json!([old, new]))
}

fn add(v: i64) -> Invocation {
    Invocation::new("add", None, json!(v))
}

fn assert_done(c: &Completion, kind: OpType, value: Value, error: Option<&str>) {
    assert_eq!((c.kind, &c.value, c.error.as_deref()), (kind, &value, error), "{c:?}");
}

/// The register contract every client must meet (run against etcd and Redis).
async fn check_register(c: &mut impl Client, other: &mut impl Client) {
    assert_done(&c.invoke(&read(Some(json!(1)))).await, OpType::Ok, Value::Null, None);
    assert_done(&c.invoke(&write(1, 3)).await, OpType::Ok, json!(3), None);
    assert_done(&other.invoke(&read(Some(json!(1)))).await, OpType::Ok, json!(3), None);
    assert_done(&c.invoke(&cas(1, 2, 4)).await, OpType::Fail, json!([2, 4]), Some("value did not match"));
    assert_done(&other.invoke(&read(Some(json!(1)))).await, OpType::Ok, json!(3), None);
    assert_done(&c.invoke(&cas(1, 3, 4)).await, OpType::Ok, json!([3, 4]), None);
    assert_done(&other.invoke(&read(Some(json!(1)))).await, OpType::Ok, json!(4), None);
    // cas on an absent key fails; keys are independent.
    assert_done(&c.invoke(&cas(2, 0, 1)).await, OpType::Fail, json!([0, 1]), Some("value did not match"));
    assert_done(&c.invoke(&read(Some(json!(2)))).await, OpType::Ok, Value::Null, None);
    // Malformed invocations fail without touching the database.
    assert_eq!(c.invoke(&Invocation::new("write", Some(json!(1)), json!("x"))).await.kind, OpType::Fail);
    assert_eq!(c.invoke(&read(None)).await.kind, OpType::Fail);
    assert_done(&c.invoke(&read(Some(json!(1)))).await, OpType::Ok, json!(4), None);
}

async fn check_set(c: &mut impl Client, other: &mut impl Client) {
    assert_done(&c.invoke(&read(None)).await, OpType::Ok, json!([]), None);
    for e in [10, 2, 33, 2] {
        assert_done(&c.invoke(&add(e)).await, OpType::Ok, json!(e), None);
    }
    assert_done(&other.invoke(&read(None)).await, OpType::Ok, json!([2, 10, 33]), None);
    let final_read = Invocation::new("final-read", None, Value::Null);
    assert_done(&other.invoke(&final_read).await, OpType::Ok, json!([2, 10, 33]), None);
}

async fn check_counter(c: &mut impl Client, other: &mut impl Client) {
    assert_done(&c.invoke(&read(None)).await, OpType::Ok, json!(0), None);
    assert_done(&c.invoke(&add(2)).await, OpType::Ok, json!(2), None);
    assert_done(&other.invoke(&add(5)).await, OpType::Ok, json!(5), None);
    assert_done(&c.invoke(&read(None)).await, OpType::Ok, json!(7), None);
}

/// Nothing listens: every operation, read or write, fails (it was never sent).
async fn check_refused<C: Client>(mut make: impl FnMut(WorkloadKind) -> C) {
    let cases = [
        (WorkloadKind::Register, write(1, 1)),
        (WorkloadKind::Register, cas(1, 1, 2)),
        (WorkloadKind::Register, read(Some(json!(1)))),
        (WorkloadKind::Set, add(1)),
        (WorkloadKind::Counter, add(1)),
        (WorkloadKind::Counter, read(None)),
    ];
    for (kind, op) in cases {
        let done = make(kind).invoke(&op).await;
        assert_eq!(done.kind, OpType::Fail, "{op:?}: {done:?}");
        assert!(done.error.as_deref().unwrap_or("").contains("connection refused"), "{op:?}: {done:?}");
        assert_eq!(done.value, op.value);
    }
}

#[tokio::test]
async fn etcd_register_set_counter() {
    let server = start_etcd();
    wait_etcd_ready(&server).await;
    let addr = server.addr();
    let mut c = etcd_client(&addr, WorkloadKind::Register, 2000);
    let serializable = EtcdOptions { timeout: Duration::from_secs(2), serializable_reads: true, ..Default::default() };
    let mut other = EtcdClient::new(&format!("http://{addr}/"), WorkloadKind::Register, serializable).unwrap();
    check_register(&mut c, &mut other).await;
    check_set(&mut etcd_client(&addr, WorkloadKind::Set, 2000), &mut etcd_client(&addr, WorkloadKind::Set, 2000)).await;
    check_counter(
        &mut etcd_client(&addr, WorkloadKind::Counter, 2000),
        &mut etcd_client(&addr, WorkloadKind::Counter, 2000),
    )
    .await;
    assert!(EtcdClient::new("https://x:1", WorkloadKind::Set, EtcdOptions::default()).is_err());
}

/// Racing read-modify-write adds: losers fail cleanly, and the counter equals the sum of the
/// adds that succeeded (an add reported `fail` must not have happened).
#[tokio::test]
async fn etcd_counter_races_fail_cleanly() {
    let server = start_etcd();
    wait_etcd_ready(&server).await;
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let mut c = etcd_client(&server.addr(), WorkloadKind::Counter, 2000);
        tasks.push(tokio::spawn(async move {
            let (mut ok_sum, mut fails) = (0, 0);
            for _ in 0..25 {
                let done = c.invoke(&add(1)).await;
                match done.kind {
                    OpType::Ok => ok_sum += 1,
                    OpType::Fail => {
                        assert_eq!(done.error.as_deref(), Some("counter changed concurrently"), "{done:?}");
                        fails += 1
                    }
                    _ => panic!("unexpected {done:?}"),
                }
            }
            (ok_sum, fails)
        }));
    }
    let (mut total, mut fails) = (0, 0);
    for t in tasks {
        let (s, f) = t.await.unwrap();
        total += s;
        fails += f;
    }
    let mut c = etcd_client(&server.addr(), WorkloadKind::Counter, 2000);
    assert_done(&c.invoke(&read(None)).await, OpType::Ok, json!(total), None);
    assert_eq!(total + fails, 100);
    assert!(total > 0);
}

#[tokio::test]
async fn etcd_refused_and_stopped_server() {
    let port = free_port();
    check_refused(|kind| etcd_client(&format!("127.0.0.1:{port}"), kind, 1000)).await;

    let server = start_etcd();
    wait_etcd_ready(&server).await;
    let mut c = etcd_client(&server.addr(), WorkloadKind::Register, 500);
    assert_eq!(c.invoke(&write(7, 1)).await.kind, OpType::Ok);
    server.signal(libc::SIGSTOP);
    let started = Instant::now();
    assert_done(&c.invoke(&write(7, 2)).await, OpType::Info, json!(2), Some("timeout"));
    assert!(started.elapsed() < Duration::from_secs(3), "timeout took {:?}", started.elapsed());
    assert_done(&c.invoke(&cas(7, 2, 3)).await, OpType::Info, json!([2, 3]), Some("timeout"));
    assert_done(&c.invoke(&read(Some(json!(7)))).await, OpType::Fail, Value::Null, Some("timeout"));
    let mut counter = etcd_client(&server.addr(), WorkloadKind::Counter, 500);
    // The counter's add reads first; a read timeout means nothing was written.
    assert_eq!(counter.invoke(&add(1)).await.kind, OpType::Fail);
    server.signal(libc::SIGCONT);
    // The client recovers once the server runs again; the "info" write may well have happened.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let done = c.invoke(&read(Some(json!(7)))).await;
        if done.kind == OpType::Ok {
            assert!([json!(1), json!(2), json!(3)].contains(&done.value), "{done:?}");
            break;
        }
        assert!(Instant::now() < deadline, "no recovery after SIGCONT: {done:?}");
    }
}

fn redis(server: &Server, kind: WorkloadKind) -> RedisClient {
    RedisClient::new(&server.addr(), kind, Duration::from_millis(2000))
}

#[tokio::test]
async fn redis_register_set_counter() {
    let server = start_redis();
    check_register(&mut redis(&server, WorkloadKind::Register), &mut redis(&server, WorkloadKind::Register)).await;
    check_set(&mut redis(&server, WorkloadKind::Set), &mut redis(&server, WorkloadKind::Set)).await;
    check_counter(&mut redis(&server, WorkloadKind::Counter), &mut redis(&server, WorkloadKind::Counter)).await;
}

#[tokio::test]
async fn redis_refused_and_stopped_server() {
    let port = free_port();
    check_refused(|kind| RedisClient::new(&format!("127.0.0.1:{port}"), kind, Duration::from_secs(1))).await;

    let server = start_redis();
    let mut c = RedisClient::new(&server.addr(), WorkloadKind::Register, Duration::from_millis(500));
    assert_eq!(c.invoke(&write(7, 1)).await.kind, OpType::Ok);
    server.signal(libc::SIGSTOP);
    assert_done(&c.invoke(&write(7, 2)).await, OpType::Info, json!(2), Some("timeout"));
    assert_done(&c.invoke(&cas(7, 2, 3)).await, OpType::Info, json!([2, 3]), Some("timeout"));
    assert_done(&c.invoke(&read(Some(json!(7)))).await, OpType::Fail, Value::Null, Some("timeout"));
    let mut counter = RedisClient::new(&server.addr(), WorkloadKind::Counter, Duration::from_millis(500));
    assert_done(&counter.invoke(&add(3)).await, OpType::Info, json!(3), Some("timeout"));
    server.signal(libc::SIGCONT);
    // A fresh connection is used after a timeout, so no stale reply is read as this op's answer.
    let done = c.invoke(&read(Some(json!(7)))).await;
    assert_eq!(done.kind, OpType::Ok, "{done:?}");
    assert!([json!(1), json!(2), json!(3)].contains(&done.value), "{done:?}");
    // A server that dies after a connection was made: the next write's outcome is unknown.
    drop(server);
    let done = c.invoke(&write(7, 4)).await;
    assert!(done.kind == OpType::Info || done.error.as_deref() == Some("connection refused"), "{done:?}");
    assert_done(&c.invoke(&write(7, 4)).await, OpType::Fail, json!(4), Some("connection refused"));
}

#[tokio::test]
async fn redis_replication_commands() {
    let (primary, replica) = (start_redis(), start_redis());
    let mut p = RedisConnection::new(&primary.addr(), Duration::from_secs(2));
    let mut r = RedisConnection::new(&replica.addr(), Duration::from_secs(2));
    assert_eq!(r.role().await.unwrap(), Role::Primary { replicas: vec![] });
    r.replicaof("127.0.0.1", primary.port).await.unwrap();
    match r.role().await.unwrap() {
        Role::Replica { primary_host, primary_port, .. } => {
            assert_eq!((primary_host.as_str(), primary_port), ("127.0.0.1", primary.port))
        }
        other => panic!("expected a replica, got {other:?}"),
    }
    // Writes to a replica are rejected by Redis (-READONLY): a definite failure.
    let mut on_replica = RedisClient::new(&replica.addr(), WorkloadKind::Register, Duration::from_secs(2));
    let done = on_replica.invoke(&write(1, 1)).await;
    assert_eq!(done.kind, OpType::Fail, "{done:?}");
    assert!(done.error.as_deref().unwrap().contains("READONLY"), "{done:?}");
    // Writes to the primary reach the replica.
    let mut on_primary = RedisClient::new(&primary.addr(), WorkloadKind::Register, Duration::from_secs(2));
    assert_eq!(on_primary.invoke(&write(1, 3)).await.kind, OpType::Ok);
    let deadline = Instant::now() + Duration::from_secs(10);
    while on_replica.invoke(&read(Some(json!(1)))).await.value != json!(3) {
        assert!(Instant::now() < deadline, "replica never caught up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The primary lists the replica once it is fully online (shortly after the first sync).
    loop {
        match p.role().await.unwrap() {
            Role::Primary { replicas } if replicas.len() == 1 => {
                assert_eq!(replicas[0].0, "127.0.0.1");
                break;
            }
            Role::Primary { replicas } => assert!(Instant::now() < deadline, "primary lists {replicas:?}"),
            other => panic!("expected a primary, got {other:?}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    r.replicaof_no_one().await.unwrap();
    assert!(matches!(r.role().await.unwrap(), Role::Primary { .. }));
    assert_eq!(on_replica.invoke(&write(1, 4)).await.kind, OpType::Ok);
    // Admin errors name the server and the command.
    let dead_addr = format!("127.0.0.1:{}", free_port());
    let mut dead = RedisConnection::new(&dead_addr, Duration::from_secs(1));
    let err = dead.role().await.unwrap_err().to_string();
    assert!(err.contains("ROLE") && err.contains("connection refused"), "{err}");
    let err = dead.replicaof("127.0.0.1", primary.port).await.unwrap_err().to_string();
    assert!(err.contains("REPLICAOF 127.0.0.1") && err.contains(&dead_addr), "{err}");
}
