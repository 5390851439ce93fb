//! `GET /devices` and `GET /accounts/{hex}/txs`: the inventory of devices
//! and each account's transactions, paged.

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use bwchain_api::accounts::DeviceBudget;
use bwchain_api::inventory::{
    AccountTx, AccountTxsPage, AccountTxsQuery, DeviceInfo, DevicesPage, DevicesQuery, TxCursor,
    MAX_PER_PAGE,
};
use bwchain_core::primitives::{Account, TxBody, TxOutcome};
use bwchain_core::state::DeviceRecord;

use super::{parse_hex, path, ApiError, ApiResult, Backend, JsonAnswer};
use crate::chain::{ChainReader, TxStatus};
use crate::store::{AccountTxEntry, StoreError, TxRole};

pub(super) async fn devices(
    State(backend): State<Backend>,
    query: Result<Query<DevicesQuery>, QueryRejection>,
) -> ApiResult<JsonAnswer<DevicesPage>> {
    let query = page_query(query, "after=HEX&limit=N")?;
    let limit = page_limit(query.limit)?;
    let after: Option<Account> = query
        .after
        .as_deref()
        .map(|text| parse_hex("device", text))
        .transpose()?;
    Ok(JsonAnswer(devices_page(
        backend.as_ref(),
        after.as_ref(),
        limit,
    )?))
}

/// A page of devices with their budgets refilled to the head's block time.
pub(crate) fn devices_page<B: ChainReader + ?Sized>(
    backend: &B,
    after: Option<&Account>,
    limit: u64,
) -> Result<DevicesPage, StoreError> {
    let page = usize::try_from(limit).unwrap_or(usize::MAX);
    // One more than asked tells whether there is a next page.
    let mut found = backend.devices(after, page.saturating_add(1))?;
    let more = found.len() > page;
    found.truncate(page);
    let head_ms = backend.status().head.timestamp_ms;
    let mut devices = Vec::with_capacity(found.len());
    for (device, record) in found {
        devices.push(device_info(backend, device, record, head_ms)?);
    }
    let next = more
        .then(|| devices.last().map(|info| info.device))
        .flatten();
    Ok(DevicesPage { devices, next })
}

/// A device as the inventory shows it: budgets refilled up to `now_ms`.
pub(crate) fn device_info<B: ChainReader + ?Sized>(
    backend: &B,
    device: Account,
    mut record: DeviceRecord,
    now_ms: u64,
) -> Result<DeviceInfo, StoreError> {
    let genesis = &backend.spec().genesis;
    let rate = genesis.device_capacity_bytes_per_sec;
    let capacity = rate.saturating_mul(genesis.budget_window_secs);
    record.refill(rate, capacity, now_ms);
    let balance = backend.account(&device)?.record.balance;
    Ok(DeviceInfo {
        device,
        active: record.active,
        balance,
        budget: DeviceBudget::from(&record),
        capacity_bytes: capacity,
    })
}

pub(super) async fn account_txs(
    State(backend): State<Backend>,
    account: Result<Path<String>, PathRejection>,
    query: Result<Query<AccountTxsQuery>, QueryRejection>,
) -> ApiResult<JsonAnswer<AccountTxsPage>> {
    let text = path(account)?;
    let account: Account = parse_hex("account", &text)?;
    let query = page_query(query, "before=CURSOR&limit=N")?;
    let limit = page_limit(query.limit)?;
    let before: Option<TxCursor> = query
        .before
        .as_deref()
        .map(|text| text.parse().map_err(ApiError::bad_request))
        .transpose()?;
    Ok(JsonAnswer(account_txs_page(
        backend.as_ref(),
        &account,
        before,
        limit,
    )?))
}

/// A page of the transactions concerning `account`, newest first.
pub(crate) fn account_txs_page<B: ChainReader + ?Sized>(
    backend: &B,
    account: &Account,
    before: Option<TxCursor>,
    limit: u64,
) -> Result<AccountTxsPage, StoreError> {
    let page = usize::try_from(limit).unwrap_or(usize::MAX);
    let before = before.map(|cursor| (cursor.height, cursor.index, store_role(cursor.role)));
    let mut entries = backend.account_txs(account, before, page.saturating_add(1))?;
    let more = entries.len() > page;
    entries.truncate(page);
    let finalized = backend.status().finalized.height;
    let mut txs = Vec::with_capacity(entries.len());
    for entry in &entries {
        // A transaction reverted since the index was read is left out.
        if let Some(tx) = account_tx(backend, entry, finalized)? {
            txs.push(tx);
        }
    }
    let next = more
        .then(|| entries.last().map(|entry| cursor(entry).to_string()))
        .flatten();
    Ok(AccountTxsPage {
        account: *account,
        txs,
        next,
    })
}

fn account_tx<B: ChainReader + ?Sized>(
    backend: &B,
    entry: &AccountTxEntry,
    finalized: u64,
) -> Result<Option<AccountTx>, StoreError> {
    let Some(TxStatus::Included {
        location,
        tx,
        outcome,
    }) = backend.tx_status(&entry.tx_hash)?
    else {
        return Ok(None);
    };
    let role = api_role(entry.role);
    let reward = match &outcome {
        TxOutcome::Claim {
            provider_reward, ..
        } if role == bwchain_api::inventory::TxRole::Sent => *provider_reward,
        _ => 0,
    };
    let credited_bytes = outcome.credited_bytes();
    let amount = match &tx.body {
        TxBody::Transfer { amount, .. } => *amount,
        _ => 0,
    };
    Ok(Some(AccountTx {
        hash: entry.tx_hash,
        height: location.height,
        block_hash: location.block_hash,
        index: location.index,
        role,
        kind: tx.body.kind().to_owned(),
        from: tx.from,
        credited_bytes,
        reward,
        amount,
        finalized: location.height <= finalized,
    }))
}

fn cursor(entry: &AccountTxEntry) -> TxCursor {
    TxCursor {
        height: entry.height,
        index: entry.index,
        role: api_role(entry.role),
    }
}

fn api_role(role: TxRole) -> bwchain_api::inventory::TxRole {
    use bwchain_api::inventory::TxRole as Api;
    match role {
        TxRole::Sent => Api::Sent,
        TxRole::Received => Api::Received,
        TxRole::Device => Api::Device,
    }
}

fn store_role(role: bwchain_api::inventory::TxRole) -> TxRole {
    use bwchain_api::inventory::TxRole as Api;
    match role {
        Api::Sent => TxRole::Sent,
        Api::Received => TxRole::Received,
        Api::Device => TxRole::Device,
    }
}

fn page_query<T>(query: Result<Query<T>, QueryRejection>, expected: &str) -> ApiResult<T> {
    query.map(|Query(query)| query).map_err(|rejection| {
        ApiError::bad_request(format!(
            "bad query: {} (expected {expected})",
            rejection.body_text()
        ))
    })
}

fn page_limit(limit: Option<u64>) -> ApiResult<u64> {
    let limit = limit.unwrap_or(bwchain_api::inventory::DEFAULT_PER_PAGE);
    if limit == 0 || limit > MAX_PER_PAGE {
        return Err(ApiError::bad_request(format!(
            "limit must be 1..={MAX_PER_PAGE}, found {limit}"
        )));
    }
    Ok(limit)
}
