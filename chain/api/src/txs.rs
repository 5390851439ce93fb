//! `GET /txs/{hash}`, and the answers of `POST /txs` and `POST /txs/batch`.
//! The request bodies are `bwchain_core` transactions as JSON: one `Tx`,
//! or an array of them; a batch may instead be sent in the consensus
//! encoding ([`BINARY_CONTENT_TYPE`], [`encode_batch`]).

use bwchain_core::primitives::{Hash, Tx, TxOutcome};
use serde::{Deserialize, Serialize};

/// `POST` one transaction here.
pub const PATH: &str = "/txs";
/// `POST` an array of transactions here.
pub const BATCH_PATH: &str = "/txs/batch";

/// The `Content-Type` under which `POST /txs/batch` reads its body as the
/// consensus encoding of a `Vec<Tx>` ([`encode_batch`]) instead of JSON.
pub const BINARY_CONTENT_TYPE: &str = "application/octet-stream";

/// A binary `POST /txs/batch` body: the bincode legacy layout that peers
/// use for transactions (a u64 count, then each transaction).
pub fn encode_batch(txs: &[Tx]) -> Vec<u8> {
    bwchain_core::primitives::codec::encode(&txs)
}

/// `/txs/{hash}`.
pub fn path(hash: &Hash) -> String {
    format!("{PATH}/{hash}")
}

/// Where a transaction is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TxState {
    /// In the mempool.
    Pending,
    /// In a block of the chosen chain.
    Included,
}

/// `GET /txs/{hash}`. `block_height`, `block_hash` and `outcome` are
/// `null` while the transaction is pending.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxInfo {
    pub hash: Hash,
    pub status: TxState,
    pub block_height: Option<u64>,
    pub block_hash: Option<Hash>,
    pub tx: Tx,
    pub outcome: Option<TxOutcome>,
    /// Whether the including block is final (never reverted).
    #[serde(default)]
    pub finalized: bool,
}

impl TxInfo {
    pub fn pending(hash: Hash, tx: Tx) -> Self {
        Self {
            hash,
            status: TxState::Pending,
            block_height: None,
            block_hash: None,
            tx,
            outcome: None,
            finalized: false,
        }
    }

    pub fn included(
        hash: Hash,
        tx: Tx,
        block_height: u64,
        block_hash: Hash,
        outcome: TxOutcome,
        finalized: bool,
    ) -> Self {
        Self {
            hash,
            status: TxState::Included,
            block_height: Some(block_height),
            block_hash: Some(block_hash),
            tx,
            outcome: Some(outcome),
            finalized,
        }
    }
}

/// The `202` answer of `POST /txs`: the transaction is in the mempool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Submitted {
    pub hash: Hash,
}

/// The `200` answer of `POST /txs/batch`: one result per transaction, in
/// the order sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchAnswer {
    pub results: Vec<BatchResult>,
}

