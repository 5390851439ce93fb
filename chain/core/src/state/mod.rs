//! The chain state: its entries, the view the state transition reads through,
//! and the state root.
//!
//! The state is a map from [`StateKey`] to [`StateValue`]. An entry whose
//! value is the default (an account with no balance and nonce 0) is absent.
//!
//! ## State root
//! The root is a lattice hash (LtHash, as used by Solana's account hash and
//! Facebook's homomorphic hashing): every present entry is expanded into 1024
//! 16-bit lanes, and the state's accumulator is the lane-wise sum, wrapping
//! mod 2^16, over all entries:
//!
//! ```text
//! d          = SHA-256("bwchain/state/v1" || bincode(key) || bincode(value))
//! lanes(e)   = SHA-256(d || 0u8) || SHA-256(d || 1u8) || ... || SHA-256(d || 63u8)
//!              read as 1024 u16 little-endian
//! acc        = Σ lanes(e) over all entries, lane-wise mod 2^16
//! state_root = SHA-256("bwchain/state-root/v1" || acc as 1024 u16 LE)
//! ```
//!
//! Changing an entry subtracts its old lanes and adds its new ones, so a block
//! costs work in proportion to what it changes, not to the size of the state,
//! and the root does not depend on the order entries were written in.

use std::collections::BTreeMap;
use std::sync::Arc;

use bincode::{Decode, Encode};
use serde::Serialize;

use crate::primitives::{Account, FastMap, Hash};

mod lthash;

pub use lthash::{LanesMemo, LtHash, LTHASH_LANES};

/// Identifies one cumulative receipt counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Encode, Decode, Serialize)]
pub struct SessionId {
    pub provider: Account,
    pub consumer: Account,
    pub session: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Encode, Decode)]
pub enum StateKey {
    /// Hash of the genesis parameters.
    Config,
    /// Total supply and minted tokens.
    Supply,
    Account(Account),
    Device(Account),
    /// Bytes already credited for a session.
    Session(SessionId),
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Encode, Decode, Serialize)]
pub struct AccountRecord {
    pub balance: u64,
    /// Number of transactions from this account already included.
    pub nonce: u64,
}

impl AccountRecord {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// A registered device and its capacity budgets (token buckets of bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode, Serialize)]
pub struct DeviceRecord {
    pub active: bool,
    /// Bytes this device may still be credited for serving.
    pub upload_budget: u64,
    /// Bytes this device may still be credited for receiving.
    pub download_budget: u64,
    /// Block time at which the budgets were last refilled.
    pub refilled_at_ms: u64,
}

impl DeviceRecord {
    /// A newly registered device: active, both budgets full.
    pub fn registered(capacity: u64, now_ms: u64) -> Self {
        Self {
            active: true,
            upload_budget: capacity,
            download_budget: capacity,
            refilled_at_ms: now_ms,
        }
    }

