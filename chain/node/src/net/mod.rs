//! The TCP transport: accepts and dials peers, performs the handshake,
//! moves frames between sockets and the node, and drops peers that
//! misbehave or fall behind.
//!
//! - this file: the limits, [`run`] and the router that queues the chain
//!   service's messages for peers;
//! - `connection`: one connection from handshake to close: the reader
//!   (frame limits, request pacing, relay limits, scores) and the writer;
//! - `dial`: the accept loop (the handshake budget) and the dial loops of
//!   configured peers (redial, warnings);
//! - `registry`: connected, pending, banned and scored peers, and each
//!   peer's byte-bounded outgoing link;
//! - `budget`: token buckets and decaying scores, with time passed in.
//!
//! Bounds, so that memory and CPU stay bounded whatever peers do:
//! - *Memory per peer*: a peer's outgoing queue holds at most
//!   [`PEER_QUEUE_BYTES`] (or one frame, however large, when empty); a peer
//!   that lets it fill, or does not take a frame within
//!   [`WRITE_STALL_TIMEOUT`], is dropped, not buffered for. A frame is read
//!   into memory only as its bytes arrive, never from its length prefix.
//! - *Block requests*: one at a time per peer: the next request is read
//!   only once the previous answer has been written (a peer whose answer
//!   is still stuck after [`REPLY_WAIT`] is dropped), and answers are paced
//!   by a per-peer and a node-wide byte budget
//!   ([`BLOCK_SERVE_BYTES_PER_SEC`], [`NODE_SERVE_BYTES_PER_SEC`]).
//! - *Slots*: `max_peers` limits inbound strangers only. Configured peers
//!   (`--peer`) are always dialed and always admitted, inbound or outbound,
//!   and never take a stranger's slot; one IP holds at most
//!   [`MAX_INBOUND_PER_IP`] stranger slots. At most [`MAX_PENDING_HANDSHAKES`]
//!   inbound connections wait on a handshake, [`MAX_PENDING_PER_IP`] from
//!   one IP (a new one evicts the oldest, its own IP's first);
//!   a first frame over [`MAX_HELLO_FRAME_BYTES`] is refused.
//! - *Misbehaviour*: protocol violations (garbage, oversized frames, invalid
//!   blocks, votes or proofs, another chain) drop the peer and ban its
//!   address for [`BAN_DURATION`]; a relayed transaction with a bad
//!   signature costs [`BAD_SIGNATURE_POINTS`] of a score that halves every
//!   [`SCORE_HALF_LIFE`], and at [`DROP_SCORE`] the peer is dropped (and
//!   refused until its score fades below half of that); relayed
//!   transactions beyond [`RELAY_TXS_PER_SEC`] are dropped unchecked. A
//!   network failure (reset, timeout) is never a ban: the peer is redialed.

mod budget;
mod connection;
mod dial;
mod registry;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

use crate::chain::{Misbehavior, Outbound, PeerHandler, PeerId};
use budget::TokenBucket;
use bwchain_core::primitives::Hash;
use bwchain_core::protocol::{encode_frame, FrameError, Message};
use registry::{ConfiguredPeer, Frame, Registry};

