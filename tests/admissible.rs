//! Keys that are not admissible (DESIGN.md §1: not canonical, or of small
//! order) gain nothing through the HTTP API of a real node: registering one
//! as a device, transferring to one and sending from one each get HTTP 400
//! with an error naming the key and the reason, alone or in a batch, and
//! the node goes on working.

mod common;

use bwchain_core::primitives::signing::Keypair;
use bwchain_core::primitives::{Account, Signature, Tx, TxBody};
use common::TestChain;
use serde_json::Value;

/// The identity point: of small order. Under the cofactored equation
/// `R` = identity, `S` = 0 is a valid signature by it on any message.
const IDENTITY: &str = "0100000000000000000000000000000000000000000000000000000000000000";
/// A point of order 8.
const ORDER_8: &str = "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05";
/// The identity encoded as y + p: not canonical.
const NON_CANONICAL: &str = "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f";

fn account(text: &str) -> Account {
    text.parse().expect("hex account")
}

fn error_of(response: &(u16, Value)) -> &str {
    response.1["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no JSON error in {response:?}"))
}

#[test]
fn inadmissible_keys_get_400_naming_the_key_and_the_reason() {
    let chain = TestChain::new();
    let node = chain.start_node("a");
    node.wait_for_height(1);
    let g = chain.genesis_hash;
    let alice = Keypair::dev("alice");
    let bob = Keypair::dev("bob");

    let register = |device: &str| {
        alice.sign_tx(
            &g,
            0,
            TxBody::SetDevice {
                device: account(device),
                active: true,
            },
        )
    };
    let transfer_to = |to: &str| {
        bob.sign_tx(
            &g,
            0,
            TxBody::Transfer {
                to: account(to),
                amount: 1,
            },
        )
    };
    let from_identity = {
        let mut signature = [0u8; 64];
        signature[0] = 1;
        Tx {
            from: account(IDENTITY),
            nonce: 0,
            body: TxBody::Transfer {
                to: bob.account(),
                amount: 1,
            },
            signature: Signature(signature),
        }
    };
    // (name, transaction, the key, the reason's words)
    let cases = [
        (
            "register a small-order device",
            register(IDENTITY),
            IDENTITY,
            "small order",
        ),
        (
            "register an order-8 device",
            register(ORDER_8),
            ORDER_8,
            "small order",
        ),
        (
            "register a non-canonical device",
            register(NON_CANONICAL),
            NON_CANONICAL,
            "not canonical",
        ),
        (
            "transfer to a small-order key",
            transfer_to(ORDER_8),
            ORDER_8,
            "small order",
        ),
        (
            "transfer to a non-canonical key",
            transfer_to(NON_CANONICAL),
            NON_CANONICAL,
            "not canonical",
        ),
        (
            "send from a small-order key",
            from_identity,
            IDENTITY,
            "small order",
        ),
    ];
    for (name, tx, key, words) in &cases {
        let response = node.post("/txs", &serde_json::to_string(tx).unwrap());
        assert_eq!(response.0, 400, "{name}: {response:?}");
        let error = error_of(&response);
        assert!(
            error.contains(key) && error.contains(words),
            "{name}: {error}"
        );
    }

    // The same through the batch endpoint: one 400 per transaction.
    let batch: Vec<&Tx> = cases.iter().map(|(_, tx, _, _)| tx).collect();
    let (status, answer) = node.post("/txs/batch", &serde_json::to_string(&batch).unwrap());
    assert_eq!(status, 200, "{answer}");
    let results = answer["results"].as_array().expect("results");
    assert_eq!(results.len(), cases.len());
    for ((name, _, key, words), result) in cases.iter().zip(results) {
        assert_eq!(result["status"], 400, "{name}: {result}");
        let error = result["error"].as_str().unwrap_or_default();
        assert!(
            error.contains(key) && error.contains(words),
            "{name}: {error}"
        );
    }

    // Nothing was registered or credited, and honest transactions still go
    // through.
    for key in [IDENTITY, ORDER_8, NON_CANONICAL] {
        let (status, record) = node.get(&format!("/accounts/{key}"));
        assert_eq!(status, 200, "{record}");
        assert_eq!(record["balance"], 0, "{key}: {record}");
        assert_eq!(record["device"], false, "{key}: {record}");
        assert!(record["device_budget"].is_null(), "{key}: {record}");
    }
    let good = transfer_to(&Keypair::dev("carol").account().to_string());
    let (status, body) = node.post("/txs", &serde_json::to_string(&good).unwrap());
    assert_eq!(status, 202, "{body}");
}
