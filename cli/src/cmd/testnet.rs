//! `bwchain testnet`: the files for an N-authority network on loopback:
//! fresh keys, a genesis, and scripts that start and stop the nodes.

use std::fmt::Write as _;
use std::fs;
use std::ops::RangeInclusive;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, ensure, Context as _, Result};
use bwchain_core::genesis::{Balances, ChainSpec, Genesis};
use bwchain_core::primitives::signing::{KeyFile, Keypair};
use bwchain_core::primitives::Account;

use super::keygen::write_key_file;

pub const MAX_VALIDATORS: u16 = 64;
pub const MAX_DEVICES: u16 = 1000;
/// DESIGN §8: P2P default port.
pub const DEFAULT_BASE_PORT: u16 = 9700;
/// DESIGN §8: `--rpc` default port.
pub const DEFAULT_RPC_BASE_PORT: u16 = 8700;
pub const DEFAULT_DEVICES: u16 = 4;
pub const DEFAULT_BLOCK_TIME_MS: u64 = 1000;
/// Initial balance of every authority (as alice's on the dev chain).
pub const AUTHORITY_BALANCE: u64 = 1_000_000_000;
/// Initial balance of every device (as bob's on the dev chain).
pub const DEVICE_BALANCE: u64 = 1_000_000;
const HOST: &str = "127.0.0.1";

/// Write keys, a genesis and start/stop scripts for an N-node test network
/// on 127.0.0.1.
///
/// The N authorities and M devices get fresh random keys. The scripts run
/// one node per authority, each peered with all the others.
///
/// Node I (0..N-1) is authorities[I] with key keys/authority-I.json, listens
/// for peers on 127.0.0.1:(base-port + I), serves the HTTP API on
/// 127.0.0.1:(rpc-base-port + I), keeps its chain in data/node-I and logs to
/// logs/node-I.log. The devices are registered at genesis; every authority
/// starts with 1000000000 and every device with 1000000. The reward and
/// capacity rules are the dev chain's. Nothing is started: run DIR/start.sh.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Files written to DIR:
  genesis.json            chain_id bwchain-testnet-N
  keys/authority-I.json   key file of node I (mode 0600, as `keygen --out`)
  keys/device-J.json      key file of device J (mode 0600)
  start.sh                starts the nodes in the background (pids in pids/)
  stop.sh                 stops them (SIGTERM) and waits for them to exit
  data/, logs/, pids/     made by start.sh: node I's chain, log and pid

Example:
  bwchain testnet --validators 4 --out ./testnet
  ./testnet/start.sh
  bwchain status --rpc http://127.0.0.1:8700
  bwchain account ./testnet/keys/device-0.json
  ./testnet/stop.sh")]
pub struct TestnetArgs {
    /// Number of authorities, one node each (1 to 64).
    #[arg(long, value_name = "N",
          value_parser = clap::value_parser!(u16).range(1..=i64::from(MAX_VALIDATORS)))]
    pub validators: u16,
    /// Directory to write the testnet into; created if missing. It must be
    /// empty unless --force.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Number of device keys registered at genesis (0 to 1000).
    #[arg(long, value_name = "M", default_value_t = DEFAULT_DEVICES,
          value_parser = clap::value_parser!(u16).range(0..=i64::from(MAX_DEVICES)))]
    pub devices: u16,
    /// Slot length of the chain, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = DEFAULT_BLOCK_TIME_MS,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub block_time_ms: u64,
    /// P2P port of node 0; node I uses base-port + I.
    #[arg(long, value_name = "P", default_value_t = DEFAULT_BASE_PORT,
          value_parser = clap::value_parser!(u16).range(1..))]
    pub base_port: u16,
    /// HTTP API port of node 0; node I uses rpc-base-port + I.
    #[arg(long, value_name = "P", default_value_t = DEFAULT_RPC_BASE_PORT,
          value_parser = clap::value_parser!(u16).range(1..))]
    pub rpc_base_port: u16,
    /// The chain's genesis_time_ms (ms since the Unix epoch); slot 0 starts
    /// then. Default: now, rounded down to the second, so slots start at once.
    #[arg(long, value_name = "T")]
    pub genesis_time_ms: Option<u64>,
    /// Write into a non-empty DIR. A previous testnet's keys, node data, logs
    /// and pid files there are deleted (refused while its nodes run); other
    /// files are left alone.
    #[arg(long)]
    pub force: bool,
}

