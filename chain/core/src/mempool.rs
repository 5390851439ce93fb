//! Pending transactions: per sender in nonce order, bounded in count, bytes
//! and per sender. Pure bookkeeping: the node checks a transaction's
//! signatures and validity against the head state before inserting it.
//!
//! The pool also remembers what its transactions commit to, so that
//! admission can refuse what could never be included after them
//! ([`Mempool::check_pending`]): each sender's pending transfers (a transfer
//! its balance minus what it already has pending cannot cover is refused),
//! and each session's pending receipt counters (a receipt that does not
//! exceed one already pending would be a replay once that one is included).
//!
//! When the pool is full, a sender with fewer pending transactions than the
//! busiest sender still gets in: the busiest sender's latest transaction is
//! evicted to make room. One sender (or a few) cannot lock everyone else out.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, BTreeSet};

use crate::primitives::{Account, FastMap, Hash, Tx, TxBody};
use crate::state::SessionId;

/// Default cap on pending transactions.
pub const DEFAULT_MAX_TXS: usize = 100_000;
/// Default cap on the approximate encoded size of all pending transactions.
/// 64 MiB keeps a flooded node's memory bounded.
pub const DEFAULT_MAX_BYTES: usize = 64 * 1024 * 1024;
/// Default cap on pending transactions from one sender, so one sender cannot
/// fill the pool.
pub const DEFAULT_MAX_PER_SENDER: usize = 1_024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MempoolLimits {
    pub max_txs: usize,
    pub max_bytes: usize,
    pub max_per_sender: usize,
}

impl Default for MempoolLimits {
    fn default() -> Self {
        Self {
            max_txs: DEFAULT_MAX_TXS,
            max_bytes: DEFAULT_MAX_BYTES,
            max_per_sender: DEFAULT_MAX_PER_SENDER,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MempoolError {
    #[error("mempool full: {limit} pending transactions; try again after the next block")]
    Full { limit: usize },
    #[error(
        "mempool full: pending transactions exceed {limit} bytes; try again after the next block"
    )]
    FullBytes { limit: usize },
    #[error("too many pending transactions from {sender}: at most {limit}")]
    SenderFull { sender: Account, limit: usize },
    #[error("wrong nonce: expected {expected}, found {found}")]
    WrongNonce { expected: u64, found: u64 },
    #[error(
        "balance {balance} minus {pending} already pending in earlier transfers cannot cover {amount}"
    )]
    PendingOverspend {
        balance: u64,
        pending: u64,
        amount: u64,
    },
    #[error(
        "receipt {index} (session {session}, {bytes} bytes) repeats a pending receipt of the same session at {pending} bytes; wait for it to be included, then send a larger counter"
    )]
    ReceiptPending {
        index: usize,
        session: u64,
        bytes: u64,
        pending: u64,
    },
}

/// Approximate encoded size of a transaction, for the byte bound.
pub fn approx_size(tx: &Tx) -> usize {
    const FIXED: usize = 32 + 8 + 4 + 64;
    match &tx.body {
        TxBody::Claim { receipts } => FIXED + 8 + receipts.len() * 144,
        TxBody::Transfer { .. } => FIXED + 40,
        TxBody::SetDevice { .. } => FIXED + 33,
    }
}

/// How much executing a transaction costs, in receipts: a claim its
/// receipts, anything else one.
pub fn work_units(tx: &Tx) -> usize {
    match &tx.body {
        TxBody::Claim { receipts } => receipts.len().max(1),
        _ => 1,
    }
}

/// Approximate encoded size of a block, for reply size limits.
pub fn approx_block_size(block: &crate::primitives::Block) -> usize {
    const HEADER_AND_SIGNATURE: usize = 8 * 3 + 32 * 4 + 64 + 8;
    HEADER_AND_SIGNATURE + block.txs.iter().map(approx_size).sum::<usize>()
}

