//! Property test of the state transition against a plain model.
//!
//! Random sequences of blocks of random transactions — claims of 0..=4
//! receipts (the limit is 3) among a few devices with random sessions and
//! byte counts, including replays and budget overruns; transfers including
//! zero amounts, self-transfers and overspends; device registrations and
//! revocations from authorities and from others; wrong nonces; bad
//! transaction and receipt signatures — are pushed one by one into
//! `execute::BlockExecutor`, skipping those that fail like a block builder,
//! and the block is applied onto a `state::MemState`.
//!
//! The model below is a separate, straightforward reading of DESIGN.md §2, §3
//! and §5 over plain `BTreeMap`s. After every transaction the executor's
//! verdict must equal the model's (the same `TxError`, with the same
//! expected/found values); after every block the whole state, the outcomes
//! and the rewards must match, the block must re-verify with
//! `execute_block`, and the supply invariant must hold:
//! Σ balances == total_supply == genesis_supply + Σ minted, with
//! `MemState::root() == recompute_root()`.
//!
//! Where DESIGN.md leaves a choice open, the model follows the order of
//! checks documented in execute.rs (shape, then signatures, then nonce, then
//! each receipt in turn: provider, consumer, replay) and the whole-byte token
//! bucket of `state::DeviceRecord::refill` (a refill adds the whole bytes
//! earned since the device's refill clock to both buckets and moves the
//! clock on by the time those bytes took; when both buckets are full the
//! clock moves to now).
//!
//! `PROPTEST_CASES=N` runs N cases instead of the default 64.

use std::cell::RefCell;
use std::collections::BTreeMap;

use bwchain_core::execute::{
    execute_block, BlockContext, BlockExecutor, ExecutedBlock, Signatures, TxError,
};
use bwchain_core::genesis::{Balances, ChainSpec};
use bwchain_core::primitives::signing::Keypair;
use bwchain_core::primitives::{Account, Hash, Receipt, RewardKind, Tx, TxBody, TxOutcome};
use bwchain_core::state::{MemState, StateKey, StateValue};
use bwchain_core::testkit;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

/// Accounts by index: two authorities (0, 1), four genesis devices (2..6)
/// and one account that starts as nothing (6).
const NAMES: [&str; 7] = ["alice", "grace", "bob", "carol", "dave", "eve", "frank"];
const AUTHORITIES: std::ops::Range<usize> = 0..2;
const DEVICES: std::ops::Range<usize> = 2..6;
const GENESIS_BALANCES: [u64; 7] = [5_000, 0, 300, 100, 0, 50, 20];

/// 100 bytes/s: one byte per 10 ms, so the model's whole-byte refill is
/// exact integer arithmetic on milliseconds.
const RATE: u64 = 100;
const MS_PER_BYTE: u64 = 1_000 / RATE;
const WINDOW_SECS: u64 = 20;
/// A full bucket: 2 000 bytes, so a few receipts exhaust it.
const CAPACITY: u64 = RATE * WINDOW_SECS;
const MAX_RECEIPTS: usize = 3;
const BLOCK_REWARD: u64 = 1_000;
const HALVING_INTERVAL: u64 = 3;
const PROPOSER_SHARE_BPS: u64 = 2_500;
/// A quarter token per byte: the pool (750 at first) is exceeded by
/// 3 000 credited bytes in one block, so both reward rules are exercised.
const REWARD_PER_GIB: u64 = 1 << 28;

struct World {
    spec: ChainSpec,
    keys: Vec<Keypair>,
    accounts: Vec<Account>,
}