pub fn run(args: TestnetArgs) -> Result<()> {
    let n = args.validators;
    ensure!(
        (1..=MAX_VALIDATORS).contains(&n),
        "--validators must be 1 to {MAX_VALIDATORS}, found {n}"
    );
    ensure!(
        args.devices <= MAX_DEVICES,
        "--devices must be 0 to {MAX_DEVICES}, found {}",
        args.devices
    );
    check_ports(args.base_port, args.rpc_base_port, n)?;
    let exe = std::env::current_exe().context("cannot find the path of this binary")?;

    let authorities: Vec<Keypair> = (0..n)
        .map(|_| bwchain_node::files::generate_key())
        .collect();
    let devices: Vec<Keypair> = (0..args.devices)
        .map(|_| bwchain_node::files::generate_key())
        .collect();
    let genesis_time_ms = args.genesis_time_ms.unwrap_or_else(|| {
        let now = bwchain_node::clock::now_ms();
        now - now % 1000
    });
    let genesis = testnet_genesis(&authorities, &devices, args.block_time_ms, genesis_time_ms);
    let spec = ChainSpec::new(genesis).context("the generated genesis is not valid")?;

    let dir = prepare_dir(&args.out, args.force)?;
    let layout = Layout {
        exe: utf8(&exe)?.to_owned(),
        dir: utf8(&dir)?.to_owned(),
        chain_id: spec.genesis.chain_id.clone(),
        authorities: spec.genesis.authorities.clone(),
        base_port: args.base_port,
        rpc_base_port: args.rpc_base_port,
    };

    fs::create_dir_all(layout.path("keys"))
        .with_context(|| format!("cannot create {}", layout.path("keys")))?;
    let keys = authorities
        .iter()
        .enumerate()
        .map(|(i, key)| (layout.authority_key(i), key))
        .chain(
            devices
                .iter()
                .enumerate()
                .map(|(j, key)| (layout.device_key(j), key)),
        );
    for (path, key) in keys {
        let text = serde_json::to_string_pretty(&KeyFile::from_keypair(key))?;
        write_key_file(Path::new(&path), &text, args.force)?;
    }
    let genesis_file = layout.path("genesis.json");
    let text = serde_json::to_string_pretty(&spec.genesis)? + "\n";
    fs::write(&genesis_file, text).with_context(|| format!("cannot write {genesis_file}"))?;
    write_script(&layout.path("start.sh"), &layout.start_script())?;
    write_script(&layout.path("stop.sh"), &layout.stop_script())?;

    print!(
        "{}",
        layout.summary(&spec.genesis_hash().to_hex(), &spec.genesis, &devices)
    );
    Ok(())
}

/// The dev chain's rules, with these keys, balances and times.
fn testnet_genesis(
    authorities: &[Keypair],
    devices: &[Keypair],
    block_time_ms: u64,
    genesis_time_ms: u64,
) -> Genesis {
    let mut genesis = bwchain_core::genesis::presets::dev_at(genesis_time_ms);
    genesis.chain_id = format!("bwchain-testnet-{}", authorities.len());
    genesis.block_time_ms = block_time_ms;
    genesis.authorities = authorities.iter().map(Keypair::account).collect();
    genesis.devices = devices.iter().map(Keypair::account).collect();
    genesis.balances = Balances(
        authorities
            .iter()
            .map(|key| (key.account(), AUTHORITY_BALANCE))
            .chain(devices.iter().map(|key| (key.account(), DEVICE_BALANCE)))
            .collect(),
    );
    genesis
}

/// The ports `base..base+n` must all exist, and P2P and API ports must not
/// collide.
fn check_ports(base_port: u16, rpc_base_port: u16, n: u16) -> Result<()> {
    let p2p = port_range("--base-port", base_port, n)?;
    let rpc = port_range("--rpc-base-port", rpc_base_port, n)?;
    if p2p.start() <= rpc.end() && rpc.start() <= p2p.end() {
        bail!(
            "the P2P ports {}..={} (--base-port) and the API ports {}..={} \
             (--rpc-base-port) overlap; move one of them",
            p2p.start(),
            p2p.end(),
            rpc.start(),
            rpc.end()
        );
    }
    Ok(())
}