#[derive(Debug, Clone)]
struct Pending {
    tx: Tx,
    hash: Hash,
    seq: u64,
    size: usize,
}

/// A session's pending receipt counters, each with how many pending
/// receipts carry it. Nearly always one counter, kept without a map of
/// its own (an allocation per receipt on the admission path).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Counters {
    One { bytes: u64, refs: u32 },
    Many(BTreeMap<u64, u32>),
}

impl Counters {
    fn highest(&self) -> u64 {
        match self {
            Counters::One { bytes, .. } => *bytes,
            Counters::Many(counters) => counters.last_key_value().map_or(0, |(bytes, _)| *bytes),
        }
    }

    fn add(&mut self, added: u64) {
        match self {
            Counters::One { bytes, refs } if *bytes == added => *refs += 1,
            Counters::One { bytes, refs } => {
                *self = Counters::Many(BTreeMap::from([(*bytes, *refs), (added, 1)]));
            }
            Counters::Many(counters) => *counters.entry(added).or_insert(0) += 1,
        }
    }

    /// Drops one receipt carrying `removed`; true when none is left.
    fn remove(&mut self, removed: u64) -> bool {
        match self {
            Counters::One { bytes, refs } => {
                if *bytes == removed {
                    *refs -= 1;
                }
                *refs == 0
            }
            Counters::Many(counters) => {
                if let Some(refs) = counters.get_mut(&removed) {
                    *refs -= 1;
                    if *refs == 0 {
                        counters.remove(&removed);
                    }
                }
                counters.is_empty()
            }
        }
    }
}

/// The pool. Transactions leave it in arrival order; because each sender's
/// nonces must arrive consecutively, that is also nonce order per sender.
#[derive(Debug, Default)]
pub struct Mempool {
    limits: MempoolLimits,
    by_sender: FastMap<Account, BTreeMap<u64, Pending>>,
    by_hash: FastMap<Hash, (Account, u64)>,
    by_seq: BTreeMap<u64, Hash>,
    /// Senders by how many transactions they have pending, for eviction.
    by_count: BTreeSet<(usize, Account)>,
    /// Each sender's pending transfer amounts, summed.
    spend: FastMap<Account, u64>,
    /// Each session's pending receipt counters.
    sessions: FastMap<SessionId, Counters>,
    next_seq: u64,
    bytes: usize,
    /// [`work_units`] of every pending transaction, summed.
    work: usize,
}

impl Mempool {
    pub fn new(limits: MempoolLimits) -> Self {
        Self {
            limits,
            ..Self::default()
        }
    }

