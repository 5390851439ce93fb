//! The signing guard: when this authority may sign blocks and votes.
//!
//! Two dangers, one gate:
//! - **A stale head.** An authority restarted behind its peers would sign on
//!   the head it stopped at, and its block would be reorged away (or worse,
//!   its votes would be wasted on it). With peers configured it first learns
//!   their heads and syncs, within a bounded wait after which it proceeds
//!   alone ([`GuardConfig::sync_wait_ms`]).
//! - **A doppelganger.** The same key running twice equivocates every slot.
//!   As Ethereum clients and CometBFT do, the authority first listens for a
//!   few slots ([`GuardConfig::listen_slots`]) for blocks or votes signed by
//!   its own key that it did not make; it also checks its recent blocks in
//!   the store at start. Whenever it sees one (at start or at any time
//!   later), it stops signing for good: the operator is told what to do, and
//!   `launch` exits the process unless told otherwise.
//!
//! A signature "not made here" is one whose slot is at or after this run's
//! start and above anything this node recorded signing before it, and that
//! this run did not sign: a block for a slot above the last one this node
//! signed (or for the same slot with another hash), a vote for a target
//! slot above the last vote it recorded that this run did not send. Older
//! ones may be this key's own, from before a restart (votes go out only
//! after they are recorded, so a killed node's last vote is in its store).

use std::collections::VecDeque;

use bwchain_core::finality::SignedVote;

use super::*;

/// How many of this run's own vote ids are remembered, to recognise them
/// when peers relay them back.
const OWN_VOTES: usize = 256;
/// How far back from the head the store is searched at start for blocks of
/// this key that it did not sign.
const STORE_LOOKBACK_BLOCKS: u64 = 256;

/// When the guard lets an authority sign.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuardConfig {
    /// When this run started (its slot is where "not made here" begins).
    pub started_ms: u64,
    /// Slots to listen for the own key's signatures before signing (0: none).
    pub listen_slots: u64,
    /// With peers configured: the longest wait for their heads and the sync
    /// before signing (0: do not wait).
    pub sync_wait_ms: u64,
    /// Whether to watch for the own key's signatures not made here.
    pub watch: bool,
}

impl GuardConfig {
    /// Signs at once and watches nothing (simulations).
    pub fn open() -> Self {
        Self {
            started_ms: 0,
            listen_slots: 0,
            sync_wait_ms: 0,
            watch: false,
        }
    }

    /// Signs at once, and stops if the own key signs elsewhere (a node
    /// without peers: there is nobody to wait for).
    pub fn alone(started_ms: u64) -> Self {
        Self {
            started_ms,
            watch: true,
            ..Self::open()
        }
    }

    /// The defaults for an authority with peers: listen one round of the
    /// authorities plus one slot (its own slot comes round once, and every
    /// slot has votes), and wait up to 30 slots (at least 5 s, at most 60 s)
    /// for the sync.
    pub fn with_peers(genesis: &bwchain_core::genesis::Genesis, started_ms: u64) -> Self {
        let block_time = genesis.block_time_ms;
        Self {
            started_ms,
            listen_slots: genesis.authorities.len() as u64 + 1,
            sync_wait_ms: block_time.saturating_mul(30).clamp(5_000, 60_000),
            watch: true,
        }
    }
}

/// The guard's state, inside the chain state.
#[derive(Debug)]
pub(super) struct SigningGuard {
    config: GuardConfig,
    started_slot: u64,
    /// Votes of this key for target slots below this may be this node's own
    /// from before the restart: the slot after the last vote it recorded
    /// (or the start slot, if higher).
    first_foreign_vote_slot: u64,
    /// Open: the waits are over (it may still be stopped by a doppelganger).
    open: bool,
    /// A doppelganger was seen: what, in words. Nothing is signed any more.
    doppelganger: Option<String>,
    own_votes: VecDeque<Hash>,
    /// The hash of the block this node signed in its last signed slot.
    last_signed_hash: Option<Hash>,
    /// The peers' justified checkpoint, heard while the guard was closed,
    /// for the voter when it opens.
    pub(super) held_input: Option<bwchain_core::finality::VoterInput>,
}

