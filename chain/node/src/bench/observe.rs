//! The chain observer: when each transaction was first seen in a committed
//! block, read from the node's HTTP API (`GET /status`,
//! `GET /blocks/{h}/tx-hashes`) as blocks arrive.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bwchain_core::primitives::Hash;

use bwchain_api::client::{Client, ClientError};

use super::BenchError;

/// How often the observer looks for new blocks.
const POLL: Duration = Duration::from_millis(5);
/// How often the waiter checks whether everything is included.
const WAIT_POLL: Duration = Duration::from_millis(20);

/// When each transaction was sent, or first seen included.
pub type Times = HashMap<Hash, Instant>;

/// A thread that records inclusion times until stopped.
pub struct Observer {
    included: Arc<Mutex<Times>>,
    done: Arc<AtomicBool>,
    thread: JoinHandle<Result<u64, ClientError>>,
}

impl Observer {
    /// Starts watching the node at `url` from its current head.
    pub fn start(url: &str) -> Result<Self, BenchError> {
        let client = Client::new(url);
        let start_height = client.status().map_err(Box::new)?.height;
        let included: Arc<Mutex<Times>> = Arc::default();
        let done = Arc::new(AtomicBool::new(false));
        let thread = {
            let included = included.clone();
            let done = done.clone();
            std::thread::spawn(move || -> Result<u64, ClientError> {
                let mut seen_height = start_height;
                while !done.load(Ordering::Relaxed) {
                    let head = client.status()?.height;
                    while seen_height < head {
                        seen_height += 1;
                        // Hashes only: decoding a whole block's JSON would
                        // load the node the bench measures.
                        let block = client.block_tx_hashes(seen_height)?;
                        let now = Instant::now();
                        let mut map = included.lock().expect("observer lock");
                        for hash in block.tx_hashes {
                            map.entry(hash).or_insert(now);
                        }
                    }
                    std::thread::sleep(POLL);
                }
                Ok(seen_height - start_height)
            })
        };
        Ok(Self {
            included,
            done,
            thread,
        })
    }

    /// Waits until every transaction in `submitted` is included, or fails
    /// at `deadline`.
    pub fn wait_for(&self, submitted: &Times, deadline: Instant) -> Result<(), BenchError> {
        let total = submitted.len();
        loop {
            let done = {
                let included = self.included.lock().expect("observer lock");
                submitted
                    .keys()
                    .filter(|hash| included.contains_key(*hash))
                    .count()
            };
            if done >= total {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(BenchError::NotIncluded { done, total });
            }
            std::thread::sleep(WAIT_POLL);
        }
    }

    /// Stops the observer: the inclusion times, and how many blocks it saw.
    pub fn finish(self) -> Result<(Times, u64), BenchError> {
        self.done.store(true, Ordering::Relaxed);
        let blocks = self
            .thread
            .join()
            .expect("observer thread")
            .map_err(Box::new)?;
        let included = std::mem::take(&mut *self.included.lock().expect("observer lock"));
        Ok((included, blocks))
    }
}

/// Seconds from `start` until the last submitted transaction was included.
pub fn seconds_to_last_inclusion(submitted: &Times, included: &Times, start: Instant) -> f64 {
    let last = submitted
        .keys()
        .filter_map(|hash| included.get(hash))
        .max()
        .copied()
        .unwrap_or(start);
    last.duration_since(start).as_secs_f64()
}

/// Milliseconds from submission to inclusion, sorted.
pub fn latencies_ms(submitted: &Times, included: &Times) -> Vec<f64> {
    let mut latencies: Vec<f64> = submitted
        .iter()
        .filter_map(|(hash, sent)| {
            included
                .get(hash)
                .map(|at| at.saturating_duration_since(*sent).as_secs_f64() * 1000.0)
        })
        .collect();
    latencies.sort_by(f64::total_cmp);
    latencies
}

/// The `p` quantile (0 to 1) of sorted values, nearest rank; 0 if empty.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[index]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latencies_and_percentiles() {
        let start = Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        let hash = |n: u8| Hash([n; 32]);
        let submitted: Times = [(hash(1), at(0)), (hash(2), at(10)), (hash(3), at(20))].into();
        let included: Times = [(hash(1), at(100)), (hash(2), at(50)), (hash(9), at(900))].into();
        assert_eq!(latencies_ms(&submitted, &included), [40.0, 100.0]);
        assert_eq!(seconds_to_last_inclusion(&submitted, &included, start), 0.1);
        let sorted = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(percentile(&sorted, 0.5), 3.0);
        assert_eq!(percentile(&sorted, 0.99), 5.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
    }
}
