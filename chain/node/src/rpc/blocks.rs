//! `GET /blocks` (a page of header summaries) and `GET /blocks/{id}`.

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use bwchain_api::blocks::{
    Block, BlockReward, BlockSummary, BlockTx, BlockTxHashes, HeaderJson, PageQuery,
};
use bwchain_api::finality::Justification;
use bwchain_core::primitives::Hash;

use super::{
    parse_hex, path, ApiError, ApiResult, Backend, JsonAnswer, DEFAULT_BLOCKS_PER_PAGE,
    MAX_BLOCKS_PER_PAGE,
};
use crate::store::StoredBlock;

/// `id` is `latest`, a height or a 64-hex block hash.
pub(super) async fn block(
    State(backend): State<Backend>,
    id: Result<Path<String>, PathRejection>,
) -> ApiResult<JsonAnswer<Block>> {
    let stored = stored_block(&backend, &path(id)?)?;
    Ok(JsonAnswer(block_json(&stored)))
}

/// `GET /blocks/{id}/tx-hashes`.
pub(super) async fn tx_hashes(
    State(backend): State<Backend>,
    id: Result<Path<String>, PathRejection>,
) -> ApiResult<JsonAnswer<BlockTxHashes>> {
    let stored = stored_block(&backend, &path(id)?)?;
    Ok(JsonAnswer(BlockTxHashes {
        height: stored.block.header.height,
        hash: stored.hash(),
        tx_hashes: stored.tx_hashes,
    }))
}

/// The block `id` names: `latest`, a height or a 64-hex block hash.
fn stored_block(backend: &Backend, id: &str) -> ApiResult<StoredBlock> {
    let stored = if id == "latest" {
        backend.block(&backend.status().head.hash())?
    } else if id.len() == 2 * Hash::LEN {
        backend.block(&parse_hex::<Hash>("block hash", id)?)?
    } else {
        let height: u64 = id.parse().map_err(|_| {
            ApiError::bad_request(format!(
                "bad block id {id:?}: expected \"latest\", a height or a 64-hex block hash"
            ))
        })?;
        backend.block_at(height)?
    };
    stored.ok_or_else(|| ApiError::not_found(format!("no block {id}")))
}

fn block_json(stored: &StoredBlock) -> Block {
    let block = &stored.block;
    Block {
        header: HeaderJson::new(&block.header, stored.hash()),
        signature: block.signature,
        txs: block
            .txs
            .iter()
            .zip(&stored.tx_hashes)
            .map(|(tx, hash)| BlockTx::new(*hash, tx))
            .collect(),
        rewards: stored.rewards.iter().map(BlockReward::from).collect(),
        minted: stored.minted,
    }
}

/// `?from=H&limit=N`: up to N headers from height H (default: ending with
/// the head), oldest first.
pub(super) async fn blocks(
    State(backend): State<Backend>,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> ApiResult<JsonAnswer<Vec<BlockSummary>>> {
    let Query(query) = query.map_err(|rejection| {
        ApiError::bad_request(format!(
            "bad query: {} (expected from=HEIGHT&limit=N, integers)",
            rejection.body_text()
        ))
    })?;
    let limit = query.limit.unwrap_or(DEFAULT_BLOCKS_PER_PAGE);
    if limit == 0 || limit > MAX_BLOCKS_PER_PAGE {
        return Err(ApiError::bad_request(format!(
            "limit must be 1..={MAX_BLOCKS_PER_PAGE}, found {limit}"
        )));
    }
    let head = backend.status().head.height;
    let from = query.from.unwrap_or_else(|| head.saturating_sub(limit - 1));
    let mut summaries = Vec::new();
    let mut height = from;
    while height <= head && (summaries.len() as u64) < limit {
        let Some(stored) = backend.block_at(height)? else {
            break;
        };
        summaries.push(BlockSummary {
            header: HeaderJson::new(&stored.block.header, stored.hash()),
            txs: stored.block.txs.len() as u64,
        });
        height += 1;
    }
    Ok(JsonAnswer(summaries))
}

/// `GET /blocks/{height}/justification`: the proof that the block at
/// `height` of the chosen chain is final; 404 while it is not.
pub(super) async fn justification(
    State(backend): State<Backend>,
    height: Result<Path<String>, PathRejection>,
) -> ApiResult<JsonAnswer<Justification>> {
    let text = path(height)?;
    let height: u64 = text
        .parse()
        .map_err(|_| ApiError::bad_request(format!("bad height {text:?}: expected an integer")))?;
    let status = backend.status();
    let not_final = || {
        ApiError::not_found(format!(
            "block {height} is not final (finalized height {})",
            status.finalized.height
        ))
    };
    if height > status.finalized.height {
        return Err(not_final());
    }
    let stored = backend.block_at(height)?.ok_or_else(not_final)?;
    let hash = stored.hash();
    if backend.spec().genesis.authorities.len() == 1 {
        return Ok(JsonAnswer(Justification::Single {
            height,
            hash,
            authority: stored.block.header.proposer,
            signature: stored.block.signature,
        }));
    }
    let proof = backend.finality_proof(height)?.ok_or_else(not_final)?;
    Ok(JsonAnswer(Justification::from_proof(height, hash, &proof)))
}
