//! Switching the chosen chain to a better branch: revert to the fork
//! point, execute the branch on that state, commit the switch in one batch,
//! and give the reverted transactions back to the mempool.

use super::*;

impl Node {
    /// Switches the chosen chain to the branch ending at side block `tip`:
    /// reverts the chain down to the fork point, executes the branch on that
    /// state, and commits the switch in one batch. A branch that turns out
    /// invalid is cut at its first invalid block; its valid part is adopted
    /// only if it still beats the head.
    pub(super) fn switch_to(
        &self,
        chain: &mut ChainState,
        tip: Hash,
        now_ms: u64,
        from_peer: Option<PeerId>,
    ) -> Result<Imported, ImportError> {
        let spec = self.spec();
        let store = self.store();
        let mut branch = Vec::new();
        let mut cursor = tip;
        loop {
            // Side blocks, or stored blocks of an earlier chosen chain.
            let block = match chain.tree.side_block(&cursor) {
                Some(block) => block.clone(),
                None => match store.block(&cursor)? {
                    Some(stored)
                        if !self
                            .is_canonical(&SealedHeader::new(stored.block.header.clone()))? =>
                    {
                        stored.block
                    }
                    _ => break,
                },
            };
            cursor = block.header.parent;
            branch.push(block);
        }
        branch.reverse();
        let Some(fork) = self.known_header(chain, &cursor)? else {
            return Ok(Imported::Side);
        };
        if !self.is_canonical(&fork)? {
            return Ok(Imported::Side);
        }
        if fork.height < chain.finalized.height {
            tracing::warn!(
                fork_height = fork.height,
                finalized = chain.finalized.height,
                "refusing a branch that would revert a finalized block"
            );
            return Ok(Imported::Side);
        }

        let mut view = DiffView::new(store).map_err(NodeError::from)?;
        let mut reverted = Vec::new();
        for height in (fork.height + 1..=chain.head.height).rev() {
            let stored = store
                .block_at(height)?
                .ok_or_else(|| StoreError::Corrupt(format!("no block at height {height}")))?;
            let undo = store.undo(&stored.hash())?.ok_or_else(|| {
                StoreError::Corrupt(format!("no undo data for block {}", stored.hash()))
            })?;
            view.revert(&undo);
            reverted.push(stored);
        }
        let mut parent = fork;
        let mut applied = Vec::new();
        let mut failure = None;
        for block in branch {
            match verify_block_with(spec, &parent, &view, &block, now_ms, &self.shared.verifier) {
                Ok((header, executed)) => {
                    view.apply(&executed.changes, &executed.accumulator);
                    parent = header.clone();
                    applied.push((header, block, executed));
                }
                Err(error) => {
                    let hash = block.header.hash();
                    tracing::warn!(block = %hash, %error, "invalid block on a competing branch");
                    chain.tree.mark_invalid(hash);
                    failure = Some(ImportError::Invalid {
                        hash,
                        error: Box::new(error),
                    });
                    break;
                }
            }
        }
        let Some((new_head, _, _)) = applied.last() else {
            return failure.map_or(Ok(Imported::Side), Err);
        };
        if !self.prefers(chain, new_head) {
            return failure.map_or(Ok(Imported::Side), Err);
        }
        let new_head = new_head.clone();
        let (state_writes, accumulator) = view.into_writes();
        store.commit_update(ChainUpdate {
            reverted: reverted.clone(),
            added: applied.iter().map(|(h, b, e)| (h, b, e)).collect(),
            state_writes,
            accumulator: &accumulator,
            signed_slot: None,
            last_vote: None,
            keep_undo: self.keep_undo(),
        })?;

        let reverted_count = reverted.len() as u64;
        for (header, _, executed) in &applied {
            chain.tree.remove_side(&header.hash());
            self.record_block(executed, now_ms);
        }
        let added_blocks: Vec<Block> = applied.iter().map(|(_, b, _)| b.clone()).collect();
        self.after_head_change(chain, new_head.clone(), &added_blocks)?;
        self.metrics().reorgs.inc();
        self.metrics().blocks_imported.inc_by(applied.len() as u64);
        tracing::info!(
            new_head = new_head.height,
            hash = %new_head.hash(),
            reverted = reverted_count,
            adopted = applied.len(),
            "switched to a better branch"
        );
        // Reverted blocks stay available as a side branch, and their
        // transactions go back to the mempool when still valid.
        let included: HashSet<Hash> = applied
            .iter()
            .flat_map(|(_, _, executed)| executed.tx_hashes.iter().copied())
            .collect();
        // A sender's reverted transactions come before its pending ones
        // (lower nonces), so its pending ones are taken out and re-admitted
        // after them.
        let mut readmit: BTreeMap<Account, Vec<(Hash, Tx)>> = BTreeMap::new();
        for stored in reverted.into_iter().rev() {
            for (tx, tx_hash) in stored.block.txs.iter().zip(&stored.tx_hashes) {
                if !included.contains(tx_hash) {
                    readmit
                        .entry(tx.from)
                        .or_default()
                        .push((*tx_hash, tx.clone()));
                }
            }
            chain.tree.keep_reverted(stored.hash(), stored.block);
        }
        let mut pool = self.pool();
        for (sender, mut txs) in readmit {
            txs.extend(pool.mempool.take_sender(&sender));
            for (tx_hash, tx) in txs {
                if let Err(error) = self.admit_checked(&mut pool, tx, tx_hash, now_ms) {
                    tracing::debug!(tx = %tx_hash, %error, "transaction not re-admitted after a reorg");
                }
            }
        }
        drop(pool);
        if let Some((header, block, _)) = applied.into_iter().last() {
            self.relay(&header, block, now_ms, from_peer);
        }
        match failure {
            Some(error) => Err(error),
            None => Ok(Imported::Reorg {
                reverted: reverted_count,
            }),
        }
    }
}
