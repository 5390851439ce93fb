//! The store's view of sled, with a large commit applied in the background.
//!
//! A block of thousands of transactions is tens of thousands of sled
//! inserts, 150-250 ms on one core: as long as building the block took.
//! Done in the producer's path, building and writing alternate and the
//! slot holds about half the block it could. So a large commit is made
//! durable by its redo record (flushed, see `writes.rs`), and its writes are
//! then applied by a thread of their own while the node goes on (the next
//! block is built meanwhile). Until that thread is done, the commit's
//! writes are kept in memory, and every read of a key looks there first:
//! a reader sees the whole commit from the moment its record is flushed.
//!
//! What waits for the applier ([`Kv::settle`]): the next commit; a scan
//! over a range the commit writes into (sled's iterators cannot see the
//! writes held in memory); and a direct write of a key the commit also
//! writes (the applier would otherwise overwrite it with the older value;
//! a commit does not start while a direct write is made, so none can slip
//! in between). Other writes and reads go on. A write error in the applier
//! stops the store's writes as any other does, and the writes stay
//! readable from memory; the record completes the commit when the store is
//! next opened.
//!
//! Every write (direct or a commit's) tells the key filter of the keys it
//! stores before any reader can see them, and every write is made under
//! the applier's lock; so a `get` may ask the filter first, and the filter
//! is replaced only at a commit, when sled holds every write made so far
//! (`key_filter.rs`).

use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::thread::JoinHandle;

use bwchain_core::primitives::FastMap;
use sled::IVec;

use super::key_filter::KeyFilter;
use super::writes::{PendingCommit, Writes};
use super::{StoreError, META_PENDING_COMMIT};

/// A commit's writes while the applier thread applies them.
#[derive(Debug)]
struct InFlight {
    /// The value each key will have (`None`: removed).
    writes: FastMap<IVec, Option<IVec>>,
    /// The first bytes of those keys (0 for the empty key, which sorts
    /// first), for deciding cheaply whether a range can hold one.
    first_bytes: [bool; 256],
}

impl InFlight {
    fn new(record: &PendingCommit) -> Self {
        let mut writes = FastMap::with_capacity_and_hasher(
            record.bulk.len() + record.last.len(),
            Default::default(),
        );
        let mut first_bytes = [false; 256];
        for (key, value) in record.bulk.ops().iter().chain(record.last.ops()) {
            first_bytes[key.first().map_or(0, |first| usize::from(*first))] = true;
            writes.insert(key.clone(), value.clone());
        }
        Self {
            writes,
            first_bytes,
        }
    }

    /// Whether some key of the commit starts with a byte in `first..=last`.
    fn may_touch(&self, first: u8, last: u8) -> bool {
        first <= last
            && self.first_bytes[usize::from(first)..=usize::from(last)]
                .iter()
                .any(|touched| *touched)
    }
}

type Slot = Arc<RwLock<Option<Arc<InFlight>>>>;
type Failure = Arc<Mutex<Option<String>>>;

/// The applier thread of the commit in flight, joined when the last handle
/// on the store is dropped. Its lock also orders commits and the direct
/// writes of keys a commit writes: each is done whole under it.
#[derive(Default)]
struct Applier(Mutex<Option<JoinHandle<()>>>);

type Thread<'a> = std::sync::MutexGuard<'a, Option<JoinHandle<()>>>;

impl Applier {
    fn lock(&self) -> Thread<'_> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits for the applier thread, if one runs.
    fn join(&self) {
        // Held while joining, so that a second caller waits too.
        join(&mut self.lock());
    }
}

/// Waits for the applier thread held by `thread`, if any.
fn join(thread: &mut Thread<'_>) {
    if let Some(thread) = thread.take() {
        if thread.join().is_err() {
            tracing::error!("the block commit thread panicked");
        }
    }
}

impl Drop for Applier {
    fn drop(&mut self) {
        self.join();
    }
}

/// sled, with the commit in flight (if any) in front of it. Cheap to
/// clone; all clones share one database.
#[derive(Clone)]
pub(super) struct Kv {
    db: sled::Db,
    in_flight: Slot,
    applier: Arc<Applier>,
    /// The first write error, once one happened: every write is then
    /// refused (fail-stop; the node exits, see `launch`).
    failure: Failure,
    /// Which keys under the filtered prefix were ever written.
    filter: Arc<KeyFilter>,
}

