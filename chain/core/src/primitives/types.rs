//! Protocol types: keys, hashes, receipts, transactions, headers and blocks.
//!
//! Every type here has two encodings:
//! - bincode *legacy* layout (fixed-width little-endian integers, raw fixed
//!   arrays, u64 length prefixes, u32 enum tags), used for everything that is
//!   hashed, signed, stored or sent to a peer;
//! - JSON, used by the HTTP API and the CLI, with keys and hashes as lowercase
//!   hex and amounts as integers.

use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

use super::bytes::{Account, Hash, Signature};
use super::codec::encode;
use super::hash::{sha256_parts, BLOCK_DOMAIN};

/// A consumer's signed statement of the total bytes it received from one
/// provider in one session. Cumulative: later receipts carry larger `bytes`.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Receipt {
    pub provider: Account,
    pub consumer: Account,
    pub session: u64,
    pub bytes: u64,
    pub signature: Signature,
}

/// What a transaction does.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum TxBody {
    /// A provider claims credit for receipts its consumers signed.
    Claim { receipts: Vec<Receipt> },
    /// Move tokens to another account.
    Transfer { to: Account, amount: u64 },
    /// Register (`active = true`) or revoke a device. Authorities only.
    SetDevice { device: Account, active: bool },
}

impl TxBody {
    pub fn kind(&self) -> &'static str {
        match self {
            TxBody::Claim { .. } => "claim",
            TxBody::Transfer { .. } => "transfer",
            TxBody::SetDevice { .. } => "set_device",
        }
    }
}

/// A signed transaction.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tx {
    pub from: Account,
    pub nonce: u64,
    pub body: TxBody,
    pub signature: Signature,
}

/// A block header. Its hash is `SHA-256("bwchain/block/v1" || bincode(header))`.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    pub height: u64,
    pub slot: u64,
    pub timestamp_ms: u64,
    pub parent: Hash,
    pub proposer: Account,
    pub tx_root: Hash,
    pub state_root: Hash,
}

impl Header {
    /// `block_hash = SHA-256("bwchain/block/v1" || bincode(header))`.
    pub fn hash(&self) -> Hash {
        sha256_parts(&[BLOCK_DOMAIN, &encode(self)])
    }
}

/// A block as signed by its proposer and sent between nodes.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct Block {
    pub header: Header,
    pub signature: Signature,
    pub txs: Vec<Tx>,
}

/// A header together with its hash, computed once when the header was built
/// or decoded, so the two never disagree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedHeader {
    header: Header,
    hash: Hash,
}

impl SealedHeader {
    pub fn new(header: Header) -> Self {
        let hash = header.hash();
        Self { header, hash }
    }

    pub fn header(&self) -> &Header {
        &self.header
    }

    pub fn hash(&self) -> Hash {
        self.hash
    }

    pub fn into_header(self) -> Header {
        self.header
    }
}

impl std::ops::Deref for SealedHeader {
    type Target = Header;
    fn deref(&self) -> &Header {
        &self.header
    }
}

/// What one receipt of an included claim earned.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct ReceiptOutcome {
    pub consumer: Account,
    pub session: u64,
    /// Increase over the session's previous counter that was credited.
    pub credited_bytes: u64,
    /// Increase that exceeded a capacity budget and earns nothing.
    pub forfeited_bytes: u64,
}

/// The effect of an included transaction.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TxOutcome {
    Claim {
        receipts: Vec<ReceiptOutcome>,
        /// The provider's whole reward in the block that included the claim
        /// (summed over all its claims in that block).
        provider_reward: u64,
    },
    Transfer,
    SetDevice,
}

impl TxOutcome {
    /// Bytes the transaction's receipts credited (0 for anything but a
    /// claim), saturating: a display and index figure, not a consensus one.
    pub fn credited_bytes(&self) -> u64 {
        match self {
            TxOutcome::Claim { receipts, .. } => receipts
                .iter()
                .map(|receipt| receipt.credited_bytes)
                .fold(0, u64::saturating_add),
            TxOutcome::Transfer | TxOutcome::SetDevice => 0,
        }
    }
}

/// Why tokens were minted to an account in a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RewardKind {
    Proposer,
    Provider,
}

/// Tokens minted to one account in one block.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct Reward {
    pub account: Account,
    pub amount: u64,
    pub kind: RewardKind,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::primitives::HexError;

    #[test]
    fn hex_round_trip_and_errors() {
        let hash: Hash = format!("{}ff", "00".repeat(31)).parse().unwrap();
        assert_eq!(hash.0[31], 0xff);
        assert_eq!(hash.to_string(), format!("{}ff", "00".repeat(31)));
        assert_eq!(
            "abc".parse::<Hash>(),
            Err(HexError::Length {
                expected: 64,
                found: 3
            })
        );
        assert!(matches!(
            "zz".repeat(32).parse::<Account>(),
            Err(HexError::Character(_))
        ));
    }

    #[test]
    fn tx_json_shape() {
        let tx = Tx {
            from: Account([1; 32]),
            nonce: 7,
            body: TxBody::Transfer {
                to: Account([2; 32]),
                amount: 5,
            },
            signature: Signature([3; 64]),
        };
        let json = serde_json::to_value(&tx).unwrap();
        assert_eq!(json["body"]["type"], "transfer");
        assert_eq!(json["body"]["amount"], 5);
        assert_eq!(json["from"], "01".repeat(32));
        let back: Tx = serde_json::from_value(json).unwrap();
        assert_eq!(back, tx);
    }

    #[test]
    fn tx_json_rejects_unknown_fields() {
        let text = format!(
            r#"{{"from":"{a}","nonce":0,"body":{{"type":"transfer","to":"{a}","amount":1,"x":1}},"signature":"{s}"}}"#,
            a = "01".repeat(32),
            s = "02".repeat(64)
        );
        assert!(serde_json::from_str::<Tx>(&text).is_err());
    }
}
