//! Table tests of the tally on a fixed tree `G - A - B - C` with a fork
//! `A - B'`, for several numbers of authorities.

use super::*;
use crate::finality::test_tree::{hash, Tree, A, B, B2, C, D, G};

/// The tree with a tally's helpers.
struct World(Tree);

impl std::ops::Deref for World {
    type Target = Tree;
    fn deref(&self) -> &Tree {
        &self.0
    }
}

impl World {
    fn new(n: usize) -> Self {
        Self(Tree::new(n))
    }

    fn tally(&self) -> Tally {
        Tally::new(&self.genesis, self.genesis_hash)
    }

    /// Votes `source -> target` by the authorities `signers`.
    fn vote(
        &self,
        tally: &mut Tally,
        source: Checkpoint,
        target: Checkpoint,
        signers: std::ops::Range<usize>,
    ) -> TallyUpdate {
        let vote = Vote { source, target };
        let mut last = TallyUpdate::default();
        for i in signers {
            let signed = vote.sign(&self.genesis_hash, &self.keys[i]);
            assert_eq!(check_vote_blocks(&vote, &self.blocks), VoteBlocks::Valid);
            let update = tally.add_vote(signed, &self.blocks);
            last.justified.extend(update.justified);
            last.finalized = update.finalized.or(last.finalized);
            last.safety_fault = update.safety_fault.or(last.safety_fault);
        }
        last
    }
}

const SIZES: [usize; 6] = [2, 3, 4, 5, 7, 20];

#[test]
fn quorum_minus_one_does_not_justify_quorum_does() {
    for n in SIZES {
        let w = World::new(n);
        let q = quorum(n);
        let mut tally = w.tally();
        let (g, a) = (w.cp(G, 0), w.cp(A, 1));
        let update = w.vote(&mut tally, g, a, 0..q - 1);
        assert!(
            update.justified.is_empty() && !tally.is_justified(&a),
            "n = {n}"
        );
        // The same authority again counts once.
        w.vote(&mut tally, g, a, q - 2..q - 1);
        assert!(
            !tally.is_justified(&a),
            "n = {n}: a repeated vote counted twice"
        );
        let update = w.vote(&mut tally, g, a, q - 1..q);
        assert_eq!(update.justified, vec![a], "n = {n}");
        let certificate = tally.certificate(&a).expect("a certificate");
        assert_eq!(certificate.signatures.len(), q);
        assert_eq!(certificate.check(&w.genesis, &w.genesis_hash), Ok(()));
        assert_eq!(
            tally.finalized(),
            w.cp(G, 0),
            "n = {n}: justified is not final"
        );
    }
}

#[test]
fn different_sources_never_add_up() {
    for n in [3usize, 4, 7, 20] {
        let w = World::new(n);
        let q = quorum(n);
        let mut tally = w.tally();
        let (g, a, b) = (w.cp(G, 0), w.cp(A, 1), w.cp(B, 2));
        w.vote(&mut tally, g, a, 0..q);
        // q - 1 vote G -> B and the others A -> B: at least q votes for B
        // in all, but fewer than q for either link.
        w.vote(&mut tally, g, b, 0..q - 1);
        w.vote(&mut tally, a, b, q - 1..n.min(2 * q - 2));
        assert!(
            n.min(2 * q - 2) >= q,
            "n = {n}: the case needs q votes in all"
        );
        assert!(!tally.is_justified(&b), "n = {n}");
        w.vote(&mut tally, a, b, 0..1);
        assert_eq!(
            tally.is_justified(&b),
            n.min(2 * q - 2) - (q - 1) + 1 >= q,
            "n = {n}"
        );
    }
}

#[test]
fn a_link_with_an_unjustified_source_waits_then_cascades() {
    for n in SIZES {
        let w = World::new(n);
        let q = quorum(n);
        let mut tally = w.tally();
        let (g, a, b) = (w.cp(G, 0), w.cp(A, 1), w.cp(B, 2));
        let update = w.vote(&mut tally, a, b, 0..q);
        assert!(update.justified.is_empty(), "n = {n}");
        let update = w.vote(&mut tally, g, a, 0..q);
        assert_eq!(update.justified, vec![a, b], "n = {n}");
        assert_eq!(
            update.finalized,
            Some(a),
            "n = {n}: A -> B at the next slot"
        );
    }
}

