//! Peer-to-peer networking: the wire protocol (pure) and the TCP transport.

pub mod net;
pub mod protocol;
