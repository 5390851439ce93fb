//! Multi-node tests on a simulated network (see `sim/mod.rs`): agreement,
//! finality, determinism for a seed, partitions that heal with reorgs,
//! crashes and restarts, late followers, and a table of `import_block`
//! outcomes. Every multi-node run also checks, after every step, that no
//! finalized block is ever reverted or contradicted.

use std::collections::BTreeMap;

use bwchain_core::consensus::{self, BlockError, BuiltBlock};
use bwchain_core::genesis::ChainSpec;
use bwchain_core::primitives::signing::Keypair;
use bwchain_core::primitives::{Account, Block, Hash, SealedHeader, Tx};
use bwchain_core::state::{MemState, Overlay, SessionId};
use bwchain_core::testkit;
use bwchain_node::chain::{ImportError, Imported, Node, NodeConfig};

use bwchain_node::sim::{
    authority_name, slot_start, Sim, SimConfig, BLOCK_TIME_MS, DEVICES, MAX_CLOCK_DRIFT_MS, STEP_MS,
};

/// Generous bound for nodes to agree after a heal or a restart.
const CONVERGE_LIMIT_MS: u64 = 10_000;

fn device(index: usize) -> Keypair {
    Keypair::dev(DEVICES[index])
}

fn authority(index: usize) -> Account {
    Keypair::dev(&authority_name(index)).account()
}

/// A claim by device `provider` for `bytes` in total in `session`, signed
/// by device `consumer`, with the nonce `nonce`.
fn claim(
    spec: &ChainSpec,
    provider: usize,
    consumer: usize,
    session: u64,
    bytes: u64,
    nonce: u64,
) -> Tx {
    let provider_key = device(provider);
    let receipt = testkit::receipt(
        spec,
        &device(consumer),
        provider_key.account(),
        session,
        bytes,
    );
    testkit::claim(spec, &provider_key, nonce, vec![receipt])
}

fn session(provider: usize, consumer: usize, session: u64) -> SessionId {
    SessionId {
        provider: device(provider).account(),
        consumer: device(consumer).account(),
        session,
    }
}

/// Every device's account record and the given sessions, as node `index`
/// stores them.
fn device_state(sim: &Sim, index: usize, sessions: &[SessionId]) -> String {
    let store = sim.node(index).store();
    let mut overlay = Overlay::new(store);
    let accounts: Vec<_> = (0..DEVICES.len())
        .map(|device_index| overlay.account(&device(device_index).account()).unwrap())
        .collect();
    let counters: Vec<u64> = sessions
        .iter()
        .map(|id| overlay.session(id).unwrap())
        .collect();
    format!("{accounts:?} {counters:?}")
}

fn assert_all_agree(sim: &Sim) {
    let reference = sim.chain(0);
    for index in sim.running() {
        assert_eq!(sim.chain(index), reference, "node {index}'s chain");
    }
    let roots: Vec<Hash> = sim
        .audit_all()
        .iter()
        .map(|report| report.state_root)
        .collect();
    assert!(roots.windows(2).all(|pair| pair[0] == pair[1]), "{roots:?}");
}

fn proposer_counts(sim: &Sim, index: usize) -> BTreeMap<Account, u64> {
    let store = sim.node(index).store();
    let mut counts = BTreeMap::new();
    for height in 1..=sim.head(index).height {
        let block = store.block_at(height).unwrap().unwrap();
        *counts.entry(block.block.header.proposer).or_default() += 1;
    }
    counts
}

