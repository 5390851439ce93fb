//! `GET /metrics`: the Prometheus text format (0.0.4), encoded by the
//! `prometheus` crate.
//!
//! Three sources: the node's counters and histograms (kept in
//! [`Metrics`](crate::chain::Metrics)), gauges read from the chain's state
//! now, and the `process_*` metrics of this process (Linux).

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use prometheus::{Encoder, Gauge, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder};

use super::{blocking, ApiError, ApiResult, Backend};

/// The version and commit this node was built from.
pub(super) const VERSION: &str = env!("CARGO_PKG_VERSION");
pub(super) const COMMIT: &str = env!("BWCHAIN_COMMIT");

pub(super) async fn metrics(State(backend): State<Backend>) -> ApiResult<Response> {
    // Reading the store (evidence, activity, size) is blocking I/O.
    let text = blocking(move || render(&*backend)).await??;
    Ok((
        [(header::CONTENT_TYPE, TextEncoder::new().format_type())],
        text,
    )
        .into_response())
}

/// The whole exposition, as text.
fn render(backend: &dyn crate::chain::ApiBackend) -> ApiResult<String> {
    let now = Registry::new();
    let gauges = Gauges(&now);
    let status = backend.status();
    let spec = backend.spec();
    let supply = backend.supply()?;

    let build = gauges.labelled(
        "bwchain_build_info",
        "The version and git commit this node was built from (always 1).",
        &["version", "commit"],
    );
    build.with_label_values(&[VERSION, COMMIT]).set(1);

    let head = &status.head;
    gauges.int(
        "bwchain_head_height",
        "Height of the head block.",
        head.height,
    );
    gauges.int("bwchain_head_slot", "Slot of the head block.", head.slot);
    gauges.float(
        "bwchain_head_timestamp_seconds",
        "Timestamp of the head block (Unix time).",
        head.timestamp_ms as f64 / 1000.0,
    );
    gauges.float(
        "bwchain_head_age_seconds",
        "Time from the head block's timestamp to now.",
        status.liveness.head_age_ms as f64 / 1000.0,
    );
    gauges.int(
        "bwchain_slots_since_head",
        "Slots started since the head block's slot.",
        status.liveness.slots_since_head,
    );
    gauges.int(
        "bwchain_stalled",
        "1 when no block came for more than bwchain_stall_after_slots slots and no peer is ahead.",
        u64::from(status.liveness.stalled),
    );
    gauges.int(
        "bwchain_stall_after_slots",
        "Slots without a block after which a node is behind the clock.",
        crate::chain::stall_after_slots(spec.genesis.authorities.len()),
    );
    gauges.int(
        "bwchain_syncing",
        "1 while the node is behind its best peer or behind the clock.",
        u64::from(status.syncing),
    );
    gauges.int(
        "bwchain_finalized_height",
        "Height of the finalized block.",
        status.finalized.height,
    );
    gauges.int(
        "bwchain_finalized_slot",
        "Slot of the finalized checkpoint.",
        status.finalized_checkpoint.slot,
    );
    gauges.int(
        "bwchain_justified_height",
        "Height of the highest justified checkpoint's block.",
        status.justified.height,
    );
    gauges.int(
        "bwchain_justified_slot",
        "Slot of the highest justified checkpoint.",
        status.justified.slot,
    );
    gauges.int(
        "bwchain_finality_lag_blocks",
        "Blocks between the head and the finalized block.",
        head.height.saturating_sub(status.finalized.height),
    );
    gauges.int(
        "bwchain_safety_fault",
        "1 when a certificate conflicts with the finalized block (voting stopped).",
        u64::from(status.safety_fault),
    );
    gauges.int(
        "bwchain_peers",
        "Connected peers.",
        status.peers.len() as u64,
    );
    gauges.int(
        "bwchain_mempool_txs",
        "Pending transactions.",
        status.mempool as u64,
    );
    gauges.int(
        "bwchain_mempool_bytes",
        "Approximate encoded size of the pending transactions.",
        status.mempool_bytes as u64,
    );
    gauges.int(
        "bwchain_supply_tokens",
        "Total token supply.",
        supply.total_supply,
    );
    gauges.int(
        "bwchain_supply_minted_tokens",
        "Tokens minted since genesis on the chosen chain.",
        supply.minted,
    );
    gauges.int(
        "bwchain_store_size_bytes",
        "Size of the node's store on disk.",
        backend.store_size_bytes()?,
    );

    let evidence = gauges.labelled(
        "bwchain_evidence",
        "Recorded offences by kind: block (two headers for one slot), double_vote, surround_vote.",
        &["kind"],
    );
    let mut by_kind: BTreeMap<&str, u64> = ["block", "double_vote", "surround_vote"]
        .into_iter()
        .map(|kind| (kind, 0))
        .collect();
    *by_kind.entry("block").or_default() += backend.evidence()?.len() as u64;
    for offence in backend.vote_evidence()? {
        *by_kind.entry(offence.offence.kind()).or_default() += 1;
    }
    for (kind, count) in by_kind {
        evidence.with_label_values(&[kind]).set(to_i64(count));
    }

    let last_slot = gauges.labelled(
        "bwchain_authority_last_slot",
        "Slot of each authority's latest block among the last 512 blocks of the chain.",
        &["authority"],
    );
    let missed = gauges.labelled(
        "bwchain_authority_missed_slots",
        "Slots of each authority since its latest block that passed without one \
         (counted from genesis when it has none among the last 512 blocks).",
        &["authority"],
    );
    let authorities = spec.genesis.authorities.len() as u64;
    let current_slot = head.slot.saturating_add(status.liveness.slots_since_head);
    for entry in backend.authority_activity()? {
        let Some(index) = spec
            .genesis
            .authorities
            .iter()
            .position(|authority| *authority == entry.authority)
        else {
            continue;
        };
        let name = entry.authority.to_hex();
        let from = match entry.last_block {
            Some((_, slot, _)) => {
                last_slot.with_label_values(&[&name]).set(to_i64(slot));
                slot.saturating_add(1)
            }
            None => 0,
        };
        let count = slots_of(index as u64, authorities, from, current_slot);
        missed.with_label_values(&[&name]).set(to_i64(count));
    }

    let mut families = backend.metrics().registry().gather();
    families.extend(now.gather());
    families.extend(process_metrics());
    families.sort_by(|a, b| a.name().cmp(b.name()));
    let mut out = Vec::new();
    TextEncoder::new()
        .encode(&families, &mut out)
        .map_err(|err| ApiError::internal(format!("cannot encode metrics: {err}")))?;
    String::from_utf8(out).map_err(|err| ApiError::internal(format!("metrics text: {err}")))
}

