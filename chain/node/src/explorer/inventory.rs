//! The devices, and the evidence of equivocation.

use std::time::Instant;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use bwchain_api::inventory::DevicesQuery;
use bwchain_core::finality::Offence;
use bwchain_core::primitives::Account;
use maud::html;

use super::blocks::parse_hex;
use super::format::{account_link, block_hash_link, bytes, count, tokens};
use super::{Page, PageError, PageResult};
use crate::rpc::inventory::devices_page;
use crate::rpc::Backend;

/// Devices listed per page.
const DEVICES_PER_PAGE: u64 = 50;

/// `/inventory?after=HEX`.
pub(super) async fn devices(
    State(backend): State<Backend>,
    query: Result<Query<DevicesQuery>, QueryRejection>,
) -> PageResult {
    let started = Instant::now();
    let backend = backend.as_ref();
    let Query(query) = query.map_err(|rejection| {
        PageError::BadRequest(format!("Bad query: {}", rejection.body_text()))
    })?;
    let after: Option<Account> = query
        .after
        .as_deref()
        .map(|text| parse_hex("device key", text))
        .transpose()?;
    let page = devices_page(backend, after.as_ref(), DEVICES_PER_PAGE)?;
    let body = html! {
        p { "Registered devices, active or revoked, with their remaining capacity budgets as of the head." }
        @if page.devices.is_empty() {
            p { "None." }
        } @else {
            table {
                thead { tr { th { "device" } th { "status" } th { "balance" } th { "upload left" } th { "download left" } th { "capacity" } } }
                tbody {
                    @for device in &page.devices {
                        tr {
                            td { (account_link(&device.device)) }
                            td { @if device.active { "active" } @else { "revoked" } }
                            td { (tokens(device.balance)) }
                            td { (bytes(device.budget.upload_bytes)) }
                            td { (bytes(device.budget.download_bytes)) }
                            td { (bytes(device.capacity_bytes)) }
                        }
                    }
                }
            }
        }
        @if let Some(next) = &page.next {
            p.pager { a href={ "/inventory?after=" (next) } rel="next" { "more →" } }
        }
    };
    Ok(Page::new(started, "Devices", body))
}

/// `/equivocations`: two signed headers for one slot, and slashable votes.
pub(super) async fn evidence(State(backend): State<Backend>) -> PageResult {
    let started = Instant::now();
    let blocks = backend.evidence()?;
    let votes = backend.vote_evidence()?;
    let body = html! {
        h2 { "Blocks: two headers for one slot" }
        @if blocks.is_empty() {
            p { "None." }
        } @else {
            table {
                thead { tr { th { "proposer" } th { "slot" } th { "first" } th { "second" } } }
                tbody {
                    @for evidence in &blocks {
                        tr {
                            td { (account_link(&evidence.proposer)) }
                            td { (count(evidence.slot)) }
                            td { (block_hash_link(&evidence.first.0.hash())) }
                            td { (block_hash_link(&evidence.second.0.hash())) }
                        }
                    }
                }
            }
        }
        h2 { "Votes: double and surround votes" }
        @if votes.is_empty() {
            p { "None." }
        } @else {
            table {
                thead { tr { th { "authority" } th { "offence" } th { "first target" } th { "second target" } } }
                tbody {
                    @for evidence in &votes {
                        tr {
                            td { (account_link(&evidence.authority)) }
                            td {
                                @match evidence.offence {
                                    Offence::DoubleVote => "double vote",
                                    Offence::SurroundVote => "surround vote",
                                }
                            }
                            td { (block_hash_link(&evidence.first.vote.target.hash)) " (slot " (evidence.first.vote.target.slot) ")" }
                            td { (block_hash_link(&evidence.second.vote.target.hash)) " (slot " (evidence.second.vote.target.slot) ")" }
                        }
                    }
                }
            }
        }
        p { "The signed items themselves: " a href="/evidence" { "JSON" } "." }
    };
    Ok(Page::new(started, "Evidence", body))
}
