//! What the HTTP API and the peer network may ask of the chain service.
//!
//! `rpc` and `net` depend on these traits, not on [`Node`]: the API can only
//! read and submit, the network can only hand over peers' messages, and
//! neither can reach the store's write methods. Tests serve the API from a
//! fake [`ChainReader`] without a node.

use bwchain_core::finality::{FinalityProof, VoteEvidence};
use bwchain_core::genesis::ChainSpec;
use bwchain_core::primitives::{Account, Hash, Tx};
use bwchain_core::protocol::Message;
use bwchain_core::state::{AccountRecord, DeviceRecord, Overlay, SessionId, SupplyRecord};

use super::{
    AuthorityActivity, ChainStatus, Metrics, Misbehavior, Node, PeerId, SubmitError, TxStatus,
};
use crate::clock::now_ms;
use crate::store::{AccountTxEntry, Evidence, StoreError, StoredBlock, TxRole};

/// An account as the API shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountView {
    pub record: AccountRecord,
    pub device: Option<DeviceRecord>,
    /// The nonce the account's next transaction must carry, counting its
    /// pending transactions.
    pub next_nonce: u64,
}

/// Read access to the chain, for the HTTP API.
pub trait ChainReader: Send + Sync + 'static {
    fn spec(&self) -> &ChainSpec;
    /// The head, finality, mempool size and peers.
    fn status(&self) -> ChainStatus;
    /// This node's authority key, if it proposes blocks.
    fn authority(&self) -> Option<Account>;
    /// Each authority's latest block among the recent blocks of the chain.
    fn authority_activity(&self) -> Result<Vec<AuthorityActivity>, StoreError>;
    /// A stored block by hash (on the chosen chain or a former one).
    fn block(&self, hash: &Hash) -> Result<Option<StoredBlock>, StoreError>;
    /// The block at `height` on the chosen chain.
    fn block_at(&self, height: u64) -> Result<Option<StoredBlock>, StoreError>;
    fn tx_status(&self, hash: &Hash) -> Result<Option<TxStatus>, StoreError>;
    fn account(&self, account: &Account) -> Result<AccountView, StoreError>;
    /// Bytes counted so far for a provider–consumer session.
    fn session(&self, id: &SessionId) -> Result<u64, StoreError>;
    fn supply(&self) -> Result<SupplyRecord, StoreError>;
    /// Equivocation evidence recorded so far.
    fn evidence(&self) -> Result<Vec<Evidence>, StoreError>;
    /// Slashable votes recorded so far.
    fn vote_evidence(&self) -> Result<Vec<VoteEvidence>, StoreError>;
    /// The proof that the block at `height` is final (`None` when it is not
    /// final, or with one authority).
    fn finality_proof(&self, height: u64) -> Result<Option<FinalityProof>, StoreError>;
    fn metrics(&self) -> &Metrics;
    /// The store's size on disk, in bytes.
    fn store_size_bytes(&self) -> Result<u64, StoreError> {
        Ok(0)
    }
    /// Up to `limit` registered devices (active or revoked), in key order,
    /// strictly after `after`.
    fn devices(
        &self,
        after: Option<&Account>,
        limit: usize,
    ) -> Result<Vec<(Account, DeviceRecord)>, StoreError>;
    /// Up to `limit` included transactions concerning `account`, newest
    /// first, strictly older than the position `before`.
    fn account_txs(
        &self,
        account: &Account,
        before: Option<(u64, u32, TxRole)>,
        limit: usize,
    ) -> Result<Vec<AccountTxEntry>, StoreError>;
    /// Bytes credited by every claim on the chosen chain.
    fn credited_total(&self) -> Result<u64, StoreError>;
    /// Configured peers (`--peer`) that are not connected.
    fn configured_peers_unconnected(&self) -> Vec<String> {
        Vec::new()
    }
}

/// Transaction submission, for the HTTP API. Signature checks are CPU work:
/// callers run these off the async workers.
pub trait TxSubmitter: Send + Sync + 'static {
    /// Checks a transaction and adds it to the mempool, then gossips it.
    fn submit_tx(&self, tx: Tx) -> Result<Hash, SubmitError>;
    /// Checks many transactions at once; one result per transaction, in order.
    fn submit_batch(&self, txs: Vec<Tx>) -> Vec<Result<Hash, SubmitError>>;
}

/// Everything the HTTP API needs.
pub trait ApiBackend: ChainReader + TxSubmitter {}
impl<T: ChainReader + TxSubmitter> ApiBackend for T {}

