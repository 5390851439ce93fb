//! `bwchain block`: one block's header, transactions and rewards.

use std::fmt;
use std::str::FromStr;

use anyhow::Result;
use bwchain_api::blocks::{self, Block};
use bwchain_api::client::decode;
use bwchain_core::primitives::Hash;

use crate::args::ClientArgs;
use crate::output::{
    fields, format_timestamp_ms, print_json, reward_kind, short, tx_summary, Align, Table,
};

/// Which block to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockId {
    Latest,
    Height(u64),
    Hash(Hash),
}

impl FromStr for BlockId {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        if text == "latest" {
            return Ok(BlockId::Latest);
        }
        if let Ok(height) = text.parse() {
            return Ok(BlockId::Height(height));
        }
        text.parse().map(BlockId::Hash).map_err(|err| {
            format!("expected `latest`, a block height or a 64-hex block hash ({err})")
        })
    }
}

impl fmt::Display for BlockId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BlockId::Latest => f.write_str("latest"),
            BlockId::Height(height) => write!(f, "{height}"),
            BlockId::Hash(hash) => write!(f, "{hash}"),
        }
    }
}

/// Show a block: its header, transactions and rewards.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  bwchain block\n  bwchain block 12\n  bwchain block --json latest\n  \
    bwchain block 12 --proof --genesis genesis.json   # check that block 12 is final"
)]
pub struct BlockArgs {
    /// `latest`, a height, or a 64-hex block hash.
    #[arg(value_name = "latest|HEIGHT|HASH", default_value = "latest")]
    pub block: BlockId,
    /// Fetch the block's finality proof and check it here, trusting only the
    /// genesis file (not the node): q authorities' votes and the headers.
    #[arg(long)]
    pub proof: bool,
    /// With --proof: the chain's genesis file (default: the built-in dev
    /// chain's).
    #[arg(long, value_name = "FILE", requires = "proof")]
    pub genesis: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub client: ClientArgs,
}

pub fn run(args: BlockArgs) -> Result<()> {
    let path = blocks::path(args.block);
    let client = args.client.client();
    let value = client.get(&path)?;
    if args.proof {
        let block: Block = decode(value, &path)?;
        return prove(&args, &client, &block);
    }
    if args.client.json {
        return print_json(&value);
    }
    println!("{}", render(&decode(value, &path)?));
    Ok(())
}

/// `--proof`: fetches `GET /blocks/{height}/justification` and checks it as
/// a light client would.
fn prove(args: &BlockArgs, client: &bwchain_api::client::Client, block: &Block) -> Result<()> {
    let genesis = match &args.genesis {
        Some(path) => bwchain_node::files::read_genesis(path)?,
        None => bwchain_core::genesis::presets::dev(),
    };
    let spec = bwchain_core::genesis::ChainSpec::new(genesis)?;
    let height = block.header.height;
    let hash = block.header.header().hash();
    if hash != block.header.hash {
        anyhow::bail!("the node's block {height} does not hash to the hash it reports");
    }
    let path = bwchain_api::finality::path(height);
    let value = client.get(&path)?;
    let justification: bwchain_api::finality::Justification = decode(value.clone(), &path)?;
    let verdict = match &justification {
        bwchain_api::finality::Justification::Single {
            authority,
            signature,
            ..
        } => {
            if spec.genesis.authorities != [*authority] {
                anyhow::bail!("proof refused: {authority} is not the chain's only authority");
            }
            if !bwchain_core::primitives::signing::verify(authority, &hash.0, signature) {
                anyhow::bail!("proof refused: the block signature does not verify");
            }
            format!("block {height} ({hash}) is final: signed by the chain's only authority {authority}")
        }
        bwchain_api::finality::Justification::Votes { .. } => {
            let proof = justification.proof().expect("a vote proof");
            let finalized = bwchain_core::finality::check_proof(
                &spec.genesis,
                &spec.genesis_hash(),
                &hash,
                &proof,
            )
            .map_err(|err| anyhow::anyhow!("proof refused: {err}"))?;
            format!(
                "block {height} ({hash}) is final: checkpoint {} at slot {} is finalized by \
                 {} votes for slot {} (k = {}), checked against the genesis {}",
                finalized.height,
                finalized.slot,
                proof.link.signatures.len(),
                proof.link.target.slot,
                1 + proof.intermediates.len(),
                spec.genesis_hash()
            )
        }
    };
    if args.client.json {
        print_json(&value)
    } else {
        println!("{verdict}");
        Ok(())
    }
}

