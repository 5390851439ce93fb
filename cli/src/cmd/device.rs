//! `bwchain device register|revoke`: manage the device registry.

use anyhow::Result;
use bwchain_core::primitives::signing::Keypair;
use bwchain_core::primitives::{Account, TxBody};

use crate::args::{parse_account, parse_key};
use crate::submit::{self, SubmitArgs};

/// Register or revoke a device (authorities only).
///
/// Only registered devices can sign or earn from receipts.
#[derive(Debug, clap::Args)]
pub struct DeviceArgs {
    #[command(subcommand)]
    pub action: DeviceAction,
}

#[derive(Debug, clap::Subcommand)]
pub enum DeviceAction {
    /// Register DEVICE, so it can provide and consume bandwidth for receipts.
    #[command(after_help = "Example:\n  bwchain device register dev:frank --key dev:alice --wait")]
    Register(DeviceChange),
    /// Revoke DEVICE: its receipts are no longer accepted.
    #[command(after_help = "Example:\n  bwchain device revoke dev:eve --key dev:alice")]
    Revoke(DeviceChange),
}

#[derive(Debug, clap::Args)]
pub struct DeviceChange {
    /// The device: a 64-hex public key, a key file, or dev:NAME.
    #[arg(value_name = "DEVICE", value_parser = parse_account)]
    pub device: Account,
    /// An authority's key: a key file, or dev:NAME for a dev key.
    #[arg(long, value_name = "KEY", value_parser = parse_key)]
    pub key: Keypair,
    #[command(flatten)]
    pub submit: SubmitArgs,
}

pub fn run(args: DeviceArgs) -> Result<()> {
    let (change, active) = match args.action {
        DeviceAction::Register(change) => (change, true),
        DeviceAction::Revoke(change) => (change, false),
    };
    let body = TxBody::SetDevice {
        device: change.device,
        active,
    };
    submit::run(&change.submit, &change.key, |_| Ok(body))
}
