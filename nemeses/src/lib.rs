//! faultline-nemeses: the fault vocabulary, partition topologies, schedules, and the engine that
//! applies, verifies and heals faults.
//!
//! Everything that decides *what* to do is plain data and pure functions (`fault`, `grudge`,
//! `render`, `netem`, `schedule`), unit-tested without hosts. Everything that *does* it goes through
//! the `Shell` and `DbControl` traits (`control`; `Control` is both), which the binary implements
//! over SSH; `engine::Nemesis` tracks
//! what it applied so stopping and healing are exact, and `heal::heal_nodes` repairs nodes after a
//! harness crash. `fake` (tests, or the `fake` feature) is an in-memory cluster for tests.
//!
//! How a runner uses it:
//! 1. parse `--nemesis` with `NemesisChoice::parse`, `--nemesis-targets` with `Targets::parse`,
//!    `--loss` with `fault::parse_loss`;
//! 2. build `Nemesis::new(control, seed, NemesisOptions { .. })`, ask `unsupported_faults()` during
//!    preflight and `choice.resolve(&unsupported)` (an explicit unsupported fault is a bad-arguments
//!    error carrying the reason, e.g. the missing sch_netem module);
//! 3. make the steps with `schedule::interval_schedule` or `schedule::load_schedule` (+
//!    `ensure_ends_healed`), save `schedule::to_toml(&replay::replay_schedule(&ops))` with the run
//!    for replays;
//! 4. at each step's time write the nemesis invoke (`start-X`/`stop-X`/`heal`), `apply(&step.action)`,
//!    and write the returned value as the completion; `verified: false` means the verdict is unknown;
//! 5. at the end `heal_all()` (or `teardown()` to also remove the chain and jumps).

pub mod agent;
pub mod control;
pub mod engine;
pub mod faketime;
pub mod fault;
pub mod grudge;
pub mod heal;
pub mod netem;
pub mod probe;
pub mod render;
pub mod replay;
pub mod schedule;

#[cfg(any(test, feature = "fake"))]
pub mod fake;

#[cfg(test)]
mod engine_tests;

pub use control::{Control, DbControl, Output, Shell};
pub use engine::{HealReport, Nemesis, NemesisOptions};
pub use fault::{Fault, NemesisChoice, Targets};
pub use grudge::Grudge;
pub use heal::{heal_nodes, HealNodesReport};
pub use schedule::{Action, Step};
