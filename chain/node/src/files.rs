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

/// Key-file permission bits that let someone other than the owner at the
/// secret seed (group or others may read, write or run it).
pub const KEY_FILE_LOOSE_BITS: u32 = 0o077;

/// Why a genesis or key file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// One sentence: the file, what went wrong, what to do.
    #[error("cannot read {what} {}: {}; {}", path.display(), describe_io(error), hint(what))]
    Read {
        what: &'static str,
        path: PathBuf,
        error: std::io::Error,
    },
    /// The genesis error names the field.
    #[error("{}: {error}", path.display())]
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

/// An I/O error in words, without the OS's "(os error N)".
fn describe_io(error: &std::io::Error) -> String {
    use std::io::ErrorKind;
    match error.kind() {
        ErrorKind::NotFound => "no such file".into(),
        ErrorKind::PermissionDenied => "permission denied".into(),
        ErrorKind::IsADirectory => "it is a directory".into(),
        ErrorKind::InvalidData => "it is not UTF-8 text".into(),
        _ => error.to_string(),
    }
}

/// What to do about a file that cannot be read.
fn hint(what: &str) -> &'static str {
    match what {
        "genesis file" => {
            "pass the path of a genesis.json (the repository's, or one `bwchain testnet` wrote), or use --dev for the dev chain"
        }
        "key file" => "pass the path of a file `bwchain keygen --out FILE` wrote, or dev:NAME for a dev key",
        _ => "check the path",
    }
}

/// The mode of a key file when group or others may access it (the seed
/// is then no longer the owner's secret); `None` when only the owner may,
/// or when the mode cannot be read (reading the file reports that).
pub fn loose_key_mode(path: &Path) -> Option<u32> {
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
    (mode & KEY_FILE_LOOSE_BITS != 0).then_some(mode)
}

/// The warning for a key file others may read, with the fix.
pub fn loose_key_warning(path: &Path, mode: u32) -> String {
    format!(
        "key file {} has mode {mode:04o}: group or others can read its secret key; run chmod 600 {}",
        path.display(),
        path.display()
    )
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
    fn read_errors_are_one_sentence_with_the_fix() {
        let err = read_genesis(Path::new("nosuch.json"))
            .unwrap_err()
            .to_string();
        assert_eq!(
            err.matches("nosuch.json").count(),
            1,
            "names the file once: {err}"
        );
        assert!(
            err.starts_with("cannot read genesis file nosuch.json: no such file; "),
            "{err}"
        );
        assert!(err.contains("--dev") && !err.contains("os error"), "{err}");
        let err = read_key_file(Path::new("/no/key.json"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("keygen --out") && err.contains("dev:NAME"),
            "{err}"
        );

        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("g.json");
        std::fs::write(&bad, "{}").unwrap();
        let err = read_genesis(&bad).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("{}: genesis is not valid", bad.display())),
            "{err}"
        );
    }

    #[test]
    fn loose_key_modes_are_noticed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.json");
        write_key_file(&path, &Keypair::dev("alice"), false).unwrap();
        assert_eq!(loose_key_mode(&path), None);
        std::fs::set_permissions(&path, Permissions::from_mode(0o640)).unwrap();
        assert_eq!(loose_key_mode(&path), Some(0o640));
        assert!(loose_key_warning(&path, 0o640).contains("mode 0640"));
        assert_eq!(loose_key_mode(&dir.path().join("none")), None);
    }

    #[test]
    fn generated_keys_differ() {
        assert_ne!(generate_key().account(), generate_key().account());
    }
}
