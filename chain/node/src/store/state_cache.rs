//! The head state's recently used entries, in memory, in front of sled.
//!
//! A transaction's entries are read several times on their way into a
//! block: by admission's cheap checks, by its full check, by the block
//! builder, and by the mempool pruning after the commit. Each sled read
//! walks the tree and decodes; a hit here is a hash lookup. Only accounts
//! and devices are cached (see [`caches`]); absent ones too.
//!
//! Bounded by two generations of plain hash maps rather than a
//! least-recently-used list: a hit is one lookup, without relinking the
//! entry (which wrote to three scattered entries on every read, from the
//! admission threads and the block builder at once, and cost 4% of a
//! busy node's CPU). New and refreshed entries go into the newer
//! generation; when it is full, the older one is dropped and the newer
//! takes its place; a hit in the older one is copied into the newer. So
//! an entry used within the last generation stays.
//!
//! Coherence with commits ([`StateCache::begin_commit`],
//! [`StateCache::end_commit`]): a commit first drops the entries it is
//! about to change and bumps the epoch, writes sled, then stores the new
//! values and bumps the epoch again. A reader that missed fills the cache
//! only if no epoch bump happened since it started reading sled, so a value
//! read before or during a commit is never cached after it.

use std::sync::{Mutex, MutexGuard, PoisonError};

use bwchain_core::primitives::FastMap;
use bwchain_core::state::{StateKey, StateValue};

/// Entries kept: the devices and accounts of a busy chain, in each of the
/// two generations. About 130 bytes each, so some 16 MiB at most.
pub const CAPACITY: usize = 65_536;

/// Whether entries of this kind are cached: accounts and devices (each
/// read for every transaction that names them, a working set of the
/// chain's active devices) and the two singletons. Sessions are not: most
/// are read once or twice, a block's worth of them would flush the cache,
/// and the bookkeeping cost more than the reads it saved (measured).
pub fn caches(key: &StateKey) -> bool {
    !matches!(key, StateKey::Session(_))
}

/// A bounded map of state entries, `None` for an absent entry.
pub struct StateCache {
    inner: Mutex<Inner>,
}

type Entries = FastMap<StateKey, Option<StateValue>>;

struct Inner {
    /// Bumped when a commit begins and when it ends.
    epoch: u64,
    /// Entries per generation.
    capacity: usize,
    newer: Entries,
    older: Entries,
}

impl Inner {
    fn put(&mut self, key: StateKey, value: Option<StateValue>) {
        if self.newer.len() >= self.capacity && !self.newer.contains_key(&key) {
            self.older = std::mem::take(&mut self.newer);
        }
        self.older.remove(&key);
        self.newer.insert(key, value);
    }
}

/// What a reader that missed must show to fill the cache.
#[derive(Debug, Clone, Copy)]
pub struct Miss {
    epoch: u64,
}

