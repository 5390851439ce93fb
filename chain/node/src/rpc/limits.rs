//! Limits on what clients may send, as middleware around the router:
//!
//! - **Bodies**: every request body must arrive within
//!   [`BodyLimits::timeout`] of its head, and all bodies being received
//!   share a budget of [`BodyLimits::budget_bytes`], taken as bytes arrive
//!   and given back when the answer is sent. A body that would go over the
//!   budget is refused with 503 and `Retry-After`, so unfinished uploads
//!   cannot hold unbounded memory. A quarter of the budget is kept for
//!   bodies that declare at most [`MAX_REQUEST_BYTES`] (single
//!   transactions), so large batches cannot crowd them out.
//! - **Submissions**: `POST /txs` and `POST /txs/batch` are limited per
//!   source (an IPv4 address, an IPv6 /64) by a token bucket
//!   ([`SubmitRate`]); over it, 429 with `Retry-After`. Loopback clients
//!   are not limited unless asked, so dev use, scripts and `bwchain bench`
//!   run unhampered. Behind a reverse proxy every client has the proxy's
//!   address: limit there instead.
//!
//! The body deadline is a whole-body deadline, not an idle timer reset by
//! each chunk (as tower-http's body timeout is), since a client sending a
//! byte a second would never trip the latter. The rate limit is governor's
//! keyed GCRA limiter.

use std::future::Future;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::header::RETRY_AFTER;
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::{BoxError, Router};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use http_body::{Body as _, Frame, SizeHint};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Sleep;

use super::{ApiError, MAX_REQUEST_BYTES};

/// Time from a request's head to the end of its body: an 8 MiB batch
/// needs about 280 KB/s.
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(30);
/// Bytes of request bodies held at once, across all connections: room for
/// six full 8 MiB batches and hundreds of single transactions.
pub const DEFAULT_BODY_BUDGET_BYTES: usize = 64 * 1024 * 1024;
/// Submissions per second one source may sustain.
pub const DEFAULT_SUBMIT_RATE: u32 = 20;
/// Submissions one source may send at once, after being quiet.
pub const DEFAULT_SUBMIT_BURST: u32 = 100;
/// What `Retry-After` says when the body budget is spent: bodies in flight
/// finish or time out within seconds.
const BODY_BUDGET_RETRY_AFTER_S: u64 = 2;
/// Forget idle sources this often (in checks), so the limiter's table does
/// not grow with every address ever seen.
const PRUNE_EVERY_CHECKS: u64 = 4096;
/// The request paths whose POSTs are submissions.
const SUBMISSION_PATHS: [&str; 2] = ["/txs", "/txs/batch"];

/// Limits on request bodies.
#[derive(Debug, Clone)]
pub struct BodyLimits {
    /// See [`DEFAULT_BODY_TIMEOUT`].
    pub timeout: Duration,
    /// See [`DEFAULT_BODY_BUDGET_BYTES`].
    pub budget_bytes: usize,
}

impl Default for BodyLimits {
    fn default() -> Self {
        Self {
            timeout: DEFAULT_BODY_TIMEOUT,
            budget_bytes: DEFAULT_BODY_BUDGET_BYTES,
        }
    }
}

/// Per-source limits on transaction submissions.
#[derive(Debug, Clone)]
pub struct SubmitRate {
    /// Submissions per second (0: no limit).
    pub per_second: u32,
    /// Submissions at once after a quiet spell (at least 1).
    pub burst: u32,
    /// Whether loopback clients are limited too.
    pub limit_loopback: bool,
}

impl Default for SubmitRate {
    fn default() -> Self {
        Self {
            per_second: DEFAULT_SUBMIT_RATE,
            burst: DEFAULT_SUBMIT_BURST,
            limit_loopback: false,
        }
    }
}

/// Why a request body was cut off. The handlers' body reader answers with
/// its [`Self::status`].
#[derive(Debug, thiserror::Error)]
pub enum BodyRefused {
    #[error("the request body did not arrive within {} s", timeout.as_secs())]
    TimedOut { timeout: Duration },
    #[error(
        "the node is receiving too many request bodies at once (budget {budget_bytes} bytes); retry shortly"
    )]
    OverBudget { budget_bytes: usize },
}

