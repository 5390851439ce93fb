//! Signing, submitting and (with `--wait`) following a transaction: the one
//! path shared by `claim`, `transfer` and `device`.

use std::io::Write as _;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use bwchain_api::client::{decode, Client, ClientError};
use bwchain_api::txs::{self, Submitted, TxInfo, TxState};
use bwchain_core::primitives::signing::{self, Keypair};
use bwchain_core::primitives::{Hash, Tx, TxBody};
use serde_json::Value;

use crate::args::ClientArgs;
use crate::output;

/// How often `--wait` asks the node about the transaction.
pub const POLL_INTERVAL: Duration = Duration::from_millis(200);

/// Default `--timeout` for `--wait`: a few dozen blocks at the dev chain's
/// one-second block time.
pub const DEFAULT_WAIT_SECS: u64 = 30;

/// Options of every command that sends a transaction.
#[derive(Debug, Clone, clap::Args)]
#[command(group(clap::ArgGroup::new("waiting").multiple(true)))]
pub struct SubmitArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// Nonce of the transaction (default: the account's `next_nonce` from the
    /// node, which counts its pending transactions too).
    #[arg(long, value_name = "N")]
    pub nonce: Option<u64>,
    /// Wait until the transaction is included in a block, then print the
    /// block height and the outcome.
    #[arg(long, group = "waiting")]
    pub wait: bool,
    /// Wait until the block that includes the transaction is final (never
    /// reverted), then print it; implies --wait.
    #[arg(long = "final", group = "waiting")]
    pub finalized: bool,
    /// With --wait or --final: give up after this many seconds.
    #[arg(long, value_name = "SECS", default_value_t = DEFAULT_WAIT_SECS, requires = "waiting")]
    pub timeout: u64,
}

/// What `--wait`/`--final` waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitFor {
    Inclusion,
    Finality,
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
    let target = match (args.wait, args.finalized) {
        (_, true) => WaitFor::Finality,
        (true, false) => WaitFor::Inclusion,
        (false, false) => {
            if args.client.json {
                output::print_json(&answer)?;
            } else {
                println!("{hash}");
            }
            return Ok(());
        }
    };
    if !args.client.json {
        // Show the hash before the wait, so it is at hand if the wait fails.
        println!("{hash}");
        std::io::stdout().flush()?;
    }
    let (value, info) = wait_for(
        &client,
        &hash,
        target,
        Duration::from_secs(args.timeout),
        POLL_INTERVAL,
    )?;
    if args.client.json {
        output::print_json(&value)
    } else {
        println!("{}", inclusion_report(&info));
        if let Some(height) = info.block_height {
            println!("{}", where_next(height, &args.client.rpc.rpc));
        }
        Ok(())
    }
}

/// Where to look once a transaction is in a block.
fn where_next(height: u64, rpc: &str) -> String {
    let rpc = if rpc == crate::args::DEFAULT_RPC {
        String::new()
    } else {
        format!(" --rpc {rpc}")
    };
    format!("see the block, its transactions and rewards: bwchain block {height}{rpc}")
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
    let (answer, hash) = submit(client, &tx)
        .with_context(|| format!("submitting {} tx with nonce {nonce}", tx.body.kind()))?;
    let expected = signing::tx_hash(&genesis_hash, &tx);
    if hash != expected {
        tracing::warn!(%hash, %expected, "the node reports a different tx hash than computed locally");
    }
    Ok((answer, hash))
}

/// `POST /txs`: the node's answer as it came (for `--json`) and the hash in it.
fn submit(client: &Client, tx: &Tx) -> Result<(Value, Hash), ClientError> {
    let answer = client.post(txs::PATH, tx)?;
    let submitted: Submitted = decode(answer.clone(), txs::PATH)?;
    Ok((answer, submitted.hash))
}

/// Polls `GET /txs/{hash}` every `poll` until the transaction is included,
/// for at most `timeout`. Returns the node's last answer, raw and decoded.
#[cfg(test)]
pub fn wait_for_inclusion(
    client: &Client,
    hash: &Hash,
    timeout: Duration,
    poll: Duration,
) -> Result<(Value, TxInfo)> {
    wait_for(client, hash, WaitFor::Inclusion, timeout, poll)
}

