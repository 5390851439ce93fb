//! The chains this repository knows how to make: the dev chain (one
//! definition, the repository's `genesis.json`), a local testnet of several
//! authorities, and the bench chain.

use crate::primitives::signing::Keypair;
use crate::primitives::Account;

use super::{Balances, Genesis, GenesisError, MAX_BLOCK_BYTES, RECEIPT_ENCODED_BYTES};

/// The repository's `genesis.json`: the dev chain, built into every binary
/// so that `bwchain node --dev` runs anywhere.
pub const DEV_GENESIS_JSON: &str = include_str!("../../../../genesis.json");
/// The dev chain's only authority (its dev key, `dev:alice`).
pub const DEV_AUTHORITY: &str = "alice";
/// The dev chain's registered devices, by dev key name; each holds
/// 1,000,000 at genesis (alice 1,000,000,000).
pub const DEV_DEVICES: [&str; 4] = ["bob", "carol", "dave", "eve"];

/// What each testnet authority holds at genesis.
pub const TESTNET_AUTHORITY_BALANCE: u64 = 1_000_000_000;
/// What each testnet device holds at genesis, enough for many transfers.
pub const TESTNET_DEVICE_BALANCE: u64 = 1_000_000;
/// What the bench chain's authority holds at genesis.
pub const BENCH_AUTHORITY_BALANCE: u64 = 1_000_000_000;

/// The dev chain, as in the repository's `genesis.json`.
pub fn dev() -> Genesis {
    Genesis::from_json(DEV_GENESIS_JSON).expect("the built-in dev genesis is valid")
}

/// The dev chain's rules starting at `genesis_time_ms`.
pub fn dev_at(genesis_time_ms: u64) -> Genesis {
    Genesis {
        genesis_time_ms,
        ..dev()
    }
}

/// A local testnet: the dev chain's rules with these authorities (each with
/// [`TESTNET_AUTHORITY_BALANCE`]) and devices (each with
/// [`TESTNET_DEVICE_BALANCE`]).
pub fn testnet(
    authorities: &[Account],
    devices: &[Account],
    block_time_ms: u64,
    genesis_time_ms: u64,
) -> Genesis {
    Genesis {
        chain_id: format!("bwchain-testnet-{}", authorities.len()),
        block_time_ms,
        authorities: authorities.to_vec(),
        devices: devices.to_vec(),
        balances: Balances(
            authorities
                .iter()
                .map(|account| (*account, TESTNET_AUTHORITY_BALANCE))
                .chain(
                    devices
                        .iter()
                        .map(|account| (*account, TESTNET_DEVICE_BALANCE)),
                )
                .collect(),
        ),
        ..dev_at(genesis_time_ms)
    }
}

/// The bench chain: one authority, these devices, claims of up to
/// `receipts_per_claim` receipts, and capacity budgets so large that nothing
/// is forfeited (the bench measures throughput, not capacity limits).
pub fn bench(
    authority: &Keypair,
    devices: &[Account],
    receipts_per_claim: u64,
    block_time_ms: u64,
    genesis_time_ms: u64,
) -> Result<Genesis, GenesisError> {
    let per_tx = receipts_per_claim
        .saturating_mul(RECEIPT_ENCODED_BYTES)
        .saturating_add(256);
    let genesis = Genesis {
        chain_id: "bwchain-bench".into(),
        block_time_ms,
        authorities: vec![authority.account()],
        devices: devices.to_vec(),
        balances: Balances(
            [(authority.account(), BENCH_AUTHORITY_BALANCE)]
                .into_iter()
                .collect(),
        ),
        device_capacity_bytes_per_sec: 1 << 40,
        budget_window_secs: 1 << 20,
        max_receipts_per_claim: receipts_per_claim,
        max_block_txs: (MAX_BLOCK_BYTES / per_tx).min(100_000),
        ..dev_at(genesis_time_ms)
    };
    genesis.validate()?;
    Ok(genesis)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::genesis::ChainSpec;

    fn dev_account(name: &str) -> Account {
        Keypair::dev(name).account()
    }

    #[test]
    fn dev_chain_is_alice_and_four_devices() {
        let genesis = dev();
        assert_eq!(genesis.chain_id, "bwchain-dev");
        assert_eq!(genesis.authorities, vec![dev_account(DEV_AUTHORITY)]);
        let devices: Vec<Account> = DEV_DEVICES.iter().map(|name| dev_account(name)).collect();
        assert_eq!(genesis.devices, devices);
        assert_eq!(genesis.balances.0[&dev_account("alice")], 1_000_000_000);
        // Every dev account is funded, so `--key dev:NAME` works for all.
        for name in DEV_DEVICES {
            assert_eq!(genesis.balances.0[&dev_account(name)], 1_000_000, "{name}");
        }
        assert_eq!(genesis.balances.0.len(), 1 + DEV_DEVICES.len());
        assert_eq!(dev_at(5).genesis_time_ms, 5);
        assert_eq!(
            Genesis {
                genesis_time_ms: 5,
                ..dev()
            },
            dev_at(5)
        );
    }

    #[test]
    fn testnet_funds_every_key() {
        let authorities: Vec<Account> = ["a0", "a1", "a2"].map(dev_account).to_vec();
        let devices: Vec<Account> = ["d0", "d1"].map(dev_account).to_vec();
        let genesis = testnet(&authorities, &devices, 500, 1_767_225_600_000);
        assert_eq!(genesis.chain_id, "bwchain-testnet-3");
        assert_eq!(genesis.block_time_ms, 500);
        assert_eq!(genesis.balances.0.len(), 5);
        assert_eq!(
            genesis.balances.0[&authorities[2]],
            TESTNET_AUTHORITY_BALANCE
        );
        assert_eq!(genesis.balances.0[&devices[1]], TESTNET_DEVICE_BALANCE);
        ChainSpec::new(genesis).expect("a testnet genesis is valid");
    }

    #[test]
    fn bench_chain_fits_its_claims_in_a_block() {
        let authority = Keypair::dev("bench");
        let devices = vec![dev_account("d0")];
        let genesis = bench(&authority, &devices, 64, 100, 0).unwrap();
        assert_eq!(genesis.max_receipts_per_claim, 64);
        let per_tx = 64 * RECEIPT_ENCODED_BYTES + 256;
        assert!(genesis.max_block_txs * per_tx <= MAX_BLOCK_BYTES);
        assert!(bench(&authority, &devices, 0, 100, 0).is_err());
    }
}
