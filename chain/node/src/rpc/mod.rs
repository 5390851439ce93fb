//! The HTTP API (DESIGN.md §7). JSON in and out; keys and hashes as hex.
//! Every failure is a 4xx (or, for a broken store, 500) with
//! `{"error": "..."}` naming the problem.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{header, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::chain::{Node, SubmitError, TxStatus};
use crate::store::{StoreError, StoredBlock};
use bwchain_core::execute::TxError;
use bwchain_core::mempool::MempoolError;
use bwchain_core::primitives::{Account, Hash, Header, Tx};
use bwchain_core::state::{Overlay, SessionId, StorageError};

/// Largest request body accepted. A claim with 64 receipts is about 30 KiB
/// of JSON; anything near this limit is not a transaction.
pub const MAX_REQUEST_BYTES: usize = 256 * 1024;
/// Most transactions one `POST /txs/batch` may carry.
pub const MAX_BATCH_TXS: usize = 4096;
/// Largest `POST /txs/batch` body: a full batch of small claims, or 64
/// claims of 64 receipts, fits.
pub const MAX_BATCH_REQUEST_BYTES: usize = 8 * 1024 * 1024;
/// Most headers `GET /blocks` returns at once.
pub const MAX_BLOCKS_PER_PAGE: u64 = 100;
/// Headers `GET /blocks` returns when no limit is given.
pub const DEFAULT_BLOCKS_PER_PAGE: u64 = 20;

/// An error response: a status and a message for `{"error": ...}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(status = %self.status, error = %self.message, "request failed");
        }
        (self.status, Json(json!({ "error": self.message }))).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, err.to_string())
    }
}

impl From<StorageError> for ApiError {
    fn from(err: StorageError) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, err.to_string())
    }
}

impl From<SubmitError> for ApiError {
    fn from(err: SubmitError) -> Self {
        let status = match &err {
            SubmitError::Invalid(TxError::Storage(_)) | SubmitError::Store(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
            SubmitError::Invalid(_) => StatusCode::BAD_REQUEST,
            SubmitError::Mempool(MempoolError::WrongNonce { .. }) => StatusCode::BAD_REQUEST,
            SubmitError::Mempool(_) => StatusCode::TOO_MANY_REQUESTS,
            SubmitError::AlreadyIncluded { .. } => StatusCode::CONFLICT,
        };
        Self::new(status, err.to_string())
    }
}

type ApiResult<T> = Result<T, ApiError>;

fn parse_hex<T: std::str::FromStr<Err = bwchain_core::primitives::HexError>>(
    what: &str,
    text: &str,
) -> ApiResult<T> {
    text.parse()
        .map_err(|err| ApiError::bad_request(format!("bad hex in {what} {text:?}: {err}")))
}

fn path<T>(extracted: Result<Path<T>, PathRejection>) -> ApiResult<T> {
    extracted
        .map(|Path(value)| value)
        .map_err(|rejection| ApiError::bad_request(format!("bad path: {}", rejection.body_text())))
}

/// The API's routes.
pub fn router(node: Node) -> Router {
    Router::new()
        .route("/status", get(status))
        .route("/blocks", get(blocks))
        .route("/blocks/{id}", get(block))
        .route("/txs", post(submit_tx))
        .route(
            "/txs/batch",
            post(submit_batch).layer(DefaultBodyLimit::max(MAX_BATCH_REQUEST_BYTES)),
        )
        .route("/txs/{hash}", get(tx))
        .route("/accounts/{account}", get(account))
        .route("/sessions/{provider}/{consumer}/{session}", get(session))
        .route("/evidence", get(evidence))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BYTES))
        .with_state(node)
}

async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::not_found(format!("no such endpoint: {method} {}", uri.path()))
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("method {method} is not allowed on {}", uri.path()),
    )
}

