//! The node: admits transactions into the mempool, proposes blocks in its
//! slots, commits them to the store and serves the HTTP API.
//!
//! All state-changing work is serialized by one mutex around the head and
//! the mempool. Expensive work (signature checks, block execution) happens
//! outside it; only the final checks and the commit happen inside, so an
//! admitted transaction was always checked against the head it sees.

use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::watch;

use crate::consensus::{self, build_block};
use crate::crypto::{self, Keypair};
use crate::execute::{
    check_tx_against_state, check_tx_stateless, BlockContext, ExecError, TxError,
};
use crate::genesis::ChainSpec;
use crate::mempool::{Mempool, MempoolError, MempoolLimits};
use crate::state::{Overlay, StorageError};
use crate::store::{Store, StoreError, StoredBlock, TxLocation};
use crate::types::{Account, Hash, SealedHeader, Tx, TxBody, TxOutcome};

/// Blocks without transactions are logged at info level once per this many,
/// so an idle dev chain does not flood its log.
const IDLE_LOG_EVERY: u64 = 60;

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
    #[error("the clock is past the last slot this chain can express")]
    EndOfTime,
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
    #[error("storage error: {0}")]
    Storage(String),
}

impl From<StorageError> for SubmitError {
    fn from(err: StorageError) -> Self {
        SubmitError::Storage(err.0)
    }
}

impl From<StoreError> for SubmitError {
    fn from(err: StoreError) -> Self {
        SubmitError::Storage(err.to_string())
    }
}

/// Counters exported by `GET /metrics`.
#[derive(Debug, Default)]
pub struct Metrics {
    pub blocks_produced: AtomicU64,
    pub txs_included: AtomicU64,
    pub receipts_included: AtomicU64,
    pub bytes_credited: AtomicU64,
    pub bytes_forfeited: AtomicU64,
    pub tokens_minted: AtomicU64,
    pub txs_accepted: AtomicU64,
    pub txs_refused: AtomicU64,
    pub txs_dropped: AtomicU64,
}

