//! A scripted chain for tests of the API's clients (feature `testkit`):
//! [`FakeChain`] answers [`ChainReader`] and [`TxSubmitter`] from memory,
//! and [`serve`] runs the real [`router`] over it on a loopback port. No
//! store, no block production, no network.
//!
//! It starts as the genesis of its [`ChainSpec`]: one block, the genesis
//! balances, devices and supply. A test then scripts what it needs:
//! accounts and sessions ([`FakeChain::set_account`],
//! [`FakeChain::set_session`]), evidence, when submitted transactions are
//! reported included ([`FakeChain::include_after`]), which submissions are
//! refused ([`FakeChain::refuse_nonce`]) and a broken store
//! ([`FakeChain::break_store`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

use bwchain_core::execute::TxError;
use bwchain_core::genesis::{presets, ChainSpec};
use bwchain_core::primitives::{
    signing, Account, Hash, ReceiptOutcome, SealedHeader, Tx, TxBody, TxOutcome,
};
use bwchain_core::state::{DeviceRecord, Overlay, SessionId, StateKey, StateValue, SupplyRecord};
use tokio::sync::oneshot;

use super::router;
use crate::chain::{
    AccountView, ApiBackend, AuthorityActivity, ChainReader, ChainStatus, Metrics, SubmitError,
    TxStatus, TxSubmitter,
};
use crate::store::{
    block_entries, AccountTxEntry, Evidence, StoreError, StoredBlock, TxLocation, TxRole,
};

type Refusal = Box<dyn Fn() -> SubmitError + Send + Sync>;

/// A scripted, in-memory chain. Cheap to clone: clones share their state,
/// so a test keeps one to script and inspect while the server holds another.
#[derive(Clone)]
pub struct FakeChain {
    shared: Arc<Shared>,
}

struct Shared {
    spec: ChainSpec,
    metrics: Metrics,
    state: Mutex<FakeState>,
}

#[derive(Default)]
struct FakeState {
    /// The chosen chain, by height; the genesis block first.
    blocks: Vec<StoredBlock>,
    accounts: HashMap<Account, AccountView>,
    sessions: HashMap<SessionId, u64>,
    evidence: Vec<Evidence>,
    /// Every transaction admitted, in order.
    submitted: Vec<Tx>,
    /// Admitted transactions by hash, with the number of times their status
    /// was asked.
    polls: HashMap<Hash, (Tx, usize)>,
    inclusion: Option<Inclusion>,
    refusals: Vec<(u64, Refusal)>,
    broken: Option<String>,
}

/// "Pending for `pending_polls` status requests, then included in block
/// `height` (`block_hash`)".
#[derive(Debug, Clone, Copy)]
struct Inclusion {
    pending_polls: usize,
    height: u64,
    block_hash: Hash,
}

impl FakeChain {
    /// The genesis of `spec`.
    pub fn new(spec: ChainSpec) -> Self {
        let genesis = StoredBlock::genesis(&spec);
        let state = FakeState {
            blocks: vec![genesis],
            ..FakeState::default()
        };
        Self {
            shared: Arc::new(Shared {
                spec,
                metrics: Metrics::default(),
                state: Mutex::new(state),
            }),
        }
    }

    /// The genesis of the dev chain (`bwchain node --dev`).
    pub fn dev() -> Self {
        Self::new(ChainSpec::new(presets::dev()).expect("the dev genesis is valid"))
    }

    pub fn genesis_hash(&self) -> Hash {
        self.shared.spec.genesis_hash()
    }

    /// What `GET /accounts/{account}` reports from now on.
    pub fn set_account(&self, account: Account, view: AccountView) {
        self.state().accounts.insert(account, view);
    }

    /// What `GET /sessions/...` reports for `id` from now on.
    pub fn set_session(&self, id: SessionId, bytes: u64) {
        self.state().sessions.insert(id, bytes);
    }

    pub fn add_evidence(&self, evidence: Evidence) {
        self.state().evidence.push(evidence);
    }

    /// Every admitted transaction is reported pending for its first
    /// `pending_polls` status requests, then included in block `height`
    /// (`block_hash`). Without this, admitted transactions stay pending.
    pub fn include_after(&self, pending_polls: usize, height: u64, block_hash: Hash) {
        self.state().inclusion = Some(Inclusion {
            pending_polls,
            height,
            block_hash,
        });
    }

    /// Refuses every submitted transaction with this nonce with `error()`.
    pub fn refuse_nonce(
        &self,
        nonce: u64,
        error: impl Fn() -> SubmitError + Send + Sync + 'static,
    ) {
        self.state().refusals.push((nonce, Box::new(error)));
    }

    /// From now on every read fails as a corrupt store saying `message`.
    pub fn break_store(&self, message: &str) {
        self.state().broken = Some(message.to_owned());
    }

