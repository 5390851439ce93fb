//! A deterministic in-memory network of bwchain nodes for multi-node tests.
//!
//! Every node is a real [`Node`] on its own sled directory; only the
//! transport and the clock are simulated. Time is a `u64` of milliseconds
//! advanced in steps of [`STEP_MS`]. A message gets a latency drawn from a
//! seeded PRNG and waits in a queue ordered by (delivery time, sequence
//! number), nodes are always visited in index order and nothing here
//! iterates a `HashMap`, so one seed always gives the same run.
//!
//! Node `i` knows node `j` as peer id `j`. Links can be cut (partitions) and
//! healed, nodes crashed and restarted on their data directory, and keyless
//! followers added at any time; a link coming up is a fresh connection
//! (`peer_connected` both ways with the current heads), a link going down
//! drops whatever was in flight on it.
//!
//! After every step the simulation checks finality: a node's finalized
//! block is on its chosen chain, its finalized height never decreases, and
//! no two nodes (nor one node at two times) ever finalize different blocks
//! at one height.

#![allow(dead_code)]

mod checks;
mod faults;

use std::collections::{BTreeMap, BTreeSet};

use crate::audit::{self, AuditReport};
use crate::chain::{Node, NodeConfig, Outbound, PeerId};
use bwchain_core::finality::{check_proof, SignedVote};
use bwchain_core::genesis::ChainSpec;
use bwchain_core::mempool::MempoolLimits;
use bwchain_core::primitives::signing::Keypair;
use bwchain_core::primitives::{Account, Hash, SealedHeader};
use bwchain_core::protocol::Message;
use bwchain_core::state::StateView;
use bwchain_core::testkit;
use tempfile::TempDir;
use tokio::sync::mpsc;

/// `genesis_time_ms` of the simulated chain: a fixed constant, so runs are
/// reproducible.
pub const GENESIS_TIME_MS: u64 = testkit::TEST_GENESIS_TIME_MS;
/// Short slots keep simulated runs cheap; latencies stay well below this.
pub const BLOCK_TIME_MS: u64 = 100;
/// Allowed clock drift: two slots.
pub const MAX_CLOCK_DRIFT_MS: u64 = 2 * BLOCK_TIME_MS;
/// The simulated clock's resolution.
pub const STEP_MS: u64 = 5;
/// Devices registered at genesis (with balances), for claims.
pub const DEVICES: [&str; 4] = ["bob", "carol", "dave", "eve"];
/// Longest a [`Sim::quiesce`] may take: far more than any sync needs.
const QUIESCE_LIMIT_MS: u64 = 60_000;

/// The dev key name of authority `index`.
pub fn authority_name(index: usize) -> String {
    format!("authority-{index}")
}

/// A chain with `authorities` authorities "authority-0".., the devices of
/// [`DEVICES`], [`BLOCK_TIME_MS`] slots and [`GENESIS_TIME_MS`].
pub fn chain_spec(authorities: usize) -> ChainSpec {
    let names: Vec<String> = (0..authorities).map(authority_name).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut genesis = testkit::test_genesis(&names, &DEVICES);
    genesis.block_time_ms = BLOCK_TIME_MS;
    genesis.max_clock_drift_ms = MAX_CLOCK_DRIFT_MS;
    ChainSpec::new(genesis).expect("the simulation genesis is valid")
}

/// When `slot` starts.
pub fn slot_start(slot: u64) -> u64 {
    GENESIS_TIME_MS + slot * BLOCK_TIME_MS
}

/// SplitMix64: a tiny, well-mixed PRNG whose whole state is one `u64`.
#[derive(Debug, Clone)]
pub struct SimRng(u64);