#[test]
fn k_finality_table() {
    // (links in order, expected finalized block, expected k)
    type Link = ((u8, u64), (u8, u64));
    let rows: Vec<(&str, Vec<Link>, u8, usize)> = vec![
        ("k = 1", vec![((G, 0), (A, 1)), ((A, 1), (B, 2))], A, 1),
        (
            "k = 2, intermediate on the path",
            vec![((G, 0), (A, 1)), ((A, 1), (B, 2)), ((A, 1), (C, 3))],
            A,
            1,
        ),
        (
            "k = 2 alone",
            vec![((G, 0), (A, 1)), ((G, 0), (B, 2)), ((A, 1), (C, 3))],
            A,
            2,
        ),
        (
            "k = 3",
            vec![
                ((G, 0), (A, 1)),
                ((G, 0), (B, 2)),
                ((G, 0), (C, 3)),
                ((A, 1), (D, 4)),
            ],
            A,
            3,
        ),
        (
            "an intermediate off the A..C path does not finalize",
            vec![((G, 0), (A, 1)), ((G, 0), (B2, 2)), ((A, 1), (C, 3))],
            G,
            0,
        ),
        (
            "a missing slot does not finalize",
            vec![((G, 0), (A, 1)), ((A, 1), (C, 3))],
            G,
            0,
        ),
        (
            "B final after A",
            vec![((G, 0), (A, 1)), ((A, 1), (B, 2)), ((B, 2), (C, 3))],
            B,
            1,
        ),
    ];
    for n in SIZES {
        let w = World::new(n);
        let q = quorum(n);
        for (name, links, final_block, k) in &rows {
            let mut tally = w.tally();
            for ((s, s_slot), (t, t_slot)) in links {
                w.vote(&mut tally, w.cp(*s, *s_slot), w.cp(*t, *t_slot), 0..q);
            }
            let finalized = tally.finalized();
            assert_eq!(finalized.hash, hash(*final_block), "n = {n}: {name}");
            if *k > 0 {
                let finality = tally.finality().expect("a proof");
                assert_eq!(finality.link.source, finalized, "{name}");
                assert_eq!(finality.intermediates.len(), k - 1, "n = {n}: {name}");
                assert_eq!(
                    finality.link.target.slot,
                    finalized.slot + *k as u64,
                    "{name}"
                );
            } else {
                assert!(tally.finality().is_none(), "{name}");
            }
        }
    }
}

#[test]
fn finality_never_moves_back() {
    let w = World::new(4);
    let q = quorum(4);
    let mut tally = w.tally();
    w.vote(&mut tally, w.cp(G, 0), w.cp(A, 1), 0..q);
    w.vote(&mut tally, w.cp(A, 1), w.cp(B, 2), 0..q);
    w.vote(&mut tally, w.cp(B, 2), w.cp(C, 3), 0..q);
    assert_eq!(tally.finalized(), w.cp(B, 2));
    // A later link that would finalize A again changes nothing.
    let update = w.vote(&mut tally, w.cp(A, 1), w.cp(C, 4), 0..q);
    assert_eq!(update.finalized, None);
    assert_eq!(tally.finalized(), w.cp(B, 2));
}

#[test]
fn a_conflicting_justification_is_a_safety_fault_naming_the_offenders() {
    for n in [4usize, 7] {
        let w = World::new(n);
        let q = quorum(n);
        let mut tally = w.tally();
        w.vote(&mut tally, w.cp(G, 0), w.cp(A, 1), 0..q);
        w.vote(&mut tally, w.cp(A, 1), w.cp(B, 2), 0..q);
        w.vote(&mut tally, w.cp(B, 2), w.cp(C, 3), 0..q);
        assert_eq!(tally.finalized(), w.cp(B, 2));
        // q authorities also justify B' at slot 2 from A: double votes by
        // the overlap of the two quorums.
        let update = w.vote(&mut tally, w.cp(A, 1), w.cp(B2, 2), n - q..n);
        let fault = update.safety_fault.expect("a safety fault");
        assert_eq!(fault.finalized, w.cp(B, 2));
        assert_eq!(fault.conflicting.target, w.cp(B2, 2));
        assert!(tally.safety_fault().is_some());
        let evidence = tally.offenders(&fault);
        let mut named: Vec<Account> = evidence.iter().map(|e| e.authority).collect();
        named.sort();
        named.dedup();
        assert!(named.len() >= 2 * q - n, "n = {n}: {} named", named.len());
        assert!(evidence.iter().all(|e| e.offence == Offence::DoubleVote));
        // Finality stops moving once safety is broken.
        let update = w.vote(&mut tally, w.cp(C, 3), w.cp(D, 4), 0..q);
        assert_eq!(update.finalized, None);
        assert_eq!(tally.finalized(), w.cp(B, 2));
    }
}

