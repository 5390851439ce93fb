//! A Bloom filter of the stored keys under one prefix (the sessions'), so
//! that a read of a key that was never stored skips sled.
//!
//! Nearly every claim names a session the chain has not seen, and both
//! admission and the block builder read its counter: two sled lookups of
//! an absent key per receipt, 3-4 µs each on a large tree, about a tenth
//! of a busy node's CPU. A filter answers "never stored" in well under a
//! microsecond. It can answer "maybe" for a key that is absent (about 1%
//! of them, or a key removed since): sled is then read as before. It never
//! answers "absent" for a stored key, by these rules, which [`super::kv`]
//! keeps:
//!
//! - Every write of a key under the prefix is noted here before any reader
//!   can see it (before its batch is applied, before its commit is
//!   published).
//! - The filter answers only once it is *ready*: it has noted every key
//!   sled held when it was created, by a scan on a thread of its own
//!   (until then, every read goes to sled). It is created when the store
//!   opens, and again, twice as large, when more distinct keys were noted
//!   than it was sized for (its false positives would grow); a new one is
//!   created only while no commit is in flight and no write is under way,
//!   so sled then holds every key noted before it.
//!
//! Memory: about 1.2 bytes per stored session (at least 1.2 MiB).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::thread::JoinHandle;

use bwchain_core::primitives::FastHasher;
use fastbloom::AtomicBloomFilter;

/// Fewest keys a filter is sized for.
const MIN_CAPACITY: usize = 1 << 20;
/// The share of absent keys the filter answers "maybe" for.
const FALSE_POSITIVES: f64 = 0.01;

/// One filter, sized for `capacity` keys.
struct Generation {
    filter: AtomicBloomFilter<FastHasher>,
    capacity: usize,
    /// Distinct keys noted (as far as the filter can tell).
    keys: AtomicUsize,
    /// Set once the scan of what sled held has finished.
    ready: AtomicBool,
}

impl Generation {
    fn new(capacity: usize) -> Self {
        Self {
            filter: AtomicBloomFilter::with_false_pos(FALSE_POSITIVES)
                .hasher(FastHasher::default())
                .expected_items(capacity),
            capacity,
            keys: AtomicUsize::new(0),
            ready: AtomicBool::new(false),
        }
    }

