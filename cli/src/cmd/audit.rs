//! `bwchain audit`: re-execute a stored chain from genesis.

use std::path::PathBuf;

/// Re-execute the stored chain of a stopped node from genesis: every block,
/// signature and state root, the stored state, and the supply invariant
/// (total_supply == genesis supply + minted == sum of balances).
#[derive(Debug, clap::Args)]
pub struct AuditArgs {
    /// Data directory of a stopped node.
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
    /// Genesis file (default: the genesis stored in the data directory).
    #[arg(long, value_name = "FILE")]
    pub genesis: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: AuditArgs) -> anyhow::Result<()> {
    let report = bwchain_node::audit::audit_dir(&args.data, args.genesis.as_deref())?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "audit OK: {} blocks replayed from genesis",
            report.blocks_checked
        );
        println!("  chain           {}", report.chain_id);
        println!(
            "  head            {} (height {})",
            report.head_hash, report.height
        );
        println!("  state root      {}", report.state_root);
        println!("  transactions    {}", report.txs_checked);
        println!("  genesis supply  {}", report.genesis_supply);
        println!("  minted          {}", report.minted);
        println!("  total supply    {}", report.total_supply);
        println!("  sum of balances {}", report.sum_of_balances);
        println!(
            "  state           {} accounts, {} devices, {} sessions",
            report.accounts, report.devices, report.sessions
        );
    }
    Ok(())
}
