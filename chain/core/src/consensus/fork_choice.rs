//! Fork choice: the chain with more blocks wins; at equal height, the tip
//! with the lower hash (so every node breaks ties the same way).

use crate::primitives::SealedHeader;

/// Whether `candidate` is a better tip than `head`.
pub fn better(candidate: &SealedHeader, head: &SealedHeader) -> bool {
    (candidate.height, std::cmp::Reverse(candidate.hash()))
        > (head.height, std::cmp::Reverse(head.hash()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::primitives::{Account, Hash, Header};

    fn tip(height: u64, salt: u8) -> SealedHeader {
        SealedHeader::new(Header {
            height,
            slot: height,
            timestamp_ms: 0,
            parent: Hash([salt; 32]),
            proposer: Account::ZERO,
            tx_root: Hash::ZERO,
            state_root: Hash::ZERO,
        })
    }

    #[test]
    fn higher_wins_then_lower_hash() {
        let (a, b) = (tip(5, 1), tip(5, 2));
        let (low, high) = if a.hash() < b.hash() { (a, b) } else { (b, a) };
        assert!(better(&low, &high));
        assert!(!better(&high, &low));
        assert!(!better(&low, &low), "a tip is not better than itself");
        assert!(better(&tip(6, 9), &low));
        assert!(!better(&tip(4, 9), &high));
    }
}
