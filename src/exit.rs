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

/// An error raised because the user's input was wrong (a flag value, a missing file); it exits
/// 254 rather than 255 so that scripts can tell "you called me wrong" from "something broke".
#[derive(Debug)]
pub struct BadInput(pub String);

impl std::fmt::Display for BadInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadInput {}

/// Build a bad-input error: `return Err(bad_input(format!(...)))`.
pub fn bad_input(msg: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(BadInput(msg.into()))
}

pub fn code_for_error(e: &anyhow::Error) -> i32 {
    if e.chain().any(|c| c.is::<BadInput>()) {
        Exit::BadArguments.code()
    } else {
        Exit::Error.code()
    }
}