    fn note(&self, key: &[u8]) {
        if !self.filter.insert(key) {
            self.keys.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The scan that fills a new filter from sled.
struct Scan {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

/// The filter of stored keys that start with `prefix` (see the module docs).
pub(super) struct KeyFilter {
    prefix: u8,
    /// Fewest keys a filter is sized for ([`MIN_CAPACITY`] but in tests).
    min_capacity: usize,
    current: RwLock<Arc<Generation>>,
    scan: Mutex<Option<Scan>>,
}

impl KeyFilter {
    /// A filter that answers nothing until [`KeyFilter::rebuild`] has run.
    pub(super) fn new(prefix: u8) -> Self {
        Self::sized(prefix, MIN_CAPACITY)
    }

    fn sized(prefix: u8, min_capacity: usize) -> Self {
        Self {
            prefix,
            min_capacity,
            current: RwLock::new(Arc::new(Generation::new(min_capacity))),
            scan: Mutex::new(None),
        }
    }

    fn current(&self) -> Arc<Generation> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn covers(&self, key: &[u8]) -> bool {
        key.first() == Some(&self.prefix)
    }

    /// Notes a key about to be written (anything but a removal).
    pub(super) fn note(&self, key: &[u8]) {
        if self.covers(key) {
            self.current().note(key);
        }
    }

    /// False only if `key` was certainly never written.
    pub(super) fn may_hold(&self, key: &[u8]) -> bool {
        if !self.covers(key) {
            return true;
        }
        let generation = self.current();
        !generation.ready.load(Ordering::Acquire) || generation.filter.contains(key)
    }

    /// Whether the filter is ready and more distinct keys were noted than
    /// it is sized for. (A filter still filling is left to finish: its
    /// count then sizes the next one.)
    pub(super) fn is_full(&self) -> bool {
        let generation = self.current();
        generation.ready.load(Ordering::Acquire)
            && generation.keys.load(Ordering::Relaxed) > generation.capacity
    }

    /// Starts a new filter (twice as large as the keys noted so far, at
    /// least [`MIN_CAPACITY`]) and the scan that fills it from `db`. The
    /// caller guarantees that `db` holds every key noted so far and that no
    /// write is under way.
    pub(super) fn rebuild(&self, db: &sled::Db) {
        self.stop_scan();
        let noted = self.current().keys.load(Ordering::Relaxed);
        let capacity = noted.saturating_mul(2).max(self.min_capacity);
        let generation = Arc::new(Generation::new(capacity));
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = generation.clone();
        let stop = Arc::new(AtomicBool::new(false));
        let scan = std::thread::Builder::new()
            .name("key-filter".into())
            .spawn({
                let db = db.clone();
                let stop = stop.clone();
                let prefix = self.prefix;
                move || fill(&db, prefix, &generation, &stop)
            });
        match scan {
            Ok(thread) => {
                *self.scan.lock().unwrap_or_else(PoisonError::into_inner) =
                    Some(Scan { stop, thread })
            }
            // The filter stays unready: every read goes to sled.
            Err(error) => tracing::warn!(%error, "cannot start the session filter's scan"),
        }
    }

    /// Stops the scan in progress, if any, and waits for its thread.
    fn stop_scan(&self) {
        let scan = self
            .scan
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(scan) = scan {
            scan.stop.store(true, Ordering::Relaxed);
            if scan.thread.join().is_err() {
                tracing::error!("the session filter's scan panicked");
            }
        }
    }

    /// Waits until the current filter is ready (tests).
    #[cfg(test)]
    pub(super) fn wait_ready(&self) {
        while !self.current().ready.load(Ordering::Acquire) {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }
}

impl Drop for KeyFilter {
    fn drop(&mut self) {
        self.stop_scan();
    }
}

/// Notes every key under `prefix` that `db` holds, then marks the filter
/// ready; gives up, leaving it unready, when told to stop or sled fails.
fn fill(db: &sled::Db, prefix: u8, generation: &Generation, stop: &AtomicBool) {
    for (scanned, entry) in db.scan_prefix([prefix]).keys().enumerate() {
        if scanned % 4096 == 0 && stop.load(Ordering::Relaxed) {
            return;
        }
        match entry {
            Ok(key) => generation.note(&key),
            Err(error) => {
                tracing::warn!(%error, "the session filter's scan failed; sessions are read from disk");
                return;
            }
        }
    }
    generation.ready.store(true, Ordering::Release);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_only_when_ready_and_never_misses_a_noted_key() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::Config::new().path(dir.path()).open().unwrap();
        let stored: Vec<Vec<u8>> = (0u32..5000)
            .map(|i| [&[b'Q'][..], &i.to_be_bytes()].concat())
            .collect();
        for key in &stored {
            db.insert(key, &[1]).unwrap();
        }
        let filter = KeyFilter::new(b'Q');
        let absent = [&[b'Q'][..], &9_999_999u32.to_be_bytes()].concat();
        // Not ready yet: every key may be held.
        assert!(filter.may_hold(&absent));
        filter.rebuild(&db);
        filter.wait_ready();
        assert!(stored.iter().all(|key| filter.may_hold(key)));
        // Keys under another prefix are never filtered.
        assert!(filter.may_hold(b"Xanything"));
        // Of 10 000 absent keys, about 1% are "maybe".
        let maybe = (10_000u32..20_000)
            .filter(|i| filter.may_hold(&[&[b'Q'][..], &i.to_be_bytes()].concat()))
            .count();
        assert!(maybe < 500, "{maybe} false positives of 10000");
        // A key noted after the scan is held.
        filter.note(&absent);
        assert!(filter.may_hold(&absent));
    }

    #[test]
    fn grows_when_full_and_keeps_every_key() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::Config::new().path(dir.path()).open().unwrap();
        let filter = KeyFilter::sized(b'Q', 1000);
        filter.rebuild(&db);
        filter.wait_ready();
        // A tenth over capacity: a full filter takes some new keys for
        // ones it holds, so it counts a little under the keys noted.
        let keys: Vec<Vec<u8>> = (0..1100u32)
            .map(|i| [&[b'Q'][..], &i.to_be_bytes()].concat())
            .collect();
        let mut batch = sled::Batch::default();
        for key in &keys {
            filter.note(key);
            batch.insert(key.as_slice(), &[1]);
        }
        db.apply_batch(batch).unwrap();
        assert!(filter.is_full());
        filter.rebuild(&db);
        filter.wait_ready();
        assert!(!filter.is_full());
        assert!(filter.current().capacity >= 2000);
        assert!(keys.iter().all(|key| filter.may_hold(key)));
    }
}