impl SimRng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform-enough in `0..bound` (the modulo bias is irrelevant here).
    pub fn below(&mut self, bound: u64) -> u64 {
        assert!(bound > 0, "empty range");
        self.next_u64() % bound
    }

    /// In `low..=high`.
    pub fn between(&mut self, low: u64, high: u64) -> u64 {
        assert!(low <= high, "empty range {low}..={high}");
        low + self.below(high - low + 1)
    }

    pub fn index(&mut self, len: usize) -> usize {
        usize::try_from(self.below(len as u64)).expect("index fits usize")
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

#[derive(Debug, Clone)]
pub struct SimConfig {
    pub authorities: usize,
    /// Keyless nodes, after the authorities in index order.
    pub followers: usize,
    pub seed: u64,
    /// Each message's latency is drawn uniformly from this range.
    pub latency_ms: (u64, u64),
    /// Keep each link's messages in sending order, as TCP does; when false,
    /// messages on one link may overtake each other.
    pub fifo_links: bool,
}

impl SimConfig {
    pub fn new(authorities: usize, seed: u64) -> Self {
        Self {
            authorities,
            followers: 0,
            seed,
            latency_ms: (1, 30),
            fifo_links: true,
        }
    }
}

/// Counters for reports and assertions.
#[derive(Debug, Clone, Default)]
pub struct SimStats {
    pub delivered: u64,
    /// Messages lost to a cut link, a crashed node or a reconnection.
    pub dropped: u64,
    /// How often each `head.height - finalized.height` was seen (per node
    /// and step, once something beyond genesis is final).
    pub finality_lag: BTreeMap<u64, u64>,
    /// Delivered messages by kind.
    pub delivered_kinds: BTreeMap<&'static str, u64>,
    /// Blocks carried by delivered `Blocks` replies.
    pub reply_blocks: u64,
    /// How often each k (1 + intermediates) was seen in a finality proof.
    pub proof_k: BTreeMap<usize, u64>,
    /// Every vote delivered, with the index of the node that sent it.
    pub votes_delivered: Vec<(usize, SignedVote)>,
}

struct Envelope {
    from: usize,
    to: usize,
    /// The link's connection number when sent: a message never survives
    /// its connection.
    epoch: u64,
    message: Message,
}

struct Running {
    node: Node,
    outbound: mpsc::Receiver<Outbound>,
}

struct SimNode {
    keypair: Option<Keypair>,
    dir: TempDir,
    running: Option<Running>,
    /// The last finalized block seen on this node (kept across restarts).
    last_finalized: Option<(u64, Hash)>,
}

pub struct Sim {
    pub spec: ChainSpec,
    now_ms: u64,
    rng: SimRng,
    nodes: Vec<SimNode>,
    queue: BTreeMap<(u64, u64), Envelope>,
    next_seq: u64,
    latency_ms: (u64, u64),
    fifo_links: bool,
    /// Per directed link, the latest delivery time handed out (FIFO links).
    last_delivery: BTreeMap<(usize, usize), u64>,
    /// Links cut by a partition, as (lower index, higher index).
    cut: BTreeSet<(usize, usize)>,
    /// Links that are connected now.
    up: BTreeSet<(usize, usize)>,
    epochs: BTreeMap<(usize, usize), u64>,
    producing: bool,
    /// Every block any node ever finalized, by height.
    finalized_by_height: BTreeMap<u64, Hash>,
    /// Whether a node finalizing a block that conflicts with another
    /// node's finalized block fails the run (each node's own finality is
    /// always checked).
    pub check_agreement: bool,
    pub stats: SimStats,
    /// Crash this node right after it signs a vote, before any of its
    /// messages leave (`crash_after_own_vote`).
    crash_on_own_vote: Option<usize>,
    /// The vote that node signed before crashing.
    crashed_with_vote: Option<SignedVote>,
    /// Authorities allowed to appear in evidence (test-made equivocators).
    byzantine: BTreeSet<Account>,
    /// A node whose own votes are withheld and released late, to half of
    /// the others (`set_bouncer`).
    bouncer: Option<usize>,
    withheld: Vec<SignedVote>,
}

fn link(a: usize, b: usize) -> (usize, usize) {
    (a.min(b), a.max(b))
}

fn peer_id(index: usize) -> PeerId {
    PeerId::try_from(index).expect("node indexes fit peer ids")
}

fn peer_index(peer: PeerId) -> usize {
    usize::try_from(peer).expect("peer ids are node indexes")
}

fn open_node(spec: &ChainSpec, keypair: Option<&Keypair>, dir: &TempDir) -> Running {
    let (node, outbound) = Node::open(NodeConfig {
        spec: spec.clone(),
        keypair: keypair.cloned(),
        data_dir: dir.path().to_path_buf(),
        mempool: MempoolLimits::default(),
        guard: crate::chain::GuardConfig::open(),
    })
    .expect("node opens");
    Running { node, outbound }
}

impl Sim {
    /// Opens every node at genesis time and connects all pairs.
    pub fn new(config: SimConfig) -> Self {
        let spec = chain_spec(config.authorities);
        let mut sim = Self {
            spec,
            now_ms: GENESIS_TIME_MS,
            rng: SimRng::new(config.seed),
            nodes: Vec::new(),
            queue: BTreeMap::new(),
            next_seq: 0,
            latency_ms: config.latency_ms,
            fifo_links: config.fifo_links,
            last_delivery: BTreeMap::new(),
            cut: BTreeSet::new(),
            up: BTreeSet::new(),
            epochs: BTreeMap::new(),
            producing: true,
            finalized_by_height: BTreeMap::new(),
            check_agreement: true,
            stats: SimStats::default(),
            crash_on_own_vote: None,
            crashed_with_vote: None,
            byzantine: BTreeSet::new(),
            bouncer: None,
            withheld: Vec::new(),
        };
        for index in 0..config.authorities {
            sim.push_node(Some(Keypair::dev(&authority_name(index))));
        }
        for _ in 0..config.followers {
            sim.push_node(None);
        }
        sim.update_links();
        sim
    }

    fn push_node(&mut self, keypair: Option<Keypair>) -> usize {
        let dir = tempfile::tempdir().expect("temporary directory");
        let running = open_node(&self.spec, keypair.as_ref(), &dir);
        self.nodes.push(SimNode {
            keypair,
            dir,
            running: Some(running),
            last_finalized: None,
        });
        self.nodes.len() - 1
    }

    /// Adds a keyless node with an empty data directory, connected to every
    /// running node it is not cut off from. Returns its index.
    pub fn add_follower(&mut self) -> usize {
        let index = self.push_node(None);
        self.update_links();
        index
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    pub fn now_ms(&self) -> u64 {
        self.now_ms
    }

    /// The PRNG, for scenarios that make random choices of their own.
    pub fn rng(&mut self) -> &mut SimRng {
        &mut self.rng
    }

    pub fn is_running(&self, index: usize) -> bool {
        self.nodes[index].running.is_some()
    }

    /// Indexes of the running nodes, in order.
    pub fn running(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|index| self.is_running(*index))
            .collect()
    }

    pub fn node(&self, index: usize) -> &Node {
        &self.nodes[index]
            .running
            .as_ref()
            .unwrap_or_else(|| panic!("node {index} is not running"))
            .node
    }

    pub fn head(&self, index: usize) -> SealedHeader {
        self.node(index).status().head
    }

    pub fn finalized(&self, index: usize) -> SealedHeader {
        self.node(index).status().finalized
    }

    pub fn reorgs(&self, index: usize) -> u64 {
        self.node(index).metrics().reorgs.get()
    }

    /// Brings the `up` set in line with the running nodes and the cut
    /// links, telling nodes about every connection that went down or up.
    fn update_links(&mut self) {
        let count = self.nodes.len();
        for a in 0..count {
            for b in a + 1..count {
                let pair = (a, b);
                let should_be_up =
                    self.is_running(a) && self.is_running(b) && !self.cut.contains(&pair);
                let is_up = self.up.contains(&pair);
                if is_up && !should_be_up {
                    self.up.remove(&pair);
                    *self.epochs.entry(pair).or_default() += 1;
                    for (me, other) in [(a, b), (b, a)] {
                        if let Some(running) = &self.nodes[me].running {
                            running.node.peer_disconnected(peer_id(other));
                        }
                    }
                } else if !is_up && should_be_up {
                    self.up.insert(pair);
                    *self.epochs.entry(pair).or_default() += 1;
                    let node_a = self.node(a).clone();
                    let node_b = self.node(b).clone();
                    let (height_a, height_b) = (node_a.head().height, node_b.head().height);
                    node_a.peer_connected(peer_id(b), format!("sim-{b}"), height_b, self.now_ms);
                    node_b.peer_connected(peer_id(a), format!("sim-{a}"), height_a, self.now_ms);
                    self.drain(a);
                    self.drain(b);
                }
            }
        }
    }

    /// Routes everything node `from` has queued for its peers.
    fn drain(&mut self, from: usize) {
        loop {
            let Some(running) = &mut self.nodes[from].running else {
                return;
            };
            let Ok(outbound) = running.outbound.try_recv() else {
                return;
            };
            if self.bouncer == Some(from) {
                let own = self.nodes[from].keypair.as_ref().map(Keypair::account);
                if let Outbound::Broadcast {
                    message: Message::Vote(vote),
                    ..
                } = &outbound
                {
                    if Some(vote.authority) == own {
                        self.withheld.push(*vote);
                        continue;
                    }
                }
            }
            if self.crash_on_own_vote == Some(from) {
                let own = self.nodes[from].keypair.as_ref().map(Keypair::account);
                let signed = match &outbound {
                    Outbound::Broadcast {
                        message: Message::Vote(vote),
                        ..
                    } if Some(vote.authority) == own => Some(*vote),
                    _ => None,
                };
                if let Some(vote) = signed {
                    // Persisted but never sent: everything queued is lost.
                    self.crash_on_own_vote = None;
                    self.crashed_with_vote = Some(vote);
                    self.crash(from);
                    return;
                }
            }
            match outbound {
                Outbound::Send { peer, message } => self.enqueue(from, peer_index(peer), message),
                Outbound::Broadcast { except, message } => {
                    for to in 0..self.nodes.len() {
                        if to != from
                            && except != Some(peer_id(to))
                            && self.up.contains(&link(from, to))
                        {
                            self.enqueue(from, to, message.clone());
                        }
                    }
                }
            }
        }
    }

    fn enqueue(&mut self, from: usize, to: usize, message: Message) {
        let pair = link(from, to);
        if from == to || !self.up.contains(&pair) {
            self.stats.dropped += 1;
            return;
        }
        let latency = self.rng.between(self.latency_ms.0, self.latency_ms.1);
        let mut deliver_at = self.now_ms + latency;
        if self.fifo_links {
            let last = self.last_delivery.entry((from, to)).or_default();
            deliver_at = deliver_at.max(*last);
            *last = deliver_at;
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        let epoch = self.epochs[&pair];
        self.queue.insert(
            (deliver_at, seq),
            Envelope {
                from,
                to,
                epoch,
                message,
            },
        );
    }

    fn deliver_due(&mut self) {
        while let Some(entry) = self.queue.first_entry() {
            if entry.key().0 > self.now_ms {
                break;
            }
            let envelope = entry.remove();
            let pair = link(envelope.from, envelope.to);
            if !self.up.contains(&pair) || self.epochs.get(&pair) != Some(&envelope.epoch) {
                self.stats.dropped += 1;
                continue;
            }
            let node = self.node(envelope.to).clone();
            let kind = envelope.message.kind();
            if let Message::Blocks(blocks) = &envelope.message {
                self.stats.reply_blocks += blocks.len() as u64;
            }
            if let Message::Vote(vote) = &envelope.message {
                self.stats.votes_delivered.push((envelope.from, *vote));
            }
            if let Err(err) =
                node.handle_message(peer_id(envelope.from), envelope.message, self.now_ms)
            {
                panic!(
                    "at {} ms node {} treated honest node {} as misbehaving ({kind}): {err}",
                    self.now_ms, envelope.to, envelope.from
                );
            }
            self.stats.delivered += 1;
            *self.stats.delivered_kinds.entry(kind).or_default() += 1;
            self.drain(envelope.to);
        }
    }

    /// One tick of the clock: deliver what is due, then let every running
    /// node (in index order) propose and do its periodic work.
    pub fn step(&mut self) {
        self.now_ms += STEP_MS;
        self.deliver_due();
        for index in 0..self.nodes.len() {
            let Some(running) = &self.nodes[index].running else {
                continue;
            };
            let node = running.node.clone();
            if self.producing {
                if let Err(err) = node.produce_block(self.now_ms) {
                    panic!(
                        "node {index} failed to produce at {} ms: {err}",
                        self.now_ms
                    );
                }
            }
            node.tick(self.now_ms);
            self.drain(index);
        }
        self.release_withheld_votes();
        self.check_finality();
    }

    pub fn run_for(&mut self, duration_ms: u64) {
        let until = self.now_ms + duration_ms;
        while self.now_ms < until {
            self.step();
        }
    }

    pub fn run_slots(&mut self, slots: u64) {
        self.run_for(slots * BLOCK_TIME_MS);
    }

    /// Runs until `done` holds (checked after each step) or `limit_ms`
    /// passes. Returns whether it held.
    pub fn run_until(&mut self, limit_ms: u64, mut done: impl FnMut(&Sim) -> bool) -> bool {
        let until = self.now_ms + limit_ms;
        while self.now_ms < until {
            self.step();
            if done(self) {
                return true;
            }
        }
        false
    }

    /// With block production paused, runs until no block, transaction or
    /// sync message is in flight. Votes and status messages go on every
    /// slot (idle slots are voted on too), so they do not count.
    pub fn quiesce(&mut self) {
        let producing = self.producing;
        self.producing = false;
        let until = self.now_ms + QUIESCE_LIMIT_MS;
        while self.queue.values().any(|envelope| {
            matches!(
                envelope.message,
                Message::NewBlock(_)
                    | Message::NewTx(_)
                    | Message::GetBlocks { .. }
                    | Message::GetAncestors { .. }
                    | Message::Blocks(_)
            )
        }) {
            assert!(
                self.now_ms < until,
                "messages still in flight after a minute"
            );
            self.step();
        }
        self.producing = producing;
    }

    /// Whether all running nodes have the same head.
    pub fn heads_agree(&self) -> bool {
        let heads: BTreeSet<Hash> = self
            .running()
            .into_iter()
            .map(|index| self.head(index).hash())
            .collect();
        heads.len() == 1
    }

    /// Runs (producing) until all running nodes share a head, then lets
    /// everything in flight arrive. Returns whether they agree at the end.
    pub fn converge(&mut self, limit_ms: u64) -> bool {
        let until = self.now_ms + limit_ms;
        loop {
            if self.heads_agree() {
                self.quiesce();
                if self.heads_agree() {
                    return true;
                }
            }
            if self.now_ms >= until {
                return false;
            }
            self.step();
        }
    }

    /// The block hashes of node `index`'s chosen chain, from genesis.
    pub fn chain(&self, index: usize) -> Vec<Hash> {
        let node = self.node(index);
        let head = node.head().height;
        (0..=head)
            .map(|height| {
                node.store()
                    .block_hash_at(height)
                    .expect("store readable")
                    .unwrap_or_else(|| panic!("node {index} has no block at height {height}"))
            })
            .collect()
    }
}
