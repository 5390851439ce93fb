//! The genesis file: strict parsing, validation, the genesis state and block;
//! [`presets`] builds the dev, testnet and bench chains.

pub mod presets;

use std::collections::BTreeMap;
use std::fmt;

use bincode::Encode;
use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::primitives::{codec, hash, signing};
use crate::primitives::{Account, Hash, Header, SealedHeader};
use crate::state::{AccountRecord, DeviceRecord, MemState, StateKey, StateValue, SupplyRecord};

/// Bytes of one encoded receipt (provider, consumer, session, bytes, signature).
pub const RECEIPT_ENCODED_BYTES: u64 = 32 + 32 + 8 + 8 + 64;
/// Largest block a genesis may allow, so every valid block can be decoded
/// (see `codec::MAX_DECODE_BYTES`) and sent to a peer in one frame.
pub const MAX_BLOCK_BYTES: u64 = 32 * 1024 * 1024;
/// Longest accepted `chain_id`.
pub const MAX_CHAIN_ID_LEN: usize = 64;

/// The chain's parameters and initial state, as read from `genesis.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Encode)]
#[serde(deny_unknown_fields)]
pub struct Genesis {
    pub chain_id: String,
    pub genesis_time_ms: u64,
    pub block_time_ms: u64,
    pub max_clock_drift_ms: u64,
    /// Ordered: the proposer of slot `s` is `authorities[s % n]`.
    pub authorities: Vec<Account>,
    pub devices: Vec<Account>,
    pub balances: Balances,
    pub block_reward: u64,
    /// Blocks between halvings of the emission; 0 means never.
    pub halving_interval: u64,
    pub proposer_share_bps: u64,
    pub reward_per_gib: u64,
    pub device_capacity_bytes_per_sec: u64,
    pub budget_window_secs: u64,
    pub max_receipts_per_claim: u64,
    pub max_block_txs: u64,
}

/// Initial balances, a JSON object `{hex: amount}` in which a repeated key is
/// an error (serde's maps would silently keep the last one).
#[derive(Debug, Clone, Default, PartialEq, Eq, Encode)]
pub struct Balances(pub BTreeMap<Account, u64>);

impl Serialize for Balances {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter())
    }
}

