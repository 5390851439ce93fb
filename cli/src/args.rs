//! Argument types shared by several commands: the node's URL, signing keys
//! and accounts.
//!
//! Keys and accounts are parsed by clap value parsers, so a bad `--key` or
//! `--to` is reported before any command runs. Key files are read by
//! [`bwchain_node::files::read_key_file`], as the node reads them.

use std::path::Path;

use bwchain_core::primitives::signing::Keypair;
use bwchain_core::primitives::Account;
use bwchain_node::files;

use bwchain_api::client::Client;

/// Where the node's HTTP API listens unless `--rpc` or `BWCHAIN_RPC` says otherwise.
pub const DEFAULT_RPC: &str = "http://127.0.0.1:8700";

/// Prefix that names a dev key instead of a file: `dev:alice`.
pub const DEV_KEY_PREFIX: &str = "dev:";

/// The node to talk to.
#[derive(Debug, Clone, clap::Args)]
pub struct RpcArgs {
    /// URL of the node's HTTP API (`http://HOST:PORT`, or just `HOST:PORT`).
    #[arg(long, value_name = "URL", env = "BWCHAIN_RPC", hide_env_values = true, default_value = DEFAULT_RPC, value_parser = parse_rpc_url)]
    pub rpc: String,
}

/// A node URL given as `http://HOST:PORT` or as `HOST:PORT` (as `bwchain
/// node --rpc` takes it).
pub fn parse_rpc_url(text: &str) -> Result<String, String> {
    let text = text.trim_end_matches('/');
    if let Some(rest) = text.strip_prefix("https://") {
        return Err(format!(
            "https is not served by the node: use http://{rest} (expected http://HOST:PORT or HOST:PORT)"
        ));
    }
    let address = text.strip_prefix("http://").unwrap_or(text);
    match address.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() && !address.contains('/') => {
            Ok(format!("http://{address}"))
        }
        _ => Err(format!(
            "{text:?} is not a node address: expected http://HOST:PORT or HOST:PORT, e.g. http://127.0.0.1:8700"
        )),
    }
}

impl RpcArgs {
    pub fn client(&self) -> Client {
        Client::new(&self.rpc)
    }
}

/// The node to talk to, and how to show its answer.
#[derive(Debug, Clone, clap::Args)]
pub struct ClientArgs {
    #[command(flatten)]
    pub rpc: RpcArgs,
    /// Print the node's JSON response (pretty-printed) instead of readable text.
    #[arg(long)]
    pub json: bool,
}

impl ClientArgs {
    pub fn client(&self) -> Client {
        self.rpc.client()
    }
}

/// Parses a `--key` value: `dev:NAME` or the path of a key file. A key
/// file that group or others can read is used, with a warning on stderr
/// (`bwchain node` refuses an authority's; see `cmd::node`).
pub fn parse_key(text: &str) -> Result<Keypair, String> {
    match text.strip_prefix(DEV_KEY_PREFIX) {
        Some(name) => dev_key(name),
        None => {
            let path = Path::new(text);
            let keypair = read_key_file(path)?;
            if let Some(mode) = files::loose_key_mode(path) {
                eprintln!("warning: {}", files::loose_key_warning(path, mode));
            }
            Ok(keypair)
        }
    }
}

/// Parses an account: 64 hex characters, `dev:NAME`, or the path of a key
/// file. Hex wins over a file that happens to have a 64-hex name; write
/// `./NAME` to mean the file.
pub fn parse_account(text: &str) -> Result<Account, String> {
    if let Some(name) = text.strip_prefix(DEV_KEY_PREFIX) {
        return dev_key(name).map(|key| key.account());
    }
    if text.len() == 2 * Account::LEN && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return text.parse().map_err(|err| format!("{text:?}: {err}"));
    }
    let path = Path::new(text);
    if path.exists() {
        return read_key_file(path).map(|key| key.account());
    }
    Err(format!(
        "{text:?} is neither a 64-hex public key, an existing key file, nor dev:NAME"
    ))
}

