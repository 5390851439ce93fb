//! The machine's raw limits, measured in the same run as the node: ed25519
//! batch verification on all cores, and sled batch writes on one thread.

use std::time::{Duration, Instant};

use bwchain_core::primitives::hash;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};

use super::BenchError;

/// Signatures in each `verify_batch` call, all by distinct keys.
const VERIFY_BATCH: usize = 256;
/// Records in each sled batch.
const SLED_BATCH: u64 = 1000;
/// Bytes of each sled record's value, about a state entry's.
const SLED_VALUE_BYTES: usize = 48;

/// Signatures per second of `ed25519_dalek::verify_batch` over 256-item
/// batches of distinct keys, one thread per core, for `duration`.
pub fn batch_verify_rate(cores: usize, duration: Duration) -> f64 {
    let keys: Vec<SigningKey> = (0..VERIFY_BATCH)
        .map(|i| SigningKey::from_bytes(&hash::sha256(format!("raw-{i}").as_bytes()).0))
        .collect();
    let messages: Vec<Vec<u8>> = (0..VERIFY_BATCH)
        .map(|i| format!("message {i}").into_bytes())
        .collect();
    let signatures: Vec<Signature> = keys.iter().zip(&messages).map(|(k, m)| k.sign(m)).collect();
    let verifying: Vec<VerifyingKey> = keys.iter().map(SigningKey::verifying_key).collect();
    let start = Instant::now();
    let total: usize = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..cores)
            .map(|_| {
                scope.spawn(|| {
                    let refs: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
                    let mut done = 0;
                    while start.elapsed() < duration {
                        ed25519_dalek::verify_batch(&refs, &signatures, &verifying)
                            .expect("valid batch");
                        done += VERIFY_BATCH;
                    }
                    done
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap_or(0)).sum()
    });
    total as f64 / start.elapsed().as_secs_f64()
}

/// Small records per second through sled `apply_batch` (1,000 per batch),
/// flushed at the end, on one thread, in a temporary directory.
pub fn sled_write_rate(duration: Duration) -> Result<f64, BenchError> {
    let dir = tempfile::tempdir()?;
    let db = sled::Config::new().path(dir.path()).open()?;
    let start = Instant::now();
    let mut written: u64 = 0;
    while start.elapsed() < duration {
        let mut batch = sled::Batch::default();
        for _ in 0..SLED_BATCH {
            let key = hash::sha256(&written.to_le_bytes());
            batch.insert(&key.0[..], &[7u8; SLED_VALUE_BYTES][..]);
            written += 1;
        }
        db.apply_batch(batch)?;
    }
    db.flush()?;
    Ok(written as f64 / start.elapsed().as_secs_f64())
}