impl BodyRefused {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::TimedOut { .. } => StatusCode::REQUEST_TIMEOUT,
            Self::OverBudget { .. } => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The refusal behind a body-reading error, if one is.
    pub fn find<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a Self> {
        let mut cause = Some(error);
        while let Some(error) = cause {
            if let Some(refused) = error.downcast_ref::<Self>() {
                return Some(refused);
            }
            cause = error.source();
        }
        None
    }
}

/// `app` with the body limits and the submission limits around it.
pub(super) fn apply(app: Router, bodies: &BodyLimits, submissions: &SubmitRate) -> Router {
    let app = app.layer(middleware::from_fn_with_state(
        Arc::new(BodyBudget::new(bodies)),
        guard_body,
    ));
    match SubmitLimiter::new(submissions) {
        Some(limiter) => app.layer(middleware::from_fn_with_state(
            Arc::new(limiter),
            limit_submissions,
        )),
        None => app,
    }
}

/// The shared budget for bodies in flight, in two pools (see the module doc).
struct BodyBudget {
    small: Arc<Semaphore>,
    large: Arc<Semaphore>,
    budget_bytes: usize,
    timeout: Duration,
}

impl BodyBudget {
    fn new(limits: &BodyLimits) -> Self {
        let small = limits.budget_bytes / 4;
        let large = limits.budget_bytes - small;
        Self {
            small: Arc::new(Semaphore::new(small.min(Semaphore::MAX_PERMITS))),
            large: Arc::new(Semaphore::new(large.min(Semaphore::MAX_PERMITS))),
            budget_bytes: limits.budget_bytes,
            timeout: limits.timeout,
        }
    }
}

/// The bytes one request's body holds of the budget, given back when the
/// request's answer is sent (or the connection drops).
struct BodyTicket {
    pool: Arc<Semaphore>,
    held: Mutex<Option<OwnedSemaphorePermit>>,
    refused: AtomicBool,
    budget_bytes: usize,
}

impl BodyTicket {
    fn take(&self, bytes: usize) -> Result<(), BodyRefused> {
        let over = BodyRefused::OverBudget {
            budget_bytes: self.budget_bytes,
        };
        let Ok(bytes) = u32::try_from(bytes) else {
            self.refused.store(true, Ordering::Relaxed);
            return Err(over);
        };
        match self.pool.clone().try_acquire_many_owned(bytes) {
            Ok(permit) => {
                let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
                match held.as_mut() {
                    Some(earlier) => earlier.merge(permit),
                    None => *held = Some(permit),
                }
                Ok(())
            }
            Err(_) => {
                self.refused.store(true, Ordering::Relaxed);
                Err(over)
            }
        }
    }
}

async fn guard_body(
    State(budget): State<Arc<BodyBudget>>,
    request: Request,
    next: Next,
) -> Response {
    let hint = request.body().size_hint();
    if hint.exact() == Some(0) {
        return next.run(request).await;
    }
    let small = hint
        .exact()
        .is_some_and(|declared| declared <= MAX_REQUEST_BYTES as u64);
    let ticket = Arc::new(BodyTicket {
        pool: if small {
            budget.small.clone()
        } else {
            budget.large.clone()
        },
        held: Mutex::new(None),
        refused: AtomicBool::new(false),
        budget_bytes: budget.budget_bytes,
    });
    let (parts, body) = request.into_parts();
    let body = GuardedBody {
        inner: body,
        deadline: Box::pin(tokio::time::sleep(budget.timeout)),
        timeout: budget.timeout,
        ticket: ticket.clone(),
    };
    let mut response = next.run(Request::from_parts(parts, Body::new(body))).await;
    if ticket.refused.load(Ordering::Relaxed) {
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(BODY_BUDGET_RETRY_AFTER_S));
    }
    drop(ticket);
    response
}

/// A request body that fails once its deadline passes or the budget is
/// spent.
struct GuardedBody {
    inner: Body,
    deadline: Pin<Box<Sleep>>,
    timeout: Duration,
    ticket: Arc<BodyTicket>,
}

