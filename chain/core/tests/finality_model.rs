//! Property test of finality votes (FINALITY.md §3 item 8): random block
//! trees, honest voters (each with its own tally, driven by the pure
//! `Voter`) that hear votes in random order and with random losses, and
//! `b` Byzantine authorities that sign arbitrary votes.
//!
//! Checked after every run:
//! - no two votes signed by one honest authority are slashable;
//! - with `b < 2q - n`, no two honest voters ever finalize conflicting
//!   blocks (and no honest tally reports a safety fault);
//! - with `b >= 2q - n`, every conflict between two honest voters' final
//!   blocks comes with slashable pairs naming at least `2q - n`
//!   authorities, all of them Byzantine.
//!
//! `PROPTEST_CASES=N` runs N cases instead of the default 48.

use std::collections::{BTreeMap, BTreeSet};

use bwchain_core::finality::blocks::{BlockIndex, BlockInfo, MemBlocks};
use bwchain_core::finality::tally::{check_vote_blocks, VoteBlocks};
use bwchain_core::finality::{
    is_slashable, quorum, Checkpoint, SignedVote, Tally, Vote, Voter, VoterInput, VoterOutput,
};
use bwchain_core::genesis::{presets, Genesis};
use bwchain_core::primitives::signing::Keypair;
use bwchain_core::primitives::{Account, Hash};
use proptest::prelude::*;
use proptest::strategy::ValueTree;

/// One step of a run.
#[derive(Debug, Clone)]
enum Step {
    /// A new block in the next slot, on the proposer's fork-choice head;
    /// the slot's proposer leads if honest.
    Block { parent: usize },
    /// An empty slot.
    Skip,
    /// Deliver one of the latest votes (`index` back from the newest) to
    /// voter `to`, or to every honest voter (a gossip round).
    Deliver {
        index: usize,
        to: usize,
        everyone: bool,
    },
    /// The mid-slot deadline for voter `to`, with its fork-choice head (or,
    /// now and then, one of the newest blocks).
    Deadline { to: usize, head: usize },
    /// A Byzantine authority signs a random vote between known blocks.
    Byzantine {
        signer: usize,
        source: usize,
        target: usize,
        slot_back: u64,
    },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => any::<usize>().prop_map(|parent| Step::Block { parent }),
        1 => Just(Step::Skip),
        14 => (any::<usize>(), any::<usize>(), prop::bool::weighted(0.7))
            .prop_map(|(index, to, everyone)| Step::Deliver { index, to, everyone }),
        3 => (any::<usize>(), any::<usize>()).prop_map(|(to, head)| Step::Deadline { to, head }),
        2 => (any::<usize>(), any::<usize>(), any::<usize>(), 0u64..3)
            .prop_map(|(signer, source, target, slot_back)| Step::Byzantine { signer, source, target, slot_back }),
    ]
}

struct Run {
    genesis: Genesis,
    genesis_hash: Hash,
    keys: Vec<Keypair>,
    /// Authorities `0..byzantine` are Byzantine; the rest are honest.
    byzantine: usize,
    blocks: MemBlocks,
    /// Known blocks in creation order, with their slots.
    known: Vec<(Hash, u64)>,
    slot: u64,
    /// One voter (and its own view) per honest authority, by index.
    voters: BTreeMap<usize, (Voter, Tally)>,
    votes: Vec<SignedVote>,
    signed_by_honest: BTreeMap<Account, Vec<SignedVote>>,
}

impl Run {
    fn new(n: usize, byzantine: usize) -> Self {
        let keys: Vec<Keypair> = (0..n)
            .map(|i| Keypair::dev(&format!("authority-{i}")))
            .collect();
        let genesis = Genesis {
            authorities: keys.iter().map(Keypair::account).collect(),
            ..presets::dev()
        };
        let genesis_hash = Hash([0xaa; 32]);
        let mut blocks = MemBlocks::default();
        blocks.insert(
            genesis_hash,
            BlockInfo {
                height: 0,
                slot: 0,
                parent: Hash::ZERO,
            },
        );
        let voters = (byzantine..n)
            .map(|index| {
                let (voter, _) =
                    Voter::resume(keys[index].clone(), &genesis, genesis_hash, None, false, 0);
                (index, (voter, Tally::new(&genesis, genesis_hash)))
            })
            .collect();
        Self {
            genesis,
            genesis_hash,
            keys,
            byzantine,
            blocks,
            known: vec![(genesis_hash, 0)],
            slot: 0,
            voters,
            votes: Vec::new(),
            signed_by_honest: BTreeMap::new(),
        }
    }

    fn checkpoint(&self, block: usize, slot: u64) -> Checkpoint {
        let (hash, _) = self.known[block % self.known.len()];
        let info = self.blocks.block(&hash).unwrap();
        Checkpoint {
            slot: slot.max(info.slot),
            height: info.height,
            hash,
        }
    }

