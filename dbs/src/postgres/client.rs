//! The PostgreSQL client for the transactional workloads (tokio-postgres), and the few queries
//! the adapter itself runs.
//!
//! list-append: table `append (k bigint primary key, v text)`; an append is
//! `INSERT ... ON CONFLICT (k) DO UPDATE SET v = v || ',' || new`, a read `SELECT v` split at
//! the commas. rw-register: table `registers (k bigint primary key, v bigint)`, plain rows.
//! unique-ids: `SELECT nextval('ids')`, a sequence made at set-up.
//! bank: table `accounts (id bigint primary key, balance bigint)`, set to the initial balances
//! at set-up; a transfer reads both balances and writes both back, a read selects them all.
//! Each transaction runs at the configured isolation level (`BEGIN ISOLATION LEVEL ...`).
//!
//! Outcomes: an error the server reports (serialization failure 40001, deadlock 40P01, read-only
//! replica, ...) aborts the transaction: `fail`. A lost connection or a timeout before COMMIT was
//! sent: `fail` too (the server rolls back a transaction whose client is gone). Lost mid-COMMIT:
//! `info` (it may have committed), or `fail` for a read-only transaction.

use crate::txn::{
    balances, bank_completion, bank_mop, completion, initial_accounts, list_read, micro_ops, overdraft, parts,
    register_read, transfer_args, Table, TxnError,
};
use crate::{DbNode, Isolation, PrimaryRoute};
use anyhow::Result;
use async_trait::async_trait;
use faultline_workloads::{Client, Completion, Invocation};
use serde_json::Value;
use std::time::Duration;
use tokio::time::{timeout_at, Instant};
use tokio_postgres::NoTls;

/// One connection, made on first use, as superuser to the `postgres` database.
async fn connect(host: &str, timeout: Duration) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let mut config = tokio_postgres::Config::new();
    config.host(host).port(super::PORT).user("postgres").dbname("postgres").connect_timeout(timeout);
    let (client, connection) = config.connect(NoTls).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

/// One query of the adapter's returning a single value, on `n`.
async fn query_one<T: for<'a> tokio_postgres::types::FromSql<'a>>(n: &DbNode, sql: &str) -> Result<T> {
    let c = connect(&n.host, Duration::from_secs(3)).await?;
    let row = tokio::time::timeout(Duration::from_secs(40), c.query_one(sql, &[]))
        .await
        .map_err(|_| anyhow::anyhow!("{}: {sql}: timed out", n.name))??;
    Ok(row.try_get(0)?)
}

pub async fn query_bool(n: &DbNode, sql: &str) -> Result<bool> {
    query_one(n, sql).await
}

pub async fn query_i64(n: &DbNode, sql: &str) -> Result<i64> {
    query_one(n, sql).await
}

pub async fn query_f64(n: &DbNode, sql: &str) -> Result<f64> {
    query_one(n, sql).await
}

/// Whether `n` is a replica streaming from `primary` right now.
pub async fn streams_from(n: &DbNode, primary: &DbNode) -> bool {
    let sql = format!(
        "SELECT pg_is_in_recovery() AND EXISTS (SELECT 1 FROM pg_stat_wal_receiver \
         WHERE status = 'streaming' AND sender_host = '{}')",
        primary.host.replace('\'', "")
    );
    query_bool(n, &sql).await.unwrap_or(false)
}

/// The workloads' tables (all; a run uses one), and the bank's accounts at their initial
/// balances.
pub async fn create_tables(primary: &DbNode) -> Result<()> {
    execute(
        primary,
        &format!(
            "CREATE TABLE IF NOT EXISTS append (k bigint PRIMARY KEY, v text NOT NULL);
             CREATE TABLE IF NOT EXISTS registers (k bigint PRIMARY KEY, v bigint NOT NULL);
             CREATE TABLE IF NOT EXISTS accounts (id bigint PRIMARY KEY, balance bigint NOT NULL);
             CREATE SEQUENCE IF NOT EXISTS ids;
             INSERT INTO accounts (id, balance) VALUES {} ON CONFLICT (id) DO UPDATE SET balance = EXCLUDED.balance;",
            initial_accounts()
        ),
    )
    .await
}