impl Kv {
    /// `db`, with reads of keys under `filtered` that were never written
    /// answered from a filter (`key_filter.rs`) once
    /// [`Kv::start_filter`] has filled it.
    pub(super) fn new(db: sled::Db, filtered: u8) -> Self {
        Self {
            db,
            in_flight: Arc::default(),
            applier: Arc::default(),
            failure: Arc::default(),
            filter: Arc::new(KeyFilter::new(filtered)),
        }
    }

    /// Starts filling the key filter from what sled holds. Called once
    /// the store is open, before any write.
    pub(super) fn start_filter(&self) {
        let _no_writes = self.applier.lock();
        self.filter.rebuild(&self.db);
    }

    /// Waits until the key filter answers (tests).
    #[cfg(test)]
    pub(super) fn wait_filter(&self) {
        self.filter.wait_ready();
    }

    fn in_flight(&self) -> Option<Arc<InFlight>> {
        self.in_flight
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The value of `key`, the commit in flight's if it writes it.
    pub(super) fn get(&self, key: impl AsRef<[u8]>) -> sled::Result<Option<IVec>> {
        let key = key.as_ref();
        // A key never written is in neither place (the filter hears of a
        // commit's keys before it is published).
        if !self.filter.may_hold(key) {
            return Ok(None);
        }
        if let Some(in_flight) = self.in_flight() {
            if let Some(value) = in_flight.writes.get(key) {
                return Ok(value.clone());
            }
        }
        self.db.get(key)
    }

    /// Waits until the commit in flight, if any, is applied.
    pub(super) fn settle(&self) {
        self.applier.join();
    }

    /// Settles first if the commit in flight writes a key that starts with
    /// a byte in `first..=last`.
    fn settle_for_range(&self, first: u8, last: u8) {
        if self
            .in_flight()
            .is_some_and(|in_flight| in_flight.may_touch(first, last))
        {
            self.settle();
        }
    }

    /// Entries whose key starts with `prefix`, in order.
    pub(super) fn scan_prefix(&self, prefix: impl AsRef<[u8]>) -> sled::Iter {
        let prefix = prefix.as_ref();
        match prefix.first() {
            Some(first) => self.settle_for_range(*first, *first),
            None => self.settle(),
        }
        self.db.scan_prefix(prefix)
    }

    /// Entries with keys in `start..end`, in order.
    pub(super) fn range(&self, start: Vec<u8>, end: Option<Vec<u8>>) -> sled::Iter {
        let first = start.first().copied().unwrap_or(0);
        // The end is excluded: an end of one byte holds none of its keys.
        let last = match end.as_deref() {
            None => u8::MAX,
            Some([only]) => only.saturating_sub(1),
            Some(end) => end.first().copied().unwrap_or(0),
        };
        self.settle_for_range(first, last);
        match end {
            Some(end) => self.db.range(start..end),
            None => self.db.range(start..),
        }
    }

    pub(super) fn size_on_disk(&self) -> sled::Result<u64> {
        self.db.size_on_disk()
    }

    /// The first write error, if one happened (the store writes no more).
    pub(super) fn write_failure(&self) -> Option<String> {
        self.failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Runs one write: refused once a write has failed, and remembers the
    /// first failure.
    fn write<T>(&self, op: impl FnOnce() -> sled::Result<T>) -> Result<T, StoreError> {
        if let Some(failure) = self.write_failure() {
            return Err(StoreError::WritesStopped(failure));
        }
        op().map_err(|error| {
            record_failure(&self.failure, &error);
            StoreError::Io(error)
        })
    }

    /// Runs a write to a file of the store's other than sled's, under the
    /// same rule as sled's writes: refused once a write has failed, and
    /// its own failure stops the writes that would follow.
    pub(super) fn write_outside<T>(
        &self,
        op: impl FnOnce() -> std::io::Result<T>,
    ) -> Result<T, StoreError> {
        self.write(|| op().map_err(sled::Error::Io))
    }

    /// Applies `writes` atomically, unflushed. Waits first for the commit
    /// in flight if it writes one of the keys, so that its applier does not
    /// overwrite them with older values; and no commit starts meanwhile.
    pub(super) fn apply(&self, writes: Writes) -> Result<(), StoreError> {
        let mut thread = self.applier.lock();
        if let Some(in_flight) = self.in_flight() {
            if writes
                .ops()
                .iter()
                .any(|(key, _)| in_flight.writes.contains_key(key))
            {
                join(&mut thread);
            }
        }
        self.note_written(&writes);
        self.write(|| self.db.apply_batch(writes.into_batch()))
    }

    /// Tells the key filter of the keys `writes` stores, before anyone
    /// can read them.
    fn note_written(&self, writes: &Writes) {
        for (key, value) in writes.ops() {
            if value.is_some() {
                self.filter.note(key);
            }
        }
    }

    /// Applies `writes` atomically, then flushes them to disk.
    pub(super) fn apply_flushed(&self, writes: Writes) -> Result<(), StoreError> {
        self.apply(writes)?;
        self.write(|| self.db.flush().map(drop))
    }

    /// Commits `record`: once it returns, the commit is durable (its redo
    /// record is flushed) and every read sees it; its writes are applied by
    /// a thread of their own (see the module docs). Waits for the previous
    /// commit's thread first.
    pub(super) fn commit_behind(&self, record: PendingCommit) -> Result<(), StoreError> {
        let mut slot = self.applier.lock();
        join(&mut slot);
        self.write(|| self.db.insert(META_PENDING_COMMIT, record.encode()))?;
        self.write(|| self.db.flush().map(drop))?;
        // No write has failed (or the record's would have been refused), so
        // sled holds every write made so far, and none is under way: the
        // moment to replace a filter that has grown full.
        if self.filter.is_full() {
            self.filter.rebuild(&self.db);
        }
        self.note_written(&record.bulk);
        self.note_written(&record.last);
        *self
            .in_flight
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(InFlight::new(&record)));
        let db = self.db.clone();
        let in_flight = self.in_flight.clone();
        let failure = self.failure.clone();
        #[cfg(test)]
        let fail_after = super::writes::FAIL_AFTER.with(std::cell::Cell::get);
        let thread = std::thread::Builder::new()
            .name("block-commit".into())
            .spawn(move || {
                #[cfg(test)]
                super::writes::FAIL_AFTER.with(|left| left.set(fail_after));
                match finish(&db, record) {
                    // Everything is in sled: reads go there again.
                    Ok(()) => *in_flight.write().unwrap_or_else(PoisonError::into_inner) = None,
                    // The writes stay readable from memory; the record
                    // completes them when the store is opened again.
                    Err(error) => record_failure(&failure, &error),
                }
            });
        match thread {
            Ok(thread) => {
                *slot = Some(thread);
                Ok(())
            }
            Err(error) => {
                let error = sled::Error::Io(error);
                record_failure(&self.failure, &error);
                Err(StoreError::Io(error))
            }
        }
    }

    /// Completes a commit that a crash interrupted after its redo record
    /// was written: every write is replayed (they are idempotent).
    pub(super) fn finish_interrupted_commit(&self) -> Result<(), StoreError> {
        let Some(bytes) = self.db.get(META_PENDING_COMMIT)? else {
            return Ok(());
        };
        let record = PendingCommit::decode(&bytes).ok_or_else(|| {
            StoreError::Corrupt("the record of an interrupted commit is unreadable".into())
        })?;
        tracing::warn!(
            writes = record.bulk.len() + record.last.len(),
            "completing a block commit that a crash interrupted"
        );
        self.write(|| finish(&self.db, record))
    }

    /// sled itself, once the commit in flight is applied: for tests that
    /// write or inspect the database directly.
    #[cfg(test)]
    pub(super) fn sled(&self) -> &sled::Db {
        self.settle();
        &self.db
    }
}

/// Applies a redo record's writes one by one, then, atomically, its last
/// writes with the record's removal; flushed.
fn finish(db: &sled::Db, record: PendingCommit) -> sled::Result<()> {
    let PendingCommit { bulk, mut last } = record;
    bulk.apply_each(db)?;
    last.remove(META_PENDING_COMMIT);
    db.apply_batch(last.into_batch())?;
    db.flush().map(drop)
}

fn record_failure(failure: &Mutex<Option<String>>, error: &sled::Error) {
    let mut failure = failure.lock().unwrap_or_else(PoisonError::into_inner);
    if failure.is_none() {
        tracing::error!(%error, "a storage write failed: the node stops writing (free disk space, then restart it; what is stored is intact)");
        *failure = Some(error.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(dir: &std::path::Path) -> Kv {
        Kv::new(sled::Config::new().path(dir).open().unwrap(), b'Q')
    }

    fn commit_of(count: u32, value: u8) -> PendingCommit {
        let mut bulk = Writes::default();
        for n in 0..count {
            let mut key = vec![b'Q'];
            key.extend_from_slice(&n.to_be_bytes());
            bulk.insert(key, vec![value; 8]);
        }
        let mut last = Writes::default();
        last.insert(&b"Mhead"[..], vec![value; 32]);
        PendingCommit { bulk, last }
    }

    /// Once `commit_behind` returns, every read sees the whole commit: a
    /// get from memory while the applier runs, a scan of a range it writes
    /// after waiting for it; and a scan of another range does not wait.
    #[test]
    fn reads_see_a_commit_in_flight_whole() {
        let dir = tempfile::tempdir().unwrap();
        let kv = open(dir.path());
        let count = 20_000;
        kv.commit_behind(commit_of(count, 1)).unwrap();
        assert_eq!(kv.get(b"Mhead").unwrap().unwrap().as_ref(), &[1; 32]);
        let last = [&[b'Q'][..], &(count - 1).to_be_bytes()].concat();
        assert_eq!(kv.get(&last).unwrap().unwrap().as_ref(), &[1; 8]);
        assert_eq!(kv.scan_prefix([b'C']).count(), 0);
        assert_eq!(kv.range(vec![b'P'], Some(vec![b'Q'])).count(), 0);
        assert_eq!(kv.range(vec![b'R'], Some(vec![b'Q'])).count(), 0);
        assert_eq!(kv.scan_prefix([b'Q']).count(), count as usize);
        // The next commit replaces every value; then nothing is in flight.
        kv.commit_behind(commit_of(count, 2)).unwrap();
        assert!(kv
            .scan_prefix([b'Q'])
            .all(|entry| entry.unwrap().1.as_ref() == [2; 8]));
        kv.settle();
        assert!(kv.in_flight().is_none());
        assert_eq!(kv.db.get(META_PENDING_COMMIT).unwrap(), None);
        assert_eq!(kv.db.get(b"Mhead").unwrap().unwrap().as_ref(), &[2; 32]);
    }

    /// A direct write of a key the commit in flight also writes waits for
    /// it, so the applier cannot overwrite it with the older value.
    #[test]
    fn a_write_of_a_key_in_flight_lands_after_the_commit() {
        let dir = tempfile::tempdir().unwrap();
        let kv = open(dir.path());
        kv.commit_behind(commit_of(20_000, 1)).unwrap();
        let mut write = Writes::default();
        write.insert(&b"Mhead"[..], vec![7; 32]);
        kv.apply_flushed(write).unwrap();
        kv.settle();
        assert_eq!(kv.get(b"Mhead").unwrap().unwrap().as_ref(), &[7; 32]);
        assert_eq!(kv.db.get(b"Mhead").unwrap().unwrap().as_ref(), &[7; 32]);
    }

    /// Once the key filter is filled, a key under its prefix that was
    /// never written is answered absent without reading sled, and every
    /// key that was written is found: one sled held before the filter was
    /// filled, a commit's while in flight and after, a direct write's.
    #[test]
    fn the_key_filter_answers_only_for_keys_never_written() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::Config::new().path(dir.path()).open().unwrap();
        db.insert(b"Qheld before", &[9]).unwrap();
        let kv = Kv::new(db, b'Q');
        kv.start_filter();
        kv.wait_filter();
        assert_eq!(kv.get(b"Qheld before").unwrap().unwrap().as_ref(), &[9]);
        let count = 20_000;
        kv.commit_behind(commit_of(count, 1)).unwrap();
        let key = |n: u32| [&[b'Q'][..], &n.to_be_bytes()].concat();
        assert!((0..count).all(|n| kv.get(key(n)).unwrap().is_some()));
        kv.settle();
        assert!((0..count).all(|n| kv.get(key(n)).unwrap().is_some()));
        let mut write = Writes::default();
        write.insert(&b"Qdirect"[..], vec![3]);
        kv.apply(write).unwrap();
        assert_eq!(kv.get(b"Qdirect").unwrap().unwrap().as_ref(), &[3]);
        // Keys put into sled behind the store's back are not seen under the
        // filtered prefix (the filter answered; all but its ~1% of false
        // positives), and are seen under another.
        let behind = |prefix: u8, n: u32| [&[prefix][..], b"behind", &n.to_be_bytes()].concat();
        for n in 0..100 {
            kv.db.insert(behind(b'Q', n), &[5]).unwrap();
            kv.db.insert(behind(b'M', n), &[5]).unwrap();
        }
        let seen = |prefix| {
            (0..100)
                .filter(|n| kv.get(behind(prefix, *n)).unwrap().is_some())
                .count()
        };
        assert!(seen(b'Q') < 20, "{} of 100 seen", seen(b'Q'));
        assert_eq!(seen(b'M'), 100);
    }
}
