//! The bench node as its own `bwchain node` process: started with the
//! bench chain's genesis and authority key files, found by the `rpc:` line
//! it prints, measured from /proc, stopped with SIGTERM.

use std::fs::File;
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bwchain_core::mempool::MempoolLimits;

use super::BenchError;

/// How long the node may take to print its API address.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the node may take to stop after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(60);
/// Clock ticks per second of /proc/<pid>/stat's CPU times (`USER_HZ`, 100
/// on every Linux architecture the node runs on).
const TICKS_PER_SEC: f64 = 100.0;

/// What the node process is started with.
pub struct NodeFiles<'a> {
    /// The `bwchain` binary.
    pub program: &'a Path,
    pub genesis: &'a Path,
    pub key: &'a Path,
    pub data: &'a Path,
    /// Where its stderr (the log) goes.
    pub log: &'a Path,
    pub mempool: MempoolLimits,
}

/// A running `bwchain node`.
pub struct NodeProcess {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    pub log: PathBuf,
}

impl NodeProcess {
    /// Starts `program node ...` and waits for its `rpc:` line.
    pub fn start(files: &NodeFiles<'_>) -> Result<Self, BenchError> {
        let log = File::create(files.log)?;
        let mut child = Command::new(files.program)
            .arg("node")
            .arg("--genesis")
            .arg(files.genesis)
            .arg("--key")
            .arg(files.key)
            .arg("--data")
            .arg(files.data)
            .args(["--rpc", "127.0.0.1:0", "--listen", "off"])
            .arg("--mempool-max-txs")
            .arg(files.mempool.max_txs.to_string())
            .arg("--mempool-max-bytes")
            .arg(files.mempool.max_bytes.to_string())
            .arg("--mempool-max-per-sender")
            .arg(files.mempool.max_per_sender.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()?;
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        // Reads the address, then drains stdout so the node never writes
        // into a full or closed pipe.
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if !sent {
                    if let Some(url) = line.strip_prefix("rpc: ") {
                        let _ = tx.send(url.trim().to_owned());
                        sent = true;
                    }
                }
            }
        });
        let mut process = Self {
            child,
            url: String::new(),
            log: files.log.to_owned(),
        };
        match rx.recv_timeout(START_TIMEOUT) {
            Ok(url) => {
                process.url = url;
                Ok(process)
            }
            Err(_) => {
                let _ = process.child.kill();
                let _ = process.child.wait();
                Err(BenchError::NodeStart {
                    log: files.log.to_owned(),
                })
            }
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The node's peak resident set so far, in bytes (0 where unknown).
    pub fn peak_rss_bytes(&self) -> u64 {
        peak_rss_bytes(&format!("/proc/{}/status", self.pid()))
    }

    /// CPU seconds (user + system) the node has used so far.
    pub fn cpu_seconds(&self) -> f64 {
        cpu_seconds(&format!("/proc/{}/stat", self.pid()))
    }

    /// Sends SIGTERM and waits for the node to exit; kills it if it does
    /// not in time. Fails if it did not exit cleanly.
    pub fn stop(mut self) -> Result<(), BenchError> {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .map_err(BenchError::Stop)?;
        if !status.success() {
            return Err(BenchError::Stop(std::io::Error::other(format!(
                "kill -TERM {} failed",
                self.pid()
            ))));
        }
        let deadline = Instant::now() + STOP_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().map_err(BenchError::Stop)? {
                return if status.success() {
                    Ok(())
                } else {
                    Err(BenchError::Stop(std::io::Error::other(format!(
                        "the node exited with {status}; see {}",
                        self.log.display()
                    ))))
                };
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return Err(BenchError::Stop(std::io::Error::other(
                    "the node did not stop within a minute of SIGTERM",
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for NodeProcess {
    /// A node left behind by an error is killed, not orphaned.
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `VmHWM` of a /proc status file, in bytes (0 where unavailable).
pub fn peak_rss_bytes(status_file: &str) -> u64 {
    std::fs::read_to_string(status_file)
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("VmHWM:"))
                .and_then(|line| line.split_whitespace().nth(1))
                .and_then(|kib| kib.parse::<u64>().ok())
        })
        .map_or(0, |kib| kib * 1024)
}

/// User + system CPU seconds of a /proc stat file (0 where unavailable).
pub fn cpu_seconds(stat_file: &str) -> f64 {
    let Ok(stat) = std::fs::read_to_string(stat_file) else {
        return 0.0;
    };
    // The command name (field 2) is in parentheses and may hold spaces;
    // utime and stime are fields 14 and 15, i.e. 12th and 13th after it.
    let Some(after) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
        return 0.0;
    };
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (ticks(11) + ticks(12)) as f64 / TICKS_PER_SEC
}

/// Bytes of the files under `dir` (apparent sizes), 0 if it is missing.
pub fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| match entry.file_type() {
            Ok(kind) if kind.is_dir() => dir_bytes(&entry.path()),
            Ok(_) => entry.metadata().map_or(0, |m| m.len()),
            Err(_) => 0,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        assert!(peak_rss_bytes("/proc/self/status") > 0);
        assert!(cpu_seconds("/proc/self/stat") >= 0.0);
        assert_eq!(peak_rss_bytes("/nonexistent"), 0);
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("a"), [0u8; 10]).unwrap();
        std::fs::write(dir.path().join("sub/b"), [0u8; 5]).unwrap();
        assert_eq!(dir_bytes(dir.path()), 15);
    }
}
