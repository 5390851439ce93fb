//! `bwchain tx`: a transaction's status, contents and outcome.

use anyhow::Result;
use bwchain_api::client::decode;
use bwchain_api::txs::{self, TxInfo, TxState};
use bwchain_core::primitives::{Hash, TxBody};

use crate::args::ClientArgs;
use crate::output::{self, fields, print_json, tx_summary, Align, Table};

/// Show a transaction's status, contents and outcome.
///
/// Says whether it is pending or included (and in which block), what it
/// does, and once included what it did: for a claim, the credited and
/// forfeited bytes per receipt and the provider's reward in that block.
#[derive(Debug, clap::Args)]
pub struct TxArgs {
    /// The transaction hash (64 hex), as printed by claim, transfer or device.
    #[arg(value_name = "HASH")]
    pub hash: Hash,
    #[command(flatten)]
    pub client: ClientArgs,
}

pub fn run(args: TxArgs) -> Result<()> {
    let path = txs::path(&args.hash);
    let value = args.client.client().get(&path)?;
    if args.client.json {
        return print_json(&value);
    }
    println!("{}", render(&decode(value, &path)?));
    Ok(())
}

pub fn render(info: &TxInfo) -> String {
    let status = match info.status {
        TxState::Pending => "pending".to_owned(),
        TxState::Included => {
            let included = match (info.block_height, info.block_hash) {
                (Some(height), Some(hash)) => format!("included in block {height} ({hash})"),
                (Some(height), None) => format!("included in block {height}"),
                _ => "included".to_owned(),
            };
            if info.finalized {
                format!("{included}, final")
            } else {
                format!("{included}, not final yet")
            }
        }
    };
    let mut text = fields(&[
        ("hash", info.hash.to_hex()),
        ("status", status),
        ("from", info.tx.from.to_hex()),
        ("nonce", info.tx.nonce.to_string()),
        ("type", info.tx.body.kind().to_owned()),
        ("summary", tx_summary(&info.tx.body)),
    ]);
    if let TxBody::Claim { receipts } = &info.tx.body {
        let mut table = Table::new(&[
            ("CONSUMER", Align::Left),
            ("SESSION", Align::Right),
            ("BYTES", Align::Right),
        ]);
        for receipt in receipts {
            table.push(vec![
                receipt.consumer.to_hex(),
                receipt.session.to_string(),
                receipt.bytes.to_string(),
            ]);
        }
        text.push_str(&format!("\n\nreceipts:\n{}", table.render()));
    }
    if let (Some(outcome), Some(height)) = (&info.outcome, info.block_height) {
        if let Some(details) = output::outcome(outcome, height) {
            text.push_str(&format!("\n\noutcome:\n{details}"));
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use bwchain_core::primitives::signing::Keypair;
    use serde_json::json;

    #[test]
    fn renders_an_included_claim() {
        let genesis = Hash([1; 32]);
        let bob = Keypair::dev("bob");
        let carol = Keypair::dev("carol").account();
        let receipt = Keypair::dev("carol").sign_receipt(&genesis, bob.account(), 2, 5000);
        let tx = bob.sign_tx(
            &genesis,
            0,
            TxBody::Claim {
                receipts: vec![receipt],
            },
        );
        let info: TxInfo = serde_json::from_value(json!({
            "hash": Hash([8; 32]), "status": "included", "block_height": 4,
            "block_hash": Hash([9; 32]), "tx": tx,
            "outcome": {"type": "claim", "provider_reward": 77, "receipts": [
                {"consumer": carol, "session": 2, "credited_bytes": 4000, "forfeited_bytes": 1000}
            ]},
        }))
        .unwrap();
        let text = render(&info);
        assert!(
            text.contains(&format!("status   included in block 4 ({})", Hash([9; 32]))),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "receipts:\nCONSUMER{}  SESSION  BYTES\n{carol}        2   5000",
                " ".repeat(56)
            )),
            "{text}"
        );
        assert!(text.contains("outcome:\nCONSUMER"), "{text}");
        assert!(text.ends_with("provider reward in block 4: 77"), "{text}");
    }

    #[test]
    fn renders_a_pending_transfer() {
        let genesis = Hash([1; 32]);
        let tx = Keypair::dev("alice").sign_tx(
            &genesis,
            3,
            TxBody::Transfer {
                to: Keypair::dev("bob").account(),
                amount: 1,
            },
        );
        let info: TxInfo = serde_json::from_value(json!({
            "hash": Hash([8; 32]), "status": "pending", "block_height": null,
            "block_hash": null, "tx": tx, "outcome": null,
        }))
        .unwrap();
        let text = render(&info);
        assert!(text.contains("status   pending\n"), "{text}");
        assert!(text.contains("nonce    3\n"), "{text}");
        assert!(!text.contains("outcome"), "{text}");
    }
}