fn port_range(flag: &str, base: u16, n: u16) -> Result<RangeInclusive<u16>> {
    ensure!(base > 0, "{flag} must be at least 1");
    let last = u32::from(base) + u32::from(n) - 1;
    let last = u16::try_from(last).map_err(|_| {
        anyhow!(
            "{flag} {base} with {n} validators needs ports {base}..={last}, past 65535; \
             use {flag} {} or lower",
            u32::from(u16::MAX) + 1 - u32::from(n)
        )
    })?;
    Ok(base..=last)
}

/// Creates DIR, or checks that it is empty (with --force: removes a previous
/// testnet's files from it). Returns its absolute path.
fn prepare_dir(dir: &Path, force: bool) -> Result<PathBuf> {
    match fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                ensure!(
                    force,
                    "{} is not empty; choose another --out, or pass --force to write the \
                     testnet into it (replacing a previous testnet there)",
                    dir.display()
                );
                let dir = fs::canonicalize(dir)
                    .with_context(|| format!("cannot resolve {}", dir.display()))?;
                remove_previous_testnet(&dir)?;
            }
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        }
        Err(err) => {
            return Err(err).with_context(|| format!("cannot use {} as --out", dir.display()));
        }
    }
    fs::canonicalize(dir).with_context(|| format!("cannot resolve {}", dir.display()))
}

/// Deletes what an earlier `testnet` in `dir` made (so that new nodes do not
/// start on an old chain), after checking that none of its nodes still runs.
fn remove_previous_testnet(dir: &Path) -> Result<()> {
    let pids = dir.join("pids");
    for (name, path) in numbered_entries(&pids, "node-", ".pid")? {
        let pid = fs::read_to_string(&path).unwrap_or_default();
        let pid = pid.trim();
        // Only Linux has /proc; elsewhere stop.sh is the user's job.
        let running = !pid.is_empty()
            && fs::read(Path::new("/proc").join(pid).join("cmdline"))
                .is_ok_and(|cmdline| contains(&cmdline, dir.as_os_str().as_encoded_bytes()));
        ensure!(
            !running,
            "{name} of the testnet in {} is still running (pid {pid}); run {} first",
            dir.display(),
            dir.join("stop.sh").display()
        );
    }
    let mut removed = 0;
    for (sub, prefix, suffix) in [
        ("keys", "authority-", ".json"),
        ("keys", "device-", ".json"),
        ("logs", "node-", ".log"),
        ("pids", "node-", ".pid"),
    ] {
        for (_, path) in numbered_entries(&dir.join(sub), prefix, suffix)? {
            fs::remove_file(&path).with_context(|| format!("cannot remove {}", path.display()))?;
            removed += 1;
        }
    }
    for (_, path) in numbered_entries(&dir.join("data"), "node-", "")? {
        fs::remove_dir_all(&path).with_context(|| format!("cannot remove {}", path.display()))?;
        removed += 1;
    }
    if removed > 0 {
        eprintln!(
            "--force: removed {removed} keys, node data dirs, logs and pid files of a previous \
             testnet in {}",
            dir.display()
        );
    }
    Ok(())
}

/// Entries of `dir` named `{prefix}{digits}{suffix}` (none if `dir` is missing).
fn numbered_entries(dir: &Path, prefix: &str, suffix: &str) -> Result<Vec<(String, PathBuf)>> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(err).with_context(|| format!("cannot read {}", dir.display())),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot read {}", dir.display()))?;
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

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

fn utf8(path: &Path) -> Result<&str> {
    path.to_str().ok_or_else(|| {
        anyhow!(
            "{} is not UTF-8; the scripts need UTF-8 paths",
            path.display()
        )
    })
}

fn write_script(path: &str, text: &str) -> Result<()> {
    fs::write(path, text).with_context(|| format!("cannot write {path}"))?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o755))
        .with_context(|| format!("cannot make {path} executable"))
}

