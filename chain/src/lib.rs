//! bwchain: a proof-of-authority chain that pays for shared bandwidth.
//!
//! The crate is a pure core wrapped in an I/O shell.
//!
//! Pure (synchronous; no tokio, sled, clock or randomness — time comes in as
//! arguments):
//! - [`types`]: keys, hashes, receipts, transactions, headers, blocks, and
//!   their bincode and JSON encodings.
//! - [`crypto`]: SHA-256, the exact signed bytes, strict ed25519, Merkle
//!   roots, key files.
//! - [`batch`]: many signatures verified at once on all cores, accepting
//!   exactly what strict single verification accepts.
//! - [`genesis`]: strict `genesis.json` parsing, the genesis state and hash.
//! - [`state`]: state entries, the read view, the write overlay and the
//!   LtHash state root.
//! - [`execute`]: the state transition: claims, capacity budgets, transfers,
//!   device registry, nonces and per-block minting.
//! - [`consensus`]: slots, proposers, block validity, finality.
//! - [`mempool`]: pending transactions, ordered by nonce per sender.
//!
//! I/O shell:
//! - [`store`]: sled storage; one atomic batch per block.
//! - [`audit`]: replays a stored chain from genesis and checks every root
//!   and the supply invariant.
//! - [`node`]: the chain service: admits transactions, produces blocks,
//!   imports peers' blocks (fork choice, reorgs, sync), keeps the head.
//! - [`p2p`]: the wire protocol (pure: messages, framing) and the TCP
//!   transport (handshake, gossip, reconnection, bans).
//! - [`rpc`]: the HTTP API (axum).
//!
//! [`testkit`] holds keys, genesis and transaction builders shared by tests
//! and benchmarks.

pub mod audit;
pub mod batch;
pub mod consensus;
pub mod crypto;
pub mod execute;
pub mod genesis;
pub mod mempool;
pub mod node;
pub mod p2p;
pub mod rpc;
pub mod state;
pub mod store;
pub mod testkit;
pub mod types;
