//! Harness for end-to-end tests: a temporary chain directory with a genesis
//! and key files, real `bwchain node` processes on `127.0.0.1:0`, and the
//! real CLI. Every process is killed and every directory removed on drop.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use bwchain_core::genesis::{ChainSpec, Genesis};
use bwchain_core::primitives::signing::Keypair;
use bwchain_core::primitives::Hash;
use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_bwchain");
/// Short blocks keep the tests quick; long enough for debug builds.
pub const BLOCK_TIME_MS: u64 = 250;
/// How long any single wait in a test may take before it fails.
pub const WAIT: Duration = Duration::from_secs(30);

/// A chain's files: genesis.json and key files for the dev names.
pub struct TestChain {
    pub dir: tempfile::TempDir,
    pub genesis: Genesis,
    pub genesis_hash: Hash,
}

impl TestChain {
    /// One authority (alice), devices bob carol dave eve, genesis just now.
    pub fn new() -> Self {
        Self::with(|_| {})
    }

    /// `n` authorities, dev keys `authority-0` .. `authority-{n-1}`.
    pub fn with_authorities(n: usize, adjust: impl FnOnce(&mut Genesis)) -> Self {
        let chain = Self::with(|genesis| {
            genesis.authorities = (0..n)
                .map(|i| Keypair::dev(&format!("authority-{i}")).account())
                .collect();
            adjust(genesis);
        });
        for i in 0..n {
            let name = format!("authority-{i}");
            let out = run(&[
                "keygen",
                "--dev",
                &name,
                "--out",
                chain.key(&name).to_str().unwrap(),
            ]);
            assert!(out.status.success(), "keygen {name}: {}", stderr(&out));
        }
        chain
    }

    pub fn with(adjust: impl FnOnce(&mut Genesis)) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("bwchain-e2e-")
            .tempdir()
            .expect("temp dir");
        let now = bwchain_node::clock::now_ms();
        let mut genesis = bwchain_core::genesis::presets::dev_at(now - now % 1000);
        // A chain id of its own: tests run in parallel, and two chains made
        // in the same second would otherwise share a genesis hash, so a
        // node dialing a port another test's node took over would join it.
        let suffix = dir
            .path()
            .file_name()
            .and_then(|name| name.to_str())
            .and_then(|name| name.strip_prefix("bwchain-e2e-"))
            .unwrap_or("x")
            .to_string();
        genesis.chain_id = format!("bwchain-e2e-{suffix}");
        genesis.block_time_ms = BLOCK_TIME_MS;
        adjust(&mut genesis);
        let text = serde_json::to_string_pretty(&genesis).unwrap();
        std::fs::write(dir.path().join("genesis.json"), text).unwrap();
        let genesis_hash = ChainSpec::new(genesis.clone()).unwrap().genesis_hash();
        let chain = Self {
            dir,
            genesis,
            genesis_hash,
        };
        for name in ["alice", "bob", "carol", "dave", "eve"] {
            let out = run(&[
                "keygen",
                "--dev",
                name,
                "--out",
                chain.key(name).to_str().unwrap(),
            ]);
            assert!(out.status.success(), "keygen {name}: {}", stderr(&out));
        }
        chain
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn genesis_file(&self) -> PathBuf {
        self.path().join("genesis.json")
    }

    pub fn key(&self, name: &str) -> PathBuf {
        self.path().join(format!("{name}.key.json"))
    }

    pub fn data(&self, name: &str) -> PathBuf {
        self.path().join(format!("data-{name}"))
    }

    /// Runs `bwchain audit --json` on the (stopped) node's data dir `data-NAME`;
    /// fails the test unless the audit passes, and returns its report.
    pub fn audit_ok(&self, name: &str) -> Value {
        let data = self.data(name);
        let out = run(&["audit", "--data", data.to_str().unwrap(), "--json"]);
        assert!(
            out.status.success(),
            "audit of {name} failed: {}{}",
            stderr(&out),
            stdout(&out)
        );
        serde_json::from_str(&stdout(&out)).unwrap()
    }

    pub fn account(name: &str) -> String {
        Keypair::dev(name).account().to_hex()
    }

