//! The tally (FINALITY.md §1.2): from valid votes and accepted
//! certificates to justified checkpoints (J1–J3), the finalized checkpoint
//! with its proof (J4, k-finality), and the evidence of slashable votes (E).
//! Pure: blocks are read through a [`BlockIndex`].

use std::collections::{BTreeMap, HashMap};

use bincode::{Decode, Encode};

use crate::genesis::Genesis;
use crate::primitives::{Account, Hash};

use super::blocks::BlockIndex;
use super::slashing::{is_slashable, Offence};
use super::vote::{quorum, Certificate, CertificateSignature, Checkpoint, SignedVote, Vote};

/// Votes older than this many slots (by target) are no longer checked for
/// slashable pairs.
pub const EVIDENCE_WINDOW_SLOTS: u64 = 1024;
/// Certificates of justified checkpoints are kept this many slots below the
/// finalized slot.
pub const CERTIFICATE_WINDOW_SLOTS: u64 = 64;

/// Two slashable votes by one authority.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct VoteEvidence {
    pub offence: Offence,
    pub authority: Account,
    pub first: SignedVote,
    pub second: SignedVote,
}

/// A certificate that justifies a checkpoint at or above the finalized slot
/// that does not descend from the finalized block: at least `2q - n`
/// authorities signed slashable pairs. The node keeps its finalized block
/// and stops voting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SafetyFault {
    pub finalized: Checkpoint,
    /// The certificate of the conflicting justified checkpoint.
    pub conflicting: Certificate,
}

/// How a vote's blocks stand (FINALITY.md §1.1 "valid").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VoteBlocks {
    /// Both blocks are known and valid, and the vote fits them.
    Valid,
    /// A block is not known yet: hold the vote and fetch it.
    Unknown(Hash),
    /// The vote contradicts its blocks.
    Invalid(&'static str),
}

/// Whether `vote` fits its blocks: each checkpoint's block has the stated
/// height and a slot at most the checkpoint's, and the source block is an
/// ancestor-or-equal of the target block.
pub fn check_vote_blocks(vote: &Vote, blocks: &impl BlockIndex) -> VoteBlocks {
    for checkpoint in [vote.source, vote.target] {
        let Some(info) = blocks.block(&checkpoint.hash) else {
            return VoteBlocks::Unknown(checkpoint.hash);
        };
        if info.height != checkpoint.height {
            return VoteBlocks::Invalid("a checkpoint's height is not its block's height");
        }
        if info.slot > checkpoint.slot {
            return VoteBlocks::Invalid("a checkpoint's slot is before its block's slot");
        }
    }
    match blocks.is_ancestor(&vote.source.hash, &vote.target.hash) {
        Some(true) => VoteBlocks::Valid,
        Some(false) => {
            VoteBlocks::Invalid("the source block is not an ancestor of the target block")
        }
        None => VoteBlocks::Unknown(vote.target.hash),
    }
}

/// What adding a vote or certificate changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TallyUpdate {
    /// Checkpoints newly justified, in the order they were.
    pub justified: Vec<Checkpoint>,
    /// The new finalized checkpoint, when it moved.
    pub finalized: Option<Checkpoint>,
    /// Set when a justification conflicts with the finalized block.
    pub safety_fault: Option<SafetyFault>,
}

/// The proof that `link.source` is final: the link `A -> C` and a justified
/// checkpoint for every slot strictly between, on the path from A to C.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct Finality {
    pub link: Certificate,
    pub intermediates: Vec<Certificate>,
}

/// Votes, justification and finality as one node has seen them.
#[derive(Debug, Clone)]
pub struct Tally {
    authorities: Vec<Account>,
    quorum: usize,
    /// Signers of each `source -> target`, by genesis index.
    links: BTreeMap<Vote, BTreeMap<usize, SignedVote>>,
    /// Justified checkpoints with their certificate (none for genesis).
    justified: BTreeMap<Checkpoint, Option<Certificate>>,
    finalized: Checkpoint,
    finality: Option<Finality>,
    /// Each authority's recent votes, for slashable pairs: at most two per
    /// target slot.
    recent: HashMap<Account, Vec<SignedVote>>,
    safety_fault: Option<SafetyFault>,
}

