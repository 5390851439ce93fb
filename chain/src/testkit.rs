//! Shared helpers for tests and benchmarks: dev keys, genesis builders,
//! signed receipts and transactions. Not used by the node itself.
