//! `faultline cluster`: the local cluster built from network namespaces (control-plane issue).

use crate::exit::Exit;

#[derive(clap::Args, Debug)]
pub struct ClusterArgs {}

pub fn run(_args: ClusterArgs) -> anyhow::Result<Exit> {
    anyhow::bail!("cluster is not implemented yet")
}
