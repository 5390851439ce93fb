//! An account (or device), and a provider–consumer session.

use std::collections::BTreeSet;
use std::time::Instant;

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use bwchain_api::inventory::{AccountTxsQuery, TxCursor, TxRole};
use bwchain_core::primitives::{Account, RewardKind, TxBody};
use bwchain_core::state::SessionId;
use maud::html;

use super::blocks::{param, parse_hex, reward_kind};
use super::format::{account_link, block_link, bytes, count, fields, full_hex, tokens, tx_link};
use super::home::{recent_blocks, WINDOW};
use super::{Page, PageError, PageResult};
use crate::chain::{ChainReader, TxStatus};
use crate::rpc::inventory::{account_txs_page, device_info};
use crate::rpc::Backend;

/// Transactions listed per page of an account.
const TXS_PER_PAGE: u64 = 20;
/// Rewards listed (the total covers the whole window).
const REWARDS_LISTED: usize = 10;

/// `/account/{hex}?before=CURSOR`.
pub(super) async fn account(
    State(backend): State<Backend>,
    account: Result<Path<String>, PathRejection>,
    query: Result<Query<AccountTxsQuery>, QueryRejection>,
) -> PageResult {
    let started = Instant::now();
    let backend = backend.as_ref();
    let text = param(account)?;
    let account: Account = parse_hex("account key", &text)?;
    let Query(query) = query.map_err(|rejection| {
        PageError::BadRequest(format!("Bad query: {}", rejection.body_text()))
    })?;
    let before: Option<TxCursor> = query
        .before
        .as_deref()
        .map(|text| text.parse().map_err(PageError::BadRequest))
        .transpose()?;
    let view = backend.account(&account)?;
    let authority = backend.spec().genesis.authorities.contains(&account);
    let page = account_txs_page(backend, &account, before, TXS_PER_PAGE)?;
    let known = authority
        || view.device.is_some()
        || view.record != Default::default()
        || !page.txs.is_empty()
        || view.next_nonce > 0;
    if !known && before.is_none() {
        return Err(PageError::NotFound(format!(
            "Account {account} has no balance, no transactions and no role on this chain."
        )));
    }
    let role = match (&view.device, authority) {
        (_, true) => html! { "authority" },
        (Some(device), false) if device.active => html! { "device" },
        (Some(_), false) => html! { "device (revoked)" },
        (None, false) => html! { "plain account" },
    };
    let head = backend.status().head;
    let device = view
        .device
        .map(|record| device_info(backend, account, record, head.timestamp_ms))
        .transpose()?;
    let summary = fields(&[
        ("account", full_hex(&account)),
        ("role", role),
        ("balance", tokens(view.record.balance)),
        (
            "nonce",
            html! { (count(view.record.nonce)) " (next " (view.next_nonce) ")" },
        ),
    ]);
    let sessions = sessions_of(backend, &account, &page.txs)?;
    let recent = recent_blocks(backend, head.height, WINDOW)?;
    let rewards: Vec<(u64, RewardKind, u64)> = recent
        .iter()
        .rev()
        .flat_map(|block| {
            block
                .rewards
                .iter()
                .filter(|reward| reward.account == account)
                .map(|reward| (block.block.header.height, reward.kind, reward.amount))
        })
        .collect();
    let rewarded = rewards
        .iter()
        .map(|(_, _, amount)| *amount)
        .fold(0, u64::saturating_add);
    let body = html! {
        (summary)
        @if let Some(device) = &device {
            h2 { "Device" }
            (fields(&[
                ("status", html! { @if device.active { "active" } @else { "revoked" } }),
                ("upload budget", html! { (bytes(device.budget.upload_bytes)) " of " (bytes(device.capacity_bytes)) }),
                ("download budget", html! { (bytes(device.budget.download_bytes)) " of " (bytes(device.capacity_bytes)) }),
                ("as of block", block_link(head.height)),
            ]))
        }
        h2 { "Recent transactions" }
        @if page.txs.is_empty() {
            p { "None." }
        } @else {
            table {
                thead { tr { th { "tx" } th { "block" } th { "role" } th { "kind" } th { "credited" } th { "reward" } th { "amount" } } }
                tbody {
                    @for tx in &page.txs {
                        tr {
                            td { (tx_link(&tx.hash)) }
                            td { (block_link(tx.height)) @if !tx.finalized { " (not final)" } }
                            td { (role_text(tx.role)) }
                            td { (tx.kind) }
                            td { (bytes(tx.credited_bytes)) }
                            td { (tokens(tx.reward)) }
                            td { (tokens(tx.amount)) }
                        }
                    }
                }
            }
            @if let Some(next) = &page.next {
                p.pager { a href={ "/account/" (account) "?before=" (next) } rel="next" { "older →" } }
            }
        }
        h2 { "Rewards in the last " (recent.len()) " blocks" }
        @if rewards.is_empty() {
            p { "None." }
        } @else {
            p { (tokens(rewarded)) " in " (rewards.len()) " block(s)." }
            table {
                thead { tr { th { "block" } th { "for" } th { "amount" } } }
                tbody {
                    @for (height, kind, amount) in rewards.iter().take(REWARDS_LISTED) {
                        tr {
                            td { (block_link(*height)) }
                            td { (reward_kind(*kind)) }
                            td { (tokens(*amount)) }
                        }
                    }
                }
            }
        }
        @if !sessions.is_empty() {
            h2 { "Sessions" }
            ul {
                @for id in &sessions {
                    li {
                        a href={ "/session/" (id.provider) "/" (id.consumer) "/" (id.session) } {
                            "session " (id.session)
                        }
                        " · provider " (account_link(&id.provider))
                        " · consumer " (account_link(&id.consumer))
                    }
                }
            }
        }
    };
    Ok(Page::new(started, "Account", body))
}

