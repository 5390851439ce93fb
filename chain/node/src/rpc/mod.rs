//! The HTTP API (DESIGN.md §7). JSON in and out, in the shapes of
//! [`bwchain_api`]; keys and hashes as hex. Every failure is a 4xx (or, for
//! a broken store, 500) with `{"error": "..."}` naming the problem.
//!
//! The handlers see the chain only through [`ApiBackend`]: they read
//! ([`crate::chain::ChainReader`]) and submit transactions
//! ([`crate::chain::TxSubmitter`]), nothing else.
//!
//! - this file: the router, [`ApiError`], request limits and the helpers
//!   every handler shares;
//! - `status`, `blocks`, `txs`, `accounts` (accounts and sessions),
//!   `inventory` (devices, an account's transactions), `evidence`,
//!   `metrics`: one file per resource;
//! - the block explorer's HTML pages ([`crate::explorer`]) are served by
//!   the same router; unknown paths get an HTML 404 when a browser asks.
//!
//! The JSON `GET` endpoints send CORS headers (origin from
//! [`RouterOptions::cors_origin`], `*` by default), so a page elsewhere may
//! read them; `POST`s do not.
//! - `fake` (feature `testkit`): a scripted in-memory backend and a
//!   loopback server, for clients' tests;
//! - `server`: the accept loop, connection limits, timeouts and shutdown;
//!   `limits`: the body deadline and budget, and per-source submission
//!   limits, as middleware around the router.

mod accounts;
mod blocks;
mod evidence;
#[cfg(feature = "testkit")]
pub mod fake;
pub(crate) mod inventory;
pub mod limits;
mod metrics;
pub mod server;
mod status;
#[cfg(all(test, feature = "testkit"))]
mod tests;
mod txs;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{DefaultBodyLimit, Path};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bwchain_api::errors::ErrorBody;
use bwchain_core::execute::TxError;
use bwchain_core::mempool::MempoolError;
use serde::Serialize;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::chain::{ApiBackend, SubmitError};
use crate::store::StoreError;

/// Largest request body accepted. A claim with 64 receipts is about 30 KiB
/// of JSON; anything near this limit is not a transaction.
pub const MAX_REQUEST_BYTES: usize = 256 * 1024;
/// Most transactions one `POST /txs/batch` may carry.
pub const MAX_BATCH_TXS: usize = 4096;
/// Largest `POST /txs/batch` body: a full batch of small claims, or 64
/// claims of 64 receipts, fits.
pub const MAX_BATCH_REQUEST_BYTES: usize = 8 * 1024 * 1024;
/// Most headers `GET /blocks` returns at once.
pub const MAX_BLOCKS_PER_PAGE: u64 = bwchain_api::blocks::MAX_PER_PAGE;
/// Headers `GET /blocks` returns when no limit is given.
pub const DEFAULT_BLOCKS_PER_PAGE: u64 = bwchain_api::blocks::DEFAULT_PER_PAGE;

/// What every handler gets: the chain, as far as the API may see it.
pub(crate) type Backend = Arc<dyn ApiBackend>;

/// How the router is set up beyond its routes.
#[derive(Debug, Clone, Default)]
pub struct RouterOptions {
    /// The origin allowed to read the JSON `GET` endpoints from a browser
    /// (`Access-Control-Allow-Origin`); `None` allows any (`*`).
    pub cors_origin: Option<HeaderValue>,
}

/// The API's routes, served from `backend`, with default options.
pub fn router(backend: impl ApiBackend) -> Router {
    router_with(backend, RouterOptions::default())
}

/// The API's routes and the explorer's pages, served from `backend`.
pub fn router_with(backend: impl ApiBackend, options: RouterOptions) -> Router {
    let backend: Backend = Arc::new(backend);
    let cors = CorsLayer::new()
        .allow_origin(match options.cors_origin {
            Some(origin) => AllowOrigin::exact(origin),
            None => AllowOrigin::any(),
        })
        .allow_methods([Method::GET, Method::HEAD]);
    // No path has both a GET and a POST, so the two sets merge cleanly.
    let reads = Router::new()
        .route("/status", get(status::status))
        .route("/blocks", get(blocks::blocks))
        .route("/blocks/{id}", get(blocks::block))
        .route("/blocks/{id}/justification", get(blocks::justification))
        .route("/blocks/{id}/tx-hashes", get(blocks::tx_hashes))
        .route("/txs/{hash}", get(txs::tx))
        .route("/accounts/{account}", get(accounts::account))
        .route("/accounts/{account}/txs", get(inventory::account_txs))
        .route("/devices", get(inventory::devices))
        .route(
            "/sessions/{provider}/{consumer}/{session}",
            get(accounts::session),
        )
        .route("/evidence", get(evidence::evidence))
        .route("/metrics", get(metrics::metrics))
        .layer(cors);
    let writes = Router::new().route("/txs", post(txs::submit_tx)).route(
        "/txs/batch",
        post(txs::submit_batch).layer(DefaultBodyLimit::max(MAX_BATCH_REQUEST_BYTES)),
    );
    Router::new()
        .merge(reads)
        .merge(writes)
        .merge(crate::explorer::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BYTES))
        .with_state(backend)
}