#[test]
fn four_authorities_agree_and_finalize() {
    let mut sim = Sim::new(SimConfig::new(4, 1));
    sim.run_slots(60);
    assert!(sim.converge(CONVERGE_LIMIT_MS), "nodes did not agree");
    assert_all_agree(&sim);

    // Latency is well under a slot, so every slot got its block, proposed
    // by the slot's authority: all four took turns.
    let head = sim.head(0);
    assert_eq!(head.height, 60);
    let store = sim.node(0).store();
    for height in 1..=head.height {
        let header = store.block_at(height).unwrap().unwrap().block.header;
        assert_eq!(header.slot, height, "every slot filled");
        assert_eq!(header.proposer, authority((height % 4) as usize));
    }
    let counts = proposer_counts(&sim, 0);
    assert_eq!(counts.len(), 4);
    assert!(counts.values().all(|count| *count == 15), "{counts:?}");

    // Votes of slot s+1 finalize block s: one block behind the head once
    // the last slot's votes are in (they may still be in flight).
    let chain = sim.chain(0);
    for index in 0..4 {
        let finalized = sim.finalized(index);
        let lag = head.height - finalized.height;
        assert!((1..=2).contains(&lag), "node {index}: lag {lag}");
        assert_eq!(finalized.hash(), chain[finalized.height as usize]);
    }
    let lags: Vec<u64> = sim.stats.finality_lag.keys().copied().collect();
    assert!(
        lags.iter().all(|lag| *lag <= 2),
        "finality lags seen: {:?}",
        sim.stats.finality_lag
    );
    assert!(sim.highest_finalized() >= 59);
}

/// Random claims submitted to random nodes over random latencies (links
/// reordering messages); returns the agreed chain and its transaction count.
fn claims_scenario(seed: u64) -> (Vec<Hash>, usize) {
    let mut config = SimConfig::new(4, seed);
    config.latency_ms = (1, 45);
    config.fifo_links = false;
    let mut sim = Sim::new(config);
    let spec = sim.spec.clone();
    let mut session_bytes: BTreeMap<(usize, usize), u64> = BTreeMap::new();
    let end = slot_start(60);
    while sim.now_ms() < end {
        sim.step();
        if !sim.rng().chance(6) {
            continue;
        }
        let target = sim.rng().index(4);
        let provider = sim.rng().index(DEVICES.len());
        let consumer = (provider + 1 + sim.rng().index(DEVICES.len() - 1)) % DEVICES.len();
        let increment = sim.rng().between(1, 400);
        let bytes = session_bytes.entry((provider, consumer)).or_default();
        *bytes += increment;
        let node = sim.node(target);
        let nonce = node.next_nonce(&device(provider).account()).unwrap();
        let tx = claim(&spec, provider, consumer, 1, *bytes, nonce);
        node.submit_tx_at(tx, sim.now_ms(), None)
            .unwrap_or_else(|err| panic!("claim refused by node {target}: {err}"));
    }
    assert!(sim.converge(CONVERGE_LIMIT_MS), "seed {seed}: no agreement");
    assert_all_agree(&sim);
    let store = sim.node(0).store();
    let txs = (1..=sim.head(0).height)
        .map(|height| store.block_at(height).unwrap().unwrap().block.txs.len())
        .sum();
    (sim.chain(0), txs)
}

#[test]
fn same_seed_same_chain() {
    let (first, first_txs) = claims_scenario(7);
    let (second, second_txs) = claims_scenario(7);
    assert!(first_txs >= 20, "only {first_txs} transactions included");
    assert_eq!(first_txs, second_txs);
    assert_eq!(first.len(), second.len(), "same height");
    for (height, (a, b)) in first.iter().zip(&second).enumerate() {
        assert_eq!(a, b, "block hashes differ at height {height}");
    }
    // Also with partitions, reorgs, a crash and a restart on the way.
    assert_eq!(random_partitions(31, 100), random_partitions(31, 100));
}

