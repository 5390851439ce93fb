//! The LtHash accumulator behind the state root (see the `state` module
//! docs for the construction).

use std::sync::{Arc, Mutex, PoisonError};

use sha2::{Digest, Sha256};

use super::{StateChange, StateKey, StateValue};
use crate::primitives::codec::encode;
use crate::primitives::{FastMap, Hash};

mod compress;

use compress::{compress_from_iv, WAYS};

const STATE_ENTRY_DOMAIN: &[u8] = b"bwchain/state/v1";
const STATE_ROOT_DOMAIN: &[u8] = b"bwchain/state-root/v1";
/// Fewest changed entries for which [`LtHash::apply_changes`] starts
/// threads (an expansion takes a few microseconds).
const PARALLEL_CHANGES: usize = 512;
/// Number of 16-bit lanes in the accumulator (2 KiB).
pub const LTHASH_LANES: usize = 1024;

/// The LtHash accumulator of a state (see the module docs).
#[derive(Clone, PartialEq, Eq)]
pub struct LtHash(pub Box<[u16; LTHASH_LANES]>);

impl std::fmt::Debug for LtHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LtHash(root {})", self.root())
    }
}

impl Default for LtHash {
    fn default() -> Self {
        Self(Box::new([0u16; LTHASH_LANES]))
    }
}

/// The lanes of recently added entries, by their digest: an account or a
/// device that changes in one block usually changes in the next, and its
/// old value's lanes (to remove) are then the ones added the block before.
/// That saves over a quarter of a busy block's expansions. Sessions are
/// not kept: most change once. Bounded: two generations of at most
/// `CAPACITY` entries (2 KiB each); the older is dropped when the newer
/// fills.
#[derive(Default)]
pub struct LanesMemo {
    inner: Mutex<MemoGenerations>,
}

#[derive(Default)]
struct MemoGenerations {
    newer: FastMap<[u8; 32], Arc<Lanes>>,
    older: FastMap<[u8; 32], Arc<Lanes>>,
}

type Lanes = [u16; LTHASH_LANES];

impl LanesMemo {
    /// Entries per generation: the accounts and devices a large block
    /// changes, twice over.
    const CAPACITY: usize = 8_192;

    fn lock(&self) -> std::sync::MutexGuard<'_, MemoGenerations> {
        // Every operation leaves the maps consistent.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn get(&self, digest: &[u8; 32]) -> Option<Arc<Lanes>> {
        let inner = self.lock();
        inner
            .newer
            .get(digest)
            .or_else(|| inner.older.get(digest))
            .cloned()
    }

    fn keep(&self, digest: [u8; 32], lanes: Arc<Lanes>) {
        let mut inner = self.lock();
        if inner.newer.len() >= Self::CAPACITY {
            inner.older = std::mem::take(&mut inner.newer);
        }
        inner.newer.insert(digest, lanes);
    }

    /// Entries kept (tests).
    #[cfg(test)]
    fn len(&self) -> usize {
        let inner = self.lock();
        inner.newer.len() + inner.older.len()
    }
}

/// Whether an entry's lanes are worth keeping in a [`LanesMemo`].
fn memoized(key: &StateKey) -> bool {
    !matches!(key, StateKey::Session(_))
}

/// `d` of the module docs: what an entry's lanes are expanded from.
fn entry_digest(key: &StateKey, value: &StateValue) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(STATE_ENTRY_DOMAIN);
    hasher.update(encode(key));
    hasher.update(encode(value));
    hasher.finalize().into()
}

impl LtHash {
    fn lanes(key: &StateKey, value: &StateValue) -> [u16; LTHASH_LANES] {
        Self::expand(&entry_digest(key, value))
    }

