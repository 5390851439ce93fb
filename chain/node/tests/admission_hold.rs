//! Admission's flow control on a real node (its store, mempool and pacer):
//! API submissions pass while the mempool holds less than
//! `BACKLOG_BLOCKS` blocks of work, are held beyond that, and are never
//! held longer than `MAX_HOLD`.

use std::time::Instant;

use bwchain_core::consensus::BuildPacer;
use bwchain_core::genesis::ChainSpec;
use bwchain_core::mempool::MempoolLimits;
use bwchain_core::primitives::signing::Keypair;
use bwchain_core::primitives::Tx;
use bwchain_core::testkit;
use bwchain_node::chain::{Node, NodeConfig, TxSubmitter, BACKLOG_BLOCKS, MAX_HOLD};
use bwchain_node::clock::now_ms;

const DEVICES: [&str; 4] = ["bob", "carol", "dave", "eve"];
const RECEIPTS: u64 = 64;

#[test]
fn submissions_wait_for_a_backlog_but_not_forever() {
    let mut genesis = testkit::test_genesis(&["alice"], &DEVICES);
    // 10 ms slots: the pacer's smallest budget, so a few claims make a
    // backlog of several blocks.
    genesis.block_time_ms = 10;
    genesis.max_receipts_per_claim = RECEIPTS;
    let spec = ChainSpec::new(genesis).unwrap();
    let dir = tempfile::tempdir().unwrap();
    // A follower: no block ever drains its mempool here.
    let (node, _outbound) = Node::open(NodeConfig {
        mempool: MempoolLimits {
            max_per_sender: 64,
            ..MempoolLimits::default()
        },
        ..NodeConfig::follower(spec.clone(), dir.path().to_path_buf())
    })
    .unwrap();
    let keys: Vec<Keypair> = DEVICES.iter().map(|name| Keypair::dev(name)).collect();
    let claim = |provider: usize, nonce: u64| -> Tx {
        let consumer = &keys[(provider + 1) % keys.len()];
        let receipts = (0..RECEIPTS)
            .map(|i| {
                testkit::receipt(
                    &spec,
                    consumer,
                    keys[provider].account(),
                    nonce * RECEIPTS + i,
                    1024,
                )
            })
            .collect();
        testkit::claim(&spec, &keys[provider], nonce, receipts)
    };
    let limit = BuildPacer::MIN_BUDGET * BACKLOG_BLOCKS;
    let held = || node.metrics().submissions_held.get();

    // Under the limit: admitted at once.
    let first: Vec<Tx> = (0..3).map(|nonce| claim(0, nonce)).collect();
    for result in TxSubmitter::submit_batch(&node, first) {
        result.unwrap();
    }
    assert_eq!(held(), 0);

    // Past it (relayed or internal submissions are never held).
    let fill: Vec<Tx> = (3..6)
        .map(|nonce| claim(0, nonce))
        .chain(
            (1..4)
                .flat_map(|provider| (0..4).map(move |nonce| (provider, nonce)))
                .map(|(provider, nonce)| claim(provider, nonce)),
        )
        .collect();
    for result in node.submit_batch(fill, now_ms()) {
        result.unwrap();
    }
    let pending = node.status().mempool as u64 * RECEIPTS;
    assert!(
        pending > limit as u64,
        "{pending} receipts pending, limit {limit}"
    );

    // An API submission now waits for blocks that never come, until
    // MAX_HOLD, and is then checked as usual.
    let started = Instant::now();
    let result = TxSubmitter::submit_tx(&node, claim(0, 6));
    assert!(result.is_ok(), "{result:?}");
    assert!(started.elapsed() >= MAX_HOLD, "released before MAX_HOLD");
    assert_eq!(held(), 1);
}
