//! Block validity: header checks (alone, and against the parent) and full
//! verification by executing the block on its parent's state.

use crate::execute::{execute_block, BlockContext, ExecError, ExecutedBlock, Signatures};
use crate::genesis::ChainSpec;
use crate::primitives::batch::BatchVerifier;
use crate::primitives::signing;
use crate::primitives::{Account, Block, Hash, SealedHeader, Signature};
use crate::state::StateView;

use super::{proposer_for, slot_at};

/// Why a block is not (yet) acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlockError {
    #[error("parent mismatch: expected {expected}, found {found}")]
    WrongParent { expected: Hash, found: Hash },
    #[error("wrong height: expected {expected}, found {found}")]
    WrongHeight { expected: u64, found: u64 },
    #[error("slot {slot} is not after the parent's slot {parent_slot}")]
    SlotNotAfterParent { slot: u64, parent_slot: u64 },
    #[error("timestamp {timestamp_ms} is not in slot {slot}")]
    TimestampOutsideSlot { slot: u64, timestamp_ms: u64 },
    #[error("wrong proposer for slot {slot}: expected {expected}, found {found}")]
    WrongProposer {
        slot: u64,
        expected: Account,
        found: Account,
    },
    #[error("bad block signature from {proposer}")]
    BadSignature { proposer: Account },
    #[error("block from the future: timestamp {timestamp_ms} is more than the allowed drift ahead of now {now_ms}")]
    FromFuture { timestamp_ms: u64, now_ms: u64 },
    #[error("tx_root mismatch: header says {expected}, transactions give {found}")]
    TxRootMismatch { expected: Hash, found: Hash },
    #[error("state_root mismatch: header says {expected}, execution gives {found}")]
    StateRootMismatch { expected: Hash, found: Hash },
    #[error(transparent)]
    Exec(#[from] ExecError),
}

/// Checks a header against its parent: height, slot, timestamp, proposer,
/// signature and clock drift. Does not execute transactions.
pub fn check_header(
    spec: &ChainSpec,
    parent: &SealedHeader,
    header: &SealedHeader,
    signature: &Signature,
    now_ms: u64,
) -> Result<(), BlockError> {
    let genesis = &spec.genesis;
    if header.parent != parent.hash() {
        return Err(BlockError::WrongParent {
            expected: parent.hash(),
            found: header.parent,
        });
    }
    if header.height != parent.height + 1 {
        return Err(BlockError::WrongHeight {
            expected: parent.height + 1,
            found: header.height,
        });
    }
    if header.slot <= parent.slot {
        return Err(BlockError::SlotNotAfterParent {
            slot: header.slot,
            parent_slot: parent.slot,
        });
    }
    check_header_alone(spec, header, signature)?;
    if header.timestamp_ms > now_ms.saturating_add(genesis.max_clock_drift_ms) {
        return Err(BlockError::FromFuture {
            timestamp_ms: header.timestamp_ms,
            now_ms,
        });
    }
    Ok(())
}

/// The checks a header passes on its own, before its parent is known:
/// timestamp in its slot, the slot's proposer, and the signature.
pub fn check_header_alone(
    spec: &ChainSpec,
    header: &SealedHeader,
    signature: &Signature,
) -> Result<(), BlockError> {
    let genesis = &spec.genesis;
    if slot_at(genesis, header.timestamp_ms) != Some(header.slot) {
        return Err(BlockError::TimestampOutsideSlot {
            slot: header.slot,
            timestamp_ms: header.timestamp_ms,
        });
    }
    let expected = proposer_for(genesis, header.slot);
    if header.proposer != expected {
        return Err(BlockError::WrongProposer {
            slot: header.slot,
            expected,
            found: header.proposer,
        });
    }
    if !signing::verify(&header.proposer, &header.hash().0, signature) {
        return Err(BlockError::BadSignature {
            proposer: header.proposer,
        });
    }
    Ok(())
}

/// Fully validates a block on its parent's state and returns its execution
/// (the state changes to commit).
pub fn verify_block(
    spec: &ChainSpec,
    parent: &SealedHeader,
    parent_state: &dyn StateView,
    block: &Block,
    now_ms: u64,
) -> Result<(SealedHeader, ExecutedBlock), BlockError> {
    let verifier = BatchVerifier::default();
    verify_block_with(spec, parent, parent_state, block, now_ms, &verifier)
}

/// [`verify_block`] with a given signature verifier (and its key cache).
pub fn verify_block_with(
    spec: &ChainSpec,
    parent: &SealedHeader,
    parent_state: &dyn StateView,
    block: &Block,
    now_ms: u64,
    verifier: &BatchVerifier,
) -> Result<(SealedHeader, ExecutedBlock), BlockError> {
    let header = SealedHeader::new(block.header.clone());
    check_header(spec, parent, &header, &block.signature, now_ms)?;
    let ctx = BlockContext {
        height: header.height,
        timestamp_ms: header.timestamp_ms,
        proposer: header.proposer,
    };
    // All signatures first, on all cores; only a block with a bad one is
    // executed with one-by-one checks, to report the same error as always.
    let genesis_hash = spec.genesis_hash();
    let signatures = if verifier
        .verify_txs(&genesis_hash, &block.txs)
        .iter()
        .all(Result::is_ok)
    {
        Signatures::AlreadyVerified
    } else {
        Signatures::Verify
    };
    let executed = execute_block(spec, parent_state, ctx, &block.txs, signatures)?;
    if executed.tx_root != header.tx_root {
        return Err(BlockError::TxRootMismatch {
            expected: header.tx_root,
            found: executed.tx_root,
        });
    }
    if executed.state_root != header.state_root {
        return Err(BlockError::StateRootMismatch {
            expected: header.state_root,
            found: executed.state_root,
        });
    }
    Ok((header, executed))
}