/// Reads and checks a key file (`{"public_key", "secret_key"}`).
fn read_key_file(path: &Path) -> Result<Keypair, String> {
    files::read_key_file(path).map_err(|err| err.to_string())
}

fn dev_key(name: &str) -> Result<Keypair, String> {
    if name.is_empty() {
        return Err("a dev key needs a name, e.g. dev:alice".into());
    }
    Ok(Keypair::dev(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rpc_urls_in_both_forms() {
        assert_eq!(
            parse_rpc_url("127.0.0.1:8700").unwrap(),
            "http://127.0.0.1:8700"
        );
        assert_eq!(
            parse_rpc_url("http://127.0.0.1:8700/").unwrap(),
            "http://127.0.0.1:8700"
        );
        assert_eq!(parse_rpc_url("http://node:1").unwrap(), "http://node:1");
        for bad in [
            "8700",
            "http://",
            "localhost",
            "127.0.0.1:port",
            "http://a:1/x",
        ] {
            let err = parse_rpc_url(bad).unwrap_err();
            assert!(
                err.contains("expected http://HOST:PORT or HOST:PORT"),
                "{bad}: {err}"
            );
        }
        assert!(parse_rpc_url("https://a:1")
            .unwrap_err()
            .contains("http://a:1"));
    }
    use bwchain_core::primitives::signing::KeyFile;
    use std::io::Write;

    fn key_file(keypair: &Keypair) -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(files::key_file_json(keypair).as_bytes())
            .unwrap();
        file
    }

    #[test]
    fn accounts_from_hex_dev_names_and_files() {
        let bob = Keypair::dev("bob").account();
        assert_eq!(parse_account(&bob.to_hex()).unwrap(), bob);
        assert_eq!(
            parse_account(&bob.to_hex().to_ascii_uppercase()).unwrap(),
            bob
        );
        assert_eq!(parse_account("dev:bob").unwrap(), bob);

        let carol = Keypair::dev("carol");
        let file = key_file(&carol);
        let path = file.path().to_str().unwrap();
        assert_eq!(parse_account(path).unwrap(), carol.account());
    }

    #[test]
    fn bad_accounts_say_what_is_accepted() {
        for text in ["abc", "", "/no/such/key.json", &"zz".repeat(32)] {
            let err = parse_account(text).unwrap_err();
            assert!(err.contains("64-hex public key"), "{text}: {err}");
        }
        assert!(parse_account("dev:").unwrap_err().contains("needs a name"));
    }

    #[test]
    fn keys_from_dev_names_and_files() {
        let alice = Keypair::dev("alice");
        assert_eq!(parse_key("dev:alice").unwrap().account(), alice.account());

        let file = key_file(&alice);
        let key = parse_key(file.path().to_str().unwrap()).unwrap();
        assert_eq!(key.account(), alice.account());
        assert_eq!(key.seed(), alice.seed());
    }

    #[test]
    fn bad_keys_name_the_file_and_the_problem() {
        let err = parse_key("/no/such/key.json").unwrap_err();
        assert!(
            err.contains("cannot read key file /no/such/key.json"),
            "{err}"
        );

        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(b"{\"public_key\": 1}").unwrap();
        let err = parse_key(file.path().to_str().unwrap()).unwrap_err();
        assert!(err.contains("not valid JSON"), "{err}");

        // A key file whose public key belongs to someone else.
        let mut mismatched = KeyFile::from_keypair(&Keypair::dev("alice"));
        mismatched.public_key = Keypair::dev("bob").account();
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(serde_json::to_string(&mismatched).unwrap().as_bytes())
            .unwrap();
        let err = parse_key(file.path().to_str().unwrap()).unwrap_err();
        assert!(err.contains("does not belong"), "{err}");

        // An account argument that names a broken key file reports the file's problem.
        let err = parse_account(file.path().to_str().unwrap()).unwrap_err();
        assert!(err.contains("does not belong"), "{err}");
    }
}
