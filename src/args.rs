//! Raw flags shared by the subcommands that reach nodes, and their resolution into
//! [`Targets`]: the only place where clap's view of the nodes meets the control crate's.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use faultline_control::bad_input;
use faultline_control::cluster::LocalCluster;
use faultline_control::ssh::{NodeSpec, Secret, SshOptions};
use faultline_control::targets::{validate_remote_root, Targets};

/// Where the nodes are and how to log in; flattened into the subcommands that need nodes.
#[derive(clap::Args, Debug, Clone)]
pub struct NodeArgs {
    /// Nodes, comma separated: host or host:port (e.g. `db1,db2,10.0.0.3:2222`).
    #[arg(long, value_delimiter = ',')]
    pub nodes: Vec<String>,
    /// File listing nodes, one host or host:port per line; blank lines and `#` comments ignored.
    #[arg(long)]
    pub nodes_file: Option<PathBuf>,
    /// User to log in as; commands needing root go through sudo when it is not root.
    #[arg(long, default_value = "root")]
    pub username: String,
    /// Private key to log in with (otherwise ssh's defaults and agent).
    #[arg(long)]
    pub ssh_key: Option<PathBuf>,
    /// Port for nodes given without one.
    #[arg(long, default_value_t = 22)]
    pub ssh_port: u16,
    /// Refuse hosts missing from known_hosts too (by default new hosts are accepted and
    /// remembered; a changed host key is always refused).
    #[arg(long)]
    pub strict_host_key_checking: bool,
    /// Password for sudo when the user is not root (prefer the environment variable).
    #[arg(long, env = "FAULTLINE_SUDO_PASSWORD", hide_env_values = true)]
    pub sudo_password: Option<Secret>,
    /// How long to wait for a node's ssh to answer (e.g. 5s, 500ms).
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    pub connect_timeout: Duration,
}

impl NodeArgs {
    /// The nodes named by `--nodes` and `--nodes-file` (empty when neither is given) and the
    /// login options.
    pub fn resolve(&self) -> Result<(Vec<NodeSpec>, SshOptions)> {
        let mut entries: Vec<String> = self.nodes.iter().map(|s| s.trim().to_string()).collect();
        if let Some(path) = &self.nodes_file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| bad_input(format!("cannot read --nodes-file {}: {e}", path.display())))?;
            for line in text.lines() {
                let line = line.split('#').next().unwrap_or("").trim();
                if !line.is_empty() {
                    entries.push(line.to_string());
                }
            }
        }
        let mut specs: Vec<NodeSpec> = Vec::new();
        for entry in entries.iter().filter(|e| !e.is_empty()) {
            let spec = NodeSpec::parse(entry, self.ssh_port).map_err(|e| bad_input(format!("{e:#}")))?;
            if specs.iter().any(|s| s.name == spec.name) {
                return Err(bad_input(format!("node {} is listed twice", spec.name)));
            }
            specs.push(spec);
        }
        if self.connect_timeout < Duration::from_secs(1) {
            return Err(bad_input("--connect-timeout must be at least 1s (ssh counts whole seconds)"));
        }
        let opts = SshOptions {
            user: self.username.clone(),
            key: self.ssh_key.clone(),
            strict: self.strict_host_key_checking,
            sudo_password: self.sudo_password.clone(),
            connect_timeout: self.connect_timeout,
            known_hosts: None,
            config_file: None,
        };
        Ok((specs, opts))
    }
}

/// Where the nodes are and how to reach them.
#[derive(clap::Args, Debug, Clone)]
pub struct TargetArgs {
    /// Use the local namespace cluster (`test` builds one with 5 nodes first if there is none;
    /// `heal` never builds one). The same as `--nodes` with the cluster's addresses, key and
    /// known_hosts.
    #[arg(long, conflicts_with_all = ["nodes", "nodes_file"])]
    pub local: bool,
    #[command(flatten)]
    pub ssh: NodeArgs,
    /// Use only the first N of the nodes (e.g. 3 of the local cluster's 5).
    #[arg(long)]
    pub node_count: Option<usize>,
    /// Where faultline keeps its files on every node (daemons, pidfiles, logs, data).
    #[arg(long, default_value = faultline_control::cluster::NODE_ROOT)]
    pub remote_root: String,
}

impl TargetArgs {
    /// The local cluster's nodes (`cluster` when it runs), or `--nodes`; `none_named` is the
    /// error when neither names a node.
    pub fn resolve(&self, cluster: Option<&LocalCluster>, none_named: &str) -> Result<Targets> {
        validate_remote_root(&self.remote_root)?;
        let root = Some(self.remote_root.as_str());
        let targets = match (self.local, cluster) {
            (true, Some(c)) => Targets::local(c, root),
            (true, None) => return Err(bad_input("--local: no local cluster is running (`faultline cluster up`)")),
            (false, _) => {
                let (specs, ssh) = self.ssh.resolve()?;
                Targets::remote(specs, ssh, root, none_named)?
            }
        };
        targets.limit(self.node_count)
    }
}
