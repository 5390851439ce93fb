//! Finality votes in the node (FINALITY.md): vote intake (dedupe by
//! `vote_id` before verifying), relay, votes held while their blocks are
//! fetched, the voter's inputs (slot, lead vote, imported blocks, mid-slot
//! deadline), certificates and finality proofs over the peer protocol, fork
//! choice that follows the highest justified checkpoint, and moving the
//! finalized block. With one authority there are no votes: every block is
//! final when committed.

use std::collections::VecDeque;

use bwchain_core::finality::blocks::{BlockIndex, BlockInfo};
use bwchain_core::finality::tally::{check_vote_blocks, VoteBlocks};
use bwchain_core::finality::{
    check_proof, Certificate, Checkpoint, FinalityProof, SignedVote, Tally, VoteEvidence, Voter,
    VoterInput, VoterOutput,
};

use super::*;

/// Votes relayed only when their target slot is at most this many slots old.
pub const VOTE_RELAY_WINDOW_SLOTS: u64 = 64;
/// Votes waiting for their blocks.
pub const MAX_PENDING_VOTES: usize = 4096;
/// Vote ids remembered to drop repeats before verifying them.
const MAX_SEEN_VOTES: usize = 65_536;

/// The node's finality state: the tally of every vote seen, this
/// authority's voter, and the votes waiting for blocks.
pub(super) struct Votes {
    pub(super) tally: Tally,
    pub(super) voter: Option<Voter>,
    seen: HashSet<Hash>,
    seen_order: VecDeque<Hash>,
    held: VecDeque<(SignedVote, Option<PeerId>)>,
    /// The slot whose mid-slot deadline has been handled.
    deadline_slot: Option<u64>,
}

impl Votes {
    /// Resumes from the store: finality, certificates and the last vote.
    pub(super) fn open(
        spec: &ChainSpec,
        store: &Store,
        keypair: Option<&Keypair>,
    ) -> Result<Self, StoreError> {
        let genesis_hash = spec.genesis_hash();
        let tally = Tally::restore(
            &spec.genesis,
            genesis_hash,
            store.finality()?,
            store.certificates()?,
        );
        let last_vote = store.last_vote()?;
        let voter = keypair.map(|keypair| {
            let (voter, _) = Voter::resume(
                keypair.clone(),
                &spec.genesis,
                genesis_hash,
                last_vote,
                // Without a last vote the store may be new or lost: wait for
                // the peers' justified checkpoint before voting (V7).
                true,
                // The re-send of a vote of the current slot happens when
                // peers connect (`peer_connected`).
                last_vote.map_or(0, |vote| vote.vote.target.slot + 1),
            );
            voter
        });
        Ok(Self {
            tally,
            voter,
            seen: HashSet::new(),
            seen_order: VecDeque::new(),
            held: VecDeque::new(),
            deadline_slot: None,
        })
    }

    /// Whether the vote id is new (and remembers it).
    fn first_sight(&mut self, id: Hash) -> bool {
        if !self.seen.insert(id) {
            return false;
        }
        self.seen_order.push_back(id);
        if self.seen_order.len() > MAX_SEEN_VOTES {
            if let Some(old) = self.seen_order.pop_front() {
                self.seen.remove(&old);
            }
        }
        true
    }

    fn hold(&mut self, vote: SignedVote, from: Option<PeerId>) {
        if self.held.len() >= MAX_PENDING_VOTES {
            self.held.pop_front();
        }
        self.held.push_back((vote, from));
    }
}

/// Known valid blocks for finality: stored blocks (executed when they were
/// committed), side blocks (header-checked, executed when switched to), and
/// a block being proposed that is not committed yet.
pub(super) struct NodeBlocks<'a> {
    store: &'a Store,
    tree: &'a BlockTree,
    extra: Option<(Hash, BlockInfo)>,
}

impl<'a> NodeBlocks<'a> {
    pub(super) fn new(store: &'a Store, tree: &'a BlockTree) -> Self {
        Self {
            store,
            tree,
            extra: None,
        }
    }

    fn with(mut self, hash: Hash, header: &SealedHeader) -> Self {
        self.extra = Some((hash, info(header.header())));
        self
    }
}

fn info(header: &bwchain_core::primitives::Header) -> BlockInfo {
    BlockInfo {
        height: header.height,
        slot: header.slot,
        parent: header.parent,
    }
}

impl BlockIndex for NodeBlocks<'_> {
    fn block(&self, hash: &Hash) -> Option<BlockInfo> {
        if let Some((extra, info)) = &self.extra {
            if extra == hash {
                return Some(*info);
            }
        }
        if self.tree.is_invalid(hash) {
            return None;
        }
        if let Some(block) = self.tree.side_block(hash) {
            return Some(info(&block.header));
        }
        match self.store.header(hash) {
            Ok(header) => header.as_ref().map(info),
            Err(err) => {
                tracing::error!(error = %err, "cannot read a header for finality");
                None
            }
        }
    }
}

