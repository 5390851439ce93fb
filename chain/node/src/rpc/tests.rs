//! The router served over [`FakeChain`]: answers, statuses and the
//! mapping of refusals and failures to HTTP statuses.

use super::fake::{serve, FakeChain};
use crate::chain::SubmitError;
use bwchain_core::mempool::MempoolError;
use bwchain_core::primitives::{Hash, Tx};
use bwchain_core::testkit;
use std::io::{Read, Write};

/// A raw HTTP/1.1 exchange: (status, body).
fn request(url: &str, method: &str, path: &str, body: &str) -> (u16, String) {
    let address = url.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let status = answer[9..12].parse().unwrap();
    let body = answer.split_once("\r\n\r\n").unwrap().1.to_owned();
    (status, body)
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap()
}

#[test]
fn serves_the_genesis_and_scripted_inclusion() {
    let fake = FakeChain::new(testkit::dev_spec());
    fake.include_after(1, 4, Hash([4; 32]));
    let (url, _guard) = serve(fake.clone());

    let (status, body) = request(&url, "GET", "/status", "");
    assert_eq!(status, 200);
    let body = json(&body);
    assert_eq!(body["genesis_hash"], fake.genesis_hash().to_hex());
    assert_eq!(
        body["authority_activity"][0]["last_height"],
        serde_json::Value::Null
    );

    let alice = testkit::key("alice");
    let tx = testkit::transfer(&testkit::dev_spec(), &alice, 0, testkit::account("bob"), 5);
    let (status, body) = request(&url, "POST", "/txs", &serde_json::to_string(&tx).unwrap());
    assert_eq!(status, 202, "{body}");
    let hash = json(&body)["hash"].as_str().unwrap().to_owned();
    assert_eq!(fake.submitted(), [tx]);

    let (_, body) = request(&url, "GET", &format!("/accounts/{}", alice.account()), "");
    assert_eq!(json(&body)["next_nonce"], 1);
    let (_, body) = request(&url, "GET", &format!("/txs/{hash}"), "");
    assert_eq!(json(&body)["status"], "pending");
    let (_, body) = request(&url, "GET", &format!("/txs/{hash}"), "");
    assert_eq!(json(&body)["status"], "included");
    assert_eq!(json(&body)["block_height"], 4);
    assert_eq!(json(&body)["outcome"]["type"], "transfer");
}

#[test]
fn scripted_refusals_and_failures_map_to_statuses() {
    let fake = FakeChain::new(testkit::dev_spec());
    fake.refuse_nonce(13, || {
        MempoolError::WrongNonce {
            expected: 5,
            found: 13,
        }
        .into()
    });
    fake.refuse_nonce(14, || MempoolError::Full { limit: 1 }.into());
    fake.refuse_nonce(15, || SubmitError::AlreadyIncluded { height: 2 });
    let (url, _guard) = serve(fake.clone());
    let spec = testkit::dev_spec();
    let alice = testkit::key("alice");
    let bob = testkit::account("bob");
    let txs: Vec<Tx> = (12..=15)
        .map(|nonce| testkit::transfer(&spec, &alice, nonce, bob, 1))
        .collect();

    let (status, body) = request(
        &url,
        "POST",
        "/txs",
        &serde_json::to_string(&txs[1]).unwrap(),
    );
    assert_eq!(
        (status, json(&body)["error"].as_str()),
        (400, Some("wrong nonce: expected 5, found 13"))
    );
    let (status, _) = request(
        &url,
        "POST",
        "/txs",
        &serde_json::to_string(&txs[2]).unwrap(),
    );
    assert_eq!(status, 429);
    let (status, body) = request(
        &url,
        "POST",
        "/txs/batch",
        &serde_json::to_string(&txs).unwrap(),
    );
    assert_eq!(status, 200);
    let statuses: Vec<serde_json::Value> = json(&body)["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|result| result["status"].clone())
        .collect();
    assert_eq!(
        statuses,
        [serde_json::Value::Null, 400.into(), 429.into(), 409.into()]
    );

    let mut forged = txs[0].clone();
    forged.nonce = 99;
    let (status, body) = request(
        &url,
        "POST",
        "/txs",
        &serde_json::to_string(&forged).unwrap(),
    );
    assert_eq!(status, 400);
    assert!(
        json(&body)["error"]
            .as_str()
            .unwrap()
            .starts_with("bad signature"),
        "{body}"
    );

    fake.break_store("disk on fire");
    let (status, body) = request(&url, "GET", "/evidence", "");
    assert_eq!(
        (status, json(&body)["error"].as_str()),
        (500, Some("corrupt store: disk on fire"))
    );
    let (status, _) = request(
        &url,
        "POST",
        "/txs",
        &serde_json::to_string(&txs[0]).unwrap(),
    );
    assert_eq!(status, 500);
}

#[test]
fn objects_list_their_fields_in_alphabetical_order() {
    let (url, _guard) = serve(FakeChain::dev());
    let (status, body) = request(&url, "GET", "/blocks/0", "");
    assert_eq!(status, 200);
    assert!(body.starts_with(r#"{"hash":"#), "{body}");
    assert!(body.contains(r#","txs":[]}"#), "{body}");
    let (status, body) = request(&url, "DELETE", "/status", "");
    assert_eq!(
        (status, body.as_str()),
        (
            405,
            r#"{"error":"method DELETE is not allowed on /status"}"#
        )
    );
}

#[test]
fn the_guard_stops_the_server() {
    let (url, guard) = serve(FakeChain::dev());
    assert_eq!(request(&url, "GET", "/blocks/0", "").0, 200);
    drop(guard);
    let address = url.trim_start_matches("http://");
    assert!(std::net::TcpStream::connect(address).is_err());
}

#[test]
fn inventory_and_explorer_over_the_fake_chain() {
    let spec = testkit::dev_spec();
    let fake = FakeChain::new(spec.clone());
    let (url, _guard) = serve(fake.clone());

    let (status, body) = request(&url, "GET", "/devices?limit=100", "");
    assert_eq!(status, 200, "{body}");
    let devices = json(&body);
    assert_eq!(
        devices["devices"].as_array().map(Vec::len),
        Some(spec.genesis.devices.len())
    );
    assert_eq!(devices["next"], serde_json::Value::Null);
    let bob = testkit::account("bob");
    let (status, body) = request(&url, "GET", &format!("/accounts/{bob}/txs"), "");
    assert_eq!(status, 200, "{body}");
    assert_eq!(json(&body)["txs"], serde_json::json!([]));

    // A pending transaction has its page.
    let alice = testkit::key("alice");
    let tx = testkit::transfer(&spec, &alice, 0, bob, 5);
    let (_, body) = request(&url, "POST", "/txs", &serde_json::to_string(&tx).unwrap());
    let hash = json(&body)["hash"].as_str().unwrap().to_owned();
    let (status, page) = request(&url, "GET", &format!("/tx/{hash}"), "");
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("pending"), "{page}");
    let (status, page) = request(&url, "GET", "/", "");
    assert_eq!(status, 200);
    assert!(page.contains(&spec.genesis.chain_id), "{page}");

    // A broken store: an HTML 500 page on the explorer, JSON on the API.
    fake.break_store("disk on fire");
    let (status, page) = request(&url, "GET", "/", "");
    assert_eq!(status, 500);
    assert!(
        page.contains("Storage error") && page.contains("disk on fire"),
        "{page}"
    );
    let (status, body) = request(&url, "GET", "/devices", "");
    assert_eq!(status, 500);
    assert!(json(&body)["error"].is_string());
}
