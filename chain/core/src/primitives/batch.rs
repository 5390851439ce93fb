//! Verifying many ed25519 signatures at once, on all cores, accepting exactly
//! the signatures that [`signing::verify`] accepts one at a time (the v2
//! rule, DESIGN.md §1). A block must be valid or invalid identically on
//! every node, however it checks signatures.
//!
//! Under the v2 rule this is simple: keys must be admissible, and single
//! and batch verification both use the cofactored equation, so the batch
//! equation of [`verify::verify_batch`] accepts a set of signatures iff each
//! is valid (but for a 2⁻¹²⁸ chance; see [`verify`]). [`Strategy::Batch`]
//! (the default) splits the items into one chunk per thread (at most
//! [`BATCH_CHUNK_MAX`] items), checks each chunk with one batch equation and,
//! when a chunk fails, checks its items one by one to find the bad ones.
//! [`Strategy::Single`] checks every item alone; it exists to compare with.
//! Either way admissible keys are decompressed once and cached.
//!
//! Pure: no I/O, clock or randomness (batch coefficients are hashed from the
//! batch). It does start threads (`std::thread::scope`) that end before each
//! call returns.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};

use crate::primitives::signing::{self, SignatureError};
use crate::primitives::verify::{self, AdmissibleKey, KeyError, Prepared};
use crate::primitives::{Account, Hash, Receipt, Signature, Tx, TxBody};

/// Items one thread takes from the shared queue at a time under
/// [`Strategy::Single`]: small enough to balance a 1 000-signature block over
/// many cores, large enough that the queue lock is never contended (one
/// signature takes tens of microseconds).
pub const SINGLE_CHUNK: usize = 16;

/// Fewest items per batch equation under [`Strategy::Batch`] (but for the
/// last chunk): below this, starting a thread costs more than it saves.
pub const BATCH_CHUNK_MIN: usize = 32;

/// Most items per batch equation under [`Strategy::Batch`]. The
/// multiscalar multiplication gets cheaper per signature as the batch grows,
/// but a failed batch costs a single check of every item in it, and chunks
/// must stay small enough to spread a large block over the cores.
pub const BATCH_CHUNK_MAX: usize = 512;

/// Batches smaller than this are checked item by item: the batch equation
/// only pays off from a few signatures on.
const BATCH_MIN_ITEMS: usize = 4;

/// Public keys a [`BatchVerifier`] keeps decompressed. A chain's devices and
/// senders are far fewer than its signatures; at about 250 bytes an entry
/// this bounds the cache near 4 MiB. A full cache is emptied and refilled,
/// not trimmed: simple, and a working set that fits never hits the bound.
pub const DEFAULT_KEY_CACHE_CAPACITY: usize = 16_384;

/// One signature to check: borrowed public key, message and signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignedItem<'a> {
    pub public_key: &'a [u8; 32],
    pub message: &'a [u8],
    pub signature: &'a [u8; 64],
}

impl<'a> SignedItem<'a> {
    pub fn new(account: &'a Account, message: &'a [u8], signature: &'a Signature) -> Self {
        Self {
            public_key: &account.0,
            message,
            signature: &signature.0,
        }
    }

    /// The reference this module must agree with: [`signing::verify`] alone.
    pub fn verify_single(&self) -> bool {
        signing::verify(
            &Account(*self.public_key),
            self.message,
            &Signature(*self.signature),
        )
    }
}

/// How a [`BatchVerifier`] checks the signatures of a chunk. Both accept
/// exactly what [`signing::verify`] accepts (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Strategy {
    /// The cofactored batch equation per chunk; single checks of the items
    /// of a chunk that fails.
    #[default]
    Batch,
    /// A single check of every item, chunks spread over the threads.
    Single,
}

/// Verifies signatures on several threads with a bounded cache of
/// admissible, decompressed public keys. One per node; shared by reference.
pub struct BatchVerifier {
    strategy: Strategy,
    threads: NonZeroUsize,
    keys: KeyCache,
}

impl Default for BatchVerifier {
    fn default() -> Self {
        Self::new(Strategy::default())
    }
}