/// The checkpoint of `header` taken as of `slot`.
pub(super) fn checkpoint(slot: u64, header: &SealedHeader) -> Checkpoint {
    Checkpoint {
        slot,
        height: header.height,
        hash: header.hash(),
    }
}

impl Node {
    pub(super) fn slot_of(&self, now_ms: u64) -> u64 {
        consensus::slot_at(&self.spec().genesis, now_ms).unwrap_or(0)
    }

    /// The slot's voting inputs: a new slot, and the mid-slot deadline
    /// (V5) once it has passed. Called from the periodic tick.
    pub(super) fn vote_tick(&self, chain: &mut ChainState, now_ms: u64) {
        let genesis = &self.spec().genesis;
        let slot = self.slot_of(now_ms);
        let Some(slot_start) = consensus::slot_start_ms(genesis, slot) else {
            return;
        };
        let deadline = slot_start.saturating_add(genesis.block_time_ms / 2);
        let head = chain.head.clone();
        let Some(votes) = chain.votes.as_mut() else {
            return;
        };
        let mut inputs = vec![VoterInput::Slot(slot)];
        if now_ms >= deadline && votes.deadline_slot != Some(slot) {
            votes.deadline_slot = Some(slot);
            inputs.push(VoterInput::Deadline {
                head: checkpoint(slot, &head),
            });
        }
        for input in inputs {
            self.step_voter(chain, input, now_ms);
        }
    }

    /// Feeds the voter one input and carries out what it asks. While the
    /// signing guard is closed the voter is not fed at all (so it signs
    /// nothing, not even a vote it would keep to itself); the peers'
    /// justified checkpoint is kept for when the guard opens.
    fn step_voter(&self, chain: &mut ChainState, input: VoterInput, now_ms: u64) {
        if chain
            .votes
            .as_ref()
            .is_none_or(|votes| votes.voter.is_none())
        {
            return;
        }
        if !self.may_sign(chain, now_ms) {
            if let VoterInput::PeersJustified(_) = input {
                chain.guard.held_input = Some(input);
            }
            return;
        }
        if let Some(held) = chain.guard.held_input.take() {
            self.feed_voter(chain, held, now_ms);
        }
        self.feed_voter(chain, input, now_ms);
    }

    fn feed_voter(&self, chain: &mut ChainState, input: VoterInput, now_ms: u64) {
        let outputs = {
            let ChainState { votes, tree, .. } = &mut *chain;
            let Some(votes) = votes.as_mut() else { return };
            let Votes { tally, voter, .. } = votes;
            let Some(voter) = voter.as_mut() else { return };
            voter.step(input, tally, &NodeBlocks::new(self.store(), tree))
        };
        self.carry_out(chain, outputs, now_ms);
    }

    /// Persists (flushed) then sends this authority's votes (V2).
    fn carry_out(&self, chain: &mut ChainState, outputs: Vec<VoterOutput>, now_ms: u64) {
        for output in outputs {
            match output {
                VoterOutput::Persist(vote) => {
                    if let Err(err) = self.store().put_last_vote(&vote) {
                        // Without the record, sending could let a restart
                        // equivocate: the vote stays here.
                        tracing::error!(error = %err, "cannot persist our vote; not sending it");
                        return;
                    }
                }
                VoterOutput::Send(vote) => self.send_own_vote(chain, vote, now_ms),
            }
        }
    }

    /// Sends this authority's vote (after the certificate of its source)
    /// and counts it; also used for the lead vote once its block is committed.
    pub(super) fn send_own_vote(&self, chain: &mut ChainState, vote: SignedVote, now_ms: u64) {
        tracing::debug!(target_slot = vote.vote.target.slot, target = %vote.vote.target.hash, "voted");
        self.metrics().votes_sent.inc();
        self.signed_vote(chain, &vote);
        // Relay the source's certificate before the vote that uses it.
        if let Some(votes) = &chain.votes {
            if let Some(certificate) = votes.tally.certificate(&vote.vote.source) {
                self.broadcast(None, Message::Certificate(certificate.clone()));
            }
        }
        self.broadcast(None, Message::Vote(vote));
        self.count_vote(chain, vote, None, false, now_ms);
    }