impl World {
    fn new() -> Self {
        let mut genesis = testkit::test_genesis(&NAMES[AUTHORITIES], &NAMES[DEVICES]);
        genesis.balances = Balances(
            NAMES
                .iter()
                .zip(GENESIS_BALANCES)
                .filter(|(_, balance)| *balance > 0)
                .map(|(name, balance)| (testkit::account(name), balance))
                .collect(),
        );
        genesis.device_capacity_bytes_per_sec = RATE;
        genesis.budget_window_secs = WINDOW_SECS;
        genesis.max_receipts_per_claim = MAX_RECEIPTS as u64;
        genesis.block_reward = BLOCK_REWARD;
        genesis.halving_interval = HALVING_INTERVAL;
        genesis.proposer_share_bps = PROPOSER_SHARE_BPS;
        genesis.reward_per_gib = REWARD_PER_GIB;
        let spec = ChainSpec::new(genesis).expect("valid genesis");
        let keys: Vec<Keypair> = NAMES.iter().map(|name| testkit::key(name)).collect();
        let accounts = keys.iter().map(Keypair::account).collect();
        Self {
            spec,
            keys,
            accounts,
        }
    }
}

// ---------------------------------------------------------------------------
// The model.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ModelDevice {
    active: bool,
    upload: u64,
    download: u64,
    clock_ms: u64,
}

impl ModelDevice {
    fn full(now_ms: u64) -> Self {
        Self {
            active: true,
            upload: CAPACITY,
            download: CAPACITY,
            clock_ms: now_ms,
        }
    }

    fn refill(&mut self, now_ms: u64) {
        if now_ms <= self.clock_ms {
            return;
        }
        let earned = (now_ms - self.clock_ms) / MS_PER_BYTE;
        self.upload = (self.upload + earned).min(CAPACITY);
        self.download = (self.download + earned).min(CAPACITY);
        if self.upload == CAPACITY && self.download == CAPACITY {
            self.clock_ms = now_ms;
        } else {
            self.clock_ms += earned * MS_PER_BYTE;
        }
    }
}

type SessionKey = (Account, Account, u64);

#[derive(Debug, Clone, Default)]
struct Model {
    balances: BTreeMap<Account, u64>,
    nonces: BTreeMap<Account, u64>,
    sessions: BTreeMap<SessionKey, u64>,
    devices: BTreeMap<Account, ModelDevice>,
    authorities: Vec<Account>,
    total_supply: u64,
    minted: u64,
}

/// What the test knows about signatures it broke on purpose; the model
/// never verifies a signature itself.
#[derive(Debug, Clone, Default)]
struct Tampering {
    tx_signature: bool,
    receipt_signatures: Vec<bool>,
}

/// Per receipt: (credited, forfeited).
type ClaimResult = Vec<(u64, u64)>;

/// A block's minting: the proposer's amount and each provider's.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Minting {
    proposer: u64,
    providers: BTreeMap<Account, u64>,
    /// Total demand exceeded the pool.
    pro_rata: bool,
}

impl Model {
    fn genesis(world: &World) -> Self {
        let mut model = Model {
            authorities: world.accounts[AUTHORITIES].to_vec(),
            ..Model::default()
        };
        for (account, balance) in world.accounts.iter().zip(GENESIS_BALANCES) {
            if balance > 0 {
                model.balances.insert(*account, balance);
            }
            model.total_supply += balance;
        }
        for account in &world.accounts[DEVICES] {
            model.devices.insert(
                *account,
                ModelDevice::full(world.spec.genesis.genesis_time_ms),
            );
        }
        model
    }

    fn balance(&self, account: &Account) -> u64 {
        self.balances.get(account).copied().unwrap_or(0)
    }

    fn nonce(&self, account: &Account) -> u64 {
        self.nonces.get(account).copied().unwrap_or(0)
    }

    fn session(&self, key: &SessionKey) -> u64 {
        self.sessions.get(key).copied().unwrap_or(0)
    }

    fn credit(&mut self, account: Account, amount: u64) {
        *self.balances.entry(account).or_insert(0) += amount;
    }

    fn debit(&mut self, account: Account, amount: u64) {
        let balance = self.balances.get_mut(&account).expect("debited account");
        *balance -= amount;
        if *balance == 0 {
            self.balances.remove(&account);
        }
    }

