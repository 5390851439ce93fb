//! Finality votes and certificates (FINALITY.md §1.1): checkpoints, the
//! exact signed bytes, vote identifiers, and certificates of q votes.

use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

use crate::genesis::Genesis;
use crate::primitives::codec::encode;
use crate::primitives::hash::{sha256_parts, VOTE_DOMAIN};
use crate::primitives::signing::{self, Keypair};
use crate::primitives::{Account, Hash, Signature};

/// Length of a vote's signed bytes: tag 15 + genesis 32 + two checkpoints.
pub const VOTE_SIGNED_BYTES: usize = 143;

/// Block `hash` at `height`, taken as of slot `slot` (`block.slot <= slot`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Encode, Decode, Serialize, Deserialize,
)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    pub slot: u64,
    pub height: u64,
    pub hash: Hash,
}

impl Checkpoint {
    /// The genesis checkpoint `(0, 0, genesis_hash)`: justified and final.
    pub fn genesis(genesis_hash: Hash) -> Self {
        Self {
            slot: 0,
            height: 0,
            hash: genesis_hash,
        }
    }
}

/// A vote `source → target`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Encode, Decode, Serialize, Deserialize,
)]
#[serde(deny_unknown_fields)]
pub struct Vote {
    pub source: Checkpoint,
    pub target: Checkpoint,
}

impl Vote {
    /// The bytes an authority signs: `"bwchain/vote/v1" || genesis_hash ||
    /// bincode_legacy(vote)`, 143 bytes.
    pub fn signing_bytes(&self, genesis_hash: &Hash) -> Vec<u8> {
        let mut out = Vec::with_capacity(VOTE_SIGNED_BYTES);
        out.extend_from_slice(VOTE_DOMAIN);
        out.extend_from_slice(&genesis_hash.0);
        out.extend_from_slice(&encode(self));
        out
    }

    /// Whether the slots and heights are in order: `source.slot <
    /// target.slot` and `source.height <= target.height`.
    pub fn is_ordered(&self) -> bool {
        self.source.slot < self.target.slot && self.source.height <= self.target.height
    }

    pub fn sign(&self, genesis_hash: &Hash, keypair: &Keypair) -> SignedVote {
        SignedVote {
            vote: *self,
            authority: keypair.account(),
            signature: keypair.sign(&self.signing_bytes(genesis_hash)),
        }
    }
}

/// A vote with its author and signature. JSON: `{"source", "target",
/// "authority", "signature"}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Encode, Decode, Serialize, Deserialize)]
#[serde(from = "SignedVoteJson", into = "SignedVoteJson")]
pub struct SignedVote {
    pub vote: Vote,
    pub authority: Account,
    pub signature: Signature,
}

#[derive(Clone, Copy, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SignedVoteJson {
    source: Checkpoint,
    target: Checkpoint,
    authority: Account,
    signature: Signature,
}

impl From<SignedVoteJson> for SignedVote {
    fn from(json: SignedVoteJson) -> Self {
        Self {
            vote: Vote {
                source: json.source,
                target: json.target,
            },
            authority: json.authority,
            signature: json.signature,
        }
    }
}

impl From<SignedVote> for SignedVoteJson {
    fn from(signed: SignedVote) -> Self {
        Self {
            source: signed.vote.source,
            target: signed.vote.target,
            authority: signed.authority,
            signature: signed.signature,
        }
    }
}

/// Why a vote or certificate is refused before it is counted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VoteError {
    #[error("{authority} is not an authority of this chain")]
    NotAuthority { authority: Account },
    #[error("bad vote signature by {authority}")]
    BadSignature { authority: Account },
    #[error("vote out of order: source slot {source_slot} must be below target slot {target_slot}, and source height {source_height} at most target height {target_height}")]
    OutOfOrder {
        source_slot: u64,
        target_slot: u64,
        source_height: u64,
        target_height: u64,
    },
    #[error("certificate has {found} signers, at least {needed} are needed")]
    TooFewSigners { needed: usize, found: usize },
    #[error("certificate signers must be distinct and sorted by authority index: {authority} is out of place")]
    SignerOrder { authority: Account },
}

impl SignedVote {
    /// `vote_id = SHA-256(signed bytes || authority || signature)`, for
    /// deduplication before the signature is checked.
    pub fn id(&self, genesis_hash: &Hash) -> Hash {
        sha256_parts(&[
            &self.vote.signing_bytes(genesis_hash),
            &self.authority.0,
            &self.signature.0,
        ])
    }

