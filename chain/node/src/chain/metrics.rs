//! Counters of what the node did, exported by `GET /metrics`.

use std::sync::atomic::AtomicU64;

use super::*;

/// Counters exported by `GET /metrics`.
#[derive(Debug, Default)]
pub struct Metrics {
    pub blocks_produced: AtomicU64,
    pub blocks_imported: AtomicU64,
    pub reorgs: AtomicU64,
    pub txs_included: AtomicU64,
    pub receipts_included: AtomicU64,
    pub bytes_credited: AtomicU64,
    pub bytes_forfeited: AtomicU64,
    pub tokens_minted: AtomicU64,
    pub txs_accepted: AtomicU64,
    pub txs_refused: AtomicU64,
    pub txs_dropped: AtomicU64,
    /// Pending transactions evicted to make room for a quieter sender.
    pub txs_evicted: AtomicU64,
    /// Submissions refused from the cache of recent refusals.
    pub txs_refused_cached: AtomicU64,
    pub outbound_dropped: AtomicU64,
    pub votes_sent: AtomicU64,
    pub votes_received: AtomicU64,
    pub votes_relayed: AtomicU64,
    pub votes_invalid: AtomicU64,
    pub evidence_votes: AtomicU64,
    /// 1 once another node was seen signing with this node's key.
    pub doppelganger: AtomicU64,
}

impl Node {
    pub(super) fn record_block(&self, txs: &[Tx], outcomes: &[TxOutcome], minted: u64) {
        let metrics = self.metrics();
        metrics
            .txs_included
            .fetch_add(txs.len() as u64, Ordering::Relaxed);
        metrics.tokens_minted.fetch_add(minted, Ordering::Relaxed);
        for outcome in outcomes {
            if let TxOutcome::Claim { receipts, .. } = outcome {
                metrics
                    .receipts_included
                    .fetch_add(receipts.len() as u64, Ordering::Relaxed);
                for receipt in receipts {
                    metrics
                        .bytes_credited
                        .fetch_add(receipt.credited_bytes, Ordering::Relaxed);
                    metrics
                        .bytes_forfeited
                        .fetch_add(receipt.forfeited_bytes, Ordering::Relaxed);
                }
            }
        }
    }
}
