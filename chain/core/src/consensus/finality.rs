//! Finality by distinct proposers (DESIGN.md v1 §4): a block is final once
//! it and its descendants were proposed by `floor(2n/3) + 1` distinct
//! authorities.

use std::collections::BTreeSet;

use crate::primitives::Account;

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

/// The finalized height after the head moved to `head_height`, given the
/// last finalized height: walks down from the head collecting distinct
/// proposers (`proposer_at(height)` looks them up) until the threshold is
/// met — usually a few blocks; the whole unfinalized stretch while finality
/// is stalled. `None` when nothing new is final.
pub fn find_finalized<E>(
    authorities: usize,
    head_height: u64,
    finalized_height: u64,
    mut proposer_at: impl FnMut(u64) -> Result<Account, E>,
) -> Result<Option<u64>, E> {
    let threshold = finality_threshold(authorities);
    let mut proposers = Vec::new();
    let mut distinct = BTreeSet::new();
    let mut height = head_height;
    while height > finalized_height && distinct.len() < threshold {
        let proposer = proposer_at(height)?;
        distinct.insert(proposer);
        proposers.push((height, proposer));
        height -= 1;
    }
    proposers.reverse();
    Ok(newly_finalized(&proposers, authorities))
}