#[test]
fn partition_heals_and_reorgs() {
    let mut sim = Sim::new(SimConfig::new(4, 3));
    sim.run_slots(20);
    let cut_height = (0..4).map(|i| sim.head(i).height).max().unwrap();
    let before: Vec<u64> = (0..4).map(|i| sim.finalized(i).height).collect();
    sim.partition(&[&[0, 1], &[2, 3]]);

    // Two proposers per side: neither side finalizes anything beyond what
    // both sides share; after the in-flight blocks settle, nothing moves.
    let mut early = Vec::new();
    let mut steps = 0;
    sim.run_until(40 * BLOCK_TIME_MS, |sim| {
        steps += 1;
        for i in 0..4 {
            let finalized = sim.finalized(i).height;
            assert!(
                finalized <= cut_height,
                "node {i} finalized {finalized} during the partition (cut at {cut_height})"
            );
        }
        if steps == 4 * BLOCK_TIME_MS / STEP_MS {
            early = (0..4).map(|i| sim.finalized(i).height).collect();
        }
        false
    });
    sim.quiesce();
    let late: Vec<u64> = (0..4).map(|i| sim.finalized(i).height).collect();
    assert_eq!(early, late, "finality moved during the partition");
    assert!(late
        .iter()
        .zip(&before)
        .all(|(late, before)| late >= before));
    let side_heads = [sim.head(0), sim.head(2)];
    assert_eq!(sim.head(0), sim.head(1));
    assert_eq!(sim.head(2), sim.head(3));
    assert_ne!(side_heads[0].hash(), side_heads[1].hash());
    for head in &side_heads {
        assert!(head.height >= cut_height + 15, "both sides kept producing");
    }
    assert_eq!((0..4).map(|i| sim.reorgs(i)).sum::<u64>(), 0);

    sim.heal();
    assert!(
        sim.converge(CONVERGE_LIMIT_MS),
        "no agreement after the heal"
    );
    let chain = sim.chain(0);
    let losers: Vec<usize> = (0..2)
        .filter(|side| {
            chain.get(side_heads[*side].height as usize) != Some(&side_heads[*side].hash())
        })
        .collect();
    assert!(!losers.is_empty(), "one side's chain must be abandoned");
    for side in losers {
        for index in [2 * side, 2 * side + 1] {
            assert!(
                sim.reorgs(index) > 0,
                "node {index} on the losing side reorged"
            );
        }
    }

    // Finality resumes past the partition.
    sim.run_slots(10);
    assert!(sim.converge(CONVERGE_LIMIT_MS));
    for i in 0..4 {
        assert!(
            sim.finalized(i).height > side_heads[0].height.max(side_heads[1].height),
            "node {i}: finality did not resume"
        );
    }
    assert_all_agree(&sim);
}

#[test]
fn partition_three_one_keeps_finalizing() {
    let mut sim = Sim::new(SimConfig::new(4, 4));
    sim.run_slots(20);
    let cut_height = sim.head(0).height;
    sim.partition(&[&[0, 1, 2], &[3]]);
    sim.run_slots(30);
    let lone_head = sim.head(3);
    assert_eq!(
        lone_head.proposer,
        authority(3),
        "the lone node kept producing"
    );
    assert!(lone_head.height > cut_height);
    assert!(sim.finalized(3).height <= cut_height);
    for i in 0..3 {
        assert!(
            sim.finalized(i).height >= cut_height + 15,
            "node {i}: the majority keeps finalizing"
        );
    }

    sim.heal();
    assert!(sim.converge(CONVERGE_LIMIT_MS));
    let chain = sim.chain(0);
    assert_ne!(
        chain.get(lone_head.height as usize),
        Some(&lone_head.hash()),
        "the lone node's chain is abandoned"
    );
    assert!(sim.reorgs(3) > 0);
    for i in 0..3 {
        assert_eq!(sim.reorgs(i), 0, "node {i} never left its chain");
    }
    sim.run_slots(8);
    assert!(sim.converge(CONVERGE_LIMIT_MS));
    assert!(sim.finalized(3).height > lone_head.height);
    assert!(proposer_counts(&sim, 0)[&authority(3)] > 5);
    assert_all_agree(&sim);
}

