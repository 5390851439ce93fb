//! `bwchain testnet`: the files for an N-authority network on loopback:
//! fresh keys, a genesis, and scripts that start and stop the nodes. The
//! work is [`bwchain_node::testnet::write`].

use std::path::PathBuf;

use anyhow::{Context as _, Result};
use bwchain_node::testnet::{self, TestnetPlan};

/// Write keys, a genesis and start/stop scripts for an N-node test network
/// on 127.0.0.1.
///
/// The N authorities and M devices get fresh random keys. The scripts run
/// one node per authority, each peered with all the others.
///
/// Node I (0..N-1) is authorities[I] with key keys/authority-I.json, listens
/// for peers on 127.0.0.1:(base-port + I), serves the HTTP API on
/// 127.0.0.1:(rpc-base-port + I), keeps its chain in data/node-I and logs to
/// logs/node-I.log. The devices are registered at genesis; every authority
/// starts with 1000000000 and every device with 1000000. The reward and
/// capacity rules are the dev chain's. Nothing is started: run DIR/start.sh.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Files written to DIR:
  genesis.json            chain_id bwchain-testnet-N
  keys/authority-I.json   key file of node I (mode 0600, as `keygen --out`)
  keys/device-J.json      key file of device J (mode 0600)
  start.sh                starts the nodes in the background (pids in pids/)
  stop.sh                 stops them (SIGTERM) and waits for them to exit
  data/, logs/, pids/     made by start.sh: node I's chain, log and pid

Example:
  bwchain testnet --validators 4 --out ./testnet
  ./testnet/start.sh
  bwchain status --rpc http://127.0.0.1:8700
  bwchain account ./testnet/keys/device-0.json
  ./testnet/stop.sh")]
pub struct TestnetArgs {
    /// Number of authorities, one node each (1 to 64).
    #[arg(long, value_name = "N",
          value_parser = clap::value_parser!(u16).range(1..=i64::from(testnet::MAX_VALIDATORS)))]
    pub validators: u16,
    /// Directory to write the testnet into; created if missing. It must be
    /// empty unless --force.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Number of device keys registered at genesis (0 to 1000).
    #[arg(long, value_name = "M", default_value_t = testnet::DEFAULT_DEVICES,
          value_parser = clap::value_parser!(u16).range(0..=i64::from(testnet::MAX_DEVICES)))]
    pub devices: u16,
    /// Slot length of the chain, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = testnet::DEFAULT_BLOCK_TIME_MS,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub block_time_ms: u64,
    /// P2P port of node 0; node I uses base-port + I.
    #[arg(long, value_name = "P", default_value_t = testnet::DEFAULT_BASE_PORT,
          value_parser = clap::value_parser!(u16).range(1..))]
    pub base_port: u16,
    /// HTTP API port of node 0; node I uses rpc-base-port + I.
    #[arg(long, value_name = "P", default_value_t = testnet::DEFAULT_RPC_BASE_PORT,
          value_parser = clap::value_parser!(u16).range(1..))]
    pub rpc_base_port: u16,
    /// The chain's genesis_time_ms (ms since the Unix epoch); slot 0 starts
    /// then. Default: now, rounded down to the second, so slots start at once.
    #[arg(long, value_name = "T")]
    pub genesis_time_ms: Option<u64>,
    /// Write into a non-empty DIR. A previous testnet's keys, node data, logs
    /// and pid files there are deleted (refused while its nodes run); other
    /// files are left alone.
    #[arg(long)]
    pub force: bool,
}

pub fn run(args: TestnetArgs) -> Result<()> {
    let exe = std::env::current_exe().context("cannot find the path of this binary")?;
    let written = testnet::write(&TestnetPlan {
        validators: args.validators,
        devices: args.devices,
        out: args.out,
        block_time_ms: args.block_time_ms,
        base_port: args.base_port,
        rpc_base_port: args.rpc_base_port,
        genesis_time_ms: args.genesis_time_ms,
        force: args.force,
        exe,
    })?;
    if written.removed_previous > 0 {
        eprintln!(
            "--force: removed {} keys, node data dirs, logs and pid files of a previous \
             testnet in {}",
            written.removed_previous,
            written.dir.display()
        );
    }
    print!("{}", written.summary());
    Ok(())
}
