//! What the simulation checks: after every step, that finality never
//! reverts or conflicts, that every finalized block has a proof a light
//! client accepts, and that no honest authority is in any evidence; and on
//! demand, audits of every node's stored chain.

use super::*;

impl Sim {
    /// Checks that no running node holds evidence against an honest
    /// authority.
    pub fn assert_no_honest_evidence(&self) {
        for index in self.running() {
            self.check_no_honest_evidence(index, self.node(index));
        }
    }

    /// Audits every running node: its stored chain replays from genesis to
    /// its head, and its stored state (by its LtHash root) is the state the
    /// head block commits to.
    pub fn audit_all(&self) -> Vec<AuditReport> {
        self.running()
            .into_iter()
            .map(|index| {
                let node = self.node(index);
                let report = audit::audit(node.store(), &self.spec)
                    .unwrap_or_else(|err| panic!("node {index} fails its audit: {err}"));
                let head = node.head();
                assert_eq!(report.head_hash, head.hash(), "node {index}: audited head");
                assert_eq!(report.state_root, head.state_root, "node {index}: root");
                let stored_root = node
                    .store()
                    .accumulator()
                    .expect("accumulator readable")
                    .root();
                assert_eq!(stored_root, head.state_root, "node {index}: stored state");
                report
            })
            .collect()
    }

    /// The finality checks run after every step.
    /// The finalized block has a proof that a light client accepts, and
    /// no honest authority appears in any evidence.
    fn check_proof_and_evidence(&mut self, index: usize, node: &Node, finalized: &SealedHeader) {
        let at = self.now_ms;
        if self.spec.genesis.authorities.len() > 1 {
            let proof = node
                .finality_proof(finalized.height)
                .expect("store readable")
                .unwrap_or_else(|| {
                    panic!(
                        "at {at} ms node {index} has no proof for its finalized block {}",
                        finalized.height
                    )
                });
            if let Err(err) = check_proof(
                &self.spec.genesis,
                &self.spec.genesis_hash(),
                &finalized.hash(),
                &proof,
            ) {
                panic!("at {at} ms node {index}'s finality proof fails: {err}");
            }
            *self
                .stats
                .proof_k
                .entry(1 + proof.intermediates.len())
                .or_default() += 1;
        }
        self.check_no_honest_evidence(index, node);
    }

    /// No honest authority appears in node `index`'s evidence.
    fn check_no_honest_evidence(&self, index: usize, node: &Node) {
        let at = self.now_ms;
        let store = node.store();
        for evidence in store.vote_evidence().expect("store readable") {
            assert!(
                self.byzantine.contains(&evidence.authority),
                "at {at} ms node {index} holds vote evidence against honest authority {}",
                evidence.authority
            );
        }
        for evidence in store.evidence().expect("store readable") {
            assert!(
                self.byzantine.contains(&evidence.proposer),
                "at {at} ms node {index} holds block evidence against honest authority {}",
                evidence.proposer
            );
        }
    }

    pub(super) fn check_finality(&mut self) {
        for index in 0..self.nodes.len() {
            let Some(running) = &self.nodes[index].running else {
                continue;
            };
            let node = running.node.clone();
            let status = node.status();
            let store = node.store();
            let (head, finalized) = (status.head, status.finalized);
            let at = self.now_ms;
            assert_eq!(
                store
                    .block_hash_at(finalized.height)
                    .expect("store readable"),
                Some(finalized.hash()),
                "at {at} ms node {index}'s finalized block is not on its chosen chain"
            );
            let previous = self.nodes[index].last_finalized;
            let from_height = match previous {
                Some((height, hash)) => {
                    assert!(
                        finalized.height >= height,
                        "at {at} ms node {index}'s finalized height went from {height} down to {}",
                        finalized.height
                    );
                    if finalized.height == height {
                        assert_eq!(
                            finalized.hash(),
                            hash,
                            "at {at} ms node {index} changed its finalized block at {height}"
                        );
                    }
                    height + 1
                }
                None => 0,
            };
            // Every newly final height, from the node's chosen chain (the
            // finalized block is on it, so its ancestors are too).
            for height in from_height..=finalized.height {
                let hash = store
                    .block_hash_at(height)
                    .expect("store readable")
                    .expect("ancestors of the finalized block are stored");
                match self.finalized_by_height.get(&height) {
                    Some(seen) if !self.check_agreement => {
                        let _ = seen;
                    }
                    Some(seen) => assert_eq!(
                        *seen, hash,
                        "at {at} ms node {index} finalized a block at height {height} that \
                         conflicts with one finalized before"
                    ),
                    None => {
                        self.finalized_by_height.insert(height, hash);
                    }
                }
            }
            let moved = previous.map_or(finalized.height > 0, |(height, _)| {
                finalized.height > height
            });
            if moved {
                self.check_proof_and_evidence(index, &node, &finalized);
            }
            self.nodes[index].last_finalized = Some((finalized.height, finalized.hash()));
            if finalized.height > 0 {
                *self
                    .stats
                    .finality_lag
                    .entry(head.height - finalized.height)
                    .or_default() += 1;
            }
        }
    }

    /// The highest height any node has finalized.
    pub fn highest_finalized(&self) -> u64 {
        self.finalized_by_height
            .last_key_value()
            .map_or(0, |(height, _)| *height)
    }
}
