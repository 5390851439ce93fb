//! Store tests: commits, reopening, the accumulator checkpoints and disk
//! growth.

use super::*;

/// Opens the store again right after a handle was dropped: sled's
/// background flusher may hold the directory lock a moment longer.
pub(super) fn reopen(path: &Path, spec: &ChainSpec) -> Result<Store, StoreError> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        match Store::open(path, spec) {
            Err(StoreError::Open { .. } | StoreError::InUse { .. })
                if std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            result => return result,
        }
    }
}

mod commits {
    use super::super::*;
    use super::reopen;
    use bwchain_core::consensus::build_block;
    use bwchain_core::primitives::signing::Keypair;

    #[test]
    fn commit_reopen_and_wrong_chain() {
        let dir = tempfile::tempdir().unwrap();
        let alice = Keypair::dev("alice");
        let mut genesis = bwchain_core::genesis::presets::dev_at(0);
        genesis.block_time_ms = 100;
        let spec = ChainSpec::new(genesis.clone()).unwrap();
        {
            let store = Store::open(dir.path(), &spec).unwrap();
            assert_eq!(store.head().unwrap().hash(), spec.genesis_hash());
            assert_eq!(
                store.accumulator().unwrap().root(),
                spec.genesis_state.root()
            );
            let parent = store.head().unwrap();
            let built =
                build_block(&spec, &parent, &store, alice.account(), 150, Vec::new()).unwrap();
            store
                .commit_block(
                    &built.header,
                    &built.sign(&alice),
                    &built.executed,
                    Some(1),
                    None,
                    false,
                )
                .unwrap();
            assert_eq!(store.head().unwrap().height, 1);
        }
        let store = reopen(dir.path(), &spec).unwrap();
        let head = store.head().unwrap();
        assert_eq!(head.height, 1);
        assert_eq!(store.accumulator().unwrap().root(), head.state_root);
        assert_eq!(store.last_signed_slot().unwrap(), Some(1));
        assert_eq!(store.block_at(1).unwrap().unwrap().hash(), head.hash());
        assert_eq!(store.stored_genesis().unwrap(), Some(genesis.clone()));
        drop(store);

        let mut other = genesis;
        other.chain_id = "other".into();
        let other = ChainSpec::new(other).unwrap();
        assert!(matches!(
            reopen(dir.path(), &other),
            Err(StoreError::WrongChain { .. })
        ));
    }
}

mod growth_tests {
    use super::super::*;
    use super::reopen;
    use bwchain_core::consensus::build_block;
    use bwchain_core::primitives::signing::Keypair;

    /// Bytes on disk per empty block, after `blocks` blocks committed as
    /// the chain service commits a proposer's own blocks.
    fn bytes_per_empty_block(blocks: u64) -> f64 {
        let dir = tempfile::tempdir().unwrap();
        let alice = Keypair::dev("alice");
        let mut genesis = bwchain_core::genesis::presets::dev_at(0);
        genesis.block_time_ms = 100;
        let spec = ChainSpec::new(genesis).unwrap();
        let store = reopen(dir.path(), &spec).unwrap();
        let commit = |n: u64| {
            for _ in 0..n {
                let parent = store.head().unwrap();
                let slot = parent.slot + 1;
                let built = build_block(
                    &spec,
                    &parent,
                    &store,
                    alice.account(),
                    slot * 100 + 50,
                    Vec::new(),
                )
                .unwrap();
                store
                    .commit_block(
                        &built.header,
                        &built.sign(&alice),
                        &built.executed,
                        Some(slot),
                        None,
                        false,
                    )
                    .unwrap();
            }
            store.db.sled().flush().unwrap();
        };
        // A warm-up, so sled's fixed costs are not counted.
        commit(200);
        let before = store.size_on_disk().unwrap();
        commit(blocks);
        let after = store.size_on_disk().unwrap();
        if std::env::var_os("BWCHAIN_GROWTH_BREAKDOWN").is_some() {
            for (prefix, (count, bytes)) in crate::store::disk_tests::live_bytes(&store) {
                eprintln!("{}: {count} entries, {bytes} bytes", prefix as char);
            }
            eprintln!("on disk: {after} bytes");
        }
        after.saturating_sub(before) as f64 / blocks as f64
    }

    /// The head's accumulator comes back on open from the checkpoint and
    /// the replay records, before and after a checkpoint height.
    #[test]
    fn reopens_between_checkpoints() {
        let dir = tempfile::tempdir().unwrap();
        let alice = Keypair::dev("alice");
        let mut genesis = bwchain_core::genesis::presets::dev_at(0);
        genesis.block_time_ms = 100;
        let spec = ChainSpec::new(genesis).unwrap();
        for blocks in [3, ACCUMULATOR_PERIOD - 3, 5] {
            let store = reopen(dir.path(), &spec).unwrap();
            for _ in 0..blocks {
                let parent = store.head().unwrap();
                let slot = parent.slot + 1;
                let built = build_block(
                    &spec,
                    &parent,
                    &store,
                    alice.account(),
                    slot * 100 + 50,
                    Vec::new(),
                )
                .unwrap();
                let block = built.sign(&alice);
                store
                    .commit_block(&built.header, &block, &built.executed, None, None, false)
                    .unwrap();
            }
            let head = store.head().unwrap();
            assert_eq!(store.accumulator().unwrap().root(), head.state_root);
        }
        let store = reopen(dir.path(), &spec).unwrap();
        let head = store.head().unwrap();
        assert_eq!(head.height, ACCUMULATOR_PERIOD + 5);
        assert_eq!(store.accumulator().unwrap().root(), head.state_root);
        assert!(store.db.sled().scan_prefix([REPLAY]).count() > 0);
    }

    /// A store of the older layout (the head's accumulator under
    /// `Maccumulator`) opens and is migrated to a checkpoint.
    #[test]
    fn migrates_the_older_accumulator() {
        let dir = tempfile::tempdir().unwrap();
        let spec = ChainSpec::new(bwchain_core::genesis::presets::dev_at(0)).unwrap();
        {
            let store = reopen(dir.path(), &spec).unwrap();
            let accumulator = store.accumulator().unwrap();
            store.db.sled().remove(ACCUMULATOR_CHECKPOINT).unwrap();
            store
                .db
                .sled()
                .insert(META_ACCUMULATOR, accumulator.to_bytes())
                .unwrap();
            store.db.sled().flush().unwrap();
        }
        let store = reopen(dir.path(), &spec).unwrap();
        assert_eq!(
            store.accumulator().unwrap().root(),
            spec.genesis_state.root()
        );
        assert!(store.db.get(META_ACCUMULATOR).unwrap().is_none());
        assert!(store.db.get(ACCUMULATOR_CHECKPOINT).unwrap().is_some());
    }

    /// Before the accumulator checkpoint, the 2 KiB accumulator rewritten
    /// with every block made ~3,000 bytes per empty block at 10,000 blocks;
    /// now ~850 (a block record, its height index and sled's overhead).
    #[test]
    fn empty_blocks_take_little_disk() {
        let blocks = std::env::var("BWCHAIN_GROWTH_BLOCKS")
            .ok()
            .and_then(|n| n.parse().ok())
            // sled grows its file a 512 KiB segment at a time: enough
            // blocks that this granularity is ~50 bytes a block.
            .unwrap_or(10_000);
        let per_block = bytes_per_empty_block(blocks);
        eprintln!("{per_block:.0} bytes on disk per empty block");
        assert!(per_block < 1024.0, "{per_block:.0} bytes per empty block");
    }
}
