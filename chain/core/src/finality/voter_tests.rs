//! The voter as a table of steps: input, expected outputs.

use super::*;
use crate::finality::test_tree::{hash, Tree, A, B, B2, C, G};
use crate::finality::vote::quorum;

/// Four authorities on the tree, with a tally the tests fill.
struct World {
    tree: Tree,
    tally: Tally,
}

impl std::ops::Deref for World {
    type Target = Tree;
    fn deref(&self) -> &Tree {
        &self.tree
    }
}

impl World {
    fn new() -> Self {
        let tree = Tree::new(4);
        let tally = Tally::new(&tree.genesis, tree.genesis_hash);
        Self { tree, tally }
    }

    fn voter(
        &self,
        index: usize,
        last: Option<SignedVote>,
        past_genesis: bool,
        slot: u64,
    ) -> (Voter, Vec<VoterOutput>) {
        Voter::resume(
            self.keys[index].clone(),
            &self.genesis,
            self.genesis_hash,
            last,
            past_genesis,
            slot,
        )
    }

    fn justify(&mut self, source: Checkpoint, target: Checkpoint) {
        let vote = Vote { source, target };
        for key in &self.tree.keys[..quorum(4)] {
            self.tally
                .add_vote(vote.sign(&self.tree.genesis_hash, key), &self.tree.blocks);
        }
        assert!(self.tally.is_justified(&target));
    }

    fn step(&self, voter: &mut Voter, input: VoterInput) -> Vec<VoterOutput> {
        voter.step(input, &self.tally, &self.blocks)
    }

    fn signed(&self, index: usize, source: Checkpoint, target: Checkpoint) -> SignedVote {
        Vote { source, target }.sign(&self.genesis_hash, &self.keys[index])
    }
}

fn persisted_then_sent(outputs: &[VoterOutput]) -> Vote {
    match outputs {
        [VoterOutput::Persist(a), VoterOutput::Send(b)] if a == b => a.vote,
        other => panic!("expected persist then send of one vote, got {other:?}"),
    }
}

#[test]
fn the_proposer_leads_and_the_others_follow() {
    let w = World::new();
    // Slot 1 is authority-1's.
    let (mut proposer, _) = w.voter(1, None, false, 1);
    let lead =
        persisted_then_sent(&w.step(&mut proposer, VoterInput::Proposed { block: w.cp(A, 1) }));
    assert_eq!(
        lead,
        Vote {
            source: w.cp(G, 0),
            target: w.cp(A, 1)
        }
    );
    let lead = *proposer.last_vote().unwrap();
    for follower in [0, 2, 3] {
        let (mut voter, _) = w.voter(follower, None, false, 1);
        let copied = persisted_then_sent(&w.step(&mut voter, VoterInput::LeadVote(lead)));
        assert_eq!(copied, lead.vote, "authority-{follower} copies the lead");
        // One vote per slot: the deadline and another lead change nothing.
        assert!(w
            .step(&mut voter, VoterInput::Deadline { head: w.cp(A, 1) })
            .is_empty());
        assert!(w.step(&mut voter, VoterInput::LeadVote(lead)).is_empty());
    }
    // A vote by someone who is not the slot's proposer is not a lead.
    let (mut voter, _) = w.voter(3, None, false, 1);
    let not_lead = w.signed(2, w.cp(G, 0), w.cp(A, 1));
    assert!(w
        .step(&mut voter, VoterInput::LeadVote(not_lead))
        .is_empty());
    // Only the slot's proposer leads.
    let (mut other, _) = w.voter(2, None, false, 1);
    assert!(w
        .step(&mut other, VoterInput::Proposed { block: w.cp(A, 1) })
        .is_empty());
}

