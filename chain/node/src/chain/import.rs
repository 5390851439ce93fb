//! Importing peers' blocks: header checks, then extend the chain, keep the
//! block in the block tree (side branch, orphan, held), or switch branches.

use super::*;

/// Blocks older than this many slots are not relayed (peers syncing them
/// already fetch them), so a catching-up node does not flood the network.
const RELAY_WINDOW_SLOTS: u64 = 4;

impl Node {
    /// The header of a block we hold: on the chosen chain (or stored from an
    /// earlier one), or on a side branch.
    pub(super) fn known_header(
        &self,
        chain: &ChainState,
        hash: &Hash,
    ) -> Result<Option<SealedHeader>, StoreError> {
        if let Some(block) = chain.tree.side_block(hash) {
            return Ok(Some(SealedHeader::new(block.header.clone())));
        }
        Ok(self
            .store()
            .block(hash)?
            .map(|stored| SealedHeader::new(stored.block.header)))
    }

    pub(super) fn is_canonical(&self, header: &SealedHeader) -> Result<bool, StoreError> {
        Ok(self.store().block_hash_at(header.height)? == Some(header.hash()))
    }

    /// Imports a block from a peer: checks it, then extends the chain,
    /// switches to its branch, keeps it on a side branch, or keeps it until
    /// its parent (or its time) comes. Blocks waiting on it are imported too.
    pub fn import_block(
        &self,
        block: Block,
        now_ms: u64,
        from_peer: Option<PeerId>,
    ) -> Result<Imported, ImportError> {
        let mut chain = self.chain();
        let first = self.import_one(&mut chain, block.clone(), now_ms, from_peer)?;
        // Orphans waiting for this block (and their descendants) follow.
        let mut ready: Vec<Hash> = match first {
            Imported::Extended | Imported::Reorg { .. } | Imported::Side => {
                vec![block.header.hash()]
            }
            _ => Vec::new(),
        };
        let arrived = !ready.is_empty();
        while let Some(parent) = ready.pop() {
            for (child_hash, child) in chain.tree.take_children(&parent) {
                match self.import_one(&mut chain, child, now_ms, from_peer) {
                    Ok(Imported::Extended | Imported::Reorg { .. } | Imported::Side) => {
                        ready.push(child_hash)
                    }
                    Ok(_) => {}
                    Err(err) => {
                        tracing::warn!(block = %child_hash, error = %err, "orphan block refused")
                    }
                }
            }
        }
        if arrived {
            // Votes waiting for these blocks, and finality, move on.
            self.blocks_arrived(&mut chain, now_ms);
        }
        Ok(first)
    }

    pub(super) fn import_one(
        &self,
        chain: &mut ChainState,
        block: Block,
        now_ms: u64,
        from_peer: Option<PeerId>,
    ) -> Result<Imported, ImportError> {
        let spec = self.spec();
        let header = SealedHeader::new(block.header.clone());
        let hash = header.hash();
        if chain.tree.is_invalid(&hash) {
            return Err(ImportError::KnownInvalid { hash });
        }
        if chain.tree.contains(&hash) || self.is_canonical(&header)? {
            return Ok(Imported::Known);
        }
        let invalid = |error: BlockError| {
            self.metrics().blocks_rejected.inc();
            ImportError::Invalid {
                hash,
                error: Box::new(error),
            }
        };
        check_header_alone(spec, &header, &block.signature).map_err(invalid)?;
        self.watch_block(chain, &header);
        self.note_slot(chain, &header, &block.signature)?;
        if header.height <= chain.finalized.height {
            // It can never beat the finalized chain; nothing to do with it.
            return Ok(Imported::Known);
        }
        if header.timestamp_ms > now_ms.saturating_add(spec.genesis.max_clock_drift_ms) {
            chain.tree.hold(hash, block);
            return Ok(Imported::Held);
        }
        let Some(parent) = self.known_header(chain, &header.parent)? else {
            chain.tree.insert_orphan(hash, block);
            return Ok(Imported::Orphan {
                missing: header.parent,
            });
        };
        check_header(spec, &parent, &header, &block.signature, now_ms).map_err(invalid)?;

        if parent.hash() == chain.head.hash() {
            let import_started = std::time::Instant::now();
            let (header, executed) = match verify_block_with(
                spec,
                &parent,
                self.store(),
                &block,
                now_ms,
                &self.shared.verifier,
            ) {
                Ok(verified) => verified,
                Err(error) => {
                    chain.tree.mark_invalid(hash);
                    return Err(invalid(error));
                }
            };
            self.metrics()
                .block_import_seconds
                .observe(import_started.elapsed().as_secs_f64());
            let commit_started = std::time::Instant::now();
            self.store()
                .commit_block(&header, &block, &executed, None, None, self.keep_undo())?;
            self.metrics()
                .block_commit_seconds
                .observe(commit_started.elapsed().as_secs_f64());
            self.record_block(&executed, now_ms);
            self.metrics().blocks_imported.inc();
            self.after_head_change(chain, header.clone(), std::slice::from_ref(&block))?;
            tracing::debug!(height = header.height, hash = %hash, txs = block.txs.len(), "block imported");
            self.relay(&header, block, now_ms, from_peer);
            return Ok(Imported::Extended);
        }

        chain.tree.insert_side(hash, block);
        if self.prefers(chain, &header) {
            return self.switch_to(chain, hash, now_ms, from_peer);
        }
        Ok(Imported::Side)
    }

    pub(super) fn relay(
        &self,
        header: &SealedHeader,
        block: Block,
        now_ms: u64,
        from_peer: Option<PeerId>,
    ) {
        let window = RELAY_WINDOW_SLOTS.saturating_mul(self.spec().genesis.block_time_ms);
        if now_ms.saturating_sub(header.timestamp_ms) <= window {
            self.broadcast(from_peer, Message::NewBlock(block));
        }
    }
}
