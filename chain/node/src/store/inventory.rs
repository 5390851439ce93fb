//! The inventory: registered devices (read from the state) and the account
//! index, which lists for every account the transactions that concern it.
//!
//! | key | value |
//! |---|---|
//! | `X` + account + height (u64 BE) | the block's entries for the account: for each, index in block (u32 BE), [`TxRole`], tx hash; in that order |
//! | `X` + account + height + index (u32 BE) + [`TxRole`] | tx hash: one entry, as stores of format 2 wrote them (still read) |
//! | `Iaccount_index` | present once every block of the chosen chain is indexed |
//! | `Icredited` | bytes credited by every claim on the chosen chain (u64 BE) |
//!
//! The entries of a block are written and removed in the same atomic batch
//! as the block joins or leaves the chosen chain; a store made before the
//! index existed is indexed once, when it is opened. A block's entries for
//! one account are one sled entry (format 3): a provider sends several
//! claims a block, and every sled insert costs several microseconds of the
//! block's commit.

use std::collections::{BTreeMap, BTreeSet};

use bwchain_core::primitives::codec;
use bwchain_core::primitives::{Account, Block, Hash, TxBody, TxOutcome};
use bwchain_core::state::{DeviceRecord, StateKey, StateValue};

use super::{key, state_key, Store, StoreError, StoredBlock, Writes};

const ACCOUNT_INDEX: u8 = b'X';
/// Set when the whole chosen chain is indexed. Outside the `M` range.
const ACCOUNT_INDEX_DONE: &[u8] = b"Iaccount_index";
/// The running total of credited bytes.
const CREDITED_TOTAL: &[u8] = b"Icredited";
/// account + height + index + role: a single entry's key (format 2).
const ENTRY_LEN: usize = 32 + 8 + 4 + 1;
/// account + height: a block group's key.
const GROUP_LEN: usize = 32 + 8;
/// index + role + tx hash: one entry in a block group.
const GROUPED_LEN: usize = 4 + 1 + 32;

/// How a transaction concerns an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TxRole {
    /// The account signed it (claims are sent by their provider).
    Sent,
    /// A transfer paid it.
    Received,
    /// An authority registered or revoked it as a device.
    Device,
}

impl TxRole {
    fn byte(self) -> u8 {
        match self {
            TxRole::Sent => 0,
            TxRole::Received => 1,
            TxRole::Device => 3,
        }
    }

    fn from_byte(byte: u8) -> Option<Self> {
        Some(match byte {
            0 => TxRole::Sent,
            1 => TxRole::Received,
            3 => TxRole::Device,
            _ => return None,
        })
    }
}

/// One entry of the account index, newest first when listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountTxEntry {
    pub height: u64,
    pub index: u32,
    pub role: TxRole,
    pub tx_hash: Hash,
}

impl AccountTxEntry {
    /// Where the next page starts: strictly older entries than this one.
    pub fn position(&self) -> (u64, u32, TxRole) {
        (self.height, self.index, self.role)
    }
}

/// Every account a block's transactions concern, with the entry each
/// gets in the index (an account may get several: a sender paying itself
/// is refused, but a provider may serve several consumers).
pub fn block_entries(block: &Block, tx_hashes: &[Hash]) -> Vec<(Account, AccountTxEntry)> {
    let height = block.header.height;
    let mut out = Vec::new();
    for (index, (tx, hash)) in block.txs.iter().zip(tx_hashes).enumerate() {
        let index = u32::try_from(index).expect("max_block_txs fits u32");
        // Entries of different transactions differ by index: only this
        // transaction's own entries can repeat.
        let first = out.len();
        let mut add = |account: &Account, role: TxRole| {
            let entry = AccountTxEntry {
                height,
                index,
                role,
                tx_hash: *hash,
            };
            if !out[first..].contains(&(*account, entry)) {
                out.push((*account, entry));
            }
        };
        add(&tx.from, TxRole::Sent);
        match &tx.body {
            TxBody::Transfer { to, .. } => add(to, TxRole::Received),
            // A claim's consumers are not indexed: one entry per receipt
            // would cost more disk than the receipt itself (issue 9's
            // bound); a consumer's sessions are in the state.
            TxBody::Claim { .. } => {}
            TxBody::SetDevice { device, .. } => add(device, TxRole::Device),
        }
    }
    out
}

