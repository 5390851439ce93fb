//! Finality by FFG votes (FINALITY.md §1, §3 "Real processes") with real
//! node processes on loopback: authorities killed with SIGKILL while they
//! vote, a late follower that proves finality to a light client, a hostile
//! peer sending forged and conflicting votes, and partitions that change
//! before they heal, cut by an in-test TCP proxy on every link.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use bwchain_core::finality::{Checkpoint, SignedVote, Vote};
use bwchain_core::primitives::signing::Keypair;
use bwchain_core::primitives::Hash;
use bwchain_core::protocol::{
    check_frame_length, decode_message, encode_frame, Hello, Message, PROTOCOL_VERSION,
};
use bwchain_node::clock::now_ms;
use common::{check_justification, NodeProcess, TestChain, BLOCK_TIME_MS, WAIT};
use serde_json::Value;

// ---------------------------------------------------------------------------
// Helpers

/// Waits until `condition` holds, polling every 100 ms, at most `limit`.
fn wait_until(what: &str, limit: Duration, mut condition: impl FnMut() -> bool) {
    let start = Instant::now();
    while !condition() {
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting until {what}"
        );
        thread::sleep(Duration::from_millis(100));
    }
}

fn status(node: &NodeProcess) -> Value {
    let (code, status) = node.get("/status");
    assert_eq!(code, 200, "{status}");
    status
}

fn number(value: &Value, field: &str) -> u64 {
    value[field]
        .as_u64()
        .unwrap_or_else(|| panic!("{field} in {value}"))
}

fn text(value: &Value, field: &str) -> String {
    value[field]
        .as_str()
        .unwrap_or_else(|| panic!("{field} in {value}"))
        .to_string()
}

/// Starts authorities `authority-0` .. `authority-{n-1}` on data dirs
/// `n0` .., each dialing the ones started before it.
fn start_authorities(chain: &TestChain, n: usize) -> Vec<NodeProcess> {
    let mut nodes: Vec<NodeProcess> = Vec::new();
    for i in 0..n {
        let peers: Vec<&str> = nodes.iter().map(|node| node.p2p.as_str()).collect();
        nodes.push(chain.start(&format!("n{i}"), Some(&format!("authority-{i}")), &peers));
    }
    nodes
}

fn authorities(chain: &TestChain) -> Vec<[u8; 32]> {
    chain.genesis.authorities.iter().map(|a| a.0).collect()
}

/// The slot of the wall clock (the nodes share this machine's clock).
fn slot_now(chain: &TestChain) -> u64 {
    (now_ms() - chain.genesis.genesis_time_ms) / chain.genesis.block_time_ms
}

/// Sleeps until `phase_ms` into the next slot.
fn sleep_into_next_slot(chain: &TestChain, phase_ms: u64) {
    let genesis = &chain.genesis;
    let now = now_ms();
    let next = genesis.genesis_time_ms + (slot_now(chain) + 1) * genesis.block_time_ms + phase_ms;
    thread::sleep(Duration::from_millis(next.saturating_sub(now)));
}

/// Every finalized `(height, hash)` any node ever reported, to check that no
/// two reports disagree at one height (FINALITY.md §2, safety).
#[derive(Default)]
struct FinalizedLog {
    seen: BTreeMap<u64, (String, String)>,
    samples: usize,
}

impl FinalizedLog {
    fn record(&mut self, who: &str, status: &Value) {
        let height = number(status, "finalized_height");
        let hash = text(status, "finalized_hash");
        assert_eq!(status["safety_fault"], false, "{who}: {status}");
        match self.seen.get(&height) {
            Some((first, by)) => assert_eq!(
                *first, hash,
                "conflicting finality at height {height}: {by} reported {first}, {who} reports {hash}"
            ),
            None => {
                self.seen.insert(height, (hash, who.to_string()));
            }
        }
        self.samples += 1;
    }

    /// Every node's chain holds every block any node ever reported final.
    fn check_chains(&self, nodes: &[&NodeProcess]) {
        for (height, (hash, by)) in &self.seen {
            for (i, node) in nodes.iter().enumerate() {
                assert_eq!(
                    node.hash_at(*height).as_deref(),
                    Some(hash.as_str()),
                    "node {i}'s block {height} is not the one {by} reported final"
                );
            }
        }
    }
}

/// `/evidence` of every node is an empty array.
fn assert_no_evidence(nodes: &[&NodeProcess]) {
    for (i, node) in nodes.iter().enumerate() {
        let (code, evidence) = node.get("/evidence");
        assert_eq!(code, 200);
        assert_eq!(
            evidence,
            Value::Array(Vec::new()),
            "node {i}: no honest authority is in evidence"
        );
        assert_eq!(status(node)["evidence"], 0, "node {i}");
    }
}

/// Waits until every node holds the same block at its lowest finalized
/// height (which is final, so it cannot move any more), and returns it.
fn wait_for_agreement(nodes: &[&NodeProcess]) -> u64 {
    let mut agreed = 0;
    wait_until("all nodes agree on a finalized block", WAIT, || {
        let height = nodes
            .iter()
            .map(|node| node.finalized_height())
            .min()
            .unwrap();
        let hashes: Vec<Option<String>> = nodes.iter().map(|node| node.hash_at(height)).collect();
        agreed = height;
        hashes[0].is_some() && hashes.iter().all(|hash| *hash == hashes[0])
    });
    agreed
}

