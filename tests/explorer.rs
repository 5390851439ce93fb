//! The block explorer of a real node, over real HTTP: every page answers
//! 200 with the expected figures, links crawled from the home page (two
//! levels deep) never lead to a 4xx or 5xx, unknown things get the 404
//! page, malformed input a 4xx page, echoed input is escaped; and a
//! headless Chromium renders the pages (skipped with a notice when
//! Chromium is absent, except in CI, where it must run).

mod common;

use std::collections::{BTreeSet, VecDeque};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bwchain_core::primitives::signing::Keypair;
use common::{one_receipt_claim, NodeProcess, TestChain};

/// A page as a browser gets it.
struct Fetched {
    status: u16,
    /// The `Server-Timing` header (`render;dur=MS`).
    timing: Option<String>,
    content_type: String,
    body: String,
}

/// `GET url` asking for HTML, following redirects (as a browser does).
fn fetch(url: &str) -> Fetched {
    let agent = common::agent(Some(Duration::from_secs(30)));
    let mut response = agent
        .get(url)
        .header("accept", "text/html,application/xhtml+xml")
        .call()
        .unwrap_or_else(|err| panic!("{url}: {err}"));
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_string)
    };
    let timing = header("server-timing");
    let content_type = header("content-type").unwrap_or_default();
    Fetched {
        status: response.status().as_u16(),
        timing,
        content_type,
        body: response.body_mut().read_to_string().unwrap_or_default(),
    }
}

/// A dev node on which bob claimed 5000 bytes served to carol. Returns the
/// node, the claim's hash, its block height and bob's reward.
fn node_with_a_claim(chain: &TestChain) -> (NodeProcess, String, u64, u64) {
    let node = chain.start_node("a");
    node.wait_for_height(1);
    let g = chain.genesis_hash;
    let bob = Keypair::dev("bob");
    let carol = Keypair::dev("carol");
    let claim = node.include(&one_receipt_claim(&g, &bob, &carol, 0, 7, 5000));
    let info = node.get(&format!("/txs/{claim}")).1;
    let height = info["block_height"].as_u64().unwrap();
    let reward = info["outcome"]["provider_reward"].as_u64().unwrap();
    assert!(reward > 0, "{info}");
    (node, claim, height, reward)
}

