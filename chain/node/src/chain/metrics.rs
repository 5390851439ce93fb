//! Counters and histograms of what the node did, exported by `GET /metrics`
//! (which adds gauges read from the chain's state at scrape time).
//!
//! They live in a `prometheus` [`Registry`] of their own, one per node, so
//! many nodes in one process (the simulation) keep separate counts.

use prometheus::{Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry};

use bwchain_core::execute::ExecutedBlock;

use super::*;

/// Buckets of block build, import and commit times, in seconds: a block
/// takes from a millisecond (empty) to seconds (thousands of claims).
const BLOCK_SECONDS_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Buckets of submission-to-inclusion times, in seconds: from the next
/// block (a fraction of a slot) to a backlog of many slots.
const INCLUSION_SECONDS_BUCKETS: &[f64] =
    &[0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0];

/// Submission times of pending transactions are forgotten past this many
/// (those evicted or dropped without being included), so the map stays
/// bounded whatever happens to the mempool.
const MAX_TRACKED_SUBMISSIONS: usize = 100_000;

/// The node's counters and histograms. All are `_total` counters or
/// `_seconds` histograms in base units; names are in [`Metrics::new`].
#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Registry,
    pub blocks_produced: IntCounter,
    pub blocks_imported: IntCounter,
    /// Blocks from peers (or held ones) found invalid.
    pub blocks_rejected: IntCounter,
    pub reorgs: IntCounter,
    pub txs_included: IntCounter,
    pub receipts_included: IntCounter,
    pub bytes_credited: IntCounter,
    pub bytes_forfeited: IntCounter,
    pub tokens_minted: IntCounter,
    pub txs_admitted: IntCounter,
    /// By `reason` (see [`SubmitError::reason`]).
    pub txs_rejected: IntCounterVec,
    pub txs_dropped: IntCounter,
    pub outbound_dropped: IntCounter,
    pub votes_sent: IntCounter,
    pub votes_received: IntCounter,
    pub votes_relayed: IntCounter,
    pub votes_invalid: IntCounter,
    pub evidence_votes: IntCounter,
    /// Pending transactions evicted to make room for a quieter sender.
    pub txs_evicted: IntCounter,
    /// Submissions refused from the cache of recent refusals.
    pub txs_refused_cached: IntCounter,
    /// API submissions held until the mempool's backlog shrank.
    pub submissions_held: IntCounter,
    /// 1 once another node was seen signing with this node's key.
    pub doppelganger: IntGauge,
    pub block_build_seconds: Histogram,
    pub block_import_seconds: Histogram,
    pub block_commit_seconds: Histogram,
    pub tx_inclusion_seconds: Histogram,
    /// When each pending transaction was first admitted (ms), for
    /// `tx_inclusion_seconds`.
    submitted_ms: Arc<Mutex<HashMap<Hash, u64>>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let counter = |name: &str, help: &str| {
            let counter = IntCounter::with_opts(Opts::new(name, help))
                .expect("a valid counter name and help");
            registry
                .register(Box::new(counter.clone()))
                .expect("each metric is registered once");
            counter
        };
        let histogram = |name: &str, help: &str, buckets: &[f64]| {
            let histogram =
                Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets.to_vec()))
                    .expect("a valid histogram");
            registry
                .register(Box::new(histogram.clone()))
                .expect("each metric is registered once");
            histogram
        };
        let txs_rejected = IntCounterVec::new(
            Opts::new(
                "bwchain_txs_rejected_total",
                "Transactions refused on submission, by reason.",
            ),
            &["reason"],
        )
        .expect("a valid counter family");
        registry
            .register(Box::new(txs_rejected.clone()))
            .expect("each metric is registered once");
        Self {
            blocks_produced: counter(
                "bwchain_blocks_produced_total",
                "Blocks this node proposed since it started.",
            ),
            blocks_imported: counter(
                "bwchain_blocks_imported_total",
                "Blocks from peers added to the chain since this node started.",
            ),
            blocks_rejected: counter(
                "bwchain_blocks_rejected_total",
                "Blocks found invalid since this node started.",
            ),
            reorgs: counter(
                "bwchain_reorgs_total",
                "Switches to a better branch since this node started.",
            ),
            txs_included: counter(
                "bwchain_txs_included_total",
                "Transactions in blocks added to the chain since this node started.",
            ),
            receipts_included: counter(
                "bwchain_receipts_included_total",
                "Receipts in blocks added to the chain since this node started.",
            ),
            bytes_credited: counter(
                "bwchain_credited_bytes_total",
                "Bytes credited to providers in blocks added since this node started.",
            ),
            bytes_forfeited: counter(
                "bwchain_forfeited_bytes_total",
                "Bytes forfeited to capacity budgets in blocks added since this node started.",
            ),
            tokens_minted: counter(
                "bwchain_minted_tokens_total",
                "Tokens minted by blocks added to the chain since this node started.",
            ),
            txs_admitted: counter(
                "bwchain_txs_admitted_total",
                "Transactions admitted to the mempool (or already pending) on submission.",
            ),
            txs_rejected,
            txs_dropped: counter(
                "bwchain_txs_dropped_total",
                "Pending transactions dropped because they became invalid.",
            ),
            outbound_dropped: counter(
                "bwchain_outbound_dropped_total",
                "Peer messages dropped because the outbound queue was full.",
            ),
            votes_sent: counter(
                "bwchain_votes_sent_total",
                "Finality votes this node signed and sent.",
            ),
            votes_received: counter(
                "bwchain_votes_received_total",
                "New finality votes received from peers.",
            ),
            votes_relayed: counter(
                "bwchain_votes_relayed_total",
                "Finality votes relayed to peers.",
            ),
            votes_invalid: counter(
                "bwchain_votes_invalid_total",
                "Badly signed or malformed votes received.",
            ),
            evidence_votes: counter(
                "bwchain_vote_evidence_recorded_total",
                "Slashable vote pairs recorded since this node started.",
            ),
            txs_evicted: counter(
                "bwchain_txs_evicted_total",
                "Pending transactions evicted from a full mempool to admit a sender with fewer pending.",
            ),
            txs_refused_cached: counter(
                "bwchain_txs_refused_cached_total",
                "Submissions refused at once because the same transaction was refused recently.",
            ),
            submissions_held: counter(
                "bwchain_submissions_held_total",
                "API submissions (requests) held until the mempool's backlog was below a few blocks of work.",
            ),
            doppelganger: {
                let gauge = IntGauge::with_opts(Opts::new(
                    "bwchain_doppelganger",
                    "1 once another node was seen signing with this node's authority key (signing stopped).",
                ))
                .expect("a valid gauge");
                registry
                    .register(Box::new(gauge.clone()))
                    .expect("each metric is registered once");
                gauge
            },
            block_build_seconds: histogram(
                "bwchain_block_build_seconds",
                "Time to build (execute) a block this node proposes.",
                BLOCK_SECONDS_BUCKETS,
            ),
            block_import_seconds: histogram(
                "bwchain_block_import_seconds",
                "Time to verify and execute a peer's block that extends the chain.",
                BLOCK_SECONDS_BUCKETS,
            ),
            block_commit_seconds: histogram(
                "bwchain_block_commit_seconds",
                "Time to make a block and its state changes durable in the store (a large block's entries are then applied in the background; this includes waiting for the previous block's).",
                BLOCK_SECONDS_BUCKETS,
            ),
            tx_inclusion_seconds: histogram(
                "bwchain_tx_inclusion_seconds",
                "Time from a transaction's admission by this node to its inclusion in a block.",
                INCLUSION_SECONDS_BUCKETS,
            ),
            submitted_ms: Arc::default(),
            registry,
        }
    }

    /// The node's counters and histograms, for `GET /metrics`.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Counts a refused submission under its reason.
    pub(super) fn rejected(&self, error: &SubmitError) {
        self.txs_rejected.with_label_values(&[error.reason()]).inc();
    }

    /// Remembers when a transaction was first admitted.
    pub(super) fn submitted(&self, hash: Hash, now_ms: u64) {
        let mut submitted = lock(&self.submitted_ms);
        if submitted.len() >= MAX_TRACKED_SUBMISSIONS {
            submitted.clear();
        }
        submitted.entry(hash).or_insert(now_ms);
    }

    /// Observes the submission-to-inclusion time of the transactions this
    /// node admitted that a block now includes.
    pub(super) fn included(&self, tx_hashes: &[Hash], now_ms: u64) {
        let mut submitted = lock(&self.submitted_ms);
        for hash in tx_hashes {
            if let Some(at) = submitted.remove(hash) {
                self.tx_inclusion_seconds
                    .observe(now_ms.saturating_sub(at) as f64 / 1000.0);
            }
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Node {
    /// Counts what a block added to the chain at `now_ms` carried.
    pub(super) fn record_block(&self, executed: &ExecutedBlock, now_ms: u64) {
        let metrics = self.metrics();
        metrics.txs_included.inc_by(executed.txs.len() as u64);
        metrics.tokens_minted.inc_by(executed.minted);
        metrics.included(&executed.tx_hashes, now_ms);
        for outcome in &executed.outcomes {
            if let TxOutcome::Claim { receipts, .. } = outcome {
                metrics.receipts_included.inc_by(receipts.len() as u64);
                for receipt in receipts {
                    metrics.bytes_credited.inc_by(receipt.credited_bytes);
                    metrics.bytes_forfeited.inc_by(receipt.forfeited_bytes);
                }
            }
        }
    }
}