/// Quotes `text` for sh, leaving plain words as they are.
fn sh_quote(text: &str) -> String {
    let plain = |b: u8| b.is_ascii_alphanumeric() || b"_-./:=@%+,".contains(&b);
    if !text.is_empty() && text.bytes().all(plain) {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// Where everything of the testnet lives (absolute, UTF-8 paths), and the
/// scripts and text made from it.
struct Layout {
    exe: String,
    dir: String,
    chain_id: String,
    authorities: Vec<Account>,
    base_port: u16,
    rpc_base_port: u16,
}

impl Layout {
    fn path(&self, relative: &str) -> String {
        format!("{}/{relative}", self.dir.trim_end_matches('/'))
    }

    fn authority_key(&self, i: usize) -> String {
        self.path(&format!("keys/authority-{i}.json"))
    }

    fn device_key(&self, j: usize) -> String {
        self.path(&format!("keys/device-{j}.json"))
    }

    fn p2p_addr(&self, i: usize) -> String {
        format!("{HOST}:{}", usize::from(self.base_port) + i)
    }

    fn rpc_addr(&self, i: usize) -> String {
        format!("{HOST}:{}", usize::from(self.rpc_base_port) + i)
    }

    fn log(&self, i: usize) -> String {
        self.path(&format!("logs/node-{i}.log"))
    }

    fn pid_file(&self, i: usize) -> String {
        self.path(&format!("pids/node-{i}.pid"))
    }

    fn n(&self) -> usize {
        self.authorities.len()
    }

    /// `bwchain node ...` for node `i`, quoted for sh.
    fn node_command(&self, i: usize) -> String {
        let mut argv = vec![
            self.exe.clone(),
            "node".into(),
            "--genesis".into(),
            self.path("genesis.json"),
            "--key".into(),
            self.authority_key(i),
            "--data".into(),
            self.path(&format!("data/node-{i}")),
            "--listen".into(),
            self.p2p_addr(i),
            "--rpc".into(),
            self.rpc_addr(i),
        ];
        for j in (0..self.n()).filter(|&j| j != i) {
            argv.push("--peer".into());
            argv.push(self.p2p_addr(j));
        }
        argv.iter()
            .map(|arg| sh_quote(arg))
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn status_command(&self) -> String {
        format!(
            "{} status --rpc http://{}",
            sh_quote(&self.exe),
            self.rpc_addr(0)
        )
    }

    /// `is_node PID KEY_FILE`: whether PID is still the node started with
    /// KEY_FILE (on Linux, checked in /proc, so a reused pid is not taken
    /// for a node).
    const IS_NODE: &'static str = r#"is_node() {
    kill -0 "$1" 2>/dev/null || return 1
    [ -r "/proc/$1/cmdline" ] || return 0
    tr '\000' ' ' <"/proc/$1/cmdline" | grep -qF -- "$2"
}
"#;

    /// `0 1 2 ... n-1`, for the scripts' loops.
    fn indices(&self) -> String {
        (0..self.n())
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn start_script(&self) -> String {
        let q = |relative: &str| sh_quote(&self.path(relative));
        let n = self.n();
        let mut s = String::new();
        let _ = write!(
            s,
            "#!/bin/sh\n\
             # Starts the bwchain testnet {chain} ({n} authorities) on {HOST}: each node\n\
             # in the background, logging to {logs}/node-I.log.\n\
             # Generated by `bwchain testnet`; stop it with {stop}.\n\
             set -eu\n\n\
             {is_node}\n\
             mkdir -p {logs} {pids} {data}\n\
             for i in {indices}; do\n    \
                 pid_file={pids}/node-$i.pid\n    \
                 if [ -f \"$pid_file\" ] && is_node \"$(cat \"$pid_file\")\" {keys}/authority-$i.json; then\n        \
                     echo \"node $i is already running (pid $(cat \"$pid_file\")); stop the testnet with\" {stop} >&2\n        \
                     exit 1\n    \
                 fi\n\
             done\n",
            chain = self.chain_id,
            logs = q("logs"),
            pids = q("pids"),
            data = q("data"),
            keys = q("keys"),
            stop = q("stop.sh"),
            is_node = Self::IS_NODE,
            indices = self.indices(),
        );
        for i in 0..n {
            let _ = write!(
                s,
                "\n# node {i}: authority {account}, P2P {p2p}, API http://{rpc}\n\
                 nohup {command} </dev/null >>{log} 2>&1 &\n\
                 echo $! >{pid}\n",
                account = self.authorities[i],
                p2p = self.p2p_addr(i),
                rpc = self.rpc_addr(i),
                command = self.node_command(i),
                log = sh_quote(&self.log(i)),
                pid = sh_quote(&self.pid_file(i)),
            );
        }
        let _ = write!(
            s,
            "\n# A node that cannot start exits at once: say so.\n\
             sleep 1\n\
             failed=0\n\
             for i in {indices}; do\n    \
                 if ! is_node \"$(cat {pids}/node-$i.pid)\" {keys}/authority-$i.json; then\n        \
                     echo \"node $i exited; see\" {logs}/node-$i.log >&2\n        \
                     failed=1\n    \
                 fi\n\
             done\n\
             if [ \"$failed\" = 1 ]; then\n    \
                 echo \"stop the other nodes with\" {stop} >&2\n    \
                 exit 1\n\
             fi\n\
             echo {started}\n\
             echo {check}\n\
             echo {stop_text}\n",
            indices = self.indices(),
            pids = q("pids"),
            keys = q("keys"),
            logs = q("logs"),
            stop = q("stop.sh"),
            started = sh_quote(&format!(
                "started {n} nodes of {}; logs in {}",
                self.chain_id,
                self.path("logs")
            )),
            check = sh_quote(&format!("check: {}", self.status_command())),
            stop_text = sh_quote(&format!("stop:  {}", q("stop.sh"))),
        );
        s
    }

    fn stop_script(&self) -> String {
        let q = |relative: &str| sh_quote(&self.path(relative));
        format!(
            "#!/bin/sh\n\
             # Stops the bwchain testnet {chain} started by {start}: SIGTERM to each\n\
             # node (it finishes what it is writing and exits), then waits up to 10 s.\n\
             # Generated by `bwchain testnet`.\n\
             set -u\n\n\
             {is_node}\n\
             stopping=\"\"\n\
             for i in {indices}; do\n    \
                 pid_file={pids}/node-$i.pid\n    \
                 [ -f \"$pid_file\" ] || continue\n    \
                 pid=$(cat \"$pid_file\")\n    \
                 if is_node \"$pid\" {keys}/authority-$i.json && kill \"$pid\"; then\n        \
                     echo \"stopping node $i (pid $pid)\"\n        \
                     stopping=\"$stopping $pid\"\n    \
                 fi\n    \
                 rm -f \"$pid_file\"\n\
             done\n\
             for pid in $stopping; do\n    \
                 tries=0\n    \
                 while kill -0 \"$pid\" 2>/dev/null && [ \"$tries\" -lt 100 ]; do\n        \
                     sleep 0.1\n        \
                     tries=$((tries + 1))\n    \
                 done\n    \
                 if kill -0 \"$pid\" 2>/dev/null; then\n        \
                     echo \"pid $pid is still running after 10 s\" >&2\n    \
                 fi\n\
             done\n\
             echo \"stopped; start it again (the chain resumes) with\" {start}\n",
            chain = self.chain_id,
            start = q("start.sh"),
            is_node = Self::IS_NODE,
            indices = self.indices(),
            pids = q("pids"),
            keys = q("keys"),
        )
    }

    /// What `testnet` prints: the chain, the keys, the commands.
    fn summary(&self, genesis_hash: &str, genesis: &Genesis, devices: &[Keypair]) -> String {
        let n = self.n();
        let mut s = String::new();
        let _ = writeln!(
            s,
            "testnet {}: {n} authorities, {} devices, a block every {} ms",
            self.chain_id,
            devices.len(),
            genesis.block_time_ms
        );
        let _ = writeln!(s, "genesis: {}", self.path("genesis.json"));
        let _ = writeln!(s, "genesis hash: {genesis_hash}");
        let _ = writeln!(
            s,
            "genesis time: {} ms (slot 0 starts then)",
            genesis.genesis_time_ms
        );
        let _ = writeln!(s, "\nauthorities (balance {AUTHORITY_BALANCE} each):");
        for (i, account) in self.authorities.iter().enumerate() {
            let _ = writeln!(
                s,
                "  node {i}  {account}  p2p {}  api http://{}  key {}",
                self.p2p_addr(i),
                self.rpc_addr(i),
                self.authority_key(i)
            );
        }
        if !devices.is_empty() {
            let _ = writeln!(s, "devices (balance {DEVICE_BALANCE} each):");
            for (j, key) in devices.iter().enumerate() {
                let _ = writeln!(s, "  {}  key {}", key.account(), self.device_key(j));
            }
        }
        let _ = writeln!(
            s,
            "\nstart the network (each node in the background, logs in {}):\n  {}",
            self.path("logs"),
            sh_quote(&self.path("start.sh"))
        );
        let _ = writeln!(s, "which runs:");
        for i in 0..n {
            let _ = writeln!(s, "  {}", self.node_command(i));
        }
        let _ = writeln!(s, "check it:\n  {}", self.status_command());
        let _ = writeln!(
            s,
            "stop it (start.sh again resumes the chain):\n  {}",
            sh_quote(&self.path("stop.sh"))
        );
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_must_fit_and_not_overlap() {
        check_ports(9700, 8700, 64).unwrap();
        check_ports(65532, 8700, 4).unwrap();
        let err = check_ports(65533, 8700, 4).unwrap_err().to_string();
        assert!(
            err.contains("--base-port 65533") && err.contains("65536"),
            "{err}"
        );
        assert!(err.contains("--base-port 65532 or lower"), "{err}");
        let err = check_ports(9700, 65535, 2).unwrap_err().to_string();
        assert!(err.contains("--rpc-base-port"), "{err}");
        let err = check_ports(9700, 9703, 4).unwrap_err().to_string();
        assert!(err.contains("overlap"), "{err}");
        check_ports(9700, 9704, 4).unwrap();
        check_ports(9704, 9700, 4).unwrap();
    }

    #[test]
    fn quotes_only_what_needs_it() {
        assert_eq!(sh_quote("/tmp/a-b_c.json"), "/tmp/a-b_c.json");
        assert_eq!(sh_quote("127.0.0.1:9700"), "127.0.0.1:9700");
        assert_eq!(sh_quote("/tmp/my net"), "'/tmp/my net'");
        assert_eq!(sh_quote("it's"), r"'it'\''s'");
        assert_eq!(sh_quote("$HOME"), "'$HOME'");
        assert_eq!(sh_quote(""), "''");
    }

    #[test]
    fn genesis_is_valid_with_every_key_funded() {
        let authorities: Vec<Keypair> = (0..3)
            .map(|_| bwchain_node::files::generate_key())
            .collect();
        let devices: Vec<Keypair> = (0..2)
            .map(|_| bwchain_node::files::generate_key())
            .collect();
        let genesis = testnet_genesis(&authorities, &devices, 500, 1_767_225_600_000);
        assert_eq!(genesis.chain_id, "bwchain-testnet-3");
        assert_eq!(genesis.block_time_ms, 500);
        assert_eq!(genesis.genesis_time_ms, 1_767_225_600_000);
        assert_eq!(genesis.authorities[1], authorities[1].account());
        assert_eq!(genesis.devices[0], devices[0].account());
        assert_eq!(genesis.balances.0.len(), 5);
        assert_eq!(
            genesis.balances.0[&authorities[2].account()],
            AUTHORITY_BALANCE
        );
        assert_eq!(genesis.balances.0[&devices[1].account()], DEVICE_BALANCE);
        let dev = bwchain_core::genesis::presets::dev_at(0);
        assert_eq!(genesis.block_reward, dev.block_reward);
        assert_eq!(
            genesis.device_capacity_bytes_per_sec,
            dev.device_capacity_bytes_per_sec
        );
        ChainSpec::new(genesis).unwrap();
    }

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
    fn node_commands_peer_with_all_others() {
        let layout = Layout {
            exe: "/opt/bw chain/bwchain".into(),
            dir: "/tmp/net".into(),
            chain_id: "bwchain-testnet-3".into(),
            authorities: (0..3)
                .map(|_| bwchain_node::files::generate_key().account())
                .collect(),
            base_port: 9700,
            rpc_base_port: 8700,
        };
        assert_eq!(
            layout.node_command(1),
            "'/opt/bw chain/bwchain' node --genesis /tmp/net/genesis.json \
             --key /tmp/net/keys/authority-1.json --data /tmp/net/data/node-1 \
             --listen 127.0.0.1:9701 --rpc 127.0.0.1:8701 \
             --peer 127.0.0.1:9700 --peer 127.0.0.1:9702"
        );
        let start = layout.start_script();
        assert!(start.starts_with("#!/bin/sh\n"));
        assert_eq!(start.matches(" node --genesis ").count(), 3);
        assert!(start.contains(
            r"echo 'check: '\''/opt/bw chain/bwchain'\'' status --rpc http://127.0.0.1:8700'"
        ));
        let stop = layout.stop_script();
        assert!(stop.contains("for i in 0 1 2; do"));
    }
}
