//! `GET /blocks` (a page of header summaries, oldest first) and
//! `GET /blocks/{latest|height|hash}` (a whole block).

use std::fmt::Display;

use bwchain_core::primitives::{
    Account, Hash, Header, Reward, RewardKind, SealedHeader, Signature, Tx, TxBody,
};
use serde::{Deserialize, Serialize};

pub const PATH: &str = "/blocks";
/// Most headers one page holds.
pub const MAX_PER_PAGE: u64 = 100;
/// Headers in a page when the request gives no `limit`.
pub const DEFAULT_PER_PAGE: u64 = 20;

/// `/blocks/{id}`, where `id` is `latest`, a height or a 64-hex hash.
pub fn path(id: impl Display) -> String {
    format!("{PATH}/{id}")
}

/// `/blocks/{id}/tx-hashes`: only the hashes of a block's transactions.
pub fn tx_hashes_path(id: impl Display) -> String {
    format!("{PATH}/{id}/tx-hashes")
}

/// `/blocks?limit=N`, then `&from=H` when a first height is given.
pub fn page_path(from: Option<u64>, limit: u64) -> String {
    match from {
        Some(from) => format!("{PATH}?limit={limit}&from={from}"),
        None => format!("{PATH}?limit={limit}"),
    }
}

/// The query of `GET /blocks`: the first height (default: the page ends
/// with the head) and the page size (default [`DEFAULT_PER_PAGE`], at most
/// [`MAX_PER_PAGE`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageQuery {
    pub from: Option<u64>,
    pub limit: Option<u64>,
}

/// A header's fields at the top level, with its hash. Core's `Header`
/// refuses unknown fields, so it cannot be flattened into a bigger object
/// and read back: its fields are spelled out here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeaderJson {
    pub height: u64,
    pub slot: u64,
    pub timestamp_ms: u64,
    pub parent: Hash,
    pub proposer: Account,
    pub tx_root: Hash,
    pub state_root: Hash,
    pub hash: Hash,
}

impl HeaderJson {
    /// `hash` is the header's hash, computed by whoever holds it sealed.
    pub fn new(header: &Header, hash: Hash) -> Self {
        Self {
            height: header.height,
            slot: header.slot,
            timestamp_ms: header.timestamp_ms,
            parent: header.parent,
            proposer: header.proposer,
            tx_root: header.tx_root,
            state_root: header.state_root,
            hash,
        }
    }

    /// The header without its hash (which a reader may recompute).
    pub fn header(&self) -> Header {
        Header {
            height: self.height,
            slot: self.slot,
            timestamp_ms: self.timestamp_ms,
            parent: self.parent,
            proposer: self.proposer,
            tx_root: self.tx_root,
            state_root: self.state_root,
        }
    }
}

impl From<&SealedHeader> for HeaderJson {
    fn from(sealed: &SealedHeader) -> Self {
        Self::new(sealed.header(), sealed.hash())
    }
}

/// A header with its hash and its proposer's signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedHeader {
    #[serde(flatten)]
    pub header: HeaderJson,
    pub signature: Signature,
}

impl SignedHeader {
    /// A header with its (recomputed) hash and its signature.
    pub fn new(header: &Header, signature: Signature) -> Self {
        Self {
            header: HeaderJson::new(header, header.hash()),
            signature,
        }
    }
}

/// One entry of `GET /blocks`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockSummary {
    #[serde(flatten)]
    pub header: HeaderJson,
    /// Number of transactions in the block.
    pub txs: u64,
}

/// `GET /blocks/{id}/tx-hashes`: which transactions a block holds, in
/// order, without their bodies (a full block of claims is megabytes of
/// JSON; this is 67 bytes a transaction).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockTxHashes {
    pub height: u64,
    pub hash: Hash,
    pub tx_hashes: Vec<Hash>,
}

