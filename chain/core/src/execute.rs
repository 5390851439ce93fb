//! The state transition: transactions, capacity budgets and per-block
//! minting (DESIGN.md §3 and §5). Pure: reads through a [`StateView`],
//! returns the changes; never touches storage, the clock or the network.

use std::collections::BTreeMap;

use crate::genesis::ChainSpec;
use crate::primitives::hash;
use crate::primitives::signing::{self, KeyError, SignatureError};
use crate::primitives::{Account, Hash, ReceiptOutcome, Reward, RewardKind, Tx, TxBody, TxOutcome};
use crate::state::{
    DeviceRecord, LtHash, Overlay, SessionId, StateChange, StateView, StorageError,
};

/// Why a transaction is not valid. Each variant says what was expected and
/// what was found; the HTTP API returns the message as is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxError {
    #[error("bad signature: the transaction is not signed by {from} for this chain")]
    BadSignature { from: Account },
    #[error("bad receipt signature: receipt {index} is not signed by its consumer {consumer} for this chain")]
    BadReceiptSignature { index: usize, consumer: Account },
    #[error("inadmissible sender: {from} is not an admissible ed25519 key: {reason}")]
    InadmissibleSender { from: Account, reason: KeyError },
    #[error("inadmissible recipient: {to} is not an admissible ed25519 key: {reason}")]
    InadmissibleRecipient { to: Account, reason: KeyError },
    #[error("inadmissible device: {device} is not an admissible ed25519 key: {reason}")]
    InadmissibleDevice { device: Account, reason: KeyError },
    #[error("wrong nonce: expected {expected}, found {found}")]
    WrongNonce { expected: u64, found: u64 },
    #[error("claim has no receipts: at least 1 is required")]
    NoReceipts,
    #[error("too many receipts: at most {max} per claim, found {found}")]
    TooManyReceipts { max: u64, found: usize },
    #[error("receipt {index} names provider {provider}, but the claim is sent by {from}")]
    ProviderMismatch {
        index: usize,
        provider: Account,
        from: Account,
    },
    #[error("receipt {index}: provider and consumer are the same account {account}")]
    SelfReceipt { index: usize, account: Account },
    #[error("unknown device: {device} is not an active registered device")]
    UnknownDevice { device: Account },
    #[error("replayed receipt: receipt {index} (session {session}) carries {bytes} bytes, but {credited} are already counted for that session")]
    ReplayedReceipt {
        index: usize,
        session: u64,
        bytes: u64,
        credited: u64,
    },
    #[error("amount must be greater than 0")]
    ZeroAmount,
    #[error("transfer to self: sender and recipient are both {account}")]
    SelfTransfer { account: Account },
    #[error("overspend: balance {balance} does not cover amount {amount}")]
    Overspend { balance: u64, amount: u64 },
    #[error("recipient balance would overflow")]
    BalanceOverflow,
    #[error(
        "not an authority: only authorities may register or revoke devices, and {from} is not one"
    )]
    NotAuthority { from: Account },
    #[error("device {device} is already {}", if *.active { "active" } else { "inactive" })]
    DeviceUnchanged { device: Account, active: bool },
    #[error("device {device} is not registered, so it cannot be revoked")]
    DeviceNotRegistered { device: Account },
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl From<SignatureError> for TxError {
    fn from(error: SignatureError) -> Self {
        match error {
            SignatureError::Sender { from } => TxError::BadSignature { from },
            SignatureError::Receipt { index, consumer } => {
                TxError::BadReceiptSignature { index, consumer }
            }
        }
    }
}

/// Why a block's transactions or rewards cannot be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExecError {
    #[error("transaction {index} ({hash}) is invalid: {error}")]
    InvalidTx {
        index: usize,
        hash: Hash,
        error: TxError,
    },
    #[error("too many transactions: at most {max}, found {found}")]
    TooManyTxs { max: u64, found: usize },
    #[error("minting {amount} would overflow the total supply")]
    SupplyOverflow { amount: u64 },
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Checks that need no state: shape, limits and signatures.
pub fn check_tx_stateless(spec: &ChainSpec, tx: &Tx) -> Result<(), TxError> {
    check_tx_shape(spec, tx)?;
    check_tx_signatures(&spec.genesis_hash(), tx)
}

