//! The home page: the chain at a glance, refreshing by itself (a meta
//! refresh: no script needed).

use std::collections::HashMap;
use std::time::Instant;

use axum::extract::State;
use bwchain_core::consensus::slot_at;
use bwchain_core::primitives::{Account, TxBody};
use maud::{html, Markup};

use super::charts::{bar_chart, Bar};
use super::format::{
    account_link, age, block_link, bytes, count, fields, human_bytes, human_count, proposer_link,
    tokens, tx_link,
};
use super::{Page, PageResult};
use crate::chain::ChainReader;
use crate::clock::now_ms;
use crate::rpc::Backend;
use crate::store::{credited_bytes, StoredBlock};

/// Blocks the charts and the authorities' missed slots look back over.
pub(super) const WINDOW: u64 = 60;
/// Latest blocks listed.
const LATEST_BLOCKS: usize = 10;
/// Latest transactions listed (from the window's blocks).
const LATEST_TXS: usize = 10;
/// Most devices counted for the total; more shows as "at least".
const MAX_COUNTED_DEVICES: usize = 100_000;
/// The page reloads itself this often (seconds).
const REFRESH_SECS: u32 = 5;

pub(super) async fn home(State(backend): State<Backend>) -> PageResult {
    let started = Instant::now();
    let backend = backend.as_ref();
    let status = backend.status();
    let spec = backend.spec();
    let now = now_ms();
    let head = &status.head;
    let recent = recent_blocks(backend, head.height, WINDOW)?;
    let supply = backend.supply()?;
    let devices = backend.devices(None, MAX_COUNTED_DEVICES)?.len();
    let devices_text = if devices >= MAX_COUNTED_DEVICES {
        format!("at least {devices}")
    } else {
        devices.to_string()
    };
    let summary = fields(&[
        ("chain", html! { (spec.genesis.chain_id) }),
        (
            "head",
            html! { (block_link(head.height)) " · " (age(now, head.timestamp_ms)) },
        ),
        ("finalized", block_link(status.finalized.height)),
        ("justified", block_link(status.justified.height)),
        (
            "finality lag",
            html! { (count(head.height.saturating_sub(status.finalized.height))) " blocks" },
        ),
        ("peers", count(status.peers.len() as u64)),
        (
            "mempool",
            html! { (count(status.mempool as u64)) " pending transactions" },
        ),
        ("devices", html! { a href="/inventory" { (devices_text) } }),
        ("bytes credited", bytes(backend.credited_total()?)),
        ("tokens minted", tokens(supply.minted)),
        ("total supply", tokens(supply.total_supply)),
    ]);
    let body = html! {
        @if status.safety_fault {
            p.notice { "Safety fault: a certificate conflicts with the finalized block; this node stopped voting." }
        }
        @if status.syncing {
            p.notice { "This node is catching up with its peers." }
        }
        (summary)
        h2 { "Authorities" }
        (authorities(backend, &recent, now))
        h2 { "Latest blocks" }
        (latest_blocks(&recent, now))
        h2 { "Latest transactions" }
        (latest_txs(&recent))
        h2 { "Last " (recent.len()) " blocks" }
        (charts(&recent))
    };
    let mut page = Page::new(started, "bwchain explorer", body);
    page.refresh = Some(REFRESH_SECS);
    Ok(page)
}

/// The last `window` blocks of the chosen chain up to `head`, oldest first.
pub(super) fn recent_blocks<B: ChainReader + ?Sized>(
    backend: &B,
    head: u64,
    window: u64,
) -> Result<Vec<StoredBlock>, crate::store::StoreError> {
    let first = head.saturating_sub(window.saturating_sub(1));
    let mut blocks = Vec::new();
    for height in first..=head {
        if let Some(block) = backend.block_at(height)? {
            blocks.push(block);
        }
    }
    Ok(blocks)
}

fn authorities<B: ChainReader + ?Sized>(backend: &B, recent: &[StoredBlock], now: u64) -> Markup {
    let genesis = &backend.spec().genesis;
    let authorities = &genesis.authorities;
    let mut last: HashMap<Account, &StoredBlock> = HashMap::new();
    for block in recent {
        last.insert(block.block.header.proposer, block);
    }
    let mut missed: HashMap<Account, u64> = HashMap::new();
    // The slots skipped between consecutive blocks of the window. The gap
    // after genesis is not counted: a chain may start long after its
    // genesis time.
    for pair in recent.windows(2) {
        let (before, after) = (&pair[0].block.header, &pair[1].block.header);
        if before.height == 0 {
            continue;
        }
        let (low, high) = (before.slot.saturating_add(1), after.slot);
        for (index, authority) in authorities.iter().enumerate() {
            let turns = turns_in(low, high, index as u64, authorities.len() as u64);
            *missed.entry(*authority).or_default() += turns;
        }
    }
    // Stalled: it let two of its turns pass since its last block (or has
    // none in the window).
    let now_slot = slot_at(genesis, now).unwrap_or(0);
    let turns = u64::try_from(authorities.len()).unwrap_or(1).max(1);
    html! {
        table {
            thead { tr { th { "authority" } th { "last block" } th { "missed slots (" (recent.len()) " blocks)" } th { "state" } } }
            tbody {
                @for authority in authorities {
                    @let last_block = last.get(authority);
                    @let stalled = match last_block {
                        Some(block) => now_slot.saturating_sub(block.block.header.slot) > 2 * turns,
                        None => true,
                    };
                    tr {
                        td { (account_link(authority)) }
                        td {
                            @match last_block {
                                Some(block) => { (block_link(block.block.header.height)) " · " (age(now, block.block.header.timestamp_ms)) }
                                None => { "none in the last " (recent.len()) " blocks" }
                            }
                        }
                        td { (count(missed.get(authority).copied().unwrap_or(0))) }
                        td {
                            @if stalled { span.stalled { "stalled" } } @else { "producing" }
                        }
                    }
                }
            }
        }
    }
}

