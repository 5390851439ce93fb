//! How many receipts per second a real node includes, against what this
//! machine can do at most (`bwchain bench`).
//!
//! 1. [`raw`]: raw rates, measured first in the same run: ed25519 batch
//!    verification (`ed25519_dalek::verify_batch`) on all cores, and sled
//!    `apply_batch` of small records on one thread.
//! 2. A real node, run as its own `bwchain node` process ([`process`]:
//!    exactly what users run; sled on disk, HTTP API on loopback, one
//!    authority) on [`presets::bench`] with thousands of registered
//!    devices, its genesis and key files written into the bench directory.
//!    Its peak RSS and CPU time are read from /proc, apart from the load
//!    generator's.
//! 3. [`claims`]: claims pre-signed before the clock starts (consumers sign
//!    receipts, providers sign claims); [`load`] submits them over the HTTP
//!    API in batches (`POST /txs/batch`, in the consensus encoding unless
//!    JSON is asked for) from several connections, as fast
//!    as the node answers or at an offered rate, and [`observe`] records
//!    (over the API) when each is included in a committed block.
//! 4. The node is stopped with SIGTERM and its data directory audited
//!    ([`crate::audit::audit_dir`]).
//!
//! The *verify bound* is the raw batch-verify rate divided by the signatures
//! per receipt (1 + 1/receipts-per-claim). The report compares the included
//! rate with it. Nothing here is a test: it measures.

pub mod claims;
pub mod load;
pub mod observe;
pub mod process;
pub mod raw;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bwchain_core::genesis::{presets, ChainSpec, GenesisError};
use bwchain_core::mempool::MempoolLimits;
use bwchain_core::primitives::signing::Keypair;
use serde::Serialize;

use bwchain_api::client::ClientError;

use crate::clock::now_ms;
use crate::files::{self, FileError};
use claims::ClaimPlan;
use load::LoadShape;
use observe::Observer;
use process::{NodeFiles, NodeProcess};

/// Receipts one batch request carries, about: a batch holds this many
/// receipts' worth of claims, within [`CLAIMS_PER_BATCH`].
const RECEIPTS_PER_BATCH: usize = 2048;
/// Fewest and most claims in one batch request.
const CLAIMS_PER_BATCH: (usize, usize) = (8, 1024);
/// The bench node's pool: far above any load, so nothing is refused.
const MEMPOOL: MempoolLimits = MempoolLimits {
    max_txs: 1_000_000,
    max_bytes: 1 << 30,
    max_per_sender: 1_000_000,
};
/// Time allowed for inclusion after the last submission: this much, plus
/// four times the load's duration.
const INCLUSION_GRACE: Duration = Duration::from_secs(120);

/// What to measure.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    /// Seconds of load to prepare (at the verify bound) and submit.
    pub duration_secs: u64,
    /// Registered devices; half act as providers, half as consumers.
    pub devices: usize,
    pub receipts_per_claim: usize,
    pub block_time_ms: u64,
    /// Seconds spent on each raw measurement (at least 1).
    pub raw_seconds: u64,
    /// Concurrent HTTP connections of the load generator.
    pub connections: usize,
    /// One claim per request (`POST /txs`) instead of batches.
    pub single: bool,
    /// Batches as JSON arrays instead of the consensus encoding.
    pub json_bodies: bool,
    /// The bench directory: the genesis and key files, the node's log and
    /// its data directory `node/` (default: a temporary one, removed after).
    pub data_dir: Option<PathBuf>,
    /// The `bwchain` binary run as `bwchain node`.
    pub node_program: PathBuf,
    /// Offered load in receipts per second (`None`: as fast as possible).
    pub rate: Option<f64>,
}