    /// Starts the authority node (alice) on data dir `data-NAME`.
    pub fn start_node(&self, name: &str) -> NodeProcess {
        self.start(name, Some("alice"), &[])
    }

    /// Starts a node on data dir `data-NAME` with the key of `authority`
    /// (none: a follower), dialing `peers` (p2p addresses).
    pub fn start(&self, name: &str, authority: Option<&str>, peers: &[&str]) -> NodeProcess {
        self.start_with(Command::new(BIN), name, authority, peers, &[])
    }

    /// As [`Self::start`], through `command` (see [`NodeProcess::spawn`])
    /// and with `extra` flags (a `--listen` among them replaces the default).
    pub fn start_with(
        &self,
        command: Command,
        name: &str,
        authority: Option<&str>,
        peers: &[&str],
        extra: &[&str],
    ) -> NodeProcess {
        let genesis = self.genesis_file();
        let data = self.data(name);
        let key = authority.map(|authority| self.key(authority));
        let mut args = vec![
            "node",
            "--genesis",
            genesis.to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
            "--rpc",
            "127.0.0.1:0",
        ];
        if !extra.contains(&"--listen") {
            args.extend(["--listen", "127.0.0.1:0"]);
        }
        if let Some(key) = &key {
            args.extend(["--key", key.to_str().unwrap()]);
        }
        for peer in peers {
            args.extend(["--peer", peer]);
        }
        args.extend(extra);
        NodeProcess::spawn(command, &args, self.path().join(format!("{name}.log")))
    }
}

/// A running `bwchain node`; killed on drop.
pub struct NodeProcess {
    child: Child,
    pub url: String,
    /// The peer-to-peer address, `host:port`.
    pub p2p: String,
    pub log: PathBuf,
}

impl NodeProcess {
    pub fn start(args: &[&str], log: PathBuf) -> Self {
        Self::spawn(Command::new(BIN), args, log)
    }