/// `process_cpu_seconds_total`, `process_resident_memory_bytes`,
/// `process_open_fds`, … as every Prometheus client exports them.
#[cfg(target_os = "linux")]
fn process_metrics() -> Vec<prometheus::proto::MetricFamily> {
    use prometheus::core::Collector;
    prometheus::process_collector::ProcessCollector::for_self().collect()
}

#[cfg(not(target_os = "linux"))]
fn process_metrics() -> Vec<prometheus::proto::MetricFamily> {
    Vec::new()
}

/// How many slots in `from..until` belong to authority `index` of `n`
/// (slot `s` is `authorities[s % n]`'s).
fn slots_of(index: u64, n: u64, from: u64, until: u64) -> u64 {
    // Slots of `index` below `x`: index, index + n, … < x.
    let below = |x: u64| {
        if x > index {
            (x - index - 1) / n + 1
        } else {
            0
        }
    };
    if n == 0 || until <= from {
        return 0;
    }
    below(until) - below(from)
}

fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// Registers gauges with their value of now.
struct Gauges<'a>(&'a Registry);

impl Gauges<'_> {
    fn int(&self, name: &str, help: &str, value: u64) {
        let gauge = IntGauge::new(name, help).expect("a valid gauge");
        gauge.set(to_i64(value));
        self.0
            .register(Box::new(gauge))
            .expect("each gauge is registered once");
    }

    fn float(&self, name: &str, help: &str, value: f64) {
        let gauge = Gauge::new(name, help).expect("a valid gauge");
        gauge.set(value);
        self.0
            .register(Box::new(gauge))
            .expect("each gauge is registered once");
    }

    fn labelled(&self, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
        let gauges = IntGaugeVec::new(Opts::new(name, help), labels).expect("a valid gauge family");
        self.0
            .register(Box::new(gauges.clone()))
            .expect("each gauge is registered once");
        gauges
    }
}

#[cfg(test)]
mod tests {
    use super::slots_of;

    #[test]
    fn slots_of_counts_an_authoritys_turns() {
        // (index, n, from, until) → slots
        let table = [
            ((0, 1, 0, 10), 10),
            ((0, 3, 0, 10), 4), // 0 3 6 9
            ((1, 3, 0, 10), 3), // 1 4 7
            ((2, 3, 3, 9), 2),  // 5 8
            ((1, 3, 5, 5), 0),
            ((1, 3, 8, 5), 0),
            ((0, 0, 0, 5), 0),
        ];
        for ((index, n, from, until), expected) in table {
            assert_eq!(
                slots_of(index, n, from, until),
                expected,
                "{index} {n} {from} {until}"
            );
        }
    }
}
