//! Proof-of-authority rules (DESIGN.md §4): slots, proposers, block
//! validity, block building and finality. Pure: the current time comes in as
//! an argument.

use std::collections::BTreeSet;

use crate::execute::{
    execute_block, BlockContext, BlockExecutor, ExecError, ExecutedBlock, Signatures, TxError,
};
use crate::genesis::{ChainSpec, Genesis};
use crate::primitives::batch::BatchVerifier;
use crate::primitives::signing::{self, Keypair};
use crate::primitives::{Account, Block, Hash, Header, SealedHeader, Tx};
use crate::state::StateView;

/// The slot `timestamp_ms` falls in, or `None` before genesis.
pub fn slot_at(genesis: &Genesis, timestamp_ms: u64) -> Option<u64> {
    timestamp_ms
        .checked_sub(genesis.genesis_time_ms)
        .map(|elapsed| elapsed / genesis.block_time_ms)
}

/// When `slot` starts, or `None` if that is past the end of time (u64 ms).
pub fn slot_start_ms(genesis: &Genesis, slot: u64) -> Option<u64> {
    slot.checked_mul(genesis.block_time_ms)
        .and_then(|offset| offset.checked_add(genesis.genesis_time_ms))
}

/// The authority whose turn `slot` is: `authorities[slot % n]`.
pub fn proposer_for(genesis: &Genesis, slot: u64) -> Account {
    let n = genesis.authorities.len() as u64;
    let index = usize::try_from(slot % n).expect("index below the number of authorities");
    genesis.authorities[index]
}

/// Distinct proposers needed to finalize a block: `floor(2n/3) + 1`.
pub fn finality_threshold(authorities: usize) -> usize {
    2 * authorities / 3 + 1
}

/// The highest height that is final, given the proposers of the blocks
/// after the last finalized one up to the head, in ascending height order.
/// A block is final once the distinct proposers of it and its descendants
/// reach the threshold.
pub fn newly_finalized(blocks: &[(u64, Account)], authorities: usize) -> Option<u64> {
    let threshold = finality_threshold(authorities);
    let mut proposers = BTreeSet::new();
    for (height, proposer) in blocks.iter().rev() {
        proposers.insert(*proposer);
        if proposers.len() >= threshold {
            return Some(*height);
        }
    }
    None
}

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
    signature: &crate::primitives::Signature,
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
    signature: &crate::primitives::Signature,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn accounts(n: usize) -> Vec<Account> {
        (0..n)
            .map(|i| Keypair::dev(&format!("authority-{i}")).account())
            .collect()
    }

    #[test]
    fn finality_threshold_table() {
        // n: 1..=7 -> floor(2n/3) + 1
        let table = [(1, 1), (2, 2), (3, 3), (4, 3), (5, 4), (6, 5), (7, 5)];
        for (n, expected) in table {
            assert_eq!(finality_threshold(n), expected, "n = {n}");
        }
    }

    #[test]
    fn finality_counts_distinct_proposers_from_the_head() {
        let a = accounts(4);
        // threshold for 4 authorities is 3.
        type Case = (Vec<(u64, Account)>, Option<u64>);
        let cases: Vec<Case> = vec![
            (vec![], None),
            (vec![(1, a[0]), (2, a[1])], None),
            (vec![(1, a[0]), (2, a[1]), (3, a[2])], Some(1)),
            (vec![(1, a[0]), (2, a[1]), (3, a[2]), (4, a[3])], Some(2)),
            // Repeated proposers do not count twice.
            (vec![(1, a[0]), (2, a[1]), (3, a[1]), (4, a[1])], None),
            (vec![(1, a[0]), (2, a[1]), (3, a[2]), (4, a[2])], Some(1)),
        ];
        for (blocks, expected) in cases {
            assert_eq!(newly_finalized(&blocks, 4), expected, "{blocks:?}");
        }
        assert_eq!(newly_finalized(&[(5, a[0])], 1), Some(5));
    }

    #[test]
    fn slots_and_proposers() {
        let mut genesis = crate::genesis::presets::dev_at(10_000);
        genesis.authorities = accounts(3);
        genesis.block_time_ms = 100;
        assert_eq!(slot_at(&genesis, 9_999), None);
        assert_eq!(slot_at(&genesis, 10_000), Some(0));
        assert_eq!(slot_at(&genesis, 10_199), Some(1));
        assert_eq!(slot_start_ms(&genesis, 2), Some(10_200));
        assert_eq!(proposer_for(&genesis, 4), genesis.authorities[1]);
        assert_eq!(slot_start_ms(&genesis, u64::MAX), None);
    }

    #[test]
    fn header_checks_table() {
        let alice = Keypair::dev("alice");
        let mut genesis = crate::genesis::presets::dev_at(0);
        genesis.block_time_ms = 100;
        let spec = ChainSpec::new(genesis).unwrap();
        let parent = spec.genesis_header.clone();
        let state = spec.genesis_state.clone();
        let built =
            build_block(&spec, &parent, &state, alice.account(), 1_250, Vec::new()).unwrap();
        assert_eq!(built.header.slot, 12);
        let now = 1_300;
        let good = built.sign(&alice);
        verify_block(&spec, &parent, &state, &good, now).unwrap();

        type Mutation = fn(&mut Block);
        type Expect = fn(&BlockError) -> bool;
        let cases: Vec<(&str, Mutation, Expect)> = vec![
            (
                "height",
                |b| b.header.height = 5,
                |e| matches!(e, BlockError::WrongHeight { .. }),
            ),
            (
                "parent",
                |b| b.header.parent = Hash([1; 32]),
                |e| matches!(e, BlockError::WrongParent { .. }),
            ),
            (
                "slot 0",
                |b| {
                    b.header.slot = 0;
                    b.header.timestamp_ms = 50
                },
                |e| matches!(e, BlockError::SlotNotAfterParent { .. }),
            ),
            (
                "timestamp",
                |b| b.header.timestamp_ms = 1_150,
                |e| matches!(e, BlockError::TimestampOutsideSlot { .. }),
            ),
            (
                "proposer",
                |b| b.header.proposer = Keypair::dev("bob").account(),
                |e| matches!(e, BlockError::WrongProposer { .. }),
            ),
            (
                "signature",
                |b| b.signature.0[0] ^= 1,
                |e| matches!(e, BlockError::BadSignature { .. }),
            ),
            (
                "state root",
                |b| b.header.state_root = Hash([2; 32]),
                |e| matches!(e, BlockError::BadSignature { .. }),
            ),
        ];
        for (name, mutate, expected) in cases {
            let mut block = good.clone();
            mutate(&mut block);
            let err = verify_block(&spec, &parent, &state, &block, now).unwrap_err();
            assert!(expected(&err), "{name}: {err}");
        }

        // Re-signed with a wrong state root: caught by execution.
        let mut block = good.clone();
        block.header.state_root = Hash([2; 32]);
        block.signature = alice.sign(&block.header.hash().0);
        assert!(matches!(
            verify_block(&spec, &parent, &state, &block, now),
            Err(BlockError::StateRootMismatch { .. })
        ));

        // Too far in the future (drift 500 ms): refused until its time.
        let err = verify_block(&spec, &parent, &state, &good, 1_250 - 501).unwrap_err();
        assert!(matches!(err, BlockError::FromFuture { .. }));
        verify_block(&spec, &parent, &state, &good, 1_250 - 500).unwrap();
    }
}