impl Tally {
    /// A fresh tally: only genesis is justified and final.
    pub fn new(genesis: &Genesis, genesis_hash: Hash) -> Self {
        let genesis_checkpoint = Checkpoint::genesis(genesis_hash);
        Self {
            authorities: genesis.authorities.clone(),
            quorum: quorum(genesis.authorities.len()),
            links: BTreeMap::new(),
            justified: BTreeMap::from([(genesis_checkpoint, None)]),
            finalized: genesis_checkpoint,
            finality: None,
            recent: HashMap::new(),
            safety_fault: None,
        }
    }

    /// A tally resumed from a store: the finalized checkpoint with its
    /// proof, and the certificates of justified checkpoints kept since.
    pub fn restore(
        genesis: &Genesis,
        genesis_hash: Hash,
        finality: Option<Finality>,
        certificates: impl IntoIterator<Item = Certificate>,
    ) -> Self {
        let mut tally = Self::new(genesis, genesis_hash);
        if let Some(finality) = finality {
            let finalized = finality.link.source;
            for certificate in std::iter::once(&finality.link).chain(&finality.intermediates) {
                tally
                    .justified
                    .insert(certificate.target, Some(certificate.clone()));
            }
            tally.justified.entry(finalized).or_insert(None);
            tally.finalized = finalized;
            tally.finality = Some(finality);
        }
        for certificate in certificates {
            tally
                .justified
                .entry(certificate.target)
                .or_insert(Some(certificate));
        }
        tally
    }

    pub fn quorum(&self) -> usize {
        self.quorum
    }

    pub fn finalized(&self) -> Checkpoint {
        self.finalized
    }

    /// The proof of the finalized checkpoint (`None` while it is genesis).
    pub fn finality(&self) -> Option<&Finality> {
        self.finality.as_ref()
    }

    pub fn safety_fault(&self) -> Option<&SafetyFault> {
        self.safety_fault.as_ref()
    }

    pub fn is_justified(&self, checkpoint: &Checkpoint) -> bool {
        self.justified.contains_key(checkpoint)
    }

    /// The certificate that justified `checkpoint` (`None` for genesis or
    /// an unjustified checkpoint).
    pub fn certificate(&self, checkpoint: &Checkpoint) -> Option<&Certificate> {
        self.justified.get(checkpoint).and_then(Option::as_ref)
    }

    /// The certificates of every justified checkpoint held.
    pub fn certificates(&self) -> impl Iterator<Item = &Certificate> {
        self.justified.values().filter_map(Option::as_ref)
    }

    /// `J*`: the justified checkpoint with the highest slot whose block is
    /// known valid and descends from the finalized block; ties go to the
    /// lower hash.
    pub fn highest_justified(&self, blocks: &impl BlockIndex) -> Checkpoint {
        let mut best = self.finalized;
        for checkpoint in self.justified.keys() {
            if checkpoint.slot < best.slot
                || (checkpoint.slot == best.slot && checkpoint.hash >= best.hash)
            {
                continue;
            }
            if blocks.block(&checkpoint.hash).is_none() {
                continue;
            }
            if blocks.is_ancestor(&self.finalized.hash, &checkpoint.hash) == Some(true) {
                best = *checkpoint;
            }
        }
        best
    }

    /// Checks a well-formed vote against its author's recent votes; returns
    /// the evidence when it is slashable with one of them: at most one pair
    /// per kind of offence, a double vote first. The blocks it names need
    /// not be known.
    pub fn note_evidence(&mut self, vote: &SignedVote) -> Vec<VoteEvidence> {
        let votes = self.recent.entry(vote.authority).or_default();
        if votes.contains(vote) {
            return Vec::new();
        }
        let mut evidence: Vec<VoteEvidence> = Vec::new();
        for offence in [Offence::DoubleVote, Offence::SurroundVote] {
            let earlier = votes
                .iter()
                .find(|earlier| is_slashable(&earlier.vote, &vote.vote) == Some(offence));
            if let Some(earlier) = earlier {
                evidence.push(VoteEvidence {
                    offence,
                    authority: vote.authority,
                    first: *earlier,
                    second: *vote,
                });
            }
        }
        let same_target = votes
            .iter()
            .filter(|earlier| earlier.vote.target.slot == vote.vote.target.slot)
            .count();
        if same_target < 2 {
            votes.push(*vote);
        }
        evidence
    }