/// With `BWCHAIN_E2E_KEEP_LOGS=DIR`, copies the chain's node logs to
/// `DIR/TEST/` when dropped (also when the test fails; declare it after the
/// chain and before the nodes, so the nodes are gone by then).
struct KeepLogs<'a>(&'a TestChain, &'static str);

impl Drop for KeepLogs<'_> {
    fn drop(&mut self) {
        let Ok(dir) = std::env::var("BWCHAIN_E2E_KEEP_LOGS") else {
            return;
        };
        let dir = std::path::Path::new(&dir).join(self.1);
        let _ = std::fs::create_dir_all(&dir);
        for entry in std::fs::read_dir(self.0.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            let path = entry.path();
            if path.extension().is_some_and(|ext| ext == "log") {
                let _ = std::fs::copy(&path, dir.join(entry.file_name()));
            }
        }
    }
}

/// splitmix64: a tiny seeded PRNG, so a failing run can be replayed.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }
}

/// `BWCHAIN_E2E_SEED` if set, else fresh from the clock and the process id.
fn seed() -> u64 {
    match std::env::var("BWCHAIN_E2E_SEED") {
        Ok(text) => text.trim().parse().expect("BWCHAIN_E2E_SEED: an integer"),
        Err(_) => {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64;
            SplitMix64(nanos ^ (u64::from(std::process::id()) << 32)).next()
        }
    }
}

// ---------------------------------------------------------------------------
// 1. SIGKILL during voting

/// How long authorities are killed and restarted.
const CHAOS: Duration = Duration::from_secs(45);

/// For 45 s, kills a random authority (now and then two) with SIGKILL at a
/// random point of a slot and restarts it on its data dir. V2 (persist the
/// vote, then send; re-send, never re-sign, after a restart) means no
/// authority ever signs two slashable votes, so `/evidence` stays empty;
/// finality must catch up, no two nodes may ever report different
/// finalized blocks at one height, and a finalized height a node reported
/// must survive its SIGKILL.
#[test]
fn kill_9_authorities_during_voting_never_equivocate() {
    let started = Instant::now();
    let seed = seed();
    eprintln!("kill_9_authorities_during_voting_never_equivocate: seed {seed} (BWCHAIN_E2E_SEED={seed} replays the schedule)");
    let mut rng = SplitMix64(seed);
    let chain = TestChain::with_authorities(4, |_| {});
    let _logs = KeepLogs(&chain, "kill_9_authorities_during_voting_never_equivocate");
    let mut nodes: Vec<Option<NodeProcess>> =
        start_authorities(&chain, 4).into_iter().map(Some).collect();
    wait_until("finality starts everywhere", 2 * WAIT, || {
        nodes
            .iter()
            .flatten()
            .all(|node| node.finalized_height() >= 3)
    });

    let mut log = FinalizedLog::default();
    // The highest finalized height each node reported: durable (FINALITY.md
    // §1.2, "one flushed batch before /status shows it").
    let mut floor = [0u64; 4];
    let mut kills = 0;
    let mut double_kills = 0;
    let chaos_start = Instant::now();
    while chaos_start.elapsed() < CHAOS {
        for (i, node) in nodes.iter().enumerate() {
            let node = node.as_ref().expect("all running between rounds");
            let status = status(node);
            log.record(&format!("node {i}"), &status);
            floor[i] = floor[i].max(number(&status, "finalized_height"));
        }
        let first = rng.below(4) as usize;
        let phase = rng.below(BLOCK_TIME_MS);
        sleep_into_next_slot(&chain, phase);
        nodes[first].take().unwrap().kill9();
        kills += 1;
        let mut down = vec![first];
        if rng.below(6) == 0 {
            // Now and then a second one: finality waits while only two run.
            let second = (first + 1 + rng.below(3) as usize) % 4;
            thread::sleep(Duration::from_millis(rng.below(400)));
            nodes[second].take().unwrap().kill9();
            kills += 1;
            double_kills += 1;
            down.push(second);
        }
        // Back at once (within the slot it voted in) or after a while.
        let pause = if rng.below(3) == 0 {
            0
        } else {
            rng.below(1500)
        };
        thread::sleep(Duration::from_millis(pause));
        for i in down {
            let peers: Vec<String> = nodes.iter().flatten().map(|n| n.p2p.clone()).collect();
            let peers: Vec<&str> = peers.iter().map(String::as_str).collect();
            let node = chain.start(&format!("n{i}"), Some(&format!("authority-{i}")), &peers);
            let status = status(&node);
            assert!(
                number(&status, "finalized_height") >= floor[i],
                "node {i} reported finalized height {} before its SIGKILL, {} after (seed {seed})",
                floor[i],
                status["finalized_height"]
            );
            log.record(&format!("node {i} (restarted)"), &status);
            nodes[i] = Some(node);
        }
        thread::sleep(Duration::from_millis(300 + rng.below(1200)));
    }
    eprintln!(
        "{kills} SIGKILLs ({double_kills} with two down) in {:?}; {} finalized heights sampled {} times",
        chaos_start.elapsed(),
        log.seen.len(),
        log.samples
    );

    let nodes: Vec<NodeProcess> = nodes.into_iter().map(Option::unwrap).collect();
    let all: Vec<&NodeProcess> = nodes.iter().collect();
    let highest_floor = *floor.iter().max().unwrap();
    wait_until(
        "finality catches up with the head on every node",
        2 * WAIT,
        || {
            all.iter().enumerate().all(|(i, node)| {
                let status = status(node);
                log.record(&format!("node {i}"), &status);
                let finalized = number(&status, "finalized_height");
                finalized > highest_floor && number(&status, "height") <= finalized + 4
            })
        },
    );
    let agreed = wait_for_agreement(&all);
    let authorities = authorities(&chain);
    let (code, answer) = all[0].get(&format!("/blocks/{agreed}/justification"));
    assert_eq!(code, 200, "{answer}");
    check_justification(&answer, &chain.genesis_hash.0, &authorities, agreed);
    log.check_chains(&all);
    assert_no_evidence(&all);

    for (i, node) in nodes.into_iter().enumerate() {
        node.stop();
        chain.audit_ok(&format!("n{i}"));
    }
    eprintln!(
        "kill_9_authorities_during_voting_never_equivocate: {:?}",
        started.elapsed()
    );
}

