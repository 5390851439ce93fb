//! Unit tests of the state transition.
//!
//! Most tests run on `testkit::dev_spec()`: authority `alice`, devices
//! `bob carol dave eve` (each with 1 000 000 tokens), `frank` unregistered;
//! capacity 1 000 bytes/s over a 10 s window (10 000-byte buckets); a
//! 1 000 000 block reward, 10% to the proposer; one token per credited byte.

use std::collections::BTreeMap;

use bwchain_core::execute::*;
use bwchain_core::genesis::ChainSpec;
use bwchain_core::primitives::hash;
use bwchain_core::primitives::signing::Keypair;
use bwchain_core::primitives::{
    Account, Hash, Receipt, ReceiptOutcome, Reward, RewardKind, Tx, TxBody, TxOutcome,
};
use bwchain_core::state::{
    AccountRecord, DeviceRecord, MemState, SessionId, StateKey, StateValue, StateView, SupplyRecord,
};
use bwchain_core::testkit::{
    self, account, block_context, claim, dev_spec, key, receipt, set_device, transfer,
    TEST_BALANCE, TEST_GENESIS_TIME_MS,
};

/// 10 000: a full capacity bucket in `dev_spec`.
const CAPACITY: u64 = 10_000;

fn account_record(state: &MemState, name: &str) -> AccountRecord {
    match state.get(&StateKey::Account(account(name))).unwrap() {
        Some(StateValue::Account(record)) => record,
        None => AccountRecord::default(),
        Some(other) => panic!("not an account record: {other:?}"),
    }
}

fn balance(state: &MemState, name: &str) -> u64 {
    account_record(state, name).balance
}

fn nonce(state: &MemState, name: &str) -> u64 {
    account_record(state, name).nonce
}

fn device(state: &MemState, name: &str) -> Option<DeviceRecord> {
    match state.get(&StateKey::Device(account(name))).unwrap() {
        Some(StateValue::Device(record)) => Some(record),
        None => None,
        Some(other) => panic!("not a device record: {other:?}"),
    }
}

/// (upload budget, download budget, refilled at) of a registered device.
fn budgets(state: &MemState, name: &str) -> (u64, u64, u64) {
    let record = device(state, name).expect("registered device");
    (
        record.upload_budget,
        record.download_budget,
        record.refilled_at_ms,
    )
}

fn session(state: &MemState, provider: &str, consumer: &str, session: u64) -> u64 {
    let id = SessionId {
        provider: account(provider),
        consumer: account(consumer),
        session,
    };
    match state.get(&StateKey::Session(id)).unwrap() {
        Some(StateValue::Session(bytes)) => bytes,
        None => 0,
        Some(other) => panic!("not a session record: {other:?}"),
    }
}

fn supply(state: &MemState) -> SupplyRecord {
    match state.get(&StateKey::Supply).unwrap() {
        Some(StateValue::Supply(record)) => record,
        other => panic!("no supply record: {other:?}"),
    }
}

fn sum_of_balances(state: &MemState) -> u64 {
    state
        .entries()
        .filter_map(|(_, value)| match value {
            StateValue::Account(record) => Some(record.balance),
            _ => None,
        })
        .sum()
}

/// A context at `timestamp_ms` with `alice` proposing.
fn ctx_at(height: u64, timestamp_ms: u64) -> BlockContext {
    BlockContext {
        height,
        timestamp_ms,
        proposer: account("alice"),
    }
}

/// Executes `txs` as a valid block and applies it; checks the roots agree.
fn apply(spec: &ChainSpec, state: &mut MemState, ctx: BlockContext, txs: &[Tx]) -> ExecutedBlock {
    let executed = testkit::apply_block(spec, state, ctx, txs).expect("block is valid");
    assert_eq!(executed.state_root, state.root());
    assert_eq!(state.root(), state.recompute_root());
    executed
}

fn receipt_outcomes(outcome: &TxOutcome) -> (&[ReceiptOutcome], u64) {
    match outcome {
        TxOutcome::Claim {
            receipts,
            provider_reward,
        } => (receipts, *provider_reward),
        other => panic!("not a claim outcome: {other:?}"),
    }
}

fn outcome(consumer: &str, session: u64, credited: u64, forfeited: u64) -> ReceiptOutcome {
    ReceiptOutcome {
        consumer: account(consumer),
        session,
        credited_bytes: credited,
        forfeited_bytes: forfeited,
    }
}

/// Asserts that `tx` fails with `expected` both in a block builder (push
/// fails and leaves the state exactly as an empty block would) and in a
/// block check (the block is invalid at index 0).
fn assert_rejected(
    spec: &ChainSpec,
    state: &MemState,
    ctx: BlockContext,
    tx: Tx,
    expected: TxError,
    name: &str,
) {
    let hash = testkit::tx_hash(spec, &tx);
    let mut executor = BlockExecutor::new(spec, state, ctx);
    assert_eq!(
        executor.push(tx.clone(), hash, Signatures::Verify),
        Err(expected.clone()),
        "{name}"
    );
    assert!(executor.is_empty(), "{name}");
    let after_failure = executor.finish().unwrap();
    let empty = BlockExecutor::new(spec, state, ctx).finish().unwrap();
    assert_eq!(after_failure.changes, empty.changes, "{name}");
    assert_eq!(after_failure.state_root, empty.state_root, "{name}");
    assert_eq!(
        execute_block(spec, state, ctx, &[tx], Signatures::Verify).unwrap_err(),
        ExecError::InvalidTx {
            index: 0,
            hash,
            error: expected
        },
        "{name}"
    );
}

#[test]
fn claim_credits_bytes_and_mints_provider_reward() {
    let spec = dev_spec();
    let mut state = spec.genesis_state.clone();
    let ctx = block_context(&spec, 1);
    let tx = claim(
        &spec,
        &key("bob"),
        0,
        vec![receipt(&spec, &key("carol"), account("bob"), 1, 3_000)],
    );
    let executed = apply(&spec, &mut state, ctx, &[tx]);

    assert_eq!(
        executed.outcomes,
        vec![TxOutcome::Claim {
            receipts: vec![outcome("carol", 1, 3_000, 0)],
            provider_reward: 3_000,
        }]
    );
    // 10% of 1 000 000 to the proposer; bob's demand (3 000) fits the pool.
    assert_eq!(
        executed.rewards,
        vec![
            Reward {
                account: account("alice"),
                amount: 100_000,
                kind: RewardKind::Proposer,
            },
            Reward {
                account: account("bob"),
                amount: 3_000,
                kind: RewardKind::Provider,
            },
        ]
    );
    assert_eq!(executed.minted, 103_000);
    assert_eq!(balance(&state, "alice"), TEST_BALANCE + 100_000);
    assert_eq!(balance(&state, "bob"), TEST_BALANCE + 3_000);
    assert_eq!(balance(&state, "carol"), TEST_BALANCE);
    assert_eq!(nonce(&state, "bob"), 1);
    assert_eq!(nonce(&state, "carol"), 0);
    assert_eq!(session(&state, "bob", "carol", 1), 3_000);
    assert_eq!(
        session(&state, "carol", "bob", 1),
        0,
        "sessions are directed"
    );
    let now = ctx.timestamp_ms;
    assert_eq!(
        device(&state, "bob"),
        Some(DeviceRecord {
            active: true,
            upload_budget: CAPACITY - 3_000,
            download_budget: CAPACITY,
            refilled_at_ms: now,
        })
    );
    assert_eq!(
        device(&state, "carol"),
        Some(DeviceRecord {
            active: true,
            upload_budget: CAPACITY,
            download_budget: CAPACITY - 3_000,
            refilled_at_ms: now,
        })
    );
    assert_eq!(
        supply(&state),
        SupplyRecord {
            total_supply: spec.genesis_supply + 103_000,
            minted: 103_000,
        }
    );
}

