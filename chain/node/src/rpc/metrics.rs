//! `GET /metrics`: Prometheus text.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::{ApiResult, Backend};

pub(super) async fn metrics(State(backend): State<Backend>) -> ApiResult<Response> {
    let status = backend.status();
    let supply = backend.supply()?;
    let c = backend.metrics();
    let count = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
    let since_start = "since this node started";
    let table: Vec<(&str, &str, String, u64)> = vec![
        (
            "bwchain_height",
            "gauge",
            "Height of the head block.".into(),
            status.head.height,
        ),
        (
            "bwchain_finalized_height",
            "gauge",
            "Height of the finalized block.".into(),
            status.finalized.height,
        ),
        (
            "bwchain_mempool_txs",
            "gauge",
            "Pending transactions.".into(),
            status.mempool as u64,
        ),
        (
            "bwchain_peers",
            "gauge",
            "Connected peers.".into(),
            status.peers.len() as u64,
        ),
        (
            "bwchain_total_supply",
            "gauge",
            "Total token supply.".into(),
            supply.total_supply,
        ),
        (
            "bwchain_minted_total",
            "gauge",
            "Tokens minted since genesis.".into(),
            supply.minted,
        ),
        (
            "bwchain_blocks_produced_total",
            "counter",
            format!("Blocks this node proposed {since_start}."),
            count(&c.blocks_produced),
        ),
        (
            "bwchain_blocks_imported_total",
            "counter",
            format!("Blocks imported from peers {since_start}."),
            count(&c.blocks_imported),
        ),
        (
            "bwchain_reorgs_total",
            "counter",
            format!("Switches to a better branch {since_start}."),
            count(&c.reorgs),
        ),
        (
            "bwchain_txs_included_total",
            "counter",
            format!("Transactions in blocks added to the chain {since_start}."),
            count(&c.txs_included),
        ),
        (
            "bwchain_receipts_included_total",
            "counter",
            format!("Receipts in blocks added to the chain {since_start}."),
            count(&c.receipts_included),
        ),
        (
            "bwchain_bytes_credited_total",
            "counter",
            format!("Bytes credited in blocks added to the chain {since_start}."),
            count(&c.bytes_credited),
        ),
        (
            "bwchain_bytes_forfeited_total",
            "counter",
            format!("Bytes forfeited to capacity budgets {since_start}."),
            count(&c.bytes_forfeited),
        ),
        (
            "bwchain_txs_accepted_total",
            "counter",
            "Transactions admitted to the mempool.".into(),
            count(&c.txs_accepted),
        ),
        (
            "bwchain_txs_refused_total",
            "counter",
            "Transactions refused on submission.".into(),
            count(&c.txs_refused),
        ),
        (
            "bwchain_txs_dropped_total",
            "counter",
            "Pending transactions dropped because they became invalid.".into(),
            count(&c.txs_dropped),
        ),
        (
            "bwchain_outbound_dropped_total",
            "counter",
            "Peer messages dropped because the outbound queue was full.".into(),
            count(&c.outbound_dropped),
        ),
        (
            "bwchain_finalized_slot",
            "gauge",
            "Slot of the finalized checkpoint.".into(),
            status.finalized_checkpoint.slot,
        ),
        (
            "bwchain_justified_height",
            "gauge",
            "Height of the highest justified checkpoint's block.".into(),
            status.justified.height,
        ),
        (
            "bwchain_justified_slot",
            "gauge",
            "Slot of the highest justified checkpoint.".into(),
            status.justified.slot,
        ),
        (
            "bwchain_finality_lag_blocks",
            "gauge",
            "Blocks between the head and the finalized block.".into(),
            status.head.height.saturating_sub(status.finalized.height),
        ),
        (
            "bwchain_safety_fault",
            "gauge",
            "1 when a certificate conflicts with the finalized block (voting stopped).".into(),
            u64::from(status.safety_fault),
        ),
        (
            "bwchain_votes_sent_total",
            "counter",
            format!("Finality votes this node signed and sent {since_start}."),
            count(&c.votes_sent),
        ),
        (
            "bwchain_votes_received_total",
            "counter",
            format!("New finality votes received from peers {since_start}."),
            count(&c.votes_received),
        ),
        (
            "bwchain_votes_relayed_total",
            "counter",
            format!("Finality votes relayed to peers {since_start}."),
            count(&c.votes_relayed),
        ),
        (
            "bwchain_votes_invalid_total",
            "counter",
            format!("Badly signed or malformed votes received {since_start}."),
            count(&c.votes_invalid),
        ),
        (
            "bwchain_evidence_blocks",
            "gauge",
            "Recorded equivocations of blocks (two headers for one slot).".into(),
            backend.evidence()?.len() as u64,
        ),
        (
            "bwchain_evidence_votes",
            "gauge",
            "Recorded slashable vote pairs (double and surround votes).".into(),
            backend.vote_evidence()?.len() as u64,
        ),
    ];
    let mut out = String::new();
    for (name, kind, help, value) in table {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
        );
    }
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response())
}
