//! Building the block this node proposes from candidate transactions.

use std::collections::BTreeSet;

use crate::execute::{BlockContext, BlockExecutor, ExecError, ExecutedBlock, Signatures, TxError};
use crate::genesis::ChainSpec;
use crate::primitives::signing::Keypair;
use crate::primitives::{Account, Block, Hash, Header, SealedHeader, Tx};
use crate::state::StateView;

use super::slot_at;

/// A block this node is about to propose: its header and what executing it
/// produced, plus the candidate transactions that turned out invalid. It is
/// signed only when the node commits it ([`BuiltBlock::sign`]), so a block
/// built on a head that moved meanwhile can be dropped without ever having
/// signed anything for its slot.
pub struct BuiltBlock {
    pub header: SealedHeader,
    pub executed: ExecutedBlock,
    pub rejected: Vec<(Hash, TxError)>,
}

impl BuiltBlock {
    pub fn sign(&self, keypair: &Keypair) -> Block {
        Block {
            header: self.header.header().clone(),
            signature: keypair.sign(&self.header.hash().0),
            txs: self.executed.txs.clone(),
        }
    }
}

/// Builds a block on `parent` at `timestamp_ms` for `proposer` from candidate
/// transactions (already signature-checked), skipping those that fail.
pub fn build_block(
    spec: &ChainSpec,
    parent: &SealedHeader,
    parent_state: &dyn StateView,
    proposer: Account,
    timestamp_ms: u64,
    candidates: impl IntoIterator<Item = (Hash, Tx)>,
) -> Result<BuiltBlock, ExecError> {
    let slot = slot_at(&spec.genesis, timestamp_ms).unwrap_or(0);
    let ctx = BlockContext {
        height: parent.height + 1,
        timestamp_ms,
        proposer,
    };
    let mut executor = BlockExecutor::new(spec, parent_state, ctx);
    let mut rejected = Vec::new();
    let mut failed_senders = BTreeSet::new();
    for (hash, tx) in candidates {
        if executor.is_full() {
            break;
        }
        // After one failure a sender's later nonces cannot apply either.
        if failed_senders.contains(&tx.from) {
            rejected.push((
                hash,
                TxError::WrongNonce {
                    expected: tx.nonce.saturating_sub(1),
                    found: tx.nonce,
                },
            ));
            continue;
        }
        let from = tx.from;
        if let Err(error) = executor.push(tx, hash, Signatures::AlreadyVerified) {
            if let TxError::Storage(err) = error {
                return Err(ExecError::Storage(err));
            }
            failed_senders.insert(from);
            rejected.push((hash, error));
        }
    }
    let executed = executor.finish()?;
    let header = SealedHeader::new(Header {
        height: parent.height + 1,
        slot,
        timestamp_ms,
        parent: parent.hash(),
        proposer,
        tx_root: executed.tx_root,
        state_root: executed.state_root,
    });
    Ok(BuiltBlock {
        header,
        executed,
        rejected,
    })
}

/// Paces how much work (receipts, see [`crate::mempool::work_units`]) a
/// proposer puts in one block, so that building and committing it takes
/// about [`BuildPacer::SHARE_OF_SLOT`] of a slot whatever the backlog: under
/// overload blocks stay regular and latency bounded, instead of one block
/// swallowing the whole mempool for many slots. It learns the cost of a
/// unit from the blocks it made (time comes in as an argument).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BuildPacer {
    /// Microseconds one unit of work costs to build and commit (smoothed).
    micros_per_unit: f64,
}

impl Default for BuildPacer {
    fn default() -> Self {
        Self {
            micros_per_unit: Self::INITIAL_MICROS_PER_UNIT,
        }
    }
}

impl BuildPacer {
    /// The share of a slot a block's building and commit may take.
    pub const SHARE_OF_SLOT: f64 = 0.8;
    /// The first guess, before any block was measured: conservative for a
    /// small machine (a receipt costs well under this).
    pub const INITIAL_MICROS_PER_UNIT: f64 = 40.0;
    /// Blocks below this much work say little about the cost of a unit
    /// (fixed costs dominate them).
    pub const MIN_SAMPLE_UNITS: usize = 256;
    /// Weight of a new measurement in the smoothed cost.
    const SMOOTHING: f64 = 0.3;
    /// The smallest budget, so a slow measurement never starves blocks.
    pub const MIN_BUDGET: usize = 256;

    /// How much work the next block may carry with slots of `block_time_ms`.
    pub fn budget(&self, block_time_ms: u64) -> usize {
        let micros = block_time_ms as f64 * 1000.0 * Self::SHARE_OF_SLOT;
        ((micros / self.micros_per_unit) as usize).max(Self::MIN_BUDGET)
    }

    /// Records that a block of `units` took `micros` to build and commit.
    pub fn record(&mut self, units: usize, micros: u64) {
        if units < Self::MIN_SAMPLE_UNITS {
            return;
        }
        let sample = micros as f64 / units as f64;
        self.micros_per_unit =
            (1.0 - Self::SMOOTHING) * self.micros_per_unit + Self::SMOOTHING * sample;
    }

    /// The smoothed cost of a unit, in microseconds.
    pub fn micros_per_unit(&self) -> f64 {
        self.micros_per_unit
    }
}

#[cfg(test)]
mod pacer_tests {
    use super::BuildPacer;

    #[test]
    fn the_budget_follows_the_measured_cost() {
        let mut pacer = BuildPacer::default();
        // 500 ms slots, a share of them, at 40 us a unit.
        let first = (500_000.0 * BuildPacer::SHARE_OF_SLOT / 40.0) as usize;
        assert_eq!(pacer.budget(500), first);
        // Small blocks teach nothing.
        pacer.record(10, 1_000_000);
        assert_eq!(pacer.budget(500), first);
        // Blocks at 10 us a unit pull the cost down, smoothly.
        for _ in 0..30 {
            pacer.record(10_000, 100_000);
        }
        assert!((pacer.micros_per_unit() - 10.0).abs() < 0.01);
        let budget = pacer.budget(500);
        let expected = (500_000.0 * BuildPacer::SHARE_OF_SLOT / 10.0) as usize;
        assert!(
            (expected - expected / 100..=expected).contains(&budget),
            "{budget}"
        );
        // A very slow block cannot starve the next ones.
        for _ in 0..30 {
            pacer.record(1_000, 100_000_000);
        }
        assert_eq!(pacer.budget(500), BuildPacer::MIN_BUDGET);
    }
}