    fn active_device(&self, account: &Account) -> Result<ModelDevice, TxError> {
        match self.devices.get(account) {
            Some(device) if device.active => Ok(*device),
            _ => Err(TxError::UnknownDevice { device: *account }),
        }
    }

    /// Applies one transaction, or leaves the model untouched and says why not.
    fn apply(
        &mut self,
        now_ms: u64,
        tx: &Tx,
        tampering: &Tampering,
    ) -> Result<Option<ClaimResult>, TxError> {
        let from = tx.from;
        // Checks that need no state.
        match &tx.body {
            TxBody::Claim { receipts } => {
                if receipts.is_empty() {
                    return Err(TxError::NoReceipts);
                }
                if receipts.len() > MAX_RECEIPTS {
                    return Err(TxError::TooManyReceipts {
                        max: MAX_RECEIPTS as u64,
                        found: receipts.len(),
                    });
                }
                for (index, receipt) in receipts.iter().enumerate() {
                    if receipt.provider != from {
                        return Err(TxError::ProviderMismatch {
                            index,
                            provider: receipt.provider,
                            from,
                        });
                    }
                    if receipt.consumer == from {
                        return Err(TxError::SelfReceipt {
                            index,
                            account: from,
                        });
                    }
                }
            }
            TxBody::Transfer { to, amount } => {
                if *amount == 0 {
                    return Err(TxError::ZeroAmount);
                }
                if *to == from {
                    return Err(TxError::SelfTransfer { account: from });
                }
            }
            TxBody::SetDevice { .. } => {}
        }
        if tampering.tx_signature {
            return Err(TxError::BadSignature { from });
        }
        if let TxBody::Claim { receipts } = &tx.body {
            if let Some(index) = tampering.receipt_signatures.iter().position(|bad| *bad) {
                return Err(TxError::BadReceiptSignature {
                    index,
                    consumer: receipts[index].consumer,
                });
            }
        }
        let expected = self.nonce(&from);
        if tx.nonce != expected {
            return Err(TxError::WrongNonce {
                expected,
                found: tx.nonce,
            });
        }

        // Work on a copy: a failing transaction changes nothing.
        let mut next = self.clone();
        next.nonces.insert(from, expected + 1);
        let result = match &tx.body {
            TxBody::Claim { receipts } => Some(next.claim(now_ms, receipts)?),
            TxBody::Transfer { to, amount } => {
                let balance = next.balance(&from);
                if balance < *amount {
                    return Err(TxError::Overspend {
                        balance,
                        amount: *amount,
                    });
                }
                next.debit(from, *amount);
                next.credit(*to, *amount);
                None
            }
            TxBody::SetDevice { device, active } => {
                if !next.authorities.contains(&from) {
                    return Err(TxError::NotAuthority { from });
                }
                match next.devices.get_mut(device) {
                    Some(record) if record.active == *active => {
                        return Err(TxError::DeviceUnchanged {
                            device: *device,
                            active: *active,
                        })
                    }
                    None if !*active => {
                        return Err(TxError::DeviceNotRegistered { device: *device })
                    }
                    Some(record) if !*active => record.active = false,
                    _ => {
                        next.devices.insert(*device, ModelDevice::full(now_ms));
                    }
                }
                None
            }
        };
        *self = next;
        Ok(result)
    }

