//! The node: admits transactions, proposes blocks in its slots, imports
//! blocks from peers (fork choice, reorgs, sync), commits to the store and
//! serves the HTTP API.
//!
//! Everything that changes the chain is serialized by one mutex around the
//! head, the block tree, the mempool and the peers' sync state. Signature
//! checks of submitted transactions happen outside it. Time always comes in
//! as an argument (`now_ms`) so tests can drive many nodes on one simulated
//! clock; only [`Node::run`] reads the system clock.
//!
//! Messages for peers leave through a bounded [`Outbound`] queue; the
//! network layer (`p2p::net`, or a test's in-memory router) delivers them.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::clock::now_ms;

use tokio::sync::mpsc;

mod ports;
pub use ports::{AccountView, ApiBackend, ChainReader, PeerHandler, TxSubmitter};

use crate::store::{ChainUpdate, Evidence, Store, StoreError, StoredBlock, TxLocation};
use bwchain_core::consensus::{
    self, build_block, check_header, check_header_alone, verify_block_with, BlockError,
};
use bwchain_core::execute::{check_tx_against_state, BlockContext, ExecError, TxError};
use bwchain_core::genesis::ChainSpec;
use bwchain_core::mempool::{Mempool, MempoolError, MempoolLimits};
use bwchain_core::primitives::batch::BatchVerifier;
use bwchain_core::primitives::signing::{self, Keypair};
use bwchain_core::primitives::{
    Account, Block, Hash, SealedHeader, Signature, Tx, TxBody, TxOutcome,
};
use bwchain_core::protocol::{Message, BLOCKS_REPLY_SOFT_BYTES, MAX_BLOCKS_PER_MESSAGE};
use bwchain_core::state::{DiffView, Overlay, StorageError};

/// Blocks without transactions are logged at info level once per this many,
/// so an idle dev chain does not flood its log.
const IDLE_LOG_EVERY: u64 = 60;
/// Messages waiting for the network layer. Gossip is best effort: when the
/// queue is full, messages are dropped (and sync catches up later).
pub const OUTBOUND_QUEUE: usize = 4096;
/// Blocks whose parent is unknown, kept until their ancestors arrive.
const MAX_ORPHANS: usize = 1024;
/// Valid-looking blocks on branches that do not (yet) beat the head.
const MAX_SIDE_BLOCKS: usize = 4096;
/// Blocks from the future (within the drift bound is accepted; beyond it
/// they are held until their time comes).
const MAX_HELD_BLOCKS: usize = 256;
/// Hashes of blocks known to be invalid, so they are not re-executed.
const MAX_INVALID: usize = 4096;
/// (slot, proposer) pairs remembered for equivocation detection.
const MAX_SEEN_SLOTS: usize = 16_384;
/// A sync request unanswered for this long is sent again (to any peer).
const SYNC_TIMEOUT_MS: u64 = 5_000;
/// How often a node tells its peers where its head is.
const STATUS_EVERY_MS: u64 = 2_000;
/// Blocks older than this many slots are not relayed (peers syncing them
/// already fetch them), so a catching-up node does not flood the network.
const RELAY_WINDOW_SLOTS: u64 = 4;
/// How far back `/status` looks for each authority's last block.
const ACTIVITY_LOOKBACK: u64 = 512;

/// Identifies a connected peer within this process.
pub type PeerId = u64;

/// A message for the network layer to deliver.
#[derive(Debug, Clone)]
pub enum Outbound {
    /// To every connected peer but `except`.
    Broadcast {
        except: Option<PeerId>,
        message: Message,
    },
    /// To one peer.
    Send { peer: PeerId, message: Message },
}

/// Everything a node needs to start.
pub struct NodeConfig {
    pub spec: ChainSpec,
    /// The authority key, for a node that proposes blocks.
    pub keypair: Option<Keypair>,
    pub data_dir: PathBuf,
    pub mempool: MempoolLimits,
}

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("block execution failed: {0}")]
    Exec(#[from] ExecError),
    #[error("key {key} is not an authority of this chain")]
    NotAuthority { key: Account },
}

impl From<StorageError> for NodeError {
    fn from(err: StorageError) -> Self {
        NodeError::Store(err.into())
    }
}

