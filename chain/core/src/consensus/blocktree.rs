//! The blocks a node holds that are not (yet) on its chosen chain:
//! - side blocks: valid-looking blocks on branches that do not beat the
//!   head (yet), by hash;
//! - orphans: blocks whose parent is unknown, kept while their ancestors
//!   are fetched;
//! - held blocks: from further in the future than the clock drift allows,
//!   kept until their time comes;
//! - invalid: hashes of blocks found invalid, so they are not re-executed.
//!
//! Every pool is bounded; when one is full the block least likely to
//! matter goes first (the lowest, or the oldest held).

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::primitives::{Block, Hash};

/// How many blocks each pool keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TreeLimits {
    /// Valid-looking blocks on branches that do not (yet) beat the head.
    pub side: usize,
    /// Blocks whose parent is unknown.
    pub orphans: usize,
    /// Blocks from the future (beyond the drift bound).
    pub held: usize,
    /// Hashes of blocks known to be invalid.
    pub invalid: usize,
}

impl Default for TreeLimits {
    fn default() -> Self {
        Self {
            side: 4096,
            orphans: 1024,
            held: 256,
            invalid: 4096,
        }
    }
}

/// Blocks off the chosen chain; see the module docs.
#[derive(Debug, Default)]
pub struct BlockTree {
    limits: TreeLimits,
    side: HashMap<Hash, Block>,
    orphans: HashMap<Hash, Block>,
    orphans_by_parent: BTreeMap<Hash, Vec<Hash>>,
    held: Vec<(Hash, Block)>,
    invalid: HashSet<Hash>,
}

impl BlockTree {
    pub fn new(limits: TreeLimits) -> Self {
        Self {
            limits,
            ..Self::default()
        }
    }

    /// Whether the block is waiting here in any pool (not counting invalid).
    pub fn contains(&self, hash: &Hash) -> bool {
        self.side.contains_key(hash)
            || self.orphans.contains_key(hash)
            || self.held.iter().any(|(held, _)| held == hash)
    }

    pub fn is_invalid(&self, hash: &Hash) -> bool {
        self.invalid.contains(hash)
    }

    /// Remembers that a block is invalid (and drops it from the side pool).
    pub fn mark_invalid(&mut self, hash: Hash) {
        self.side.remove(&hash);
        if self.invalid.len() >= self.limits.invalid {
            self.invalid.clear();
        }
        self.invalid.insert(hash);
    }

    pub fn side_block(&self, hash: &Hash) -> Option<&Block> {
        self.side.get(hash)
    }

    /// Keeps a side block, evicting the lowest one when the pool is full.
    pub fn insert_side(&mut self, hash: Hash, block: Block) {
        if self.side.len() >= self.limits.side {
            if let Some(lowest) = lowest_block(&self.side) {
                self.side.remove(&lowest);
            }
        }
        self.side.insert(hash, block);
    }

    /// Keeps a block that a reorg took off the chosen chain, so the branch
    /// it belongs to can still be switched back to.
    pub fn keep_reverted(&mut self, hash: Hash, block: Block) {
        self.side.insert(hash, block);
    }

    pub fn remove_side(&mut self, hash: &Hash) -> Option<Block> {
        self.side.remove(hash)
    }

    /// Drops side blocks at or below a finalized height: they can never
    /// join the chain.
    pub fn prune_side(&mut self, finalized_height: u64) {
        self.side
            .retain(|_, block| block.header.height > finalized_height);
    }

    /// The side blocks held, in no particular order.
    pub fn side_blocks(&self) -> impl Iterator<Item = (&Hash, &Block)> {
        self.side.iter()
    }

    /// Keeps a block whose parent is unknown, evicting the lowest orphan when
    /// the pool is full (the newest are likelier useful).
    pub fn insert_orphan(&mut self, hash: Hash, block: Block) {
        if self.orphans.len() >= self.limits.orphans {
            if let Some(lowest) = lowest_block(&self.orphans) {
                self.forget_orphan(&lowest);
            }
        }
        self.orphans_by_parent
            .entry(block.header.parent)
            .or_default()
            .push(hash);
        self.orphans.insert(hash, block);
    }

    /// Takes out the orphans waiting for `parent`, with their hashes.
    pub fn take_children(&mut self, parent: &Hash) -> Vec<(Hash, Block)> {
        let Some(children) = self.orphans_by_parent.remove(parent) else {
            return Vec::new();
        };
        children
            .into_iter()
            .filter_map(|hash| self.orphans.remove(&hash).map(|block| (hash, block)))
            .collect()
    }

    /// The lowest missing ancestor below `missing`: follows the chain of
    /// orphans down to the first block not held.
    pub fn missing_root(&self, missing: Hash) -> Hash {
        let mut root = missing;
        while let Some(orphan) = self.orphans.get(&root) {
            root = orphan.header.parent;
        }
        root
    }

    pub fn orphans_len(&self) -> usize {
        self.orphans.len()
    }

    fn forget_orphan(&mut self, hash: &Hash) {
        if let Some(block) = self.orphans.remove(hash) {
            if let Some(siblings) = self.orphans_by_parent.get_mut(&block.header.parent) {
                siblings.retain(|sibling| sibling != hash);
                if siblings.is_empty() {
                    self.orphans_by_parent.remove(&block.header.parent);
                }
            }
        }
    }

