//! `GET /devices` (a page of registered devices) and
//! `GET /accounts/{hex}/txs` (a page of the transactions that concern an
//! account, newest first).

use std::fmt;
use std::str::FromStr;

use bwchain_core::primitives::{Account, Hash};
use serde::{Deserialize, Serialize};

use crate::accounts::DeviceBudget;

pub const DEVICES_PATH: &str = "/devices";
/// Most entries one page of either list holds.
pub const MAX_PER_PAGE: u64 = 100;
/// Entries in a page when the request gives no `limit`.
pub const DEFAULT_PER_PAGE: u64 = 20;

/// `/devices?limit=N`, then `&after=HEX` to continue after a device.
pub fn devices_path(after: Option<&Account>, limit: u64) -> String {
    match after {
        Some(after) => format!("{DEVICES_PATH}?limit={limit}&after={after}"),
        None => format!("{DEVICES_PATH}?limit={limit}"),
    }
}

/// `/accounts/{hex}/txs?limit=N`, then `&before=CURSOR` for older ones.
pub fn account_txs_path(account: &Account, before: Option<&TxCursor>, limit: u64) -> String {
    match before {
        Some(before) => format!("/accounts/{account}/txs?limit={limit}&before={before}"),
        None => format!("/accounts/{account}/txs?limit={limit}"),
    }
}

/// The query of `GET /devices`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DevicesQuery {
    /// Start after this device (devices are listed in key order).
    pub after: Option<String>,
    pub limit: Option<u64>,
}

/// `GET /devices`: registered devices, active or revoked, in key order.
/// A device is an account of its own: its key receives its rewards.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DevicesPage {
    pub devices: Vec<DeviceInfo>,
    /// Pass as `after` for the next page; `null` on the last page.
    pub next: Option<Account>,
}

/// One registered device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceInfo {
    pub device: Account,
    pub active: bool,
    /// The device account's balance.
    pub balance: u64,
    /// Its remaining budgets as of the head's block time (refilled up to
    /// then), the bytes it may still be credited for.
    pub budget: DeviceBudget,
    /// The most either budget can hold.
    pub capacity_bytes: u64,
}

/// The query of `GET /accounts/{hex}/txs`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountTxsQuery {
    /// A [`TxCursor`]: list only entries older than it.
    pub before: Option<String>,
    pub limit: Option<u64>,
}

/// How a transaction concerns an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TxRole {
    /// The account signed it (claims are sent by their provider).
    Sent,
    /// A transfer paid it.
    Received,
    /// An authority registered or revoked it as a device.
    Device,
}

impl TxRole {
    pub fn as_str(self) -> &'static str {
        match self {
            TxRole::Sent => "sent",
            TxRole::Received => "received",
            TxRole::Device => "device",
        }
    }
}

/// A position in an account's list: `HEIGHT-INDEX-ROLE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct TxCursor {
    pub height: u64,
    pub index: u32,
    pub role: TxRole,
}

impl fmt::Display for TxCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}-{}", self.height, self.index, self.role.as_str())
    }
}

impl FromStr for TxCursor {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let bad = || format!("bad cursor {text:?}: expected HEIGHT-INDEX-ROLE");
        let mut parts = text.splitn(3, '-');
        let height = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
        let index = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
        let role = match parts.next() {
            Some("sent") => TxRole::Sent,
            Some("received") => TxRole::Received,
            Some("device") => TxRole::Device,
            _ => return Err(bad()),
        };
        Ok(Self {
            height,
            index,
            role,
        })
    }
}

/// `GET /accounts/{hex}/txs`: included transactions that concern the
/// account, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountTxsPage {
    pub account: Account,
    pub txs: Vec<AccountTx>,
    /// Pass as `before` for older entries; `null` on the last page.
    pub next: Option<String>,
}

/// One transaction as it concerns one account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountTx {
    pub hash: Hash,
    pub height: u64,
    pub block_hash: Hash,
    pub index: u32,
    pub role: TxRole,
    /// `claim`, `transfer` or `set_device`.
    pub kind: String,
    pub from: Account,
    /// For a claim: the bytes it credited (to this consumer alone, for
    /// `served`); 0 otherwise.
    pub credited_bytes: u64,
    /// For a claim sent by this account: the provider reward it earned in
    /// that block (summed over its claims there); 0 otherwise.
    pub reward: u64,
    /// For a transfer: the amount moved; 0 otherwise.
    pub amount: u64,
    /// Whether the including block is final.
    pub finalized: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::round_trip::assert_round_trip;

    #[test]
    fn cursor_round_trips_through_text() {
        let cursor = TxCursor {
            height: 12,
            index: 3,
            role: TxRole::Received,
        };
        assert_eq!(cursor.to_string(), "12-3-received");
        assert_eq!("12-3-received".parse::<TxCursor>(), Ok(cursor));
        assert!("12-x-sent".parse::<TxCursor>().is_err());
        assert!("12-3-stolen".parse::<TxCursor>().is_err());
    }

    #[test]
    fn devices_page_round_trips() {
        let page: DevicesPage = assert_round_trip(
            r#"{"devices":[{"active":true,"balance":1000505,"budget":{"download_bytes":10000,"refilled_at_ms":1001010,"upload_bytes":9500},"capacity_bytes":10000,"device":"537a22b03a71ea74db40739b7f6bdc2699f0090ee8555396d3e5dc8cd3f86a16"}],"next":null}"#,
        );
        assert_eq!(page.devices[0].budget.upload_bytes, 9500);
    }

    #[test]
    fn account_txs_page_round_trips() {
        let page: AccountTxsPage = assert_round_trip(
            r#"{"account":"537a22b03a71ea74db40739b7f6bdc2699f0090ee8555396d3e5dc8cd3f86a16","next":"1-1-sent","txs":[{"amount":0,"block_hash":"0b8e192f31dce579907c9ab3e012252e1f3438a202c44f4b1ce0b1983f25e555","credited_bytes":500,"finalized":true,"from":"537a22b03a71ea74db40739b7f6bdc2699f0090ee8555396d3e5dc8cd3f86a16","hash":"d9c24b4159d9de9c7469286d1514f2f0a7b8d67186ce7df34fd28261deea9fb5","height":1,"index":1,"kind":"claim","reward":500,"role":"sent"}]}"#,
        );
        assert_eq!(page.txs[0].role, TxRole::Sent);
        assert_eq!(
            account_txs_path(&page.account, Some(&"1-1-sent".parse().unwrap()), 5),
            format!("/accounts/{}/txs?limit=5&before=1-1-sent", page.account)
        );
    }
}
