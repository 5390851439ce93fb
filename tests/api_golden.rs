//! Golden JSON shapes of every HTTP endpoint: a real node answers, each
//! answer is reduced to its *shape* (keys, value kinds, tag values) and
//! compared with a pinned file in `tests/golden/`. A field added, removed,
//! renamed or changing type fails the test; values that vary between runs
//! (hashes, heights, amounts) do not.
//!
//! `BLESS=1 cargo test -p cli --test api_golden` rewrites the pinned files
//! after a deliberate change to the API.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bwchain_core::primitives::signing::Keypair;
use bwchain_core::primitives::{Signature, Tx, TxBody};
use common::{one_receipt_claim, NodeProcess, TestChain, BLOCK_TIME_MS, WAIT};
use serde_json::{json, Map, Value};

/// Keys whose string values are tags (enum variants, statuses): their
/// literal value is part of the shape, so each variant is pinned distinctly.
const TAG_KEYS: [&str; 3] = ["type", "kind", "status"];

/// The canonical shape of a JSON value:
/// - objects keep their keys (sorted), each with the shape of its value;
/// - arrays become the sorted list of the distinct shapes of their elements
///   (`[]` when empty, `[shape]` when all elements look alike);
/// - strings become `"hex32"` (64 lowercase hex characters), `"hex64"` (128)
///   or `"string"`, except under a tag key where the literal string is kept;
/// - numbers become `"u64"`, `"i64"` (negative) or `"number"` (non-integer);
/// - booleans `"bool"`, null `"null"`.
fn shape(value: &Value) -> Value {
    shape_under(None, value)
}

fn shape_under(key: Option<&str>, value: &Value) -> Value {
    match value {
        Value::Null => json!("null"),
        Value::Bool(_) => json!("bool"),
        Value::Number(number) if number.is_u64() => json!("u64"),
        Value::Number(number) if number.is_i64() => json!("i64"),
        Value::Number(_) => json!("number"),
        Value::String(text) if key.is_some_and(|key| TAG_KEYS.contains(&key)) => json!(text),
        Value::String(text) => json!(string_kind(text)),
        Value::Array(items) => {
            // Distinct shapes, ordered by their text: independent of element
            // order and count.
            let distinct: BTreeSet<String> = items
                .iter()
                .map(|item| shape_under(None, item).to_string())
                .collect();
            Value::Array(
                distinct
                    .iter()
                    .map(|text| serde_json::from_str(text).expect("a shape is JSON"))
                    .collect(),
            )
        }
        Value::Object(object) => {
            let keys: BTreeSet<&String> = object.keys().collect();
            let mut out = Map::new();
            for key in keys {
                out.insert(key.clone(), shape_under(Some(key), &object[key]));
            }
            Value::Object(out)
        }
    }
}

fn string_kind(text: &str) -> &'static str {
    let lower_hex = text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    match text.len() {
        64 if lower_hex => "hex32",
        128 if lower_hex => "hex64",
        _ => "string",
    }
}

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the cli package is inside the workspace")
        .join("tests/golden")
}

fn blessing() -> bool {
    std::env::var("BLESS").is_ok_and(|value| value == "1")
}

/// Compares live answers with the pinned files, collecting every mismatch so
/// that one run reports them all.
struct Golden {
    dir: PathBuf,
    bless: bool,
    checked: BTreeSet<String>,
    failures: Vec<String>,
}

impl Golden {
    fn new() -> Self {
        let dir = golden_dir();
        let bless = blessing();
        if bless {
            std::fs::create_dir_all(&dir).expect("create tests/golden");
        }
        Self {
            dir,
            bless,
            checked: BTreeSet::new(),
            failures: Vec::new(),
        }
    }

    /// Pins an HTTP answer: its status code and the shape of its JSON body.
    fn answer(&mut self, name: &str, (status, body): &(u16, Value)) {
        assert!(
            !body.is_null(),
            "{name}: the answer (HTTP {status}) is not JSON"
        );
        self.check(name, json!({ "http_status": status, "shape": shape(body) }));
    }

