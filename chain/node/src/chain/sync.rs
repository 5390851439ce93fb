//! Peers and sync: what each peer's head is, requests for the blocks we
//! lack (one at a time), answers to peers' requests, and periodic work.

use super::*;

/// A sync request unanswered for this long is sent again (to any peer).
const SYNC_TIMEOUT_MS: u64 = 5_000;

/// How often a node tells its peers where its head is.
const STATUS_EVERY_MS: u64 = 2_000;

/// How often a catching-up node logs its progress.
const SYNC_LOG_EVERY_MS: u64 = 5_000;

/// A node this many blocks behind its best peer logs its catching up
/// (start, progress, "caught up"); smaller gaps close within a slot or two.
const SYNC_LOG_MIN_BEHIND: u64 = 8;

/// A catch-up in progress, for its log lines.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct CatchUp {
    started_ms: u64,
    start_height: u64,
    logged_ms: u64,
    logged_height: u64,
}

/// What a catch-up step has to say.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum CatchUpEvent {
    Started {
        height: u64,
        target: u64,
    },
    Progress {
        height: u64,
        target: u64,
        blocks_per_sec: f64,
        /// `None` while no block came since the last line.
        eta_secs: Option<f64>,
    },
    CaughtUp {
        height: u64,
        blocks: u64,
        seconds: f64,
    },
}

impl CatchUp {
    /// The head moved from `before` to `height` (or a tick came, `before
    /// == height`) while the best peer is at `target`: the catch-up after
    /// it, and what to log. Gaps under `SYNC_LOG_MIN_BEHIND` blocks are
    /// not worth a line.
    pub(super) fn step(
        current: Option<CatchUp>,
        before: u64,
        height: u64,
        target: u64,
        now_ms: u64,
    ) -> (Option<CatchUp>, Option<CatchUpEvent>) {
        let Some(mut catch_up) = current else {
            if target >= before.saturating_add(SYNC_LOG_MIN_BEHIND) && height < target {
                let started = CatchUp {
                    started_ms: now_ms,
                    start_height: before,
                    logged_ms: now_ms,
                    logged_height: before,
                };
                let event = CatchUpEvent::Started {
                    height: before,
                    target,
                };
                return (Some(started), Some(event));
            }
            return (None, None);
        };
        if height >= target {
            let event = CatchUpEvent::CaughtUp {
                height,
                blocks: height.saturating_sub(catch_up.start_height),
                seconds: now_ms.saturating_sub(catch_up.started_ms) as f64 / 1000.0,
            };
            return (None, Some(event));
        }
        let since_ms = now_ms.saturating_sub(catch_up.logged_ms);
        if since_ms < SYNC_LOG_EVERY_MS {
            return (Some(catch_up), None);
        }
        let blocks_per_sec =
            height.saturating_sub(catch_up.logged_height) as f64 * 1000.0 / since_ms as f64;
        let eta_secs = (blocks_per_sec > 0.0).then(|| (target - height) as f64 / blocks_per_sec);
        catch_up.logged_ms = now_ms;
        catch_up.logged_height = height;
        let event = CatchUpEvent::Progress {
            height,
            target,
            blocks_per_sec,
            eta_secs,
        };
        (Some(catch_up), Some(event))
    }
}

#[derive(Debug, Default)]
pub(super) struct PeerSync {
    pub(super) address: String,
    pub(super) head_height: u64,
    /// When our outstanding sync request to this peer was sent.
    pub(super) request_sent_ms: Option<u64>,
}

impl Node {
    /// A peer finished its handshake.
    pub fn peer_connected(&self, peer: PeerId, address: String, head_height: u64, now_ms: u64) {
        let mut chain = self.chain();
        chain.peers.insert(
            peer,
            PeerSync {
                address,
                head_height,
                request_sent_ms: None,
            },
        );
        self.greet_peer(&chain, peer, now_ms);
        self.maybe_request_sync(&mut chain, peer, now_ms);
    }

    pub fn peer_disconnected(&self, peer: PeerId) {
        self.chain().peers.remove(&peer);
    }

    /// Whether a sync request of ours (blocks or ancestors) is still awaited.
    /// One at a time: asking every peer for the same range wastes them all.
    pub(super) fn sync_outstanding(chain: &ChainState, now_ms: u64) -> bool {
        chain.peers.values().any(|peer| {
            peer.request_sent_ms
                .is_some_and(|sent| now_ms.saturating_sub(sent) < SYNC_TIMEOUT_MS)
        })
    }