/// The chain service as the peer network sees it.
pub trait PeerHandler: Send + Sync + 'static {
    fn genesis_hash(&self) -> Hash;
    /// Our head (height, hash), for a handshake.
    fn head(&self) -> (u64, Hash);
    /// A peer finished its handshake.
    fn peer_connected(&self, peer: PeerId, address: String, head_height: u64, now_ms: u64);
    fn peer_disconnected(&self, peer: PeerId);
    /// Handles one message; an error means the peer misbehaved.
    fn handle_message(
        &self,
        peer: PeerId,
        message: Message,
        now_ms: u64,
    ) -> Result<(), Misbehavior>;
    /// The configured peers (`--peer`) the network is not connected to,
    /// for `status`; sent whenever that changes.
    fn configured_peers_unconnected(&self, _addresses: Vec<String>) {}
}

impl ChainReader for Node {
    fn spec(&self) -> &ChainSpec {
        Node::spec(self)
    }

    fn status(&self) -> ChainStatus {
        Node::status(self)
    }

    fn authority(&self) -> Option<Account> {
        Node::authority(self)
    }

    fn authority_activity(&self) -> Result<Vec<AuthorityActivity>, StoreError> {
        Node::authority_activity(self)
    }

    fn block(&self, hash: &Hash) -> Result<Option<StoredBlock>, StoreError> {
        self.store().block(hash)
    }

    fn block_at(&self, height: u64) -> Result<Option<StoredBlock>, StoreError> {
        self.store().block_at(height)
    }

    fn tx_status(&self, hash: &Hash) -> Result<Option<TxStatus>, StoreError> {
        Node::tx_status(self, hash)
    }

    fn account(&self, account: &Account) -> Result<AccountView, StoreError> {
        let mut state = Overlay::new(self.store());
        Ok(AccountView {
            record: state.account(account)?,
            device: state.device(account)?,
            next_nonce: self.next_nonce(account)?,
        })
    }

    fn session(&self, id: &SessionId) -> Result<u64, StoreError> {
        Ok(Overlay::new(self.store()).session(id)?)
    }

    fn supply(&self) -> Result<SupplyRecord, StoreError> {
        Ok(Overlay::new(self.store()).supply()?)
    }

    fn evidence(&self) -> Result<Vec<Evidence>, StoreError> {
        self.store().evidence()
    }

    fn vote_evidence(&self) -> Result<Vec<VoteEvidence>, StoreError> {
        self.store().vote_evidence()
    }

    fn finality_proof(&self, height: u64) -> Result<Option<FinalityProof>, StoreError> {
        Node::finality_proof(self, height)
    }

    fn metrics(&self) -> &Metrics {
        Node::metrics(self)
    }

    fn store_size_bytes(&self) -> Result<u64, StoreError> {
        self.store().size_on_disk()
    }
    fn devices(
        &self,
        after: Option<&Account>,
        limit: usize,
    ) -> Result<Vec<(Account, DeviceRecord)>, StoreError> {
        self.store().devices(after, limit)
    }

    fn account_txs(
        &self,
        account: &Account,
        before: Option<(u64, u32, TxRole)>,
        limit: usize,
    ) -> Result<Vec<AccountTxEntry>, StoreError> {
        self.store().account_txs(account, before, limit)
    }

    fn credited_total(&self) -> Result<u64, StoreError> {
        self.store().credited_total()
    }
    fn configured_peers_unconnected(&self) -> Vec<String> {
        self.shared
            .unconnected_peers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }
}

impl TxSubmitter for Node {
    fn submit_tx(&self, tx: Tx) -> Result<Hash, SubmitError> {
        self.hold_while_backlogged();
        Node::submit_tx(self, tx)
    }

    fn submit_batch(&self, txs: Vec<Tx>) -> Vec<Result<Hash, SubmitError>> {
        self.hold_while_backlogged();
        Node::submit_batch(self, txs, now_ms())
    }
}

impl PeerHandler for Node {
    fn genesis_hash(&self) -> Hash {
        self.spec().genesis_hash()
    }

    fn head(&self) -> (u64, Hash) {
        let head = Node::head(self);
        (head.height, head.hash())
    }

    fn peer_connected(&self, peer: PeerId, address: String, head_height: u64, now_ms: u64) {
        Node::peer_connected(self, peer, address, head_height, now_ms)
    }

    fn peer_disconnected(&self, peer: PeerId) {
        Node::peer_disconnected(self, peer)
    }

    fn handle_message(
        &self,
        peer: PeerId,
        message: Message,
        now_ms: u64,
    ) -> Result<(), Misbehavior> {
        Node::handle_message(self, peer, message, now_ms)
    }

    fn configured_peers_unconnected(&self, addresses: Vec<String>) {
        *self
            .shared
            .unconnected_peers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = addresses;
    }
}
