//! Exit codes, as Jepsen's: 0 valid, 1 invalid, 2 unknown, 254 bad arguments, 255 error.

use faultline_checkers::Verdict;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Valid,
    Invalid,
    Unknown,
    BadArguments,
    Error,
}

impl Exit {
    pub fn code(self) -> i32 {
        match self {
            Exit::Valid => 0,
            Exit::Invalid => 1,
            Exit::Unknown => 2,
            Exit::BadArguments => 254,
            Exit::Error => 255,
        }
    }

    pub fn from_verdict(v: Verdict) -> Exit {
        match v {
            Verdict::Valid => Exit::Valid,
            Verdict::Invalid => Exit::Invalid,
            Verdict::Unknown => Exit::Unknown,
        }
    }
}

pub use faultline_control::error::bad_input;

pub fn code_for_error(e: &anyhow::Error) -> i32 {
    if faultline_control::error::is_bad_input(e) {
        Exit::BadArguments.code()
    } else {
        Exit::Error.code()
    }
}
