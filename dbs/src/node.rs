//! One database node as the adapters see it.

use faultline_control::ssh::Node;

/// The SSH handle, the address the other nodes and the clients use, and the directory where
/// faultline keeps this node's files.
#[derive(Clone, Debug)]
pub struct DbNode {
    pub ssh: Node,
    pub name: String,
    pub host: String,
    pub root: String,
    /// Extra environment every database server on this node starts with: libfaketime's preload
    /// when clock faults run on nodes that share one clock (empty otherwise).
    pub env: Vec<(String, String)>,
}

impl DbNode {
    /// A connected node whose files live under `root`; other nodes and clients reach it at the
    /// host it was connected to.
    pub fn new(ssh: Node, root: String) -> DbNode {
        DbNode { name: ssh.name.clone(), host: ssh.host.clone(), ssh, root, env: Vec::new() }
    }

    /// `file` under the node's root.
    pub fn path(&self, file: &str) -> String {
        format!("{}/{}", self.root.trim_end_matches('/'), file)
    }
}