    fn expand(digest: &[u8; 32]) -> [u16; LTHASH_LANES] {
        // SHA-256(d || counter) for 64 counters. The 33-byte message always
        // pads to one block, so each output is one compression of a fixed
        // block from the initial state: the same bytes as the Digest API,
        // without its buffering, and `WAYS` compressions at a time.
        let mut block = [0u8; 64];
        block[..32].copy_from_slice(digest);
        block[33] = 0x80;
        block[56..].copy_from_slice(&(33u64 * 8).to_be_bytes());
        let mut lanes = [0u16; LTHASH_LANES];
        for (first, chunks) in lanes.chunks_exact_mut(16 * WAYS).enumerate() {
            let blocks: [[u8; 64]; WAYS] = std::array::from_fn(|way| {
                let mut block = block;
                block[32] = (first * WAYS + way) as u8;
                block
            });
            let states = compress_from_iv(&blocks);
            for (chunk, state) in chunks.chunks_exact_mut(16).zip(states) {
                for (pair, word) in chunk.chunks_exact_mut(2).zip(state) {
                    // The digest is the state words big-endian; lanes read
                    // it as little-endian u16 pairs.
                    let bytes = word.to_be_bytes();
                    pair[0] = u16::from_le_bytes([bytes[0], bytes[1]]);
                    pair[1] = u16::from_le_bytes([bytes[2], bytes[3]]);
                }
            }
        }
        lanes
    }

    pub fn add(&mut self, key: &StateKey, value: &StateValue) {
        self.add_lanes(&Self::lanes(key, value));
    }

    pub fn remove(&mut self, key: &StateKey, value: &StateValue) {
        self.remove_lanes(&Self::lanes(key, value));
    }

    fn add_lanes(&mut self, lanes: &Lanes) {
        for (acc, lane) in self.0.iter_mut().zip(lanes) {
            *acc = acc.wrapping_add(*lane);
        }
    }

    fn remove_lanes(&mut self, lanes: &Lanes) {
        for (acc, lane) in self.0.iter_mut().zip(lanes) {
            *acc = acc.wrapping_sub(*lane);
        }
    }