/// What the guard says about signing now (for `/status`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SigningState {
    /// Not an authority.
    None,
    /// Signing.
    Active,
    /// Not signing yet: listening for a doppelganger or syncing first.
    Waiting(String),
    /// Stopped for good: a doppelganger was seen.
    Stopped(String),
}

impl SigningState {
    pub fn describe(&self) -> String {
        match self {
            SigningState::None => "none".into(),
            SigningState::Active => "active".into(),
            SigningState::Waiting(why) => format!("waiting: {why}"),
            SigningState::Stopped(why) => format!("stopped: {why}"),
        }
    }
}

impl SigningGuard {
    pub(super) fn new(
        spec: &ChainSpec,
        config: GuardConfig,
        last_vote: Option<&SignedVote>,
    ) -> Self {
        let started_slot = consensus::slot_at(&spec.genesis, config.started_ms).unwrap_or(0);
        let first_foreign_vote_slot = last_vote
            .map_or(0, |vote| vote.vote.target.slot + 1)
            .max(started_slot);
        let mut own_votes = VecDeque::new();
        own_votes.extend(last_vote.map(|vote| vote.id(&spec.genesis_hash())));
        Self {
            first_foreign_vote_slot,
            open: config.listen_slots == 0 && config.sync_wait_ms == 0,
            config,
            started_slot,
            doppelganger: None,
            own_votes,
            last_signed_hash: None,
            held_input: None,
        }
    }
}

impl Node {
    /// Whether this authority may sign now: opens the gate once the listening
    /// window has passed and the node has caught up with its peers (or waited
    /// long enough for them).
    pub(super) fn may_sign(&self, chain: &mut ChainState, now_ms: u64) -> bool {
        if chain.guard.doppelganger.is_some() {
            return false;
        }
        if chain.guard.open {
            return true;
        }
        match self.waiting_for(chain, now_ms) {
            None => {
                chain.guard.open = true;
                tracing::info!(height = chain.head.height, "signing blocks and votes");
                true
            }
            Some(_) => false,
        }
    }

    /// Why the gate is still closed, if it is.
    fn waiting_for(&self, chain: &ChainState, now_ms: u64) -> Option<String> {
        let guard = &chain.guard;
        let slot = self.slot_of(now_ms);
        let listen_until = guard.started_slot.saturating_add(guard.config.listen_slots);
        if slot < listen_until {
            return Some(format!(
                "listening for another node signing with this key until slot {listen_until}"
            ));
        }
        if guard.config.sync_wait_ms == 0 {
            return None;
        }
        let deadline = guard
            .config
            .started_ms
            .saturating_add(guard.config.sync_wait_ms);
        let best_peer = chain.peers.values().map(|peer| peer.head_height).max();
        let caught_up = best_peer.is_some_and(|best| best <= chain.head.height);
        if caught_up {
            return None;
        }
        if now_ms >= deadline {
            tracing::warn!(
                height = chain.head.height,
                best_peer,
                "no peer brought this node up to date in time; signing on its own head"
            );
            return None;
        }
        Some(match best_peer {
            None => "waiting for a peer's head before signing".into(),
            Some(best) => format!(
                "syncing before signing: height {} of {best}",
                chain.head.height
            ),
        })
    }

    /// What the guard says now (for `/status`).
    pub(super) fn signing_state(&self, chain: &ChainState, now_ms: u64) -> SigningState {
        if self.authority().is_none() {
            return SigningState::None;
        }
        if let Some(what) = &chain.guard.doppelganger {
            return SigningState::Stopped(what.clone());
        }
        if chain.guard.open {
            return SigningState::Active;
        }
        match self.waiting_for(chain, now_ms) {
            Some(why) => SigningState::Waiting(why),
            None => SigningState::Active,
        }
    }

