//! `GET /status`: the node's view of the chain.

use bwchain_core::primitives::{Account, Hash};
use serde::{Deserialize, Serialize};

pub const PATH: &str = "/status";

/// `GET /status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    pub chain_id: String,
    pub genesis_hash: Hash,
    pub height: u64,
    pub head_hash: Hash,
    #[serde(default)]
    pub head_slot: u64,
    #[serde(default)]
    pub head_timestamp_ms: u64,
    pub finalized_height: u64,
    pub finalized_hash: Hash,
    /// The slot of the finalized checkpoint (at or above its block's slot).
    #[serde(default)]
    pub finalized_slot: u64,
    /// The highest justified checkpoint (FINALITY.md §1.4).
    #[serde(default)]
    pub justified_slot: u64,
    #[serde(default)]
    pub justified_height: u64,
    #[serde(default)]
    pub justified_hash: Hash,
    /// A certificate conflicts with the finalized block: at least a third of
    /// the authorities signed conflicting votes, and this node stopped
    /// voting.
    #[serde(default)]
    pub safety_fault: bool,
    pub authorities: Vec<Account>,
    /// This node's authority key; `null` when it does not propose blocks.
    #[serde(default)]
    pub authority: Option<Account>,
    /// When each authority last proposed a block on the chosen chain.
    #[serde(default)]
    pub authority_activity: Vec<AuthorityActivity>,
    #[serde(default)]
    pub block_time_ms: u64,
    pub peers: Vec<Peer>,
    /// Pending transactions.
    pub mempool: u64,
    /// Behind the best peer's head, or behind the clock (more than
    /// `stall_after_slots` slots since the head).
    pub syncing: bool,
    /// Milliseconds from the head's timestamp to the node's clock.
    #[serde(default)]
    pub head_age_ms: u64,
    /// Slots started since the head's slot, by the node's clock.
    #[serde(default)]
    pub slots_since_head: u64,
    /// Slots without a block after which the node is behind the clock:
    /// the number of authorities plus 2.
    #[serde(default)]
    pub stall_after_slots: u64,
    /// Behind the clock with no peer ahead: no block for more than
    /// `stall_after_slots` slots and nowhere to sync from.
    #[serde(default)]
    pub stalled: bool,
    /// Evidence the node holds, blocks and votes (see `GET /evidence`).
    #[serde(default)]
    pub evidence: u64,
    /// Whether this node signs blocks and votes: `none` (not an authority),
    /// `active`, `waiting: ...` (at start: listening for another node with
    /// the same key, or syncing first) or `stopped: ...` (another node signs
    /// with this key).
    #[serde(default)]
    pub signing: String,
    /// Peers given with `--peer` that the node is not connected to (it
    /// keeps dialing them).
    #[serde(default)]
    pub configured_peers_unconnected: Vec<String>,
}

/// One connected peer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Peer {
    pub address: String,
    pub head_height: u64,
}

/// One authority's latest block among the recent blocks of the chain; all
/// three fields `null` when it has none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorityActivity {
    pub authority: Account,
    pub last_height: Option<u64>,
    pub last_slot: Option<u64>,
    pub last_timestamp_ms: Option<u64>,
}

