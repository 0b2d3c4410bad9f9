//! The guide to extending faultline (docs/extending.md), compiled: every code block on the page is
//! a doctest of this crate, so `cargo test` fails when the page no longer matches the interfaces
//! it shows. The crate has no code of its own.
#![doc = include_str!("extending.md")]