    /// Asks `peer` for the blocks after our head if it is ahead and no sync
    /// request is outstanding.
    pub(super) fn maybe_request_sync(&self, chain: &mut ChainState, peer: PeerId, now_ms: u64) {
        if Self::sync_outstanding(chain, now_ms) {
            return;
        }
        let head_height = chain.head.height;
        let Some(state) = chain.peers.get_mut(&peer) else {
            return;
        };
        if state.head_height > head_height {
            state.request_sent_ms = Some(now_ms);
            self.send(Outbound::Send {
                peer,
                message: Message::GetBlocks {
                    from_height: head_height + 1,
                    max: MAX_BLOCKS_PER_MESSAGE,
                },
            });
        }
    }

    /// Asks `peer` for the ancestors of a block we lack, starting from the
    /// lowest block still missing below the orphans waiting on it.
    pub(super) fn request_ancestors(&self, peer: PeerId, missing: Hash, now_ms: u64) {
        let mut chain = self.chain();
        if Self::sync_outstanding(&chain, now_ms) {
            return;
        }
        let root = chain.tree.missing_root(missing);
        if let Some(state) = chain.peers.get_mut(&peer) {
            state.request_sent_ms = Some(now_ms);
        }
        self.send(Outbound::Send {
            peer,
            message: Message::GetAncestors {
                hash: root,
                max: MAX_BLOCKS_PER_MESSAGE,
            },
        });
    }

    /// Handles one message from a connected peer. An error means the peer
    /// misbehaved and should be dropped.
    pub fn handle_message(
        &self,
        peer: PeerId,
        message: Message,
        now_ms: u64,
    ) -> Result<(), Misbehavior> {
        match message {
            Message::Hello(_) => Err(Misbehavior::SecondHello),
            Message::Status {
                head_height,
                head_hash: _,
                justified,
                finalized,
            } => {
                let mut chain = self.chain();
                if let Some(state) = chain.peers.get_mut(&peer) {
                    state.head_height = head_height;
                }
                // A peer ahead in finality: ask for its proof and certificate.
                let (our_justified, our_finalized) = self.checkpoints(&chain);
                if chain.votes.is_some()
                    && (justified.slot > our_justified.slot || finalized.slot > our_finalized.slot)
                {
                    self.send(Outbound::Send {
                        peer,
                        message: Message::GetFinality,
                    });
                }
                self.maybe_request_sync(&mut chain, peer, now_ms);
                Ok(())
            }
            Message::Vote(vote) => {
                let mut chain = self.chain();
                self.receive_vote(&mut chain, vote, Some(peer), now_ms)
            }
            Message::GetFinality => {
                let chain = self.chain();
                if let Some(message) = self.finality_message(&chain) {
                    self.send(Outbound::Send { peer, message });
                }
                Ok(())
            }
            Message::Finality { proof, justified } => {
                let mut chain = self.chain();
                self.receive_finality(&mut chain, proof, justified, peer, now_ms)
            }
            Message::GetCertificate { target } => {
                let chain = self.chain();
                let certificate = chain
                    .votes
                    .as_ref()
                    .and_then(|votes| votes.tally.certificate(&target).cloned());
                if let Some(certificate) = certificate {
                    self.send(Outbound::Send {
                        peer,
                        message: Message::Certificate(certificate),
                    });
                }
                Ok(())
            }
            Message::Certificate(certificate) => {
                let mut chain = self.chain();
                self.receive_certificate(&mut chain, certificate, peer, now_ms)
            }
            Message::NewBlock(block) => {
                let height = block.header.height;
                {
                    let mut chain = self.chain();
                    if let Some(state) = chain.peers.get_mut(&peer) {
                        state.head_height = state.head_height.max(height);
                    }
                }
                self.import_from_peer(peer, block, now_ms)
            }
            Message::NewTx(tx) => match self.submit_tx_at(tx, now_ms, Some(peer)) {
                Err(SubmitError::Invalid(
                    err @ (TxError::BadSignature { .. } | TxError::BadReceiptSignature { .. }),
                )) => Err(Misbehavior::BadTxSignature(err)),
                Err(err) => {
                    tracing::debug!(peer, error = %err, "gossiped transaction refused");
                    Ok(())
                }
                Ok(_) => Ok(()),
            },
            Message::GetBlocks { from_height, max } => {
                self.reply_blocks(peer, self.canonical_blocks(from_height, max));
                Ok(())
            }
            Message::GetAncestors { hash, max } => {
                self.reply_blocks(peer, self.ancestors(hash, max));
                Ok(())
            }
            Message::Blocks(blocks) => {
                if blocks.len() > MAX_BLOCKS_PER_MESSAGE as usize {
                    return Err(Misbehavior::TooManyBlocks {
                        found: blocks.len(),
                        max: MAX_BLOCKS_PER_MESSAGE,
                    });
                }
                let height_before = {
                    let mut chain = self.chain();
                    if let Some(state) = chain.peers.get_mut(&peer) {
                        state.request_sent_ms = None;
                    }
                    chain.head.height
                };
                for block in blocks {
                    self.import_from_peer(peer, block, now_ms)?;
                }
                // Ask for more only after progress; otherwise the ancestors
                // being fetched (or the next tick) decide what comes next.
                let mut chain = self.chain();
                if chain.head.height > height_before {
                    self.log_catch_up(&mut chain, height_before, now_ms);
                    self.maybe_request_sync(&mut chain, peer, now_ms);
                }
                Ok(())
            }
        }
    }

