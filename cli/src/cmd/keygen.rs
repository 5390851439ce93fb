//! `bwchain keygen`: create a key file, or print a dev key.

use std::fs::{OpenOptions, Permissions};
use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, ensure, Context as _, Result};
use bwchain_core::primitives::signing::{KeyFile, Keypair};

/// Only the owner may read a key file: it holds the secret seed.
pub const KEY_FILE_MODE: u32 = 0o600;

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
        None => bwchain_node::files::generate_key(),
    };
    let text = serde_json::to_string_pretty(&KeyFile::from_keypair(&keypair))?;
    match &args.out {
        None => println!("{text}"),
        Some(path) => {
            write_key_file(path, &text, args.force)?;
            println!("{}", keypair.account());
        }
    }
    Ok(())
}

/// Writes a key file with mode 0600, refusing to replace an existing file
/// unless `overwrite`.
pub fn write_key_file(path: &Path, contents: &str, overwrite: bool) -> Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).mode(KEY_FILE_MODE);
    if overwrite {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    let mut file = options.open(path).map_err(|err| {
        if err.kind() == std::io::ErrorKind::AlreadyExists {
            anyhow!(
                "{} already exists; pass --force to overwrite it",
                path.display()
            )
        } else {
            anyhow!(err).context(format!("cannot create key file {}", path.display()))
        }
    })?;
    // `mode` only applies to a new file; an overwritten one keeps its old
    // mode, so tighten it before the secret goes in.
    file.set_permissions(Permissions::from_mode(KEY_FILE_MODE))
        .with_context(|| format!("cannot set mode 0600 on {}", path.display()))?;
    file.write_all(contents.as_bytes())
        .and_then(|()| file.write_all(b"\n"))
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write key file {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn writes_0600_and_refuses_to_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.json");
        write_key_file(&path, "first", false).unwrap();
        assert_eq!(mode(&path), 0o600);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "first\n");

        let err = write_key_file(&path, "second", false).unwrap_err();
        assert!(err.to_string().contains("already exists"), "{err}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "first\n");
    }

    #[test]
    fn overwrite_tightens_a_loose_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.json");
        std::fs::write(&path, "a much longer old content").unwrap();
        std::fs::set_permissions(&path, Permissions::from_mode(0o644)).unwrap();
        write_key_file(&path, "new", true).unwrap();
        assert_eq!(mode(&path), 0o600);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new\n");
    }
}