    /// Refills both buckets at `rate_per_sec` bytes per second of block time,
    /// up to `capacity`. Only whole bytes are added, and the clock advances
    /// only by the time those bytes took (rounded up), so frequent refills
    /// never starve a slow bucket and never credit more than the rate allows.
    pub fn refill(&mut self, rate_per_sec: u64, capacity: u64, now_ms: u64) {
        let elapsed_ms = now_ms.saturating_sub(self.refilled_at_ms);
        if elapsed_ms == 0 || rate_per_sec == 0 {
            return;
        }
        let rate = u128::from(rate_per_sec);
        let added = rate * u128::from(elapsed_ms) / 1000;
        let fill = |budget: u64| -> u64 {
            let filled = (u128::from(budget) + added).min(u128::from(capacity));
            u64::try_from(filled).unwrap_or(capacity)
        };
        self.upload_budget = fill(self.upload_budget);
        self.download_budget = fill(self.download_budget);
        if self.upload_budget == capacity && self.download_budget == capacity {
            self.refilled_at_ms = now_ms;
        } else {
            // ceil(added * 1000 / rate) <= elapsed_ms, so this fits.
            let used_ms = (added * 1000).div_ceil(rate);
            let used_ms = u64::try_from(used_ms).unwrap_or(elapsed_ms).min(elapsed_ms);
            self.refilled_at_ms += used_ms;
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Encode, Decode, Serialize)]
pub struct SupplyRecord {
    /// Genesis supply plus everything minted; equals the sum of all balances.
    pub total_supply: u64,
    /// Everything minted since genesis.
    pub minted: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub enum StateValue {
    Config(Hash),
    Supply(SupplyRecord),
    Account(AccountRecord),
    Device(DeviceRecord),
    Session(u64),
}

impl StateValue {
    /// The kind of record, for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            StateValue::Config(_) => "config",
            StateValue::Supply(_) => "supply",
            StateValue::Account(_) => "account",
            StateValue::Device(_) => "device",
            StateValue::Session(_) => "session",
        }
    }
}

/// Why the state could not be read. The core does not know the store: a
/// store reports its own error as [`StorageError::Backend`], and gets it
/// back by downcasting.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StorageError {
    /// The store failed (I/O, or an entry it cannot decode).
    #[error(transparent)]
    Backend(Arc<dyn std::error::Error + Send + Sync>),
    /// A state entry holds a record of another kind than its key says.
    #[error("corrupt state: expected a {expected} record, found a {found} record")]
    WrongRecord {
        expected: &'static str,
        found: &'static str,
    },
}

impl StorageError {
    pub fn backend(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        StorageError::Backend(Arc::new(error))
    }
}

/// Two backend errors are equal when they are the same error or say the same
/// thing (errors of the store need not be comparable themselves).
impl PartialEq for StorageError {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (StorageError::Backend(a), StorageError::Backend(b)) => {
                Arc::ptr_eq(a, b) || a.to_string() == b.to_string()
            }
            (
                StorageError::WrongRecord { expected, found },
                StorageError::WrongRecord {
                    expected: other_expected,
                    found: other_found,
                },
            ) => expected == other_expected && found == other_found,
            _ => false,
        }
    }
}

impl Eq for StorageError {}

/// Read access to a state. Implemented by the in-memory [`MemState`] and by
/// the node's sled store.
pub trait StateView {
    /// The value of `key`, `Ok(None)` when absent.
    fn get(&self, key: &StateKey) -> Result<Option<StateValue>, StorageError>;
    /// The state's LtHash accumulator.
    fn accumulator(&self) -> Result<LtHash, StorageError>;
    /// Where lanes of recently changed entries are kept, if anywhere
    /// (see [`LanesMemo`]).
    fn lanes_memo(&self) -> Option<&LanesMemo> {
        None
    }
}

/// One changed entry of a block: what it was and what it became.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct StateChange {
    pub key: StateKey,
    pub before: Option<StateValue>,
    pub after: Option<StateValue>,
}

/// A whole state in memory: genesis, audits, tests.
#[derive(Debug, Clone, Default)]
pub struct MemState {
    entries: BTreeMap<StateKey, StateValue>,
    accumulator: LtHash,
}

impl MemState {
    pub fn insert(&mut self, key: StateKey, value: StateValue) {
        if let Some(old) = self.entries.insert(key, value.clone()) {
            self.accumulator.remove(&key, &old);
        }
        self.accumulator.add(&key, &value);
    }

    pub fn remove(&mut self, key: &StateKey) {
        if let Some(old) = self.entries.remove(key) {
            self.accumulator.remove(key, &old);
        }
    }

    pub fn apply(&mut self, changes: &[StateChange]) {
        for change in changes {
            match &change.after {
                Some(value) => self.insert(change.key, value.clone()),
                None => self.remove(&change.key),
            }
        }
    }

    pub fn root(&self) -> Hash {
        self.accumulator.root()
    }

    pub fn entries(&self) -> impl Iterator<Item = (&StateKey, &StateValue)> {
        self.entries.iter()
    }

    /// Recomputes the root from scratch, ignoring the running accumulator.
    pub fn recompute_root(&self) -> Hash {
        let mut acc = LtHash::default();
        for (key, value) in &self.entries {
            acc.add(key, value);
        }
        acc.root()
    }
}

