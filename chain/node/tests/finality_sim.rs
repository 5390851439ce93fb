//! Finality votes in seeded simulations (FINALITY.md §3): many sizes of
//! authority sets, crashes between persisting and sending a vote, all
//! authorities restarting at once, an equivocating authority, slow votes,
//! a lost store, and a late follower. `Sim` checks after every step that no
//! two nodes finalize different blocks at one height, and whenever finality
//! moves that the node's proof passes the light-client check and that no
//! honest authority is in any evidence.

use bwchain_core::finality::{Checkpoint, SignedVote, Vote};
use bwchain_core::primitives::signing::Keypair;
use bwchain_core::protocol::Message;
use bwchain_node::sim::{authority_name, Sim, SimConfig, BLOCK_TIME_MS};

const CONVERGE_LIMIT_MS: u64 = 20_000;

fn settle(sim: &mut Sim, what: &str) {
    assert!(
        sim.converge(CONVERGE_LIMIT_MS),
        "{what}: nodes did not agree"
    );
}

/// Runs `slots`, converges, and checks that every node finalized within
/// two blocks of the head, on the common chain (votes may still be in
/// flight, so nodes may be a block apart).
fn run_and_check_lag(sim: &mut Sim, slots: u64, what: &str) {
    sim.run_slots(slots);
    settle(sim, what);
    let head = sim.head(0);
    let chain = sim.chain(0);
    for index in sim.running() {
        let finalized = sim.finalized(index);
        assert!(
            head.height - finalized.height <= 2,
            "{what}: node {index} finalized {} with the head at {}",
            finalized.height,
            head.height
        );
        assert_eq!(
            chain[finalized.height as usize],
            finalized.hash(),
            "{what}: node {index}'s finalized block is on the common chain"
        );
    }
}

#[test]
fn every_size_of_authority_set_agrees_and_finalizes() {
    for n in [2usize, 3, 5, 7, 20] {
        let mut sim = Sim::new(SimConfig::new(n, 40 + n as u64));
        let slots = if n == 20 { 25 } else { 30 };
        run_and_check_lag(&mut sim, slots, &format!("n = {n}"));
        assert!(sim.highest_finalized() >= slots - 3, "n = {n}");
        let lags: Vec<u64> = sim.stats.finality_lag.keys().copied().collect();
        // Steady state: block s is final once slot s+1's votes arrive.
        assert!(
            lags.iter().all(|lag| *lag <= 3),
            "n = {n}: lags {:?}",
            sim.stats.finality_lag
        );
        // Measured for the note: lag and vote traffic.
        let seconds = (sim.now_ms() - bwchain_node::sim::slot_start(0)) as f64 / 1000.0;
        let vote_frames = sim.stats.delivered_kinds.get("vote").copied().unwrap_or(0);
        eprintln!(
            "n = {n}: finality lag histogram {:?}; {:.0} vote frames received per node per simulated second",
            sim.stats.finality_lag,
            vote_frames as f64 / n as f64 / seconds
        );
        if n == 20 {
            // Measured for the note: signature checks spent on votes.
            let received: u64 = (0..n)
                .map(|i| sim.node(i).metrics().votes_received.get())
                .sum();
            let seconds = (slots * BLOCK_TIME_MS) as f64 / 1000.0;
            eprintln!(
                "n = 20: {:.0} vote signature checks per node per simulated second ({} slots of {} ms)",
                received as f64 / n as f64 / seconds,
                slots,
                BLOCK_TIME_MS
            );
        }
    }
}

#[test]
fn a_crash_after_persisting_a_vote_resends_it_unchanged() {
    let mut sim = Sim::new(SimConfig::new(4, 5));
    sim.run_slots(6);
    sim.crash_after_own_vote(2);
    assert!(
        sim.run_until(2 * 1000, |sim| !sim.is_running(2)),
        "node 2 signed no vote"
    );
    let vote = sim.crashed_with_vote().expect("the vote it signed");
    let delivered_before = sim.stats.votes_delivered.len();
    // Restarted in the same slot: it sends the stored vote again.
    sim.restart(2);
    assert_eq!(sim.node(2).store().last_vote().unwrap(), Some(vote));
    run_and_check_lag(&mut sim, 10, "after the restart");
    let from_two: Vec<SignedVote> = sim.stats.votes_delivered[delivered_before..]
        .iter()
        .filter(|(from, vote)| {
            *from == 2 && vote.authority == Keypair::dev(&authority_name(2)).account()
        })
        .map(|(_, vote)| *vote)
        .collect();
    assert!(!from_two.is_empty(), "node 2 votes again");
    for sent in &from_two {
        if sent.vote.target.slot == vote.vote.target.slot {
            assert_eq!(*sent, vote, "byte-identical re-send");
        }
    }
    sim.assert_no_honest_evidence();
}

