//! `bwchain devices`: the registered devices and their remaining budgets.

use anyhow::Result;
use bwchain_api::client::decode;
use bwchain_api::inventory::{self, DevicesPage};
use bwchain_core::primitives::Account;

use crate::args::{parse_account, ClientArgs};
use crate::output::{print_json, Align, Table};

/// List registered devices (active or revoked), their balances and the
/// bytes they may still be credited for.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  bwchain devices\n  bwchain devices --after dev:bob --limit 100"
)]
pub struct DevicesArgs {
    /// Start after this device (devices are listed in key order).
    #[arg(long, value_name = "ACCOUNT", value_parser = parse_account)]
    pub after: Option<Account>,
    /// How many devices to list (at most 100).
    #[arg(long, value_name = "N", default_value_t = inventory::DEFAULT_PER_PAGE,
          value_parser = clap::value_parser!(u64).range(1..=inventory::MAX_PER_PAGE))]
    pub limit: u64,
    #[command(flatten)]
    pub client: ClientArgs,
}

pub fn run(args: DevicesArgs) -> Result<()> {
    let path = inventory::devices_path(args.after.as_ref(), args.limit);
    let value = args.client.client().get(&path)?;
    if args.client.json {
        return print_json(&value);
    }
    println!("{}", render(&decode(value, &path)?));
    Ok(())
}

pub fn render(page: &DevicesPage) -> String {
    if page.devices.is_empty() {
        return "no devices".to_owned();
    }
    let mut table = Table::new(&[
        ("DEVICE", Align::Left),
        ("STATUS", Align::Left),
        ("BALANCE", Align::Right),
        ("UPLOAD_LEFT", Align::Right),
        ("DOWNLOAD_LEFT", Align::Right),
        ("CAPACITY", Align::Right),
    ]);
    for device in &page.devices {
        table.push(vec![
            device.device.to_hex(),
            if device.active { "active" } else { "revoked" }.to_owned(),
            device.balance.to_string(),
            device.budget.upload_bytes.to_string(),
            device.budget.download_bytes.to_string(),
            device.capacity_bytes.to_string(),
        ]);
    }
    let mut out = table.render();
    if let Some(next) = &page.next {
        out.push_str(&format!("\n(more: bwchain devices --after {next})"));
    }
    out
}