/// What the benchmark measured.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    pub cores: usize,
    /// Raw ed25519 batch verification on all cores, signatures per second.
    pub raw_verify_sigs_per_s: f64,
    /// Receipts included per second, from the first submission to the last
    /// inclusion.
    pub included_receipts_per_s: f64,
    /// `raw_verify_sigs_per_s / signatures_per_receipt`: receipts per second.
    pub verify_bound: f64,
    /// Offered load in receipts per second (`null`: as fast as possible).
    pub offered_receipts_per_s: Option<f64>,
    pub p50_inclusion_ms: f64,
    pub p99_inclusion_ms: f64,
    pub block_time_ms: u64,
    /// The node process's peak resident set (VmHWM).
    pub node_peak_rss_bytes: u64,
    /// CPU seconds (user + system) the node process used under load.
    pub node_cpu_seconds: f64,
    /// The bench process's own peak resident set (load generator, signed
    /// claims, raw measurements).
    pub generator_peak_rss_bytes: u64,
    pub audit_ok: bool,
    pub raw_batch_verify_per_sec: f64,
    pub raw_sled_writes_per_sec: f64,
    pub receipts_per_claim: usize,
    pub devices: usize,
    pub claims: usize,
    pub receipts: usize,
    pub seconds: f64,
    pub receipts_per_sec: f64,
    pub signatures_per_receipt: f64,
    pub state_writes_per_receipt: f64,
    pub verify_bound_receipts_per_sec: f64,
    pub ratio_to_verify_bound: f64,
    pub latency_p50_ms: f64,
    pub latency_p99_ms: f64,
    pub peak_rss_mib: f64,
    pub disk_bytes_per_receipt: f64,
    pub blocks: u64,
    pub audit: String,
}

/// Where a run is, for a progress display.
#[derive(Debug, Clone, PartialEq)]
pub enum Progress<'a> {
    MeasuringVerify {
        cores: usize,
    },
    Verified {
        signatures_per_sec: f64,
    },
    MeasuringSled,
    SledWritten {
        writes_per_sec: f64,
    },
    Signing {
        claims: usize,
        receipts_per_claim: usize,
        signatures: usize,
    },
    Submitting {
        claims: usize,
        connections: usize,
        url: &'a str,
    },
    /// Every claim is sent; waiting for the last inclusions.
    Submitted {
        after: Duration,
    },
    Auditing,
}