#[test]
fn cumulative_receipts_credit_only_the_increase() {
    let spec = dev_spec();
    let mut state = spec.genesis_state.clone();
    let (bob, carol) = (key("bob"), key("carol"));
    let first = claim(
        &spec,
        &bob,
        0,
        vec![receipt(&spec, &carol, bob.account(), 1, 3_000)],
    );
    apply(&spec, &mut state, block_context(&spec, 1), &[first]);

    // Session 1 goes from 3 000 to 5 000 (twice in one claim: 4 000 then
    // 5 000); session 2 is a separate counter.
    let second = claim(
        &spec,
        &bob,
        1,
        vec![
            receipt(&spec, &carol, bob.account(), 1, 4_000),
            receipt(&spec, &carol, bob.account(), 2, 700),
            receipt(&spec, &carol, bob.account(), 1, 5_000),
        ],
    );
    let executed = apply(&spec, &mut state, block_context(&spec, 2), &[second]);
    let (receipts, reward) = receipt_outcomes(&executed.outcomes[0]);
    assert_eq!(
        receipts,
        [
            outcome("carol", 1, 1_000, 0),
            outcome("carol", 2, 700, 0),
            outcome("carol", 1, 1_000, 0),
        ]
    );
    assert_eq!(reward, 2_700);
    assert_eq!(session(&state, "bob", "carol", 1), 5_000);
    assert_eq!(session(&state, "bob", "carol", 2), 700);
    assert_eq!(balance(&state, "bob"), TEST_BALANCE + 3_000 + 2_700);
}

#[test]
fn replayed_or_older_receipts_are_rejected_and_change_nothing() {
    let spec = dev_spec();
    let mut state = spec.genesis_state.clone();
    let (bob, carol) = (key("bob"), key("carol"));
    let first = receipt(&spec, &carol, bob.account(), 1, 3_000);
    apply(
        &spec,
        &mut state,
        block_context(&spec, 1),
        &[claim(&spec, &bob, 0, vec![first.clone()])],
    );
    let ctx = block_context(&spec, 2);
    let cases = [
        ("same receipt again", first.clone(), 3_000),
        (
            "older receipt",
            receipt(&spec, &carol, bob.account(), 1, 2_000),
            2_000,
        ),
    ];
    for (name, old, bytes) in cases {
        assert_rejected(
            &spec,
            &state,
            ctx,
            claim(&spec, &bob, 1, vec![old]),
            TxError::ReplayedReceipt {
                index: 0,
                session: 1,
                bytes,
                credited: 3_000,
            },
            name,
        );
    }
    // A replay in second place: the first receipt's effects are undone too.
    let tx = claim(
        &spec,
        &bob,
        1,
        vec![receipt(&spec, &carol, bob.account(), 1, 9_000), first],
    );
    assert_rejected(
        &spec,
        &state,
        ctx,
        tx,
        TxError::ReplayedReceipt {
            index: 1,
            session: 1,
            bytes: 3_000,
            credited: 9_000,
        },
        "replay after a valid receipt",
    );
}