/// A block's index entries, one sled entry per account.
fn groups(block: &Block, tx_hashes: &[Hash]) -> BTreeMap<Account, Vec<u8>> {
    let mut groups: BTreeMap<Account, Vec<u8>> = BTreeMap::new();
    // In block order, and within a transaction by role: the group's order.
    for (account, entry) in block_entries(block, tx_hashes) {
        let group = groups.entry(account).or_default();
        group.extend_from_slice(&entry.index.to_be_bytes());
        group.push(entry.role.byte());
        group.extend_from_slice(&entry.tx_hash.0);
    }
    groups
}

fn group_key(account: &Account, height: u64) -> Vec<u8> {
    let mut rest = Vec::with_capacity(GROUP_LEN);
    rest.extend_from_slice(&account.0);
    rest.extend_from_slice(&height.to_be_bytes());
    key(ACCOUNT_INDEX, &rest)
}

fn entry_key(account: &Account, height: u64, index: u32, role: TxRole) -> Vec<u8> {
    let mut rest = Vec::with_capacity(ENTRY_LEN);
    rest.extend_from_slice(&account.0);
    rest.extend_from_slice(&height.to_be_bytes());
    rest.extend_from_slice(&index.to_be_bytes());
    rest.push(role.byte());
    key(ACCOUNT_INDEX, &rest)
}

/// Adds a block's index entries to `batch`.
pub(super) fn index_block(batch: &mut Writes, block: &Block, tx_hashes: &[Hash]) {
    let height = block.header.height;
    for (account, group) in groups(block, tx_hashes) {
        batch.insert(group_key(&account, height), group);
    }
}

/// Removes a reverted block's index entries in `batch`, in either form.
pub(super) fn unindex_block(batch: &mut Writes, stored: &StoredBlock) {
    let height = stored.block.header.height;
    let mut accounts = BTreeSet::new();
    for (account, entry) in block_entries(&stored.block, &stored.tx_hashes) {
        batch.remove(entry_key(&account, height, entry.index, entry.role));
        if accounts.insert(account) {
            batch.remove(group_key(&account, height));
        }
    }
}

/// Bytes a block's claims credited.
pub fn credited_bytes(outcomes: &[TxOutcome]) -> u64 {
    outcomes
        .iter()
        .map(TxOutcome::credited_bytes)
        .fold(0, u64::saturating_add)
}

/// Writes the new total of credited bytes: the stored one plus `added`
/// minus `removed`.
pub(super) fn update_credited(
    store: &Store,
    batch: &mut Writes,
    added: u64,
    removed: u64,
) -> Result<(), StoreError> {
    if added == removed {
        return Ok(());
    }
    let total = store.credited_total()?;
    let total = total.saturating_add(added).saturating_sub(removed);
    batch.insert(CREDITED_TOTAL, &total.to_be_bytes());
    Ok(())
}

/// Marks a new store's index complete (it holds only the genesis block).
pub(super) fn mark_indexed(batch: &mut Writes) {
    batch.insert(ACCOUNT_INDEX_DONE, &[]);
}

impl Store {
    /// Indexes every block of the chosen chain, once, for a store made
    /// before the account index existed.
    pub(super) fn build_account_index(&self) -> Result<(), StoreError> {
        if self.db.get(ACCOUNT_INDEX_DONE)?.is_some() {
            return Ok(());
        }
        let mut batch = Writes::default();
        let mut height = 0;
        let mut credited = 0u64;
        while let Some(stored) = self.block_at(height)? {
            index_block(&mut batch, &stored.block, &stored.tx_hashes);
            credited = credited.saturating_add(credited_bytes(&stored.outcomes));
            height += 1;
        }
        batch.insert(CREDITED_TOTAL, &credited.to_be_bytes());
        mark_indexed(&mut batch);
        self.apply_flushed(batch)
    }

    /// Bytes credited by every claim on the chosen chain.
    pub fn credited_total(&self) -> Result<u64, StoreError> {
        match self.db.get(CREDITED_TOTAL)? {
            None => Ok(0),
            Some(bytes) => {
                let array: [u8; 8] = bytes.as_ref().try_into().map_err(|_| {
                    StoreError::Corrupt("credited bytes total is not 8 bytes".into())
                })?;
                Ok(u64::from_be_bytes(array))
            }
        }
    }

