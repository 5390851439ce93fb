//! Read-only answers about the chain: status, authority activity,
//! transaction status, nonces.

use super::*;

/// How far back `/status` looks for each authority's last block.
const ACTIVITY_LOOKBACK: u64 = 512;

/// Slots without a block after which the head counts as behind the clock,
/// beyond one round of every authority (a chain with a single live
/// authority still gets a block every `n` slots). See [`stall_after_slots`].
const STALL_MARGIN_SLOTS: u64 = 2;

/// A connected peer as `/status` shows it.
#[derive(Debug, Clone)]
pub struct PeerView {
    pub id: PeerId,
    pub address: String,
    pub head_height: u64,
}

/// When an authority last proposed a block on the chosen chain.
#[derive(Debug, Clone)]
pub struct AuthorityActivity {
    pub authority: Account,
    /// `None` when it has no block in the last `ACTIVITY_LOOKBACK` blocks.
    pub last_block: Option<(u64, u64, u64)>,
}

/// What the head and finality look like now.
#[derive(Debug, Clone)]
pub struct ChainStatus {
    pub head: SealedHeader,
    pub finalized: SealedHeader,
    /// The highest justified checkpoint (`J*`); the finalized block's with
    /// one authority.
    pub justified: bwchain_core::finality::Checkpoint,
    /// The finalized checkpoint (its slot may be above its block's).
    pub finalized_checkpoint: bwchain_core::finality::Checkpoint,
    /// A certificate conflicts with the finalized block: voting stopped.
    pub safety_fault: bool,
    pub mempool: usize,
    /// Approximate encoded size of the pending transactions.
    pub mempool_bytes: usize,
    pub peers: Vec<PeerView>,
    /// Behind the best peer's head, or behind the clock.
    pub syncing: bool,
    /// Whether this authority signs now (see `guard`).
    pub signing: SigningState,
    /// How the head compares with the clock.
    pub liveness: Liveness,
}

/// How the head compares with the clock and the peers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Liveness {
    /// Milliseconds from the head's timestamp to now (0 if it is ahead).
    pub head_age_ms: u64,
    /// Slots started since the head's slot (the current slot counts).
    pub slots_since_head: u64,
    /// More than [`stall_after_slots`] slots passed without a block.
    pub behind_clock: bool,
    /// Behind the clock with no peer ahead to catch up from: the chain (or
    /// this node's view of it) stopped moving.
    pub stalled: bool,
}

/// Slots without a block after which a node is behind the clock: one round
/// of every authority, plus a margin for a missed slot or two.
pub fn stall_after_slots(authorities: usize) -> u64 {
    u64::try_from(authorities)
        .unwrap_or(u64::MAX)
        .saturating_add(STALL_MARGIN_SLOTS)
}

/// Compares `head` with the clock (`now_ms`); `behind_peers` says whether a
/// peer has a higher head, which makes an old head "syncing", not "stalled".
pub fn liveness(
    genesis: &bwchain_core::genesis::Genesis,
    head: &SealedHeader,
    now_ms: u64,
    behind_peers: bool,
) -> Liveness {
    let head_age_ms = now_ms.saturating_sub(head.timestamp_ms);
    let slots_since_head = consensus::slot_at(genesis, now_ms)
        .unwrap_or(0)
        .saturating_sub(head.slot);
    let behind_clock = slots_since_head > stall_after_slots(genesis.authorities.len());
    Liveness {
        head_age_ms,
        slots_since_head,
        behind_clock,
        stalled: behind_clock && !behind_peers,
    }
}

/// A transaction's status as the API reports it.
#[derive(Debug, Clone)]
pub enum TxStatus {
    Pending(Tx),
    Included {
        location: TxLocation,
        tx: Tx,
        outcome: TxOutcome,
    },
}

impl Node {
    /// [`Node::status_at`] now.
    pub fn status(&self) -> ChainStatus {
        self.status_at(now_ms())
    }

    /// The head, finality, peers and mempool, and how the head compares
    /// with the clock at `now_ms`.
    pub fn status_at(&self, now_ms: u64) -> ChainStatus {
        let chain = self.chain();
        let (mempool, mempool_bytes) = {
            let pool = self.pool();
            (pool.mempool.len(), pool.mempool.bytes())
        };
        let peers: Vec<PeerView> = chain
            .peers
            .iter()
            .map(|(id, peer)| PeerView {
                id: *id,
                address: peer.address.clone(),
                head_height: peer.head_height,
            })
            .collect();
        let best_peer = peers.iter().map(|p| p.head_height).max().unwrap_or(0);
        let (justified, finalized_checkpoint) = self.checkpoints(&chain);
        let safety_fault = chain
            .votes
            .as_ref()
            .is_some_and(|votes| votes.tally.safety_fault().is_some());
        let behind_peers = best_peer > chain.head.height + 1;
        let liveness = liveness(&self.spec().genesis, &chain.head, now_ms, behind_peers);
        ChainStatus {
            justified,
            finalized_checkpoint,
            safety_fault,
            signing: self.signing_state(&chain, now_ms),
            syncing: behind_peers || liveness.behind_clock,
            liveness,
            head: chain.head.clone(),
            finalized: chain.finalized.clone(),
            mempool,
            mempool_bytes,
            peers,
        }
    }

