//! `bwchain receipt`: the consumer signs a receipt for bytes it received.

use std::path::PathBuf;

use anyhow::{ensure, Context as _, Result};
use bwchain_core::genesis::ChainSpec;
use bwchain_core::primitives::signing::Keypair;
use bwchain_core::primitives::{Account, Hash};

use crate::args::{parse_account, parse_key, RpcArgs};

/// Sign, as the consumer, a receipt for bytes received from a provider.
///
/// Receipts are cumulative: each new receipt for the same provider, consumer
/// and session carries the total so far, and the chain credits only the
/// increase. The receipt is printed as one line of JSON, ready for
/// `bwchain claim`. The signature covers the chain's genesis hash, taken from
/// --genesis-hash, from --genesis FILE, or else from the node at --rpc.
#[derive(Debug, clap::Args)]
#[command(after_help = "Example (offline, on the repo's dev chain):\n  \
    bwchain receipt --key dev:carol --provider dev:bob --session 1 --bytes 1048576 \\\n      \
    --genesis genesis.json >> receipts.jsonl")]
pub struct ReceiptArgs {
    /// The consumer's key: a key file, or dev:NAME for a dev key.
    #[arg(long, value_name = "KEY", value_parser = parse_key)]
    pub key: Keypair,
    /// The provider that served the bytes: a 64-hex public key, a key file,
    /// or dev:NAME.
    #[arg(long, value_name = "ACCOUNT", value_parser = parse_account)]
    pub provider: Account,
    /// Session number, agreed between provider and consumer.
    #[arg(long, value_name = "N")]
    pub session: u64,
    /// Total bytes received in this session so far.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub bytes: u64,
    /// Genesis hash of the chain (64 hex), instead of asking the node.
    #[arg(long, value_name = "HEX", conflicts_with = "genesis")]
    pub genesis_hash: Option<Hash>,
    /// Genesis file to compute the genesis hash from, instead of asking the node.
    #[arg(long, value_name = "FILE")]
    pub genesis: Option<PathBuf>,
    /// Write the receipt to FILE (replacing it) instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub rpc: RpcArgs,
}

pub fn run(args: ReceiptArgs) -> Result<()> {
    ensure!(
        args.provider != args.key.account(),
        "the provider {} is the consumer's own account; a device cannot be paid for serving itself",
        args.provider
    );
    let genesis_hash = genesis_hash(&args)?;
    let receipt = args
        .key
        .sign_receipt(&genesis_hash, args.provider, args.session, args.bytes);
    let line = serde_json::to_string(&receipt)?;
    match &args.out {
        None => println!("{line}"),
        Some(path) => std::fs::write(path, format!("{line}\n"))
            .with_context(|| format!("cannot write receipt to {}", path.display()))?,
    }
    Ok(())
}

fn genesis_hash(args: &ReceiptArgs) -> Result<Hash> {
    if let Some(hash) = args.genesis_hash {
        return Ok(hash);
    }
    if let Some(path) = &args.genesis {
        return genesis_hash_from_file(path);
    }
    Ok(args
        .rpc
        .client()
        .status()
        .context("asking the node for the genesis hash (or pass --genesis-hash or --genesis)")?
        .genesis_hash)
}

/// The genesis hash of the chain a genesis file describes.
pub fn genesis_hash_from_file(path: &std::path::Path) -> Result<Hash> {
    let genesis = bwchain_node::files::read_genesis(path)?;
    let spec =
        ChainSpec::new(genesis).with_context(|| format!("genesis file {}", path.display()))?;
    Ok(spec.genesis_hash())
}
