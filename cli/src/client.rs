//! A small blocking client for the node's HTTP API (DESIGN.md §7).
//!
//! Every call returns the response's JSON as a `serde_json::Value` (which
//! `--json` prints as it came) or, through the typed helpers, one of the
//! shapes in [`crate::api`]. Failures say what went wrong in the user's
//! terms: an unreachable node names its URL, and a `4xx`/`5xx` answer shows
//! the node's `{"error": ...}` message and the status.

use std::fmt;
use std::time::Duration;

use anyhow::{anyhow, Context as _, Result};
use bwchain_core::primitives::{Account, Hash, Tx};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::api::{AccountInfo, Status, Submitted};

/// Longest a single request may take, so a hung node cannot hang the CLI.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Largest response body read. The biggest answers are blocks, which the
/// protocol caps at 32 MiB encoded; their JSON is about twice that.
pub const MAX_RESPONSE_BYTES: u64 = 128 * 1024 * 1024;

/// Longest part of a non-JSON error body quoted back to the user.
const MAX_QUOTED_BODY_CHARS: usize = 200;

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

    /// `GET path` (path starts with `/`).
    pub fn get(&self, path: &str) -> Result<Value> {
        let url = self.url(path);
        let response = self.agent.get(&url).call();
        self.finish("GET", url, response)
    }

    /// `POST path` with a JSON body.
    pub fn post(&self, path: &str, body: &impl Serialize) -> Result<Value> {
        let url = self.url(path);
        let response = self.agent.post(&url).send_json(body);
        self.finish("POST", url, response)
    }

    /// `GET path`, decoded as `T`.
    pub fn get_as<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        decode(self.get(path)?, path)
    }

    pub fn status(&self) -> Result<Status> {
        self.get_as("/status")
    }

    pub fn account(&self, account: &Account) -> Result<AccountInfo> {
        self.get_as(&format!("/accounts/{account}"))
    }

    /// `POST /txs`; returns the node's answer (`{"hash"}`) and the hash in it.
    pub fn submit_tx(&self, tx: &Tx) -> Result<(Value, Hash)> {
        let value = self.post("/txs", tx)?;
        let submitted: Submitted = decode(value.clone(), "/txs")?;
        Ok((value, submitted.hash))
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
                return Err(anyhow!(
                    "invalid node URL {:?} (set with --rpc or BWCHAIN_RPC): {reason}",
                    self.base
                ))
            }
            Err(err) => {
                return Err(anyhow!(
                    "cannot reach the node at {}: {err} (is `bwchain node` running? \
                     set its URL with --rpc or BWCHAIN_RPC)",
                    self.base
                ))
            }
        };
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_RESPONSE_BYTES)
            .read_to_string()
            .with_context(|| format!("reading the answer to {method} {url}"))?;
        if status >= 400 {
            return Err(NodeError {
                status,
                message: error_message(&body),
                method,
                url,
            }
            .into());
        }
        serde_json::from_str(&body)
            .with_context(|| format!("the node's answer to {method} {url} is not valid JSON"))
    }
}

/// Decodes a response into one of the [`crate::api`] shapes.
pub fn decode<T: DeserializeOwned>(value: Value, path: &str) -> Result<T> {
    serde_json::from_value(value)
        .with_context(|| format!("unexpected answer from the node to {path}"))
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
    use crate::fake_node::FakeNode;

    #[test]
    fn error_answers_show_the_message_and_status() {
        let node = FakeNode::start(|_, path, _| match path {
            "/blocks/99" => (404, r#"{"error":"no block at height 99"}"#.into()),
            "/oops" => (500, "internal trouble".into()),
            _ => (200, r#"{"ok":true}"#.into()),
        });
        let client = Client::new(&format!("{}/", node.url));

        let err = client.get("/blocks/99").unwrap_err();
        let node_err = err.downcast_ref::<NodeError>().expect("a NodeError");
        assert_eq!(node_err.status, 404);
        assert_eq!(
            err.to_string(),
            format!(
                "no block at height 99 (HTTP 404 Not Found from GET {}/blocks/99)",
                node.url
            )
        );

        let err = client.get("/oops").unwrap_err().to_string();
        assert!(err.starts_with("internal trouble (HTTP 500"), "{err}");

        assert_eq!(client.get("/fine").unwrap()["ok"], true);
    }

    #[test]
    fn unreachable_node_names_the_url() {
        // Bind then drop a listener so the port is (almost surely) closed.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("http://127.0.0.1:{port}");
        let err = Client::new(&url).get("/status").unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("cannot reach the node at {url}")),
            "{err}"
        );
    }

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
}
