//! One connection, from handshake to close: the reader hands the node one
//! message at a time (pacing block requests, limiting relayed
//! transactions, scoring bad signatures); the writer sends the peer's
//! queue, and gives up on a peer that stops reading.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Notify};

use super::budget::TokenBucket;
use super::registry::{Direction, Frame, PeerEntry, PeerLink};
use super::{
    Network, PeerFault, BAD_SIGNATURE_POINTS, DROP_SCORE, HANDSHAKE_TIMEOUT, IDLE_TIMEOUT,
    MAX_HELLO_FRAME_BYTES, MAX_INBOUND_PER_IP, MIN_WRITE_BYTES_PER_SEC, RELAY_TXS_BURST,
    RELAY_TXS_PER_SEC, REPLY_WAIT, WRITE_STALL_TIMEOUT,
};
use crate::chain::{Misbehavior, PeerId};
use crate::clock::now_ms;
use bwchain_core::protocol::{
    decode_message, encode_frame, FrameError, Hello, Message, MAX_FRAME_BYTES, PROTOCOL_VERSION,
};

/// Reads one frame of at most `limit` bytes. The body is read into memory
/// as it arrives, so a length prefix alone allocates nothing.
pub(super) async fn read_frame(
    stream: &mut (impl AsyncRead + Unpin),
    limit: usize,
) -> Result<Option<Message>, PeerFault> {
    let mut length = [0u8; 4];
    match stream.read_exact(&mut length).await {
        Ok(_) => {}
        Err(err) if err.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(err) => return Err(PeerFault::Read(err)),
    }
    let length = u32::from_be_bytes(length) as usize;
    if length > limit {
        return Err(FrameError::TooLarge {
            limit,
            found: length,
        }
        .into());
    }
    let mut body = Vec::with_capacity(length.min(64 * 1024));
    let read = (&mut *stream)
        .take(length as u64)
        .read_to_end(&mut body)
        .await
        .map_err(PeerFault::Read)?;
    if read < length {
        return Err(PeerFault::Read(std::io::ErrorKind::UnexpectedEof.into()));
    }
    Ok(Some(decode_message(&body)?))
}

/// Removes a pending handshake from the budget when the connection leaves
/// its handshake, however it does.
pub(super) struct PendingSlot {
    pub(super) network: Network,
    pub(super) id: u64,
    pub(super) evicted: Arc<Notify>,
}

impl Drop for PendingSlot {
    fn drop(&mut self) {
        self.network.registry().remove_pending(self.id);
    }
}

/// Waits for the peer's hello, or its eviction from the handshake budget.
async fn receive_hello(
    reader: &mut (impl AsyncRead + Unpin),
    pending: Option<&PendingSlot>,
) -> Result<Option<Hello>, PeerFault> {
    let evicted = async {
        match pending {
            Some(slot) => slot.evicted.notified().await,
            None => std::future::pending().await,
        }
    };
    let read = tokio::time::timeout(HANDSHAKE_TIMEOUT, read_frame(reader, MAX_HELLO_FRAME_BYTES));
    tokio::select! {
        read = read => match read {
            Err(_) => Err(PeerFault::HandshakeTimeout),
            Ok(Ok(None)) => Ok(None),
            Ok(Err(reason)) => Err(reason),
            Ok(Ok(Some(Message::Hello(hello)))) => Ok(Some(hello)),
            Ok(Ok(Some(other))) => Err(PeerFault::NotHello { got: other.kind() }),
        },
        _ = evicted => {
            tracing::debug!("handshake evicted: too many connections waiting on one");
            Ok(None)
        }
    }
}