    /// The transactions admitted so far, in order.
    pub fn submitted(&self) -> Vec<Tx> {
        self.state().submitted.clone()
    }

    fn state(&self) -> MutexGuard<'_, FakeState> {
        // A test that panicked while holding the lock already failed.
        self.shared
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The state, or the scripted failure.
    fn readable(&self) -> Result<MutexGuard<'_, FakeState>, StoreError> {
        let state = self.state();
        match &state.broken {
            Some(message) => Err(StoreError::Corrupt(message.clone())),
            None => Ok(state),
        }
    }

    fn genesis_state(&self) -> Overlay<'_> {
        Overlay::new(&self.shared.spec.genesis_state)
    }
}

impl FakeState {
    fn is_pending(&self, hash: &Hash) -> bool {
        match (self.polls.get(hash), self.inclusion) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some((_, polls)), Some(inclusion)) => *polls < inclusion.pending_polls,
        }
    }
}

/// What an included transaction did, as far as a fake can tell: claims are
/// credited in full and earn nothing.
fn outcome(tx: &Tx) -> TxOutcome {
    match &tx.body {
        TxBody::Claim { receipts } => TxOutcome::Claim {
            receipts: receipts
                .iter()
                .map(|receipt| ReceiptOutcome {
                    consumer: receipt.consumer,
                    session: receipt.session,
                    credited_bytes: receipt.bytes,
                    forfeited_bytes: 0,
                })
                .collect(),
            provider_reward: 0,
        },
        TxBody::Transfer { .. } => TxOutcome::Transfer,
        TxBody::SetDevice { .. } => TxOutcome::SetDevice,
    }
}

impl ChainReader for FakeChain {
    fn spec(&self) -> &ChainSpec {
        &self.shared.spec
    }

    fn status(&self) -> ChainStatus {
        let state = self.state();
        let head = state
            .blocks
            .last()
            .expect("the genesis block is always there");
        let head = SealedHeader::new(head.block.header.clone());
        let mempool = state
            .polls
            .keys()
            .filter(|hash| state.is_pending(hash))
            .count();
        let checkpoint = bwchain_core::finality::Checkpoint {
            slot: head.slot,
            height: head.height,
            hash: head.hash(),
        };
        ChainStatus {
            finalized: head.clone(),
            justified: checkpoint,
            finalized_checkpoint: checkpoint,
            safety_fault: false,
            head,
            mempool,
            peers: Vec::new(),
            syncing: false,
            signing: crate::chain::SigningState::None,
            liveness: Default::default(),
            mempool_bytes: 0,
        }
    }

    fn authority(&self) -> Option<Account> {
        None
    }

    fn authority_activity(&self) -> Result<Vec<AuthorityActivity>, StoreError> {
        self.readable().map(drop)?;
        Ok(self
            .shared
            .spec
            .genesis
            .authorities
            .iter()
            .map(|authority| AuthorityActivity {
                authority: *authority,
                last_block: None,
            })
            .collect())
    }

    fn block(&self, hash: &Hash) -> Result<Option<StoredBlock>, StoreError> {
        let state = self.readable()?;
        Ok(state
            .blocks
            .iter()
            .find(|block| block.hash() == *hash)
            .cloned())
    }

    fn block_at(&self, height: u64) -> Result<Option<StoredBlock>, StoreError> {
        let state = self.readable()?;
        let index = usize::try_from(height).ok();
        Ok(index.and_then(|index| state.blocks.get(index)).cloned())
    }

    fn tx_status(&self, hash: &Hash) -> Result<Option<TxStatus>, StoreError> {
        let mut state = self.readable()?;
        let inclusion = state.inclusion;
        let Some((tx, polls)) = state.polls.get_mut(hash) else {
            return Ok(None);
        };
        let asked_before = *polls;
        *polls += 1;
        let tx = tx.clone();
        Ok(Some(match inclusion {
            Some(inclusion) if asked_before >= inclusion.pending_polls => TxStatus::Included {
                location: TxLocation {
                    block_hash: inclusion.block_hash,
                    height: inclusion.height,
                    index: 0,
                },
                outcome: outcome(&tx),
                tx,
            },
            _ => TxStatus::Pending(tx),
        }))
    }

    fn account(&self, account: &Account) -> Result<AccountView, StoreError> {
        let state = self.readable()?;
        if let Some(view) = state.accounts.get(account) {
            return Ok(view.clone());
        }
        let mut genesis = self.genesis_state();
        let record = genesis.account(account)?;
        let pending = state
            .polls
            .iter()
            .filter(|(hash, (tx, _))| tx.from == *account && state.is_pending(hash))
            .count() as u64;
        Ok(AccountView {
            record,
            device: genesis.device(account)?,
            next_nonce: record.nonce + pending,
        })
    }

    fn session(&self, id: &SessionId) -> Result<u64, StoreError> {
        let state = self.readable()?;
        match state.sessions.get(id) {
            Some(bytes) => Ok(*bytes),
            None => Ok(self.genesis_state().session(id)?),
        }
    }