#[test]
fn reorg_restores_transactions_and_state() {
    let mut sim = Sim::new(SimConfig::new(4, 5));
    let spec = sim.spec.clone();
    sim.run_slots(12);
    sim.partition(&[&[0, 1], &[2, 3]]);
    // One claim per side, and two different claims by eve with the same
    // nonce, one on each side: only one of those can survive.
    let (bob, carol, dave, eve) = (0, 1, 2, 3);
    let on_left = claim(&spec, bob, carol, 1, 1_000, 0);
    let on_right = claim(&spec, dave, carol, 1, 2_000, 0);
    let eve_left = claim(&spec, eve, bob, 9, 300, 0);
    let eve_right = claim(&spec, eve, dave, 9, 500, 0);
    let now = sim.now_ms();
    for (index, tx) in [
        (0, &on_left),
        (1, &eve_left),
        (2, &on_right),
        (3, &eve_right),
    ] {
        sim.node(index)
            .submit_tx_at(tx.clone(), now, None)
            .unwrap_or_else(|err| panic!("node {index}: {err}"));
    }
    sim.run_slots(20);
    let included = |sim: &Sim, index: usize, tx: &Tx| {
        sim.node(index)
            .store()
            .tx_location(&testkit::tx_hash(&spec, tx))
            .unwrap()
            .is_some()
    };
    for (index, tx) in [
        (0, &on_left),
        (0, &eve_left),
        (2, &on_right),
        (2, &eve_right),
    ] {
        assert!(
            included(&sim, index, tx),
            "node {index} included its side's claim"
        );
    }
    assert!(!included(&sim, 0, &on_right) && !included(&sim, 2, &on_left));

    sim.heal();
    sim.run_slots(12);
    assert!(sim.converge(CONVERGE_LIMIT_MS));
    assert!((0..4).any(|i| sim.reorgs(i) > 0));
    let sessions = [
        session(bob, carol, 1),
        session(dave, carol, 1),
        session(eve, bob, 9),
        session(eve, dave, 9),
    ];
    let reference = device_state(&sim, 0, &sessions);
    for index in 0..4 {
        // The losing side's claim went back to its nodes' mempools and was
        // included again; of eve's two claims exactly one survived.
        assert!(included(&sim, index, &on_left), "node {index}: bob's claim");
        assert!(
            included(&sim, index, &on_right),
            "node {index}: dave's claim"
        );
        assert!(
            included(&sim, index, &eve_left) != included(&sim, index, &eve_right),
            "node {index}: exactly one of eve's claims"
        );
        let mut state = Overlay::new(sim.node(index).store());
        assert_eq!(state.account(&device(eve).account()).unwrap().nonce, 1);
        assert_eq!(state.session(&sessions[0]).unwrap(), 1_000);
        assert_eq!(state.session(&sessions[1]).unwrap(), 2_000);
        assert_eq!(device_state(&sim, index, &sessions), reference);
    }
    assert_all_agree(&sim);
}

/// A sender's included transaction and its pending successor, both on the
/// losing side of a partition, must both survive the reorg.
#[test]
fn reorg_restores_a_senders_pending_successor() {
    let mut sim = Sim::new(SimConfig::new(4, 6));
    let spec = sim.spec.clone();
    let (bob, carol) = (0, 1);
    sim.run_slots(10);
    sim.partition(&[&[0, 1, 2], &[3]]);
    let first = claim(&spec, bob, carol, 1, 1_000, 0);
    let first_hash = testkit::tx_hash(&spec, &first);
    sim.node(3)
        .submit_tx_at(first.clone(), sim.now_ms(), None)
        .unwrap();
    let included = sim.run_until(8 * BLOCK_TIME_MS, |sim| {
        sim.node(3)
            .store()
            .tx_location(&first_hash)
            .unwrap()
            .is_some()
    });
    assert!(included, "the lone node included the first claim");
    // Right after: the second claim waits for node 3's next slot, and the
    // heal comes before that.
    let second = claim(&spec, bob, carol, 1, 2_000, 1);
    sim.node(3)
        .submit_tx_at(second.clone(), sim.now_ms(), None)
        .unwrap();
    sim.heal();
    sim.run_slots(16);
    assert!(sim.converge(CONVERGE_LIMIT_MS));
    assert!(sim.reorgs(3) > 0);
    for index in 0..4 {
        let store = sim.node(index).store();
        for tx in [&first, &second] {
            assert!(
                store
                    .tx_location(&testkit::tx_hash(&spec, tx))
                    .unwrap()
                    .is_some(),
                "node {index}: claim with nonce {} lost in the reorg",
                tx.nonce
            );
        }
        let mut state = Overlay::new(store);
        assert_eq!(state.session(&session(bob, carol, 1)).unwrap(), 2_000);
    }
}