/// `GET /blocks/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Block {
    #[serde(flatten)]
    pub header: HeaderJson,
    pub signature: Signature,
    pub txs: Vec<BlockTx>,
    pub rewards: Vec<BlockReward>,
    /// Tokens minted in this block.
    #[serde(default)]
    pub minted: u64,
}

/// A transaction inside a block: its fields and its hash. Core's `Tx`
/// refuses unknown fields, so they are spelled out here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockTx {
    pub hash: Hash,
    pub from: Account,
    pub nonce: u64,
    pub body: TxBody,
    pub signature: Signature,
}

impl BlockTx {
    pub fn new(hash: Hash, tx: &Tx) -> Self {
        Self {
            hash,
            from: tx.from,
            nonce: tx.nonce,
            body: tx.body.clone(),
            signature: tx.signature,
        }
    }

    /// The transaction without its hash.
    pub fn tx(&self) -> Tx {
        Tx {
            from: self.from,
            nonce: self.nonce,
            body: self.body.clone(),
            signature: self.signature,
        }
    }
}

/// Tokens minted to one account in a block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockReward {
    pub account: Account,
    pub amount: u64,
    /// Always sent; DESIGN.md §7 lists only `account` and `amount`, so a
    /// reader tolerates its absence.
    #[serde(default)]
    pub kind: Option<RewardKind>,
}

