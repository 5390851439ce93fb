//! `bwchain bench`: how many receipts per second a real node includes,
//! against what this machine can do at most.
//!
//! 1. Raw rates, measured first in the same run: ed25519 batch verification
//!    (`ed25519_dalek::verify_batch`) on all cores, and sled `apply_batch` of
//!    small records on one thread.
//! 2. A real node (the same `Node` as `bwchain node`: sled on disk, HTTP API
//!    on loopback, one authority) with thousands of registered devices.
//! 3. A load generator that pre-signs claims (consumers sign receipts,
//!    providers sign claims), then submits them over the HTTP API in batches
//!    (`POST /txs/batch`) from several connections, and waits until every
//!    claim is included and committed.
//!
//! The *verify bound* is the raw batch-verify rate divided by the signatures
//! per receipt (1 + 1/receipts-per-claim). The report compares the included
//! rate with it. Nothing here is a test: it measures and prints.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use bwchain_core::genesis::{Balances, ChainSpec, Genesis, MAX_BLOCK_BYTES, RECEIPT_ENCODED_BYTES};
use bwchain_core::mempool::MempoolLimits;
use bwchain_core::primitives::{
    hash,
    signing::{self, Keypair},
};
use bwchain_core::primitives::{Hash, Tx, TxBody};
use bwchain_node::clock::now_ms;
use bwchain_node::launch::{self, LaunchConfig};
use serde::Serialize;