#[test]
fn crash_and_restart_catches_up() {
    let mut sim = Sim::new(SimConfig::new(4, 8));
    sim.run_slots(20);
    let head_at_crash = sim.head(3);
    let finalized_at_crash = sim.finalized(0).height;
    sim.crash(3);
    sim.run_slots(40);
    // Three authorities are enough to finalize.
    assert!(sim.finalized(0).height >= finalized_at_crash + 25);

    sim.restart(3);
    assert_eq!(sim.head(3), head_at_crash, "resumed from its store");
    let requests_before = sim.stats.delivered_kinds.get("get_blocks").copied();
    assert!(
        sim.converge(CONVERGE_LIMIT_MS),
        "the restarted node caught up"
    );
    assert!(sim.stats.delivered_kinds.get("get_blocks").copied() > requests_before);
    // Same finality, or one block behind while the last votes are in flight.
    let (restarted, ours) = (sim.finalized(3), sim.finalized(0));
    assert!(
        restarted.height + 1 >= ours.height,
        "{restarted:?} vs {ours:?}"
    );
    assert_eq!(sim.chain(0)[restarted.height as usize], restarted.hash());
    let finalized = sim.finalized(0).height;
    sim.run_slots(12);
    assert!(sim.converge(CONVERGE_LIMIT_MS));
    assert!(
        sim.finalized(3).height >= finalized + 10,
        "finality goes on"
    );
    let restarted_blocks = (head_at_crash.height + 1..=sim.head(0).height)
        .filter(|height| {
            let block = sim.node(0).store().block_at(*height).unwrap().unwrap();
            block.block.header.proposer == authority(3)
        })
        .count();
    assert!(
        restarted_blocks >= 2,
        "the restarted authority proposes again"
    );
    for index in 0..4 {
        assert!(sim.node(index).store().evidence().unwrap().is_empty());
    }

    // A long chain, then a follower with an empty data directory.
    sim.run_until(30_000, |sim| sim.head(0).height >= 300);
    let follower = sim.add_follower();
    let synced = sim.run_until(CONVERGE_LIMIT_MS, |sim| {
        sim.head(follower).height + 1 >= sim.head(0).height
    });
    assert!(synced, "the follower synced");
    assert!(sim.converge(CONVERGE_LIMIT_MS));
    assert_eq!(sim.head(follower), sim.head(0));
    // Votes may still be in flight: the follower's finality is the same or
    // one block behind, on the same chain.
    let (theirs, ours) = (sim.finalized(follower), sim.finalized(0));
    assert!(theirs.height + 1 >= ours.height, "{theirs:?} vs {ours:?}");
    assert_eq!(sim.chain(0)[theirs.height as usize], theirs.hash());
    assert!(sim.head(follower).height >= 300);
    assert_all_agree(&sim);
}

