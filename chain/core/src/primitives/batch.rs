//! Verifying many ed25519 signatures at once, on all cores, accepting exactly
//! the signatures that [`signing::verify`] (`verify_strict`) accepts one at a
//! time. A block must be valid or invalid identically on every node, however
//! it checks signatures.
//!
//! # Strict single verification versus batch verification
//!
//! For a public key `A`, a message `M` and a signature `(R, s)`, with
//! `k = SHA-512(R || A || M)`, let `P = R + [k]A - [s]B`. Then:
//!
//! - `verify_strict` (what the chain uses, DESIGN.md §1) rejects a
//!   non-canonical `s` (`s >= ℓ`), an `R` that does not decompress, a
//!   small-order `R` or `A`, and otherwise accepts iff the canonical encoding
//!   of `[s]B - [k]A` equals the bytes of `R`; that is iff `P` is the identity
//!   and `R` is canonically encoded. It is *cofactorless* and it does not
//!   reject points with a small-order component (mixed-order points).
//! - `ed25519_dalek::verify_batch` (2.2) checks `Σ z_i P_i = 0` for 128-bit
//!   coefficients `z_i` derived from a hash of the whole batch. It is also
//!   cofactorless, but it decompresses `R` without checking the encoding, and
//!   it can accept a batch containing an invalid signature:
//!
//!   Write every point as `Q + T`, a prime-order part plus a part `T` in the
//!   8-torsion subgroup. If `R` carries a torsion part (say `R = [r]B + T`
//!   with `T` of order 2 and `s = r + k·a`), then `P = T`: `verify_strict`
//!   always rejects, but `z·T = 0` whenever `z` is even, so the batch accepts
//!   with probability 1/2. The `z_i` are a deterministic hash of the batch,
//!   so an attacker grinds a few messages and gets a receipt that every node
//!   batching it accepts and every node checking it alone (the audit, a
//!   node batching differently, the mempool) rejects: a chain split. A
//!   mixed-order `A` does the same through `[k]T`. (ed25519-dalek issue
//!   #115 describes this case; "Taming the many EdDSAs", Chalkias, Garillot
//!   and Nikolaenko, 2020, tabulates the verification variants.) A
//!   cofactored batch equation `[8]Σ z_i P_i = 0` does not help: it accepts
//!   every `P_i` of small order, which `verify_strict` rejects.
//!
//! When `A` and `R` are both torsion-free (in the prime-order subgroup),
//! every `P_i` is in the prime-order subgroup, where `Σ z_i P_i = 0` with some
//! `P_i ≠ 0` needs `Σ z_i p_i ≡ 0 (mod ℓ)`: probability at most 2^-128 per
//! batch for hash-derived `z_i`, whatever the attacker grinds. So a batch is
//! sound for items that pass [`Strategy::Batch`]'s admission test: `A`
//! decompresses, is not of small order and is torsion-free; `s < ℓ`; `R`
//! decompresses, is canonically encoded, is not of small order and is
//! torsion-free. Everything else is checked alone with `verify_strict`,
//! and so is every item of a batch that fails.
//!
//! # Why [`Strategy::Strict`] is the default
//!
//! Checking that `R` is torsion-free is a multiplication by `ℓ`, about as
//! costly as a whole `verify_strict`, and `R` differs for every signature
//! (`A`'s check is cached per key). On the development machine (see
//! `benches/signatures.rs`; one core, 1024 receipts) `verify_strict` takes
//! about 35 µs a signature, bare `verify_batch` 14 µs, but the exact batch
//! 48 µs. So by default this module verifies each signature with
//! `verify_strict` itself, which is exact by construction, in chunks spread
//! over all cores, with decompressed keys cached. [`Strategy::Batch`] stays
//! available, tested to agree with `verify_strict` and benchmarked, for
//! hardware or library versions where the balance changes.
//!
//! Pure: no I/O, clock or randomness (batch coefficients are hashed from the
//! batch). It does start threads (`std::thread::scope`) that end before each
//! call returns.

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::{Mutex, MutexGuard, PoisonError};

use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use ed25519_dalek::VerifyingKey;

use crate::primitives::signing::{self, SignatureError};
use crate::primitives::{Account, Hash, Receipt, Signature, Tx, TxBody};

