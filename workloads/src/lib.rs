//! faultline-workloads: what the clients do to the database under test.
//!
//! A [`Workload`] is one module: its operations (an [`OpSource`], driven by a [`Generator`]:
//! which operation each worker invokes next, reproducible from a seed, independent of timing),
//! the checkers that decide its history ([`check_run`], for the runner and `faultline check`
//! alike), its value [`Shape`], the flags that apply to it and the value rules `client-check`
//! enforces. A [`Client`] per worker performs one [`Invocation`] against one database node and
//! reports its [`Completion`]. The runner (in the binary) drives both and writes the history;
//! this crate does no I/O itself. The modules form a tree: `registry` -> each workload ->
//! `workload`, `generator` -> `client`.
//!
//! Workloads and their value conventions (what the checkers expect):
//! - `register`: independent integer keys (`Op.key`); `read` (invoke value `null`, ok value an
//!   integer or `null` for an absent key), `write` (value an integer), `cas` (value `[old, new]`).
//! - `set`: `add` of unique integers (value = the element), `read` / `final-read` (ok value = the
//!   sorted array of elements).
//! - `counter`: `add` of a small positive integer, `read` / `final-read` (ok value = integer).
//! - `list-append`, `rw-register`: `txn` (and `final-read`) whose value is a vector of micro-ops,
//!   Elle's (see [`txn`]).

pub mod bank;
pub mod client;
pub mod counter;
pub mod generator;
pub mod memory;
pub mod register;
pub mod registry;
pub mod set;
pub mod txn;
pub mod unique_ids;
pub mod workload;

pub use client::{Client, Completion, Invocation};
pub use faultline_checkers::history::OpType;
pub use generator::{Generator, GeneratorOptions, OpSource};
pub use memory::{InMemoryBank, InMemoryClient, InMemoryCounter, InMemoryRegister, InMemorySet};
pub use registry::{by_name, new_generator};
pub use workload::{check_run, CheckOptions, Flag, ProbeStep, Shape, Workload};
