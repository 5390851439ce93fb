//! The output directory of a testnet: created if missing, refused if used,
//! or (when forced) cleared of a previous testnet's files, and only those.

use std::fs;
use std::path::{Path, PathBuf};

use super::TestnetError;

/// Creates `dir`, or checks that it is empty (when `force`: removes a
/// previous testnet's files from it). Returns its absolute path and how many
/// files and directories of a previous testnet were removed.
pub(super) fn prepare_dir(dir: &Path, force: bool) -> Result<(PathBuf, usize), TestnetError> {
    let mut removed = 0;
    match fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                if !force {
                    return Err(TestnetError::NotEmpty {
                        dir: dir.to_owned(),
                    });
                }
                removed = remove_previous_testnet(&canonicalize(dir)?)?;
            }
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            fs::create_dir_all(dir).map_err(TestnetError::io("create", dir))?;
        }
        Err(error) => {
            return Err(TestnetError::UseOut {
                path: dir.to_owned(),
                error,
            });
        }
    }
    Ok((canonicalize(dir)?, removed))
}

fn canonicalize(dir: &Path) -> Result<PathBuf, TestnetError> {
    fs::canonicalize(dir).map_err(TestnetError::io("resolve", dir))
}

/// Deletes what an earlier testnet in `dir` made (so that new nodes do not
/// start on an old chain), after checking that none of its nodes still runs.
fn remove_previous_testnet(dir: &Path) -> Result<usize, TestnetError> {
    for (name, path) in numbered_entries(&dir.join("pids"), "node-", ".pid")? {
        let pid = fs::read_to_string(&path).unwrap_or_default();
        let pid = pid.trim();
        if runs_in(pid, dir) {
            return Err(TestnetError::StillRunning {
                name,
                dir: dir.to_owned(),
                pid: pid.to_owned(),
            });
        }
    }
    let mut removed = 0;
    for (sub, prefix, suffix) in [
        ("keys", "authority-", ".json"),
        ("keys", "device-", ".json"),
        ("logs", "node-", ".log"),
        ("pids", "node-", ".pid"),
    ] {
        for (_, path) in numbered_entries(&dir.join(sub), prefix, suffix)? {
            fs::remove_file(&path).map_err(TestnetError::io("remove", &path))?;
            removed += 1;
        }
    }
    for (_, path) in numbered_entries(&dir.join("data"), "node-", "")? {
        fs::remove_dir_all(&path).map_err(TestnetError::io("remove", &path))?;
        removed += 1;
    }
    Ok(removed)
}

/// Entries of `dir` named `{prefix}{digits}{suffix}`, as (name without the
/// suffix, path); none if `dir` is missing.
fn numbered_entries(
    dir: &Path,
    prefix: &str,
    suffix: &str,
) -> Result<Vec<(String, PathBuf)>, TestnetError> {
    let read_error = || TestnetError::io("read", dir);
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(read_error()(err)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(read_error())?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        let number = name
            .strip_prefix(prefix)
            .and_then(|rest| rest.strip_suffix(suffix));
        if number.is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())) {
            let stem = name.strip_suffix(suffix).unwrap_or(&name).to_owned();
            out.push((stem, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// Whether process `pid` runs with `dir` in its command line, as the nodes
/// of a testnet in `dir` do. Only Linux has /proc; elsewhere stop.sh is the
/// user's job.
fn runs_in(pid: &str, dir: &Path) -> bool {
    !pid.is_empty()
        && fs::read(Path::new("/proc").join(pid).join("cmdline"))
            .is_ok_and(|cmdline| contains(&cmdline, dir.as_os_str().as_encoded_bytes()))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbered_entries_match_only_our_names() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "node-0.log",
            "node-12.log",
            "node-.log",
            "node-x.log",
            "my-node-1.log",
            "node-1.log.bak",
        ] {
            fs::write(dir.path().join(name), "").unwrap();
        }
        let names: Vec<String> = numbered_entries(dir.path(), "node-", ".log")
            .unwrap()
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        assert_eq!(names, ["node-0", "node-12"]);
        assert!(numbered_entries(&dir.path().join("missing"), "node-", "")
            .unwrap()
            .is_empty());
    }

    #[test]
    fn a_process_runs_in_the_dirs_its_command_line_names() {
        if !Path::new("/proc/self/cmdline").exists() {
            return;
        }
        // This test binary's own command line names its path.
        let pid = std::process::id().to_string();
        let exe = std::env::args().next().unwrap();
        assert!(runs_in(&pid, Path::new(&exe)));
        assert!(!runs_in(&pid, Path::new("/no/such/testnet")));
        assert!(!runs_in("", Path::new(&exe)));
    }
}
