//! The head state's recently used entries, in memory, in front of sled.
//!
//! A transaction's entries are read several times on their way into a
//! block: by admission's cheap checks, by its full check, by the block
//! builder, and by the mempool pruning after the commit. Each sled read
//! walks the tree and decodes; a hit here is a hash lookup. Only accounts
//! and devices are cached (see [`caches`]); absent ones too.
//!
//! Coherence with commits ([`StateCache::begin_commit`],
//! [`StateCache::end_commit`]): a commit first drops the entries it is
//! about to change and bumps the epoch, writes sled, then stores the new
//! values and bumps the epoch again. A reader that missed fills the cache
//! only if no epoch bump happened since it started reading sled, so a value
//! read before or during a commit is never cached after it.

use std::num::NonZeroUsize;
use std::sync::{Mutex, MutexGuard, PoisonError};

use bwchain_core::state::{StateKey, StateValue};
use lru::LruCache;

/// Entries kept: the devices and accounts of a busy chain. About 150
/// bytes each with the LRU's links, so some 10 MiB.
pub const CAPACITY: usize = 65_536;

/// Whether entries of this kind are cached: accounts and devices (each
/// read for every transaction that names them, a working set of the
/// chain's active devices) and the two singletons. Sessions are not: most
/// are read once or twice, a block's worth of them would flush the cache,
/// and the bookkeeping cost more than the reads it saved (measured).
pub fn caches(key: &StateKey) -> bool {
    !matches!(key, StateKey::Session(_))
}

/// A bounded LRU map of state entries, `None` for an absent entry.
pub struct StateCache {
    inner: Mutex<Inner>,
}

struct Inner {
    /// Bumped before and after every commit's sled write.
    epoch: u64,
    entries: LruCache<StateKey, Option<StateValue>>,
}

/// What a reader that missed must show to fill the cache.
#[derive(Debug, Clone, Copy)]
pub struct Miss {
    epoch: u64,
}

impl StateCache {
    pub fn new(capacity: usize) -> Self {
        let capacity = NonZeroUsize::new(capacity).unwrap_or(NonZeroUsize::MIN);
        Self {
            inner: Mutex::new(Inner {
                epoch: 0,
                entries: LruCache::new(capacity),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every operation leaves the map consistent; a panic elsewhere
        // cannot tear it.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The cached entry (`Ok(None)` when cached absent), or the ticket to
    /// fill it after reading sled.
    pub fn get(&self, key: &StateKey) -> Result<Option<StateValue>, Miss> {
        let mut inner = self.lock();
        match inner.entries.get(key) {
            Some(value) => Ok(value.clone()),
            None => Err(Miss { epoch: inner.epoch }),
        }
    }

    /// Caches what a reader found in sled after `miss`, unless a commit
    /// began since.
    pub fn fill(&self, miss: Miss, key: StateKey, value: Option<StateValue>) {
        let mut inner = self.lock();
        if inner.epoch == miss.epoch {
            inner.entries.put(key, value);
        }
    }

    /// Before a commit writes sled: forgets the entries it changes.
    pub fn begin_commit<'a>(&self, keys: impl IntoIterator<Item = &'a StateKey>) {
        let mut inner = self.lock();
        inner.epoch += 1;
        for key in keys {
            inner.entries.pop(key);
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
            inner.entries.put(*key, value.clone());
        }
    }

    /// Entries cached.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.lock().entries.len()
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
    fn bounded_least_recently_used_first() {
        let cache = StateCache::new(2);
        for n in 1..=3 {
            let miss = cache.get(&account(n)).unwrap_err();
            cache.fill(miss, account(n), value(n.into()));
        }
        assert_eq!(cache.len(), 2);
        assert!(cache.get(&account(1)).is_err());
        assert_eq!(cache.get(&account(3)).unwrap(), value(3));
    }
}
