//! A full disk (issue 10, item 8): the node stops writing at the first
//! failed write, refuses transactions with a clear 503 meanwhile, exits
//! non-zero (fail-stop) instead of wedging, and after space is freed it
//! restarts on an intact chain.
//!
//! The data directory is a small tmpfs when this process may mount one (as
//! root); otherwise the node runs under a file-size limit (`prlimit
//! --fsize`, with SIGXFSZ ignored), which makes its writes fail the same way.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use bwchain_core::primitives::signing::Keypair;
use bwchain_core::primitives::{Tx, TxBody};
use common::{NodeProcess, TestChain, BIN};

/// A small tmpfs mounted on a directory, unmounted on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Option<Self> {
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        ok.then(|| Self(dir.to_path_buf()))
    }

    fn resize(&self, size: &str) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.0)
            .status()
            .unwrap();
        assert!(status.success(), "remount {}", self.0.display());
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// 64-receipt claims from bob, each on new sessions, so every block grows
/// the store quickly.
fn claims(g: &bwchain_core::primitives::Hash, first_nonce: u64, count: u64) -> Vec<Tx> {
    let bob = Keypair::dev("bob");
    let carol = Keypair::dev("carol");
    (first_nonce..first_nonce + count)
        .map(|nonce| {
            let receipts = (0..64)
                .map(|i| carol.sign_receipt(g, bob.account(), nonce * 64 + i, 1_000))
                .collect();
            bob.sign_tx(g, nonce, TxBody::Claim { receipts })
        })
        .collect()
}

#[test]
fn a_full_disk_stops_the_node_cleanly_and_loses_nothing() {
    let chain = TestChain::new();
    let data = chain.data("full");
    std::fs::create_dir_all(&data).unwrap();
    // BWCHAIN_TEST_NO_TMPFS=1 tries the file-size limit even as root.
    let tmpfs = match std::env::var_os("BWCHAIN_TEST_NO_TMPFS") {
        Some(_) => None,
        None => Tmpfs::mount(&data, "6m"),
    };
    let mut node = match &tmpfs {
        Some(_) => chain.start_node("full"),
        None => {
            eprintln!("cannot mount a tmpfs here: limiting the node's file size instead");
            let mut command = Command::new("sh");
            command
                .arg("-c")
                .arg(r#"trap "" XFSZ; exec prlimit --fsize=6000000 "$@""#)
                .arg("sh")
                .arg(BIN);
            chain.start_with(command, "full", Some("alice"), &[], &[])
        }
    };
    node.wait_for_height(1);
    let g = chain.genesis_hash;

    // Fill the disk with claims until the node gives up.
    let start = Instant::now();
    let mut nonce = 0;
    let mut last_height = 0;
    let mut refused_503 = None;
    let exit = loop {
        if let Some(status) = node.wait_for_exit(Duration::from_millis(50)) {
            break status;
        }
        assert!(
            start.elapsed() < Duration::from_secs(180),
            "the node neither filled its disk nor exited; log:\n{}",
            node.log_text()
        );
        let batch = claims(&g, nonce, 50);
        let body = serde_json::to_string(&batch).unwrap();
        // The node may be going away: no answer is fine.
        if let Some((_, answer)) = try_http(&format!("{}/txs/batch", node.url), Some(&body)) {
            for result in answer["results"].as_array().into_iter().flatten() {
                if result["hash"].is_string() {
                    nonce += 1;
                } else if result["status"] == 503 {
                    refused_503.get_or_insert(result.to_string());
                }
            }
        }
        if let Some((200, status)) = try_http(&format!("{}/status", node.url), None) {
            last_height = status["height"].as_u64().unwrap_or(last_height);
        }
        if nonce > 0 && last_height > 0 {
            // Let blocks take the pending claims rather than piling them up.
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let log = node.log_text();
    eprintln!(
        "stopped {:?} after the flood began, at height {last_height}, {nonce} claims admitted; a 503 seen: {}",
        start.elapsed(),
        refused_503.is_some()
    );
    assert!(
        !exit.success(),
        "a storage failure is an error exit: {exit}\n{log}"
    );
    assert!(
        log.contains("a write to the data directory failed") && log.contains("free disk space"),
        "{log}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(180),
        "it took {:?} to stop",
        start.elapsed()
    );
    if let Some(answer) = refused_503 {
        assert!(answer.contains("stopped writing"), "{answer}");
    }
    assert!(last_height > 1, "blocks were made before the disk filled");
    drop(node);

    // Space is freed: the chain is intact and the node carries on.
    if let Some(tmpfs) = &tmpfs {
        tmpfs.resize("256m");
    }
    let report = chain.audit_ok("full");
    assert!(
        report["height"].as_u64().unwrap() + 1 >= last_height,
        "blocks were lost: audit {report}, last seen height {last_height}"
    );
    let node = chain.start_node("full");
    let height = node.height();
    assert!(height + 1 >= last_height, "{height} < {last_height}");
    node.wait_for_height(height + 3);
    let (status, body) = node.post(
        "/txs",
        &serde_json::to_string(&claims(&g, nonce_now(&node), 1)[0]).unwrap(),
    );
    assert_eq!(status, 202, "{body}");
    node.stop();
    drop(tmpfs);
}

/// One request; `None` when the node does not answer.
fn try_http(url: &str, body: Option<&str>) -> Option<(u16, serde_json::Value)> {
    let agent = common::agent(Some(Duration::from_secs(10)));
    let mut response = match body {
        Some(body) => agent
            .post(url)
            .header("content-type", "application/json")
            .send(body),
        None => agent.get(url).call(),
    }
    .ok()?;
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().ok()?;
    Some((status, serde_json::from_str(&text).unwrap_or_default()))
}

/// Bob's next nonce on `node`.
fn nonce_now(node: &NodeProcess) -> u64 {
    let (_, account) = node.get(&format!("/accounts/{}", Keypair::dev("bob").account()));
    account["nonce"].as_u64().unwrap()
}
