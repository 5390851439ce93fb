//! What a claim-heavy chain costs on disk: bytes per receipt of each record
//! kind, and of the whole data directory.

use super::*;
use bwchain_core::consensus::build_block;
use bwchain_core::primitives::signing::Keypair;
use bwchain_core::primitives::{Account, Receipt, Reward, Tx, TxBody};
use bwchain_core::testkit;

const PROVIDERS: usize = 32;
const CONSUMERS: usize = 1024;
const PER_CLAIM: usize = 64;
const CLAIMS_PER_BLOCK: usize = 16;

fn provider(i: usize) -> String {
    format!("disk-provider-{i}")
}

fn consumer(i: usize) -> String {
    format!("disk-consumer-{i}")
}

fn spec() -> ChainSpec {
    let names: Vec<String> = (0..PROVIDERS)
        .map(provider)
        .chain((0..CONSUMERS).map(consumer))
        .collect();
    let devices: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut genesis = testkit::test_genesis(&["disk-authority"], &devices);
    genesis.max_receipts_per_claim = PER_CLAIM as u64;
    genesis.max_block_txs = 1_000;
    genesis.device_capacity_bytes_per_sec = 1 << 30;
    ChainSpec::new(genesis).unwrap()
}

/// A chain of blocks of 64-receipt claims, each receipt a new session, the
/// consumers spread as the bench spreads them.
struct ClaimChain {
    spec: ChainSpec,
    authority: Keypair,
    providers: Vec<Keypair>,
    consumers: Vec<Keypair>,
    nonces: Vec<u64>,
    next_provider: usize,
}

impl ClaimChain {
    fn new() -> Self {
        Self {
            spec: spec(),
            authority: Keypair::dev("disk-authority"),
            providers: (0..PROVIDERS).map(|i| Keypair::dev(&provider(i))).collect(),
            consumers: (0..CONSUMERS).map(|i| Keypair::dev(&consumer(i))).collect(),
            nonces: vec![0; PROVIDERS],
            next_provider: 0,
        }
    }

    fn claim(&mut self) -> Tx {
        let p = self.next_provider;
        self.next_provider = (p + 1) % PROVIDERS;
        let nonce = self.nonces[p];
        self.nonces[p] += 1;
        let provider = &self.providers[p];
        let receipts = (0..PER_CLAIM)
            .map(|r| {
                let c = (p * 7919 + nonce as usize * PER_CLAIM + r) % CONSUMERS;
                testkit::receipt(
                    &self.spec,
                    &self.consumers[c],
                    provider.account(),
                    nonce,
                    1 << 20,
                )
            })
            .collect();
        testkit::claim(&self.spec, provider, nonce, receipts)
    }

    /// The next block on the store's head, built and signed.
    fn build(&mut self, store: &Store) -> (bwchain_core::consensus::BuiltBlock, Block) {
        let txs: Vec<(Hash, Tx)> = (0..CLAIMS_PER_BLOCK)
            .map(|_| {
                let tx = self.claim();
                (testkit::tx_hash(&self.spec, &tx), tx)
            })
            .collect();
        let parent = store.head().unwrap();
        let slot = parent.slot + 1;
        let timestamp = self.spec.genesis.genesis_time_ms + slot * self.spec.genesis.block_time_ms;
        let built = build_block(
            &self.spec,
            &parent,
            store,
            self.authority.account(),
            timestamp,
            txs,
        )
        .unwrap();
        assert_eq!(built.executed.outcomes.len(), CLAIMS_PER_BLOCK);
        let block = built.sign(&self.authority);
        (built, block)
    }

    /// Commits `blocks` blocks as a single authority commits its own (final
    /// at once, no undo data). Returns the receipts committed.
    fn commit(&mut self, store: &Store, blocks: usize) -> usize {
        for _ in 0..blocks {
            let (built, block) = self.build(store);
            store
                .commit_block(
                    &built.header,
                    &block,
                    &built.executed,
                    Some(built.header.slot),
                    None,
                    false,
                )
                .unwrap();
        }
        blocks * CLAIMS_PER_BLOCK * PER_CLAIM
    }
}