    /// Compares `actual` with `tests/golden/{name}.json`, or writes it there
    /// when blessing.
    fn check(&mut self, name: &str, actual: Value) {
        assert!(
            self.checked.insert(name.to_string()),
            "golden case {name} checked twice"
        );
        let path = self.dir.join(format!("{name}.json"));
        let actual_text = format!("{}\n", serde_json::to_string_pretty(&actual).unwrap());
        if self.bless {
            std::fs::write(&path, actual_text).unwrap_or_else(|err| panic!("{path:?}: {err}"));
            return;
        }
        let expected = match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str::<Value>(&text)
                .unwrap_or_else(|err| panic!("{path:?} is not JSON: {err}")),
            Err(err) => {
                self.failures.push(format!(
                    "{name}: cannot read {}: {err}\nactual shape:\n{actual_text}",
                    path.display()
                ));
                return;
            }
        };
        if expected != actual {
            let mut differences = Vec::new();
            differ("", &expected, &actual, &mut differences);
            self.failures.push(format!(
                "{name}: the shape differs from {}\n{}\n--- expected (pinned) ---\n{}\n--- actual (live) ---\n{actual_text}",
                path.display(),
                differences.join("\n"),
                serde_json::to_string_pretty(&expected).unwrap(),
            ));
        }
    }

    /// Fails with every mismatch, and with any pinned file no case checked.
    fn finish(self) {
        if self.bless {
            // Remove files of cases that no longer exist.
            for name in Self::names_in(&self.dir) {
                if !self.checked.contains(&name) {
                    let _ = std::fs::remove_file(self.dir.join(format!("{name}.json")));
                }
            }
            return;
        }
        let mut failures = self.failures;
        for name in Self::names_in(&self.dir) {
            if !self.checked.contains(&name) {
                failures.push(format!(
                    "{name}: {}/{name}.json is pinned but no case checks it",
                    self.dir.display()
                ));
            }
        }
        assert!(
            failures.is_empty(),
            "{} golden JSON shape mismatch(es):\n\n{}\n\nThe HTTP API's JSON changed. If the change is deliberate, run with BLESS=1 to accept a deliberate change:\n    BLESS=1 cargo test -p cli --test api_golden",
            failures.len(),
            failures.join("\n\n")
        );
    }

    fn names_in(dir: &Path) -> BTreeSet<String> {
        std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .filter_map(|entry| {
                        let name = entry.file_name().into_string().ok()?;
                        name.strip_suffix(".json").map(str::to_string)
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Lists where two shapes differ, one line per JSON path.
fn differ(path: &str, expected: &Value, actual: &Value, out: &mut Vec<String>) {
    match (expected, actual) {
        (Value::Object(expected), Value::Object(actual)) => {
            let keys: BTreeSet<&String> = expected.keys().chain(actual.keys()).collect();
            for key in keys {
                let at = format!("{path}/{key}");
                match (expected.get(key), actual.get(key)) {
                    (Some(e), Some(a)) => differ(&at, e, a, out),
                    (Some(e), None) => out.push(format!("  {at}: removed (was {e})")),
                    (None, Some(a)) => out.push(format!("  {at}: added ({a})")),
                    (None, None) => unreachable!("a key of one of the two objects"),
                }
            }
        }
        (Value::Array(e), Value::Array(a)) if e.len() == 1 && a.len() == 1 => {
            differ(&format!("{path}[]"), &e[0], &a[0], out);
        }
        _ if expected != actual => {
            let at = if path.is_empty() { "/" } else { path };
            out.push(format!("  {at}: was {expected}, now {actual}"));
        }
        _ => {}
    }
}

fn tx_json(tx: &Tx) -> String {
    serde_json::to_string(tx).unwrap()
}

/// Submits one transaction, which must be admitted; returns the answer and
/// the transaction's hash.
fn submit(node: &NodeProcess, tx: &Tx) -> ((u16, Value), String) {
    let answer = node.post("/txs", &tx_json(tx));
    assert_eq!(answer.0, 202, "submit: {answer:?}");
    let hash = answer.1["hash"].as_str().unwrap().to_string();
    (answer, hash)
}

/// Polls `GET /txs/{hash}` until the transaction is included; returns its
/// block height.
fn wait_included(node: &NodeProcess, hash: &str) -> u64 {
    let start = Instant::now();
    loop {
        let (status, tx) = node.get(&format!("/txs/{hash}"));
        assert_eq!(status, 200, "GET /txs/{hash}: {tx}");
        if tx["status"] == "included" {
            return tx["block_height"].as_u64().unwrap();
        }
        assert!(start.elapsed() < WAIT, "tx {hash} not included: {tx}");
        std::thread::sleep(Duration::from_millis(BLOCK_TIME_MS / 5));
    }
}

/// `GET /metrics`: the content type and the sorted `# TYPE name kind` lines.
fn metrics(node: &NodeProcess) -> Value {
    let url = format!("{}/metrics", node.url);
    let response = ureq::get(&url).call().unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let text = response.into_body().read_to_string().unwrap();
    let types: BTreeSet<&str> = text
        .lines()
        .filter(|line| line.starts_with("# TYPE "))
        .collect();
    // Every sample line is `name{labels} number`, for a metric with a TYPE
    // line (a histogram's `_bucket`, `_sum` and `_count` under its own).
    for line in text.lines().filter(|line| !line.starts_with('#')) {
        let (series, value) = line.rsplit_once(' ').expect("a sample is `name value`");
        assert!(value.parse::<f64>().is_ok(), "metric {line:?}");
        let name = series.split('{').next().unwrap();
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| {
                let base = name.strip_suffix(suffix)?;
                types
                    .contains(format!("# TYPE {base} histogram").as_str())
                    .then_some(base)
            })
            .unwrap_or(name);
        assert!(
            types.iter().any(|t| t.split(' ').nth(2) == Some(family)),
            "metric {name} has no TYPE line"
        );
    }
    json!({
        "http_status": status,
        "content_type": content_type,
        "type_lines": types,
    })
}

#[test]
fn every_endpoint_answers_with_the_pinned_json_shape() {
    let chain = TestChain::new();
    let node = chain.start_node("a");
    node.wait_for_height(1);
    let g = chain.genesis_hash;
    let alice = Keypair::dev("alice");
    let bob = Keypair::dev("bob");
    let carol = Keypair::dev("carol");
    let dave = Keypair::dev("dave");
    let eve = Keypair::dev("eve");
    let frank = Keypair::dev("frank");
    let mut golden = Golden::new();

    // Each transaction is submitted alone and waited for, so every block
    // that holds one holds only that one: the shapes do not depend on timing.
    let claim = one_receipt_claim(&g, &bob, &carol, 0, 1, 1 << 20);
    let (post_answer, claim_hash) = submit(&node, &claim);
    golden.answer("post_txs", &post_answer);
    let claim_height = wait_included(&node, &claim_hash);

    let transfer = bob.sign_tx(
        &g,
        1,
        TxBody::Transfer {
            to: dave.account(),
            amount: 1_000,
        },
    );
    let (_, transfer_hash) = submit(&node, &transfer);
    wait_included(&node, &transfer_hash);

    let set_device = alice.sign_tx(
        &g,
        0,
        TxBody::SetDevice {
            device: frank.account(),
            active: true,
        },
    );
    let (_, device_hash) = submit(&node, &set_device);
    wait_included(&node, &device_hash);

    // A batch: one admitted, one refused.
    let batch_ok = bob.sign_tx(
        &g,
        2,
        TxBody::Transfer {
            to: eve.account(),
            amount: 1,
        },
    );
    let mut forged = bob.sign_tx(
        &g,
        3,
        TxBody::Transfer {
            to: eve.account(),
            amount: 1,
        },
    );
    forged.signature = Signature([9; 64]);
    let batch_answer = node.post(
        "/txs/batch",
        &serde_json::to_string(&[&batch_ok, &forged]).unwrap(),
    );
    let results = batch_answer.1["results"].as_array().unwrap();
    assert!(results[0]["hash"].is_string(), "{batch_answer:?}");
    assert!(results[1]["error"].is_string(), "{batch_answer:?}");
    golden.answer("post_txs_batch", &batch_answer);
    let last_height = wait_included(&node, results[0]["hash"].as_str().unwrap());
    // Nothing is pending now: the next block is empty.
    node.wait_for_height(last_height + 1);

    golden.answer("status", &node.get("/status"));
    golden.answer("blocks_page", &node.get("/blocks"));
    let latest = node.get("/blocks/latest");
    assert!(latest.1["txs"].as_array().unwrap().is_empty(), "{latest:?}");
    golden.answer("block_latest_empty", &latest);
    let claim_block = node.get(&format!("/blocks/{claim_height}"));
    assert_eq!(
        claim_block.1["txs"].as_array().unwrap().len(),
        1,
        "{claim_block:?}"
    );
    golden.answer("block_with_claim", &claim_block);
    let by_hash = node.get(&format!(
        "/blocks/{}",
        claim_block.1["hash"].as_str().unwrap()
    ));
    assert_eq!(by_hash, claim_block);
    golden.answer("block_by_hash", &by_hash);
    golden.answer(
        "block_tx_hashes",
        &node.get(&format!("/blocks/{claim_height}/tx-hashes")),
    );

    golden.answer(
        "tx_claim_included",
        &node.get(&format!("/txs/{claim_hash}")),
    );
    golden.answer(
        "tx_transfer_included",
        &node.get(&format!("/txs/{transfer_hash}")),
    );
    golden.answer(
        "tx_set_device_included",
        &node.get(&format!("/txs/{device_hash}")),
    );

    let frank_account = node.get(&format!("/accounts/{}", frank.account()));
    assert_eq!(frank_account.1["device"], true, "{frank_account:?}");
    golden.answer("account_device", &frank_account);
    let alice_account = node.get(&format!("/accounts/{}", alice.account()));
    assert_eq!(alice_account.1["device"], false, "{alice_account:?}");
    golden.answer("account_not_device", &alice_account);
    let devices = node.get("/devices?limit=2");
    assert_eq!(
        devices.1["devices"].as_array().map(Vec::len),
        Some(2),
        "{devices:?}"
    );
    golden.answer("devices_page", &devices);
    let bob_txs = node.get(&format!("/accounts/{}/txs", bob.account()));
    assert!(
        !bob_txs.1["txs"].as_array().unwrap().is_empty(),
        "{bob_txs:?}"
    );
    golden.answer("account_txs", &bob_txs);

    golden.answer(
        "session",
        &node.get(&format!(
            "/sessions/{}/{}/1",
            bob.account(),
            carol.account()
        )),
    );
    let evidence = node.get("/evidence");
    assert!(evidence.1.is_array(), "{evidence:?}");
    golden.answer("evidence", &evidence);

    // One authority: a final block's justification is its signature.
    let justification = node.get("/blocks/1/justification");
    assert_eq!(justification.1["height"], 1, "{justification:?}");
    golden.answer("justification_single_authority", &justification);
    golden.answer(
        "error_404_not_final",
        &node.get(&format!("/blocks/{}/justification", u64::MAX)),
    );

    // Errors: `{"error": string}` with the status of each kind of failure.
    golden.answer("error_400_bad_block_id", &node.get("/blocks/nope"));
    golden.answer("error_400_invalid_tx_json", &node.post("/txs", "{not json"));
    golden.answer(
        "error_404_unknown_tx",
        &node.get(&format!("/txs/{}", "ab".repeat(32))),
    );
    golden.answer("error_404_no_such_endpoint", &node.get("/nope"));
    golden.answer("error_405_method_not_allowed", &node.get("/txs"));
    golden.answer(
        "error_409_already_included",
        &node.post("/txs", &tx_json(&claim)),
    );
    let too_large = format!("{{\"pad\":\"{}\"}}", "x".repeat(300 * 1024));
    golden.answer("error_413_body_too_large", &node.post("/txs", &too_large));

    golden.check("metrics", metrics(&node));

    // A connected follower shows up in the authority's `peers`.
    let follower = chain.start("f", None, &[node.p2p.as_str()]);
    let start = Instant::now();
    let status_with_peer = loop {
        let status = node.get("/status");
        if !status.1["peers"].as_array().unwrap().is_empty() {
            break status;
        }
        assert!(start.elapsed() < WAIT, "the follower never connected");
        std::thread::sleep(Duration::from_millis(50));
    };
    golden.answer("status_with_peer", &status_with_peer);
    drop(follower);

    // A pending transaction: a node without a key and without peers never
    // makes a block, so what it admits stays pending.
    let lone = chain.start("lone", None, &[]);
    let pending = bob.sign_tx(
        &g,
        0,
        TxBody::Transfer {
            to: dave.account(),
            amount: 1,
        },
    );
    let (_, pending_hash) = submit(&lone, &pending);
    let pending_answer = lone.get(&format!("/txs/{pending_hash}"));
    assert_eq!(pending_answer.1["status"], "pending", "{pending_answer:?}");
    golden.answer("tx_pending", &pending_answer);

    golden.finish();
}

#[test]
fn shapes_keep_keys_kinds_and_tags() {
    let hash = "ab".repeat(32);
    let signature = "cd".repeat(64);
    let value = json!({
        "z": 1,
        "a": [{"kind": "proposer", "n": 1}, {"kind": "provider", "n": 2}, {"kind": "proposer", "n": 3}],
        "status": "included",
        "type_count": "x",
        "hash": hash,
        "signature": signature,
        "upper": hash.to_uppercase(),
        "empty": [],
        "neg": -1,
        "float": 1.5,
        "flag": true,
        "none": null,
        "status_code": 400,
    });
    assert_eq!(
        shape(&value),
        json!({
            "a": [{"kind": "proposer", "n": "u64"}, {"kind": "provider", "n": "u64"}],
            "empty": [],
            "flag": "bool",
            "float": "number",
            "hash": "hex32",
            "neg": "i64",
            "none": "null",
            "signature": "hex64",
            "status": "included",
            "status_code": "u64",
            "type_count": "string",
            "upper": "string",
            "z": "u64",
        })
    );
    // A renamed key, a changed type or a new variant changes the shape.
    let renamed = json!({"hash": hash, "height": 1});
    assert_ne!(shape(&renamed), shape(&json!({"hash": hash, "heigth": 1})));
    assert_ne!(
        shape(&renamed),
        shape(&json!({"hash": hash, "height": "1"}))
    );
    assert_ne!(
        shape(&json!({"type": "claim"})),
        shape(&json!({"type": "transfer"}))
    );
}
