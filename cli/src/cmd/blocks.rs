//! `bwchain blocks`: a range of block headers.

use anyhow::Result;
use bwchain_api::blocks::{self, BlockSummary};
use bwchain_api::client::decode;

use crate::args::ClientArgs;
use crate::output::{format_timestamp_ms, print_json, short, Align, Table};

/// Most blocks the node lists in one answer.
pub const MAX_LIMIT: u64 = blocks::MAX_PER_PAGE;

/// List block headers, oldest first.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  bwchain blocks\n  bwchain blocks --from 0 --limit 100")]
pub struct BlocksArgs {
    /// First height to list (default: end with the latest block).
    #[arg(long, value_name = "H")]
    pub from: Option<u64>,
    /// How many blocks to list (at most 100).
    #[arg(long, value_name = "N", default_value_t = 20,
          value_parser = clap::value_parser!(u64).range(1..=MAX_LIMIT))]
    pub limit: u64,
    #[command(flatten)]
    pub client: ClientArgs,
}

pub fn run(args: BlocksArgs) -> Result<()> {
    let path = blocks::page_path(args.from, args.limit);
    let value = args.client.client().get(&path)?;
    if args.client.json {
        return print_json(&value);
    }
    println!("{}", render(&decode::<Vec<BlockSummary>>(value, &path)?));
    Ok(())
}

pub fn render(blocks: &[BlockSummary]) -> String {
    if blocks.is_empty() {
        return "no blocks".to_owned();
    }
    let mut table = Table::new(&[
        ("HEIGHT", Align::Right),
        ("SLOT", Align::Right),
        ("TIME", Align::Left),
        ("TXS", Align::Right),
        ("HASH", Align::Left),
        ("PROPOSER", Align::Left),
    ]);
    for summary in blocks {
        let header = &summary.header;
        table.push(vec![
            header.height.to_string(),
            header.slot.to_string(),
            format_timestamp_ms(header.timestamp_ms),
            summary.txs.to_string(),
            short(&header.hash),
            short(&header.proposer),
        ]);
    }
    table.render()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_a_table_of_headers() {
        let hash = "ab".repeat(32);
        let proposer = "cd".repeat(32);
        let blocks: Vec<BlockSummary> = serde_json::from_value(json!([
            {"height": 9, "slot": 9, "timestamp_ms": 1_767_225_609_000u64, "parent": "00".repeat(32),
             "proposer": proposer, "tx_root": "00".repeat(32), "state_root": "00".repeat(32),
             "hash": hash, "txs": 0},
            {"height": 10, "slot": 12, "timestamp_ms": 1_767_225_612_000u64, "parent": hash,
             "proposer": proposer, "tx_root": "00".repeat(32), "state_root": "00".repeat(32),
             "hash": hash, "txs": 125},
        ]))
        .unwrap();
        assert_eq!(
            render(&blocks),
            "HEIGHT  SLOT  TIME                         TXS  HASH       PROPOSER\n\
             \x20    9     9  2026-01-01 00:00:09.000 UTC    0  abababab…  cdcdcdcd…\n\
             \x20   10    12  2026-01-01 00:00:12.000 UTC  125  abababab…  cdcdcdcd…"
        );
        assert_eq!(render(&[]), "no blocks");
    }
}
