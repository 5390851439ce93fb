//! Starting a node: the one place where the store, the chain service, the
//! peer network, the HTTP API and the timers are wired together. `bwchain
//! node` runs one through [`run_until_signal`] (and `bwchain bench` runs
//! `bwchain node` as its own process), which starts one through [`start`].

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bwchain_core::consensus;
use bwchain_core::genesis::ChainSpec;
use bwchain_core::mempool::MempoolLimits;
use bwchain_core::primitives::signing::Keypair;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::chain::{GuardConfig, Node, NodeConfig, NodeError};
use crate::clock::now_ms;
use crate::net::{self, NetConfig};
use crate::rpc;

/// Everything needed to start a node.
pub struct LaunchConfig {
    pub spec: ChainSpec,
    /// The authority key, for a node that proposes blocks.
    pub keypair: Option<Keypair>,
    pub data_dir: PathBuf,
    pub mempool: MempoolLimits,
    /// Address of the HTTP API (`host:port`; port 0 picks a free port).
    pub rpc: String,
    /// Address to accept peers on (`None`: dial only).
    pub listen: Option<String>,
    /// Peers to dial and keep dialing (`host:port`).
    pub peers: Vec<String>,
    pub max_peers: usize,
    /// The origin allowed to read the JSON API from a browser; `None`: any.
    pub cors_origin: Option<axum::http::HeaderValue>,
    /// An authority with peers listens this many slots for another node
    /// signing with its key before it signs (`None`: one round of the
    /// authorities plus one; 0: do not listen).
    pub doppelganger_slots: Option<u64>,
    /// What to do when another node signs with this node's key.
    pub on_doppelganger: OnDoppelganger,
    /// How the HTTP API serves clients: connection limit, timeouts, body
    /// budget, submission rate limits.
    pub http: rpc::server::ServerConfig,
}

/// What a node does when it sees another node signing with its key. It
/// stops signing either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnDoppelganger {
    /// Exit with an error (the default: an operator notices).
    #[default]
    Exit,
    /// Keep running (serving the API and relaying) without signing.
    Stop,
}

/// Why a node could not start. Each says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error("cannot start the node on {}: {error}", data_dir.display())]
    Open { data_dir: PathBuf, error: NodeError },
    #[error("cannot listen on {address} for the HTTP API: {error}")]
    BindRpc {
        address: String,
        error: std::io::Error,
    },
    #[error("cannot listen on {address} for peers: {error}")]
    BindPeers {
        address: String,
        error: std::io::Error,
    },
}

/// Why a node run by [`run_until_signal`] failed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot start the async runtime")]
    Runtime(#[source] std::io::Error),
    #[error(transparent)]
    Launch(Box<LaunchError>),
    #[error(transparent)]
    Serve(std::io::Error),
    #[error("stopped: another node is signing with this node's authority key ({0}); stop one of the two, then restart this one")]
    Doppelganger(String),
    #[error("stopped: a write to the data directory failed ({0}); what is stored is intact: free disk space (or fix the disk), then restart the node")]
    Storage(String),
}

/// A started node: its API and peer addresses, and its tasks.
pub struct RunningNode {
    pub node: Node,
    /// Where the HTTP API listens.
    pub rpc_addr: SocketAddr,
    /// Where peers are accepted (`None`: dial only).
    pub p2p_addr: Option<SocketAddr>,
    on_doppelganger: OnDoppelganger,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    server: JoinHandle<std::io::Result<()>>,
}

