//! The `bank` workload (Jepsen's bank): `ACCOUNTS` accounts start with `INITIAL` each; clients
//! transfer small amounts between two of them, read-modify-write as applications do (read both
//! balances, refuse an overdraft, write both back), and read every balance in one transaction.
//! A database that keeps its isolation promise never lets a read see money created or
//! destroyed; a lost update or a read of half a transfer shows as a wrong total.
//!
//! Values: `transfer` carries `{"from": a, "to": b, "amount": x}` and an ok one answers with it;
//! a transfer that would overdraw fails with "insufficient funds". `read` (and the run's
//! `final-read`) answers an object of every account's balance: `{"0": 20, "1": 17, ...}`.

use crate::client::{Completion, Invocation};
use crate::generator::{GeneratorOptions, OpSource};
use crate::workload::{CheckOptions, Shape, Workload};
use anyhow::Result;
use faultline_checkers::bank::{self, BankSpec};
use faultline_checkers::compose::Checked;
use faultline_checkers::Op;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

/// The name `--workload` takes.
pub const NAME: &str = "bank";
/// Accounts `0..ACCOUNTS`: few, so that transfers contend.
pub const ACCOUNTS: u64 = 5;
/// Each account's balance at the start.
pub const INITIAL: i64 = 20;
/// The largest transfer.
pub const MAX_TRANSFER: i64 = 5;
/// What every read must sum to.
pub const SPEC: BankSpec = BankSpec { accounts: ACCOUNTS, total: ACCOUNTS as i64 * INITIAL };

/// The bank workload.
#[derive(Debug)]
pub struct Bank;

impl Workload for Bank {
    fn name(&self) -> &'static str {
        NAME
    }

    fn shape(&self) -> Shape {
        Shape::Bank
    }

    fn ops(&self, _: &GeneratorOptions) -> Box<dyn OpSource> {
        Box::new(BankOps)
    }

    fn check(&self, ops: &[Op], _: &CheckOptions) -> Result<Checked> {
        let mut checked = Checked::default();
        checked.add(&bank::check_bank(ops, SPEC))?;
        Ok(checked)
    }

    fn value_problem(&self, op: &Invocation, done: &Completion) -> Option<String> {
        let v = &done.value;
        if op.is_read() {
            let ok = v.as_object().is_some_and(|m| m.values().all(|b| b.as_i64().is_some()));
            return (!ok).then(|| format!("ok {} answered {v}; expected an object of integer balances", op.f));
        }
        (v != &op.value && !v.is_null())
            .then(|| format!("ok {} answered {v}; expected the invocation's value {} (or no value)", op.f, op.value))
    }

    /// After the workload's transfers the balances are anyone's guess, but their sum is not: a
    /// read answers (its total is the checker's business), and a transfer of more than the
    /// whole bank holds is refused.
    fn probe(&self) -> Vec<crate::workload::ProbeStep> {
        use faultline_checkers::OpType;
        let step = |op: Invocation, kind| crate::workload::ProbeStep { op, kind, value: None };
        vec![
            step(Invocation::new("read", None, Value::Null), OpType::Ok),
            step(transfer(0, 1, SPEC.total + 1), OpType::Fail),
        ]
    }

    /// faultline's bank runs: transfers.
    fn recognises(&self, ops: &[Op]) -> bool {
        ops.iter().any(|o| o.f == "transfer")
    }
}

/// A transfer invocation.
pub fn transfer(from: u64, to: u64, amount: i64) -> Invocation {
    Invocation::new("transfer", None, json!({"from": from, "to": to, "amount": amount}))
}

/// Bank: one read in three, otherwise a transfer of 1..=MAX_TRANSFER between two accounts.
#[derive(Debug)]
pub struct BankOps;

impl OpSource for BankOps {
    fn op(&self, _worker: usize, _seq: u64, rng: &mut ChaCha8Rng) -> Invocation {
        if rng.random_range(0..3u32) == 0 {
            return Invocation::new("read", None, Value::Null);
        }
        let from = rng.random_range(0..ACCOUNTS);
        let to = (from + rng.random_range(1..ACCOUNTS)) % ACCOUNTS;
        transfer(from, to, rng.random_range(1..=MAX_TRANSFER))
    }

    fn final_read(&self, _issued: u64) -> Option<Invocation> {
        Some(Invocation::new("final-read", None, Value::Null))
    }
}

/// A transfer's parts, or what is malformed about it.
pub fn transfer_parts(op: &Invocation) -> Result<(i64, i64, i64), String> {
    let part = |k: &str| {
        op.value
            .get(k)
            .and_then(Value::as_i64)
            .ok_or_else(|| format!("transfer without an integer {k:?}: {}", op.value))
    };
    let (from, to, amount) = (part("from")?, part("to")?, part("amount")?);
    if from == to || amount <= 0 {
        return Err(format!("a transfer moves a positive amount between two accounts: {}", op.value));
    }
    Ok((from, to, amount))
}

/// The error text of a refused overdraft (the checker's "expected" failure class reads it).
pub const INSUFFICIENT: &str = "insufficient funds";

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn transfers_move_between_two_accounts() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let (mut reads, mut transfers) = (0, 0);
        for seq in 0..300 {
            let op = BankOps.op(0, seq, &mut rng);
            if op.f == "read" {
                reads += 1;
                continue;
            }
            transfers += 1;
            let (from, to, amount) = transfer_parts(&op).unwrap();
            assert!(from != to && (1..=MAX_TRANSFER).contains(&amount) && (to as u64) < ACCOUNTS);
        }
        assert!(reads > 50 && transfers > 150, "{reads} {transfers}");
        assert!(transfer_parts(&transfer(1, 1, 3)).is_err());
    }
}
