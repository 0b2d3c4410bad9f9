//! The Galera client for the transactional workloads (mysql_async), and the status queries the
//! adapter runs.
//!
//! list-append: table `append (k bigint primary key, v text)`, an append is `INSERT ... ON
//! DUPLICATE KEY UPDATE v = CONCAT(v, ',', new)`; rw-register: `registers (k, v bigint)`. Each
//! transaction: `SET TRANSACTION ISOLATION LEVEL ...`, `START TRANSACTION`, the micro-ops,
//! `COMMIT`. unique-ids: an insert into the auto-increment table `ids` and its
//! `LAST_INSERT_ID()`. bank: `accounts (id, balance bigint)`, set to the initial balances at set-up; a
//! transfer reads both balances and writes both back, a read selects them all.
//!
//! Outcomes: any server error (deadlock 1213 — Galera's certification conflicts are reported as
//! deadlocks —, lock wait timeout, wsrep not ready 1047 on a node cut off from the majority)
//! aborts the transaction: `fail`. A transport error or timeout before COMMIT: `fail` (the server
//! rolls back a transaction whose connection is gone). Lost mid-COMMIT: `info`, or `fail` for a
//! read-only transaction.

use crate::txn::{
    balances, bank_completion, bank_mop, completion, initial_accounts, list_read, micro_ops, overdraft, parts,
    register_read, transfer_args, Table, TxnError,
};
use crate::{DbNode, Isolation};
use anyhow::Result;
use async_trait::async_trait;
use faultline_workloads::{Client, Completion, Invocation};
use mysql_async::prelude::*;
use mysql_async::{Conn, Opts, OptsBuilder};
use serde_json::Value;
use std::time::Duration;
use tokio::time::{timeout_at, Instant};

/// The workload's user, database and tables, made on the bootstrap node (joiners get them by
/// state transfer).
pub const SCHEMA: &str = "CREATE USER IF NOT EXISTS 'faultline'@'%';
GRANT ALL ON *.* TO 'faultline'@'%';
CREATE DATABASE IF NOT EXISTS faultline;
CREATE TABLE IF NOT EXISTS faultline.append (k BIGINT PRIMARY KEY, v TEXT NOT NULL) ENGINE=InnoDB;
CREATE TABLE IF NOT EXISTS faultline.registers (k BIGINT PRIMARY KEY, v BIGINT NOT NULL) ENGINE=InnoDB;
CREATE TABLE IF NOT EXISTS faultline.accounts (id BIGINT PRIMARY KEY, balance BIGINT NOT NULL) ENGINE=InnoDB;
CREATE TABLE IF NOT EXISTS faultline.ids (id BIGINT AUTO_INCREMENT PRIMARY KEY) ENGINE=InnoDB;";

/// The bank's accounts at their initial balances (run after [`SCHEMA`]).
pub fn seed_accounts() -> String {
    format!(
        "INSERT INTO faultline.accounts (id, balance) VALUES {} ON DUPLICATE KEY UPDATE balance = VALUES(balance);",
        initial_accounts()
    )
}

const APPEND: &str = "INSERT INTO append (k, v) VALUES (?, ?) ON DUPLICATE KEY UPDATE v = CONCAT(v, ',', VALUES(v))";
const READ_APPEND: &str = "SELECT v FROM append WHERE k = ?";
const WRITE_REGISTER: &str = "INSERT INTO registers (k, v) VALUES (?, ?) ON DUPLICATE KEY UPDATE v = VALUES(v)";
const READ_REGISTER: &str = "SELECT v FROM registers WHERE k = ?";
const READ_BALANCE: &str = "SELECT balance FROM accounts WHERE id = ?";
const WRITE_BALANCE: &str = "UPDATE accounts SET balance = ? WHERE id = ?";
const READ_BALANCES: &str = "SELECT id, balance FROM accounts ORDER BY id";

/// Why a transaction's statements stopped: the server's or the transport's error, or the
/// client's own refusal (a bank transfer that would overdraw).
enum StepError {
    Db(mysql_async::Error),
    Refused(String),
}

impl From<mysql_async::Error> for StepError {
    fn from(e: mysql_async::Error) -> Self {
        StepError::Db(e)
    }
}