pub fn render(block: &Block) -> String {
    let head = &block.header;
    let header = fields(&[
        ("height", head.height.to_string()),
        ("hash", head.hash.to_hex()),
        ("slot", head.slot.to_string()),
        (
            "timestamp_ms",
            format!(
                "{} ({})",
                head.timestamp_ms,
                format_timestamp_ms(head.timestamp_ms)
            ),
        ),
        ("parent", head.parent.to_hex()),
        ("proposer", head.proposer.to_hex()),
        ("tx_root", head.tx_root.to_hex()),
        ("state_root", head.state_root.to_hex()),
        ("signature", block.signature.to_hex()),
    ]);

    let txs = if block.txs.is_empty() {
        "no transactions".to_owned()
    } else {
        let mut table = Table::new(&[
            ("HASH", Align::Left),
            ("FROM", Align::Left),
            ("TYPE", Align::Left),
            ("SUMMARY", Align::Left),
        ]);
        for tx in &block.txs {
            table.push(vec![
                tx.hash.to_hex(),
                short(&tx.from),
                tx.body.kind().to_owned(),
                tx_summary(&tx.body),
            ]);
        }
        format!("transactions ({}):\n{}", block.txs.len(), table.render())
    };

    let rewards = if block.rewards.is_empty() {
        "no rewards".to_owned()
    } else {
        let mut table = Table::new(&[
            ("ACCOUNT", Align::Left),
            ("KIND", Align::Left),
            ("AMOUNT", Align::Right),
        ]);
        for reward in &block.rewards {
            table.push(vec![
                reward.account.to_hex(),
                reward_kind(reward.kind).to_owned(),
                reward.amount.to_string(),
            ]);
        }
        format!("rewards:\n{}", table.render())
    };

    format!("{header}\n\n{txs}\n\n{rewards}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use bwchain_core::primitives::signing::Keypair;
    use serde_json::json;

    #[test]
    fn block_ids() {
        assert_eq!("latest".parse(), Ok(BlockId::Latest));
        assert_eq!("12".parse(), Ok(BlockId::Height(12)));
        let hash = Hash([0xcd; 32]);
        assert_eq!(hash.to_hex().parse(), Ok(BlockId::Hash(hash)));
        assert!("-1"
            .parse::<BlockId>()
            .unwrap_err()
            .contains("block height"));
        assert!("abc".parse::<BlockId>().is_err());
        assert_eq!(BlockId::Height(3).to_string(), "3");
        assert_eq!(BlockId::Hash(hash).to_string(), hash.to_hex());
    }

    #[test]
    fn renders_header_txs_and_rewards() {
        let alice = Keypair::dev("alice");
        let bob = Keypair::dev("bob").account();
        let genesis = Hash([1; 32]);
        let tx = alice.sign_tx(
            &genesis,
            0,
            bwchain_core::primitives::TxBody::Transfer { to: bob, amount: 5 },
        );
        let tx_hash = bwchain_core::primitives::signing::tx_hash(&genesis, &tx);
        let mut tx_json = serde_json::to_value(&tx).unwrap();
        tx_json["hash"] = json!(tx_hash);
        let block: Block = serde_json::from_value(json!({
            "height": 3, "slot": 4, "timestamp_ms": 1_767_225_604_000u64,
            "parent": Hash([2; 32]), "proposer": alice.account(),
            "tx_root": Hash([3; 32]), "state_root": Hash([4; 32]),
            "hash": Hash([5; 32]), "signature": "66".repeat(64),
            "txs": [tx_json],
            "rewards": [{"account": alice.account(), "amount": 10_000_000, "kind": "proposer"}],
            "extra_field_from_a_newer_node": true,
        }))
        .unwrap();
        let text = render(&block);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "height        3");
        assert_eq!(
            lines[3],
            "timestamp_ms  1767225604000 (2026-01-01 00:00:04.000 UTC)"
        );
        assert_eq!(lines[9], "");
        assert_eq!(lines[10], "transactions (1):");
        assert_eq!(
            lines[11],
            format!("HASH{}  FROM       TYPE      SUMMARY", " ".repeat(60))
        );
        assert_eq!(
            lines[12],
            format!(
                "{tx_hash}  {}  transfer  5 to {}",
                short(&alice.account()),
                short(&bob)
            )
        );
        assert_eq!(lines[14], "rewards:");
        assert_eq!(
            lines[16],
            format!("{}  proposer  10000000", alice.account())
        );
    }

    #[test]
    fn renders_an_empty_block() {
        let block: Block = serde_json::from_value(json!({
            "height": 0, "slot": 0, "timestamp_ms": 0,
            "parent": Hash::ZERO, "proposer": Hash::ZERO,
            "tx_root": Hash::ZERO, "state_root": Hash::ZERO,
            "hash": Hash::ZERO, "signature": "00".repeat(64),
            "txs": [], "rewards": [],
        }))
        .unwrap();
        assert!(render(&block).ends_with("\n\nno transactions\n\nno rewards"));
    }
}