    pub fn len(&self) -> usize {
        self.by_hash.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The pending transactions' [`work_units`], summed: how much block
    /// building they wait for.
    pub fn work(&self) -> usize {
        self.work
    }

    pub fn contains(&self, hash: &Hash) -> bool {
        self.by_hash.contains_key(hash)
    }

    pub fn get(&self, hash: &Hash) -> Option<&Tx> {
        let (sender, nonce) = self.by_hash.get(hash)?;
        self.by_sender
            .get(sender)?
            .get(nonce)
            .map(|entry| &entry.tx)
    }

    /// The nonce the sender's next transaction must carry, given the nonce
    /// recorded in the head state.
    pub fn next_nonce(&self, sender: &Account, state_nonce: u64) -> u64 {
        match self
            .by_sender
            .get(sender)
            .and_then(|txs| txs.last_key_value())
        {
            Some((last, _)) if *last >= state_nonce => last + 1,
            _ => state_nonce,
        }
    }

    /// What the sender's pending transfers add up to.
    pub fn pending_spend(&self, sender: &Account) -> u64 {
        self.spend.get(sender).copied().unwrap_or(0)
    }

    /// How many transactions the sender has pending.
    pub fn pending_count(&self, sender: &Account) -> usize {
        self.by_sender.get(sender).map_or(0, BTreeMap::len)
    }

    /// Refuses a transaction that could not be included after the pending
    /// ones even though it is valid against the head state: a transfer that
    /// `balance` (the sender's balance in the head state) minus the sender's
    /// pending transfers cannot cover, or a claim with a receipt whose
    /// counter does not exceed a pending receipt of the same session.
    pub fn check_pending(&self, tx: &Tx, balance: u64) -> Result<(), MempoolError> {
        match &tx.body {
            TxBody::Transfer { amount, .. } => {
                let pending = self.pending_spend(&tx.from);
                if balance.saturating_sub(pending) < *amount {
                    return Err(MempoolError::PendingOverspend {
                        balance,
                        pending,
                        amount: *amount,
                    });
                }
            }
            TxBody::Claim { receipts } => {
                for (index, receipt) in receipts.iter().enumerate() {
                    let id = SessionId {
                        provider: receipt.provider,
                        consumer: receipt.consumer,
                        session: receipt.session,
                    };
                    let highest = self.sessions.get(&id).map(Counters::highest);
                    if let Some(pending) = highest.filter(|pending| receipt.bytes <= *pending) {
                        return Err(MempoolError::ReceiptPending {
                            index,
                            session: receipt.session,
                            bytes: receipt.bytes,
                            pending,
                        });
                    }
                }
            }
            TxBody::SetDevice { .. } => {}
        }
        Ok(())
    }

    /// Adds a checked transaction. `state_nonce` is the sender's nonce in the
    /// head state; the transaction must carry the sender's next nonce.
    ///
    /// When the pool is full and the sender has fewer pending transactions
    /// than the busiest sender, that sender's latest transactions are evicted
    /// to make room; their hashes are returned.
    pub fn insert(
        &mut self,
        tx: Tx,
        hash: Hash,
        state_nonce: u64,
    ) -> Result<Vec<Hash>, MempoolError> {
        let expected = self.next_nonce(&tx.from, state_nonce);
        if tx.nonce != expected {
            return Err(MempoolError::WrongNonce {
                expected,
                found: tx.nonce,
            });
        }
        let pending = self.pending_count(&tx.from);
        if pending >= self.limits.max_per_sender {
            return Err(MempoolError::SenderFull {
                sender: tx.from,
                limit: self.limits.max_per_sender,
            });
        }
        let size = approx_size(&tx);
        let mut evicted = Vec::new();
        loop {
            let full = if self.len() >= self.limits.max_txs {
                MempoolError::Full {
                    limit: self.limits.max_txs,
                }
            } else if self.bytes + size > self.limits.max_bytes {
                MempoolError::FullBytes {
                    limit: self.limits.max_bytes,
                }
            } else {
                break;
            };
            // Evict only from a sender that would still have more pending
            // than this one: eviction never favours the busier sender.
            match self.by_count.last().copied() {
                Some((count, busiest)) if count > pending + 1 && busiest != tx.from => {
                    let Some(last) = self
                        .by_sender
                        .get(&busiest)
                        .and_then(|txs| txs.last_key_value().map(|(nonce, _)| *nonce))
                    else {
                        return Err(full);
                    };
                    if let Some(entry) = self.remove_entry(&busiest, last) {
                        evicted.push(entry.hash);
                    }
                }
                _ => {
                    // Nothing evicted is put back: the evicted were valid
                    // but their senders had the most pending.
                    return Err(full);
                }
            }
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.bytes += size;
        self.work += work_units(&tx);
        self.by_hash.insert(hash, (tx.from, tx.nonce));
        self.by_seq.insert(seq, hash);
        self.by_count.remove(&(pending, tx.from));
        self.by_count.insert((pending + 1, tx.from));
        self.track(&tx, true);
        self.by_sender.entry(tx.from).or_default().insert(
            tx.nonce,
            Pending {
                tx,
                hash,
                seq,
                size,
            },
        );
        Ok(evicted)
    }

    /// Adds (or removes) what a transaction commits to: its transfer amount
    /// and its receipt counters.
    fn track(&mut self, tx: &Tx, add: bool) {
        match &tx.body {
            TxBody::Transfer { amount, .. } => {
                let spend = self.spend.entry(tx.from).or_insert(0);
                if add {
                    *spend = spend.saturating_add(*amount);
                } else {
                    *spend = spend.saturating_sub(*amount);
                    if *spend == 0 {
                        self.spend.remove(&tx.from);
                    }
                }
            }
            TxBody::Claim { receipts } => {
                for receipt in receipts {
                    let id = SessionId {
                        provider: receipt.provider,
                        consumer: receipt.consumer,
                        session: receipt.session,
                    };
                    if add {
                        match self.sessions.entry(id) {
                            Entry::Occupied(mut counters) => counters.get_mut().add(receipt.bytes),
                            Entry::Vacant(vacant) => {
                                vacant.insert(Counters::One {
                                    bytes: receipt.bytes,
                                    refs: 1,
                                });
                            }
                        }
                    } else if let Entry::Occupied(mut counters) = self.sessions.entry(id) {
                        if counters.get_mut().remove(receipt.bytes) {
                            counters.remove();
                        }
                    }
                }
            }
            TxBody::SetDevice { .. } => {}
        }
    }

    /// Up to `max` transactions in arrival order, for a block, whose work (see
    /// [`work_units`]) adds up to at most `max_work`; always at least one
    /// transaction when the pool is not empty, so a block always progresses.
    pub fn candidates_within(&self, max: usize, max_work: usize) -> Vec<(Hash, Tx)> {
        let mut work = 0usize;
        let mut out = Vec::new();
        for hash in self.by_seq.values().take(max) {
            let Some(tx) = self.get(hash) else { continue };
            work = work.saturating_add(work_units(tx));
            if work > max_work && !out.is_empty() {
                break;
            }
            out.push((*hash, tx.clone()));
        }
        out
    }

    fn remove_entry(&mut self, sender: &Account, nonce: u64) -> Option<Pending> {
        let txs = self.by_sender.get_mut(sender)?;
        let entry = txs.remove(&nonce)?;
        let left = txs.len();
        if txs.is_empty() {
            self.by_sender.remove(sender);
        }
        self.by_count.remove(&(left + 1, *sender));
        if left > 0 {
            self.by_count.insert((left, *sender));
        }
        self.track(&entry.tx, false);
        self.by_hash.remove(&entry.hash);
        self.by_seq.remove(&entry.seq);
        self.bytes -= entry.size;
        self.work -= work_units(&entry.tx);
        Some(entry)
    }

    /// Drops a transaction that became invalid, and every later transaction
    /// from its sender (their nonces can no longer line up). Returns the
    /// hashes dropped.
    pub fn remove_invalid(&mut self, hash: &Hash) -> Vec<Hash> {
        let Some((sender, nonce)) = self.by_hash.get(hash).copied() else {
            return Vec::new();
        };
        let later: Vec<u64> = self
            .by_sender
            .get(&sender)
            .map(|txs| txs.range(nonce..).map(|(n, _)| *n).collect())
            .unwrap_or_default();
        later
            .into_iter()
            .filter_map(|n| self.remove_entry(&sender, n).map(|entry| entry.hash))
            .collect()
    }

    /// Removes and returns all of a sender's pending transactions, in nonce
    /// order (to re-admit them behind others after a reorg).
    pub fn take_sender(&mut self, sender: &Account) -> Vec<(Hash, Tx)> {
        let nonces: Vec<u64> = self
            .by_sender
            .get(sender)
            .map(|txs| txs.keys().copied().collect())
            .unwrap_or_default();
        nonces
            .into_iter()
            .filter_map(|nonce| self.remove_entry(sender, nonce))
            .map(|entry| (entry.hash, entry.tx))
            .collect()
    }

    /// Drops the sender's transactions whose nonce the head state has passed
    /// (included, or replaced by an included one).
    pub fn prune_sender(&mut self, sender: &Account, state_nonce: u64) {
        let stale: Vec<u64> = self
            .by_sender
            .get(sender)
            .map(|txs| txs.range(..state_nonce).map(|(n, _)| *n).collect())
            .unwrap_or_default();
        for nonce in stale {
            self.remove_entry(sender, nonce);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::primitives::signing::Keypair;
    use crate::primitives::{Signature, TxBody};

    fn tx(sender: &Keypair, nonce: u64) -> (Tx, Hash) {
        let tx = Tx {
            from: sender.account(),
            nonce,
            body: TxBody::Transfer {
                to: Account([9; 32]),
                amount: 1,
            },
            signature: Signature([0; 64]),
        };
        let mut hash = [0u8; 32];
        hash[..32].copy_from_slice(&sender.account().0);
        hash[0] = nonce as u8;
        hash[1] ^= 0x55;
        (tx, Hash(hash))
    }

    #[test]
    fn nonces_must_be_consecutive() {
        let alice = Keypair::dev("alice");
        let mut pool = Mempool::new(MempoolLimits::default());
        let (t0, h0) = tx(&alice, 3);
        assert_eq!(
            pool.insert(t0.clone(), h0, 4),
            Err(MempoolError::WrongNonce {
                expected: 4,
                found: 3
            })
        );
        pool.insert(t0, h0, 3).unwrap();
        assert_eq!(pool.next_nonce(&alice.account(), 3), 4);
        let (t2, h2) = tx(&alice, 5);
        assert!(matches!(
            pool.insert(t2, h2, 3),
            Err(MempoolError::WrongNonce { expected: 4, .. })
        ));
        assert_eq!(pool.len(), 1);
    }

    #[test]
    fn limits_are_enforced() {
        let alice = Keypair::dev("alice");
        let bob = Keypair::dev("bob");
        let limits = MempoolLimits {
            max_txs: 3,
            max_bytes: usize::MAX,
            max_per_sender: 2,
        };
        let mut pool = Mempool::new(limits);
        for nonce in 0..2 {
            let (t, h) = tx(&alice, nonce);
            pool.insert(t, h, 0).unwrap();
        }
        let (t, h) = tx(&alice, 2);
        assert!(matches!(
            pool.insert(t, h, 0),
            Err(MempoolError::SenderFull { limit: 2, .. })
        ));
        let (t, h) = tx(&bob, 0);
        pool.insert(t, h, 0).unwrap();
        let (t, h) = tx(&bob, 1);
        assert_eq!(pool.insert(t, h, 0), Err(MempoolError::Full { limit: 3 }));

        let mut small = Mempool::new(MempoolLimits {
            max_bytes: 200,
            ..MempoolLimits::default()
        });
        let (t, h) = tx(&alice, 0);
        small.insert(t, h, 0).unwrap();
        let (t, h) = tx(&alice, 1);
        assert!(matches!(
            small.insert(t, h, 0),
            Err(MempoolError::FullBytes { .. })
        ));
    }

    #[test]
    fn candidates_in_arrival_order_and_removal() {
        let alice = Keypair::dev("alice");
        let bob = Keypair::dev("bob");
        let mut pool = Mempool::new(MempoolLimits::default());
        let (a0, ha0) = tx(&alice, 0);
        let (b0, hb0) = tx(&bob, 0);
        let (a1, ha1) = tx(&alice, 1);
        let (a2, ha2) = tx(&alice, 2);
        pool.insert(a0, ha0, 0).unwrap();
        pool.insert(b0, hb0, 0).unwrap();
        pool.insert(a1, ha1, 0).unwrap();
        pool.insert(a2, ha2, 0).unwrap();
        let order: Vec<Hash> = pool
            .candidates_within(10, usize::MAX)
            .into_iter()
            .map(|(h, _)| h)
            .collect();
        assert_eq!(order, vec![ha0, hb0, ha1, ha2]);
        assert_eq!(pool.candidates_within(2, usize::MAX).len(), 2);
        assert_eq!(pool.work(), order.len());

        // a1 became invalid: a1 and a2 go, a0 stays.
        let dropped = pool.remove_invalid(&ha1);
        assert_eq!(dropped, vec![ha1, ha2]);
        assert!(pool.contains(&ha0) && !pool.contains(&ha2));

        // a0 was included: pruning by state nonce removes it.
        pool.prune_sender(&alice.account(), 1);
        assert!(!pool.contains(&ha0));
        assert_eq!(pool.len(), 1);
        assert_eq!(pool.next_nonce(&alice.account(), 1), 1);
        pool.prune_sender(&bob.account(), 1);
        assert!(pool.is_empty());
        assert_eq!(pool.bytes(), 0);
        assert_eq!(pool.work(), 0);

        let (a0, ha0) = tx(&alice, 0);
        let (a1, ha1) = tx(&alice, 1);
        pool.insert(a0, ha0, 0).unwrap();
        pool.insert(a1, ha1, 0).unwrap();
        let taken: Vec<Hash> = pool
            .take_sender(&alice.account())
            .into_iter()
            .map(|(h, _)| h)
            .collect();
        assert_eq!(taken, vec![ha0, ha1]);
        assert!(pool.is_empty());
    }

    fn transfer(sender: &Keypair, nonce: u64, amount: u64) -> (Tx, Hash) {
        let (mut t, h) = tx(sender, nonce);
        t.body = TxBody::Transfer {
            to: Account([9; 32]),
            amount,
        };
        (t, h)
    }

    fn claim(sender: &Keypair, nonce: u64, session: u64, bytes: u64) -> (Tx, Hash) {
        let (mut t, h) = tx(sender, nonce);
        t.body = TxBody::Claim {
            receipts: vec![crate::primitives::Receipt {
                provider: sender.account(),
                consumer: Account([7; 32]),
                session,
                bytes,
                signature: Signature([0; 64]),
            }],
        };
        (t, h)
    }

    #[test]
    fn pending_transfers_count_against_the_balance() {
        let alice = Keypair::dev("alice");
        let mut pool = Mempool::new(MempoolLimits::default());
        let balance = 10;
        for nonce in 0..3 {
            let (t, h) = transfer(&alice, nonce, 3);
            pool.check_pending(&t, balance).unwrap();
            pool.insert(t, h, 0).unwrap();
        }
        assert_eq!(pool.pending_spend(&alice.account()), 9);
        let (t, h) = transfer(&alice, 3, 2);
        assert_eq!(
            pool.check_pending(&t, balance),
            Err(MempoolError::PendingOverspend {
                balance: 10,
                pending: 9,
                amount: 2
            })
        );
        let (t1, _) = transfer(&alice, 3, 1);
        pool.check_pending(&t1, balance).unwrap();
        // Once the first transfer is included (and the balance fell by 3),
        // the pending sum falls with it.
        pool.prune_sender(&alice.account(), 1);
        assert_eq!(pool.pending_spend(&alice.account()), 6);
        pool.check_pending(&t, 7).unwrap_err();
        pool.check_pending(&t1, 7).unwrap();
        let _ = h;
        pool.take_sender(&alice.account());
        assert_eq!(pool.pending_spend(&alice.account()), 0);
        assert!(pool.spend.is_empty());
    }

    #[test]
    fn a_receipt_must_exceed_the_pending_counter_of_its_session() {
        let alice = Keypair::dev("alice");
        let mut pool = Mempool::new(MempoolLimits::default());
        let (c0, h0) = claim(&alice, 0, 5, 1_000);
        pool.check_pending(&c0, 0).unwrap();
        pool.insert(c0.clone(), h0, 0).unwrap();
        // The same receipt again, or a smaller counter: refused with a reason.
        for bytes in [1_000, 999] {
            let (again, _) = claim(&alice, 1, 5, bytes);
            assert_eq!(
                pool.check_pending(&again, 0),
                Err(MempoolError::ReceiptPending {
                    index: 0,
                    session: 5,
                    bytes,
                    pending: 1_000
                })
            );
        }
        // A larger counter, or another session, is fine.
        let (more, _) = claim(&alice, 1, 5, 1_001);
        pool.check_pending(&more, 0).unwrap();
        let (other, _) = claim(&alice, 1, 6, 10);
        pool.check_pending(&other, 0).unwrap();
        // Once the pending claim leaves the pool, the session is free.
        pool.remove_invalid(&h0);
        assert!(pool.sessions.is_empty());
        pool.check_pending(&c0, 0).unwrap();
    }

    #[test]
    fn a_full_pool_evicts_the_busiest_sender_for_a_quieter_one() {
        let alice = Keypair::dev("alice");
        let bob = Keypair::dev("bob");
        let carol = Keypair::dev("carol");
        let mut pool = Mempool::new(MempoolLimits {
            max_txs: 4,
            max_bytes: usize::MAX,
            max_per_sender: 10,
        });
        let mut alice_hashes = Vec::new();
        for nonce in 0..4 {
            let (t, h) = transfer(&alice, nonce, 1);
            assert!(pool.insert(t, h, 0).unwrap().is_empty());
            alice_hashes.push(h);
        }
        // Alice cannot evict herself.
        let (t, h) = transfer(&alice, 4, 1);
        assert_eq!(pool.insert(t, h, 0), Err(MempoolError::Full { limit: 4 }));
        // Bob has nothing pending: alice's latest transaction makes room.
        let (t, h) = transfer(&bob, 0, 1);
        assert_eq!(pool.insert(t, h, 0).unwrap(), vec![alice_hashes[3]]);
        assert!(pool.contains(&h) && !pool.contains(&alice_hashes[3]));
        assert_eq!(pool.next_nonce(&alice.account(), 0), 3);
        assert_eq!(pool.pending_spend(&alice.account()), 3);
        // Bob (1 pending) against alice (3): alice's latest again.
        let (t, h) = transfer(&bob, 1, 1);
        assert_eq!(pool.insert(t, h, 0).unwrap(), vec![alice_hashes[2]]);
        // Now alice and bob have 2 each: carol (0) still gets in.
        let (t, h) = transfer(&carol, 0, 1);
        assert_eq!(pool.insert(t, h, 0).unwrap().len(), 1);
        assert!(pool.contains(&h));
        // Bob (2) against a busiest of 2: no eviction.
        let (t, h) = transfer(&bob, 2, 1);
        assert_eq!(pool.insert(t, h, 0), Err(MempoolError::Full { limit: 4 }));
        assert_eq!(pool.len(), 4);
        let counted: usize = pool.by_count.iter().map(|(count, _)| count).sum();
        assert_eq!(counted, pool.len());
    }

    #[test]
    fn candidates_within_a_work_budget() {
        let alice = Keypair::dev("alice");
        let mut pool = Mempool::new(MempoolLimits::default());
        let mut hashes = Vec::new();
        for nonce in 0..4 {
            let (t, h) = claim(&alice, nonce, nonce, 10);
            pool.insert(t, h, 0).unwrap();
            hashes.push(h);
        }
        // One receipt each: a budget of 2 takes two, of 0 still takes one.
        let taken = |work| -> Vec<Hash> {
            pool.candidates_within(10, work)
                .into_iter()
                .map(|(hash, _)| hash)
                .collect()
        };
        assert_eq!(taken(2), hashes[..2].to_vec());
        assert_eq!(taken(0), hashes[..1].to_vec());
        assert_eq!(taken(usize::MAX), hashes);
        assert_eq!(pool.candidates_within(3, usize::MAX).len(), 3);
    }
}