/// Statements of the adapter's own on `n`, within 30 s.
pub async fn execute(n: &DbNode, sql: &str) -> Result<()> {
    let c = connect(&n.host, Duration::from_secs(3)).await?;
    tokio::time::timeout(Duration::from_secs(30), c.batch_execute(sql))
        .await
        .map_err(|_| anyhow::anyhow!("{}: {sql}: timed out", n.name))??;
    Ok(())
}

const APPEND: &str =
    "INSERT INTO append AS t (k, v) VALUES ($1, $2) ON CONFLICT (k) DO UPDATE SET v = t.v || ',' || EXCLUDED.v";
const READ_APPEND: &str = "SELECT v FROM append WHERE k = $1";
const WRITE_REGISTER: &str =
    "INSERT INTO registers AS t (k, v) VALUES ($1, $2) ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v";
const READ_REGISTER: &str = "SELECT v FROM registers WHERE k = $1";
const READ_BALANCE: &str = "SELECT balance FROM accounts WHERE id = $1";
const WRITE_BALANCE: &str = "UPDATE accounts SET balance = $2 WHERE id = $1";
const READ_BALANCES: &str = "SELECT id, balance FROM accounts ORDER BY id";

/// Why a micro-op did not complete: the server's error, or the client's own refusal (a bank
/// transfer that would overdraw), which ends the transaction the same way.
enum MopError {
    Db(tokio_postgres::Error),
    Refused(String),
}

impl From<tokio_postgres::Error> for MopError {
    fn from(e: tokio_postgres::Error) -> Self {
        MopError::Db(e)
    }
}

/// The transactional client: one connection to the current primary, re-made when the primary
/// moves or after a transport error.
pub struct PgClient {
    table: Table,
    isolation: Isolation,
    timeout: Duration,
    route: PrimaryRoute,
    conn: Option<(String, tokio_postgres::Client)>,
}

impl PgClient {
    pub fn new(table: Table, isolation: Isolation, timeout: Duration, route: PrimaryRoute) -> PgClient {
        PgClient { table, isolation, timeout, route, conn: None }
    }