    /// Moves every changed entry from its value before to its value after
    /// (`remove` then `add`), expanding the entries on all cores when there
    /// are many: each thread sums its share into a delta, and the deltas
    /// are added, which gives the same lanes as one entry at a time (the
    /// lanes add modulo 2^16). The threads end before this returns.
    ///
    /// With a `memo`, the lanes of values it kept are not expanded again,
    /// and those of added accounts and devices are kept in it.
    pub fn apply_changes(&mut self, changes: &[StateChange], memo: Option<&LanesMemo>) {
        let threads = std::thread::available_parallelism().map_or(1, usize::from);
        if threads < 2 || changes.len() < PARALLEL_CHANGES {
            self.apply_changes_here(changes, memo);
            return;
        }
        let chunk = changes.len().div_ceil(threads);
        let deltas: Vec<LtHash> = std::thread::scope(|scope| {
            let handles: Vec<_> = changes
                .chunks(chunk)
                .map(|part| {
                    scope.spawn(move || {
                        let mut delta = LtHash::default();
                        delta.apply_changes_here(part, memo);
                        delta
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|handle| handle.join().expect("an LtHash thread panicked"))
                .collect()
        });
        for delta in deltas {
            for (acc, lane) in self.0.iter_mut().zip(delta.0.iter()) {
                *acc = acc.wrapping_add(*lane);
            }
        }
    }

    fn apply_changes_here(&mut self, changes: &[StateChange], memo: Option<&LanesMemo>) {
        for change in changes {
            let memo = memo.filter(|_| memoized(&change.key));
            if let Some(before) = &change.before {
                let digest = entry_digest(&change.key, before);
                match memo.and_then(|memo| memo.get(&digest)) {
                    Some(lanes) => self.remove_lanes(&lanes),
                    None => self.remove_lanes(&Self::expand(&digest)),
                }
            }
            if let Some(after) = &change.after {
                let digest = entry_digest(&change.key, after);
                let lanes = Self::expand(&digest);
                self.add_lanes(&lanes);
                if let Some(memo) = memo {
                    memo.keep(digest, Arc::new(lanes));
                }
            }
        }
    }

    pub fn root(&self) -> Hash {
        let mut hasher = Sha256::new();
        hasher.update(STATE_ROOT_DOMAIN);
        for lane in self.0.iter() {
            hasher.update(lane.to_le_bytes());
        }
        Hash(hasher.finalize().into())
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        self.0.iter().flat_map(|lane| lane.to_le_bytes()).collect()
    }

    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != 2 * LTHASH_LANES {
            return None;
        }
        let mut out = Self::default();
        for (lane, pair) in out.0.iter_mut().zip(bytes.chunks_exact(2)) {
            *lane = u16::from_le_bytes([pair[0], pair[1]]);
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::primitives::Account;
    use crate::state::{AccountRecord, SessionId};

    fn account(n: u8) -> Account {
        Account([n; 32])
    }

    #[test]
    fn apply_changes_on_threads_matches_one_at_a_time() {
        let changes: Vec<StateChange> = (0..2000u32)
            .map(|i| {
                let key = StateKey::Account(account((i % 251) as u8));
                let value = |balance: u64| {
                    StateValue::Account(AccountRecord {
                        balance,
                        ..AccountRecord::default()
                    })
                };
                StateChange {
                    key,
                    before: (i % 3 != 0).then(|| value(u64::from(i))),
                    after: (i % 5 != 0).then(|| value(u64::from(i) + 7)),
                }
            })
            .collect();
        let mut one_by_one = LtHash::default();
        one_by_one.apply_changes_here(&changes, None);
        let mut threaded = LtHash::default();
        threaded.apply_changes(&changes, None);
        assert_eq!(threaded, one_by_one);
        assert_ne!(threaded, LtHash::default());
        // With a memo, twice: the second pass removes values the first
        // added, from the memo.
        let memo = LanesMemo::default();
        let mut memoized = LtHash::default();
        memoized.apply_changes(&changes, Some(&memo));
        assert_eq!(memoized, one_by_one);
        assert!(memo.len() > 0);
        let undo: Vec<StateChange> = changes
            .iter()
            .rev()
            .map(|change| StateChange {
                key: change.key,
                before: change.after.clone(),
                after: change.before.clone(),
            })
            .collect();
        memoized.apply_changes(&undo, Some(&memo));
        assert_eq!(memoized, LtHash::default());
    }

    /// The expansion as the module docs define it, through the Digest API.
    fn lanes_by_definition(key: &StateKey, value: &StateValue) -> Vec<u16> {
        let mut hasher = Sha256::new();
        hasher.update(STATE_ENTRY_DOMAIN);
        hasher.update(encode(key));
        hasher.update(encode(value));
        let digest: [u8; 32] = hasher.finalize().into();
        (0u8..64)
            .flat_map(|counter| {
                let mut hasher = Sha256::new();
                hasher.update(digest);
                hasher.update([counter]);
                let out: [u8; 32] = hasher.finalize().into();
                out.chunks_exact(2)
                    .map(|pair| u16::from_le_bytes([pair[0], pair[1]]))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    #[test]
    fn fast_expansion_matches_the_definition() {
        let entries = [
            (StateKey::Config, StateValue::Config(Hash([5; 32]))),
            (
                StateKey::Account(account(3)),
                StateValue::Account(AccountRecord {
                    balance: 9,
                    nonce: 2,
                }),
            ),
            (
                StateKey::Session(SessionId {
                    provider: account(1),
                    consumer: account(2),
                    session: u64::MAX,
                }),
                StateValue::Session(77),
            ),
        ];
        for (key, value) in entries {
            assert_eq!(
                LtHash::lanes(&key, &value).to_vec(),
                lanes_by_definition(&key, &value)
            );
        }
    }
}
