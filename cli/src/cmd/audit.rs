//! `bwchain audit`: re-execute a stored chain from genesis.

use std::path::PathBuf;

/// Re-execute the stored chain from genesis, checking every state root and the supply.
#[derive(Debug, clap::Args)]
pub struct AuditArgs {
    /// Data directory of a stopped node.
    #[arg(long)]
    pub data: PathBuf,
    /// Genesis file (default: the one stored in the data directory).
    #[arg(long)]
    pub genesis: Option<PathBuf>,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(_args: AuditArgs) -> anyhow::Result<()> {
    anyhow::bail!("bwchain audit is not built yet")
}