// ---------------------------------------------------------------------------
// 2. A late follower

/// Four authorities finalize past height 10; then a keyless follower syncs
/// from them, reports the same finalized blocks, and serves
/// `/blocks/{h}/justification` answers that a light client trusting only
/// the genesis accepts.
#[test]
fn late_follower_serves_the_same_proof() {
    let started = Instant::now();
    let chain = TestChain::with_authorities(4, |_| {});
    let _logs = KeepLogs(&chain, "late_follower_serves_the_same_proof");
    let nodes = start_authorities(&chain, 4);
    wait_until("height 10 is final everywhere", 2 * WAIT, || {
        nodes.iter().all(|node| node.finalized_height() >= 10)
    });
    let peers: Vec<&str> = nodes.iter().map(|node| node.p2p.as_str()).collect();
    let follower = chain.start("follower", None, &peers);
    wait_until("the follower syncs blocks and finality", 2 * WAIT, || {
        let head = nodes[0].height();
        follower.finalized_height() >= 10 && follower.height() + 2 >= head
    });

    let mut log = FinalizedLog::default();
    for (i, node) in nodes.iter().enumerate() {
        // The follower's finalized block is the authority's, and the other way round.
        let ours = status(&follower);
        log.record("follower", &ours);
        let theirs = status(node);
        log.record(&format!("authority-{i}"), &theirs);
        for (a, a_name, b, b_name) in [
            (&ours, "follower", node, "authority"),
            (&theirs, "authority", &follower, "follower"),
        ] {
            let height = number(a, "finalized_height");
            wait_until(&format!("the {b_name} finalizes {height}"), WAIT, || {
                b.finalized_height() >= height
            });
            assert_eq!(
                b.hash_at(height).as_deref(),
                Some(text(a, "finalized_hash").as_str()),
                "the {a_name}'s finalized block {height} (authority-{i})"
            );
        }
    }
    // Same height, same hash, straight from /status.
    let mut same_height = 0;
    for _ in 0..200 {
        let (ours, theirs) = (status(&follower), status(&nodes[1]));
        if ours["finalized_height"] == theirs["finalized_height"] {
            assert_eq!(ours["finalized_hash"], theirs["finalized_hash"]);
            same_height += 1;
            if same_height >= 3 {
                break;
            }
        }
        thread::sleep(Duration::from_millis(20));
    }
    assert!(
        same_height > 0,
        "the follower and authority-1 never reported one finalized height"
    );

    // The follower's proofs convince a light client, for a block it synced
    // (10) and for its latest finalized block.
    let authorities = authorities(&chain);
    let latest = follower.finalized_height();
    for height in [10, latest] {
        let (code, answer) = follower.get(&format!("/blocks/{height}/justification"));
        assert_eq!(code, 200, "follower, height {height}: {answer}");
        let slot = check_justification(&answer, &chain.genesis_hash.0, &authorities, height);
        assert_eq!(
            Some(text(&answer, "hash")),
            nodes[0].hash_at(height),
            "height {height}"
        );
        let (code, theirs) = nodes[0].get(&format!("/blocks/{height}/justification"));
        assert_eq!(code, 200, "{theirs}");
        check_justification(&theirs, &chain.genesis_hash.0, &authorities, height);
        assert_eq!(answer["hash"], theirs["hash"]);
        assert!(slot <= number(&status(&follower), "finalized_slot"));
    }
    let (code, _) = follower.get(&format!("/blocks/{}/justification", 1_000_000));
    assert_eq!(code, 404);
    let ours = status(&follower);
    assert_eq!(ours["authority"], Value::Null);
    assert_eq!(ours["peers"].as_array().unwrap().len(), 4, "{ours}");
    let mut all: Vec<&NodeProcess> = nodes.iter().collect();
    all.push(&follower);
    assert_no_evidence(&all);

    follower.stop();
    chain.audit_ok("follower");
    for (i, node) in nodes.into_iter().enumerate() {
        node.stop();
        chain.audit_ok(&format!("n{i}"));
    }
    eprintln!(
        "late_follower_serves_the_same_proof: {:?}",
        started.elapsed()
    );
}

// ---------------------------------------------------------------------------
// 3. A hostile peer's votes

/// A peer speaking the wire protocol with raw frames; a thread reads (and
/// decodes) what the node sends, so its queue never fills.
struct RawPeer {
    stream: TcpStream,
    local: SocketAddr,
    received: Arc<Mutex<Vec<&'static str>>>,
    closed: Arc<AtomicBool>,
}