/// Opens the store (creating it from genesis if empty), binds the API and
/// peer sockets and starts serving: block production in this node's slots,
/// periodic ticks, the HTTP API and the peer network. Must be called within
/// a tokio runtime.
pub async fn start(config: LaunchConfig) -> Result<RunningNode, LaunchError> {
    let started_ms = now_ms();
    let guard = if config.peers.is_empty() {
        GuardConfig::alone(started_ms)
    } else {
        let mut guard = GuardConfig::with_peers(&config.spec.genesis, started_ms);
        if let Some(slots) = config.doppelganger_slots {
            guard.listen_slots = slots;
        }
        guard
    };
    let (node, outbound) = Node::open(NodeConfig {
        spec: config.spec,
        keypair: config.keypair,
        data_dir: config.data_dir.clone(),
        mempool: config.mempool,
        guard,
    })
    .map_err(|error| LaunchError::Open {
        data_dir: config.data_dir.clone(),
        error,
    })?;
    let (rpc_listener, rpc_addr) =
        bind(&config.rpc)
            .await
            .map_err(|error| LaunchError::BindRpc {
                address: config.rpc.clone(),
                error,
            })?;
    let (p2p_listener, p2p_addr) = match &config.listen {
        Some(address) => {
            let (listener, bound) =
                bind(address)
                    .await
                    .map_err(|error| LaunchError::BindPeers {
                        address: address.clone(),
                        error,
                    })?;
            (Some(listener), Some(bound))
        }
        None => (None, None),
    };

    let (stop, stop_rx) = watch::channel(false);
    let network = tokio::spawn(net::run(
        Arc::new(node.clone()),
        outbound,
        NetConfig {
            listener: p2p_listener,
            peers: config.peers,
            max_peers: config.max_peers,
        },
        stop_rx.clone(),
    ));
    let producer = tokio::spawn(produce_blocks(node.clone(), stop_rx.clone()));
    let ticker = tokio::spawn(tick_forever(node.clone(), stop_rx.clone()));
    let deadlines = tokio::spawn(mid_slot_ticks(node.clone(), stop_rx.clone()));
    let app = rpc::router_with(
        node.clone(),
        rpc::RouterOptions {
            cors_origin: config.cors_origin.clone(),
        },
    );
    let server = tokio::spawn(rpc::server::serve(rpc_listener, app, config.http, stop_rx));
    Ok(RunningNode {
        node,
        rpc_addr,
        p2p_addr,
        on_doppelganger: config.on_doppelganger,
        stop,
        tasks: vec![producer, ticker, deadlines, network],
        server,
    })
}

impl RunningNode {
    /// Completes when the node must stop (fail-stop): a storage write
    /// failed, or another node signs with this node's key and the node is to
    /// exit then ([`OnDoppelganger::Exit`]). Never completes otherwise.
    pub async fn fatal(&self) -> RunError {
        let exit_on_doppelganger =
            self.on_doppelganger == OnDoppelganger::Exit && self.node.authority().is_some();
        loop {
            if let Some(failure) = self.node.store().write_failure() {
                return RunError::Storage(failure);
            }
            if exit_on_doppelganger {
                if let Some(what) = self.node.doppelganger() {
                    return RunError::Doppelganger(what);
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Serves until `shutdown` completes, then stops.
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) -> std::io::Result<()> {
        shutdown.await;
        tracing::info!("shutting down");
        self.stop().await
    }

    /// Stops block production, the timers, the network and the API (letting
    /// requests in progress finish within the API's shutdown grace), and
    /// waits for them.
    pub async fn stop(self) -> std::io::Result<()> {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
        match self.server.await {
            Ok(result) => result,
            Err(join_error) => Err(std::io::Error::other(join_error)),
        }
    }
}

/// Starts a node on a new multi-threaded runtime, calls `started` with it
/// (to show where it listens), and serves until SIGINT or SIGTERM, then
/// stops it.
pub fn run_until_signal(
    config: LaunchConfig,
    started: impl FnOnce(&RunningNode),
) -> Result<(), RunError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(RunError::Runtime)?;
    let result = runtime.block_on(async move {
        let running = start(config)
            .await
            .map_err(|error| RunError::Launch(Box::new(error)))?;
        started(&running);
        let fatal = tokio::select! {
            _ = shutdown_signal() => None,
            fatal = running.fatal() => Some(fatal),
        };
        if let Some(fatal) = &fatal {
            tracing::error!("{fatal}");
        }
        tracing::info!("shutting down");
        // Stopping waits for work in progress, but not forever: a task stuck
        // in storage must not keep the process alive. The watchdog is an OS
        // thread, so it fires even when every runtime worker is blocked in
        // a storage call (as sled's can be after an I/O error).
        let failed = fatal.is_some();
        std::thread::spawn(move || {
            std::thread::sleep(STOP_DEADLINE + Duration::from_secs(2));
            eprintln!(
                "error: the node did not stop within {} s; exiting anyway",
                STOP_DEADLINE.as_secs()
            );
            std::process::exit(if failed { 1 } else { 2 });
        });
        match tokio::time::timeout(STOP_DEADLINE, running.stop()).await {
            Ok(stopped) => stopped.map_err(RunError::Serve)?,
            Err(_) => tracing::warn!(
                deadline_s = STOP_DEADLINE.as_secs(),
                "the node did not stop in time; exiting anyway"
            ),
        }
        fatal.map_or(Ok(()), Err)
    });
    // Blocking work still running (a storage call that hangs) is abandoned.
    runtime.shutdown_timeout(Duration::from_secs(1));
    result
}

/// How long a stopping node waits for its tasks before it exits anyway.
const STOP_DEADLINE: Duration = Duration::from_secs(10);

/// A new data directory for a node whose chain need not outlive the run
/// (`bwchain node --dev` without `--data`, like Substrate's `--tmp`): it is
/// removed when the returned handle drops, after a clean stop or a failed
/// start alike.
pub fn temporary_data_dir() -> std::io::Result<tempfile::TempDir> {
    tempfile::Builder::new().prefix("bwchain-dev-").tempdir()
}

/// Completes at the first SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::error!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
}

async fn bind(address: &str) -> std::io::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind(address).await?;
    let bound = listener.local_addr()?;
    Ok((listener, bound))
}

