//! bwchain-api: the HTTP API's wire format (DESIGN.md §7), one set of serde
//! types shared by the node that serves it and the clients that call it.
//!
//! - [`status`]: `GET /status`: head, finality, authorities and their
//!   latest blocks, peers, mempool.
//! - [`blocks`]: `GET /blocks` (a page of header summaries) and
//!   `GET /blocks/{id}` (a full block); a header's fields with its hash
//!   ([`blocks::HeaderJson`]), also used by [`evidence`].
//! - [`txs`]: `GET /txs/{hash}`, and the answers of `POST /txs` and
//!   `POST /txs/batch` (whose bodies are `bwchain_core` transactions).
//! - [`accounts`]: `GET /accounts/{hex}` and
//!   `GET /sessions/{provider}/{consumer}/{session}`.
//! - [`inventory`]: `GET /devices` and `GET /accounts/{hex}/txs`: pages
//!   of registered devices and of an account's transactions.
//! - [`finality`]: `GET /blocks/{height}/justification`: a finality proof.
//! - [`evidence`]: `GET /evidence`: equivocations of blocks and of votes,
//!   both signed items each.
//! - [`errors`]: the `{"error": ...}` body of every `4xx`/`5xx` answer.
//! - [`client`] (feature `client`): a blocking client (ureq), the only part
//!   that does I/O.
//!
//! Every type serializes to exactly what the node sends: keys and hashes as
//! lowercase hex, amounts, bytes and heights as integers, a value that may be
//! absent as `null` (never a missing field). Decoding ignores unknown fields,
//! so a client keeps working with a node that adds some; fields a newer node
//! added are `#[serde(default)]`, so a client still reads an older node.
//! `GET /metrics` is Prometheus text, not JSON, and has no type here.

pub mod accounts;
pub mod blocks;
#[cfg(feature = "client")]
pub mod client;
pub mod errors;
pub mod evidence;
pub mod finality;
pub mod inventory;
pub mod status;
pub mod txs;

#[cfg(test)]
mod round_trip;
