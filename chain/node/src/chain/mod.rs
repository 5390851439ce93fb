//! The chain service: admits transactions, proposes blocks in its slots,
//! imports blocks from peers (fork choice, reorgs, sync) and keeps the head.
//!
//! Everything that changes the chain is serialized by one mutex around the
//! head, the block tree and the peers' sync state. The mempool has a mutex
//! of its own ([`Pool`]), taken after the chain's when both are: claims
//! are admitted under it alone, so admission goes on while a block is
//! written (see `admission`). Signature checks of submitted transactions
//! happen outside both. Time always comes in
//! as an argument (`now_ms`) so tests can drive many nodes on one simulated
//! clock; the node's timers (in `launch`) read the system clock.
//!
//! Messages for peers leave through a bounded [`Outbound`] queue; the
//! network layer (`net`, or the simulation's in-memory router) delivers them.
//!
//! One file per concern, each an `impl Node` block:
//! - [`admission`](Node::submit_tx): checking and admitting transactions;
//! - `production`: proposing blocks in this node's slots;
//! - `import`: peers' blocks: extend, keep in the block tree, or switch;
//! - `reorg`: switching to a better branch;
//! - `head`: bookkeeping when the head moves (mempool, finality, evidence);
//! - `votes`: finality votes: intake, relay, held votes, the voter's inputs,
//!   certificates and proofs from peers;
//! - `finality`: what the tally's changes mean (fork choice with the
//!   highest justified checkpoint, the finalized block and its proof);
//! - `sync`: peers' heads, block requests and answers, periodic work;
//! - `queries`: status and other read-only answers;
//! - `metrics`: counters for `GET /metrics`;
//! - `errors`: what can go wrong, typed;
//! - `ports`: the narrow traits through which `rpc` and `net` use the node.

mod admission;
mod errors;
mod finality;
mod guard;
mod head;
mod import;
mod metrics;
mod ports;
mod production;
mod queries;
mod reorg;
mod sync;
mod votes;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use bwchain_core::consensus::{
    self, build_block, check_header, check_header_alone, verify_block_with, BlockError, BlockTree,
    SeenSlots, TreeLimits,
};
use bwchain_core::execute::{check_tx_against_state, BlockContext, ExecError, TxError};
use bwchain_core::genesis::ChainSpec;
use bwchain_core::mempool::{Mempool, MempoolError, MempoolLimits};
use bwchain_core::primitives::batch::BatchVerifier;
use bwchain_core::primitives::signing::{self, Keypair};
use bwchain_core::primitives::{
    Account, Block, Hash, SealedHeader, Signature, Tx, TxBody, TxOutcome,
};
use bwchain_core::protocol::{Message, BLOCKS_REPLY_SOFT_BYTES, MAX_BLOCKS_PER_MESSAGE};
use bwchain_core::state::{DiffView, Overlay, StorageError};
use tokio::sync::mpsc;

use crate::clock::now_ms;
use crate::store::{ChainUpdate, Store, StoreError, StoredBlock, TxLocation};

pub use admission::{BACKLOG_BLOCKS, MAX_HOLD};
pub use errors::{ImportError, Imported, Misbehavior, NodeError, SubmitError};
pub use guard::{GuardConfig, SigningState};
pub use metrics::Metrics;
pub use ports::{AccountView, ApiBackend, ChainReader, PeerHandler, TxSubmitter};
pub use queries::{
    liveness, stall_after_slots, AuthorityActivity, ChainStatus, Liveness, PeerView, TxStatus,
};
use sync::PeerSync;

/// Messages waiting for the network layer. Gossip is best effort: when the
/// queue is full, messages are dropped (and sync catches up later).
pub const OUTBOUND_QUEUE: usize = 4096;

/// How many refused transaction hashes admission remembers.
const REJECTED_CACHE: std::num::NonZeroUsize = match std::num::NonZeroUsize::new(16_384) {
    Some(size) => size,
    None => unreachable!(),
};

/// Identifies a connected peer within this process.
pub type PeerId = u64;

/// A message for the network layer to deliver.
#[derive(Debug, Clone)]
pub enum Outbound {
    /// To every connected peer but `except`.
    Broadcast {
        except: Option<PeerId>,
        message: Message,
    },
    /// To one peer.
    Send { peer: PeerId, message: Message },
}

/// Everything a node needs to start.
pub struct NodeConfig {
    pub spec: ChainSpec,
    /// The authority key, for a node that proposes blocks.
    pub keypair: Option<Keypair>,
    pub data_dir: PathBuf,
    pub mempool: MempoolLimits,
    /// When the authority may start signing (doppelganger, sync first).
    pub guard: GuardConfig,
}

impl NodeConfig {
    /// A node without an authority key (it imports, admits and serves, but
    /// proposes nothing), default mempool limits, the signing guard open:
    /// what tests of a single node start from.
    pub fn follower(spec: ChainSpec, data_dir: PathBuf) -> Self {
        Self {
            spec,
            keypair: None,
            data_dir,
            mempool: MempoolLimits::default(),
            guard: GuardConfig::open(),
        }
    }
}

struct ChainState {
    head: SealedHeader,
    finalized: SealedHeader,
    last_signed_slot: Option<u64>,
    idle_blocks: u64,
    /// How much work this proposer's next block may carry.
    pacer: consensus::BuildPacer,
    /// Side branches, orphans, held and invalid blocks.
    tree: BlockTree,
    /// First header seen per (slot, proposer), for equivocation detection.
    seen_slots: SeenSlots,
    peers: BTreeMap<PeerId, PeerSync>,
    last_status_ms: u64,
    /// A catch-up from peers in progress, for its log lines.
    catch_up: Option<sync::CatchUp>,
    /// Finality votes; `None` with one authority (no votes: every block is
    /// final when committed).
    votes: Option<votes::Votes>,
    /// When this authority may sign (and whether it has stopped for good).
    guard: guard::SigningGuard,
}

