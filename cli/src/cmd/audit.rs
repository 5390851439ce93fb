//! `bwchain audit`: re-execute a stored chain from genesis.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use bwchain_node::audit::AuditProgress;
use indicatif::{ProgressBar, ProgressStyle};

/// Without a terminal, a progress line at least this often (and at every
/// tenth of the chain).
const PLAIN_PROGRESS_EVERY: Duration = Duration::from_secs(5);

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
    let mut progress = Progress::new();
    let result = bwchain_node::audit::audit_dir_with_progress(
        &args.data,
        args.genesis.as_deref(),
        &mut |step| progress.step(step),
    );
    progress.finish();
    let report = result?;
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

/// Shows how far the replay got, on stderr (stdout carries the report): a
/// progress bar on a terminal, plain lines otherwise (logs, CI).
enum Progress {
    Bar(Option<ProgressBar>),
    Plain {
        started: Instant,
        printed: Instant,
        tenth: u64,
    },
}

impl Progress {
    fn new() -> Self {
        if std::io::stderr().is_terminal() {
            Progress::Bar(None)
        } else {
            let now = Instant::now();
            Progress::Plain {
                started: now,
                printed: now,
                tenth: 0,
            }
        }
    }

    fn step(&mut self, step: AuditProgress) {
        match self {
            Progress::Bar(bar) => {
                let bar = bar.get_or_insert_with(|| {
                    let bar = ProgressBar::new(step.head);
                    bar.set_style(
                        ProgressStyle::with_template(
                            "audit {bar:40} {pos}/{len} blocks  {per_sec}  ETA {eta}",
                        )
                        .unwrap_or_else(|_| ProgressStyle::default_bar()),
                    );
                    bar
                });
                bar.set_position(step.height);
            }
            Progress::Plain {
                started,
                printed,
                tenth,
            } => {
                if step.height == 0 {
                    eprintln!("audit: replaying {} blocks from genesis", step.head);
                    return;
                }
                let now_tenth = step.height.saturating_mul(10) / step.head.max(1);
                if now_tenth > *tenth || printed.elapsed() >= PLAIN_PROGRESS_EVERY {
                    *tenth = now_tenth;
                    *printed = Instant::now();
                    let seconds = started.elapsed().as_secs_f64();
                    eprintln!(
                        "audit: block {}/{} ({}%), {:.0} blocks/s",
                        step.height,
                        step.head,
                        step.height.saturating_mul(100) / step.head.max(1),
                        step.height as f64 / seconds.max(0.001)
                    );
                }
            }
        }
    }

    fn finish(&mut self) {
        if let Progress::Bar(Some(bar)) = self {
            bar.finish_and_clear();
        }
    }
}
