//! The HTTP API of a real node: shapes of the answers, and a clear 4xx JSON
//! error for every kind of bad request, after which the node still works.

mod common;

use bwchain_core::primitives::signing::Keypair;
use bwchain_core::primitives::{Signature, Tx, TxBody};
use common::{error_of, one_receipt_claim, TestChain, BLOCK_TIME_MS};
use serde_json::Value;

#[test]
fn bad_requests_get_clear_errors_and_change_nothing() {
    let chain = TestChain::new();
    let node = chain.start_node("a");
    node.wait_for_height(1);
    let g = chain.genesis_hash;
    let bob = Keypair::dev("bob");
    let carol = Keypair::dev("carol");
    let claim = |nonce: u64, bytes: u64| one_receipt_claim(&g, &bob, &carol, nonce, 1, bytes);
    let json = |tx: &bwchain_core::primitives::Tx| serde_json::to_string(tx).unwrap();

    // (request, expected status, words the error must contain)
    let tampered = {
        let mut tx = claim(0, 10);
        tx.signature = Signature([7; 64]);
        json(&tx)
    };
    let bad_receipt = {
        let mut tx = claim(0, 10);
        if let TxBody::Claim { receipts } = &mut tx.body {
            receipts[0].bytes += 1;
        }
        // Re-sign the tx so only the receipt is wrong.
        json(&bob.sign_tx(&g, 0, tx.body))
    };
    let wrong_nonce = json(&claim(5, 10));
    let unknown_device = {
        let stranger = Keypair::dev("mallory");
        json(&one_receipt_claim(&g, &bob, &stranger, 0, 1, 10))
    };
    // frank holds nothing (every dev account in genesis is funded).
    let overspend = json(&Keypair::dev("frank").sign_tx(
        &g,
        0,
        TxBody::Transfer {
            to: bob.account(),
            amount: 1,
        },
    ));
    let not_authority = json(&bob.sign_tx(
        &g,
        0,
        TxBody::SetDevice {
            device: Keypair::dev("mallory").account(),
            active: true,
        },
    ));
    let too_large = format!("{{\"pad\":\"{}\"}}", "x".repeat(300 * 1024));
    let unknown_tx = format!("/txs/{}", "ab".repeat(32));
    let bad_session = format!("/sessions/{0}/{0}/-1", "ab".repeat(32));
    let cases: Vec<(&str, &str, Option<String>, u16, &str)> = vec![
        (
            "malformed json",
            "/txs",
            Some("{not json".into()),
            400,
            "invalid transaction JSON",
        ),
        (
            "wrong shape",
            "/txs",
            Some("{\"from\":1}".into()),
            400,
            "invalid transaction JSON",
        ),
        (
            "bad hex",
            "/txs",
            Some(json(&claim(0, 10)).replacen("\"from\":\"", "\"from\":\"zz", 1)),
            400,
            "hex",
        ),
        (
            "bad signature",
            "/txs",
            Some(tampered),
            400,
            "bad signature",
        ),
        (
            "bad receipt signature",
            "/txs",
            Some(bad_receipt),
            400,
            "bad receipt signature",
        ),
        (
            "wrong nonce",
            "/txs",
            Some(wrong_nonce),
            400,
            "expected 0, found 5",
        ),
        (
            "unknown device",
            "/txs",
            Some(unknown_device),
            400,
            "unknown device",
        ),
        ("overspend", "/txs", Some(overspend), 400, "overspend"),
        (
            "not authority",
            "/txs",
            Some(not_authority),
            400,
            "not an authority",
        ),
        ("too large", "/txs", Some(too_large), 413, "body too large"),
        ("account bad hex", "/accounts/xyz", None, 400, "bad hex"),
        ("unknown tx", &unknown_tx, None, 404, "unknown transaction"),
        ("bad block id", "/blocks/nope", None, 400, "bad block id"),
        ("missing block", "/blocks/999999", None, 404, "no block"),
        ("limit too big", "/blocks?limit=1000", None, 400, "limit"),
        (
            "limit not a number",
            "/blocks?limit=x",
            None,
            400,
            "bad query",
        ),
        ("bad session", &bad_session, None, 400, "bad session"),
        ("no such endpoint", "/nope", None, 404, "no such endpoint"),
    ];
    for (name, path, body, status, words) in cases {
        let response = match body {
            Some(body) => node.post(path, &body),
            None => node.get(path),
        };
        assert_eq!(response.0, status, "{name}: {response:?}");
        assert!(
            error_of(&response).contains(words),
            "{name}: {:?} lacks {words:?}",
            error_of(&response)
        );
    }
    let (_, bob_account) = node.get(&format!("/accounts/{}", bob.account()));
    assert_eq!(bob_account["nonce"], 0, "a refused tx changed state");

    // The node still works: a good claim goes in, and its replay is refused.
    let good = json(&claim(0, 1 << 20));
    let (status, body) = node.post("/txs", &good);
    assert_eq!(status, 202, "{body}");
    let hash = body["hash"].as_str().unwrap().to_string();
    // Resubmitting a pending tx is idempotent.
    let (again, _) = node.post("/txs", &good);
    assert!(again == 202 || again == 409, "{again}");
    let start = std::time::Instant::now();
    loop {
        let (_, tx) = node.get(&format!("/txs/{hash}"));
        if tx["status"] == "included" {
            assert_eq!(tx["outcome"]["receipts"][0]["credited_bytes"], 1 << 20);
            assert!(tx["outcome"]["provider_reward"].as_u64().unwrap() > 0);
            assert_eq!(tx["tx"]["body"]["type"], "claim");
            break;
        }
        assert!(start.elapsed() < common::WAIT, "claim not included");
        std::thread::sleep(std::time::Duration::from_millis(BLOCK_TIME_MS / 5));
    }
    let (status, body) = node.post("/txs", &good);
    assert_eq!(status, 409, "{body}");
    assert!(error_of(&(status, body.clone())).contains("already included"));
    let replay = json(&claim(1, 1 << 20));
    let response = node.post("/txs", &replay);
    assert_eq!(response.0, 400);
    assert!(
        error_of(&response).contains("replayed receipt"),
        "{response:?}"
    );
}