impl RawPeer {
    fn over(stream: TcpStream) -> Self {
        let local = stream.local_addr().unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let closed = Arc::new(AtomicBool::new(false));
        let mut reader = stream.try_clone().unwrap();
        reader.set_read_timeout(Some(4 * WAIT)).unwrap();
        let (kinds, done) = (received.clone(), closed.clone());
        thread::spawn(move || {
            loop {
                let mut length = [0u8; 4];
                if reader.read_exact(&mut length).is_err() {
                    break;
                }
                let Ok(length) = check_frame_length(u32::from_be_bytes(length)) else {
                    break;
                };
                let mut body = vec![0u8; length];
                if reader.read_exact(&mut body).is_err() {
                    break;
                }
                match decode_message(&body) {
                    Ok(message) => kinds.lock().unwrap().push(message.kind()),
                    Err(_) => break,
                }
            }
            done.store(true, Ordering::SeqCst);
        });
        Self {
            stream,
            local,
            received,
            closed,
        }
    }

    fn send(&mut self, message: &Message) -> std::io::Result<()> {
        self.stream.write_all(&encode_frame(message).unwrap())
    }

    fn hello(&mut self, genesis_hash: Hash) {
        self.send(&Message::Hello(Hello {
            version: PROTOCOL_VERSION,
            genesis_hash,
            head_height: 0,
            head_hash: genesis_hash,
            listen_port: 0,
            nonce: seed(),
        }))
        .unwrap();
    }

    fn received(&self) -> Vec<&'static str> {
        self.received.lock().unwrap().clone()
    }

    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// Leaves the orderly way: FIN, then read until the node closes too,
    /// so that no unread data turns the close into a reset.
    fn close(self) {
        let _ = self.stream.shutdown(Shutdown::Write);
        wait_until("the node closes its side", WAIT, || self.is_closed());
    }
}

impl Drop for RawPeer {
    fn drop(&mut self) {
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}

/// Connects from `local` (port 0: any), with SO_REUSEADDR. The node bans
/// loopback peers by their full address, so a ban is seen only from the
/// same port.
fn connect_from(local: SocketAddr, remote: &str) -> std::io::Result<TcpStream> {
    let remote: SocketAddr = remote.parse().unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()?;
    runtime.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4()?;
        socket.set_reuseaddr(true)?;
        socket.bind(local)?;
        let stream = tokio::time::timeout(Duration::from_secs(5), socket.connect(remote))
            .await
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
        let stream = stream.into_std()?;
        stream.set_nonblocking(false)?;
        Ok(stream)
    })
}

/// Connects again from `local`, retrying while the port is still held by
/// the old connection.
fn reconnect_from(local: SocketAddr, node: &NodeProcess) -> TcpStream {
    let start = Instant::now();
    loop {
        match connect_from(local, &node.p2p) {
            Ok(stream) => {
                stream
                    .set_read_timeout(Some(Duration::from_secs(10)))
                    .unwrap();
                return stream;
            }
            Err(err) => {
                assert!(
                    start.elapsed() < WAIT,
                    "cannot reconnect from {local}: {err}"
                );
                thread::sleep(Duration::from_millis(200));
            }
        }
    }
}

/// A reconnection from the banned address is closed before any hello.
fn assert_banned(local: SocketAddr, node: &NodeProcess) {
    let mut stream = reconnect_from(local, node);
    let mut bytes = Vec::new();
    let read = stream.read_to_end(&mut bytes);
    assert!(
        bytes.is_empty(),
        "the banned address {local} got {} bytes (a hello) on reconnecting",
        bytes.len()
    );
    if let Err(err) = read {
        assert!(
            !matches!(
                err.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ),
            "the node kept a banned peer's connection open: {err}"
        );
    }
}

/// A reconnection from an address that is not banned gets the node's hello.
fn assert_not_banned(local: SocketAddr, node: &NodeProcess) {
    let mut stream = reconnect_from(local, node);
    let mut length = [0u8; 4];
    stream
        .read_exact(&mut length)
        .unwrap_or_else(|err| panic!("{local} was refused on reconnecting: {err}"));
    let mut body = vec![0u8; check_frame_length(u32::from_be_bytes(length)).unwrap()];
    stream.read_exact(&mut body).unwrap();
    assert!(matches!(decode_message(&body), Ok(Message::Hello(_))));
}