/// Why a benchmark could not run or finish. Sources say what failed.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("need --receipts-per-claim >= 1, --devices >= 4, --duration >= 1 and --rate > 0")]
    Config,
    #[error(transparent)]
    Genesis(#[from] GenesisError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Sled(#[from] sled::Error),
    #[error(transparent)]
    Files(#[from] FileError),
    #[error("the node did not print its API address; see its log {}", log.display())]
    NodeStart { log: PathBuf },
    #[error(transparent)]
    Client(#[from] Box<ClientError>),
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    #[error("POST {endpoint}")]
    Post {
        endpoint: String,
        #[source]
        error: ureq::Error,
    },
    #[error(transparent)]
    Answer(#[from] ureq::Error),
    #[error("unexpected answer: {answer}")]
    UnexpectedAnswer { answer: serde_json::Value },
    #[error("the node refused a benchmark claim: {answer}")]
    Refused { answer: serde_json::Value },
    #[error("only {done} of {total} claims were included before the deadline")]
    NotIncluded { done: usize, total: usize },
    #[error("stopping the node")]
    Stop(#[source] std::io::Error),
}

/// Runs the whole benchmark, telling `progress` where it is.
pub fn run(
    config: &BenchConfig,
    mut progress: impl FnMut(Progress<'_>),
) -> Result<BenchReport, BenchError> {
    let bad_rate = config
        .rate
        .is_some_and(|rate| !(rate > 0.0 && rate.is_finite()));
    if config.receipts_per_claim == 0 || config.devices < 4 || config.duration_secs == 0 || bad_rate
    {
        return Err(BenchError::Config);
    }
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let raw = Duration::from_secs(config.raw_seconds.max(1));
    progress(Progress::MeasuringVerify { cores });
    let raw_verify = raw::batch_verify_rate(cores, raw);
    progress(Progress::Verified {
        signatures_per_sec: raw_verify,
    });
    progress(Progress::MeasuringSled);
    let raw_sled = raw::sled_write_rate(raw)?;
    progress(Progress::SledWritten {
        writes_per_sec: raw_sled,
    });

    let per_claim = config.receipts_per_claim;
    let signatures_per_receipt = 1.0 + 1.0 / per_claim as f64;
    let verify_bound = raw_verify / signatures_per_receipt;
    let offered = config.rate.unwrap_or(verify_bound);
    let target_receipts = (offered * config.duration_secs as f64) as usize;
    let claims_total = target_receipts.div_ceil(per_claim).max(1);

    let devices = claims::devices(config.devices);
    let authority = claims::authority();
    let device_accounts: Vec<_> = devices.iter().map(Keypair::account).collect();
    let now = now_ms();
    let genesis = presets::bench(
        &authority,
        &device_accounts,
        per_claim as u64,
        config.block_time_ms,
        now - now % config.block_time_ms.max(1),
    )?;
    let spec = ChainSpec::new(genesis)?;

    progress(Progress::Signing {
        claims: claims_total,
        receipts_per_claim: per_claim,
        signatures: claims_total * (per_claim + 1),
    });
    let plan = claims::sign_claims(
        &devices,
        per_claim,
        claims_total,
        &spec.genesis_hash(),
        cores,
    );

    let temp = tempfile::Builder::new()
        .prefix("bwchain-bench-")
        .tempdir()?;
    let bench_dir = config
        .data_dir
        .clone()
        .unwrap_or_else(|| temp.path().to_path_buf());
    let measured = run_node_and_load(config, spec, authority, plan, &bench_dir, &mut progress)?;
    Ok(BenchReport {
        cores,
        raw_verify_sigs_per_s: raw_verify,
        raw_batch_verify_per_sec: raw_verify,
        raw_sled_writes_per_sec: raw_sled,
        signatures_per_receipt,
        verify_bound,
        verify_bound_receipts_per_sec: verify_bound,
        ratio_to_verify_bound: measured.receipts_per_sec / verify_bound,
        generator_peak_rss_bytes: process::peak_rss_bytes("/proc/self/status"),
        ..measured
    })
}

/// Starts the node process, submits `plan`, waits for every claim's
/// inclusion, stops the node and audits its data directory. The raw rates
/// and the verify bound are left at 0 for the caller.
fn run_node_and_load(
    config: &BenchConfig,
    spec: ChainSpec,
    authority: Keypair,
    plan: ClaimPlan,
    bench_dir: &Path,
    progress: &mut impl FnMut(Progress<'_>),
) -> Result<BenchReport, BenchError> {
    std::fs::create_dir_all(bench_dir)?;
    let genesis_file = bench_dir.join("genesis.json");
    let key_file = bench_dir.join("authority.json");
    let data_dir = bench_dir.join("node");
    std::fs::write(
        &genesis_file,
        serde_json::to_string_pretty(&spec.genesis)? + "\n",
    )?;
    files::write_key_file(&key_file, &authority, true)?;
    let node = NodeProcess::start(&NodeFiles {
        program: &config.node_program,
        genesis: &genesis_file,
        key: &key_file,
        data: &data_dir,
        log: &bench_dir.join("node.log"),
        mempool: MEMPOOL,
    })?;
    let disk_before = process::dir_bytes(&data_dir);
    let url = node.url.clone();

    let observer = Observer::start(&url)?;
    progress(Progress::Submitting {
        claims: plan.claims,
        connections: config.connections,
        url: &url,
    });
    let cpu_before = node.cpu_seconds();
    let shape = LoadShape {
        connections: config.connections,
        per_batch: (RECEIPTS_PER_BATCH / config.receipts_per_claim)
            .clamp(CLAIMS_PER_BATCH.0, CLAIMS_PER_BATCH.1),
        single: config.single,
        json_bodies: config.json_bodies,
        receipts_per_claim: config.receipts_per_claim,
        rate: config.rate,
    };
    let (start, submitted) = load::submit_all(&url, plan, shape)?;
    progress(Progress::Submitted {
        after: start.elapsed(),
    });
    let deadline = Instant::now() + INCLUSION_GRACE + Duration::from_secs(config.duration_secs * 4);
    observer.wait_for(&submitted, deadline)?;
    let (included, blocks) = observer.finish()?;
    let node_cpu_seconds = node.cpu_seconds() - cpu_before;
    let node_peak_rss_bytes = node.peak_rss_bytes();

    let seconds = observe::seconds_to_last_inclusion(&submitted, &included, start);
    let latencies = observe::latencies_ms(&submitted, &included);
    let claims = submitted.len();
    let receipts = claims * config.receipts_per_claim;

    node.stop()?;
    let disk_after = process::dir_bytes(&data_dir);
    progress(Progress::Auditing);
    let (audit, audit_ok, state_writes) =
        match crate::audit::audit_dir(&data_dir, Some(&genesis_file)) {
            Ok(report) => (
                format!(
                    "OK: {} blocks replayed, supply {} = genesis {} + minted {}",
                    report.blocks_checked,
                    report.total_supply,
                    report.genesis_supply,
                    report.minted
                ),
                true,
                report.state_changes,
            ),
            Err(err) => (format!("FAILED: {err}"), false, 0),
        };
    let receipts_per_sec = receipts as f64 / seconds.max(1e-9);
    let p50 = observe::percentile(&latencies, 0.50);
    let p99 = observe::percentile(&latencies, 0.99);
    Ok(BenchReport {
        cores: 0,
        raw_verify_sigs_per_s: 0.0,
        included_receipts_per_s: receipts_per_sec,
        verify_bound: 0.0,
        offered_receipts_per_s: config.rate,
        p50_inclusion_ms: p50,
        p99_inclusion_ms: p99,
        block_time_ms: config.block_time_ms,
        node_peak_rss_bytes,
        node_cpu_seconds,
        generator_peak_rss_bytes: 0,
        audit_ok,
        raw_batch_verify_per_sec: 0.0,
        raw_sled_writes_per_sec: 0.0,
        receipts_per_claim: config.receipts_per_claim,
        devices: config.devices,
        claims,
        receipts,
        seconds,
        receipts_per_sec,
        signatures_per_receipt: 0.0,
        state_writes_per_receipt: state_writes as f64 / receipts.max(1) as f64,
        verify_bound_receipts_per_sec: 0.0,
        ratio_to_verify_bound: 0.0,
        latency_p50_ms: p50,
        latency_p99_ms: p99,
        peak_rss_mib: node_peak_rss_bytes as f64 / (1024.0 * 1024.0),
        disk_bytes_per_receipt: disk_after.saturating_sub(disk_before) as f64
            / receipts.max(1) as f64,
        blocks,
        audit,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_a_config_it_cannot_measure() {
        let config = BenchConfig {
            duration_secs: 1,
            devices: 4,
            receipts_per_claim: 1,
            block_time_ms: 100,
            raw_seconds: 1,
            connections: 1,
            single: false,
            json_bodies: false,
            data_dir: None,
            node_program: PathBuf::from("/nonexistent/bwchain"),
            rate: None,
        };
        for bad in [
            BenchConfig {
                receipts_per_claim: 0,
                ..config.clone()
            },
            BenchConfig {
                devices: 3,
                ..config.clone()
            },
            BenchConfig {
                duration_secs: 0,
                ..config.clone()
            },
            BenchConfig {
                rate: Some(0.0),
                ..config
            },
        ] {
            let mut events = 0;
            let err = run(&bad, |_| events += 1).unwrap_err();
            assert!(matches!(err, BenchError::Config), "{err}");
            assert_eq!(events, 0, "nothing is measured");
        }
    }
}
