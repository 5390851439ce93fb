//! `bwchain purge`: delete a node's chain (its data directory).

use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use bwchain_node::store::{Store, StoreError};

/// Delete a stopped node's data directory: its whole chain, balances and
/// votes. Asks first on a terminal; --yes skips the question (needed when
/// stdin is not a terminal). Refuses a directory that is not a bwchain data
/// directory, and one a running node uses.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  \
    bwchain purge --data ./dev-data\n  \
    bwchain purge --data ./dev-data --yes     # in scripts")]
pub struct PurgeArgs {
    /// The data directory to delete.
    #[arg(long, value_name = "DIR", env = "BWCHAIN_DATA")]
    pub data: PathBuf,
    /// Delete without asking.
    #[arg(long, short = 'y')]
    pub yes: bool,
}

/// What a store keeps in a data directory: sled's files and the block
/// log's folder. Anything else there means the directory is not (only) a
/// node's, and it is not deleted.
fn is_store_entry(name: &str) -> bool {
    matches!(name, "conf" | "db" | "blobs" | "snap" | "blocks") || name.starts_with("snap.")
}

pub fn run(args: PurgeArgs) -> Result<()> {
    let dir = &args.data;
    let summary = check_data_dir(dir)?;
    if !args.yes {
        if !std::io::stdin().is_terminal() {
            bail!(
                "not deleting {}: stdin is not a terminal, so nobody can confirm; pass --yes to delete it",
                dir.display()
            );
        }
        eprint!("delete the chain in {} ({summary})? [y/N] ", dir.display());
        std::io::stderr().flush()?;
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes") {
            bail!("not deleted: {} is unchanged", dir.display());
        }
    }
    std::fs::remove_dir_all(dir).with_context(|| format!("cannot delete {}", dir.display()))?;
    println!("deleted {} ({summary})", dir.display());
    Ok(())
}

/// Checks that `dir` is a bwchain data directory that no node is using;
/// returns what it holds, in words.
fn check_data_dir(dir: &Path) -> Result<String> {
    if !dir.is_dir() {
        bail!("no data directory at {}; nothing to delete", dir.display());
    }
    let not_ours = |why: String| {
        anyhow::anyhow!(
            "{} does not look like a bwchain data directory ({why}); nothing deleted",
            dir.display()
        )
    };
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?;
    for entry in entries {
        let name = entry?.file_name();
        let name = name.to_string_lossy();
        if !is_store_entry(&name) {
            return Err(not_ours(format!("it holds {name:?}")));
        }
    }
    if !dir.join("conf").is_file() || !dir.join("db").is_file() {
        return Err(not_ours("no store in it".into()));
    }
    let store = match Store::open_existing(dir) {
        Ok(store) => store,
        Err(StoreError::InUse { .. }) => bail!(
            "{} is in use by a running node; stop it first, then purge",
            dir.display()
        ),
        Err(err) => return Err(not_ours(err.to_string())),
    };
    let genesis = store.stored_genesis().ok().flatten();
    let head = store.head().ok();
    let (Some(genesis), Some(head)) = (genesis, head) else {
        return Err(not_ours("it holds no chain".into()));
    };
    Ok(format!(
        "chain {}, height {}",
        genesis.chain_id,
        head.header().height
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_store_files_belong_to_a_store() {
        for name in ["conf", "db", "blobs", "snap.00000000000a3b", "blocks"] {
            assert!(is_store_entry(name), "{name}");
        }
        for name in ["notes.txt", "genesis.json", "data", ".git"] {
            assert!(!is_store_entry(name), "{name}");
        }
    }

    #[test]
    fn refuses_what_is_not_a_data_dir() {
        let dir = tempfile::tempdir().unwrap();
        let err = check_data_dir(&dir.path().join("none")).unwrap_err();
        assert!(err.to_string().contains("no data directory"), "{err}");
        let err = check_data_dir(dir.path()).unwrap_err();
        assert!(err.to_string().contains("no store in it"), "{err}");
        std::fs::write(dir.path().join("notes.txt"), "mine").unwrap();
        let err = check_data_dir(dir.path()).unwrap_err();
        assert!(err.to_string().contains("\"notes.txt\""), "{err}");
    }
}
