//! `bwchain node`: run a node.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use bwchain_core::genesis::{presets, ChainSpec};
use bwchain_core::mempool::MempoolLimits;
use bwchain_core::primitives::signing::Keypair;
use bwchain_node::files;
use bwchain_node::launch::{self, LaunchConfig};
use bwchain_node::rpc::{limits, server};
use clap::builder::RangedU64ValueParser;

/// Run a node: an authority when given its key, which proposes blocks in its
/// slots and serves the HTTP API.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  \
    bwchain node --dev                                  # dev chain, temporary data dir (removed on exit)\n  \
    bwchain node --dev --data ./dev-data                # dev chain, reused across restarts\n  \
    RUST_LOG=bwchain=debug bwchain node --dev           # the node's details (not sled's)\n  \
    bwchain node --genesis genesis.json --key authority.json --data ./data \\\n      --listen 0.0.0.0:9700 --peer validator-2.example:9700 --peer validator-3.example:9700")]
pub struct NodeArgs {
    /// Run the one-authority dev chain: the repo's genesis.json, dev key
    /// `alice`, and a fresh temporary data dir (removed when the node stops)
    /// unless --data is given.
    #[arg(long)]
    pub dev: bool,
    /// Genesis file (required without --dev).
    #[arg(long, value_name = "FILE", env = "BWCHAIN_GENESIS")]
    pub genesis: Option<PathBuf>,
    /// Key file of this node's authority (`bwchain keygen --out FILE`); without
    /// it the node proposes nothing.
    #[arg(long, value_name = "FILE", env = "BWCHAIN_KEY")]
    pub key: Option<PathBuf>,
    /// Data directory; created if missing, resumed if it holds a chain.
    #[arg(long, value_name = "DIR", env = "BWCHAIN_DATA")]
    pub data: Option<PathBuf>,
    /// Address of the HTTP API, `HOST:PORT` (or `http://HOST:PORT`, as
    /// clients take it); port 0 picks a free port; the address is printed on
    /// stdout.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8700", env = "BWCHAIN_NODE_RPC", value_parser = parse_listen_address)]
    pub rpc: String,
    /// Address to accept peers on (`off`: dial only). Port 0 picks a free
    /// port; the address is printed on stdout.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9700", env = "BWCHAIN_LISTEN", value_parser = parse_listen_or_off)]
    pub listen: String,
    /// A peer to connect to and keep reconnecting to (`host:port`); repeatable
    /// (in BWCHAIN_PEERS, comma-separated).
    #[arg(long = "peer", value_name = "HOST:PORT", env = "BWCHAIN_PEERS", value_delimiter = ',', value_parser = parse_peer)]
    pub peers: Vec<String>,
    /// Most inbound peers that are not configured with `--peer` (configured
    /// peers are always admitted).
    #[arg(long, value_name = "N", default_value_t = bwchain_node::net::DEFAULT_MAX_PEERS)]
    pub max_peers: usize,
    /// Most pending transactions the mempool holds.
    #[arg(long, value_name = "N", default_value_t = bwchain_core::mempool::DEFAULT_MAX_TXS)]
    pub mempool_max_txs: usize,
    /// Most bytes (approximate encoded size) of pending transactions.
    #[arg(long, value_name = "BYTES", default_value_t = bwchain_core::mempool::DEFAULT_MAX_BYTES)]
    pub mempool_max_bytes: usize,
    /// Most pending transactions from one sender.
    #[arg(long, value_name = "N", default_value_t = bwchain_core::mempool::DEFAULT_MAX_PER_SENDER)]
    pub mempool_max_per_sender: usize,
    /// An authority with --peer listens this many slots at start for another
    /// node signing with its key before it signs (default: the number of
    /// authorities plus one; 0 turns listening off). It also syncs with its
    /// peers before signing (for at most 30 slots).
    #[arg(long, value_name = "SLOTS", env = "BWCHAIN_DOPPELGANGER_SLOTS")]
    pub doppelganger_slots: Option<u64>,
    /// What to do when another node signs with this node's authority key:
    /// `exit` with an error, or `stop` signing and keep serving. It stops
    /// signing either way.
    #[arg(
        long,
        value_name = "ACTION",
        default_value = "exit",
        env = "BWCHAIN_ON_DOPPELGANGER"
    )]
    pub on_doppelganger: DoppelgangerArg,
    /// Run an authority whose --key file group or others can read (refused
    /// otherwise: anyone who reads it can sign blocks and votes for it).
    #[arg(long)]
    pub allow_insecure_key: bool,
    /// The origin a browser page must come from to read the JSON API's GET
    /// endpoints (CORS), e.g. `https://explorer.example`; `*` allows any.
    #[arg(long, value_name = "ORIGIN", default_value = "*", env = "BWCHAIN_CORS_ORIGIN", value_parser = parse_cors_origin)]
    pub cors_origin: String,
    #[command(flatten)]
    pub http: HttpLimitArgs,
}

