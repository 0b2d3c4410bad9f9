//! faultline-workloads: what the clients do to the database under test.
//!
//! A workload is a pair: a [`Workload`] (driven by a [`Generator`]) that says which operation each
//! worker invokes next (reproducible from a seed, independent of timing), and a [`Client`] per
//! worker that performs one [`Invocation`] against one database node and reports its
//! [`Completion`]. The runner (in
//! the binary) drives both and writes the history; this crate does no I/O itself.
//!
//! Workloads and their value conventions (what the checkers expect):
//! - `register`: independent integer keys (`Op.key`); `read` (invoke value `null`, ok value an
//!   integer or `null` for an absent key), `write` (value an integer), `cas` (value `[old, new]`).
//! - `set`: `add` of unique integers (value = the element), `read` / `final-read` (ok value = the
//!   sorted array of elements).
//! - `counter`: `add` of a small positive integer, `read` / `final-read` (ok value = integer).
//! - `list-append`, `rw-register`: `txn` (and `final-read`) whose value is a vector of micro-ops,
//!   Elle's (see [`txn`]).

pub mod client;
pub mod generator;
pub mod memory;
pub mod txn;

pub use client::{Client, Completion, Invocation};
pub use faultline_checkers::history::OpType;
pub use generator::{new_generator, parse_workload, Generator, GeneratorOptions, Workload};
pub use memory::{InMemoryClient, InMemoryCounter, InMemoryRegister, InMemorySet};