    /// Logs a catch-up from peers: when it starts (at `height_before`),
    /// every `SYNC_LOG_EVERY_MS` (height, target, rate, ETA), and when the
    /// head reaches the best peer's.
    pub(super) fn log_catch_up(&self, chain: &mut ChainState, height_before: u64, now_ms: u64) {
        if chain.peers.is_empty() {
            // Nothing to compare with; the catch-up goes on when a peer comes.
            return;
        }
        let target = chain
            .peers
            .values()
            .map(|peer| peer.head_height)
            .max()
            .unwrap_or(0);
        let (catch_up, event) = CatchUp::step(
            chain.catch_up,
            height_before,
            chain.head.height,
            target,
            now_ms,
        );
        chain.catch_up = catch_up;
        match event {
            None => {}
            Some(CatchUpEvent::Started { height, target }) => tracing::info!(
                height,
                target,
                behind = target - height,
                "syncing: catching up with peers"
            ),
            Some(CatchUpEvent::Progress {
                height,
                target,
                blocks_per_sec,
                eta_secs,
            }) => tracing::info!(
                height,
                target,
                blocks_per_sec = format_args!("{blocks_per_sec:.1}"),
                eta = %eta_secs.map_or("unknown".to_owned(), |secs| format!("{secs:.0}s")),
                "syncing: progress"
            ),
            Some(CatchUpEvent::CaughtUp {
                height,
                blocks,
                seconds,
            }) => tracing::info!(
                height,
                blocks,
                seconds = format_args!("{seconds:.1}"),
                blocks_per_sec = format_args!("{:.1}", blocks as f64 / seconds.max(0.001)),
                "caught up with peers"
            ),
        }
    }

    /// Answers a peer's block request; a store failure is ours, not the
    /// peer's, so it is logged and the peer simply gets no answer.
    pub(super) fn reply_blocks(&self, peer: PeerId, blocks: Result<Vec<Block>, StoreError>) {
        match blocks {
            Ok(blocks) => self.send(Outbound::Send {
                peer,
                message: Message::Blocks(blocks),
            }),
            Err(err) => tracing::error!(error = %err, "cannot read blocks for a peer"),
        }
    }

    pub(super) fn import_from_peer(
        &self,
        peer: PeerId,
        block: Block,
        now_ms: u64,
    ) -> Result<(), Misbehavior> {
        match self.import_block(block, now_ms, Some(peer)) {
            Ok(Imported::Orphan { missing }) => {
                self.request_ancestors(peer, missing, now_ms);
                Ok(())
            }
            Ok(_) => Ok(()),
            Err(ImportError::Node(err)) => {
                tracing::error!(error = %err, "importing a block failed");
                Ok(())
            }
            Err(err) => Err(Misbehavior::BadBlock(err)),
        }
    }