/// Limits and internal consistency of a transaction (no signatures), and
/// the admissibility of every key it would give rights or funds to
/// (DESIGN.md §1): the sender, a transfer's recipient, a registered device.
/// Revoking a device takes rights away, so it needs no admissible key.
pub fn check_tx_shape(spec: &ChainSpec, tx: &Tx) -> Result<(), TxError> {
    signing::check_admissible(&tx.from).map_err(|reason| TxError::InadmissibleSender {
        from: tx.from,
        reason,
    })?;
    match &tx.body {
        TxBody::Claim { receipts } => {
            if receipts.is_empty() {
                return Err(TxError::NoReceipts);
            }
            let max = spec.genesis.max_receipts_per_claim;
            if receipts.len() as u64 > max {
                return Err(TxError::TooManyReceipts {
                    max,
                    found: receipts.len(),
                });
            }
            for (index, receipt) in receipts.iter().enumerate() {
                if receipt.provider != tx.from {
                    return Err(TxError::ProviderMismatch {
                        index,
                        provider: receipt.provider,
                        from: tx.from,
                    });
                }
                if receipt.provider == receipt.consumer {
                    return Err(TxError::SelfReceipt {
                        index,
                        account: receipt.consumer,
                    });
                }
            }
        }
        TxBody::Transfer { to, amount } => {
            if *amount == 0 {
                return Err(TxError::ZeroAmount);
            }
            if *to == tx.from {
                return Err(TxError::SelfTransfer { account: tx.from });
            }
            signing::check_admissible(to)
                .map_err(|reason| TxError::InadmissibleRecipient { to: *to, reason })?;
        }
        TxBody::SetDevice { device, active } => {
            if *active {
                signing::check_admissible(device).map_err(|reason| {
                    TxError::InadmissibleDevice {
                        device: *device,
                        reason,
                    }
                })?;
            }
        }
    }
    Ok(())
}

/// Verifies the transaction's signature and every receipt's signature.
pub fn check_tx_signatures(genesis_hash: &Hash, tx: &Tx) -> Result<(), TxError> {
    if !signing::verify_tx_signature(genesis_hash, tx) {
        return Err(TxError::BadSignature { from: tx.from });
    }
    if let TxBody::Claim { receipts } = &tx.body {
        for (index, receipt) in receipts.iter().enumerate() {
            if !signing::verify_receipt(genesis_hash, receipt) {
                return Err(TxError::BadReceiptSignature {
                    index,
                    consumer: receipt.consumer,
                });
            }
        }
    }
    Ok(())
}

/// `emission(h) = block_reward >> (h / halving_interval)`, 0 = never halve.
pub fn emission(block_reward: u64, halving_interval: u64, height: u64) -> u64 {
    if halving_interval == 0 {
        return block_reward;
    }
    let halvings = height / halving_interval;
    if halvings >= 64 {
        0
    } else {
        block_reward >> halvings
    }
}

/// The tokens minted in a block at `height` by `proposer`, given the bytes
/// credited to each provider in it. Integer arithmetic, floor division.
pub fn compute_rewards(
    spec: &ChainSpec,
    height: u64,
    proposer: &Account,
    credited: &BTreeMap<Account, u64>,
) -> Vec<Reward> {
    let genesis = &spec.genesis;
    let emission = u128::from(emission(
        genesis.block_reward,
        genesis.halving_interval,
        height,
    ));
    let proposer_amount = emission * u128::from(genesis.proposer_share_bps) / 10_000;
    let pool = emission - proposer_amount;
    let mut rewards = Vec::with_capacity(credited.len() + 1);
    if proposer_amount > 0 {
        rewards.push(Reward {
            account: *proposer,
            amount: to_u64(proposer_amount),
            kind: RewardKind::Proposer,
        });
    }
    let demand = |bytes: u64| (u128::from(bytes) * u128::from(genesis.reward_per_gib)) >> 30;
    let total_demand: u128 = credited.values().map(|bytes| demand(*bytes)).sum();
    let total_credited: u128 = credited.values().map(|bytes| u128::from(*bytes)).sum();
    for (provider, bytes) in credited {
        let amount = if total_demand <= pool {
            demand(*bytes)
        } else {
            pool * u128::from(*bytes) / total_credited
        };
        if amount > 0 {
            rewards.push(Reward {
                account: *provider,
                amount: to_u64(amount),
                kind: RewardKind::Provider,
            });
        }
    }
    rewards
}

