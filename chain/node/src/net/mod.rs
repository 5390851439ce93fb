//! The TCP transport: accepts and dials peers, performs the handshake,
//! moves frames between sockets and the node, and drops peers that
//! misbehave or fall behind.
//!
//! Bounds, so a slow or hostile peer cannot exhaust memory: at most
//! `max_peers` connections; each peer's outgoing queue holds at most
//! [`PEER_QUEUE_FRAMES`] frames (a peer that lets it fill is dropped); a
//! frame larger than [`MAX_FRAME_BYTES`](super::protocol::MAX_FRAME_BYTES) is refused from its length prefix,
//! before its body is read; a peer silent for [`IDLE_TIMEOUT`] is dropped.
//! A peer that sends garbage, an oversized frame or an invalid block is
//! dropped and its address banned for [`BAN_DURATION`].

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

use crate::chain::{Misbehavior, Outbound, PeerHandler, PeerId};
use crate::clock::now_ms;
use bwchain_core::primitives::Hash;
use bwchain_core::protocol::{
    check_frame_length, decode_message, encode_frame, FrameError, Hello, Message, PROTOCOL_VERSION,
};

/// Frames queued for one peer before it counts as too slow and is dropped.
pub const PEER_QUEUE_FRAMES: usize = 1024;
/// Default cap on connected peers.
pub const DEFAULT_MAX_PEERS: usize = 32;
/// How long a misbehaving peer's address is refused.
pub const BAN_DURATION: Duration = Duration::from_secs(60);
/// A peer that sends nothing (not even its periodic status) for this long
/// is dropped.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Time allowed for the handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Reconnection backoff to a configured peer: from the first to the last.
pub const BACKOFF_FIRST: Duration = Duration::from_millis(250);
pub const BACKOFF_MAX: Duration = Duration::from_secs(15);

/// Where to listen and whom to dial.
pub struct NetConfig {
    /// Accept peers here (`None`: dial only).
    pub listener: Option<TcpListener>,
    /// Peers to dial and keep dialing (`host:port`).
    pub peers: Vec<String>,
    pub max_peers: usize,
}

type Frame = Arc<Vec<u8>>;

struct PeerHandle {
    sender: mpsc::Sender<Frame>,
    address: String,
    /// The peer's process nonce, to spot a second connection to it.
    nonce: u64,
    /// The nonce of whichever side dialed this connection.
    dialer_nonce: u64,
}

#[derive(Default)]
struct Registry {
    peers: HashMap<PeerId, PeerHandle>,
    bans: HashMap<String, Instant>,
    next_id: PeerId,
}

impl Registry {
    fn is_banned(&mut self, key: &str) -> bool {
        match self.bans.get(key) {
            Some(until) if *until > Instant::now() => true,
            Some(_) => {
                self.bans.remove(key);
                false
            }
            None => false,
        }
    }
}

/// What bans are keyed by: the IP, except on loopback, where every local
/// process shares one IP and the full address is used instead.
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

    /// After a connection ended in `reason`: bans the peer's address for a
    /// protocol violation, and only logs a network failure.
    fn drop_peer(&self, key: &str, reason: &PeerFault) {
        if reason.is_misbehaviour() {
            self.ban(key, reason);
        } else {
            tracing::info!(peer = key, reason = %reason, "connection to peer failed (not a ban)");
        }
    }

    fn ban(&self, key: &str, reason: &PeerFault) {
        tracing::warn!(
            peer = key,
            reason = %reason,
            "dropping and banning peer for {}s",
            BAN_DURATION.as_secs()
        );
        self.registry()
            .bans
            .insert(key.to_string(), Instant::now() + BAN_DURATION);
    }
}

/// Why a peer is dropped and banned.
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
}

