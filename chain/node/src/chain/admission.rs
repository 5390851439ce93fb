//! Admission: checking submitted transactions and adding them to the
//! mempool. Cheapest checks first, so that a transaction that could never
//! apply costs little: a cache of recently refused hashes, the shape, a few
//! state reads ([`precheck_tx`]: nonce, devices, balance), then signatures on
//! all cores, and last the full check against the state and the pending
//! transactions under the mempool's lock.
//!
//! Claims are admitted under the mempool's lock alone, so they go on while
//! a block is being written (under the chain lock, which may take a good
//! part of a slot). The state they are checked against may then be partly
//! the old head's and partly the new one's; each entry read is one or the
//! other, and the block's own transactions are still in the mempool until
//! it is pruned, so a claim admitted then is as valid as one admitted just
//! before or after (nonces follow the pending ones either way, and a
//! session's counter must exceed both the state's and the pending ones).
//! A block builder re-executes every candidate anyway. Transfers and
//! device changes also take the chain lock: a balance read after the block
//! but set against pending spends from before it would count them twice.

use std::time::{Duration, Instant};

use bwchain_core::execute::precheck_tx;

use super::*;

/// Pending work, in blocks' worth (as this node's pacer sizes blocks), past
/// which API submissions are held until blocks catch up.
pub const BACKLOG_BLOCKS: usize = 3;

/// Longest a submission is held for the backlog; then it is checked
/// anyway (and the mempool's limits apply).
pub const MAX_HOLD: Duration = Duration::from_secs(5);

/// The backlog (in mempool work units) past which API submissions are held.
pub(super) fn backlog_limit(pacer: &consensus::BuildPacer, spec: &ChainSpec) -> usize {
    pacer
        .budget(spec.genesis.block_time_ms)
        .saturating_mul(BACKLOG_BLOCKS)
}

impl Node {
    /// Holds an API submission (at most [`MAX_HOLD`]) while the mempool
    /// already has more than [`BACKLOG_BLOCKS`] blocks of work.
    ///
    /// Checking signatures costs as much CPU as building blocks. A node
    /// that admitted everything as fast as it arrived would leave its block
    /// builder a fraction of the machine and a backlog that only grows
    /// (measured: a 12-second backlog, and blocks half the size that the
    /// builder makes alone). Held here, before any work is done on them,
    /// submissions slow their senders down instead: flow control, as a
    /// full TCP window does. Relayed transactions are never held.
    pub fn hold_while_backlogged(&self) {
        let deadline = Instant::now() + MAX_HOLD;
        let mut pool = self.pool();
        let mut held = false;
        loop {
            let now = Instant::now();
            if pool.mempool.work() <= pool.backlog_limit || now >= deadline {
                break;
            }
            held = true;
            pool = self
                .shared
                .head_moved
                .wait_timeout(pool, deadline - now)
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .0;
        }
        drop(pool);
        if held {
            self.metrics().submissions_held.inc();
        }
    }

    /// Checks a transaction and adds it to the mempool, then gossips it.
    /// Resubmitting a pending transaction is accepted again (idempotent).
    pub fn submit_tx(&self, tx: Tx) -> Result<Hash, SubmitError> {
        self.submit_tx_at(tx, now_ms(), None)
    }

    /// [`Node::submit_tx`] at a given time, from a peer (not gossiped back).
    pub fn submit_tx_at(
        &self,
        tx: Tx,
        now_ms: u64,
        from_peer: Option<PeerId>,
    ) -> Result<Hash, SubmitError> {
        let result = self.admit(tx.clone(), now_ms);
        match &result {
            Ok((hash, true)) => {
                self.metrics().submitted(*hash, now_ms);
                self.metrics().txs_admitted.inc();
                self.broadcast(from_peer, Message::NewTx(tx));
            }
            Ok((_, false)) => self.metrics().txs_admitted.inc(),
            Err(error) => self.metrics().rejected(error),
        }
        result.map(|(hash, _)| hash)
    }