impl StateView for MemState {
    fn get(&self, key: &StateKey) -> Result<Option<StateValue>, StorageError> {
        Ok(self.entries.get(key).cloned())
    }

    fn accumulator(&self) -> Result<LtHash, StorageError> {
        Ok(self.accumulator.clone())
    }
}

/// Pending writes on top of a base state, with a journal so that one
/// transaction's writes can be rolled back if it turns out invalid.
pub struct Overlay<'a> {
    base: &'a dyn StateView,
    /// Base values of every key read or written, fetched once.
    original: FastMap<StateKey, Option<StateValue>>,
    writes: FastMap<StateKey, Option<StateValue>>,
    /// (key, its previous entry in `writes`) for rollback.
    journal: Vec<(StateKey, Option<Option<StateValue>>)>,
}

impl<'a> Overlay<'a> {
    pub fn new(base: &'a dyn StateView) -> Self {
        Self {
            base,
            original: FastMap::default(),
            writes: FastMap::default(),
            journal: Vec::new(),
        }
    }

    fn original(&mut self, key: &StateKey) -> Result<Option<StateValue>, StorageError> {
        if let Some(value) = self.original.get(key) {
            return Ok(value.clone());
        }
        let value = self.base.get(key)?;
        self.original.insert(*key, value.clone());
        Ok(value)
    }

    pub fn get(&mut self, key: &StateKey) -> Result<Option<StateValue>, StorageError> {
        if let Some(value) = self.writes.get(key) {
            return Ok(value.clone());
        }
        self.original(key)
    }

    pub fn set(&mut self, key: StateKey, value: Option<StateValue>) -> Result<(), StorageError> {
        self.original(&key)?;
        let previous = self.writes.insert(key, value);
        self.journal.push((key, previous));
        Ok(())
    }

    /// A mark to roll back to.
    pub fn checkpoint(&self) -> usize {
        self.journal.len()
    }

    /// Undoes every write made since `checkpoint`.
    pub fn rollback(&mut self, checkpoint: usize) {
        while self.journal.len() > checkpoint {
            let (key, previous) = self.journal.pop().expect("journal longer than checkpoint");
            match previous {
                Some(value) => self.writes.insert(key, value),
                None => self.writes.remove(&key),
            };
        }
    }

    pub fn account(&mut self, account: &Account) -> Result<AccountRecord, StorageError> {
        match self.get(&StateKey::Account(*account))? {
            Some(StateValue::Account(record)) => Ok(record),
            None => Ok(AccountRecord::default()),
            Some(other) => Err(mismatch("account", &other)),
        }
    }

    pub fn set_account(
        &mut self,
        account: &Account,
        record: AccountRecord,
    ) -> Result<(), StorageError> {
        let value = (!record.is_empty()).then_some(StateValue::Account(record));
        self.set(StateKey::Account(*account), value)
    }

    pub fn device(&mut self, device: &Account) -> Result<Option<DeviceRecord>, StorageError> {
        match self.get(&StateKey::Device(*device))? {
            Some(StateValue::Device(record)) => Ok(Some(record)),
            None => Ok(None),
            Some(other) => Err(mismatch("device", &other)),
        }
    }

    pub fn set_device(
        &mut self,
        device: &Account,
        record: DeviceRecord,
    ) -> Result<(), StorageError> {
        self.set(StateKey::Device(*device), Some(StateValue::Device(record)))
    }

    pub fn session(&mut self, id: &SessionId) -> Result<u64, StorageError> {
        match self.get(&StateKey::Session(*id))? {
            Some(StateValue::Session(bytes)) => Ok(bytes),
            None => Ok(0),
            Some(other) => Err(mismatch("session", &other)),
        }
    }

    pub fn set_session(&mut self, id: &SessionId, bytes: u64) -> Result<(), StorageError> {
        let value = (bytes != 0).then_some(StateValue::Session(bytes));
        self.set(StateKey::Session(*id), value)
    }