    /// A doppelganger seen so far, in words (`launch` exits on it).
    pub fn doppelganger(&self) -> Option<String> {
        self.chain().guard.doppelganger.clone()
    }

    /// Remembers a block this node signed.
    pub(super) fn signed_block(&self, chain: &mut ChainState, hash: Hash) {
        chain.guard.last_signed_hash = Some(hash);
    }

    /// Remembers a vote this node signed.
    pub(super) fn signed_vote(&self, chain: &mut ChainState, vote: &SignedVote) {
        let id = vote.id(&self.spec().genesis_hash());
        let own = &mut chain.guard.own_votes;
        own.push_back(id);
        if own.len() > OWN_VOTES {
            own.pop_front();
        }
    }

    /// A block header whose signature checked: is it this key's, not made here?
    pub(super) fn watch_block(&self, chain: &mut ChainState, header: &SealedHeader) {
        let Some(own) = self.authority().filter(|_| chain.guard.config.watch) else {
            return;
        };
        if header.proposer != own || header.slot < chain.guard.started_slot {
            return;
        }
        let ours = match chain.last_signed_slot {
            Some(last) if header.slot < last => true,
            Some(last) if header.slot == last => chain
                .guard
                .last_signed_hash
                .is_none_or(|hash| hash == header.hash()),
            _ => false,
        };
        if !ours {
            self.doppelganger_seen(
                chain,
                format!(
                    "block {} at height {} (slot {}) is signed with this node's key {own}, but this node did not make it",
                    header.hash(),
                    header.height,
                    header.slot
                ),
            );
        }
    }

    /// A vote whose signature checked: is it this key's, not made here?
    pub(super) fn watch_vote(&self, chain: &mut ChainState, vote: &SignedVote) {
        let Some(own) = self.authority().filter(|_| chain.guard.config.watch) else {
            return;
        };
        if vote.authority != own || vote.vote.target.slot < chain.guard.first_foreign_vote_slot {
            return;
        }
        let id = vote.id(&self.spec().genesis_hash());
        if !chain.guard.own_votes.contains(&id) {
            self.doppelganger_seen(
                chain,
                format!(
                    "a vote for slot {} is signed with this node's key {own}, but this node did not send it",
                    vote.vote.target.slot
                ),
            );
        }
    }

    /// At start: blocks of this key in the store above the last slot this
    /// node recorded signing were made by another node with the same key.
    pub(super) fn check_stored_blocks(&self, chain: &mut ChainState) -> Result<(), StoreError> {
        let (Some(own), Some(last_signed)) = (self.authority(), chain.last_signed_slot) else {
            return Ok(());
        };
        if !chain.guard.config.watch {
            return Ok(());
        }
        let store = self.store();
        let head = chain.head.height;
        for height in (head.saturating_sub(STORE_LOOKBACK_BLOCKS)..=head).rev() {
            let Some(hash) = store.block_hash_at(height)? else {
                continue;
            };
            let Some(header) = store.header(&hash)? else {
                continue;
            };
            if header.slot <= last_signed {
                break;
            }
            if header.proposer == own {
                self.doppelganger_seen(
                    chain,
                    format!(
                        "the store holds block {hash} at height {height} (slot {}) signed with this node's key {own} after the last slot this node signed ({last_signed})",
                        header.slot
                    ),
                );
                break;
            }
        }
        Ok(())
    }

    fn doppelganger_seen(&self, chain: &mut ChainState, what: String) {
        if chain.guard.doppelganger.is_some() {
            return;
        }
        tracing::error!(
            "DOPPELGANGER: {what}. Another node is running with this authority key; this node has stopped signing blocks and votes. Stop one of the two (only one node may hold an authority key), then restart this one."
        );
        self.metrics().doppelganger.set(1);
        chain.guard.doppelganger = Some(what);
    }
}