    /// Submits many transactions at once: their signatures are checked
    /// together on all cores, then each is admitted in order. One result per
    /// transaction, in input order.
    pub fn submit_batch(&self, txs: Vec<Tx>, now_ms: u64) -> Vec<Result<Hash, SubmitError>> {
        let spec = self.spec();
        let genesis_hash = spec.genesis_hash();
        let hashes: Vec<Hash> = txs
            .iter()
            .map(|tx| signing::tx_hash(&genesis_hash, tx))
            .collect();
        let mut results: Vec<Option<Result<Hash, SubmitError>>> = Vec::with_capacity(txs.len());
        for (tx, hash) in txs.iter().zip(&hashes) {
            results.push(self.cheap_checks(tx, hash).err().map(Err));
        }
        // Signatures of everything that passed the cheap checks, in one go.
        let to_verify: Vec<usize> = (0..txs.len()).filter(|i| results[*i].is_none()).collect();
        let batch: Vec<&Tx> = to_verify.iter().map(|i| &txs[*i]).collect();
        let verify_started = std::time::Instant::now();
        let verified = self.shared.verifier.verify_txs(&genesis_hash, &batch);
        let verify_time = verify_started.elapsed();
        let admit_started = std::time::Instant::now();
        for (index, outcome) in to_verify.iter().zip(verified) {
            if let Err(err) = outcome {
                let err = self.remember_refusal(hashes[*index], err.into());
                results[*index] = Some(Err(err.into()));
            }
        }
        let mut accepted = Vec::new();
        {
            let needs_chain = txs
                .iter()
                .enumerate()
                .any(|(index, tx)| results[index].is_none() && !is_claim(tx));
            let _chain = needs_chain.then(|| self.chain());
            let mut pool = self.pool();
            for (index, tx) in txs.into_iter().enumerate() {
                if results[index].is_some() {
                    continue;
                }
                let hash = hashes[index];
                if pool.mempool.contains(&hash) {
                    results[index] = Some(Ok(hash));
                    continue;
                }
                let outcome = self.admit_checked(&mut pool, tx.clone(), hash, now_ms);
                if outcome.is_ok() {
                    self.metrics().submitted(hash, now_ms);
                    accepted.push(tx);
                }
                results[index] = Some(outcome.map(|()| hash));
            }
        }
        tracing::debug!(
            txs = results.len(),
            verify_ms = verify_time.as_millis() as u64,
            admit_ms = admit_started.elapsed().as_millis() as u64,
            "batch admission timings"
        );
        for result in &results {
            match result {
                Some(Ok(_)) => self.metrics().txs_admitted.inc(),
                Some(Err(error)) => self.metrics().rejected(error),
                None => {}
            }
        }
        for tx in accepted {
            self.broadcast(None, Message::NewTx(tx));
        }
        results
            .into_iter()
            .map(|result| result.expect("every transaction has a result"))
            .collect()
    }

    /// Admits a transaction; the flag says whether it was new to the pool.
    pub(super) fn admit(&self, tx: Tx, now_ms: u64) -> Result<(Hash, bool), SubmitError> {
        let spec = self.spec();
        let hash = signing::tx_hash(&spec.genesis_hash(), &tx);
        if self.pool().mempool.contains(&hash) {
            return Ok((hash, false));
        }
        self.cheap_checks(&tx, &hash)?;
        if let Some(Err(err)) = self
            .shared
            .verifier
            .verify_txs(&spec.genesis_hash(), std::slice::from_ref(&tx))
            .pop()
        {
            return Err(self.remember_refusal(hash, err.into()).into());
        }
        let _chain = (!is_claim(&tx)).then(|| self.chain());
        self.admit_checked(&mut self.pool(), tx, hash, now_ms)?;
        Ok((hash, true))
    }

    /// Everything before the signatures: a refusal remembered from before,
    /// the shape (remembered when wrong), then the state reads of
    /// [`precheck_tx`] (not remembered: the state moves on).
    fn cheap_checks(&self, tx: &Tx, hash: &Hash) -> Result<(), SubmitError> {
        if let Some(failure) = self.store().write_failure() {
            // It could never be included by this node: say so now.
            return Err(StoreError::WritesStopped(failure).into());
        }
        if let Some(err) = self.remembered_refusal(hash) {
            return Err(err.into());
        }
        let spec = self.spec();
        if let Err(err) = bwchain_core::execute::check_tx_shape(spec, tx) {
            return Err(self.remember_refusal(*hash, err).into());
        }
        let max_ahead = self.shared.max_pending_per_sender as u64;
        match precheck_tx(spec, self.store(), tx, max_ahead) {
            // A nonce behind the state's: maybe this very transaction was
            // included. Only then is the transaction index read (a read
            // per submission would cost as much as the rest of these
            // checks).
            Err(TxError::WrongNonce { expected, found }) if found < expected => {
                match self.store().tx_location(hash)? {
                    Some(location) => Err(SubmitError::AlreadyIncluded {
                        height: location.height,
                    }),
                    None => Err(TxError::WrongNonce { expected, found }.into()),
                }
            }
            result => Ok(result?),
        }
    }