    fn claim(&mut self, now_ms: u64, receipts: &[Receipt]) -> Result<ClaimResult, TxError> {
        let mut result = Vec::new();
        for (index, receipt) in receipts.iter().enumerate() {
            let mut provider = self.active_device(&receipt.provider)?;
            let mut consumer = self.active_device(&receipt.consumer)?;
            let key = (receipt.provider, receipt.consumer, receipt.session);
            let counted = self.session(&key);
            if receipt.bytes <= counted {
                return Err(TxError::ReplayedReceipt {
                    index,
                    session: receipt.session,
                    bytes: receipt.bytes,
                    credited: counted,
                });
            }
            let increase = receipt.bytes - counted;
            provider.refill(now_ms);
            consumer.refill(now_ms);
            let credited = increase.min(provider.upload).min(consumer.download);
            provider.upload -= credited;
            consumer.download -= credited;
            self.devices.insert(receipt.provider, provider);
            self.devices.insert(receipt.consumer, consumer);
            self.sessions.insert(key, receipt.bytes);
            result.push((credited, increase - credited));
        }
        Ok(result)
    }

    /// Mints a block's rewards (DESIGN.md §5) and returns them.
    fn mint(
        &mut self,
        height: u64,
        proposer: Account,
        credited: &BTreeMap<Account, u64>,
    ) -> Minting {
        let halvings = height / HALVING_INTERVAL;
        let emission = if halvings >= 64 {
            0
        } else {
            BLOCK_REWARD >> halvings
        };
        let proposer_amount = emission * PROPOSER_SHARE_BPS / 10_000;
        let pool = u128::from(emission - proposer_amount);
        let demand = |bytes: u64| u128::from(bytes) * u128::from(REWARD_PER_GIB) / (1 << 30);
        let total_demand: u128 = credited.values().map(|bytes| demand(*bytes)).sum();
        let total_bytes: u128 = credited.values().map(|bytes| u128::from(*bytes)).sum();
        let pro_rata = total_demand > pool;
        let mut providers = BTreeMap::new();
        for (provider, bytes) in credited {
            let amount = if !pro_rata {
                demand(*bytes)
            } else {
                pool * u128::from(*bytes) / total_bytes
            };
            let amount = u64::try_from(amount).unwrap();
            if amount > 0 {
                providers.insert(*provider, amount);
            }
        }
        let minted = proposer_amount + providers.values().sum::<u64>();
        if proposer_amount > 0 {
            self.credit(proposer, proposer_amount);
        }
        for (provider, amount) in &providers {
            self.credit(*provider, *amount);
        }
        self.total_supply += minted;
        self.minted += minted;
        Minting {
            proposer: proposer_amount,
            providers,
            pro_rata,
        }
    }
}

// ---------------------------------------------------------------------------
// What the generator produces: transactions described relative to the
// model's state, made concrete (nonces, byte counts, amounts) when applied.

#[derive(Debug, Clone)]
enum NonceChoice {
    Correct,
    Off(i64),
}

#[derive(Debug, Clone)]
enum BytesChoice {
    /// The session's current counter plus this (≤ 0 is a replay).
    Delta(i64),
    Absolute(u64),
}

#[derive(Debug, Clone)]
enum AmountChoice {
    /// This percentage of the sender's balance (over 100 overspends).
    Percent(u64),
    Absolute(u64),
}

#[derive(Debug, Clone)]
enum ConsumerChoice {
    /// The k-th device after the provider (k in 1..=3): never the provider.
    OtherDevice(usize),
    /// Any account, the provider itself included.
    Exactly(usize),
}

#[derive(Debug, Clone)]
struct ReceiptChoice {
    consumer: ConsumerChoice,
    /// Names another provider than the sender of the claim.
    other_provider: Option<usize>,
    session: u64,
    bytes: BytesChoice,
    bad_signature: bool,
}

#[derive(Debug, Clone)]
enum BodyChoice {
    Claim(Vec<ReceiptChoice>),
    Transfer { to: usize, amount: AmountChoice },
    SetDevice { device: usize, active: bool },
}

#[derive(Debug, Clone)]
struct TxChoice {
    from: usize,
    nonce: NonceChoice,
    bad_signature: bool,
    body: BodyChoice,
}

#[derive(Debug, Clone)]
struct BlockChoice {
    gap_ms: u64,
    txs: Vec<TxChoice>,
}

