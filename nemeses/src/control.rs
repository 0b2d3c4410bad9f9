//! The one door to the nodes, in two parts: [`Shell`] runs commands on nodes (all that firewall
//! and qdisc faults, probes and `heal_nodes` need), [`DbControl`] acts on the database (kill,
//! pause, primaries, failover). [`Control`] is both, for the engine. The binary implements them
//! over SSH and the database adapter; the tests implement them in memory (`fake`). The nemesis
//! never runs anything any other way.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// The result of a command on a node. A non-zero status is a result, not an error.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Output {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn ok(&self) -> bool {
        self.status == 0
    }
}

/// Commands on the nodes.
pub trait Shell: Send + Sync {
    /// The node names (n1..nN).
    fn nodes(&self) -> Vec<String>;
    /// The node's IP address as the other nodes see it (what partition rules match on).
    fn address(&self, node: &str) -> String;
    /// Addresses of the control node; never named in a rule (a safety net: node addresses are the
    /// only ones rules are built from).
    fn control_addresses(&self) -> Vec<String> {
        Vec::new()
    }
    /// True when the nodes share one clock (the local cluster): the clock fault is refused.
    fn shared_clock(&self) -> bool;
    /// A TCP port listening on every node, used to probe links (sshd: 22).
    fn probe_port(&self) -> u16;
    /// The faultline binary on the nodes (the packet agent and the network probes), when there is
    /// one; without it the packet faults only the agent does are refused.
    fn agent_binary(&self) -> Option<String> {
        None
    }
    /// Run `argv` as root on `node` (argv is passed literally). Errors mean the command could not be
    /// run (node unreachable, timed out), not that it exited non-zero. The implementation must bound
    /// the time a command may take (the engine has no timer of its own; probes carry `timeout`).
    fn run(&self, node: &str, argv: Vec<String>) -> impl Future<Output = anyhow::Result<Output>> + Send;
}

/// The database under test, for the process and primary faults.
pub trait DbControl: Send + Sync {
    /// SIGKILL the database on `node`; returns a line saying what was done (e.g. the pid).
    fn kill_db(&self, node: &str) -> impl Future<Output = anyhow::Result<String>> + Send;
    /// Start the database on `node` again after `kill_db`.
    fn restart_db(&self, node: &str) -> impl Future<Output = anyhow::Result<String>> + Send;
    /// SIGSTOP the database on `node`.
    fn pause_db(&self, node: &str) -> impl Future<Output = anyhow::Result<String>> + Send;
    /// SIGCONT every stopped (state T) process of the database on `node`. Idempotent; returns an
    /// empty string when there was nothing to resume.
    fn resume_db(&self, node: &str) -> impl Future<Output = anyhow::Result<String>> + Send;
    /// The nodes the database currently considers primaries/leaders.
    fn primaries(&self) -> impl Future<Output = anyhow::Result<Vec<String>>> + Send;
    /// Why the database process cannot get a clock of its own through libfaketime (said when
    /// `clock` is refused on a shared clock), or `None`.
    fn per_process_clock_refusal(&self) -> Option<String> {
        Some("the database does not say that it runs under libfaketime".into())
    }
    /// The time the database process on `node` reads, as Unix seconds, asked of the database
    /// itself (how a clock moved by libfaketime is verified); `None` when it cannot say.
    fn db_time(&self, node: &str) -> impl Future<Output = anyhow::Result<Option<f64>>> + Send {
        let _ = node;
        async { Ok(None) }
    }
    /// Whether the database has a primary that an operator fails over by hand (Redis with async
    /// replication). Databases that elect their own leader (etcd) say no, and `failover` is refused.
    fn supports_failover(&self) -> bool {
        false
    }
    /// Make `node` the primary and send the clients' writes to it; returns what was done.
    fn promote(&self, node: &str) -> impl Future<Output = anyhow::Result<String>> + Send {
        let node = node.to_string();
        async move { anyhow::bail!("cannot promote {node}: this database has no manual failover") }
    }
    /// Make every node except `primary` a replica of it (after a failover heals).
    fn follow(&self, primary: &str) -> impl Future<Output = anyhow::Result<String>> + Send {
        let primary = primary.to_string();
        async move { anyhow::bail!("cannot make the nodes follow {primary}: this database has no manual failover") }
    }
}

/// Access to the cluster for the nemesis engine: commands and the database.
pub trait Control: Shell + DbControl {}

impl<T: Shell + DbControl> Control for T {}

/// Implement `Shell` and `DbControl` for a wrapper by delegating every method to the wrapped one.
macro_rules! delegate_control {
    ($($wrapper:ty),*) => {$(
        impl<T: Shell> Shell for $wrapper {
            fn nodes(&self) -> Vec<String> {
                (**self).nodes()
            }
            fn address(&self, node: &str) -> String {
                (**self).address(node)
            }
            fn control_addresses(&self) -> Vec<String> {
                (**self).control_addresses()
            }
            fn shared_clock(&self) -> bool {
                (**self).shared_clock()
            }
            fn probe_port(&self) -> u16 {
                (**self).probe_port()
            }
            fn agent_binary(&self) -> Option<String> {
                (**self).agent_binary()
            }
            fn run(&self, node: &str, argv: Vec<String>) -> impl Future<Output = anyhow::Result<Output>> + Send {
                (**self).run(node, argv)
            }
        }

        impl<T: DbControl> DbControl for $wrapper {
            fn kill_db(&self, node: &str) -> impl Future<Output = anyhow::Result<String>> + Send {
                (**self).kill_db(node)
            }
            fn restart_db(&self, node: &str) -> impl Future<Output = anyhow::Result<String>> + Send {
                (**self).restart_db(node)
            }
            fn pause_db(&self, node: &str) -> impl Future<Output = anyhow::Result<String>> + Send {
                (**self).pause_db(node)
            }
            fn resume_db(&self, node: &str) -> impl Future<Output = anyhow::Result<String>> + Send {
                (**self).resume_db(node)
            }
            fn primaries(&self) -> impl Future<Output = anyhow::Result<Vec<String>>> + Send {
                (**self).primaries()
            }
            fn supports_failover(&self) -> bool {
                (**self).supports_failover()
            }
            fn per_process_clock_refusal(&self) -> Option<String> {
                (**self).per_process_clock_refusal()
            }
            fn db_time(&self, node: &str) -> impl Future<Output = anyhow::Result<Option<f64>>> + Send {
                (**self).db_time(node)
            }
            fn promote(&self, node: &str) -> impl Future<Output = anyhow::Result<String>> + Send {
                (**self).promote(node)
            }
            fn follow(&self, primary: &str) -> impl Future<Output = anyhow::Result<String>> + Send {
                (**self).follow(primary)
            }
        }
    )*};
}

// Through references, so the engine can borrow a control the runner keeps using; through `Arc`,
// so the engine can live in a spawned task.
delegate_control!(&T, Arc<T>);

/// A boxed future borrowing from the caller.
pub(crate) type Task<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Run futures concurrently on the current task and collect their outputs in order. Commands to
/// different nodes (and probes of different links) go out together; the SSH layer bounds how many
/// run at once per node.
pub(crate) async fn join_all<'a, T: Send + 'a>(futures: Vec<Task<'a, T>>) -> Vec<T> {
    futures::future::join_all(futures).await
}