    /// The lead vote for a block this authority is about to commit (V3):
    /// returned for the block's commit batch (V2), sent after the block.
    pub(super) fn lead_vote(
        &self,
        chain: &mut ChainState,
        slot: u64,
        header: &SealedHeader,
    ) -> Option<SignedVote> {
        let ChainState { votes, tree, .. } = &mut *chain;
        let votes = votes.as_mut()?;
        let Votes { tally, voter, .. } = votes;
        let voter = voter.as_mut()?;
        let blocks = NodeBlocks::new(self.store(), tree).with(header.hash(), header);
        voter.step(VoterInput::Slot(slot), tally, &blocks);
        let outputs = voter.step(
            VoterInput::Proposed {
                block: checkpoint(slot, header),
            },
            tally,
            &blocks,
        );
        outputs.into_iter().find_map(|output| match output {
            VoterOutput::Persist(vote) => Some(vote),
            VoterOutput::Send(_) => None,
        })
    }

    /// A vote from a peer (or the network's relay of one).
    pub(super) fn receive_vote(
        &self,
        chain: &mut ChainState,
        vote: SignedVote,
        from: Option<PeerId>,
        now_ms: u64,
    ) -> Result<(), Misbehavior> {
        let genesis_hash = self.spec().genesis_hash();
        let Some(votes) = chain.votes.as_mut() else {
            return Ok(());
        };
        if !votes.first_sight(vote.id(&genesis_hash)) {
            return Ok(());
        }
        self.metrics().votes_received.inc();
        if let Err(error) = vote.check(&self.spec().genesis, &genesis_hash) {
            self.metrics().votes_invalid.inc();
            return Err(Misbehavior::BadVote(error));
        }
        self.watch_vote(chain, &vote);
        let current = self.slot_of(now_ms);
        let newest = self.slot_of(now_ms.saturating_add(self.spec().genesis.max_clock_drift_ms));
        let target = vote.vote.target.slot;
        if target + VOTE_RELAY_WINDOW_SLOTS >= current && target <= newest {
            self.metrics().votes_relayed.inc();
            self.broadcast(from, Message::Vote(vote));
        }
        self.count_vote(chain, vote, from, true, now_ms);
        // The current slot's lead vote may be followed (V4).
        let is_lead = target == current
            && vote.authority == consensus::proposer_for(&self.spec().genesis, current);
        if is_lead {
            self.step_voter(chain, VoterInput::LeadVote(vote), now_ms);
        }
        Ok(())
    }

    /// Evidence check, then the tally if the vote's blocks are known (held
    /// and fetched otherwise).
    /// `ask_peer`: whether to ask `from` for what the vote needs (its
    /// blocks, its source's certificate); off when held votes are counted
    /// again after an import, so a long sync does not repeat the requests.
    fn count_vote(
        &self,
        chain: &mut ChainState,
        vote: SignedVote,
        from: Option<PeerId>,
        ask_peer: bool,
        now_ms: u64,
    ) {
        let ask = from.filter(|_| ask_peer);
        let update = {
            let ChainState { votes, tree, .. } = &mut *chain;
            let Some(votes) = votes.as_mut() else { return };
            for evidence in votes.tally.note_evidence(&vote) {
                self.record_vote_evidence(&evidence);
            }
            let blocks = NodeBlocks::new(self.store(), tree);
            match check_vote_blocks(&vote.vote, &blocks) {
                VoteBlocks::Valid => {
                    let source_known = votes.tally.is_justified(&vote.vote.source);
                    let update = votes.tally.add_vote(vote, &blocks);
                    if !source_known {
                        if let Some(peer) = ask {
                            self.send(Outbound::Send {
                                peer,
                                message: Message::GetCertificate {
                                    target: vote.vote.source,
                                },
                            });
                        }
                    }
                    update
                }
                VoteBlocks::Unknown(missing) => {
                    votes.hold(vote, from);
                    if let Some(peer) = ask {
                        self.send(Outbound::Send {
                            peer,
                            message: Message::GetAncestors {
                                hash: missing,
                                max: MAX_BLOCKS_PER_MESSAGE,
                            },
                        });
                    }
                    return;
                }
                VoteBlocks::Invalid(reason) => {
                    tracing::debug!(authority = %vote.authority, reason, "vote does not fit its blocks; ignored");
                    return;
                }
            }
        };
        self.apply_tally(chain, update, now_ms);
    }

    /// Keeps slashable votes (durably), counts them and says so.
    pub(super) fn record_vote_evidence(&self, evidence: &VoteEvidence) {
        tracing::warn!(
            authority = %evidence.authority,
            kind = evidence.offence.kind(),
            "slashable votes: evidence recorded"
        );
        self.metrics().evidence_votes.inc();
        if let Err(err) = self.store().put_vote_evidence(evidence) {
            tracing::error!(error = %err, "cannot record vote evidence");
        }
    }