/// A JSON 404, or the explorer's page for a browser (which asks for HTML).
async fn not_found(method: Method, uri: Uri, headers: HeaderMap) -> Response {
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|accept| accept.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    if wants_html && method == Method::GET {
        return crate::explorer::not_found_page(uri.path());
    }
    ApiError::not_found(format!("no such endpoint: {method} {}", uri.path())).into_response()
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("method {method} is not allowed on {}", uri.path()),
    )
}

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

    fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(status = %self.status, error = %self.message, "request failed");
        }
        let body = ErrorBody {
            error: self.message,
        };
        (self.status, Json(body)).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            // Reads still work; writes wait for a restart.
            StoreError::WritesStopped(_) => {
                Self::new(StatusCode::SERVICE_UNAVAILABLE, err.to_string())
            }
            err => Self::internal(err.to_string()),
        }
    }
}

impl From<SubmitError> for ApiError {
    fn from(err: SubmitError) -> Self {
        let status = match &err {
            SubmitError::Storage(StoreError::WritesStopped(_)) => StatusCode::SERVICE_UNAVAILABLE,
            SubmitError::Invalid(TxError::Storage(_)) | SubmitError::Storage(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
            SubmitError::Invalid(_) => StatusCode::BAD_REQUEST,
            SubmitError::Mempool(
                MempoolError::WrongNonce { .. } | MempoolError::PendingOverspend { .. },
            ) => StatusCode::BAD_REQUEST,
            // The same receipt is already waiting in another transaction.
            SubmitError::Mempool(MempoolError::ReceiptPending { .. }) => StatusCode::CONFLICT,
            SubmitError::Mempool(_) => StatusCode::TOO_MANY_REQUESTS,
            SubmitError::AlreadyIncluded { .. } => StatusCode::CONFLICT,
        };
        Self::new(status, err.to_string())
    }
}

type ApiResult<T> = Result<T, ApiError>;

/// A JSON answer built from a [`bwchain_api`] type. It is encoded through a
/// `serde_json::Value`, whose objects keep their keys sorted, so every
/// object lists its fields in alphabetical order, as this API always has.
struct JsonAnswer<T>(T);

impl<T: Serialize> IntoResponse for JsonAnswer<T> {
    fn into_response(self) -> Response {
        match serde_json::to_value(&self.0) {
            Ok(value) => Json(value).into_response(),
            Err(err) => {
                ApiError::internal(format!("cannot encode the answer: {err}")).into_response()
            }
        }
    }
}

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

fn read_body(body: Result<Bytes, BytesRejection>, limit: usize) -> ApiResult<Bytes> {
    body.map_err(|rejection| {
        if let Some(refused) = limits::BodyRefused::find(&rejection) {
            return ApiError::new(refused.status(), refused.to_string());
        }
        let status = rejection.status();
        let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
            format!("body too large: at most {limit} bytes")
        } else {
            format!("cannot read body: {}", rejection.body_text())
        };
        ApiError::new(status, message)
    })
}

/// Runs CPU work (signature checks) off the async workers.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> ApiResult<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|err| ApiError::internal(err.to_string()))
}

/// How much lower than the rest of the node the admission threads run
/// (a nice value, on Linux).
const ADMISSION_NICENESS: i32 = 10;

/// Runs a submission's checks (signatures on all cores, then the state) on
/// the admission threads, whose CPU priority is lowered: under load they
/// take what the block builder leaves, instead of an equal share of the
/// cores. Measured with 64-receipt claims on 2 cores: at equal priority a
/// block's build took about three times its CPU time in wall time (waiting
/// for a core, and for its LtHash threads, which wait too); with this alone,
/// builds took half as long and full-load p50 inclusion halved (1.65 to
/// 0.84 s). Its throughput gain shows only with the store's and the
/// mempool's locks out of admission's way (README, limits).
async fn admission<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> ApiResult<T> {
    static THREADS: std::sync::OnceLock<Option<tokio::runtime::Runtime>> =
        std::sync::OnceLock::new();
    let threads = THREADS.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("admission")
            .on_thread_start(lower_priority)
            .build()
            .map_err(|err| tracing::warn!(%err, "no admission threads; submissions are checked at normal priority"))
            .ok()
    });
    let handle = match threads {
        Some(threads) => threads.spawn_blocking(work),
        None => tokio::task::spawn_blocking(work),
    };
    handle
        .await
        .map_err(|err| ApiError::internal(err.to_string()))
}

/// Lowers the calling thread's CPU priority by [`ADMISSION_NICENESS`];
/// threads it starts inherit it. Only on Linux, where niceness is per thread.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    if let Err(err) =
        rustix::process::setpriority_process(Some(rustix::thread::gettid()), ADMISSION_NICENESS)
    {
        tracing::debug!(%err, "cannot lower an admission thread's priority");
    }
}
