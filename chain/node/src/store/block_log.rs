//! Large blocks' bytes, outside sled: appended to segment files in
//! `blocks/` beside sled's own files, with sled holding where each is
//! (an `L` entry, see the key table in `mod.rs`).
//!
//! sled keeps values inside its tree's leaves, and a leaf holds up to 16
//! entries: a leaf of block records was tens of megabytes, and sled
//! rewrites a whole leaf when it splits it or consolidates its updates,
//! into a blob file of its own. A busy chain's blocks were written two or
//! three times over, and every commit's redo record carried the block once
//! more; 4% of a busy node's CPU went to writing blob files. Appended here,
//! a block's bytes are written once.
//!
//! Crash safety: a block's bytes are appended and flushed before the
//! commit that records where they are, so a recorded place always holds
//! them. A crash in between leaves bytes nothing points at, at the end of
//! the active segment; the next append goes after them. The folder and
//! each segment's file are created, and their directories flushed,
//! before anything is written to them. What is read is decoded and its
//! hash checked by the caller, as blocks stored in sled are.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use bwchain_core::primitives::FastMap;

/// Blocks whose stored form is at least this long go to the log; smaller
/// ones (an idle chain's empty blocks among them) stay in sled, where
/// they cost no file space of their own.
pub(super) const LOGGED_BLOCK_BYTES: usize = 16 * 1024;
/// A segment is closed once it is this long; the next append starts a
/// new one.
const SEGMENT_BYTES: u64 = 1 << 30;
const SUFFIX: &str = ".seg";

/// Where a block's bytes are: the segment, the offset in it, the length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Place {
    pub segment: u32,
    pub offset: u64,
    pub len: u32,
}

impl Place {
    pub(super) const BYTES: usize = 16;

    pub(super) fn to_bytes(self) -> [u8; Self::BYTES] {
        let mut out = [0u8; Self::BYTES];
        out[..4].copy_from_slice(&self.segment.to_be_bytes());
        out[4..12].copy_from_slice(&self.offset.to_be_bytes());
        out[12..].copy_from_slice(&self.len.to_be_bytes());
        out
    }

    pub(super) fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let bytes: &[u8; Self::BYTES] = bytes.try_into().ok()?;
        Some(Self {
            segment: u32::from_be_bytes(bytes[..4].try_into().ok()?),
            offset: u64::from_be_bytes(bytes[4..12].try_into().ok()?),
            len: u32::from_be_bytes(bytes[12..].try_into().ok()?),
        })
    }
}

pub(super) struct BlockLog {
    dir: PathBuf,
    active: Mutex<Active>,
    /// Open segments, for reading.
    segments: Mutex<FastMap<u32, Arc<File>>>,
}

/// The segment appends go to.
struct Active {
    segment: u32,
    file: Arc<File>,
    len: u64,
}

impl BlockLog {
    /// Opens the log in `dir` (created if missing); appends go to the end
    /// of its last segment.
    pub(super) fn open(dir: &Path) -> io::Result<Self> {
        if !dir.is_dir() {
            std::fs::create_dir_all(dir)?;
            // The folder's own name must survive a crash too.
            if let Some(parent) = dir.parent() {
                File::open(parent)?.sync_all()?;
            }
        }
        let last = segment_numbers(dir)?.into_iter().max();
        let segment = last.unwrap_or(0);
        let file = Arc::new(open_segment(dir, segment, last.is_none())?);
        let len = file.metadata()?.len();
        let log = Self {
            dir: dir.to_path_buf(),
            active: Mutex::new(Active {
                segment,
                file: Arc::clone(&file),
                len,
            }),
            segments: Mutex::new(FastMap::default()),
        };
        log.lock_segments().insert(segment, file);
        Ok(log)
    }

    fn lock_active(&self) -> std::sync::MutexGuard<'_, Active> {
        // The active segment's state is updated only after a write
        // succeeded; a panic elsewhere cannot tear it.
        self.active.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn lock_segments(&self) -> std::sync::MutexGuard<'_, FastMap<u32, Arc<File>>> {
        self.segments.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Appends `bytes` and flushes them to disk; where they are.
    pub(super) fn append(&self, bytes: &[u8]) -> io::Result<Place> {
        let len = u32::try_from(bytes.len())
            .map_err(|_| io::Error::other(format!("a block of {} bytes", bytes.len())))?;
        let mut active = self.lock_active();
        if active.len > 0 && active.len + u64::from(len) > SEGMENT_BYTES {
            let segment = active.segment + 1;
            let file = Arc::new(open_segment(&self.dir, segment, true)?);
            self.lock_segments().insert(segment, Arc::clone(&file));
            *active = Active {
                segment,
                file,
                len: 0,
            };
        }
        let offset = active.len;
        active.file.write_all_at(bytes, offset)?;
        active.file.sync_data()?;
        active.len += u64::from(len);
        Ok(Place {
            segment: active.segment,
            offset,
            len,
        })
    }

