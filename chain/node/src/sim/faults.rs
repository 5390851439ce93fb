//! What the simulation does to nodes and links: crashes and restarts, lost
//! stores, partitions, and Byzantine behaviour (messages signed with any
//! key, votes withheld and released late).

use super::*;

impl Sim {
    /// Stops node `index` as a crash would: the node and its queue are
    /// dropped, its links go down and messages in flight are lost.
    pub fn crash(&mut self, index: usize) {
        let running = self.nodes[index].running.take();
        assert!(running.is_some(), "node {index} is not running");
        drop(running);
        self.update_links();
    }

    /// Re-opens node `index` on its data directory and reconnects it.
    pub fn restart(&mut self, index: usize) {
        assert!(!self.is_running(index), "node {index} is running");
        let node = &self.nodes[index];
        let running = open_node(&self.spec, node.keypair.as_ref(), &node.dir);
        self.nodes[index].running = Some(running);
        self.update_links();
    }

    /// Arms a crash of node `index` right after it next signs a vote: the
    /// vote is persisted but nothing it queued leaves. Run, then read
    /// [`Sim::crashed_with_vote`].
    pub fn crash_after_own_vote(&mut self, index: usize) {
        self.crash_on_own_vote = Some(index);
    }

    /// The vote a node signed just before `crash_after_own_vote` crashed it.
    pub fn crashed_with_vote(&self) -> Option<SignedVote> {
        self.crashed_with_vote
    }

    /// Replaces a stopped node's data directory with an empty one (a lost
    /// or new store).
    pub fn wipe(&mut self, index: usize) {
        assert!(!self.is_running(index), "node {index} is running");
        self.nodes[index].dir = tempfile::tempdir().expect("temporary directory");
        self.nodes[index].last_finalized = None;
    }

    /// Sends `message` as if node `from` had sent it to node `to` (for
    /// Byzantine behaviour: anything signed with any key).
    pub fn inject(&mut self, from: usize, to: usize, message: Message) {
        self.enqueue(from, to, message);
    }

    /// Makes node `index` a "bouncer": its own votes are withheld and
    /// released after the middle of the slot, to the lower half of the
    /// other nodes only.
    pub fn set_bouncer(&mut self, index: usize) {
        self.bouncer = Some(index);
    }

    pub(super) fn release_withheld_votes(&mut self) {
        let Some(bouncer) = self.bouncer else { return };
        let into_slot = (self.now_ms - GENESIS_TIME_MS) % BLOCK_TIME_MS;
        if self.withheld.is_empty() || into_slot < BLOCK_TIME_MS / 2 + 2 * STEP_MS {
            return;
        }
        let others: Vec<usize> = (0..self.nodes.len()).filter(|i| *i != bouncer).collect();
        let half = &others[..others.len() / 2];
        for vote in std::mem::take(&mut self.withheld) {
            for to in half {
                self.enqueue(bouncer, *to, Message::Vote(vote));
            }
        }
    }

    /// Lets `authority` appear in evidence (a test-made equivocator).
    pub fn mark_byzantine(&mut self, authority: Account) {
        self.byzantine.insert(authority);
    }

    /// Cuts every link between nodes of different groups. Every node must
    /// be in exactly one group.
    pub fn partition(&mut self, groups: &[&[usize]]) {
        let mut group_of = vec![None; self.nodes.len()];
        for (group, members) in groups.iter().enumerate() {
            for member in *members {
                assert!(group_of[*member].is_none(), "node {member} in two groups");
                group_of[*member] = Some(group);
            }
        }
        assert!(
            group_of.iter().all(Option::is_some),
            "every node must be in a group: {groups:?}"
        );
        self.cut.clear();
        for a in 0..self.nodes.len() {
            for b in a + 1..self.nodes.len() {
                if group_of[a] != group_of[b] {
                    self.cut.insert((a, b));
                }
            }
        }
        self.update_links();
    }

    /// Reconnects every cut link.
    pub fn heal(&mut self) {
        self.cut.clear();
        self.update_links();
    }

    /// Whether authorities propose blocks in their slots.
    pub fn set_producing(&mut self, producing: bool) {
        self.producing = producing;
    }
}