    /// For each authority, its latest block (height, slot, timestamp) among
    /// the last blocks of the chosen chain.
    pub fn authority_activity(&self) -> Result<Vec<AuthorityActivity>, StoreError> {
        let head = self.chain().head.clone();
        let authorities = &self.spec().genesis.authorities;
        let mut last: HashMap<Account, (u64, u64, u64)> = HashMap::new();
        let mut height = head.height;
        let stop = head.height.saturating_sub(ACTIVITY_LOOKBACK);
        while height > stop && last.len() < authorities.len() {
            // Headers only: `/status` asks this many times a second, and
            // decoding whole blocks of tens of thousands of receipts
            // would cost more than the rest of the answer.
            let header = match self.store().block_hash_at(height)? {
                Some(hash) => self.store().header(&hash)?,
                None => None,
            };
            if let Some(header) = header {
                last.entry(header.proposer).or_insert((
                    header.height,
                    header.slot,
                    header.timestamp_ms,
                ));
            }
            height -= 1;
        }
        Ok(authorities
            .iter()
            .map(|authority| AuthorityActivity {
                authority: *authority,
                last_block: last.get(authority).copied(),
            })
            .collect())
    }

    /// The nonce an account's next transaction must carry, counting its
    /// pending transactions.
    pub fn next_nonce(&self, account: &Account) -> Result<u64, StorageError> {
        let pool = self.pool();
        let state_nonce = Overlay::new(self.store()).account(account)?.nonce;
        Ok(pool.mempool.next_nonce(account, state_nonce))
    }

    /// Where a transaction is: pending, included, or unknown (`None`).
    pub fn tx_status(&self, hash: &Hash) -> Result<Option<TxStatus>, StoreError> {
        if let Some(tx) = self.pool().mempool.get(hash) {
            return Ok(Some(TxStatus::Pending(tx.clone())));
        }
        let Some((location, block)) = self.store().included_tx(hash)? else {
            return Ok(None);
        };
        let index = location.index as usize;
        match (block.block.txs.get(index), block.outcomes.get(index)) {
            (Some(tx), Some(outcome)) => Ok(Some(TxStatus::Included {
                location,
                tx: tx.clone(),
                outcome: outcome.clone(),
            })),
            _ => Err(StoreError::Corrupt(format!(
                "tx {hash} points past the end of block {}",
                location.block_hash
            ))),
        }
    }

    /// Our head, for a handshake.
    pub fn head(&self) -> SealedHeader {
        self.chain().head.clone()
    }

    /// The proof that the block at `height` on the chosen chain is final
    /// (FINALITY.md §1.6): the kept finality covering it, with the headers
    /// from that block up to the link's target. `None` when the block is
    /// not final, or with one authority (whose block signature is the
    /// whole proof).
    pub fn finality_proof(
        &self,
        height: u64,
    ) -> Result<Option<bwchain_core::finality::FinalityProof>, StoreError> {
        if self.chain().votes.is_none() || height > self.chain().finalized.height {
            return Ok(None);
        }
        let Some(hash) = self.store().block_hash_at(height)? else {
            return Ok(None);
        };
        let Some(finality) = self.store().finality_covering(height)? else {
            return Ok(None);
        };
        let Some(headers) = self.headers_between(hash, finality.link.target.hash)? else {
            return Ok(None);
        };
        Ok(Some(bwchain_core::finality::FinalityProof::new(
            &finality, headers,
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bwchain_core::primitives::Header;

    fn head_at(genesis: &bwchain_core::genesis::Genesis, slot: u64) -> SealedHeader {
        SealedHeader::new(Header {
            height: slot,
            slot,
            timestamp_ms: genesis.genesis_time_ms + slot * genesis.block_time_ms,
            parent: Hash::ZERO,
            proposer: genesis.authorities[0],
            tx_root: Hash::ZERO,
            state_root: Hash::ZERO,
        })
    }

    #[test]
    fn an_old_head_is_stalled_unless_a_peer_is_ahead() {
        let genesis = bwchain_core::genesis::presets::dev_at(1_000_000);
        let n = genesis.authorities.len() as u64;
        let block_ms = genesis.block_time_ms;
        let head = head_at(&genesis, 10);
        let at_slot = |slot: u64| genesis.genesis_time_ms + slot * block_ms + block_ms / 2;
        // (now, a peer ahead) → (slots since head, behind the clock, stalled)
        let table = [
            (at_slot(10), false, (0, false, false)),
            (at_slot(10 + n + 2), false, (n + 2, false, false)),
            (at_slot(10 + n + 3), false, (n + 3, true, true)),
            (at_slot(10 + n + 3), true, (n + 3, true, false)),
            // A head ahead of the clock is neither old nor behind.
            (at_slot(9), false, (0, false, false)),
        ];
        for (now, ahead, expected) in table {
            let found = liveness(&genesis, &head, now, ahead);
            assert_eq!(
                (found.slots_since_head, found.behind_clock, found.stalled),
                expected,
                "now {now}, peer ahead {ahead}"
            );
            assert_eq!(found.head_age_ms, now.saturating_sub(head.timestamp_ms));
        }
    }
}
