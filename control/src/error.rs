//! Bad input: an error raised because the user's input was wrong (a flag value, a missing file).
//! The binary exits 254 for it rather than 255, so that scripts can tell "you called me wrong"
//! from "something broke". It lives at the bottom layer so that every crate can raise it.

/// The user's input was wrong; the message names the input and what is wrong with it.
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

/// Whether `e` (or anything in its chain) is bad input.
pub fn is_bad_input(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.is::<BadInput>())
}
