//! Who is connected, who is waiting on a handshake, who is banned or
//! scored down, and each peer's outgoing link (a byte-bounded queue).

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::{mpsc, watch, Notify};

use super::budget::{Score, TokenBucket};
use super::{
    BLOCK_SERVE_BURST_BYTES, BLOCK_SERVE_BYTES_PER_SEC, MAX_PENDING_HANDSHAKES, MAX_PENDING_PER_IP,
    PEER_QUEUE_BYTES, SCORE_HALF_LIFE,
};
use crate::chain::PeerId;

/// One encoded message on its way to a peer.
#[derive(Debug, Clone)]
pub(super) struct Frame {
    pub(super) bytes: Arc<Vec<u8>>,
    /// An answer to a request (blocks, finality), charged to the serving
    /// budgets once written.
    pub(super) reply: bool,
    /// A `Blocks` answer: it ends the peer's outstanding block request.
    pub(super) blocks: bool,
}

/// The outgoing side of one connection, shared by the router (which
/// queues), the writer (which sends) and the reader (which waits for
/// replies to leave before serving the next request).
pub(super) struct PeerLink {
    sender: mpsc::UnboundedSender<Frame>,
    /// Bytes queued or being written.
    queued_bytes: AtomicUsize,
    closed: watch::Sender<bool>,
    /// A block request of this peer is being answered.
    pub(super) awaiting_blocks: AtomicBool,
    pub(super) blocks_written: Notify,
    /// Bytes of replies this peer may still be sent.
    pub(super) serving: Mutex<TokenBucket>,
    pub(super) slow: AtomicBool,
}

impl PeerLink {
    pub(super) fn new(now: Instant) -> (Arc<Self>, mpsc::UnboundedReceiver<Frame>) {
        let (sender, queue) = mpsc::unbounded_channel();
        let (closed, _) = watch::channel(false);
        let link = Arc::new(Self {
            sender,
            queued_bytes: AtomicUsize::new(0),
            closed,
            awaiting_blocks: AtomicBool::new(false),
            blocks_written: Notify::new(),
            serving: Mutex::new(TokenBucket::new(
                BLOCK_SERVE_BYTES_PER_SEC,
                BLOCK_SERVE_BURST_BYTES,
                now,
            )),
            slow: AtomicBool::new(false),
        });
        (link, queue)
    }

    /// Queues a frame unless the queue would exceed [`PEER_QUEUE_BYTES`]
    /// (an empty queue takes any frame, so one large block still goes
    /// through). `false`: the peer reads too slowly and must be dropped.
    pub(super) fn enqueue(&self, frame: Frame) -> bool {
        let size = frame.bytes.len();
        let queued = self.queued_bytes.load(Ordering::Acquire);
        if queued > 0 && queued.saturating_add(size) > PEER_QUEUE_BYTES {
            self.slow.store(true, Ordering::Relaxed);
            return false;
        }
        self.queued_bytes.fetch_add(size, Ordering::AcqRel);
        if self.sender.send(frame).is_err() {
            self.queued_bytes.fetch_sub(size, Ordering::AcqRel);
        }
        true
    }

    /// A frame left the queue (written or abandoned).
    pub(super) fn dequeued(&self, size: usize) {
        self.queued_bytes.fetch_sub(size, Ordering::AcqRel);
    }

    pub(super) fn queued_bytes(&self) -> usize {
        self.queued_bytes.load(Ordering::Acquire)
    }

    pub(super) fn close(&self) {
        self.closed.send_replace(true);
    }

    pub(super) fn closed(&self) -> watch::Receiver<bool> {
        self.closed.subscribe()
    }