impl AuthorityActivity {
    /// `last_block` is `(height, slot, timestamp_ms)`.
    pub fn new(authority: Account, last_block: Option<(u64, u64, u64)>) -> Self {
        Self {
            authority,
            last_height: last_block.map(|(height, _, _)| height),
            last_slot: last_block.map(|(_, slot, _)| slot),
            last_timestamp_ms: last_block.map(|(_, _, timestamp_ms)| timestamp_ms),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::round_trip::assert_round_trip;

    const ALICE: &str = "e634d24e6c16ad31c2e034df755912c6bd72fa1744269a165b8990d10ef9bbca";

    #[test]
    fn status_of_an_authority_round_trips() {
        let sample = r#"{"authorities":["e634d24e6c16ad31c2e034df755912c6bd72fa1744269a165b8990d10ef9bbca"],"authority":"e634d24e6c16ad31c2e034df755912c6bd72fa1744269a165b8990d10ef9bbca","authority_activity":[{"authority":"e634d24e6c16ad31c2e034df755912c6bd72fa1744269a165b8990d10ef9bbca","last_height":2,"last_slot":2,"last_timestamp_ms":1002010}],"block_time_ms":1000,"chain_id":"bwchain-test","configured_peers_unconnected":[],"evidence":1,"finalized_hash":"9a426be68e3efd995d816cefdc59f79578806102f8012c9f5d2b60bf8ec24bdb","finalized_height":2,"finalized_slot":2,"genesis_hash":"90e1d7948b6e0c29678cda95b13b232efde90959058220310c8580ed00779b19","head_age_ms":420,"head_hash":"9a426be68e3efd995d816cefdc59f79578806102f8012c9f5d2b60bf8ec24bdb","head_slot":2,"head_timestamp_ms":1002010,"height":2,"justified_hash":"9a426be68e3efd995d816cefdc59f79578806102f8012c9f5d2b60bf8ec24bdb","justified_height":2,"justified_slot":2,"mempool":1,"peers":[],"safety_fault":false,"signing":"active","slots_since_head":0,"stall_after_slots":3,"stalled":false,"syncing":false}"#;
        let status: Status = assert_round_trip(sample);
        assert_eq!(status.authority, Some(ALICE.parse().unwrap()));
        assert_eq!(status.authority_activity[0].last_slot, Some(2));
    }

    #[test]
    fn status_of_a_follower_with_a_peer_round_trips() {
        let sample = r#"{"authorities":["e634d24e6c16ad31c2e034df755912c6bd72fa1744269a165b8990d10ef9bbca"],"authority":null,"authority_activity":[{"authority":"e634d24e6c16ad31c2e034df755912c6bd72fa1744269a165b8990d10ef9bbca","last_height":null,"last_slot":null,"last_timestamp_ms":null}],"block_time_ms":1000,"chain_id":"bwchain-dev","configured_peers_unconnected":["127.0.0.1:9702"],"evidence":0,"finalized_hash":"0000000000000000000000000000000000000000000000000000000000000000","finalized_height":0,"finalized_slot":0,"genesis_hash":"0000000000000000000000000000000000000000000000000000000000000000","head_age_ms":240000,"head_hash":"0000000000000000000000000000000000000000000000000000000000000000","head_slot":0,"head_timestamp_ms":1000000,"height":0,"justified_hash":"0000000000000000000000000000000000000000000000000000000000000000","justified_height":0,"justified_slot":0,"mempool":0,"peers":[{"address":"127.0.0.1:9701","head_height":5}],"safety_fault":false,"signing":"none","slots_since_head":240,"stall_after_slots":3,"stalled":false,"syncing":true}"#;
        let status: Status = assert_round_trip(sample);
        assert_eq!(status.authority, None);
        assert_eq!(
            status.authority_activity[0],
            AuthorityActivity::new(ALICE.parse().unwrap(), None)
        );
        assert_eq!(status.peers[0].head_height, 5);
        assert_eq!((status.slots_since_head, status.stalled), (240, false));
        assert_eq!(status.configured_peers_unconnected, vec!["127.0.0.1:9702"]);
    }

    #[test]
    fn fields_newer_nodes_added_may_be_absent() {
        let status: Status = serde_json::from_str(
            r#"{"chain_id":"t","genesis_hash":"0000000000000000000000000000000000000000000000000000000000000000","height":1,"head_hash":"0000000000000000000000000000000000000000000000000000000000000000","finalized_height":1,"finalized_hash":"0000000000000000000000000000000000000000000000000000000000000000","authorities":[],"peers":[],"mempool":0,"syncing":false,"from_the_future":1}"#,
        )
        .unwrap();
        assert_eq!((status.head_slot, status.evidence), (0, 0));
        assert_eq!((status.head_age_ms, status.stalled), (0, false));
        assert!(status.authority_activity.is_empty());
        assert!(status.configured_peers_unconnected.is_empty());
    }
}
