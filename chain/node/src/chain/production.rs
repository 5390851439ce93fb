//! Block production: in this node's slots, build a block from the mempool
//! outside the lock, then sign and commit it with the slot recorded in the
//! same batch.

use super::*;

/// Blocks without transactions are logged at info level once per this many,
/// so an idle dev chain does not flood its log.
const IDLE_LOG_EVERY: u64 = 60;

impl Node {
    /// Proposes a block if `now_ms` is in one of this node's slots that it
    /// has not signed yet. Returns the committed block.
    pub fn produce_block(&self, now_ms: u64) -> Result<Option<StoredBlock>, NodeError> {
        let Some(keypair) = &self.shared.keypair else {
            return Ok(None);
        };
        if self.store().write_failure().is_some() {
            // Nothing can be committed: no block is signed (launch exits).
            return Ok(None);
        }
        let spec = self.spec();
        let Some(slot) = consensus::slot_at(&spec.genesis, now_ms) else {
            return Ok(None);
        };
        if consensus::proposer_for(&spec.genesis, slot) != keypair.account() {
            return Ok(None);
        }
        let max_candidates = usize::try_from(spec.genesis.max_block_txs)
            .unwrap_or(usize::MAX)
            // Extra candidates make up for ones that turn out invalid.
            .saturating_mul(2);
        let mut attempts = 0;
        loop {
            attempts += 1;
            let (parent, candidates) = {
                let mut chain = self.chain();
                let already_signed = chain.last_signed_slot.is_some_and(|last| last >= slot);
                if already_signed || slot <= chain.head.slot || !self.may_sign(&mut chain, now_ms) {
                    return Ok(None);
                }
                // Under a backlog, as much as fits in part of a slot.
                let budget = chain.pacer.budget(spec.genesis.block_time_ms);
                let candidates = self
                    .pool()
                    .mempool
                    .candidates_within(max_candidates, budget);
                (chain.head.clone(), candidates)
            };
            // Executed outside the lock, so admissions go on meanwhile.
            let build_started = std::time::Instant::now();
            let built = build_block(
                spec,
                &parent,
                self.store(),
                keypair.account(),
                now_ms,
                candidates,
            )?;
            // Building alone: the wait for the lock below is not its cost.
            let built_in = build_started.elapsed();
            let mut chain = self.chain();
            if chain.head.hash() != parent.hash() {
                // A peer's block arrived meanwhile; nothing was signed yet.
                if attempts < 2 {
                    continue;
                }
                return Ok(None);
            }
            if chain.last_signed_slot.is_some_and(|last| last >= slot)
                || !self.may_sign(&mut chain, now_ms)
            {
                return Ok(None);
            }
            self.metrics()
                .block_build_seconds
                .observe(built_in.as_secs_f64());
            let block = built.sign(keypair);
            // The lead vote for this block (V3), if the gate allows it.
            let lead_vote = self.lead_vote(&mut chain, slot, &built.header);
            // The slot is recorded as signed, and the lead vote as the last
            // vote, in the same batch as the block, before anyone can hear
            // of either.
            let commit_started = std::time::Instant::now();
            self.store().commit_block(
                &built.header,
                &block,
                &built.executed,
                Some(slot),
                lead_vote.as_ref(),
                self.keep_undo(),
            )?;
            let committed_in = commit_started.elapsed();
            self.metrics()
                .block_commit_seconds
                .observe(committed_in.as_secs_f64());
            tracing::debug!(
                txs = block.txs.len(),
                changes = built.executed.changes.len(),
                build_ms = built_in.as_millis() as u64,
                commit_ms = committed_in.as_millis() as u64,
                "block timings"
            );
            let work: usize = block
                .txs
                .iter()
                .map(bwchain_core::mempool::work_units)
                .sum();
            chain
                .pacer
                .record(work, (built_in + committed_in).as_micros() as u64);
            self.pool().backlog_limit = admission::backlog_limit(&chain.pacer, spec);
            chain.last_signed_slot = Some(slot);
            self.signed_block(&mut chain, built.header.hash());
            self.note_slot(&mut chain, &built.header, &block.signature)?;
            for (hash, error) in &built.rejected {
                let dropped = self.pool().mempool.remove_invalid(hash);
                if !dropped.is_empty() {
                    tracing::info!(tx = %hash, %error, dropped = dropped.len(), "dropped transaction that became invalid");
                    self.metrics().txs_dropped.inc_by(dropped.len() as u64);
                }
            }
            self.after_head_change(
                &mut chain,
                built.header.clone(),
                std::slice::from_ref(&block),
            )?;
            let idle = block.txs.is_empty();
            chain.idle_blocks = if idle { chain.idle_blocks + 1 } else { 0 };
            let log_idle = idle && chain.idle_blocks % IDLE_LOG_EVERY == 1;
            let mempool_left = self.pool().mempool.len();
            drop(chain);

            self.metrics().blocks_produced.inc();
            self.record_block(&built.executed, now_ms);
            log_block(
                "block produced",
                &built.header,
                &block,
                built.executed.minted,
                mempool_left,
                idle,
                log_idle,
            );
            self.broadcast(None, Message::NewBlock(block.clone()));
            if let Some(vote) = lead_vote {
                let mut chain = self.chain();
                self.send_own_vote(&mut chain, vote, now_ms);
            }
            return Ok(Some(StoredBlock {
                block,
                tx_hashes: built.executed.tx_hashes,
                outcomes: built.executed.outcomes,
                rewards: built.executed.rewards,
                minted: built.executed.minted,
            }));
        }
    }
}

fn log_block(
    what: &str,
    header: &SealedHeader,
    block: &Block,
    minted: u64,
    mempool: usize,
    idle: bool,
    log_idle: bool,
) {
    if idle && !log_idle {
        tracing::debug!(height = header.height, hash = %header.hash(), "empty {what}");
        return;
    }
    let receipts: usize = block
        .txs
        .iter()
        .map(|tx| match &tx.body {
            TxBody::Claim { receipts } => receipts.len(),
            _ => 0,
        })
        .sum();
    let note = if idle {
        " (idle chain: empty blocks are logged once a minute)"
    } else {
        ""
    };
    tracing::info!(
        height = header.height,
        slot = header.slot,
        txs = block.txs.len(),
        receipts,
        minted,
        mempool,
        hash = %header.hash(),
        "{what}{note}"
    );
}
