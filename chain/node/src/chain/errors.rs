//! The chain service's errors: each says what was expected and what was found.

use bwchain_core::primitives::signing::SignatureError;

use super::*;

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("block execution failed: {0}")]
    Exec(#[from] ExecError),
    #[error("key {key} is not an authority of this chain")]
    NotAuthority { key: Account },
}

impl From<StorageError> for NodeError {
    fn from(err: StorageError) -> Self {
        NodeError::Store(err.into())
    }
}

/// Why a submitted transaction was refused.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error(transparent)]
    Invalid(#[from] TxError),
    #[error(transparent)]
    Mempool(#[from] MempoolError),
    #[error("already included in block {height}")]
    AlreadyIncluded { height: u64 },
    /// The node's storage failed: the node's fault, not the sender's.
    #[error(transparent)]
    Storage(#[from] StoreError),
}

impl SubmitError {
    /// A short, fixed label for the `reason` of
    /// `bwchain_txs_rejected_total`: a handful of values, never data.
    pub fn reason(&self) -> &'static str {
        match self {
            SubmitError::Invalid(error) => match error {
                TxError::BadSignature { .. } | TxError::BadReceiptSignature { .. } => {
                    "bad_signature"
                }
                TxError::InadmissibleSender { .. }
                | TxError::InadmissibleRecipient { .. }
                | TxError::InadmissibleDevice { .. } => "inadmissible_key",
                TxError::WrongNonce { .. } => "wrong_nonce",
                TxError::NoReceipts
                | TxError::TooManyReceipts { .. }
                | TxError::ProviderMismatch { .. }
                | TxError::SelfReceipt { .. } => "malformed_claim",
                TxError::UnknownDevice { .. } => "unknown_device",
                TxError::ReplayedReceipt { .. } => "replayed_receipt",
                TxError::ZeroAmount | TxError::SelfTransfer { .. } => "malformed_transfer",
                TxError::Overspend { .. } | TxError::BalanceOverflow => "balance",
                TxError::NotAuthority { .. } => "not_authority",
                TxError::DeviceUnchanged { .. } | TxError::DeviceNotRegistered { .. } => {
                    "device_unchanged"
                }
                TxError::Storage(_) => "storage",
            },
            SubmitError::Mempool(MempoolError::WrongNonce { .. }) => "wrong_nonce",
            SubmitError::Mempool(_) => "mempool_full",
            SubmitError::AlreadyIncluded { .. } => "already_included",
            SubmitError::Storage(_) => "storage",
        }
    }
}

impl From<SignatureError> for SubmitError {
    fn from(err: SignatureError) -> Self {
        SubmitError::Invalid(err.into())
    }
}

impl From<StorageError> for SubmitError {
    fn from(err: StorageError) -> Self {
        SubmitError::Storage(err.into())
    }
}

/// Why a peer's block was refused.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("invalid block {hash}: {error}")]
    Invalid { hash: Hash, error: Box<BlockError> },
    #[error("block {hash} was already found invalid")]
    KnownInvalid { hash: Hash },
    #[error(transparent)]
    Node(#[from] NodeError),
}

impl From<StoreError> for ImportError {
    fn from(err: StoreError) -> Self {
        ImportError::Node(NodeError::Store(err))
    }
}

/// What importing a block did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Imported {
    /// Already known (on the chain, a side branch, or waiting).
    Known,
    /// From too far in the future: held until its time.
    Held,
    /// Its parent is unknown: kept while the ancestors are fetched.
    Orphan { missing: Hash },
    /// Valid so far, on a branch that does not beat the head.
    Side,
    /// Extended the chosen chain.
    Extended,
    /// Switched to a better branch, reverting `reverted` blocks.
    Reorg { reverted: u64 },
}

/// A peer's misbehaviour, for the network layer to drop (and ban) it.
#[derive(Debug, thiserror::Error)]
pub enum Misbehavior {
    #[error("a second hello")]
    SecondHello,
    #[error("sent {found} blocks, at most {max} allowed")]
    TooManyBlocks { found: usize, max: u32 },
    /// An invalid block, or one already known to be invalid.
    #[error(transparent)]
    BadBlock(ImportError),
    /// A badly signed or malformed vote or certificate.
    #[error("bad vote: {0}")]
    BadVote(bwchain_core::finality::VoteError),
    /// A finality proof that does not hold.
    #[error("bad finality proof: {0}")]
    BadProof(bwchain_core::finality::ProofError),
    /// A relayed transaction whose signature (or a receipt's) does not
    /// verify: honest nodes check before relaying. The network scores it
    /// rather than banning at once.
    #[error("relayed a badly signed transaction: {0}")]
    BadTxSignature(TxError),
}
