//! `GET /txs/{hash}`, `POST /txs` and `POST /txs/batch`.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use bwchain_api::txs::{BatchAnswer, BatchResult, Submitted, TxInfo, BINARY_CONTENT_TYPE};
use bwchain_core::primitives::{codec, Hash, Tx};

use super::{
    admission, parse_hex, path, read_body, ApiError, ApiResult, Backend, JsonAnswer,
    MAX_BATCH_REQUEST_BYTES, MAX_BATCH_TXS, MAX_REQUEST_BYTES,
};
use crate::chain::TxStatus;

pub(super) async fn tx(
    State(backend): State<Backend>,
    hash: Result<Path<String>, PathRejection>,
) -> ApiResult<JsonAnswer<TxInfo>> {
    let text = path(hash)?;
    let hash: Hash = parse_hex("tx hash", &text)?;
    let status = backend
        .tx_status(&hash)?
        .ok_or_else(|| ApiError::not_found(format!("unknown transaction {hash}")))?;
    Ok(JsonAnswer(match status {
        TxStatus::Pending(tx) => TxInfo::pending(hash, tx),
        TxStatus::Included {
            location,
            tx,
            outcome,
        } => {
            let finalized = location.height <= backend.status().finalized.height;
            TxInfo::included(
                hash,
                tx,
                location.height,
                location.block_hash,
                outcome,
                finalized,
            )
        }
    }))
}

/// `POST /txs`: one transaction; `202 {"hash"}` once it is in the mempool.
pub(super) async fn submit_tx(
    State(backend): State<Backend>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<(StatusCode, JsonAnswer<Submitted>)> {
    let body = read_body(body, MAX_REQUEST_BYTES)?;
    let tx: Tx = serde_json::from_slice(&body)
        .map_err(|err| ApiError::bad_request(format!("invalid transaction JSON: {err}")))?;
    let hash = admission(move || backend.submit_tx(tx)).await??;
    Ok((StatusCode::ACCEPTED, JsonAnswer(Submitted { hash })))
}

/// `POST /txs/batch`: transactions checked together (their signatures on
/// all cores): a JSON array, or with `Content-Type:
/// application/octet-stream` the same list in the consensus encoding
/// (bincode legacy: a u64 count, then each transaction as peers send it),
/// which spares the node the JSON and hex parsing. Answers 200 with one
/// result per transaction, in order: `{"hash"}` when admitted, `{"error",
/// "status"}` when not.
pub(super) async fn submit_batch(
    State(backend): State<Backend>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<JsonAnswer<BatchAnswer>> {
    let body = read_body(body, MAX_BATCH_REQUEST_BYTES)?;
    let txs: Vec<Tx> = if is_binary(&headers) {
        codec::decode(&body).map_err(|err| {
            ApiError::bad_request(format!(
                "invalid binary list of transactions (bincode legacy layout): {err}"
            ))
        })?
    } else {
        serde_json::from_slice(&body).map_err(|err| {
            ApiError::bad_request(format!("invalid JSON array of transactions: {err}"))
        })?
    };
    if txs.len() > MAX_BATCH_TXS {
        return Err(ApiError::bad_request(format!(
            "too many transactions: at most {MAX_BATCH_TXS} per batch, found {}",
            txs.len()
        )));
    }
    let results = admission(move || backend.submit_batch(txs)).await?;
    let results = results
        .into_iter()
        .map(|result| match result {
            Ok(hash) => BatchResult::Admitted { hash },
            Err(err) => {
                let error = ApiError::from(err);
                BatchResult::Refused {
                    error: error.message,
                    status: error.status.as_u16(),
                }
            }
        })
        .collect();
    Ok(JsonAnswer(BatchAnswer { results }))
}

/// Whether the body is declared as [`BINARY_CONTENT_TYPE`] (parameters
/// ignored); anything else is read as JSON, as before.
fn is_binary(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case(BINARY_CONTENT_TYPE))
}