/// Bytes queued for one peer before it counts as too slow and is dropped:
/// two full block answers and the gossip around them.
pub const PEER_QUEUE_BYTES: usize = 12 * 1024 * 1024;
/// Default cap on inbound peers that are not configured.
pub const DEFAULT_MAX_PEERS: usize = 32;
/// Inbound strangers from one IP address (loopback excepted), so one host
/// cannot take every slot.
pub const MAX_INBOUND_PER_IP: usize = 4;
/// Inbound connections that may be in their handshake at once.
pub const MAX_PENDING_HANDSHAKES: usize = 8;
/// Inbound connections from one IP (loopback excepted) in their handshake.
pub const MAX_PENDING_PER_IP: usize = 2;
/// Largest first frame (a hello is under a hundred bytes).
pub const MAX_HELLO_FRAME_BYTES: usize = 1024;
/// How long a misbehaving peer's address is refused.
pub const BAN_DURATION: Duration = Duration::from_secs(60);
/// A peer that sends nothing (not even its periodic status) for this long
/// is dropped.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Time allowed for the handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// A frame not taken by the peer within this (plus a second per
/// [`MIN_WRITE_BYTES_PER_SEC`] of its size) drops the peer.
pub const WRITE_STALL_TIMEOUT: Duration = Duration::from_secs(15);
pub const MIN_WRITE_BYTES_PER_SEC: f64 = 256.0 * 1024.0;
/// How long a peer's next block request waits for the answer to its
/// previous one to be written before the peer counts as too slow.
pub const REPLY_WAIT: Duration = Duration::from_secs(10);
/// Block answers to one peer: bytes a second, and the burst. Several times
/// what a full chain produces, so a follower catches up; far below what a
/// loopback flood could pull.
pub const BLOCK_SERVE_BYTES_PER_SEC: f64 = 8.0 * 1024.0 * 1024.0;
pub const BLOCK_SERVE_BURST_BYTES: f64 = 16.0 * 1024.0 * 1024.0;
/// Block answers to all peers together.
pub const NODE_SERVE_BYTES_PER_SEC: f64 = 32.0 * 1024.0 * 1024.0;
pub const NODE_SERVE_BURST_BYTES: f64 = 64.0 * 1024.0 * 1024.0;
/// Transactions one peer may relay: a second's worth, and the burst.
/// Beyond it they are dropped before their signatures are checked.
pub const RELAY_TXS_PER_SEC: f64 = 5_000.0;
pub const RELAY_TXS_BURST: f64 = 10_000.0;
/// Misbehaviour score: the cost of one badly signed transaction, where a
/// peer is dropped, and how fast the score fades.
pub const BAD_SIGNATURE_POINTS: f64 = 25.0;
pub const DROP_SCORE: f64 = 100.0;
pub const SCORE_HALF_LIFE: Duration = Duration::from_secs(60);
/// Reconnection backoff to a configured peer: from the first to the last.
pub const BACKOFF_FIRST: Duration = Duration::from_millis(250);
pub const BACKOFF_MAX: Duration = Duration::from_secs(15);
/// An unreachable configured peer is a warning at most this often (a debug
/// line otherwise).
pub const UNREACHABLE_WARN_EVERY: Duration = Duration::from_secs(60);

/// Where to listen and whom to dial.
pub struct NetConfig {
    /// Accept peers here (`None`: dial only).
    pub listener: Option<TcpListener>,
    /// Peers to dial and keep dialing (`host:port`).
    pub peers: Vec<String>,
    /// Most inbound peers that are not configured.
    pub max_peers: usize,
}

/// What bans and scores are keyed by: the IP, except on loopback, where
/// every local process shares one IP and the full address is used instead.
fn ban_key(address: &SocketAddr) -> String {
    if address.ip().is_loopback() {
        address.to_string()
    } else {
        address.ip().to_string()
    }
}

#[derive(Clone)]
struct Network {
    handler: Arc<dyn PeerHandler>,
    registry: Arc<Mutex<Registry>>,
    /// Block answers to all peers.
    serving: Arc<Mutex<TokenBucket>>,
    /// Random per process, to notice a connection to ourselves.
    nonce: u64,
    listen_port: u16,
    max_peers: usize,
}