    /// Starts `bwchain node` through `command`: `Command::new(BIN)`, or a
    /// wrapper that runs BIN (e.g. `prlimit --nofile=N -- BIN`).
    pub fn spawn(mut command: Command, args: &[&str], log: PathBuf) -> Self {
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let mut child = command
            .args(args)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log_file)
            .spawn()
            .expect("spawn bwchain node");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("rpc: ") {
                    let _ = tx.send(url.to_string());
                } else if let Some(address) = line.strip_prefix("p2p: ") {
                    let _ = tx.send(address.to_string());
                }
            }
        });
        let addresses = rx
            .recv_timeout(WAIT)
            .and_then(|url| Ok((url, rx.recv_timeout(WAIT)?)));
        let (url, p2p) = match addresses {
            Ok(pair) => pair,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "node did not report its RPC address; log:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
        };
        Self {
            child,
            url,
            p2p,
            log,
        }
    }

    /// The node's process id (for `/proc/<pid>/…` in resource tests).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Runs a CLI command against this node.
    pub fn cli(&self, args: &[&str]) -> Output {
        let mut full = args.to_vec();
        full.extend_from_slice(&["--rpc", self.url.as_str()]);
        run(&full)
    }

    /// Runs a CLI command that must succeed; returns stdout.
    pub fn cli_ok(&self, args: &[&str]) -> String {
        let out = self.cli(args);
        assert!(
            out.status.success(),
            "bwchain {args:?} failed: {}\n{}",
            stderr(&out),
            stdout(&out)
        );
        stdout(&out)
    }

    /// Runs a CLI command with --json that must succeed; returns the JSON.
    pub fn cli_json(&self, args: &[&str]) -> Value {
        let mut full = args.to_vec();
        full.push("--json");
        let text = self.cli_ok(&full);
        serde_json::from_str(&text).unwrap_or_else(|err| panic!("{args:?}: {err}: {text}"))
    }

    pub fn get(&self, path: &str) -> (u16, Value) {
        http(&format!("{}{path}", self.url), None)
    }

    pub fn post(&self, path: &str, body: &str) -> (u16, Value) {
        http(&format!("{}{path}", self.url), Some(body))
    }

    pub fn height(&self) -> u64 {
        self.get("/status").1["height"].as_u64().unwrap()
    }

    pub fn finalized_height(&self) -> u64 {
        self.get("/status").1["finalized_height"].as_u64().unwrap()
    }

    /// The hash of the block at `height` on this node's chain, if it has one.
    pub fn hash_at(&self, height: u64) -> Option<String> {
        let (status, block) = self.get(&format!("/blocks/{height}"));
        (status == 200).then(|| block["hash"].as_str().unwrap().to_string())
    }

    pub fn wait_for_height(&self, height: u64) {
        let start = Instant::now();
        while self.height() < height {
            assert!(start.elapsed() < WAIT, "height {height} not reached");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the node with SIGTERM and waits for a clean exit.
    pub fn stop(mut self) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(status.success());
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(
                    status.success(),
                    "node exited with {status}; log:\n{}",
                    self.log_text()
                );
                return;
            }
            assert!(start.elapsed() < WAIT, "node did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Submits a transaction and waits until it is included; returns its hash.
    pub fn include(&self, tx: &bwchain_core::primitives::Tx) -> String {
        let (status, answer) = self.post("/txs", &serde_json::to_string(tx).unwrap());
        assert_eq!(status, 202, "{answer}");
        let hash = answer["hash"].as_str().unwrap().to_string();
        let start = Instant::now();
        loop {
            let (_, info) = self.get(&format!("/txs/{hash}"));
            if info["status"] == "included" {
                return hash;
            }
            assert!(start.elapsed() < WAIT, "{hash} not included: {info}");
            std::thread::sleep(Duration::from_millis(BLOCK_TIME_MS / 5));
        }
    }

    /// Waits (at most `limit`) for the node to exit on its own; its status.
    pub fn wait_for_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// Sends SIGTERM and waits up to `bound` for the process to exit:
    /// its exit status and how long it took, or `None` if it still runs.
    pub fn terminate_within(
        &mut self,
        bound: Duration,
    ) -> Option<(std::process::ExitStatus, Duration)> {
        let pid = self.child.id().to_string();
        let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(status.success());
        let start = Instant::now();
        while start.elapsed() < bound {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some((status, start.elapsed()));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Kills the node with SIGKILL, as a crash would.
    pub fn kill9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A claim of one receipt, signed by both: `consumer` received `bytes` in
/// total from `provider` in `session`; `provider` sends it with `nonce`.
pub fn one_receipt_claim(
    genesis_hash: &Hash,
    provider: &Keypair,
    consumer: &Keypair,
    nonce: u64,
    session: u64,
    bytes: u64,
) -> bwchain_core::primitives::Tx {
    let receipt = consumer.sign_receipt(genesis_hash, provider.account(), session, bytes);
    provider.sign_tx(
        genesis_hash,
        nonce,
        bwchain_core::primitives::TxBody::Claim {
            receipts: vec![receipt],
        },
    )
}

/// The `error` message of a JSON error answer.
pub fn error_of(response: &(u16, Value)) -> &str {
    response.1["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no JSON error in {response:?}"))
}

pub fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run bwchain")
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// An HTTP client that hands back every status (4xx and 5xx are answers
/// to check, not errors), giving up after `timeout` if one is given.
pub fn agent(timeout: Option<Duration>) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(timeout)
        .build()
        .new_agent()
}

/// A minimal HTTP request: status and JSON body (Null if not JSON).
pub fn http(url: &str, body: Option<&str>) -> (u16, Value) {
    let agent = agent(Some(Duration::from_secs(30)));
    let response = match body {
        Some(body) => agent
            .post(url)
            .header("content-type", "application/json")
            .send(body),
        None => agent.get(url).call(),
    };
    let mut response = response.unwrap_or_else(|err| panic!("{url}: {err}"));
    let status = response.status().as_u16();
    let text = response
        .body_mut()
        .with_config()
        .limit(64 * 1024 * 1024)
        .read_to_string()
        .unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// A light client written from FINALITY.md §1.1 and §1.6 alone (not through
/// the node's code): checks `GET /blocks/{height}/justification` trusting
/// only the genesis hash and the authority list. Returns the finalized
/// checkpoint's slot.
pub fn check_justification(
    answer: &Value,
    genesis_hash: &[u8; 32],
    authorities: &[[u8; 32]],
    height: u64,
) -> u64 {
    use sha2::{Digest, Sha256};

    let hex32 = |value: &Value| -> [u8; 32] {
        let mut out = [0u8; 32];
        hex::decode_to_slice(value.as_str().expect("hex"), &mut out).expect("32 hex bytes");
        out
    };
    let u64_of = |value: &Value| value.as_u64().expect("an integer");
    let checkpoint_bytes = |checkpoint: &Value| {
        let mut out = Vec::new();
        out.extend_from_slice(&u64_of(&checkpoint["slot"]).to_le_bytes());
        out.extend_from_slice(&u64_of(&checkpoint["height"]).to_le_bytes());
        out.extend_from_slice(&hex32(&checkpoint["hash"]));
        out
    };
    let quorum = 2 * authorities.len() / 3 + 1;
    let check_certificate = |certificate: &Value| {
        let mut message = b"bwchain/vote/v1".to_vec();
        message.extend_from_slice(genesis_hash);
        message.extend(checkpoint_bytes(&certificate["source"]));
        message.extend(checkpoint_bytes(&certificate["target"]));
        assert_eq!(message.len(), 143);
        let signers = certificate["signatures"].as_array().expect("signatures");
        let mut seen = Vec::new();
        for signer in signers {
            let authority = hex32(&signer["authority"]);
            assert!(authorities.contains(&authority), "a genesis authority");
            assert!(!seen.contains(&authority), "distinct signers");
            seen.push(authority);
            let mut signature = [0u8; 64];
            hex::decode_to_slice(signer["signature"].as_str().unwrap(), &mut signature).unwrap();
            let key = ed25519_dalek::VerifyingKey::from_bytes(&authority).expect("a key");
            key.verify_strict(&message, &ed25519_dalek::Signature::from_bytes(&signature))
                .expect("a valid vote signature");
        }
        assert!(
            seen.len() >= quorum,
            "{} signers, {quorum} needed",
            seen.len()
        );
    };
    assert_eq!(u64_of(&answer["height"]), height);
    let finalized = &answer["finalized"];
    let link = &answer["link"];
    assert_eq!(
        &link["source"], finalized,
        "the link starts at the finalized checkpoint"
    );
    check_certificate(link);
    let intermediates = answer["intermediates"].as_array().expect("intermediates");
    let a_slot = u64_of(&finalized["slot"]);
    for (i, certificate) in intermediates.iter().enumerate() {
        check_certificate(certificate);
        assert_eq!(
            u64_of(&certificate["target"]["slot"]),
            a_slot + 1 + i as u64
        );
    }
    assert_eq!(
        u64_of(&link["target"]["slot"]),
        a_slot + 1 + intermediates.len() as u64
    );
    // The headers, hashes recomputed, chain from the block to C.
    let headers = answer["headers"].as_array().expect("headers");
    let mut previous: Option<[u8; 32]> = None;
    let mut hashes = Vec::new();
    for header in headers {
        let mut bytes = b"bwchain/block/v1".to_vec();
        for field in ["height", "slot", "timestamp_ms"] {
            bytes.extend_from_slice(&u64_of(&header[field]).to_le_bytes());
        }
        for field in ["parent", "proposer", "tx_root", "state_root"] {
            bytes.extend_from_slice(&hex32(&header[field]));
        }
        let hash: [u8; 32] = Sha256::digest(&bytes).into();
        assert_eq!(hash, hex32(&header["hash"]), "header hash");
        if let Some(previous) = previous {
            assert_eq!(hex32(&header["parent"]), previous, "parent to child");
        }
        previous = Some(hash);
        hashes.push(hash);
    }
    assert_eq!(
        hashes.first(),
        Some(&hex32(&answer["hash"])),
        "starts at the block"
    );
    assert_eq!(
        hashes.last(),
        Some(&hex32(&link["target"]["hash"])),
        "ends at C"
    );
    for checkpoint in std::iter::once(finalized).chain(intermediates.iter().map(|c| &c["target"])) {
        assert!(
            hashes.contains(&hex32(&checkpoint["hash"])),
            "checkpoint on the chain"
        );
    }
    a_slot
}
