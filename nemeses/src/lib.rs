//! faultline-nemeses: the fault vocabulary, partition topologies, schedules, and the engine that
//! applies, verifies and heals faults.
//!
//! Everything that decides *what* to do is plain data and pure functions (`fault`, `grudge`,
//! `render`, `netem`, `schedule`), unit-tested without hosts. Everything that *does* it goes through
//! the `Control` trait (`control`), which the binary implements over SSH; `engine::Nemesis` tracks
//! what it applied so stopping and healing are exact, and `heal::heal_nodes` repairs nodes after a
//! harness crash. `fake` (tests, or the `fake` feature) is an in-memory cluster for tests.

pub mod control;
pub mod engine;
pub mod fault;
pub mod grudge;
pub mod heal;
pub mod netem;
pub mod probe;
pub mod render;
pub mod schedule;

#[cfg(any(test, feature = "fake"))]
pub mod fake;

#[cfg(test)]
mod engine_tests;

pub use control::{Control, Output};
pub use engine::{HealReport, Nemesis, NemesisOptions};
pub use fault::{Fault, NemesisChoice, Targets};
pub use grudge::Grudge;
pub use heal::{heal_nodes, HealNodesReport};
pub use schedule::{Action, Step};
