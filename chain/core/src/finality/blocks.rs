//! What finality needs to know about blocks: the height, slot and parent of
//! each known valid block. The node answers from its store and block tree;
//! tests answer from a small map.

use std::collections::HashMap;

use crate::primitives::Hash;

/// A known valid block, as finality sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockInfo {
    pub height: u64,
    pub slot: u64,
    pub parent: Hash,
}

/// Read access to known valid blocks.
pub trait BlockIndex {
    /// The block `hash`, if it is known and valid.
    fn block(&self, hash: &Hash) -> Option<BlockInfo>;

    /// Whether `ancestor` is `descendant` or one of its ancestors; `None`
    /// when a block on the way is unknown.
    fn is_ancestor(&self, ancestor: &Hash, descendant: &Hash) -> Option<bool> {
        let target = self.block(ancestor)?;
        let mut cursor = *descendant;
        loop {
            if cursor == *ancestor {
                return Some(true);
            }
            let info = self.block(&cursor)?;
            if info.height <= target.height {
                return Some(false);
            }
            cursor = info.parent;
        }
    }
}

/// An in-memory block index, for tests and simulations.
#[derive(Debug, Clone, Default)]
pub struct MemBlocks(pub HashMap<Hash, BlockInfo>);

impl MemBlocks {
    pub fn insert(&mut self, hash: Hash, info: BlockInfo) {
        self.0.insert(hash, info);
    }
}

impl BlockIndex for MemBlocks {
    fn block(&self, hash: &Hash) -> Option<BlockInfo> {
        self.0.get(hash).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ancestry_walks_parents() {
        let mut blocks = MemBlocks::default();
        let h = |b: u8| Hash([b; 32]);
        blocks.insert(
            h(0),
            BlockInfo {
                height: 0,
                slot: 0,
                parent: Hash::ZERO,
            },
        );
        blocks.insert(
            h(1),
            BlockInfo {
                height: 1,
                slot: 1,
                parent: h(0),
            },
        );
        blocks.insert(
            h(2),
            BlockInfo {
                height: 2,
                slot: 3,
                parent: h(1),
            },
        );
        blocks.insert(
            h(3),
            BlockInfo {
                height: 2,
                slot: 2,
                parent: h(1),
            },
        );
        assert_eq!(blocks.is_ancestor(&h(0), &h(2)), Some(true));
        assert_eq!(blocks.is_ancestor(&h(2), &h(2)), Some(true));
        assert_eq!(blocks.is_ancestor(&h(3), &h(2)), Some(false));
        assert_eq!(blocks.is_ancestor(&h(2), &h(1)), Some(false));
        assert_eq!(blocks.is_ancestor(&h(9), &h(2)), None);
        assert_eq!(blocks.is_ancestor(&h(1), &h(9)), None);
    }
}
