//! What a user sees when the node answers an error or is not there: the
//! API client (`bwchain_api::client`) against the real HTTP API, served
//! over a fake chain.

use bwchain_api::client::{Client, ClientError};
use bwchain_node::rpc::fake::{serve, FakeChain};

#[test]
fn error_answers_show_the_message_and_status() {
    let fake = FakeChain::dev();
    let (url, _guard) = serve(fake.clone());
    let client = Client::new(&format!("{url}/"));

    let err = client.get("/blocks/99").unwrap_err();
    let ClientError::Node(node_err) = &err else {
        panic!("a NodeError: {err:?}")
    };
    assert_eq!(node_err.status, 404);
    assert_eq!(
        err.to_string(),
        format!("no block 99 (HTTP 404 Not Found from GET {url}/blocks/99)")
    );

    assert_eq!(client.get("/status").unwrap()["chain_id"], "bwchain-dev");

    fake.break_store("internal trouble");
    let err = client.get("/evidence").unwrap_err().to_string();
    assert!(
        err.starts_with("corrupt store: internal trouble (HTTP 500"),
        "{err}"
    );
}

#[test]
fn unreachable_node_names_the_url() {
    // Bind then drop a listener so the port is (almost surely) closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let err = Client::new(&url).get("/status").unwrap_err().to_string();
    assert!(
        err.starts_with(&format!("cannot reach the node at {url}")),
        "{err}"
    );
}