#[test]
fn a_lead_waits_for_its_block_then_is_followed() {
    let mut w = World::new();
    let missing = w.tree.blocks.0.remove(&hash(A)).unwrap();
    let (mut voter, _) = w.voter(0, None, false, 1);
    let lead = w.signed(
        1,
        w.cp(G, 0),
        Checkpoint {
            slot: 1,
            height: 1,
            hash: hash(A),
        },
    );
    assert!(w.step(&mut voter, VoterInput::LeadVote(lead)).is_empty());
    assert!(w.step(&mut voter, VoterInput::BlockImported).is_empty());
    w.tree.blocks.insert(hash(A), missing);
    let copied = persisted_then_sent(&w.step(&mut voter, VoterInput::BlockImported));
    assert_eq!(copied, lead.vote);
}

#[test]
fn a_lead_with_a_low_source_is_refused_and_the_voter_falls_back() {
    let mut w = World::new();
    w.justify(w.cp(G, 0), w.cp(A, 1));
    w.justify(w.cp(A, 1), w.cp(B, 2));
    // authority-0 last voted A -> B in slot 2.
    let last = w.signed(0, w.cp(A, 1), w.cp(B, 2));
    let (mut voter, resent) = w.voter(0, Some(last), true, 3);
    assert!(resent.is_empty(), "the last vote was for another slot");
    // Slot 3 is authority-3's; its lead uses the old source G.
    let low = w.signed(3, w.cp(G, 0), w.cp(C, 3));
    // Source G (slot 0) is below the last vote's source A (slot 1): refused.
    assert_eq!(
        voter.may_sign(&low.vote, &w.tally, &w.blocks),
        Err(Refusal::SourceBelowLastVote {
            source_slot: 0,
            last: 1
        })
    );
    assert!(w.step(&mut voter, VoterInput::LeadVote(low)).is_empty());
    // At the deadline it votes J* -> head instead.
    let fallback =
        persisted_then_sent(&w.step(&mut voter, VoterInput::Deadline { head: w.cp(C, 3) }));
    assert_eq!(
        fallback,
        Vote {
            source: w.cp(B, 2),
            target: w.cp(C, 3)
        }
    );
}

#[test]
fn a_restart_in_the_slot_of_the_last_vote_resends_it_and_signs_nothing() {
    let w = World::new();
    let last = w.signed(0, w.cp(G, 0), w.cp(A, 1));
    let (mut voter, outputs) = w.voter(0, Some(last), true, 1);
    assert_eq!(outputs, vec![VoterOutput::Send(last)]);
    assert!(w
        .step(&mut voter, VoterInput::Deadline { head: w.cp(A, 1) })
        .is_empty());
    let lead = w.signed(1, w.cp(G, 0), w.cp(A, 1));
    assert!(w.step(&mut voter, VoterInput::LeadVote(lead)).is_empty());
    // Next slot it votes again.
    w.step(&mut voter, VoterInput::Slot(2));
    let next = persisted_then_sent(&w.step(&mut voter, VoterInput::Deadline { head: w.cp(B, 2) }));
    assert_eq!(next.target, w.cp(B, 2));
}

#[test]
fn a_storeless_authority_waits_for_its_peers_justified_checkpoint() {
    let mut w = World::new();
    w.justify(w.cp(G, 0), w.cp(A, 1));
    let (mut voter, outputs) = w.voter(0, None, true, 2);
    assert!(outputs.is_empty());
    assert!(voter.awaiting_peers());
    assert!(w
        .step(&mut voter, VoterInput::Deadline { head: w.cp(B, 2) })
        .is_empty());
    assert_eq!(
        voter.may_sign(
            &Vote {
                source: w.cp(A, 1),
                target: w.cp(B, 2)
            },
            &w.tally,
            &w.blocks
        ),
        Err(Refusal::AwaitingPeers)
    );
    w.step(&mut voter, VoterInput::PeersJustified(w.cp(A, 1)));
    assert!(!voter.awaiting_peers());
    assert_eq!(
        voter.may_sign(
            &Vote {
                source: w.cp(G, 0),
                target: w.cp(B, 2)
            },
            &w.tally,
            &w.blocks
        ),
        Err(Refusal::SourceBelowPeers {
            source_slot: 0,
            floor: 1
        })
    );
    w.step(&mut voter, VoterInput::Slot(3));
    let vote = persisted_then_sent(&w.step(&mut voter, VoterInput::Deadline { head: w.cp(C, 3) }));
    assert_eq!(vote.source, w.cp(A, 1));
}

