//! `GET /accounts/{hex}` and `GET /sessions/{provider}/{consumer}/{session}`.

use bwchain_core::primitives::Account;
use bwchain_core::state::{AccountRecord, DeviceRecord};
use serde::{Deserialize, Serialize};

/// `/accounts/{hex}`.
pub fn path(account: &Account) -> String {
    format!("/accounts/{account}")
}

/// `/sessions/{provider}/{consumer}/{session}`.
pub fn session_path(provider: &Account, consumer: &Account, session: u64) -> String {
    format!("/sessions/{provider}/{consumer}/{session}")
}

/// `GET /accounts/{hex}`. An account the chain has never seen has balance
/// and nonce 0.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountInfo {
    pub account: Account,
    pub balance: u64,
    /// Transactions from this account already included.
    pub nonce: u64,
    /// The nonce for the next transaction: `nonce` plus the sender's pending
    /// mempool transactions.
    pub next_nonce: u64,
    /// Whether it is an active registered device.
    pub device: bool,
    /// Its capacity budgets, for a registered device (active or revoked);
    /// `null` otherwise.
    #[serde(default)]
    pub device_budget: Option<DeviceBudget>,
}

impl AccountInfo {
    pub fn new(
        account: Account,
        record: &AccountRecord,
        device: Option<&DeviceRecord>,
        next_nonce: u64,
    ) -> Self {
        Self {
            account,
            balance: record.balance,
            nonce: record.nonce,
            next_nonce,
            device: device.is_some_and(|device| device.active),
            device_budget: device.map(DeviceBudget::from),
        }
    }
}

/// A device's capacity budgets: the bytes it may still be credited for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceBudget {
    pub upload_bytes: u64,
    pub download_bytes: u64,
    /// Block time at which the budgets were last refilled.
    pub refilled_at_ms: u64,
}

impl From<&DeviceRecord> for DeviceBudget {
    fn from(device: &DeviceRecord) -> Self {
        Self {
            upload_bytes: device.upload_budget,
            download_bytes: device.download_budget,
            refilled_at_ms: device.refilled_at_ms,
        }
    }
}

/// `GET /sessions/{provider}/{consumer}/{session}`: the bytes credited so
/// far in one session (0 for a session never claimed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    pub provider: Account,
    pub consumer: Account,
    pub session: u64,
    pub bytes: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::round_trip::assert_round_trip;

    #[test]
    fn account_without_device_round_trips() {
        let info: AccountInfo = assert_round_trip(
            r#"{"account":"e634d24e6c16ad31c2e034df755912c6bd72fa1744269a165b8990d10ef9bbca","balance":1199995,"device":false,"device_budget":null,"next_nonce":2,"nonce":1}"#,
        );
        assert_eq!((info.nonce, info.next_nonce), (1, 2));
        assert_eq!(info.device_budget, None);
    }

    #[test]
    fn device_account_round_trips() {
        let info: AccountInfo = assert_round_trip(
            r#"{"account":"537a22b03a71ea74db40739b7f6bdc2699f0090ee8555396d3e5dc8cd3f86a16","balance":1000505,"device":true,"device_budget":{"download_bytes":10000,"refilled_at_ms":1001010,"upload_bytes":9500},"next_nonce":1,"nonce":1}"#,
        );
        assert!(info.device);
        let record = AccountRecord {
            balance: info.balance,
            nonce: info.nonce,
        };
        let device = DeviceRecord {
            active: true,
            upload_budget: 9500,
            download_budget: 10_000,
            refilled_at_ms: 1_001_010,
        };
        assert_eq!(
            AccountInfo::new(info.account, &record, Some(&device), info.next_nonce),
            info
        );
    }

    #[test]
    fn a_revoked_device_keeps_its_budget() {
        let device = DeviceRecord {
            active: false,
            upload_budget: 1,
            download_budget: 2,
            refilled_at_ms: 3,
        };
        let info = AccountInfo::new(Account::ZERO, &AccountRecord::default(), Some(&device), 0);
        assert!(!info.device);
        assert_eq!(
            info.device_budget.map(|budget| budget.download_bytes),
            Some(2)
        );
    }

    #[test]
    fn session_round_trips() {
        let info: SessionInfo = assert_round_trip(
            r#"{"bytes":500,"consumer":"ef803fe07c390df410e375a7fc5a9b913eabcf1d1c56155f93ddd5d2d4a17a83","provider":"537a22b03a71ea74db40739b7f6bdc2699f0090ee8555396d3e5dc8cd3f86a16","session":1}"#,
        );
        assert_eq!(
            session_path(&info.provider, &info.consumer, info.session),
            format!("/sessions/{}/{}/1", info.provider, info.consumer)
        );
        assert_eq!(info.bytes, 500);
    }
}
