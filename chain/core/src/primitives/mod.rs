//! The chain's vocabulary, lowest layer first (each module uses only those
//! above it in this list):
//! - [`bytes`](Hash): hashes, accounts and signatures with a hex text form;
//! - [`codec`]: the bincode legacy layout and the bounded decoder;
//! - [`hash`]: SHA-256, domain tags, Merkle roots;
//! - types (re-exported here): receipts, transactions, headers, blocks, and
//!   the sealed header that carries its hash;
//! - [`verify`]: the signature rule (admissible keys, ZIP-215's cofactored
//!   equation), single and batch;
//! - [`signing`]: the exact signed bytes, keys, verification, key files;
//! - [`batch`]: many signatures verified at once on all cores.

mod bytes;
pub mod codec;
pub mod hash;
mod types;

pub mod verify;

pub mod batch;
pub mod signing;

pub use bytes::{Account, Hash, HexError, Signature};

/// A hash map for the hot paths (state overlays, the mempool): foldhash
/// instead of SipHash, several times faster on these keys. Still seeded
/// per process (keys such as session numbers are chosen by senders, who
/// must not be able to make them collide); no result depends on the seed.
pub type FastMap<K, V> = std::collections::HashMap<K, V, FastHasher>;
/// [`FastMap`]'s hasher.
pub type FastHasher = foldhash::fast::RandomState;
pub use types::*;