impl From<&Reward> for BlockReward {
    fn from(reward: &Reward) -> Self {
        Self {
            account: reward.account,
            amount: reward.amount,
            kind: Some(reward.kind),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::round_trip::assert_round_trip;

    #[test]
    fn block_with_a_transfer_and_a_claim_round_trips() {
        let sample = r#"{"hash":"0b8e192f31dce579907c9ab3e012252e1f3438a202c44f4b1ce0b1983f25e555","height":1,"minted":100500,"parent":"90e1d7948b6e0c29678cda95b13b232efde90959058220310c8580ed00779b19","proposer":"e634d24e6c16ad31c2e034df755912c6bd72fa1744269a165b8990d10ef9bbca","rewards":[{"account":"e634d24e6c16ad31c2e034df755912c6bd72fa1744269a165b8990d10ef9bbca","amount":100000,"kind":"proposer"},{"account":"537a22b03a71ea74db40739b7f6bdc2699f0090ee8555396d3e5dc8cd3f86a16","amount":500,"kind":"provider"}],"signature":"6d27f9359978190bc514d2f8cf0e4f4382adba8b59ed9b78a6af8c8f729a9fa3e69ec1a196d2738d7802d0d3d782ac21b50d88353aa57b0ad72aca227b7dd30f","slot":1,"state_root":"7eca996c9652c484f29014d7135602972a1065c543eecd836cae20ba6e0abad3","timestamp_ms":1001010,"tx_root":"350b3131f549f5da281f100fbc369b3cda53b736447cf0c063ba75bd9e3f5cdd","txs":[{"body":{"amount":5,"to":"537a22b03a71ea74db40739b7f6bdc2699f0090ee8555396d3e5dc8cd3f86a16","type":"transfer"},"from":"e634d24e6c16ad31c2e034df755912c6bd72fa1744269a165b8990d10ef9bbca","hash":"9e13cfe4df7477125a08106770da2ae02c9cfca09b9b0e214cd81371d74085cb","nonce":0,"signature":"3c2af10759eb35f0b2709532c5c2dd8201137c0d9528470f0ee2fe2f1bc228961187d22d08f0f2dd39456d8253c5ddd1738fcd9d5b0931f0aea52d17abae5102"},{"body":{"receipts":[{"bytes":500,"consumer":"ef803fe07c390df410e375a7fc5a9b913eabcf1d1c56155f93ddd5d2d4a17a83","provider":"537a22b03a71ea74db40739b7f6bdc2699f0090ee8555396d3e5dc8cd3f86a16","session":1,"signature":"e42741f3d9eba79ccd20a78e4b8c1d82ac71410a45f05c066f806c764bdf7c6cf0a7937812c58ae2fb9d2dfb5e66eaeb858b1205dd3605307ac5ba8d8ba38004"}],"type":"claim"},"from":"537a22b03a71ea74db40739b7f6bdc2699f0090ee8555396d3e5dc8cd3f86a16","hash":"d9c24b4159d9de9c7469286d1514f2f0a7b8d67186ce7df34fd28261deea9fb5","nonce":0,"signature":"2ccfea573158f754c48ecd4d7b697b276a128ec1abb4417e3052e00287d798017dae2b7ad9ab7b395ba238193204659ca94985f84047611467e5d21853df7208"}]}"#;
        let block: Block = assert_round_trip(sample);
        assert_eq!(block.header.header().hash(), block.header.hash);
        assert_eq!(block.txs.len(), 2);
        assert_eq!(block.txs[1].tx().body.kind(), "claim");
        assert_eq!(block.rewards[1].kind, Some(RewardKind::Provider));
        assert_eq!(block.minted, 100_500);
    }

    #[test]
    fn genesis_block_round_trips() {
        let sample = r#"{"hash":"90e1d7948b6e0c29678cda95b13b232efde90959058220310c8580ed00779b19","height":0,"minted":0,"parent":"0000000000000000000000000000000000000000000000000000000000000000","proposer":"0000000000000000000000000000000000000000000000000000000000000000","rewards":[],"signature":"00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000","slot":0,"state_root":"4c2f78d340d20a17e7e2b2ebeb4e32ba4bd166a9d9d266ff847333ecbc639487","timestamp_ms":1000000,"tx_root":"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","txs":[]}"#;
        let block: Block = assert_round_trip(sample);
        assert_eq!(block.header.hash, block.header.header().hash());
        assert!(block.txs.is_empty() && block.rewards.is_empty());
    }

    #[test]
    fn page_of_summaries_round_trips() {
        let sample = r#"[{"hash":"90e1d7948b6e0c29678cda95b13b232efde90959058220310c8580ed00779b19","height":0,"parent":"0000000000000000000000000000000000000000000000000000000000000000","proposer":"0000000000000000000000000000000000000000000000000000000000000000","slot":0,"state_root":"4c2f78d340d20a17e7e2b2ebeb4e32ba4bd166a9d9d266ff847333ecbc639487","timestamp_ms":1000000,"tx_root":"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","txs":0},{"hash":"0b8e192f31dce579907c9ab3e012252e1f3438a202c44f4b1ce0b1983f25e555","height":1,"parent":"90e1d7948b6e0c29678cda95b13b232efde90959058220310c8580ed00779b19","proposer":"e634d24e6c16ad31c2e034df755912c6bd72fa1744269a165b8990d10ef9bbca","slot":1,"state_root":"7eca996c9652c484f29014d7135602972a1065c543eecd836cae20ba6e0abad3","timestamp_ms":1001010,"tx_root":"350b3131f549f5da281f100fbc369b3cda53b736447cf0c063ba75bd9e3f5cdd","txs":2},{"hash":"9a426be68e3efd995d816cefdc59f79578806102f8012c9f5d2b60bf8ec24bdb","height":2,"parent":"0b8e192f31dce579907c9ab3e012252e1f3438a202c44f4b1ce0b1983f25e555","proposer":"e634d24e6c16ad31c2e034df755912c6bd72fa1744269a165b8990d10ef9bbca","slot":2,"state_root":"c79e33a7b2876267cc30bb26d9f0d1135a9d7b08bd3cddc19299d36ba7295f19","timestamp_ms":1002010,"tx_root":"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","txs":0}]"#;
        let page: Vec<BlockSummary> = assert_round_trip(sample);
        let counts: Vec<u64> = page.iter().map(|summary| summary.txs).collect();
        assert_eq!(counts, [0, 2, 0]);
        assert_eq!(page[1].header.parent, page[0].header.hash);
    }

    #[test]
    fn a_header_keeps_its_hash() {
        let block: Block = serde_json::from_str(r#"{"hash":"0b8e192f31dce579907c9ab3e012252e1f3438a202c44f4b1ce0b1983f25e555","height":1,"minted":100500,"parent":"90e1d7948b6e0c29678cda95b13b232efde90959058220310c8580ed00779b19","proposer":"e634d24e6c16ad31c2e034df755912c6bd72fa1744269a165b8990d10ef9bbca","rewards":[{"account":"e634d24e6c16ad31c2e034df755912c6bd72fa1744269a165b8990d10ef9bbca","amount":100000,"kind":"proposer"},{"account":"537a22b03a71ea74db40739b7f6bdc2699f0090ee8555396d3e5dc8cd3f86a16","amount":500,"kind":"provider"}],"signature":"6d27f9359978190bc514d2f8cf0e4f4382adba8b59ed9b78a6af8c8f729a9fa3e69ec1a196d2738d7802d0d3d782ac21b50d88353aa57b0ad72aca227b7dd30f","slot":1,"state_root":"7eca996c9652c484f29014d7135602972a1065c543eecd836cae20ba6e0abad3","timestamp_ms":1001010,"tx_root":"350b3131f549f5da281f100fbc369b3cda53b736447cf0c063ba75bd9e3f5cdd","txs":[{"body":{"amount":5,"to":"537a22b03a71ea74db40739b7f6bdc2699f0090ee8555396d3e5dc8cd3f86a16","type":"transfer"},"from":"e634d24e6c16ad31c2e034df755912c6bd72fa1744269a165b8990d10ef9bbca","hash":"9e13cfe4df7477125a08106770da2ae02c9cfca09b9b0e214cd81371d74085cb","nonce":0,"signature":"3c2af10759eb35f0b2709532c5c2dd8201137c0d9528470f0ee2fe2f1bc228961187d22d08f0f2dd39456d8253c5ddd1738fcd9d5b0931f0aea52d17abae5102"},{"body":{"receipts":[{"bytes":500,"consumer":"ef803fe07c390df410e375a7fc5a9b913eabcf1d1c56155f93ddd5d2d4a17a83","provider":"537a22b03a71ea74db40739b7f6bdc2699f0090ee8555396d3e5dc8cd3f86a16","session":1,"signature":"e42741f3d9eba79ccd20a78e4b8c1d82ac71410a45f05c066f806c764bdf7c6cf0a7937812c58ae2fb9d2dfb5e66eaeb858b1205dd3605307ac5ba8d8ba38004"}],"type":"claim"},"from":"537a22b03a71ea74db40739b7f6bdc2699f0090ee8555396d3e5dc8cd3f86a16","hash":"d9c24b4159d9de9c7469286d1514f2f0a7b8d67186ce7df34fd28261deea9fb5","nonce":0,"signature":"2ccfea573158f754c48ecd4d7b697b276a128ec1abb4417e3052e00287d798017dae2b7ad9ab7b395ba238193204659ca94985f84047611467e5d21853df7208"}]}"#).unwrap();
        let sealed = SealedHeader::new(block.header.header());
        assert_eq!(HeaderJson::from(&sealed), block.header);
    }

    #[test]
    fn a_reward_without_kind_is_read() {
        let reward: BlockReward = serde_json::from_str(
            r#"{"account":"0000000000000000000000000000000000000000000000000000000000000000","amount":7}"#,
        )
        .unwrap();
        assert_eq!((reward.amount, reward.kind), (7, None));
    }

    #[test]
    fn paths() {
        assert_eq!(path("latest"), "/blocks/latest");
        assert_eq!(path(7), "/blocks/7");
        assert_eq!(page_path(None, 20), "/blocks?limit=20");
        assert_eq!(page_path(Some(3), 5), "/blocks?limit=5&from=3");
    }
}