    pub fn supply(&mut self) -> Result<SupplyRecord, StorageError> {
        match self.get(&StateKey::Supply)? {
            Some(StateValue::Supply(record)) => Ok(record),
            None => Ok(SupplyRecord::default()),
            Some(other) => Err(mismatch("supply", &other)),
        }
    }

    pub fn set_supply(&mut self, record: SupplyRecord) -> Result<(), StorageError> {
        self.set(StateKey::Supply, Some(StateValue::Supply(record)))
    }

    /// The changed entries (sorted by key) and the new accumulator.
    pub fn finish(self) -> Result<(Vec<StateChange>, LtHash), StorageError> {
        let mut accumulator = self.base.accumulator()?;
        let mut changes: Vec<StateChange> = self
            .writes
            .into_iter()
            .filter_map(|(key, after)| {
                let before = self.original.get(&key).cloned().flatten();
                (before != after).then_some(StateChange { key, before, after })
            })
            .collect();
        changes.sort_unstable_by_key(|change| change.key);
        accumulator.apply_changes(&changes, self.base.lanes_memo());
        Ok((changes, accumulator))
    }
}

/// A state reached from a base state by reverting and applying whole blocks'
/// changes, without writing anything: how a node evaluates a competing
/// branch before switching to it. Its writes commit the switch in one batch.
pub struct DiffView<'a> {
    base: &'a dyn StateView,
    diff: FastMap<StateKey, Option<StateValue>>,
    accumulator: LtHash,
}

impl<'a> DiffView<'a> {
    pub fn new(base: &'a dyn StateView) -> Result<Self, StorageError> {
        Ok(Self {
            base,
            diff: FastMap::default(),
            accumulator: base.accumulator()?,
        })
    }

    /// Undoes one block's changes (call newest block first).
    pub fn revert(&mut self, changes: &[StateChange]) {
        for change in changes.iter().rev() {
            if let Some(after) = &change.after {
                self.accumulator.remove(&change.key, after);
            }
            if let Some(before) = &change.before {
                self.accumulator.add(&change.key, before);
            }
            self.diff.insert(change.key, change.before.clone());
        }
    }

    /// Applies one executed block's changes and its resulting accumulator.
    pub fn apply(&mut self, changes: &[StateChange], accumulator: &LtHash) {
        for change in changes {
            self.diff.insert(change.key, change.after.clone());
        }
        self.accumulator = accumulator.clone();
    }

    /// The entries to write (value, or `None` to delete) and the accumulator.
    pub fn into_writes(self) -> (Vec<(StateKey, Option<StateValue>)>, LtHash) {
        let mut writes: Vec<_> = self.diff.into_iter().collect();
        writes.sort_unstable_by_key(|(key, _)| *key);
        (writes, self.accumulator)
    }
}

impl StateView for DiffView<'_> {
    fn get(&self, key: &StateKey) -> Result<Option<StateValue>, StorageError> {
        match self.diff.get(key) {
            Some(value) => Ok(value.clone()),
            None => self.base.get(key),
        }
    }

    fn accumulator(&self) -> Result<LtHash, StorageError> {
        Ok(self.accumulator.clone())
    }

    fn lanes_memo(&self) -> Option<&LanesMemo> {
        self.base.lanes_memo()
    }
}

