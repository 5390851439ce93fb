//! Re-executes a stored chain from genesis and checks everything it can:
//! every block's validity and state root, the stored outcomes and rewards,
//! the stored state against the replayed one, and the supply invariant
//! `total_supply == genesis_supply + Σ minted == Σ balances`.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::files::{self, FileError};
use crate::store::{Store, StoreError};
use bwchain_core::consensus::verify_block_with;
use bwchain_core::genesis::{ChainSpec, GenesisError};
use bwchain_core::primitives::batch::BatchVerifier;
use bwchain_core::primitives::Hash;
use bwchain_core::state::{StateValue, StateView};

/// What an audit found, for a chain that passed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditReport {
    pub chain_id: String,
    pub genesis_hash: Hash,
    pub height: u64,
    pub head_hash: Hash,
    pub state_root: Hash,
    pub blocks_checked: u64,
    pub txs_checked: u64,
    /// State entries the blocks changed, summed over blocks.
    pub state_changes: u64,
    pub genesis_supply: u64,
    pub minted: u64,
    pub total_supply: u64,
    pub sum_of_balances: u64,
    pub accounts: u64,
    pub devices: u64,
    pub sessions: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("block {height} is missing from the store")]
    MissingBlock { height: u64 },
    #[error("block {height} ({hash}) is invalid on replay: {error}")]
    InvalidBlock {
        height: u64,
        hash: Hash,
        error: Box<bwchain_core::consensus::BlockError>,
    },
    #[error("block {height}: stored {what} differ from the replayed ones")]
    RecordMismatch { height: u64, what: &'static str },
    #[error("stored state differs from the replayed state: {0}")]
    StateMismatch(String),
    #[error("supply invariant broken: {0}")]
    Supply(String),
}

/// Why the chain in a data directory could not be audited, or failed its
/// audit. Each variant's source says what was found.
#[derive(Debug, thiserror::Error)]
pub enum AuditDirError {
    #[error("no data directory at {}", path.display())]
    NoDataDir { path: PathBuf },
    #[error(transparent)]
    GenesisFile(FileError),
    #[error(transparent)]
    Existing(StoreError),
    #[error("the data directory holds no genesis; pass --genesis")]
    NoGenesis,
    #[error(transparent)]
    Genesis(GenesisError),
    #[error("cannot open {}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        error: StoreError,
    },
    #[error("audit FAILED")]
    Failed(#[source] AuditError),
}

/// Audits the chain of a stopped node in `data_dir`, against the genesis in
/// `genesis_file`, or else the genesis stored in the directory.
pub fn audit_dir(
    data_dir: &Path,
    genesis_file: Option<&Path>,
) -> Result<AuditReport, AuditDirError> {
    audit_dir_with_progress(data_dir, genesis_file, &mut |_| {})
}

/// [`audit_dir`], telling `progress` after every replayed block.
pub fn audit_dir_with_progress(
    data_dir: &Path,
    genesis_file: Option<&Path>,
    progress: &mut dyn FnMut(AuditProgress),
) -> Result<AuditReport, AuditDirError> {
    if !data_dir.is_dir() {
        return Err(AuditDirError::NoDataDir {
            path: data_dir.to_owned(),
        });
    }
    let open_error = |error| AuditDirError::Open {
        path: data_dir.to_owned(),
        error,
    };
    // One handle for the whole audit: sled locks the directory, and lets go
    // of the lock a little after its last handle is dropped.
    let (store, spec) = match genesis_file {
        Some(path) => {
            let genesis = files::read_genesis(path).map_err(AuditDirError::GenesisFile)?;
            let spec = ChainSpec::new(genesis).map_err(AuditDirError::Genesis)?;
            (Store::open(data_dir, &spec).map_err(open_error)?, spec)
        }
        None => {
            let store = Store::open_existing(data_dir).map_err(AuditDirError::Existing)?;
            let genesis = store
                .stored_genesis()
                .map_err(AuditDirError::Existing)?
                .ok_or(AuditDirError::NoGenesis)?;
            let spec = ChainSpec::new(genesis).map_err(AuditDirError::Genesis)?;
            // What `Store::open` checks: the stored chain starts at this genesis.
            match store.block_hash_at(0).map_err(open_error)? {
                Some(found) if found != spec.genesis_hash() => {
                    return Err(open_error(StoreError::WrongChain {
                        expected: spec.genesis_hash(),
                        found,
                    }));
                }
                _ => {}
            }
            (store, spec)
        }
    };
    audit_with_progress(&store, &spec, progress).map_err(AuditDirError::Failed)
}

