//! The files of an N-authority test network on loopback: fresh keys, a
//! genesis ([`presets::testnet`]), and scripts that start and stop one
//! `bwchain node` per authority, each peered with all the others.
//!
//! - this module: the plan, its checks, writing the files, the summary.
//! - `scripts`: where every file, port and node lives, and the start and
//!   stop scripts made from that.
//! - `previous`: the output directory, and removing a previous testnet
//!   from it.
//!
//! Nothing is started here; the scripts start the nodes.

mod previous;
mod scripts;

use std::fmt::Write as _;
use std::fs;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};

use bwchain_core::genesis::{presets, ChainSpec, Genesis, GenesisError};
use bwchain_core::primitives::signing::Keypair;
use bwchain_core::primitives::{Account, Hash};

use crate::clock::now_ms;
use crate::files::{self, FileError};
use scripts::Layout;

/// Most authorities (nodes) of a testnet.
pub const MAX_VALIDATORS: u16 = 64;
/// Most devices registered at a testnet's genesis.
pub const MAX_DEVICES: u16 = 1000;
/// DESIGN §8: P2P default port.
pub const DEFAULT_BASE_PORT: u16 = 9700;
/// DESIGN §8: `--rpc` default port.
pub const DEFAULT_RPC_BASE_PORT: u16 = 8700;
pub const DEFAULT_DEVICES: u16 = 4;
pub const DEFAULT_BLOCK_TIME_MS: u64 = 1000;

/// What to write: the network's size, ports and times, and where.
#[derive(Debug, Clone)]
pub struct TestnetPlan {
    /// Authorities, one node each (1 to [`MAX_VALIDATORS`]).
    pub validators: u16,
    /// Devices registered at genesis (0 to [`MAX_DEVICES`]).
    pub devices: u16,
    /// The directory to write into; created if missing.
    pub out: PathBuf,
    pub block_time_ms: u64,
    /// P2P port of node 0; node I uses `base_port + I`.
    pub base_port: u16,
    /// HTTP API port of node 0; node I uses `rpc_base_port + I`.
    pub rpc_base_port: u16,
    /// Slot 0's start; `None`: now, rounded down to the second.
    pub genesis_time_ms: Option<u64>,
    /// Write into a non-empty `out`, removing a previous testnet's files.
    pub force: bool,
    /// The `bwchain` binary the scripts run.
    pub exe: PathBuf,
}

/// Why a testnet could not be written. Each says what to change.
#[derive(Debug, thiserror::Error)]
pub enum TestnetError {
    #[error("--validators must be 1 to {MAX_VALIDATORS}, found {found}")]
    Validators { found: u16 },
    #[error("--devices must be 0 to {MAX_DEVICES}, found {found}")]
    Devices { found: u16 },
    #[error("{flag} must be at least 1")]
    PortZero { flag: &'static str },
    #[error(
        "{flag} {base} with {validators} validators needs ports {base}..={last}, past 65535; \
         use {flag} {highest} or lower"
    )]
    PortsPastEnd {
        flag: &'static str,
        base: u16,
        validators: u16,
        last: u32,
        highest: u32,
    },
    #[error(
        "the P2P ports {}..={} (--base-port) and the API ports {}..={} \
         (--rpc-base-port) overlap; move one of them",
        p2p.start(), p2p.end(), rpc.start(), rpc.end()
    )]
    PortsOverlap {
        p2p: RangeInclusive<u16>,
        rpc: RangeInclusive<u16>,
    },
    #[error("the generated genesis is not valid: {0}")]
    Genesis(GenesisError),
    #[error(
        "{} is not empty; choose another --out, or pass --force to write the testnet into it \
         (replacing a previous testnet there)",
        dir.display()
    )]
    NotEmpty { dir: PathBuf },
    #[error(
        "{name} of the testnet in {} is still running (pid {pid}); run {} first",
        dir.display(),
        dir.join("stop.sh").display()
    )]
    StillRunning {
        name: String,
        dir: PathBuf,
        pid: String,
    },
    #[error("{} is not UTF-8; the scripts need UTF-8 paths", path.display())]
    NotUtf8 { path: PathBuf },
    /// A file system operation failed: `action` says which, on which path.
    #[error("cannot {action} {}: {error}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("cannot use {} as --out: {error}", path.display())]
    UseOut {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("cannot make {} executable: {error}", path.display())]
    Executable {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error(transparent)]
    KeyFile(#[from] FileError),
}

impl TestnetError {
    fn io(action: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |error| TestnetError::Io {
            action,
            path,
            error,
        }
    }
}

/// A written testnet: what [`Testnet::summary`] tells the user.
#[derive(Debug)]
pub struct Testnet {
    layout: Layout,
    pub genesis: Genesis,
    pub genesis_hash: Hash,
    pub devices: Vec<Account>,
    /// The directory written into (absolute).
    pub dir: PathBuf,
    /// Keys, node data dirs, logs and pid files of a previous testnet in
    /// `dir` that `force` removed.
    pub removed_previous: usize,
}