#[test]
fn read_endpoints_have_the_documented_shape() {
    let chain = TestChain::new();
    let node = chain.start_node("a");
    node.wait_for_height(3);
    let (status, s) = node.get("/status");
    assert_eq!(status, 200);
    for field in [
        "chain_id",
        "genesis_hash",
        "height",
        "head_hash",
        "finalized_height",
        "finalized_hash",
        "authorities",
        "peers",
        "mempool",
        "syncing",
    ] {
        assert!(!s[field].is_null(), "status lacks {field}: {s}");
    }
    assert_eq!(s["genesis_hash"], chain.genesis_hash.to_hex());
    // One authority: every block is final at once.
    assert_eq!(s["finalized_height"], s["height"]);

    let (_, latest) = node.get("/blocks/latest");
    let height = latest["height"].as_u64().unwrap();
    let (_, by_height) = node.get(&format!("/blocks/{height}"));
    let (_, by_hash) = node.get(&format!("/blocks/{}", latest["hash"].as_str().unwrap()));
    assert_eq!(by_height, latest);
    assert_eq!(by_hash, latest);
    for field in [
        "slot",
        "timestamp_ms",
        "parent",
        "proposer",
        "tx_root",
        "state_root",
        "signature",
        "txs",
        "rewards",
    ] {
        assert!(!latest[field].is_null(), "block lacks {field}");
    }
    assert_eq!(latest["proposer"], TestChain::account("alice"));
    // An empty block still pays the proposer its share.
    let reward = &latest["rewards"][0];
    assert_eq!(reward["account"], TestChain::account("alice"));
    assert_eq!(reward["amount"], 10_000_000);

    let (_, page) = node.get("/blocks?from=1&limit=2");
    let page = page.as_array().unwrap();
    assert_eq!(page.len(), 2);
    assert_eq!(page[0]["height"], 1);
    assert_eq!(page[1]["parent"], page[0]["hash"]);

    let (status, metrics) = {
        let url = format!("{}/metrics", node.url);
        let response = ureq::get(&url).call().unwrap();
        let status = response.status().as_u16();
        (status, response.into_body().read_to_string().unwrap())
    };
    assert_eq!(status, 200);
    assert!(metrics.contains("bwchain_head_height "), "{metrics}");
    assert!(metrics.contains("bwchain_supply_tokens "));
}

