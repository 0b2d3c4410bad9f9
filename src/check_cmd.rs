//! `faultline check`: check stored histories offline (filled by the foundation issue).

use crate::exit::Exit;

#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    /// History files to check.
    pub files: Vec<std::path::PathBuf>,
}

pub fn run(_args: CheckArgs) -> anyhow::Result<Exit> {
    anyhow::bail!("check is not implemented yet")
}