/// Checks the plan, makes fresh keys and the genesis, prepares the output
/// directory and writes the genesis, the key files (mode 0600) and the
/// start/stop scripts. Nothing is written when a count or port is wrong.
pub fn write(plan: &TestnetPlan) -> Result<Testnet, TestnetError> {
    let n = plan.validators;
    if !(1..=MAX_VALIDATORS).contains(&n) {
        return Err(TestnetError::Validators { found: n });
    }
    if plan.devices > MAX_DEVICES {
        return Err(TestnetError::Devices {
            found: plan.devices,
        });
    }
    check_ports(plan.base_port, plan.rpc_base_port, n)?;

    let authorities: Vec<_> = (0..n).map(|_| files::generate_key()).collect();
    let devices: Vec<_> = (0..plan.devices).map(|_| files::generate_key()).collect();
    let genesis_time_ms = plan.genesis_time_ms.unwrap_or_else(|| {
        let now = now_ms();
        now - now % 1000
    });
    let authority_accounts: Vec<Account> = authorities.iter().map(Keypair::account).collect();
    let device_accounts: Vec<Account> = devices.iter().map(Keypair::account).collect();
    let genesis = presets::testnet(
        &authority_accounts,
        &device_accounts,
        plan.block_time_ms,
        genesis_time_ms,
    );
    let spec = ChainSpec::new(genesis).map_err(TestnetError::Genesis)?;

    let (dir, removed_previous) = previous::prepare_dir(&plan.out, plan.force)?;
    let layout = Layout {
        exe: utf8(&plan.exe)?.to_owned(),
        dir: utf8(&dir)?.to_owned(),
        chain_id: spec.genesis.chain_id.clone(),
        authorities: spec.genesis.authorities.clone(),
        base_port: plan.base_port,
        rpc_base_port: plan.rpc_base_port,
    };

    let keys_dir = layout.path("keys");
    fs::create_dir_all(&keys_dir).map_err(TestnetError::io("create", keys_dir))?;
    let key_paths = (0..authorities.len())
        .map(|i| layout.authority_key(i))
        .chain((0..devices.len()).map(|j| layout.device_key(j)));
    for (path, key) in key_paths.zip(authorities.iter().chain(&devices)) {
        files::write_key_file(Path::new(&path), key, plan.force)?;
    }
    let genesis_file = layout.path("genesis.json");
    let text = serde_json::to_string_pretty(&spec.genesis).expect("a genesis serializes") + "\n";
    fs::write(&genesis_file, text).map_err(TestnetError::io("write", genesis_file))?;
    scripts::write_script(&layout.path("start.sh"), &layout.start_script())?;
    scripts::write_script(&layout.path("stop.sh"), &layout.stop_script())?;

    Ok(Testnet {
        layout,
        genesis_hash: spec.genesis_hash(),
        genesis: spec.genesis,
        devices: device_accounts,
        dir,
        removed_previous,
    })
}

/// The ports `base..base+n` must all exist, and P2P and API ports must not
/// collide.
fn check_ports(base_port: u16, rpc_base_port: u16, n: u16) -> Result<(), TestnetError> {
    let p2p = port_range("--base-port", base_port, n)?;
    let rpc = port_range("--rpc-base-port", rpc_base_port, n)?;
    if p2p.start() <= rpc.end() && rpc.start() <= p2p.end() {
        return Err(TestnetError::PortsOverlap { p2p, rpc });
    }
    Ok(())
}

fn port_range(flag: &'static str, base: u16, n: u16) -> Result<RangeInclusive<u16>, TestnetError> {
    if base == 0 {
        return Err(TestnetError::PortZero { flag });
    }
    let last = u32::from(base) + u32::from(n) - 1;
    let last_port = u16::try_from(last).map_err(|_| TestnetError::PortsPastEnd {
        flag,
        base,
        validators: n,
        last,
        highest: u32::from(u16::MAX) + 1 - u32::from(n),
    })?;
    Ok(base..=last_port)
}

fn utf8(path: &Path) -> Result<&str, TestnetError> {
    path.to_str().ok_or_else(|| TestnetError::NotUtf8 {
        path: path.to_owned(),
    })
}

