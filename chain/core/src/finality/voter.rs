//! When an honest authority votes (FINALITY.md §1.3), as a state machine:
//! inputs (a new slot, its own proposal, the slot's lead vote, a block
//! imported, the mid-slot deadline, peers' justified checkpoints) go in;
//! what to persist and send comes out. The host persists a vote, flushed,
//! before it sends it (V2).

use crate::consensus::proposer_for;
use crate::genesis::Genesis;
use crate::primitives::signing::Keypair;
use crate::primitives::Hash;

use super::blocks::BlockIndex;
use super::tally::Tally;
use super::vote::{Checkpoint, SignedVote, Vote};

/// Why the signing gate (V1, V6, V7) refuses a vote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("no votes in slot 0")]
    SlotZero,
    #[error("the source must be below the target (slot and height)")]
    OutOfOrder,
    #[error("target slot {target} is not the current slot {current}")]
    NotCurrentSlot { target: u64, current: u64 },
    #[error("target slot {target} is not after the last vote's {last}")]
    NotAfterLastVote { target: u64, last: u64 },
    #[error("source slot {source_slot} is below the last vote's {last}")]
    SourceBelowLastVote { source_slot: u64, last: u64 },
    #[error("the source is not justified")]
    SourceNotJustified,
    #[error("the target block is not imported")]
    TargetUnknown,
    #[error("the target block does not descend from the source block")]
    TargetOffSource,
    #[error("the target block does not descend from the finalized block")]
    TargetOffFinalized,
    #[error(
        "waiting to learn the peers' highest justified checkpoint (the store has no last vote)"
    )]
    AwaitingPeers,
    #[error("source slot {source_slot} is below the peers' justified slot {floor}")]
    SourceBelowPeers { source_slot: u64, floor: u64 },
    #[error("safety fault: voting has stopped")]
    SafetyFault,
}

/// What the voter asks the host to do, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VoterOutput {
    /// Write this as the last vote and flush; only then send it.
    Persist(SignedVote),
    /// Send this vote to every peer.
    Send(SignedVote),
}

/// What happened that may make the voter vote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VoterInput {
    /// A new slot began.
    Slot(u64),
    /// This authority committed its block of the current slot (V3).
    Proposed { block: Checkpoint },
    /// A vote for the current slot signed by the slot's proposer (its
    /// signature checked by the host).
    LeadVote(SignedVote),
    /// A block was imported: a lead vote waiting for it may now be followed.
    BlockImported,
    /// The current slot's mid-slot deadline, with the fork-choice head (V5).
    Deadline { head: Checkpoint },
    /// Peers report this justified checkpoint (V7).
    PeersJustified(Checkpoint),
}

/// The store-less rule (V7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Floor {
    /// The authority has its last vote, or the chain is at genesis.
    None,
    /// No last vote on a chain past genesis: wait for peers' `J*`.
    Waiting,
    /// Vote only with sources at or above this.
    Learned(Checkpoint),
}

/// One authority's voting state.
#[derive(Debug)]
pub struct Voter {
    keypair: Keypair,
    genesis: Genesis,
    genesis_hash: Hash,
    last_vote: Option<SignedVote>,
    floor: Floor,
    slot: u64,
    /// The first lead vote of the current slot, until followed or expired.
    lead: Option<SignedVote>,
    deadline_passed: bool,
}

impl Voter {
    /// Resumes with the persisted last vote. Returns the vote to send again
    /// when it was for the current slot (never a second one, V2).
    /// `chain_past_genesis` tells a fresh store (V7) from a fresh chain.
    pub fn resume(
        keypair: Keypair,
        genesis: &Genesis,
        genesis_hash: Hash,
        last_vote: Option<SignedVote>,
        chain_past_genesis: bool,
        current_slot: u64,
    ) -> (Self, Vec<VoterOutput>) {
        let floor = if last_vote.is_none() && chain_past_genesis {
            Floor::Waiting
        } else {
            Floor::None
        };
        let resend = last_vote
            .filter(|vote| vote.vote.target.slot == current_slot)
            .map(VoterOutput::Send);
        let voter = Self {
            keypair,
            genesis: genesis.clone(),
            genesis_hash,
            last_vote,
            floor,
            slot: current_slot,
            lead: None,
            deadline_passed: false,
        };
        (voter, resend.into_iter().collect())
    }

    pub fn last_vote(&self) -> Option<&SignedVote> {
        self.last_vote.as_ref()
    }

    /// Whether the voter is still waiting for its peers (V7).
    pub fn awaiting_peers(&self) -> bool {
        self.floor == Floor::Waiting
    }

