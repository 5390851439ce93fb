//! `bwchain testnet`, through the real binary: the genesis, key files and
//! scripts it writes for a loopback network (no node is started).

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Command, Output};

use bwchain_core::genesis::ChainSpec;
use bwchain_core::primitives::signing::KeyFile;

const BIN: &str = env!("CARGO_BIN_EXE_bwchain");

fn bwchain(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run bwchain")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// The value after each `flag` in a command line.
fn values<'a>(words: &[&'a str], flag: &str) -> Vec<&'a str> {
    words
        .windows(2)
        .filter(|w| w[0] == flag)
        .map(|w| w[1])
        .collect()
}

#[test]
fn four_validators_genesis_keys_and_scripts() {
    let tmp = tempfile::tempdir().unwrap();
    let out_dir = tmp.path().join("net");
    let out = bwchain(&[
        "testnet",
        "--validators",
        "4",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "testnet: {}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let dir = std::fs::canonicalize(&out_dir).unwrap();

    // The genesis parses, validates, and its hash is printed.
    let genesis = bwchain_node::files::read_genesis(&dir.join("genesis.json")).unwrap();
    assert_eq!(genesis.chain_id, "bwchain-testnet-4");
    assert_eq!(genesis.authorities.len(), 4);
    assert_eq!(genesis.devices.len(), 4);
    assert_eq!(genesis.block_time_ms, 1000);
    assert_eq!(genesis.genesis_time_ms % 1000, 0);
    let hash = ChainSpec::new(genesis.clone()).unwrap().genesis_hash();
    assert!(stdout.contains(&hash.to_hex()), "{stdout}");

    // authorities[i] is keys/authority-i.json; every key is funded and 0600.
    for i in 0..4 {
        let path = dir.join(format!("keys/authority-{i}.json"));
        let key = KeyFile::parse(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(genesis.authorities[i], key.account(), "authority {i}");
        assert!(genesis.balances.0[&key.account()] > 0);
        assert_eq!(mode(&path), 0o600, "{}", path.display());

        let path = dir.join(format!("keys/device-{i}.json"));
        let key = KeyFile::parse(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(genesis.devices[i], key.account(), "device {i}");
        assert!(genesis.balances.0[&key.account()] > 0);
        assert_eq!(mode(&path), 0o600, "{}", path.display());
    }
    let distinct: BTreeSet<_> = genesis.authorities.iter().chain(&genesis.devices).collect();
    assert_eq!(distinct.len(), 8, "fresh keys are all different");

    // start.sh: executable, one `node` command per authority with its own
    // key, data dir and ports, peered with the 3 others.
    let start = dir.join("start.sh");
    assert_eq!(mode(&start) & 0o111, 0o111, "start.sh is executable");
    assert_eq!(mode(&dir.join("stop.sh")) & 0o111, 0o111);
    let script = std::fs::read_to_string(&start).unwrap();
    assert!(script.starts_with("#!/bin/sh\n"));
    // Each node's command, from `I) nohup "$bwchain" node ...`: its files
    // under "$here" (the script's directory when it runs).
    let commands: Vec<Vec<&str>> = script
        .lines()
        .filter_map(|line| line.trim_start().split_once(") nohup "))
        .map(|(_, command)| command.split_whitespace().collect::<Vec<_>>())
        .collect();
    assert_eq!(commands.len(), 4, "{script}");
    let mut ports = BTreeSet::new();
    for (i, words) in commands.iter().enumerate() {
        assert_eq!(&words[..2], ["\"$bwchain\"", "node"], "{words:?}");
        let peers = values(words, "--peer");
        assert_eq!(peers.len(), 3, "{words:?}");
        let listen = values(words, "--listen");
        let rpc = values(words, "--rpc");
        assert_eq!(listen, [format!("127.0.0.1:{}", 9700 + i)]);
        assert_eq!(rpc, [format!("127.0.0.1:{}", 8700 + i)]);
        assert!(!peers.contains(&listen[0]), "node {i} peers with itself");
        assert_eq!(
            values(words, "--key"),
            [format!("\"$here/keys/authority-{i}.json\"")]
        );
        assert_eq!(values(words, "--genesis"), ["\"$here/genesis.json\""]);
        assert_eq!(
            values(words, "--data"),
            [format!("\"$here/data/node-{i}\"")]
        );
        assert!(words.contains(&">>\"$log\""), "{words:?}");
        for addr in listen.iter().chain(&rpc) {
            assert!(ports.insert(addr.to_string()), "port used twice: {addr}");
        }
        for peer in peers {
            assert!(
                (9700..9704).any(|p| peer == format!("127.0.0.1:{p}")),
                "{peer}"
            );
        }
    }
    assert_eq!(ports.len(), 8);
    // The scripts name no path of the directory (it may move), only the
    // binary's absolute path; stdout shows the commands with absolute
    // paths and how to check the network.
    let exe = std::fs::canonicalize(BIN).unwrap();
    assert!(
        script.contains(&format!("bwchain=${{BWCHAIN:-{}}}", exe.display())),
        "{script}"
    );
    assert!(!script.contains(dir.to_str().unwrap()), "{script}");
    assert!(stdout.contains(" node --genesis "), "{stdout}");
    assert!(
        stdout.contains("status --rpc http://127.0.0.1:8700"),
        "{stdout}"
    );
}

#[test]
fn refuses_a_non_empty_dir_unless_forced() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(dir.join("notes.txt"), "mine").unwrap();
    let args = ["testnet", "--out", dir.to_str().unwrap()];

    let out = bwchain(&[&args[..], &["--validators", "2"]].concat());
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("not empty") && stderr.contains("--force"),
        "{stderr}"
    );
    assert!(!dir.join("genesis.json").exists());

    // --force writes it, keeping files that are not the testnet's; a second
    // --force replaces the keys (and the genesis with them).
    let out = bwchain(&[&args[..], &["--validators", "2", "--force"]].concat());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let first = bwchain_node::files::read_genesis(&dir.join("genesis.json")).unwrap();
    std::fs::create_dir_all(dir.join("data/node-0")).unwrap();
    let out = bwchain(&[&args[..], &["--force", "--validators", "1"]].concat());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let second = bwchain_node::files::read_genesis(&dir.join("genesis.json")).unwrap();
    assert_eq!(second.authorities.len(), 1);
    assert!(!second.authorities.contains(&first.authorities[0]));
    assert!(
        !dir.join("keys/authority-1.json").exists(),
        "stale key left"
    );
    assert!(!dir.join("data/node-0").exists(), "stale chain data left");
    assert_eq!(
        std::fs::read_to_string(dir.join("notes.txt")).unwrap(),
        "mine"
    );
}

#[test]
fn rejects_bad_counts_and_ports() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("net");
    let dir = dir.to_str().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (&["--validators", "0"], "--validators"),
        (&["--validators", "65"], "--validators"),
        (&["--validators", "4", "--base-port", "65533"], "65535"),
        (&["--validators", "4", "--rpc-base-port", "65534"], "65535"),
        (&["--validators", "4", "--base-port", "8702"], "overlap"),
        (
            &["--validators", "2", "--block-time-ms", "0"],
            "--block-time-ms",
        ),
    ];
    for (extra, expected) in cases {
        let out = bwchain(&[&["testnet", "--out", dir][..], extra].concat());
        assert!(!out.status.success(), "{extra:?} was accepted");
        let stderr = text(&out.stderr);
        assert!(stderr.contains(expected), "{extra:?}: {stderr}");
        assert!(!Path::new(dir).exists(), "{extra:?} wrote files");
    }
}

