//! The bank checker (Jepsen's bank): transfers move money between a fixed set of accounts, so
//! every read of all the balances must sum to the initial total, name every account and no
//! other, and, since a transfer that would overdraw is refused, show no negative balance.
//! A read that breaks one of these saw a state no serial order of the transfers produces: a
//! lost update, a read of half a transfer (read skew), or money created or destroyed.
//!
//! History convention: `transfer` ops carry `{"from": a, "to": b, "amount": x}`; `read` and
//! `final-read` ops complete `ok` with an object of every account's balance (`{"0": 10, ...}`,
//! account ids as the object's keys).
//!
//! The explanation names the first wrong read, its node and time, the accounts and total it saw,
//! and the transfers concurrent with it, so that a person can check it against the history.

use crate::history::{Op, OpType};
use crate::metrics::{client_operations, format_ns, ClientOp};
use crate::set::LIST_LIMIT;
use crate::Verdict;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The accounts a run starts with: ids `0..accounts`, each holding `total / accounts`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BankSpec {
    pub accounts: u64,
    pub total: i64,
}

/// One read that no serial order of the transfers explains.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BankViolation {
    /// History index of the read's completion.
    pub index: u64,
    pub f: String,
    pub process: Option<u64>,
    pub node: Option<String>,
    /// "wrong-total", "negative" or "wrong-accounts".
    pub kind: String,
    /// The sum of the balances read.
    pub total: i64,
    /// The balances read, as the read returned them.
    pub balances: Value,
    /// ns since the run started.
    pub invoked_at: u64,
    pub completed_at: u64,
    /// Transfers whose execution overlapped the read's (not failed).
    pub concurrent_transfers: usize,
    /// In words, with the transfers concurrent with the read.
    pub explanation: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BankCounts {
    pub reads: u64,
    pub bad_reads: u64,
    pub transfers_ok: u64,
    pub transfers_fail: u64,
    pub transfers_info: u64,
}

/// The bank checker's result (`checkers.bank` in results.json).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BankResult {
    pub verdict: Verdict,
    pub summary: String,
    /// The total every read must see.
    pub total: i64,
    pub accounts: u64,
    pub counts: BankCounts,
    /// The first `LIST_LIMIT` wrong reads, in history order.
    pub violations: Vec<BankViolation>,
    /// (ns since start, total) of ok reads, for the report's "total over time" (at most
    /// `MAX_TOTALS`, evenly spaced, every wrong read kept).
    pub totals: Vec<(u64, i64)>,
    pub malformed: Vec<String>,
}

crate::checker_result!(BankResult, crate::outcome::Checker::Bank);

/// Points of the total-over-time plot at most.
pub const MAX_TOTALS: usize = 2_000;

/// The balances of a read: `Err` says what is malformed.
fn balances(v: &Value) -> Result<Vec<(String, i64)>, String> {
    let obj = v.as_object().ok_or_else(|| format!("a read must return an object of balances, got {v}"))?;
    obj.iter()
        .map(|(k, b)| {
            b.as_i64().map(|b| (k.clone(), b)).ok_or_else(|| format!("account {k}'s balance {b} is not an integer"))
        })
        .collect()
}

/// A transfer in words: "5 from 1 to 3".
fn transfer_text(v: &Value) -> String {
    let part = |k: &str| v.get(k).map_or("?".to_string(), |x| x.to_string());
    format!("{} from {} to {}", part("amount"), part("from"), part("to"))
}

