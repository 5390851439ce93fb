//! A block, and a transaction.

use std::time::Instant;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use bwchain_core::primitives::{Hash, RewardKind, Tx, TxBody, TxOutcome};
use maud::{html, Markup};

use super::format::{
    account_link, age, block_hash_link, block_link, bytes, count, fields, full_hex, proposer_link,
    tokens, tx_link,
};
use super::home::tx_summary;
use super::{Page, PageError, PageResult};
use crate::chain::TxStatus;
use crate::clock::now_ms;
use crate::rpc::Backend;

/// The text of a path parameter, or a 400 page.
pub(super) fn param<T>(extracted: Result<Path<T>, PathRejection>) -> Result<T, PageError> {
    extracted
        .map(|Path(value)| value)
        .map_err(|rejection| PageError::BadRequest(format!("Bad path: {}", rejection.body_text())))
}

/// A 64-hex hash or key, or a 400 page naming what was expected.
pub(super) fn parse_hex<T: std::str::FromStr>(what: &str, text: &str) -> Result<T, PageError> {
    text.parse().map_err(|_| {
        PageError::BadRequest(format!(
            "{text:?} is not a {what}: expected 64 hexadecimal characters."
        ))
    })
}

/// `/block/{height|hash}`.
pub(super) async fn block(
    State(backend): State<Backend>,
    id: Result<Path<String>, PathRejection>,
) -> PageResult {
    let started = Instant::now();
    let backend = backend.as_ref();
    let id = param(id)?;
    let stored = if id.len() == 2 * Hash::LEN {
        backend.block(&parse_hex::<Hash>("block hash", &id)?)?
    } else {
        let height: u64 = id.parse().map_err(|_| {
            PageError::BadRequest(format!(
                "{id:?} is not a block: expected a height or a 64-hex block hash."
            ))
        })?;
        backend.block_at(height)?
    };
    let stored =
        stored.ok_or_else(|| PageError::NotFound(format!("No block {id} on this chain.")))?;
    let status = backend.status();
    let header = &stored.block.header;
    let hash = stored.hash();
    let on_chain = backend
        .block_at(header.height)?
        .is_some_and(|chosen| chosen.hash() == hash);
    let finalized = on_chain && header.height <= status.finalized.height;
    let finality = if !on_chain {
        html! { "not on the chosen chain (a fork)" }
    } else if finalized {
        html! {
            "final · "
            a href={ "/blocks/" (header.height) "/justification" } { "finality proof (JSON)" }
        }
    } else {
        html! { "not final yet (finalized height " (block_link(status.finalized.height)) ")" }
    };
    let parent = if header.height == 0 {
        html! { "none (genesis)" }
    } else {
        block_hash_link(&header.parent)
    };
    let summary = fields(&[
        ("height", block_link(header.height)),
        ("hash", full_hex(&hash)),
        ("time", age(now_ms(), header.timestamp_ms)),
        ("slot", count(header.slot)),
        ("proposer", proposer_link(header.height, &header.proposer)),
        ("parent", parent),
        ("finality", finality),
        ("tx root", full_hex(&header.tx_root)),
        ("state root", full_hex(&header.state_root)),
        ("minted", tokens(stored.minted)),
    ]);
    let nav = html! {
        p.pager {
            @if header.height > 0 {
                a href={ "/block/" (header.height - 1) } rel="prev" { "← block " (header.height - 1) }
            }
            @if header.height < status.head.height {
                " " a href={ "/block/" (header.height + 1) } rel="next" { "block " (header.height + 1) " →" }
            }
        }
    };
    let body = html! {
        (summary)
        h2 { "Transactions (" (stored.block.txs.len()) ")" }
        @if stored.block.txs.is_empty() {
            p { "None." }
        } @else {
            table {
                thead { tr { th { "#" } th { "tx" } th { "kind" } th { "from" } th { "what" } th { "outcome" } } }
                tbody {
                    @for (index, ((tx, hash), outcome)) in stored.block.txs.iter().zip(&stored.tx_hashes).zip(&stored.outcomes).enumerate() {
                        tr {
                            td { (index) }
                            td { (tx_link(hash)) }
                            td { (tx.body.kind()) }
                            td { (account_link(&tx.from)) }
                            td { (tx_summary(&tx.body)) }
                            td { (outcome_summary(outcome)) }
                        }
                    }
                }
            }
        }
        h2 { "Rewards" }
        @if stored.rewards.is_empty() {
            p { "None." }
        } @else {
            table {
                thead { tr { th { "account" } th { "for" } th { "amount" } } }
                tbody {
                    @for reward in &stored.rewards {
                        tr {
                            td { (account_link(&reward.account)) }
                            td { (reward_kind(reward.kind)) }
                            td { (tokens(reward.amount)) }
                        }
                    }
                }
            }
        }
        (nav)
    };
    Ok(Page::new(started, format!("Block {}", header.height), body))
}

