//! Runs the `bwchain` binary for the commands that need no node: keygen,
//! receipt with a genesis file, help, and the unreachable-node error.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Command, Output};

use bwchain_core::genesis::ChainSpec;
use bwchain_core::primitives::signing::{self, KeyFile, Keypair};
use bwchain_core::primitives::Receipt;

fn bwchain(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bwchain"))
        .args(args)
        .env_remove("BWCHAIN_RPC")
        .env_remove("RUST_LOG")
        .output()
        .expect("run bwchain")
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

fn repo_genesis() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../genesis.json")
}

#[test]
fn keygen_out_writes_0600_and_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("provider.key");
    let path_text = path.to_str().unwrap();

    let first = bwchain(&["keygen", "--out", path_text]);
    assert!(first.status.success(), "{}", stderr(&first));
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let text = std::fs::read_to_string(&path).unwrap();
    let keypair = KeyFile::parse(&text).unwrap();
    assert_eq!(stdout(&first).trim(), keypair.account().to_hex());

    let again = bwchain(&["keygen", "--out", path_text]);
    assert!(!again.status.success());
    assert!(
        stderr(&again).starts_with(&format!("error: {path_text} already exists; pass --force")),
        "{}",
        stderr(&again)
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text, "untouched");

    let forced = bwchain(&["keygen", "--out", path_text, "--force"]);
    assert!(forced.status.success(), "{}", stderr(&forced));
    let replaced = KeyFile::parse(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_ne!(replaced.account(), keypair.account());
    assert_eq!(stdout(&forced).trim(), replaced.account().to_hex());
}

