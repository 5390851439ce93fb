//! Finality in the chain service: what the tally's changes mean for the
//! node (new certificates kept, a new highest justified checkpoint followed
//! by fork choice, the finalized block moved with its proof and undo pruning
//! in one batch, a safety fault), and finality proofs for peers and the API.

use bwchain_core::finality::proof::MAX_PROOF_HEADERS;
use bwchain_core::finality::{BlockIndex, Checkpoint, FinalityProof, TallyUpdate};

use super::votes::{checkpoint, NodeBlocks};
use super::*;
use crate::store::PROOF_PERIOD;

impl Node {
    /// Fork choice (FINALITY.md §1.4): a tip is better if it contains the
    /// highest justified checkpoint's block and the head does not, or if both
    /// do and it has more blocks (ties: the lower hash).
    pub(super) fn prefers(&self, chain: &ChainState, candidate: &SealedHeader) -> bool {
        let Some(votes) = &chain.votes else {
            return consensus::better(candidate, &chain.head);
        };
        let blocks = NodeBlocks::new(self.store(), &chain.tree);
        let justified = votes.tally.highest_justified(&blocks);
        bwchain_core::finality::prefers(&justified, candidate, &chain.head, &blocks)
    }

    /// What changed in the tally: keep new certificates, follow a new
    /// highest justified checkpoint, move the finalized block, and stop on a
    /// safety fault.
    pub(super) fn apply_tally(&self, chain: &mut ChainState, update: TallyUpdate, now_ms: u64) {
        if update.justified.is_empty()
            && update.finalized.is_none()
            && update.safety_fault.is_none()
        {
            return;
        }
        if let Some(votes) = &chain.votes {
            for checkpoint in &update.justified {
                if let Some(certificate) = votes.tally.certificate(checkpoint) {
                    if let Err(err) = self.store().put_certificate(certificate) {
                        tracing::error!(error = %err, "cannot keep a certificate");
                    }
                }
            }
            if let Some(fault) = &update.safety_fault {
                tracing::error!(
                    finalized = %fault.finalized.hash,
                    conflicting = %fault.conflicting.target.hash,
                    "SAFETY FAULT: a certificate justifies a block that conflicts with the finalized one; \
                     at least a third of the authorities signed conflicting votes. Voting stopped; \
                     the finalized block is kept. Evidence is recorded."
                );
                for evidence in votes.tally.offenders(fault) {
                    self.record_vote_evidence(&evidence);
                }
            }
        }
        if !update.justified.is_empty() {
            self.follow_justified(chain, now_ms);
        }
        if let Err(err) = self.sync_finality(chain) {
            tracing::error!(error = %err, "cannot commit finality");
        }
    }

    /// A new highest justified checkpoint on another branch: switch to the
    /// best chain containing it, without waiting for a new block.
    pub(super) fn follow_justified(&self, chain: &mut ChainState, now_ms: u64) {
        let tip = {
            let Some(votes) = &chain.votes else { return };
            let blocks = NodeBlocks::new(self.store(), &chain.tree);
            let justified = votes.tally.highest_justified(&blocks);
            if blocks.is_ancestor(&justified.hash, &chain.head.hash()) != Some(false) {
                return;
            }
            let mut best: Option<(u64, Hash)> = None;
            let candidates = chain
                .tree
                .side_blocks()
                .map(|(hash, block)| (*hash, block.header.height))
                .chain(
                    blocks
                        .block(&justified.hash)
                        .map(|b| (justified.hash, b.height)),
                );
            for (hash, height) in candidates {
                if blocks.is_ancestor(&justified.hash, &hash) != Some(true) {
                    continue;
                }
                let better = match best {
                    None => true,
                    Some((best_height, best_hash)) => {
                        (height, std::cmp::Reverse(hash))
                            > (best_height, std::cmp::Reverse(best_hash))
                    }
                };
                if better {
                    best = Some((height, hash));
                }
            }
            best.map(|(_, hash)| hash)
        };
        let Some(tip) = tip else { return };
        if chain.tree.side_block(&tip).is_none() {
            return;
        }
        match self.switch_to(chain, tip, now_ms, None) {
            Ok(imported) => {
                tracing::info!(?imported, tip = %tip, "followed a new justified checkpoint")
            }
            Err(err) => tracing::warn!(error = %err, "cannot switch to the justified branch"),
        }
    }

