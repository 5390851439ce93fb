//! `/search?q=`: a height, a block or transaction hash, an account key or
//! `dev:NAME` leads to its page; anything else to a friendly 404.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use bwchain_core::primitives::signing::Keypair;
use bwchain_core::primitives::{Account, Hash};
use serde::Deserialize;

use super::PageError;
use crate::chain::ChainReader;
use crate::rpc::Backend;

/// The longest query looked at; longer ones cannot name anything.
const MAX_QUERY_CHARS: usize = 200;
/// The longest dev name accepted after `dev:`.
const MAX_DEV_NAME_CHARS: usize = 64;

#[derive(Debug, Deserialize)]
pub(super) struct SearchQuery {
    q: Option<String>,
}

pub(super) async fn search(
    State(backend): State<Backend>,
    query: Result<Query<SearchQuery>, QueryRejection>,
) -> Result<Response, PageError> {
    let Query(query) = query.map_err(|rejection| {
        PageError::BadRequest(format!("Bad query: {}", rejection.body_text()))
    })?;
    let text = query.q.unwrap_or_default();
    let text = text.trim();
    if text.is_empty() {
        return Err(PageError::BadRequest(
            "Type a height, a block or transaction hash, an account key or dev:NAME.".into(),
        ));
    }
    if text.chars().count() > MAX_QUERY_CHARS {
        return Err(PageError::BadRequest(format!(
            "A query is at most {MAX_QUERY_CHARS} characters."
        )));
    }
    match target(backend.as_ref(), text)? {
        Some(path) => Ok(Redirect::to(&path).into_response()),
        None => Err(PageError::NotFound(format!(
            "Nothing on this chain matches {text:?}."
        ))),
    }
}

/// The page a query names, if any.
fn target<B: ChainReader + ?Sized>(backend: &B, text: &str) -> Result<Option<String>, PageError> {
    if let Some(name) = text.strip_prefix("dev:") {
        if name.is_empty() || name.chars().count() > MAX_DEV_NAME_CHARS {
            return Ok(None);
        }
        return Ok(Some(format!("/account/{}", Keypair::dev(name).account())));
    }
    if text.bytes().all(|byte| byte.is_ascii_digit()) {
        let Ok(height) = text.parse::<u64>() else {
            return Ok(None);
        };
        return Ok(backend
            .block_at(height)?
            .map(|_| format!("/block/{height}")));
    }
    let lower = text.to_ascii_lowercase();
    let Ok(hash) = lower.parse::<Hash>() else {
        return Ok(None);
    };
    if backend.block(&hash)?.is_some() {
        return Ok(Some(format!("/block/{hash}")));
    }
    if backend.tx_status(&hash)?.is_some() {
        return Ok(Some(format!("/tx/{hash}")));
    }
    let account = Account(hash.0);
    let view = backend.account(&account)?;
    let known = view.device.is_some()
        || view.record != Default::default()
        || backend.spec().genesis.authorities.contains(&account)
        || !backend.account_txs(&account, None, 1)?.is_empty();
    Ok(known.then(|| format!("/account/{account}")))
}
