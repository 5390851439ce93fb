//! `bwchain status`: the node's view of the chain.

use anyhow::Result;
use bwchain_api::client::decode;
use bwchain_api::status::{self, Status};

use crate::args::ClientArgs;
use crate::output::{fields, print_json};

/// Show the node's chain: height, finality, authorities, peers and mempool.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub client: ClientArgs,
}

pub fn run(args: StatusArgs) -> Result<()> {
    let value = args.client.client().get(status::PATH)?;
    if args.client.json {
        return print_json(&value);
    }
    println!("{}", render(&decode(value, status::PATH)?));
    Ok(())
}

pub fn render(status: &Status) -> String {
    let peers = if status.peers.is_empty() {
        "none".to_owned()
    } else {
        status
            .peers
            .iter()
            .map(|peer| format!("{} (head {})", peer.address, peer.head_height))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let evidence = match status.evidence {
        0 => "none".to_owned(),
        n => format!("{n} equivocation(s) of blocks or votes: see GET /evidence"),
    };
    fields(&[
        ("chain_id", status.chain_id.clone()),
        ("genesis_hash", status.genesis_hash.to_hex()),
        ("height", status.height.to_string()),
        ("head_hash", status.head_hash.to_hex()),
        (
            "head_age",
            format!(
                "{:.1}s ({} since the head's slot)",
                status.head_age_ms as f64 / 1000.0,
                slots(status.slots_since_head)
            ),
        ),
        ("finalized_height", status.finalized_height.to_string()),
        ("finalized_hash", status.finalized_hash.to_hex()),
        (
            "finalized",
            format!(
                "block {} at slot {} ({} behind the head)",
                status.finalized_height,
                status.finalized_slot,
                blocks(status.height.saturating_sub(status.finalized_height))
            ),
        ),
        (
            "justified",
            format!(
                "block {} at slot {} ({})",
                status.justified_height,
                status.justified_slot,
                status.justified_hash.to_hex()
            ),
        ),
        ("safety_fault", safety(status.safety_fault)),
        ("authorities", authority_lines(status).join("\n")),
        ("peers", peers),
        ("mempool", format!("{} pending txs", status.mempool)),
        ("syncing", yes_no(status.syncing).to_owned()),
        ("stalled", stalled(status)),
        ("evidence", evidence),
    ])
}

/// One line per authority: its key and when it last proposed, so a stalled
/// or missing authority stands out.
fn authority_lines(status: &Status) -> Vec<String> {
    let n = status.authorities.len().max(1) as u64;
    status
        .authorities
        .iter()
        .map(|authority| {
            let activity = status
                .authority_activity
                .iter()
                .find(|entry| entry.authority == *authority);
            let last = match activity.and_then(|a| a.last_height.zip(a.last_timestamp_ms)) {
                None if status.authority_activity.is_empty() => String::new(),
                None => "  no recent block  <- missing".to_owned(),
                Some((height, timestamp_ms)) => {
                    let behind_ms = status.head_timestamp_ms.saturating_sub(timestamp_ms);
                    // Each authority should propose once every n slots.
                    let stalled =
                        status.block_time_ms > 0 && behind_ms > 2 * n * status.block_time_ms;
                    format!(
                        "  last block {height} ({:.1}s before head){}",
                        behind_ms as f64 / 1000.0,
                        if stalled { "  <- stalled" } else { "" }
                    )
                }
            };
            format!("{}{last}", authority.to_hex())
        })
        .collect()
}

fn blocks(n: u64) -> String {
    if n == 1 {
        "1 block".to_owned()
    } else {
        format!("{n} blocks")
    }
}

fn slots(n: u64) -> String {
    if n == 1 {
        "1 slot".to_owned()
    } else {
        format!("{n} slots")
    }
}

fn stalled(status: &Status) -> String {
    if status.stalled {
        format!(
            "YES: no block for {} (more than {}) and no peer ahead",
            slots(status.slots_since_head),
            status.stall_after_slots
        )
    } else {
        "no".to_owned()
    }
}

fn safety(fault: bool) -> String {
    if fault {
        "YES: a certificate conflicts with the finalized block; this node stopped voting \
         (at least a third of the authorities signed conflicting votes: see GET /evidence)"
            .to_owned()
    } else {
        "no".to_owned()
    }
}

pub fn yes_no(value: bool) -> &'static str {
    if value {
        "yes"
    } else {
        "no"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(activity: serde_json::Value) -> Status {
        let a = "11".repeat(32);
        let b = "22".repeat(32);
        serde_json::from_value(serde_json::json!({
            "chain_id": "t", "genesis_hash": "00".repeat(32), "height": 50,
            "head_hash": "00".repeat(32), "finalized_height": 48,
            "finalized_hash": "00".repeat(32), "authorities": [a, b],
            "peers": [{"address": "127.0.0.1:9701", "head_height": 50}],
            "mempool": 0, "syncing": false, "head_timestamp_ms": 100_000,
            "block_time_ms": 1000, "authority_activity": activity, "evidence": 1,
            "finalized_slot": 48, "justified_slot": 50, "justified_height": 49,
            "justified_hash": "33".repeat(32), "safety_fault": false
        }))
        .unwrap()
    }

    #[test]
    fn stalled_and_missing_authorities_stand_out() {
        let a = "11".repeat(32);
        let b = "22".repeat(32);
        let text = render(&status(serde_json::json!([
            {"authority": a, "last_height": 50, "last_timestamp_ms": 100_000},
            {"authority": b, "last_height": 40, "last_timestamp_ms": 90_000},
        ])));
        assert!(
            text.contains("last block 50 (0.0s before head)\n"),
            "{text}"
        );
        assert!(
            text.contains("last block 40 (10.0s before head)  <- stalled"),
            "{text}"
        );
        assert!(text.contains("127.0.0.1:9701 (head 50)"));
        assert!(text.contains("1 equivocation(s)"));
        assert!(
            text.contains("block 48 at slot 48 (2 blocks behind the head)"),
            "{text}"
        );
        assert!(
            text.contains("justified         block 49 at slot 50"),
            "{text}"
        );
        assert!(text.contains("safety_fault      no"), "{text}");
        assert!(text.contains("stalled           no"), "{text}");

        let text = render(&status(serde_json::json!([
            {"authority": a, "last_height": 50, "last_timestamp_ms": 100_000},
            {"authority": b, "last_height": null, "last_timestamp_ms": null},
        ])));
        assert!(text.contains("no recent block  <- missing"), "{text}");
    }

    #[test]
    fn a_stalled_head_says_how_old_it_is() {
        let mut stalled = status(serde_json::json!([]));
        stalled.head_age_ms = 240_000;
        stalled.slots_since_head = 240;
        stalled.stall_after_slots = 4;
        stalled.stalled = true;
        stalled.syncing = true;
        let text = render(&stalled);
        assert!(
            text.contains("head_age          240.0s (240 slots since the head's slot)"),
            "{text}"
        );
        assert!(text.contains("syncing           yes"), "{text}");
        assert!(
            text.contains("stalled           YES: no block for 240 slots (more than 4)"),
            "{text}"
        );
    }
}
