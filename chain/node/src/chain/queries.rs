//! Read-only answers about the chain: status, authority activity,
//! transaction status, nonces.

use super::*;

/// How far back `/status` looks for each authority's last block.
const ACTIVITY_LOOKBACK: u64 = 512;

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
    pub peers: Vec<PeerView>,
    pub syncing: bool,
    /// Whether this authority signs now (see `guard`).
    pub signing: SigningState,
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
    pub fn status(&self) -> ChainStatus {
        let chain = self.chain();
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
        ChainStatus {
            justified,
            finalized_checkpoint,
            safety_fault,
            syncing: best_peer > chain.head.height + 1,
            signing: self.signing_state(&chain, now_ms()),
            head: chain.head.clone(),
            finalized: chain.finalized.clone(),
            mempool: chain.mempool.len(),
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
            if let Some(block) = self.store().block_at(height)? {
                let header = &block.block.header;
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
        let chain = self.chain();
        let state_nonce = Overlay::new(self.store()).account(account)?.nonce;
        Ok(chain.mempool.next_nonce(account, state_nonce))
    }

    /// Where a transaction is: pending, included, or unknown (`None`).
    pub fn tx_status(&self, hash: &Hash) -> Result<Option<TxStatus>, StoreError> {
        if let Some(tx) = self.chain().mempool.get(hash) {
            return Ok(Some(TxStatus::Pending(tx.clone())));
        }
        let Some(location) = self.store().tx_location(hash)? else {
            return Ok(None);
        };
        let block = self.store().block(&location.block_hash)?.ok_or_else(|| {
            StoreError::Corrupt(format!(
                "tx {hash} points at missing block {}",
                location.block_hash
            ))
        })?;
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