/// bob's one-receipt claims of carol's receipts (by nonce and session),
/// and a claim of nonce 1 whose signature is forged.
fn claims_and_a_forgery(chain: &TestChain) -> (impl Fn(u64, u64) -> Tx, Tx) {
    let g = chain.genesis_hash;
    let bob = Keypair::dev("bob");
    let carol = Keypair::dev("carol");
    let claim = move |nonce: u64, session: u64| {
        one_receipt_claim(&g, &bob, &carol, nonce, session, 1 << 20)
    };
    let mut forged = claim(1, 2);
    forged.signature = Signature([9; 64]);
    (claim, forged)
}

#[test]
fn batch_submission_answers_per_transaction() {
    let chain = TestChain::new();
    let node = chain.start_node("a");
    let (claim, forged) = claims_and_a_forgery(&chain);
    // Larger than a single request may be, within the batch limit.
    let many: Vec<_> = (0..3).map(|i| claim(i, 10 + i)).collect();
    let mut batch = vec![claim(0, 1), forged, claim(5, 3)];
    batch.extend(many.into_iter().skip(1));
    let body = serde_json::to_string(&batch).unwrap();
    let (status, answer) = node.post("/txs/batch", &body);
    assert_eq!(status, 200, "{answer}");
    let results = answer["results"].as_array().unwrap();
    assert_eq!(results.len(), 5);
    assert!(results[0]["hash"].is_string(), "{answer}");
    assert!(results[1]["error"]
        .as_str()
        .unwrap()
        .contains("bad signature"));
    assert!(results[2]["error"]
        .as_str()
        .unwrap()
        .contains("expected 1, found 5"));
    // Nonces 1 and 2 follow the admitted nonce 0.
    assert!(results[3]["hash"].is_string(), "{answer}");
    assert!(results[4]["hash"].is_string(), "{answer}");
    assert_eq!(results[2]["status"], 400);

    // `GET /blocks/{id}/tx-hashes` lists what `GET /blocks/{id}` holds.
    let last = node.include(&claim(3, 20));
    let (_, info) = node.get(&format!("/txs/{last}"));
    let height = info["block_height"].as_u64().unwrap();
    let (_, block) = node.get(&format!("/blocks/{height}"));
    let (status, listed) = node.get(&format!("/blocks/{height}/tx-hashes"));
    assert_eq!(status, 200, "{listed}");
    let in_block: Vec<&Value> = block["txs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|tx| &tx["hash"])
        .collect();
    let listed_hashes: Vec<&Value> = listed["tx_hashes"].as_array().unwrap().iter().collect();
    assert_eq!(listed_hashes, in_block);
    assert!(
        listed_hashes.contains(&&Value::from(last.clone())),
        "{listed}"
    );
    assert_eq!(listed["height"], height);
    assert_eq!(listed["hash"], block["hash"]);
    assert_eq!(node.get("/blocks/999999/tx-hashes").0, 404);

    let (status, answer) = node.post("/txs/batch", "[1, 2");
    assert_eq!(status, 400);
    assert!(error_of(&(status, answer)).contains("invalid JSON array"));
    let padding = format!("[{}]", vec!["{}"; 5000].join(","));
    let (status, _) = node.post("/txs/batch", &padding);
    assert_eq!(status, 400);
    // The batch limit is larger than the single-transaction limit.
    let big = format!("{{\"pad\":\"{}\"}}", "x".repeat(300 * 1024));
    let (status, answer) = node.post("/txs/batch", &big);
    assert_eq!(status, 400, "{answer}");
    assert!(error_of(&(status, answer)).contains("invalid JSON array"));
}

/// `POST /txs/batch` with `Content-Type: application/octet-stream`: the
/// documented layout (a u64 little-endian count, then each transaction in
/// the consensus encoding) is admitted like the JSON array, and bad bytes
/// get a clear 400.
#[test]
fn binary_batch_submission_is_admitted_and_checked() {
    use bwchain_core::primitives::codec;

    let chain = TestChain::new();
    let node = chain.start_node("a");
    let (claim, forged) = claims_and_a_forgery(&chain);
    let batch = vec![claim(0, 1), forged, claim(1, 3)];
    // Built from the documented layout, not by the node's own helper...
    let mut body = (batch.len() as u64).to_le_bytes().to_vec();
    for tx in &batch {
        body.extend(codec::encode(tx));
    }
    // ...which must agree with it.
    assert_eq!(bwchain_api::txs::encode_batch(&batch), body);
    let post = |body: &[u8], content_type: &str| -> (u16, Value) {
        let mut response = common::agent(Some(std::time::Duration::from_secs(30)))
            .post(format!("{}/txs/batch", node.url))
            .header("content-type", content_type)
            .send(body)
            .unwrap();
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap();
        (status, serde_json::from_str(&text).unwrap())
    };

    let (status, answer) = post(&body, "application/octet-stream");
    assert_eq!(status, 200, "{answer}");
    let results = answer["results"].as_array().unwrap();
    assert_eq!(results.len(), 3, "{answer}");
    assert!(results[1]["error"]
        .as_str()
        .unwrap()
        .contains("bad signature"));
    // The admitted claims are known under the hashes the answer gave.
    let admitted = results[2]["hash"].as_str().unwrap();
    let (status, info) = node.get(&format!("/txs/{admitted}"));
    assert_eq!(status, 200, "{info}");
    assert_eq!(info["tx"]["nonce"], 1);
    // Once a later claim is included, so is the first (nonces in order).
    node.include(&claim(2, 4));
    let (_, first) = node.get(&format!("/txs/{}", results[0]["hash"].as_str().unwrap()));
    assert_eq!(first["status"], "included", "{first}");

    // Bad bytes: a clear 400 each, naming the binary layout.
    let mut trailing = body.clone();
    trailing.push(0);
    let mut too_many = body.clone();
    too_many[..8].copy_from_slice(&u64::MAX.to_le_bytes());
    for bad in [&b"\x05"[..], &body[..body.len() - 1], &trailing, &too_many] {
        let response = post(bad, "application/octet-stream; charset=binary");
        assert_eq!(response.0, 400, "{response:?}");
        assert!(
            error_of(&response).contains("invalid binary list of transactions"),
            "{response:?}"
        );
    }
    // Each body read only as what its type says.
    let response = post(&body, "application/json");
    assert_eq!(response.0, 400, "{response:?}");
    assert!(error_of(&response).contains("invalid JSON array"));
    let json = serde_json::to_vec(&batch).unwrap();
    let response = post(&json, "application/octet-stream");
    assert_eq!(response.0, 400, "{response:?}");
    // More than a batch may hold is refused before any check.
    let many: Vec<_> = (0..4097).map(|_| batch[0].clone()).collect();
    let response = post(
        &bwchain_api::txs::encode_batch(&many),
        "application/octet-stream",
    );
    assert_eq!(response.0, 400, "{response:?}");
    assert!(error_of(&response).contains("too many transactions"));
    // The node is unharmed.
    assert_eq!(node.get("/status").0, 200);
}