    /// Blocks of the chosen chain from `from_height`, within the reply limits.
    pub fn canonical_blocks(&self, from_height: u64, max: u32) -> Result<Vec<Block>, StoreError> {
        let max = max.min(MAX_BLOCKS_PER_MESSAGE);
        let mut blocks = Vec::new();
        let mut bytes = 0;
        for height in from_height..from_height.saturating_add(u64::from(max)) {
            let Some(stored) = self.store().block_at(height)? else {
                break;
            };
            bytes += bwchain_core::mempool::approx_block_size(&stored.block);
            blocks.push(stored.block);
            if bytes >= BLOCKS_REPLY_SOFT_BYTES {
                break;
            }
        }
        Ok(blocks)
    }

    /// The stored block `hash` and its stored ancestors, lowest first.
    pub fn ancestors(&self, hash: Hash, max: u32) -> Result<Vec<Block>, StoreError> {
        let max = max.min(MAX_BLOCKS_PER_MESSAGE);
        let mut blocks = Vec::new();
        let mut bytes = 0;
        let mut cursor = hash;
        while blocks.len() < max as usize && bytes < BLOCKS_REPLY_SOFT_BYTES {
            let Some(stored) = self.store().block(&cursor)? else {
                break;
            };
            if stored.block.header.height == 0 {
                break;
            }
            cursor = stored.block.header.parent;
            bytes += bwchain_core::mempool::approx_block_size(&stored.block);
            blocks.push(stored.block);
        }
        blocks.reverse();
        Ok(blocks)
    }

    /// Periodic work: blocks whose time has come, the voter's slot and
    /// mid-slot deadline, status announcements and sync requests that timed
    /// out.
    pub fn tick(&self, now_ms: u64) {
        let drift = self.spec().genesis.max_clock_drift_ms;
        let due = self.chain().tree.take_due(now_ms.saturating_add(drift));
        for block in due {
            if let Err(err) = self.import_block(block, now_ms, None) {
                tracing::warn!(error = %err, "held block refused");
            }
        }
        let mut chain = self.chain();
        self.vote_tick(&mut chain, now_ms);
        if now_ms.saturating_sub(chain.last_status_ms) >= STATUS_EVERY_MS {
            chain.last_status_ms = now_ms;
            let (justified, finalized) = self.checkpoints(&chain);
            self.broadcast(
                None,
                Message::Status {
                    head_height: chain.head.height,
                    head_hash: chain.head.hash(),
                    justified,
                    finalized,
                },
            );
        }
        if chain.catch_up.is_some() {
            // The last blocks may have come as gossip rather than a reply.
            let height = chain.head.height;
            self.log_catch_up(&mut chain, height, now_ms);
        }
        let peers: Vec<PeerId> = chain.peers.keys().copied().collect();
        for peer in peers {
            self.maybe_request_sync(&mut chain, peer, now_ms);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_catch_up_logs_its_start_progress_and_end() {
        use CatchUpEvent::*;
        // One step after another: (before, height, target, now) → event.
        let steps = [
            // Three blocks behind: not worth a line.
            ((10, 10, 13, 0), None),
            // 1,000 behind: it starts.
            (
                (10, 138, 1_010, 1_000),
                Some(Started {
                    height: 10,
                    target: 1_010,
                }),
            ),
            ((138, 266, 1_010, 2_000), None),
            // 5 s after the start line: 500 blocks in 5 s, 500 left.
            (
                (266, 510, 1_010, 6_000),
                Some(Progress {
                    height: 510,
                    target: 1_010,
                    blocks_per_sec: 100.0,
                    eta_secs: Some(5.0),
                }),
            ),
            // Nothing came for 5 s: no ETA.
            (
                (510, 510, 1_010, 11_000),
                Some(Progress {
                    height: 510,
                    target: 1_010,
                    blocks_per_sec: 0.0,
                    eta_secs: None,
                }),
            ),
            (
                (510, 1_012, 1_012, 12_000),
                Some(CaughtUp {
                    height: 1_012,
                    blocks: 1_002,
                    seconds: 11.0,
                }),
            ),
            // Caught up and following: quiet.
            ((1_012, 1_013, 1_013, 12_250), None),
        ];
        let mut catch_up = None;
        for ((before, height, target, now), expected) in steps {
            let (next, event) = CatchUp::step(catch_up, before, height, target, now);
            assert_eq!(event, expected, "at {now} ms");
            catch_up = next;
        }
        assert_eq!(catch_up, None);
    }
}