/// Measure included receipts per second against this machine's raw limits.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  \
    bwchain bench --receipts-per-claim 64\n  \
    bwchain bench --receipts-per-claim 1 --devices 4096 --duration 10 --json")]
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
    /// Data directory for the node (default: a temporary one, removed after).
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// What the benchmark measured.
#[derive(Debug, Serialize)]
pub struct BenchReport {
    pub cores: usize,
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

pub fn run(args: BenchArgs) -> Result<()> {
    if args.receipts_per_claim == 0 || args.devices < 4 || args.duration == 0 {
        bail!("need --receipts-per-claim >= 1, --devices >= 4 and --duration >= 1");
    }
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let raw = Duration::from_secs(args.raw_seconds.max(1));
    eprintln!("measuring raw ed25519 batch verification on {cores} cores...");
    let raw_verify = raw_batch_verify_rate(cores, raw);
    eprintln!("  {raw_verify:.0} signatures/s");
    eprintln!("measuring raw sled batch writes...");
    let raw_sled = raw_sled_write_rate(raw)?;
    eprintln!("  {raw_sled:.0} writes/s");

    let per_claim = args.receipts_per_claim;
    let signatures_per_receipt = 1.0 + 1.0 / per_claim as f64;
    let verify_bound = raw_verify / signatures_per_receipt;
    let target_receipts = (verify_bound * args.duration as f64) as usize;
    let claims_total = target_receipts.div_ceil(per_claim).max(1);

    let devices: Vec<Keypair> = (0..args.devices)
        .map(|i| Keypair::from_seed(hash::sha256(format!("bench-device-{i}").as_bytes()).0))
        .collect();
    let authority = Keypair::from_seed(hash::sha256(b"bench-authority").0);
    let genesis = bench_genesis(&authority, &devices, per_claim, args.block_time_ms)?;
    let spec = ChainSpec::new(genesis)?;
    let genesis_hash = spec.genesis_hash();

    eprintln!(
        "pre-signing {claims_total} claims of {per_claim} receipts ({} signatures)...",
        claims_total * (per_claim + 1)
    );
    let plan = sign_claims(&devices, per_claim, claims_total, &genesis_hash, cores);

    let temp = tempfile::Builder::new()
        .prefix("bwchain-bench-")
        .tempdir()?;
    let data_dir = args
        .data
        .clone()
        .unwrap_or_else(|| temp.path().join("node"));
    let report = run_node_and_load(&args, spec, authority, plan, &data_dir)?;
    let report = BenchReport {
        cores,
        raw_batch_verify_per_sec: raw_verify,
        raw_sled_writes_per_sec: raw_sled,
        verify_bound_receipts_per_sec: verify_bound,
        ratio_to_verify_bound: report.receipts_per_sec / verify_bound,
        signatures_per_receipt,
        ..report
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_table(&report);
    }
    Ok(())
}

fn print_table(r: &BenchReport) {
    let rows: Vec<(&str, String)> = vec![
        (
            "raw batch verify, all cores",
            format!(
                "{:.0} signatures/s ({} cores)",
                r.raw_batch_verify_per_sec, r.cores
            ),
        ),
        (
            "raw sled batch writes",
            format!("{:.0} writes/s (1 thread)", r.raw_sled_writes_per_sec),
        ),
        ("receipts per claim", r.receipts_per_claim.to_string()),
        ("devices", r.devices.to_string()),
        (
            "claims / receipts included",
            format!("{} / {}", r.claims, r.receipts),
        ),
        (
            "signatures per receipt",
            format!("{:.3}", r.signatures_per_receipt),
        ),
        (
            "state writes per receipt",
            format!("{:.2}", r.state_writes_per_receipt),
        ),
        (
            "verify bound",
            format!("{:.0} receipts/s", r.verify_bound_receipts_per_sec),
        ),
        (
            "included",
            format!(
                "{:.0} receipts/s in {:.1} s, {} blocks",
                r.receipts_per_sec, r.seconds, r.blocks
            ),
        ),
        (
            "ratio to verify bound",
            format!("{:.3}", r.ratio_to_verify_bound),
        ),
        (
            "submission to inclusion",
            format!(
                "p50 {:.0} ms, p99 {:.0} ms",
                r.latency_p50_ms, r.latency_p99_ms
            ),
        ),
        (
            "peak RSS (node + generator)",
            format!("{:.0} MiB", r.peak_rss_mib),
        ),
        (
            "disk per receipt",
            format!("{:.0} bytes", r.disk_bytes_per_receipt),
        ),
        ("audit", r.audit.clone()),
    ];
    let width = rows.iter().map(|(name, _)| name.len()).max().unwrap_or(0);
    for (name, value) in rows {
        println!("{name:width$}  {value}");
    }
}

/// Signatures per second of `ed25519_dalek::verify_batch` over 256-item
/// batches of distinct keys, one thread per core.
fn raw_batch_verify_rate(cores: usize, duration: Duration) -> f64 {
    use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
    const BATCH: usize = 256;
    let keys: Vec<SigningKey> = (0..BATCH)
        .map(|i| SigningKey::from_bytes(&hash::sha256(format!("raw-{i}").as_bytes()).0))
        .collect();
    let messages: Vec<Vec<u8>> = (0..BATCH)
        .map(|i| format!("message {i}").into_bytes())
        .collect();
    let signatures: Vec<ed25519_dalek::Signature> =
        keys.iter().zip(&messages).map(|(k, m)| k.sign(m)).collect();
    let verifying: Vec<VerifyingKey> = keys.iter().map(SigningKey::verifying_key).collect();
    let start = Instant::now();
    let total: usize = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..cores)
            .map(|_| {
                scope.spawn(|| {
                    let refs: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
                    let mut done = 0;
                    while start.elapsed() < duration {
                        ed25519_dalek::verify_batch(&refs, &signatures, &verifying)
                            .expect("valid batch");
                        done += BATCH;
                    }
                    done
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap_or(0)).sum()
    });
    total as f64 / start.elapsed().as_secs_f64()
}

/// Small records per second through sled `apply_batch` (1,000 per batch),
/// flushed at the end, on one thread.
fn raw_sled_write_rate(duration: Duration) -> Result<f64> {
    let dir = tempfile::tempdir()?;
    let db = sled::Config::new().path(dir.path()).open()?;
    let start = Instant::now();
    let mut written: u64 = 0;
    while start.elapsed() < duration {
        let mut batch = sled::Batch::default();
        for _ in 0..1000 {
            let key = hash::sha256(&written.to_le_bytes());
            batch.insert(&key.0[..], &[7u8; 48][..]);
            written += 1;
        }
        db.apply_batch(batch)?;
    }
    db.flush()?;
    Ok(written as f64 / start.elapsed().as_secs_f64())
}

fn bench_genesis(
    authority: &Keypair,
    devices: &[Keypair],
    per_claim: usize,
    block_time_ms: u64,
) -> Result<Genesis> {
    let now = now_ms();
    let mut genesis = bwchain_core::genesis::presets::dev_at(now - now % block_time_ms.max(1));
    genesis.chain_id = "bwchain-bench".into();
    genesis.block_time_ms = block_time_ms;
    genesis.authorities = vec![authority.account()];
    genesis.devices = devices.iter().map(Keypair::account).collect();
    genesis.balances = Balances([(authority.account(), 1_000_000_000)].into_iter().collect());
    // Budgets large enough that nothing is forfeited: the bench measures
    // throughput, not capacity limits.
    genesis.device_capacity_bytes_per_sec = 1 << 40;
    genesis.budget_window_secs = 1 << 20;
    genesis.max_receipts_per_claim = per_claim as u64;
    let per_tx = per_claim as u64 * RECEIPT_ENCODED_BYTES + 256;
    genesis.max_block_txs = (MAX_BLOCK_BYTES / per_tx).min(100_000);
    genesis.validate()?;
    Ok(genesis)
}

/// Pre-signed claims, grouped by provider (nonce order within each), with
/// their hashes and JSON.
struct Plan {
    /// For each provider, its claims in nonce order.
    by_provider: Vec<Vec<(Hash, Tx)>>,
    claims: usize,
}

fn sign_claims(
    devices: &[Keypair],
    per_claim: usize,
    claims_total: usize,
    genesis_hash: &Hash,
    threads: usize,
) -> Plan {
    let half = devices.len() / 2;
    let (providers, consumers) = devices.split_at(half);
    let providers_used = providers.len().min(claims_total).max(1);
    let results: Vec<Vec<(Hash, Tx)>> = std::thread::scope(|scope| {
        let chunk = providers_used.div_ceil(threads.max(1));
        let handles: Vec<_> = (0..providers_used)
            .collect::<Vec<_>>()
            .chunks(chunk)
            .map(|indices| {
                let indices = indices.to_vec();
                scope.spawn(move || {
                    indices
                        .into_iter()
                        .map(|p| {
                            let provider = &providers[p];
                            // Claims are spread evenly over providers.
                            let claims = claims_total / providers_used
                                + usize::from(p < claims_total % providers_used);
                            (0..claims)
                                .map(|nonce| {
                                    let receipts = (0..per_claim)
                                        .map(|r| {
                                            let c = (p * 7919 + nonce * per_claim + r)
                                                % consumers.len();
                                            consumers[c].sign_receipt(
                                                genesis_hash,
                                                provider.account(),
                                                nonce as u64,
                                                1 << 20,
                                            )
                                        })
                                        .collect();
                                    let tx = provider.sign_tx(
                                        genesis_hash,
                                        nonce as u64,
                                        TxBody::Claim { receipts },
                                    );
                                    (signing::tx_hash(genesis_hash, &tx), tx)
                                })
                                .collect::<Vec<_>>()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("signing thread"))
            .collect()
    });
    let claims = results.iter().map(Vec::len).sum();
    Plan {
        by_provider: results,
        claims,
    }
}

fn run_node_and_load(
    args: &BenchArgs,
    spec: ChainSpec,
    authority: Keypair,
    plan: Plan,
    data_dir: &std::path::Path,
) -> Result<BenchReport> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let running = runtime.block_on(launch::start(LaunchConfig {
        spec: spec.clone(),
        keypair: Some(authority),
        data_dir: data_dir.to_path_buf(),
        mempool: MempoolLimits {
            max_txs: 1_000_000,
            max_bytes: 1 << 30,
            max_per_sender: 1_000_000,
        },
        rpc: "127.0.0.1:0".into(),
        listen: None,
        peers: Vec::new(),
        max_peers: 0,
    }))?;
    let node = running.node.clone();
    let disk_before = node.store().size_on_disk()?;
    let url = format!("http://{}", running.rpc_addr);

    // Inclusion observer: when each tx was first seen in a committed block.
    let included: Arc<Mutex<HashMap<Hash, Instant>>> = Arc::default();
    let observer_done = Arc::new(AtomicBool::new(false));
    let observer = {
        let node = node.clone();
        let included = included.clone();
        let done = observer_done.clone();
        std::thread::spawn(move || -> Result<u64> {
            let mut seen_height = node.status().head.height;
            let start_height = seen_height;
            while !done.load(Ordering::Relaxed) {
                let head = node.status().head.height;
                while seen_height < head {
                    seen_height += 1;
                    if let Some(block) = node.store().block_at(seen_height)? {
                        let now = Instant::now();
                        let mut map = included.lock().expect("observer lock");
                        for hash in block.tx_hashes {
                            map.entry(hash).or_insert(now);
                        }
                    }
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            Ok(seen_height - start_height)
        })
    };

    eprintln!(
        "submitting {} claims over {} connections to {url}...",
        plan.claims, args.connections
    );
    let submitted: Arc<Mutex<HashMap<Hash, Instant>>> = Arc::default();
    let start = Instant::now();
    let per_batch = (2048 / args.receipts_per_claim).clamp(8, 1024);
    let connections = args.connections.max(1);
    let mut lanes: Vec<Vec<Vec<(Hash, Tx)>>> = (0..connections).map(|_| Vec::new()).collect();
    for (i, claims) in plan.by_provider.into_iter().enumerate() {
        lanes[i % connections].push(claims);
    }
    let senders: Vec<_> = lanes
        .into_iter()
        .map(|providers| {
            let url = url.clone();
            let submitted = submitted.clone();
            let per_batch = if args.single { 1 } else { per_batch };
            let single = args.single;
            std::thread::spawn(move || submit_lane(&url, providers, per_batch, single, &submitted))
        })
        .collect();
    for sender in senders {
        sender.join().expect("sender thread")?;
    }
    let total = submitted.lock().expect("submitted lock").len();
    eprintln!(
        "all submitted after {:.1} s; waiting for inclusion...",
        start.elapsed().as_secs_f64()
    );
    let deadline = Instant::now() + Duration::from_secs(120 + args.duration * 4);
    loop {
        let done = {
            let included = included.lock().expect("observer lock");
            let submitted = submitted.lock().expect("submitted lock");
            submitted
                .keys()
                .filter(|hash| included.contains_key(*hash))
                .count()
        };
        if done >= total {
            break;
        }
        if Instant::now() > deadline {
            bail!("only {done} of {total} claims were included before the deadline");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    observer_done.store(true, Ordering::Relaxed);
    let blocks = observer.join().expect("observer thread")?;

    let submitted = submitted.lock().expect("submitted lock");
    let included = included.lock().expect("observer lock");
    let last = submitted
        .keys()
        .filter_map(|hash| included.get(hash))
        .max()
        .copied()
        .unwrap_or(start);
    let seconds = last.duration_since(start).as_secs_f64();
    let mut latencies: Vec<f64> = submitted
        .iter()
        .filter_map(|(hash, sent)| {
            included
                .get(hash)
                .map(|at| at.saturating_duration_since(*sent).as_secs_f64() * 1000.0)
        })
        .collect();
    latencies.sort_by(f64::total_cmp);
    let percentile = |p: f64| -> f64 {
        if latencies.is_empty() {
            return 0.0;
        }
        let index = ((latencies.len() - 1) as f64 * p).round() as usize;
        latencies[index]
    };
    let receipts = total * args.receipts_per_claim;

    runtime
        .block_on(running.stop())
        .context("stopping the node")?;
    let disk_after = node.store().size_on_disk()?;
    eprintln!("auditing the chain...");
    let (audit, state_writes) = match bwchain_node::audit::audit(node.store(), &spec) {
        Ok(report) => (
            format!(
                "OK: {} blocks replayed, supply {} = genesis {} + minted {}",
                report.blocks_checked, report.total_supply, report.genesis_supply, report.minted
            ),
            report.state_changes,
        ),
        Err(err) => (format!("FAILED: {err}"), 0),
    };
    Ok(BenchReport {
        cores: 0,
        raw_batch_verify_per_sec: 0.0,
        raw_sled_writes_per_sec: 0.0,
        receipts_per_claim: args.receipts_per_claim,
        devices: args.devices,
        claims: total,
        receipts,
        seconds,
        receipts_per_sec: receipts as f64 / seconds.max(1e-9),
        signatures_per_receipt: 0.0,
        state_writes_per_receipt: state_writes as f64 / receipts.max(1) as f64,
        verify_bound_receipts_per_sec: 0.0,
        ratio_to_verify_bound: 0.0,
        latency_p50_ms: percentile(0.50),
        latency_p99_ms: percentile(0.99),
        peak_rss_mib: peak_rss_mib(),
        disk_bytes_per_receipt: disk_after.saturating_sub(disk_before) as f64
            / receipts.max(1) as f64,
        blocks,
        audit,
    })
}

/// Sends one lane's claims in batches, every provider's claims in nonce order.
fn submit_lane(
    url: &str,
    providers: Vec<Vec<(Hash, Tx)>>,
    per_batch: usize,
    single: bool,
    submitted: &Mutex<HashMap<Hash, Instant>>,
) -> Result<()> {
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .new_agent();
    let endpoint = if single {
        format!("{url}/txs")
    } else {
        format!("{url}/txs/batch")
    };
    // Round-robin over providers: claim k of every provider before claim k+1.
    let longest = providers.iter().map(Vec::len).max().unwrap_or(0);
    let mut queue: Vec<(Hash, Tx)> = Vec::new();
    for k in 0..longest {
        for claims in &providers {
            if let Some(claim) = claims.get(k) {
                queue.push(claim.clone());
            }
        }
    }
    for chunk in queue.chunks(per_batch) {
        let body = if single {
            serde_json::to_vec(&chunk[0].1)?
        } else {
            serde_json::to_vec(&chunk.iter().map(|(_, tx)| tx).collect::<Vec<_>>())?
        };
        let sent_at = Instant::now();
        let mut response = agent
            .post(&endpoint)
            .header("content-type", "application/json")
            .send(&body[..])
            .with_context(|| format!("POST {endpoint}"))?;
        let status = response.status().as_u16();
        let answer: serde_json::Value = response
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .read_json()?;
        // The bench node's pool limits are far above the load, so any
        // refusal (even "pool full") means the measurement is off.
        let refused = if single {
            (status != 202).then(|| answer.clone())
        } else {
            let results = answer["results"]
                .as_array()
                .with_context(|| format!("unexpected answer: {answer}"))?;
            results.iter().find(|r| r["error"].is_string()).cloned()
        };
        if let Some(refused) = refused {
            bail!("the node refused a benchmark claim: {refused}");
        }
        let mut map = submitted.lock().expect("submitted lock");
        for (hash, _) in chunk {
            map.insert(*hash, sent_at);
        }
    }
    Ok(())
}

/// The process's peak resident set, from /proc (0 where unavailable).
fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("VmHWM:"))
                .and_then(|line| line.split_whitespace().nth(1))
                .and_then(|kib| kib.parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0)
}
