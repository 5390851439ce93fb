//! sled storage. One tree; keys are prefixed by kind:
//!
//! | key                      | value                                    |
//! |--------------------------|------------------------------------------|
//! | `B` + block hash         | [`StoredBlock`], in its compact stored form (`compact.rs`), when shorter than [`block_log::LOGGED_BLOCK_BYTES`] |
//! | `L` + block hash         | where a longer block's compact form is in the block log (`block_log.rs`: segment u32 BE, offset u64 BE, length u32 BE) |
//! | `H` + height (u64 BE)    | hash of the block at that height on the chosen chain |
//! | `T` + the tx hash's first 20 bytes | height (u64 BE) + index in the block (u32 BE): see [`TX_KEY_BYTES`] |
//! | `T` + tx hash (32 bytes) | [`TxLocation`] (bincode), as stores before format 4 wrote it (still read) |
//! | `U` + block hash         | the block's [`StateChange`]s (undo data), while it is not final |
//! | `S` + bincode(StateKey)  | bincode(StateValue), for every entry but sessions |
//! | `Q` + provider number + consumer number (u32 BE) + session (u64 BE) | a session's bytes (varint): see `compact.rs` |
//! | `E` + proposer + slot    | [`Evidence`] of equivocation             |
//! | `V` + authority + target slot + offence + both signatures | [`VoteEvidence`]: slashable votes |
//! | `C` + bincode(Checkpoint) | the [`Certificate`] that justified it   |
//! | `P` + height (u64 BE)    | the [`Finality`] of the first finalized checkpoint at or above each multiple of [`PROOF_PERIOD`] heights |
//! | `M` + name               | metadata: head, last signed slot, last vote, latest finality; the redo record of a commit in progress |
//! | `Ggenesis`               | the genesis JSON (`Mgenesis` in older stores) |
//! | `Aaccumulator`           | the accumulator checkpoint: a block hash and the state's [`LtHash`] after that block |
//! | `R` + height (u64 BE)    | the values at the checkpoint of the entries that block first changed since (`Vec<(StateKey, Option<StateValue>)>`) |
//! | `X` + account + height, `Iaccount_index` | the account index (`inventory`): an account's entries of one block |
//! | `Fformat`                | the store's format version, [`STORE_FORMAT`] (u32 BE; absent: 1) |
//! | `N` + number (u32 BE)    | the account of that number, which stored receipts and session entries name accounts by (`compact.rs`) |
//!
//! Every block is committed (block, its state changes, tx index, head
//! pointer and the proposer's last signed slot together) and flushed before
//! anyone hears of the block, and a crash leaves the store at the previous
//! block or the new one, never in between. A small commit (an empty
//! block's) is one atomic `apply_batch`. A large one is not: sled's
//! `apply_batch` holds a process-wide lock that stops every reader (the
//! API, admission, the next block's build) while it writes, and a block of
//! 25 000 new sessions took 150-200 ms of it per half-second slot. Instead
//! its writes are first stored, flushed, as one redo record
//! (`Mpending_commit`, see `writes.rs`): from then on the commit is durable.
//! Its writes are then applied one by one by a thread of their own while
//! the node goes on (the next block is built meanwhile), and every read
//! meets them in memory first until they are all in sled (`kv.rs`); then
//! the head pointer moves and the record goes, in one small atomic batch.
//! Opening a store that holds a record replays it (every write is
//! idempotent), so an interrupted commit is completed.
//!
//! Most claims name a session the chain has never seen, and admission and
//! the block builder both read its counter. A Bloom filter of the stored
//! session keys (`key_filter.rs`, kept by `kv.rs`) answers those reads
//! without walking sled's tree; the ~1% it cannot rule out are read as
//! before.
//!
//! The 2 KiB state accumulator is not rewritten with every block: sled is
//! log-structured, so every overwrite appends, and rewriting it (next to the
//! other hot metadata) was most of an empty block's footprint on disk. It
//! is checkpointed under a key of its own (`Aaccumulator`: the hash of its
//! block, then the accumulator) every [`ACCUMULATOR_PERIOD`] heights, at
//! every reorg, and when [`ACCUMULATOR_MAX_TOUCHED`] entries changed since
//! the last one. Between checkpoints each block records, under `R` +
//! height, the value *at the checkpoint* of each entry it is the first to
//! change (none for an empty block after the first). The accumulator being
//! additive, the head's is the checkpoint's, minus those entries' values
//! at the checkpoint, plus their values now; that is what opening computes,
//! and it must give the head's state root. In memory the store keeps the
//! head's accumulator. A block whose `R` record would be larger than a
//! checkpoint (a block of many new sessions) writes a checkpoint instead.
//!
//! A block whose stored form is 16 KiB or more is not in sled: its bytes
//! are appended to the block log (`block_log.rs`, segment files in
//! `blocks/` inside the data directory), flushed before the commit, and
//! sled holds where they are under `L`. sled rewrote a leaf of such blocks
//! whole, tens of megabytes at a time, whenever it split or consolidated
//! it, and the redo record carried each block once more.
//!
//! Disk use (measured by `disk_tests`, blocks of 16 claims of 64 receipts,
//! each a new session): per receipt, the block 81 bytes (in the block
//! log), the session entry 23, the tx index ~1, no replay record: ~106
//! live bytes, about 205 on disk (280 with the blocks in sled). Format 1
//! took 204 (the consensus encoding), 89 (`S` + the consensus encoding of
//! the key), 1 and 77: 371 live, ~790 on disk. sled's file holds 1.8 to
//! 3.5 times what is live: every insert logs a page fragment, a leaf of up
//! to 16 entries is rewritten every 10 of them and split at 17, and a
//! segment is reclaimed only once half of it is dead; so small entries
//! cost less than their size suggests, and fewer bytes per entry more.