/// Periodic work (held blocks, status announcements, sync retries), a few
/// times per slot.
async fn tick_forever(node: Node, mut stop: watch::Receiver<bool>) {
    let period = Duration::from_millis((node.spec().genesis.block_time_ms / 4).clamp(50, 500));
    loop {
        let ticking = node.clone();
        let _ = tokio::task::spawn_blocking(move || ticking.tick(now_ms())).await;
        tokio::select! {
            _ = tokio::time::sleep(period) => {}
            _ = stop.wait_for(|stopped| *stopped) => return,
        }
    }
}

/// Ticks right after the middle of every slot, so the voter's mid-slot
/// deadline (FINALITY.md V5) is met on time rather than at the next
/// periodic tick.
async fn mid_slot_ticks(node: Node, mut stop: watch::Receiver<bool>) {
    if node.authority().is_none() || node.spec().genesis.authorities.len() < 2 {
        return;
    }
    let genesis = node.spec().genesis.clone();
    loop {
        let now = now_ms();
        let slot = consensus::slot_at(&genesis, now).unwrap_or(0);
        let middle = |slot: u64| {
            consensus::slot_start_ms(&genesis, slot)
                .map(|start| start.saturating_add(genesis.block_time_ms / 2))
                .unwrap_or(u64::MAX)
        };
        let next = if middle(slot) > now {
            middle(slot)
        } else {
            middle(slot + 1)
        };
        let delay = Duration::from_millis(next.saturating_sub(now));
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = stop.wait_for(|stopped| *stopped) => return,
        }
        let ticking = node.clone();
        let _ = tokio::task::spawn_blocking(move || ticking.tick(now_ms())).await;
    }
}

/// Wakes at the start of every slot and proposes a block in this node's.
async fn produce_blocks(node: Node, mut stop: watch::Receiver<bool>) {
    if node.authority().is_none() {
        return;
    }
    let genesis = node.spec().genesis.clone();
    loop {
        let now = now_ms();
        let next_slot = match consensus::slot_at(&genesis, now) {
            Some(slot) => slot + 1,
            None => 0,
        };
        let wake_at = consensus::slot_start_ms(&genesis, next_slot).unwrap_or(u64::MAX);
        let producing = node.clone();
        let produced = tokio::task::spawn_blocking(move || producing.produce_block(now_ms())).await;
        match produced {
            Ok(Ok(_)) => {}
            Ok(Err(err)) => tracing::error!(error = %err, "block production failed"),
            Err(err) => tracing::error!(error = %err, "block production panicked"),
        }
        let delay = Duration::from_millis(wake_at.saturating_sub(now_ms()));
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = stop.wait_for(|stopped| *stopped) => return,
        }
    }
}
