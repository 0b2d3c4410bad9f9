//! The local cluster: N nodes on this machine, each a set of Linux namespaces with its own sshd.
//!
//! Node `nI` is a network namespace `fl-nI` (veth `flv-nI` into bridge `fl-br0`, address
//! 10.233.0.(10+I)/24; the host side is 10.233.0.1) with its own PID, UTS and mount namespaces
//! (hostname `nI`, own /proc) whose PID 1 is its own sshd (own host key, one client key shared by
//! the control side). Each node sees its own [`NODE_ROOT`] (`/var/lib/faultline`), `/tmp` and
//! `/run`, bind-mounted from a directory of its own on the host, so the nodes look like separate
//! hosts at the same paths: the code path for real hosts (`--nodes`) is the one the local cluster
//! takes too. The cluster's own state (keys, sshd configs, `state.json`) lives under
//! [`STATE_DIR`], which no node shadows.
//!
//! Sealed: an `unreachable` route for 10.233.0.0/16 stays in the host namespace (the bridge's /24
//! is more specific while the cluster is up) and no node namespace has a default route, so no
//! packet addressed to a test node leaves the machine, during a run or after `down`.

mod build;
mod teardown;

use crate::packages::ensure_packages;
use build::{build, check_subnet_free};

pub use teardown::teardown;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::error::bad_input;
use crate::ssh::{NodeSpec, SshOptions};
use crate::sys::{port_open, process_comm};

/// Everything the local cluster keeps on disk, out of the nodes' sight.
pub const STATE_DIR: &str = "/var/lib/faultline-cluster";
/// Where earlier versions kept the state; a link to [`STATE_DIR`] keeps their paths working (the
/// client key at `/var/lib/faultline/cluster/id_ed25519`).
pub const OLD_STATE_DIR: &str = "/var/lib/faultline/cluster";
/// Where faultline keeps its files on every node, real host or local (`--remote-root` changes it).
pub const NODE_ROOT: &str = "/var/lib/faultline";
/// The directories each local node gets a private copy of, bind-mounted over the host's.
pub const NODE_PRIVATE_DIRS: [&str; 3] = [NODE_ROOT, "/tmp", "/run"];
const BRIDGE: &str = "fl-br0";
/// The cluster's /24 and the /16 that stays unreachable from the host.
const SUBNET: &str = "10.233.0.0/24";
const SEALED_PREFIX: &str = "10.233.0.0/16";
const CONTROL_ADDRESS: &str = "10.233.0.1";
pub const MAX_NODES: usize = 64;
const SSH_PORT: u16 = 22;
const SSHD: &str = "/usr/sbin/sshd";

/// The running local cluster, as written to `state.json`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct LocalCluster {
    pub subnet: String,
    pub sealed_prefix: String,
    pub bridge: String,
    /// The host's address on the bridge: where control traffic (ssh, clients) comes from.
    pub control_address: String,
    pub ssh_port: u16,
    pub user: String,
    pub key_path: PathBuf,
    pub known_hosts_path: PathBuf,
    pub ssh_config_path: PathBuf,
    pub nodes: Vec<LocalNode>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct LocalNode {
    pub name: String,
    pub address: String,
    pub netns: String,
    /// Host side of the node's veth.
    pub veth: String,
    /// Where faultline keeps its files, as the node sees it (the same path on every node).
    pub data_dir: PathBuf,
    /// The same directory as the host sees it (the node's /tmp and /run sit beside it).
    pub host_data_dir: PathBuf,
    /// Host pid of the node's sshd (PID 1 of the node's pid namespace).
    pub sshd_pid: u32,
}

impl LocalCluster {
    /// The nodes as ssh targets.
    pub fn node_specs(&self) -> Vec<NodeSpec> {
        self.nodes
            .iter()
            .map(|n| NodeSpec { name: n.name.clone(), host: n.address.clone(), port: self.ssh_port })
            .collect()
    }

    /// How to log in: the cluster's key, its known_hosts (strict) and its ssh_config.
    pub fn ssh_options(&self) -> SshOptions {
        SshOptions {
            user: self.user.clone(),
            key: Some(self.key_path.clone()),
            strict: true,
            sudo_password: None,
            connect_timeout: Duration::from_secs(5),
            known_hosts: Some(self.known_hosts_path.clone()),
            config_file: Some(self.ssh_config_path.clone()),
        }
    }
}

pub fn state_dir() -> PathBuf {
    PathBuf::from(STATE_DIR)
}

pub fn state_file() -> PathBuf {
    state_dir().join("state.json")
}

