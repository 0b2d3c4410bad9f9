//! The phase the run is in, so that an interrupt can say what it interrupted ("SIGINT during the
//! heal") and the reliability tests can count the rounds that really reached each phase.
//! Process-wide, like the signal it serves: one test runs at a time in a process.

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

/// The phases of a run, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum RunPhase {
    Preflight = 0,
    SetUp,
    Workload,
    Heal,
    FinalReads,
    Teardown,
    Check,
}

impl RunPhase {
    const ALL: [RunPhase; 7] = [
        RunPhase::Preflight,
        RunPhase::SetUp,
        RunPhase::Workload,
        RunPhase::Heal,
        RunPhase::FinalReads,
        RunPhase::Teardown,
        RunPhase::Check,
    ];

    pub fn name(self) -> &'static str {
        match self {
            RunPhase::Preflight => "preflight",
            RunPhase::SetUp => "set-up",
            RunPhase::Workload => "workload",
            RunPhase::Heal => "heal",
            RunPhase::FinalReads => "final reads",
            RunPhase::Teardown => "teardown",
            RunPhase::Check => "check",
        }
    }
}

static PHASE: AtomicU8 = AtomicU8::new(RunPhase::Preflight as u8);
/// A fault is being applied (during the workload phase, by the nemesis task).
static APPLYING: AtomicBool = AtomicBool::new(false);

/// The run enters `phase`.
pub fn enter(phase: RunPhase) {
    PHASE.store(phase as u8, Ordering::SeqCst);
}

/// Marks a fault's apply for as long as the guard lives.
pub struct Applying;

impl Applying {
    pub fn start() -> Applying {
        APPLYING.store(true, Ordering::SeqCst);
        Applying
    }
}

impl Drop for Applying {
    fn drop(&mut self) {
        APPLYING.store(false, Ordering::SeqCst);
    }
}

/// What the run is doing now, e.g. "workload, applying a fault".
pub fn describe() -> String {
    let phase = RunPhase::ALL[PHASE.load(Ordering::SeqCst) as usize];
    if phase == RunPhase::Workload && APPLYING.load(Ordering::SeqCst) {
        format!("{}, applying a fault", phase.name())
    } else {
        phase.name().to_string()
    }
}
