//! `bwchain`: run a node, make and sign receipts, submit transactions and
//! inspect the chain over the node's HTTP API.
//!
//! - `cmd`: one module per subcommand (clap `Args` plus `run`).
//! - `args`: arguments shared by commands: `--rpc`, `--json`, keys, accounts.
//!
//! The node's answers and the client that fetches them are `bwchain_api`'s:
//! `--json` prints an answer as it came, readable output decodes it.
//! - `submit`: sign, submit and follow a transaction (claim, transfer, device).
//! - `output`: readable tables and `name  value` lists.
//!
//! `build.rs` records the git commit for `--version`.
//!
//! Logging (`tracing`) is set up here and only here.

mod args;
#[cfg(test)]
mod client_tests;
mod cmd;
mod output;
mod submit;

use std::io::IsTerminal as _;
use std::process::ExitCode;

use clap::{CommandFactory as _, Parser, Subcommand};
use tracing_subscriber::EnvFilter;

/// bwchain: a proof-of-authority chain that pays for shared bandwidth.
///
/// Keys (--key) are key files written by `bwchain keygen --out FILE`, or
/// dev:NAME for the public dev key NAME (dev:alice is the dev chain's
/// authority). Accounts are 64-hex public keys, key files or dev:NAME.
/// Client commands talk to the node at --rpc (default http://127.0.0.1:8700,
/// or $BWCHAIN_RPC) and print readable text, or the node's JSON with --json.
/// Logs go to stderr: bwchain's own at info by default; set RUST_LOG (e.g.
/// RUST_LOG=bwchain=debug) for more, --log-format json for JSON lines.
#[derive(Debug, Parser)]
#[command(name = "bwchain", version = VERSION, propagate_version = true)]
struct Cli {
    /// How log lines on stderr look: `text` for people, `json` (one JSON
    /// object a line) for log collectors.
    #[arg(long, global = true, value_enum, value_name = "FORMAT", default_value_t = LogFormat::Text, env = "BWCHAIN_LOG_FORMAT")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

/// `bwchain --version`: the version and the git commit it was built from
/// (`unknown` when built outside a git checkout; see build.rs).
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("BWCHAIN_GIT_COMMIT"),
    ")"
);

/// The filter when RUST_LOG is unset: bwchain's crates at info, everything
/// else (sled, the HTTP stack) only when it warns.
const DEFAULT_LOG_FILTER: &str = "warn,bwchain=info";

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    Keygen(cmd::keygen::KeygenArgs),
    Node(cmd::node::NodeArgs),
    Testnet(cmd::testnet::TestnetArgs),
    Bench(cmd::bench::BenchArgs),
    Status(cmd::status::StatusArgs),
    Receipt(cmd::receipt::ReceiptArgs),
    Claim(cmd::claim::ClaimArgs),
    Transfer(cmd::transfer::TransferArgs),
    Device(cmd::device::DeviceArgs),
    Devices(cmd::devices::DevicesArgs),
    Block(cmd::block::BlockArgs),
    Blocks(cmd::blocks::BlocksArgs),
    Tx(cmd::tx::TxArgs),
    Account(cmd::account::AccountArgs),
    Session(cmd::session::SessionArgs),
    Audit(cmd::audit::AuditArgs),
    Purge(cmd::purge::PurgeArgs),
    Completions(cmd::completions::CompletionsArgs),
}

/// mimalloc for the whole binary (the node above all): it keeps the node's
/// resident memory close to what is live under load, where glibc's
/// per-thread arenas held on to freed block-building memory.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Turns transparent huge pages off for this process (Linux). mimalloc asks
/// for them, and under load the kernel then zeroed a whole 2 MiB page at
/// every first touch of memory mimalloc had returned and reused: 5% of the
/// node's CPU in `clear_page_erms`. This does what `MIMALLOC_ALLOW_THP=0`
/// does; with that variable, `bwchain bench` (1-receipt claims, 2 cores)
/// measured 74-75 against 81-84 µs of node CPU per receipt, and 0.96
/// against 1.05 GiB peak RSS (the README has the release's figures). Best
/// effort: a kernel that refuses is logged and changes nothing else.
fn no_transparent_huge_pages() {
    #[cfg(target_os = "linux")]
    if let Err(err) = rustix::thread::disable_transparent_huge_pages(true) {
        tracing::debug!(%err, "could not turn transparent huge pages off");
    }
}