/// `--on-doppelganger`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum DoppelgangerArg {
    Exit,
    Stop,
}

fn parse_cors_origin(text: &str) -> Result<String, String> {
    if text == "*" {
        return Ok(text.to_owned());
    }
    let valid = (text.starts_with("http://") || text.starts_with("https://"))
        && !text.ends_with('/')
        && is_header_text(text);
    if valid {
        Ok(text.to_owned())
    } else {
        Err(format!(
            "{text:?} is not an origin: expected `*` or SCHEME://HOST[:PORT], e.g. https://explorer.example"
        ))
    }
}

/// Whether the text can be sent in an HTTP header (visible ASCII).
fn is_header_text(text: &str) -> bool {
    text.bytes().all(|byte| byte.is_ascii_graphic())
}

pub fn run(args: NodeArgs) -> anyhow::Result<()> {
    let (genesis, keypair) = if args.dev {
        if args.genesis.is_some() || args.key.is_some() {
            bail!("--dev uses the repo's genesis and dev key alice; drop --genesis/--key or --dev");
        }
        (presets::dev(), Some(Keypair::dev(presets::DEV_AUTHORITY)))
    } else {
        let Some(path) = &args.genesis else {
            bail!("--genesis FILE is required (or use --dev for the dev chain)");
        };
        let genesis = files::read_genesis(path)?;
        let keypair = args.key.as_deref().map(files::read_key_file).transpose()?;
        if let (Some(path), Some(keypair)) = (&args.key, &keypair) {
            check_key_mode(
                path,
                genesis.authorities.contains(&keypair.account()),
                args.allow_insecure_key,
            )?;
        }
        (genesis, keypair)
    };
    // Held until the node stops: a temporary dev data dir is removed then.
    let mut temporary = None;
    let data_dir = match (&args.data, args.dev) {
        (Some(dir), _) => dir.clone(),
        (None, true) => {
            let dir = launch::temporary_data_dir().context("cannot create a temporary data dir")?;
            let path = dir.path().to_path_buf();
            temporary = Some(dir);
            path
        }
        (None, false) => bail!("--data DIR is required (or use --dev for a temporary one)"),
    };
    let config = LaunchConfig {
        spec: ChainSpec::new(genesis)?,
        keypair,
        data_dir: data_dir.clone(),
        mempool: MempoolLimits {
            max_txs: args.mempool_max_txs,
            max_bytes: args.mempool_max_bytes,
            max_per_sender: args.mempool_max_per_sender,
        },
        rpc: args.rpc.clone(),
        listen: (args.listen != "off").then(|| args.listen.clone()),
        peers: args.peers.clone(),
        max_peers: args.max_peers,
        doppelganger_slots: args.doppelganger_slots,
        on_doppelganger: match args.on_doppelganger {
            DoppelgangerArg::Exit => launch::OnDoppelganger::Exit,
            DoppelgangerArg::Stop => launch::OnDoppelganger::Stop,
        },
        cors_origin: (args.cors_origin != "*")
            .then(|| args.cors_origin.parse())
            .transpose()
            .context("--cors-origin")?,
        http: args.http.server_config(),
    };
    launch::run_until_signal(config, |running| {
        let node = &running.node;
        let status = node.status();
        tracing::info!(
            chain_id = %node.spec().genesis.chain_id,
            genesis_hash = %node.spec().genesis_hash(),
            height = status.head.height,
            authority = %node.authority().map_or("none (follower)".to_string(), |a| a.to_string()),
            data = %data_dir.display(),
            "node started"
        );
        // Scripts and tests read these lines to find the API.
        println!("rpc: http://{}", running.rpc_addr);
        match running.p2p_addr {
            Some(address) => println!("p2p: {address}"),
            None => println!("p2p: off"),
        }
        if temporary.is_some() {
            println!(
                "data: {} (temporary: removed when the node stops; pass --data DIR to keep the chain)",
                data_dir.display()
            );
        } else {
            println!("data: {}", data_dir.display());
        }
        if args.dev {
            print!("{}", dev_accounts(&node.spec().genesis));
        }
    })?;
    match temporary {
        Some(dir) => {
            drop(dir);
            tracing::info!(data = %data_dir.display(), "stopped; the temporary data dir is removed");
        }
        None => tracing::info!(
            data = %data_dir.display(),
            "stopped; restart with the same --data to resume"
        ),
    }
    Ok(())
}