/// A badly signed vote gets its peer dropped and banned. Two validly
/// signed, conflicting votes by authority-3 (a double vote) are evidence,
/// not misbehaviour: every node lists both, and the peer that sent them
/// stays connected.
#[test]
fn hostile_peer_votes() {
    let started = Instant::now();
    let chain = TestChain::with_authorities(4, |_| {});
    let _logs = KeepLogs(&chain, "hostile_peer_votes");
    // The hostile peer signs with authority-3's key: to authority-3's own
    // node that is another node with its key, so it stops signing (and,
    // told so, keeps running).
    let mut nodes = start_authorities(&chain, 3);
    let peers: Vec<&str> = nodes.iter().map(|node| node.p2p.as_str()).collect();
    let impersonated = start_with_key(&chain, "n3", 3, &peers, &["--on-doppelganger", "stop"]);
    nodes.push(impersonated);
    wait_until("blocks are final everywhere", 2 * WAIT, || {
        nodes.iter().all(|node| node.finalized_height() >= 2)
    });
    let genesis_hash = chain.genesis_hash;
    let genesis = Checkpoint::genesis(genesis_hash);
    let authority_3 = Keypair::dev("authority-3");
    let head = status(&nodes[0]);
    let head_height = number(&head, "height");

    // 1. A forged signature: dropped and banned. The forger binds its port
    // itself (SO_REUSEADDR), so that it can come back from the same address
    // (loopback peers are banned by their full address) without waiting for
    // some unrelated connection's TIME_WAIT on that port to expire.
    let any_port: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let mut forger = RawPeer::over(connect_from(any_port, &nodes[0].p2p).unwrap());
    forger.hello(genesis_hash);
    let vote = Vote {
        source: genesis,
        target: Checkpoint {
            slot: slot_now(&chain).max(number(&head, "head_slot")),
            height: head_height,
            hash: text(&head, "head_hash").parse().unwrap(),
        },
    };
    let mut forged = vote.sign(&genesis_hash, &authority_3);
    forged.signature.0[0] ^= 0x01;
    forger.send(&Message::Vote(forged)).unwrap();
    wait_until("node 0 drops the forger", WAIT, || forger.is_closed());
    assert_eq!(
        forger.received().first(),
        Some(&"hello"),
        "the handshake completed"
    );
    let forger_address = forger.local.to_string();
    wait_until("node 0 logs the ban", WAIT, || {
        let log = nodes[0].log_text();
        let lines: Vec<&str> = log
            .lines()
            .filter(|line| line.contains(&forger_address))
            .collect();
        lines.iter().any(|line| line.contains("bad vote"))
            && lines.iter().any(|line| line.contains("banning peer"))
    });
    let forger_local = forger.local;
    drop(forger);
    assert_banned(forger_local, &nodes[0]);

    // 2. A double vote by authority-3, from another connection. The target
    // slot is two slots ahead: inside the relay window (max_clock_drift_ms
    // = 500 ms = 2 slots), and one authority-3 has not voted in yet, so the
    // first pair every node sees for that slot is exactly these two votes.
    let mut witness = RawPeer::over(connect_from(any_port, &nodes[0].p2p).unwrap());
    witness.hello(genesis_hash);
    wait_until("the witness's handshake", WAIT, || {
        witness.received().contains(&"hello")
    });
    let slot = slot_now(&chain) + 2;
    let conflicting = |byte: u8| -> SignedVote {
        Vote {
            source: genesis,
            target: Checkpoint {
                slot,
                height: head_height + 2,
                hash: Hash([byte; 32]),
            },
        }
        .sign(&genesis_hash, &authority_3)
    };
    let (first, second) = (conflicting(0xa1), conflicting(0xb2));
    witness.send(&Message::Vote(first)).unwrap();
    witness.send(&Message::Vote(second)).unwrap();
    let status_frame = Message::Status {
        head_height: 0,
        head_hash: genesis_hash,
        justified: genesis,
        finalized: genesis,
    };
    witness.send(&status_frame).unwrap();
    let expected = [
        serde_json::to_value(first).unwrap(),
        serde_json::to_value(second).unwrap(),
    ];
    let authority_hex = authority_3.account().to_hex();
    for (i, node) in nodes.iter().enumerate() {
        wait_until(
            &format!("node {i} lists the double vote"),
            Duration::from_secs(10),
            || {
                let (_, evidence) = node.get("/evidence");
                evidence.as_array().unwrap().iter().any(|item| {
                    item["kind"] == "double_vote"
                        && item["authority"] == authority_hex.as_str()
                        && ((item["first"] == expected[0] && item["second"] == expected[1])
                            || (item["first"] == expected[1] && item["second"] == expected[0]))
                })
            },
        );
        let (_, evidence) = node.get("/evidence");
        for item in evidence.as_array().unwrap() {
            assert_eq!(
                item["authority"],
                authority_hex.as_str(),
                "node {i}: {item}"
            );
            assert_ne!(item["kind"], "block", "node {i}: {item}");
        }
        assert!(number(&status(node), "evidence") >= 1);
    }
    wait_until("authority-3's node stops signing", WAIT, || {
        text(&status(&nodes[3]), "signing").starts_with("stopped: ")
    });

    // Not misbehaviour: the witness stays connected and is still heard.
    let before = witness.received().len();
    witness.send(&status_frame).unwrap();
    wait_until("node 0 keeps talking to the witness", WAIT, || {
        witness.received().len() > before + 2
    });
    assert!(!witness.is_closed(), "node 0 dropped the witness");
    let peers = status(&nodes[0])["peers"].clone();
    assert!(
        peers
            .as_array()
            .unwrap()
            .iter()
            .any(|peer| peer["address"] == witness.local.to_string().as_str()),
        "the witness is still a peer of node 0: {peers}"
    );
    let witness_address = witness.local.to_string();
    assert!(
        !nodes[0]
            .log_text()
            .lines()
            .any(|line| line.contains(&witness_address)
                && (line.contains("misbehaved") || line.contains("banning"))),
        "the witness was treated as misbehaving"
    );

    // The chain and its finality go on.
    let finalized = nodes[0].finalized_height();
    wait_until("finality goes on", 2 * WAIT, || {
        nodes
            .iter()
            .all(|node| node.finalized_height() > finalized + 2)
    });
    // It leaves (the orderly way) and comes back from the same address.
    let witness_local = witness.local;
    witness.close();
    assert_not_banned(witness_local, &nodes[0]);
    for (i, node) in nodes.into_iter().enumerate() {
        node.stop();
        chain.audit_ok(&format!("n{i}"));
    }
    eprintln!("hostile_peer_votes: {:?}", started.elapsed());
}

// ---------------------------------------------------------------------------
// 4. Partitions that change before healing

/// A TCP proxy for one directed link: listens on 127.0.0.1:0 and forwards
/// to a node's p2p address (once it has one).
struct Proxy {
    address: String,
    state: Arc<Mutex<ProxyState>>,
    stop: Arc<AtomicBool>,
}

