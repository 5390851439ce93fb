//! SHA-256, the domain tags that keep every hash and signature to one
//! purpose, and RFC 6962 Merkle roots.

use sha2::{Digest, Sha256};

use super::bytes::Hash;

/// Domain tag of a consumer's receipt signature.
pub const RECEIPT_DOMAIN: &[u8] = b"bwchain/receipt/v1";
/// Domain tag of a transaction signature.
pub const TX_DOMAIN: &[u8] = b"bwchain/tx/v1";
/// Domain tag of a finality vote signature (FINALITY.md §1.1).
pub const VOTE_DOMAIN: &[u8] = b"bwchain/vote/v1";
/// Domain tag of a block hash (which the proposer signs).
pub const BLOCK_DOMAIN: &[u8] = b"bwchain/block/v1";
/// Domain tag of dev key seeds: `SHA-256("bwchain-dev/" || NAME)`.
pub const DEV_KEY_DOMAIN: &[u8] = b"bwchain-dev/";

pub fn sha256(bytes: &[u8]) -> Hash {
    Hash(Sha256::digest(bytes).into())
}

/// SHA-256 of the concatenation of `parts`.
pub fn sha256_parts(parts: &[&[u8]]) -> Hash {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part);
    }
    Hash(hasher.finalize().into())
}

/// RFC 6962 Merkle tree hash: leaf = H(0x00||d), node = H(0x01||l||r),
/// empty = H(""); the left subtree holds the largest power of two below n.
pub fn merkle_root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => sha256(b""),
        1 => {
            let mut hasher = Sha256::new();
            hasher.update([0x00]);
            hasher.update(leaves[0].0);
            Hash(hasher.finalize().into())
        }
        n => {
            // The largest power of two strictly below n.
            let split = 1usize << (usize::BITS - 1 - (n - 1).leading_zeros());
            let left = merkle_root(&leaves[..split]);
            let right = merkle_root(&leaves[split..]);
            let mut hasher = Sha256::new();
            hasher.update([0x01]);
            hasher.update(left.0);
            hasher.update(right.0);
            Hash(hasher.finalize().into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(bytes: &[u8]) -> Hash {
        sha256(bytes)
    }

    fn node(l: Hash, r: Hash) -> Hash {
        let mut b = vec![1u8];
        b.extend_from_slice(&l.0);
        b.extend_from_slice(&r.0);
        h(&b)
    }

    fn leaf(d: Hash) -> Hash {
        let mut b = vec![0u8];
        b.extend_from_slice(&d.0);
        h(&b)
    }

    #[test]
    fn merkle_matches_rfc6962_shapes() {
        let d: Vec<Hash> = (0u8..5).map(|i| h(&[i])).collect();
        assert_eq!(merkle_root(&[]), h(b""));
        assert_eq!(merkle_root(&d[..1]), leaf(d[0]));
        assert_eq!(merkle_root(&d[..2]), node(leaf(d[0]), leaf(d[1])));
        // n = 3: left = first two, right = third leaf.
        assert_eq!(
            merkle_root(&d[..3]),
            node(node(leaf(d[0]), leaf(d[1])), leaf(d[2]))
        );
        // n = 5: left = first four, right = fifth.
        let four = node(node(leaf(d[0]), leaf(d[1])), node(leaf(d[2]), leaf(d[3])));
        assert_eq!(merkle_root(&d), node(four, leaf(d[4])));
    }
}
