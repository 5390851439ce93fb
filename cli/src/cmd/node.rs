//! `bwchain node`: run a node.

use std::path::PathBuf;

use anyhow::{bail, Context};
use bwchain_core::genesis::{presets, ChainSpec};
use bwchain_core::mempool::MempoolLimits;
use bwchain_core::primitives::signing::Keypair;
use bwchain_node::files;
use bwchain_node::launch::{self, LaunchConfig};

/// Run a node: an authority when given its key, which proposes blocks in its
/// slots and serves the HTTP API.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  \
    bwchain node --dev                                  # dev chain, fresh temp data dir\n  \
    bwchain node --dev --data ./dev-data                # dev chain, reused across restarts\n  \
    bwchain node --genesis genesis.json --key authority.json --data ./data \\\n      --listen 0.0.0.0:9700 --peer validator-2.example:9700 --peer validator-3.example:9700")]
pub struct NodeArgs {
    /// Run the one-authority dev chain: the repo's genesis.json, dev key
    /// `alice`, and a fresh temporary data dir unless --data is given.
    #[arg(long)]
    pub dev: bool,
    /// Genesis file (required without --dev).
    #[arg(long, value_name = "FILE")]
    pub genesis: Option<PathBuf>,
    /// Key file of this node's authority (`bwchain keygen --out FILE`); without
    /// it the node proposes nothing.
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,
    /// Data directory; created if missing, resumed if it holds a chain.
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Address of the HTTP API (port 0 picks a free port; the address is
    /// printed on stdout).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8700")]
    pub rpc: String,
    /// Address to accept peers on (`off`: dial only). Port 0 picks a free
    /// port; the address is printed on stdout.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9700")]
    pub listen: String,
    /// A peer to connect to and keep reconnecting to (`host:port`); repeatable.
    #[arg(long = "peer", value_name = "HOST:PORT")]
    pub peers: Vec<String>,
    /// Most peers connected at once.
    #[arg(long, value_name = "N", default_value_t = bwchain_node::net::DEFAULT_MAX_PEERS)]
    pub max_peers: usize,
    /// Most pending transactions the mempool holds.
    #[arg(long, value_name = "N", default_value_t = bwchain_core::mempool::DEFAULT_MAX_TXS)]
    pub mempool_max_txs: usize,
    /// Most bytes (approximate encoded size) of pending transactions.
    #[arg(long, value_name = "BYTES", default_value_t = bwchain_core::mempool::DEFAULT_MAX_BYTES)]
    pub mempool_max_bytes: usize,
    /// Most pending transactions from one sender.
    #[arg(long, value_name = "N", default_value_t = bwchain_core::mempool::DEFAULT_MAX_PER_SENDER)]
    pub mempool_max_per_sender: usize,
}

pub fn run(args: NodeArgs) -> anyhow::Result<()> {
    let (genesis, keypair) = if args.dev {
        if args.genesis.is_some() || args.key.is_some() {
            bail!("--dev uses the repo's genesis and dev key alice; drop --genesis/--key or --dev");
        }
        (presets::dev(), Some(Keypair::dev(presets::DEV_AUTHORITY)))
    } else {
        let Some(path) = &args.genesis else {
            bail!("--genesis FILE is required (or use --dev for the dev chain)");
        };
        let genesis = files::read_genesis(path)?;
        let keypair = args.key.as_deref().map(files::read_key_file).transpose()?;
        (genesis, keypair)
    };
    let data_dir = match (&args.data, args.dev) {
        (Some(dir), _) => dir.clone(),
        (None, true) => {
            launch::temporary_data_dir().context("cannot create a temporary data dir")?
        }
        (None, false) => bail!("--data DIR is required (or use --dev for a temporary one)"),
    };
    let config = LaunchConfig {
        spec: ChainSpec::new(genesis)?,
        keypair,
        data_dir: data_dir.clone(),
        mempool: MempoolLimits {
            max_txs: args.mempool_max_txs,
            max_bytes: args.mempool_max_bytes,
            max_per_sender: args.mempool_max_per_sender,
        },
        rpc: args.rpc.clone(),
        listen: (args.listen != "off").then(|| args.listen.clone()),
        peers: args.peers.clone(),
        max_peers: args.max_peers,
    };
    launch::run_until_signal(config, |running| {
        let node = &running.node;
        let status = node.status();
        tracing::info!(
            chain_id = %node.spec().genesis.chain_id,
            genesis_hash = %node.spec().genesis_hash(),
            height = status.head.height,
            authority = %node.authority().map_or("none (follower)".to_string(), |a| a.to_string()),
            data = %data_dir.display(),
            "node started"
        );
        // Scripts and tests read these lines to find the API.
        println!("rpc: http://{}", running.rpc_addr);
        match running.p2p_addr {
            Some(address) => println!("p2p: {address}"),
            None => println!("p2p: off"),
        }
        println!("data: {}", data_dir.display());
    })?;
    tracing::info!(data = %data_dir.display(), "stopped; restart with the same --data to resume");
    Ok(())
}