impl PeerFault {
    /// Whether the fault is the peer's doing (a protocol violation) rather
    /// than the network's: only that earns a ban. A reset connection or a
    /// slow handshake is a blip, and the peer is simply redialed.
    pub fn is_misbehaviour(&self) -> bool {
        !matches!(self, PeerFault::Read(_) | PeerFault::HandshakeTimeout)
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
    let network = Network {
        handler,
        registry: Arc::new(Mutex::new(Registry::default())),
        nonce: u64::from_le_bytes(nonce_bytes),
        listen_port,
        max_peers: config.max_peers,
    };
    let mut tasks = tokio::task::JoinSet::new();
    if let Some(listener) = config.listener {
        tasks.spawn(accept_loop(network.clone(), listener, stop.clone()));
    }
    for address in config.peers {
        tasks.spawn(dial_loop(network.clone(), address, stop.clone()));
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
    // Dropping the senders closes every connection's writer.
    network.registry().peers.clear();
}

/// Encodes a message once and queues it for its peers; a peer whose queue
/// is full is dropped.
fn route(network: &Network, outbound: Outbound) {
    let (targets, message): (Option<PeerId>, Message) = match outbound {
        Outbound::Send { peer, message } => (Some(peer), message),
        Outbound::Broadcast { except, message } => {
            let frame = match encode_frame(&message) {
                Ok(frame) => Arc::new(frame),
                Err(err) => {
                    tracing::error!(error = %err, "cannot encode a message for peers");
                    return;
                }
            };
            let mut registry = network.registry();
            let mut slow = Vec::new();
            for (id, peer) in &registry.peers {
                if Some(*id) != except && peer.sender.try_send(frame.clone()).is_err() {
                    slow.push(*id);
                }
            }
            for id in slow {
                if let Some(peer) = registry.peers.remove(&id) {
                    tracing::warn!(peer = %peer.address, "peer too slow: its queue is full; dropping it");
                }
            }
            return;
        }
    };
    let Some(peer_id) = targets else { return };
    let frame = match encode_frame(&message) {
        Ok(frame) => Arc::new(frame),
        Err(err) => {
            tracing::error!(error = %err, kind = message.kind(), "cannot encode a message for a peer");
            return;
        }
    };
    let mut registry = network.registry();
    let full = registry
        .peers
        .get(&peer_id)
        .is_some_and(|peer| peer.sender.try_send(frame).is_err());
    if full {
        if let Some(peer) = registry.peers.remove(&peer_id) {
            tracing::warn!(peer = %peer.address, "peer too slow: its queue is full; dropping it");
        }
    }
}

async fn accept_loop(network: Network, listener: TcpListener, mut stop: watch::Receiver<bool>) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.wait_for(|stopped| *stopped) => return,
        };
        let (stream, address) = match accepted {
            Ok(pair) => pair,
            Err(err) => {
                tracing::warn!(error = %err, "accepting a peer failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let key = ban_key(&address);
        {
            let mut registry = network.registry();
            if registry.is_banned(&key) {
                tracing::debug!(peer = %address, "refused a banned peer");
                continue;
            }
            if registry.peers.len() >= network.max_peers {
                tracing::debug!(peer = %address, "refused a peer: at the peer limit");
                continue;
            }
        }
        let network = network.clone();
        tokio::spawn(async move {
            let inbound = Direction::Inbound;
            if let Err(reason) =
                connection(network.clone(), stream, address, key.clone(), inbound).await
            {
                network.drop_peer(&key, &reason);
            }
        });
    }
}

async fn dial_loop(network: Network, address: String, mut stop: watch::Receiver<bool>) {
    let mut backoff = BACKOFF_FIRST;
    loop {
        let started = Instant::now();
        match tokio::time::timeout(HANDSHAKE_TIMEOUT, TcpStream::connect(&address)).await {
            Ok(Ok(stream)) => {
                let remote = stream.peer_addr().ok();
                let key = remote.map_or_else(|| address.clone(), |remote| ban_key(&remote));
                let banned = network.registry().is_banned(&key);
                if !banned {
                    let remote = remote.unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)));
                    let outbound = Direction::Outbound;
                    if let Err(reason) =
                        connection(network.clone(), stream, remote, key.clone(), outbound).await
                    {
                        network.drop_peer(&key, &reason);
                    }
                }
            }
            Ok(Err(err)) => tracing::debug!(peer = %address, error = %err, "cannot connect"),
            Err(_) => tracing::debug!(peer = %address, "connection attempt timed out"),
        }
        // A connection that lasted resets the backoff.
        backoff = if started.elapsed() > BACKOFF_MAX {
            BACKOFF_FIRST
        } else {
            (backoff * 2).min(BACKOFF_MAX)
        };
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = stop.wait_for(|stopped| *stopped) => return,
        }
    }
}

async fn read_frame(
    stream: &mut (impl AsyncReadExt + Unpin),
) -> Result<Option<Message>, PeerFault> {
    let mut length = [0u8; 4];
    match stream.read_exact(&mut length).await {
        Ok(_) => {}
        Err(err) if err.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(err) => return Err(PeerFault::Read(err)),
    }
    let length = check_frame_length(u32::from_be_bytes(length))?;
    let mut body = vec![0u8; length];
    stream
        .read_exact(&mut body)
        .await
        .map_err(PeerFault::Read)?;
    Ok(Some(decode_message(&body)?))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    Inbound,
    Outbound,
}