/// Random partitions into two or three groups (every third with a crash
/// during the split and a restart at the heal) at random times, over
/// reordering links, with a follower. Each partition starts from nodes
/// that agree (see `finality_survives_partitions_that_change_before_healing`
/// for what happens otherwise). Returns the agreed chain.
fn random_partitions(seed: u64, slots: u64) -> Vec<Hash> {
    let mut config = SimConfig::new(4, seed);
    config.followers = 1;
    config.latency_ms = (1, 40);
    config.fifo_links = false;
    let mut sim = Sim::new(config);
    let nodes = sim.len();
    let mut partitions = 0;
    let mut crashes = 0;
    while sim.now_ms() < slot_start(slots) {
        let connected = sim.rng().between(0, 15);
        sim.run_slots(connected);
        let groups = sim.rng().between(2, 3) as usize;
        let mut members: Vec<Vec<usize>> = vec![Vec::new(); groups];
        for node in 0..nodes {
            let group = sim.rng().index(groups);
            members[group].push(node);
        }
        let groups: Vec<&[usize]> = members.iter().map(Vec::as_slice).collect();
        sim.partition(&groups);
        partitions += 1;
        let crashed = (partitions % 3 == 1).then(|| sim.rng().index(nodes));
        if let Some(node) = crashed {
            sim.crash(node);
            crashes += 1;
        }
        // From a few milliseconds to a few seconds.
        let split_ms = sim.rng().between(STEP_MS, 30 * BLOCK_TIME_MS);
        sim.run_for(split_ms);
        if let Some(node) = crashed {
            sim.restart(node);
        }
        sim.heal();
        assert!(
            sim.converge(CONVERGE_LIMIT_MS),
            "seed {seed}: no agreement after heal {partitions}"
        );
    }
    assert!(
        partitions >= 3 && crashes >= 1,
        "seed {seed}: {partitions} partitions, {crashes} crashes"
    );
    let finalized_before = sim.finalized(0).height;
    sim.run_slots(8);
    assert!(sim.converge(CONVERGE_LIMIT_MS), "seed {seed}: no agreement");
    assert!(
        sim.finalized(0).height > finalized_before,
        "seed {seed}: finality resumed"
    );
    let lag = sim.head(0).height - sim.highest_finalized();
    assert!(
        (1..=2).contains(&lag),
        "seed {seed}: finality caught up with the head (lag {lag})"
    );
    assert!(
        (0..nodes).any(|i| sim.reorgs(i) > 0),
        "seed {seed}: no reorg at all"
    );
    assert_all_agree(&sim);
    sim.chain(0)
}

/// `Sim` checks after every step that no node's finalized height
/// decreases, that a node's finalized block stays on its chain and that no
/// height ever has two finalized blocks, on any node at any time.
#[test]
fn finality_never_reverts() {
    for seed in [21, 22, 23] {
        random_partitions(seed, 200);
    }
}

/// Two partitions in a row without a heal in between: {0,3}|{1,2}, then
/// {0,1}|{2,3}. Under the old "distinct proposers" rule this let nodes 0,1
/// and nodes 2,3 finalize conflicting blocks, splitting the chain for
/// good. With votes, each side holds 2 of 4 votes in every slot, so nothing
/// past the last checkpoint before the split is even justified until the
/// heal; then the nodes agree and finality resumes. `Sim` checks after every
/// step that no two nodes ever finalize different blocks at one height.
/// Swept over 20 seeds with the second partition starting at slots 3-15.
#[test]
fn finality_survives_partitions_that_change_before_healing() {
    for seed in 1..=20u64 {
        let switch_slot = 3 + seed % 13;
        let mut sim = Sim::new(SimConfig::new(4, seed));
        sim.partition(&[&[0, 3], &[1, 2]]);
        sim.run_for(switch_slot * BLOCK_TIME_MS + 50);
        sim.partition(&[&[0, 1], &[2, 3]]);
        sim.run_slots(10);
        sim.heal();
        assert!(
            sim.converge(CONVERGE_LIMIT_MS),
            "seed {seed}: the chain split for good"
        );
        let finalized = sim.finalized(0).height;
        sim.run_slots(8);
        assert!(sim.converge(CONVERGE_LIMIT_MS), "seed {seed}");
        assert!(
            sim.finalized(0).height > finalized,
            "seed {seed}: finality resumed"
        );
        assert_all_agree(&sim);
    }
}