fn role_text(role: TxRole) -> &'static str {
    match role {
        TxRole::Sent => "sent",
        TxRole::Received => "received",
        TxRole::Device => "device change",
    }
}

/// The provider–consumer sessions in the listed claims that involve
/// `account`.
fn sessions_of<B: ChainReader + ?Sized>(
    backend: &B,
    account: &Account,
    txs: &[bwchain_api::inventory::AccountTx],
) -> Result<BTreeSet<SessionId>, PageError> {
    let mut sessions = BTreeSet::new();
    for listed in txs.iter().filter(|tx| tx.kind == "claim") {
        if let Some(TxStatus::Included { tx, .. }) = backend.tx_status(&listed.hash)? {
            if let TxBody::Claim { receipts } = &tx.body {
                for receipt in receipts {
                    if receipt.provider == *account || receipt.consumer == *account {
                        sessions.insert(SessionId {
                            provider: receipt.provider,
                            consumer: receipt.consumer,
                            session: receipt.session,
                        });
                    }
                }
            }
        }
    }
    Ok(sessions)
}

/// `/session/{provider}/{consumer}/{session}`.
pub(super) async fn session(
    State(backend): State<Backend>,
    parts: Result<Path<(String, String, String)>, PathRejection>,
) -> PageResult {
    let started = Instant::now();
    let (provider, consumer, session) = param(parts)?;
    let id = SessionId {
        provider: parse_hex("provider key", &provider)?,
        consumer: parse_hex("consumer key", &consumer)?,
        session: session
            .parse()
            .map_err(|_| PageError::BadRequest(format!("{session:?} is not a session number.")))?,
    };
    let counted = backend.session(&id)?;
    if counted == 0 {
        return Err(PageError::NotFound(format!(
            "Session {} between these two devices has never been claimed.",
            id.session
        )));
    }
    let body = fields(&[
        ("provider", account_link(&id.provider)),
        ("consumer", account_link(&id.consumer)),
        ("session", count(id.session)),
        ("bytes counted", bytes(counted)),
    ]);
    Ok(Page::new(started, "Session", body))
}