    /// The well-formedness checks of FINALITY.md §1.1 that need no blocks:
    /// a known authority, slots and heights in order, a valid signature.
    pub fn check(&self, genesis: &Genesis, genesis_hash: &Hash) -> Result<(), VoteError> {
        if !genesis.authorities.contains(&self.authority) {
            return Err(VoteError::NotAuthority {
                authority: self.authority,
            });
        }
        check_order(&self.vote)?;
        if !signing::verify(
            &self.authority,
            &self.vote.signing_bytes(genesis_hash),
            &self.signature,
        ) {
            return Err(VoteError::BadSignature {
                authority: self.authority,
            });
        }
        Ok(())
    }
}

fn check_order(vote: &Vote) -> Result<(), VoteError> {
    if vote.is_ordered() {
        Ok(())
    } else {
        Err(VoteError::OutOfOrder {
            source_slot: vote.source.slot,
            target_slot: vote.target.slot,
            source_height: vote.source.height,
            target_height: vote.target.height,
        })
    }
}

/// `q = floor(2n/3) + 1` votes of `n` authorities justify a checkpoint.
pub fn quorum(authorities: usize) -> usize {
    2 * authorities / 3 + 1
}

/// One signer of a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateSignature {
    pub authority: Account,
    pub signature: Signature,
}

/// At least q distinct authorities' signatures over one `source → target`,
/// sorted by the authority's index in the genesis.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Certificate {
    pub source: Checkpoint,
    pub target: Checkpoint,
    pub signatures: Vec<CertificateSignature>,
}

impl Certificate {
    pub fn vote(&self) -> Vote {
        Vote {
            source: self.source,
            target: self.target,
        }
    }

    /// Builds a certificate from votes for one `source → target` (other
    /// votes are ignored), with the signers in genesis order. It may hold
    /// fewer than q signatures; [`Certificate::check`] says whether it counts.
    pub fn from_votes<'a>(
        genesis: &Genesis,
        vote: Vote,
        votes: impl IntoIterator<Item = &'a SignedVote>,
    ) -> Self {
        let mut signatures: Vec<(usize, CertificateSignature)> = Vec::new();
        for signed in votes {
            if signed.vote != vote {
                continue;
            }
            let Some(index) = authority_index(genesis, &signed.authority) else {
                continue;
            };
            if signatures.iter().any(|(seen, _)| *seen == index) {
                continue;
            }
            signatures.push((
                index,
                CertificateSignature {
                    authority: signed.authority,
                    signature: signed.signature,
                },
            ));
        }
        signatures.sort_by_key(|(index, _)| *index);
        Self {
            source: vote.source,
            target: vote.target,
            signatures: signatures.into_iter().map(|(_, s)| s).collect(),
        }
    }

    /// The light-client check of one certificate (FINALITY.md §1.6 step 1):
    /// ordered slots, at least q signers, distinct genesis authorities in
    /// genesis order, every signature valid.
    pub fn check(&self, genesis: &Genesis, genesis_hash: &Hash) -> Result<(), VoteError> {
        let vote = self.vote();
        check_order(&vote)?;
        let needed = quorum(genesis.authorities.len());
        if self.signatures.len() < needed {
            return Err(VoteError::TooFewSigners {
                needed,
                found: self.signatures.len(),
            });
        }
        let message = vote.signing_bytes(genesis_hash);
        let mut previous: Option<usize> = None;
        for signer in &self.signatures {
            let Some(index) = authority_index(genesis, &signer.authority) else {
                return Err(VoteError::NotAuthority {
                    authority: signer.authority,
                });
            };
            if previous.is_some_and(|previous| previous >= index) {
                return Err(VoteError::SignerOrder {
                    authority: signer.authority,
                });
            }
            previous = Some(index);
            if !signing::verify(&signer.authority, &message, &signer.signature) {
                return Err(VoteError::BadSignature {
                    authority: signer.authority,
                });
            }
        }
        Ok(())
    }

    /// The certificate's votes, one per signer.
    pub fn votes(&self) -> impl Iterator<Item = SignedVote> + '_ {
        let vote = self.vote();
        self.signatures.iter().map(move |signer| SignedVote {
            vote,
            authority: signer.authority,
            signature: signer.signature,
        })
    }
}

