//! Serving the API on a socket: the accept loop, each connection's limits
//! and the shutdown. The router (`rpc/mod.rs`) decides what a request gets;
//! this file decides who may send one, and for how long.
//!
//! - **Connections**: at most [`ServerConfig::max_connections`] at once, and
//!   never more than the open-file limit allows once
//!   [`RESERVED_DESCRIPTORS`] are kept for peers, storage and the runtime.
//!   At the limit the node stops accepting (new clients wait in the kernel's
//!   backlog) instead of failing every `accept` with "Too many open files".
//! - **Timeouts**: a request head must arrive within
//!   [`ServerConfig::header_timeout`]; the same clock runs while a kept-alive
//!   connection waits for its next request. A connection on which no byte
//!   moves either way for [`ServerConfig::idle_timeout`] (a client that
//!   stops reading its answers) is closed. Bodies have their own deadline
//!   and budget (`limits`).
//! - **Shutdown**: when `shutdown` turns true the listener closes, idle
//!   connections close, requests in progress get
//!   [`ServerConfig::shutdown_grace`] to finish, and whatever is left is
//!   dropped.
//!
//! Serving is hyper's HTTP/1 connection (with hyper-util's tokio glue and
//! graceful shutdown) in our own loop rather than `axum::serve`, which has
//! no timeouts, no connection limit, and waits for every connection at
//! shutdown however long it takes.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;
use tower::ServiceExt;

use super::limits::{self, BodyLimits, SubmitRate};

/// File descriptors kept for everything but API connections: peer sockets
/// (several times [`crate::net::DEFAULT_MAX_PEERS`]), sled's files, the
/// runtime's epoll and signal pipes, standard streams and key files. A
/// node at its API connection limit can still accept peers and write
/// blocks.
pub const RESERVED_DESCRIPTORS: u64 = 256;
/// API connections at once when the open-file limit allows more: each costs
/// a task and read and write buffers, and a node serves far fewer honest
/// clients.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// Time to send a request head, and most time a kept-alive connection may
/// wait idle between requests. Honest clients send their head at once.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Most time a connection may go without a byte read or written, whatever
/// it waits for: longer than any handler takes.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// At shutdown, how long requests in progress may take to finish before
/// their connections are dropped.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// Pause after a failed `accept` that is not one client's fault (out of
/// descriptors or memory): retrying at once would spin and flood the log.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(250);
/// At most one warning per this long about failing `accept`s.
const ACCEPT_WARNING_EVERY: Duration = Duration::from_secs(10);

/// How the API serves its clients; [`Default`] gives the node's defaults.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Most API connections at once (`None`: [`DEFAULT_MAX_CONNECTIONS`]);
    /// always capped by the open-file limit less [`RESERVED_DESCRIPTORS`].
    pub max_connections: Option<usize>,
    /// See [`DEFAULT_HEADER_TIMEOUT`].
    pub header_timeout: Duration,
    /// See [`DEFAULT_IDLE_TIMEOUT`].
    pub idle_timeout: Duration,
    /// Request bodies: their deadline and the budget of bytes in flight.
    pub bodies: BodyLimits,
    /// Per-source limits on `POST /txs` and `POST /txs/batch`.
    pub submissions: SubmitRate,
    /// See [`SHUTDOWN_GRACE`].
    pub shutdown_grace: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            max_connections: None,
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            bodies: BodyLimits::default(),
            submissions: SubmitRate::default(),
            shutdown_grace: SHUTDOWN_GRACE,
        }
    }
}

/// Serves `app` on `listener` until `shutdown` turns true, then shuts down
/// as the module doc says. Each request carries its client's address as
/// `ConnectInfo<SocketAddr>`.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    config: ServerConfig,
    mut shutdown: watch::Receiver<bool>,
) -> io::Result<()> {
    let open_files = open_file_limit();
    let max_connections = connection_limit(config.max_connections, open_files);
    tracing::info!(
        max_connections,
        open_files = ?open_files,
        header_timeout_s = config.header_timeout.as_secs_f64(),
        "serving the HTTP API"
    );
    let app = limits::apply(app, &config.bodies, &config.submissions);
    let slots = Arc::new(Semaphore::new(max_connections));
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(config.header_timeout);
    let graceful = GracefulShutdown::new();
    let mut connections = JoinSet::new();
    let mut accept_errors = AcceptErrors::default();
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.expect("the slots are never closed"),
            _ = shutdown.wait_for(|stopped| *stopped) => break,
        };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.wait_for(|stopped| *stopped) => break,
        };
        while connections.try_join_next().is_some() {}
        let (stream, remote) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                accept_errors.pause_after(error).await;
                continue;
            }
        };
        let app = app.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(remote));
            app.clone().oneshot(request)
        });
        let (stream, progress) = Watched::new(stream);
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        let idle_timeout = config.idle_timeout;
        connections.spawn(async move {
            let _slot = slot;
            tokio::select! {
                result = connection => if let Err(error) = result {
                    tracing::debug!(%remote, %error, "API connection ended with an error");
                },
                () = progress.stalled_for(idle_timeout) => {
                    tracing::debug!(%remote, "API connection idle too long; closed");
                }
            }
        });
    }
    drop(listener);
    let open = connections.len();
    if tokio::time::timeout(config.shutdown_grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            open = connections.len(),
            grace_s = config.shutdown_grace.as_secs_f64(),
            "dropping API connections still open at the end of the shutdown grace"
        );
    } else if open > 0 {
        tracing::debug!(open, "API connections closed");
    }
    connections.shutdown().await;
    Ok(())
}

