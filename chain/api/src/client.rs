//! A small blocking client for the node's HTTP API (feature `client`).
//!
//! [`Client::get`] returns an answer's JSON as it came (which the CLI's
//! `--json` prints); the typed methods decode it into this crate's types.
//! Failures say what went wrong in the user's terms: an unreachable node
//! names its URL, and a `4xx`/`5xx` answer shows the node's
//! `{"error": ...}` message and the status.

use std::fmt;
use std::time::Duration;

use bwchain_core::primitives::{Account, Hash, Tx};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::accounts::{self, AccountInfo, SessionInfo};
use crate::blocks::{self, Block, BlockSummary, BlockTxHashes};
use crate::evidence::{self, Evidence};
use crate::finality::{self, Justification};
use crate::status::{self, Status};
use crate::txs::{self, BatchAnswer, Submitted, TxInfo};

/// Longest a single request may take, so a hung node cannot hang the caller.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Largest response body read. The biggest answers are blocks, which the
/// protocol caps at 32 MiB encoded; their JSON is about twice that.
pub const MAX_RESPONSE_BYTES: u64 = 128 * 1024 * 1024;

/// Longest part of a non-JSON error body quoted back to the user.
const MAX_QUOTED_BODY_CHARS: usize = 200;

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("invalid node URL {base:?} (set with --rpc or BWCHAIN_RPC): {reason}")]
    BadUrl { base: String, reason: String },
    /// The connection failed. `error` is part of the message, not a source,
    /// so a chain of causes does not repeat it.
    #[error(
        "cannot reach the node at {base}: {error} (is `bwchain node` running? \
         set its URL with --rpc or BWCHAIN_RPC)"
    )]
    Unreachable {
        base: String,
        error: Box<ureq::Error>,
    },
    /// The node answered `4xx`/`5xx`.
    #[error(transparent)]
    Node(#[from] NodeError),
    #[error("reading the answer to {method} {url}")]
    Unreadable {
        method: &'static str,
        url: String,
        #[source]
        source: Box<ureq::Error>,
    },
    #[error("the node's answer to {method} {url} is not valid JSON")]
    InvalidJson {
        method: &'static str,
        url: String,
        #[source]
        source: serde_json::Error,
    },
    /// Valid JSON, but not the shape this crate expects at `path`.
    #[error("unexpected answer from the node to {path}")]
    UnexpectedAnswer {
        path: String,
        #[source]
        source: serde_json::Error,
    },
}

/// A `4xx`/`5xx` answer from the node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeError {
    pub status: u16,
    /// The node's `error` message, or the start of the body if it sent none.
    pub message: String,
    pub method: &'static str,
    pub url: String,
}

impl fmt::Display for NodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let reason = ureq::http::StatusCode::from_u16(self.status)
            .ok()
            .and_then(|status| status.canonical_reason())
            .unwrap_or("");
        write!(
            f,
            "{} (HTTP {} {reason} from {} {})",
            self.message, self.status, self.method, self.url
        )
    }
}

impl std::error::Error for NodeError {}

pub type Result<T, E = ClientError> = std::result::Result<T, E>;

/// A connection to one node.
#[derive(Debug, Clone)]
pub struct Client {
    base: String,
    agent: ureq::Agent,
}