/// One connection, from handshake to close. `Err` says why it ended early
/// (a protocol violation earns a ban); `Ok` is an ordinary end (closed,
/// incompatible, too slow, no slot).
pub(super) async fn connection(
    network: Network,
    stream: TcpStream,
    address: SocketAddr,
    key: String,
    direction: Direction,
    configured: Option<usize>,
    pending: Option<PendingSlot>,
) -> Result<(), PeerFault> {
    let _ = stream.set_nodelay(true);
    let (mut reader, mut writer) = stream.into_split();
    let handler = network.handler.clone();
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
    let theirs = match receive_hello(&mut reader, pending.as_ref()).await? {
        Some(hello) => hello,
        None => return Ok(()),
    };
    drop(pending);
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
    let (link, queue) = PeerLink::new(Instant::now());
    let id = {
        let mut registry = network.registry();
        let configured = match direction {
            Direction::Outbound => configured,
            Direction::Inbound => registry.match_configured(address.ip(), theirs.listen_port),
        };
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
            if let Some(replaced) = registry.peers.remove(&existing_id) {
                replaced.link.close();
            }
        }
        if direction == Direction::Inbound
            && configured.is_none()
            && registry.inbound_strangers() >= network.max_peers
        {
            tracing::debug!(peer = %peer_label, "refused a peer: every inbound slot is taken");
            return Ok(());
        }
        // One host cannot take every slot (loopback is exempt: every local
        // process shares its address).
        if direction == Direction::Inbound
            && configured.is_none()
            && !address.ip().is_loopback()
            && registry.inbound_strangers_from(address.ip()) >= MAX_INBOUND_PER_IP
        {
            tracing::debug!(peer = %peer_label, "refused a peer: its address holds enough inbound slots");
            return Ok(());
        }
        let id = registry.next_peer_id();
        registry.peers.insert(
            id,
            PeerEntry {
                link: link.clone(),
                address: peer_label.clone(),
                ip: address.ip(),
                nonce: theirs.nonce,
                dialer_nonce,
                direction,
                configured,
            },
        );
        id
    };
    network.report_configured();
    tracing::info!(peer = %peer_label, head = theirs.head_height, "peer connected");
    handler.peer_connected(id, peer_label.clone(), theirs.head_height, now_ms());

    let writer_task = tokio::spawn(write_frames(
        network.clone(),
        link.clone(),
        writer,
        queue,
        peer_label.clone(),
    ));
    let result = read_messages(&network, id, &link, &mut reader, &key).await;
    link.close();
    network.registry().peers.remove(&id);
    handler.peer_disconnected(id);
    network.report_configured();
    writer_task.abort();
    match &result {
        Ok(()) => tracing::info!(peer = %peer_label, "peer disconnected"),
        Err(reason) if reason.is_misbehaviour() => {
            tracing::warn!(peer = %peer_label, key = %key, reason = %reason, "peer misbehaved")
        }
        Err(reason) => {
            tracing::info!(peer = %peer_label, reason = %reason, "peer disconnected")
        }
    }
    result
}

/// The reader: one message at a time to the node, until the peer leaves,
/// misbehaves or its link is closed.
async fn read_messages(
    network: &Network,
    id: PeerId,
    link: &Arc<PeerLink>,
    reader: &mut (impl AsyncRead + Unpin),
    key: &str,
) -> Result<(), PeerFault> {
    let mut closed = link.closed();
    let mut relayed = TokenBucket::new(RELAY_TXS_PER_SEC, RELAY_TXS_BURST, Instant::now());
    let mut over_relay_limit: u64 = 0;
    loop {
        let read = tokio::time::timeout(IDLE_TIMEOUT, read_frame(reader, MAX_FRAME_BYTES));
        let message = tokio::select! {
            read = read => match read {
                Err(_) => return Ok(()),
                Ok(Ok(None)) => return Ok(()),
                Ok(Err(reason)) => return Err(reason),
                Ok(Ok(Some(message))) => message,
            },
            _ = closed.wait_for(|closed| *closed) => return Ok(()),
        };
        match &message {
            Message::GetBlocks { .. } | Message::GetAncestors { .. } => {
                if !wait_to_serve(network, link, true).await {
                    return Ok(());
                }
                link.awaiting_blocks.store(true, Ordering::Release);
            }
            Message::GetFinality | Message::GetCertificate { .. }
                if !wait_to_serve(network, link, false).await =>
            {
                return Ok(());
            }
            Message::NewTx(_) if !relayed.try_take(1.0, Instant::now()) => {
                over_relay_limit += 1;
                if over_relay_limit.is_power_of_two() {
                    tracing::debug!(
                        peer = key,
                        dropped = over_relay_limit,
                        "peer relays transactions beyond its limit; dropping them"
                    );
                }
                continue;
            }
            _ => {}
        }
        let handling = network.handler.clone();
        let handled =
            tokio::task::spawn_blocking(move || handling.handle_message(id, message, now_ms()))
                .await;
        match handled {
            Ok(Ok(())) => {}
            Ok(Err(misbehavior @ Misbehavior::BadTxSignature(_))) => {
                let score = network
                    .registry()
                    .add_score(key, BAD_SIGNATURE_POINTS, Instant::now());
                if score >= DROP_SCORE {
                    return Err(PeerFault::Score {
                        score,
                        limit: DROP_SCORE,
                        last: misbehavior,
                    });
                }
            }
            Ok(Err(misbehavior)) => return Err(PeerFault::Misbehaved(misbehavior)),
            Err(join_error) => {
                tracing::error!(error = %join_error, "handling a peer message panicked");
                return Ok(());
            }
        }
        if link.is_closed() {
            return Ok(());
        }
    }
}