    /// Keeps a block from the future, dropping the oldest held when full.
    pub fn hold(&mut self, hash: Hash, block: Block) {
        if self.held.len() >= self.limits.held {
            self.held.remove(0);
        }
        self.held.push((hash, block));
    }

    /// Takes out the held blocks whose timestamp is at most `latest_ms`.
    pub fn take_due(&mut self, latest_ms: u64) -> Vec<Block> {
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.held)
            .into_iter()
            .partition(|(_, block)| block.header.timestamp_ms <= latest_ms);
        self.held = later;
        due.into_iter().map(|(_, block)| block).collect()
    }

    pub fn held_len(&self) -> usize {
        self.held.len()
    }
}

/// The lowest block of a pool (ties by hash), the first to evict when full.
fn lowest_block(blocks: &HashMap<Hash, Block>) -> Option<Hash> {
    blocks
        .iter()
        .min_by_key(|(hash, block)| (block.header.height, **hash))
        .map(|(hash, _)| *hash)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::primitives::{Account, Header, Signature};

    fn block(height: u64, parent: Hash, timestamp_ms: u64) -> (Hash, Block) {
        let block = Block {
            header: Header {
                height,
                slot: height,
                timestamp_ms,
                parent,
                proposer: Account::ZERO,
                tx_root: Hash::ZERO,
                state_root: Hash::ZERO,
            },
            signature: Signature([0; 64]),
            txs: Vec::new(),
        };
        (block.header.hash(), block)
    }

    fn small() -> TreeLimits {
        TreeLimits {
            side: 2,
            orphans: 2,
            held: 2,
            invalid: 2,
        }
    }

    #[test]
    fn full_side_pool_evicts_the_lowest() {
        let mut tree = BlockTree::new(small());
        let (h5, b5) = block(5, Hash::ZERO, 0);
        let (h3, b3) = block(3, Hash::ZERO, 0);
        let (h9, b9) = block(9, Hash::ZERO, 0);
        tree.insert_side(h5, b5);
        tree.insert_side(h3, b3);
        tree.insert_side(h9, b9);
        assert!(!tree.contains(&h3), "lowest evicted");
        assert!(tree.contains(&h5) && tree.contains(&h9));
        tree.prune_side(5);
        assert!(!tree.contains(&h5) && tree.contains(&h9));
        tree.mark_invalid(h9);
        assert!(tree.is_invalid(&h9) && !tree.contains(&h9));
    }

    #[test]
    fn orphans_wait_for_their_parent_and_chain_down_to_the_missing_root() {
        let mut tree = BlockTree::new(TreeLimits::default());
        let root = Hash([1; 32]);
        let (h1, b1) = block(1, root, 0);
        let (h2, b2) = block(2, h1, 0);
        let (h2b, b2b) = block(2, h1, 1);
        tree.insert_orphan(h2, b2);
        tree.insert_orphan(h2b, b2b);
        tree.insert_orphan(h1, b1);
        assert_eq!(tree.missing_root(h1), root);
        assert_eq!(tree.missing_root(h2), root, "down through two orphans");
        let unknown = Hash([9; 32]);
        assert_eq!(tree.missing_root(unknown), unknown, "not held: itself");
        let first: Vec<Hash> = tree
            .take_children(&root)
            .into_iter()
            .map(|(h, _)| h)
            .collect();
        assert_eq!(first, vec![h1]);
        let mut second: Vec<Hash> = tree
            .take_children(&h1)
            .into_iter()
            .map(|(h, _)| h)
            .collect();
        second.sort();
        let mut expected = vec![h2, h2b];
        expected.sort();
        assert_eq!(second, expected);
        assert_eq!(tree.orphans_len(), 0);
        assert!(tree.take_children(&h1).is_empty());
    }

    #[test]
    fn full_orphan_pool_forgets_the_lowest_and_its_parent_link() {
        let mut tree = BlockTree::new(small());
        let (h1, b1) = block(1, Hash([1; 32]), 0);
        let (h7, b7) = block(7, Hash([7; 32]), 0);
        let (h8, b8) = block(8, Hash([8; 32]), 0);
        tree.insert_orphan(h1, b1);
        tree.insert_orphan(h7, b7);
        tree.insert_orphan(h8, b8);
        assert!(!tree.contains(&h1));
        assert!(tree.take_children(&Hash([1; 32])).is_empty());
        assert_eq!(tree.take_children(&Hash([8; 32])).len(), 1);
    }

    #[test]
    fn held_blocks_come_out_when_due_oldest_dropped_when_full() {
        let mut tree = BlockTree::new(small());
        let (ha, a) = block(1, Hash::ZERO, 100);
        let (hb, b) = block(2, Hash::ZERO, 300);
        let (hc, c) = block(3, Hash::ZERO, 200);
        tree.hold(ha, a);
        tree.hold(hb, b);
        tree.hold(hc, c);
        assert!(!tree.contains(&ha), "oldest held dropped");
        let due = tree.take_due(250);
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].header.height, 3);
        assert_eq!(tree.held_len(), 1);
        assert!(tree.contains(&hb));
    }

    #[test]
    fn invalid_set_is_bounded() {
        let mut tree = BlockTree::new(small());
        for i in 0..3u8 {
            tree.mark_invalid(Hash([i; 32]));
        }
        assert!(tree.is_invalid(&Hash([2; 32])));
        assert!(!tree.is_invalid(&Hash([0; 32])), "cleared when full");
    }
}