async fn status(State(node): State<Node>) -> ApiResult<Json<Value>> {
    let status = node.status();
    let spec = node.spec();
    let activity: Vec<Value> = node
        .authority_activity()?
        .into_iter()
        .map(|entry| match entry.last_block {
            Some((height, slot, timestamp_ms)) => json!({
                "authority": entry.authority,
                "last_height": height,
                "last_slot": slot,
                "last_timestamp_ms": timestamp_ms,
            }),
            None => json!({
                "authority": entry.authority,
                "last_height": null,
                "last_slot": null,
                "last_timestamp_ms": null,
            }),
        })
        .collect();
    let peers: Vec<Value> = status
        .peers
        .iter()
        .map(|peer| json!({ "address": peer.address, "head_height": peer.head_height }))
        .collect();
    Ok(Json(json!({
        "chain_id": spec.genesis.chain_id,
        "genesis_hash": spec.genesis_hash(),
        "height": status.head.height,
        "head_hash": status.head.hash(),
        "head_slot": status.head.slot,
        "head_timestamp_ms": status.head.timestamp_ms,
        "finalized_height": status.finalized.height,
        "finalized_hash": status.finalized.hash(),
        "authorities": spec.genesis.authorities,
        "authority": node.authority(),
        "authority_activity": activity,
        "block_time_ms": spec.genesis.block_time_ms,
        "peers": peers,
        "mempool": status.mempool,
        "syncing": status.syncing,
        "evidence": node.store().evidence()?.len(),
    })))
}

async fn evidence(State(node): State<Node>) -> ApiResult<Json<Value>> {
    let items: Vec<Value> = node
        .store()
        .evidence()?
        .into_iter()
        .map(|evidence| {
            let header = |(header, signature): &(Header, bwchain_core::primitives::Signature)| {
                let mut value = serde_json::to_value(HeaderJson {
                    header,
                    hash: header.hash(),
                })
                .expect("headers serialize");
                value["signature"] = json!(signature);
                value
            };
            json!({
                "proposer": evidence.proposer,
                "slot": evidence.slot,
                "first": header(&evidence.first),
                "second": header(&evidence.second),
            })
        })
        .collect();
    Ok(Json(Value::Array(items)))
}

/// A header's fields at the top level, with its hash.
#[derive(Serialize)]
struct HeaderJson<'a> {
    #[serde(flatten)]
    header: &'a Header,
    hash: Hash,
}

#[derive(Serialize)]
struct TxJson<'a> {
    hash: Hash,
    #[serde(flatten)]
    tx: &'a Tx,
}

fn block_json(stored: &StoredBlock) -> Value {
    let txs: Vec<TxJson<'_>> = stored
        .block
        .txs
        .iter()
        .zip(&stored.tx_hashes)
        .map(|(tx, hash)| TxJson { hash: *hash, tx })
        .collect();
    let mut value = serde_json::to_value(HeaderJson {
        header: &stored.block.header,
        hash: stored.hash(),
    })
    .expect("headers serialize");
    let object = value.as_object_mut().expect("a header is a JSON object");
    object.insert("signature".into(), json!(stored.block.signature));
    object.insert("txs".into(), json!(txs));
    object.insert("rewards".into(), json!(stored.rewards));
    object.insert("minted".into(), json!(stored.minted));
    value
}

async fn block(
    State(node): State<Node>,
    id: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<Value>> {
    let id = path(id)?;
    let store = node.store();
    let stored = if id == "latest" {
        store.block(&node.status().head.hash())?
    } else if id.len() == 2 * Hash::LEN {
        store.block(&parse_hex::<Hash>("block hash", &id)?)?
    } else {
        let height: u64 = id.parse().map_err(|_| {
            ApiError::bad_request(format!(
                "bad block id {id:?}: expected \"latest\", a height or a 64-hex block hash"
            ))
        })?;
        store.block_at(height)?
    };
    let stored = stored.ok_or_else(|| ApiError::not_found(format!("no block {id}")))?;
    Ok(Json(block_json(&stored)))
}

#[derive(Deserialize)]
struct BlocksQuery {
    from: Option<u64>,
    limit: Option<u64>,
}

async fn blocks(
    State(node): State<Node>,
    query: Result<Query<BlocksQuery>, QueryRejection>,
) -> ApiResult<Json<Value>> {
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
    let head = node.status().head.height;
    let from = query.from.unwrap_or_else(|| head.saturating_sub(limit - 1));
    let mut headers = Vec::new();
    let mut height = from;
    while height <= head && (headers.len() as u64) < limit {
        let Some(stored) = node.store().block_at(height)? else {
            break;
        };
        let mut value = serde_json::to_value(HeaderJson {
            header: &stored.block.header,
            hash: stored.hash(),
        })
        .expect("headers serialize");
        value["txs"] = json!(stored.block.txs.len());
        headers.push(value);
        height += 1;
    }
    Ok(Json(Value::Array(headers)))
}

fn read_body(body: Result<Bytes, BytesRejection>, limit: usize) -> ApiResult<Bytes> {
    body.map_err(|rejection| {
        let status = rejection.status();
        let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
            format!("body too large: at most {limit} bytes")
        } else {
            format!("cannot read body: {}", rejection.body_text())
        };
        ApiError::new(status, message)
    })
}