fn main() -> ExitCode {
    quiet_on_closed_pipe();
    let cli = Cli::parse();
    init_tracing(cli.log_format);
    no_transparent_huge_pages();
    match std::panic::catch_unwind(|| run(cli.command)) {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(err)) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
        // `bwchain status | head -1`: the reader left; that is not an error.
        Err(panic) if is_closed_pipe(panic.as_ref()) => ExitCode::SUCCESS,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// `println!` panics when stdout is a pipe whose reader has gone (EPIPE).
fn is_closed_pipe(panic: &(dyn std::any::Any + Send)) -> bool {
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or_default();
    message.contains("failed printing to stdout") && message.contains("Broken pipe")
}

/// Keeps the panic message of a closed stdout pipe off stderr; every other
/// panic is reported as usual.
fn quiet_on_closed_pipe() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !is_closed_pipe(info.payload()) {
            report(info);
        }
    }));
}

fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Keygen(args) => cmd::keygen::run(args),
        Command::Node(args) => cmd::node::run(args),
        Command::Testnet(args) => cmd::testnet::run(args),
        Command::Bench(args) => cmd::bench::run(args),
        Command::Status(args) => cmd::status::run(args),
        Command::Receipt(args) => cmd::receipt::run(args),
        Command::Claim(args) => cmd::claim::run(args),
        Command::Transfer(args) => cmd::transfer::run(args),
        Command::Device(args) => cmd::device::run(args),
        Command::Block(args) => cmd::block::run(args),
        Command::Blocks(args) => cmd::blocks::run(args),
        Command::Tx(args) => cmd::tx::run(args),
        Command::Account(args) => cmd::account::run(args),
        Command::Devices(args) => cmd::devices::run(args),
        Command::Session(args) => cmd::session::run(args),
        Command::Audit(args) => cmd::audit::run(args),
        Command::Purge(args) => cmd::purge::run(args),
        Command::Completions(args) => cmd::completions::run(args, &mut Cli::command()),
    }
}

