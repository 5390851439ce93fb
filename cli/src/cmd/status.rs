//! `bwchain status`: the node's view of the chain.

use anyhow::Result;

use crate::api::Status;
use crate::args::ClientArgs;
use crate::client::decode;
use crate::output::{fields, print_json};

/// Show the node's chain: height, finality, authorities, peers and mempool.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub client: ClientArgs,
}

pub fn run(args: StatusArgs) -> Result<()> {
    let value = args.client.client().get("/status")?;
    if args.client.json {
        return print_json(&value);
    }
    println!("{}", render(&decode(value, "/status")?));
    Ok(())
}

pub fn render(status: &Status) -> String {
    let authorities: Vec<String> = status.authorities.iter().map(|a| a.to_hex()).collect();
    let peers = if status.peers.is_empty() {
        "none".to_owned()
    } else {
        status.peers.join("\n")
    };
    fields(&[
        ("chain_id", status.chain_id.clone()),
        ("genesis_hash", status.genesis_hash.to_hex()),
        ("height", status.height.to_string()),
        ("head_hash", status.head_hash.to_hex()),
        ("finalized_height", status.finalized_height.to_string()),
        ("finalized_hash", status.finalized_hash.to_hex()),
        ("authorities", authorities.join("\n")),
        ("peers", peers),
        ("mempool", format!("{} pending txs", status.mempool)),
        ("syncing", yes_no(status.syncing).to_owned()),
    ])
}

pub fn yes_no(value: bool) -> &'static str {
    if value {
        "yes"
    } else {
        "no"
    }
}