#[test]
fn invalid_transactions_on_genesis_state() {
    let spec = dev_spec();
    let state = spec.genesis_state.clone();
    let ctx = block_context(&spec, 1);
    let (alice, bob, carol, dave, frank) = (
        key("alice"),
        key("bob"),
        key("carol"),
        key("dave"),
        key("frank"),
    );
    let other_chain = Hash([7; 32]);
    let good_receipt = || receipt(&spec, &carol, bob.account(), 1, 100);

    let mut tampered_body = transfer(&spec, &bob, 0, carol.account(), 1);
    if let TxBody::Transfer { amount, .. } = &mut tampered_body.body {
        *amount = 2;
    }
    let mut flipped_signature = transfer(&spec, &bob, 0, carol.account(), 1);
    flipped_signature.signature.0[0] ^= 1;
    let mut tampered_receipt = good_receipt();
    tampered_receipt.bytes += 1;
    let mut forged_consumer = dave.sign_receipt(&spec.genesis_hash(), bob.account(), 1, 100);
    forged_consumer.consumer = carol.account();

    let cases: Vec<(&str, Tx, TxError)> = vec![
        (
            "nonce too high",
            transfer(&spec, &bob, 1, carol.account(), 1),
            TxError::WrongNonce {
                expected: 0,
                found: 1,
            },
        ),
        (
            "tampered body",
            tampered_body,
            TxError::BadSignature {
                from: bob.account(),
            },
        ),
        (
            "flipped signature bit",
            flipped_signature,
            TxError::BadSignature {
                from: bob.account(),
            },
        ),
        (
            "tx signed for another chain",
            bob.sign_tx(
                &other_chain,
                0,
                TxBody::Transfer {
                    to: carol.account(),
                    amount: 1,
                },
            ),
            TxError::BadSignature {
                from: bob.account(),
            },
        ),
        (
            "tampered receipt",
            claim(&spec, &bob, 0, vec![tampered_receipt]),
            TxError::BadReceiptSignature {
                index: 0,
                consumer: carol.account(),
            },
        ),
        (
            "receipt signed for another chain",
            claim(
                &spec,
                &bob,
                0,
                vec![carol.sign_receipt(&other_chain, bob.account(), 1, 100)],
            ),
            TxError::BadReceiptSignature {
                index: 0,
                consumer: carol.account(),
            },
        ),
        (
            "receipt signed by someone other than its consumer, second place",
            claim(&spec, &bob, 0, vec![good_receipt(), forged_consumer]),
            TxError::BadReceiptSignature {
                index: 1,
                consumer: carol.account(),
            },
        ),
        (
            "provider mismatch",
            claim(
                &spec,
                &bob,
                0,
                vec![receipt(&spec, &carol, dave.account(), 1, 100)],
            ),
            TxError::ProviderMismatch {
                index: 0,
                provider: dave.account(),
                from: bob.account(),
            },
        ),
        (
            "self receipt",
            claim(
                &spec,
                &bob,
                0,
                vec![good_receipt(), receipt(&spec, &bob, bob.account(), 1, 100)],
            ),
            TxError::SelfReceipt {
                index: 1,
                account: bob.account(),
            },
        ),
        (
            "unknown consumer",
            claim(
                &spec,
                &bob,
                0,
                vec![receipt(&spec, &frank, bob.account(), 1, 100)],
            ),
            TxError::UnknownDevice {
                device: frank.account(),
            },
        ),
        (
            "authority that is not a device as consumer",
            claim(
                &spec,
                &bob,
                0,
                vec![receipt(&spec, &alice, bob.account(), 1, 100)],
            ),
            TxError::UnknownDevice {
                device: alice.account(),
            },
        ),
        (
            "unknown provider",
            claim(
                &spec,
                &frank,
                0,
                vec![receipt(&spec, &carol, frank.account(), 1, 100)],
            ),
            TxError::UnknownDevice {
                device: frank.account(),
            },
        ),
        (
            "zero receipts",
            claim(&spec, &bob, 0, vec![]),
            TxError::NoReceipts,
        ),
        (
            "too many receipts",
            claim(
                &spec,
                &bob,
                0,
                (1..=5)
                    .map(|session| receipt(&spec, &carol, bob.account(), session, 100))
                    .collect(),
            ),
            TxError::TooManyReceipts { max: 4, found: 5 },
        ),
        (
            "receipt for zero bytes",
            claim(
                &spec,
                &bob,
                0,
                vec![receipt(&spec, &carol, bob.account(), 1, 0)],
            ),
            TxError::ReplayedReceipt {
                index: 0,
                session: 1,
                bytes: 0,
                credited: 0,
            },
        ),
        (
            "zero amount",
            transfer(&spec, &bob, 0, carol.account(), 0),
            TxError::ZeroAmount,
        ),
        (
            "self transfer",
            transfer(&spec, &bob, 0, bob.account(), 1),
            TxError::SelfTransfer {
                account: bob.account(),
            },
        ),
        (
            "overspend by one",
            transfer(&spec, &bob, 0, carol.account(), TEST_BALANCE + 1),
            TxError::Overspend {
                balance: TEST_BALANCE,
                amount: TEST_BALANCE + 1,
            },
        ),
        (
            "spend from an empty account",
            transfer(&spec, &frank, 0, carol.account(), 1),
            TxError::Overspend {
                balance: 0,
                amount: 1,
            },
        ),
        (
            "set_device from a device",
            set_device(&spec, &bob, 0, frank.account(), true),
            TxError::NotAuthority {
                from: bob.account(),
            },
        ),
        (
            "set_device from an unknown account",
            set_device(&spec, &frank, 0, frank.account(), true),
            TxError::NotAuthority {
                from: frank.account(),
            },
        ),
        (
            "register an active device",
            set_device(&spec, &alice, 0, bob.account(), true),
            TxError::DeviceUnchanged {
                device: bob.account(),
                active: true,
            },
        ),
        (
            "revoke an unknown device",
            set_device(&spec, &alice, 0, frank.account(), false),
            TxError::DeviceNotRegistered {
                device: frank.account(),
            },
        ),
    ];
    for (name, tx, expected) in cases {
        assert_rejected(&spec, &state, ctx, tx, expected, name);
    }
}

#[test]
fn max_receipts_per_claim_is_allowed() {
    let spec = dev_spec();
    let mut state = spec.genesis_state.clone();
    let receipts: Vec<Receipt> = (1..=4)
        .map(|session| receipt(&spec, &key("carol"), account("bob"), session, 100))
        .collect();
    let executed = apply(
        &spec,
        &mut state,
        block_context(&spec, 1),
        &[claim(&spec, &key("bob"), 0, receipts)],
    );
    assert_eq!(receipt_outcomes(&executed.outcomes[0]).0.len(), 4);
    assert_eq!(session(&state, "bob", "carol", 4), 100);
}

#[test]
fn wrong_nonce_reports_the_expected_value() {
    let spec = dev_spec();
    let mut state = spec.genesis_state.clone();
    let bob = key("bob");
    let txs: Vec<Tx> = (0..3)
        .map(|nonce| transfer(&spec, &bob, nonce, account("carol"), 1))
        .collect();
    apply(&spec, &mut state, block_context(&spec, 1), &txs);
    assert_eq!(nonce(&state, "bob"), 3);
    let ctx = block_context(&spec, 2);
    for found in [0, 2, 4, u64::MAX] {
        assert_rejected(
            &spec,
            &state,
            ctx,
            transfer(&spec, &bob, found, account("carol"), 1),
            TxError::WrongNonce { expected: 3, found },
            &format!("nonce {found}"),
        );
    }
}

#[test]
fn capacity_budgets_limit_credit_and_refill_with_block_time() {
    let spec = dev_spec();
    let mut state = spec.genesis_state.clone();
    let (bob, carol, dave, eve) = (key("bob"), key("carol"), key("dave"), key("eve"));
    let t1 = TEST_GENESIS_TIME_MS + 1_000;

    // Block 1: bob serves carol 6 000 (fits), dave 6 000 (bob's upload has
    // 4 000 left) and eve 1 000 (bob's upload is empty: all forfeited, but the
    // session counter still moves). Then dave serves carol 5 000: carol's
    // download has 4 000 left.
    let bob_claim = claim(
        &spec,
        &bob,
        0,
        vec![
            receipt(&spec, &carol, bob.account(), 1, 6_000),
            receipt(&spec, &dave, bob.account(), 1, 6_000),
            receipt(&spec, &eve, bob.account(), 1, 1_000),
        ],
    );
    let dave_claim = claim(
        &spec,
        &dave,
        0,
        vec![receipt(&spec, &carol, dave.account(), 1, 5_000)],
    );
    let executed = apply(&spec, &mut state, ctx_at(1, t1), &[bob_claim, dave_claim]);
    assert_eq!(
        executed.outcomes,
        vec![
            TxOutcome::Claim {
                receipts: vec![
                    outcome("carol", 1, 6_000, 0),
                    outcome("dave", 1, 4_000, 2_000),
                    outcome("eve", 1, 0, 1_000),
                ],
                provider_reward: 10_000,
            },
            TxOutcome::Claim {
                receipts: vec![outcome("carol", 1, 4_000, 1_000)],
                provider_reward: 4_000,
            },
        ]
    );
    assert_eq!(session(&state, "bob", "dave", 1), 6_000);
    assert_eq!(session(&state, "bob", "eve", 1), 1_000);
    assert_eq!(session(&state, "dave", "carol", 1), 5_000);
    assert_eq!(budgets(&state, "bob"), (0, CAPACITY, t1));
    assert_eq!(budgets(&state, "carol"), (CAPACITY, 0, t1));
    assert_eq!(
        budgets(&state, "dave"),
        (CAPACITY - 4_000, CAPACITY - 4_000, t1)
    );
    assert_eq!(budgets(&state, "eve"), (CAPACITY, CAPACITY, t1));
    assert_eq!(balance(&state, "bob"), TEST_BALANCE + 10_000);
    assert_eq!(balance(&state, "dave"), TEST_BALANCE + 4_000);

    // Block 2, 500 ms later: 500 bytes refilled on both sides.
    let t2 = t1 + 500;
    let tx = claim(
        &spec,
        &bob,
        1,
        vec![receipt(&spec, &carol, bob.account(), 1, 9_000)],
    );
    let executed = apply(&spec, &mut state, ctx_at(2, t2), &[tx]);
    assert_eq!(
        receipt_outcomes(&executed.outcomes[0]),
        (&[outcome("carol", 1, 500, 2_500)][..], 500)
    );
    assert_eq!(session(&state, "bob", "carol", 1), 9_000);
    assert_eq!(budgets(&state, "bob"), (0, CAPACITY, t2));
    assert_eq!(budgets(&state, "carol"), (CAPACITY, 0, t2));

    // A block with no claim touching bob changes no budget.
    let t3 = t2 + 3_000;
    apply(&spec, &mut state, ctx_at(3, t3), &[]);
    assert_eq!(budgets(&state, "bob"), (0, CAPACITY, t2));

    // Block 4, a minute later: both buckets are full again, never more.
    let t4 = t3 + 60_000;
    let tx = claim(
        &spec,
        &bob,
        2,
        vec![receipt(&spec, &carol, bob.account(), 1, 30_000)],
    );
    let executed = apply(&spec, &mut state, ctx_at(4, t4), &[tx]);
    assert_eq!(
        receipt_outcomes(&executed.outcomes[0]).0,
        [outcome("carol", 1, CAPACITY, 21_000 - CAPACITY)]
    );
    assert_eq!(budgets(&state, "bob"), (0, CAPACITY, t4));
    assert_eq!(budgets(&state, "carol"), (CAPACITY, 0, t4));
}