/// The `href`s of a page that stay on the node.
fn links(body: &str) -> Vec<String> {
    body.split("href=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .filter(|href| href.starts_with('/'))
        .map(|href| href.replace("&amp;", "&"))
        .collect()
}

#[test]
fn pages_figures_links_errors_and_escaping() {
    let chain = TestChain::new();
    let (node, claim, height, reward) = node_with_a_claim(&chain);
    let bob = TestChain::account("bob");
    let carol = TestChain::account("carol");
    let alice = TestChain::account("alice");
    let credited = "title=\"5000 bytes\"";
    let rewarded = format!("title=\"{reward} tokens\"");

    // Each page: 200, HTML, its figures; weight and render time noted.
    let block_hash = node.hash_at(height).unwrap();
    let pages: Vec<(String, Vec<String>)> = vec![
        (
            "/".into(),
            vec![
                "bwchain-e2e".into(),
                "Authorities".into(),
                "<svg".into(),
                credited.into(),
                alice[..8].to_string(),
                "http-equiv=\"refresh\"".into(),
                "producing".into(),
            ],
        ),
        (
            format!("/block/{height}"),
            vec![
                format!("/tx/{claim}"),
                credited.into(),
                rewarded.clone(),
                "final".into(),
            ],
        ),
        (
            format!("/block/{block_hash}"),
            vec![format!("Block {height}")],
        ),
        (
            format!("/tx/{claim}"),
            vec![
                "final".into(),
                credited.into(),
                rewarded.clone(),
                "title=\"0 bytes\"".into(),
                format!("/session/{bob}/{carol}/7"),
                format!("/txs/{claim}"),
            ],
        ),
        (
            format!("/account/{bob}"),
            vec![
                "device".into(),
                format!("/tx/{claim}"),
                rewarded.clone(),
                "upload budget".into(),
            ],
        ),
        (
            // The consumer: its download budget shows what it received.
            format!("/account/{carol}"),
            vec![
                "device".into(),
                "download budget".into(),
                format!(
                    "title=\"{} bytes\"",
                    chain.genesis.device_capacity_bytes_per_sec * chain.genesis.budget_window_secs
                        - 5000
                ),
            ],
        ),
        (
            format!("/account/{alice}"),
            vec!["authority".into(), "proposing the block".into()],
        ),
        (format!("/session/{bob}/{carol}/7"), vec![credited.into()]),
        ("/inventory".into(), vec![bob.clone(), "active".into()]),
        ("/equivocations".into(), vec!["None.".into()]),
    ];
    for (path, expected) in &pages {
        let page = fetch(&format!("{}{path}", node.url));
        assert_eq!(page.status, 200, "{path}: {}", page.body);
        assert!(page.content_type.starts_with("text/html"), "{path}");
        for text in expected {
            assert!(
                page.body.contains(text.as_str()),
                "{path} lacks {text:?}:\n{}",
                page.body
            );
        }
        println!(
            "page {path}: {} bytes, {}",
            page.body.len(),
            page.timing.as_deref().unwrap_or("no timing")
        );
    }
    let css = fetch(&format!("{}/style.css", node.url));
    assert_eq!(css.status, 200);
    assert!(css.content_type.starts_with("text/css"));
    println!("page /style.css: {} bytes", css.body.len());

    // Search: each kind of query lands on its page.
    for (query, lands_on) in [
        (height.to_string(), format!("Block {height}")),
        (block_hash.clone(), format!("Block {height}")),
        (claim.clone(), "<h1>Transaction</h1>".to_string()),
        ("dev:bob".to_string(), bob.clone()),
        (bob.to_uppercase(), bob.clone()),
    ] {
        let page = fetch(&format!("{}/search?q={query}", node.url));
        assert_eq!(page.status, 200, "search {query}: {}", page.body);
        assert!(
            page.body.contains(&lands_on),
            "search {query}:\n{}",
            page.body
        );
    }

    // The JSON API keeps its paths.
    assert_eq!(node.get("/status").0, 200);
    assert_eq!(node.get(&format!("/blocks/{height}")).0, 200);

    // Crawl: every link from the home page, two levels deep.
    let mut seen = BTreeSet::from(["/".to_string()]);
    let mut queue = VecDeque::from([("/".to_string(), 0)]);
    while let Some((path, depth)) = queue.pop_front() {
        let page = fetch(&format!("{}{path}", node.url));
        assert!(
            page.status < 400,
            "{path} answered {}: {}",
            page.status,
            page.body
        );
        if depth < 2 && page.content_type.starts_with("text/html") {
            for link in links(&page.body) {
                if seen.insert(link.clone()) {
                    queue.push_back((link, depth + 1));
                }
            }
        }
    }
    assert!(seen.len() > 15, "few links: {seen:?}");
    println!("crawled {} pages without an error", seen.len());

    // Unknown things: the 404 page.
    let unknown = "ab".repeat(32);
    for path in [
        format!("/block/{}", u64::MAX),
        format!("/block/{unknown}"),
        format!("/tx/{unknown}"),
        format!("/account/{unknown}"),
        format!("/session/{bob}/{carol}/99"),
        "/search?q=nothing-like-this".to_string(),
        "/search?q=dev:".to_string(),
        "/no/such/page".to_string(),
    ] {
        let page = fetch(&format!("{}{path}", node.url));
        assert_eq!(page.status, 404, "{path}: {}", page.body);
        assert!(page.content_type.starts_with("text/html"), "{path}");
        assert!(page.body.contains("Not found"), "{path}: {}", page.body);
    }
    // Malformed input: a 4xx page, never a 500.
    for path in [
        "/block/xyz",
        "/block/-1",
        "/tx/123",
        "/account/zz",
        "/session/a/b/c",
        "/search?q=",
        "/inventory?after=nothex",
        "/account/{bob}?before=garbage",
    ] {
        let path = path.replace("{bob}", &bob);
        let page = fetch(&format!("{}{path}", node.url));
        assert!(
            (400..500).contains(&page.status),
            "{path}: {} {}",
            page.status,
            page.body
        );
        assert!(page.content_type.starts_with("text/html"), "{path}");
    }

    // What a page echoes is escaped by the template engine.
    let hostile = "<script>alert(1)</script>\"'&";
    let encoded = "%3Cscript%3Ealert(1)%3C%2Fscript%3E%22'%26";
    for path in [
        format!("/search?q={encoded}"),
        format!("/block/{encoded}"),
        format!("/account/{encoded}"),
    ] {
        let page = fetch(&format!("{}{path}", node.url));
        assert!((400..500).contains(&page.status), "{path}: {}", page.status);
        assert!(
            !page.body.contains("<script>"),
            "{path} echoes raw HTML:\n{}",
            page.body
        );
        assert!(!page.body.contains(hostile), "{path}:\n{}", page.body);
        assert!(
            page.body.contains("&lt;script&gt;"),
            "{path}:\n{}",
            page.body
        );
    }
}

/// How Chromium is started for a test: headless, no sandbox (CI runs as
/// root), nothing fetched from the network, a fresh profile.
fn chromium(profile: &Path, extra: &[String], url: &str) -> std::process::Output {
    let mut child = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start chromium");
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("chromium did not finish loading {url} in 60 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

fn chromium_present() -> bool {
    Command::new("chromium")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

#[test]
fn headless_chromium_renders_the_claim() {
    if !chromium_present() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI must run the headless browser test: install Debian's chromium (.ci/run does)"
        );
        println!("NOTICE: chromium is not installed; skipping the headless browser test");
        return;
    }
    let chain = TestChain::new();
    let (node, claim, height, reward) = node_with_a_claim(&chain);
    let bob = TestChain::account("bob");
    let screens = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("explorer-screenshots");
    std::fs::create_dir_all(&screens).unwrap();
    let pages = [
        ("home", "/".to_string()),
        ("block", format!("/block/{height}")),
        ("account", format!("/account/{bob}")),
    ];
    for (name, path) in &pages {
        let url = format!("{}{path}", node.url);
        let profile = tempfile::tempdir().unwrap();
        let started = Instant::now();
        let out = chromium(profile.path(), &["--dump-dom".to_string()], &url);
        let dom = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        println!("chromium rendered {name} in {:?}", started.elapsed());
        assert!(
            dom.contains("5000 bytes"),
            "{name}: no credited bytes:\n{dom}"
        );
        if *name != "home" {
            assert!(
                dom.contains(&format!("{reward} tokens")),
                "{name}: no reward:\n{dom}"
            );
            assert!(dom.contains(&claim), "{name}: no link to the claim:\n{dom}");
        }
        let shot = screens.join(format!("{name}.png"));
        let profile = tempfile::tempdir().unwrap();
        let out = chromium(
            profile.path(),
            &[
                format!("--screenshot={}", shot.display()),
                "--window-size=412,915".to_string(),
                "--hide-scrollbars".to_string(),
            ],
            &url,
        );
        assert!(
            out.status.success(),
            "{name} screenshot: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let size = std::fs::metadata(&shot).map(|m| m.len()).unwrap_or(0);
        assert!(size > 1000, "{name}: empty screenshot");
        println!("screenshot {}: {size} bytes", shot.display());
    }
}