/// Why a submitted transaction was refused.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error(transparent)]
    Invalid(#[from] TxError),
    #[error(transparent)]
    Mempool(#[from] MempoolError),
    #[error("already included in block {height}")]
    AlreadyIncluded { height: u64 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<StorageError> for SubmitError {
    fn from(err: StorageError) -> Self {
        SubmitError::Store(err.into())
    }
}

/// Why a peer's block was refused.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("invalid block {hash}: {error}")]
    Invalid { hash: Hash, error: Box<BlockError> },
    #[error("block {hash} was already found invalid")]
    KnownInvalid { hash: Hash },
    #[error(transparent)]
    Node(#[from] NodeError),
}

impl From<StoreError> for ImportError {
    fn from(err: StoreError) -> Self {
        ImportError::Node(NodeError::Store(err))
    }
}

/// What importing a block did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Imported {
    /// Already known (on the chain, a side branch, or waiting).
    Known,
    /// From too far in the future: held until its time.
    Held,
    /// Its parent is unknown: kept while the ancestors are fetched.
    Orphan { missing: Hash },
    /// Valid so far, on a branch that does not beat the head.
    Side,
    /// Extended the chosen chain.
    Extended,
    /// Switched to a better branch, reverting `reverted` blocks.
    Reorg { reverted: u64 },
}

/// A peer's misbehaviour, for the network layer to drop (and ban) it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Misbehavior(pub String);

/// Counters exported by `GET /metrics`.
#[derive(Debug, Default)]
pub struct Metrics {
    pub blocks_produced: AtomicU64,
    pub blocks_imported: AtomicU64,
    pub reorgs: AtomicU64,
    pub txs_included: AtomicU64,
    pub receipts_included: AtomicU64,
    pub bytes_credited: AtomicU64,
    pub bytes_forfeited: AtomicU64,
    pub tokens_minted: AtomicU64,
    pub txs_accepted: AtomicU64,
    pub txs_refused: AtomicU64,
    pub txs_dropped: AtomicU64,
    pub outbound_dropped: AtomicU64,
}

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
    pub mempool: usize,
    pub peers: Vec<PeerView>,
    pub syncing: bool,
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

#[derive(Debug, Default)]
struct PeerSync {
    address: String,
    head_height: u64,
    /// When our outstanding sync request to this peer was sent.
    request_sent_ms: Option<u64>,
}

struct ChainState {
    head: SealedHeader,
    finalized: SealedHeader,
    mempool: Mempool,
    last_signed_slot: Option<u64>,
    idle_blocks: u64,
    /// Blocks off the chosen chain whose parent is known, by hash.
    side: HashMap<Hash, Block>,
    /// Blocks whose parent is unknown, by hash, and by missing parent.
    orphans: HashMap<Hash, Block>,
    orphans_by_parent: BTreeMap<Hash, Vec<Hash>>,
    held: Vec<Block>,
    invalid: HashSet<Hash>,
    /// First header seen per (slot, proposer), for equivocation detection.
    seen_slots: BTreeMap<(u64, Account), (Hash, bwchain_core::primitives::Header, Signature)>,
    peers: BTreeMap<PeerId, PeerSync>,
    last_status_ms: u64,
}

struct Shared {
    spec: ChainSpec,
    keypair: Option<Keypair>,
    store: Store,
    chain: Mutex<ChainState>,
    metrics: Metrics,
    outbound: mpsc::Sender<Outbound>,
    /// Checks signatures on all cores, keeping devices' keys decompressed.
    verifier: BatchVerifier,
}

/// A handle to a node. Cheap to clone.
#[derive(Clone)]
pub struct Node {
    shared: Arc<Shared>,
}

/// Fork choice: more blocks wins; at equal height the lower hash wins.
fn better(candidate: &SealedHeader, head: &SealedHeader) -> bool {
    (candidate.height, std::cmp::Reverse(candidate.hash()))
        > (head.height, std::cmp::Reverse(head.hash()))
}

impl Node {
    /// Opens the store (creating it from genesis if empty) and resumes from
    /// its head. Returns the node and the queue of messages for its peers.
    pub fn open(config: NodeConfig) -> Result<(Self, mpsc::Receiver<Outbound>), NodeError> {
        if let Some(keypair) = &config.keypair {
            if !config.spec.is_authority(&keypair.account()) {
                return Err(NodeError::NotAuthority {
                    key: keypair.account(),
                });
            }
        }
        let store = Store::open(&config.data_dir, &config.spec)?;
        let head = store.head()?;
        let last_signed_slot = store.last_signed_slot()?;
        let finalized = finalized_for(&config.spec, &store, &head, &config.spec.genesis_header)?;
        let (outbound, outbound_rx) = mpsc::channel(OUTBOUND_QUEUE);
        let node = Self {
            shared: Arc::new(Shared {
                chain: Mutex::new(ChainState {
                    head,
                    finalized,
                    mempool: Mempool::new(config.mempool),
                    last_signed_slot,
                    idle_blocks: 0,
                    side: HashMap::new(),
                    orphans: HashMap::new(),
                    orphans_by_parent: BTreeMap::new(),
                    held: Vec::new(),
                    invalid: HashSet::new(),
                    seen_slots: BTreeMap::new(),
                    peers: BTreeMap::new(),
                    last_status_ms: 0,
                }),
                spec: config.spec,
                keypair: config.keypair,
                store,
                metrics: Metrics::default(),
                outbound,
                verifier: BatchVerifier::default(),
            }),
        };
        Ok((node, outbound_rx))
    }

    fn chain(&self) -> MutexGuard<'_, ChainState> {
        // A panic while holding the lock leaves nothing half-written in the
        // store (commits are atomic), so the state behind it is still usable.
        self.shared
            .chain
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn spec(&self) -> &ChainSpec {
        &self.shared.spec
    }

    pub fn store(&self) -> &Store {
        &self.shared.store
    }

    pub fn metrics(&self) -> &Metrics {
        &self.shared.metrics
    }

    pub fn authority(&self) -> Option<Account> {
        self.shared.keypair.as_ref().map(Keypair::account)
    }

    fn send(&self, outbound: Outbound) {
        if self.shared.outbound.try_send(outbound).is_err() {
            self.metrics()
                .outbound_dropped
                .fetch_add(1, Ordering::Relaxed);
        }
    }

    fn broadcast(&self, except: Option<PeerId>, message: Message) {
        self.send(Outbound::Broadcast { except, message });
    }

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
        ChainStatus {
            syncing: best_peer > chain.head.height + 1,
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

    /// Checks a transaction and adds it to the mempool, then gossips it.
    /// Resubmitting a pending transaction is accepted again (idempotent).
    pub fn submit_tx(&self, tx: Tx) -> Result<Hash, SubmitError> {
        self.submit_tx_at(tx, now_ms(), None)
    }

    /// [`Node::submit_tx`] at a given time, from a peer (not gossiped back).
    pub fn submit_tx_at(
        &self,
        tx: Tx,
        now_ms: u64,
        from_peer: Option<PeerId>,
    ) -> Result<Hash, SubmitError> {
        let result = self.admit(tx.clone(), now_ms);
        let counter = match &result {
            Ok((_, true)) => {
                self.broadcast(from_peer, Message::NewTx(tx));
                &self.metrics().txs_accepted
            }
            Ok((_, false)) => &self.metrics().txs_accepted,
            Err(_) => &self.metrics().txs_refused,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        result.map(|(hash, _)| hash)
    }

    /// Submits many transactions at once: their signatures are checked
    /// together on all cores, then each is admitted in order. One result per
    /// transaction, in input order.
    pub fn submit_batch(&self, txs: Vec<Tx>, now_ms: u64) -> Vec<Result<Hash, SubmitError>> {
        let spec = self.spec();
        let genesis_hash = spec.genesis_hash();
        let hashes: Vec<Hash> = txs
            .iter()
            .map(|tx| signing::tx_hash(&genesis_hash, tx))
            .collect();
        let mut results: Vec<Option<Result<Hash, SubmitError>>> = Vec::with_capacity(txs.len());
        for (tx, hash) in txs.iter().zip(&hashes) {
            let early = match self.store().tx_location(hash) {
                Err(err) => Some(Err(err.into())),
                Ok(Some(location)) => Some(Err(SubmitError::AlreadyIncluded {
                    height: location.height,
                })),
                Ok(None) => bwchain_core::execute::check_tx_shape(spec, tx)
                    .err()
                    .map(|err| Err(err.into())),
            };
            results.push(early);
        }
        // Signatures of everything that passed the cheap checks, in one go.
        let to_verify: Vec<usize> = (0..txs.len()).filter(|i| results[*i].is_none()).collect();
        let batch: Vec<Tx> = to_verify.iter().map(|i| txs[*i].clone()).collect();
        let verify_started = std::time::Instant::now();
        let verified = self.shared.verifier.verify_txs(&genesis_hash, &batch);
        let verify_time = verify_started.elapsed();
        let admit_started = std::time::Instant::now();
        for (index, outcome) in to_verify.iter().zip(verified) {
            if let Err(err) = outcome {
                results[*index] = Some(Err(err.into()));
            }
        }
        let mut accepted = Vec::new();
        {
            let mut chain = self.chain();
            for (index, tx) in txs.into_iter().enumerate() {
                if results[index].is_some() {
                    continue;
                }
                let hash = hashes[index];
                if chain.mempool.contains(&hash) {
                    results[index] = Some(Ok(hash));
                    continue;
                }
                let outcome = self.admit_checked(&mut chain, tx.clone(), hash, now_ms);
                if outcome.is_ok() {
                    accepted.push(tx);
                }
                results[index] = Some(outcome.map(|()| hash));
            }
        }
        tracing::debug!(
            txs = results.len(),
            verify_ms = verify_time.as_millis() as u64,
            admit_ms = admit_started.elapsed().as_millis() as u64,
            "batch admission timings"
        );
        let metrics = self.metrics();
        let refused = results.iter().filter(|r| matches!(r, Some(Err(_)))).count() as u64;
        metrics.txs_refused.fetch_add(refused, Ordering::Relaxed);
        metrics
            .txs_accepted
            .fetch_add(results.len() as u64 - refused, Ordering::Relaxed);
        for tx in accepted {
            self.broadcast(None, Message::NewTx(tx));
        }
        results
            .into_iter()
            .map(|result| result.expect("every transaction has a result"))
            .collect()
    }

    /// Admits a transaction; the flag says whether it was new to the pool.
    fn admit(&self, tx: Tx, now_ms: u64) -> Result<(Hash, bool), SubmitError> {
        let spec = self.spec();
        let hash = signing::tx_hash(&spec.genesis_hash(), &tx);
        if let Some(location) = self.store().tx_location(&hash)? {
            return Err(SubmitError::AlreadyIncluded {
                height: location.height,
            });
        }
        if self.chain().mempool.contains(&hash) {
            return Ok((hash, false));
        }
        bwchain_core::execute::check_tx_shape(spec, &tx)?;
        if let Some(Err(err)) = self
            .shared
            .verifier
            .verify_txs(&spec.genesis_hash(), std::slice::from_ref(&tx))
            .pop()
        {
            return Err(err.into());
        }
        let mut chain = self.chain();
        self.admit_checked(&mut chain, tx, hash, now_ms)?;
        Ok((hash, true))
    }

    /// The stateful part of admission, under the chain lock.
    fn admit_checked(
        &self,
        chain: &mut ChainState,
        tx: Tx,
        hash: Hash,
        now_ms: u64,
    ) -> Result<(), SubmitError> {
        // Checked again under the lock: an identical submission may have
        // been admitted while this one's signatures were being checked.
        if chain.mempool.contains(&hash) {
            return Ok(());
        }
        let store = self.store();
        let state_nonce = Overlay::new(store).account(&tx.from)?.nonce;
        let expected = chain.mempool.next_nonce(&tx.from, state_nonce);
        let ctx = BlockContext {
            height: chain.head.height + 1,
            timestamp_ms: now_ms.max(chain.head.timestamp_ms),
            proposer: chain.head.proposer,
        };
        check_tx_against_state(self.spec(), store, &ctx, &tx, expected)?;
        chain.mempool.insert(tx, hash, state_nonce)?;
        Ok(())
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

    /// Proposes a block if `now_ms` is in one of this node's slots that it
    /// has not signed yet. Returns the committed block.
    pub fn produce_block(&self, now_ms: u64) -> Result<Option<StoredBlock>, NodeError> {
        let Some(keypair) = &self.shared.keypair else {
            return Ok(None);
        };
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
                let chain = self.chain();
                let already_signed = chain.last_signed_slot.is_some_and(|last| last >= slot);
                if already_signed || slot <= chain.head.slot {
                    return Ok(None);
                }
                (chain.head.clone(), chain.mempool.candidates(max_candidates))
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
            let mut chain = self.chain();
            if chain.head.hash() != parent.hash() {
                // A peer's block arrived meanwhile; nothing was signed yet.
                if attempts < 2 {
                    continue;
                }
                return Ok(None);
            }
            if chain.last_signed_slot.is_some_and(|last| last >= slot) {
                return Ok(None);
            }
            let built_in = build_started.elapsed();
            let block = built.sign(keypair);
            // The slot is recorded as signed in the same batch as the block,
            // before anyone can hear of the block.
            let commit_started = std::time::Instant::now();
            self.store().commit_block(
                &built.header,
                &block,
                &built.executed,
                Some(slot),
                self.keep_undo(),
            )?;
            tracing::debug!(
                txs = block.txs.len(),
                changes = built.executed.changes.len(),
                build_ms = built_in.as_millis() as u64,
                commit_ms = commit_started.elapsed().as_millis() as u64,
                "block timings"
            );
            chain.last_signed_slot = Some(slot);
            self.note_slot(&mut chain, &built.header, &block.signature)?;
            for (hash, error) in &built.rejected {
                let dropped = chain.mempool.remove_invalid(hash);
                if !dropped.is_empty() {
                    tracing::info!(tx = %hash, %error, dropped = dropped.len(), "dropped transaction that became invalid");
                    self.metrics()
                        .txs_dropped
                        .fetch_add(dropped.len() as u64, Ordering::Relaxed);
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
            let mempool_left = chain.mempool.len();
            drop(chain);

            self.metrics()
                .blocks_produced
                .fetch_add(1, Ordering::Relaxed);
            self.record_block(&block.txs, &built.executed.outcomes, built.executed.minted);
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
            return Ok(Some(StoredBlock {
                block,
                tx_hashes: built.executed.tx_hashes,
                outcomes: built.executed.outcomes,
                rewards: built.executed.rewards,
                minted: built.executed.minted,
            }));
        }
    }

    /// Bookkeeping after the head moved to `head` by adding `added`.
    fn after_head_change(
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
        let finalized = finalized_for(self.spec(), self.store(), &chain.head, &chain.finalized)?;
        if finalized.height > chain.finalized.height {
            if self.keep_undo() {
                let mut final_now = Vec::new();
                for height in chain.finalized.height + 1..=finalized.height {
                    final_now.extend(self.store().block_hash_at(height)?);
                }
                self.store().forget_undo(&final_now)?;
            }
            let final_slot = finalized.slot;
            chain.seen_slots = chain.seen_slots.split_off(&(final_slot, Account::ZERO));
            chain
                .side
                .retain(|_, block| block.header.height > finalized.height);
            chain.finalized = finalized;
        }
        Ok(())
    }

    /// With one authority every block is final when committed, so no block
    /// ever needs undoing.
    fn keep_undo(&self) -> bool {
        consensus::finality_threshold(self.spec().genesis.authorities.len()) > 1
    }

    fn record_block(&self, txs: &[Tx], outcomes: &[TxOutcome], minted: u64) {
        let metrics = self.metrics();
        metrics
            .txs_included
            .fetch_add(txs.len() as u64, Ordering::Relaxed);
        metrics.tokens_minted.fetch_add(minted, Ordering::Relaxed);
        for outcome in outcomes {
            if let TxOutcome::Claim { receipts, .. } = outcome {
                metrics
                    .receipts_included
                    .fetch_add(receipts.len() as u64, Ordering::Relaxed);
                for receipt in receipts {
                    metrics
                        .bytes_credited
                        .fetch_add(receipt.credited_bytes, Ordering::Relaxed);
                    metrics
                        .bytes_forfeited
                        .fetch_add(receipt.forfeited_bytes, Ordering::Relaxed);
                }
            }
        }
    }

    /// Remembers who signed what for each slot; a second distinct header
    /// for a (slot, proposer) is equivocation, kept as evidence.
    fn note_slot(
        &self,
        chain: &mut ChainState,
        header: &SealedHeader,
        signature: &Signature,
    ) -> Result<(), StoreError> {
        let key = (header.slot, header.proposer);
        match chain.seen_slots.get(&key) {
            Some((hash, _, _)) if *hash == header.hash() => {}
            Some((_, first_header, first_signature)) => {
                let evidence = Evidence {
                    proposer: header.proposer,
                    slot: header.slot,
                    first: (first_header.clone(), *first_signature),
                    second: (header.header().clone(), *signature),
                };
                tracing::warn!(proposer = %header.proposer, slot = header.slot, "equivocation: two signed blocks for one slot; evidence recorded");
                self.store().put_evidence(&evidence)?;
            }
            None => {
                if chain.seen_slots.len() >= MAX_SEEN_SLOTS {
                    chain.seen_slots.pop_first();
                }
                chain
                    .seen_slots
                    .insert(key, (header.hash(), header.header().clone(), *signature));
            }
        }
        Ok(())
    }

    /// The header of a block we hold: on the chosen chain (or stored from an
    /// earlier one), or on a side branch.
    fn known_header(
        &self,
        chain: &ChainState,
        hash: &Hash,
    ) -> Result<Option<SealedHeader>, StoreError> {
        if let Some(block) = chain.side.get(hash) {
            return Ok(Some(SealedHeader::new(block.header.clone())));
        }
        Ok(self
            .store()
            .block(hash)?
            .map(|stored| SealedHeader::new(stored.block.header)))
    }

    fn is_canonical(&self, header: &SealedHeader) -> Result<bool, StoreError> {
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
        while let Some(parent) = ready.pop() {
            let Some(children) = chain.orphans_by_parent.remove(&parent) else {
                continue;
            };
            for child_hash in children {
                let Some(child) = chain.orphans.remove(&child_hash) else {
                    continue;
                };
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
        Ok(first)
    }

    fn import_one(
        &self,
        chain: &mut ChainState,
        block: Block,
        now_ms: u64,
        from_peer: Option<PeerId>,
    ) -> Result<Imported, ImportError> {
        let spec = self.spec();
        let header = SealedHeader::new(block.header.clone());
        let hash = header.hash();
        if chain.invalid.contains(&hash) {
            return Err(ImportError::KnownInvalid { hash });
        }
        if chain.side.contains_key(&hash)
            || chain.orphans.contains_key(&hash)
            || chain.held.iter().any(|held| held.header.hash() == hash)
            || self.is_canonical(&header)?
        {
            return Ok(Imported::Known);
        }
        let invalid = |error: BlockError| ImportError::Invalid {
            hash,
            error: Box::new(error),
        };
        check_header_alone(spec, &header, &block.signature).map_err(invalid)?;
        self.note_slot(chain, &header, &block.signature)?;
        if header.height <= chain.finalized.height {
            // It can never beat the finalized chain; nothing to do with it.
            return Ok(Imported::Known);
        }
        if header.timestamp_ms > now_ms.saturating_add(spec.genesis.max_clock_drift_ms) {
            if chain.held.len() >= MAX_HELD_BLOCKS {
                chain.held.remove(0);
            }
            chain.held.push(block);
            return Ok(Imported::Held);
        }
        let Some(parent) = self.known_header(chain, &header.parent)? else {
            if chain.orphans.len() >= MAX_ORPHANS {
                // Drop the lowest waiting block: the newest are likelier useful.
                if let Some(lowest) = lowest_block(&chain.orphans) {
                    self.forget_orphan(chain, &lowest);
                }
            }
            chain
                .orphans_by_parent
                .entry(header.parent)
                .or_default()
                .push(hash);
            chain.orphans.insert(hash, block);
            return Ok(Imported::Orphan {
                missing: header.parent,
            });
        };
        check_header(spec, &parent, &header, &block.signature, now_ms).map_err(invalid)?;

        if parent.hash() == chain.head.hash() {
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
                    self.mark_invalid(chain, hash);
                    return Err(invalid(error));
                }
            };
            self.store()
                .commit_block(&header, &block, &executed, None, self.keep_undo())?;
            self.record_block(&block.txs, &executed.outcomes, executed.minted);
            self.metrics()
                .blocks_imported
                .fetch_add(1, Ordering::Relaxed);
            self.after_head_change(chain, header.clone(), std::slice::from_ref(&block))?;
            tracing::debug!(height = header.height, hash = %hash, txs = block.txs.len(), "block imported");
            self.relay(&header, block, now_ms, from_peer);
            return Ok(Imported::Extended);
        }

        if chain.side.len() >= MAX_SIDE_BLOCKS {
            if let Some(lowest) = lowest_block(&chain.side) {
                chain.side.remove(&lowest);
            }
        }
        chain.side.insert(hash, block);
        if better(&header, &chain.head) {
            return self.switch_to(chain, hash, now_ms, from_peer);
        }
        Ok(Imported::Side)
    }

    fn relay(&self, header: &SealedHeader, block: Block, now_ms: u64, from_peer: Option<PeerId>) {
        let window = RELAY_WINDOW_SLOTS.saturating_mul(self.spec().genesis.block_time_ms);
        if now_ms.saturating_sub(header.timestamp_ms) <= window {
            self.broadcast(from_peer, Message::NewBlock(block));
        }
    }

    fn mark_invalid(&self, chain: &mut ChainState, hash: Hash) {
        chain.side.remove(&hash);
        if chain.invalid.len() >= MAX_INVALID {
            chain.invalid.clear();
        }
        chain.invalid.insert(hash);
    }

    fn forget_orphan(&self, chain: &mut ChainState, hash: &Hash) {
        if let Some(block) = chain.orphans.remove(hash) {
            if let Some(siblings) = chain.orphans_by_parent.get_mut(&block.header.parent) {
                siblings.retain(|sibling| sibling != hash);
                if siblings.is_empty() {
                    chain.orphans_by_parent.remove(&block.header.parent);
                }
            }
        }
    }

    /// Switches the chosen chain to the branch ending at side block `tip`:
    /// reverts the chain down to the fork point, executes the branch on that
    /// state, and commits the switch in one batch. A branch that turns out
    /// invalid is cut at its first invalid block; its valid part is adopted
    /// only if it still beats the head.
    fn switch_to(
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
            let block = match chain.side.get(&cursor) {
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
                    self.mark_invalid(chain, hash);
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
        if !better(new_head, &chain.head) {
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
            keep_undo: self.keep_undo(),
        })?;

        let reverted_count = reverted.len() as u64;
        for (header, block, executed) in &applied {
            chain.side.remove(&header.hash());
            self.record_block(&block.txs, &executed.outcomes, executed.minted);
        }
        let added_blocks: Vec<Block> = applied.iter().map(|(_, b, _)| b.clone()).collect();
        self.after_head_change(chain, new_head.clone(), &added_blocks)?;
        self.metrics().reorgs.fetch_add(1, Ordering::Relaxed);
        self.metrics()
            .blocks_imported
            .fetch_add(applied.len() as u64, Ordering::Relaxed);
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
            chain.side.insert(stored.hash(), stored.block);
        }
        for (sender, mut txs) in readmit {
            txs.extend(chain.mempool.take_sender(&sender));
            for (tx_hash, tx) in txs {
                if let Err(error) = self.admit_checked(chain, tx, tx_hash, now_ms) {
                    tracing::debug!(tx = %tx_hash, %error, "transaction not re-admitted after a reorg");
                }
            }
        }
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

    /// A peer finished its handshake.
    pub fn peer_connected(&self, peer: PeerId, address: String, head_height: u64, now_ms: u64) {
        let mut chain = self.chain();
        chain.peers.insert(
            peer,
            PeerSync {
                address,
                head_height,
                request_sent_ms: None,
            },
        );
        self.maybe_request_sync(&mut chain, peer, now_ms);
    }

    pub fn peer_disconnected(&self, peer: PeerId) {
        self.chain().peers.remove(&peer);
    }

    /// Whether a sync request of ours (blocks or ancestors) is still awaited.
    /// One at a time: asking every peer for the same range wastes them all.
    fn sync_outstanding(chain: &ChainState, now_ms: u64) -> bool {
        chain.peers.values().any(|peer| {
            peer.request_sent_ms
                .is_some_and(|sent| now_ms.saturating_sub(sent) < SYNC_TIMEOUT_MS)
        })
    }

    /// Asks `peer` for the blocks after our head if it is ahead and no sync
    /// request is outstanding.
    fn maybe_request_sync(&self, chain: &mut ChainState, peer: PeerId, now_ms: u64) {
        if Self::sync_outstanding(chain, now_ms) {
            return;
        }
        let head_height = chain.head.height;
        let Some(state) = chain.peers.get_mut(&peer) else {
            return;
        };
        if state.head_height > head_height {
            state.request_sent_ms = Some(now_ms);
            self.send(Outbound::Send {
                peer,
                message: Message::GetBlocks {
                    from_height: head_height + 1,
                    max: MAX_BLOCKS_PER_MESSAGE,
                },
            });
        }
    }

    /// Asks `peer` for the ancestors of a block we lack, starting from the
    /// lowest block still missing below the orphans waiting on it.
    fn request_ancestors(&self, peer: PeerId, missing: Hash, now_ms: u64) {
        let mut chain = self.chain();
        if Self::sync_outstanding(&chain, now_ms) {
            return;
        }
        let mut root = missing;
        while let Some(orphan) = chain.orphans.get(&root) {
            root = orphan.header.parent;
        }
        if let Some(state) = chain.peers.get_mut(&peer) {
            state.request_sent_ms = Some(now_ms);
        }
        self.send(Outbound::Send {
            peer,
            message: Message::GetAncestors {
                hash: root,
                max: MAX_BLOCKS_PER_MESSAGE,
            },
        });
    }

    /// Handles one message from a connected peer. An error means the peer
    /// misbehaved and should be dropped.
    pub fn handle_message(
        &self,
        peer: PeerId,
        message: Message,
        now_ms: u64,
    ) -> Result<(), Misbehavior> {
        match message {
            Message::Hello(_) => Err(Misbehavior("a second hello".into())),
            Message::Status {
                head_height,
                head_hash: _,
            } => {
                let mut chain = self.chain();
                if let Some(state) = chain.peers.get_mut(&peer) {
                    state.head_height = head_height;
                }
                self.maybe_request_sync(&mut chain, peer, now_ms);
                Ok(())
            }
            Message::NewBlock(block) => {
                let height = block.header.height;
                {
                    let mut chain = self.chain();
                    if let Some(state) = chain.peers.get_mut(&peer) {
                        state.head_height = state.head_height.max(height);
                    }
                }
                self.import_from_peer(peer, block, now_ms)
            }
            Message::NewTx(tx) => {
                if let Err(err) = self.submit_tx_at(tx, now_ms, Some(peer)) {
                    tracing::debug!(peer, error = %err, "gossiped transaction refused");
                }
                Ok(())
            }
            Message::GetBlocks { from_height, max } => {
                self.reply_blocks(peer, self.canonical_blocks(from_height, max));
                Ok(())
            }
            Message::GetAncestors { hash, max } => {
                self.reply_blocks(peer, self.ancestors(hash, max));
                Ok(())
            }
            Message::Blocks(blocks) => {
                if blocks.len() > MAX_BLOCKS_PER_MESSAGE as usize {
                    return Err(Misbehavior(format!(
                        "sent {} blocks, at most {MAX_BLOCKS_PER_MESSAGE} allowed",
                        blocks.len()
                    )));
                }
                let height_before = {
                    let mut chain = self.chain();
                    if let Some(state) = chain.peers.get_mut(&peer) {
                        state.request_sent_ms = None;
                    }
                    chain.head.height
                };
                for block in blocks {
                    self.import_from_peer(peer, block, now_ms)?;
                }
                // Ask for more only after progress; otherwise the ancestors
                // being fetched (or the next tick) decide what comes next.
                let mut chain = self.chain();
                if chain.head.height > height_before {
                    self.maybe_request_sync(&mut chain, peer, now_ms);
                }
                Ok(())
            }
        }
    }

    /// Answers a peer's block request; a store failure is ours, not the
    /// peer's, so it is logged and the peer simply gets no answer.
    fn reply_blocks(&self, peer: PeerId, blocks: Result<Vec<Block>, StoreError>) {
        match blocks {
            Ok(blocks) => self.send(Outbound::Send {
                peer,
                message: Message::Blocks(blocks),
            }),
            Err(err) => tracing::error!(error = %err, "cannot read blocks for a peer"),
        }
    }

    fn import_from_peer(&self, peer: PeerId, block: Block, now_ms: u64) -> Result<(), Misbehavior> {
        match self.import_block(block, now_ms, Some(peer)) {
            Ok(Imported::Orphan { missing }) => {
                self.request_ancestors(peer, missing, now_ms);
                Ok(())
            }
            Ok(_) => Ok(()),
            Err(ImportError::Node(err)) => {
                tracing::error!(error = %err, "importing a block failed");
                Ok(())
            }
            Err(err) => Err(Misbehavior(err.to_string())),
        }
    }

    /// Blocks of the chosen chain from `from_height`, within the reply limits.
    pub fn canonical_blocks(&self, from_height: u64, max: u32) -> Result<Vec<Block>, StoreError> {
        let max = max.min(MAX_BLOCKS_PER_MESSAGE);
        let mut blocks = Vec::new();
        let mut bytes = 0;
        for height in from_height..from_height.saturating_add(u64::from(max)) {
            let Some(stored) = self.store().block_at(height)? else {
                break;
            };
            bytes += bwchain_core::mempool::approx_block_size(&stored.block);
            blocks.push(stored.block);
            if bytes >= BLOCKS_REPLY_SOFT_BYTES {
                break;
            }
        }
        Ok(blocks)
    }

    /// The stored block `hash` and its stored ancestors, lowest first.
    pub fn ancestors(&self, hash: Hash, max: u32) -> Result<Vec<Block>, StoreError> {
        let max = max.min(MAX_BLOCKS_PER_MESSAGE);
        let mut blocks = Vec::new();
        let mut bytes = 0;
        let mut cursor = hash;
        while blocks.len() < max as usize && bytes < BLOCKS_REPLY_SOFT_BYTES {
            let Some(stored) = self.store().block(&cursor)? else {
                break;
            };
            if stored.block.header.height == 0 {
                break;
            }
            cursor = stored.block.header.parent;
            bytes += bwchain_core::mempool::approx_block_size(&stored.block);
            blocks.push(stored.block);
        }
        blocks.reverse();
        Ok(blocks)
    }

    /// Periodic work: blocks whose time has come, status announcements and
    /// sync requests that timed out.
    pub fn tick(&self, now_ms: u64) {
        let drift = self.spec().genesis.max_clock_drift_ms;
        let due: Vec<Block> = {
            let mut chain = self.chain();
            let (due, later): (Vec<Block>, Vec<Block>) = std::mem::take(&mut chain.held)
                .into_iter()
                .partition(|block| block.header.timestamp_ms <= now_ms.saturating_add(drift));
            chain.held = later;
            due
        };
        for block in due {
            if let Err(err) = self.import_block(block, now_ms, None) {
                tracing::warn!(error = %err, "held block refused");
            }
        }
        let mut chain = self.chain();
        if now_ms.saturating_sub(chain.last_status_ms) >= STATUS_EVERY_MS {
            chain.last_status_ms = now_ms;
            self.broadcast(
                None,
                Message::Status {
                    head_height: chain.head.height,
                    head_hash: chain.head.hash(),
                },
            );
        }
        let peers: Vec<PeerId> = chain.peers.keys().copied().collect();
        for peer in peers {
            self.maybe_request_sync(&mut chain, peer, now_ms);
        }
    }

    /// Our head, for a handshake.
    pub fn head(&self) -> SealedHeader {
        self.chain().head.clone()
    }
}

/// The lowest block of a pool (ties by hash), the first to evict when full.
fn lowest_block(blocks: &HashMap<Hash, Block>) -> Option<Hash> {
    blocks
        .iter()
        .min_by_key(|(hash, block)| (block.header.height, **hash))
        .map(|(hash, _)| *hash)
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

/// The finalized block given the head and the last known finalized block:
/// walks back from the head collecting distinct proposers.
fn finalized_for(
    spec: &ChainSpec,
    store: &Store,
    head: &SealedHeader,
    previous: &SealedHeader,
) -> Result<SealedHeader, StoreError> {
    let authorities = spec.genesis.authorities.len();
    let threshold = consensus::finality_threshold(authorities);
    let mut proposers = Vec::new();
    let mut distinct = BTreeSet::new();
    let mut height = head.height;
    // Walk down until enough distinct proposers are seen: usually a few
    // blocks; the whole unfinalized stretch while finality is stalled.
    while height > previous.height && distinct.len() < threshold {
        let block = store
            .block_at(height)?
            .ok_or_else(|| StoreError::Corrupt(format!("no block at height {height}")))?;
        distinct.insert(block.block.header.proposer);
        proposers.push((height, block.block.header.proposer));
        height -= 1;
    }
    proposers.reverse();
    match consensus::newly_finalized(&proposers, authorities) {
        Some(height) => {
            let block = store
                .block_at(height)?
                .ok_or_else(|| StoreError::Corrupt(format!("no block at height {height}")))?;
            Ok(SealedHeader::new(block.block.header))
        }
        None => Ok(previous.clone()),
    }
}
