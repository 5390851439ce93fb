//! The inventory through a real node and real HTTP: `GET /devices` and
//! `GET /accounts/{hex}/txs` (paged, newest first, each with its reward),
//! CORS headers on the JSON GETs only, `bwchain devices` and
//! `bwchain account`, and an index that survives a restart and an audit.

mod common;

use bwchain_core::primitives::signing::Keypair;
use bwchain_core::primitives::TxBody;
use common::{one_receipt_claim, TestChain};
use serde_json::Value;

/// The value of one response header of `GET url` sent with `Origin`.
fn header_of(method: &str, url: &str, origin: &str, name: &str) -> Option<String> {
    let agent = common::agent(None);
    let response = match method {
        "GET" => agent.get(url).header("origin", origin).call(),
        _ => agent
            .post(url)
            .header("origin", origin)
            .header("content-type", "application/json")
            .send("{}"),
    }
    .unwrap();
    response
        .headers()
        .get(name)
        .map(|value| value.to_str().unwrap().to_string())
}

#[test]
fn devices_and_account_activity_through_http_and_cli() {
    let chain = TestChain::new();
    let node = chain.start_node("a");
    node.wait_for_height(1);
    let g = chain.genesis_hash;
    let alice = Keypair::dev("alice");
    let bob = Keypair::dev("bob");
    let carol = Keypair::dev("carol");
    let dave = Keypair::dev("dave");

    // bob serves carol 5000 bytes; alice pays dave 7.
    let claim = node.include(&one_receipt_claim(&g, &bob, &carol, 0, 1, 5000));
    let transfer = node.include(&alice.sign_tx(
        &g,
        0,
        TxBody::Transfer {
            to: dave.account(),
            amount: 7,
        },
    ));

    // The provider's list: the claim, sent, with its credit and reward.
    let (status, page) = node.get(&format!("/accounts/{}/txs", bob.account()));
    assert_eq!(status, 200, "{page}");
    let first = &page["txs"][0];
    assert_eq!(first["hash"], claim.as_str(), "{page}");
    assert_eq!(first["role"], "sent");
    assert_eq!(first["kind"], "claim");
    assert_eq!(first["credited_bytes"], 5000);
    let reward = first["reward"].as_u64().unwrap();
    assert!(reward > 0, "{page}");
    let block: Value = node.get(&format!("/blocks/{}", first["height"])).1;
    let paid: u64 = block["rewards"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["account"] == bob.account().to_hex().as_str())
        .map(|r| r["amount"].as_u64().unwrap())
        .sum();
    assert_eq!(paid, reward, "the reward is the block's to bob");

    // The consumer is not indexed per receipt (its sessions are in the
    // state). The payee's: received, with the amount.
    let carol_page = node.get(&format!("/accounts/{}/txs", carol.account())).1;
    assert!(
        carol_page["txs"]
            .as_array()
            .unwrap()
            .iter()
            .all(|tx| tx["kind"] != "claim"),
        "{carol_page}"
    );
    let dave_page = node.get(&format!("/accounts/{}/txs", dave.account())).1;
    assert_eq!(dave_page["txs"][0]["hash"], transfer.as_str());
    assert_eq!(dave_page["txs"][0]["role"], "received");
    assert_eq!(dave_page["txs"][0]["amount"], 7);

    // Newest first, and paging continues where the last page stopped.
    let alice_all = node.get(&format!("/accounts/{}/txs", alice.account())).1;
    assert_eq!(alice_all["txs"][0]["hash"], transfer.as_str());
    let stranger = Keypair::dev("stranger").account();
    let empty = node.get(&format!("/accounts/{stranger}/txs")).1;
    assert_eq!(empty["txs"].as_array().unwrap().len(), 0, "{empty}");
    assert_eq!(empty["next"], Value::Null);

    // Devices: every genesis device, budgets as of the head, paged.
    let (status, devices) = node.get("/devices?limit=100");
    assert_eq!(status, 200, "{devices}");
    let list = devices["devices"].as_array().unwrap();
    let bob_device = list
        .iter()
        .find(|d| d["device"] == bob.account().to_hex().as_str())
        .expect("bob is a device");
    assert_eq!(bob_device["active"], true);
    let capacity = bob_device["capacity_bytes"].as_u64().unwrap();
    assert!(bob_device["budget"]["upload_bytes"].as_u64().unwrap() <= capacity);
    assert!(list.len() >= 4, "{devices}");
    let one = node.get("/devices?limit=1").1;
    assert_eq!(one["devices"].as_array().unwrap().len(), 1);
    let next = one["next"].as_str().expect("more than one device");
    let second = node.get(&format!("/devices?limit=1&after={next}")).1;
    assert_eq!(
        second["devices"][0]["device"], list[1]["device"],
        "{second}"
    );
    let last = node
        .get(&format!(
            "/devices?limit=1&after={}",
            list.last().unwrap()["device"].as_str().unwrap()
        ))
        .1;
    assert_eq!(last["devices"].as_array().unwrap().len(), 0);

    // Bad queries are 400s with a JSON error.
    for bad in [
        "/devices?limit=0".to_string(),
        "/devices?limit=101".to_string(),
        "/devices?after=zz".to_string(),
        format!("/accounts/{}/txs?before=yesterday", bob.account()),
        format!("/accounts/{}/txs?limit=x", bob.account()),
        "/accounts/nothex/txs".to_string(),
    ] {
        let (status, body) = node.get(&bad);
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(body["error"].is_string(), "{bad}: {body}");
    }

    // CORS on the JSON reads, any origin by default; none on a POST.
    let status_url = format!("{}/status", node.url);
    assert_eq!(
        header_of(
            "GET",
            &status_url,
            "https://a.example",
            "access-control-allow-origin"
        )
        .as_deref(),
        Some("*")
    );
    assert_eq!(
        header_of(
            "POST",
            &format!("{}/txs", node.url),
            "https://a.example",
            "access-control-allow-origin"
        ),
        None
    );

    // The CLI.
    let devices_text = node.cli_ok(&["devices", "--limit", "100"]);
    assert!(
        devices_text.contains(&bob.account().to_hex()),
        "{devices_text}"
    );
    assert!(devices_text.contains("active"), "{devices_text}");
    let bob_text = node.cli_ok(&["account", "dev:bob"]);
    assert!(
        bob_text.contains("role") && bob_text.contains("device"),
        "{bob_text}"
    );
    assert!(
        bob_text.contains("claim") && bob_text.contains("5000"),
        "{bob_text}"
    );
    assert!(bob_text.contains(&reward.to_string()), "{bob_text}");
    let alice_text = node.cli_ok(&["account", "dev:alice"]);
    assert!(alice_text.contains("authority"), "{alice_text}");
    let json = node.cli_json(&["devices"]);
    assert!(json["devices"].is_array(), "{json}");

    // The index is stored with the blocks: it survives a restart, and the
    // audit still passes.
    node.stop();
    chain.audit_ok("a");
    let node = chain.start_node("a");
    let again = node.get(&format!("/accounts/{}/txs", bob.account())).1;
    assert_eq!(again["txs"][0]["hash"], claim.as_str(), "{again}");
}

#[test]
fn cors_origin_is_configurable() {
    let chain = TestChain::new();
    let node = chain.start_with(
        std::process::Command::new(common::BIN),
        "c",
        None,
        &[],
        &[
            "--listen",
            "off",
            "--cors-origin",
            "https://explorer.example",
        ],
    );
    let url = format!("{}/devices", node.url);
    assert_eq!(
        header_of(
            "GET",
            &url,
            "https://explorer.example",
            "access-control-allow-origin"
        )
        .as_deref(),
        Some("https://explorer.example")
    );
    // Another origin is not granted (the browser compares the two).
    assert_ne!(
        header_of(
            "GET",
            &url,
            "https://elsewhere.example",
            "access-control-allow-origin"
        )
        .as_deref(),
        Some("https://elsewhere.example")
    );
    let refused = common::run(&["node", "--dev", "--cors-origin", "not an origin"]);
    assert!(!refused.status.success());
    assert!(common::stderr(&refused).contains("origin"));
}
