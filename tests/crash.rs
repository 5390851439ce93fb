//! Restarts and crashes of a real node process: nothing included is lost and
//! the audit stays green.

mod common;

use std::time::{Duration, Instant};

use bwchain_core::primitives::signing::Keypair;
use bwchain_core::primitives::Hash;
use common::{one_receipt_claim, NodeProcess, TestChain, WAIT};

/// Submits one claim from each provider, each for a receipt from the next
/// device, and returns the tx hashes.
fn submit_round(node: &NodeProcess, chain: &TestChain, round: u64) -> Vec<Hash> {
    let devices = ["bob", "carol", "dave", "eve"];
    let mut hashes = Vec::new();
    for (i, provider_name) in devices.iter().enumerate() {
        let provider = Keypair::dev(provider_name);
        let consumer = Keypair::dev(devices[(i + 1) % devices.len()]);
        let (_, account) = node.get(&format!("/accounts/{}", provider.account()));
        let nonce = account["next_nonce"].as_u64().expect("next_nonce");
        let tx = one_receipt_claim(
            &chain.genesis_hash,
            &provider,
            &consumer,
            nonce,
            7,
            (round + 1) << 20,
        );
        let (status, body) = node.post("/txs", &serde_json::to_string(&tx).unwrap());
        assert_eq!(status, 202, "{body}");
        hashes.push(body["hash"].as_str().unwrap().parse().unwrap());
    }
    hashes
}

fn wait_included(node: &NodeProcess, hashes: &[Hash]) {
    let start = Instant::now();
    for hash in hashes {
        loop {
            let (status, body) = node.get(&format!("/txs/{hash}"));
            if status == 200 && body["status"] == "included" {
                break;
            }
            assert!(start.elapsed() < WAIT, "{hash} not included: {body}");
            std::thread::sleep(Duration::from_millis(25));
        }
    }
}

fn assert_all_included(node: &NodeProcess, hashes: &[Hash]) {
    for hash in hashes {
        let (status, body) = node.get(&format!("/txs/{hash}"));
        assert_eq!(status, 200, "{hash} lost after restart: {body}");
        assert_eq!(body["status"], "included", "{hash}: {body}");
    }
}

#[test]
fn restart_keeps_chain_balances_nonces_and_sessions() {
    let chain = TestChain::new();
    let node = chain.start_node("a");
    let hashes = submit_round(&node, &chain, 0);
    wait_included(&node, &hashes);
    let bob = TestChain::account("bob");
    let carol = TestChain::account("carol");
    let (_, before) = node.get(&format!("/accounts/{bob}"));
    let (_, session) = node.get(&format!("/sessions/{bob}/{carol}/7"));
    assert_eq!(session["bytes"], 1 << 20);
    let height = node.height();
    node.stop();

    let node = chain.start_node("a");
    assert!(node.height() >= height, "restart lost blocks");
    let (_, after) = node.get(&format!("/accounts/{bob}"));
    assert_eq!(after["nonce"], before["nonce"]);
    assert_eq!(after["nonce"], 1);
    // Bob earns nothing by himself while idle: his balance is unchanged.
    assert_eq!(after["balance"], before["balance"]);
    let (_, session_after) = node.get(&format!("/sessions/{bob}/{carol}/7"));
    assert_eq!(session_after, session);
    assert_all_included(&node, &hashes);
    // And it goes on: new blocks, new claims.
    node.wait_for_height(height + 2);
    let more = submit_round(&node, &chain, 1);
    wait_included(&node, &more);
    node.stop();

    let report = chain.audit_ok("a");
    assert!(report["height"].as_u64().unwrap() >= height + 2);
    assert_eq!(report["txs_checked"], 8);
}

#[test]
fn kill_9_during_a_stream_of_claims_loses_nothing_included() {
    let chain = TestChain::new();
    let mut confirmed: Vec<Hash> = Vec::new();
    let mut round = 0;
    for cycle in 0..3 {
        let node = chain.start_node("a");
        assert_all_included(&node, &confirmed);
        for _ in 0..3 {
            let hashes = submit_round(&node, &chain, round);
            round += 1;
            wait_included(&node, &hashes);
            confirmed.extend(hashes);
        }
        // One more round in flight, then a crash at a varying point in the block.
        submit_round(&node, &chain, round);
        round += 1;
        std::thread::sleep(Duration::from_millis(40 + 70 * cycle));
        node.kill9();
    }
    let node = chain.start_node("a");
    assert_all_included(&node, &confirmed);
    node.stop();
    let report = chain.audit_ok("a");
    assert!(report["txs_checked"].as_u64().unwrap() >= confirmed.len() as u64);
    assert_eq!(report["sum_of_balances"], report["total_supply"]);
}

/// A block long enough for the block log (one claim of 256 receipts, some
/// 19 KiB stored) is written there, served, and still there after a
/// `kill -9` and a restart; the audit replays it.
#[test]
fn a_long_block_is_in_the_block_log_and_survives_kill_9() {
    const RECEIPTS: u64 = 256;
    let chain = TestChain::with(|genesis| {
        genesis.max_receipts_per_claim = RECEIPTS;
        genesis.max_block_txs = 100;
    });
    let node = chain.start_node("a");
    let (bob, carol) = (Keypair::dev("bob"), Keypair::dev("carol"));
    let receipts = (1..=RECEIPTS)
        .map(|session| carol.sign_receipt(&chain.genesis_hash, bob.account(), session, 1000))
        .collect();
    let claim = bob.sign_tx(
        &chain.genesis_hash,
        0,
        bwchain_core::primitives::TxBody::Claim { receipts },
    );
    let hash = node.include(&claim);
    let (_, info) = node.get(&format!("/txs/{hash}"));
    let height = info["block_height"].as_u64().expect("block_height");
    let (status, block) = node.get(&format!("/blocks/{height}"));
    assert_eq!(status, 200, "{block}");
    let segment = chain.data("a").join("blocks").join("00000000.seg");
    let logged = std::fs::metadata(&segment).map_or(0, |meta| meta.len());
    assert!(
        logged >= 16 * 1024,
        "{} holds {logged} bytes",
        segment.display()
    );
    node.kill9();

    let node = chain.start_node("a");
    assert_eq!(node.get(&format!("/blocks/{height}")), (200, block));
    let (status, info) = node.get(&format!("/txs/{hash}"));
    assert_eq!(
        (status, &info["status"]),
        (200, &"included".into()),
        "{info}"
    );
    assert_eq!(
        info["tx"]["body"]["receipts"].as_array().map(Vec::len),
        Some(RECEIPTS as usize)
    );
    node.wait_for_height(height + 1);
    node.stop();
    let report = chain.audit_ok("a");
    assert!(report["txs_checked"].as_u64().unwrap() >= 1, "{report}");
}
