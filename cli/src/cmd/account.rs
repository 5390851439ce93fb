//! `bwchain account`: an account's balance, nonce, role, device budget and
//! recent transactions.

use anyhow::Result;
use bwchain_api::accounts::{self, AccountInfo};
use bwchain_api::client::decode;
use bwchain_api::inventory::{AccountTxsPage, TxRole};
use bwchain_core::primitives::Account;

use crate::args::{parse_account, ClientArgs};
use crate::cmd::status::yes_no;
use crate::output::{fields, print_json, short, Align, Table};

/// Show an account: balance, nonce, role (authority, device or plain), a
/// device's remaining budget, and its recent transactions and rewards.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  bwchain account dev:bob\n  bwchain account dev:bob --txs 50\n\n\
    With --json, prints the node's GET /accounts/{hex} answer as it came."
)]
pub struct AccountArgs {
    /// The account: a 64-hex public key, a key file, or dev:NAME.
    #[arg(value_name = "ACCOUNT", value_parser = parse_account)]
    pub account: Account,
    /// How many recent transactions to list (0: none).
    #[arg(long, value_name = "N", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(0..=bwchain_api::inventory::MAX_PER_PAGE))]
    pub txs: u64,
    #[command(flatten)]
    pub client: ClientArgs,
}

pub fn run(args: AccountArgs) -> Result<()> {
    let path = accounts::path(&args.account);
    let client = args.client.client();
    let value = client.get(&path)?;
    if args.client.json {
        return print_json(&value);
    }
    let info: AccountInfo = decode(value, &path)?;
    let authority = client.status()?.authorities.contains(&args.account);
    let activity = match args.txs {
        0 => None,
        limit => Some(client.account_txs(&args.account, None, limit)?),
    };
    println!("{}", render(&info, authority, activity.as_ref()));
    Ok(())
}

/// The account's role, as the explorer and `bwchain devices` name it.
pub fn role(info: &AccountInfo, authority: bool) -> &'static str {
    match (authority, info.device, info.device_budget.is_some()) {
        (true, _, _) => "authority",
        (false, true, _) => "device",
        (false, false, true) => "device (revoked)",
        (false, false, false) => "plain",
    }
}

pub fn render(info: &AccountInfo, authority: bool, activity: Option<&AccountTxsPage>) -> String {
    let pending = info.next_nonce.saturating_sub(info.nonce);
    let mut pairs = vec![
        ("account", info.account.to_hex()),
        ("role", role(info, authority).to_owned()),
        ("balance", info.balance.to_string()),
        ("nonce", info.nonce.to_string()),
        (
            "next_nonce",
            format!("{} ({pending} pending txs)", info.next_nonce),
        ),
        ("device", yes_no(info.device).to_owned()),
    ];
    if let Some(budget) = &info.device_budget {
        pairs.push(("upload_budget", format!("{} bytes", budget.upload_bytes)));
        pairs.push((
            "download_budget",
            format!("{} bytes", budget.download_bytes),
        ));
    }
    let mut out = fields(&pairs);
    if let Some(page) = activity {
        out.push_str("\n\nrecent transactions (newest first):\n");
        out.push_str(&render_txs(page));
    }
    out
}

fn render_txs(page: &AccountTxsPage) -> String {
    if page.txs.is_empty() {
        return "none".to_owned();
    }
    let mut table = Table::new(&[
        ("HEIGHT", Align::Right),
        ("ROLE", Align::Left),
        ("KIND", Align::Left),
        ("CREDITED", Align::Right),
        ("REWARD", Align::Right),
        ("AMOUNT", Align::Right),
        ("FINAL", Align::Left),
        ("TX", Align::Left),
    ]);
    for tx in &page.txs {
        table.push(vec![
            tx.height.to_string(),
            role_name(tx.role).to_owned(),
            tx.kind.clone(),
            tx.credited_bytes.to_string(),
            tx.reward.to_string(),
            tx.amount.to_string(),
            yes_no(tx.finalized).to_owned(),
            short(&tx.hash),
        ]);
    }
    let mut out = table.render();
    if page.next.is_some() {
        out.push_str("\n(more: raise --txs, or GET /accounts/{hex}/txs?before=...)");
    }
    out
}

fn role_name(role: TxRole) -> &'static str {
    role.as_str()
}