/// Every reward is at most the emission, a u64.
fn to_u64(amount: u128) -> u64 {
    u64::try_from(amount).expect("a reward never exceeds the u64 emission")
}

/// Where and when a block is being executed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockContext {
    pub height: u64,
    pub timestamp_ms: u64,
    pub proposer: Account,
}

/// Whether signatures still need checking. Transactions admitted through the
/// mempool were verified once on admission and need not be verified again
/// when the node applies its own block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signatures {
    Verify,
    AlreadyVerified,
}

/// The result of executing a block's transactions.
#[derive(Debug, Clone)]
pub struct ExecutedBlock {
    pub txs: Vec<Tx>,
    pub tx_hashes: Vec<Hash>,
    pub outcomes: Vec<TxOutcome>,
    pub rewards: Vec<Reward>,
    pub minted: u64,
    pub changes: Vec<StateChange>,
    pub accumulator: LtHash,
    pub state_root: Hash,
    pub tx_root: Hash,
}

/// Applies transactions one at a time on top of a parent state. Used both to
/// build a block (skipping what fails) and to check one (failing on the first
/// invalid transaction).
pub struct BlockExecutor<'a> {
    spec: &'a ChainSpec,
    ctx: BlockContext,
    overlay: Overlay<'a>,
    txs: Vec<Tx>,
    tx_hashes: Vec<Hash>,
    outcomes: Vec<TxOutcome>,
    credited: BTreeMap<Account, u64>,
}