    pub(super) fn is_closed(&self) -> bool {
        *self.closed.borrow()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Direction {
    Inbound,
    Outbound,
}

pub(super) struct PeerEntry {
    pub(super) link: Arc<PeerLink>,
    pub(super) address: String,
    pub(super) ip: IpAddr,
    /// The peer's process nonce, to spot a second connection to it.
    pub(super) nonce: u64,
    /// The nonce of whichever side dialed this connection.
    pub(super) dialer_nonce: u64,
    pub(super) direction: Direction,
    /// Which configured peer (`--peer`) this is, if any.
    pub(super) configured: Option<usize>,
}

/// A configured peer (`--peer`) and the addresses its name resolved to.
pub(super) struct ConfiguredPeer {
    pub(super) address: String,
    pub(super) resolved: Vec<SocketAddr>,
}

#[derive(Default)]
pub(super) struct Registry {
    pub(super) peers: HashMap<PeerId, PeerEntry>,
    pub(super) configured: Vec<ConfiguredPeer>,
    bans: HashMap<String, Instant>,
    scores: HashMap<String, Score>,
    /// Inbound connections still in their handshake, oldest first; the
    /// notify tells one it was evicted.
    pending: BTreeMap<u64, (IpAddr, Arc<Notify>)>,
    next_pending: u64,
    next_id: PeerId,
}

impl Registry {
    pub(super) fn is_banned(&mut self, key: &str, now: Instant) -> bool {
        match self.bans.get(key) {
            Some(until) if *until > now => true,
            Some(_) => {
                self.bans.remove(key);
                false
            }
            None => false,
        }
    }

    pub(super) fn ban(&mut self, key: &str, until: Instant) {
        self.bans.insert(key.to_string(), until);
    }

    /// The misbehaviour score of `key` at `now`.
    pub(super) fn score(&mut self, key: &str, now: Instant) -> f64 {
        let value = self
            .scores
            .get(key)
            .map_or(0.0, |score| score.value(now, SCORE_HALF_LIFE));
        if value < 1.0 {
            self.scores.remove(key);
        }
        value
    }

    pub(super) fn add_score(&mut self, key: &str, points: f64, now: Instant) -> f64 {
        self.scores
            .entry(key.to_string())
            .or_insert_with(|| Score::new(now))
            .add(points, now, SCORE_HALF_LIFE)
    }

    /// Registers a connection from `ip` entering its handshake. When `ip`
    /// already has [`MAX_PENDING_PER_IP`] waiting (loopback excepted), its
    /// own oldest is told to give up; when [`MAX_PENDING_HANDSHAKES`] are
    /// waiting, the oldest of all is. A slow or silent peer cannot hold the
    /// handshake slots, and one host flooding them only evicts itself.
    pub(super) fn add_pending(&mut self, ip: IpAddr) -> (u64, Arc<Notify>) {
        let from_ip: Vec<u64> = self
            .pending
            .iter()
            .filter(|(_, (pending_ip, _))| *pending_ip == ip)
            .map(|(id, _)| *id)
            .collect();
        if !ip.is_loopback() && from_ip.len() >= MAX_PENDING_PER_IP {
            if let Some((_, evicted)) = self.pending.remove(&from_ip[0]) {
                evicted.notify_one();
            }
        }
        while self.pending.len() >= MAX_PENDING_HANDSHAKES {
            if let Some((_, (_, evicted))) = self.pending.pop_first() {
                evicted.notify_one();
            }
        }
        self.next_pending += 1;
        let notify = Arc::new(Notify::new());
        self.pending.insert(self.next_pending, (ip, notify.clone()));
        (self.next_pending, notify)
    }

    pub(super) fn remove_pending(&mut self, id: u64) {
        self.pending.remove(&id);
    }

    #[cfg(test)]
    pub(super) fn pending_count(&self) -> usize {
        self.pending.len()
    }

    pub(super) fn next_peer_id(&mut self) -> PeerId {
        self.next_id += 1;
        self.next_id
    }

    /// Inbound peers that are not configured: what `max_peers` limits.
    pub(super) fn inbound_strangers(&self) -> usize {
        self.peers
            .values()
            .filter(|peer| peer.direction == Direction::Inbound && peer.configured.is_none())
            .count()
    }

    /// Inbound strangers from `ip`.
    pub(super) fn inbound_strangers_from(&self, ip: IpAddr) -> usize {
        self.peers
            .values()
            .filter(|peer| {
                peer.direction == Direction::Inbound && peer.configured.is_none() && peer.ip == ip
            })
            .count()
    }

    /// The configured peer an inbound connection from `ip` is, judging by
    /// the port its hello says it listens on.
    pub(super) fn match_configured(&self, ip: IpAddr, listen_port: u16) -> Option<usize> {
        if listen_port == 0 {
            return None;
        }
        self.configured.iter().position(|peer| {
            peer.resolved
                .iter()
                .any(|address| address.ip() == ip && address.port() == listen_port)
        })
    }

    /// Configured peers with no connection, in the order given.
    pub(super) fn unconnected_configured(&self) -> Vec<String> {
        self.configured
            .iter()
            .enumerate()
            .filter(|(index, _)| {
                !self
                    .peers
                    .values()
                    .any(|peer| peer.configured == Some(*index))
            })
            .map(|(_, peer)| peer.address.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(direction: Direction, configured: Option<usize>) -> PeerEntry {
        let (link, _) = PeerLink::new(Instant::now());
        PeerEntry {
            link,
            address: String::new(),
            ip: "10.0.0.9".parse().unwrap(),
            nonce: 0,
            dialer_nonce: 0,
            direction,
            configured,
        }
    }

    #[tokio::test]
    async fn the_oldest_handshake_is_evicted_when_the_budget_is_full() {
        let mut registry = Registry::default();
        let loopback: IpAddr = "127.0.0.1".parse().unwrap();
        let first = registry.add_pending(loopback);
        for _ in 1..MAX_PENDING_HANDSHAKES {
            registry.add_pending(loopback);
        }
        assert_eq!(registry.pending_count(), MAX_PENDING_HANDSHAKES);
        registry.add_pending(loopback);
        assert_eq!(registry.pending_count(), MAX_PENDING_HANDSHAKES);
        assert!(!registry.pending.contains_key(&first.0));
        // The evicted connection is told so.
        let told = tokio::time::timeout(std::time::Duration::from_secs(1), first.1.notified());
        assert!(told.await.is_ok());
    }

    #[test]
    fn one_host_flooding_handshakes_evicts_only_its_own() {
        let mut registry = Registry::default();
        let honest: IpAddr = "10.0.0.1".parse().unwrap();
        let flooder: IpAddr = "10.0.0.2".parse().unwrap();
        let (kept, _) = registry.add_pending(honest);
        for _ in 0..100 {
            registry.add_pending(flooder);
        }
        assert!(registry.pending.contains_key(&kept));
        assert_eq!(registry.pending_count(), 1 + MAX_PENDING_PER_IP);
    }

    #[test]
    fn configured_peers_are_matched_by_ip_and_listen_port_and_not_counted_as_strangers() {
        let mut registry = Registry::default();
        registry.configured.push(ConfiguredPeer {
            address: "node-b:9700".into(),
            resolved: vec!["10.0.0.2:9700".parse().unwrap()],
        });
        let ip: IpAddr = "10.0.0.2".parse().unwrap();
        assert_eq!(registry.match_configured(ip, 9700), Some(0));
        assert_eq!(registry.match_configured(ip, 9701), None);
        assert_eq!(registry.match_configured(ip, 0), None);
        assert_eq!(
            registry.match_configured("10.0.0.3".parse().unwrap(), 9700),
            None
        );
        assert_eq!(registry.unconnected_configured(), vec!["node-b:9700"]);
        registry.peers.insert(1, entry(Direction::Inbound, None));
        registry.peers.insert(2, entry(Direction::Inbound, Some(0)));
        registry.peers.insert(3, entry(Direction::Outbound, None));
        assert_eq!(registry.inbound_strangers(), 1);
        assert_eq!(
            registry.inbound_strangers_from("10.0.0.9".parse().unwrap()),
            1
        );
        assert_eq!(registry.inbound_strangers_from(ip), 0);
        assert!(registry.unconnected_configured().is_empty());
    }

    #[test]
    fn a_queue_refuses_bytes_past_its_bound_but_takes_one_large_frame_when_empty() {
        let (link, _queue) = PeerLink::new(Instant::now());
        let frame = |size: usize| Frame {
            bytes: Arc::new(vec![0; size]),
            reply: false,
            blocks: false,
        };
        assert!(link.enqueue(frame(PEER_QUEUE_BYTES * 2)));
        assert!(!link.enqueue(frame(1)));
        link.dequeued(PEER_QUEUE_BYTES * 2);
        assert!(link.enqueue(frame(PEER_QUEUE_BYTES / 2)));
        assert!(link.enqueue(frame(PEER_QUEUE_BYTES / 2)));
        assert!(!link.enqueue(frame(1)));
        assert_eq!(link.queued_bytes(), PEER_QUEUE_BYTES);
    }

    #[test]
    fn scores_add_up_and_fade() {
        let mut registry = Registry::default();
        let now = Instant::now();
        assert_eq!(registry.add_score("a", 40.0, now), 40.0);
        assert_eq!(registry.add_score("a", 40.0, now), 80.0);
        assert_eq!(registry.score("b", now), 0.0);
        let much_later = now + SCORE_HALF_LIFE * 20;
        assert!(registry.score("a", much_later) < 1.0);
        assert!(!registry.scores.contains_key("a"));
    }
}
