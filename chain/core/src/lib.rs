//! bwchain-core: the pure core of a proof-of-authority chain that pays for
//! shared bandwidth.
//!
//! Everything here is plain synchronous code: no tokio, sled, sockets,
//! clock or OS randomness (this crate's Cargo.toml does not even depend on
//! them). Time and seeds come in as arguments, so every rule can be tested
//! alone and every node computes the same thing from the same inputs.
//!
//! - [`primitives`]: hashes, keys, receipts, transactions, headers, blocks;
//!   their encodings, signed bytes, signing and (batch) verification.
//! - [`genesis`]: strict `genesis.json` parsing, the genesis state and hash,
//!   and the presets (dev, testnet, bench chains).
//! - [`state`]: state entries, the read view, the write overlay and the
//!   LtHash state root.
//! - [`execute`]: the state transition: claims, capacity budgets, transfers,
//!   device registry, nonces and per-block minting.
//! - [`consensus`]: slots, proposers, block validity and building, fork
//!   choice by length, equivocation detection and the tree of blocks that
//!   are not (yet) on the chosen chain.
//! - [`finality`]: finality by FFG votes: vote bytes, certificates,
//!   slashable pairs, the tally, the voter, fork choice with the highest
//!   justified checkpoint, and finality proofs with their light-client
//!   check.
//! - [`mempool`]: pending transactions, ordered by nonce per sender.
//! - [`protocol`]: peer messages and their framing.
//!
//! [`testkit`] (feature `testkit`) holds keys, genesis and transaction
//! builders shared by tests and benchmarks.

pub mod consensus;
pub mod execute;
pub mod finality;
pub mod genesis;
pub mod mempool;
pub mod primitives;
pub mod protocol;
pub mod state;
#[cfg(feature = "testkit")]
pub mod testkit;
