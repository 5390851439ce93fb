//! Watching a node, end to end through real processes: a stalled head in
//! `/status` and `bwchain status`, `/metrics` read by an exposition-format
//! parser (and `promtool check metrics` when it is installed), the log of a
//! catch-up, `bwchain audit`'s progress lines, and that the node runs
//! without transparent huge pages.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{stderr, NodeProcess, TestChain, WAIT};
use prometheus_parse::{Scrape, Value};

fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let start = Instant::now();
    while !condition() {
        assert!(start.elapsed() < WAIT, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn metrics_text(node: &NodeProcess) -> String {
    ureq::get(&format!("{}/metrics", node.url))
        .call()
        .unwrap()
        .into_body()
        .read_to_string()
        .unwrap()
}

/// Each sample's value by its name and labels, e.g. `name{a="1"}`.
fn samples(scrape: &Scrape) -> BTreeMap<String, f64> {
    scrape
        .samples
        .iter()
        .filter_map(|sample| {
            let value = match &sample.value {
                Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
                Value::Histogram(_) | Value::Summary(_) => return None,
            };
            let labels: Vec<String> = sample
                .labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{v}\""))
                .collect();
            let name = if labels.is_empty() {
                sample.metric.clone()
            } else {
                let mut labels = labels;
                labels.sort();
                format!("{}{{{}}}", sample.metric, labels.join(","))
            };
            Some((name, value))
        })
        .collect()
}

#[test]
fn a_follower_cut_off_from_its_authority_shows_a_stalled_head() {
    let chain = TestChain::new();
    let authority = chain.start_node("authority");
    let follower = chain.start("follower", None, &[&authority.p2p]);
    follower.wait_for_height(3);
    wait_until("the follower is live", || {
        let status = follower.get("/status").1;
        status["stalled"] == false && status["syncing"] == false
    });

    authority.kill9();
    wait_until("the follower sees a stalled head", || {
        follower.get("/status").1["stalled"] == true
    });
    let (_, first) = follower.get("/status");
    assert_eq!(first["syncing"], true, "{first}");
    let stall_after = first["stall_after_slots"].as_u64().unwrap();
    assert_eq!(stall_after, 3, "one authority + 2");
    assert!(first["slots_since_head"].as_u64().unwrap() > stall_after);
    std::thread::sleep(Duration::from_millis(3 * common::BLOCK_TIME_MS));
    let (_, later) = follower.get("/status");
    assert_eq!(later["height"], first["height"], "no new block");
    assert!(
        later["slots_since_head"].as_u64() > first["slots_since_head"].as_u64(),
        "{first} then {later}"
    );
    assert!(later["head_age_ms"].as_u64() > first["head_age_ms"].as_u64());

    let text = follower.cli_ok(&["status"]);
    assert!(
        text.contains("stalled           YES: no block for"),
        "{text}"
    );
    assert!(text.contains("syncing           yes"), "{text}");
    assert!(text.contains("slots since the head's slot"), "{text}");
    let scrape = Scrape::parse(metrics_text(&follower).lines().map(|l| Ok(l.to_owned()))).unwrap();
    let values = samples(&scrape);
    assert_eq!(values["bwchain_stalled"], 1.0);
    assert_eq!(values["bwchain_syncing"], 1.0);
    assert!(values["bwchain_slots_since_head"] > 3.0);
}

