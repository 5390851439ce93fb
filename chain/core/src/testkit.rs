//! Shared helpers for tests and benchmarks: dev keys, a small test genesis,
//! signed receipts and transactions, and a one-call block executor. Not used
//! by the node itself.
//!
//! Everything is deterministic: keys are dev keys derived from names
//! ([`Keypair::dev`]) and ed25519 signatures are deterministic, so the same
//! calls always produce the same bytes.

use crate::execute::{self, BlockContext, ExecError, ExecutedBlock, Signatures};
use crate::genesis::{Balances, ChainSpec, Genesis};
use crate::primitives::signing::{self, Keypair};
use crate::primitives::{Account, Hash, Receipt, Tx, TxBody};
use crate::state::MemState;

/// `genesis_time_ms` of [`test_genesis`]: a round number, far from 0 so that
/// "time since genesis" arithmetic is exercised.
pub const TEST_GENESIS_TIME_MS: u64 = 1_000_000;
/// `block_time_ms` of [`test_genesis`].
pub const TEST_BLOCK_TIME_MS: u64 = 1_000;
/// Initial balance of every authority and device in [`test_genesis`].
pub const TEST_BALANCE: u64 = 1_000_000;
/// `block_reward` of [`test_genesis`].
pub const TEST_BLOCK_REWARD: u64 = 1_000_000;
/// `device_capacity_bytes_per_sec` of [`test_genesis`]: small, so budgets run
/// out after a few thousand bytes.
pub const TEST_CAPACITY_PER_SEC: u64 = 1_000;
/// `budget_window_secs` of [`test_genesis`]: a full bucket holds 10 000 bytes.
pub const TEST_BUDGET_WINDOW_SECS: u64 = 10;
/// `max_receipts_per_claim` of [`test_genesis`].
pub const TEST_MAX_RECEIPTS: u64 = 4;

/// The dev keypair NAME (seed `SHA-256("bwchain-dev/" || NAME)`).
pub fn key(name: &str) -> Keypair {
    Keypair::dev(name)
}

/// The account of dev key NAME.
pub fn account(name: &str) -> Account {
    Keypair::dev(name).account()
}

/// A small chain for tests: the named dev keys as authorities (in order) and
/// devices, each with [`TEST_BALANCE`]; a 1 000 000 block reward that never
/// halves, 10% to the proposer; `reward_per_gib = 2^30`, so a provider's
/// demand is one token per credited byte; 1 000 bytes/s capacity over a 10 s
/// window; at most 4 receipts per claim and 100 transactions per block.
/// Tests adjust fields of the returned value as they need.
pub fn test_genesis(authorities: &[&str], devices: &[&str]) -> Genesis {
    let balances = authorities
        .iter()
        .chain(devices)
        .map(|name| (account(name), TEST_BALANCE))
        .collect();
    Genesis {
        chain_id: "bwchain-test".into(),
        genesis_time_ms: TEST_GENESIS_TIME_MS,
        block_time_ms: TEST_BLOCK_TIME_MS,
        max_clock_drift_ms: 500,
        authorities: authorities.iter().map(|name| account(name)).collect(),
        devices: devices.iter().map(|name| account(name)).collect(),
        balances: Balances(balances),
        block_reward: TEST_BLOCK_REWARD,
        halving_interval: 0,
        proposer_share_bps: 1_000,
        reward_per_gib: 1 << 30,
        device_capacity_bytes_per_sec: TEST_CAPACITY_PER_SEC,
        budget_window_secs: TEST_BUDGET_WINDOW_SECS,
        max_receipts_per_claim: TEST_MAX_RECEIPTS,
        max_block_txs: 100,
    }
}

/// [`test_genesis`] turned into a [`ChainSpec`]. Panics if invalid.
pub fn test_spec(authorities: &[&str], devices: &[&str]) -> ChainSpec {
    ChainSpec::new(test_genesis(authorities, devices)).expect("test genesis is valid")
}

/// The usual cast: authority `alice`, devices `bob carol dave eve`
/// (`frank` is left unregistered for "unknown device" cases).
pub fn dev_spec() -> ChainSpec {
    test_spec(&["alice"], &["bob", "carol", "dave", "eve"])
}

/// `consumer` signs that it received `bytes` in total from `provider` in
/// `session`, for the chain of `spec`.
pub fn receipt(
    spec: &ChainSpec,
    consumer: &Keypair,
    provider: Account,
    session: u64,
    bytes: u64,
) -> Receipt {
    consumer.sign_receipt(&spec.genesis_hash(), provider, session, bytes)
}

/// A claim by `provider` with its `nonce`.
pub fn claim(spec: &ChainSpec, provider: &Keypair, nonce: u64, receipts: Vec<Receipt>) -> Tx {
    provider.sign_tx(&spec.genesis_hash(), nonce, TxBody::Claim { receipts })
}

/// A transfer of `amount` from `from` to `to`.
pub fn transfer(spec: &ChainSpec, from: &Keypair, nonce: u64, to: Account, amount: u64) -> Tx {
    from.sign_tx(&spec.genesis_hash(), nonce, TxBody::Transfer { to, amount })
}

/// A registration (`active = true`) or revocation of `device`, sent by `from`.
pub fn set_device(
    spec: &ChainSpec,
    from: &Keypair,
    nonce: u64,
    device: Account,
    active: bool,
) -> Tx {
    from.sign_tx(
        &spec.genesis_hash(),
        nonce,
        TxBody::SetDevice { device, active },
    )
}

/// The hash of `tx` on the chain of `spec`.
pub fn tx_hash(spec: &ChainSpec, tx: &Tx) -> Hash {
    signing::tx_hash(&spec.genesis_hash(), tx)
}

/// The context of the block at `height` in slot `height`: its timestamp is
/// the start of that slot and its proposer the slot's authority.
pub fn block_context(spec: &ChainSpec, height: u64) -> BlockContext {
    let genesis = &spec.genesis;
    let authorities = genesis.authorities.len() as u64;
    let index = usize::try_from(height % authorities).expect("index fits usize");
    BlockContext {
        height,
        timestamp_ms: genesis.genesis_time_ms + height * genesis.block_time_ms,
        proposer: genesis.authorities[index],
    }
}

/// Executes `txs` as one block on `state` (verifying signatures) and, if the
/// block is valid, applies its changes to `state`.
pub fn apply_block(
    spec: &ChainSpec,
    state: &mut MemState,
    ctx: BlockContext,
    txs: &[Tx],
) -> Result<ExecutedBlock, ExecError> {
    let executed = execute::execute_block(spec, state, ctx, txs, Signatures::Verify)?;
    state.apply(&executed.changes);
    Ok(executed)
}