    /// Run the transaction; Ok(the micro-ops with the reads' values filled in).
    async fn run(&mut self, mops: &[Value], deadline: Instant) -> Result<Vec<Value>, TxnError> {
        let primary = self.route.get();
        if self.conn.as_ref().is_none_or(|(host, c)| host != &primary.host || c.is_closed()) {
            self.conn = None;
            let c = match timeout_at(deadline, connect(&primary.host, self.timeout)).await {
                Ok(Ok(c)) => c,
                Ok(Err(e)) => return Err(TxnError::Aborted(format!("connect to {}: {}", primary.name, describe(&e)))),
                Err(_) => return Err(TxnError::Aborted(format!("connect to {}: timeout", primary.name))),
            };
            self.conn = Some((primary.host.clone(), c));
        }
        let (_, c) = self.conn.as_ref().expect("connected above");
        let aborted = |e: MopError| match e {
            MopError::Db(e) => TxnError::Aborted(describe(&e)),
            MopError::Refused(why) => TxnError::Aborted(why),
        };
        let before_commit = async {
            c.batch_execute(&format!("BEGIN ISOLATION LEVEL {}", self.isolation.sql()))
                .await
                .map_err(|e| aborted(e.into()))?;
            let mut done = Vec::with_capacity(mops.len());
            for m in mops {
                done.push(self.mop(c, m).await.map_err(aborted)?);
            }
            Ok::<_, TxnError>(done)
        };
        let done = match timeout_at(deadline, before_commit).await {
            Ok(Ok(done)) => done,
            Ok(Err(e)) => {
                // A server error leaves the transaction aborted: end it (or drop the connection).
                if tokio::time::timeout(Duration::from_secs(1), c.batch_execute("ROLLBACK")).await.is_err() {
                    self.conn = None;
                }
                return Err(e);
            }
            Err(_) => {
                // Dropping the connection rolls the transaction back on the server.
                self.conn = None;
                return Err(TxnError::Aborted("timeout before commit".into()));
            }
        };
        match timeout_at(deadline, c.batch_execute("COMMIT")).await {
            Ok(Ok(())) => Ok(done),
            Ok(Err(e)) if e.code().is_some() => Err(TxnError::Aborted(describe(&e))),
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

    /// One micro-op; a read comes back with its value.
    async fn mop(&self, c: &tokio_postgres::Client, m: &Value) -> Result<Value, MopError> {
        if self.table == Table::Accounts {
            return self.bank(c, m).await;
        }
        if self.table == Table::Ids {
            return Ok(serde_json::json!(c.query_one("SELECT nextval('ids')", &[]).await?.get::<_, i64>(0)));
        }
        let (f, k, v) = parts(m);
        match (self.table, f) {
            (Table::Append, "append") => {
                c.execute(APPEND, &[&k, &v.to_string()]).await?;
                Ok(m.clone())
            }
            (Table::Append, _) => {
                let row = c.query_opt(READ_APPEND, &[&k]).await?;
                Ok(list_read(k, row.map(|r| r.get(0))))
            }
            (Table::Registers, "w") => {
                c.execute(WRITE_REGISTER, &[&k, &v]).await?;
                Ok(m.clone())
            }
            (Table::Registers, _) => {
                let row = c.query_opt(READ_REGISTER, &[&k]).await?;
                Ok(register_read(k, row.map(|r| r.get(0))))
            }
            (Table::Accounts | Table::Ids, _) => unreachable!("bank and unique-ids operations are run above"),
        }
    }

    /// A bank operation, read-modify-write as an application writes it: read both balances,
    /// refuse an overdraft, write both back (no `FOR UPDATE`: the isolation level alone must
    /// keep concurrent transfers from losing each other's updates). A read is one `SELECT` of
    /// every balance.
    async fn bank(&self, c: &tokio_postgres::Client, m: &Value) -> Result<Value, MopError> {
        if m[0] == "read" {
            let rows = c.query(READ_BALANCES, &[]).await?;
            return Ok(balances(rows.iter().map(|r| (r.get::<_, i64>(0), r.get::<_, i64>(1)))));
        }
        let (from, to, amount) = transfer_args(m);
        let from_balance: i64 = c.query_one(READ_BALANCE, &[&from]).await?.get(0);
        let to_balance: i64 = c.query_one(READ_BALANCE, &[&to]).await?.get(0);
        if from_balance < amount {
            return Err(MopError::Refused(overdraft(from, from_balance)));
        }
        c.execute(WRITE_BALANCE, &[&from, &(from_balance - amount)]).await?;
        c.execute(WRITE_BALANCE, &[&to, &(to_balance + amount)]).await?;
        Ok(m.clone())
    }
}

/// An error in few words: the SQLSTATE and message for server errors.
fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} {}", db.code().code(), db.message()),
        None => e.to_string(),
    }
}

#[async_trait]
impl Client for PgClient {
    async fn invoke(&mut self, op: &Invocation) -> Completion {
        let deadline = Instant::now() + self.timeout.mul_f64(0.9);
        let mut c = if self.table == Table::Ids {
            // One `nextval` in a transaction of its own; the id is the completion's value.
            let done = completion(op, self.run(&[Value::Null], deadline).await);
            bank_completion(op, done)
        } else if self.table == Table::Accounts {
            match bank_mop(op) {
                Ok(m) => bank_completion(op, completion(op, self.run(&[m], deadline).await)),
                Err(fail) => return *fail,
            }
        } else {
            let mops = match micro_ops(op) {
                Ok(mops) => mops,
                Err(fail) => return *fail,
            };
            completion(op, self.run(mops, deadline).await)
        };
        c.served_by = Some(self.route.get().name);
        c
    }

    fn target(&self, _op: &Invocation) -> Option<String> {
        Some(self.route.get().name)
    }

    async fn close(&mut self) {
        self.conn = None;
    }
}