    /// Up to `limit` transactions concerning `account` on the chosen chain,
    /// newest first, strictly older than `before` when given.
    pub fn account_txs(
        &self,
        account: &Account,
        before: Option<(u64, u32, TxRole)>,
        limit: usize,
    ) -> Result<Vec<AccountTxEntry>, StoreError> {
        let start = key(ACCOUNT_INDEX, &account.0);
        let end = match before {
            Some((height, index, role)) => entry_key(account, height, index, role),
            None => {
                let mut end = start.clone();
                end.push(0xff);
                end
            }
        };
        let mut out = Vec::new();
        for entry in self.db.range(start, Some(end)).rev() {
            if out.len() >= limit {
                break;
            }
            let (entry_key, value) = entry?;
            for entry in decode_entries(&entry_key, &value)?.into_iter().rev() {
                if out.len() < limit && before.is_none_or(|before| entry.position() < before) {
                    out.push(entry);
                }
            }
        }
        Ok(out)
    }

    /// Up to `limit` registered devices (active or revoked) in key order,
    /// strictly after `after` when given.
    pub fn devices(
        &self,
        after: Option<&Account>,
        limit: usize,
    ) -> Result<Vec<(Account, DeviceRecord)>, StoreError> {
        // The state keys of devices share the encoding of their variant.
        let prefix = state_key(&StateKey::Device(Account::ZERO));
        let prefix = &prefix[..prefix.len() - 32];
        let start = match after {
            Some(after) => {
                let mut start = state_key(&StateKey::Device(*after));
                start.push(0);
                start
            }
            None => prefix.to_vec(),
        };
        let mut out = Vec::new();
        for entry in self.db.range(start, None) {
            let (entry_key, value) = entry?;
            if !entry_key.starts_with(prefix) || out.len() >= limit {
                break;
            }
            let state_key_: StateKey = codec::decode(&entry_key[1..])?;
            match (state_key_, codec::decode(&value)?) {
                (StateKey::Device(account), StateValue::Device(record)) => {
                    out.push((account, record))
                }
                (found, _) => {
                    return Err(StoreError::Corrupt(format!("device range holds {found:?}")))
                }
            }
        }
        Ok(out)
    }
}

/// The entries of one sled entry of the index, oldest first: a block
/// group, or a single entry of a format 2 store.
fn decode_entries(entry_key: &[u8], value: &[u8]) -> Result<Vec<AccountTxEntry>, StoreError> {
    let corrupt = || StoreError::Corrupt(format!("account index entry {}", hex::encode(entry_key)));
    let rest = entry_key.get(1 + 32..).ok_or_else(corrupt)?;
    let height = u64::from_be_bytes(
        rest.get(..8)
            .ok_or_else(corrupt)?
            .try_into()
            .map_err(|_| corrupt())?,
    );
    let decode = |index: &[u8], role: u8, hash: &[u8]| -> Result<AccountTxEntry, StoreError> {
        Ok(AccountTxEntry {
            height,
            index: u32::from_be_bytes(index.try_into().map_err(|_| corrupt())?),
            role: TxRole::from_byte(role).ok_or_else(corrupt)?,
            tx_hash: Hash(hash.try_into().map_err(|_| corrupt())?),
        })
    };
    match entry_key.len() - 1 {
        GROUP_LEN if !value.is_empty() && value.len() % GROUPED_LEN == 0 => value
            .chunks_exact(GROUPED_LEN)
            .map(|entry| decode(&entry[..4], entry[4], &entry[5..]))
            .collect(),
        // A single entry (format 2).
        ENTRY_LEN if value.len() == Hash::LEN => Ok(vec![decode(&rest[8..12], rest[12], value)?]),
        _ => Err(corrupt()),
    }
}

#[cfg(test)]
mod tests {
    use super::super::ChainUpdate;
    use super::*;
    use bwchain_core::consensus::build_block;
    use bwchain_core::genesis::ChainSpec;
    use bwchain_core::primitives::signing::Keypair;