/// A key file others can read: a warning, or for an authority's key an
/// error unless `allowed` (whoever reads it can sign in the authority's
/// name, blocks and finality votes alike).
fn check_key_mode(path: &std::path::Path, is_authority: bool, allowed: bool) -> anyhow::Result<()> {
    let Some(mode) = files::loose_key_mode(path) else {
        return Ok(());
    };
    let warning = files::loose_key_warning(path, mode);
    if is_authority && !allowed {
        bail!("{warning} (it is an authority's key: refused; pass --allow-insecure-key to run anyway)");
    }
    tracing::warn!("{warning}");
    Ok(())
}

/// The dev chain's accounts, for the banner of `node --dev`: who each
/// dev key is, what it holds, and how to use it.
fn dev_accounts(genesis: &bwchain_core::genesis::Genesis) -> String {
    use std::fmt::Write as _;
    let mut text = String::from(
        "dev accounts (public dev keys: never use them on a real network; pass --key dev:NAME):\n",
    );
    let names = std::iter::once(presets::DEV_AUTHORITY).chain(presets::DEV_DEVICES);
    for name in names {
        let account = Keypair::dev(name).account();
        let role = if genesis.authorities.contains(&account) {
            "authority"
        } else if genesis.devices.contains(&account) {
            "device"
        } else {
            "account"
        };
        let balance = genesis.balances.0.get(&account).copied().unwrap_or(0);
        let _ = writeln!(
            text,
            "  {name:<6} {role:<9} {account}  balance {balance:>10}  dev:{name}"
        );
    }
    text
}

/// `HOST:PORT` to listen on, also accepted as `http://HOST:PORT`.
fn parse_listen_address(text: &str) -> Result<String, String> {
    crate::args::parse_rpc_url(text)
        .map(|url| url.trim_start_matches("http://").to_owned())
        .map_err(|_| {
            format!(
                "{text:?} is not an address to listen on: expected HOST:PORT, e.g. 127.0.0.1:8700"
            )
        })
}

/// `--listen`: `HOST:PORT`, or `off`.
fn parse_listen_or_off(text: &str) -> Result<String, String> {
    if text == "off" {
        return Ok(text.to_owned());
    }
    parse_listen_address(text).map_err(|_| {
        format!("{text:?} is not an address to accept peers on: expected HOST:PORT (e.g. 0.0.0.0:9700) or off")
    })
}

/// `--peer`: `HOST:PORT`, checked before the node starts so a typo does not
/// fail silently at every redial.
fn parse_peer(text: &str) -> Result<String, String> {
    match text.rsplit_once(':') {
        Some((host, port))
            if !host.is_empty()
                && !host.contains('/')
                && port.parse::<u16>().is_ok_and(|p| p != 0) =>
        {
            Ok(text.to_owned())
        }
        _ => Err(format!(
            "{text:?} is not a peer address: expected HOST:PORT, e.g. 127.0.0.1:9701"
        )),
    }
}

