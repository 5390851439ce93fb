//! Files an operator hands the node: the genesis file and key files; and
//! new random keys (the one use of OS randomness).

use std::fs::{OpenOptions, Permissions};
use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use bwchain_core::genesis::{Genesis, GenesisError};
use bwchain_core::primitives::signing::{KeyFile, KeyFileError, Keypair};

/// Only the owner may read a key file: it holds the secret seed.
pub const KEY_FILE_MODE: u32 = 0o600;

/// Why a genesis or key file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("cannot read {what} {}: {error}", path.display())]
    Read {
        what: &'static str,
        path: PathBuf,
        error: std::io::Error,
    },
    /// The genesis error names the field.
    #[error("{error}")]
    Genesis { path: PathBuf, error: GenesisError },
    #[error("key file {}: {error}", path.display())]
    Key { path: PathBuf, error: KeyFileError },
    #[error("{} already exists; pass --force to overwrite it", path.display())]
    Exists { path: PathBuf },
    #[error("cannot create key file {}: {error}", path.display())]
    Create {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("cannot set mode 0600 on {}: {error}", path.display())]
    Mode {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("cannot write key file {}: {error}", path.display())]
    Write {
        path: PathBuf,
        error: std::io::Error,
    },
}

/// Reads and validates a genesis file.
pub fn read_genesis(path: &Path) -> Result<Genesis, FileError> {
    let text = std::fs::read_to_string(path).map_err(|error| FileError::Read {
        what: "genesis file",
        path: path.to_owned(),
        error,
    })?;
    Genesis::from_json(&text).map_err(|error| FileError::Genesis {
        path: path.to_owned(),
        error,
    })
}

/// Reads a key file (`{"public_key", "secret_key"}`) and checks that its
/// public key belongs to its seed.
pub fn read_key_file(path: &Path) -> Result<Keypair, FileError> {
    let text = std::fs::read_to_string(path).map_err(|error| FileError::Read {
        what: "key file",
        path: path.to_owned(),
        error,
    })?;
    KeyFile::parse(&text).map_err(|error| FileError::Key {
        path: path.to_owned(),
        error,
    })
}

/// Writes `keypair` as a key file with mode 0600, refusing to replace an
/// existing file unless `overwrite`.
pub fn write_key_file(path: &Path, keypair: &Keypair, overwrite: bool) -> Result<(), FileError> {
    let contents = key_file_json(keypair);
    let mut options = OpenOptions::new();
    options.write(true).mode(KEY_FILE_MODE);
    if overwrite {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    let mut file = options.open(path).map_err(|err| {
        if err.kind() == std::io::ErrorKind::AlreadyExists {
            FileError::Exists {
                path: path.to_owned(),
            }
        } else {
            FileError::Create {
                path: path.to_owned(),
                error: err,
            }
        }
    })?;
    // `mode` only applies to a new file; an overwritten one keeps its old
    // mode, so tighten it before the secret goes in.
    file.set_permissions(Permissions::from_mode(KEY_FILE_MODE))
        .map_err(|error| FileError::Mode {
            path: path.to_owned(),
            error,
        })?;
    file.write_all(contents.as_bytes())
        .and_then(|()| file.write_all(b"\n"))
        .and_then(|()| file.sync_all())
        .map_err(|error| FileError::Write {
            path: path.to_owned(),
            error,
        })
}

/// The key file JSON of `keypair`, pretty-printed.
pub fn key_file_json(keypair: &Keypair) -> String {
    serde_json::to_string_pretty(&KeyFile::from_keypair(keypair)).expect("a key file serializes")
}

/// A new key from the operating system's randomness.
pub fn generate_key() -> Keypair {
    let mut seed = [0u8; 32];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut seed);
    Keypair::from_seed(seed)
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
        let key = Keypair::dev("alice");
        write_key_file(&path, &key, false).unwrap();
        assert_eq!(mode(&path), 0o600);
        assert_eq!(read_key_file(&path).unwrap().account(), key.account());
        let err = write_key_file(&path, &Keypair::dev("bob"), false).unwrap_err();
        assert!(err.to_string().contains("--force"), "{err}");
        assert_eq!(read_key_file(&path).unwrap().account(), key.account());
    }

    #[test]
    fn overwrite_tightens_a_loose_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.json");
        std::fs::write(&path, "old").unwrap();
        std::fs::set_permissions(&path, Permissions::from_mode(0o644)).unwrap();
        write_key_file(&path, &Keypair::dev("bob"), true).unwrap();
        assert_eq!(mode(&path), 0o600);
        assert_eq!(
            read_key_file(&path).unwrap().account(),
            Keypair::dev("bob").account()
        );
    }

    #[test]
    fn generated_keys_differ() {
        assert_ne!(generate_key().account(), generate_key().account());
    }
}