/// The index of `account` among the genesis authorities.
pub fn authority_index(genesis: &Genesis, account: &Account) -> Option<usize> {
    genesis.authorities.iter().position(|a| a == account)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checkpoint(slot: u64, height: u64, byte: u8) -> Checkpoint {
        Checkpoint {
            slot,
            height,
            hash: Hash([byte; 32]),
        }
    }

    fn four_authorities() -> (Genesis, Vec<Keypair>) {
        crate::finality::test_tree::authorities(4)
    }

    #[test]
    fn vote_signing_bytes_golden() {
        let vote = Vote {
            source: checkpoint(1, 1, 0xaa),
            target: checkpoint(2, 2, 0xbb),
        };
        let bytes = vote.signing_bytes(&Hash([0x11; 32]));
        assert_eq!(bytes.len(), VOTE_SIGNED_BYTES);
        let expected = format!(
            "{}{}{}{}{}{}{}{}",
            hex::encode(b"bwchain/vote/v1"),
            "11".repeat(32),
            "0100000000000000",
            "0100000000000000",
            "aa".repeat(32),
            "0200000000000000",
            "0200000000000000",
            "bb".repeat(32),
        );
        assert_eq!(hex::encode(&bytes), expected);
    }

    #[test]
    fn signed_votes_check_authority_order_and_signature() {
        let (genesis, keys) = four_authorities();
        let g = Hash([3; 32]);
        let vote = Vote {
            source: checkpoint(0, 0, 1),
            target: checkpoint(5, 4, 2),
        };
        let signed = vote.sign(&g, &keys[1]);
        assert_eq!(signed.check(&genesis, &g), Ok(()));
        assert!(matches!(
            signed.check(&genesis, &Hash([4; 32])),
            Err(VoteError::BadSignature { .. })
        ));
        let stranger = vote.sign(&g, &Keypair::dev("stranger"));
        assert!(matches!(
            stranger.check(&genesis, &g),
            Err(VoteError::NotAuthority { .. })
        ));
        for (source, target) in [
            (checkpoint(5, 1, 1), checkpoint(5, 2, 2)),
            (checkpoint(6, 1, 1), checkpoint(5, 2, 2)),
            (checkpoint(1, 3, 1), checkpoint(5, 2, 2)),
        ] {
            let bad = Vote { source, target }.sign(&g, &keys[0]);
            assert!(matches!(
                bad.check(&genesis, &g),
                Err(VoteError::OutOfOrder { .. })
            ));
        }
        assert_ne!(signed.id(&g), vote.sign(&g, &keys[2]).id(&g));
        assert_eq!(signed.id(&g), signed.id(&g));
    }

    #[test]
    fn quorum_table() {
        for (n, q) in [(1, 1), (2, 2), (3, 3), (4, 3), (5, 4), (7, 5), (20, 14)] {
            assert_eq!(quorum(n), q, "n = {n}");
        }
    }

    #[test]
    fn certificate_table() {
        let (genesis, keys) = four_authorities();
        let g = Hash([3; 32]);
        let vote = Vote {
            source: checkpoint(0, 0, 1),
            target: checkpoint(2, 2, 2),
        };
        let votes: Vec<SignedVote> = keys.iter().map(|key| vote.sign(&g, key)).collect();
        // Given out of order and with a duplicate: the certificate sorts and
        // deduplicates.
        let shuffled = [&votes[3], &votes[1], &votes[3], &votes[0]];
        let certificate = Certificate::from_votes(&genesis, vote, shuffled);
        assert_eq!(certificate.signatures.len(), 3);
        assert_eq!(certificate.signatures[0].authority, keys[0].account());
        assert_eq!(certificate.check(&genesis, &g), Ok(()));
        assert_eq!(certificate.votes().count(), 3);

        type Mutation = fn(&mut Certificate, &[Keypair]);
        let cases: Vec<(&str, Mutation, &str)> = vec![
            (
                "too few",
                |c, _| {
                    c.signatures.pop();
                },
                "at least 3",
            ),
            (
                "duplicate",
                |c, _| c.signatures[1] = c.signatures[0],
                "out of place",
            ),
            ("unsorted", |c, _| c.signatures.swap(0, 2), "out of place"),
            (
                "stranger",
                |c, _| c.signatures[2].authority = Keypair::dev("stranger").account(),
                "not an authority",
            ),
            (
                "bad signature",
                |c, _| c.signatures[1].signature = Signature([7; 64]),
                "bad vote signature",
            ),
            (
                "other target",
                |c, _| c.target.hash = Hash([9; 32]),
                "bad vote signature",
            ),
            ("out of order", |c, _| c.target.slot = 0, "out of order"),
        ];
        for (name, mutate, expected) in cases {
            let mut bad = certificate.clone();
            mutate(&mut bad, &keys);
            let err = bad.check(&genesis, &g).unwrap_err().to_string();
            assert!(err.contains(expected), "{name}: {err}");
        }
        assert!(
            certificate.check(&genesis, &Hash([4; 32])).is_err(),
            "other genesis"
        );
    }

    #[test]
    fn json_forms() {
        let (_, keys) = four_authorities();
        let vote = Vote {
            source: checkpoint(0, 0, 1),
            target: checkpoint(2, 2, 2),
        };
        let signed = vote.sign(&Hash::ZERO, &keys[0]);
        let json = serde_json::to_value(signed).unwrap();
        let mut keys_seen: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys_seen.sort();
        assert_eq!(keys_seen, ["authority", "signature", "source", "target"]);
        assert_eq!(json["target"]["slot"], 2);
        let back: SignedVote = serde_json::from_value(json).unwrap();
        assert_eq!(back, signed);
    }
}