impl http_body::Body for GuardedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        if this.deadline.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Some(Err(BodyRefused::TimedOut {
                timeout: this.timeout,
            }
            .into())));
        }
        let frame = ready!(Pin::new(&mut this.inner).poll_frame(cx));
        if let Some(Ok(frame)) = &frame {
            if let Some(data) = frame.data_ref() {
                if let Err(refused) = this.ticket.take(data.len()) {
                    return Poll::Ready(Some(Err(refused.into())));
                }
            }
        }
        Poll::Ready(frame.map(|frame| frame.map_err(Into::into)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Token buckets for submissions, one per source.
struct SubmitLimiter {
    limiter: DefaultKeyedRateLimiter<IpAddr>,
    clock: DefaultClock,
    rate: SubmitRate,
    checks: AtomicU64,
}

impl SubmitLimiter {
    /// `None` when submissions are not limited.
    fn new(rate: &SubmitRate) -> Option<Self> {
        let per_second = NonZeroU32::new(rate.per_second)?;
        let burst = NonZeroU32::new(rate.burst).unwrap_or(NonZeroU32::MIN);
        Some(Self {
            limiter: DefaultKeyedRateLimiter::hashmap(
                Quota::per_second(per_second).allow_burst(burst),
            ),
            clock: DefaultClock::default(),
            rate: rate.clone(),
            checks: AtomicU64::new(0),
        })
    }

    /// `Err(wait)` when `source` must wait before its next submission.
    fn check(&self, source: IpAddr) -> Result<(), Duration> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % PRUNE_EVERY_CHECKS
            == PRUNE_EVERY_CHECKS - 1
        {
            self.limiter.retain_recent();
        }
        self.limiter
            .check_key(&source)
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }
}

/// The key a client is limited under: its IPv4 address, or its IPv6 /64
/// (one host usually has a whole /64).
fn source_of(address: IpAddr) -> IpAddr {
    match address.to_canonical() {
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(prefix.into())
        }
        v4 => v4,
    }
}