use std::collections::HashSet;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use bincode::{Decode, Encode};

use bwchain_core::execute::ExecutedBlock;
use bwchain_core::finality::{Certificate, Checkpoint, Finality, SignedVote, VoteEvidence};
use bwchain_core::genesis::{ChainSpec, Genesis};
use bwchain_core::primitives::codec::{self, DecodeError};
use bwchain_core::primitives::{
    Account, Block, Hash, Header, Reward, SealedHeader, Signature, TxOutcome,
};
use bwchain_core::state::{
    LanesMemo, LtHash, StateChange, StateKey, StateValue, StateView, StorageError,
};

mod accumulator;
mod block_log;
mod compact;
mod finality;
mod inventory;
mod key_filter;
mod kv;
mod state_cache;
mod writes;

pub use inventory::{block_entries, credited_bytes, AccountTxEntry, TxRole};

use accumulator::{checkpoint_bytes, to_hash, Accumulator};
use writes::{PendingCommit, Writes};

/// How long opening waits for a data directory's lock to be released.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

const BLOCK: u8 = b'B';
const BLOCK_PLACE: u8 = b'L';
/// Enough of a block's stored form for its header (at most about 160
/// bytes: three varints and four hashes).
const HEADER_PREFIX_BYTES: usize = 256;
const HEIGHT: u8 = b'H';
const TX: u8 = b'T';
const UNDO: u8 = b'U';
const STATE: u8 = b'S';
const EVIDENCE: u8 = b'E';
const VOTE_EVIDENCE: u8 = b'V';
const CERTIFICATE: u8 = b'C';
const PROOF: u8 = b'P';
const REPLAY: u8 = b'R';
const ACCOUNT_NUMBER: u8 = b'N';
const SESSION: u8 = b'Q';
/// One finality proof is kept per this many heights (FINALITY.md §1.7).
pub const PROOF_PERIOD: u64 = 64;
/// sled's page cache. Its default (1 GiB) is more than a node needs: the
/// hot set is the devices and recent sessions.
const CACHE_BYTES: u64 = 256 * 1024 * 1024;
/// The accumulator is checkpointed at heights that are multiples of this.
pub const ACCUMULATOR_PERIOD: u64 = 256;
/// A checkpoint is also written once this many entries changed since the
/// last one, bounding the memory and the work of opening.
pub const ACCUMULATOR_MAX_TOUCHED: usize = 1 << 16;
/// The size of an accumulator checkpoint (block hash and accumulator): a
/// block whose `R` records would be larger writes a checkpoint instead.
const CHECKPOINT_BYTES: usize = 32 + 2 * bwchain_core::state::LTHASH_LANES;

/// Commits of more writes than this go behind a redo record
/// ([`Store::apply_commit`]); smaller ones, an empty block's among them,
/// are one atomic batch and cost no record.
const LOGGED_COMMIT_WRITES: usize = 256;
/// The layout this code writes. 1: blocks and state entries stored in the
/// consensus encoding; 2: blocks and session entries in the compact forms
/// of `compact.rs`; 3: the account index holds one entry per account and
/// block (`inventory`); 4: the tx index is keyed by [`TX_KEY_BYTES`] of
/// the hash and holds the height and index only, and long blocks are in
/// the block log (`block_log.rs`).
pub const STORE_FORMAT: u32 = 4;
/// The oldest layout this code reads: a store of an older format is marked
/// [`STORE_FORMAT`] when opened (it reads the index entries of every form),
/// so that an older bwchain refuses it from then on.
const OLDEST_READ_FORMAT: u32 = 2;
/// How much of a transaction's hash keys its `T` entry. Key (21 bytes) and
/// value (12) both fit inside sled's inline buffers (22 bytes), so an entry
/// costs no allocation of its own; the full hash and the block hash were
/// 2.5 times the bytes, and a busy chain writes one entry per transaction.
/// Two transactions sharing 20 bytes of hash would take some 2^80 hash
/// computations to find; should it happen, the later one's entry replaces
/// the earlier one's, and a lookup of the earlier hash finds a transaction
/// whose hash differs, which [`Store::included_tx`] reports as unknown.
pub const TX_KEY_BYTES: usize = 20;
/// Outside the `M` range, like the genesis: written once.
const FORMAT: &[u8] = b"Fformat";
const META_HEAD: &[u8] = b"Mhead";
/// Where stores before the accumulator checkpoint kept the head's
/// accumulator, rewritten with every block; migrated on open.
const META_ACCUMULATOR: &[u8] = b"Maccumulator";
/// Outside the `M` range, so the hot metadata's page does not carry it.
const ACCUMULATOR_CHECKPOINT: &[u8] = b"Aaccumulator";
/// The genesis JSON, written once. Outside the `M` range, so the hot
/// metadata's page does not carry it.
const GENESIS: &[u8] = b"Ggenesis";
/// Where stores of the older layout keep it.
const META_GENESIS: &[u8] = b"Mgenesis";
const META_LAST_SIGNED_SLOT: &[u8] = b"Mlast_signed_slot";
const META_LAST_VOTE: &[u8] = b"Mlast_vote";
/// A large commit's redo record while it is being applied.
const META_PENDING_COMMIT: &[u8] = b"Mpending_commit";
const META_FINALITY: &[u8] = b"Mfinality";