    /// A certificate from a peer: checked, then counted as justification.
    pub(super) fn receive_certificate(
        &self,
        chain: &mut ChainState,
        certificate: Certificate,
        from: PeerId,
        now_ms: u64,
    ) -> Result<(), Misbehavior> {
        if chain.votes.is_none() {
            return Ok(());
        }
        let genesis_hash = self.spec().genesis_hash();
        certificate
            .check(&self.spec().genesis, &genesis_hash)
            .map_err(Misbehavior::BadVote)?;
        let target = certificate.target.hash;
        self.accept_certificate(chain, certificate, now_ms);
        self.fetch_if_unknown(chain, target, from);
        Ok(())
    }

    /// A justified block we do not hold: ask the peer that vouched for it.
    fn fetch_if_unknown(&self, chain: &ChainState, hash: Hash, from: PeerId) {
        if NodeBlocks::new(self.store(), &chain.tree)
            .block(&hash)
            .is_none()
        {
            self.send(Outbound::Send {
                peer: from,
                message: Message::GetAncestors {
                    hash,
                    max: MAX_BLOCKS_PER_MESSAGE,
                },
            });
        }
    }

    fn accept_certificate(&self, chain: &mut ChainState, certificate: Certificate, now_ms: u64) {
        let update = {
            let ChainState { votes, tree, .. } = &mut *chain;
            let Some(votes) = votes.as_mut() else { return };
            if votes.tally.is_justified(&certificate.target) {
                return;
            }
            for vote in certificate.votes() {
                for evidence in votes.tally.note_evidence(&vote) {
                    self.record_vote_evidence(&evidence);
                }
            }
            votes
                .tally
                .add_certificate(certificate, &NodeBlocks::new(self.store(), tree))
        };
        self.apply_tally(chain, update, now_ms);
    }

    /// A peer's finality proof and highest certificate, checked like a light
    /// client would (trusting only the genesis).
    pub(super) fn receive_finality(
        &self,
        chain: &mut ChainState,
        proof: Option<FinalityProof>,
        justified: Option<Certificate>,
        from: PeerId,
        now_ms: u64,
    ) -> Result<(), Misbehavior> {
        if chain.votes.is_none() {
            return Ok(());
        }
        let genesis_hash = self.spec().genesis_hash();
        if let Some(proof) = proof {
            let finalized = proof.finalized();
            check_proof(&self.spec().genesis, &genesis_hash, &finalized.hash, &proof)
                .map_err(Misbehavior::BadProof)?;
            for certificate in proof.intermediates {
                self.accept_certificate(chain, certificate, now_ms);
            }
            let target = proof.link.target.hash;
            self.accept_certificate(chain, proof.link, now_ms);
            self.fetch_if_unknown(chain, target, from);
        }
        match justified {
            Some(certificate) => {
                let target = certificate.target;
                self.receive_certificate(chain, certificate, from, now_ms)?;
                self.step_voter(chain, VoterInput::PeersJustified(target), now_ms);
            }
            // The peer has nothing justified beyond genesis.
            None => self.step_voter(
                chain,
                VoterInput::PeersJustified(Checkpoint::genesis(genesis_hash)),
                now_ms,
            ),
        }
        Ok(())
    }

    /// After blocks were imported: held votes whose blocks arrived are
    /// counted, finality re-examined, and the voter told (a lead vote may
    /// have been waiting for its block).
    pub(super) fn blocks_arrived(&self, chain: &mut ChainState, now_ms: u64) {
        let Some(votes) = chain.votes.as_mut() else {
            return;
        };
        let held: Vec<(SignedVote, Option<PeerId>)> = votes.held.drain(..).collect();
        for (vote, from) in held {
            self.count_vote(chain, vote, from, false, now_ms);
        }
        let update = {
            let ChainState { votes, tree, .. } = &mut *chain;
            let Some(votes) = votes.as_mut() else { return };
            votes
                .tally
                .blocks_changed(&NodeBlocks::new(self.store(), tree))
        };
        self.apply_tally(chain, update, now_ms);
        self.step_voter(chain, VoterInput::BlockImported, now_ms);
    }

    /// When a peer connects: ask for its finality, and send our vote of the
    /// current slot again (a restart must re-send, never re-sign).
    pub(super) fn greet_peer(&self, chain: &ChainState, peer: PeerId, now_ms: u64) {
        let Some(votes) = &chain.votes else { return };
        self.send(Outbound::Send {
            peer,
            message: Message::GetFinality,
        });
        let current = self.slot_of(now_ms);
        if let Some(vote) = votes.voter.as_ref().and_then(|voter| voter.last_vote()) {
            if vote.vote.target.slot == current {
                self.send(Outbound::Send {
                    peer,
                    message: Message::Vote(*vote),
                });
            }
        }
    }
}
