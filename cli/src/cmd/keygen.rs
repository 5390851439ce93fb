//! `bwchain keygen`: create a key file, or print a dev key.

use std::path::PathBuf;

use anyhow::{ensure, Result};
use bwchain_core::primitives::signing::Keypair;
use bwchain_node::files;

/// Generate a key file, or print a dev key.
///
/// Without --out, prints the key file JSON {"public_key", "secret_key"} to
/// stdout. With --out, writes it to FILE with mode 0600 and prints the
/// public key.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  \
    bwchain keygen --out provider.key\n  \
    bwchain keygen --dev alice")]
pub struct KeygenArgs {
    /// Write the key file to FILE (mode 0600) and print only the public key.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Derive the dev key NAME, SHA-256("bwchain-dev/" || NAME), instead of
    /// a random key. Dev keys are public: never use them on a real network.
    #[arg(long, value_name = "NAME")]
    pub dev: Option<String>,
    /// With --out: overwrite FILE if it exists.
    #[arg(long, requires = "out")]
    pub force: bool,
}

pub fn run(args: KeygenArgs) -> Result<()> {
    let keypair = match &args.dev {
        Some(name) => {
            ensure!(!name.is_empty(), "--dev needs a name, e.g. --dev alice");
            Keypair::dev(name)
        }
        None => files::generate_key(),
    };
    match &args.out {
        None => println!("{}", files::key_file_json(&keypair)),
        Some(path) => {
            files::write_key_file(path, &keypair, args.force)?;
            println!("{}", keypair.account());
        }
    }
    Ok(())
}