/// What a proxy does with connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Link {
    /// Forward both ways.
    Up,
    /// Cut: close its connections and close every new one at once, the
    /// orderly way (FIN, after reading what the dialer sent).
    Cut,
    /// Abort every new connection with a reset (RST), as a crashed or
    /// restarting process does to a connection with unread data.
    Reset,
}

struct ProxyState {
    target: Option<String>,
    link: Link,
    open: Vec<TcpStream>,
}

impl Proxy {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let state = Arc::new(Mutex::new(ProxyState {
            target: None,
            link: Link::Up,
            open: Vec::new(),
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let (shared, stopped) = (state.clone(), stop.clone());
        thread::spawn(move || {
            while !stopped.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((client, _)) => Self::accepted(client, &shared),
                    Err(_) => thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Self {
            address,
            state,
            stop,
        }
    }

    fn accepted(client: TcpStream, state: &Mutex<ProxyState>) {
        let _ = client.set_nonblocking(false);
        let (link, target) = {
            let state = state.lock().unwrap();
            (state.link, state.target.clone())
        };
        match (link, target) {
            (Link::Up, Some(target)) => Self::forward(client, &target, state),
            (Link::Reset, _) => {
                // Read part of the dialer's hello and drop the rest unread:
                // the kernel answers the close with a reset.
                let _ = client.set_read_timeout(Some(Duration::from_secs(2)));
                let _ = (&client).read_exact(&mut [0u8; 4]);
            }
            (Link::Cut, _) | (Link::Up, None) => {
                thread::spawn(move || close_orderly(client));
            }
        }
    }

    fn forward(client: TcpStream, target: &str, state: &Mutex<ProxyState>) {
        let Ok(upstream) =
            TcpStream::connect_timeout(&target.parse().unwrap(), Duration::from_secs(2))
        else {
            thread::spawn(move || close_orderly(client));
            return;
        };
        for stream in [&client, &upstream] {
            let _ = stream.set_nodelay(true);
        }
        {
            let mut state = state.lock().unwrap();
            if state.link != Link::Up {
                drop(state);
                thread::spawn(move || close_orderly(client));
                return;
            }
            state.open.retain(|stream| stream.peer_addr().is_ok());
            state.open.push(client.try_clone().unwrap());
            state.open.push(upstream.try_clone().unwrap());
        }
        let (client_in, upstream_in) = (client.try_clone().unwrap(), upstream.try_clone().unwrap());
        thread::spawn(move || pump(client_in, upstream));
        thread::spawn(move || pump(upstream_in, client));
    }

    fn set_target(&self, address: &str) {
        self.state.lock().unwrap().target = Some(address.to_string());
    }

    fn set_link(&self, link: Link) {
        let mut state = self.state.lock().unwrap();
        state.link = link;
        if link != Link::Up {
            for stream in state.open.drain(..) {
                let _ = stream.shutdown(Shutdown::Both);
            }
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        self.set_link(Link::Cut);
    }
}

/// Closes a connection the orderly way: FIN first, then read (and discard)
/// until the other side closes too, so that nothing unread is left to turn
/// the close into a reset.
fn close_orderly(stream: TcpStream) {
    let _ = stream.shutdown(Shutdown::Write);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut sink = [0u8; 4096];
    while let Ok(n) = (&stream).read(&mut sink) {
        if n == 0 {
            break;
        }
    }
}

/// Copies bytes one way until either side closes, then closes both.
fn pump(mut from: TcpStream, mut to: TcpStream) {
    let mut buffer = [0u8; 16 * 1024];
    loop {
        match from.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&buffer[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}

/// Four authorities, every link through its own pair of proxies (one per
/// direction). {0,3}|{1,2} for 3 s, then {0,1}|{2,3} for 3 s, then healed
/// (the scenario of FINALITY.md §2 "The known failure, revisited"). Every
/// ~200 ms each node's finalized block is sampled: no two nodes may ever
/// report different blocks at one finalized height, nothing cast after the
/// first cut may be justified or final before the heal (each side holds 2
/// of 4 votes), and after the heal all agree and finality resumes.
#[test]
fn partitions_that_change_before_healing_keep_finality_consistent() {
    let started = Instant::now();
    let chain = TestChain::with_authorities(4, |_| {});
    let _logs = KeepLogs(
        &chain,
        "partitions_that_change_before_healing_keep_finality_consistent",
    );
    let mut proxies: HashMap<(usize, usize), Proxy> = HashMap::new();
    for i in 0..4 {
        for j in 0..4 {
            if i != j {
                proxies.insert((i, j), Proxy::start());
            }
        }
    }
    let mut nodes: Vec<NodeProcess> = Vec::new();
    for i in 0..4 {
        let peers: Vec<&str> = (0..4)
            .filter(|&j| j != i)
            .map(|j| proxies[&(i, j)].address.as_str())
            .collect();
        let node = chain.start(&format!("n{i}"), Some(&format!("authority-{i}")), &peers);
        for j in (0..4).filter(|&j| j != i) {
            proxies[&(j, i)].set_target(&node.p2p);
        }
        nodes.push(node);
    }
    let all: Vec<&NodeProcess> = nodes.iter().collect();
    let mut log = FinalizedLog::default();
    wait_until("all connected and finalizing", 2 * WAIT, || {
        all.iter().enumerate().all(|(i, node)| {
            let status = status(node);
            log.record(&format!("node {i}"), &status);
            number(&status, "finalized_height") >= 8
                && status["peers"].as_array().unwrap().len() == 3
        })
    });

    let mut sample = |log: &mut FinalizedLog| -> Vec<Value> {
        all.iter()
            .enumerate()
            .map(|(i, node)| {
                let status = status(node);
                log.record(&format!("node {i}"), &status);
                status
            })
            .collect()
    };
    let set_links = |cut: &[(usize, usize)]| {
        for (&(i, j), proxy) in &proxies {
            proxy.set_link(if cut.contains(&(i.min(j), i.max(j))) {
                Link::Cut
            } else {
                Link::Up
            });
        }
    };
    let run_for = |log: &mut FinalizedLog,
                   sample: &mut dyn FnMut(&mut FinalizedLog) -> Vec<Value>,
                   duration: Duration,
                   check: &dyn Fn(&[Value])| {
        let start = Instant::now();
        while start.elapsed() < duration {
            check(&sample(log));
            thread::sleep(Duration::from_millis(200));
        }
    };

    // {0,3} | {1,2}
    set_links(&[(0, 1), (0, 2), (1, 3), (2, 3)]);
    let cut_slot = slot_now(&chain);
    let at_cut = sample(&mut log);
    let before: Vec<u64> = at_cut
        .iter()
        .map(|s| number(s, "finalized_height"))
        .collect();
    // Each side holds 2 of 4 votes in every slot from here to the heal:
    // no checkpoint after the cut can be justified, let alone final.
    let nothing_new = |statuses: &[Value]| {
        for (i, status) in statuses.iter().enumerate() {
            for field in ["justified_slot", "finalized_slot"] {
                assert!(
                    number(status, field) <= cut_slot,
                    "node {i}: {field} {} after the partition began at slot {cut_slot}: {status}",
                    status[field]
                );
            }
        }
    };
    run_for(&mut log, &mut sample, Duration::from_secs(3), &nothing_new);
    // {0,1} | {2,3}
    set_links(&[(0, 2), (0, 3), (1, 2), (1, 3)]);
    run_for(&mut log, &mut sample, Duration::from_secs(3), &nothing_new);
    let statuses = sample(&mut log);
    nothing_new(&statuses);
    let pre_heal: Vec<u64> = statuses
        .iter()
        .map(|s| number(s, "finalized_height"))
        .collect();
    eprintln!(
        "finalized heights: {before:?} at the cut (slot {cut_slot}), {pre_heal:?} at the heal"
    );
    // Each side filled its own slots meanwhile (2 of every 4).
    let grown: Vec<u64> = statuses
        .iter()
        .zip(&at_cut)
        .map(|(now, then)| number(now, "height") - number(then, "height"))
        .collect();
    assert!(
        grown.iter().all(|blocks| *blocks >= 4),
        "blocks went on during the partitions: {grown:?} new blocks"
    );

    // Healed.
    set_links(&[]);
    let heal = Instant::now();
    let target = *pre_heal.iter().max().unwrap();
    wait_until("finality resumes on every node", 3 * WAIT, || {
        let statuses = sample(&mut log);
        statuses
            .iter()
            .all(|status| number(status, "finalized_height") > target + 2)
    });
    eprintln!("finality resumed {:?} after the heal", heal.elapsed());
    let agreed = wait_for_agreement(&all);
    assert!(agreed > target);
    let authorities = authorities(&chain);
    for node in &all {
        let (code, answer) = node.get(&format!("/blocks/{agreed}/justification"));
        assert_eq!(code, 200, "{answer}");
        check_justification(&answer, &chain.genesis_hash.0, &authorities, agreed);
    }
    log.check_chains(&all);
    assert_no_evidence(&all);
    eprintln!(
        "{} finalized heights sampled {} times, none in conflict",
        log.seen.len(),
        log.samples
    );
    drop(all);
    for (i, node) in nodes.into_iter().enumerate() {
        node.stop();
        chain.audit_ok(&format!("n{i}"));
    }
    drop(proxies);
    if let Ok(dir) = std::env::var("BWCHAIN_E2E_KEEP_LOGS") {
        std::fs::create_dir_all(&dir).unwrap();
        for i in 0..4 {
            let _ = std::fs::copy(
                chain.path().join(format!("n{i}.log")),
                format!("{dir}/n{i}.log"),
            );
        }
    }
    eprintln!(
        "partitions_that_change_before_healing_keep_finality_consistent: {:?}",
        started.elapsed()
    );
}

// ---------------------------------------------------------------------------
// A transport bug found while writing test 4, now fixed.

/// A configured peer that resets a connection (as a process killed with
/// unread data in its socket does, or a middlebox cutting a link) is back a
/// second later: the dialer reconnects within its backoff. (It used to
/// treat the reset as misbehaviour and ban the address for 60 s.)
#[test]
fn a_peer_that_resets_a_connection_is_not_banned() {
    let chain = TestChain::new();
    let _logs = KeepLogs(&chain, "a_peer_that_resets_a_connection_is_not_banned");
    let authority = chain.start_node("authority");
    let proxy = Proxy::start();
    proxy.set_target(&authority.p2p);
    proxy.set_link(Link::Reset);
    let follower = chain.start("follower", None, &[&proxy.address]);
    wait_until("the follower's connection is reset", WAIT, || {
        follower.log_text().contains("Connection reset by peer")
    });
    // The peer is back.
    proxy.set_link(Link::Up);
    let height = authority.height();
    let back = Instant::now();
    let start = Instant::now();
    while follower.height() < height {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the follower has not reconnected {:?} after its peer came back; its log:\n{}",
            back.elapsed(),
            follower
                .log_text()
                .lines()
                .filter(|line| line.contains("bwchain_node::net"))
                .collect::<Vec<_>>()
                .join("\n")
        );
        thread::sleep(Duration::from_millis(100));
    }
    assert!(
        !follower.log_text().contains("banning peer"),
        "a reset is not misbehaviour"
    );
}

// ---------------------------------------------------------------------------
// The signing guard (issue 10): an authority with peers syncs before it
// signs, and one that sees its own key signing elsewhere stops.

/// Starts `authority-{index}`'s key on data dir `data-NAME` with `extra` flags.
fn start_with_key(
    chain: &TestChain,
    name: &str,
    index: usize,
    peers: &[&str],
    extra: &[&str],
) -> NodeProcess {
    let authority = format!("authority-{index}");
    chain.start_with(
        std::process::Command::new(common::BIN),
        name,
        Some(&authority),
        peers,
        extra,
    )
}

/// A second node started with an authority's key (a copied key, a forgotten
/// old machine) listens before it signs, hears the first one's votes and
/// blocks, and stops: it never equivocates. By default it exits with an
/// error that says what to do; with `--on-doppelganger stop` it keeps
/// serving and says so in `/status`.
#[test]
fn a_second_node_with_the_same_key_stops_before_it_signs() {
    let chain = TestChain::with_authorities(3, |_| {});
    let _logs = KeepLogs(
        &chain,
        "a_second_node_with_the_same_key_stops_before_it_signs",
    );
    let nodes = start_authorities(&chain, 3);
    wait_until("the chain runs", WAIT, || nodes[2].height() >= 3);

    let twin = start_with_key(
        &chain,
        "twin-stop",
        0,
        &[&nodes[1].p2p, &nodes[2].p2p],
        &["--on-doppelganger", "stop"],
    );
    wait_until("the twin reports that it stopped signing", WAIT, || {
        text(&status(&twin), "signing").starts_with("stopped: ")
    });
    assert!(
        twin.log_text().contains("DOPPELGANGER"),
        "{}",
        twin.log_text()
    );

    let mut twin_exit = start_with_key(&chain, "twin-exit", 0, &[&nodes[1].p2p], &[]);
    let exit = twin_exit
        .wait_for_exit(WAIT)
        .expect("the second twin exits on its own");
    assert!(!exit.success(), "a doppelganger exit is an error: {exit}");
    let log = twin_exit.log_text();
    assert!(
        log.contains("another node is signing with this node's authority key")
            && log.contains("stop one of the two"),
        "{log}"
    );
    // Neither twin signed anything: the honest nodes hold no evidence, and
    // the original keeps signing.
    let before = nodes[0].height();
    wait_until("the original authority still produces", WAIT, || {
        nodes[1].height() >= before + 4
    });
    for node in &nodes {
        assert_eq!(number(&status(node), "evidence"), 0, "{}", status(node));
        assert_eq!(text(&status(node), "signing"), "active");
    }
}

/// An authority restarted behind its peers does not sign on its stale head
/// while it cannot reach them (within the bounded wait); once they are back
/// it syncs, then signs on top of their chain.
#[test]
fn a_restarted_authority_syncs_before_it_signs() {
    let chain = TestChain::with_authorities(3, |_| {});
    let _logs = KeepLogs(&chain, "a_restarted_authority_syncs_before_it_signs");
    let mut nodes = start_authorities(&chain, 2);
    let proxies = [Proxy::start(), Proxy::start()];
    for (proxy, node) in proxies.iter().zip(&nodes) {
        proxy.set_target(&node.p2p);
    }
    let peers = [proxies[0].address.as_str(), proxies[1].address.as_str()];
    let lagging = start_with_key(&chain, "n2", 2, &peers, &[]);
    wait_until("all three produce", WAIT, || lagging.height() >= 4);
    lagging.stop();
    let stale = nodes[0].height();
    wait_until("the others move on", WAIT, || {
        nodes[0].height() >= stale + 8
    });

    // Restarted while its peers are unreachable: it waits, signing nothing,
    // for longer than its listening window and several of its slots.
    for proxy in &proxies {
        proxy.set_link(Link::Cut);
    }
    let lagging = start_with_key(&chain, "n2", 2, &peers, &[]);
    let restarted_at = lagging.height();
    thread::sleep(Duration::from_millis(10 * BLOCK_TIME_MS));
    let waiting = status(&lagging);
    assert_eq!(
        number(&waiting, "height"),
        restarted_at,
        "it signed on its stale head: {waiting}"
    );
    assert!(
        text(&waiting, "signing").starts_with("waiting: "),
        "{waiting}"
    );

    // The peers are back: it syncs, then signs on their chain.
    for proxy in &proxies {
        proxy.set_link(Link::Up);
    }
    wait_until("it signs again", WAIT, || {
        text(&status(&lagging), "signing") == "active"
    });
    let caught_up = nodes[0].height();
    wait_until("it produces a block on the shared chain", WAIT, || {
        status(&lagging)["authority_activity"][2]["last_height"]
            .as_u64()
            .is_some_and(|height| height > caught_up)
    });
    nodes.push(lagging);
    for node in &nodes {
        let status = status(node);
        assert_eq!(number(&status, "evidence"), 0, "{status}");
    }
    // Its blocks are on the others' chain.
    let height = nodes[2].height();
    wait_until("the others have its latest block", WAIT, || {
        nodes[0].hash_at(height) == nodes[2].hash_at(height)
    });
}