/// Limits on the HTTP API's clients: slow, idle or flooding ones.
#[derive(Debug, clap::Args)]
#[command(next_help_heading = "HTTP API limits")]
pub struct HttpLimitArgs {
    /// Most API connections at once [default: 1024, and never more than the
    /// open-file limit less 256 kept for peers and storage]. Clients over it
    /// wait until a connection closes.
    #[arg(long, value_name = "N", env = "BWCHAIN_RPC_MAX_CONNECTIONS", value_parser = RangedU64ValueParser::<usize>::new().range(1..))]
    pub rpc_max_connections: Option<usize>,
    /// Seconds a client has to send a request's head; also how long a
    /// kept-alive connection may stay idle.
    #[arg(long, value_name = "SECS", env = "BWCHAIN_RPC_HEADER_TIMEOUT",
        default_value_t = server::DEFAULT_HEADER_TIMEOUT.as_secs(), value_parser = clap::value_parser!(u64).range(1..))]
    pub rpc_header_timeout: u64,
    /// Seconds a connection may go without a byte moving either way (a
    /// client that stops reading its answers) before it is closed.
    #[arg(long, value_name = "SECS", env = "BWCHAIN_RPC_IDLE_TIMEOUT",
        default_value_t = server::DEFAULT_IDLE_TIMEOUT.as_secs(), value_parser = clap::value_parser!(u64).range(1..))]
    pub rpc_idle_timeout: u64,
    /// Seconds from a request's head to the end of its body; a slower upload
    /// gets 408.
    #[arg(long, value_name = "SECS", env = "BWCHAIN_RPC_BODY_TIMEOUT",
        default_value_t = limits::DEFAULT_BODY_TIMEOUT.as_secs(), value_parser = clap::value_parser!(u64).range(1..))]
    pub rpc_body_timeout: u64,
    /// Bytes of request bodies held at once across all clients (a quarter
    /// kept for single transactions); a body over it gets 503 with
    /// Retry-After.
    #[arg(long, value_name = "BYTES", env = "BWCHAIN_RPC_BODY_BUDGET",
        default_value_t = limits::DEFAULT_BODY_BUDGET_BYTES, value_parser = RangedU64ValueParser::<usize>::new().range(1024 * 1024..))]
    pub rpc_body_budget: usize,
    /// Transaction submissions (POST /txs and /txs/batch) per second from one
    /// client IP (IPv6: one /64); 0 for no limit. Over it: 429 with
    /// Retry-After. Loopback clients are not limited unless
    /// --rpc-limit-loopback.
    #[arg(long, value_name = "N", env = "BWCHAIN_RPC_SUBMIT_RATE",
        default_value_t = limits::DEFAULT_SUBMIT_RATE)]
    pub rpc_submit_rate: u32,
    /// Submissions one client IP may send at once after a quiet spell.
    #[arg(long, value_name = "N", env = "BWCHAIN_RPC_SUBMIT_BURST",
        default_value_t = limits::DEFAULT_SUBMIT_BURST, value_parser = clap::value_parser!(u32).range(1..))]
    pub rpc_submit_burst: u32,
    /// Apply the submission limit to loopback clients too (by default local
    /// tools, scripts and `bwchain bench` are not limited).
    #[arg(long, env = "BWCHAIN_RPC_LIMIT_LOOPBACK")]
    pub rpc_limit_loopback: bool,
}

impl HttpLimitArgs {
    fn server_config(&self) -> server::ServerConfig {
        server::ServerConfig {
            max_connections: self.rpc_max_connections,
            header_timeout: Duration::from_secs(self.rpc_header_timeout),
            idle_timeout: Duration::from_secs(self.rpc_idle_timeout),
            bodies: limits::BodyLimits {
                timeout: Duration::from_secs(self.rpc_body_timeout),
                budget_bytes: self.rpc_body_budget,
            },
            submissions: limits::SubmitRate {
                per_second: self.rpc_submit_rate,
                burst: self.rpc_submit_burst,
                limit_loopback: self.rpc_limit_loopback,
            },
            shutdown_grace: server::SHUTDOWN_GRACE,
        }
    }
}