pub(super) fn reward_kind(kind: RewardKind) -> &'static str {
    match kind {
        RewardKind::Proposer => "proposing the block",
        RewardKind::Provider => "bytes served",
    }
}

fn outcome_summary(outcome: &TxOutcome) -> Markup {
    match outcome {
        TxOutcome::Claim {
            provider_reward, ..
        } => {
            html! { (bytes(outcome.credited_bytes())) " credited, reward " (tokens(*provider_reward)) }
        }
        TxOutcome::Transfer => html! { "transferred" },
        TxOutcome::SetDevice => html! { "device updated" },
    }
}

/// `/tx/{hash}`.
pub(super) async fn tx(
    State(backend): State<Backend>,
    hash: Result<Path<String>, PathRejection>,
) -> PageResult {
    let started = Instant::now();
    let backend = backend.as_ref();
    let text = param(hash)?;
    let hash: Hash = parse_hex("transaction hash", &text)?;
    let status = backend.tx_status(&hash)?.ok_or_else(|| {
        PageError::NotFound(format!("No transaction {hash} is known to this node."))
    })?;
    let finalized_height = backend.status().finalized.height;
    let (state, tx, outcome) = match status {
        TxStatus::Pending(tx) => (html! { "pending (in the mempool)" }, tx, None),
        TxStatus::Included {
            location,
            tx,
            outcome,
        } => {
            let word = if location.height <= finalized_height {
                "final"
            } else {
                "included"
            };
            (
                html! { (word) " in block " (block_link(location.height)) " (" (block_hash_link(&location.block_hash)) "), position " (location.index) },
                tx,
                Some(outcome),
            )
        }
    };
    let summary = fields(&[
        ("hash", full_hex(&hash)),
        ("status", state),
        ("kind", html! { (tx.body.kind()) }),
        ("from", account_link(&tx.from)),
        ("nonce", count(tx.nonce)),
        ("signature", full_hex(&tx.signature)),
    ]);
    let body = html! {
        (summary)
        h2 { "Body" }
        (tx_body(&tx, outcome.as_ref()))
        p { "As signed, with its outcome: " a href={ "/txs/" (hash) } { "JSON" } "." }
    };
    Ok(Page::new(started, "Transaction", body))
}

/// The first and last characters of a signature (all of it on hover).
fn short_signature(hex: &str) -> String {
    match (hex.get(..8), hex.get(hex.len().saturating_sub(6)..)) {
        (Some(start), Some(end)) => format!("{start}…{end}"),
        _ => hex.to_owned(),
    }
}

/// The signed body, with each receipt's outcome beside it once included.
fn tx_body(tx: &Tx, outcome: Option<&TxOutcome>) -> Markup {
    match (&tx.body, outcome) {
        (TxBody::Claim { receipts }, outcome) => {
            let (outcomes, reward) = match outcome {
                Some(TxOutcome::Claim {
                    receipts,
                    provider_reward,
                }) => (Some(receipts), Some(*provider_reward)),
                _ => (None, None),
            };
            html! {
                @if let Some(reward) = reward {
                    p.reward { "Provider reward in this block: " (tokens(reward)) }
                }
                table {
                    thead { tr { th { "consumer" } th { "session" } th { "bytes signed" } th { "credited" } th { "forfeited" } th { "consumer's signature" } } }
                    tbody {
                        @for (index, receipt) in receipts.iter().enumerate() {
                            @let result = outcomes.and_then(|outcomes| outcomes.get(index));
                            tr {
                                td { (account_link(&receipt.consumer)) }
                                td {
                                    a href={ "/session/" (receipt.provider) "/" (receipt.consumer) "/" (receipt.session) } { (receipt.session) }
                                }
                                td { (bytes(receipt.bytes)) }
                                td { @if let Some(result) = result { (bytes(result.credited_bytes)) } @else { "—" } }
                                td { @if let Some(result) = result { (bytes(result.forfeited_bytes)) } @else { "—" } }
                                td { code title=(receipt.signature) { (short_signature(&receipt.signature.to_string())) } }
                            }
                        }
                    }
                }
            }
        }
        (TxBody::Transfer { to, amount }, _) => {
            fields(&[("to", account_link(to)), ("amount", tokens(*amount))])
        }
        (TxBody::SetDevice { device, active }, _) => fields(&[
            ("device", account_link(device)),
            (
                "action",
                html! { @if *active { "register" } @else { "revoke" } },
            ),
        ]),
    }
}