/// How many slots in `low..high` are the turn of authority `index` of
/// `count` (slot `s` is `authorities[s % count]`), without walking them: a
/// gap may be millions of slots long.
fn turns_in(low: u64, high: u64, index: u64, count: u64) -> u64 {
    if count == 0 || high <= low {
        return 0;
    }
    let before = |end: u64| end / count + u64::from(end % count > index);
    before(high) - before(low)
}

fn latest_blocks(recent: &[StoredBlock], now: u64) -> Markup {
    html! {
        table {
            thead { tr { th { "height" } th { "age" } th { "proposer" } th { "txs" } th { "minted" } } }
            tbody {
                @for block in recent.iter().rev().take(LATEST_BLOCKS) {
                    @let header = &block.block.header;
                    tr {
                        td { (block_link(header.height)) }
                        td { (age(now, header.timestamp_ms)) }
                        td { (proposer_link(header.height, &header.proposer)) }
                        td { (block.block.txs.len()) }
                        td { (tokens(block.minted)) }
                    }
                }
            }
        }
    }
}

fn latest_txs(recent: &[StoredBlock]) -> Markup {
    let txs: Vec<_> = recent
        .iter()
        .rev()
        .flat_map(|block| {
            block
                .block
                .txs
                .iter()
                .zip(&block.tx_hashes)
                .rev()
                .map(move |(tx, hash)| (block.block.header.height, tx, hash))
        })
        .take(LATEST_TXS)
        .collect();
    html! {
        @if txs.is_empty() {
            p { "No transactions in the last " (recent.len()) " blocks." }
        } @else {
            table {
                thead { tr { th { "tx" } th { "block" } th { "kind" } th { "from" } th { "what" } } }
                tbody {
                    @for (height, tx, hash) in txs {
                        tr {
                            td { (tx_link(hash)) }
                            td { (block_link(height)) }
                            td { (tx.body.kind()) }
                            td { (account_link(&tx.from)) }
                            td { (tx_summary(&tx.body)) }
                        }
                    }
                }
            }
        }
    }
}

/// One line on what a transaction asks for.
pub(super) fn tx_summary(body: &TxBody) -> Markup {
    match body {
        TxBody::Claim { receipts } => html! {
            (receipts.len()) " receipt(s)"
        },
        TxBody::Transfer { to, amount } => html! {
            (tokens(*amount)) " to " (account_link(to))
        },
        TxBody::SetDevice { device, active } => html! {
            @if *active { "register " } @else { "revoke " } (account_link(device))
        },
    }
}

fn charts(recent: &[StoredBlock]) -> Markup {
    let credited: Vec<Bar> = recent
        .iter()
        .map(|block| Bar {
            height: block.block.header.height,
            value: credited_bytes(&block.outcomes),
        })
        .collect();
    let minted: Vec<Bar> = recent
        .iter()
        .map(|block| Bar {
            height: block.block.header.height,
            value: block.minted,
        })
        .collect();
    // From genesis to the first block is not an interval of production.
    let intervals: Vec<Bar> = recent
        .windows(2)
        .filter(|pair| pair[0].block.header.height > 0)
        .map(|pair| Bar {
            height: pair[1].block.header.height,
            value: pair[1]
                .block
                .header
                .timestamp_ms
                .saturating_sub(pair[0].block.header.timestamp_ms),
        })
        .collect();
    html! {
        (bar_chart("Bytes credited per block", &credited, human_bytes, "bytes"))
        (bar_chart("Tokens minted per block", &minted, human_count, "tokens"))
        (bar_chart("Block interval", &intervals, |ms| format!("{ms} ms"), "ms"))
    }
}

#[cfg(test)]
mod tests {
    use super::turns_in;

    #[test]
    fn turns_in_a_gap() {
        // Slots 5..12 with three authorities: 6 and 9 are index 0's turns.
        assert_eq!(turns_in(5, 12, 0, 3), 2);
        assert_eq!(turns_in(5, 12, 1, 3), 2);
        assert_eq!(turns_in(5, 12, 2, 3), 3);
        assert_eq!(turns_in(5, 5, 0, 3), 0);
        assert_eq!(turns_in(0, u64::MAX, 0, 1), u64::MAX);
        let walked = (100..1000).filter(|slot| slot % 7 == 4).count() as u64;
        assert_eq!(turns_in(100, 1000, 4, 7), walked);
    }
}