    /// A claim joins the index and the total, a reorg takes it out, and a
    /// store without the index gets it rebuilt when opened.
    #[test]
    fn index_follows_commits_reorgs_and_reopening() {
        let Dev {
            dir,
            spec,
            store,
            alice,
            bob,
            carol,
        } = Dev::open();
        let g = spec.genesis_hash();
        let parent = store.head().unwrap();
        let claim = bob.sign_tx(
            &g,
            0,
            TxBody::Claim {
                receipts: vec![carol.sign_receipt(&g, bob.account(), 1, 5000)],
            },
        );
        let claim_hash = bwchain_core::primitives::signing::tx_hash(&g, &claim);
        let built = build_block(
            &spec,
            &parent,
            &store,
            alice.account(),
            150,
            vec![(claim_hash, claim)],
        )
        .unwrap();
        let block = built.sign(&alice);
        store
            .commit_block(&built.header, &block, &built.executed, Some(1), None, true)
            .unwrap();
        let tx_hash = built.executed.tx_hashes[0];
        let bob_txs = store.account_txs(&bob.account(), None, 10).unwrap();
        assert_eq!(bob_txs.len(), 1);
        assert_eq!(
            (bob_txs[0].role, bob_txs[0].tx_hash),
            (TxRole::Sent, tx_hash)
        );
        // The consumer is not indexed per receipt.
        let carol_txs = store.account_txs(&carol.account(), None, 10).unwrap();
        assert!(carol_txs.is_empty(), "{carol_txs:?}");
        assert!(store
            .account_txs(&bob.account(), Some(bob_txs[0].position()), 10)
            .unwrap()
            .is_empty());
        assert_eq!(store.credited_total().unwrap(), 5000);
        let devices = store.devices(None, 100).unwrap();
        assert_eq!(devices.len(), spec.genesis.devices.len());
        let after_first = store.devices(Some(&devices[0].0), 100).unwrap();
        assert_eq!(after_first, devices[1..]);

        // A reorg replaces block 1 with an empty one.
        let other = build_block(
            &spec,
            &parent,
            &parent_state(&spec),
            alice.account(),
            250,
            vec![],
        )
        .unwrap();
        let other_block = other.sign(&alice);
        switch_block_1(&store, &built, &other, &other_block);
        assert!(store
            .account_txs(&bob.account(), None, 10)
            .unwrap()
            .is_empty());
        assert!(store
            .account_txs(&carol.account(), None, 10)
            .unwrap()
            .is_empty());
        assert_eq!(store.credited_total().unwrap(), 0);

        // Back to the claim's chain, then forget the index: opening rebuilds it.
        switch_block_1(&store, &other, &built, &block);
        let indexed: Vec<_> = store.account_txs(&bob.account(), None, 10).unwrap();
        assert_eq!(indexed, bob_txs);
        for entry in store.db.sled().scan_prefix([ACCOUNT_INDEX]) {
            store.db.sled().remove(entry.unwrap().0).unwrap();
        }
        store.db.sled().remove(ACCOUNT_INDEX_DONE).unwrap();
        store.db.sled().remove(CREDITED_TOTAL).unwrap();
        drop(store);
        let store = super::super::tests::reopen(dir.path(), &spec).unwrap();
        assert_eq!(
            store.account_txs(&bob.account(), None, 10).unwrap(),
            bob_txs
        );
        assert_eq!(store.credited_total().unwrap(), 5000);
    }