#[test]
fn metrics_follow_the_conventions_and_pass_promtool() {
    let chain = TestChain::new();
    let node = chain.start_node("node");
    node.wait_for_height(1);
    node.cli_ok(&[
        "transfer", "--key", "dev:bob", "--to", "dev:dave", "--amount", "7", "--wait",
    ]);
    let refused = node.cli(&[
        "transfer",
        "--key",
        "dev:bob",
        "--to",
        "dev:dave",
        "--amount",
        "18446744073709551615",
    ]);
    assert!(!refused.status.success(), "an overspend is refused");

    let text = metrics_text(&node);
    let scrape = Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).expect("exposition format");
    let values = samples(&scrape);
    for (name, value) in &values {
        assert!(value.is_finite(), "{name} {value}");
    }
    // Conventions: `_total` only on counters, and every counter has it.
    for line in text.lines().filter(|l| l.starts_with("# TYPE ")) {
        let mut words = line.split(' ').skip(2);
        let (name, kind) = (words.next().unwrap(), words.next().unwrap());
        assert_eq!(name.ends_with("_total"), kind == "counter", "{line}");
    }
    let build = scrape
        .samples
        .iter()
        .find(|s| s.metric == "bwchain_build_info")
        .expect("bwchain_build_info");
    assert_eq!(build.labels.get("version"), Some(env!("CARGO_PKG_VERSION")));
    assert!(!build.labels.get("commit").unwrap_or_default().is_empty());

    for name in [
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_start_time_seconds",
        "bwchain_head_height",
        "bwchain_head_slot",
        "bwchain_head_timestamp_seconds",
        "bwchain_head_age_seconds",
        "bwchain_finalized_height",
        "bwchain_justified_height",
        "bwchain_syncing",
        "bwchain_stalled",
        "bwchain_peers",
        "bwchain_mempool_txs",
        "bwchain_mempool_bytes",
        "bwchain_blocks_produced_total",
        "bwchain_blocks_imported_total",
        "bwchain_blocks_rejected_total",
        "bwchain_txs_admitted_total",
        "bwchain_receipts_included_total",
        "bwchain_credited_bytes_total",
        "bwchain_minted_tokens_total",
        "bwchain_store_size_bytes",
    ] {
        assert!(values.contains_key(name), "{name} missing:\n{text}");
    }
    assert!(values["bwchain_head_height"] >= 1.0);
    assert!(values["bwchain_blocks_produced_total"] >= 1.0);
    assert!(values["bwchain_txs_admitted_total"] >= 1.0);
    assert!(values["bwchain_store_size_bytes"] > 0.0);
    assert!(values["process_resident_memory_bytes"] > 0.0);
    assert_eq!(
        values[r#"bwchain_txs_rejected_total{reason="balance"}"#],
        1.0
    );
    assert_eq!(values[r#"bwchain_evidence{kind="double_vote"}"#], 0.0);
    let alice = TestChain::account("alice");
    assert!(values.contains_key(&format!(
        "bwchain_authority_last_slot{{authority=\"{alice}\"}}"
    )));
    assert!(values.contains_key(&format!(
        "bwchain_authority_missed_slots{{authority=\"{alice}\"}}"
    )));
    for histogram in [
        "bwchain_block_build_seconds",
        "bwchain_block_commit_seconds",
        "bwchain_block_import_seconds",
        "bwchain_tx_inclusion_seconds",
    ] {
        let sample = scrape
            .samples
            .iter()
            .find(|s| s.metric == histogram)
            .unwrap_or_else(|| panic!("{histogram} missing"));
        assert!(matches!(sample.value, Value::Histogram(_)), "{histogram}");
    }
    let inclusion = scrape
        .samples
        .iter()
        .find(|s| s.metric == "bwchain_tx_inclusion_seconds")
        .unwrap();
    let Value::Histogram(buckets) = &inclusion.value else {
        unreachable!()
    };
    assert_eq!(
        buckets.last().map(|b| b.count),
        Some(1.0),
        "one transfer included"
    );

    // promtool (Debian package `prometheus`) when installed; .ci/run installs
    // it and then requires it.
    match Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(mut promtool) => {
            promtool
                .stdin
                .take()
                .unwrap()
                .write_all(text.as_bytes())
                .unwrap();
            let out = promtool.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "promtool check metrics: {}{}\n{text}",
                String::from_utf8_lossy(&out.stdout),
                stderr(&out)
            );
        }
        Err(err) if std::env::var_os("BWCHAIN_REQUIRE_PROMTOOL").is_some() => {
            panic!("promtool did not run: {err}")
        }
        Err(_) => eprintln!("promtool not installed: skipping `promtool check metrics`"),
    }
}

#[test]
fn a_late_follower_logs_its_catch_up_and_audit_its_progress() {
    let chain = TestChain::with(|genesis| genesis.block_time_ms = 25);
    let authority = chain.start_node("authority");
    authority.wait_for_height(200);
    let follower = chain.start("follower", None, &[&authority.p2p]);
    let target = authority.height();
    follower.wait_for_height(target);
    wait_until("the follower logs that it caught up", || {
        follower.log_text().contains("caught up with peers")
    });
    let log = follower.log_text();
    assert!(log.contains("syncing: catching up with peers"), "{log}");
    follower.stop();
    authority.stop();

    // Not a terminal: plain progress lines on stderr, the report on stdout.
    let data = chain.data("follower");
    let out = common::run(&["audit", "--data", data.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let progress = stderr(&out);
    assert!(progress.contains("audit: replaying "), "{progress}");
    let last = progress.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("audit: block ") && last.contains(" (100%)"),
        "{progress}"
    );
    assert!(common::stdout(&out).starts_with("audit OK"));
}

/// The node turns transparent huge pages off for itself (`cli/src/main.rs`):
/// the kernel reports it in `/proc/<pid>/status` (Linux 5.0 and later).
#[cfg(target_os = "linux")]
#[test]
fn the_node_runs_without_transparent_huge_pages() {
    let chain = TestChain::new();
    let node = chain.start_node("a");
    let status = std::fs::read_to_string(format!("/proc/{}/status", node.pid())).unwrap();
    let Some(line) = status.lines().find(|line| line.starts_with("THP_enabled:")) else {
        eprintln!("this kernel does not report THP_enabled; nothing to check");
        return;
    };
    assert_eq!(line.split_whitespace().nth(1), Some("0"), "{line}");
}