/// The connection limit: `configured` (or the default), capped so that
/// [`RESERVED_DESCRIPTORS`] of `open_files` stay free (half of them, for a
/// limit too low to keep the whole reserve); at least one.
fn connection_limit(configured: Option<usize>, open_files: Option<u64>) -> usize {
    let wanted = configured.unwrap_or(DEFAULT_MAX_CONNECTIONS).max(1);
    let Some(open_files) = open_files else {
        return wanted;
    };
    let reserve = RESERVED_DESCRIPTORS.min(open_files / 2);
    let affordable = usize::try_from(open_files - reserve).unwrap_or(usize::MAX);
    wanted.min(affordable).max(1)
}

/// The soft limit on open files (`None`: unlimited or unknown).
fn open_file_limit() -> Option<u64> {
    rustix::process::getrlimit(rustix::process::Resource::Nofile).current
}

/// Failed `accept`s: one client's own failure is skipped, anything else
/// (no descriptors, no memory) pauses the loop and is logged now and then.
#[derive(Default)]
struct AcceptErrors {
    last_warning: Option<Instant>,
    since_warning: u64,
}

impl AcceptErrors {
    async fn pause_after(&mut self, error: io::Error) {
        if matches!(
            error.kind(),
            io::ErrorKind::ConnectionAborted
                | io::ErrorKind::ConnectionReset
                | io::ErrorKind::ConnectionRefused
        ) {
            return;
        }
        self.since_warning += 1;
        if self
            .last_warning
            .is_none_or(|at| at.elapsed() >= ACCEPT_WARNING_EVERY)
        {
            tracing::warn!(%error, failures = self.since_warning, "cannot accept API connections; pausing");
            self.last_warning = Some(Instant::now());
            self.since_warning = 0;
        }
        tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
    }
}

/// A connection's socket, noting when a byte last moved either way.
struct Watched {
    stream: TcpStream,
    progress: Arc<Progress>,
}

/// When a connection last moved a byte, in milliseconds since `epoch`.
struct Progress {
    epoch: Instant,
    last_ms: AtomicU64,
}

impl Progress {
    fn touch(&self) {
        let now_ms = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(now_ms, Ordering::Relaxed);
    }

    fn idle_for(&self) -> Duration {
        let last = self.epoch + Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
        last.elapsed()
    }

    /// Completes once no byte has moved for `timeout`.
    async fn stalled_for(&self, timeout: Duration) {
        loop {
            let idle = self.idle_for();
            if idle >= timeout {
                return;
            }
            tokio::time::sleep(timeout - idle).await;
        }
    }
}

impl Watched {
    fn new(stream: TcpStream) -> (Self, Arc<Progress>) {
        let progress = Arc::new(Progress {
            epoch: Instant::now(),
            last_ms: AtomicU64::new(0),
        });
        let watched = Self {
            stream,
            progress: progress.clone(),
        };
        (watched, progress)
    }
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.progress.touch();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.stream).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(written)) if written > 0) {
            self.progress.touch();
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(written)) if written > 0) {
            self.progress.touch();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// The address an API client connected from, as the server records it.
pub fn client_address(extensions: &axum::http::Extensions) -> Option<SocketAddr> {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(address)| *address)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_limit_keeps_descriptors_in_reserve() {
        // (configured, open-file limit, expected)
        let table = [
            (None, None, DEFAULT_MAX_CONNECTIONS),
            (None, Some(1_048_576), DEFAULT_MAX_CONNECTIONS),
            (None, Some(1024), 768),
            (Some(5000), Some(20_000), 5000),
            (Some(5000), Some(1024), 768),
            (Some(10), Some(1024), 10),
            (None, Some(256), 128),
            (None, Some(2), 1),
            (Some(0), None, 1),
        ];
        for (configured, open_files, expected) in table {
            assert_eq!(
                connection_limit(configured, open_files),
                expected,
                "{configured:?} with {open_files:?} open files"
            );
        }
    }
}
