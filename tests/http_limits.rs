//! The HTTP API of a real node under abusive clients (issue 10, items 4-6):
//! slow and idle connections, half-sent requests at shutdown, unfinished
//! uploads and submission floods. Each attack is bounded in count and time
//! and sent to loopback only; each test checks that the node stays within
//! its limits and that an honest client is still served.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use bwchain_core::primitives::signing::Keypair;
use common::{one_receipt_claim, TestChain, BIN};

/// The node's default header read timeout (`--rpc-header-timeout`).
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// The node's default body budget (`--rpc-body-budget`).
const BODY_BUDGET_BYTES: u64 = 64 * 1024 * 1024;
/// How long the node may take after SIGTERM with requests still open.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// Slack for a loaded machine on top of each bound.
const SLACK: Duration = Duration::from_secs(15);

fn address(node: &common::NodeProcess) -> String {
    node.url.trim_start_matches("http://").to_string()
}

fn connect(address: &str) -> TcpStream {
    let stream = TcpStream::connect(address).expect("connect");
    stream.set_nodelay(true).unwrap();
    stream
}

/// Whether the server has closed (or answered on) `stream`, without waiting.
fn server_closed(stream: &mut TcpStream) -> bool {
    stream.set_nonblocking(true).unwrap();
    let mut buffer = [0u8; 512];
    let closed = match stream.read(&mut buffer) {
        Ok(_) => true,
        Err(err) => err.kind() != ErrorKind::WouldBlock,
    };
    stream.set_nonblocking(false).unwrap();
    closed
}

/// A GET through a fresh connection: the status and how long it took.
fn timed_get(url: &str, timeout: Duration) -> (Result<u16, String>, Duration) {
    let agent = common::agent(Some(timeout));
    let start = Instant::now();
    let result = agent
        .get(url)
        .call()
        .map(|response| response.status().as_u16())
        .map_err(|err| err.to_string());
    (result, start.elapsed())
}

fn vm_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/PID/status")
}

