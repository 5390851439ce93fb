//! Admission against abuse, through a real node's HTTP API: cheap checks come
//! before signatures, pending transactions count (spending and receipts),
//! and a full mempool still serves a quiet sender.
//!
//! The node here is a follower with no peers: it never makes a block, so
//! what it admits stays pending and each test sees the mempool as it left it.

mod common;

use bwchain_core::primitives::signing::Keypair;
use bwchain_core::primitives::{Signature, Tx, TxBody};
use std::process::Command;

use common::{error_of, one_receipt_claim, NodeProcess, TestChain, BIN};

fn json(tx: &Tx) -> String {
    serde_json::to_string(tx).unwrap()
}

/// A follower (it never produces) with `extra` node flags.
fn follower(chain: &TestChain, extra: &[&str]) -> NodeProcess {
    chain.start_with(Command::new(BIN), "follower", None, &[], extra)
}

fn transfer(g: &bwchain_core::primitives::Hash, from: &Keypair, nonce: u64, amount: u64) -> Tx {
    from.sign_tx(
        g,
        nonce,
        TxBody::Transfer {
            to: Keypair::dev("eve").account(),
            amount,
        },
    )
}

#[test]
fn a_claim_from_a_stranger_is_refused_before_its_signatures_are_checked() {
    let chain = TestChain::new();
    let node = follower(&chain, &[]);
    let g = chain.genesis_hash;
    let stranger = Keypair::dev("mallory");
    let bob = Keypair::dev("bob");
    // 64 receipts, every signature garbage, from a key that is no device:
    // the answer is "unknown device", which needs no signature check.
    let receipts = (0..64)
        .map(|session| {
            let mut receipt =
                Keypair::dev("carol").sign_receipt(&g, stranger.account(), session, 10);
            receipt.signature = Signature([3; 64]);
            receipt
        })
        .collect();
    let mut tx = stranger.sign_tx(&g, 0, TxBody::Claim { receipts });
    tx.signature = Signature([5; 64]);
    let response = node.post("/txs", &json(&tx));
    assert_eq!(response.0, 400, "{response:?}");
    assert!(
        error_of(&response).contains("unknown device"),
        "{response:?}"
    );

    // A nonce far ahead of the sender's is refused before signatures too.
    let mut far = transfer(&g, &bob, 1_000_000, 1);
    far.signature = Signature([5; 64]);
    let response = node.post("/txs", &json(&far));
    assert_eq!(response.0, 400, "{response:?}");
    assert!(
        error_of(&response).contains("expected 0, found 1000000"),
        "{response:?}"
    );

    // A bad signature is still named as such, every time it is sent (the
    // second answer comes from the cache of refusals, with the same words).
    let mut tampered = transfer(&g, &bob, 0, 1);
    tampered.signature = Signature([7; 64]);
    for _ in 0..2 {
        let response = node.post("/txs", &json(&tampered));
        assert_eq!(response.0, 400, "{response:?}");
        assert!(
            error_of(&response).contains("bad signature"),
            "{response:?}"
        );
    }
    // And the honest transaction with the same nonce still goes in.
    let (status, body) = node.post("/txs", &json(&transfer(&g, &bob, 0, 1)));
    assert_eq!(status, 202, "{body}");
}

#[test]
fn pending_spending_and_pending_receipts_are_counted() {
    let dave = Keypair::dev("dave");
    let chain = TestChain::with(|genesis| {
        genesis.balances.0.insert(dave.account(), 5);
    });
    let node = follower(&chain, &[]);
    let g = chain.genesis_hash;

    // dave holds 5: 3 is admitted, another 3 is not (only 2 left once the
    // first is included), 2 is.
    let (status, body) = node.post("/txs", &json(&transfer(&g, &dave, 0, 3)));
    assert_eq!(status, 202, "{body}");
    let response = node.post("/txs", &json(&transfer(&g, &dave, 1, 3)));
    assert_eq!(response.0, 400, "{response:?}");
    let error = error_of(&response);
    assert!(
        error.contains("balance 5") && error.contains("3 already pending"),
        "{error}"
    );
    let (status, body) = node.post("/txs", &json(&transfer(&g, &dave, 1, 2)));
    assert_eq!(status, 202, "{body}");
    let response = node.post("/txs", &json(&transfer(&g, &dave, 2, 1)));
    assert_eq!(response.0, 400, "{response:?}");

    // A claim repeating a receipt that is already pending is refused with
    // the reason (it could only fail as a replay once the first is included).
    let bob = Keypair::dev("bob");
    let carol = Keypair::dev("carol");
    let claim = |nonce: u64, bytes: u64| one_receipt_claim(&g, &bob, &carol, nonce, 1, bytes);
    let (status, body) = node.post("/txs", &json(&claim(0, 1_000)));
    assert_eq!(status, 202, "{body}");
    let response = node.post("/txs", &json(&claim(1, 1_000)));
    assert_eq!(response.0, 409, "{response:?}");
    assert!(
        error_of(&response).contains("repeats a pending receipt"),
        "{response:?}"
    );
    // A larger counter for the same session is a new receipt.
    let (status, body) = node.post("/txs", &json(&claim(1, 2_000)));
    assert_eq!(status, 202, "{body}");
    let (_, status) = node.get("/status");
    assert_eq!(status["mempool"], 4, "{status}");
}

#[test]
fn a_full_mempool_still_serves_a_quiet_sender() {
    let chain = TestChain::new();
    let node = follower(&chain, &["--mempool-max-txs", "8"]);
    let g = chain.genesis_hash;
    let alice = Keypair::dev("alice");
    let bob = Keypair::dev("bob");
    let mut alice_hashes = Vec::new();
    for nonce in 0..8 {
        let (status, body) = node.post("/txs", &json(&transfer(&g, &alice, nonce, 1)));
        assert_eq!(status, 202, "{body}");
        alice_hashes.push(body["hash"].as_str().unwrap().to_string());
    }
    // The busiest sender cannot push further.
    let response = node.post("/txs", &json(&transfer(&g, &alice, 8, 1)));
    assert_eq!(response.0, 429, "{response:?}");
    assert!(error_of(&response).contains("mempool full"), "{response:?}");
    // A sender with nothing pending still gets in: alice's latest makes room.
    for nonce in 0..3 {
        let (status, body) = node.post("/txs", &json(&transfer(&g, &bob, nonce, 1)));
        assert_eq!(status, 202, "bob's transfer {nonce}: {body}");
    }
    let (_, status) = node.get("/status");
    assert_eq!(status["mempool"], 8, "{status}");
    let (code, _) = node.get(&format!("/txs/{}", alice_hashes[7]));
    assert_eq!(code, 404, "alice's latest transfer was evicted");
    let (_, tx) = node.get(&format!("/txs/{}", alice_hashes[0]));
    assert_eq!(tx["status"], "pending", "{tx}");
}