/// Replays the chain in `store` from the genesis of `spec`.
pub fn audit(store: &Store, spec: &ChainSpec) -> Result<AuditReport, AuditError> {
    audit_with_progress(store, spec, &mut |_| {})
}

/// How far an audit got: `height` of `head` blocks replayed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditProgress {
    pub height: u64,
    pub head: u64,
}

/// [`audit`], telling `progress` after every replayed block (and once
/// before the first).
pub fn audit_with_progress(
    store: &Store,
    spec: &ChainSpec,
    progress: &mut dyn FnMut(AuditProgress),
) -> Result<AuditReport, AuditError> {
    let head = store.head()?;
    progress(AuditProgress {
        height: 0,
        head: head.height,
    });
    let mut state = spec.genesis_state.clone();
    let mut parent = spec.genesis_header.clone();
    let mut minted_total: u64 = 0;
    let mut txs_checked: u64 = 0;
    let mut state_changes: u64 = 0;
    let verifier = BatchVerifier::default();
    for height in 1..=head.height {
        let stored = store
            .block_at(height)?
            .ok_or(AuditError::MissingBlock { height })?;
        let hash = stored.hash();
        // The clock does not matter for a replay: every stored block was in the past.
        let (header, executed) =
            verify_block_with(spec, &parent, &state, &stored.block, u64::MAX, &verifier).map_err(
                |error| AuditError::InvalidBlock {
                    height,
                    hash,
                    error: Box::new(error),
                },
            )?;
        if executed.outcomes != stored.outcomes {
            return Err(AuditError::RecordMismatch {
                height,
                what: "transaction outcomes",
            });
        }
        if executed.rewards != stored.rewards || executed.minted != stored.minted {
            return Err(AuditError::RecordMismatch {
                height,
                what: "rewards",
            });
        }
        if executed.tx_hashes != stored.tx_hashes {
            return Err(AuditError::RecordMismatch {
                height,
                what: "transaction hashes",
            });
        }
        state.apply(&executed.changes);
        state_changes += executed.changes.len() as u64;
        minted_total = minted_total
            .checked_add(executed.minted)
            .ok_or_else(|| AuditError::Supply("minted total overflows u64".into()))?;
        txs_checked += stored.block.txs.len() as u64;
        parent = header;
        progress(AuditProgress {
            height,
            head: head.height,
        });
    }
    if parent.hash() != head.hash() {
        return Err(AuditError::StateMismatch(format!(
            "replayed head {} differs from the stored head {}",
            parent.hash(),
            head.hash()
        )));
    }

    // The stored state must be exactly the replayed one.
    let stored_root = store.accumulator().map_err(StoreError::from)?.root();
    if stored_root != state.root() || state.root() != state.recompute_root() {
        return Err(AuditError::StateMismatch(format!(
            "stored accumulator root {stored_root}, replayed root {}",
            state.root()
        )));
    }
    let mut stored_entries = 0u64;
    for entry in store.state_entries() {
        let (key, value) = entry?;
        stored_entries += 1;
        let replayed = state.get(&key).map_err(StoreError::from)?;
        if replayed.as_ref() != Some(&value) {
            return Err(AuditError::StateMismatch(format!(
                "{key:?}: stored {value:?}, replayed {replayed:?}"
            )));
        }
    }
    let (mut accounts, mut devices, mut sessions) = (0u64, 0u64, 0u64);
    let mut sum_of_balances: u128 = 0;
    let mut supply = None;
    for (_, value) in state.entries() {
        match value {
            StateValue::Account(record) => {
                accounts += 1;
                sum_of_balances += u128::from(record.balance);
            }
            StateValue::Device(_) => devices += 1,
            StateValue::Session(_) => sessions += 1,
            StateValue::Supply(record) => supply = Some(*record),
            StateValue::Config(_) => {}
        }
    }
    let replayed_entries = state.entries().count() as u64;
    if stored_entries != replayed_entries {
        return Err(AuditError::StateMismatch(format!(
            "store holds {stored_entries} state entries, replay gives {replayed_entries}"
        )));
    }
    let supply = supply.ok_or_else(|| AuditError::Supply("no supply record".into()))?;
    let expected_total = u128::from(spec.genesis_supply) + u128::from(minted_total);
    if u128::from(supply.total_supply) != expected_total {
        return Err(AuditError::Supply(format!(
            "total_supply {} != genesis supply {} + minted {minted_total}",
            supply.total_supply, spec.genesis_supply
        )));
    }
    if supply.minted != minted_total {
        return Err(AuditError::Supply(format!(
            "supply record says {} minted, blocks add up to {minted_total}",
            supply.minted
        )));
    }
    if sum_of_balances != u128::from(supply.total_supply) {
        return Err(AuditError::Supply(format!(
            "sum of balances {sum_of_balances} != total_supply {}",
            supply.total_supply
        )));
    }
    Ok(AuditReport {
        chain_id: spec.genesis.chain_id.clone(),
        genesis_hash: spec.genesis_hash(),
        height: head.height,
        head_hash: head.hash(),
        state_root: state.root(),
        blocks_checked: head.height,
        txs_checked,
        state_changes,
        genesis_supply: spec.genesis_supply,
        minted: minted_total,
        total_supply: supply.total_supply,
        sum_of_balances: u64::try_from(sum_of_balances).unwrap_or(u64::MAX),
        accounts,
        devices,
        sessions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bwchain_core::consensus::build_block;
    use bwchain_core::primitives::signing::Keypair;
    use bwchain_core::primitives::TxBody;
    use bwchain_core::state::StateKey;

    fn chain_with_blocks(dir: &std::path::Path) -> (Store, ChainSpec) {
        let alice = Keypair::dev("alice");
        let bob = Keypair::dev("bob");
        let carol = Keypair::dev("carol");
        let mut genesis = bwchain_core::genesis::presets::dev_at(0);
        genesis.block_time_ms = 100;
        let spec = ChainSpec::new(genesis).unwrap();
        let store = Store::open(dir, &spec).unwrap();
        let g = spec.genesis_hash();
        for (i, bytes) in [1u64 << 20, 3 << 20, 5 << 20].into_iter().enumerate() {
            let receipt = carol.sign_receipt(&g, bob.account(), 1, bytes);
            let claim = bob.sign_tx(
                &g,
                i as u64,
                TxBody::Claim {
                    receipts: vec![receipt],
                },
            );
            let hash = bwchain_core::primitives::signing::tx_hash(&g, &claim);
            let parent = store.head().unwrap();
            let now = 100 * (i as u64 + 1) + 50;
            let built = build_block(
                &spec,
                &parent,
                &store,
                alice.account(),
                now,
                vec![(hash, claim)],
            )
            .unwrap();
            assert!(built.rejected.is_empty());
            store
                .commit_block(
                    &built.header,
                    &built.sign(&alice),
                    &built.executed,
                    None,
                    None,
                    false,
                )
                .unwrap();
        }
        (store, spec)
    }

    #[test]
    fn audit_passes_on_a_real_chain() {
        let dir = tempfile::tempdir().unwrap();
        let (store, spec) = chain_with_blocks(dir.path());
        let report = audit(&store, &spec).unwrap();
        assert_eq!(report.height, 3);
        assert_eq!(report.txs_checked, 3);
        assert!(report.minted > 0);
        assert_eq!(report.total_supply, report.genesis_supply + report.minted);
        assert_eq!(report.sum_of_balances, report.total_supply);
        assert_eq!(report.sessions, 1);
    }

    /// Retries `open` while sled still holds the lock of a dropped handle.
    fn after_release<T>(
        mut open: impl FnMut() -> Result<T, AuditDirError>,
    ) -> Result<T, AuditDirError> {
        for _ in 0..100 {
            match open() {
                Err(err) if format!("{err:?}").contains("could not acquire lock") => {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                result => return result,
            }
        }
        open()
    }

    #[test]
    fn audit_dir_uses_the_stored_genesis_or_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let (store, spec) = chain_with_blocks(dir.path());
        drop(store);
        let report = after_release(|| audit_dir(dir.path(), None)).unwrap();
        assert_eq!(report.height, 3);
        assert_eq!(report.genesis_hash, spec.genesis_hash());

        let dev_genesis = dir.path().join("dev.json");
        std::fs::write(
            &dev_genesis,
            serde_json::to_string(&bwchain_core::genesis::presets::dev()).unwrap(),
        )
        .unwrap();
        let err = after_release(|| audit_dir(dir.path(), Some(&dev_genesis))).unwrap_err();
        assert!(matches!(err, AuditDirError::Open { .. }), "{err}");

        let missing = dir.path().join("missing");
        let err = audit_dir(&missing, None).unwrap_err().to_string();
        assert!(err.starts_with("no data directory at "), "{err}");
    }

    #[test]
    fn audit_detects_a_tampered_state_entry() {
        let dir = tempfile::tempdir().unwrap();
        let (store, spec) = chain_with_blocks(dir.path());
        let bob = Keypair::dev("bob").account();
        store
            .put_state_for_test(
                StateKey::Account(bob),
                StateValue::Account(bwchain_core::state::AccountRecord {
                    balance: 1,
                    nonce: 3,
                }),
            )
            .unwrap();
        let err = audit(&store, &spec).unwrap_err();
        assert!(matches!(err, AuditError::StateMismatch(_)), "{err}");
    }
}
