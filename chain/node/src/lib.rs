//! bwchain-node: the I/O shell around [`bwchain_core`].
//!
//! - [`store`]: sled storage, one atomic batch per block; the only writer of
//!   the chain, reachable only from [`chain`].
//! - [`chain`]: the chain service: admits transactions, produces blocks,
//!   imports peers' blocks (fork choice, reorgs, sync), keeps the head.
//! - [`net`]: the TCP peer transport (handshake, gossip, reconnection, bans).
//! - [`rpc`]: the HTTP API (axum), one file per resource, in the shapes of
//!   [`bwchain_api`]; it reads and submits through the narrow traits of
//!   [`chain`], never the store.
//! - `explorer`: the block explorer, server-rendered HTML pages (maud) on
//!   the HTTP API's port, reading through the same traits as [`rpc`].
//! - [`audit`]: replays a stored chain from genesis and checks every root
//!   and the supply invariant.
//! - [`clock`]: the system clock; the only place the node reads time.
//! - [`files`]: genesis and key files on disk, and new random keys.
//! - [`launch`]: wires store, chain service, network and HTTP API together:
//!   the one place a node is started.
//! - [`testnet`]: writes the keys, genesis and start/stop scripts of a
//!   loopback test network (`bwchain testnet`).
//! - [`bench`]: measures included receipts per second on a real node
//!   against this machine's raw limits (`bwchain bench`).
//!
//! [`sim`] (feature `testkit`) runs many nodes on one seeded, simulated clock
//! and network, for tests; `rpc::fake` (same feature) serves the HTTP API
//! from a scripted in-memory chain, for clients' tests.

pub mod audit;
pub mod bench;
pub mod chain;
pub mod clock;
mod explorer;
pub mod files;
pub mod launch;
pub mod net;
pub mod rpc;
#[cfg(feature = "testkit")]
pub mod sim;
pub mod store;
pub mod testnet;