#[test]
fn slow_refill_keeps_fractions_of_a_byte() {
    // 3 bytes/s, claimed every 500 ms for 10 s: each step earns 1.5 bytes.
    // Dropping the half byte at each refill would credit 20 in total; the
    // rate allows 30, and whole-byte rounding may cost at most one of them.
    let mut genesis = testkit::test_genesis(&["alice"], &["bob", "carol"]);
    genesis.device_capacity_bytes_per_sec = 3;
    genesis.budget_window_secs = 10;
    let spec = ChainSpec::new(genesis).unwrap();
    let mut state = spec.genesis_state.clone();
    let (bob, carol) = (key("bob"), key("carol"));
    let t0 = TEST_GENESIS_TIME_MS;
    // Drain bob's upload and carol's download buckets (30 bytes) at genesis time.
    let drain = claim(
        &spec,
        &bob,
        0,
        vec![receipt(&spec, &carol, bob.account(), 1, 30)],
    );
    apply(&spec, &mut state, ctx_at(1, t0), &[drain]);
    assert_eq!(device(&state, "bob").unwrap().upload_budget, 0);
    assert_eq!(device(&state, "carol").unwrap().download_budget, 0);

    let mut credited = Vec::new();
    let mut counter = 30;
    for step in 1..=20u64 {
        counter += 100;
        let tx = claim(
            &spec,
            &bob,
            step,
            vec![receipt(&spec, &carol, bob.account(), 1, counter)],
        );
        let executed = apply(&spec, &mut state, ctx_at(1 + step, t0 + step * 500), &[tx]);
        credited.push(receipt_outcomes(&executed.outcomes[0]).0[0].credited_bytes);
    }
    assert_eq!(credited[0], 1, "1.5 bytes earned, 1 whole byte credited");
    let total: u64 = credited.iter().sum();
    assert!((29..=30).contains(&total), "credited {total}: {credited:?}");
}

#[test]
fn transfers_move_tokens() {
    let spec = dev_spec();
    let mut state = spec.genesis_state.clone();
    let bob = key("bob");
    let txs = [
        transfer(&spec, &bob, 0, account("carol"), 250),
        transfer(&spec, &bob, 1, account("frank"), 40),
        // The whole remaining balance may be spent.
        transfer(&spec, &bob, 2, account("dave"), TEST_BALANCE - 290),
    ];
    let executed = apply(&spec, &mut state, block_context(&spec, 1), &txs);
    assert_eq!(executed.outcomes, vec![TxOutcome::Transfer; 3]);
    assert_eq!(
        account_record(&state, "bob"),
        AccountRecord {
            balance: 0,
            nonce: 3
        }
    );
    assert_eq!(balance(&state, "carol"), TEST_BALANCE + 250);
    assert_eq!(
        account_record(&state, "frank"),
        AccountRecord {
            balance: 40,
            nonce: 0
        }
    );
    assert_eq!(balance(&state, "dave"), 2 * TEST_BALANCE - 290);
    // Only the proposer's reward was minted: transfers create nothing.
    assert_eq!(executed.minted, 100_000);
    assert_eq!(sum_of_balances(&state), supply(&state).total_supply);

    assert_rejected(
        &spec,
        &state,
        block_context(&spec, 2),
        transfer(&spec, &bob, 3, account("carol"), 1),
        TxError::Overspend {
            balance: 0,
            amount: 1,
        },
        "empty after spending everything",
    );
}

#[test]
fn transfer_to_an_overflowing_balance_is_rejected() {
    // A valid genesis cannot reach this (balances sum to at most u64::MAX),
    // so the state is doctored: the guard must still hold.
    let spec = dev_spec();
    let mut state = spec.genesis_state.clone();
    state.insert(
        StateKey::Account(account("carol")),
        StateValue::Account(AccountRecord {
            balance: u64::MAX - 5,
            nonce: 0,
        }),
    );
    assert_rejected(
        &spec,
        &state,
        block_context(&spec, 1),
        transfer(&spec, &key("bob"), 0, account("carol"), 6),
        TxError::BalanceOverflow,
        "recipient overflow",
    );
    execute_block(
        &spec,
        &state,
        block_context(&spec, 1),
        &[transfer(&spec, &key("bob"), 0, account("carol"), 5)],
        Signatures::Verify,
    )
    .expect("exactly u64::MAX is fine");
}