/// What the head and finality look like now.
#[derive(Debug, Clone)]
pub struct ChainStatus {
    pub head: SealedHeader,
    pub finalized: SealedHeader,
    pub mempool: usize,
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

struct ChainState {
    head: SealedHeader,
    finalized: SealedHeader,
    mempool: Mempool,
    last_signed_slot: Option<u64>,
    idle_blocks: u64,
}

struct Shared {
    spec: ChainSpec,
    keypair: Option<Keypair>,
    store: Store,
    chain: Mutex<ChainState>,
    metrics: Metrics,
    head_height: watch::Sender<u64>,
    data_dir: PathBuf,
}

/// A handle to a running node. Cheap to clone.
#[derive(Clone)]
pub struct Node {
    shared: Arc<Shared>,
}

/// Milliseconds since the Unix epoch, from the system clock.
pub fn now_ms() -> u64 {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    u64::try_from(since_epoch.as_millis()).unwrap_or(u64::MAX)
}

impl Node {
    /// Opens the store (creating it from genesis if empty) and resumes from
    /// its head.
    pub fn open(config: NodeConfig) -> Result<Self, NodeError> {
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
        let (head_height, _) = watch::channel(head.height);
        Ok(Self {
            shared: Arc::new(Shared {
                chain: Mutex::new(ChainState {
                    head,
                    finalized,
                    mempool: Mempool::new(config.mempool),
                    last_signed_slot,
                    idle_blocks: 0,
                }),
                spec: config.spec,
                keypair: config.keypair,
                store,
                metrics: Metrics::default(),
                head_height,
                data_dir: config.data_dir,
            }),
        })
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

    pub fn data_dir(&self) -> &std::path::Path {
        &self.shared.data_dir
    }

    pub fn authority(&self) -> Option<Account> {
        self.shared.keypair.as_ref().map(Keypair::account)
    }

    pub fn status(&self) -> ChainStatus {
        let chain = self.chain();
        ChainStatus {
            head: chain.head.clone(),
            finalized: chain.finalized.clone(),
            mempool: chain.mempool.len(),
        }
    }

    /// Waits until the head reaches `height` or the node stops.
    pub fn subscribe_height(&self) -> watch::Receiver<u64> {
        self.shared.head_height.subscribe()
    }

    /// The nonce an account's next transaction must carry, counting its
    /// pending transactions.
    pub fn next_nonce(&self, account: &Account) -> Result<u64, StorageError> {
        let state_nonce = Overlay::new(self.store()).account(account)?.nonce;
        Ok(self.chain().mempool.next_nonce(account, state_nonce))
    }

    /// Checks a transaction and adds it to the mempool. Resubmitting a
    /// pending transaction is accepted again (idempotent).
    pub fn submit_tx(&self, tx: Tx) -> Result<Hash, SubmitError> {
        let result = self.admit(tx);
        let counter = match result {
            Ok(_) => &self.metrics().txs_accepted,
            Err(_) => &self.metrics().txs_refused,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        result
    }

    fn admit(&self, tx: Tx) -> Result<Hash, SubmitError> {
        let spec = self.spec();
        let hash = crypto::tx_hash(&spec.genesis_hash(), &tx);
        if let Some(location) = self.store().tx_location(&hash)? {
            return Err(SubmitError::AlreadyIncluded {
                height: location.height,
            });
        }
        if self.chain().mempool.contains(&hash) {
            return Ok(hash);
        }
        check_tx_stateless(spec, &tx)?;

        let mut chain = self.chain();
        let store = self.store();
        let state_nonce = Overlay::new(store).account(&tx.from)?.nonce;
        let expected = chain.mempool.next_nonce(&tx.from, state_nonce);
        let ctx = BlockContext {
            height: chain.head.height + 1,
            timestamp_ms: now_ms().max(chain.head.timestamp_ms),
            proposer: chain.head.proposer,
        };
        check_tx_against_state(spec, store, &ctx, &tx, expected)?;
        chain.mempool.insert(tx, hash, state_nonce)?;
        Ok(hash)
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
        let (parent, candidates) = {
            let chain = self.chain();
            let already_signed = chain.last_signed_slot.is_some_and(|last| last >= slot);
            if already_signed || slot <= chain.head.slot {
                return Ok(None);
            }
            // Extra candidates make up for ones that turn out invalid.
            let max = usize::try_from(spec.genesis.max_block_txs)
                .unwrap_or(usize::MAX)
                .saturating_mul(2);
            (chain.head.clone(), chain.mempool.candidates(max))
        };

        let built = build_block(spec, &parent, self.store(), keypair, now_ms, candidates)?;

        let mut chain = self.chain();
        self.store()
            .commit_block(&built.header, &built.block, &built.executed, Some(slot))?;
        chain.head = built.header.clone();
        chain.last_signed_slot = Some(slot);
        let mut senders: Vec<Account> = built.block.txs.iter().map(|tx| tx.from).collect();
        senders.sort_unstable();
        senders.dedup();
        for sender in &senders {
            let nonce = Overlay::new(self.store())
                .account(sender)
                .map_err(|err| StoreError::Corrupt(err.0))?
                .nonce;
            chain.mempool.prune_sender(sender, nonce);
        }
        for (hash, error) in &built.rejected {
            let dropped = chain.mempool.remove_invalid(hash);
            if !dropped.is_empty() {
                tracing::info!(tx = %hash, %error, dropped = dropped.len(), "dropped transaction that became invalid");
                self.metrics()
                    .txs_dropped
                    .fetch_add(dropped.len() as u64, Ordering::Relaxed);
            }
        }
        chain.finalized = finalized_for(spec, self.store(), &chain.head, &chain.finalized)?;
        let mempool_left = chain.mempool.len();
        let idle = built.block.txs.is_empty();
        chain.idle_blocks = if idle { chain.idle_blocks + 1 } else { 0 };
        let log_idle = idle && chain.idle_blocks % IDLE_LOG_EVERY == 1;
        drop(chain);

        self.record_block(
            &built.block.txs,
            &built.executed.outcomes,
            built.executed.minted,
        );
        let header = &built.header;
        if !idle || log_idle {
            let receipts: usize = built
                .block
                .txs
                .iter()
                .map(|tx| match &tx.body {
                    TxBody::Claim { receipts } => receipts.len(),
                    _ => 0,
                })
                .sum();
            tracing::info!(
                height = header.height,
                slot = header.slot,
                txs = built.block.txs.len(),
                receipts,
                minted = built.executed.minted,
                mempool = mempool_left,
                hash = %header.hash(),
                "{}",
                if idle { "block produced (idle chain: empty blocks are logged once a minute)" } else { "block produced" }
            );
        } else {
            tracing::debug!(height = header.height, hash = %header.hash(), "empty block produced");
        }
        self.shared.head_height.send_replace(header.height);
        Ok(Some(StoredBlock {
            block: built.block,
            tx_hashes: built.executed.tx_hashes,
            outcomes: built.executed.outcomes,
            rewards: built.executed.rewards,
            minted: built.executed.minted,
        }))
    }

    fn record_block(&self, txs: &[Tx], outcomes: &[TxOutcome], minted: u64) {
        let metrics = self.metrics();
        metrics.blocks_produced.fetch_add(1, Ordering::Relaxed);
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

    /// Runs the node until `shutdown` completes: block production in this
    /// node's slots and the HTTP API on `rpc_listener`.
    pub async fn run(
        self,
        rpc_listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let (stop_tx, stop_rx) = watch::channel(false);
        let producer = tokio::spawn(self.clone().produce_blocks(stop_rx.clone()));
        let app = crate::rpc::router(self.clone());
        let mut server_stop = stop_rx.clone();
        let server = axum::serve(rpc_listener, app).with_graceful_shutdown(async move {
            let _ = server_stop.wait_for(|stopped| *stopped).await;
        });
        let server = tokio::spawn(async move { server.await });
        shutdown.await;
        tracing::info!("shutting down");
        let _ = stop_tx.send(true);
        let _ = producer.await;
        match server.await {
            Ok(result) => result,
            Err(join_error) => Err(std::io::Error::other(join_error)),
        }
    }

    async fn produce_blocks(self, mut stop: watch::Receiver<bool>) {
        if self.shared.keypair.is_none() {
            return;
        }
        let genesis = self.spec().genesis.clone();
        loop {
            let now = now_ms();
            let next_slot = match consensus::slot_at(&genesis, now) {
                Some(slot) => slot + 1,
                None => 0,
            };
            let wake_at = consensus::slot_start_ms(&genesis, next_slot).unwrap_or(u64::MAX);
            let node = self.clone();
            let produced = tokio::task::spawn_blocking(move || node.produce_block(now_ms())).await;
            match produced {
                Ok(Ok(_)) => {}
                Ok(Err(err)) => tracing::error!(error = %err, "block production failed"),
                Err(err) => tracing::error!(error = %err, "block production panicked"),
            }
            let delay = Duration::from_millis(wake_at.saturating_sub(now_ms()));
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = stop.wait_for(|stopped| *stopped) => return,
            }
        }
    }
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
    let mut distinct = std::collections::BTreeSet::new();
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
