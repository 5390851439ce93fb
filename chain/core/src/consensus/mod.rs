//! Proof-of-authority rules (DESIGN.md §4). Pure: the current time comes in
//! as an argument.
//!
//! - here: slots and proposers;
//! - [`validity`]: header checks and full block verification;
//! - [`building`]: building the block a proposer signs;
//! - [`fork_choice`]: which of two chain tips is better by length (the
//!   rule within the chains that hold the highest justified checkpoint;
//!   see `finality::fork_choice`);
//! - [`equivocation`]: two signed headers for one slot, kept as evidence;
//! - [`blocktree`]: blocks not (yet) on the chosen chain: side branches,
//!   orphans waiting for their parent, blocks from the future, invalid ones.
//!
//! Finality (by votes) is the `finality` module, above this one.

pub mod blocktree;
pub mod building;
pub mod equivocation;
pub mod fork_choice;
pub mod validity;

pub use blocktree::{BlockTree, TreeLimits};
pub use building::{build_block, BuildPacer, BuiltBlock};
pub use equivocation::{Evidence, SeenSlots};
pub use fork_choice::better;
pub use validity::{check_header, check_header_alone, verify_block, verify_block_with, BlockError};

use crate::genesis::Genesis;
use crate::primitives::Account;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::genesis::ChainSpec;
    use crate::primitives::signing::Keypair;
    use crate::primitives::{Block, Hash};

    fn accounts(n: usize) -> Vec<Account> {
        (0..n)
            .map(|i| Keypair::dev(&format!("authority-{i}")).account())
            .collect()
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