async fn limit_submissions(
    State(limiter): State<Arc<SubmitLimiter>>,
    request: Request,
    next: Next,
) -> Response {
    let is_submission =
        request.method() == Method::POST && SUBMISSION_PATHS.contains(&request.uri().path());
    let client = super::server::client_address(request.extensions());
    let Some(client) = client.filter(|_| is_submission) else {
        return next.run(request).await;
    };
    let ip = client.ip().to_canonical();
    if ip.is_loopback() && !limiter.rate.limit_loopback {
        return next.run(request).await;
    }
    let source = source_of(ip);
    match limiter.check(source) {
        Ok(()) => next.run(request).await,
        Err(wait) => {
            let retry_after_s = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            let retry_after_s = retry_after_s.max(1);
            let mut response = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "too many submissions from {source}: at most {} per second (bursts of {}); retry in {retry_after_s} s",
                    limiter.rate.per_second, limiter.rate.burst
                ),
            )
            .into_response();
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(retry_after_s));
            response
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_are_ipv4_addresses_and_ipv6_prefixes() {
        let table = [
            ("203.0.113.7", "203.0.113.7"),
            ("::ffff:203.0.113.7", "203.0.113.7"),
            ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::"),
            ("2001:db8:1:2:ffff::1", "2001:db8:1:2::"),
        ];
        for (address, source) in table {
            let address: IpAddr = address.parse().unwrap();
            assert_eq!(source_of(address), source.parse::<IpAddr>().unwrap());
        }
    }

    #[test]
    fn a_source_over_its_burst_waits_and_others_do_not() {
        let limiter = SubmitLimiter::new(&SubmitRate {
            per_second: 1,
            burst: 3,
            limit_loopback: true,
        })
        .unwrap();
        let one: IpAddr = "198.51.100.1".parse().unwrap();
        let two: IpAddr = "198.51.100.2".parse().unwrap();
        for _ in 0..3 {
            assert_eq!(limiter.check(one), Ok(()));
        }
        let wait = limiter.check(one).unwrap_err();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(1),
            "{wait:?}"
        );
        assert_eq!(limiter.check(two), Ok(()));
    }

    #[test]
    fn no_rate_means_no_limiter() {
        assert!(SubmitLimiter::new(&SubmitRate {
            per_second: 0,
            burst: 10,
            limit_loopback: true,
        })
        .is_none());
    }

    #[test]
    fn the_body_budget_refuses_what_it_cannot_hold_and_gets_it_back() {
        let budget = BodyBudget::new(&BodyLimits {
            timeout: DEFAULT_BODY_TIMEOUT,
            budget_bytes: 4000,
        });
        let ticket = |pool: &Arc<Semaphore>| BodyTicket {
            pool: pool.clone(),
            held: Mutex::new(None),
            refused: AtomicBool::new(false),
            budget_bytes: 4000,
        };
        let first = ticket(&budget.large);
        assert!(first.take(2000).is_ok());
        assert!(first.take(1000).is_ok());
        let second = ticket(&budget.large);
        assert!(matches!(
            second.take(1),
            Err(BodyRefused::OverBudget { .. })
        ));
        assert!(second.refused.load(Ordering::Relaxed));
        // The small pool is untouched by large bodies.
        assert!(ticket(&budget.small).take(1000).is_ok());
        drop(first);
        assert!(second.take(3000).is_ok());
    }

    /// A server with `bodies` whose one route reads its body as the API's
    /// handlers do; its address and the switch that stops it.
    async fn body_server(bodies: BodyLimits) -> (String, tokio::sync::watch::Sender<bool>) {
        use axum::extract::rejection::BytesRejection;
        use axum::extract::DefaultBodyLimit;

        async fn echo_length(body: Result<Bytes, BytesRejection>) -> Result<String, ApiError> {
            super::super::read_body(body, 8 << 20).map(|bytes| bytes.len().to_string())
        }
        let app = Router::new()
            .route("/echo", axum::routing::post(echo_length))
            .layer(DefaultBodyLimit::max(8 << 20));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let config = super::super::server::ServerConfig {
            bodies,
            ..Default::default()
        };
        tokio::spawn(super::super::server::serve(listener, app, config, stopped));
        (address, stop)
    }

    /// Sends a POST head declaring `declared` bytes and then `sent` bytes.
    async fn start_upload(address: &str, declared: usize, sent: usize) -> tokio::net::TcpStream {
        use tokio::io::AsyncWriteExt;
        let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
        let head = format!("POST /echo HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: {declared}\r\n\r\n");
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(&vec![b'x'; sent]).await.unwrap();
        stream
    }

    /// The answer's head and body, read until the server closes (each
    /// request asks it to) or 10 s pass.
    async fn answer(stream: &mut tokio::net::TcpStream) -> String {
        use tokio::io::AsyncReadExt;
        let mut answer = Vec::new();
        let mut buffer = [0u8; 4096];
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while let Ok(Ok(read)) = tokio::time::timeout_at(deadline, stream.read(&mut buffer)).await {
            if read == 0 {
                break;
            }
            answer.extend_from_slice(&buffer[..read]);
        }
        String::from_utf8_lossy(&answer).into_owned()
    }

    #[tokio::test]
    async fn a_body_slower_than_its_deadline_gets_408() {
        let (address, _stop) = body_server(BodyLimits {
            timeout: Duration::from_millis(500),
            budget_bytes: DEFAULT_BODY_BUDGET_BYTES,
        })
        .await;
        let mut slow = start_upload(&address, 100, 10).await;
        let answer = answer(&mut slow).await;
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        assert!(answer.contains("did not arrive within"), "{answer}");
    }

    #[tokio::test]
    async fn bodies_over_the_budget_get_503_and_small_ones_still_pass() {
        const MIB: usize = 1 << 20;
        // 4 MiB: 3 MiB for large bodies, 1 MiB kept for small ones.
        let (address, _stop) = body_server(BodyLimits {
            timeout: Duration::from_secs(30),
            budget_bytes: 4 * MIB,
        })
        .await;
        let _holding = start_upload(&address, 4 * MIB, 2 * MIB + MIB / 2).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut large = start_upload(&address, MIB, MIB).await;
        let refused = answer(&mut large).await;
        assert!(refused.starts_with("HTTP/1.1 503"), "{refused}");
        assert!(
            refused.to_ascii_lowercase().contains("retry-after: 2"),
            "{refused}"
        );
        assert!(refused.contains("too many request bodies"), "{refused}");
        let mut small = start_upload(&address, 1000, 1000).await;
        let served = answer(&mut small).await;
        assert!(served.starts_with("HTTP/1.1 200"), "{served}");
        assert!(served.ends_with("1000"), "{served}");
    }
}