/// Entries and their live bytes (key + value) per record kind.
pub(super) fn live_bytes(store: &Store) -> std::collections::BTreeMap<u8, (usize, usize)> {
    let mut live = std::collections::BTreeMap::<u8, (usize, usize)>::new();
    for entry in store.db.sled().iter() {
        let (k, v) = entry.unwrap();
        let e = live.entry(k[0]).or_default();
        e.0 += 1;
        e.1 += k.len() + v.len();
    }
    live
}

#[test]
fn claim_receipts_take_little_disk() {
    let blocks: usize = std::env::var("BWCHAIN_DISK_BLOCKS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(40);
    let dir = tempfile::tempdir().unwrap();
    let mut chain = ClaimChain::new();
    let store = Store::open(dir.path(), &chain.spec).unwrap();
    chain.commit(&store, 4);
    store.db.sled().flush().unwrap();
    let live_before = live_bytes(&store);
    let disk_before = store.size_on_disk().unwrap();
    let logged_before = store.block_log.size_on_disk().unwrap();
    let receipts = chain.commit(&store, blocks);
    store.db.sled().flush().unwrap();
    let disk_after = store.size_on_disk().unwrap();
    let logged = (store.block_log.size_on_disk().unwrap() - logged_before) as f64 / receipts as f64;
    let live_after = live_bytes(&store);
    let mut live_total = 0.0;
    for (prefix, (count, bytes)) in &live_after {
        let (count0, bytes0) = live_before.get(prefix).copied().unwrap_or_default();
        let per = (*bytes as f64 - bytes0 as f64) / receipts as f64;
        live_total += per;
        eprintln!(
            "{}: {:+} entries, {:.1} live bytes per receipt",
            *prefix as char,
            *count as i64 - count0 as i64,
            per
        );
    }
    let disk = disk_after.saturating_sub(disk_before) as f64 / receipts as f64;
    eprintln!(
        "live records: {live_total:.1} bytes per receipt in sled, {logged:.1} in the block log; on disk: {disk:.1} bytes per receipt"
    );

    let per_receipt = |prefix: u8| {
        let bytes = live_after.get(&prefix).map_or(0, |e| e.1);
        let bytes0 = live_before.get(&prefix).map_or(0, |e| e.1);
        (bytes as f64 - bytes0 as f64) / receipts as f64
    };
    // A stored receipt with its outcome: the consumer's signature (64), its
    // number (3: bincode's varint of a u16), session (1), bytes and
    // credited bytes (5 each: 2^20 takes a u32), forfeited bytes (at most
    // 3); plus the claim's own fields (~140 bytes) and the block's (~300),
    // ~2 bytes a receipt. The consensus encoding takes 200: provider,
    // consumer and session twice, fixed-width.
    // These blocks are long enough for the block log; sled holds where
    // each is.
    let block_bound = 64.0 + 3.0 + 1.0 + 5.0 + 5.0 + 3.0 + 2.0;
    let places = |live: &std::collections::BTreeMap<u8, (usize, usize)>| {
        live.get(&BLOCK_PLACE).map_or(0, |e| e.0)
    };
    assert_eq!(places(&live_after) - places(&live_before), blocks);
    let block_bytes = per_receipt(BLOCK) + per_receipt(BLOCK_PLACE) + logged;
    assert!(
        (block_bound / 2.0..=block_bound).contains(&block_bytes),
        "block records take {block_bytes:.1} bytes per receipt (bound {block_bound})"
    );
    // A session entry: `Q`, two account numbers, the session (17), the
    // value's variant and its varint (1 + 5: 2^20 bytes). As `S` + the
    // consensus encoding it took 89.
    let session_bound = 17.0 + 1.0 + 5.0;
    assert!(
        per_receipt(SESSION) <= session_bound,
        "session entries take {:.1} bytes per receipt (bound {session_bound})",
        per_receipt(SESSION)
    );
    // One accumulator checkpoint per block (2 KiB over 1 024 receipts)
    // instead of a replay record of every new session (77 bytes each).
    let replay_bound = CHECKPOINT_BYTES as f64 / (CLAIMS_PER_BLOCK * PER_CLAIM) as f64;
    assert!(
        per_receipt(REPLAY) <= replay_bound,
        "replay records take {:.1} bytes per receipt (bound {replay_bound})",
        per_receipt(REPLAY)
    );
    // The target. sled's file holds 1.8 to 3.5 times what is live
    // (the figure varies by some tens of bytes between runs, with its
    // background flushes): 600 to 800 bytes a receipt before.
    assert!(disk <= 400.0, "{disk:.0} bytes on disk per receipt");
}

/// Every kind of transaction, and claims that do not fit the compact
/// shape, come back from the store as they were committed.
#[test]
fn stored_blocks_round_trip() {
    let spec = testkit::dev_spec();
    let bob = testkit::key("bob");
    let carol = testkit::key("carol");
    let receipt = |consumer: &Keypair, provider: Account, session| {
        testkit::receipt(&spec, consumer, provider, session, 1_000 + session % 1_000)
    };
    let claim = testkit::claim(
        &spec,
        &bob,
        0,
        vec![
            receipt(&carol, bob.account(), 1),
            receipt(&testkit::key("dave"), bob.account(), u64::MAX),
            receipt(&carol, bob.account(), 2),
        ],
    );
    let claim_outcome = |receipts: &[Receipt], reward| TxOutcome::Claim {
        receipts: receipts
            .iter()
            .map(|r| bwchain_core::primitives::ReceiptOutcome {
                consumer: r.consumer,
                session: r.session,
                credited_bytes: r.bytes / 2,
                forfeited_bytes: r.bytes - r.bytes / 2,
            })
            .collect(),
        provider_reward: reward,
    };
    let TxBody::Claim { receipts } = &claim.body else {
        unreachable!()
    };
    let fitting = claim_outcome(receipts, 7);
    // A receipt naming another provider than the sender, and an outcome
    // that does not follow the receipts: kept whole.
    let foreign = testkit::claim(&spec, &carol, 0, vec![receipt(&bob, bob.account(), 3)]);
    let mut odd_outcome = claim_outcome(receipts, 1);
    if let TxOutcome::Claim { receipts, .. } = &mut odd_outcome {
        receipts[1].session = 9;
    }
    let transfer = testkit::transfer(&spec, &bob, 1, carol.account(), 5);
    let device = testkit::set_device(&spec, &testkit::key("alice"), 0, bob.account(), false);
    let txs = vec![
        claim.clone(),
        foreign.clone(),
        claim.clone(),
        transfer,
        device,
    ];
    let outcomes = vec![
        fitting,
        claim_outcome(
            match &foreign.body {
                TxBody::Claim { receipts } => receipts,
                _ => unreachable!(),
            },
            0,
        ),
        odd_outcome,
        TxOutcome::Transfer,
        TxOutcome::SetDevice,
    ];
    let stored = StoredBlock {
        block: Block {
            header: spec.genesis_header.header().clone(),
            signature: Signature([9; 64]),
            txs: txs.clone(),
        },
        tx_hashes: txs.iter().map(|tx| testkit::tx_hash(&spec, tx)).collect(),
        outcomes,
        rewards: vec![Reward {
            account: bob.account(),
            amount: 3,
            kind: bwchain_core::primitives::RewardKind::Provider,
        }],
        minted: 3,
    };
    let mut accounts = compact::Accounts::default();
    let bytes = compact::encode(&stored, &mut accounts);
    assert_eq!(accounts.len(), 2);
    assert_eq!(compact::decode(&bytes, &accounts).unwrap(), stored);
    assert_eq!(compact::decode_header(&bytes).unwrap(), stored.block.header);
    assert!(bytes.len() < codec::encode(&stored).len());
    assert!(compact::decode(&bytes[..bytes.len() - 1], &accounts).is_err());
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(compact::decode(&longer, &accounts).is_err());
    assert!(compact::decode(&bytes, &compact::Accounts::default()).is_err());
}

/// A data directory of the older format is refused with an error that
/// says so, not misread.
#[test]
fn refuses_an_older_format() {
    let dir = tempfile::tempdir().unwrap();
    let spec = testkit::dev_spec();
    {
        let store = Store::open(dir.path(), &spec).unwrap();
        store.db.sled().remove(FORMAT).unwrap();
        store.db.sled().flush().unwrap();
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let result = loop {
        match Store::open(dir.path(), &spec) {
            Err(StoreError::Open { .. } | StoreError::InUse { .. })
                if std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            result => break result,
        }
    };
    match result {
        Err(
            err @ StoreError::Format {
                expected: STORE_FORMAT,
                found: 1,
            },
        ) => {
            assert!(err.to_string().contains("store format 1"), "{err}");
        }
        Err(other) => panic!("expected a format error, got {other}"),
        Ok(_) => panic!("expected a format error, the store opened"),
    }
}

/// Account numbers handed out in a commit that never reached the disk are
/// stored by the next commit, so that what it stores decodes after a
/// restart.
#[test]
fn numbers_of_a_failed_commit_are_stored_by_the_next() {
    let dir = tempfile::tempdir().unwrap();
    let spec = testkit::dev_spec();
    let (alice, bob, carol) = (
        testkit::key("alice"),
        testkit::key("bob"),
        testkit::key("carol"),
    );
    let session = StateKey::Session(bwchain_core::state::SessionId {
        provider: bob.account(),
        consumer: carol.account(),
        session: 1,
    });
    let block_hash = {
        let store = Store::open(dir.path(), &spec).unwrap();
        // As a commit that failed after numbering would leave it.
        compact::entry_key(&mut store.write_accounts(), &session);
        let claim = testkit::claim(
            &spec,
            &bob,
            0,
            vec![testkit::receipt(&spec, &carol, bob.account(), 1, 500)],
        );
        let parent = store.head().unwrap();
        let timestamp = spec.genesis.genesis_time_ms + spec.genesis.block_time_ms;
        let built = build_block(
            &spec,
            &parent,
            &store,
            alice.account(),
            timestamp,
            [(testkit::tx_hash(&spec, &claim), claim)],
        )
        .unwrap();
        assert_eq!(built.executed.outcomes.len(), 1);
        let block = built.sign(&alice);
        store
            .commit_block(&built.header, &block, &built.executed, None, None, false)
            .unwrap();
        built.header.hash()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let store = loop {
        match Store::open(dir.path(), &spec) {
            Err(StoreError::Open { .. } | StoreError::InUse { .. })
                if std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            result => break result.unwrap(),
        }
    };
    let stored = store.block(&block_hash).unwrap().unwrap();
    assert_eq!(stored.block.txs.len(), 1);
    assert_eq!(store.get(&session).unwrap(), Some(StateValue::Session(500)));
    assert!(store.state_entries().all(|entry| entry.is_ok()));
}

#[test]
fn a_commit_interrupted_after_its_record_is_completed_on_opening() {
    let dir = tempfile::tempdir().unwrap();
    let mut chain = ClaimChain::new();
    let spec = chain.spec.clone();
    let (block, pending_writes) = {
        let store = Store::open(dir.path(), &spec).unwrap();
        chain.commit(&store, 2);
        let before = store.head().unwrap();
        // The third block stops a few hundred writes into its bulk.
        writes::FAIL_AFTER.with(|fail| fail.set(Some(300)));
        let txs: Vec<(Hash, Tx)> = (0..CLAIMS_PER_BLOCK)
            .map(|_| {
                let tx = chain.claim();
                (testkit::tx_hash(&spec, &tx), tx)
            })
            .collect();
        let timestamp =
            spec.genesis.genesis_time_ms + (before.slot + 1) * spec.genesis.block_time_ms;
        let built = build_block(
            &spec,
            &before,
            &store,
            chain.authority.account(),
            timestamp,
            txs,
        )
        .unwrap();
        let block = built.sign(&chain.authority);
        // Durable once its record is flushed: the commit returns, and
        // readers see the new block while its writes are applied.
        store
            .commit_block(
                &built.header,
                &block,
                &built.executed,
                Some(before.slot + 1),
                None,
                false,
            )
            .unwrap();
        writes::FAIL_AFTER.with(|fail| fail.set(None));
        assert_eq!(store.head().unwrap().hash(), built.header.hash());
        // The applier stopped part way: writes are refused from then on,
        // sled's head has not moved, and the record is there.
        store.db.settle();
        assert!(store.write_failure().is_some());
        assert_eq!(store.head().unwrap().hash(), built.header.hash());
        let raw = store.db.sled();
        assert_eq!(
            raw.get(META_HEAD).unwrap().unwrap().as_ref(),
            &before.hash().0[..]
        );
        let record = raw.get(META_PENDING_COMMIT).unwrap().unwrap();
        let pending = PendingCommit::decode(&record).unwrap();
        assert!(pending.bulk.len() > 300, "{}", pending.bulk.len());
        (built, pending.bulk.len())
    };
    let store = tests::reopen(dir.path(), &spec).unwrap();
    let head = store.head().unwrap();
    assert_eq!(
        head.hash(),
        block.header.hash(),
        "{pending_writes} writes replayed"
    );
    assert_eq!(store.accumulator().unwrap().root(), head.state_root);
    assert_eq!(store.db.get(META_PENDING_COMMIT).unwrap(), None);
    for change in &block.executed.changes {
        assert_eq!(
            store.get(&change.key).unwrap(),
            change.after,
            "{:?}",
            change.key
        );
    }
    for tx_hash in &block.executed.tx_hashes {
        assert_eq!(
            store.tx_location(tx_hash).unwrap().unwrap().height,
            head.height
        );
    }
    // And the chain goes on from there.
    chain.commit(&store, 1);
    assert_eq!(store.head().unwrap().height, head.height + 1);
}

/// The tx index: short entries (key and value inline in sled's node), the
/// whole-hash entries of older stores still read, and a lookup by a hash
/// that shares an entry's key but not the transaction's hash answered as
/// unknown by `included_tx`.
#[test]
fn tx_index_entries_are_short_and_older_entries_still_read() {
    let dir = tempfile::tempdir().unwrap();
    let mut chain = ClaimChain::new();
    let store = Store::open(dir.path(), &chain.spec).unwrap();
    chain.commit(&store, 2);
    let head = store.head().unwrap();
    let block = store.block_at(head.height).unwrap().unwrap();
    for (index, tx_hash) in block.tx_hashes.iter().enumerate() {
        let entry = store.db.get(tx_key(tx_hash)).unwrap().unwrap();
        assert_eq!((tx_key(tx_hash).len(), entry.len()), (21, 12));
        let expected = TxLocation {
            block_hash: head.hash(),
            height: head.height,
            index: index as u32,
        };
        assert_eq!(store.tx_location(tx_hash).unwrap(), Some(expected));
        let (location, found) = store.included_tx(tx_hash).unwrap().unwrap();
        assert_eq!((location, found.hash()), (expected, head.hash()));
    }

    // A store of format 3 keyed the entry by the whole hash.
    let older = store.block_at(head.height - 1).unwrap().unwrap();
    let tx_hash = older.tx_hashes[3];
    let location = store.tx_location(&tx_hash).unwrap().unwrap();
    assert_eq!((location.height, location.index), (head.height - 1, 3));
    let mut batch = Writes::default();
    batch.remove(tx_key(&tx_hash));
    batch.insert(key(TX, &tx_hash.0), codec::encode(&location));
    store.apply_flushed(batch).unwrap();
    assert_eq!(store.tx_location(&tx_hash).unwrap(), Some(location));
    assert_eq!(
        store.included_tx(&tx_hash).unwrap().map(|(l, _)| l),
        Some(location)
    );

    // A hash sharing the key's 20 bytes with an included transaction.
    let mut lookalike = block.tx_hashes[0];
    lookalike.0[31] ^= 1;
    assert!(store.tx_location(&lookalike).unwrap().is_some());
    assert!(store.included_tx(&lookalike).unwrap().is_none());
    let unknown = Hash([0xee; 32]);
    assert!(store.tx_location(&unknown).unwrap().is_none());
    assert!(store.included_tx(&unknown).unwrap().is_none());
}

/// Long blocks are in the block log: read back whole and by header after
/// reopening; a log cut short is reported as corruption, not a panic.
#[test]
fn long_blocks_live_in_the_block_log() {
    let dir = tempfile::tempdir().unwrap();
    let mut chain = ClaimChain::new();
    let hashes: Vec<Hash> = {
        let store = Store::open(dir.path(), &chain.spec).unwrap();
        chain.commit(&store, 3);
        (1..=3)
            .map(|height| store.block_hash_at(height).unwrap().unwrap())
            .collect()
    };
    let store = super::tests::reopen(dir.path(), &chain.spec).unwrap();
    for (height, hash) in (1..).zip(&hashes) {
        assert!(store.db.get(key(BLOCK, &hash.0)).unwrap().is_none());
        assert!(store.db.get(key(BLOCK_PLACE, &hash.0)).unwrap().is_some());
        let block = store.block(hash).unwrap().unwrap();
        assert_eq!((block.hash(), block.block.header.height), (*hash, height));
        assert_eq!(block.block.txs.len(), CLAIMS_PER_BLOCK);
        assert_eq!(store.header(hash).unwrap().unwrap(), block.block.header);
    }
    // The genesis block, short, is in sled as before.
    let genesis = store.block_hash_at(0).unwrap().unwrap();
    assert!(store.db.get(key(BLOCK, &genesis.0)).unwrap().is_some());
    assert_eq!(store.block(&genesis).unwrap().unwrap().hash(), genesis);

    // Places that do not hold a block are corruption, not a panic.
    let place = block_log::Place::from_bytes(
        &store
            .db
            .get(key(BLOCK_PLACE, &hashes[2].0))
            .unwrap()
            .unwrap(),
    )
    .unwrap();
    let past_the_end = block_log::Place {
        offset: place.offset + 1,
        ..place
    };
    for (n, bogus) in [past_the_end.to_bytes().to_vec(), vec![1, 2, 3]]
        .into_iter()
        .enumerate()
    {
        let hash = Hash([n as u8 + 1; 32]);
        let mut batch = Writes::default();
        batch.insert(key(BLOCK_PLACE, &hash.0), bogus);
        store.apply_flushed(batch).unwrap();
        for result in [store.block(&hash).map(drop), store.header(&hash).map(drop)] {
            match result {
                Err(StoreError::Corrupt(message)) => {
                    assert!(message.contains("block log"), "{message}")
                }
                other => panic!("expected corruption, got {other:?}"),
            }
        }
    }
    drop(store);

    // A log cut inside the head block: opening says so.
    let segment = dir.path().join("blocks").join("00000000.seg");
    let len = std::fs::metadata(&segment).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&segment)
        .unwrap()
        .set_len(len - 100)
        .unwrap();
    match super::tests::reopen(dir.path(), &chain.spec) {
        Err(StoreError::Corrupt(message)) => assert!(message.contains("block log"), "{message}"),
        Err(other) => panic!("expected corruption, got {other}"),
        Ok(_) => panic!("a store whose head block is cut short opened"),
    }
}

/// A long block reverted and chosen again (a reorg back to an earlier
/// chosen chain) keeps its place in the block log: it is not appended a
/// second time.
#[test]
fn a_long_block_chosen_again_is_not_logged_twice() {
    let dir = tempfile::tempdir().unwrap();
    let mut chain = ClaimChain::new();
    let store = Store::open(dir.path(), &chain.spec).unwrap();
    let (built, block) = chain.build(&store);
    let after = || {
        built
            .executed
            .changes
            .iter()
            .map(|change| (change.key, change.after.clone()))
    };
    store
        .commit_update(ChainUpdate {
            reverted: Vec::new(),
            added: vec![(&built.header, &block, &built.executed)],
            state_writes: after().collect(),
            accumulator: &built.executed.accumulator,
            signed_slot: None,
            last_vote: None,
            keep_undo: true,
        })
        .unwrap();
    let hash = built.header.hash();
    let place = || store.db.get(key(BLOCK_PLACE, &hash.0)).unwrap().unwrap();
    let (first_place, logged) = (place(), store.block_log.size_on_disk().unwrap());
    assert!(logged >= block_log::LOGGED_BLOCK_BYTES as u64);

    // Reverted and added back in one update; the state ends as it was.
    let undo = built
        .executed
        .changes
        .iter()
        .map(|change| (change.key, change.before.clone()));
    store
        .commit_update(ChainUpdate {
            reverted: vec![store.block(&hash).unwrap().unwrap()],
            added: vec![(&built.header, &block, &built.executed)],
            state_writes: undo.chain(after()).collect(),
            accumulator: &built.executed.accumulator,
            signed_slot: None,
            last_vote: None,
            keep_undo: true,
        })
        .unwrap();
    assert_eq!(store.head().unwrap().hash(), hash);
    assert_eq!(place(), first_place);
    assert_eq!(store.block_log.size_on_disk().unwrap(), logged);
    assert_eq!(store.block(&hash).unwrap().unwrap().hash(), hash);
    let tx_hash = built.executed.tx_hashes[0];
    assert_eq!(store.included_tx(&tx_hash).unwrap().unwrap().1.hash(), hash);
}