impl BatchVerifier {
    /// A verifier using every core the OS reports and a cache of
    /// [`DEFAULT_KEY_CACHE_CAPACITY`] keys.
    pub fn new(strategy: Strategy) -> Self {
        Self {
            strategy,
            threads: std::thread::available_parallelism().unwrap_or(NonZeroUsize::MIN),
            keys: KeyCache::new(DEFAULT_KEY_CACHE_CAPACITY),
        }
    }

    pub fn with_threads(mut self, threads: NonZeroUsize) -> Self {
        self.threads = threads;
        self
    }

    /// Bounds the key cache to `capacity` keys (0 disables caching).
    pub fn with_key_cache_capacity(mut self, capacity: usize) -> Self {
        self.keys = KeyCache::new(capacity);
        self
    }

    pub fn strategy(&self) -> Strategy {
        self.strategy
    }

    /// Keys currently cached (admissible or not).
    pub fn cached_keys(&self) -> usize {
        self.keys.len()
    }

    /// Whether `public_key` is admissible, through the cache.
    pub fn check_admissible(&self, public_key: &[u8; 32]) -> Result<(), KeyError> {
        self.keys.key(public_key).map(|_| ())
    }

    /// Whether each item's signature is valid, in input order; element `i`
    /// equals `items[i].verify_single()`.
    pub fn verify_all(&self, items: &[SignedItem<'_>]) -> Vec<bool> {
        let mut valid = vec![false; items.len()];
        match self.strategy {
            Strategy::Single => {
                self.for_each_chunk(items, &mut valid, SINGLE_CHUNK, |items, out| {
                    for (item, out) in items.iter().zip(out) {
                        *out = self.verify_one(item);
                    }
                })
            }
            Strategy::Batch => {
                let per_thread = items.len().div_ceil(self.threads.get());
                let chunk = per_thread.clamp(BATCH_CHUNK_MIN, BATCH_CHUNK_MAX);
                self.for_each_chunk(items, &mut valid, chunk, |items, out| {
                    self.verify_chunk_batched(items, out)
                })
            }
        }
        valid
    }

    /// The signature check of each transaction, in input order: element `i`
    /// is `Ok`, [`SignatureError::Sender`] when the sender's signature
    /// is bad, or else [`SignatureError::Receipt`] naming the first bad receipt
    /// (what `execute::check_tx_signatures` reports). All signatures of
    /// all transactions are verified together.
    pub fn verify_txs<T: Borrow<Tx>>(
        &self,
        genesis_hash: &Hash,
        txs: &[T],
    ) -> Vec<Result<(), SignatureError>> {
        let txs = || txs.iter().map(Borrow::<Tx>::borrow);
        let signature_count = txs().map(|tx| 1 + receipts(tx).len()).sum();
        let mut messages = Vec::with_capacity(signature_count);
        for tx in txs() {
            messages.push(signing::tx_signing_bytes(
                genesis_hash,
                &tx.from,
                tx.nonce,
                &tx.body,
            ));
            for receipt in receipts(tx) {
                messages.push(signing::receipt_signing_bytes(
                    genesis_hash,
                    &receipt.provider,
                    &receipt.consumer,
                    receipt.session,
                    receipt.bytes,
                ));
            }
        }
        let mut messages = messages.iter().map(Vec::as_slice);
        let mut next_message = || messages.next().expect("one message per signature");
        let mut items = Vec::with_capacity(signature_count);
        for tx in txs() {
            items.push(SignedItem::new(&tx.from, next_message(), &tx.signature));
            for receipt in receipts(tx) {
                items.push(SignedItem::new(
                    &receipt.consumer,
                    next_message(),
                    &receipt.signature,
                ));
            }
        }

        let valid = self.verify_all(&items);
        let mut offset = 0;
        txs()
            .map(|tx| {
                let receipts = receipts(tx);
                let tx_valid = valid[offset];
                let receipts_valid = &valid[offset + 1..offset + 1 + receipts.len()];
                offset += 1 + receipts.len();
                if !tx_valid {
                    return Err(SignatureError::Sender { from: tx.from });
                }
                match receipts_valid.iter().position(|valid| !valid) {
                    Some(index) => Err(SignatureError::Receipt {
                        index,
                        consumer: receipts[index].consumer,
                    }),
                    None => Ok(()),
                }
            })
            .collect()
    }

    /// Exactly `signing::verify`, with the key checked and decompressed at
    /// most once.
    fn verify_one(&self, item: &SignedItem<'_>) -> bool {
        match self.keys.key(item.public_key) {
            Ok(key) => key.verify(item.message, item.signature),
            Err(_) => false,
        }
    }

    /// One batch equation over the chunk's items that can be valid at all
    /// (admissible key, `S < ℓ`, `R` decodes); the others are invalid
    /// outright. If the equation fails, each item is checked alone.
    fn verify_chunk_batched(&self, items: &[SignedItem<'_>], out: &mut [bool]) {
        let keys: Vec<Option<AdmissibleKey>> = items
            .iter()
            .map(|item| self.keys.key(item.public_key).ok())
            .collect();
        let mut indices = Vec::with_capacity(items.len());
        let mut prepared = Vec::with_capacity(items.len());
        for (index, (item, key)) in items.iter().zip(&keys).enumerate() {
            let Some(key) = key else {
                continue;
            };
            if let Some(ready) = Prepared::new(key, item.message, item.signature) {
                indices.push(index);
                prepared.push(ready);
            }
        }
        if prepared.len() >= BATCH_MIN_ITEMS && verify::verify_batch(&prepared) {
            for index in indices {
                out[index] = true;
            }
            return;
        }
        for (index, ready) in indices.into_iter().zip(&prepared) {
            out[index] = ready.verify_single();
        }
    }

    /// Runs `work` over `chunk`-sized pieces of `items` (and the matching
    /// pieces of `out`) on up to `self.threads` threads, the calling thread
    /// included; inline when there is a single chunk.
    fn for_each_chunk<W>(&self, items: &[SignedItem<'_>], out: &mut [bool], chunk: usize, work: W)
    where
        W: Fn(&[SignedItem<'_>], &mut [bool]) + Sync,
    {
        let threads = self.threads.get().min(items.len().div_ceil(chunk));
        if threads <= 1 {
            for (items, out) in items.chunks(chunk).zip(out.chunks_mut(chunk)) {
                work(items, out);
            }
            return;
        }
        let queue = Mutex::new(items.chunks(chunk).zip(out.chunks_mut(chunk)));
        let run = || loop {
            let next = queue.lock().unwrap_or_else(PoisonError::into_inner).next();
            let Some((items, out)) = next else {
                break;
            };
            work(items, out);
        };
        std::thread::scope(|scope| {
            for _ in 1..threads {
                scope.spawn(run);
            }
            run();
        });
    }
}

/// Whether `public_key` is admissible, through a process-wide cache of
/// [`DEFAULT_KEY_CACHE_CAPACITY`] keys (see [`signing::check_admissible`]).
pub fn check_admissible_cached(public_key: &[u8; 32]) -> Result<(), KeyError> {
    static SHARED: OnceLock<KeyCache> = OnceLock::new();
    SHARED
        .get_or_init(|| KeyCache::new(DEFAULT_KEY_CACHE_CAPACITY))
        .key(public_key)
        .map(|_| ())
}

/// [`BatchVerifier::verify_all`] with a default verifier and a fresh cache.
pub fn verify_all(items: &[SignedItem<'_>]) -> Vec<bool> {
    BatchVerifier::default().verify_all(items)
}

/// [`BatchVerifier::verify_txs`] with a default verifier and a fresh cache.
pub fn verify_txs(genesis_hash: &Hash, txs: &[Tx]) -> Vec<Result<(), SignatureError>> {
    BatchVerifier::default().verify_txs(genesis_hash, txs)
}

fn receipts(tx: &Tx) -> &[Receipt] {
    match &tx.body {
        TxBody::Claim { receipts } => receipts,
        TxBody::Transfer { .. } | TxBody::SetDevice { .. } => &[],
    }
}

/// Admissible keys, decompressed, and the reasons of the others; bounded,
/// shared by the worker threads.
struct KeyCache {
    capacity: usize,
    entries: Mutex<HashMap<[u8; 32], Result<AdmissibleKey, KeyError>>>,
}

impl KeyCache {
    fn new(capacity: usize) -> Self {
        Self {
            capacity,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<[u8; 32], Result<AdmissibleKey, KeyError>>> {
        // The map is valid after any panic: entries are inserted whole.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn len(&self) -> usize {
        self.lock().len()
    }

    fn key(&self, bytes: &[u8; 32]) -> Result<AdmissibleKey, KeyError> {
        if let Some(entry) = self.lock().get(bytes) {
            return *entry;
        }
        // Checked outside the lock; two threads may both do it.
        let entry = AdmissibleKey::new(bytes);
        if self.capacity > 0 {
            let mut entries = self.lock();
            if entries.len() >= self.capacity && !entries.contains_key(bytes) {
                entries.clear();
            }
            entries.insert(*bytes, entry);
        }
        entry
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::primitives::signing::Keypair;

    fn signed(count: usize) -> (Vec<Keypair>, Vec<Vec<u8>>, Vec<Signature>) {
        let keys: Vec<Keypair> = (0..4)
            .map(|i| Keypair::dev(&format!("batch-{i}")))
            .collect();
        let messages: Vec<Vec<u8>> = (0..count)
            .map(|i| format!("message {i}").into_bytes())
            .collect();
        let signatures = messages
            .iter()
            .enumerate()
            .map(|(i, message)| keys[i % keys.len()].sign(message))
            .collect();
        (keys, messages, signatures)
    }

    fn items<'a>(
        keys: &'a [Account],
        messages: &'a [Vec<u8>],
        signatures: &'a [Signature],
    ) -> Vec<SignedItem<'a>> {
        messages
            .iter()
            .enumerate()
            .map(|(i, message)| SignedItem::new(&keys[i % keys.len()], message, &signatures[i]))
            .collect()
    }

    #[test]
    fn every_strategy_and_thread_count_finds_the_same_bad_items() {
        let (keypairs, messages, mut signatures) = signed(300);
        let accounts: Vec<Account> = keypairs.iter().map(Keypair::account).collect();
        for bad in [0, 17, 128, 299] {
            signatures[bad].0[5] ^= 1;
        }
        let items = items(&accounts, &messages, &signatures);
        let expected: Vec<bool> = items.iter().map(SignedItem::verify_single).collect();
        assert_eq!(expected.iter().filter(|valid| !**valid).count(), 4);
        for strategy in [Strategy::Single, Strategy::Batch] {
            for threads in [1, 2, 3, 8] {
                let verifier =
                    BatchVerifier::new(strategy).with_threads(NonZeroUsize::new(threads).unwrap());
                assert_eq!(
                    verifier.verify_all(&items),
                    expected,
                    "{strategy:?} on {threads} threads"
                );
            }
        }
    }

    #[test]
    fn key_cache_stays_bounded() {
        let (keypairs, messages, signatures) = signed(40);
        let accounts: Vec<Account> = keypairs.iter().map(Keypair::account).collect();
        let items = items(&accounts, &messages, &signatures);
        let verifier = BatchVerifier::default().with_key_cache_capacity(3);
        assert!(verifier.verify_all(&items).iter().all(|valid| *valid));
        assert!(verifier.cached_keys() <= 3);
        let uncached = BatchVerifier::default().with_key_cache_capacity(0);
        assert!(uncached.verify_all(&items).iter().all(|valid| *valid));
        assert_eq!(uncached.cached_keys(), 0);
        let cached = BatchVerifier::default();
        cached.verify_all(&items);
        assert_eq!(cached.cached_keys(), accounts.len());
    }

    #[test]
    fn inadmissible_keys_are_rejected_and_cached() {
        // y = 2 is not the y of any curve point; y = 1 is the identity.
        let mut not_a_point = [0u8; 32];
        not_a_point[0] = 2;
        let mut identity = [0u8; 32];
        identity[0] = 1;
        // R = identity, S = 0: the cofactored equation holds for the identity key.
        let mut signature = Signature([0; 64]);
        signature.0[0] = 1;
        for (bytes, reason) in [
            (not_a_point, KeyError::NotAPoint),
            (identity, KeyError::SmallOrder),
        ] {
            let account = Account(bytes);
            let item = SignedItem::new(&account, b"m", &signature);
            let items = vec![item; 2 * BATCH_CHUNK_MIN];
            for strategy in [Strategy::Single, Strategy::Batch] {
                let verifier = BatchVerifier::new(strategy);
                assert!(verifier.verify_all(&items).iter().all(|valid| !valid));
                assert_eq!(verifier.cached_keys(), 1);
                assert_eq!(verifier.check_admissible(&bytes), Err(reason));
            }
        }
    }
}