    /// Fork choice in a voter's view: the best known block that contains
    /// its highest justified checkpoint (`prefers`), as a header stand-in.
    fn head_for(&self, tally: &Tally) -> usize {
        let justified = tally.highest_justified(&self.blocks);
        let contains = |hash: &Hash| self.blocks.is_ancestor(&justified.hash, hash) == Some(true);
        let mut best = 0;
        for (index, (hash, _)) in self.known.iter().enumerate() {
            let (best_hash, _) = self.known[best];
            let height = |h: &Hash| self.blocks.block(h).unwrap().height;
            let better = match (contains(hash), contains(&best_hash)) {
                (true, false) => true,
                (false, _) => false,
                (true, true) => {
                    (height(hash), std::cmp::Reverse(*hash))
                        > (height(&best_hash), std::cmp::Reverse(best_hash))
                }
            };
            if better {
                best = index;
            }
        }
        best
    }

    fn new_slot(&mut self) {
        self.slot += 1;
        for (voter, tally) in self.voters.values_mut() {
            voter.step(VoterInput::Slot(self.slot), tally, &self.blocks);
        }
    }

    fn outputs(&mut self, index: usize, outputs: Vec<VoterOutput>) {
        for output in outputs {
            if let VoterOutput::Send(vote) = output {
                self.signed_by_honest
                    .entry(self.keys[index].account())
                    .or_default()
                    .push(vote);
                self.votes.push(vote);
                // Its own vote counts in its own view at once.
                self.receive(index, vote);
            }
        }
    }

    fn receive(&mut self, index: usize, vote: SignedVote) {
        let slot = self.slot;
        let proposer = bwchain_core::consensus::proposer_for(&self.genesis, slot);
        let blocks = &self.blocks;
        let Some((voter, tally)) = self.voters.get_mut(&index) else {
            return;
        };
        tally.note_evidence(&vote);
        if check_vote_blocks(&vote.vote, blocks) == VoteBlocks::Valid {
            tally.add_vote(vote, blocks);
        }
        let outputs = if vote.authority == proposer && vote.vote.target.slot == slot {
            voter.step(VoterInput::LeadVote(vote), tally, blocks)
        } else {
            Vec::new()
        };
        self.outputs(index, outputs);
    }

    fn apply(&mut self, step: &Step) {
        let n = self.keys.len();
        match step {
            Step::Skip => self.new_slot(),
            Step::Block { parent } => {
                self.new_slot();
                let proposer = self.slot as usize % n;
                // An honest proposer builds on its fork-choice head; a
                // Byzantine one on either of the two newest blocks.
                let parent_index = match self.voters.get(&proposer) {
                    Some((_, tally)) => self.head_for(tally),
                    None => {
                        let newest = self.known.len().min(2);
                        self.known.len() - 1 - parent % newest
                    }
                };
                let (parent_hash, _) = self.known[parent_index];
                let parent_info = self.blocks.block(&parent_hash).unwrap();
                let hash = Hash(
                    bwchain_core::primitives::hash::sha256(
                        &[parent_hash.0.as_slice(), &self.slot.to_le_bytes()].concat(),
                    )
                    .0,
                );
                let info = BlockInfo {
                    height: parent_info.height + 1,
                    slot: self.slot,
                    parent: parent_hash,
                };
                self.blocks.insert(hash, info);
                self.known.push((hash, self.slot));
                let block = Checkpoint {
                    slot: self.slot,
                    height: info.height,
                    hash,
                };
                if let Some((voter, tally)) = self.voters.get_mut(&proposer) {
                    tally.blocks_changed(&self.blocks);
                    let outputs = voter.step(VoterInput::Proposed { block }, tally, &self.blocks);
                    self.outputs(proposer, outputs);
                }
            }
            Step::Deliver {
                index,
                to,
                everyone,
            } => {
                if self.votes.is_empty() {
                    return;
                }
                // Mostly recent votes: delivery is random but not ancient.
                let recent = self.votes.len().min(8);
                let vote = self.votes[self.votes.len() - 1 - index % recent];
                if *everyone {
                    for to in self.byzantine..n {
                        self.receive(to, vote);
                    }
                } else {
                    let to = self.byzantine + to % (n - self.byzantine);
                    self.receive(to, vote);
                }
            }
            Step::Deadline { to, head } => {
                let to = self.byzantine + to % (n - self.byzantine);
                let Some((_, tally)) = self.voters.get(&to) else {
                    return;
                };
                // The voter's fork-choice head, or now and then one of the
                // newest blocks (a view that lags).
                let index = if head % 4 == 0 {
                    self.known.len() - 1 - (head / 4) % self.known.len().min(3)
                } else {
                    self.head_for(tally)
                };
                let head = self.checkpoint(index, self.slot);
                let Some((voter, tally)) = self.voters.get_mut(&to) else {
                    return;
                };
                let outputs = voter.step(VoterInput::Deadline { head }, tally, &self.blocks);
                self.outputs(to, outputs);
            }
            Step::Byzantine {
                signer,
                source,
                target,
                slot_back,
            } => {
                if self.byzantine == 0 {
                    return;
                }
                let signer = signer % self.byzantine;
                let source = self.checkpoint(*source, self.slot.saturating_sub(slot_back + 1));
                let target = self.checkpoint(*target, self.slot.saturating_sub(*slot_back));
                let vote = Vote { source, target };
                if vote.is_ordered() {
                    self.votes
                        .push(vote.sign(&self.genesis_hash, &self.keys[signer]));
                }
            }
        }
    }