impl Network {
    fn registry(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.registry
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn serving(&self) -> std::sync::MutexGuard<'_, TokenBucket> {
        self.serving
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// After a connection ended in `reason`: bans the peer's address for a
    /// protocol violation, and only logs anything else.
    fn drop_peer(&self, key: &str, reason: &PeerFault) {
        if reason.is_misbehaviour() {
            tracing::warn!(
                peer = key,
                reason = %reason,
                "dropping and banning peer for {}s",
                BAN_DURATION.as_secs()
            );
            self.registry().ban(key, Instant::now() + BAN_DURATION);
        } else if let PeerFault::Score { .. } = reason {
            tracing::warn!(peer = key, reason = %reason, "dropped peer (not a ban)");
        } else {
            tracing::info!(peer = key, reason = %reason, "connection to peer failed (not a ban)");
        }
    }

    /// Tells the chain service which configured peers are not connected.
    fn report_configured(&self) {
        let unconnected = self.registry().unconnected_configured();
        self.handler.configured_peers_unconnected(unconnected);
    }
}

/// Why a connection ended early.
#[derive(Debug, thiserror::Error)]
pub enum PeerFault {
    #[error("read failed: {0}")]
    Read(std::io::Error),
    #[error(transparent)]
    Frame(#[from] FrameError),
    #[error("no hello within the handshake timeout")]
    HandshakeTimeout,
    #[error("expected hello, got {got}")]
    NotHello { got: &'static str },
    #[error("different genesis: expected {expected}, found {found}")]
    OtherChain { expected: Hash, found: Hash },
    #[error(transparent)]
    Misbehaved(#[from] Misbehavior),
    #[error("misbehaviour score {score:.0} reached {limit:.0} ({last})")]
    Score {
        score: f64,
        limit: f64,
        last: Misbehavior,
    },
}

impl PeerFault {
    /// Whether the fault is a protocol violation, which earns a ban. A
    /// reset connection or a slow handshake is a blip, and the peer is
    /// simply redialed; a score reaching its limit drops the peer without
    /// a ban.
    pub fn is_misbehaviour(&self) -> bool {
        !matches!(
            self,
            PeerFault::Read(_) | PeerFault::HandshakeTimeout | PeerFault::Score { .. }
        )
    }
}

/// Runs the transport until `stop` turns true.
pub async fn run(
    handler: Arc<dyn PeerHandler>,
    mut outbound: mpsc::Receiver<Outbound>,
    config: NetConfig,
    mut stop: watch::Receiver<bool>,
) {
    let listen_port = config
        .listener
        .as_ref()
        .and_then(|listener| listener.local_addr().ok())
        .map_or(0, |address| address.port());
    let mut nonce_bytes = [0u8; 8];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut nonce_bytes);
    let mut registry = Registry::default();
    registry.configured = config
        .peers
        .iter()
        .map(|address| ConfiguredPeer {
            address: address.clone(),
            resolved: Vec::new(),
        })
        .collect();
    let network = Network {
        handler,
        registry: Arc::new(Mutex::new(registry)),
        serving: Arc::new(Mutex::new(TokenBucket::new(
            NODE_SERVE_BYTES_PER_SEC,
            NODE_SERVE_BURST_BYTES,
            Instant::now(),
        ))),
        nonce: u64::from_le_bytes(nonce_bytes),
        listen_port,
        max_peers: config.max_peers,
    };
    network.report_configured();
    let mut tasks = tokio::task::JoinSet::new();
    if let Some(listener) = config.listener {
        tasks.spawn(dial::accept_loop(network.clone(), listener, stop.clone()));
    }
    for (index, address) in config.peers.into_iter().enumerate() {
        tasks.spawn(dial::dial_loop(
            network.clone(),
            index,
            address,
            stop.clone(),
        ));
    }
    loop {
        tokio::select! {
            message = outbound.recv() => match message {
                Some(message) => route(&network, message),
                None => break,
            },
            _ = stop.wait_for(|stopped| *stopped) => break,
        }
    }
    tasks.abort_all();
    for (_, peer) in network.registry().peers.drain() {
        peer.link.close();
    }
}

/// Encodes a message once and queues it for its peers; a peer whose queue
/// is full is dropped. Nothing is encoded when no peer would get it (a
/// lone node gossips every admitted transaction to nobody).
fn route(network: &Network, outbound: Outbound) {
    let (target, except, message) = match outbound {
        Outbound::Send { peer, message } => (Some(peer), None, message),
        Outbound::Broadcast { except, message } => (None, except, message),
    };
    let audience = {
        let registry = network.registry();
        match target {
            Some(peer_id) => registry.peers.contains_key(&peer_id),
            None => registry.peers.keys().any(|id| Some(*id) != except),
        }
    };
    if !audience {
        return;
    }
    let bytes = match encode_frame(&message) {
        Ok(frame) => Arc::new(frame),
        Err(err) => {
            tracing::error!(error = %err, kind = message.kind(), "cannot encode a message for peers");
            return;
        }
    };
    let blocks = matches!(message, Message::Blocks(_));
    let frame = Frame {
        bytes,
        reply: target.is_some()
            && matches!(
                message,
                Message::Blocks(_) | Message::Finality { .. } | Message::Certificate(_)
            ),
        blocks: target.is_some() && blocks,
    };
    let registry = network.registry();
    let mut slow: Vec<PeerId> = Vec::new();
    match target {
        Some(peer_id) => {
            if let Some(peer) = registry.peers.get(&peer_id) {
                if !peer.link.enqueue(frame) {
                    slow.push(peer_id);
                }
            }
        }
        None => {
            for (id, peer) in &registry.peers {
                if Some(*id) != except && !peer.link.enqueue(frame.clone()) {
                    slow.push(*id);
                }
            }
        }
    }
    for id in slow {
        if let Some(peer) = registry.peers.get(&id) {
            tracing::warn!(
                peer = %peer.address,
                queued_bytes = peer.link.queued_bytes(),
                "peer too slow: its queue is full; dropping it"
            );
            peer.link.close();
        }
    }
}