    /// A block's entries for one account are one sled entry, paged
    /// through newest first; a store of format 2, whose entries are single,
    /// is read alongside and marked format 3 when opened.
    #[test]
    fn block_groups_page_and_single_entries_of_format_2_are_read() {
        let Dev {
            dir,
            spec,
            store,
            alice,
            bob,
            carol,
        } = Dev::open();
        let g = spec.genesis_hash();
        let claims: Vec<_> = (0..3u64)
            .map(|nonce| {
                let receipts = vec![carol.sign_receipt(&g, bob.account(), nonce, 1000)];
                let claim = bob.sign_tx(&g, nonce, TxBody::Claim { receipts });
                (
                    bwchain_core::primitives::signing::tx_hash(&g, &claim),
                    claim,
                )
            })
            .collect();
        let parent = store.head().unwrap();
        let built = build_block(&spec, &parent, &store, alice.account(), 150, claims).unwrap();
        assert_eq!(built.executed.tx_hashes.len(), 3);
        let block = built.sign(&alice);
        store
            .commit_block(&built.header, &block, &built.executed, Some(1), None, true)
            .unwrap();
        let group = store
            .db
            .sled()
            .get(group_key(&bob.account(), 1))
            .unwrap()
            .unwrap();
        assert_eq!(group.len(), 3 * GROUPED_LEN);
        let expected: Vec<AccountTxEntry> = (0..3u32)
            .rev()
            .map(|index| AccountTxEntry {
                height: 1,
                index,
                role: TxRole::Sent,
                tx_hash: built.executed.tx_hashes[index as usize],
            })
            .collect();
        let first_page = store.account_txs(&bob.account(), None, 2).unwrap();
        assert_eq!(first_page, expected[..2]);
        let second_page = store
            .account_txs(&bob.account(), Some(first_page[1].position()), 2)
            .unwrap();
        assert_eq!(second_page, expected[2..]);

        // A format 2 entry, single, below the group; the store marked 2.
        let old = AccountTxEntry {
            height: 0,
            index: 5,
            role: TxRole::Received,
            tx_hash: Hash([9; 32]),
        };
        let raw = store.db.sled();
        raw.insert(
            entry_key(&bob.account(), 0, 5, TxRole::Received),
            &old.tx_hash.0,
        )
        .unwrap();
        raw.insert(super::super::FORMAT, &2u32.to_be_bytes())
            .unwrap();
        raw.flush().unwrap();
        drop(store);
        let store = super::super::tests::reopen(dir.path(), &spec).unwrap();
        let all = store.account_txs(&bob.account(), None, 10).unwrap();
        assert_eq!(all[..3], expected[..]);
        assert_eq!(all[3..], [old]);
        assert_eq!(
            store
                .account_txs(&bob.account(), Some(expected[2].position()), 10)
                .unwrap(),
            [old]
        );
        assert_eq!(
            store
                .db
                .sled()
                .get(super::super::FORMAT)
                .unwrap()
                .unwrap()
                .as_ref(),
            &super::super::STORE_FORMAT.to_be_bytes()
        );
    }

    /// A fresh store of the dev chain with 100 ms slots, and three keys.
    struct Dev {
        dir: tempfile::TempDir,
        spec: ChainSpec,
        store: Store,
        alice: Keypair,
        bob: Keypair,
        carol: Keypair,
    }

    impl Dev {
        fn open() -> Self {
            let dir = tempfile::tempdir().unwrap();
            let mut genesis = bwchain_core::genesis::presets::dev_at(0);
            genesis.block_time_ms = 100;
            let spec = ChainSpec::new(genesis).unwrap();
            let store = Store::open(dir.path(), &spec).unwrap();
            Self {
                dir,
                spec,
                store,
                alice: Keypair::dev("alice"),
                bob: Keypair::dev("bob"),
                carol: Keypair::dev("carol"),
            }
        }
    }

    /// The genesis state, to build a sibling of block 1 on.
    /// Replaces block 1 (built as `from`) with `to` in one reorg.
    fn switch_block_1(
        store: &Store,
        from: &bwchain_core::consensus::BuiltBlock,
        to: &bwchain_core::consensus::BuiltBlock,
        to_block: &Block,
    ) {
        let reverted = store.block_at(1).unwrap().unwrap();
        let undo = from
            .executed
            .changes
            .iter()
            .map(|change| (change.key, change.before.clone()));
        let redo = to
            .executed
            .changes
            .iter()
            .map(|change| (change.key, change.after.clone()));
        store
            .commit_update(ChainUpdate {
                reverted: vec![reverted],
                added: vec![(&to.header, to_block, &to.executed)],
                state_writes: undo.chain(redo).collect(),
                accumulator: &to.executed.accumulator,
                signed_slot: None,
                last_vote: None,
                keep_undo: true,
            })
            .unwrap();
    }

    fn parent_state(spec: &ChainSpec) -> bwchain_core::state::MemState {
        spec.genesis_state.clone()
    }
}
