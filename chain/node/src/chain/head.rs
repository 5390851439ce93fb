//! Bookkeeping when the head moves: mempool pruning, finality (and undo
//! pruning), equivocation records, metrics and logs.

use super::*;

impl Node {
    /// Bookkeeping after the head moved to `head` by adding `added`.
    pub(super) fn after_head_change(
        &self,
        chain: &mut ChainState,
        head: SealedHeader,
        added: &[Block],
    ) -> Result<(), NodeError> {
        chain.head = head;
        let senders: BTreeSet<Account> = added
            .iter()
            .flat_map(|block| block.txs.iter().map(|tx| tx.from))
            .collect();
        for sender in &senders {
            let nonce = Overlay::new(self.store()).account(sender)?.nonce;
            chain.mempool.prune_sender(sender, nonce);
        }
        if chain.votes.is_some() {
            return self.sync_finality(chain);
        }
        let finalized = finalized_for(self.spec(), self.store(), &chain.head, &chain.finalized)?;
        if finalized.height > chain.finalized.height {
            if self.keep_undo() {
                let mut final_now = Vec::new();
                for height in chain.finalized.height + 1..=finalized.height {
                    final_now.extend(self.store().block_hash_at(height)?);
                }
                self.store().forget_undo(&final_now)?;
            }
            chain.seen_slots.forget_before(finalized.slot);
            chain.tree.prune_side(finalized.height);
            chain.finalized = finalized;
        }
        Ok(())
    }

    /// With one authority every block is final when committed, so no block
    /// ever needs undoing.
    pub(super) fn keep_undo(&self) -> bool {
        consensus::finality_threshold(self.spec().genesis.authorities.len()) > 1
    }

    /// Remembers who signed what for each slot; a second distinct header
    /// for a (slot, proposer) is equivocation, kept as evidence.
    pub(super) fn note_slot(
        &self,
        chain: &mut ChainState,
        header: &SealedHeader,
        signature: &Signature,
    ) -> Result<(), StoreError> {
        if let Some(evidence) = chain.seen_slots.note(header, signature) {
            tracing::warn!(proposer = %header.proposer, slot = header.slot, "equivocation: two signed blocks for one slot; evidence recorded");
            self.store().put_evidence(&evidence)?;
        }
        Ok(())
    }
}

/// The finalized block given the head and the last known finalized block.
pub(super) fn finalized_for(
    spec: &ChainSpec,
    store: &Store,
    head: &SealedHeader,
    previous: &SealedHeader,
) -> Result<SealedHeader, StoreError> {
    let block_at = |height: u64| {
        store
            .block_at(height)?
            .ok_or_else(|| StoreError::Corrupt(format!("no block at height {height}")))
    };
    let newly = consensus::find_finalized(
        spec.genesis.authorities.len(),
        head.height,
        previous.height,
        |height| block_at(height).map(|stored| stored.block.header.proposer),
    )?;
    match newly {
        Some(height) => Ok(SealedHeader::new(block_at(height)?.block.header)),
        None => Ok(previous.clone()),
    }
}