impl Client {
    /// `base` is the node's URL, e.g. `http://127.0.0.1:8700`.
    pub fn new(base: &str) -> Self {
        let agent = ureq::Agent::config_builder()
            // Error answers carry a JSON message we want to read and show.
            .http_status_as_error(false)
            .timeout_global(Some(REQUEST_TIMEOUT))
            .user_agent(concat!("bwchain-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .new_agent();
        Self {
            base: base.trim_end_matches('/').to_owned(),
            agent,
        }
    }

    /// The node's URL, without a trailing `/`.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `GET path` (path starts with `/`): the answer's JSON as it came.
    pub fn get(&self, path: &str) -> Result<Value> {
        let url = self.url(path);
        let response = self.agent.get(&url).call();
        self.finish("GET", url, response)
    }

    /// `POST path` with a JSON body: the answer's JSON as it came.
    pub fn post(&self, path: &str, body: &impl Serialize) -> Result<Value> {
        let url = self.url(path);
        let response = self.agent.post(&url).send_json(body);
        self.finish("POST", url, response)
    }

    /// `GET path`, decoded as `T`.
    pub fn get_as<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        decode(self.get(path)?, path)
    }

    /// `POST path`, the answer decoded as `T`.
    pub fn post_as<T: DeserializeOwned>(&self, path: &str, body: &impl Serialize) -> Result<T> {
        decode(self.post(path, body)?, path)
    }

    pub fn status(&self) -> Result<Status> {
        self.get_as(status::PATH)
    }

    /// Up to `limit` block summaries from height `from` (default: ending with
    /// the head), oldest first.
    pub fn blocks(&self, from: Option<u64>, limit: u64) -> Result<Vec<BlockSummary>> {
        self.get_as(&blocks::page_path(from, limit))
    }

    /// `id` is `latest`, a height or a block hash.
    pub fn block(&self, id: impl fmt::Display) -> Result<Block> {
        self.get_as(&blocks::path(id))
    }

    pub fn block_tx_hashes(&self, id: impl fmt::Display) -> Result<BlockTxHashes> {
        self.get_as(&blocks::tx_hashes_path(id))
    }

    pub fn tx(&self, hash: &Hash) -> Result<TxInfo> {
        self.get_as(&txs::path(hash))
    }

    pub fn account(&self, account: &Account) -> Result<AccountInfo> {
        self.get_as(&accounts::path(account))
    }

    pub fn session(
        &self,
        provider: &Account,
        consumer: &Account,
        session: u64,
    ) -> Result<SessionInfo> {
        self.get_as(&accounts::session_path(provider, consumer, session))
    }

    /// `GET /blocks/{height}/justification`.
    pub fn justification(&self, height: u64) -> Result<Justification> {
        self.get_as(&finality::path(height))
    }

    /// Up to `limit` registered devices, after `after` in key order.
    pub fn devices(
        &self,
        after: Option<&Account>,
        limit: u64,
    ) -> Result<crate::inventory::DevicesPage> {
        self.get_as(&crate::inventory::devices_path(after, limit))
    }

    /// Up to `limit` transactions concerning `account`, newest first, older
    /// than `before`.
    pub fn account_txs(
        &self,
        account: &Account,
        before: Option<&crate::inventory::TxCursor>,
        limit: u64,
    ) -> Result<crate::inventory::AccountTxsPage> {
        self.get_as(&crate::inventory::account_txs_path(account, before, limit))
    }

    pub fn evidence(&self) -> Result<Vec<Evidence>> {
        self.get_as(evidence::PATH)
    }

    /// `POST /txs`.
    pub fn submit_tx(&self, tx: &Tx) -> Result<Submitted> {
        self.post_as(txs::PATH, tx)
    }

    /// `POST /txs/batch`.
    pub fn submit_batch(&self, txs: &[Tx]) -> Result<BatchAnswer> {
        self.post_as(txs::BATCH_PATH, &txs)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn finish(
        &self,
        method: &'static str,
        url: String,
        response: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<Value> {
        let mut response = match response {
            Ok(response) => response,
            Err(ureq::Error::BadUri(reason)) => {
                return Err(ClientError::BadUrl {
                    base: self.base.clone(),
                    reason,
                })
            }
            Err(error) => {
                return Err(ClientError::Unreachable {
                    base: self.base.clone(),
                    error: Box::new(error),
                })
            }
        };
        let status = response.status().as_u16();
        let body = match response
            .body_mut()
            .with_config()
            .limit(MAX_RESPONSE_BYTES)
            .read_to_string()
        {
            Ok(body) => body,
            Err(source) => {
                return Err(ClientError::Unreadable {
                    method,
                    url,
                    source: Box::new(source),
                })
            }
        };
        if status >= 400 {
            return Err(NodeError {
                status,
                message: error_message(&body),
                method,
                url,
            }
            .into());
        }
        serde_json::from_str(&body).map_err(|source| ClientError::InvalidJson {
            method,
            url,
            source,
        })
    }
}

/// Decodes an answer to `path` (as [`Client::get`] returned it) into one of
/// this crate's types.
pub fn decode<T: DeserializeOwned>(value: Value, path: &str) -> Result<T> {
    serde_json::from_value(value).map_err(|source| ClientError::UnexpectedAnswer {
        path: path.to_owned(),
        source,
    })
}

/// The `error` field of an error body, or the body itself if it has none.
fn error_message(body: &str) -> String {
    if let Ok(Value::Object(object)) = serde_json::from_str::<Value>(body) {
        if let Some(Value::String(message)) = object.get("error") {
            return message.clone();
        }
    }
    let body = body.trim();
    if body.is_empty() {
        return "the node gave no reason".to_owned();
    }
    let mut quoted: String = body.chars().take(MAX_QUOTED_BODY_CHARS).collect();
    if quoted.len() < body.len() {
        quoted.push('…');
    }
    quoted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_message_falls_back_to_the_body() {
        assert_eq!(error_message(r#"{"error":"bad nonce"}"#), "bad nonce");
        assert_eq!(error_message("  "), "the node gave no reason");
        assert_eq!(error_message(r#"{"other":1}"#), r#"{"other":1}"#);
        let long = "x".repeat(500);
        assert_eq!(
            error_message(&long).chars().count(),
            MAX_QUOTED_BODY_CHARS + 1
        );
    }

    #[test]
    fn node_errors_name_the_status_and_the_request() {
        let err = ClientError::from(NodeError {
            status: 404,
            message: "no block 99".into(),
            method: "GET",
            url: "http://127.0.0.1:1/blocks/99".into(),
        });
        assert_eq!(
            err.to_string(),
            "no block 99 (HTTP 404 Not Found from GET http://127.0.0.1:1/blocks/99)"
        );
        let unknown = NodeError {
            status: 599,
            message: "odd".into(),
            method: "POST",
            url: "u".into(),
        };
        assert_eq!(unknown.to_string(), "odd (HTTP 599  from POST u)");
    }

    #[test]
    fn a_bad_url_says_how_to_set_it() {
        let err = Client::new("no scheme").get("/status").unwrap_err();
        assert!(
            matches!(
                err,
                ClientError::BadUrl { .. } | ClientError::Unreachable { .. }
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("--rpc or BWCHAIN_RPC"), "{err}");
    }

    #[test]
    fn unexpected_answers_name_the_path() {
        let err = decode::<Status>(serde_json::json!({"height": 1}), "/status").unwrap_err();
        assert_eq!(
            err.to_string(),
            "unexpected answer from the node to /status"
        );
        assert!(std::error::Error::source(&err).is_some());
    }
}
