//! faultline-control: how faultline reaches and prepares the machines it tests.
//!
//! - [`ssh`]: one multiplexed SSH master per node, literal argv, timeouts enforced on the node too,
//!   bounded channels, uploads, downloads and daemons;
//! - [`preflight`]: root (or sudo) and the tools a run needs, on every node, before anything is touched;
//! - [`targets`]: the nodes of a run, resolved (addresses, login, where faultline's files live);
//! - [`cluster`]: the sealed local cluster of network namespaces, one sshd each;
//! - [`packages`]: Debian packages the control machine needs;
//! - [`error`]: the one error type that says "the user's input was wrong".
//!
//! Nothing here knows about databases, workloads or faults.

pub mod cluster;
pub mod error;
pub mod packages;
pub mod preflight;
pub mod ssh;
pub mod sys;
pub mod targets;

pub use error::{bad_input, BadInput};
