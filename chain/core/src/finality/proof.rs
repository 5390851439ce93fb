//! Finality proofs and their light-client check (FINALITY.md §1.6): a
//! client that trusts only the genesis (its hash and its authorities) checks
//! that a block is final from q-signed certificates and a chain of headers.

use bincode::{Decode, Encode};

use crate::genesis::Genesis;
use crate::primitives::{Hash, Header};

use super::tally::Finality;
use super::vote::{Certificate, Checkpoint, VoteError};

/// Most headers a proof carries (the client pages `GET /blocks` beyond).
pub const MAX_PROOF_HEADERS: usize = 128;

/// That `link.source` (and so the requested block) is final: the link
/// `A -> C`, a certificate for every slot between, and the headers from the
/// requested block up to `C`.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct FinalityProof {
    pub link: Certificate,
    pub intermediates: Vec<Certificate>,
    pub headers: Vec<Header>,
}

impl FinalityProof {
    /// A proof from a tally's finality and the headers the node holds.
    pub fn new(finality: &Finality, headers: Vec<Header>) -> Self {
        Self {
            link: finality.link.clone(),
            intermediates: finality.intermediates.clone(),
            headers,
        }
    }

    /// The finalized checkpoint this proves.
    pub fn finalized(&self) -> Checkpoint {
        self.link.source
    }
}

/// Why a finality proof does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("certificate for target slot {slot}: {error}")]
    Certificate { slot: u64, error: VoteError },
    #[error("intermediate {index} targets slot {found}, expected slot {expected}")]
    SlotGap {
        index: usize,
        expected: u64,
        found: u64,
    },
    #[error("the link targets slot {found}, expected slot {expected}")]
    LinkSlot { expected: u64, found: u64 },
    #[error("no headers")]
    NoHeaders,
    #[error("too many headers: at most {max}, found {found}")]
    TooManyHeaders { max: usize, found: usize },
    #[error("the first header is block {found}, not the requested block {expected}")]
    NotRequested { expected: Hash, found: Hash },
    #[error(
        "header {index} does not follow its predecessor (parent {found}, expected {expected})"
    )]
    BrokenChain {
        index: usize,
        expected: Hash,
        found: Hash,
    },
    #[error("the headers end at block {found}, not at the link's target {expected}")]
    WrongEnd { expected: Hash, found: Hash },
    #[error("checkpoint at slot {slot} (block {hash}) is not on the header chain")]
    OffChain { slot: u64, hash: Hash },
}

