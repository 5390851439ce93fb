//! The node's HTTP API responses (DESIGN.md §7), as the CLI reads them.
//!
//! Only the fields the CLI shows are declared, and unknown fields are
//! ignored, so a node that adds fields keeps working with an older CLI.
//! `--json` prints the node's response as it came, not these types.

use bwchain_core::primitives::{Account, Hash, RewardKind, Signature, TxBody, TxOutcome};
use serde::Deserialize;

/// `GET /status`.
#[derive(Debug, Clone, Deserialize)]
pub struct Status {
    pub chain_id: String,
    pub genesis_hash: Hash,
    pub height: u64,
    pub head_hash: Hash,
    pub finalized_height: u64,
    pub finalized_hash: Hash,
    pub authorities: Vec<Account>,
    pub peers: Vec<PeerInfo>,
    pub mempool: u64,
    pub syncing: bool,
    #[serde(default)]
    pub head_timestamp_ms: u64,
    #[serde(default)]
    pub block_time_ms: u64,
    /// When each authority last proposed a block on the chosen chain.
    #[serde(default)]
    pub authority_activity: Vec<AuthorityActivity>,
    /// Equivocation evidence the node holds (see `GET /evidence`).
    #[serde(default)]
    pub evidence: u64,
}

/// One connected peer in `GET /status`.
#[derive(Debug, Clone, Deserialize)]
pub struct PeerInfo {
    pub address: String,
    pub head_height: u64,
}

/// One authority's latest block in `GET /status`.
#[derive(Debug, Clone, Deserialize)]
pub struct AuthorityActivity {
    pub authority: Account,
    pub last_height: Option<u64>,
    pub last_timestamp_ms: Option<u64>,
}

/// `GET /accounts/{hex}`.
#[derive(Debug, Clone, Deserialize)]
pub struct AccountInfo {
    pub account: Account,
    pub balance: u64,
    pub nonce: u64,
    /// The nonce for the next transaction: `nonce` plus the sender's pending
    /// mempool transactions.
    pub next_nonce: u64,
    pub device: bool,
}

/// `GET /sessions/{provider}/{consumer}/{session}`.
#[derive(Debug, Clone, Deserialize)]
pub struct SessionInfo {
    pub provider: Account,
    pub consumer: Account,
    pub session: u64,
    pub bytes: u64,
}

/// `202` answer of `POST /txs`.
#[derive(Debug, Clone, Deserialize)]
pub struct Submitted {
    pub hash: Hash,
}

/// A transaction as it appears in `GET /txs/{hash}`.
#[derive(Debug, Clone, Deserialize)]
pub struct TxJson {
    pub from: Account,
    pub nonce: u64,
    pub body: TxBody,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TxStatus {
    Pending,
    Included,
}

/// `GET /txs/{hash}`.
#[derive(Debug, Clone, Deserialize)]
pub struct TxInfo {
    pub hash: Hash,
    pub status: TxStatus,
    pub block_height: Option<u64>,
    pub block_hash: Option<Hash>,
    pub tx: TxJson,
    pub outcome: Option<TxOutcome>,
}

/// A transaction inside a block: the tx JSON plus its hash.
#[derive(Debug, Clone, Deserialize)]
pub struct BlockTx {
    pub hash: Hash,
    pub from: Account,
    pub body: TxBody,
}

/// Tokens minted to one account in a block.
#[derive(Debug, Clone, Deserialize)]
pub struct RewardInfo {
    pub account: Account,
    pub amount: u64,
    /// DESIGN.md §7 lists only `account` and `amount`; tolerate its absence.
    #[serde(default)]
    pub kind: Option<RewardKind>,
}

/// `GET /blocks/{latest|height|hash}`.
#[derive(Debug, Clone, Deserialize)]
pub struct Block {
    pub height: u64,
    pub slot: u64,
    pub timestamp_ms: u64,
    pub parent: Hash,
    pub proposer: Account,
    pub tx_root: Hash,
    pub state_root: Hash,
    pub hash: Hash,
    pub signature: Signature,
    pub txs: Vec<BlockTx>,
    pub rewards: Vec<RewardInfo>,
}

/// One entry of `GET /blocks?from=H&limit=N`.
#[derive(Debug, Clone, Deserialize)]
pub struct BlockSummary {
    pub height: u64,
    pub slot: u64,
    pub timestamp_ms: u64,
    pub proposer: Account,
    pub hash: Hash,
    /// Number of transactions in the block.
    pub txs: u64,
}