    /// Moves the finalized block to the tally's, once that block is on the
    /// chosen chain: its proof and the undo pruning commit in one batch.
    pub(super) fn sync_finality(&self, chain: &mut ChainState) -> Result<(), NodeError> {
        let Some(votes) = &chain.votes else {
            return Ok(());
        };
        let finalized = votes.tally.finalized();
        if finalized.height <= chain.finalized.height
            || self.store().block_hash_at(finalized.height)? != Some(finalized.hash)
        {
            return Ok(());
        }
        let Some(finality) = votes.tally.finality().cloned() else {
            return Ok(());
        };
        // Committed only with a proof the node can serve: the headers from
        // the finalized block up to the link's target must be stored.
        if self
            .headers_between(finalized.hash, finality.link.target.hash)?
            .is_none()
        {
            return Ok(());
        }
        let mut newly_final = Vec::new();
        if self.keep_undo() {
            for height in chain.finalized.height + 1..=finalized.height {
                newly_final.extend(self.store().block_hash_at(height)?);
            }
        }
        let crossed_period =
            finalized.height / PROOF_PERIOD > chain.finalized.height / PROOF_PERIOD;
        let period = crossed_period.then_some(finalized.height);
        self.store()
            .commit_finality(&finality, period, &newly_final)?;
        let header = self
            .store()
            .header(&finalized.hash)?
            .ok_or_else(|| StoreError::Corrupt(format!("no block {}", finalized.hash)))?;
        let header = SealedHeader::new(header);
        chain.seen_slots.forget_before(header.slot);
        chain.tree.prune_side(header.height);
        chain.finalized = header;
        if let Some(votes) = chain.votes.as_mut() {
            votes.tally.prune(finalized.slot.saturating_add(1));
        }
        self.store().forget_certificates_below(
            finalized
                .slot
                .saturating_sub(bwchain_core::finality::tally::CERTIFICATE_WINDOW_SLOTS),
        )?;
        Ok(())
    }

    /// Our finality, for a peer's `GetFinality`.
    pub(super) fn finality_message(&self, chain: &ChainState) -> Option<Message> {
        let votes = chain.votes.as_ref()?;
        let blocks = NodeBlocks::new(self.store(), &chain.tree);
        let proof = votes.tally.finality().and_then(|finality| {
            let headers = self
                .headers_between(finality.link.source.hash, finality.link.target.hash)
                .ok()??;
            Some(FinalityProof::new(finality, headers))
        });
        let justified = votes
            .tally
            .certificate(&votes.tally.highest_justified(&blocks))
            .cloned();
        Some(Message::Finality { proof, justified })
    }

    /// The headers from `from` up to `to` (inclusive), following parents
    /// down from `to`; `None` when `from` is not an ancestor within
    /// [`MAX_PROOF_HEADERS`].
    pub(super) fn headers_between(
        &self,
        from: Hash,
        to: Hash,
    ) -> Result<Option<Vec<bwchain_core::primitives::Header>>, StoreError> {
        let mut headers = Vec::new();
        let mut cursor = to;
        while headers.len() < MAX_PROOF_HEADERS {
            let Some(header) = self.store().header(&cursor)? else {
                return Ok(None);
            };
            let hash = header.hash();
            let parent = header.parent;
            let height = header.height;
            headers.push(header);
            if hash == from {
                headers.reverse();
                return Ok(Some(headers));
            }
            if height == 0 {
                break;
            }
            cursor = parent;
        }
        Ok(None)
    }

    /// The justified and finalized checkpoints, for `Status` messages and
    /// `/status`.
    pub(super) fn checkpoints(&self, chain: &ChainState) -> (Checkpoint, Checkpoint) {
        match &chain.votes {
            Some(votes) => {
                let blocks = NodeBlocks::new(self.store(), &chain.tree);
                (
                    votes.tally.highest_justified(&blocks),
                    votes.tally.finalized(),
                )
            }
            None => {
                let finalized = checkpoint(chain.finalized.slot, &chain.finalized);
                (finalized, finalized)
            }
        }
    }
}