#[test]
fn set_device_registers_and_revokes() {
    let spec = dev_spec();
    let mut state = spec.genesis_state.clone();
    let (alice, bob, carol, frank) = (key("alice"), key("bob"), key("carol"), key("frank"));

    // Block 1: bob uses some of carol's download budget.
    let t1 = TEST_GENESIS_TIME_MS + 1_000;
    apply(
        &spec,
        &mut state,
        ctx_at(1, t1),
        &[claim(
            &spec,
            &bob,
            0,
            vec![receipt(&spec, &carol, bob.account(), 1, 4_000)],
        )],
    );

    // Block 2: register frank (full budgets at block time), who serves carol
    // in the same block; then revoke carol (her budgets are kept).
    let t2 = t1 + 1_000;
    let txs = [
        set_device(&spec, &alice, 0, frank.account(), true),
        claim(
            &spec,
            &frank,
            0,
            vec![receipt(&spec, &carol, frank.account(), 1, 1_000)],
        ),
        set_device(&spec, &alice, 1, carol.account(), false),
    ];
    let executed = apply(&spec, &mut state, ctx_at(2, t2), &txs);
    assert_eq!(executed.outcomes[0], TxOutcome::SetDevice);
    assert_eq!(executed.outcomes[2], TxOutcome::SetDevice);
    assert_eq!(
        device(&state, "frank"),
        Some(DeviceRecord {
            active: true,
            upload_budget: CAPACITY - 1_000,
            download_budget: CAPACITY,
            refilled_at_ms: t2,
        })
    );
    // carol: 10 000 - 4 000 + 1 000 refilled - 1 000 for frank.
    assert_eq!(
        device(&state, "carol"),
        Some(DeviceRecord {
            active: false,
            upload_budget: CAPACITY,
            download_budget: 6_000,
            refilled_at_ms: t2,
        })
    );
    assert_eq!(nonce(&state, "alice"), 2);

    // A revoked device can neither consume nor provide, nor be revoked again.
    let ctx = ctx_at(3, t2 + 1_000);
    let cases = [
        (
            "revoked consumer",
            claim(
                &spec,
                &bob,
                1,
                vec![receipt(&spec, &carol, bob.account(), 1, 5_000)],
            ),
            TxError::UnknownDevice {
                device: carol.account(),
            },
        ),
        (
            "revoked provider",
            claim(
                &spec,
                &carol,
                0,
                vec![receipt(&spec, &bob, carol.account(), 1, 5_000)],
            ),
            TxError::UnknownDevice {
                device: carol.account(),
            },
        ),
        (
            "revoke twice",
            set_device(&spec, &alice, 2, carol.account(), false),
            TxError::DeviceUnchanged {
                device: carol.account(),
                active: false,
            },
        ),
    ];
    for (name, tx, expected) in cases {
        assert_rejected(&spec, &state, ctx, tx, expected, name);
    }

    // Re-registration gives full budgets again; the session counter survives.
    let t4 = t2 + 2_000;
    let txs = [
        set_device(&spec, &alice, 2, carol.account(), true),
        claim(
            &spec,
            &bob,
            1,
            vec![receipt(&spec, &carol, bob.account(), 1, 4_500)],
        ),
    ];
    let executed = apply(&spec, &mut state, ctx_at(4, t4), &txs);
    assert_eq!(
        receipt_outcomes(&executed.outcomes[1]).0,
        [outcome("carol", 1, 500, 0)]
    );
    assert_eq!(
        device(&state, "carol"),
        Some(DeviceRecord {
            active: true,
            upload_budget: CAPACITY,
            download_budget: CAPACITY - 500,
            refilled_at_ms: t4,
        })
    );
}

#[test]
fn emission_halves() {
    // (block_reward, halving_interval, height, expected emission)
    let cases = [
        (100, 0, 0, 100),
        (100, 0, u64::MAX, 100),
        (100, 10, 0, 100),
        (100, 10, 9, 100),
        (100, 10, 10, 50),
        (100, 10, 29, 25),
        (100, 10, 30, 12),
        (100, 1, 7, 0),
        (u64::MAX, 1, 63, 1),
        (u64::MAX, 1, 64, 0),
        (u64::MAX, 1, 65, 0),
        (u64::MAX, 1, u64::MAX, 0),
        (u64::MAX, 2, 127, 1),
        (u64::MAX, 2, 128, 0),
        (u64::MAX, u64::MAX, u64::MAX - 1, u64::MAX),
        (u64::MAX, u64::MAX, u64::MAX, u64::MAX >> 1),
    ];
    for (block_reward, halving_interval, height, expected) in cases {
        assert_eq!(
            emission(block_reward, halving_interval, height),
            expected,
            "emission({block_reward}, {halving_interval}, {height})"
        );
    }
}

/// A spec with the given reward parameters (authority alice).
fn reward_spec(
    block_reward: u64,
    halving_interval: u64,
    proposer_share_bps: u64,
    reward_per_gib: u64,
) -> ChainSpec {
    let mut genesis = testkit::test_genesis(&["alice"], &["bob", "carol", "dave"]);
    genesis.block_reward = block_reward;
    genesis.halving_interval = halving_interval;
    genesis.proposer_share_bps = proposer_share_bps;
    genesis.reward_per_gib = reward_per_gib;
    ChainSpec::new(genesis).unwrap()
}