fn any_account() -> impl Strategy<Value = usize> {
    0..NAMES.len()
}

fn mostly_device() -> impl Strategy<Value = usize> {
    prop_oneof![6 => DEVICES, 1 => any_account()]
}

fn rarely() -> impl Strategy<Value = bool> {
    prop::bool::weighted(0.03)
}

fn nonce_choice() -> impl Strategy<Value = NonceChoice> {
    prop_oneof![
        14 => Just(NonceChoice::Correct),
        1 => prop_oneof![Just(-2i64), Just(-1), Just(1), Just(2)].prop_map(NonceChoice::Off),
    ]
}

fn receipt_choice() -> impl Strategy<Value = ReceiptChoice> {
    let bytes = prop_oneof![
        8 => (-300i64..=1_500).prop_map(BytesChoice::Delta),
        1 => (0u64..5_000).prop_map(BytesChoice::Absolute),
    ];
    let consumer = prop_oneof![
        8 => (1..DEVICES.len()).prop_map(ConsumerChoice::OtherDevice),
        1 => any_account().prop_map(ConsumerChoice::Exactly),
    ];
    (
        consumer,
        prop::option::weighted(0.03, DEVICES),
        0u64..3,
        bytes,
        rarely(),
    )
        .prop_map(
            |(consumer, other_provider, session, bytes, bad_signature)| ReceiptChoice {
                consumer,
                other_provider,
                session,
                bytes,
                bad_signature,
            },
        )
}

fn body_choice() -> impl Strategy<Value = BodyChoice> {
    let receipt_count =
        prop_oneof![1 => Just(0usize), 28 => 1..=MAX_RECEIPTS, 2 => Just(MAX_RECEIPTS + 1)];
    let claim = receipt_count
        .prop_flat_map(|count| prop::collection::vec(receipt_choice(), count))
        .prop_map(BodyChoice::Claim);
    let amount = prop_oneof![
        3 => (0u64..=130).prop_map(AmountChoice::Percent),
        1 => (0u64..50).prop_map(AmountChoice::Absolute),
    ];
    let transfer =
        (any_account(), amount).prop_map(|(to, amount)| BodyChoice::Transfer { to, amount });
    let set_device = (any_account(), any::<bool>())
        .prop_map(|(device, active)| BodyChoice::SetDevice { device, active });
    prop_oneof![6 => claim, 3 => transfer, 2 => set_device]
}

fn tx_choice() -> impl Strategy<Value = TxChoice> {
    body_choice().prop_flat_map(|body| {
        // Claims mostly come from devices, device changes mostly from authorities.
        let from = match &body {
            BodyChoice::Claim(_) => mostly_device().boxed(),
            BodyChoice::Transfer { .. } => any_account().boxed(),
            BodyChoice::SetDevice { .. } => {
                prop_oneof![3 => AUTHORITIES, 1 => any_account()].boxed()
            }
        };
        (from, nonce_choice(), rarely()).prop_map(move |(from, nonce, bad_signature)| TxChoice {
            from,
            nonce,
            bad_signature,
            body: body.clone(),
        })
    })
}

fn block_choice() -> impl Strategy<Value = BlockChoice> {
    (1u64..=4_000, prop::collection::vec(tx_choice(), 0..12))
        .prop_map(|(gap_ms, txs)| BlockChoice { gap_ms, txs })
}

fn offset(base: u64, delta: i64) -> u64 {
    base.saturating_add_signed(delta)
}

