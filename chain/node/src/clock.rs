//! The system clock. The chain service and the core take time as an
//! argument (`now_ms`) so that tests can drive many nodes on one simulated
//! clock; the node's timers, its HTTP handlers and the network read it here.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, from the system clock.
pub fn now_ms() -> u64 {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    u64::try_from(since_epoch.as_millis()).unwrap_or(u64::MAX)
}