#[test]
fn keygen_dev_prints_the_dev_key_file() {
    let output = bwchain(&["keygen", "--dev", "alice"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let keypair = KeyFile::parse(&stdout(&output)).unwrap();
    let genesis = bwchain_node::files::read_genesis(&repo_genesis()).unwrap();
    assert_eq!(keypair.account(), genesis.authorities[0]);
}

#[test]
fn receipt_offline_with_a_genesis_file() {
    let genesis_hash = ChainSpec::new(bwchain_node::files::read_genesis(&repo_genesis()).unwrap())
        .unwrap()
        .genesis_hash();
    let output = bwchain(&[
        "receipt",
        "--key",
        "dev:carol",
        "--provider",
        "dev:bob",
        "--session",
        "7",
        "--bytes",
        "1048576",
        "--genesis",
        repo_genesis().to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert_eq!(text.lines().count(), 1, "one line: {text}");
    let receipt: Receipt = serde_json::from_str(&text).unwrap();
    assert_eq!(receipt.provider, Keypair::dev("bob").account());
    assert_eq!(receipt.consumer, Keypair::dev("carol").account());
    assert_eq!((receipt.session, receipt.bytes), (7, 1_048_576));
    assert!(signing::verify_receipt(&genesis_hash, &receipt));

    // The same receipt from an explicit genesis hash, written to a file.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r.json");
    let output = bwchain(&[
        "receipt",
        "--key",
        "dev:carol",
        "--provider",
        &Keypair::dev("bob").account().to_hex(),
        "--session",
        "7",
        "--bytes",
        "1048576",
        "--genesis-hash",
        &genesis_hash.to_hex(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(std::fs::read_to_string(&out).unwrap(), text);
}

#[test]
fn unreachable_node_is_named() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let output = bwchain(&["status", "--rpc", &url]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).starts_with(&format!("error: cannot reach the node at {url}")),
        "{}",
        stderr(&output)
    );
    assert!(stdout(&output).is_empty());
}

#[test]
fn every_command_has_help() {
    let commands: &[&[&str]] = &[
        &[],
        &["keygen"],
        &["node"],
        &["status"],
        &["receipt"],
        &["claim"],
        &["transfer"],
        &["device"],
        &["device", "register"],
        &["device", "revoke"],
        &["block"],
        &["blocks"],
        &["tx"],
        &["account"],
        &["session"],
        &["audit"],
        &["purge"],
        &["completions"],
    ];
    for command in commands {
        let mut args = command.to_vec();
        args.push("--help");
        let output = bwchain(&args);
        assert!(output.status.success(), "{args:?}: {}", stderr(&output));
        assert!(stdout(&output).contains("Usage: bwchain"), "{args:?}");
    }
}

/// `bwchain … | head -1`: a reader that leaves early is not an error.
#[test]
fn a_closed_stdout_pipe_exits_quietly_with_success() {
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_bwchain"))
        .args(["keygen", "--dev", "alice"])
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run bwchain");
    // Close the read end before the child writes anything.
    drop(child.stdout.take());
    let output = child.wait_with_output().expect("wait for bwchain");
    assert!(output.status.success(), "exit status {:?}", output.status);
    assert_eq!(stderr(&output), "", "no panic message");
}

#[test]
fn rpc_takes_a_url_or_host_port_and_says_which_when_wrong() {
    // A closed port: the error names the URL, built from either form.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    for form in [
        format!("127.0.0.1:{port}"),
        format!("http://127.0.0.1:{port}"),
    ] {
        let out = bwchain(&["status", "--rpc", &form]);
        assert!(!out.status.success());
        assert!(
            stderr(&out).contains(&format!("cannot reach the node at http://127.0.0.1:{port}")),
            "{form}: {}",
            stderr(&out)
        );
    }
    let out = bwchain(&["status", "--rpc", "8700"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("expected http://HOST:PORT or HOST:PORT"),
        "{}",
        stderr(&out)
    );
    let out = bwchain(&["node", "--dev", "--rpc", "nonsense"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("expected HOST:PORT"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn bad_peer_and_listen_values_are_refused_at_start() {
    for (args, expected) in [
        (
            vec!["node", "--dev", "--peer", "notaport"],
            "expected HOST:PORT",
        ),
        (
            vec!["node", "--dev", "--peer", "127.0.0.1:0"],
            "expected HOST:PORT",
        ),
        (vec!["node", "--dev", "--listen", "9700"], "or off"),
    ] {
        let out = bwchain(&args);
        assert!(!out.status.success(), "{args:?}");
        assert!(
            stderr(&out).contains(expected),
            "{args:?}: {}",
            stderr(&out)
        );
    }
}

#[test]
fn an_invalid_rust_log_is_an_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_bwchain"))
        .args(["keygen", "--dev", "alice"])
        .env("RUST_LOG", "bwchain=[")
        .output()
        .expect("run bwchain");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("is not a valid log filter"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn version_names_the_git_commit() {
    let out = bwchain(&["--version"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let commit = text
        .trim()
        .strip_prefix(&format!("bwchain {} (commit ", env!("CARGO_PKG_VERSION")))
        .and_then(|rest| rest.strip_suffix(')'))
        .unwrap_or_else(|| panic!("{text}"));
    // In a git checkout, the commit the binary was built from; else unknown.
    let head = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned());
    match head {
        Some(head) => assert_eq!(commit, head),
        None => assert_eq!(commit, "unknown"),
    }
}

#[test]
fn completions_for_bash_zsh_and_fish() {
    for (shell, marker) in [
        ("bash", "complete -F _bwchain"),
        ("zsh", "#compdef bwchain"),
        ("fish", "complete -c bwchain"),
    ] {
        let out = bwchain(&["completions", shell]);
        assert!(out.status.success(), "{shell}: {}", stderr(&out));
        let script = stdout(&out);
        assert!(script.contains(marker), "{shell}: {script}");
        assert!(script.contains("purge"), "{shell} completes subcommands");
    }
    let out = bwchain(&["completions", "powershell"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("bash"), "{}", stderr(&out));
}

#[test]
fn a_missing_genesis_file_is_one_sentence_with_the_fix() {
    for args in [
        &["node", "--genesis", "nosuch.json", "--data", "/tmp/unused"][..],
        &[
            "receipt",
            "--key",
            "dev:carol",
            "--provider",
            "dev:bob",
            "--session",
            "1",
            "--bytes",
            "1",
            "--genesis",
            "nosuch.json",
        ],
    ] {
        let out = bwchain(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.starts_with("error: cannot read genesis file nosuch.json: no such file; "),
            "{err}"
        );
        assert_eq!(err.matches("nosuch.json").count(), 1, "{err}");
        assert!(!err.contains("os error"), "{err}");
        assert!(err.contains("--dev"), "{err}");
    }
}

/// Without RUST_LOG the node logs bwchain's own events at info and nothing
/// of sled's; `--log-format json` makes each line a JSON object.
#[test]
fn default_logs_are_bwchains_at_info_and_json_on_request() {
    use std::io::BufRead as _;
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_bwchain"))
        .args([
            "node",
            "--dev",
            "--rpc",
            "127.0.0.1:0",
            "--listen",
            "off",
            "--log-format",
            "json",
        ])
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run bwchain");
    let mut seen = Vec::new();
    for line in std::io::BufReader::new(child.stderr.take().unwrap()).lines() {
        let line = line.unwrap();
        let event: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|err| panic!("{err}: {line}"));
        let target = event["target"].as_str().unwrap_or_default().to_owned();
        assert!(target.starts_with("bwchain"), "{line}");
        seen.push(event);
        if seen
            .iter()
            .any(|e| e["fields"]["message"] == "node started")
            || seen.len() > 20
        {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let started = seen
        .iter()
        .find(|e| e["fields"]["message"] == "node started")
        .unwrap_or_else(|| panic!("{seen:?}"));
    assert_eq!(started["level"], "INFO");
    assert_eq!(started["fields"]["chain_id"], "bwchain-dev");
}

#[test]
fn a_readable_key_file_gets_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("carol.json");
    let out = bwchain(&["keygen", "--dev", "carol", "--out", path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = bwchain(&[
        "receipt",
        "--key",
        path.to_str().unwrap(),
        "--provider",
        "dev:bob",
        "--session",
        "1",
        "--bytes",
        "1",
        "--genesis",
        repo_genesis().to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("has mode 0644") && stderr(&out).contains("chmod 600"),
        "{}",
        stderr(&out)
    );
}