/// A bank operation (`txn::bank_mop`), read-modify-write as an application writes it (no
/// `FOR UPDATE`): read both balances, refuse an overdraft, write both back.
async fn bank(c: &mut Conn, m: &Value) -> Result<Value, StepError> {
    if m[0] == "read" {
        let rows: Vec<(i64, i64)> = c.query(READ_BALANCES).await?;
        return Ok(balances(rows));
    }
    let (from, to, amount) = transfer_args(m);
    let from_balance: i64 = c.exec_first(READ_BALANCE, (from,)).await?.unwrap_or(0);
    let to_balance: i64 = c.exec_first(READ_BALANCE, (to,)).await?.unwrap_or(0);
    if from_balance < amount {
        return Err(StepError::Refused(overdraft(from, from_balance)));
    }
    c.exec_drop(WRITE_BALANCE, (from_balance - amount, from)).await?;
    c.exec_drop(WRITE_BALANCE, (to_balance + amount, to)).await?;
    Ok(m.clone())
}

fn opts(host: &str) -> Opts {
    OptsBuilder::default()
        .ip_or_hostname(host)
        .tcp_port(super::PORT)
        .user(Some("faultline"))
        .db_name(Some("faultline"))
        .into()
}

async fn connect(host: &str, deadline: Instant) -> Result<Conn> {
    match timeout_at(deadline, Conn::new(opts(host))).await {
        Ok(c) => Ok(c?),
        Err(_) => anyhow::bail!("connect to {host}: timeout"),
    }
}

/// What a node says about its place in the cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeState {
    /// wsrep_local_state_comment: Synced, Donor/Desynced, Joining, Joined, Initialized, ...
    pub local_state: String,
    /// wsrep_cluster_status: Primary, non-Primary, Disconnected.
    pub cluster_status: String,
    /// wsrep_last_committed: how far this node got.
    pub last_committed: i64,
}

impl NodeState {
    pub fn synced(&self) -> bool {
        self.local_state == "Synced" && self.cluster_status == "Primary"
    }
    pub fn primary(&self) -> bool {
        self.cluster_status == "Primary"
    }
}

impl std::fmt::Display for NodeState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} / {} (last committed {})", self.local_state, self.cluster_status, self.last_committed)
    }
}

/// The node's wsrep status.
pub async fn state(n: &DbNode) -> Result<NodeState> {
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut c = connect(&n.host, deadline).await?;
    let rows: Vec<(String, String)> = timeout_at(
        deadline,
        c.query(
            "SHOW STATUS WHERE Variable_name IN \
             ('wsrep_local_state_comment', 'wsrep_cluster_status', 'wsrep_last_committed')",
        ),
    )
    .await
    .map_err(|_| anyhow::anyhow!("{}: SHOW STATUS timed out", n.name))??;
    let get = |name: &str| rows.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_default();
    Ok(NodeState {
        local_state: get("wsrep_local_state_comment"),
        cluster_status: get("wsrep_cluster_status"),
        last_committed: get("wsrep_last_committed").parse().unwrap_or(-1),
    })
}

/// Make `n`'s component the primary one (no majority is left anywhere).
pub async fn bootstrap_primary_component(n: &DbNode) -> Result<()> {
    let mut c = connect(&n.host, Instant::now() + Duration::from_secs(3)).await?;
    c.query_drop("SET GLOBAL wsrep_provider_options = 'pc.bootstrap=YES'").await?;
    Ok(())
}

/// The transactional client: one connection to its own node, re-made after a transport error.
pub struct GaleraClient {
    node: String,
    host: String,
    table: Table,
    isolation: Isolation,
    timeout: Duration,
    conn: Option<Conn>,
}

impl GaleraClient {
    pub fn new(node: &DbNode, table: Table, isolation: Isolation, timeout: Duration) -> GaleraClient {
        GaleraClient { node: node.name.clone(), host: node.host.clone(), table, isolation, timeout, conn: None }
    }