/// Before a request is served: waits until the peer's previous block
/// answer has been written (for a block request) and until the peer's and
/// the node's serving budgets are out of debt. `false`: the peer stopped
/// reading or the link closed; drop it.
async fn wait_to_serve(network: &Network, link: &PeerLink, blocks: bool) -> bool {
    if blocks && link.awaiting_blocks.load(Ordering::Acquire) {
        let written = async {
            while link.awaiting_blocks.load(Ordering::Acquire) {
                link.blocks_written.notified().await;
            }
        };
        if tokio::time::timeout(REPLY_WAIT, written).await.is_err() {
            if link.queued_bytes() > 0 {
                tracing::warn!(
                    queued_bytes = link.queued_bytes(),
                    "peer asks for more blocks but does not read the last answer; dropping it"
                );
                return false;
            }
            // The node did not answer (its own queue was full): go on.
            link.awaiting_blocks.store(false, Ordering::Release);
        }
    }
    let mut closed = link.closed();
    loop {
        let now = Instant::now();
        let peer_wait = link
            .serving
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .wait_time(now);
        let wait = peer_wait.max(network.serving().wait_time(now));
        if wait.is_zero() {
            return !link.is_closed();
        }
        tokio::select! {
            _ = tokio::time::sleep(wait.min(Duration::from_secs(1))) => {}
            _ = closed.wait_for(|closed| *closed) => return false,
        }
    }
}

/// The writer: sends the peer's queue in order, charges answers to the
/// serving budgets, and closes the link when the peer stops reading.
async fn write_frames(
    network: Network,
    link: Arc<PeerLink>,
    mut writer: OwnedWriteHalf,
    mut queue: mpsc::UnboundedReceiver<Frame>,
    peer_label: String,
) {
    let mut closed = link.closed();
    loop {
        let frame = tokio::select! {
            frame = queue.recv() => match frame {
                Some(frame) => frame,
                None => break,
            },
            _ = closed.wait_for(|closed| *closed) => break,
        };
        let size = frame.bytes.len();
        let allowed =
            WRITE_STALL_TIMEOUT + Duration::from_secs_f64(size as f64 / MIN_WRITE_BYTES_PER_SEC);
        let written = tokio::time::timeout(allowed, writer.write_all(&frame.bytes)).await;
        link.dequeued(size);
        match written {
            Ok(Ok(())) => {}
            Ok(Err(_)) => break,
            Err(_) => {
                tracing::warn!(peer = %peer_label, bytes = size, "peer stopped reading; dropping it");
                break;
            }
        }
        if frame.reply {
            let now = Instant::now();
            link.serving
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .charge(size as f64, now);
            network.serving().charge(size as f64, now);
        }
        if frame.blocks {
            link.awaiting_blocks.store(false, Ordering::Release);
            link.blocks_written.notify_one();
        }
    }
    link.close();
    let _ = writer.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_length_prefix_alone_allocates_nothing_and_too_long_is_refused() {
        let mut announced = &(32u32 << 20).to_be_bytes()[..];
        let result = read_frame(&mut announced, MAX_HELLO_FRAME_BYTES).await;
        assert!(matches!(
            result,
            Err(PeerFault::Frame(FrameError::TooLarge { found, .. })) if found == 32 << 20
        ));
        // Within the limit but cut short: a read failure, not a ban.
        let mut short = 1000u32.to_be_bytes().to_vec();
        short.extend_from_slice(&[0; 10]);
        let result = read_frame(&mut &short[..], MAX_FRAME_BYTES).await;
        assert!(matches!(result, Err(PeerFault::Read(_))));
        assert!(!result.unwrap_err().is_misbehaviour());
        let frame = encode_frame(&Message::GetFinality).unwrap();
        let message = read_frame(&mut &frame[..], MAX_HELLO_FRAME_BYTES).await;
        assert!(matches!(message, Ok(Some(Message::GetFinality))));
        assert!(matches!(read_frame(&mut &[][..], 10).await, Ok(None)));
    }
}