/// `count` consecutive loopback ports that are free now, from a varying
/// start so that tests running at once do not pick the same ones.
fn free_ports(count: u16) -> u16 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let mut base = 20_000 + ((nanos / 1000 + std::process::id() * 7919) % 30_000) as u16;
    loop {
        let free = (0..count).all(|i| std::net::TcpListener::bind(("127.0.0.1", base + i)).is_ok());
        if free {
            return base;
        }
        base = 20_000 + (base - 20_000 + 97) % 30_000;
    }
}

/// Whether `pid` is a live process (not gone, not an unreaped zombie).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        !stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z'))
    })
}

/// A testnet directory whose nodes are stopped (and, failing that,
/// killed) when the test ends.
struct Net {
    dir: std::path::PathBuf,
}

impl Net {
    fn script(&self, name: &str, args: &[&str]) -> Output {
        Command::new(self.dir.join(name))
            .args(args)
            .env("RUST_LOG", "info")
            .output()
            .expect("run the script")
    }

    fn pid(&self, i: usize) -> u32 {
        let path = self.dir.join(format!("pids/node-{i}.pid"));
        std::fs::read_to_string(&path)
            .unwrap_or_else(|err| panic!("{}: {err}", path.display()))
            .trim()
            .parse()
            .unwrap()
    }