/// Checks that `requested` is final, trusting only `genesis`. Returns the
/// finalized checkpoint `A` (the requested block is `A` or an ancestor).
pub fn check_proof(
    genesis: &Genesis,
    genesis_hash: &Hash,
    requested: &Hash,
    proof: &FinalityProof,
) -> Result<Checkpoint, ProofError> {
    let certificates = std::iter::once(&proof.link).chain(&proof.intermediates);
    for certificate in certificates {
        certificate
            .check(genesis, genesis_hash)
            .map_err(|error| ProofError::Certificate {
                slot: certificate.target.slot,
                error,
            })?;
    }
    let a = proof.link.source;
    for (index, certificate) in proof.intermediates.iter().enumerate() {
        let expected = a.slot + 1 + index as u64;
        if certificate.target.slot != expected {
            return Err(ProofError::SlotGap {
                index,
                expected,
                found: certificate.target.slot,
            });
        }
    }
    let expected = a.slot + 1 + proof.intermediates.len() as u64;
    if proof.link.target.slot != expected {
        return Err(ProofError::LinkSlot {
            expected,
            found: proof.link.target.slot,
        });
    }

    let headers = &proof.headers;
    if headers.is_empty() {
        return Err(ProofError::NoHeaders);
    }
    if headers.len() > MAX_PROOF_HEADERS {
        return Err(ProofError::TooManyHeaders {
            max: MAX_PROOF_HEADERS,
            found: headers.len(),
        });
    }
    let hashes: Vec<Hash> = headers.iter().map(Header::hash).collect();
    if hashes[0] != *requested {
        return Err(ProofError::NotRequested {
            expected: *requested,
            found: hashes[0],
        });
    }
    for index in 1..headers.len() {
        if headers[index].parent != hashes[index - 1]
            || headers[index].height != headers[index - 1].height + 1
        {
            return Err(ProofError::BrokenChain {
                index,
                expected: hashes[index - 1],
                found: headers[index].parent,
            });
        }
    }
    let last = *hashes.last().expect("not empty");
    if last != proof.link.target.hash {
        return Err(ProofError::WrongEnd {
            expected: proof.link.target.hash,
            found: last,
        });
    }
    let on_chain = |checkpoint: &Checkpoint| {
        headers.iter().zip(&hashes).any(|(header, hash)| {
            *hash == checkpoint.hash
                && header.height == checkpoint.height
                && header.slot <= checkpoint.slot
        })
    };
    let checkpoints = std::iter::once(a)
        .chain(proof.intermediates.iter().map(|c| c.target))
        .chain(std::iter::once(proof.link.target));
    for checkpoint in checkpoints {
        if !on_chain(&checkpoint) {
            return Err(ProofError::OffChain {
                slot: checkpoint.slot,
                hash: checkpoint.hash,
            });
        }
    }
    Ok(a)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finality::vote::{quorum, CertificateSignature, Vote};
    use crate::primitives::signing::Keypair;
    use crate::primitives::{Account, Signature};

    struct Chain {
        genesis: Genesis,
        genesis_hash: Hash,
        keys: Vec<Keypair>,
        headers: Vec<Header>,
    }

    /// A chain of `len` blocks after genesis, one per slot.
    fn chain(len: u64) -> Chain {
        let (genesis, keys) = crate::finality::test_tree::authorities(4);
        let mut headers = vec![Header {
            height: 0,
            slot: 0,
            timestamp_ms: 0,
            parent: Hash::ZERO,
            proposer: Account::ZERO,
            tx_root: Hash::ZERO,
            state_root: Hash::ZERO,
        }];
        for height in 1..=len {
            let parent = headers.last().unwrap().hash();
            headers.push(Header {
                height,
                slot: height,
                parent,
                ..headers[0].clone()
            });
        }
        let genesis_hash = headers[0].hash();
        Chain {
            genesis,
            genesis_hash,
            keys,
            headers,
        }
    }

    impl Chain {
        fn cp(&self, height: u64) -> Checkpoint {
            let header = &self.headers[height as usize];
            Checkpoint {
                slot: header.slot,
                height,
                hash: header.hash(),
            }
        }

        fn certificate(&self, source: u64, target: u64) -> Certificate {
            let vote = Vote {
                source: self.cp(source),
                target: self.cp(target),
            };
            let votes: Vec<_> = self
                .keys
                .iter()
                .map(|key| vote.sign(&self.genesis_hash, key))
                .collect();
            Certificate::from_votes(&self.genesis, vote, &votes[..quorum(4)])
        }

        /// A proves final by `A -> C` with intermediates, headers from
        /// `requested` to C.
        fn proof(&self, a: u64, c: u64, requested: u64) -> FinalityProof {
            FinalityProof {
                link: self.certificate(a, c),
                intermediates: (a + 1..c).map(|x| self.certificate(a, x)).collect(),
                headers: self.headers[requested as usize..=c as usize].to_vec(),
            }
        }

        fn check(&self, requested: u64, proof: &FinalityProof) -> Result<Checkpoint, ProofError> {
            let hash = self.headers[requested as usize].hash();
            check_proof(&self.genesis, &self.genesis_hash, &hash, proof)
        }
    }

    #[test]
    fn valid_proofs_with_k_1_and_k_3() {
        let chain = chain(8);
        assert_eq!(chain.check(3, &chain.proof(3, 4, 3)), Ok(chain.cp(3)));
        assert_eq!(chain.check(1, &chain.proof(3, 4, 1)), Ok(chain.cp(3)));
        assert_eq!(chain.check(2, &chain.proof(2, 5, 2)), Ok(chain.cp(2)));
    }

    #[test]
    fn certificate_verify_table() {
        let chain = chain(8);
        let good = chain.proof(2, 5, 1);
        type Mutation = fn(&mut FinalityProof, &Chain);
        let rows: Vec<(&str, Mutation, &str)> = vec![
            (
                "fewer than q signers",
                |p, _| {
                    p.link.signatures.pop();
                },
                "at least 3",
            ),
            (
                "duplicate signer",
                |p, _| p.link.signatures[1] = p.link.signatures[0],
                "out of place",
            ),
            (
                "not an authority",
                |p, _| {
                    p.intermediates[0].signatures[0].authority = Keypair::dev("mallory").account()
                },
                "not an authority",
            ),
            (
                "bad signature",
                |p, _| p.intermediates[1].signatures[2].signature = Signature([3; 64]),
                "bad vote signature",
            ),
            (
                "small-order key",
                |p, _| {
                    let mut identity = [0u8; 32];
                    identity[0] = 1;
                    p.link.signatures[0] = CertificateSignature {
                        authority: Account(identity),
                        signature: Signature([0; 64]),
                    };
                },
                "not an authority",
            ),
            (
                "slot gap",
                |p, _| {
                    p.intermediates.remove(0);
                },
                "targets slot",
            ),
            (
                "link too far",
                |p, c| p.link = c.certificate(2, 6),
                "link targets slot",
            ),
            (
                "broken header chain",
                |p, _| {
                    p.headers.remove(2);
                },
                "does not follow",
            ),
            (
                "extra header",
                |p, c| p.headers.push(c.headers[6].clone()),
                "end at block",
            ),
            ("no headers", |p, _| p.headers.clear(), "no headers"),
            (
                "requested not first",
                |p, _| {
                    p.headers.remove(0);
                },
                "not the requested block",
            ),
        ];
        for (name, mutate, expected) in rows {
            let mut proof = good.clone();
            mutate(&mut proof, &chain);
            let err = chain.check(1, &proof).unwrap_err().to_string();
            assert!(err.contains(expected), "{name}: {err}");
        }
        // Another genesis: every signature fails.
        let other = Hash([5; 32]);
        let err = check_proof(&chain.genesis, &other, &chain.headers[1].hash(), &good);
        assert!(matches!(err, Err(ProofError::Certificate { .. })));
        // A block above A is not final.
        let err = chain.check(3, &chain.proof(2, 5, 3)).unwrap_err();
        assert!(matches!(err, ProofError::OffChain { .. }), "{err}");
    }
}
