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
        chain.head = head.clone();
        let senders: BTreeSet<Account> = added
            .iter()
            .flat_map(|block| block.txs.iter().map(|tx| tx.from))
            .collect();
        // The state reads first: admission waits while the pool is locked.
        let nonces = senders
            .into_iter()
            .map(|sender| Ok((sender, Overlay::new(self.store()).account(&sender)?.nonce)))
            .collect::<Result<Vec<_>, StorageError>>()?;
        let mut pool = self.pool();
        pool.head = head;
        for (sender, nonce) in &nonces {
            pool.mempool.prune_sender(sender, *nonce);
        }
        drop(pool);
        // Submissions held for a smaller backlog look again.
        self.shared.head_moved.notify_all();
        if chain.votes.is_some() {
            return self.sync_finality(chain);
        }
        // One authority: every block is final when committed.
        chain.seen_slots.forget_before(chain.head.slot);
        chain.tree.prune_side(chain.head.height);
        chain.finalized = chain.head.clone();
        Ok(())
    }

    /// With one authority every block is final when committed, so no block
    /// ever needs undoing.
    pub(super) fn keep_undo(&self) -> bool {
        self.spec().genesis.authorities.len() > 1
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
