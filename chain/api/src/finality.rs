//! `GET /blocks/{height}/justification`: why a block is final
//! (FINALITY.md §1.6), checkable by a client that trusts only the genesis.

use bwchain_core::finality::{Certificate, Checkpoint, FinalityProof};
use bwchain_core::primitives::{Account, Hash, Signature};
use serde::{Deserialize, Serialize};

use crate::blocks::HeaderJson;

pub fn path(height: u64) -> String {
    format!("/blocks/{height}/justification")
}

/// The answer for a final block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Justification {
    /// Two or more authorities: the finalized checkpoint `A` (the block or
    /// a descendant), the link `A -> C`, a certificate for every slot in
    /// between, and the headers from the block up to `C`.
    Votes {
        height: u64,
        hash: Hash,
        finalized: Checkpoint,
        link: Certificate,
        intermediates: Vec<Certificate>,
        headers: Vec<HeaderJson>,
    },
    /// One authority: its block signature is the whole proof.
    Single {
        height: u64,
        hash: Hash,
        authority: Account,
        signature: Signature,
    },
}

impl Justification {
    pub fn from_proof(height: u64, hash: Hash, proof: &FinalityProof) -> Self {
        Justification::Votes {
            height,
            hash,
            finalized: proof.finalized(),
            link: proof.link.clone(),
            intermediates: proof.intermediates.clone(),
            headers: proof
                .headers
                .iter()
                .map(|header| HeaderJson::new(header, header.hash()))
                .collect(),
        }
    }

    /// The proof in the core's form, for `check_proof` (`None` for a
    /// single authority's block).
    pub fn proof(&self) -> Option<FinalityProof> {
        match self {
            Justification::Votes {
                link,
                intermediates,
                headers,
                ..
            } => Some(FinalityProof {
                link: link.clone(),
                intermediates: intermediates.clone(),
                headers: headers.iter().map(HeaderJson::header).collect(),
            }),
            Justification::Single { .. } => None,
        }
    }
}