#[test]
fn may_sign_table() {
    let mut w = World::new();
    w.justify(w.cp(G, 0), w.cp(A, 1));
    let last = w.signed(0, w.cp(A, 1), w.cp(A, 2));
    let (voter, _) = w.voter(0, Some(last), true, 3);
    let (fresh, _) = w.voter(0, None, false, 3);
    let v = |source, target| Vote { source, target };
    let rows: Vec<(&str, &Voter, Vote, Result<(), Refusal>)> = vec![
        ("allowed", &voter, v(w.cp(A, 1), w.cp(C, 3)), Ok(())),
        (
            "not the current slot",
            &voter,
            v(w.cp(A, 1), w.cp(C, 4)),
            Err(Refusal::NotCurrentSlot {
                target: 4,
                current: 3,
            }),
        ),
        (
            "source below the last",
            &voter,
            v(w.cp(G, 0), w.cp(C, 3)),
            Err(Refusal::SourceBelowLastVote {
                source_slot: 0,
                last: 1,
            }),
        ),
        (
            "source unjustified",
            &fresh,
            v(w.cp(B, 2), w.cp(C, 3)),
            Err(Refusal::SourceNotJustified),
        ),
        (
            "target unknown",
            &fresh,
            v(
                w.cp(A, 1),
                Checkpoint {
                    slot: 3,
                    height: 3,
                    hash: Hash([77; 32]),
                },
            ),
            Err(Refusal::TargetUnknown),
        ),
    ];
    for (name, voter, vote, expected) in rows {
        assert_eq!(
            voter.may_sign(&vote, &w.tally, &w.blocks),
            expected,
            "{name}"
        );
    }
    // Not after the last vote: the same target slot again.
    let (at_last, _) = w.voter(0, Some(last), true, 2);
    assert_eq!(
        at_last.may_sign(&v(w.cp(A, 1), w.cp(B, 2)), &w.tally, &w.blocks),
        Err(Refusal::NotAfterLastVote { target: 2, last: 2 })
    );
    // A source as new as the target: the slot is justified already.
    assert_eq!(
        voter.may_sign(&v(w.cp(C, 3), w.cp(C, 3)), &w.tally, &w.blocks),
        Err(Refusal::OutOfOrder)
    );
    // Slot 0 never.
    let (zero, _) = w.voter(0, None, false, 0);
    assert_eq!(
        zero.may_sign(&v(w.cp(G, 0), w.cp(G, 0)), &w.tally, &w.blocks),
        Err(Refusal::SlotZero)
    );
    // Off the finalized block: finalize B, then a target on B'.
    w.justify(w.cp(A, 1), w.cp(B, 2));
    w.justify(w.cp(B, 2), w.cp(C, 3));
    assert_eq!(w.tally.finalized(), w.cp(B, 2));
    let (late, _) = w.voter(1, None, false, 4);
    assert_eq!(
        late.may_sign(
            &v(
                w.cp(A, 1),
                Checkpoint {
                    slot: 4,
                    ..w.cp(B2, 2)
                }
            ),
            &w.tally,
            &w.blocks
        ),
        Err(Refusal::TargetOffFinalized)
    );
    assert_eq!(
        late.may_sign(
            &v(
                w.cp(B, 2),
                Checkpoint {
                    slot: 4,
                    ..w.cp(B2, 2)
                }
            ),
            &w.tally,
            &w.blocks
        ),
        Err(Refusal::TargetOffSource)
    );
}
