//! faultline-checkers: the history model and every checker.
//!
//! Pure and synchronous: checkers read histories (from memory or files) and return results;
//! they never talk to nodes. Data flows runner -> store -> checkers -> reports.

pub mod bank;
pub mod compose;
pub mod convergence;
pub mod counter;
pub mod expect;
pub mod explain;
pub mod faults;
pub mod formats;
pub mod history;
pub mod ladder;
pub mod linearizable;
pub mod metrics;
pub mod models;
pub mod outcome;
pub mod set;
pub mod txn;
pub mod txn_run;
pub mod unique_ids;

pub use history::{FnName, History, Op, OpType, Process};
pub use outcome::{CheckOutcome, RunResults, RunStats};

/// The outcome of a check, ordered from best to worst so that `max` gives the worst verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Valid,
    Unknown,
    Invalid,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Valid => "valid",
            Verdict::Unknown => "unknown",
            Verdict::Invalid => "invalid",
        }
    }
}