#[test]
fn slowloris_connections_are_closed_while_others_are_served() {
    const SLOW: usize = 200;
    let chain = TestChain::new();
    let node = chain.start_node("a");
    let address = address(&node);
    let mut slow: Vec<Option<TcpStream>> = (0..SLOW)
        .map(|_| {
            let mut stream = connect(&address);
            stream
                .write_all(b"GET /status HTTP/1.1\r\nHost: x\r\n")
                .unwrap();
            Some(stream)
        })
        .collect();
    let start = Instant::now();
    let mut honest = None;
    let mut last_closed = Duration::ZERO;
    // One header byte per connection every half second: never a full head.
    while slow.iter().any(Option::is_some) && start.elapsed() < HEADER_TIMEOUT + SLACK {
        for entry in slow.iter_mut() {
            let Some(stream) = entry else { continue };
            if server_closed(stream) || stream.write_all(b"x").is_err() {
                *entry = None;
                last_closed = start.elapsed();
            }
        }
        if honest.is_none() && start.elapsed() > Duration::from_secs(1) {
            honest = Some(timed_get(&format!("{}/status", node.url), SLACK));
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let open = slow.iter().filter(|entry| entry.is_some()).count();
    let (answer, took) = honest.expect("an honest request was sent");
    eprintln!(
        "slowloris: {open} of {SLOW} still open after {:?}, last closed at {last_closed:?}; honest GET {answer:?} in {took:?}",
        start.elapsed()
    );
    assert_eq!(answer, Ok(200), "the honest client is served");
    assert!(took < Duration::from_secs(10), "honest GET took {took:?}");
    assert_eq!(open, 0, "slow connections are closed by the header timeout");
}

#[test]
fn idle_connections_beyond_the_limit_leave_api_and_peer_port_serving() {
    // With 256 descriptors the node keeps half for peers and storage and
    // serves at most 128 API connections; 300 idle ones are more than it
    // could open without the limit.
    const OPEN_FILES: u32 = 256;
    const IDLE: usize = 300;
    let chain = TestChain::new();
    let mut limited = Command::new("prlimit");
    limited
        .arg(format!("--nofile={OPEN_FILES}:{OPEN_FILES}"))
        .args(["--", BIN]);
    let node = chain.start_with(limited, "a", Some("alice"), &[], &[]);
    node.wait_for_height(2);
    let target = node.height();
    let address = address(&node);
    let idle: Vec<TcpStream> = (0..IDLE).map(|_| connect(&address)).collect();
    std::thread::sleep(Duration::from_secs(1));

    let start = Instant::now();
    let follower = chain.start("b", None, &[&node.p2p]);
    while follower.height() < target {
        assert!(
            start.elapsed() < SLACK * 2,
            "a follower cannot sync through the peer port; node log:\n{}",
            node.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let synced = start.elapsed();
    let bound = HEADER_TIMEOUT * 3 + SLACK;
    let (answer, took) = timed_get(&format!("{}/status", node.url), bound);
    let log = node.log_text();
    let emfile = log.matches("Too many open files").count();
    eprintln!(
        "idle: {IDLE} idle connections, nofile {OPEN_FILES}; follower synced to {target} in {synced:?}; \
         honest GET {answer:?} in {took:?}; {emfile} 'Too many open files' in the log"
    );
    assert_eq!(answer, Ok(200), "the API serves again within {bound:?}");
    assert_eq!(emfile, 0, "the node never ran out of descriptors");
    drop(idle);
}

#[test]
fn a_client_that_stops_reading_is_dropped_after_the_idle_timeout() {
    const IDLE_TIMEOUT: Duration = Duration::from_secs(3);
    const PIPELINED: usize = 20_000;
    let chain = TestChain::new();
    let node = chain.start_with(
        Command::new(BIN),
        "a",
        Some("alice"),
        &[],
        &["--rpc-idle-timeout", "3"],
    );
    node.wait_for_height(8);
    // Far more answers than the socket buffers hold, never read: the node
    // is stuck writing.
    let mut stream = connect(&address(&node));
    stream
        .set_write_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let requests = "GET /blocks?limit=100 HTTP/1.1\r\nHost: x\r\n\r\n".repeat(PIPELINED);
    let _ = stream.write_all(requests.as_bytes());
    std::thread::sleep(IDLE_TIMEOUT + Duration::from_secs(5));

    // Drain: a closed connection ends; an open one keeps answering, then
    // waits for the next request.
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let start = Instant::now();
    let mut drained = 0usize;
    let mut buffer = vec![0u8; 1 << 16];
    let closed = loop {
        match stream.read(&mut buffer) {
            Ok(0) => break true,
            Ok(n) => drained += n,
            Err(err)
                if err.kind() == ErrorKind::WouldBlock || err.kind() == ErrorKind::TimedOut =>
            {
                break false
            }
            Err(_) => break true,
        }
        if start.elapsed() > SLACK * 2 {
            break false;
        }
    };
    eprintln!(
        "stalled reader: closed {closed} after draining {} KiB of answers in {:?}",
        drained / 1024,
        start.elapsed()
    );
    assert!(
        closed,
        "the node closes a connection whose client stopped reading"
    );
    let (answer, _) = timed_get(&format!("{}/status", node.url), SLACK);
    assert_eq!(answer, Ok(200));
}

#[test]
fn half_sent_requests_do_not_block_sigterm() {
    let chain = TestChain::new();
    let mut node = chain.start_node("a");
    node.wait_for_height(1);
    let address = address(&node);
    let mut half_body = connect(&address);
    half_body
        .write_all(b"POST /txs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"from\":")
        .unwrap();
    let mut half_head = connect(&address);
    half_head.write_all(b"GET /status HTTP/1.1\r\nHo").unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let bound = SHUTDOWN_GRACE + SLACK;
    let exited = node.terminate_within(bound);
    eprintln!("sigterm with half-sent requests: exited {exited:?}");
    let (status, took) =
        exited.unwrap_or_else(|| panic!("the node still runs {bound:?} after SIGTERM"));
    assert!(status.success(), "clean exit: {status}");
    assert!(took < bound);
    drop((half_body, half_head));
}

#[test]
fn unfinished_uploads_stay_within_the_body_budget() {
    const UPLOADS: usize = 32;
    const DECLARED: usize = 8 * 1024 * 1024;
    const SENT: usize = 7 * 1024 * 1024;
    let chain = TestChain::new();
    let node = chain.start_node("a");
    node.wait_for_height(1);
    let address = address(&node);
    let before = vm_rss_kib(node.pid());

    let uploads: Vec<_> = (0..UPLOADS)
        .map(|_| {
            let address = address.clone();
            std::thread::spawn(move || {
                let mut stream = connect(&address);
                stream
                    .set_write_timeout(Some(Duration::from_secs(10)))
                    .unwrap();
                let head = format!(
                    "POST /txs/batch HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {DECLARED}\r\n\r\n["
                );
                let mut sent = 0;
                if stream.write_all(head.as_bytes()).is_ok() {
                    let chunk = vec![b' '; 64 * 1024];
                    while sent < SENT && stream.write_all(&chunk).is_ok() {
                        sent += chunk.len();
                    }
                }
                (stream, sent)
            })
        })
        .collect();
    let held: Vec<(TcpStream, usize)> = uploads.into_iter().map(|t| t.join().unwrap()).collect();
    std::thread::sleep(Duration::from_secs(1));
    let during = vm_rss_kib(node.pid());
    let grown_mib = during.saturating_sub(before) / 1024;
    let sent_mib = held.iter().map(|(_, sent)| sent).sum::<usize>() / (1024 * 1024);

    let (status, _) = timed_get(&format!("{}/status", node.url), SLACK);
    let g = chain.genesis_hash;
    let bob = Keypair::dev("bob");
    let claim = one_receipt_claim(&g, &bob, &Keypair::dev("carol"), 0, 1, 10);
    let submitted = node.post("/txs", &serde_json::to_string(&claim).unwrap());
    eprintln!(
        "uploads: {UPLOADS} unfinished uploads sent {sent_mib} MiB; node RSS {} MiB -> {} MiB (+{grown_mib} MiB); \
         honest GET {status:?}, POST /txs {}",
        before / 1024,
        during / 1024,
        submitted.0
    );
    let allowed_mib = BODY_BUDGET_BYTES / (1024 * 1024) + 48;
    assert!(
        grown_mib <= allowed_mib,
        "RSS grew by {grown_mib} MiB, more than the budget and margin ({allowed_mib} MiB)"
    );
    assert_eq!(status, Ok(200));
    assert_eq!(submitted.0, 202, "honest submission: {:?}", submitted.1);
    drop(held);
}

/// One `POST` of `body`: the status, the `Retry-After` header and the body.
fn post_raw(url: &str, body: &str) -> (u16, Option<String>, String) {
    let agent = common::agent(Some(Duration::from_secs(30)));
    let mut response = agent
        .post(url)
        .header("content-type", "application/json")
        .send(body)
        .unwrap_or_else(|err| panic!("{url}: {err}"));
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|value| value.to_str().unwrap().to_string());
    let text = response.body_mut().read_to_string().unwrap_or_default();
    (response.status().as_u16(), retry_after, text)
}

#[test]
fn a_submission_flood_from_one_source_gets_429_and_reads_still_work() {
    const FLOOD: usize = 60;
    let chain = TestChain::new();
    let limited = chain.start_with(
        Command::new(BIN),
        "a",
        Some("alice"),
        &[],
        &[
            "--rpc-submit-rate",
            "1",
            "--rpc-submit-burst",
            "10",
            "--rpc-limit-loopback",
        ],
    );
    let answers: Vec<_> = (0..FLOOD)
        .map(|i| {
            let path = if i % 2 == 0 { "/txs" } else { "/txs/batch" };
            post_raw(&format!("{}{path}", limited.url), "{}")
        })
        .collect();
    let refused: Vec<_> = answers
        .iter()
        .filter(|(status, ..)| *status == 429)
        .collect();
    let (reads, _) = timed_get(&format!("{}/status", limited.url), SLACK);
    eprintln!(
        "flood: {} of {FLOOD} submissions got 429, e.g. {:?}; GET /status during the flood: {reads:?}",
        refused.len(),
        refused.first()
    );
    assert!(
        answers[..10].iter().all(|(status, ..)| *status != 429),
        "the burst is allowed"
    );
    // At one a second, even a flood slowed to 30 s by a busy machine has
    // at most 40 allowed.
    assert!(refused.len() >= FLOOD / 3, "the flood is limited");
    let (_, retry_after, body) = refused[0];
    let seconds: u64 = retry_after
        .as_deref()
        .expect("Retry-After on a 429")
        .parse()
        .unwrap();
    assert!((1..=60).contains(&seconds));
    let error: serde_json::Value = serde_json::from_str(body).unwrap();
    assert!(
        error["error"]
            .as_str()
            .unwrap()
            .contains("too many submissions"),
        "{body}"
    );
    assert_eq!(reads, Ok(200));

    // By default a loopback client (dev use, scripts, the bench) is not limited.
    let open = chain.start("b", None, &[]);
    let statuses: Vec<u16> = (0..FLOOD)
        .map(|_| post_raw(&format!("{}/txs", open.url), "{}").0)
        .collect();
    assert!(statuses.iter().all(|status| *status != 429), "{statuses:?}");
}