/// Logs go to stderr, filtered by RUST_LOG (default [`DEFAULT_LOG_FILTER`];
/// e.g. `RUST_LOG=bwchain=debug` for the node's details without sled's),
/// so stdout carries only the command's output. An invalid RUST_LOG is an
/// error, not a silent fallback.
fn init_tracing(format: LogFormat) {
    let filter = match std::env::var("RUST_LOG") {
        Ok(text) if !text.is_empty() => match EnvFilter::try_new(&text) {
            Ok(filter) => filter,
            Err(err) => {
                eprintln!("error: RUST_LOG={text:?} is not a valid log filter: {err} (e.g. RUST_LOG=info or RUST_LOG=bwchain=debug)");
                std::process::exit(2);
            }
        },
        _ => EnvFilter::new(DEFAULT_LOG_FILTER),
    };
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => logs.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => logs.json().with_ansi(false).init(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bwchain_core::primitives::signing::Keypair;

    fn parse(args: &[&str]) -> Result<Command, clap::Error> {
        Cli::try_parse_from(std::iter::once("bwchain").chain(args.iter().copied()))
            .map(|cli| cli.command)
    }

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn transfer_takes_dev_keys_and_accounts() {
        let Command::Transfer(args) = parse(&[
            "transfer",
            "--key",
            "dev:alice",
            "--to",
            "dev:bob",
            "--amount",
            "5",
            "--nonce",
            "2",
            "--wait",
            "--timeout",
            "7",
            "--rpc",
            "http://node:1",
            "--json",
        ])
        .unwrap() else {
            panic!("not a transfer")
        };
        assert_eq!(args.key.account(), Keypair::dev("alice").account());
        assert_eq!(args.to, Keypair::dev("bob").account());
        assert_eq!(args.amount, 5);
        assert_eq!(args.submit.nonce, Some(2));
        assert!(args.submit.wait);
        assert_eq!(args.submit.timeout, 7);
        assert_eq!(args.submit.client.rpc.rpc, "http://node:1");
        assert!(args.submit.client.json);
    }

    #[test]
    fn defaults() {
        let Command::Claim(args) = parse(&["claim", "--key", "dev:bob"]).unwrap() else {
            panic!("not a claim")
        };
        assert!(args.files.is_empty());
        assert_eq!(args.submit.timeout, submit::DEFAULT_WAIT_SECS);
        assert!(!args.submit.wait);
        assert_eq!(args.submit.nonce, None);
        if std::env::var_os("BWCHAIN_RPC").is_none() {
            assert_eq!(args.submit.client.rpc.rpc, args::DEFAULT_RPC);
        }

        let Command::Block(args) = parse(&["block"]).unwrap() else {
            panic!("not a block")
        };
        assert_eq!(args.block, cmd::block::BlockId::Latest);

        let Command::Blocks(args) = parse(&["blocks"]).unwrap() else {
            panic!("not blocks")
        };
        assert_eq!((args.from, args.limit), (None, 20));
    }

    #[test]
    fn device_subcommands() {
        let eve = Keypair::dev("eve").account();
        for (action, active) in [("register", true), ("revoke", false)] {
            let Command::Device(args) =
                parse(&["device", action, &eve.to_hex(), "--key", "dev:alice"]).unwrap()
            else {
                panic!("not a device command")
            };
            let (change, is_register) = match args.action {
                cmd::device::DeviceAction::Register(change) => (change, true),
                cmd::device::DeviceAction::Revoke(change) => (change, false),
            };
            assert_eq!(is_register, active);
            assert_eq!(change.device, eve);
        }
    }

    #[test]
    fn rejects_bad_values_before_running() {
        let cases: &[(&[&str], &str)] = &[
            (
                &[
                    "transfer", "--key", "dev:", "--to", "dev:bob", "--amount", "1",
                ],
                "needs a name",
            ),
            (
                &[
                    "transfer", "--key", "dev:a", "--to", "nobody", "--amount", "1",
                ],
                "64-hex",
            ),
            (
                &[
                    "transfer", "--key", "dev:a", "--to", "dev:b", "--amount", "0",
                ],
                "--amount",
            ),
            (&["blocks", "--limit", "101"], "--limit"),
            (&["block", "tip"], "block height"),
            (&["tx", "abcd"], "64 hex"),
            (&["claim", "--key", "dev:b", "--timeout", "5"], "--wait"),
            (&["keygen", "--force"], "--out"),
            (
                &[
                    "receipt",
                    "--key",
                    "dev:c",
                    "--provider",
                    "dev:b",
                    "--session",
                    "1",
                    "--bytes",
                    "5",
                    "--genesis",
                    "g.json",
                    "--genesis-hash",
                    &"00".repeat(32),
                ],
                "cannot be used with",
            ),
            (&["session", "dev:b", "dev:c"], "SESSION"),
        ];
        for (args, expected) in cases {
            let err = parse(args).unwrap_err().to_string();
            assert!(err.contains(expected), "{args:?}: {err}");
        }
    }

    #[test]
    fn node_and_audit_are_wired() {
        assert!(matches!(parse(&["node", "--dev"]), Ok(Command::Node(_))));
        assert!(matches!(
            parse(&["audit", "--data", "/tmp/x"]),
            Ok(Command::Audit(_))
        ));
        assert!(matches!(
            parse(&["purge", "--data", "/tmp/x", "--yes"]),
            Ok(Command::Purge(_))
        ));
        assert!(matches!(
            parse(&["completions", "zsh"]),
            Ok(Command::Completions(_))
        ));
        assert!(parse(&["completions", "tcsh"]).is_err());
    }
}