    fn ancestor_or_descendant(&self, a: &Hash, b: &Hash) -> bool {
        self.blocks.is_ancestor(a, b) == Some(true) || self.blocks.is_ancestor(b, a) == Some(true)
    }
}

fn run(n: usize, byzantine: usize, steps: &[Step]) -> Result<(), TestCaseError> {
    let mut run = Run::new(n, byzantine);
    for step in steps {
        run.apply(step);
    }
    // Honest authorities never sign slashable pairs.
    for (authority, votes) in &run.signed_by_honest {
        for (i, first) in votes.iter().enumerate() {
            for second in &votes[i + 1..] {
                prop_assert_eq!(
                    is_slashable(&first.vote, &second.vote),
                    None,
                    "honest {} signed {:?} and {:?}",
                    authority,
                    first.vote,
                    second.vote
                );
            }
        }
    }
    let q = quorum(n);
    let bound = 2 * q - n;
    FINALIZED_RUNS.fetch_add(
        usize::from(
            run.voters
                .values()
                .any(|(_, tally)| tally.finalized().height > 0),
        ),
        std::sync::atomic::Ordering::Relaxed,
    );
    let finals: Vec<(usize, Checkpoint)> = run
        .voters
        .iter()
        .map(|(index, (_, tally))| (*index, tally.finalized()))
        .collect();
    for (i, (_, a)) in finals.iter().enumerate() {
        for (_, b) in &finals[i + 1..] {
            if run.ancestor_or_descendant(&a.hash, &b.hash) {
                continue;
            }
            prop_assert!(
                byzantine >= bound,
                "conflicting finality with {byzantine} Byzantine of {n} (bound {bound})"
            );
            // The extractor: slashable pairs among everything signed.
            let mut named = BTreeSet::new();
            for (j, first) in run.votes.iter().enumerate() {
                for second in &run.votes[j + 1..] {
                    if first.authority == second.authority
                        && is_slashable(&first.vote, &second.vote).is_some()
                    {
                        named.insert(first.authority);
                    }
                }
            }
            let honest: BTreeSet<Account> =
                run.keys[byzantine..].iter().map(Keypair::account).collect();
            prop_assert!(named.is_disjoint(&honest), "an honest authority named");
            prop_assert!(
                named.len() >= bound,
                "{} named, {bound} needed",
                named.len()
            );
        }
    }
    if byzantine < bound {
        for (index, (_, tally)) in &run.voters {
            prop_assert!(
                tally.safety_fault().is_none(),
                "voter {index} saw a safety fault"
            );
        }
    }
    Ok(())
}

/// Runs in which some honest voter finalized a block beyond genesis: the
/// properties must be exercised, not vacuously true.
static FINALIZED_RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(48)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn honest_votes_never_conflict_with_few_byzantine(
        n in prop_oneof![Just(4usize), Just(7)],
        steps in prop::collection::vec(step(), 50..300),
    ) {
        // b = 2q - n - 1 Byzantine authorities: the most safety tolerates.
        let q = quorum(n);
        run(n, 2 * q - n - 1, &steps)?;
    }

    #[test]
    fn conflicts_name_at_least_2q_minus_n_byzantine(
        steps in prop::collection::vec(step(), 50..300),
    ) {
        // n = 4, q = 3: two Byzantine authorities can make conflicts, and
        // must then be the ones named.
        run(4, 2, &steps)?;
    }
}

/// The random runs do finalize blocks (so the properties above are tested,
/// not vacuous): a share of them must.
#[test]
fn random_runs_do_finalize() {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = prop::collection::vec(step(), 200..300);
    let mut finalized = 0;
    for _ in 0..40 {
        let steps = strategy.new_tree(&mut runner).unwrap().current();
        let before = FINALIZED_RUNS.load(std::sync::atomic::Ordering::Relaxed);
        run(4, 1, &steps).unwrap();
        if FINALIZED_RUNS.load(std::sync::atomic::Ordering::Relaxed) > before {
            finalized += 1;
        }
    }
    assert!(
        finalized >= 5,
        "only {finalized} of 40 runs finalized anything"
    );
}