#[test]
fn evidence_of_double_and_surround_votes() {
    let w = World::new(4);
    let mut tally = w.tally();
    let key = &w.keys[1];
    let sign =
        |source: Checkpoint, target: Checkpoint| Vote { source, target }.sign(&w.genesis_hash, key);
    let first = sign(w.cp(G, 0), w.cp(C, 5));
    assert_eq!(tally.note_evidence(&first), vec![]);
    assert_eq!(tally.note_evidence(&first), vec![], "the same vote again");
    let double = sign(w.cp(A, 1), w.cp(D, 5));
    let evidence = tally.note_evidence(&double).pop().expect("double vote");
    assert_eq!(evidence.offence, Offence::DoubleVote);
    assert_eq!((evidence.first, evidence.second), (first, double));
    let surrounded = sign(w.cp(A, 1), w.cp(B, 3));
    let evidence = tally
        .note_evidence(&surrounded)
        .pop()
        .expect("surround vote");
    assert_eq!(evidence.offence, Offence::SurroundVote);
    // Another authority's votes are its own business.
    let other = Vote {
        source: w.cp(A, 1),
        target: w.cp(B, 3),
    }
    .sign(&w.genesis_hash, &w.keys[2]);
    assert_eq!(tally.note_evidence(&other), vec![]);
    // Old votes leave the window.
    tally.prune(5 + EVIDENCE_WINDOW_SLOTS + 1);
    assert_eq!(tally.note_evidence(&sign(w.cp(B, 2), w.cp(C, 5))), vec![]);
    // A vote that is both a double and a surround vote is both kinds.
    let mut fresh = w.tally();
    fresh.note_evidence(&sign(w.cp(A, 2), w.cp(B, 3)));
    fresh.note_evidence(&sign(w.cp(G, 0), w.cp(C, 6)));
    let both: Vec<Offence> = fresh
        .note_evidence(&sign(w.cp(G, 1), w.cp(C, 6)))
        .iter()
        .map(|e| e.offence)
        .collect();
    assert_eq!(both, vec![Offence::DoubleVote, Offence::SurroundVote]);
}

#[test]
fn certificates_justify_and_highest_justified_follows_known_blocks() {
    let w = World::new(4);
    let q = quorum(4);
    let mut tally = w.tally();
    let (g, a, b) = (w.cp(G, 0), w.cp(A, 1), w.cp(B, 2));
    let vote = Vote {
        source: a,
        target: b,
    };
    let votes: Vec<SignedVote> = w
        .keys
        .iter()
        .map(|k| vote.sign(&w.genesis_hash, k))
        .collect();
    let certificate = Certificate::from_votes(&w.genesis, vote, &votes[..q]);
    // Accepted as proof that B is justified, and so A (its signers checked).
    let update = tally.add_certificate(certificate, &w.blocks);
    assert_eq!(update.justified, vec![a, b]);
    assert!(tally.is_justified(&a));
    assert_eq!(tally.highest_justified(&w.blocks), b);
    // The link A -> B, one slot apart, also makes A final.
    assert_eq!(tally.finalized(), a);
    // J* ignores checkpoints whose blocks are unknown (the finalized one
    // is the floor).
    let mut fewer = w.blocks.clone();
    fewer.0.remove(&hash(B));
    assert_eq!(tally.highest_justified(&fewer), a);
    // A justified B' (certificate only) whose block is unknown is not J*.
    let fork = Vote {
        source: a,
        target: w.cp(B2, 3),
    };
    let fork_votes: Vec<SignedVote> = w
        .keys
        .iter()
        .map(|k| fork.sign(&w.genesis_hash, k))
        .collect();
    let mut other = w.tally();
    other.add_certificate(
        Certificate::from_votes(&w.genesis, fork, &fork_votes[..q]),
        &w.blocks,
    );
    assert_eq!(other.highest_justified(&w.blocks), w.cp(B2, 3));
    let mut no_fork = w.blocks.clone();
    no_fork.0.remove(&hash(B2));
    assert_eq!(other.highest_justified(&no_fork), a);
    assert_eq!(g, w.cp(G, 0));
    // A resumed tally keeps finality and the certificates.
    let restored = Tally::restore(
        &w.genesis,
        w.genesis_hash,
        tally.finality().cloned(),
        tally.certificates().cloned().collect::<Vec<_>>(),
    );
    assert_eq!(restored.finalized(), a);
    assert!(restored.is_justified(&b));
}

#[test]
fn vote_blocks_table() {
    let w = World::new(4);
    let rows: Vec<(&str, Vote, VoteBlocks)> = vec![
        (
            "valid",
            Vote {
                source: w.cp(A, 1),
                target: w.cp(C, 3),
            },
            VoteBlocks::Valid,
        ),
        (
            "slot after the block's",
            Vote {
                source: w.cp(A, 2),
                target: w.cp(C, 9),
            },
            VoteBlocks::Valid,
        ),
        (
            "unknown target",
            Vote {
                source: w.cp(A, 1),
                target: Checkpoint {
                    slot: 9,
                    height: 9,
                    hash: Hash([99; 32]),
                },
            },
            VoteBlocks::Unknown(Hash([99; 32])),
        ),
        (
            "wrong height",
            Vote {
                source: w.cp(A, 1),
                target: Checkpoint {
                    height: 7,
                    ..w.cp(C, 3)
                },
            },
            VoteBlocks::Invalid("a checkpoint's height is not its block's height"),
        ),
        (
            "slot before the block's",
            Vote {
                source: w.cp(A, 1),
                target: w.cp(C, 2),
            },
            VoteBlocks::Invalid("a checkpoint's slot is before its block's slot"),
        ),
        (
            "source off the target's branch",
            Vote {
                source: w.cp(B2, 2),
                target: w.cp(C, 3),
            },
            VoteBlocks::Invalid("the source block is not an ancestor of the target block"),
        ),
    ];
    for (name, vote, expected) in rows {
        assert_eq!(check_vote_blocks(&vote, &w.blocks), expected, "{name}");
    }
}
