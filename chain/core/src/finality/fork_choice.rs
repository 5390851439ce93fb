//! Fork choice with finality votes (FINALITY.md §1.4): among the valid
//! chains that contain the highest justified checkpoint's block `J*`, the
//! one with the most blocks; ties go to the lower head hash. Chains without
//! `J*` stay side branches, and a new `J*` can switch chains without a new
//! block.

use crate::consensus;
use crate::primitives::SealedHeader;

use super::blocks::BlockIndex;
use super::vote::Checkpoint;

/// Whether `candidate` is a better tip than `head`, given `J*`.
pub fn prefers(
    justified: &Checkpoint,
    candidate: &SealedHeader,
    head: &SealedHeader,
    blocks: &impl BlockIndex,
) -> bool {
    let contains =
        |tip: &SealedHeader| blocks.is_ancestor(&justified.hash, &tip.hash()) == Some(true);
    match (contains(candidate), contains(head)) {
        (true, false) => true,
        (false, _) => false,
        (true, true) => consensus::better(candidate, head),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finality::blocks::{BlockInfo, MemBlocks};
    use crate::primitives::{Account, Hash, Header};

    /// A chain of headers from `parent`, returning the tips' sealed headers.
    fn extend(
        blocks: &mut MemBlocks,
        parent: &SealedHeader,
        len: u64,
        salt: u8,
    ) -> Vec<SealedHeader> {
        let mut out = Vec::new();
        let mut parent = parent.clone();
        for _ in 0..len {
            let header = SealedHeader::new(Header {
                height: parent.height + 1,
                slot: parent.slot + 1,
                timestamp_ms: 0,
                parent: parent.hash(),
                proposer: Account([salt; 32]),
                tx_root: Hash::ZERO,
                state_root: Hash::ZERO,
            });
            blocks.insert(
                header.hash(),
                BlockInfo {
                    height: header.height,
                    slot: header.slot,
                    parent: header.parent,
                },
            );
            out.push(header.clone());
            parent = header;
        }
        out
    }

    fn checkpoint(header: &SealedHeader) -> Checkpoint {
        Checkpoint {
            slot: header.slot,
            height: header.height,
            hash: header.hash(),
        }
    }

    #[test]
    fn fork_choice_table() {
        let mut blocks = MemBlocks::default();
        let genesis = SealedHeader::new(Header {
            height: 0,
            slot: 0,
            timestamp_ms: 0,
            parent: Hash::ZERO,
            proposer: Account::ZERO,
            tx_root: Hash::ZERO,
            state_root: Hash::ZERO,
        });
        blocks.insert(
            genesis.hash(),
            BlockInfo {
                height: 0,
                slot: 0,
                parent: Hash::ZERO,
            },
        );
        // A short branch a1..a2 and a long branch b1..b5 from genesis.
        let a = extend(&mut blocks, &genesis, 2, 1);
        let b = extend(&mut blocks, &genesis, 5, 2);
        let g = checkpoint(&genesis);
        let j_on_a = checkpoint(&a[0]);
        // Two equal-height tips on branch b's fork at b2.
        let c = extend(&mut blocks, &b[1], 3, 3);
        let (low, high) = if c[2].hash() < b[4].hash() {
            (&c[2], &b[4])
        } else {
            (&b[4], &c[2])
        };
        let missing = Checkpoint {
            slot: 9,
            height: 9,
            hash: Hash([9; 32]),
        };
        let rows: Vec<(&str, Checkpoint, &SealedHeader, &SealedHeader, bool)> = vec![
            (
                "more blocks win when both contain J*",
                g,
                &b[4],
                &a[1],
                true,
            ),
            (
                "fewer blocks lose when both contain J*",
                g,
                &a[1],
                &b[4],
                false,
            ),
            (
                "a longer chain without J* loses",
                j_on_a,
                &b[4],
                &a[1],
                false,
            ),
            (
                "J* on another branch wins without a new block",
                j_on_a,
                &a[1],
                &b[4],
                true,
            ),
            ("ties go to the lower hash", g, low, high, true),
            ("the higher hash loses a tie", g, high, low, false),
            (
                "a missing J* block keeps the head",
                missing,
                &b[4],
                &a[1],
                false,
            ),
        ];
        for (name, justified, candidate, head, expected) in rows {
            assert_eq!(
                prefers(&justified, candidate, head, &blocks),
                expected,
                "{name}"
            );
        }
    }
}
