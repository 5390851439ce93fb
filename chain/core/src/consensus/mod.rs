//! Proof-of-authority rules (DESIGN.md §4). Pure: the current time comes in
//! as an argument.
//!
//! - here: slots and proposers;
//! - [`validity`]: header checks and full block verification;
//! - [`building`]: building the block a proposer signs;
//! - [`fork_choice`]: which of two chain tips is better;
//! - [`finality`]: when a block becomes final;
//! - [`equivocation`]: two signed headers for one slot, kept as evidence;
//! - [`blocktree`]: blocks not (yet) on the chosen chain: side branches,
//!   orphans waiting for their parent, blocks from the future, invalid ones.

pub mod blocktree;
pub mod building;
pub mod equivocation;
pub mod finality;
pub mod fork_choice;
pub mod validity;

pub use blocktree::{BlockTree, TreeLimits};
pub use building::{build_block, BuiltBlock};
pub use equivocation::{Evidence, SeenSlots};
pub use finality::{finality_threshold, find_finalized, newly_finalized};
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