/// What one `import_block` should return.
#[derive(Debug)]
enum Expect {
    Ok(Imported),
    /// `Side` or `Reorg`: a competing block at the head's height wins on the
    /// lower hash, which the test does not choose.
    SideOrReorg,
    Invalid(fn(&BlockError) -> bool),
    KnownInvalid,
}

enum Action {
    Import { block: Box<Block>, now_ms: u64 },
    Tick { now_ms: u64 },
}

fn import(block: &Block, now_ms: u64) -> Action {
    Action::Import {
        block: Box::new(block.clone()),
        now_ms,
    }
}

struct Builder {
    spec: ChainSpec,
    keys: Vec<Keypair>,
}

impl Builder {
    /// An unsigned block on `parent` (whose post-state is `state`) in `slot`,
    /// `offset_ms` into the slot, and the state after it.
    fn build(
        &self,
        parent: &SealedHeader,
        state: &MemState,
        slot: u64,
        offset_ms: u64,
    ) -> (BuiltBlock, MemState) {
        let proposer = consensus::proposer_for(&self.spec.genesis, slot);
        let built = consensus::build_block(
            &self.spec,
            parent,
            state,
            proposer,
            slot_start(slot) + offset_ms,
            Vec::new(),
        )
        .unwrap();
        let mut after = state.clone();
        after.apply(&built.executed.changes);
        assert_eq!(after.root(), built.header.state_root);
        (built, after)
    }

    fn signed(&self, built: &BuiltBlock) -> Block {
        let slot = built.header.slot;
        built.sign(&self.keys[(slot % self.keys.len() as u64) as usize])
    }
}