    /// Counts a valid vote (signature checked, blocks known and fitting).
    pub fn add_vote(&mut self, vote: SignedVote, blocks: &impl BlockIndex) -> TallyUpdate {
        let mut update = TallyUpdate::default();
        let Some(index) = authority_index_in(&self.authorities, &vote.authority) else {
            return update;
        };
        let signers = self.links.entry(vote.vote).or_default();
        if signers.insert(index, vote).is_some() {
            return update;
        }
        if signers.len() >= self.quorum && self.is_justified(&vote.vote.source) {
            self.justify(vote.vote, None, blocks, &mut update);
        }
        update
    }

    /// Accepts a checked certificate as proof that its target is justified
    /// (J3), and counts its votes.
    pub fn add_certificate(
        &mut self,
        certificate: Certificate,
        blocks: &impl BlockIndex,
    ) -> TallyUpdate {
        let mut update = TallyUpdate::default();
        let vote = certificate.vote();
        // An honest signer checked that the source is justified (J3).
        if let std::collections::btree_map::Entry::Vacant(entry) = self.justified.entry(vote.source)
        {
            entry.insert(None);
            update.justified.push(vote.source);
        }
        let signers = self.links.entry(vote).or_default();
        for signed in certificate.votes() {
            if let Some(index) = authority_index_in(&self.authorities, &signed.authority) {
                signers.entry(index).or_insert(signed);
            }
        }
        self.justify(vote, Some(certificate), blocks, &mut update);
        update
    }

    /// Re-examines finality and safety after blocks became known (a vote's
    /// or certificate's blocks may arrive after it).
    pub fn blocks_changed(&mut self, blocks: &impl BlockIndex) -> TallyUpdate {
        let mut update = TallyUpdate::default();
        self.advance_finality(blocks, &mut update);
        self.check_safety(blocks, &mut update);
        update
    }

    /// Forgets votes and certificates that can no longer matter.
    pub fn prune(&mut self, current_slot: u64) {
        let evidence_floor = current_slot.saturating_sub(EVIDENCE_WINDOW_SLOTS);
        for votes in self.recent.values_mut() {
            votes.retain(|vote| vote.vote.target.slot >= evidence_floor);
        }
        self.recent.retain(|_, votes| !votes.is_empty());
        let floor = self.finalized.slot.saturating_sub(CERTIFICATE_WINDOW_SLOTS);
        let finalized = self.finalized;
        let keep: Vec<Checkpoint> = self
            .finality
            .iter()
            .flat_map(|finality| {
                std::iter::once(finality.link.target)
                    .chain(finality.intermediates.iter().map(|c| c.target))
            })
            .collect();
        self.justified.retain(|checkpoint, _| {
            checkpoint.slot >= floor || *checkpoint == finalized || keep.contains(checkpoint)
        });
        self.links.retain(|vote, _| vote.target.slot >= floor);
    }

    /// Marks `vote.target` justified by the votes of `vote` (or by a given
    /// certificate), then follows the links it unblocks.
    fn justify(
        &mut self,
        vote: Vote,
        certificate: Option<Certificate>,
        blocks: &impl BlockIndex,
        update: &mut TallyUpdate,
    ) {
        let mut work = vec![(vote, certificate)];
        while let Some((vote, certificate)) = work.pop() {
            if self.is_justified(&vote.target) {
                continue;
            }
            let certificate = certificate.unwrap_or_else(|| self.certificate_of(vote));
            self.justified.insert(vote.target, Some(certificate));
            update.justified.push(vote.target);
            // Links from the newly justified checkpoint that already have q.
            for (link, signers) in &self.links {
                if link.source == vote.target
                    && signers.len() >= self.quorum
                    && !self.justified.contains_key(&link.target)
                {
                    work.push((*link, None));
                }
            }
        }
        self.advance_finality(blocks, update);
        self.check_safety(blocks, update);
    }

    fn certificate_of(&self, vote: Vote) -> Certificate {
        let signatures = self
            .links
            .get(&vote)
            .map(|signers| {
                signers
                    .values()
                    .map(|signed| CertificateSignature {
                        authority: signed.authority,
                        signature: signed.signature,
                    })
                    .collect()
            })
            .unwrap_or_default();
        Certificate {
            source: vote.source,
            target: vote.target,
            signatures,
        }
    }