/// Items one thread takes from the shared queue at a time under
/// [`Strategy::Strict`]: small enough to balance a 1 000-signature block over
/// many cores, large enough that the queue lock is never contended (one
/// signature takes tens of microseconds).
pub const STRICT_CHUNK: usize = 16;

/// Items per `verify_batch` call under [`Strategy::Batch`]. The multiscalar
/// multiplication gets cheaper per signature as the batch grows (about 18 µs
/// at 64 and 14 µs at 1024 on the development machine), but a failed batch
/// costs a strict check of every item in it, and 128-item chunks still
/// spread a 1 000-signature block over 8 cores.
pub const BATCH_CHUNK: usize = 128;

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
    pub fn verify_strict(&self) -> bool {
        signing::verify(
            &Account(*self.public_key),
            self.message,
            &Signature(*self.signature),
        )
    }
}

/// How a [`BatchVerifier`] checks the signatures of a chunk. Both accept
/// exactly what `verify_strict` accepts (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Strategy {
    /// `verify_strict` on every item, chunks spread over the threads.
    #[default]
    Strict,
    /// `ed25519_dalek::verify_batch` on items proven safe to batch, with
    /// `verify_strict` for the rest and for the items of a failed batch.
    Batch,
}

/// Verifies signatures on several threads with a bounded cache of
/// decompressed public keys. One per node; shared by reference.
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

    /// Keys currently cached.
    pub fn cached_keys(&self) -> usize {
        self.keys.len()
    }

    /// Whether each item's signature is valid, in input order; element `i`
    /// equals `items[i].verify_strict()`.
    pub fn verify_all(&self, items: &[SignedItem<'_>]) -> Vec<bool> {
        let mut valid = vec![false; items.len()];
        match self.strategy {
            Strategy::Strict => {
                self.for_each_chunk(items, &mut valid, STRICT_CHUNK, |items, out| {
                    for (item, out) in items.iter().zip(out) {
                        *out = self.verify_one(item);
                    }
                })
            }
            Strategy::Batch => self.for_each_chunk(items, &mut valid, BATCH_CHUNK, |items, out| {
                self.verify_chunk_batched(items, out)
            }),
        }
        valid
    }

    /// The signature check of each transaction, in input order: element `i`
    /// is `Ok`, [`SignatureError::Sender`] when the sender's signature
    /// is bad, or else [`SignatureError::Receipt`] naming the first bad receipt
    /// (what `execute::check_tx_signatures` reports). All signatures of
    /// all transactions are verified together.
    pub fn verify_txs(&self, genesis_hash: &Hash, txs: &[Tx]) -> Vec<Result<(), SignatureError>> {
        let signature_count = txs.iter().map(|tx| 1 + receipts(tx).len()).sum();
        let mut messages = Vec::with_capacity(signature_count);
        for tx in txs {
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
        for tx in txs {
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
        txs.iter()
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

    /// Exactly `signing::verify`, with the key decompressed at most once.
    fn verify_one(&self, item: &SignedItem<'_>) -> bool {
        match self.keys.key(item.public_key) {
            Some(key) => verify_strict(&key, item),
            None => false,
        }
    }

    fn verify_chunk_batched(&self, items: &[SignedItem<'_>], out: &mut [bool]) {
        let mut batch = Vec::with_capacity(items.len());
        let mut keys = Vec::with_capacity(items.len());
        let mut signatures = Vec::with_capacity(items.len());
        let mut messages = Vec::with_capacity(items.len());
        for (index, item) in items.iter().enumerate() {
            let (key, key_batchable) = self.keys.batchable_key(item.public_key);
            match key {
                Some(key) if key_batchable && signature_batchable(item.signature) => {
                    batch.push(index);
                    keys.push(key);
                    signatures.push(ed25519_dalek::Signature::from_bytes(item.signature));
                    messages.push(item.message);
                }
                Some(key) => out[index] = verify_strict(&key, item),
                None => out[index] = false,
            }
        }
        if batch.is_empty() {
            return;
        }
        if ed25519_dalek::verify_batch(&messages, &signatures, &keys).is_ok() {
            for index in batch {
                out[index] = true;
            }
        } else {
            for (index, key) in batch.into_iter().zip(&keys) {
                out[index] = verify_strict(key, &items[index]);
            }
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

fn verify_strict(key: &VerifyingKey, item: &SignedItem<'_>) -> bool {
    key.verify_strict(
        item.message,
        &ed25519_dalek::Signature::from_bytes(item.signature),
    )
    .is_ok()
}

/// Whether a signature's `(R, s)` may join a batch: `s < ℓ`, and `R`
/// decompresses, is canonically encoded, is not of small order and is
/// torsion-free. Anything else goes to `verify_strict` alone.
fn signature_batchable(signature: &[u8; 64]) -> bool {
    let (r_bytes, s_bytes) = signature.split_at(32);
    let s_bytes: [u8; 32] = s_bytes.try_into().expect("a signature is 64 bytes");
    if Scalar::from_canonical_bytes(s_bytes).is_none().into() {
        return false;
    }
    let compressed = CompressedEdwardsY::from_slice(r_bytes).expect("R is 32 bytes");
    let Some(r) = compressed.decompress() else {
        return false;
    };
    // A non-canonical R of large order (y + p for a point with y < 19)
    // would need its discrete log to sign with, so no test can build one;
    // rejecting it keeps "batch accepts => strict accepts" unconditional.
    r.compress() == compressed && !r.is_small_order() && r.is_torsion_free()
}

fn key_batchable(key: &VerifyingKey) -> bool {
    let point: EdwardsPoint = key.to_edwards();
    !point.is_small_order() && point.is_torsion_free()
}

#[derive(Debug, Clone, Copy)]
struct KeyEntry {
    /// `VerifyingKey::from_bytes`; `None` when the bytes are not a point.
    key: Option<VerifyingKey>,
    /// Whether the key may join a batch; computed when a batch first asks.
    batchable: Option<bool>,
}

/// Decompressed public keys, bounded, shared by the worker threads.
struct KeyCache {
    capacity: usize,
    entries: Mutex<HashMap<[u8; 32], KeyEntry>>,
}

impl KeyCache {
    fn new(capacity: usize) -> Self {
        Self {
            capacity,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<[u8; 32], KeyEntry>> {
        // The map is valid after any panic: entries are inserted whole.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn len(&self) -> usize {
        self.lock().len()
    }

    fn key(&self, bytes: &[u8; 32]) -> Option<VerifyingKey> {
        if let Some(entry) = self.lock().get(bytes) {
            return entry.key;
        }
        let key = VerifyingKey::from_bytes(bytes).ok();
        self.insert(
            bytes,
            KeyEntry {
                key,
                batchable: None,
            },
        );
        key
    }

    fn batchable_key(&self, bytes: &[u8; 32]) -> (Option<VerifyingKey>, bool) {
        let cached = self.lock().get(bytes).copied();
        if let Some(KeyEntry {
            key,
            batchable: Some(batchable),
        }) = cached
        {
            return (key, batchable);
        }
        // Decompress and check outside the lock; two threads may both do it.
        let key = match cached {
            Some(entry) => entry.key,
            None => VerifyingKey::from_bytes(bytes).ok(),
        };
        let batchable = key.as_ref().is_some_and(key_batchable);
        self.insert(
            bytes,
            KeyEntry {
                key,
                batchable: Some(batchable),
            },
        );
        (key, batchable)
    }

    fn insert(&self, bytes: &[u8; 32], entry: KeyEntry) {
        if self.capacity == 0 {
            return;
        }
        let mut entries = self.lock();
        if entries.len() >= self.capacity && !entries.contains_key(bytes) {
            entries.clear();
        }
        entries.insert(*bytes, entry);
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
        let expected: Vec<bool> = items.iter().map(SignedItem::verify_strict).collect();
        assert_eq!(expected.iter().filter(|valid| !**valid).count(), 4);
        for strategy in [Strategy::Strict, Strategy::Batch] {
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
    fn an_undecodable_key_is_rejected_and_cached() {
        // y = 2 is not the y of any curve point.
        let mut bytes = [0u8; 32];
        bytes[0] = 2;
        assert!(VerifyingKey::from_bytes(&bytes).is_err());
        let account = Account(bytes);
        let signature = Signature([0; 64]);
        let item = SignedItem::new(&account, b"m", &signature);
        for strategy in [Strategy::Strict, Strategy::Batch] {
            let verifier = BatchVerifier::new(strategy);
            assert_eq!(verifier.verify_all(&[item, item]), vec![false, false]);
            assert_eq!(verifier.cached_keys(), 1);
        }
    }
}
