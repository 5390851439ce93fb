//! `bwchain session`: the bytes credited so far in one session.

use anyhow::Result;
use bwchain_api::accounts::{self, SessionInfo};
use bwchain_api::client::decode;
use bwchain_core::primitives::Account;

use crate::args::{parse_account, ClientArgs};
use crate::output::{fields, print_json};

/// Show the bytes credited so far in one session.
///
/// This is the chain's counter for (PROVIDER, CONSUMER, SESSION): a new
/// receipt for the session earns only for bytes above it.
#[derive(Debug, clap::Args)]
#[command(after_help = "Example:\n  bwchain session dev:bob dev:carol 1")]
pub struct SessionArgs {
    /// The provider: a 64-hex public key, a key file, or dev:NAME.
    #[arg(value_name = "PROVIDER", value_parser = parse_account)]
    pub provider: Account,
    /// The consumer: a 64-hex public key, a key file, or dev:NAME.
    #[arg(value_name = "CONSUMER", value_parser = parse_account)]
    pub consumer: Account,
    /// The session number.
    #[arg(value_name = "SESSION")]
    pub session: u64,
    #[command(flatten)]
    pub client: ClientArgs,
}

pub fn run(args: SessionArgs) -> Result<()> {
    let path = accounts::session_path(&args.provider, &args.consumer, args.session);
    let value = args.client.client().get(&path)?;
    if args.client.json {
        return print_json(&value);
    }
    println!("{}", render(&decode(value, &path)?));
    Ok(())
}

pub fn render(info: &SessionInfo) -> String {
    fields(&[
        ("provider", info.provider.to_hex()),
        ("consumer", info.consumer.to_hex()),
        ("session", info.session.to_string()),
        ("bytes", info.bytes.to_string()),
    ])
}