    /// J4: the highest justified `A` above the finalized slot, descending
    /// from the finalized block, with a link `A -> C` whose every
    /// intermediate slot holds a justified checkpoint on the path.
    fn advance_finality(&mut self, blocks: &impl BlockIndex, update: &mut TallyUpdate) {
        if self.safety_fault.is_some() {
            return;
        }
        let mut best: Option<Finality> = None;
        for (link, signers) in &self.links {
            let (a, c) = (link.source, link.target);
            if signers.len() < self.quorum
                || a.slot <= self.finalized.slot
                || best.as_ref().is_some_and(|b| b.link.source.slot >= a.slot)
                || !self.is_justified(&a)
                || !self.is_justified(&c)
                || blocks.block(&a.hash).is_none()
                || blocks.is_ancestor(&self.finalized.hash, &a.hash) != Some(true)
            {
                continue;
            }
            let Some(intermediates) = self.intermediates(a, c, blocks) else {
                continue;
            };
            let link = match self.justified.get(&c) {
                Some(Some(certificate)) if certificate.source == a => certificate.clone(),
                _ => self.certificate_of(*link),
            };
            best = Some(Finality {
                link,
                intermediates,
            });
        }
        if let Some(finality) = best {
            self.finalized = finality.link.source;
            update.finalized = Some(self.finalized);
            self.finality = Some(finality);
        }
    }

    /// For each slot strictly between `a` and `c`, a justified checkpoint
    /// on the path from `a.block` to `c.block`.
    fn intermediates(
        &self,
        a: Checkpoint,
        c: Checkpoint,
        blocks: &impl BlockIndex,
    ) -> Option<Vec<Certificate>> {
        let mut found = Vec::new();
        for slot in a.slot + 1..c.slot {
            let on_path = self.justified.iter().find(|(x, certificate)| {
                x.slot == slot
                    && certificate.is_some()
                    && blocks.is_ancestor(&a.hash, &x.hash) == Some(true)
                    && blocks.is_ancestor(&x.hash, &c.hash) == Some(true)
            });
            found.push(on_path?.1.clone()?);
        }
        Some(found)
    }

    /// A justified checkpoint at or above the finalized slot must descend
    /// from the finalized block.
    fn check_safety(&mut self, blocks: &impl BlockIndex, update: &mut TallyUpdate) {
        if self.safety_fault.is_some() {
            return;
        }
        let finalized = self.finalized;
        let conflict = self.justified.iter().find_map(|(checkpoint, certificate)| {
            if checkpoint.slot < finalized.slot || *checkpoint == finalized {
                return None;
            }
            let conflicts = checkpoint.slot == finalized.slot
                || blocks.is_ancestor(&finalized.hash, &checkpoint.hash) == Some(false);
            conflicts.then(|| certificate.clone()).flatten()
        });
        if let Some(conflicting) = conflict {
            let fault = SafetyFault {
                finalized,
                conflicting,
            };
            update.safety_fault = Some(fault.clone());
            self.safety_fault = Some(fault);
        }
    }

    /// The slashable pairs behind a safety fault: the conflicting
    /// certificate's votes against those that justified and finalized the
    /// finalized checkpoint. With fewer than `2q - n` faulty authorities no
    /// fault can arise; with one, these name at least that many.
    pub fn offenders(&self, fault: &SafetyFault) -> Vec<VoteEvidence> {
        let mut proof: Vec<&Certificate> = self.certificate(&fault.finalized).into_iter().collect();
        if let Some(finality) = &self.finality {
            proof.push(&finality.link);
            proof.extend(&finality.intermediates);
        }
        let mut evidence = Vec::new();
        for certificate in proof {
            for earlier in certificate.votes() {
                for conflicting in fault.conflicting.votes() {
                    if conflicting.authority != earlier.authority {
                        continue;
                    }
                    if let Some(offence) = is_slashable(&earlier.vote, &conflicting.vote) {
                        evidence.push(VoteEvidence {
                            offence,
                            authority: conflicting.authority,
                            first: earlier,
                            second: conflicting,
                        });
                    }
                }
            }
        }
        evidence
    }
}

fn authority_index_in(authorities: &[Account], account: &Account) -> Option<usize> {
    authorities.iter().position(|a| a == account)
}

#[cfg(test)]
#[path = "tally_tests.rs"]
mod tests;