/// The mempool and what admission needs of the head, under a mutex of
/// their own. Lock order: the chain's first, then this one.
struct Pool {
    mempool: Mempool,
    /// The head admission checks against: the chain's, updated (and the
    /// mempool pruned) once a new head's block is written.
    head: SealedHeader,
    /// Pending work past which API submissions are held
    /// ([`BACKLOG_BLOCKS`] blocks as the pacer sizes them).
    backlog_limit: usize,
}

struct Shared {
    spec: ChainSpec,
    keypair: Option<Keypair>,
    store: Store,
    chain: Mutex<ChainState>,
    pool: Mutex<Pool>,
    /// Signalled (on `pool`) when the head moves and the mempool shrinks:
    /// wakes the submissions that [`Node::hold_while_backlogged`] holds.
    head_moved: Condvar,
    metrics: Metrics,
    outbound: mpsc::Sender<Outbound>,
    /// Checks signatures on all cores, keeping devices' keys decompressed.
    verifier: BatchVerifier,
    /// Transactions recently refused for good (shape or signatures), so a
    /// resubmission is answered without checking its signatures again.
    rejected: Mutex<lru::LruCache<Hash, TxError>>,
    /// How far ahead of its state nonce a sender's transaction may be.
    max_pending_per_sender: usize,
    /// Configured peers (`--peer`) the network has no connection to.
    unconnected_peers: Mutex<Vec<String>>,
}

/// A handle to a node. Cheap to clone.
#[derive(Clone)]
pub struct Node {
    shared: Arc<Shared>,
}

impl Node {
    /// Opens the store (creating it from genesis if empty) and resumes from
    /// its head. Returns the node and the queue of messages for its peers.
    pub fn open(config: NodeConfig) -> Result<(Self, mpsc::Receiver<Outbound>), NodeError> {
        if let Some(keypair) = &config.keypair {
            if !config.spec.is_authority(&keypair.account()) {
                return Err(NodeError::NotAuthority {
                    key: keypair.account(),
                });
            }
        }
        let store = Store::open(&config.data_dir, &config.spec)?;
        let head = store.head()?;
        let last_signed_slot = store.last_signed_slot()?;
        let votes = if config.spec.genesis.authorities.len() > 1 {
            Some(votes::Votes::open(
                &config.spec,
                &store,
                config.keypair.as_ref(),
            )?)
        } else {
            None
        };
        let finalized = match &votes {
            // One authority: its every block is final when committed.
            None => head.clone(),
            Some(votes) => {
                let checkpoint = votes.tally.finalized();
                match store.header(&checkpoint.hash)? {
                    Some(header)
                        if store.block_hash_at(header.height)? == Some(checkpoint.hash) =>
                    {
                        SealedHeader::new(header)
                    }
                    _ => config.spec.genesis_header.clone(),
                }
            }
        };
        let last_vote = store.last_vote()?;
        let guard = guard::SigningGuard::new(&config.spec, config.guard, last_vote.as_ref());
        let (outbound, outbound_rx) = mpsc::channel(OUTBOUND_QUEUE);
        let pacer = consensus::BuildPacer::default();
        let pool = Pool {
            mempool: Mempool::new(config.mempool),
            head: head.clone(),
            backlog_limit: admission::backlog_limit(&pacer, &config.spec),
        };
        let node = Self {
            shared: Arc::new(Shared {
                chain: Mutex::new(ChainState {
                    head,
                    finalized,
                    last_signed_slot,
                    idle_blocks: 0,
                    pacer,
                    tree: BlockTree::new(TreeLimits::default()),
                    seen_slots: SeenSlots::default(),
                    peers: BTreeMap::new(),
                    last_status_ms: 0,
                    catch_up: None,
                    votes,
                    guard,
                }),
                pool: Mutex::new(pool),
                head_moved: Condvar::new(),
                spec: config.spec,
                keypair: config.keypair,
                store,
                metrics: Metrics::default(),
                outbound,
                verifier: BatchVerifier::default(),
                rejected: Mutex::new(lru::LruCache::new(REJECTED_CACHE)),
                max_pending_per_sender: config.mempool.max_per_sender,
                unconnected_peers: Mutex::new(Vec::new()),
            }),
        };
        node.check_stored_blocks(&mut node.chain())?;
        Ok((node, outbound_rx))
    }

    fn chain(&self) -> MutexGuard<'_, ChainState> {
        // A panic while holding the lock leaves nothing half-written in the
        // store (commits are atomic), so the state behind it is still usable.
        self.shared
            .chain
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The mempool's lock; with the chain's, take that one first.
    fn pool(&self) -> MutexGuard<'_, Pool> {
        self.shared
            .pool
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn spec(&self) -> &ChainSpec {
        &self.shared.spec
    }

    pub fn store(&self) -> &Store {
        &self.shared.store
    }

    pub fn metrics(&self) -> &Metrics {
        &self.shared.metrics
    }

    pub fn authority(&self) -> Option<Account> {
        self.shared.keypair.as_ref().map(Keypair::account)
    }

    fn send(&self, outbound: Outbound) {
        if self.shared.outbound.try_send(outbound).is_err() {
            self.metrics().outbound_dropped.inc();
        }
    }

    fn broadcast(&self, except: Option<PeerId>, message: Message) {
        self.send(Outbound::Broadcast { except, message });
    }
}
