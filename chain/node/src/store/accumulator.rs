//! The state accumulator on disk: checkpointed every [`ACCUMULATOR_PERIOD`]
//! heights (or after many changes, or at a reorg) instead of rewritten in
//! every block, and recomputed on open from the checkpoint and the entries
//! changed since.

use super::*;

/// The head's accumulator, and what changed since the stored checkpoint.
#[derive(Default)]
pub(super) struct Accumulator {
    pub(super) head: LtHash,
    /// The entries changed since the checkpoint.
    pub(super) touched: HashSet<StateKey>,
    /// The heights of the `R` records written since the checkpoint.
    pub(super) records: Vec<u64>,
}

impl Store {
    pub(super) fn lock_accumulator(&self) -> MutexGuard<'_, Accumulator> {
        self.accumulator.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The head's accumulator: the checkpoint's, with the entries changed
    /// since (the `R` records) moved from their values at the checkpoint to
    /// their values now; checked against the head's state root. A store of
    /// the older layout (the head's accumulator under `Maccumulator`) is
    /// migrated to a checkpoint at its head.
    pub(super) fn load_accumulator(&self) -> Result<(), StoreError> {
        let head = self.head()?;
        let decode = |bytes: &[u8]| {
            LtHash::from_bytes(bytes)
                .ok_or_else(|| StoreError::Corrupt("the state accumulator does not decode".into()))
        };
        let Some(checkpoint) = self.db.get(ACCUMULATOR_CHECKPOINT)? else {
            let old = self
                .db
                .get(META_ACCUMULATOR)?
                .ok_or_else(|| StoreError::Corrupt("no state accumulator".into()))?;
            let accumulator = decode(&old)?;
            let mut batch = Writes::default();
            batch.insert(
                ACCUMULATOR_CHECKPOINT,
                checkpoint_bytes(&head.hash(), &accumulator),
            );
            batch.remove(META_ACCUMULATOR);
            self.apply_flushed(batch)?;
            *self.lock_accumulator() = Accumulator {
                head: accumulator,
                ..Accumulator::default()
            };
            return Ok(());
        };
        if checkpoint.len() < 32 {
            return Err(StoreError::Corrupt("short accumulator checkpoint".into()));
        }
        let mut accumulator = decode(&checkpoint[32..])?;
        let mut touched = HashSet::new();
        let mut records = Vec::new();
        for entry in self.db.scan_prefix([REPLAY]) {
            let (record_key, bytes) = entry?;
            let height: [u8; 8] = record_key[1..]
                .try_into()
                .map_err(|_| StoreError::Corrupt("bad replay record key".into()))?;
            records.push(u64::from_be_bytes(height));
            let replay: Replay = codec::decode(&bytes)?;
            for (state_key_, at_checkpoint) in replay {
                if !touched.insert(state_key_) {
                    return Err(StoreError::Corrupt(format!(
                        "entry {state_key_:?} recorded twice since the accumulator checkpoint"
                    )));
                }
                if let Some(value) = at_checkpoint {
                    accumulator.remove(&state_key_, &value);
                }
                if let Some(value) = self.get(&state_key_)? {
                    accumulator.add(&state_key_, &value);
                }
            }
        }
        if accumulator.root() != head.state_root {
            return Err(StoreError::Corrupt(
                "the state accumulator does not give the head's state root".into(),
            ));
        }
        *self.lock_accumulator() = Accumulator {
            head: accumulator,
            touched,
            records,
        };
        Ok(())
    }
}

/// The accumulator checkpoint's value: the block hash, then the accumulator.
pub(super) fn checkpoint_bytes(block_hash: &Hash, accumulator: &LtHash) -> Vec<u8> {
    let mut bytes = block_hash.0.to_vec();
    bytes.extend_from_slice(&accumulator.to_bytes());
    bytes
}

pub(super) fn to_hash(bytes: &[u8]) -> Result<Hash, StoreError> {
    let array: [u8; 32] = bytes.try_into().map_err(|_| {
        StoreError::Corrupt(format!(
            "expected a 32-byte hash, found {} bytes",
            bytes.len()
        ))
    })?;
    Ok(Hash(array))
}
