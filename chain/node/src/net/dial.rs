//! Getting connections: the accept loop, which holds inbound peers to the
//! handshake budget, and one dial loop per configured peer, which keeps
//! (re)dialing it and warns, now and then, while it cannot.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use super::connection::{connection, PendingSlot};
use super::registry::Direction;
use super::{
    ban_key, Network, BACKOFF_FIRST, BACKOFF_MAX, DROP_SCORE, HANDSHAKE_TIMEOUT,
    UNREACHABLE_WARN_EVERY,
};

pub(super) async fn accept_loop(
    network: Network,
    listener: TcpListener,
    mut stop: watch::Receiver<bool>,
) {
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
        let (pending_id, evicted) = {
            let mut registry = network.registry();
            let now = Instant::now();
            if registry.is_banned(&key, now) {
                tracing::debug!(peer = %address, "refused a banned peer");
                continue;
            }
            if registry.score(&key, now) >= DROP_SCORE / 2.0 {
                tracing::debug!(peer = %address, "refused a peer whose misbehaviour score has not faded");
                continue;
            }
            registry.add_pending(address.ip())
        };
        let pending = PendingSlot {
            network: network.clone(),
            id: pending_id,
            evicted,
        };
        let network = network.clone();
        tokio::spawn(async move {
            let inbound = Direction::Inbound;
            let result = connection(
                network.clone(),
                stream,
                address,
                key.clone(),
                inbound,
                None,
                Some(pending),
            )
            .await;
            if let Err(reason) = result {
                network.drop_peer(&key, &reason);
            }
        });
    }
}

/// Keeps a configured peer connected: dials it, and redials with backoff
/// after every end. While it cannot be reached this is a warning once per
/// [`UNREACHABLE_WARN_EVERY`] (with the attempts since), a debug line
/// otherwise.
pub(super) async fn dial_loop(
    network: Network,
    index: usize,
    address: String,
    mut stop: watch::Receiver<bool>,
) {
    let mut backoff = BACKOFF_FIRST;
    let mut failures: u64 = 0;
    let mut last_warning: Option<Instant> = None;
    loop {
        let started = Instant::now();
        if let Ok(resolved) = tokio::net::lookup_host(&address).await {
            let resolved: Vec<SocketAddr> = resolved.collect();
            if let Some(peer) = network.registry().configured.get_mut(index) {
                peer.resolved = resolved;
            }
        }
        let attempt = tokio::time::timeout(HANDSHAKE_TIMEOUT, TcpStream::connect(&address)).await;
        let failure = match attempt {
            Ok(Ok(stream)) => {
                if failures > 0 {
                    tracing::info!(peer = %address, attempts = failures, "reached configured peer");
                }
                failures = 0;
                last_warning = None;
                let remote = stream.peer_addr().ok();
                let key = remote.map_or_else(|| address.clone(), |remote| ban_key(&remote));
                let banned = network.registry().is_banned(&key, Instant::now());
                if !banned {
                    let remote = remote.unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)));
                    let outbound = Direction::Outbound;
                    let result = connection(
                        network.clone(),
                        stream,
                        remote,
                        key.clone(),
                        outbound,
                        Some(index),
                        None,
                    )
                    .await;
                    if let Err(reason) = result {
                        network.drop_peer(&key, &reason);
                    }
                }
                None
            }
            Ok(Err(err)) => Some(err.to_string()),
            Err(_) => Some("connection attempt timed out".to_string()),
        };
        if let Some(error) = failure {
            failures += 1;
            let due = last_warning.is_none_or(|at| at.elapsed() >= UNREACHABLE_WARN_EVERY);
            if due {
                tracing::warn!(
                    peer = %address,
                    error = %error,
                    attempts = failures,
                    "cannot reach configured peer; retrying (next warning in {}s at the earliest)",
                    UNREACHABLE_WARN_EVERY.as_secs()
                );
                last_warning = Some(Instant::now());
            } else {
                tracing::debug!(peer = %address, error = %error, attempts = failures, "cannot reach configured peer");
            }
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
