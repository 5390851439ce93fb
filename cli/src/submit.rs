//! Signing, submitting and (with `--wait`) following a transaction: the one
//! path shared by `claim`, `transfer` and `device`.

use std::io::Write as _;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use bwchain_core::primitives::signing::{self, Keypair};
use bwchain_core::primitives::{Hash, TxBody};
use serde_json::Value;

use crate::api::{TxInfo, TxStatus};
use crate::args::ClientArgs;
use crate::client::{decode, Client};
use crate::output;

/// How often `--wait` asks the node about the transaction.
pub const POLL_INTERVAL: Duration = Duration::from_millis(200);

/// Default `--timeout` for `--wait`: a few dozen blocks at the dev chain's
/// one-second block time.
pub const DEFAULT_WAIT_SECS: u64 = 30;

/// Options of every command that sends a transaction.
#[derive(Debug, Clone, clap::Args)]
pub struct SubmitArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// Nonce of the transaction (default: the account's `next_nonce` from the
    /// node, which counts its pending transactions too).
    #[arg(long, value_name = "N")]
    pub nonce: Option<u64>,
    /// Wait until the transaction is included in a block, then print the
    /// block height and the outcome.
    #[arg(long)]
    pub wait: bool,
    /// With --wait: give up after this many seconds.
    #[arg(long, value_name = "SECS", default_value_t = DEFAULT_WAIT_SECS, requires = "wait")]
    pub timeout: u64,
}

/// Signs the body built by `build_body` (which gets the node's genesis hash)
/// with `key`, submits it and prints the hash; with `--wait`, follows it
/// into a block and prints the outcome.
pub fn run(
    args: &SubmitArgs,
    key: &Keypair,
    build_body: impl FnOnce(&Hash) -> Result<TxBody>,
) -> Result<()> {
    let client = args.client.client();
    let (answer, hash) = sign_and_submit(&client, key, args.nonce, build_body)?;
    if !args.wait {
        if args.client.json {
            output::print_json(&answer)?;
        } else {
            println!("{hash}");
        }
        return Ok(());
    }
    if !args.client.json {
        // Show the hash before the wait, so it is at hand if the wait fails.
        println!("{hash}");
        std::io::stdout().flush()?;
    }
    let (value, info) = wait_for_inclusion(
        &client,
        &hash,
        Duration::from_secs(args.timeout),
        POLL_INTERVAL,
    )?;
    if args.client.json {
        output::print_json(&value)
    } else {
        println!("{}", inclusion_report(&info));
        Ok(())
    }
}

/// Fetches the genesis hash (and the nonce, unless given), signs and posts
/// the transaction. Returns the node's answer and the transaction hash.
pub fn sign_and_submit(
    client: &Client,
    key: &Keypair,
    nonce: Option<u64>,
    build_body: impl FnOnce(&Hash) -> Result<TxBody>,
) -> Result<(Value, Hash)> {
    let genesis_hash = client
        .status()
        .context("asking the node for the genesis hash")?
        .genesis_hash;
    let body = build_body(&genesis_hash)?;
    let nonce = match nonce {
        Some(nonce) => nonce,
        None => {
            client
                .account(&key.account())
                .with_context(|| format!("asking the node for the nonce of {}", key.account()))?
                .next_nonce
        }
    };
    let tx = key.sign_tx(&genesis_hash, nonce, body);
    let (answer, hash) = client
        .submit_tx(&tx)
        .with_context(|| format!("submitting {} tx with nonce {nonce}", tx.body.kind()))?;
    let expected = signing::tx_hash(&genesis_hash, &tx);
    if hash != expected {
        tracing::warn!(%hash, %expected, "the node reports a different tx hash than computed locally");
    }
    Ok((answer, hash))
}

/// Polls `GET /txs/{hash}` every `poll` until the transaction is included,
/// for at most `timeout`. Returns the node's last answer, raw and decoded.
pub fn wait_for_inclusion(
    client: &Client,
    hash: &Hash,
    timeout: Duration,
    poll: Duration,
) -> Result<(Value, TxInfo)> {
    let path = format!("/txs/{hash}");
    let start = Instant::now();
    loop {
        let value = client
            .get(&path)
            .with_context(|| format!("waiting for tx {hash}"))?;
        let info: TxInfo = decode(value.clone(), &path)?;
        if info.status == TxStatus::Included {
            return Ok((value, info));
        }
        if start.elapsed() >= timeout {
            bail!(
                "tx {hash} is still pending after {}s; it may yet be included \
                 (check with `bwchain tx {hash}`)",
                timeout.as_secs_f32()
            );
        }
        std::thread::sleep(poll);
    }
}

