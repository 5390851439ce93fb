//! `bwchain node`: run a node.

use std::path::PathBuf;

/// Run a node (an authority when given its key).
#[derive(Debug, clap::Args)]
pub struct NodeArgs {
    /// Run the one-authority dev chain from the repo's genesis with dev key `alice`.
    #[arg(long)]
    pub dev: bool,
    /// Genesis file.
    #[arg(long)]
    pub genesis: Option<PathBuf>,
    /// Key file of this node's authority.
    #[arg(long)]
    pub key: Option<PathBuf>,
    /// Data directory.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// HTTP API address.
    #[arg(long, default_value = "127.0.0.1:8700")]
    pub rpc: String,
}

pub fn run(_args: NodeArgs) -> anyhow::Result<()> {
    anyhow::bail!("bwchain node is not built yet")
}
