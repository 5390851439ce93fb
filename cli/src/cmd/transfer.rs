//! `bwchain transfer`: move tokens to another account.

use anyhow::Result;
use bwchain_core::primitives::signing::Keypair;
use bwchain_core::primitives::{Account, TxBody};

use crate::args::{parse_account, parse_key};
use crate::submit::{self, SubmitArgs};

/// Send tokens from --key's account to another account.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Example:\n  bwchain transfer --key dev:alice --to dev:bob --amount 1000 --wait"
)]
pub struct TransferArgs {
    /// The sender's key: a key file, or dev:NAME for a dev key.
    #[arg(long, value_name = "KEY", value_parser = parse_key)]
    pub key: Keypair,
    /// The recipient: a 64-hex public key, a key file, or dev:NAME.
    #[arg(long, value_name = "ACCOUNT", value_parser = parse_account)]
    pub to: Account,
    /// Amount to send (greater than 0).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub amount: u64,
    #[command(flatten)]
    pub submit: SubmitArgs,
}

pub fn run(args: TransferArgs) -> Result<()> {
    let body = TxBody::Transfer {
        to: args.to,
        amount: args.amount,
    };
    submit::run(&args.submit, &args.key, |_| Ok(body))
}