#[test]
fn all_authorities_restart_at_once() {
    let mut sim = Sim::new(SimConfig::new(4, 6));
    run_and_check_lag(&mut sim, 10, "before");
    let finalized = sim.highest_finalized();
    for index in 0..4 {
        sim.crash(index);
    }
    for index in 0..4 {
        sim.restart(index);
    }
    run_and_check_lag(&mut sim, 10, "after");
    assert!(sim.highest_finalized() > finalized + 5);
    sim.assert_no_honest_evidence();
}

/// Authority 3 signs a double vote and a surround vote and sends each half
/// to a different side; every honest node ends up with both votes of each
/// pair as evidence, and finality goes on (n = 4, f = 1).
#[test]
fn an_equivocating_authority_is_exposed_and_finality_goes_on() {
    let mut sim = Sim::new(SimConfig::new(4, 7));
    run_and_check_lag(&mut sim, 8, "before");
    let spec = bwchain_node::sim::chain_spec(4);
    let genesis_hash = spec.genesis_hash();
    let byzantine = Keypair::dev(&authority_name(3));
    sim.mark_byzantine(byzantine.account());
    let chain = sim.chain(0);
    let head = sim.head(0);
    // Slots inside the relay window, so the honest nodes pass them on.
    let now = (sim.now_ms() - bwchain_node::sim::slot_start(0)) / BLOCK_TIME_MS;
    let checkpoint = |slot: u64, height: u64| Checkpoint {
        slot,
        height,
        hash: chain[height as usize],
    };
    let genesis = Checkpoint::genesis(genesis_hash);
    let top = head.height;
    let double = [
        Vote {
            source: genesis,
            target: checkpoint(now, top - 1),
        },
        Vote {
            source: genesis,
            target: checkpoint(now, top - 2),
        },
    ];
    let surround = [
        Vote {
            source: genesis,
            target: checkpoint(now - 1, top - 1),
        },
        Vote {
            source: checkpoint(now - 6, top - 6),
            target: checkpoint(now - 3, top - 3),
        },
    ];
    for pair in [double, surround] {
        let first = pair[0].sign(&genesis_hash, &byzantine);
        let second = pair[1].sign(&genesis_hash, &byzantine);
        for to in [0, 1] {
            sim.inject(3, to, Message::Vote(first));
        }
        sim.inject(3, 2, Message::Vote(second));
    }
    let finalized = sim.highest_finalized();
    run_and_check_lag(&mut sim, 10, "after");
    assert!(sim.highest_finalized() > finalized + 5, "finality goes on");
    for index in 0..3 {
        let evidence = sim.node(index).store().vote_evidence().unwrap();
        let kinds: Vec<&str> = evidence.iter().map(|e| e.offence.kind()).collect();
        assert!(kinds.contains(&"double_vote"), "node {index}: {kinds:?}");
        assert!(kinds.contains(&"surround_vote"), "node {index}: {kinds:?}");
        assert!(evidence.iter().all(|e| e.authority == byzantine.account()));
    }
    sim.assert_no_honest_evidence();
}

/// Votes slower than half a slot: slots are still justified from sources a
/// few slots back, and k-finality (k >= 2) keeps finalizing.
#[test]
fn slow_votes_finalize_with_k_above_one() {
    let mut config = SimConfig::new(4, 8);
    config.latency_ms = (60, 160);
    let mut sim = Sim::new(config);
    sim.run_slots(40);
    settle(&mut sim, "slow votes");
    eprintln!(
        "slow votes: finalized {} of {} blocks; proofs by k: {:?}; lags: {:?}",
        sim.highest_finalized(),
        sim.head(0).height,
        sim.stats.proof_k,
        sim.stats.finality_lag
    );
    assert!(
        sim.highest_finalized() >= 10,
        "finality advanced: {}",
        sim.highest_finalized()
    );
    let k_above_one: u64 = sim
        .stats
        .proof_k
        .iter()
        .filter(|(k, _)| **k >= 2)
        .map(|(_, count)| *count)
        .sum();
    assert!(k_above_one > 0, "proofs by k: {:?}", sim.stats.proof_k);
}