/// A block with what executing it produced, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct StoredBlock {
    pub block: Block,
    pub tx_hashes: Vec<Hash>,
    pub outcomes: Vec<TxOutcome>,
    pub rewards: Vec<Reward>,
    pub minted: u64,
}

impl StoredBlock {
    /// The genesis block of `spec`: no signature, transactions or rewards.
    pub fn genesis(spec: &ChainSpec) -> Self {
        Self {
            block: Block {
                header: spec.genesis_header.header().clone(),
                signature: Signature::ZERO,
                txs: Vec::new(),
            },
            tx_hashes: Vec::new(),
            outcomes: Vec::new(),
            rewards: Vec::new(),
            minted: 0,
        }
    }

    pub fn hash(&self) -> Hash {
        self.block.header.hash()
    }
}

/// A chain move for [`Store::commit_update`].
pub struct ChainUpdate<'a> {
    /// Blocks leaving the chosen chain, highest first.
    pub reverted: Vec<StoredBlock>,
    /// Blocks joining it, lowest first; the last becomes the head.
    pub added: Vec<(&'a SealedHeader, &'a Block, &'a ExecutedBlock)>,
    /// The state entries that differ afterwards (`None` deletes).
    pub state_writes: Vec<(StateKey, Option<StateValue>)>,
    pub accumulator: &'a LtHash,
    /// This node's last signed slot, when it proposed the added block.
    pub signed_slot: Option<u64>,
    /// The proposer's lead vote for the added block, committed with it.
    pub last_vote: Option<&'a SignedVote>,
    /// Whether to keep the added blocks' undo data: only blocks that are
    /// not final yet can ever be reverted.
    pub keep_undo: bool,
}

/// Equivocation evidence, as stored (the type lives with the rule).
pub use bwchain_core::consensus::Evidence;

/// Where an included transaction is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode)]
pub struct TxLocation {
    pub block_hash: Hash,
    pub height: u64,
    pub index: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the data directory {path}: {error}")]
    Open { path: String, error: sled::Error },
    #[error("data dir {path} is in use by another bwchain process; stop it first")]
    InUse { path: String },
    #[error("storage I/O error: {0}")]
    Io(#[from] sled::Error),
    #[error("corrupt store: {0}")]
    Corrupt(String),
    /// A write failed earlier (a full disk, an I/O error): nothing more is
    /// written until the node restarts, and what is stored stays intact.
    #[error("the node stopped writing to its data directory after a storage error ({0}); it accepts no transactions and makes no blocks until it is restarted (free disk space first)")]
    WritesStopped(String),
    #[error("the data directory was written in store format {found}; this bwchain reads formats 2 to {expected} (blocks are stored more compactly): move the directory aside and let the node sync it again from its peers, or run the bwchain that wrote it")]
    Format { expected: u32, found: u32 },
    #[error("the data directory holds chain {found}, but the genesis file gives {expected}")]
    WrongChain { expected: Hash, found: Hash },
    /// Reading the state failed: carries the store's own error when it came
    /// from here, or a state entry of the wrong kind.
    #[error(transparent)]
    State(#[from] StorageError),
}

impl From<DecodeError> for StoreError {
    fn from(err: DecodeError) -> Self {
        StoreError::Corrupt(err.to_string())
    }
}

impl From<StoreError> for StorageError {
    fn from(err: StoreError) -> Self {
        StorageError::backend(err)
    }
}

fn key(prefix: u8, rest: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + rest.len());
    out.push(prefix);
    out.extend_from_slice(rest);
    out
}

/// The `T` key of a transaction: see [`TX_KEY_BYTES`].
fn tx_key(tx_hash: &Hash) -> Vec<u8> {
    key(TX, &tx_hash.0[..TX_KEY_BYTES])
}

/// A `T` entry: the block's height and the transaction's index in it.
fn tx_entry(height: u64, index: u32) -> [u8; 12] {
    let mut entry = [0u8; 12];
    entry[..8].copy_from_slice(&height.to_be_bytes());
    entry[8..].copy_from_slice(&index.to_be_bytes());
    entry
}

fn read_tx_entry(bytes: &[u8]) -> Result<(u64, u32), StoreError> {
    let entry: [u8; 12] = bytes
        .try_into()
        .map_err(|_| StoreError::Corrupt(format!("tx index entry of {} bytes", bytes.len())))?;
    let (height, index) = entry.split_at(8);
    Ok((
        u64::from_be_bytes(height.try_into().expect("8 bytes")),
        u32::from_be_bytes(index.try_into().expect("4 bytes")),
    ))
}

fn state_key(state_key: &StateKey) -> Vec<u8> {
    key(STATE, &codec::encode(state_key))
}

/// Stores, in `batch`, the accounts numbered and not stored yet; returns
/// how many are stored once the batch is applied.
fn store_numbers(batch: &mut Writes, accounts: &compact::Accounts) -> usize {
    for (number, account) in accounts.unstored() {
        batch.insert(key(ACCOUNT_NUMBER, &number.to_be_bytes()), &account.0);
    }
    accounts.len()
}

/// The node's store. Cheap to clone; all clones share one database.
#[derive(Clone)]
pub struct Store {
    db: kv::Kv,
    accumulator: Arc<Mutex<Accumulator>>,
    /// The numbers of the accounts that stored blocks' receipts and
    /// session entries name: all of them, loaded on open.
    accounts: Arc<RwLock<compact::Accounts>>,
    /// The head state's recently read and written entries.
    state_cache: Arc<state_cache::StateCache>,
    /// The lanes of recently changed accounts and devices, for the state
    /// root of the next block that changes them again.
    lanes_memo: Arc<LanesMemo>,
    /// The bytes of blocks too long for sled's leaves.
    block_log: Arc<block_log::BlockLog>,
}

/// One `R` record: entries and their values at the checkpoint.
type Replay = Vec<(StateKey, Option<StateValue>)>;

impl Store {
    /// Opens (or initializes with the genesis block) the store in `path`.
    /// Refuses a data directory that belongs to another chain.
    pub fn open(path: &Path, spec: &ChainSpec) -> Result<Self, StoreError> {
        let store = Self::open_db(path)?;
        match store.block_hash_at(0)? {
            Some(found) if found != spec.genesis_hash() => Err(StoreError::WrongChain {
                expected: spec.genesis_hash(),
                found,
            }),
            Some(_) => {
                store.check_format()?;
                store.load_accounts()?;
                store.load_accumulator()?;
                store.build_account_index()?;
                Ok(store)
            }
            None => {
                store.init_genesis(spec)?;
                Ok(store)
            }
        }
    }