/// Check a bank history against `spec`.
pub fn check_bank(history: &[Op], spec: BankSpec) -> BankResult {
    let ops = client_operations(history);
    let mut counts = BankCounts::default();
    let mut malformed = Vec::new();
    let transfers: Vec<&ClientOp> = ops.iter().filter(|o| o.f() == "transfer").collect();
    for t in &transfers {
        match t.outcome() {
            Some(OpType::Ok) => counts.transfers_ok += 1,
            Some(OpType::Fail) => counts.transfers_fail += 1,
            _ => counts.transfers_info += 1,
        }
    }
    let want: Vec<String> = (0..spec.accounts).map(|a| a.to_string()).collect();
    let mut violations = Vec::new();
    let mut totals = Vec::new();
    for read in ops.iter().filter(|o| matches!(o.f(), "read" | "final-read") && o.is_ok()) {
        let Some(done) = read.completion else { continue };
        let seen = match balances(&done.value) {
            Ok(b) => b,
            Err(e) => {
                if malformed.len() < LIST_LIMIT {
                    malformed.push(format!("op {}: {e}", done.index));
                }
                continue;
            }
        };
        counts.reads += 1;
        let total: i64 = seen.iter().map(|(_, b)| b).sum();
        totals.push((done.time, total));
        let mut keys: Vec<&String> = seen.iter().map(|(k, _)| k).collect();
        keys.sort_by_key(|k| (k.parse::<u64>().unwrap_or(u64::MAX), k.to_string()));
        let wrong_accounts = keys.len() != want.len() || keys.iter().zip(&want).any(|(a, b)| *a != b);
        let negative: Vec<&(String, i64)> = seen.iter().filter(|(_, b)| *b < 0).collect();
        let kind = if wrong_accounts {
            "wrong-accounts"
        } else if total != spec.total {
            "wrong-total"
        } else if !negative.is_empty() {
            "negative"
        } else {
            continue;
        };
        counts.bad_reads += 1;
        if violations.len() >= LIST_LIMIT {
            continue;
        }
        let (start, end) = (read.invoke_time(), done.time);
        let concurrent: Vec<&&ClientOp> = transfers
            .iter()
            .filter(|t| t.outcome() != Some(OpType::Fail))
            .filter(|t| t.invoke_time() <= end && t.complete_time().is_none_or(|c| c >= start))
            .collect();
        let what = match kind {
            "wrong-accounts" => format!(
                "it names accounts {} where the bank has {}",
                keys.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", "),
                want.join(", ")
            ),
            "wrong-total" => format!(
                "its balances sum to {total}, but every transfer moves money between accounts and the bank \
                 started with {}: {} {}",
                spec.total,
                (total - spec.total).abs(),
                if total > spec.total { "created" } else { "destroyed" }
            ),
            _ => format!(
                "account {} is overdrawn, although a transfer that would overdraw is refused",
                negative.iter().map(|(k, b)| format!("{k} ({b})")).collect::<Vec<_>>().join(", ")
            ),
        };
        let shown: Vec<String> = concurrent
            .iter()
            .take(5)
            .map(|t| {
                format!(
                    "{} by process {} ({})",
                    transfer_text(&t.invoke.value),
                    t.invoke.process,
                    t.outcome().map_or("pending", OpType::as_str)
                )
            })
            .collect();
        let during = match concurrent.len() {
            0 => "; no transfer ran concurrently with it".to_string(),
            n => format!(
                "; {n} transfer{} ran concurrently with it: {}{}",
                if n == 1 { "" } else { "s" },
                shown.join(", "),
                if n > 5 { format!(" and {} more", n - 5) } else { String::new() }
            ),
        };
        let node = done.node.as_ref().map(|n| format!(" on {n}")).unwrap_or_default();
        violations.push(BankViolation {
            index: done.index,
            f: read.f().to_string(),
            process: match done.process {
                crate::history::Process::Client(p) => Some(p),
                crate::history::Process::Nemesis => None,
            },
            node: done.node.clone(),
            kind: kind.to_string(),
            total,
            balances: done.value.clone(),
            invoked_at: start,
            completed_at: end,
            concurrent_transfers: concurrent.len(),
            explanation: format!(
                "{} by process {} at {}{node} saw {}: {what}{during}",
                read.f(),
                done.process,
                format_ns(start),
                balances_text(&seen)
            ),
        });
    }
    // The plot's points: evenly spaced, every wrong read kept.
    if totals.len() > MAX_TOTALS {
        let step = totals.len().div_ceil(MAX_TOTALS);
        totals = totals
            .iter()
            .enumerate()
            .filter(|(i, (_, t))| i % step == 0 || *t != spec.total)
            .map(|(_, x)| *x)
            .collect();
    }
    let verdict = if counts.bad_reads > 0 {
        Verdict::Invalid
    } else if counts.reads == 0 {
        Verdict::Unknown
    } else {
        Verdict::Valid
    };
    let summary = match verdict {
        Verdict::Invalid => format!(
            "{} of {} reads saw a state no order of the transfers gives (the first: {})",
            counts.bad_reads,
            counts.reads,
            violations.first().map_or(String::new(), |v| v.kind.clone())
        ),
        Verdict::Unknown => "no read of the balances completed: nothing was checked".to_string(),
        Verdict::Valid => format!(
            "all {} reads saw {} accounts summing to {} with no overdraft ({} transfers acknowledged)",
            counts.reads, spec.accounts, spec.total, counts.transfers_ok
        ),
    };
    BankResult { verdict, summary, total: spec.total, accounts: spec.accounts, counts, violations, totals, malformed }
}