/// Polls `GET /txs/{hash}` every `poll` until the transaction is included
/// (or its block is final), for at most `timeout`.
pub fn wait_for(
    client: &Client,
    hash: &Hash,
    target: WaitFor,
    timeout: Duration,
    poll: Duration,
) -> Result<(Value, TxInfo)> {
    let path = txs::path(hash);
    let start = Instant::now();
    loop {
        let value = client
            .get(&path)
            .with_context(|| format!("waiting for tx {hash}"))?;
        let info: TxInfo = decode(value.clone(), &path)?;
        let done = match target {
            WaitFor::Inclusion => info.status == TxState::Included,
            WaitFor::Finality => info.status == TxState::Included && info.finalized,
        };
        if done {
            return Ok((value, info));
        }
        if start.elapsed() >= timeout {
            match info.status {
                TxState::Pending => bail!(
                    "tx {hash} is still pending after {}s; it may yet be included \
                     (check with `bwchain tx {hash}`)",
                    timeout.as_secs_f32()
                ),
                TxState::Included => bail!(
                    "tx {hash} is included in block {} but not final after {}s \
                     (finality needs votes of two thirds of the authorities; \
                     check with `bwchain status`)",
                    info.block_height.unwrap_or_default(),
                    timeout.as_secs_f32()
                ),
            }
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
    if info.finalized {
        text.push_str(", final");
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
    use bwchain_core::mempool::MempoolError;
    use bwchain_core::primitives::Account;
    use bwchain_core::state::AccountRecord;
    use bwchain_node::chain::AccountView;
    use bwchain_node::rpc::fake::{serve, FakeChain, ServerGuard};

    const INCLUDED_IN: Hash = Hash([9; 32]);

    /// The real API over a fake chain where alice's account is at nonce 4
    /// (next nonce 5), a transaction is reported pending twice then included
    /// in block 9, and nonce 13 is refused as a wrong nonce.
    fn scripted_node() -> (FakeChain, String, ServerGuard) {
        let fake = FakeChain::dev();
        fake.set_account(
            Keypair::dev("alice").account(),
            AccountView {
                record: AccountRecord {
                    balance: 10,
                    nonce: 4,
                },
                device: None,
                next_nonce: 5,
            },
        );
        fake.include_after(2, 9, INCLUDED_IN);
        fake.refuse_nonce(13, || {
            MempoolError::WrongNonce {
                expected: 5,
                found: 13,
            }
            .into()
        });
        let (url, guard) = serve(fake.clone());
        (fake, url, guard)
    }

    fn transfer(_: &Hash) -> Result<TxBody> {
        Ok(TxBody::Transfer {
            to: Account([2; 32]),
            amount: 3,
        })
    }

    #[test]
    fn submits_with_the_nodes_nonce_and_waits_for_inclusion() {
        let (fake, url, _guard) = scripted_node();
        let client = Client::new(&url);
        let alice = Keypair::dev("alice");

        let (answer, hash) = sign_and_submit(&client, &alice, None, transfer).unwrap();
        let tx = fake.submitted()[0].clone();
        assert_eq!(tx.nonce, 5, "next_nonce from the node");
        assert_eq!(hash, signing::tx_hash(&fake.genesis_hash(), &tx));
        assert_eq!(answer["hash"], hash.to_hex());

        let (value, info) = wait_for_inclusion(
            &client,
            &hash,
            Duration::from_secs(10),
            Duration::from_millis(1),
        )
        .unwrap();
        assert_eq!(info.status, TxState::Included);
        assert_eq!(value["block_height"], 9);
        assert_eq!(
            inclusion_report(&info),
            format!("included in block 9 ({INCLUDED_IN})")
        );
    }

    #[test]
    fn points_at_the_block() {
        assert_eq!(
            where_next(7, crate::args::DEFAULT_RPC),
            "see the block, its transactions and rewards: bwchain block 7"
        );
        assert!(where_next(7, "http://n:1").ends_with("bwchain block 7 --rpc http://n:1"));
    }

    #[test]
    fn explicit_nonce_skips_the_account_lookup() {
        let (fake, url, _guard) = scripted_node();
        let client = Client::new(&url);
        sign_and_submit(&client, &Keypair::dev("alice"), Some(42), transfer).unwrap();
        assert_eq!(fake.submitted()[0].nonce, 42);
    }

    #[test]
    fn wait_times_out_naming_the_tx() {
        let (_fake, url, _guard) = scripted_node();
        let client = Client::new(&url);
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
        let (_fake, url, _guard) = scripted_node();
        let client = Client::new(&url);
        let err = sign_and_submit(&client, &Keypair::dev("alice"), Some(13), transfer).unwrap_err();
        let text = format!("{err:#}");
        assert!(
            text.starts_with("submitting transfer tx with nonce 13: wrong nonce: expected 5, found 13 (HTTP 400 Bad Request from POST "),
            "{text}"
        );
    }
}