/// One connection, from handshake to close. `Err` names a misbehaviour that
/// earns a ban; `Ok` is an ordinary end (closed, incompatible, too slow).
async fn connection(
    network: Network,
    stream: TcpStream,
    address: SocketAddr,
    ban_key: String,
    direction: Direction,
) -> Result<(), PeerFault> {
    let _ = stream.set_nodelay(true);
    let (mut reader, mut writer) = stream.into_split();
    let handler = &network.handler;
    let (head_height, head_hash) = handler.head();
    let genesis_hash = handler.genesis_hash();
    let hello = Message::Hello(Hello {
        version: PROTOCOL_VERSION,
        genesis_hash,
        head_height,
        head_hash,
        listen_port: network.listen_port,
        nonce: network.nonce,
    });
    let frame = encode_frame(&hello)?;
    if writer.write_all(&frame).await.is_err() {
        return Ok(());
    }
    let theirs = match tokio::time::timeout(HANDSHAKE_TIMEOUT, read_frame(&mut reader)).await {
        Err(_) => return Err(PeerFault::HandshakeTimeout),
        Ok(Ok(None)) => return Ok(()),
        Ok(Err(reason)) => return Err(reason),
        Ok(Ok(Some(Message::Hello(hello)))) => hello,
        Ok(Ok(Some(other))) => return Err(PeerFault::NotHello { got: other.kind() }),
    };
    if theirs.nonce == network.nonce {
        tracing::debug!(peer = %address, "connected to ourselves; closing");
        return Ok(());
    }
    if theirs.version != PROTOCOL_VERSION {
        tracing::warn!(peer = %address, theirs = theirs.version, ours = PROTOCOL_VERSION, "peer speaks another protocol version; disconnecting");
        return Ok(());
    }
    if theirs.genesis_hash != genesis_hash {
        tracing::warn!(
            peer = %address,
            theirs = %theirs.genesis_hash,
            ours = %genesis_hash,
            "peer is on another chain (different genesis); disconnecting"
        );
        return Err(PeerFault::OtherChain {
            expected: genesis_hash,
            found: theirs.genesis_hash,
        });
    }

    let (sender, mut queue) = mpsc::channel::<Frame>(PEER_QUEUE_FRAMES);
    let peer_label = if theirs.listen_port != 0 && theirs.listen_port != address.port() {
        format!(
            "{}:{} (listens on {})",
            address.ip(),
            address.port(),
            theirs.listen_port
        )
    } else {
        address.to_string()
    };
    let dialer_nonce = match direction {
        Direction::Outbound => network.nonce,
        Direction::Inbound => theirs.nonce,
    };
    let id = {
        let mut registry = network.registry();
        // Two nodes that dial each other end up with two connections; both
        // keep the one dialed by the lower nonce, so both agree which.
        let existing = registry
            .peers
            .iter()
            .find(|(_, peer)| peer.nonce == theirs.nonce)
            .map(|(id, peer)| (*id, peer.dialer_nonce));
        if let Some((existing_id, existing_dialer)) = existing {
            if existing_dialer <= dialer_nonce {
                tracing::debug!(peer = %peer_label, "already connected to this peer; closing the new connection");
                return Ok(());
            }
            registry.peers.remove(&existing_id);
        }
        if registry.peers.len() >= network.max_peers {
            return Ok(());
        }
        registry.next_id += 1;
        let id = registry.next_id;
        registry.peers.insert(
            id,
            PeerHandle {
                sender,
                address: peer_label.clone(),
                nonce: theirs.nonce,
                dialer_nonce,
            },
        );
        id
    };
    tracing::info!(peer = %peer_label, head = theirs.head_height, "peer connected");
    handler.peer_connected(id, peer_label.clone(), theirs.head_height, now_ms());

    let writer_task = tokio::spawn(async move {
        while let Some(frame) = queue.recv().await {
            if writer.write_all(&frame).await.is_err() {
                break;
            }
        }
        let _ = writer.shutdown().await;
    });

    let result = loop {
        let message = match tokio::time::timeout(IDLE_TIMEOUT, read_frame(&mut reader)).await {
            Err(_) => break Ok(()),
            Ok(Ok(None)) => break Ok(()),
            Ok(Err(reason)) => break Err(reason),
            Ok(Ok(Some(message))) => message,
        };
        let handling = handler.clone();
        let handled =
            tokio::task::spawn_blocking(move || handling.handle_message(id, message, now_ms()))
                .await;
        match handled {
            Ok(Ok(())) => {}
            Ok(Err(misbehavior)) => break Err(PeerFault::Misbehaved(misbehavior)),
            Err(join_error) => {
                tracing::error!(error = %join_error, "handling a peer message panicked");
                break Ok(());
            }
        }
        // Dropped by the router (too slow) or by shutdown.
        if !network.registry().peers.contains_key(&id) {
            break Ok(());
        }
    };
    network.registry().peers.remove(&id);
    handler.peer_disconnected(id);
    writer_task.abort();
    match &result {
        Ok(()) => tracing::info!(peer = %peer_label, "peer disconnected"),
        Err(reason) if reason.is_misbehaviour() => {
            tracing::warn!(peer = %peer_label, key = %ban_key, reason = %reason, "peer misbehaved")
        }
        Err(reason) => {
            tracing::info!(peer = %peer_label, reason = %reason, "peer disconnected")
        }
    }
    result
}