/// Turns a choice into a signed transaction on the model's current state.
fn make_tx(world: &World, model: &Model, choice: &TxChoice) -> (Tx, Tampering) {
    let genesis_hash = world.spec.genesis_hash();
    let other_chain = Hash([0xee; 32]);
    let from = world.accounts[choice.from];
    let nonce = match choice.nonce {
        NonceChoice::Correct => model.nonce(&from),
        NonceChoice::Off(delta) => offset(model.nonce(&from), delta),
    };
    let mut tampering = Tampering {
        tx_signature: choice.bad_signature,
        receipt_signatures: Vec::new(),
    };
    let body = match &choice.body {
        BodyChoice::Claim(receipts) => {
            let receipts = receipts
                .iter()
                .map(|r| {
                    let provider_index = r.other_provider.unwrap_or(choice.from);
                    let provider = world.accounts[provider_index];
                    let consumer_index = match r.consumer {
                        ConsumerChoice::OtherDevice(k) => {
                            let position = provider_index.saturating_sub(DEVICES.start);
                            DEVICES.start + (position + k) % DEVICES.len()
                        }
                        ConsumerChoice::Exactly(index) => index,
                    };
                    let consumer = &world.keys[consumer_index];
                    let counted = model.session(&(provider, consumer.account(), r.session));
                    let bytes = match r.bytes {
                        BytesChoice::Delta(delta) => offset(counted, delta),
                        BytesChoice::Absolute(bytes) => bytes,
                    };
                    tampering.receipt_signatures.push(r.bad_signature);
                    let chain = if r.bad_signature {
                        &other_chain
                    } else {
                        &genesis_hash
                    };
                    consumer.sign_receipt(chain, provider, r.session, bytes)
                })
                .collect();
            TxBody::Claim { receipts }
        }
        BodyChoice::Transfer { to, amount } => TxBody::Transfer {
            to: world.accounts[*to],
            amount: match amount {
                AmountChoice::Percent(percent) => model.balance(&from) * percent / 100,
                AmountChoice::Absolute(amount) => *amount,
            },
        },
        BodyChoice::SetDevice { device, active } => TxBody::SetDevice {
            device: world.accounts[*device],
            active: *active,
        },
    };
    let mut tx = world.keys[choice.from].sign_tx(&genesis_hash, nonce, body);
    if choice.bad_signature {
        tx.signature.0[63] ^= 0x40;
    }
    (tx, tampering)
}

// ---------------------------------------------------------------------------
// Running and comparing.

#[derive(Debug, Default)]
struct Stats {
    accepted: BTreeMap<&'static str, usize>,
    rejected: BTreeMap<String, usize>,
    forfeited_receipts: usize,
    pro_rata_blocks: usize,
    fitting_blocks: usize,
}

