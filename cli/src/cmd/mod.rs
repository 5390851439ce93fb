//! One module per subcommand. Each holds its clap `Args` and a `run`
//! function; shared pieces live in `crate::args`, `crate::client`,
//! `crate::submit` and `crate::output`.

pub mod account;
pub mod audit;
pub mod bench;
pub mod block;
pub mod blocks;
pub mod claim;
pub mod completions;
pub mod device;
pub mod devices;
pub mod keygen;
pub mod node;
pub mod purge;
pub mod receipt;
pub mod session;
pub mod status;
pub mod testnet;
pub mod transfer;
pub mod tx;