#[test]
fn rewards_table() {
    struct Case {
        name: &'static str,
        spec: ChainSpec,
        height: u64,
        credited: Vec<(&'static str, u64)>,
        proposer: Option<u64>,
        providers: Vec<(&'static str, u64)>,
    }
    const GIB: u64 = 1 << 30;
    let cases = vec![
        Case {
            name: "no claims: only the proposer",
            spec: reward_spec(1_000_000, 0, 1_000, GIB),
            height: 1,
            credited: vec![],
            proposer: Some(100_000),
            providers: vec![],
        },
        Case {
            // bob: 1000 * 3e9 / 2^30 = 2793.97; carol: 2048 * 3e9 / 2^30 = 5722.05.
            name: "demand fits the pool, floored",
            spec: reward_spec(1_000_000, 0, 1_000, 3_000_000_000),
            height: 1,
            credited: vec![("bob", 1_000), ("carol", 2_048)],
            proposer: Some(100_000),
            providers: vec![("bob", 2_793), ("carol", 5_722)],
        },
        Case {
            name: "demand exactly equal to the pool",
            spec: reward_spec(1_000_000, 0, 1_000, GIB),
            height: 1,
            credited: vec![("bob", 600_000), ("carol", 300_000)],
            proposer: Some(100_000),
            providers: vec![("bob", 600_000), ("carol", 300_000)],
        },
        Case {
            // 900 000 * 600 000 / 900 001 = 599 999.33; * 300 001 / 900 001 = 300 000.0
            name: "demand one above the pool: pro rata",
            spec: reward_spec(1_000_000, 0, 1_000, GIB),
            height: 1,
            credited: vec![("bob", 600_000), ("carol", 300_001)],
            proposer: Some(100_000),
            providers: vec![("bob", 599_999), ("carol", 300_000)],
        },
        Case {
            // demand = 1024 per byte; 900 000 * {1,2,4}/7 = 128 571.4, 257 142.9, 514 285.7
            name: "demand far above the pool: pro rata, floored",
            spec: reward_spec(1_000_000, 0, 1_000, 1 << 40),
            height: 1,
            credited: vec![("bob", 1_000), ("carol", 2_000), ("dave", 4_000)],
            proposer: Some(100_000),
            providers: vec![("bob", 128_571), ("carol", 257_142), ("dave", 514_285)],
        },
        Case {
            // emission 1 000 000 >> 2 = 250 000; 25% = 62 500; pool 187 500.
            name: "halved twice",
            spec: reward_spec(1_000_000, 10, 2_500, GIB),
            height: 25,
            credited: vec![("bob", 200_000)],
            proposer: Some(62_500),
            providers: vec![("bob", 187_500)],
        },
        Case {
            name: "no proposer share",
            spec: reward_spec(1_000_000, 0, 0, GIB),
            height: 1,
            credited: vec![("bob", 5)],
            proposer: None,
            providers: vec![("bob", 5)],
        },
        Case {
            name: "everything to the proposer",
            spec: reward_spec(1_000_000, 0, 10_000, GIB),
            height: 1,
            credited: vec![("bob", 5)],
            proposer: Some(1_000_000),
            providers: vec![],
        },
        Case {
            // 1 byte * (2^30 - 1) / 2^30 = 0.99...: nothing to pay.
            name: "demand below one token",
            spec: reward_spec(1_000_000, 0, 1_000, GIB - 1),
            height: 1,
            credited: vec![("bob", 1), ("carol", 2)],
            proposer: Some(100_000),
            providers: vec![("carol", 1)],
        },
        Case {
            name: "emission exhausted",
            spec: reward_spec(1_000_000, 1, 1_000, GIB),
            height: 64,
            credited: vec![("bob", 100)],
            proposer: None,
            providers: vec![],
        },
        Case {
            // 7 * 3333 / 10000 = 2.33 -> 2; pool 5; demand 20 > 5;
            // 5 * 1/4 = 1.25, 5 * 3/4 = 3.75.
            name: "tiny emission",
            spec: reward_spec(7, 0, 3_333, 5 * GIB),
            height: 1,
            credited: vec![("bob", 1), ("carol", 3)],
            proposer: Some(2),
            providers: vec![("bob", 1), ("carol", 3)],
        },
    ];
    for case in cases {
        let credited: BTreeMap<Account, u64> = case
            .credited
            .iter()
            .map(|(name, bytes)| (account(name), *bytes))
            .collect();
        let rewards = compute_rewards(&case.spec, case.height, &account("alice"), &credited);
        let proposer: Vec<u64> = rewards
            .iter()
            .filter(|r| r.kind == RewardKind::Proposer)
            .map(|r| {
                assert_eq!(r.account, account("alice"), "{}", case.name);
                r.amount
            })
            .collect();
        assert_eq!(proposer, Vec::from_iter(case.proposer), "{}", case.name);
        let providers: BTreeMap<Account, u64> = rewards
            .iter()
            .filter(|r| r.kind == RewardKind::Provider)
            .map(|r| (r.account, r.amount))
            .collect();
        let expected: BTreeMap<Account, u64> = case
            .providers
            .iter()
            .map(|(name, amount)| (account(name), *amount))
            .collect();
        assert_eq!(providers, expected, "{}", case.name);
        assert!(
            rewards.iter().all(|r| r.amount > 0),
            "{}: zero rewards are not listed",
            case.name
        );
        let total: u64 = rewards.iter().map(|r| r.amount).sum();
        let emitted = emission(
            case.spec.genesis.block_reward,
            case.spec.genesis.halving_interval,
            case.height,
        );
        assert!(total <= emitted, "{}: {total} > {emitted}", case.name);
    }
}

#[test]
fn block_mints_exactly_what_it_pays_and_sums_claims_per_provider() {
    // demand = 1024 per byte, far above the pool: pro rata.
    let spec = reward_spec(1_000_000, 0, 1_000, 1 << 40);
    let mut state = spec.genesis_state.clone();
    let (bob, carol, dave) = (key("bob"), key("carol"), key("dave"));
    let txs = [
        claim(
            &spec,
            &bob,
            0,
            vec![receipt(&spec, &carol, bob.account(), 1, 400)],
        ),
        claim(
            &spec,
            &carol,
            0,
            vec![receipt(&spec, &dave, carol.account(), 1, 2_000)],
        ),
        claim(
            &spec,
            &bob,
            1,
            vec![receipt(&spec, &dave, bob.account(), 1, 600)],
        ),
        claim(
            &spec,
            &dave,
            0,
            vec![receipt(&spec, &bob, dave.account(), 1, 4_000)],
        ),
    ];
    let executed = apply(&spec, &mut state, block_context(&spec, 1), &txs);
    // bob 1 000 (two claims), carol 2 000, dave 4 000: as in the table.
    let rewards: Vec<u64> = executed
        .outcomes
        .iter()
        .map(|o| receipt_outcomes(o).1)
        .collect();
    assert_eq!(rewards, [128_571, 257_142, 128_571, 514_285]);
    assert_eq!(executed.minted, 100_000 + 899_998);
    assert_eq!(
        executed.rewards.iter().map(|r| r.amount).sum::<u64>(),
        executed.minted
    );
    assert_eq!(balance(&state, "bob"), TEST_BALANCE + 128_571);
    assert_eq!(balance(&state, "alice"), TEST_BALANCE + 100_000);
    assert_eq!(
        supply(&state),
        SupplyRecord {
            total_supply: spec.genesis_supply + 999_998,
            minted: 999_998,
        }
    );
    assert_eq!(sum_of_balances(&state), supply(&state).total_supply);
}

#[test]
fn proposer_that_is_also_a_provider_gets_both() {
    let spec = testkit::test_spec(&["bob"], &["bob", "carol"]);
    let mut state = spec.genesis_state.clone();
    let tx = claim(
        &spec,
        &key("bob"),
        0,
        vec![receipt(&spec, &key("carol"), account("bob"), 1, 700)],
    );
    let executed = apply(&spec, &mut state, block_context(&spec, 1), &[tx]);
    assert_eq!(executed.minted, 100_000 + 700);
    assert_eq!(receipt_outcomes(&executed.outcomes[0]).1, 700);
    assert_eq!(balance(&state, "bob"), TEST_BALANCE + 100_700);
}

#[test]
fn supply_record_tracks_every_mint() {
    let mut genesis = testkit::test_genesis(&["alice", "eve"], &["bob", "carol", "dave"]);
    genesis.halving_interval = 2;
    let spec = ChainSpec::new(genesis).unwrap();
    let mut state = spec.genesis_state.clone();
    let (bob, carol, dave) = (key("bob"), key("carol"), key("dave"));
    let mut minted = 0;
    for height in 1..=6u64 {
        let nonce = height - 1;
        let txs = [
            claim(
                &spec,
                &bob,
                nonce,
                vec![receipt(&spec, &carol, bob.account(), 1, 1_500 * height)],
            ),
            transfer(&spec, &carol, nonce, dave.account(), 7 * height),
        ];
        let executed = apply(&spec, &mut state, block_context(&spec, height), &txs);
        let emitted = emission(1_000_000, 2, height);
        assert_eq!(executed.minted, emitted / 10 + 1_500, "height {height}");
        minted += executed.minted;
        let record = supply(&state);
        assert_eq!(record.minted, minted);
        assert_eq!(record.total_supply, spec.genesis_supply + minted);
        assert_eq!(sum_of_balances(&state), record.total_supply);
    }
    // Proposers alternate alice (even heights), eve (odd heights).
    assert_eq!(
        balance(&state, "alice"),
        TEST_BALANCE + 50_000 + 25_000 + 12_500
    );
    assert_eq!(
        balance(&state, "eve"),
        TEST_BALANCE + 100_000 + 50_000 + 25_000
    );
}

#[test]
fn failing_push_rolls_back_and_later_txs_still_apply() {
    let spec = dev_spec();
    let state = spec.genesis_state.clone();
    let ctx = block_context(&spec, 1);
    let (bob, carol) = (key("bob"), key("carol"));
    let first = transfer(&spec, &bob, 0, account("carol"), 10);
    // Fails on its second receipt, after writing the nonce, budgets and
    // the session counter for the first.
    let failing = claim(
        &spec,
        &bob,
        1,
        vec![
            receipt(&spec, &carol, bob.account(), 1, 500),
            receipt(&spec, &carol, bob.account(), 1, 400),
        ],
    );
    let last = transfer(&spec, &bob, 1, account("dave"), 5);

    let mut executor = BlockExecutor::new(&spec, &state, ctx);
    for (tx, expected) in [
        (first.clone(), Ok(())),
        (
            failing.clone(),
            Err(TxError::ReplayedReceipt {
                index: 1,
                session: 1,
                bytes: 400,
                credited: 500,
            }),
        ),
        (last.clone(), Ok(())),
    ] {
        let hash = testkit::tx_hash(&spec, &tx);
        assert_eq!(executor.push(tx, hash, Signatures::Verify), expected);
    }
    assert_eq!(executor.len(), 2);
    let built = executor.finish().unwrap();
    let checked = execute_block(&spec, &state, ctx, &[first, last], Signatures::Verify).unwrap();
    assert_eq!(built.changes, checked.changes);
    assert_eq!(built.state_root, checked.state_root);
    assert_eq!(built.tx_root, checked.tx_root);
    assert!(
        built
            .changes
            .iter()
            .all(|change| !matches!(change.key, StateKey::Session(_) | StateKey::Device(_))),
        "the failed claim left writes behind: {:?}",
        built.changes
    );
    let mut after = state.clone();
    after.apply(&built.changes);
    assert_eq!(account_record(&after, "bob").nonce, 2);
    assert_eq!(balance(&after, "bob"), TEST_BALANCE - 15);
}

#[test]
fn execute_block_fails_on_the_first_invalid_tx() {
    let spec = dev_spec();
    let state = spec.genesis_state.clone();
    let ctx = block_context(&spec, 1);
    let bob = key("bob");
    let txs = [
        transfer(&spec, &bob, 0, account("carol"), 1),
        transfer(&spec, &bob, 5, account("carol"), 1),
        transfer(&spec, &bob, 1, account("carol"), 0),
    ];
    assert_eq!(
        execute_block(&spec, &state, ctx, &txs, Signatures::Verify).unwrap_err(),
        ExecError::InvalidTx {
            index: 1,
            hash: testkit::tx_hash(&spec, &txs[1]),
            error: TxError::WrongNonce {
                expected: 1,
                found: 5
            },
        }
    );

    let mut genesis = testkit::test_genesis(&["alice"], &["bob", "carol"]);
    genesis.max_block_txs = 2;
    let small = ChainSpec::new(genesis).unwrap();
    let txs: Vec<Tx> = (0..3)
        .map(|nonce| transfer(&small, &bob, nonce, account("carol"), 1))
        .collect();
    assert_eq!(
        execute_block(&small, &small.genesis_state, ctx, &txs, Signatures::Verify).unwrap_err(),
        ExecError::TooManyTxs { max: 2, found: 3 }
    );
    execute_block(
        &small,
        &small.genesis_state,
        ctx,
        &txs[..2],
        Signatures::Verify,
    )
    .unwrap();
}

#[test]
fn already_verified_skips_only_signature_checks() {
    let spec = dev_spec();
    let state = spec.genesis_state.clone();
    let ctx = block_context(&spec, 1);
    let mut tx = transfer(&spec, &key("bob"), 0, account("carol"), 1);
    tx.signature.0[5] ^= 1;
    let hash = testkit::tx_hash(&spec, &tx);

    let mut executor = BlockExecutor::new(&spec, &state, ctx);
    assert_eq!(
        executor.push(tx.clone(), hash, Signatures::Verify),
        Err(TxError::BadSignature {
            from: account("bob")
        })
    );
    assert_eq!(
        executor.push(tx.clone(), hash, Signatures::AlreadyVerified),
        Ok(())
    );
    // Shape checks still run.
    let zero = transfer(&spec, &key("carol"), 0, account("bob"), 0);
    let zero_hash = testkit::tx_hash(&spec, &zero);
    assert_eq!(
        executor.push(zero, zero_hash, Signatures::AlreadyVerified),
        Err(TxError::ZeroAmount)
    );
}

#[test]
fn state_root_matches_applied_and_recomputed_state() {
    let spec = dev_spec();
    let mut state = spec.genesis_state.clone();
    assert_eq!(spec.genesis_header.state_root, state.root());
    assert_eq!(state.root(), state.recompute_root());
    let (alice, bob, carol, dave) = (key("alice"), key("bob"), key("carol"), key("dave"));
    let blocks = [
        vec![
            claim(
                &spec,
                &bob,
                0,
                vec![
                    receipt(&spec, &carol, bob.account(), 1, 1_000),
                    receipt(&spec, &dave, bob.account(), 9, 2_000),
                ],
            ),
            transfer(&spec, &carol, 0, account("frank"), 33),
            set_device(&spec, &alice, 0, account("frank"), true),
        ],
        vec![],
        vec![
            // bob spends everything: his record stays because of the nonce.
            transfer(&spec, &bob, 1, account("dave"), TEST_BALANCE + 3_000),
            set_device(&spec, &alice, 1, account("carol"), false),
        ],
    ];
    let mut roots = vec![state.root()];
    for (height, txs) in (1u64..).zip(&blocks) {
        let parent = state.clone();
        let ctx = block_context(&spec, height);
        let executed =
            execute_block(&spec, &parent, ctx, txs, Signatures::Verify).expect("valid block");
        let hashes: Vec<Hash> = txs.iter().map(|tx| testkit::tx_hash(&spec, tx)).collect();
        assert_eq!(executed.tx_hashes, hashes);
        assert_eq!(executed.tx_root, hash::merkle_root(&hashes));
        assert_eq!(executed.accumulator.root(), executed.state_root);
        state.apply(&executed.changes);
        assert_eq!(executed.state_root, state.root(), "height {height}");
        assert_eq!(state.root(), state.recompute_root(), "height {height}");
        // Every change's `before` is what the parent held.
        for change in &executed.changes {
            assert_eq!(parent.get(&change.key).unwrap(), change.before);
            assert_ne!(change.before, change.after);
        }
        roots.push(state.root());
    }
    roots.sort();
    roots.dedup();
    assert_eq!(roots.len(), 4, "every block changes the root (it mints)");
}

#[test]
fn check_tx_against_state_uses_the_pending_nonce() {
    let spec = dev_spec();
    let state = spec.genesis_state.clone();
    let ctx = block_context(&spec, 1);
    let bob = key("bob");
    let tx = |nonce, amount| transfer(&spec, &bob, nonce, account("carol"), amount);
    assert_eq!(
        check_tx_against_state(&spec, &state, &ctx, &tx(2, 5), 2),
        Ok(())
    );
    assert_eq!(
        check_tx_against_state(&spec, &state, &ctx, &tx(1, 5), 2),
        Err(TxError::WrongNonce {
            expected: 2,
            found: 1
        })
    );
    assert_eq!(
        check_tx_against_state(&spec, &state, &ctx, &tx(2, TEST_BALANCE + 1), 2),
        Err(TxError::Overspend {
            balance: TEST_BALANCE,
            amount: TEST_BALANCE + 1
        })
    );
}

#[test]
fn stateless_checks_name_the_problem() {
    let spec = dev_spec();
    let bob = key("bob");
    let good = claim(
        &spec,
        &bob,
        0,
        vec![receipt(&spec, &key("carol"), bob.account(), 1, 10)],
    );
    assert_eq!(check_tx_stateless(&spec, &good), Ok(()));
    let unsigned = Tx {
        signature: bwchain_core::primitives::Signature([0; 64]),
        ..good.clone()
    };
    assert_eq!(
        check_tx_stateless(&spec, &unsigned),
        Err(TxError::BadSignature {
            from: bob.account()
        })
    );
    // A stranger's key cannot sign for bob.
    let stranger = Keypair::from_seed([42; 32]);
    let forged = Tx {
        signature: stranger
            .sign_tx(&spec.genesis_hash(), 0, good.body.clone())
            .signature,
        ..good
    };
    assert!(matches!(
        check_tx_stateless(&spec, &forged),
        Err(TxError::BadSignature { .. })
    ));
}

/// The identity point: a small-order key.
const IDENTITY: &str = "0100000000000000000000000000000000000000000000000000000000000000";
/// Another encoding of the identity ("negative zero" x): not canonical.
const NEGATIVE_ZERO: &str = "0100000000000000000000000000000000000000000000000000000000000080";

fn hex_account(text: &str) -> Account {
    text.parse().expect("hex account")
}

#[test]
fn inadmissible_keys_are_refused_with_the_key_and_reason() {
    use bwchain_core::primitives::signing::KeyError;
    let spec = dev_spec();
    let state = spec.genesis_state.clone();
    let ctx = ctx_at(1, TEST_GENESIS_TIME_MS + 1_000);
    let (alice, bob) = (key("alice"), key("bob"));
    let cases = [
        (IDENTITY, KeyError::SmallOrder, "small order"),
        (NEGATIVE_ZERO, KeyError::NotCanonical, "not canonical"),
    ];
    for (text, reason, words) in cases {
        let bad = hex_account(text);

        let tx = transfer(&spec, &bob, 0, bad, 5);
        let expected = TxError::InadmissibleRecipient { to: bad, reason };
        assert_eq!(check_tx_stateless(&spec, &tx), Err(expected.clone()));
        let message = expected.to_string();
        assert!(
            message.contains(text) && message.contains(words),
            "{message}"
        );
        assert_rejected(
            &spec,
            &state,
            ctx,
            tx,
            expected,
            &format!("transfer to {text}"),
        );

        let tx = set_device(&spec, &alice, 0, bad, true);
        let expected = TxError::InadmissibleDevice {
            device: bad,
            reason,
        };
        assert_eq!(check_tx_stateless(&spec, &tx), Err(expected.clone()));
        let message = expected.to_string();
        assert!(
            message.contains(text) && message.contains(words),
            "{message}"
        );
        assert_rejected(
            &spec,
            &state,
            ctx,
            tx,
            expected,
            &format!("register {text}"),
        );
        // Revoking takes rights away: no admissibility needed (and this
        // key was never registered).
        let tx = set_device(&spec, &alice, 0, bad, false);
        assert_eq!(check_tx_stateless(&spec, &tx), Ok(()));
        assert_rejected(
            &spec,
            &state,
            ctx,
            tx,
            TxError::DeviceNotRegistered { device: bad },
            &format!("revoke {text}"),
        );

        // A sender of small order: R = identity, S = 0 satisfies the
        // cofactored equation on any message, so only admissibility stops it.
        let mut signature = [0u8; 64];
        signature[0] = 1;
        let tx = Tx {
            from: bad,
            nonce: 0,
            body: TxBody::Transfer {
                to: account("bob"),
                amount: 1,
            },
            signature: bwchain_core::primitives::Signature(signature),
        };
        let expected = TxError::InadmissibleSender { from: bad, reason };
        assert_eq!(check_tx_stateless(&spec, &tx), Err(expected.clone()));
        let message = expected.to_string();
        assert!(
            message.contains(text) && message.contains(words),
            "{message}"
        );
        assert_rejected(&spec, &state, ctx, tx, expected, &format!("sender {text}"));
    }
}

#[test]
fn minting_past_u64_is_an_error_not_a_panic() {
    // Genesis validation rules such a chain out, so corrupt a valid state instead.
    let mut genesis = testkit::test_genesis(&["alice"], &["bob"]);
    genesis.proposer_share_bps = 10_000;
    let spec = ChainSpec::new(genesis).unwrap();
    let mut state = spec.genesis_state.clone();
    state.insert(
        StateKey::Supply,
        StateValue::Supply(SupplyRecord {
            total_supply: u64::MAX - 1,
            minted: 0,
        }),
    );
    let amount = emission(spec.genesis.block_reward, spec.genesis.halving_interval, 1);
    assert!(amount > 1);
    assert_eq!(
        execute_block(
            &spec,
            &state,
            block_context(&spec, 1),
            &[],
            Signatures::Verify
        )
        .unwrap_err(),
        ExecError::SupplyOverflow { amount }
    );
}

#[test]
fn genesis_whose_first_block_cannot_mint_is_rejected() {
    // genesis_supply (2 000 000) + block_reward > u64::MAX: every block fails
    // with SupplyOverflow (see the test above). DESIGN.md §6 makes
    // impossible values an error of the genesis file.
    let mut genesis = testkit::test_genesis(&["alice"], &["bob"]);
    genesis.block_reward = u64::MAX - 2 * TEST_BALANCE + 1;
    genesis.proposer_share_bps = 10_000;
    assert!(ChainSpec::new(genesis).is_err());
}