/// The cluster described by the state file, if there is one (it may have died since: see
/// [`cluster_is_healthy`]).
pub fn load_local_cluster() -> Result<Option<LocalCluster>> {
    let path = state_file();
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let cluster =
        serde_json::from_str(&text).with_context(|| format!("{} is not a valid cluster state file", path.display()))?;
    Ok(Some(cluster))
}

/// A running cluster of at least `n` nodes, described with its first `n` nodes; builds one
/// (after cleaning up leftovers, or a cluster that is too small) when there is none. Needs root.
/// Blocking; takes well under a second.
pub fn ensure_local_cluster(n: usize) -> Result<LocalCluster> {
    if !(1..=MAX_NODES).contains(&n) {
        return Err(bad_input(format!("a local cluster has 1 to {MAX_NODES} nodes, not {n}")));
    }
    if let Some(mut c) = load_local_cluster()? {
        if c.nodes.len() >= n && cluster_is_healthy(&c) {
            c.nodes.truncate(n);
            return Ok(c);
        }
    }
    up(n)
}

/// Whether every node's namespace, sshd and ssh port are alive.
pub fn cluster_is_healthy(c: &LocalCluster) -> bool {
    Path::new("/sys/class/net").join(&c.bridge).exists()
        && c.nodes.iter().all(|n| {
            Path::new("/run/netns").join(&n.netns).exists()
                && process_comm(n.sshd_pid).as_deref() == Some("sshd")
                && port_open(&n.address, c.ssh_port)
        })
}

pub fn require_root(what: &str) -> Result<()> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        bail!("{what} needs root (it creates network namespaces, veths and a bridge); run it as root or with sudo");
    }
    Ok(())
}

pub fn running_cluster() -> Result<LocalCluster> {
    match load_local_cluster()? {
        Some(c) if cluster_is_healthy(&c) => Ok(c),
        Some(_) => bail!(
            "the local cluster is not healthy (a node or its sshd is gone); rebuild it with `faultline cluster up`"
        ),
        None => bail!("no local cluster is running; start one with `faultline cluster up`"),
    }
}

/// Build a fresh cluster of `n` nodes, removing whatever was there first.
pub fn up(n: usize) -> Result<LocalCluster> {
    require_root("cluster up")?;
    ensure_packages()?;
    teardown().context("cleaning up the previous local cluster")?;
    check_subnet_free()?;
    match build(n) {
        Ok(c) => Ok(c),
        Err(e) => {
            if let Err(clean) = teardown() {
                eprintln!("faultline: cleaning up the half-built cluster also failed: {clean:#}");
            }
            Err(e.context(format!("cannot build the {n}-node local cluster")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use build::{overlaps, parse_cidr};
    use teardown::is_node_name;

    #[test]
    fn cidr_overlap() {
        let sealed = parse_cidr(SEALED_PREFIX).unwrap();
        assert!(overlaps(parse_cidr("10.233.5.0/24").unwrap(), sealed));
        assert!(overlaps(parse_cidr("10.0.0.0/8").unwrap(), sealed));
        assert!(!overlaps(parse_cidr("10.234.0.0/16").unwrap(), sealed));
        assert!(!overlaps(parse_cidr("192.0.2.0/24").unwrap(), sealed));
        assert!(parse_cidr("10.0.0.0/33").is_none());
    }

    #[test]
    fn node_names() {
        assert!(is_node_name("fl-n12", "fl-n"));
        assert!(!is_node_name("fl-n", "fl-n"));
        assert!(!is_node_name("fl-nx", "fl-n"));
        assert!(!is_node_name("fl-br0", "fl-n"));
    }

    #[test]
    fn state_round_trips() {
        let c = LocalCluster {
            subnet: SUBNET.into(),
            sealed_prefix: SEALED_PREFIX.into(),
            bridge: BRIDGE.into(),
            control_address: CONTROL_ADDRESS.into(),
            ssh_port: 22,
            user: "root".into(),
            key_path: "/k".into(),
            known_hosts_path: "/kh".into(),
            ssh_config_path: "/c".into(),
            nodes: vec![LocalNode {
                name: "n1".into(),
                address: "10.233.0.11".into(),
                netns: "fl-n1".into(),
                veth: "flv-n1".into(),
                data_dir: NODE_ROOT.into(),
                host_data_dir: "/d".into(),
                sshd_pid: 7,
            }],
        };
        let back: LocalCluster = serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
        assert_eq!(back, c);
        assert_eq!(c.node_specs()[0], NodeSpec { name: "n1".into(), host: "10.233.0.11".into(), port: 22 });
        assert!(c.ssh_options().strict);
    }
}