    fn supply(&self) -> Result<SupplyRecord, StoreError> {
        self.readable().map(drop)?;
        Ok(self.genesis_state().supply()?)
    }

    fn evidence(&self) -> Result<Vec<Evidence>, StoreError> {
        Ok(self.readable()?.evidence.clone())
    }

    fn vote_evidence(&self) -> Result<Vec<bwchain_core::finality::VoteEvidence>, StoreError> {
        self.readable().map(|_| Vec::new())
    }

    /// One authority: no votes, so no proofs.
    fn finality_proof(
        &self,
        _height: u64,
    ) -> Result<Option<bwchain_core::finality::FinalityProof>, StoreError> {
        self.readable().map(|_| None)
    }

    fn metrics(&self) -> &Metrics {
        &self.shared.metrics
    }

    /// The genesis devices, updated by scripted accounts' device records.
    fn devices(
        &self,
        after: Option<&Account>,
        limit: usize,
    ) -> Result<Vec<(Account, DeviceRecord)>, StoreError> {
        let state = self.readable()?;
        let mut devices: std::collections::BTreeMap<Account, DeviceRecord> = self
            .shared
            .spec
            .genesis_state
            .entries()
            .filter_map(|(key, value)| match (key, value) {
                (StateKey::Device(account), StateValue::Device(record)) => {
                    Some((*account, *record))
                }
                _ => None,
            })
            .collect();
        for (account, view) in &state.accounts {
            if let Some(device) = view.device {
                devices.insert(*account, device);
            }
        }
        Ok(devices
            .into_iter()
            .filter(|(account, _)| after.is_none_or(|after| account > after))
            .take(limit)
            .collect())
    }

    /// From the scripted blocks, as the store's index would list them.
    fn account_txs(
        &self,
        account: &Account,
        before: Option<(u64, u32, TxRole)>,
        limit: usize,
    ) -> Result<Vec<AccountTxEntry>, StoreError> {
        let state = self.readable()?;
        let mut entries: Vec<AccountTxEntry> = state
            .blocks
            .iter()
            .flat_map(|block| block_entries(&block.block, &block.tx_hashes))
            .filter(|(concerned, entry)| {
                concerned == account && before.is_none_or(|before| entry.position() < before)
            })
            .map(|(_, entry)| entry)
            .collect();
        entries.sort_by_key(|entry| std::cmp::Reverse(entry.position()));
        entries.truncate(limit);
        Ok(entries)
    }

    fn credited_total(&self) -> Result<u64, StoreError> {
        let state = self.readable()?;
        Ok(state
            .blocks
            .iter()
            .map(|block| crate::store::credited_bytes(&block.outcomes))
            .fold(0, u64::saturating_add))
    }
}

impl TxSubmitter for FakeChain {
    /// Refuses a scripted nonce, then a bad signature; admits anything else
    /// (again, if resubmitted).
    fn submit_tx(&self, tx: Tx) -> Result<Hash, SubmitError> {
        let mut state = self.readable()?;
        if let Some((_, refusal)) = state.refusals.iter().find(|(nonce, _)| *nonce == tx.nonce) {
            return Err(refusal());
        }
        let genesis_hash = self.genesis_hash();
        if !signing::verify_tx_signature(&genesis_hash, &tx) {
            return Err(TxError::BadSignature { from: tx.from }.into());
        }
        let hash = signing::tx_hash(&genesis_hash, &tx);
        state.submitted.push(tx.clone());
        state.polls.entry(hash).or_insert((tx, 0));
        Ok(hash)
    }

    fn submit_batch(&self, txs: Vec<Tx>) -> Vec<Result<Hash, SubmitError>> {
        txs.into_iter().map(|tx| self.submit_tx(tx)).collect()
    }
}

/// Stops the server of [`serve`] when dropped.
pub struct ServerGuard {
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for ServerGuard {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Serves the real [`router`] over `backend` on a fresh `127.0.0.1` port,
/// from a background thread with its own tokio runtime. Returns the URL
/// (`http://127.0.0.1:PORT`) and a guard that stops the server when dropped.
pub fn serve(backend: impl ApiBackend) -> (String, ServerGuard) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    listener
        .set_nonblocking(true)
        .expect("a non-blocking listener");
    let url = format!(
        "http://{}",
        listener
            .local_addr()
            .expect("a bound listener has an address")
    );
    let app = router(backend);
    let (stop, stopped) = oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime");
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("a tokio listener");
            // Stop at once, dropping open connections: a test's client may
            // keep idle ones alive.
            tokio::select! {
                result = axum::serve(listener, app) => result.expect("the fake server runs"),
                _ = stopped => {}
            }
        });
    });
    (
        url,
        ServerGuard {
            stop: Some(stop),
            thread: Some(thread),
        },
    )
}