impl StateCache {
    pub fn new(capacity: usize) -> Self {
        Self {
            inner: Mutex::new(Inner {
                epoch: 0,
                capacity: capacity.max(1),
                newer: Entries::default(),
                older: Entries::default(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every operation leaves the maps consistent; a panic elsewhere
        // cannot tear them.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The cached entry (`Ok(None)` when cached absent), or the ticket to
    /// fill it after reading sled.
    pub fn get(&self, key: &StateKey) -> Result<Option<StateValue>, Miss> {
        let mut inner = self.lock();
        if let Some(value) = inner.newer.get(key) {
            return Ok(value.clone());
        }
        match inner.older.remove(key) {
            Some(value) => {
                inner.put(*key, value.clone());
                Ok(value)
            }
            None => Err(Miss { epoch: inner.epoch }),
        }
    }

    /// Caches what a reader found in sled after `miss`, unless a commit
    /// began since.
    pub fn fill(&self, miss: Miss, key: StateKey, value: Option<StateValue>) {
        let mut inner = self.lock();
        if inner.epoch == miss.epoch {
            inner.put(key, value);
        }
    }

    /// Before a commit writes sled: forgets the entries it changes.
    pub fn begin_commit<'a>(&self, keys: impl IntoIterator<Item = &'a StateKey>) {
        let mut inner = self.lock();
        inner.epoch += 1;
        for key in keys {
            inner.newer.remove(key);
            inner.older.remove(key);
        }
    }

    /// After the commit's sled write succeeded: caches the written values.
    /// After a failed write nothing is cached (the next reads go to sled).
    pub fn end_commit<'a>(
        &self,
        writes: impl IntoIterator<Item = (&'a StateKey, &'a Option<StateValue>)>,
    ) {
        let mut inner = self.lock();
        inner.epoch += 1;
        for (key, value) in writes {
            inner.put(*key, value.clone());
        }
    }

    /// Entries cached.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        let inner = self.lock();
        inner.newer.len() + inner.older.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bwchain_core::primitives::Account;
    use bwchain_core::state::AccountRecord;

    fn account(n: u8) -> StateKey {
        StateKey::Account(Account([n; 32]))
    }

    fn value(balance: u64) -> Option<StateValue> {
        Some(StateValue::Account(AccountRecord { balance, nonce: 0 }))
    }

    #[test]
    fn a_fill_after_a_commit_began_is_dropped() {
        let cache = StateCache::new(16);
        let miss = cache.get(&account(1)).unwrap_err();
        // A commit changes the entry while the reader is in sled.
        cache.begin_commit([&account(1)]);
        cache.fill(miss, account(1), value(1));
        assert!(cache.get(&account(1)).is_err(), "a stale read was cached");
        cache.end_commit([(&account(1), &value(2))]);
        assert_eq!(cache.get(&account(1)).unwrap(), value(2));
    }

    #[test]
    fn fills_hits_and_absent_entries() {
        let cache = StateCache::new(16);
        let miss = cache.get(&account(1)).unwrap_err();
        cache.fill(miss, account(1), None);
        assert_eq!(cache.get(&account(1)).unwrap(), None);
        let miss = cache.get(&account(2)).unwrap_err();
        cache.fill(miss, account(2), value(7));
        assert_eq!(cache.get(&account(2)).unwrap(), value(7));
        assert_eq!(cache.len(), 2);
    }

    #[test]
    fn a_failed_commit_forgets_the_entries_it_was_changing() {
        let cache = StateCache::new(16);
        let miss = cache.get(&account(1)).unwrap_err();
        cache.fill(miss, account(1), value(1));
        cache.begin_commit([&account(1)]);
        // The write failed: no end_commit.
        assert!(cache.get(&account(1)).is_err());
    }

    #[test]
    fn bounded_and_keeps_what_was_used_within_a_generation() {
        let cache = StateCache::new(2);
        let fill = |n: u8| {
            let miss = cache.get(&account(n)).unwrap_err();
            cache.fill(miss, account(n), value(n.into()));
        };
        fill(1);
        fill(2);
        // The newer generation is full: 1 and 2 become the older one.
        fill(3);
        assert_eq!(cache.len(), 3);
        // A hit in the older generation moves 1 into the newer (3, 1).
        assert_eq!(cache.get(&account(1)).unwrap(), value(1));
        // Full again: 3 and 1 become the older one; 2 is dropped.
        fill(4);
        assert_eq!(cache.len(), 3);
        assert!(cache.get(&account(2)).is_err(), "the unused entry stayed");
        for n in [3, 1, 4] {
            assert_eq!(cache.get(&account(n)).unwrap(), value(n.into()));
        }
        // A commit's write replaces the value in whichever generation.
        cache.begin_commit([&account(3)]);
        assert!(cache.get(&account(3)).is_err());
        cache.end_commit([(&account(3), &value(30))]);
        assert_eq!(cache.get(&account(3)).unwrap(), value(30));
        assert!(cache.len() <= 4);
    }
}