    fn remembered_refusal(&self, hash: &Hash) -> Option<TxError> {
        let mut rejected = self
            .shared
            .rejected
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let err = rejected.get(hash).cloned();
        if err.is_some() {
            self.metrics().txs_refused_cached.inc();
        }
        err
    }

    /// Remembers that `hash` can never be valid (bad shape or signatures).
    fn remember_refusal(&self, hash: Hash, err: TxError) -> TxError {
        if !matches!(err, TxError::Storage(_)) {
            self.shared
                .rejected
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .put(hash, err.clone());
        }
        err
    }

    /// The stateful part of admission, under the mempool's lock (and the
    /// chain's too but for claims: see the module docs).
    pub(super) fn admit_checked(
        &self,
        pool: &mut Pool,
        tx: Tx,
        hash: Hash,
        now_ms: u64,
    ) -> Result<(), SubmitError> {
        // Checked again under the lock: an identical submission may have
        // been admitted while this one's signatures were being checked.
        if pool.mempool.contains(&hash) {
            return Ok(());
        }
        let store = self.store();
        let sender = Overlay::new(store).account(&tx.from)?;
        let expected = pool.mempool.next_nonce(&tx.from, sender.nonce);
        let ctx = BlockContext {
            height: pool.head.height + 1,
            timestamp_ms: now_ms.max(pool.head.timestamp_ms),
            proposer: pool.head.proposer,
        };
        check_tx_against_state(self.spec(), store, &ctx, &tx, expected)?;
        pool.mempool.check_pending(&tx, sender.balance)?;
        let evicted = pool.mempool.insert(tx, hash, sender.nonce)?;
        if !evicted.is_empty() {
            tracing::debug!(
                evicted = evicted.len(),
                "mempool full: evicted the busiest sender's latest transactions"
            );
            self.metrics().txs_evicted.inc_by(evicted.len() as u64);
        }
        Ok(())
    }
}

/// Claims are admitted under the mempool's lock alone (see the module docs).
fn is_claim(tx: &Tx) -> bool {
    matches!(tx.body, TxBody::Claim { .. })
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc::{channel, RecvTimeoutError};

    use bwchain_core::testkit;

    use super::*;
    use crate::chain::NodeConfig;

    /// Long enough for any admission on a loaded machine; a claim that
    /// needed the chain lock would never finish here at all.
    const LIVENESS: Duration = Duration::from_secs(60);

    /// A block being written holds the chain lock: claims are admitted
    /// meanwhile, a transfer waits for the lock.
    #[test]
    fn claims_are_admitted_while_the_chain_lock_is_held_transfers_wait() {
        let spec = testkit::dev_spec();
        let dir = tempfile::tempdir().unwrap();
        let (node, _outbound) =
            Node::open(NodeConfig::follower(spec.clone(), dir.path().to_path_buf())).unwrap();
        let (bob, carol) = (testkit::key("bob"), testkit::key("carol"));
        let claim = testkit::claim(
            &spec,
            &bob,
            0,
            vec![testkit::receipt(&spec, &carol, bob.account(), 1, 100)],
        );
        let transfer = testkit::transfer(&spec, &carol, 0, bob.account(), 5);

        let chain = node.chain();
        let (claimed, claim_done) = channel();
        let submitting = node.clone();
        let claim_thread = std::thread::spawn(move || {
            claimed
                .send(submitting.submit_batch(vec![claim], now_ms()))
                .unwrap();
        });
        let (paid, transfer_done) = channel();
        let submitting = node.clone();
        let transfer_thread = std::thread::spawn(move || {
            paid.send(submitting.submit_tx(transfer)).unwrap();
        });
        let claimed = claim_done.recv_timeout(LIVENESS).unwrap();
        assert!(matches!(claimed.as_slice(), [Ok(_)]), "{claimed:?}");
        assert_eq!(node.pool().mempool.len(), 1);
        let early = transfer_done.recv_timeout(Duration::from_millis(300));
        assert!(
            matches!(early, Err(RecvTimeoutError::Timeout)),
            "a transfer must not be admitted while the chain lock is held: {early:?}"
        );
        drop(chain);
        transfer_done.recv_timeout(LIVENESS).unwrap().unwrap();
        assert_eq!(node.pool().mempool.len(), 2);
        claim_thread.join().unwrap();
        transfer_thread.join().unwrap();
    }
}