/// "{0: 12, 1: 8, ...}" in account order.
fn balances_text(seen: &[(String, i64)]) -> String {
    let mut sorted: Vec<&(String, i64)> = seen.iter().collect();
    sorted.sort_by_key(|(k, _)| (k.parse::<u64>().unwrap_or(u64::MAX), k.clone()));
    format!("{{{}}}", sorted.iter().map(|(k, b)| format!("{k}: {b}")).collect::<Vec<_>>().join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Process;
    use serde_json::json;

    const SPEC: BankSpec = BankSpec { accounts: 3, total: 30 };

    fn op(index: u64, time: u64, kind: OpType, process: u64, f: &str, value: Value) -> Op {
        Op {
            index,
            time,
            kind,
            process: Process::Client(process),
            f: f.into(),
            value,
            key: None,
            node: Some("n1".into()),
            error: None,
        }
    }

    /// A transfer of 5 from 0 to 1 (ok), then reads on another process.
    fn history(read: Value) -> Vec<Op> {
        let t = json!({"from": 0, "to": 1, "amount": 5});
        vec![
            op(0, 0, OpType::Invoke, 0, "transfer", t.clone()),
            op(1, 10, OpType::Invoke, 1, "read", Value::Null),
            op(2, 20, OpType::Ok, 0, "transfer", t),
            op(3, 30, OpType::Ok, 1, "read", read),
            op(4, 40, OpType::Invoke, 1, "read", Value::Null),
            op(5, 50, OpType::Ok, 1, "read", json!({"0": 5, "1": 15, "2": 10})),
        ]
    }

    #[test]
    fn reads_that_sum_to_the_total_are_valid() {
        let r = check_bank(&history(json!({"0": 10, "1": 10, "2": 10})), SPEC);
        assert_eq!(r.verdict, Verdict::Valid, "{}", r.summary);
        assert_eq!((r.counts.reads, r.counts.transfers_ok), (2, 1));
        assert_eq!(r.totals, vec![(30, 30), (50, 30)]);
    }

    #[test]
    fn a_read_of_half_a_transfer_is_invalid_and_names_the_transfer() {
        // The read saw the debit of 0 but not the credit of 1: 5 destroyed.
        let r = check_bank(&history(json!({"0": 5, "1": 10, "2": 10})), SPEC);
        assert_eq!(r.verdict, Verdict::Invalid);
        let v = &r.violations[0];
        assert_eq!((v.kind.as_str(), v.total, v.index, v.concurrent_transfers), ("wrong-total", 25, 3, 1));
        assert!(v.explanation.contains("saw {0: 5, 1: 10, 2: 10}"), "{}", v.explanation);
        assert!(v.explanation.contains("5 destroyed"), "{}", v.explanation);
        assert!(v.explanation.contains("5 from 0 to 1 by process 0 (ok)"), "{}", v.explanation);
        assert!(r.summary.starts_with("1 of 2 reads"), "{}", r.summary);
    }

    #[test]
    fn overdrafts_and_missing_accounts_are_invalid() {
        let r = check_bank(&history(json!({"0": -5, "1": 25, "2": 10})), SPEC);
        assert_eq!(r.violations[0].kind, "negative");
        assert!(r.violations[0].explanation.contains("account 0 (-5) is overdrawn"));
        let r = check_bank(&history(json!({"0": 10, "1": 20})), SPEC);
        assert_eq!(r.violations[0].kind, "wrong-accounts");
    }

    #[test]
    fn no_read_is_unknown_and_a_malformed_read_is_said() {
        let h = vec![op(0, 0, OpType::Invoke, 0, "read", Value::Null), op(1, 1, OpType::Ok, 0, "read", json!(7))];
        let r = check_bank(&h, SPEC);
        assert_eq!(r.verdict, Verdict::Unknown, "nothing read is never valid");
        assert_eq!(r.malformed.len(), 1);
    }
}