fn mismatch(expected: &'static str, found: &StateValue) -> StorageError {
    StorageError::WrongRecord {
        expected,
        found: found.kind(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(n: u8) -> Account {
        Account([n; 32])
    }

    #[test]
    fn root_is_order_independent_and_incremental() {
        let mut a = MemState::default();
        let mut b = MemState::default();
        let entries: Vec<(StateKey, StateValue)> = (0..20u8)
            .map(|n| {
                (
                    StateKey::Account(account(n)),
                    StateValue::Account(AccountRecord {
                        balance: u64::from(n) * 7,
                        nonce: 1,
                    }),
                )
            })
            .collect();
        for (key, value) in &entries {
            a.insert(*key, value.clone());
        }
        for (key, value) in entries.iter().rev() {
            b.insert(*key, value.clone());
        }
        assert_eq!(a.root(), b.root());
        assert_eq!(a.root(), a.recompute_root());
        a.remove(&entries[3].0);
        assert_ne!(a.root(), b.root());
        assert_eq!(a.root(), a.recompute_root());
        assert_ne!(MemState::default().root(), a.root());
    }

    #[test]
    fn overlay_rollback_and_finish() {
        let mut base = MemState::default();
        base.insert(
            StateKey::Account(account(1)),
            StateValue::Account(AccountRecord {
                balance: 10,
                nonce: 0,
            }),
        );
        let mut overlay = Overlay::new(&base);
        overlay
            .set_account(
                &account(2),
                AccountRecord {
                    balance: 5,
                    nonce: 0,
                },
            )
            .unwrap();
        let mark = overlay.checkpoint();
        overlay
            .set_account(
                &account(1),
                AccountRecord {
                    balance: 0,
                    nonce: 0,
                },
            )
            .unwrap();
        overlay
            .set_session(
                &SessionId {
                    provider: account(1),
                    consumer: account(2),
                    session: 1,
                },
                9,
            )
            .unwrap();
        overlay.rollback(mark);
        assert_eq!(overlay.account(&account(1)).unwrap().balance, 10);
        let (changes, accumulator) = overlay.finish().unwrap();
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].key, StateKey::Account(account(2)));

        let mut expected = base.clone();
        expected.apply(&changes);
        assert_eq!(accumulator.root(), expected.root());
        assert_eq!(expected.root(), expected.recompute_root());
    }

    #[test]
    fn empty_account_is_absent() {
        let base = MemState::default();
        let mut overlay = Overlay::new(&base);
        overlay
            .set_account(&account(1), AccountRecord::default())
            .unwrap();
        let (changes, acc) = overlay.finish().unwrap();
        assert!(changes.is_empty());
        assert_eq!(acc.root(), base.root());
    }

    #[test]
    fn diff_view_reverts_and_applies() {
        let mut base = MemState::default();
        let key = StateKey::Account(account(1));
        let v = |balance| StateValue::Account(AccountRecord { balance, nonce: 0 });
        base.insert(key, v(3));
        let original_root = base.root();
        let block_a = vec![StateChange {
            key,
            before: Some(v(1)),
            after: Some(v(3)),
        }];
        let mut view = DiffView::new(&base).unwrap();
        view.revert(&block_a);
        assert_eq!(view.get(&key).unwrap(), Some(v(1)));
        let mut expected = MemState::default();
        expected.insert(key, v(1));
        assert_eq!(view.accumulator().unwrap().root(), expected.root());

        let other = StateKey::Account(account(2));
        let block_b = vec![StateChange {
            key: other,
            before: None,
            after: Some(v(9)),
        }];
        expected.apply(&block_b);
        view.apply(&block_b, &expected.accumulator().unwrap());
        let (writes, accumulator) = view.into_writes();
        assert_eq!(writes, vec![(key, Some(v(1))), (other, Some(v(9)))]);
        assert_eq!(accumulator.root(), expected.root());
        assert_ne!(accumulator.root(), original_root);
    }

    #[test]
    fn refill_caps_at_capacity() {
        let mut device = DeviceRecord::registered(1000, 0);
        device.upload_budget = 0;
        device.download_budget = 900;
        device.refill(100, 1000, 2500);
        assert_eq!(device.upload_budget, 250);
        assert_eq!(device.download_budget, 1000);
        assert_eq!(device.refilled_at_ms, 2500);
    }

    #[test]
    fn frequent_refills_do_not_starve_a_slow_bucket() {
        // 1 byte/s, refilled every 300 ms for 10 s: exactly 10 bytes, never more.
        let mut device = DeviceRecord::registered(100, 0);
        device.upload_budget = 0;
        device.download_budget = 0;
        for step in 1..=34u64 {
            device.refill(1, 100, step * 300);
        }
        assert_eq!(device.upload_budget, 10);
        assert!(device.refilled_at_ms <= 34 * 300);
    }
}
