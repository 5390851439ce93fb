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
    let commands: Vec<Vec<&str>> = script
        .lines()
        .map(|line| line.split_whitespace().collect::<Vec<_>>())
        .filter(|words| words.first() == Some(&"nohup") && words.get(2) == Some(&"node"))
        .collect();
    assert_eq!(commands.len(), 4, "{script}");
    let dir_text = dir.to_str().unwrap();
    let mut ports = BTreeSet::new();
    for (i, words) in commands.iter().enumerate() {
        assert_eq!(words[0], "nohup");
        assert!(Path::new(words[1]).is_absolute(), "{words:?}");
        let peers = values(words, "--peer");
        assert_eq!(peers.len(), 3, "{words:?}");
        let listen = values(words, "--listen");
        let rpc = values(words, "--rpc");
        assert_eq!(listen, [format!("127.0.0.1:{}", 9700 + i)]);
        assert_eq!(rpc, [format!("127.0.0.1:{}", 8700 + i)]);
        assert!(!peers.contains(&listen[0]), "node {i} peers with itself");
        assert_eq!(
            values(words, "--key"),
            [format!("{dir_text}/keys/authority-{i}.json")]
        );
        assert_eq!(
            values(words, "--genesis"),
            [format!("{dir_text}/genesis.json")]
        );
        assert_eq!(
            values(words, "--data"),
            [format!("{dir_text}/data/node-{i}")]
        );
        assert!(words.contains(&format!(">>{dir_text}/logs/node-{i}.log").as_str()));
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
    // The commands in start.sh use the binary's absolute path; stdout shows
    // them and how to check the network.
    let node_line = script.lines().find(|l| l.starts_with("nohup ")).unwrap();
    let exe = std::fs::canonicalize(BIN).unwrap();
    assert!(
        node_line.starts_with(&format!("nohup {} node ", exe.display())),
        "{node_line}"
    );
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