/// What became of one transaction of a batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum BatchResult {
    /// Admitted to the mempool.
    Admitted { hash: Hash },
    /// Refused: the message and the HTTP status `POST /txs` would have
    /// answered for it alone.
    Refused { error: String, status: u16 },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::round_trip::assert_round_trip;
    use bwchain_core::primitives::TxBody;

    #[test]
    fn included_transfer_round_trips() {
        let info: TxInfo = assert_round_trip(
            r#"{"block_hash":"0b8e192f31dce579907c9ab3e012252e1f3438a202c44f4b1ce0b1983f25e555","block_height":1,"finalized":true,"hash":"9e13cfe4df7477125a08106770da2ae02c9cfca09b9b0e214cd81371d74085cb","outcome":{"type":"transfer"},"status":"included","tx":{"body":{"amount":5,"to":"537a22b03a71ea74db40739b7f6bdc2699f0090ee8555396d3e5dc8cd3f86a16","type":"transfer"},"from":"e634d24e6c16ad31c2e034df755912c6bd72fa1744269a165b8990d10ef9bbca","nonce":0,"signature":"3c2af10759eb35f0b2709532c5c2dd8201137c0d9528470f0ee2fe2f1bc228961187d22d08f0f2dd39456d8253c5ddd1738fcd9d5b0931f0aea52d17abae5102"}}"#,
        );
        assert_eq!(info.status, TxState::Included);
        assert_eq!(info.block_height, Some(1));
        assert_eq!(info.outcome, Some(TxOutcome::Transfer));
    }

    #[test]
    fn included_claim_round_trips() {
        let info: TxInfo = assert_round_trip(
            r#"{"block_hash":"0b8e192f31dce579907c9ab3e012252e1f3438a202c44f4b1ce0b1983f25e555","block_height":1,"finalized":true,"hash":"d9c24b4159d9de9c7469286d1514f2f0a7b8d67186ce7df34fd28261deea9fb5","outcome":{"provider_reward":500,"receipts":[{"consumer":"ef803fe07c390df410e375a7fc5a9b913eabcf1d1c56155f93ddd5d2d4a17a83","credited_bytes":500,"forfeited_bytes":0,"session":1}],"type":"claim"},"status":"included","tx":{"body":{"receipts":[{"bytes":500,"consumer":"ef803fe07c390df410e375a7fc5a9b913eabcf1d1c56155f93ddd5d2d4a17a83","provider":"537a22b03a71ea74db40739b7f6bdc2699f0090ee8555396d3e5dc8cd3f86a16","session":1,"signature":"e42741f3d9eba79ccd20a78e4b8c1d82ac71410a45f05c066f806c764bdf7c6cf0a7937812c58ae2fb9d2dfb5e66eaeb858b1205dd3605307ac5ba8d8ba38004"}],"type":"claim"},"from":"537a22b03a71ea74db40739b7f6bdc2699f0090ee8555396d3e5dc8cd3f86a16","nonce":0,"signature":"2ccfea573158f754c48ecd4d7b697b276a128ec1abb4417e3052e00287d798017dae2b7ad9ab7b395ba238193204659ca94985f84047611467e5d21853df7208"}}"#,
        );
        assert!(matches!(info.tx.body, TxBody::Claim { .. }));
        let Some(TxOutcome::Claim {
            provider_reward, ..
        }) = info.outcome
        else {
            panic!("a claim's outcome")
        };
        assert_eq!(provider_reward, 500);
    }

    #[test]
    fn pending_transfer_round_trips() {
        let info: TxInfo = assert_round_trip(
            r#"{"block_hash":null,"block_height":null,"finalized":false,"hash":"f5c8a6f4384ff3a957dc86c6c2cad244dffa697b53bd88c3d26ed46b602bc71b","outcome":null,"status":"pending","tx":{"body":{"amount":1,"to":"ef803fe07c390df410e375a7fc5a9b913eabcf1d1c56155f93ddd5d2d4a17a83","type":"transfer"},"from":"e634d24e6c16ad31c2e034df755912c6bd72fa1744269a165b8990d10ef9bbca","nonce":1,"signature":"107210a0e59a5bd0334935fb2dd0083b9ecc2775e21e731b48cd251fec6f2469799e53284a1e6222140bd9fa0a0479e43fdc0f5bc5ba945897810a361fac3c05"}}"#,
        );
        assert_eq!(info, TxInfo::pending(info.hash, info.tx.clone()));
    }

    #[test]
    fn submitted_round_trips() {
        let submitted: Submitted = assert_round_trip(
            r#"{"hash":"f5c8a6f4384ff3a957dc86c6c2cad244dffa697b53bd88c3d26ed46b602bc71b"}"#,
        );
        assert_eq!(path(&submitted.hash), format!("/txs/{}", submitted.hash));
    }

    #[test]
    fn batch_answer_round_trips() {
        let answer: BatchAnswer = assert_round_trip(
            r#"{"results":[{"hash":"f5c8a6f4384ff3a957dc86c6c2cad244dffa697b53bd88c3d26ed46b602bc71b"},{"error":"wrong nonce: expected 2, found 7","status":400},{"error":"already included in block 1","status":409}]}"#,
        );
        assert!(matches!(answer.results[0], BatchResult::Admitted { .. }));
        assert_eq!(
            answer.results[2],
            BatchResult::Refused {
                error: "already included in block 1".into(),
                status: 409
            }
        );
    }
}
