//! `GET /accounts/{hex}` and `GET /sessions/{provider}/{consumer}/{session}`.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use bwchain_api::accounts::{AccountInfo, SessionInfo};
use bwchain_core::primitives::Account;
use bwchain_core::state::SessionId;

use super::{parse_hex, path, ApiError, ApiResult, Backend, JsonAnswer};

pub(super) async fn account(
    State(backend): State<Backend>,
    account: Result<Path<String>, PathRejection>,
) -> ApiResult<JsonAnswer<AccountInfo>> {
    let text = path(account)?;
    let account: Account = parse_hex("account", &text)?;
    let view = backend.account(&account)?;
    Ok(JsonAnswer(AccountInfo::new(
        account,
        &view.record,
        view.device.as_ref(),
        view.next_nonce,
    )))
}

pub(super) async fn session(
    State(backend): State<Backend>,
    parts: Result<Path<(String, String, String)>, PathRejection>,
) -> ApiResult<JsonAnswer<SessionInfo>> {
    let (provider, consumer, session) = path(parts)?;
    let id = SessionId {
        provider: parse_hex("provider", &provider)?,
        consumer: parse_hex("consumer", &consumer)?,
        session: session.parse().map_err(|_| {
            ApiError::bad_request(format!("bad session {session:?}: expected an integer"))
        })?,
    };
    let bytes = backend.session(&id)?;
    Ok(JsonAnswer(SessionInfo {
        provider: id.provider,
        consumer: id.consumer,
        session: id.session,
        bytes,
    }))
}
