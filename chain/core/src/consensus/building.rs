//! Building the block this node proposes from candidate transactions.

use std::collections::BTreeSet;

use crate::execute::{BlockContext, BlockExecutor, ExecError, ExecutedBlock, Signatures, TxError};
use crate::genesis::ChainSpec;
use crate::primitives::signing::Keypair;
use crate::primitives::{Account, Block, Hash, Header, SealedHeader, Tx};
use crate::state::StateView;

use super::slot_at;

/// A block this node is about to propose: its header and what executing it
/// produced, plus the candidate transactions that turned out invalid. It is
/// signed only when the node commits it ([`BuiltBlock::sign`]), so a block
/// built on a head that moved meanwhile can be dropped without ever having
/// signed anything for its slot.
pub struct BuiltBlock {
    pub header: SealedHeader,
    pub executed: ExecutedBlock,
    pub rejected: Vec<(Hash, TxError)>,
}

impl BuiltBlock {
    pub fn sign(&self, keypair: &Keypair) -> Block {
        Block {
            header: self.header.header().clone(),
            signature: keypair.sign(&self.header.hash().0),
            txs: self.executed.txs.clone(),
        }
    }
}

/// Builds a block on `parent` at `timestamp_ms` for `proposer` from candidate
/// transactions (already signature-checked), skipping those that fail.
pub fn build_block(
    spec: &ChainSpec,
    parent: &SealedHeader,
    parent_state: &dyn StateView,
    proposer: Account,
    timestamp_ms: u64,
    candidates: impl IntoIterator<Item = (Hash, Tx)>,
) -> Result<BuiltBlock, ExecError> {
    let slot = slot_at(&spec.genesis, timestamp_ms).unwrap_or(0);
    let ctx = BlockContext {
        height: parent.height + 1,
        timestamp_ms,
        proposer,
    };
    let mut executor = BlockExecutor::new(spec, parent_state, ctx);
    let mut rejected = Vec::new();
    let mut failed_senders = BTreeSet::new();
    for (hash, tx) in candidates {
        if executor.is_full() {
            break;
        }
        // After one failure a sender's later nonces cannot apply either.
        if failed_senders.contains(&tx.from) {
            rejected.push((
                hash,
                TxError::WrongNonce {
                    expected: tx.nonce.saturating_sub(1),
                    found: tx.nonce,
                },
            ));
            continue;
        }
        let from = tx.from;
        if let Err(error) = executor.push(tx, hash, Signatures::AlreadyVerified) {
            if let TxError::Storage(err) = error {
                return Err(ExecError::Storage(err));
            }
            failed_senders.insert(from);
            rejected.push((hash, error));
        }
    }
    let executed = executor.finish()?;
    let header = SealedHeader::new(Header {
        height: parent.height + 1,
        slot,
        timestamp_ms,
        parent: parent.hash(),
        proposer,
        tx_root: executed.tx_root,
        state_root: executed.state_root,
    });
    Ok(BuiltBlock {
        header,
        executed,
        rejected,
    })
}