fn error_kind(error: &TxError) -> String {
    format!("{error:?}")
        .split([' ', '{', '('])
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// The state as plain maps, to compare with the model.
#[derive(Debug, PartialEq, Eq)]
struct Snapshot {
    accounts: BTreeMap<Account, (u64, u64)>,
    devices: BTreeMap<Account, ModelDevice>,
    sessions: BTreeMap<SessionKey, u64>,
    supply: (u64, u64),
}

fn snapshot(state: &MemState) -> Snapshot {
    let mut snapshot = Snapshot {
        accounts: BTreeMap::new(),
        devices: BTreeMap::new(),
        sessions: BTreeMap::new(),
        supply: (0, 0),
    };
    for (key, value) in state.entries() {
        match (key, value) {
            (StateKey::Account(account), StateValue::Account(record)) => {
                snapshot
                    .accounts
                    .insert(*account, (record.balance, record.nonce));
            }
            (StateKey::Device(account), StateValue::Device(record)) => {
                snapshot.devices.insert(
                    *account,
                    ModelDevice {
                        active: record.active,
                        upload: record.upload_budget,
                        download: record.download_budget,
                        clock_ms: record.refilled_at_ms,
                    },
                );
            }
            (StateKey::Session(id), StateValue::Session(bytes)) => {
                snapshot
                    .sessions
                    .insert((id.provider, id.consumer, id.session), *bytes);
            }
            (StateKey::Supply, StateValue::Supply(record)) => {
                snapshot.supply = (record.total_supply, record.minted);
            }
            (StateKey::Config, StateValue::Config(_)) => {}
            other => panic!("unexpected state entry {other:?}"),
        }
    }
    snapshot
}

fn model_snapshot(model: &Model) -> Snapshot {
    let mut accounts = BTreeMap::new();
    for account in model.balances.keys().chain(model.nonces.keys()) {
        let entry = (model.balance(account), model.nonce(account));
        if entry != (0, 0) {
            accounts.insert(*account, entry);
        }
    }
    Snapshot {
        accounts,
        devices: model.devices.clone(),
        sessions: model.sessions.clone(),
        supply: (model.total_supply, model.minted),
    }
}

fn run_case(world: &World, blocks: &[BlockChoice], stats: &mut Stats) -> Result<(), TestCaseError> {
    let spec = &world.spec;
    let mut state = spec.genesis_state.clone();
    let mut model = Model::genesis(world);
    let mut now_ms = spec.genesis.genesis_time_ms;
    let mut minted_so_far = 0u64;
    prop_assert_eq!(snapshot(&state), model_snapshot(&model), "genesis");

    for (height, block) in (1u64..).zip(blocks) {
        now_ms += block.gap_ms;
        let proposer = world.accounts[AUTHORITIES][(height % 2) as usize];
        let ctx = BlockContext {
            height,
            timestamp_ms: now_ms,
            proposer,
        };
        let mut executor = BlockExecutor::new(spec, &state, ctx);
        let mut credited: BTreeMap<Account, u64> = BTreeMap::new();
        let mut claim_results = Vec::new();
        for (position, choice) in block.txs.iter().enumerate() {
            let (tx, tampering) = make_tx(world, &model, choice);
            let hash = testkit::tx_hash(spec, &tx);
            let expected = model.apply(now_ms, &tx, &tampering);
            let actual = executor.push(tx.clone(), hash, Signatures::Verify);
            match (&actual, &expected) {
                (Ok(()), Ok(result)) => {
                    *stats.accepted.entry(tx.body.kind()).or_default() += 1;
                    if let Some(receipts) = result {
                        let bytes: u64 = receipts.iter().map(|(credited, _)| credited).sum();
                        *credited.entry(tx.from).or_default() += bytes;
                        stats.forfeited_receipts += receipts
                            .iter()
                            .filter(|(_, forfeited)| *forfeited > 0)
                            .count();
                    }
                    claim_results.push(result.clone());
                }
                (Err(actual), Err(expected)) => {
                    prop_assert_eq!(
                        actual,
                        expected,
                        "height {} tx {}: {:?}",
                        height,
                        position,
                        tx
                    );
                    *stats.rejected.entry(error_kind(actual)).or_default() += 1;
                }
                _ => prop_assert!(
                    false,
                    "height {} tx {}: executor says {:?}, model says {:?}\ntx: {:?}",
                    height,
                    position,
                    actual,
                    expected,
                    tx
                ),
            }
        }
        let built = executor.finish().expect("finish");
        let minting = model.mint(height, proposer, &credited);
        check_block(&built, &claim_results, &minting, height)?;
        if minting.pro_rata {
            stats.pro_rata_blocks += 1;
        } else if !minting.providers.is_empty() {
            stats.fitting_blocks += 1;
        }

        // A node checking the block it received gets the same result.
        let checked =
            execute_block(spec, &state, ctx, &built.txs, Signatures::Verify).map_err(|err| {
                TestCaseError::fail(format!("height {height}: re-check failed: {err}"))
            })?;
        prop_assert_eq!(&checked.changes, &built.changes);
        prop_assert_eq!(checked.state_root, built.state_root);
        prop_assert_eq!(&checked.outcomes, &built.outcomes);
        prop_assert_eq!(&checked.rewards, &built.rewards);

        state.apply(&built.changes);
        minted_so_far += built.minted;
        prop_assert_eq!(state.root(), built.state_root, "height {}", height);
        prop_assert_eq!(state.root(), state.recompute_root(), "height {}", height);
        let actual = snapshot(&state);
        prop_assert_eq!(&actual, &model_snapshot(&model), "height {}", height);
        let balances: u64 = actual.accounts.values().map(|(balance, _)| balance).sum();
        prop_assert_eq!(balances, actual.supply.0, "height {}", height);
        prop_assert_eq!(
            actual.supply.0,
            spec.genesis_supply + minted_so_far,
            "height {}",
            height
        );
        prop_assert_eq!(actual.supply.1, minted_so_far, "height {}", height);
    }
    Ok(())
}

/// Compares the executor's outcomes and rewards with the model's.
fn check_block(
    built: &ExecutedBlock,
    claim_results: &[Option<ClaimResult>],
    minting: &Minting,
    height: u64,
) -> Result<(), TestCaseError> {
    prop_assert_eq!(built.outcomes.len(), claim_results.len());
    for ((outcome, expected), tx) in built.outcomes.iter().zip(claim_results).zip(&built.txs) {
        match (outcome, expected) {
            (
                TxOutcome::Claim {
                    receipts,
                    provider_reward,
                },
                Some(expected),
            ) => {
                let actual: ClaimResult = receipts
                    .iter()
                    .map(|r| (r.credited_bytes, r.forfeited_bytes))
                    .collect();
                prop_assert_eq!(&actual, expected, "height {}", height);
                prop_assert_eq!(
                    *provider_reward,
                    minting.providers.get(&tx.from).copied().unwrap_or(0),
                    "height {}",
                    height
                );
            }
            (TxOutcome::Transfer | TxOutcome::SetDevice, None) => {}
            other => prop_assert!(false, "height {}: outcome {:?}", height, other),
        }
    }
    let proposer: u64 = built
        .rewards
        .iter()
        .filter(|r| r.kind == RewardKind::Proposer)
        .map(|r| r.amount)
        .sum();
    let providers: BTreeMap<Account, u64> = built
        .rewards
        .iter()
        .filter(|r| r.kind == RewardKind::Provider)
        .map(|r| (r.account, r.amount))
        .collect();
    prop_assert_eq!(proposer, minting.proposer, "height {}", height);
    prop_assert_eq!(&providers, &minting.providers, "height {}", height);
    prop_assert_eq!(
        built.minted,
        minting.proposer + minting.providers.values().sum::<u64>(),
        "height {}",
        height
    );
    Ok(())
}

#[test]
fn executor_matches_model() {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(64);
    let world = World::new();
    let stats = RefCell::new(Stats::default());
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&prop::collection::vec(block_choice(), 1..8), |blocks| {
        run_case(&world, &blocks, &mut stats.borrow_mut())
    });
    if let Err(error) = result {
        panic!("{error}");
    }

    // The generator must reach every rule, or the comparison proves little.
    let stats = stats.into_inner();
    println!("{stats:#?}");
    for kind in ["claim", "transfer", "set_device"] {
        assert!(
            stats.accepted.get(kind).copied().unwrap_or(0) > 0,
            "no accepted {kind}: {stats:#?}"
        );
    }
    for kind in [
        "ReplayedReceipt",
        "WrongNonce",
        "Overspend",
        "UnknownDevice",
        "NotAuthority",
        "SelfReceipt",
        "BadSignature",
        "BadReceiptSignature",
    ] {
        assert!(
            stats.rejected.contains_key(kind),
            "no {kind} rejection: {stats:#?}"
        );
    }
    assert!(
        stats.forfeited_receipts > 0,
        "no budget overrun: {stats:#?}"
    );
    assert!(
        stats.pro_rata_blocks > 0,
        "demand never exceeded the pool: {stats:#?}"
    );
    assert!(
        stats.fitting_blocks > 0,
        "demand never fit the pool: {stats:#?}"
    );
}
