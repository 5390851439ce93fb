//! `bwchain bench`: how many receipts per second a real node includes,
//! against what this machine can do at most. The measurement is
//! [`bwchain_node::bench::run`]; this prints its progress on stderr and its
//! report on stdout.

mod table;

use std::path::PathBuf;

use anyhow::{Context as _, Result};
use bwchain_node::bench::{self, BenchConfig, Progress};

/// Measure included receipts per second against this machine's raw limits.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  \
    bwchain bench --receipts-per-claim 64\n  \
    bwchain bench --receipts-per-claim 1 --devices 4096 --duration 10 --json\n  \
    bwchain bench --receipts-per-claim 64 --rate 20000     # offered load, for latency\n\n\
The node runs as its own `bwchain node` process (this binary); its peak RSS\n\
and CPU time are reported apart from the load generator's.")]
pub struct BenchArgs {
    /// Seconds of load to prepare (at the verify bound) and submit.
    #[arg(long, default_value_t = 10)]
    pub duration: u64,
    /// Registered devices; half act as providers, half as consumers.
    #[arg(long, default_value_t = 4096)]
    pub devices: usize,
    /// Receipts in each claim.
    #[arg(long, default_value_t = 64)]
    pub receipts_per_claim: usize,
    /// Slot length of the benchmark chain.
    #[arg(long, default_value_t = 500)]
    pub block_time_ms: u64,
    /// Seconds spent on each raw measurement.
    #[arg(long, default_value_t = 3)]
    pub raw_seconds: u64,
    /// Concurrent HTTP connections of the load generator.
    #[arg(long, default_value_t = 4)]
    pub connections: usize,
    /// Submit one claim per request (`POST /txs`) instead of batches
    /// (`POST /txs/batch`), to measure the per-request path.
    #[arg(long)]
    pub single: bool,
    /// Send batches as JSON arrays instead of the consensus encoding
    /// (`Content-Type: application/octet-stream`), to measure the JSON path.
    #[arg(long, conflicts_with = "single")]
    pub json_bodies: bool,
    /// Offered load in receipts per second, spread over the connections
    /// (default: as fast as the node takes them). --duration seconds of it
    /// are pre-signed.
    #[arg(long, value_name = "RECEIPTS_PER_S")]
    pub rate: Option<f64>,
    /// Bench directory, kept after the run: genesis.json, authority.json,
    /// node.log and the node's data dir node/ (default: a temporary one,
    /// removed after).
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: BenchArgs) -> Result<()> {
    let report = bench::run(
        &BenchConfig {
            duration_secs: args.duration,
            devices: args.devices,
            receipts_per_claim: args.receipts_per_claim,
            block_time_ms: args.block_time_ms,
            raw_seconds: args.raw_seconds,
            connections: args.connections,
            single: args.single,
            json_bodies: args.json_bodies,
            data_dir: args.data,
            node_program: std::env::current_exe().context("cannot find the bwchain binary")?,
            rate: args.rate,
        },
        print_progress,
    )?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        table::print(&report);
    }
    Ok(())
}

fn print_progress(progress: Progress<'_>) {
    match progress {
        Progress::MeasuringVerify { cores } => {
            eprintln!("measuring raw ed25519 batch verification on {cores} cores...");
        }
        Progress::Verified { signatures_per_sec } => {
            eprintln!("  {signatures_per_sec:.0} signatures/s");
        }
        Progress::MeasuringSled => eprintln!("measuring raw sled batch writes..."),
        Progress::SledWritten { writes_per_sec } => eprintln!("  {writes_per_sec:.0} writes/s"),
        Progress::Signing {
            claims,
            receipts_per_claim,
            signatures,
        } => eprintln!(
            "pre-signing {claims} claims of {receipts_per_claim} receipts ({signatures} signatures)..."
        ),
        Progress::Submitting {
            claims,
            connections,
            url,
        } => eprintln!("submitting {claims} claims over {connections} connections to {url}..."),
        Progress::Submitted { after } => eprintln!(
            "all submitted after {:.1} s; waiting for inclusion...",
            after.as_secs_f64()
        ),
        Progress::Auditing => eprintln!("auditing the chain..."),
    }
}
