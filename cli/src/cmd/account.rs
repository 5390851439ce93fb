//! `bwchain account`: an account's balance, nonce and device flag.

use anyhow::Result;
use bwchain_api::accounts::{self, AccountInfo};
use bwchain_api::client::decode;
use bwchain_core::primitives::Account;

use crate::args::{parse_account, ClientArgs};
use crate::cmd::status::yes_no;
use crate::output::{fields, print_json};

/// Show an account's balance, nonce and whether it is a registered device.
#[derive(Debug, clap::Args)]
#[command(after_help = "Example:\n  bwchain account dev:bob")]
pub struct AccountArgs {
    /// The account: a 64-hex public key, a key file, or dev:NAME.
    #[arg(value_name = "ACCOUNT", value_parser = parse_account)]
    pub account: Account,
    #[command(flatten)]
    pub client: ClientArgs,
}

pub fn run(args: AccountArgs) -> Result<()> {
    let path = accounts::path(&args.account);
    let value = args.client.client().get(&path)?;
    if args.client.json {
        return print_json(&value);
    }
    println!("{}", render(&decode(value, &path)?));
    Ok(())
}

pub fn render(info: &AccountInfo) -> String {
    let pending = info.next_nonce.saturating_sub(info.nonce);
    fields(&[
        ("account", info.account.to_hex()),
        ("balance", info.balance.to_string()),
        ("nonce", info.nonce.to_string()),
        (
            "next_nonce",
            format!("{} ({pending} pending txs)", info.next_nonce),
        ),
        ("device", yes_no(info.device).to_owned()),
    ])
}