    /// The live `bwchain node` processes of this testnet.
    fn running(&self) -> Vec<u32> {
        let dir = self.dir.to_str().unwrap().as_bytes().to_vec();
        std::fs::read_dir("/proc")
            .unwrap()
            .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .filter(|&pid| {
                std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|cmdline| {
                    cmdline.windows(dir.len()).any(|w| w == dir)
                        && cmdline.windows(6).any(|w| w == b"\0node\0")
                })
            })
            .filter(|&pid| alive(pid))
            .collect()
    }

    fn wait_until(&self, what: &str, done: impl Fn() -> bool) {
        let start = std::time::Instant::now();
        while !done() {
            assert!(start.elapsed().as_secs() < 30, "timed out: {what}");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        let _ = self.script("stop.sh", &[]);
        for pid in self.running() {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        }
    }
}

/// The generated scripts, run for real from a moved directory: start.sh
/// starts the nodes, restarts only one that was killed, starts only the
/// nodes it is given, and stops what it started when a node cannot start.
#[test]
fn scripts_restart_a_killed_node_from_a_moved_dir_and_undo_a_failed_start() {
    let tmp = tempfile::tempdir().unwrap();
    let written = tmp.path().join("net");
    let p2p = free_ports(2);
    let rpc = free_ports(2);
    let out = bwchain(&[
        "testnet",
        "--validators",
        "2",
        "--devices",
        "0",
        "--block-time-ms",
        "500",
        "--base-port",
        &p2p.to_string(),
        "--rpc-base-port",
        &rpc.to_string(),
        "--out",
        written.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "testnet: {}", text(&out.stderr));
    // Moved, to a path with a space in it.
    let net = Net {
        dir: tmp.path().join("moved net"),
    };
    std::fs::rename(&written, &net.dir).unwrap();

    let out = net.script("start.sh", &[]);
    assert!(out.status.success(), "start.sh: {}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("started node(s) 0 1"),
        "{}",
        text(&out.stdout)
    );
    let (first0, first1) = (net.pid(0), net.pid(1));
    assert!(alive(first0) && alive(first1));
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", rpc + 1)).is_ok(),
        "node 1 serves its API"
    );

    // Node 1 crashes; start.sh starts it again and leaves node 0 alone.
    let killed = Command::new("kill")
        .args(["-9", &first1.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    net.wait_until("node 1 is gone", || !alive(first1));
    let out = net.script("start.sh", &[]);
    assert!(
        out.status.success(),
        "start.sh again: {}",
        text(&out.stderr)
    );
    let stdout = text(&out.stdout);
    assert!(stdout.contains("node 0 is already running"), "{stdout}");
    assert!(stdout.contains("started node(s) 1 "), "{stdout}");
    assert_eq!(net.pid(0), first0, "node 0 untouched");
    assert!(alive(net.pid(1)) && net.pid(1) != first1);

    let out = net.script("stop.sh", &["1"]);
    assert!(out.status.success(), "stop.sh 1: {}", text(&out.stderr));
    assert_eq!(net.running(), [first0], "only node 1 stopped");
    let out = net.script("stop.sh", &[]);
    assert!(out.status.success(), "stop.sh: {}", text(&out.stderr));
    assert!(net.running().is_empty());

    // Node 1's API port is taken: node 0 starts, node 1 cannot, and
    // start.sh stops node 0 again rather than leave half a testnet.
    let blocker = std::net::TcpListener::bind(("127.0.0.1", rpc + 1)).unwrap();
    let out = net.script("start.sh", &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("node 1 exited at start"), "{stderr}");
    assert!(
        stderr.contains("stopped the nodes this run started: 0 1"),
        "{stderr}"
    );
    assert!(
        stderr.contains("cannot listen on"),
        "the log's end: {stderr}"
    );
    assert!(net.running().is_empty(), "nothing left running");
    drop(blocker);

    let out = net.script("start.sh", &["7"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("no node 7"),
        "{}",
        text(&out.stderr)
    );
    let out = net.script("start.sh", &["0"]);
    assert!(out.status.success(), "start.sh 0: {}", text(&out.stderr));
    assert_eq!(net.running(), [net.pid(0)], "only node 0 runs");
}
