//! The nodes of a run, resolved: how to reach each one and where faultline keeps its files there.
//!
//! There is one path for every kind of host. The local cluster is nothing more than a list of
//! addresses with the cluster's key and known_hosts ([`Targets::local`]); real hosts come from
//! `--nodes` ([`Targets::remote`]). Either way every node keeps faultline's files under the same
//! root (`/var/lib/faultline` unless `--remote-root` says otherwise).

use anyhow::Result;

use crate::cluster::{LocalCluster, NODE_ROOT};
use crate::error::bad_input;
use crate::ssh::{NodeSpec, SshOptions};

/// The nodes of a run, resolved.
#[derive(Debug, Clone)]
pub struct Targets {
    pub specs: Vec<NodeSpec>,
    pub ssh: SshOptions,
    /// The directory for faultline's files (daemons, pidfiles, logs) on every node.
    pub root: String,
    /// Where control traffic comes from, never named in a firewall rule (the local cluster's
    /// bridge address; empty for real hosts, whose control traffic is not between nodes).
    pub control_addresses: Vec<String>,
}

impl Targets {
    /// The local cluster's nodes, reached exactly as real hosts are.
    pub fn local(cluster: &LocalCluster, root: Option<&str>) -> Targets {
        Targets {
            specs: cluster.node_specs(),
            ssh: cluster.ssh_options(),
            root: root.unwrap_or(NODE_ROOT).to_string(),
            control_addresses: vec![cluster.control_address.clone()],
        }
    }

    /// Real hosts; `none_named` is the error when the list is empty.
    pub fn remote(specs: Vec<NodeSpec>, ssh: SshOptions, root: Option<&str>, none_named: &str) -> Result<Targets> {
        if specs.is_empty() {
            return Err(bad_input(none_named.to_string()));
        }
        Ok(Targets { specs, ssh, root: root.unwrap_or(NODE_ROOT).to_string(), control_addresses: Vec::new() })
    }

    /// Keep the first `node_count` nodes.
    pub fn limit(mut self, node_count: Option<usize>) -> Result<Targets> {
        if let Some(n) = node_count {
            if n == 0 || n > self.specs.len() {
                return Err(bad_input(format!(
                    "--node-count {n}: there are {} node(s) to choose from",
                    self.specs.len()
                )));
            }
            self.specs.truncate(n);
        }
        Ok(self)
    }
}

/// Check a `--remote-root`: an absolute path, plain enough to pass through shells and argv.
pub fn validate_remote_root(root: &str) -> Result<()> {
    let plain = root.chars().all(|c| c.is_ascii_alphanumeric() || "/._-".contains(c));
    if !root.starts_with('/') || root == "/" || !plain || root.split('/').any(|p| p == "..") {
        return Err(bad_input(format!(
            "--remote-root {root:?}: must be an absolute directory other than / (letters, digits, '/', '.', '_', '-'; no '..')"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_root_forms() {
        assert!(validate_remote_root("/var/lib/faultline").is_ok());
        assert!(validate_remote_root("/home/tester/fl").is_ok());
        assert!(validate_remote_root("relative").is_err());
        assert!(validate_remote_root("/").is_err());
        assert!(validate_remote_root("/a/../b").is_err());
        assert!(validate_remote_root("/a b").is_err());
    }
}