impl<'a> BlockExecutor<'a> {
    pub fn new(spec: &'a ChainSpec, parent_state: &'a dyn StateView, ctx: BlockContext) -> Self {
        Self {
            spec,
            ctx,
            overlay: Overlay::new(parent_state),
            txs: Vec::new(),
            tx_hashes: Vec::new(),
            outcomes: Vec::new(),
            credited: BTreeMap::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.txs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.txs.is_empty()
    }

    pub fn is_full(&self) -> bool {
        self.txs.len() as u64 >= self.spec.genesis.max_block_txs
    }

    /// Applies one transaction, or leaves the state untouched and says why not.
    pub fn push(&mut self, tx: Tx, tx_hash: Hash, signatures: Signatures) -> Result<(), TxError> {
        check_tx_shape(self.spec, &tx)?;
        if signatures == Signatures::Verify {
            check_tx_signatures(&self.spec.genesis_hash(), &tx)?;
        }
        let checkpoint = self.overlay.checkpoint();
        match apply_tx(self.spec, &self.ctx, &mut self.overlay, &tx) {
            Ok(outcome) => {
                if let TxOutcome::Claim { receipts, .. } = &outcome {
                    let bytes: u64 = receipts.iter().map(|r| r.credited_bytes).sum();
                    if bytes > 0 {
                        let entry = self.credited.entry(tx.from).or_default();
                        // Credited bytes are bounded by budgets of at most u64::MAX each.
                        *entry = entry.saturating_add(bytes);
                    }
                }
                self.txs.push(tx);
                self.tx_hashes.push(tx_hash);
                self.outcomes.push(outcome);
                Ok(())
            }
            Err(error) => {
                self.overlay.rollback(checkpoint);
                Err(error)
            }
        }
    }

    /// Mints the block's rewards and computes its roots.
    pub fn finish(mut self) -> Result<ExecutedBlock, ExecError> {
        let rewards = compute_rewards(
            self.spec,
            self.ctx.height,
            &self.ctx.proposer,
            &self.credited,
        );
        let mut minted: u64 = 0;
        for reward in &rewards {
            let mut record = self.overlay.account(&reward.account)?;
            record.balance =
                record
                    .balance
                    .checked_add(reward.amount)
                    .ok_or(ExecError::SupplyOverflow {
                        amount: reward.amount,
                    })?;
            self.overlay.set_account(&reward.account, record)?;
            minted = minted
                .checked_add(reward.amount)
                .ok_or(ExecError::SupplyOverflow {
                    amount: reward.amount,
                })?;
        }
        let mut supply = self.overlay.supply()?;
        supply.total_supply = supply
            .total_supply
            .checked_add(minted)
            .ok_or(ExecError::SupplyOverflow { amount: minted })?;
        supply.minted = supply
            .minted
            .checked_add(minted)
            .ok_or(ExecError::SupplyOverflow { amount: minted })?;
        self.overlay.set_supply(supply)?;

        let provider_rewards: BTreeMap<Account, u64> = rewards
            .iter()
            .filter(|reward| reward.kind == RewardKind::Provider)
            .map(|reward| (reward.account, reward.amount))
            .collect();
        for (outcome, tx) in self.outcomes.iter_mut().zip(&self.txs) {
            if let TxOutcome::Claim {
                provider_reward, ..
            } = outcome
            {
                *provider_reward = provider_rewards.get(&tx.from).copied().unwrap_or(0);
            }
        }

        let (changes, accumulator) = self.overlay.finish()?;
        let state_root = accumulator.root();
        let tx_root = hash::merkle_root(&self.tx_hashes);
        Ok(ExecutedBlock {
            txs: self.txs,
            tx_hashes: self.tx_hashes,
            outcomes: self.outcomes,
            rewards,
            minted,
            changes,
            accumulator,
            state_root,
            tx_root,
        })
    }
}

/// The cheap stateful checks, run before any signature is verified so that
/// a transaction that could never apply costs a few state reads, not its
/// signatures: the nonce is not behind the sender's (nor absurdly ahead of
/// it, past `max_ahead`), a claim's provider and every consumer are active
/// devices, a transfer is covered by the balance, and a `SetDevice` comes
/// from an authority. [`check_tx_against_state`] still runs in full after the
/// signatures, under the node's lock.
pub fn precheck_tx(
    spec: &ChainSpec,
    state: &dyn StateView,
    tx: &Tx,
    max_ahead: u64,
) -> Result<(), TxError> {
    let mut overlay = Overlay::new(state);
    let sender = overlay.account(&tx.from)?;
    if tx.nonce < sender.nonce || tx.nonce - sender.nonce > max_ahead {
        return Err(TxError::WrongNonce {
            expected: sender.nonce,
            found: tx.nonce,
        });
    }
    match &tx.body {
        TxBody::Claim { receipts } => {
            active_device(&mut overlay, &tx.from)?;
            let mut seen = std::collections::HashSet::with_capacity(receipts.len());
            for receipt in receipts {
                if seen.insert(receipt.consumer) {
                    active_device(&mut overlay, &receipt.consumer)?;
                }
            }
        }
        TxBody::Transfer { amount, .. } => {
            if sender.balance < *amount {
                return Err(TxError::Overspend {
                    balance: sender.balance,
                    amount: *amount,
                });
            }
        }
        TxBody::SetDevice { .. } => {
            if !spec.is_authority(&tx.from) {
                return Err(TxError::NotAuthority { from: tx.from });
            }
        }
    }
    Ok(())
}

/// Checks `tx` against the state as if it were the next transaction from
/// its sender after `pending_nonce - state nonce` pending ones: everything
/// but the nonce is checked against `state`. Used by the mempool on admission.
pub fn check_tx_against_state(
    spec: &ChainSpec,
    state: &dyn StateView,
    ctx: &BlockContext,
    tx: &Tx,
    expected_nonce: u64,
) -> Result<(), TxError> {
    if tx.nonce != expected_nonce {
        return Err(TxError::WrongNonce {
            expected: expected_nonce,
            found: tx.nonce,
        });
    }
    let mut overlay = Overlay::new(state);
    let mut sender = overlay.account(&tx.from)?;
    sender.nonce = expected_nonce;
    overlay.set_account(&tx.from, sender)?;
    apply_tx(spec, ctx, &mut overlay, tx).map(|_| ())
}

/// Applies a transaction whose shape and signatures were checked. On error
/// the overlay may hold partial writes; the caller rolls them back.
fn apply_tx(
    spec: &ChainSpec,
    ctx: &BlockContext,
    overlay: &mut Overlay<'_>,
    tx: &Tx,
) -> Result<TxOutcome, TxError> {
    let mut sender = overlay.account(&tx.from)?;
    if tx.nonce != sender.nonce {
        return Err(TxError::WrongNonce {
            expected: sender.nonce,
            found: tx.nonce,
        });
    }
    // Nonces count included transactions; 2^64 of them cannot happen.
    sender.nonce += 1;
    overlay.set_account(&tx.from, sender)?;

    match &tx.body {
        TxBody::Claim { receipts } => apply_claim(spec, ctx, overlay, receipts),
        TxBody::Transfer { to, amount } => {
            let mut sender = overlay.account(&tx.from)?;
            if sender.balance < *amount {
                return Err(TxError::Overspend {
                    balance: sender.balance,
                    amount: *amount,
                });
            }
            sender.balance -= amount;
            overlay.set_account(&tx.from, sender)?;
            let mut recipient = overlay.account(to)?;
            recipient.balance = recipient
                .balance
                .checked_add(*amount)
                .ok_or(TxError::BalanceOverflow)?;
            overlay.set_account(to, recipient)?;
            Ok(TxOutcome::Transfer)
        }
        TxBody::SetDevice { device, active } => {
            if !spec.is_authority(&tx.from) {
                return Err(TxError::NotAuthority { from: tx.from });
            }
            let record = match (overlay.device(device)?, active) {
                (Some(record), _) if record.active == *active => {
                    return Err(TxError::DeviceUnchanged {
                        device: *device,
                        active: *active,
                    })
                }
                (None, false) => return Err(TxError::DeviceNotRegistered { device: *device }),
                // Registration, or re-registration after a revocation: full budgets.
                (_, true) => DeviceRecord::registered(spec.budget_capacity, ctx.timestamp_ms),
                (Some(record), false) => DeviceRecord {
                    active: false,
                    ..record
                },
            };
            overlay.set_device(device, record)?;
            Ok(TxOutcome::SetDevice)
        }
    }
}

fn active_device(overlay: &mut Overlay<'_>, device: &Account) -> Result<DeviceRecord, TxError> {
    match overlay.device(device)? {
        Some(record) if record.active => Ok(record),
        _ => Err(TxError::UnknownDevice { device: *device }),
    }
}

fn apply_claim(
    spec: &ChainSpec,
    ctx: &BlockContext,
    overlay: &mut Overlay<'_>,
    receipts: &[crate::primitives::Receipt],
) -> Result<TxOutcome, TxError> {
    let rate = spec.genesis.device_capacity_bytes_per_sec;
    let capacity = spec.budget_capacity;
    let mut outcomes = Vec::with_capacity(receipts.len());
    for (index, receipt) in receipts.iter().enumerate() {
        let mut provider = active_device(overlay, &receipt.provider)?;
        let mut consumer = active_device(overlay, &receipt.consumer)?;
        let id = SessionId {
            provider: receipt.provider,
            consumer: receipt.consumer,
            session: receipt.session,
        };
        let counted = overlay.session(&id)?;
        if receipt.bytes <= counted {
            return Err(TxError::ReplayedReceipt {
                index,
                session: receipt.session,
                bytes: receipt.bytes,
                credited: counted,
            });
        }
        let increase = receipt.bytes - counted;
        provider.refill(rate, capacity, ctx.timestamp_ms);
        consumer.refill(rate, capacity, ctx.timestamp_ms);
        let credited = increase
            .min(provider.upload_budget)
            .min(consumer.download_budget);
        provider.upload_budget -= credited;
        consumer.download_budget -= credited;
        overlay.set_device(&receipt.provider, provider)?;
        overlay.set_device(&receipt.consumer, consumer)?;
        overlay.set_session(&id, receipt.bytes)?;
        outcomes.push(ReceiptOutcome {
            consumer: receipt.consumer,
            session: receipt.session,
            credited_bytes: credited,
            forfeited_bytes: increase - credited,
        });
    }
    Ok(TxOutcome::Claim {
        receipts: outcomes,
        provider_reward: 0,
    })
}

/// Executes a whole block, failing on the first invalid transaction.
pub fn execute_block(
    spec: &ChainSpec,
    parent_state: &dyn StateView,
    ctx: BlockContext,
    txs: &[Tx],
    signatures: Signatures,
) -> Result<ExecutedBlock, ExecError> {
    if txs.len() as u64 > spec.genesis.max_block_txs {
        return Err(ExecError::TooManyTxs {
            max: spec.genesis.max_block_txs,
            found: txs.len(),
        });
    }
    let genesis_hash = spec.genesis_hash();
    let mut executor = BlockExecutor::new(spec, parent_state, ctx);
    for (index, tx) in txs.iter().enumerate() {
        let hash = signing::tx_hash(&genesis_hash, tx);
        executor
            .push(tx.clone(), hash, signatures)
            .map_err(|error| match error {
                TxError::Storage(err) => ExecError::Storage(err),
                error => ExecError::InvalidTx { index, hash, error },
            })?;
    }
    executor.finish()
}
