//! The fixed block tree `G - A - B - C - D` with a fork `A - B'`, and `n`
//! dev authorities `authority-0..`, shared by the finality unit tests.

use crate::genesis::{presets, Genesis};
use crate::primitives::signing::Keypair;
use crate::primitives::Hash;

use super::blocks::{BlockIndex, BlockInfo, MemBlocks};
use super::vote::Checkpoint;

pub(crate) const G: u8 = 0;
pub(crate) const A: u8 = 1;
pub(crate) const B: u8 = 2;
pub(crate) const C: u8 = 3;
pub(crate) const B2: u8 = 4;
pub(crate) const D: u8 = 5;

/// The (made-up) hash of a block of the tree.
pub(crate) fn hash(block: u8) -> Hash {
    Hash([block + 1; 32])
}

/// A genesis with `n` dev authorities `authority-0..`, and their keys.
pub(crate) fn authorities(n: usize) -> (Genesis, Vec<Keypair>) {
    let keys: Vec<Keypair> = (0..n)
        .map(|i| Keypair::dev(&format!("authority-{i}")))
        .collect();
    let genesis = Genesis {
        authorities: keys.iter().map(Keypair::account).collect(),
        ..presets::dev()
    };
    (genesis, keys)
}

pub(crate) struct Tree {
    pub(crate) genesis: Genesis,
    pub(crate) genesis_hash: Hash,
    pub(crate) keys: Vec<Keypair>,
    pub(crate) blocks: MemBlocks,
}

impl Tree {
    pub(crate) fn new(n: usize) -> Self {
        let (genesis, keys) = authorities(n);
        let mut blocks = MemBlocks::default();
        // (block, height, slot, parent)
        for (block, height, slot, parent) in [
            (G, 0, 0, None),
            (A, 1, 1, Some(G)),
            (B, 2, 2, Some(A)),
            (C, 3, 3, Some(B)),
            (D, 4, 4, Some(C)),
            (B2, 2, 2, Some(A)),
        ] {
            blocks.insert(
                hash(block),
                BlockInfo {
                    height,
                    slot,
                    parent: parent.map_or(Hash::ZERO, hash),
                },
            );
        }
        Self {
            genesis,
            genesis_hash: hash(G),
            keys,
            blocks,
        }
    }

    /// The checkpoint of `block` as of `slot`.
    pub(crate) fn cp(&self, block: u8, slot: u64) -> Checkpoint {
        let info = self
            .blocks
            .block(&hash(block))
            .expect("a block of the tree");
        Checkpoint {
            slot,
            height: info.height,
            hash: hash(block),
        }
    }
}