    /// Handles one input; returns what to persist and send.
    pub fn step(
        &mut self,
        input: VoterInput,
        tally: &Tally,
        blocks: &impl BlockIndex,
    ) -> Vec<VoterOutput> {
        match input {
            VoterInput::Slot(slot) => {
                if slot != self.slot {
                    self.slot = slot;
                    self.lead = None;
                    self.deadline_passed = false;
                }
                Vec::new()
            }
            VoterInput::PeersJustified(checkpoint) => {
                self.floor = match self.floor {
                    Floor::None => Floor::None,
                    Floor::Waiting => Floor::Learned(checkpoint),
                    Floor::Learned(floor) => Floor::Learned(floor.max(checkpoint)),
                };
                Vec::new()
            }
            VoterInput::Proposed { block } => {
                if block.slot != self.slot
                    || proposer_for(&self.genesis, self.slot) != self.keypair.account()
                {
                    return Vec::new();
                }
                let source = tally.highest_justified(blocks);
                self.vote(
                    Vote {
                        source,
                        target: block,
                    },
                    tally,
                    blocks,
                )
            }
            VoterInput::LeadVote(lead) => {
                let is_lead = lead.vote.target.slot == self.slot
                    && lead.authority == proposer_for(&self.genesis, self.slot);
                if !is_lead || self.lead.is_some() || self.deadline_passed {
                    return Vec::new();
                }
                self.lead = Some(lead);
                self.follow(tally, blocks)
            }
            VoterInput::BlockImported => self.follow(tally, blocks),
            VoterInput::Deadline { head } => {
                if head.slot != self.slot {
                    // The head checkpoint is taken as of the current slot.
                    return Vec::new();
                }
                self.deadline_passed = true;
                self.lead = None;
                let source = tally.highest_justified(blocks);
                self.vote(
                    Vote {
                        source,
                        target: head,
                    },
                    tally,
                    blocks,
                )
            }
        }
    }

    /// V4: copy the lead vote if it is safe to sign now.
    fn follow(&mut self, tally: &Tally, blocks: &impl BlockIndex) -> Vec<VoterOutput> {
        let Some(lead) = self.lead else {
            return Vec::new();
        };
        if self.deadline_passed || lead.authority == self.keypair.account() {
            return Vec::new();
        }
        match self.may_sign(&lead.vote, tally, blocks) {
            Ok(()) => {
                self.lead = None;
                self.sign(lead.vote)
            }
            // Wait for the block; anything else is final for this lead.
            Err(Refusal::TargetUnknown) => Vec::new(),
            Err(_) => {
                self.lead = None;
                Vec::new()
            }
        }
    }

    fn vote(&mut self, vote: Vote, tally: &Tally, blocks: &impl BlockIndex) -> Vec<VoterOutput> {
        match self.may_sign(&vote, tally, blocks) {
            Ok(()) => self.sign(vote),
            Err(_) => Vec::new(),
        }
    }

    fn sign(&mut self, vote: Vote) -> Vec<VoterOutput> {
        let signed = vote.sign(&self.genesis_hash, &self.keypair);
        self.last_vote = Some(signed);
        vec![VoterOutput::Persist(signed), VoterOutput::Send(signed)]
    }

    /// The signing gate (V1), with V6 (slot 0, one vote per slot) and V7.
    pub fn may_sign(
        &self,
        vote: &Vote,
        tally: &Tally,
        blocks: &impl BlockIndex,
    ) -> Result<(), Refusal> {
        if tally.safety_fault().is_some() {
            return Err(Refusal::SafetyFault);
        }
        if vote.target.slot == 0 {
            return Err(Refusal::SlotZero);
        }
        if !vote.is_ordered() {
            return Err(Refusal::OutOfOrder);
        }
        if vote.target.slot != self.slot {
            return Err(Refusal::NotCurrentSlot {
                target: vote.target.slot,
                current: self.slot,
            });
        }
        if let Some(last) = &self.last_vote {
            if vote.target.slot <= last.vote.target.slot {
                return Err(Refusal::NotAfterLastVote {
                    target: vote.target.slot,
                    last: last.vote.target.slot,
                });
            }
            if vote.source.slot < last.vote.source.slot {
                return Err(Refusal::SourceBelowLastVote {
                    source_slot: vote.source.slot,
                    last: last.vote.source.slot,
                });
            }
        }
        match self.floor {
            Floor::None => {}
            Floor::Waiting => return Err(Refusal::AwaitingPeers),
            Floor::Learned(floor) if vote.source.slot < floor.slot => {
                return Err(Refusal::SourceBelowPeers {
                    source_slot: vote.source.slot,
                    floor: floor.slot,
                })
            }
            Floor::Learned(_) => {}
        }
        if !tally.is_justified(&vote.source) {
            return Err(Refusal::SourceNotJustified);
        }
        let Some(target) = blocks.block(&vote.target.hash) else {
            return Err(Refusal::TargetUnknown);
        };
        if target.height != vote.target.height || target.slot > vote.target.slot {
            return Err(Refusal::TargetOffSource);
        }
        if blocks.is_ancestor(&vote.source.hash, &vote.target.hash) != Some(true) {
            return Err(Refusal::TargetOffSource);
        }
        if blocks.is_ancestor(&tally.finalized().hash, &vote.target.hash) != Some(true) {
            return Err(Refusal::TargetOffFinalized);
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "voter_tests.rs"]
mod tests;