/// `POST /txs/batch`: a JSON array of transactions, checked together (their
/// signatures on all cores). Answers 200 with one result per transaction,
/// in order: `{"hash"}` when admitted, `{"error", "status"}` when not.
async fn submit_batch(
    State(node): State<Node>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<Value>> {
    let body = read_body(body, MAX_BATCH_REQUEST_BYTES)?;
    let txs: Vec<Tx> = serde_json::from_slice(&body).map_err(|err| {
        ApiError::bad_request(format!("invalid JSON array of transactions: {err}"))
    })?;
    if txs.len() > MAX_BATCH_TXS {
        return Err(ApiError::bad_request(format!(
            "too many transactions: at most {MAX_BATCH_TXS} per batch, found {}",
            txs.len()
        )));
    }
    let results =
        tokio::task::spawn_blocking(move || node.submit_batch(txs, crate::clock::now_ms()))
            .await
            .map_err(|err| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, err.to_string()))?;
    let results: Vec<Value> = results
        .into_iter()
        .map(|result| match result {
            Ok(hash) => json!({ "hash": hash }),
            Err(err) => {
                let error = ApiError::from(err);
                json!({ "error": error.message, "status": error.status.as_u16() })
            }
        })
        .collect();
    Ok(Json(json!({ "results": results })))
}

async fn submit_tx(
    State(node): State<Node>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let body = read_body(body, MAX_REQUEST_BYTES)?;
    let tx: Tx = serde_json::from_slice(&body)
        .map_err(|err| ApiError::bad_request(format!("invalid transaction JSON: {err}")))?;
    // Signature checks are CPU work: keep them off the async workers.
    let hash = tokio::task::spawn_blocking(move || node.submit_tx(tx))
        .await
        .map_err(|err| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, err.to_string()))??;
    Ok((StatusCode::ACCEPTED, Json(json!({ "hash": hash }))))
}

async fn tx(
    State(node): State<Node>,
    hash: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<Value>> {
    let text = path(hash)?;
    let hash: Hash = parse_hex("tx hash", &text)?;
    let status = node
        .tx_status(&hash)?
        .ok_or_else(|| ApiError::not_found(format!("unknown transaction {hash}")))?;
    Ok(Json(match status {
        TxStatus::Pending(tx) => json!({
            "hash": hash,
            "status": "pending",
            "block_height": null,
            "block_hash": null,
            "tx": tx,
            "outcome": null,
        }),
        TxStatus::Included {
            location,
            tx,
            outcome,
        } => json!({
            "hash": hash,
            "status": "included",
            "block_height": location.height,
            "block_hash": location.block_hash,
            "tx": tx,
            "outcome": outcome,
        }),
    }))
}

async fn account(
    State(node): State<Node>,
    account: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<Value>> {
    let text = path(account)?;
    let account: Account = parse_hex("account", &text)?;
    let mut state = Overlay::new(node.store());
    let record = state.account(&account)?;
    let device = state.device(&account)?;
    let next_nonce = node.next_nonce(&account)?;
    Ok(Json(json!({
        "account": account,
        "balance": record.balance,
        "nonce": record.nonce,
        "next_nonce": next_nonce,
        "device": device.is_some_and(|d| d.active),
        "device_budget": device.map(|d| json!({
            "upload_bytes": d.upload_budget,
            "download_bytes": d.download_budget,
            "refilled_at_ms": d.refilled_at_ms,
        })),
    })))
}

async fn session(
    State(node): State<Node>,
    parts: Result<Path<(String, String, String)>, PathRejection>,
) -> ApiResult<Json<Value>> {
    let (provider, consumer, session) = path(parts)?;
    let id = SessionId {
        provider: parse_hex("provider", &provider)?,
        consumer: parse_hex("consumer", &consumer)?,
        session: session.parse().map_err(|_| {
            ApiError::bad_request(format!("bad session {session:?}: expected an integer"))
        })?,
    };
    let bytes = Overlay::new(node.store()).session(&id)?;
    Ok(Json(json!({
        "provider": id.provider,
        "consumer": id.consumer,
        "session": id.session,
        "bytes": bytes,
    })))
}

async fn metrics(State(node): State<Node>) -> ApiResult<Response> {
    let status = node.status();
    let supply = Overlay::new(node.store()).supply()?;
    let c = node.metrics();
    let count = |counter: &std::sync::atomic::AtomicU64| counter.load(Ordering::Relaxed);
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