/// An authority whose store is lost comes back empty: it syncs and waits
/// to learn its peers' justified checkpoint before voting again (V7), and
/// never contradicts what it signed before.
#[test]
fn an_authority_with_a_wiped_store_waits_then_votes() {
    let mut sim = Sim::new(SimConfig::new(4, 9));
    run_and_check_lag(&mut sim, 10, "before");
    sim.crash(1);
    sim.wipe(1);
    sim.restart(1);
    assert_eq!(sim.node(1).store().last_vote().unwrap(), None);
    run_and_check_lag(&mut sim, 15, "after");
    assert!(
        sim.node(1).store().last_vote().unwrap().is_some(),
        "node 1 votes again"
    );
    sim.assert_no_honest_evidence();
}

#[test]
fn a_late_follower_syncs_finality_with_its_proof() {
    let mut sim = Sim::new(SimConfig::new(4, 10));
    run_and_check_lag(&mut sim, 20, "authorities");
    let follower = sim.add_follower();
    run_and_check_lag(&mut sim, 5, "with the follower");
    assert!(sim.finalized(follower).height + 1 >= sim.finalized(0).height);
    let height = sim.finalized(follower).height;
    let proof = sim
        .node(follower)
        .finality_proof(height)
        .unwrap()
        .expect("the follower serves a proof");
    let spec = bwchain_node::sim::chain_spec(4);
    bwchain_core::finality::check_proof(
        &spec.genesis,
        &spec.genesis_hash(),
        &sim.finalized(follower).hash(),
        &proof,
    )
    .expect("the follower's proof holds");
}

/// After a 2|2 partition heals, finality catches up within a few slots.
#[test]
fn finality_catches_up_after_a_heal() {
    for n in [4usize, 7] {
        let mut sim = Sim::new(SimConfig::new(n, 70 + n as u64));
        run_and_check_lag(&mut sim, 10, "before");
        let half: Vec<usize> = (0..n / 2).collect();
        let rest: Vec<usize> = (n / 2..n).collect();
        sim.partition(&[&half, &rest]);
        sim.run_slots(10);
        let stalled = sim.highest_finalized();
        sim.heal();
        let healed_at = sim.now_ms();
        let caught_up = sim.run_until(CONVERGE_LIMIT_MS, |sim| {
            let head = sim.head(0).height;
            sim.highest_finalized() > stalled && head - sim.highest_finalized() <= 2
        });
        assert!(
            caught_up,
            "n = {n}: finality did not catch up after the heal"
        );
        eprintln!(
            "n = {n}: finality caught up {} ms ({:.1} slots) after the heal",
            sim.now_ms() - healed_at,
            (sim.now_ms() - healed_at) as f64 / BLOCK_TIME_MS as f64
        );
        run_and_check_lag(&mut sim, 5, "after");
    }
}

/// A "bouncing" authority withholds its votes and releases them after the
/// middle of each slot to half of the nodes, every slot. Since followers
/// copy the proposer's vote, which is fixed when it is sent, finality still
/// advances at least once every 2n slots.
#[test]
fn a_vote_withholding_bouncer_does_not_stop_finality() {
    let n = 4u64;
    let mut sim = Sim::new(SimConfig::new(n as usize, 11));
    sim.set_bouncer(3);
    sim.run_slots(4);
    let mut last_advance = sim.now_ms();
    let mut finalized = sim.highest_finalized();
    for _ in 0..8 * n {
        sim.run_slots(1);
        let now = sim.highest_finalized();
        if now > finalized {
            finalized = now;
            last_advance = sim.now_ms();
        }
        assert!(
            sim.now_ms() - last_advance <= 2 * n * BLOCK_TIME_MS,
            "finality stalled for more than 2n slots at {} (finalized {finalized})",
            sim.now_ms()
        );
    }
    assert!(finalized >= 8 * n / 2, "finalized only {finalized}");
    sim.assert_no_honest_evidence();
}