    /// Opens the sled database. A lock still held (sled's flusher can keep
    /// it a moment after a handle in this process is dropped, e.g. on a
    /// quick restart) is waited for up to [`LOCK_WAIT`]; a lock held by
    /// another process then fails with [`StoreError::InUse`].
    fn open_db(path: &Path) -> Result<Self, StoreError> {
        let deadline = std::time::Instant::now() + LOCK_WAIT;
        loop {
            match Self::try_open_db(path) {
                Err(StoreError::InUse { .. }) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(25));
                }
                Ok(store) => {
                    store.db.finish_interrupted_commit()?;
                    store.db.start_filter();
                    return Ok(store);
                }
                result => return result,
            }
        }
    }

    fn try_open_db(path: &Path) -> Result<Self, StoreError> {
        let db = sled::Config::new()
            .path(path)
            .cache_capacity(CACHE_BYTES)
            .open()
            .map_err(|error| match &error {
                // sled reports the held lock as an I/O error of kind Other
                // whose message names it.
                sled::Error::Io(io)
                    if io.kind() == std::io::ErrorKind::WouldBlock
                        || io.to_string().contains("could not acquire lock") =>
                {
                    StoreError::InUse {
                        path: path.display().to_string(),
                    }
                }
                _ => StoreError::Open {
                    path: path.display().to_string(),
                    error,
                },
            })?;
        let blocks = path.join("blocks");
        let block_log = block_log::BlockLog::open(&blocks).map_err(|error| StoreError::Open {
            path: blocks.display().to_string(),
            error: sled::Error::Io(error),
        })?;
        Ok(Self {
            block_log: Arc::new(block_log),
            db: kv::Kv::new(db, SESSION),
            accumulator: Arc::default(),
            accounts: Arc::default(),
            state_cache: Arc::new(state_cache::StateCache::new(state_cache::CAPACITY)),
            lanes_memo: Arc::default(),
        })
    }

    /// Opens a store that must already hold a chain, whatever its genesis.
    pub fn open_existing(path: &Path) -> Result<Self, StoreError> {
        if !path.join("conf").exists() {
            return Err(StoreError::Corrupt(format!(
                "{} holds no bwchain store",
                path.display()
            )));
        }
        let store = Self::open_db(path)?;
        store.check_format()?;
        store.load_accounts()?;
        store.load_accumulator()?;
        store.build_account_index()?;
        Ok(store)
    }

    fn load_accounts(&self) -> Result<(), StoreError> {
        let mut accounts = compact::Accounts::default();
        for entry in self.db.scan_prefix([ACCOUNT_NUMBER]) {
            let (stored_key, bytes) = entry?;
            let number: [u8; 4] = stored_key[1..]
                .try_into()
                .map_err(|_| StoreError::Corrupt("bad account number key".into()))?;
            let account: [u8; 32] = bytes.as_ref().try_into().map_err(|_| {
                StoreError::Corrupt(format!("account entry of {} bytes", bytes.len()))
            })?;
            accounts.push(u32::from_be_bytes(number), Account(account))?;
        }
        accounts.mark_stored(accounts.len());
        *self.write_accounts() = accounts;
        Ok(())
    }

    fn read_accounts(&self) -> std::sync::RwLockReadGuard<'_, compact::Accounts> {
        self.accounts.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write_accounts(&self) -> std::sync::RwLockWriteGuard<'_, compact::Accounts> {
        self.accounts.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Refuses a store of a format this code does not read, and marks one
    /// of an older format it reads as [`STORE_FORMAT`].
    fn check_format(&self) -> Result<(), StoreError> {
        let found = match self.db.get(FORMAT)? {
            None => 1,
            Some(bytes) => {
                let array: [u8; 4] = bytes.as_ref().try_into().map_err(|_| {
                    StoreError::Corrupt(format!("store format is {} bytes, not 4", bytes.len()))
                })?;
                u32::from_be_bytes(array)
            }
        };
        if !(OLDEST_READ_FORMAT..=STORE_FORMAT).contains(&found) {
            return Err(StoreError::Format {
                expected: STORE_FORMAT,
                found,
            });
        }
        if found < STORE_FORMAT {
            let mut batch = Writes::default();
            batch.insert(FORMAT, &STORE_FORMAT.to_be_bytes());
            self.apply_flushed(batch)?;
        }
        Ok(())
    }

    fn init_genesis(&self, spec: &ChainSpec) -> Result<(), StoreError> {
        let mut batch = Writes::default();
        let genesis_hash = spec.genesis_hash();
        let stored = StoredBlock::genesis(spec);
        batch.insert(FORMAT, &STORE_FORMAT.to_be_bytes());
        let mut accounts = self.write_accounts();
        batch.insert(
            key(BLOCK, &genesis_hash.0),
            compact::encode(&stored, &mut accounts),
        );
        batch.insert(key(HEIGHT, &0u64.to_be_bytes()), &genesis_hash.0);
        for (state_key_, value) in spec.genesis_state.entries() {
            batch.insert(
                compact::entry_key(&mut accounts, state_key_),
                compact::encode_value(state_key_, value),
            );
        }
        let numbered = store_numbers(&mut batch, &accounts);
        drop(accounts);
        let accumulator = spec.genesis_state.accumulator()?;
        batch.insert(
            ACCUMULATOR_CHECKPOINT,
            checkpoint_bytes(&genesis_hash, &accumulator),
        );
        batch.insert(META_HEAD, &genesis_hash.0);
        inventory::mark_indexed(&mut batch);
        batch.insert(
            GENESIS,
            serde_json::to_vec(&spec.genesis).expect("genesis serializes"),
        );
        self.apply_flushed(batch)?;
        self.write_accounts().mark_stored(numbered);
        *self.lock_accumulator() = Accumulator {
            head: accumulator,
            ..Accumulator::default()
        };
        Ok(())
    }

    /// The genesis the store was created with.
    pub fn stored_genesis(&self) -> Result<Option<Genesis>, StoreError> {
        let stored = match self.db.get(GENESIS)? {
            Some(bytes) => Some(bytes),
            None => self.db.get(META_GENESIS)?,
        };
        let Some(bytes) = stored else {
            return Ok(None);
        };
        let genesis: Genesis = serde_json::from_slice(&bytes)
            .map_err(|err| StoreError::Corrupt(format!("stored genesis: {err}")))?;
        Ok(Some(genesis))
    }

    /// Commits a block on top of the current head, atomically and durably.
    /// `signed_slot` is recorded as this node's last signed slot when it
    /// proposed the block.
    pub(crate) fn commit_block(
        &self,
        header: &SealedHeader,
        block: &Block,
        executed: &ExecutedBlock,
        signed_slot: Option<u64>,
        last_vote: Option<&SignedVote>,
        keep_undo: bool,
    ) -> Result<(), StoreError> {
        let writes = executed
            .changes
            .iter()
            .map(|change| (change.key, change.after.clone()))
            .collect();
        self.commit_update(ChainUpdate {
            reverted: Vec::new(),
            added: vec![(header, block, executed)],
            state_writes: writes,
            accumulator: &executed.accumulator,
            signed_slot,
            last_vote,
            keep_undo,
        })
    }

    /// Moves the chosen chain: reverts the top blocks in `update.reverted`,
    /// adds `update.added` in order and writes the resulting state, all in
    /// one atomic batch, flushed before returning. A crash leaves either the
    /// old chain or the new one.
    pub(crate) fn commit_update(&self, update: ChainUpdate<'_>) -> Result<(), StoreError> {
        let mut batch = Writes::default();
        // Held until the batch is applied, so that no other commit moves
        // the checkpoint in between.
        let mut accumulator = self.lock_accumulator();
        // The values at the checkpoint of the entries first changed now,
        // encoded.
        let mut first_changes: Vec<(u64, Vec<u8>)> = Vec::new();
        let mut newly_touched = HashSet::new();
        if update.reverted.is_empty() {
            for (header, _, executed) in &update.added {
                let replay: Replay = executed
                    .changes
                    .iter()
                    .filter(|change| {
                        !accumulator.touched.contains(&change.key)
                            && newly_touched.insert(change.key)
                    })
                    .map(|change| (change.key, change.before.clone()))
                    .collect();
                if !replay.is_empty() {
                    first_changes.push((header.height, codec::encode(&replay)));
                }
            }
        }
        let replay_bytes: usize = first_changes.iter().map(|(_, replay)| replay.len()).sum();
        let checkpoint = !update.reverted.is_empty()
            || replay_bytes > CHECKPOINT_BYTES
            || update
                .added
                .iter()
                .any(|(header, _, _)| header.height % ACCUMULATOR_PERIOD == 0)
            || accumulator.touched.len() + newly_touched.len() > ACCUMULATOR_MAX_TOUCHED;
        let credited_removed = update
            .reverted
            .iter()
            .map(|reverted| credited_bytes(&reverted.outcomes))
            .fold(0, u64::saturating_add);
        let credited_added = update
            .added
            .iter()
            .map(|(_, _, executed)| credited_bytes(&executed.outcomes))
            .fold(0, u64::saturating_add);
        inventory::update_credited(self, &mut batch, credited_added, credited_removed)?;
        for reverted in &update.reverted {
            for tx_hash in &reverted.tx_hashes {
                batch.remove(tx_key(tx_hash));
                // The entry a store before format 4 wrote, if any.
                batch.remove(key(TX, &tx_hash.0));
            }
            batch.remove(key(HEIGHT, &reverted.block.header.height.to_be_bytes()));
            inventory::unindex_block(&mut batch, reverted);
        }
        let mut head = None;
        // Accounts are numbered before the batch is applied, so that a
        // reader never meets a number it does not know; numbers are only
        // handed out while committing, under the accumulator lock.
        let mut accounts = self.write_accounts();
        // Blocks for the block log, appended once the numbers are handed out.
        let mut logged = Vec::new();
        for (header, block, executed) in &update.added {
            let hash = header.hash();
            let stored = StoredBlock {
                block: (*block).clone(),
                tx_hashes: executed.tx_hashes.clone(),
                outcomes: executed.outcomes.clone(),
                rewards: executed.rewards.clone(),
                minted: executed.minted,
            };
            let bytes = compact::encode(&stored, &mut accounts);
            if bytes.len() < block_log::LOGGED_BLOCK_BYTES {
                batch.insert(key(BLOCK, &hash.0), bytes);
            } else if self.db.get(key(BLOCK_PLACE, &hash.0))?.is_none() {
                logged.push((hash, bytes));
            }
            // Else a block of an earlier chosen chain, chosen again: the
            // log holds it already, and appending it again would only
            // leave bytes nothing points at.
            batch.insert(key(HEIGHT, &header.height.to_be_bytes()), &hash.0);
            for (index, tx_hash) in executed.tx_hashes.iter().enumerate() {
                let index = u32::try_from(index).expect("max_block_txs fits u32");
                batch.insert(tx_key(tx_hash), &tx_entry(header.height, index));
            }
            inventory::index_block(&mut batch, block, &executed.tx_hashes);
            if update.keep_undo {
                batch.insert(key(UNDO, &hash.0), codec::encode(&executed.changes));
            }
            head = Some(hash);
        }
        for (state_key_, value) in &update.state_writes {
            let stored_key = compact::entry_key(&mut accounts, state_key_);
            match value {
                Some(value) => batch.insert(stored_key, compact::encode_value(state_key_, value)),
                None => batch.remove(stored_key),
            }
        }
        let numbered = store_numbers(&mut batch, &accounts);
        drop(accounts);
        // Flushed before the commit that records where they are.
        for (hash, bytes) in logged {
            let place = self.db.write_outside(|| self.block_log.append(&bytes))?;
            batch.insert(key(BLOCK_PLACE, &hash.0), &place.to_bytes());
        }
        // Written last: until it moves, the chosen chain is the old one.
        let mut last = Writes::default();
        if let Some(head) = head {
            last.insert(META_HEAD, &head.0);
        }
        if checkpoint {
            let head = match head {
                Some(head) => head,
                None => to_hash(
                    &self
                        .db
                        .get(META_HEAD)?
                        .ok_or_else(|| StoreError::Corrupt("no head".into()))?,
                )?,
            };
            batch.insert(
                ACCUMULATOR_CHECKPOINT,
                checkpoint_bytes(&head, update.accumulator),
            );
            for height in &accumulator.records {
                batch.remove(key(REPLAY, &height.to_be_bytes()));
            }
        } else {
            for (height, replay) in &first_changes {
                batch.insert(key(REPLAY, &height.to_be_bytes()), replay.as_slice());
            }
        }
        if let Some(slot) = update.signed_slot {
            batch.insert(META_LAST_SIGNED_SLOT, &slot.to_be_bytes());
        }
        if let Some(vote) = update.last_vote {
            batch.insert(META_LAST_VOTE, codec::encode(vote));
        }
        let cached_writes = || {
            update
                .state_writes
                .iter()
                .filter(|(key, _)| state_cache::caches(key))
        };
        self.state_cache
            .begin_commit(cached_writes().map(|(key, _)| key));
        self.apply_commit(batch, last)?;
        self.state_cache
            .end_commit(cached_writes().map(|(key, value)| (key, value)));
        self.write_accounts().mark_stored(numbered);
        accumulator.head = update.accumulator.clone();
        if checkpoint {
            accumulator.touched.clear();
            accumulator.records.clear();
        } else {
            accumulator.touched.extend(newly_touched);
            accumulator
                .records
                .extend(first_changes.iter().map(|(height, _)| *height));
        }
        Ok(())
    }

    /// The first write error, if one happened (the store writes no more).
    pub fn write_failure(&self) -> Option<String> {
        self.db.write_failure()
    }

    /// Applies a block's writes: in one atomic, flushed batch when they are
    /// few; else behind a redo record, applied in the background (see
    /// `kv.rs`).
    fn apply_commit(&self, mut bulk: Writes, last: Writes) -> Result<(), StoreError> {
        if bulk.len() + last.len() <= LOGGED_COMMIT_WRITES {
            bulk.append(last);
            self.db.settle();
            return self.apply_flushed(bulk);
        }
        self.db.commit_behind(PendingCommit { bulk, last })
    }

    /// Applies a batch atomically, then flushes it to disk.
    fn apply_flushed(&self, batch: Writes) -> Result<(), StoreError> {
        self.db.apply_flushed(batch)
    }

    fn decode_meta<T: bincode::Decode<()>>(&self, name: &[u8]) -> Result<Option<T>, StoreError> {
        match self.db.get(name)? {
            Some(bytes) => Ok(Some(codec::decode(&bytes)?)),
            None => Ok(None),
        }
    }

    fn scan_decoded<T: bincode::Decode<()>>(&self, prefix: u8) -> Result<Vec<T>, StoreError> {
        self.db
            .scan_prefix([prefix])
            .map(|entry| {
                let (_, bytes) = entry?;
                codec::decode(&bytes).map_err(StoreError::from)
            })
            .collect()
    }

    pub fn head(&self) -> Result<SealedHeader, StoreError> {
        let bytes = self
            .db
            .get(META_HEAD)?
            .ok_or_else(|| StoreError::Corrupt("no head pointer".into()))?;
        let hash = to_hash(&bytes)?;
        let block = self
            .block(&hash)?
            .ok_or_else(|| StoreError::Corrupt(format!("head block {hash} is missing")))?;
        Ok(SealedHeader::new(block.block.header))
    }

    pub fn block(&self, hash: &Hash) -> Result<Option<StoredBlock>, StoreError> {
        let (logged, in_sled);
        let bytes: &[u8] = match self.db.get(key(BLOCK_PLACE, &hash.0))? {
            Some(place) => {
                logged = self.read_logged(hash, &place, None)?;
                &logged
            }
            None => match self.db.get(key(BLOCK, &hash.0))? {
                Some(bytes) => {
                    in_sled = bytes;
                    &in_sled
                }
                None => return Ok(None),
            },
        };
        let stored = compact::decode(bytes, &self.read_accounts())?;
        // Recompute the digest on decode: a record must be the block it is filed under.
        if stored.hash() != *hash {
            return Err(StoreError::Corrupt(format!(
                "block filed under {hash} hashes to {}",
                stored.hash()
            )));
        }
        Ok(Some(stored))
    }

    /// The header of a stored block, without decoding its transactions.
    pub fn header(&self, hash: &Hash) -> Result<Option<Header>, StoreError> {
        if let Some(place) = self.db.get(key(BLOCK_PLACE, &hash.0))? {
            // The header comes first and is shorter than this.
            let start = self.read_logged(hash, &place, Some(HEADER_PREFIX_BYTES))?;
            let header = match compact::decode_header(&start) {
                Ok(header) => header,
                Err(_) => compact::decode_header(&self.read_logged(hash, &place, None)?)?,
            };
            return Ok(Some(header));
        }
        match self.db.get(key(BLOCK, &hash.0))? {
            Some(bytes) => Ok(Some(compact::decode_header(&bytes)?)),
            None => Ok(None),
        }
    }

    /// A logged block's bytes (at most `limit` of them), by its `L` entry.
    fn read_logged(
        &self,
        hash: &Hash,
        place: &[u8],
        limit: Option<usize>,
    ) -> Result<Vec<u8>, StoreError> {
        let place = block_log::Place::from_bytes(place).ok_or_else(|| {
            StoreError::Corrupt(format!(
                "block {hash}: a block log place of {} bytes",
                place.len()
            ))
        })?;
        self.block_log
            .read(place, limit)
            .map_err(|err| StoreError::Corrupt(format!("block {hash} in the block log: {err}")))
    }

    pub fn block_hash_at(&self, height: u64) -> Result<Option<Hash>, StoreError> {
        self.db
            .get(key(HEIGHT, &height.to_be_bytes()))?
            .map(|bytes| to_hash(&bytes))
            .transpose()
    }

    pub fn block_at(&self, height: u64) -> Result<Option<StoredBlock>, StoreError> {
        match self.block_hash_at(height)? {
            Some(hash) => self.block(&hash),
            None => Ok(None),
        }
    }

    /// Where the chosen chain included a transaction, by its index entry:
    /// the entry of a transaction sharing the first [`TX_KEY_BYTES`] of
    /// the hash would be found too (see there). [`Store::included_tx`]
    /// checks the hash against the block.
    pub fn tx_location(&self, tx_hash: &Hash) -> Result<Option<TxLocation>, StoreError> {
        if let Some(bytes) = self.db.get(tx_key(tx_hash))? {
            let (height, index) = read_tx_entry(&bytes)?;
            // Read between the two gets, a reorg may have taken the height
            // away with the entry.
            let Some(block_hash) = self.block_hash_at(height)? else {
                return Ok(None);
            };
            return Ok(Some(TxLocation {
                block_hash,
                height,
                index,
            }));
        }
        // A store before format 4 keyed its entries by the whole hash.
        self.db
            .get(key(TX, &tx_hash.0))?
            .map(|bytes| codec::decode(&bytes).map_err(StoreError::from))
            .transpose()
    }

    /// An included transaction's location and its block, or `None` when
    /// the chosen chain does not hold a transaction of this hash.
    pub fn included_tx(
        &self,
        tx_hash: &Hash,
    ) -> Result<Option<(TxLocation, StoredBlock)>, StoreError> {
        let Some(location) = self.tx_location(tx_hash)? else {
            return Ok(None);
        };
        let block = self.block(&location.block_hash)?.ok_or_else(|| {
            StoreError::Corrupt(format!(
                "tx {tx_hash} points at missing block {}",
                location.block_hash
            ))
        })?;
        match block.tx_hashes.get(location.index as usize) {
            Some(found) if found == tx_hash => Ok(Some((location, block))),
            Some(_) => Ok(None),
            None => Err(StoreError::Corrupt(format!(
                "tx {tx_hash} points past the end of block {}",
                location.block_hash
            ))),
        }
    }

    /// The state changes a block made (kept to undo it in a reorg).
    pub fn undo(&self, block_hash: &Hash) -> Result<Option<Vec<StateChange>>, StoreError> {
        self.db
            .get(key(UNDO, &block_hash.0))?
            .map(|bytes| codec::decode(&bytes).map_err(StoreError::from))
            .transpose()
    }

    pub fn last_signed_slot(&self) -> Result<Option<u64>, StoreError> {
        let Some(bytes) = self.db.get(META_LAST_SIGNED_SLOT)? else {
            return Ok(None);
        };
        let array: [u8; 8] = bytes
            .as_ref()
            .try_into()
            .map_err(|_| StoreError::Corrupt("last signed slot is not 8 bytes".into()))?;
        Ok(Some(u64::from_be_bytes(array)))
    }

    /// Every state entry: all but sessions in key order, then the sessions.
    pub fn state_entries(
        &self,
    ) -> impl Iterator<Item = Result<(StateKey, StateValue), StoreError>> + '_ {
        let sessions = self.db.scan_prefix([SESSION]).map(|entry| {
            let (key_bytes, value_bytes) = entry?;
            let key = compact::decode_session_key(&self.read_accounts(), &key_bytes)?;
            let value = compact::decode_value(&key, &value_bytes)?;
            Ok((key, value))
        });
        self.db
            .scan_prefix([STATE])
            .map(|entry| {
                let (key_bytes, value_bytes) = entry?;
                let key = codec::decode(&key_bytes[1..])?;
                let value = codec::decode(&value_bytes)?;
                Ok((key, value))
            })
            .chain(sessions)
    }

    /// Overwrites one state entry outside any block: lets tests corrupt a
    /// store to check that the audit notices.
    #[cfg(test)]
    pub(crate) fn put_state_for_test(
        &self,
        state_key_: StateKey,
        value: StateValue,
    ) -> Result<(), StoreError> {
        let mut batch = Writes::default();
        let mut accounts = self.write_accounts();
        batch.insert(
            compact::entry_key(&mut accounts, &state_key_),
            compact::encode_value(&state_key_, &value),
        );
        let numbered = store_numbers(&mut batch, &accounts);
        self.db.apply(batch)?;
        accounts.mark_stored(numbered);
        Ok(())
    }

    /// Bytes the store occupies on disk.
    pub fn size_on_disk(&self) -> Result<u64, StoreError> {
        let logged = self.block_log.size_on_disk().map_err(sled::Error::Io)?;
        Ok(self.db.size_on_disk()? + logged)
    }
}

