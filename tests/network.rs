//! Real node processes on loopback: four authorities that lose one and then
//! two members and get them back, a late follower that syncs everything,
//! a node on another chain refused at the handshake, and a hostile peer.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{check_justification, NodeProcess, TestChain, WAIT};
use serde_json::Value;

/// Waits until `condition` holds, polling.
fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let start = Instant::now();
    while !condition() {
        assert!(start.elapsed() < WAIT * 2, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// All nodes hold the same block at `height`.
fn agree_at(nodes: &[&NodeProcess], height: u64) -> bool {
    let hashes: Vec<Option<String>> = nodes.iter().map(|node| node.hash_at(height)).collect();
    hashes[0].is_some() && hashes.iter().all(|hash| *hash == hashes[0])
}

fn start_four(chain: &TestChain) -> Vec<NodeProcess> {
    let mut nodes: Vec<NodeProcess> = Vec::new();
    for i in 0..4 {
        let peers: Vec<&str> = nodes.iter().map(|node| node.p2p.as_str()).collect();
        let node = chain.start(&format!("n{i}"), Some(&format!("authority-{i}")), &peers);
        nodes.push(node);
    }
    nodes
}

#[test]
fn four_authorities_lose_one_then_two_and_recover() {
    let chain = TestChain::with_authorities(4, |_| {});
    let mut nodes = start_four(&chain);
    let all: Vec<&NodeProcess> = nodes.iter().collect();
    wait_until("every node is at height 8", || {
        all.iter().all(|n| n.height() >= 8)
    });
    wait_until("all agree on block 6", || agree_at(&all, 6));
    wait_until("block 5 is final everywhere", || {
        all.iter().all(|n| n.finalized_height() >= 5)
    });
    // Every authority took its turn.
    let (_, status) = nodes[0].get("/status");
    for entry in status["authority_activity"].as_array().unwrap() {
        assert!(!entry["last_height"].is_null(), "{entry}");
    }
    assert!(
        status["justified_height"].as_u64().unwrap()
            >= status["finalized_height"].as_u64().unwrap()
    );
    assert_eq!(status["safety_fault"], false);
    // Every node proves its finality to a client that trusts only genesis.
    let authorities: Vec<[u8; 32]> = chain.genesis.authorities.iter().map(|a| a.0).collect();
    for node in &all {
        let (code, answer) = node.get("/blocks/5/justification");
        assert_eq!(code, 200, "{answer}");
        check_justification(&answer, &chain.genesis_hash.0, &authorities, 5);
    }
    let (code, _) = nodes[0].get(&format!("/blocks/{}/justification", 1_000_000));
    assert_eq!(code, 404, "a block that is not final has no justification");
    // The CLI checks the proof itself, trusting only the genesis file.
    let genesis = chain.genesis_file();
    let proved = nodes[1].cli_ok(&[
        "block",
        "5",
        "--proof",
        "--genesis",
        genesis.to_str().unwrap(),
    ]);
    assert!(
        proved.contains("block 5 (") && proved.contains("is final"),
        "{proved}"
    );
    let refused = nodes[1].cli(&["block", "5", "--proof"]);
    assert!(
        !refused.status.success(),
        "another genesis must not accept the proof"
    );
    assert!(
        common::stderr(&refused).contains("proof refused"),
        "{}",
        common::stderr(&refused)
    );
    // A transfer followed until its block is final.
    let final_transfer = nodes[0].cli_ok(&[
        "transfer",
        "--key",
        "dev:bob",
        "--to",
        "dev:carol",
        "--amount",
        "5",
        "--final",
    ]);
    assert!(final_transfer.contains(", final"), "{final_transfer}");

    // One down: blocks and finality go on.
    nodes.pop().unwrap().kill9();
    let finalized = nodes[0].finalized_height();
    wait_until("finality advances with three authorities", || {
        nodes[0].finalized_height() >= finalized + 3
    });

    // Two down: blocks go on, finality waits.
    nodes.pop().unwrap().kill9();
    let height = nodes[0].height();
    wait_until("blocks go on with two authorities", || {
        nodes[0].height() >= height + 4
    });
    let stalled = nodes[0].finalized_height();
    let height = nodes[0].height();
    wait_until("four more blocks", || nodes[0].height() >= height + 4);
    assert_eq!(
        nodes[0].finalized_height(),
        stalled,
        "finality went on with 2 of 4"
    );
    assert_eq!(nodes[1].finalized_height(), stalled);

    // Both come back on their data dirs: they catch up and finality resumes.
    let peers = [nodes[0].p2p.clone(), nodes[1].p2p.clone()];
    let peers: Vec<&str> = peers.iter().map(String::as_str).collect();
    nodes.push(chain.start("n2", Some("authority-2"), &peers));
    nodes.push(chain.start("n3", Some("authority-3"), &peers));
    let all: Vec<&NodeProcess> = nodes.iter().collect();
    wait_until("finality resumes", || {
        all.iter().all(|n| n.finalized_height() > stalled + 2)
    });
    let height = nodes[0].height();
    wait_until("all agree again", || agree_at(&all, height));
    let finalized = nodes[2].finalized_height();
    let (code, answer) = nodes[2].get(&format!("/blocks/{finalized}/justification"));
    assert_eq!(code, 200, "{answer}");
    check_justification(&answer, &chain.genesis_hash.0, &authorities, finalized);
    for node in &all {
        let (_, evidence) = node.get("/evidence");
        assert_eq!(
            evidence,
            Value::Array(Vec::new()),
            "no honest authority is in evidence"
        );
    }

    for (i, node) in nodes.into_iter().enumerate() {
        node.stop();
        chain.audit_ok(&format!("n{i}"));
    }
}

#[test]
fn late_follower_syncs_the_whole_chain() {
    let chain = TestChain::with(|genesis| genesis.block_time_ms = 100);
    let authority = chain.start_node("authority");
    authority.wait_for_height(40);
    let follower = chain.start("follower", None, &[&authority.p2p]);
    let target = authority.height();
    follower.wait_for_height(target);
    for height in [1, target / 2, target] {
        assert_eq!(
            follower.hash_at(height),
            authority.hash_at(height),
            "height {height}"
        );
    }
    // It serves the same API and keeps following.
    let (_, block) = follower.get(&format!("/blocks/{target}"));
    let (_, original) = authority.get(&format!("/blocks/{target}"));
    assert_eq!(block, original);
    follower.wait_for_height(target + 5);
    let (_, status) = follower.get("/status");
    assert_eq!(status["authority"], serde_json::Value::Null);
    assert_eq!(status["peers"].as_array().unwrap().len(), 1);

    follower.stop();
    authority.stop();
    chain.audit_ok("follower");
}

#[test]
fn another_chain_is_refused_at_the_handshake() {
    let ours = TestChain::new();
    let theirs = TestChain::with(|genesis| genesis.chain_id = "someone-else".into());
    let node = ours.start_node("a");
    let stranger = theirs.start("b", Some("alice"), &[&node.p2p]);
    wait_until("the refusal is logged", || {
        stranger.log_text().contains("another chain")
    });
    assert!(stranger.get("/status").1["peers"]
        .as_array()
        .unwrap()
        .is_empty());
    assert!(node.get("/status").1["peers"]
        .as_array()
        .unwrap()
        .is_empty());
    // Both go on with their own chains.
    let height = node.height();
    node.wait_for_height(height + 2);
}

#[test]
fn garbage_and_oversized_frames_drop_the_peer_and_change_nothing() {
    let chain = TestChain::new();
    let node = chain.start_node("a");
    node.wait_for_height(2);
    let attacks: Vec<(&str, Vec<u8>)> = vec![
        ("oversized frame", u32::MAX.to_be_bytes().to_vec()),
        ("garbage frame", {
            let mut frame = 16u32.to_be_bytes().to_vec();
            frame.extend_from_slice(&[0xab; 16]);
            frame
        }),
        ("no hello", {
            // A well-formed Status message instead of a Hello.
            let mut body = 1u32.to_le_bytes().to_vec();
            body.extend_from_slice(&7u64.to_le_bytes());
            body.extend_from_slice(&[0; 32]);
            let mut frame = (body.len() as u32).to_be_bytes().to_vec();
            frame.extend_from_slice(&body);
            frame
        }),
    ];
    for (name, bytes) in attacks {
        let mut stream = TcpStream::connect(&node.p2p).unwrap();
        stream.set_read_timeout(Some(WAIT)).unwrap();
        stream.write_all(&bytes).unwrap();
        // The node answers with its hello, then closes the connection.
        let mut sink = Vec::new();
        let closed = stream.read_to_end(&mut sink).is_ok();
        assert!(closed, "{name}: the node kept the connection open");
    }
    wait_until("the misbehaviour is logged", || {
        node.log_text().matches("banning peer").count() >= 3
    });
    // Still alive and producing.
    let height = node.height();
    node.wait_for_height(height + 2);
    node.stop();
    chain.audit_ok("a");
}

/// A peer that completes the handshake and then sends a block with a bad
/// signature is dropped and banned; the node's chain is untouched.
#[test]
fn a_peer_sending_an_invalid_block_is_dropped() {
    use bwchain_core::primitives::signing::Keypair;
    use bwchain_core::primitives::{Block, Hash, Header, Signature};
    use bwchain_core::protocol::{encode_frame, Hello, Message, PROTOCOL_VERSION};

    let chain = TestChain::new();
    let node = chain.start_node("a");
    node.wait_for_height(2);
    let (_, latest) = node.get("/blocks/latest");
    let mut stream = TcpStream::connect(&node.p2p).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    let hello = Message::Hello(Hello {
        version: PROTOCOL_VERSION,
        genesis_hash: chain.genesis_hash,
        head_height: 0,
        head_hash: chain.genesis_hash,
        listen_port: 0,
        nonce: 7,
    });
    stream.write_all(&encode_frame(&hello).unwrap()).unwrap();
    // A block for the right slot and proposer, signed by someone else.
    let slot = latest["slot"].as_u64().unwrap() + 1;
    let header = Header {
        height: latest["height"].as_u64().unwrap() + 1,
        slot,
        timestamp_ms: chain.genesis.genesis_time_ms + slot * chain.genesis.block_time_ms,
        parent: latest["hash"].as_str().unwrap().parse().unwrap(),
        proposer: Keypair::dev("alice").account(),
        tx_root: Hash([0; 32]),
        state_root: Hash([0; 32]),
    };
    let forged = Keypair::dev("mallory").sign(&header.hash().0);
    let block = Block {
        header,
        signature: Signature(forged.0),
        txs: Vec::new(),
    };
    stream
        .write_all(&encode_frame(&Message::NewBlock(block)).unwrap())
        .unwrap();
    // The node answers with its hello (and maybe a status), then closes.
    let mut sink = Vec::new();
    assert!(
        stream.read_to_end(&mut sink).is_ok(),
        "connection stayed open"
    );
    wait_until("the ban is logged", || {
        let log = node.log_text();
        log.contains("bad block signature") && log.contains("banning peer")
    });
    let height = node.height();
    node.wait_for_height(height + 2);
    node.stop();
    chain.audit_ok("a");
}

/// A peer speaking protocol version 1 (before finality votes) is refused at
/// the handshake with a log line that says why.
#[test]
fn a_version_1_peer_is_refused_at_the_handshake() {
    use bwchain_core::protocol::{encode_frame, Hello, Message, PROTOCOL_VERSION};

    assert_eq!(PROTOCOL_VERSION, 2);
    let chain = TestChain::new();
    let node = chain.start_node("a");
    let mut stream = TcpStream::connect(&node.p2p).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    let hello = Message::Hello(Hello {
        version: 1,
        genesis_hash: chain.genesis_hash,
        head_height: 0,
        head_hash: chain.genesis_hash,
        listen_port: 0,
        nonce: 9,
    });
    stream.write_all(&encode_frame(&hello).unwrap()).unwrap();
    let mut sink = Vec::new();
    assert!(
        stream.read_to_end(&mut sink).is_ok(),
        "the node kept the connection open"
    );
    wait_until("the refusal is logged", || {
        node.log_text()
            .contains("peer speaks another protocol version")
    });
    assert!(node.get("/status").1["peers"]
        .as_array()
        .unwrap()
        .is_empty());
}