#[test]
fn import_block_outcomes() {
    let spec = bwchain_node::sim::chain_spec(4);
    let dir = tempfile::tempdir().unwrap();
    let (node, _outbound) =
        Node::open(NodeConfig::follower(spec.clone(), dir.path().to_path_buf())).unwrap();
    let builder = Builder {
        spec: spec.clone(),
        keys: (0..4).map(|i| Keypair::dev(&authority_name(i))).collect(),
    };
    let genesis = spec.genesis_header.clone();
    let (built1, state1) = builder.build(&genesis, &spec.genesis_state, 1, 0);
    let (built2, state2) = builder.build(&built1.header, &state1, 2, 10);
    let (built3, state3) = builder.build(&built2.header, &state2, 3, 0);
    let (built4a, _) = builder.build(&built3.header, &state3, 4, 0);
    let (built4b, _) = builder.build(&built3.header, &state3, 4, 50);
    let [b1, b2, b3, b4a, b4b] =
        [&built1, &built2, &built3, &built4a, &built4b].map(|b| builder.signed(b));

    // Slot 3's block signed by slot 0's authority.
    let forged_signature = built3.sign(&builder.keys[0]);
    // A block for slot 5 on the head with a wrong state root, properly
    // signed (in its own slot: a second header for slot 3 would be
    // equivocation).
    let (built5, _) = builder.build(&built2.header, &state2, 5, 0);
    let mut wrong_root = builder.signed(&built5);
    wrong_root.header.state_root = Hash([7; 32]);
    wrong_root.signature = builder.keys[1].sign(&wrong_root.header.hash().0);
    // Slot 2's block, but its timestamp is outside slot 2.
    let mut outside_slot = b2.clone();
    outside_slot.header.timestamp_ms = slot_start(3);
    outside_slot.signature = builder.keys[2].sign(&outside_slot.header.hash().0);

    let early = slot_start(3) - MAX_CLOCK_DRIFT_MS - 1;
    let hash = |block: &Block| block.header.hash();
    let cases: Vec<(&str, Action, Option<Expect>, Hash)> = vec![
        (
            "unknown parent",
            import(&b2, slot_start(2)),
            Some(Expect::Ok(Imported::Orphan { missing: hash(&b1) })),
            genesis.hash(),
        ),
        (
            "the missing parent extends the head and the orphan follows",
            import(&b1, slot_start(2) + 20),
            Some(Expect::Ok(Imported::Extended)),
            hash(&b2),
        ),
        (
            "known block",
            import(&b1, slot_start(2) + 20),
            Some(Expect::Ok(Imported::Known)),
            hash(&b2),
        ),
        (
            "known orphan, now on the chain",
            import(&b2, slot_start(2) + 20),
            Some(Expect::Ok(Imported::Known)),
            hash(&b2),
        ),
        (
            "timestamp outside its slot",
            import(&outside_slot, slot_start(3)),
            Some(Expect::Invalid(|e| {
                matches!(e, BlockError::TimestampOutsideSlot { .. })
            })),
            hash(&b2),
        ),
        (
            "signed by another authority",
            import(&forged_signature, slot_start(3)),
            Some(Expect::Invalid(|e| {
                matches!(e, BlockError::BadSignature { .. })
            })),
            hash(&b2),
        ),
        (
            "wrong state root",
            import(&wrong_root, slot_start(3)),
            Some(Expect::Invalid(|e| {
                matches!(e, BlockError::StateRootMismatch { .. })
            })),
            hash(&b2),
        ),
        (
            "the same invalid block again",
            import(&wrong_root, slot_start(3)),
            Some(Expect::KnownInvalid),
            hash(&b2),
        ),
        (
            "too far in the future",
            import(&b3, early),
            Some(Expect::Ok(Imported::Held)),
            hash(&b2),
        ),
        (
            "held, still early",
            Action::Tick { now_ms: early },
            None,
            hash(&b2),
        ),
        (
            "held, its time has come",
            Action::Tick { now_ms: early + 1 },
            None,
            hash(&b3),
        ),
        (
            "slot 4, first block",
            import(&b4a, slot_start(4) + 60),
            Some(Expect::Ok(Imported::Extended)),
            hash(&b4a),
        ),
        (
            "slot 4, same proposer, a second block",
            import(&b4b, slot_start(4) + 60),
            Some(Expect::SideOrReorg),
            hash(&b4a).min(hash(&b4b)),
        ),
        (
            "the second block again",
            import(&b4b, slot_start(4) + 60),
            Some(Expect::Ok(Imported::Known)),
            hash(&b4a).min(hash(&b4b)),
        ),
    ];
    for (name, action, expect, head_after) in cases {
        let result = match action {
            Action::Import { block, now_ms } => Some(node.import_block(*block, now_ms, None)),
            Action::Tick { now_ms } => {
                node.tick(now_ms);
                None
            }
        };
        match (expect, result) {
            (None, None) => {}
            (Some(Expect::Ok(expected)), Some(Ok(found))) => assert_eq!(found, expected, "{name}"),
            (Some(Expect::SideOrReorg), Some(Ok(found))) => assert!(
                matches!(found, Imported::Side | Imported::Reorg { reverted: 1 }),
                "{name}: {found:?}"
            ),
            (Some(Expect::Invalid(check)), Some(Err(ImportError::Invalid { error, .. }))) => {
                assert!(check(&error), "{name}: {error}")
            }
            (Some(Expect::KnownInvalid), Some(Err(ImportError::KnownInvalid { .. }))) => {}
            (expect, result) => panic!("{name}: expected {expect:?}, got {result:?}"),
        }
        assert_eq!(node.head().hash(), head_after, "{name}: head");
    }

    let evidence = node.store().evidence().unwrap();
    assert_eq!(evidence.len(), 1, "one equivocation recorded");
    assert_eq!(evidence[0].proposer, authority(0));
    assert_eq!(evidence[0].slot, 4);
    let pair = [evidence[0].first.0.hash(), evidence[0].second.0.hash()];
    assert_eq!(pair, [hash(&b4a), hash(&b4b)]);
    bwchain_node::audit::audit(node.store(), &spec).unwrap();
}