/// The block commit of the chain service, for benchmarks and tests (feature
/// `testkit`). Everywhere else only the chain service writes the store.
#[cfg(feature = "testkit")]
impl Store {
    pub fn commit_block_for_tests(
        &self,
        header: &SealedHeader,
        block: &Block,
        executed: &ExecutedBlock,
    ) -> Result<(), StoreError> {
        self.commit_block(header, block, executed, Some(header.slot), None, false)
    }
}

impl Store {
    /// A state entry as sled has it, bypassing the cache.
    fn read_state_entry(&self, state_key_: &StateKey) -> Result<Option<StateValue>, StoreError> {
        let Some(stored_key) = compact::find_entry_key(&self.read_accounts(), state_key_) else {
            return Ok(None);
        };
        let Some(bytes) = self.db.get(stored_key)? else {
            return Ok(None);
        };
        compact::decode_value(state_key_, &bytes)
            .map(Some)
            .map_err(|err| StoreError::Corrupt(format!("state entry {state_key_:?}: {err}")))
    }
}

impl StateView for Store {
    fn get(&self, state_key_: &StateKey) -> Result<Option<StateValue>, StorageError> {
        if !state_cache::caches(state_key_) {
            return Ok(self.read_state_entry(state_key_)?);
        }
        let miss = match self.state_cache.get(state_key_) {
            Ok(cached) => return Ok(cached),
            Err(miss) => miss,
        };
        let value = self.read_state_entry(state_key_)?;
        self.state_cache.fill(miss, *state_key_, value.clone());
        Ok(value)
    }

    /// The head's, kept in memory.
    fn accumulator(&self) -> Result<LtHash, StorageError> {
        Ok(self.lock_accumulator().head.clone())
    }

    fn lanes_memo(&self) -> Option<&LanesMemo> {
        Some(&self.lanes_memo)
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod disk_tests;
