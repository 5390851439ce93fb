//! The writes of one commit, gathered before any is applied, and the redo
//! record that makes a large commit crash-safe without sled's `apply_batch`.

use sled::IVec;

#[cfg(test)]
thread_local! {
    /// Fault injection for tests: [`Writes::apply_each`] on this thread
    /// fails after this many more writes, as a crash would stop it.
    pub(super) static FAIL_AFTER: std::cell::Cell<Option<usize>> =
        const { std::cell::Cell::new(None) };
}

/// Whether the next write fails ([`FAIL_AFTER`] counts down to it).
#[cfg(test)]
fn injected_failure() -> bool {
    FAIL_AFTER.with(|left| match left.get() {
        Some(0) => true,
        Some(more) => {
            left.set(Some(more - 1));
            false
        }
        None => false,
    })
}

/// Inserts and removals in order; a later write to a key wins, as in
/// [`sled::Batch`].
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(super) struct Writes {
    ops: Vec<(IVec, Option<IVec>)>,
}

impl Writes {
    pub(super) fn insert(&mut self, key: impl Into<IVec>, value: impl Into<IVec>) {
        self.ops.push((key.into(), Some(value.into())));
    }

    pub(super) fn remove(&mut self, key: impl Into<IVec>) {
        self.ops.push((key.into(), None));
    }

    /// The writes, in order.
    pub(super) fn ops(&self) -> &[(IVec, Option<IVec>)] {
        &self.ops
    }

    pub(super) fn len(&self) -> usize {
        self.ops.len()
    }

    pub(super) fn append(&mut self, other: Writes) {
        self.ops.extend(other.ops);
    }

    /// The same writes as one atomic sled batch.
    pub(super) fn into_batch(self) -> sled::Batch {
        let mut batch = sled::Batch::default();
        for (key, value) in self.ops {
            match value {
                Some(value) => batch.insert(key, value),
                None => batch.remove(key),
            }
        }
        batch
    }

    /// Applies the writes one by one: not atomic, but without the
    /// process-wide lock that `apply_batch` holds against every reader.
    /// In key order (writes of one key keep their order): consecutive
    /// inserts then walk neighbouring paths of sled's tree.
    pub(super) fn apply_each(&self, db: &sled::Db) -> sled::Result<()> {
        let mut ops: Vec<&(IVec, Option<IVec>)> = self.ops.iter().collect();
        ops.sort_by(|a, b| a.0.cmp(&b.0));
        for (key, value) in ops {
            #[cfg(test)]
            if injected_failure() {
                return Err(sled::Error::Io(std::io::Error::other("injected failure")));
            }
            match value {
                Some(value) => drop(db.insert(key, value.clone())?),
                None => drop(db.remove(key)?),
            }
        }
        Ok(())
    }
}

/// A large commit as written before any of it is applied: `bulk`, applied
/// write by write, then `last` (the head pointer) in one atomic batch that
/// also removes the record. Replaying it is idempotent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct PendingCommit {
    pub bulk: Writes,
    pub last: Writes,
}

impl PendingCommit {
    /// Framed here rather than with `codec` (bincode): the record of a
    /// maximal block (32 MiB) with its index and state writes can pass
    /// `codec`'s 64 MiB decode limit, and recovery must read it whole.
    ///
    /// Layout: the number of bulk writes and of all writes (u32 BE each),
    /// then every write, bulk first: key length (u32 BE), key, then `0` for a removal or `1`,
    /// value length (u32 BE) and value.
    pub(super) fn encode(&self) -> Vec<u8> {
        let ops = self.bulk.ops.iter().chain(&self.last.ops);
        let size: usize = ops
            .clone()
            .map(|(key, value)| 9 + key.len() + value.as_ref().map_or(0, |v| 4 + v.len()))
            .sum();
        let mut out = Vec::with_capacity(8 + size);
        out.extend_from_slice(&len_u32(self.bulk.len()).to_be_bytes());
        out.extend_from_slice(&len_u32(self.bulk.len() + self.last.len()).to_be_bytes());
        for (key, value) in ops {
            out.extend_from_slice(&len_u32(key.len()).to_be_bytes());
            out.extend_from_slice(key);
            match value {
                None => out.push(0),
                Some(value) => {
                    out.push(1);
                    out.extend_from_slice(&len_u32(value.len()).to_be_bytes());
                    out.extend_from_slice(value);
                }
            }
        }
        out
    }

    /// `None` for bytes [`PendingCommit::encode`] did not write.
    pub(super) fn decode(mut bytes: &[u8]) -> Option<Self> {
        let bulk_len = take_u32(&mut bytes)? as usize;
        let total = take_u32(&mut bytes)? as usize;
        let mut all = Writes::default();
        while !bytes.is_empty() {
            let key_len = take_u32(&mut bytes)? as usize;
            let key = take(&mut bytes, key_len)?;
            match take(&mut bytes, 1)? {
                [0] => all.remove(key),
                [1] => {
                    let value_len = take_u32(&mut bytes)? as usize;
                    all.insert(key, take(&mut bytes, value_len)?);
                }
                _ => return None,
            }
        }
        if all.len() != total || bulk_len > total {
            return None;
        }
        let last = Writes {
            ops: all.ops.split_off(bulk_len),
        };
        Some(Self { bulk: all, last })
    }
}

fn len_u32(len: usize) -> u32 {
    u32::try_from(len).expect("a commit's writes and their sizes fit u32")
}

fn take<'a>(bytes: &mut &'a [u8], len: usize) -> Option<&'a [u8]> {
    if bytes.len() < len {
        return None;
    }
    let (head, rest) = bytes.split_at(len);
    *bytes = rest;
    Some(head)
}

fn take_u32(bytes: &mut &[u8]) -> Option<u32> {
    take(bytes, 4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_commit_round_trips_and_refuses_garbage() {
        let mut bulk = Writes::default();
        bulk.insert(&b"a"[..], &b"1"[..]);
        bulk.remove(&b"b"[..]);
        bulk.insert(&b""[..], &b""[..]);
        let mut last = Writes::default();
        last.insert(&b"head"[..], &[7u8; 32][..]);
        let commit = PendingCommit { bulk, last };
        let bytes = commit.encode();
        assert_eq!(PendingCommit::decode(&bytes), Some(commit.clone()));
        // Every truncation is refused, as is a bad tag.
        for cut in 0..bytes.len() {
            assert_eq!(PendingCommit::decode(&bytes[..cut]), None, "cut {cut}");
        }
        let mut bad = bytes.clone();
        bad[8 + 4 + 1] = 2;
        assert_eq!(PendingCommit::decode(&bad), None);
        // A bulk count past the writes is refused.
        let mut bad = bytes;
        bad[..4].copy_from_slice(&9u32.to_be_bytes());
        assert_eq!(PendingCommit::decode(&bad), None);
    }
}
