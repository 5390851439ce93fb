//! The README's tour, through the real CLI against a real node: receipt,
//! claim, inclusion, balance, replay refused, transfer, device registry,
//! inspection commands, then a clean stop and a green audit.

mod common;

use common::TestChain;

#[test]
fn receipt_claim_balance_replay_transfer_devices_audit() {
    let chain = TestChain::new();
    let node = chain.start_node("a");
    let key = |name: &str| chain.key(name).to_str().unwrap().to_string();
    let receipt_file = chain.path().join("r1.json");
    let bob = TestChain::account("bob");

    let before = node.cli_json(&["account", "dev:bob"]);

    // carol (consumer) signs 3 MiB received from bob; the genesis hash comes
    // from the node.
    let receipt = node.cli_ok(&[
        "receipt",
        "--key",
        &key("carol"),
        "--provider",
        "dev:bob",
        "--session",
        "1",
        "--bytes",
        "3145728",
    ]);
    std::fs::write(&receipt_file, &receipt).unwrap();
    let parsed: serde_json::Value = serde_json::from_str(receipt.trim()).unwrap();
    assert_eq!(parsed["provider"], bob);
    assert_eq!(parsed["bytes"], 3145728);

    // bob claims it and waits for the block.
    let included = node.cli_json(&[
        "claim",
        "--key",
        &key("bob"),
        receipt_file.to_str().unwrap(),
        "--wait",
    ]);
    assert_eq!(included["status"], "included");
    let outcome = &included["outcome"];
    assert_eq!(outcome["receipts"][0]["credited_bytes"], 3145728);
    assert_eq!(outcome["receipts"][0]["forfeited_bytes"], 0);
    // 3 MiB at 10,000,000 per GiB, floor: 29296.
    assert_eq!(outcome["provider_reward"], 29296);
    let height = included["block_height"].as_u64().unwrap();

    let after = node.cli_json(&["account", "dev:bob"]);
    assert_eq!(
        after["balance"].as_u64().unwrap(),
        before["balance"].as_u64().unwrap() + 29296
    );
    assert_eq!(after["nonce"], 1);

    // The readable forms name what matters.
    let block = node.cli_ok(&["block", &height.to_string()]);
    assert!(block.contains(&bob[..8]), "{block}");
    assert!(block.contains("provider"), "{block}");
    let session = node.cli_json(&["session", "dev:bob", "dev:carol", "1"]);
    assert_eq!(session["bytes"], 3145728);
    let tx_hash = included["hash"].as_str().unwrap();
    let tx = node.cli_ok(&["tx", tx_hash]);
    assert!(tx.contains("included"), "{tx}");
    // One authority: every block is final when committed, and its proof is
    // the authority's signature, checked against the genesis file.
    assert!(tx.contains(", final"), "{tx}");
    let genesis = chain.genesis_file();
    let proof = node.cli_ok(&[
        "block",
        &height.to_string(),
        "--proof",
        "--genesis",
        genesis.to_str().unwrap(),
    ]);
    assert!(
        proof.contains("is final: signed by the chain's only authority"),
        "{proof}"
    );
    node.wait_for_height(3);
    let blocks = node.cli_json(&["blocks", "--from", "1", "--limit", "3"]);
    assert_eq!(blocks.as_array().unwrap().len(), 3);
    let status = node.cli_json(&["status"]);
    assert!(status["height"].as_u64().unwrap() >= height);

    // Replaying the receipt is refused with a reason, and exits non-zero.
    let replay = node.cli(&[
        "claim",
        "--key",
        &key("bob"),
        receipt_file.to_str().unwrap(),
    ]);
    assert!(!replay.status.success());
    assert!(
        common::stderr(&replay).contains("replayed receipt"),
        "{}",
        common::stderr(&replay)
    );

    // Transfers move tokens.
    let dave_before = node.cli_json(&["account", "dev:dave"])["balance"]
        .as_u64()
        .unwrap();
    node.cli_json(&[
        "transfer",
        "--key",
        &key("bob"),
        "--to",
        "dev:dave",
        "--amount",
        "1000",
        "--final",
    ]);
    let dave_after = node.cli_json(&["account", "dev:dave"])["balance"]
        .as_u64()
        .unwrap();
    assert_eq!(dave_after, dave_before + 1000);

    // Only the authority manages devices.
    let refused = node.cli(&["device", "revoke", "dev:eve", "--key", &key("bob")]);
    assert!(!refused.status.success());
    assert!(common::stderr(&refused).contains("not an authority"));
    node.cli_json(&[
        "device",
        "revoke",
        "dev:eve",
        "--key",
        &key("alice"),
        "--wait",
    ]);
    assert_eq!(node.cli_json(&["account", "dev:eve"])["device"], false);
    let fresh = chain.path().join("fresh.key.json");
    let out = common::run(&["keygen", "--out", fresh.to_str().unwrap()]);
    assert!(out.status.success());
    node.cli_json(&[
        "device",
        "register",
        fresh.to_str().unwrap(),
        "--key",
        &key("alice"),
        "--wait",
    ]);
    assert_eq!(
        node.cli_json(&["account", fresh.to_str().unwrap()])["device"],
        true
    );
    // A revoked device's receipts no longer count.
    let eve_receipt = node.cli_ok(&[
        "receipt",
        "--key",
        &key("eve"),
        "--provider",
        "dev:bob",
        "--session",
        "2",
        "--bytes",
        "100",
    ]);
    let eve_file = chain.path().join("r2.json");
    std::fs::write(&eve_file, eve_receipt).unwrap();
    let out = node.cli(&["claim", "--key", &key("bob"), eve_file.to_str().unwrap()]);
    assert!(
        common::stderr(&out).contains("unknown device"),
        "{}",
        common::stderr(&out)
    );

    node.stop();
    // The readable report, as a user sees it.
    let data = chain.data("a");
    let out = common::run(&["audit", "--data", data.to_str().unwrap()]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert!(common::stdout(&out).contains("audit OK"));
}

/// `node --dev` without `--data` runs on a temporary data dir that is gone
/// once the node stops (with `--data` the chain is kept; see the test above).
#[test]
fn the_dev_chain_without_data_leaves_nothing_behind() {
    let logs = tempfile::tempdir().unwrap();
    let node = common::NodeProcess::start(
        &[
            "node",
            "--dev",
            "--rpc",
            "127.0.0.1:0",
            "--listen",
            "127.0.0.1:0",
        ],
        logs.path().join("dev.log"),
    );
    node.wait_for_height(1);
    let log = node.log_text();
    let data = log
        .split("data=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("the node logs its data dir: {log}"))
        .to_owned();
    let data = std::path::PathBuf::from(data);
    assert!(
        data.exists(),
        "{} exists while the node runs",
        data.display()
    );
    node.stop();
    assert!(
        !data.exists(),
        "{} is removed after the node stops",
        data.display()
    );
}

/// A second node on a data dir in use says so once, in one sentence.
#[test]
fn a_data_dir_in_use_is_named_once() {
    let chain = TestChain::new();
    let node = chain.start_node("a");
    node.wait_for_height(1);
    let data = chain.data("a");
    let genesis = chain.genesis_file();
    let out = common::run(&[
        "node",
        "--genesis",
        genesis.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--rpc",
        "127.0.0.1:0",
        "--listen",
        "off",
    ]);
    assert!(!out.status.success());
    let err = common::stderr(&out);
    let expected = "is in use by another bwchain process; stop it first";
    assert_eq!(err.matches(expected).count(), 1, "{err}");
    assert!(!err.contains("WouldBlock"), "{err}");
    node.stop();
}

/// `node --dev` lists every dev account with its role, key, balance and
/// `dev:NAME` form; every one is funded (carol can pay), and `claim --wait`
/// points at the block to look at.
#[test]
fn the_dev_banner_lists_funded_accounts_and_claims_point_at_their_block() {
    use std::io::BufRead as _;
    let logs = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(common::BIN)
        .args(["node", "--dev", "--rpc", "127.0.0.1:0", "--listen", "off"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::fs::File::create(logs.path().join("dev.log")).unwrap())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut banner = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        let done = line.trim_start().starts_with("eve ");
        banner.push(line);
        if done {
            break;
        }
    }
    let url = banner[0].strip_prefix("rpc: ").unwrap().to_owned();
    let text = banner.join("\n");
    for (name, role, balance) in [
        ("alice", "authority", "1000000000"),
        ("bob", "device", "1000000"),
        ("carol", "device", "1000000"),
        ("dave", "device", "1000000"),
        ("eve", "device", "1000000"),
    ] {
        let line = banner
            .iter()
            .find(|line| line.trim_start().starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name} in the banner: {text}"));
        let words: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(
            words,
            [
                name,
                role,
                &TestChain::account(name),
                "balance",
                balance,
                &format!("dev:{name}")
            ],
            "{text}"
        );
    }

    let rpc = ["--rpc", url.as_str()];
    let out = common::run(
        &[
            &[
                "transfer",
                "--key",
                "dev:carol",
                "--to",
                "dev:dave",
                "--amount",
                "5",
                "--wait",
            ][..],
            &rpc,
        ]
        .concat(),
    );
    assert!(out.status.success(), "{}", common::stderr(&out));
    let receipt = common::run(
        &[
            &[
                "receipt",
                "--key",
                "dev:carol",
                "--provider",
                "dev:bob",
                "--session",
                "1",
                "--bytes",
                "1000",
            ][..],
            &rpc,
        ]
        .concat(),
    );
    assert!(receipt.status.success(), "{}", common::stderr(&receipt));
    let file = logs.path().join("r.json");
    std::fs::write(&file, common::stdout(&receipt)).unwrap();
    let out = common::run(
        &[
            &[
                "claim",
                "--key",
                "dev:bob",
                file.to_str().unwrap(),
                "--wait",
            ][..],
            &rpc,
        ]
        .concat(),
    );
    assert!(out.status.success(), "{}", common::stderr(&out));
    let stdout = common::stdout(&out);
    let height = stdout
        .split("included in block ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(
        stdout.contains(&format!("bwchain block {height} --rpc {url}")),
        "{stdout}"
    );
    let _ = child.kill();
    let _ = child.wait();
}

/// `purge` deletes a stopped node's chain, and refuses without --yes when
/// nobody can be asked, a directory that is not a data dir, and one in use.
#[test]
fn purge_deletes_a_stopped_chain_and_refuses_everything_else() {
    let chain = TestChain::new();
    let data = chain.data("a");
    let data_arg = data.to_str().unwrap();
    let node = chain.start_node("a");
    node.wait_for_height(1);

    let out = common::run(&["purge", "--data", data_arg, "--yes"]);
    assert!(!out.status.success());
    assert!(
        common::stderr(&out).contains("is in use by a running node; stop it first"),
        "{}",
        common::stderr(&out)
    );
    node.stop();

    // stdin is /dev/null: nobody to ask.
    let out = common::run(&["purge", "--data", data_arg]);
    assert!(!out.status.success());
    assert!(
        common::stderr(&out).contains("pass --yes"),
        "{}",
        common::stderr(&out)
    );
    assert!(data.join("db").exists(), "kept");

    // Not a data dir: the chain's own directory (genesis, keys).
    let out = common::run(&["purge", "--data", chain.path().to_str().unwrap(), "--yes"]);
    assert!(!out.status.success());
    assert!(
        common::stderr(&out).contains("does not look like a bwchain data directory"),
        "{}",
        common::stderr(&out)
    );
    assert!(chain.genesis_file().exists());

    let out = common::run(&["purge", "--data", data_arg, "--yes"]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert!(
        common::stdout(&out).contains(&format!("chain {}, height ", chain.genesis.chain_id)),
        "{}",
        common::stdout(&out)
    );
    assert!(!data.exists());
}

/// A key file others can read: refused for an authority's node unless
/// --allow-insecure-key, a warning for a follower's key and client commands.
#[test]
fn a_readable_authority_key_is_refused_unless_allowed() {
    use std::os::unix::fs::PermissionsExt as _;
    let chain = TestChain::new();
    let key = chain.key("alice");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let genesis = chain.genesis_file();
    let data = chain.data("a");
    let args = [
        "node",
        "--genesis",
        genesis.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
        "--rpc",
        "127.0.0.1:0",
        "--listen",
        "off",
    ];
    let out = common::run(&args);
    assert!(!out.status.success());
    let err = common::stderr(&out);
    assert!(
        err.contains("has mode 0644") && err.contains("--allow-insecure-key"),
        "{err}"
    );
    assert!(!data.exists(), "refused before opening the store");

    let node = common::NodeProcess::start(
        &[&args[..], &["--allow-insecure-key"]].concat(),
        chain.path().join("a.log"),
    );
    node.wait_for_height(1);
    assert!(node.log_text().contains("has mode 0644"), "warned");

    // A client command with a readable key warns and goes on.
    let bob = chain.key("bob");
    std::fs::set_permissions(&bob, std::fs::Permissions::from_mode(0o640)).unwrap();
    let out = node.cli(&[
        "transfer",
        "--key",
        bob.to_str().unwrap(),
        "--to",
        "dev:dave",
        "--amount",
        "1",
    ]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert!(
        common::stderr(&out).contains("warning: key file"),
        "{}",
        common::stderr(&out)
    );
    node.stop();
}

/// On a terminal, `purge` asks: "n" keeps the chain, "y" deletes it. The
/// terminal is util-linux's `script`; without it there is nothing to run.
#[test]
fn purge_asks_on_a_terminal() {
    use std::io::Write as _;
    if std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("skipped: no `script` command to give purge a terminal");
        return;
    }
    let chain = TestChain::new();
    let node = chain.start_node("a");
    node.wait_for_height(1);
    node.stop();
    let data = chain.data("a");
    let purge = |answer: &str| {
        let mut child = std::process::Command::new("script")
            .args(["-qec"])
            .arg(format!("{} purge --data {}", common::BIN, data.display()))
            .arg("/dev/null")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(answer.as_bytes()).unwrap();
        drop(stdin);
        child.wait_with_output().unwrap()
    };
    let out = purge("n\n");
    assert!(!out.status.success());
    let text = common::stdout(&out);
    assert!(
        text.contains("[y/N]") && text.contains("not deleted"),
        "{text}"
    );
    assert!(data.join("db").exists());
    let out = purge("y\n");
    assert!(out.status.success(), "{}", common::stdout(&out));
    assert!(!data.exists());
}