impl Testnet {
    /// What `bwchain testnet` prints: the chain, the keys, the commands.
    pub fn summary(&self) -> String {
        let layout = &self.layout;
        let genesis = &self.genesis;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "testnet {}: {} authorities, {} devices, a block every {} ms",
            layout.chain_id,
            layout.n(),
            self.devices.len(),
            genesis.block_time_ms
        );
        let _ = writeln!(s, "genesis: {}", layout.path("genesis.json"));
        let _ = writeln!(s, "genesis hash: {}", self.genesis_hash.to_hex());
        let _ = writeln!(
            s,
            "genesis time: {} ms (slot 0 starts then)",
            genesis.genesis_time_ms
        );
        let _ = writeln!(
            s,
            "\nauthorities (balance {} each):",
            presets::TESTNET_AUTHORITY_BALANCE
        );
        for (i, account) in layout.authorities.iter().enumerate() {
            let _ = writeln!(
                s,
                "  node {i}  {account}  p2p {}  api http://{}  key {}",
                layout.p2p_addr(i),
                layout.rpc_addr(i),
                layout.authority_key(i)
            );
        }
        if !self.devices.is_empty() {
            let _ = writeln!(
                s,
                "devices (balance {} each):",
                presets::TESTNET_DEVICE_BALANCE
            );
            for (j, account) in self.devices.iter().enumerate() {
                let _ = writeln!(s, "  {account}  key {}", layout.device_key(j));
            }
        }
        let _ = writeln!(
            s,
            "\nstart the network (each node in the background, logs in {}):\n  {}",
            layout.path("logs"),
            scripts::sh_quote(&layout.path("start.sh"))
        );
        let _ = writeln!(s, "which runs:");
        for i in 0..layout.n() {
            let _ = writeln!(s, "  {}", layout.node_command(i));
        }
        let _ = writeln!(s, "check it:\n  {}", layout.status_command());
        let _ = writeln!(
            s,
            "stop it (start.sh again resumes the chain):\n  {}",
            scripts::sh_quote(&layout.path("stop.sh"))
        );
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    fn plan(out: &Path, validators: u16, devices: u16) -> TestnetPlan {
        TestnetPlan {
            validators,
            devices,
            out: out.to_owned(),
            block_time_ms: 500,
            base_port: DEFAULT_BASE_PORT,
            rpc_base_port: DEFAULT_RPC_BASE_PORT,
            genesis_time_ms: Some(1_767_225_600_000),
            force: false,
            exe: "/opt/bwchain".into(),
        }
    }

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

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
    fn writes_a_funded_genesis_keys_and_scripts() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("net");
        let testnet = write(&plan(&out, 3, 2)).unwrap();
        assert_eq!(testnet.dir, fs::canonicalize(&out).unwrap());
        assert_eq!(testnet.removed_previous, 0);

        let genesis = files::read_genesis(&out.join("genesis.json")).unwrap();
        assert_eq!(genesis, testnet.genesis);
        assert_eq!(genesis.chain_id, "bwchain-testnet-3");
        assert_eq!(
            (genesis.block_time_ms, genesis.genesis_time_ms),
            (500, 1_767_225_600_000)
        );
        assert_eq!(genesis.devices, testnet.devices);
        for i in 0..3 {
            let path = out.join(format!("keys/authority-{i}.json"));
            assert_eq!(mode(&path), 0o600);
            let account = files::read_key_file(&path).unwrap().account();
            assert_eq!(genesis.authorities[i], account);
            assert_eq!(
                genesis.balances.0[&account],
                presets::TESTNET_AUTHORITY_BALANCE
            );
        }
        let device = files::read_key_file(&out.join("keys/device-1.json")).unwrap();
        assert_eq!(
            genesis.balances.0[&device.account()],
            presets::TESTNET_DEVICE_BALANCE
        );
        for script in ["start.sh", "stop.sh"] {
            assert_eq!(mode(&out.join(script)), 0o755, "{script}");
        }

        let summary = testnet.summary();
        assert!(summary.starts_with(
            "testnet bwchain-testnet-3: 3 authorities, 2 devices, a block every 500 ms\n"
        ));
        assert!(
            summary.contains(&testnet.genesis_hash.to_hex()),
            "{summary}"
        );
        assert_eq!(summary.matches("/opt/bwchain node --genesis").count(), 3);
    }

    #[test]
    fn refuses_a_used_dir_unless_forced_and_then_replaces_the_old_testnet() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path();
        fs::write(out.join("notes.txt"), "mine").unwrap();
        let err = write(&plan(out, 2, 1)).unwrap_err();
        assert!(matches!(err, TestnetError::NotEmpty { .. }), "{err}");
        assert!(err.to_string().contains("--force"), "{err}");

        let forced = TestnetPlan {
            force: true,
            ..plan(out, 2, 1)
        };
        let first = write(&forced).unwrap();
        assert_eq!(first.removed_previous, 0);
        fs::create_dir_all(out.join("data/node-1")).unwrap();
        let second = write(&TestnetPlan {
            validators: 1,
            devices: 0,
            ..forced
        })
        .unwrap();
        // 2 authority keys, 1 device key, 1 data dir.
        assert_eq!(second.removed_previous, 4);
        assert!(!out.join("keys/authority-1.json").exists());
        assert!(!out.join("data/node-1").exists());
        assert_eq!(fs::read_to_string(out.join("notes.txt")).unwrap(), "mine");
        assert_ne!(first.genesis_hash, second.genesis_hash);
    }

    #[test]
    fn bad_counts_write_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("net");
        for (bad, expected) in [
            (plan(&out, 0, 0), "--validators must be 1 to 64, found 0"),
            (plan(&out, 65, 0), "--validators must be 1 to 64, found 65"),
            (
                plan(&out, 1, 1001),
                "--devices must be 0 to 1000, found 1001",
            ),
        ] {
            let err = write(&bad).unwrap_err().to_string();
            assert_eq!(err, expected);
            assert!(!out.exists());
        }
    }
}