    /// The bytes at `place`; at most `limit` of them when given.
    pub(super) fn read(&self, place: Place, limit: Option<usize>) -> io::Result<Vec<u8>> {
        let file = self.segment(place.segment)?;
        let file_len = file.metadata()?.len();
        let end = place.offset.checked_add(u64::from(place.len));
        if end.is_none_or(|end| end > file_len) {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "block bytes at {}+{} lie past the end of segment {}",
                    place.offset, place.len, place.segment
                ),
            ));
        }
        let len = limit.map_or(place.len as usize, |limit| limit.min(place.len as usize));
        let mut bytes = vec![0u8; len];
        file.read_exact_at(&mut bytes, place.offset)?;
        Ok(bytes)
    }

    fn segment(&self, segment: u32) -> io::Result<Arc<File>> {
        if let Some(file) = self.lock_segments().get(&segment) {
            return Ok(Arc::clone(file));
        }
        let file = Arc::new(File::open(segment_path(&self.dir, segment))?);
        self.lock_segments().insert(segment, Arc::clone(&file));
        Ok(file)
    }

    /// Bytes the segments occupy.
    pub(super) fn size_on_disk(&self) -> io::Result<u64> {
        let mut total = 0;
        for segment in segment_numbers(&self.dir)? {
            total += std::fs::metadata(segment_path(&self.dir, segment))?.len();
        }
        Ok(total)
    }
}

fn segment_path(dir: &Path, segment: u32) -> PathBuf {
    dir.join(format!("{segment:08}{SUFFIX}"))
}

fn segment_numbers(dir: &Path) -> io::Result<Vec<u32>> {
    let mut numbers = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let name = entry?.file_name();
        let Some(number) = name.to_str().and_then(|name| name.strip_suffix(SUFFIX)) else {
            continue;
        };
        if let Ok(number) = number.parse() {
            numbers.push(number);
        }
    }
    Ok(numbers)
}

/// Opens a segment for reading and writing; a `new` one is created and
/// the directory flushed, so that its name survives a crash before any
/// place in it is recorded.
fn open_segment(dir: &Path, segment: u32, new: bool) -> io::Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(new)
        .open(segment_path(dir, segment))?;
    if new {
        File::open(dir)?.sync_all()?;
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_read_back_survive_reopening_and_junk_at_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let log = BlockLog::open(dir.path()).unwrap();
        let first = log.append(b"first block").unwrap();
        let second = log.append(&[7u8; 40_000]).unwrap();
        assert_eq!(first, Place::from_bytes(&first.to_bytes()).unwrap());
        assert_eq!(log.read(first, None).unwrap(), b"first block");
        assert_eq!(log.read(second, None).unwrap(), vec![7u8; 40_000]);
        assert_eq!(log.read(first, Some(5)).unwrap(), b"first");
        drop(log);

        // A crash after an append whose place was never recorded.
        let path = segment_path(dir.path(), 0);
        let junk = OpenOptions::new().append(true).open(&path).unwrap();
        std::io::Write::write_all(&mut &junk, b"junk nobody points at").unwrap();
        drop(junk);

        let log = BlockLog::open(dir.path()).unwrap();
        let third = log.append(b"third").unwrap();
        assert!(third.offset > second.offset + u64::from(second.len));
        assert_eq!(log.read(third, None).unwrap(), b"third");
        assert_eq!(log.read(second, None).unwrap(), vec![7u8; 40_000]);
        assert_eq!(
            log.size_on_disk().unwrap(),
            third.offset + u64::from(third.len)
        );
    }

    #[test]
    fn a_place_past_the_end_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let log = BlockLog::open(dir.path()).unwrap();
        let place = log.append(b"block").unwrap();
        for bad in [
            Place {
                len: place.len + 1,
                ..place
            },
            Place {
                offset: u64::MAX,
                ..place
            },
            Place {
                segment: 9,
                ..place
            },
        ] {
            assert!(log.read(bad, None).is_err(), "{bad:?}");
        }
        assert!(Place::from_bytes(&[0u8; 15]).is_none());
    }

    #[test]
    fn a_full_segment_starts_the_next() {
        let dir = tempfile::tempdir().unwrap();
        let log = BlockLog::open(dir.path()).unwrap();
        // Pretend the active segment is nearly full.
        log.lock_active().len = SEGMENT_BYTES - 2;
        let place = log.append(b"next").unwrap();
        assert_eq!((place.segment, place.offset), (1, 0));
        assert_eq!(log.read(place, None).unwrap(), b"next");
        drop(log);
        let log = BlockLog::open(dir.path()).unwrap();
        assert_eq!(log.append(b"more").unwrap().segment, 1);
        assert_eq!(log.read(place, None).unwrap(), b"next");
    }
}
