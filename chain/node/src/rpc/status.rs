//! `GET /status`: head, finality, authorities and their latest blocks,
//! peers, mempool.

use axum::extract::State;
use bwchain_api::status::{AuthorityActivity, Peer, Status};

use super::{ApiResult, Backend, JsonAnswer};
use crate::chain::stall_after_slots;

pub(super) async fn status(State(backend): State<Backend>) -> ApiResult<JsonAnswer<Status>> {
    let status = backend.status();
    let spec = backend.spec();
    let authority_activity = backend
        .authority_activity()?
        .into_iter()
        .map(|entry| AuthorityActivity::new(entry.authority, entry.last_block))
        .collect();
    let peers = status
        .peers
        .iter()
        .map(|peer| Peer {
            address: peer.address.clone(),
            head_height: peer.head_height,
        })
        .collect();
    Ok(JsonAnswer(Status {
        chain_id: spec.genesis.chain_id.clone(),
        genesis_hash: spec.genesis_hash(),
        height: status.head.height,
        head_hash: status.head.hash(),
        head_slot: status.head.slot,
        head_timestamp_ms: status.head.timestamp_ms,
        finalized_height: status.finalized.height,
        finalized_hash: status.finalized.hash(),
        finalized_slot: status.finalized_checkpoint.slot,
        justified_slot: status.justified.slot,
        justified_height: status.justified.height,
        justified_hash: status.justified.hash,
        safety_fault: status.safety_fault,
        authorities: spec.genesis.authorities.clone(),
        authority: backend.authority(),
        authority_activity,
        block_time_ms: spec.genesis.block_time_ms,
        peers,
        mempool: status.mempool as u64,
        syncing: status.syncing,
        signing: status.signing.describe(),
        head_age_ms: status.liveness.head_age_ms,
        slots_since_head: status.liveness.slots_since_head,
        stall_after_slots: stall_after_slots(spec.genesis.authorities.len()),
        stalled: status.liveness.stalled,
        evidence: (backend.evidence()?.len() + backend.vote_evidence()?.len()) as u64,
        configured_peers_unconnected: backend.configured_peers_unconnected(),
    }))
}
