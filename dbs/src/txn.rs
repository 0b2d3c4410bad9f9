//! What the SQL clients of the transactional workloads share: which table a workload uses, how
//! a list-append row's text becomes the list a read returns, and how a transaction's end
//! becomes its completion.

use anyhow::{bail, Result};
use faultline_workloads::{Completion, Invocation, Shape, Workload};
use serde_json::{json, Value};

/// How a transaction went wrong.
#[derive(Debug, Clone, PartialEq)]
pub enum TxnError {
    /// Nothing can have committed: a server error (the transaction is aborted), or a lost
    /// connection or timeout before COMMIT was sent.
    Aborted(String),
    /// COMMIT was sent and no answer came: it may have committed.
    Unknown(String),
}

/// The completion of `op`: ok with the micro-ops (reads filled in), `fail` when aborted, `info`
/// when unknown (`fail` for a read-only transaction).
pub fn completion(op: &Invocation, result: Result<Vec<Value>, TxnError>) -> Completion {
    match result {
        Ok(done) => Completion::ok(Value::Array(done)),
        Err(TxnError::Aborted(e)) => Completion::fail(op, e),
        Err(TxnError::Unknown(e)) => Completion::indeterminate(op, e),
    }
}

/// A transaction's micro-ops, or the `fail` for an invocation that has none.
pub fn micro_ops(op: &Invocation) -> Result<&[Value], Box<Completion>> {
    op.value
        .as_array()
        .map(Vec::as_slice)
        .ok_or_else(|| Box::new(Completion::fail(op, "a transaction's value must be a vector of micro-ops")))
}

/// Which table a transactional workload uses: `append (k, v text)` holding comma-separated
/// values, `registers (k, v bigint)`, or the bank's `accounts (id, balance bigint)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    Append,
    Registers,
    Accounts,
    /// unique-ids: a sequence (PostgreSQL) or an auto-increment table (Galera).
    Ids,
}

impl Table {
    /// The table of `workload`, or an error naming the workloads `db` runs.
    pub fn of(workload: &dyn Workload, db: &str) -> Result<Table> {
        match workload.shape() {
            Shape::ListAppend => Ok(Table::Append),
            Shape::RwRegister => Ok(Table::Registers),
            Shape::Bank => Ok(Table::Accounts),
            Shape::UniqueIds => Ok(Table::Ids),
            Shape::Register | Shape::Set | Shape::Counter => {
                let txn = faultline_workloads::registry::names_with_shape(&[
                    Shape::ListAppend,
                    Shape::RwRegister,
                    Shape::Bank,
                ]);
                bail!("{db} has no client for workload {:?} (it has: {})", workload.name(), txn.join(", "))
            }
        }
    }
}

/// What the SQL clients run for a bank operation, as the one micro-op of its transaction:
/// `["transfer", from, to, amount]` or `["read"]` (see [`bank_completion`]).
pub fn bank_mop(op: &Invocation) -> Result<Value, Box<Completion>> {
    match op.f.as_str() {
        "transfer" => {
            let (from, to, amount) =
                faultline_workloads::bank::transfer_parts(op).map_err(|e| Box::new(Completion::fail(op, e)))?;
            Ok(json!(["transfer", from, to, amount]))
        }
        "read" | "final-read" => Ok(json!(["read"])),
        f => Err(Box::new(Completion::fail(op, format!("the bank has no operation {f:?}")))),
    }
}

/// A bank or unique-ids operation's completion from its transaction's: a transfer answers its
/// invocation's value, a read (or a `generate`) what its one micro-op came back with.
pub fn bank_completion(op: &Invocation, mut done: Completion) -> Completion {
    if done.kind == faultline_workloads::OpType::Ok {
        done.value = match op.f.as_str() {
            "transfer" => op.value.clone(),
            _ => done.value.as_array().and_then(|d| d.first()).cloned().unwrap_or(Value::Null),
        };
    }
    done
}

/// The bank's accounts at their initial balances, as SQL `VALUES` rows: `(0, 20), (1, 20), ...`
/// (the set-up of every SQL adapter).
pub fn initial_accounts() -> String {
    use faultline_workloads::bank::{ACCOUNTS, INITIAL};
    (0..ACCOUNTS).map(|a| format!("({a}, {INITIAL})")).collect::<Vec<_>>().join(", ")
}

/// A transfer micro-op's `(from, to, amount)` (see [`bank_mop`]).
pub fn transfer_args(m: &Value) -> (i64, i64, i64) {
    (m[1].as_i64().unwrap_or(0), m[2].as_i64().unwrap_or(0), m[3].as_i64().unwrap_or(0))
}

/// Why a transfer was refused: `account` holds less than the amount.
pub fn overdraft(account: i64, balance: i64) -> String {
    format!("{}: account {account} holds {balance}", faultline_workloads::bank::INSUFFICIENT)
}

/// The balances of a bank read as its completion's value: `{"0": 20, ...}`.
pub fn balances(rows: impl IntoIterator<Item = (i64, i64)>) -> Value {
    Value::Object(rows.into_iter().map(|(id, b)| (id.to_string(), json!(b))).collect())
}

/// A micro-op taken apart: `(f, key, value)`; a malformed one reads key 0 (the generator never
/// makes one).
pub fn parts(m: &Value) -> (&str, i64, i64) {
    (m[0].as_str().unwrap_or(""), m[1].as_i64().unwrap_or(0), m[2].as_i64().unwrap_or(0))
}

/// A list-append read's micro-op from the row's text (`None`: no row, the empty list).
pub fn list_read(k: i64, text: Option<String>) -> Value {
    let list: Vec<i64> = text.iter().flat_map(|t| t.split(',')).filter_map(|x| x.trim().parse().ok()).collect();
    json!(["r", k, list])
}

/// A register read's micro-op (`None`: no row, nil).
pub fn register_read(k: i64, v: Option<i64>) -> Value {
    json!(["r", k, v])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_become_reads() {
        assert_eq!(list_read(3, Some("1,2,10".into())), json!(["r", 3, [1, 2, 10]]));
        assert_eq!(list_read(3, None), json!(["r", 3, []]));
        assert_eq!(register_read(1, None), json!(["r", 1, null]));
        assert!(Table::of(faultline_workloads::by_name("set").unwrap(), "galera")
            .unwrap_err()
            .to_string()
            .contains("galera has no client"));
    }
}