/// "included in block H (hash)", then what the transaction did.
pub fn inclusion_report(info: &TxInfo) -> String {
    let height = info
        .block_height
        .map_or_else(|| "?".to_owned(), |h| h.to_string());
    let mut text = format!("included in block {height}");
    if let Some(block_hash) = &info.block_hash {
        text.push_str(&format!(" ({block_hash})"));
    }
    if let (Some(outcome), Some(height)) = (&info.outcome, info.block_height) {
        if let Some(details) = output::outcome(outcome, height) {
            text.push('\n');
            text.push_str(&details);
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake_node::FakeNode;
    use bwchain_core::primitives::{Account, Tx};
    use serde_json::json;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    const GENESIS: Hash = Hash([7; 32]);

    /// A node that accepts one tx, reports it pending twice, then included.
    fn scripted_node(seen: Arc<Mutex<Vec<Tx>>>) -> FakeNode {
        let polls = AtomicUsize::new(0);
        FakeNode::start(move |method, path, body| {
            let alice = Keypair::dev("alice").account();
            match (method, path) {
                ("GET", "/status") => (200, json!({
                    "chain_id": "test", "genesis_hash": GENESIS, "height": 1,
                    "head_hash": Hash::ZERO, "finalized_height": 1, "finalized_hash": Hash::ZERO,
                    "authorities": [alice], "peers": [], "mempool": 0, "syncing": false
                }).to_string()),
                ("GET", p) if p == format!("/accounts/{alice}") => (200, json!({
                    "account": alice, "balance": 10, "nonce": 4, "next_nonce": 5, "device": false
                }).to_string()),
                ("POST", "/txs") => {
                    let tx: Tx = serde_json::from_str(body).unwrap();
                    if tx.nonce == 13 {
                        let error = "wrong nonce: expected 5, found 13";
                        return (400, json!({ "error": error }).to_string());
                    }
                    if !signing::verify_tx_signature(&GENESIS, &tx) {
                        return (400, json!({"error": "bad signature"}).to_string());
                    }
                    let hash = signing::tx_hash(&GENESIS, &tx);
                    seen.lock().unwrap().push(tx);
                    (202, json!({ "hash": hash }).to_string())
                }
                ("GET", p) if p.starts_with("/txs/") => {
                    let tx = seen.lock().unwrap().last().cloned().unwrap();
                    let included = polls.fetch_add(1, Ordering::SeqCst) >= 2;
                    (200, json!({
                        "hash": &p[5..],
                        "status": if included { "included" } else { "pending" },
                        "block_height": included.then_some(9),
                        "block_hash": included.then_some(Hash([9; 32])),
                        "tx": tx,
                        "outcome": included.then(|| json!({"type": "transfer"})),
                    }).to_string())
                }
                _ => (404, json!({"error": format!("no route {method} {path}")}).to_string()),
            }
        })
    }

    fn transfer(_: &Hash) -> Result<TxBody> {
        Ok(TxBody::Transfer {
            to: Account([2; 32]),
            amount: 3,
        })
    }

    #[test]
    fn submits_with_the_nodes_nonce_and_waits_for_inclusion() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let node = scripted_node(seen.clone());
        let client = Client::new(&node.url);
        let alice = Keypair::dev("alice");

        let (answer, hash) = sign_and_submit(&client, &alice, None, transfer).unwrap();
        let tx = seen.lock().unwrap()[0].clone();
        assert_eq!(tx.nonce, 5, "next_nonce from the node");
        assert_eq!(hash, signing::tx_hash(&GENESIS, &tx));
        assert_eq!(answer["hash"], hash.to_hex());

        let (value, info) = wait_for_inclusion(
            &client,
            &hash,
            Duration::from_secs(10),
            Duration::from_millis(1),
        )
        .unwrap();
        assert_eq!(info.status, TxStatus::Included);
        assert_eq!(value["block_height"], 9);
        assert_eq!(
            inclusion_report(&info),
            format!("included in block 9 ({})", Hash([9; 32]))
        );
    }

    #[test]
    fn explicit_nonce_skips_the_account_lookup() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let node = scripted_node(seen.clone());
        let client = Client::new(&node.url);
        sign_and_submit(&client, &Keypair::dev("alice"), Some(42), transfer).unwrap();
        assert_eq!(seen.lock().unwrap()[0].nonce, 42);
    }

    #[test]
    fn wait_times_out_naming_the_tx() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let node = scripted_node(seen);
        let client = Client::new(&node.url);
        let (_, hash) = sign_and_submit(&client, &Keypair::dev("alice"), None, transfer).unwrap();
        let err = wait_for_inclusion(&client, &hash, Duration::ZERO, Duration::from_millis(1))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&format!("tx {hash} is still pending")),
            "{err}"
        );
    }

    #[test]
    fn rejected_tx_shows_the_nodes_reason() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let node = scripted_node(seen);
        let client = Client::new(&node.url);
        let err = sign_and_submit(&client, &Keypair::dev("alice"), Some(13), transfer).unwrap_err();
        let text = format!("{err:#}");
        assert!(
            text.starts_with("submitting transfer tx with nonce 13: wrong nonce: expected 5, found 13 (HTTP 400 Bad Request from POST "),
            "{text}"
        );
    }
}