    async fn run(&mut self, mops: &[Value], deadline: Instant) -> Result<Vec<Value>, TxnError> {
        if self.conn.is_none() {
            let c = connect(&self.host, deadline)
                .await
                .map_err(|e| TxnError::Aborted(format!("connect to {}: {e:#}", self.node)))?;
            self.conn = Some(c);
        }
        let (table, isolation) = (self.table, self.isolation);
        let c = self.conn.as_mut().expect("connected above");
        let before_commit = async {
            c.query_drop(format!("SET TRANSACTION ISOLATION LEVEL {}", isolation.sql())).await?;
            c.query_drop("START TRANSACTION").await?;
            let mut done = Vec::with_capacity(mops.len());
            for m in mops {
                if table == Table::Ids {
                    // Galera gives each node its own auto-increment offset.
                    c.query_drop("INSERT INTO ids () VALUES ()").await?;
                    done.push(serde_json::json!(c
                        .query_first::<i64, _>("SELECT LAST_INSERT_ID()")
                        .await?
                        .unwrap_or(0)));
                    continue;
                }
                if table == Table::Accounts {
                    done.push(bank(c, m).await?);
                    continue;
                }
                let (f, k, v) = parts(m);
                done.push(match (table, f) {
                    (Table::Append, "append") => {
                        c.exec_drop(APPEND, (k, v.to_string())).await?;
                        m.clone()
                    }
                    (Table::Append, _) => list_read(k, c.exec_first::<String, _, _>(READ_APPEND, (k,)).await?),
                    (Table::Registers, "w") => {
                        c.exec_drop(WRITE_REGISTER, (k, v)).await?;
                        m.clone()
                    }
                    (Table::Registers, _) => register_read(k, c.exec_first::<i64, _, _>(READ_REGISTER, (k,)).await?),
                    (Table::Accounts | Table::Ids, _) => unreachable!("bank and unique-ids operations are run above"),
                });
            }
            Ok::<_, StepError>(done)
        };
        let done = match timeout_at(deadline, before_commit).await {
            Ok(Ok(done)) => done,
            Ok(Err(e)) => {
                // A server error or a refusal leaves the connection usable once rolled back.
                let (usable, why) = match &e {
                    StepError::Db(e) => (matches!(e, mysql_async::Error::Server(_)), describe(e)),
                    StepError::Refused(why) => (true, why.clone()),
                };
                if !usable || tokio::time::timeout(Duration::from_secs(1), c.query_drop("ROLLBACK")).await.is_err() {
                    self.conn = None;
                }
                return Err(TxnError::Aborted(why));
            }
            Err(_) => {
                self.conn = None;
                return Err(TxnError::Aborted("timeout before commit".into()));
            }
        };
        match timeout_at(deadline, c.query_drop("COMMIT")).await {
            Ok(Ok(())) => Ok(done),
            Ok(Err(e @ mysql_async::Error::Server(_))) => Err(TxnError::Aborted(describe(&e))),
            Ok(Err(e)) => {
                self.conn = None;
                Err(TxnError::Unknown(format!("during commit: {}", describe(&e))))
            }
            Err(_) => {
                self.conn = None;
                Err(TxnError::Unknown("timeout during commit".into()))
            }
        }
    }
}

/// An error in few words: the server's code and message, or the transport's.
fn describe(e: &mysql_async::Error) -> String {
    match e {
        mysql_async::Error::Server(s) => format!("{} {}", s.code, s.message),
        other => other.to_string(),
    }
}

#[async_trait]
impl Client for GaleraClient {
    async fn invoke(&mut self, op: &Invocation) -> Completion {
        let deadline = Instant::now() + self.timeout.mul_f64(0.9);
        if self.table == Table::Ids {
            return bank_completion(op, completion(op, self.run(&[Value::Null], deadline).await));
        }
        if self.table == Table::Accounts {
            return match bank_mop(op) {
                Ok(m) => bank_completion(op, completion(op, self.run(&[m], deadline).await)),
                Err(fail) => *fail,
            };
        }
        let mops = match micro_ops(op) {
            Ok(mops) => mops,
            Err(fail) => return *fail,
        };
        completion(op, self.run(mops, deadline).await)
    }

    async fn close(&mut self) {
        if let Some(c) = self.conn.take() {
            let _ = tokio::time::timeout(Duration::from_secs(1), c.disconnect()).await;
        }
    }
}