impl<'de> Deserialize<'de> for Balances {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct BalancesVisitor;
        impl<'de> Visitor<'de> for BalancesVisitor {
            type Value = Balances;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object mapping hex account keys to integer amounts")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Balances, A::Error> {
                let mut out = BTreeMap::new();
                while let Some((account, amount)) = map.next_entry::<Account, u64>()? {
                    if out.insert(account, amount).is_some() {
                        return Err(serde::de::Error::custom(format!(
                            "duplicate balance for account {account}"
                        )));
                    }
                }
                Ok(Balances(out))
            }
        }
        deserializer.deserialize_map(BalancesVisitor)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum GenesisError {
    #[error("genesis is not valid: {0}")]
    Json(#[from] serde_json::Error),
    #[error("genesis is not valid: {0}")]
    Invalid(String),
}

fn invalid(message: impl Into<String>) -> GenesisError {
    GenesisError::Invalid(message.into())
}

impl Genesis {
    /// Parses and validates genesis JSON text.
    pub fn from_json(text: &str) -> Result<Self, GenesisError> {
        let genesis: Genesis = serde_json::from_str(text)?;
        genesis.validate()?;
        Ok(genesis)
    }

    /// Rejects impossible values with a message naming the field.
    pub fn validate(&self) -> Result<(), GenesisError> {
        if self.chain_id.is_empty() || self.chain_id.len() > MAX_CHAIN_ID_LEN {
            return Err(invalid(format!(
                "chain_id must be 1..={MAX_CHAIN_ID_LEN} characters, found {}",
                self.chain_id.len()
            )));
        }
        if !self.chain_id.chars().all(|c| c.is_ascii_graphic()) {
            return Err(invalid("chain_id must be printable ASCII without spaces"));
        }
        if self.block_time_ms == 0 {
            return Err(invalid("block_time_ms must be greater than 0"));
        }
        if self.authorities.is_empty() {
            return Err(invalid("authorities must not be empty"));
        }
        check_keys("authorities", &self.authorities)?;
        check_keys("devices", &self.devices)?;
        for account in self.balances.0.keys() {
            check_key("balances", account)?;
        }
        self.check_emission_fits()?;
        if self.proposer_share_bps > 10_000 {
            return Err(invalid(format!(
                "proposer_share_bps must be at most 10000, found {}",
                self.proposer_share_bps
            )));
        }
        if self.device_capacity_bytes_per_sec == 0 {
            return Err(invalid(
                "device_capacity_bytes_per_sec must be greater than 0",
            ));
        }
        if self.budget_window_secs == 0 {
            return Err(invalid("budget_window_secs must be greater than 0"));
        }
        if self.budget_capacity().is_none() {
            return Err(invalid(
                "device_capacity_bytes_per_sec * budget_window_secs overflows u64",
            ));
        }
        if self.max_receipts_per_claim == 0 {
            return Err(invalid("max_receipts_per_claim must be greater than 0"));
        }
        if self.max_block_txs == 0 {
            return Err(invalid("max_block_txs must be greater than 0"));
        }
        let worst_block = u128::from(self.max_block_txs)
            * (u128::from(self.max_receipts_per_claim) * u128::from(RECEIPT_ENCODED_BYTES) + 256);
        if worst_block > u128::from(MAX_BLOCK_BYTES) {
            return Err(invalid(format!(
                "max_block_txs * max_receipts_per_claim allows blocks of {worst_block} bytes, \
                 more than the limit of {MAX_BLOCK_BYTES}"
            )));
        }
        Ok(())
    }

    /// Sum of the initial balances.
    pub fn genesis_supply(&self) -> Result<u64, GenesisError> {
        self.balances
            .0
            .values()
            .try_fold(0u64, |sum, amount| sum.checked_add(*amount))
            .ok_or_else(|| invalid("the sum of balances overflows u64"))
    }

    /// Minting must never push the supply past u64: with halving, the whole
    /// emission (less than `2 * block_reward * halving_interval`) must fit;
    /// without, a century of blocks must.
    fn check_emission_fits(&self) -> Result<(), GenesisError> {
        const CENTURY_MS: u128 = 36_525 * 24 * 3_600 * 1_000;
        let supply = u128::from(self.genesis_supply()?);
        let reward = u128::from(self.block_reward);
        let max_emission = if self.halving_interval == 0 {
            let blocks = CENTURY_MS / u128::from(self.block_time_ms.max(1));
            reward * blocks
        } else {
            2 * reward * u128::from(self.halving_interval)
        };
        if supply + max_emission > u128::from(u64::MAX) {
            return Err(invalid(format!(
                "balances ({supply}) plus everything block_reward {} can mint \
                 ({max_emission}{}) overflow the u64 supply",
                self.block_reward,
                if self.halving_interval == 0 {
                    " in a century without halving"
                } else {
                    ""
                }
            )));
        }
        Ok(())
    }

    /// Bytes a full capacity bucket holds: `rate * window`.
    pub fn budget_capacity(&self) -> Option<u64> {
        self.device_capacity_bytes_per_sec
            .checked_mul(self.budget_window_secs)
    }
}

/// Every key in genesis gains rights or funds, so each must be admissible
/// (DESIGN.md §1).
fn check_key(field: &str, account: &Account) -> Result<(), GenesisError> {
    signing::check_admissible(account).map_err(|reason| {
        invalid(format!(
            "{field}: {account} is not an admissible ed25519 public key: {reason}"
        ))
    })
}

fn check_keys(field: &str, accounts: &[Account]) -> Result<(), GenesisError> {
    let mut seen = std::collections::BTreeSet::new();
    for account in accounts {
        check_key(field, account)?;
        if !seen.insert(*account) {
            return Err(invalid(format!("{field}: duplicate key {account}")));
        }
    }
    Ok(())
}

/// A validated genesis with everything derived from it: the genesis hash,
/// the genesis block header and the initial state.
#[derive(Debug, Clone)]
pub struct ChainSpec {
    pub genesis: Genesis,
    pub genesis_header: SealedHeader,
    pub genesis_state: MemState,
    pub genesis_supply: u64,
    pub budget_capacity: u64,
}

impl ChainSpec {
    pub fn new(genesis: Genesis) -> Result<Self, GenesisError> {
        genesis.validate()?;
        let genesis_supply = genesis.genesis_supply()?;
        let budget_capacity = genesis
            .budget_capacity()
            .ok_or_else(|| invalid("budget capacity overflows"))?;
        let mut state = MemState::default();
        // The parameters live in the state as a hash, so the genesis hash
        // commits to every rule of the chain, not only to its balances.
        state.insert(
            StateKey::Config,
            StateValue::Config(hash::sha256(&codec::encode(&genesis))),
        );
        state.insert(
            StateKey::Supply,
            StateValue::Supply(SupplyRecord {
                total_supply: genesis_supply,
                minted: 0,
            }),
        );
        for (account, balance) in &genesis.balances.0 {
            let record = AccountRecord {
                balance: *balance,
                nonce: 0,
            };
            if !record.is_empty() {
                state.insert(StateKey::Account(*account), StateValue::Account(record));
            }
        }
        for device in &genesis.devices {
            state.insert(
                StateKey::Device(*device),
                StateValue::Device(DeviceRecord::registered(
                    budget_capacity,
                    genesis.genesis_time_ms,
                )),
            );
        }
        let header = Header {
            height: 0,
            slot: 0,
            timestamp_ms: genesis.genesis_time_ms,
            parent: Hash::ZERO,
            proposer: Account::ZERO,
            tx_root: hash::merkle_root(&[]),
            state_root: state.root(),
        };
        Ok(Self {
            genesis,
            genesis_header: SealedHeader::new(header),
            genesis_state: state,
            genesis_supply,
            budget_capacity,
        })
    }

    pub fn genesis_hash(&self) -> Hash {
        self.genesis_header.hash()
    }

    pub fn is_authority(&self, account: &Account) -> bool {
        self.genesis.authorities.contains(account)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::primitives::signing::Keypair;

    fn dev_json() -> serde_json::Value {
        serde_json::to_value(presets::dev_at(1_767_225_600_000)).unwrap()
    }

    fn parse(value: &serde_json::Value) -> Result<Genesis, GenesisError> {
        Genesis::from_json(&value.to_string())
    }

    #[test]
    fn dev_genesis_round_trips() {
        let genesis = parse(&dev_json()).unwrap();
        assert_eq!(genesis, presets::dev_at(1_767_225_600_000));
    }

    #[test]
    fn rejects_impossible_values() {
        let cases: Vec<(&str, serde_json::Value, &str)> = vec![
            ("block_time_ms", 0.into(), "block_time_ms"),
            (
                "authorities",
                serde_json::json!([]),
                "authorities must not be empty",
            ),
            ("proposer_share_bps", 10_001.into(), "proposer_share_bps"),
            ("max_receipts_per_claim", 0.into(), "max_receipts_per_claim"),
            ("max_block_txs", 0.into(), "max_block_txs"),
            ("chain_id", "".into(), "chain_id"),
            ("device_capacity_bytes_per_sec", 0.into(), "device_capacity"),
            ("max_block_txs", 1_000_000.into(), "more than the limit"),
            ("authorities", serde_json::json!(["zz"]), "hex"),
            ("block_reward", u64::MAX.into(), "overflow the u64 supply"),
        ];
        for (field, value, expected) in cases {
            let mut json = dev_json();
            json[field] = value;
            let err = parse(&json).unwrap_err().to_string();
            assert!(err.contains(expected), "{field}: {err}");
        }
    }

    #[test]
    fn rejects_duplicates_and_unknown_fields() {
        let mut json = dev_json();
        let alice = json["authorities"][0].clone();
        json["authorities"] = serde_json::json!([alice, alice]);
        assert!(parse(&json)
            .unwrap_err()
            .to_string()
            .contains("duplicate key"));

        let mut json = dev_json();
        json["surprise"] = 1.into();
        assert!(parse(&json)
            .unwrap_err()
            .to_string()
            .contains("unknown field"));

        let text = dev_json().to_string();
        let dup_field = text.replacen('{', "{\"block_time_ms\":5,", 1);
        assert!(Genesis::from_json(&dup_field)
            .unwrap_err()
            .to_string()
            .contains("duplicate field"));

        let bob = Keypair::dev("bob").account();
        let dup_balance =
            text.replacen("\"balances\":{", &format!("\"balances\":{{\"{bob}\":1,"), 1);
        assert!(Genesis::from_json(&dup_balance)
            .unwrap_err()
            .to_string()
            .contains("duplicate balance"));
    }

    #[test]
    fn rejects_inadmissible_keys() {
        // The identity (small order), y = 2 (no such point), and the
        // identity's "negative zero" encoding (not canonical).
        let cases = [
            (
                "0100000000000000000000000000000000000000000000000000000000000000",
                "small order",
            ),
            (
                "0200000000000000000000000000000000000000000000000000000000000000",
                "not the encoding of a curve point",
            ),
            (
                "0100000000000000000000000000000000000000000000000000000000000080",
                "not canonical",
            ),
        ];
        for (key, reason) in cases {
            let alice = dev_json()["authorities"][0].clone();
            for field in ["authorities", "devices", "balances"] {
                let mut json = dev_json();
                json[field] = match field {
                    "authorities" => serde_json::json!([alice, key]),
                    "devices" => serde_json::json!([key]),
                    _ => serde_json::json!({ key: 1 }),
                };
                let err = parse(&json).unwrap_err().to_string();
                let expected =
                    format!("{field}: {key} is not an admissible ed25519 public key: {reason}");
                assert!(err.contains(&expected), "{field}: {err}");
            }
        }
    }

    #[test]
    fn genesis_hash_commits_to_parameters() {
        let a = ChainSpec::new(presets::dev_at(1)).unwrap();
        let mut other = presets::dev_at(1);
        other.reward_per_gib += 1;
        let b = ChainSpec::new(other).unwrap();
        assert_ne!(a.genesis_hash(), b.genesis_hash());
    }
}
