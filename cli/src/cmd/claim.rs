//! `bwchain claim`: the provider submits receipts its consumers signed.

use std::io::{IsTerminal as _, Read as _};
use std::path::{Path, PathBuf};

use anyhow::{bail, ensure, Context as _, Result};
use bwchain_core::primitives::signing::{self, Keypair};
use bwchain_core::primitives::{Receipt, TxBody};
use serde_json::Value;

use crate::args::parse_key;
use crate::submit::{self, SubmitArgs};

/// The file name that means standard input.
const STDIN: &str = "-";

/// Submit, as the provider, a claim for receipts signed by consumers.
///
/// Each RECEIPT_FILE holds one receipt JSON object, a JSON array of
/// receipts, or several of either one after another (as
/// `bwchain receipt ... >> FILE` leaves it). `-`, or no file at all, reads
/// standard input. All receipts go into one claim transaction, signed by
/// --key, which must be the provider named in every receipt. Prints the
/// transaction hash; with --wait, also the block and, per receipt, the
/// credited and forfeited bytes and the provider's reward.
#[derive(Debug, clap::Args)]
#[command(after_help = "Example:\n  \
    bwchain receipt --key dev:carol --provider dev:bob --session 1 --bytes 1048576 \\\n      \
    | bwchain claim --key dev:bob --wait")]
pub struct ClaimArgs {
    /// The provider's key: a key file, or dev:NAME for a dev key.
    #[arg(long, value_name = "KEY", value_parser = parse_key)]
    pub key: Keypair,
    /// Files holding receipts (`-` for standard input; the default).
    #[arg(value_name = "RECEIPT_FILE")]
    pub files: Vec<PathBuf>,
    #[command(flatten)]
    pub submit: SubmitArgs,
}

pub fn run(args: ClaimArgs) -> Result<()> {
    let receipts = read_receipt_files(&args.files)?;
    let provider = args.key.account();
    for (index, receipt) in receipts.iter().enumerate() {
        ensure!(
            receipt.provider == provider,
            "receipt {} names provider {}, but --key is {provider}; a claim must be \
             signed by the provider of all its receipts",
            index + 1,
            receipt.provider
        );
    }
    submit::run(&args.submit, &args.key, |genesis_hash| {
        // The node would refuse these too; checking here names the receipt.
        for (index, receipt) in receipts.iter().enumerate() {
            ensure!(
                signing::verify_receipt(genesis_hash, receipt),
                "receipt {} (consumer {}, session {}) has no valid consumer signature \
                 for this chain (genesis {genesis_hash}); was it signed for another chain?",
                index + 1,
                receipt.consumer,
                receipt.session
            );
        }
        Ok(TxBody::Claim { receipts })
    })
}

/// Reads the receipts of every file in order; no files means stdin.
fn read_receipt_files(files: &[PathBuf]) -> Result<Vec<Receipt>> {
    let stdin_only = [PathBuf::from(STDIN)];
    let files = if files.is_empty() {
        if std::io::stdin().is_terminal() {
            bail!("no receipts: pass RECEIPT_FILE arguments or pipe receipts into stdin");
        }
        &stdin_only[..]
    } else {
        files
    };
    let mut receipts = Vec::new();
    for path in files {
        let (name, text) = read_input(path)?;
        let found =
            parse_receipts(&text).with_context(|| format!("reading receipts from {name}"))?;
        receipts.extend(found);
    }
    Ok(receipts)
}

fn read_input(path: &Path) -> Result<(String, String)> {
    if path == Path::new(STDIN) {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read receipts from stdin")?;
        return Ok(("stdin".to_owned(), text));
    }
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read receipt file {}", path.display()))?;
    Ok((path.display().to_string(), text))
}

/// Parses receipts: a JSON object, a JSON array of them, or a sequence of
/// either separated by whitespace.
pub fn parse_receipts(text: &str) -> Result<Vec<Receipt>> {
    let mut receipts = Vec::new();
    for (index, value) in serde_json::Deserializer::from_str(text)
        .into_iter::<Value>()
        .enumerate()
    {
        let value = value.context("not valid JSON")?;
        let position = index + 1;
        match value {
            Value::Array(items) => {
                for (item_index, item) in items.into_iter().enumerate() {
                    let receipt = serde_json::from_value(item).with_context(|| {
                        format!(
                            "JSON value {position}, item {}: not a receipt",
                            item_index + 1
                        )
                    })?;
                    receipts.push(receipt);
                }
            }
            value => receipts.push(
                serde_json::from_value(value)
                    .with_context(|| format!("JSON value {position}: not a receipt"))?,
            ),
        }
    }
    ensure!(!receipts.is_empty(), "no receipts found");
    Ok(receipts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bwchain_core::primitives::Hash;

    fn receipts(n: u64) -> Vec<Receipt> {
        let provider = Keypair::dev("bob").account();
        let consumer = Keypair::dev("carol");
        (1..=n)
            .map(|session| consumer.sign_receipt(&Hash([3; 32]), provider, session, 100 * session))
            .collect()
    }

    #[test]
    fn reads_one_object() {
        let expected = receipts(1);
        let text = serde_json::to_string(&expected[0]).unwrap();
        assert_eq!(parse_receipts(&text).unwrap(), expected);
    }

    #[test]
    fn reads_an_array() {
        let expected = receipts(3);
        let text = serde_json::to_string_pretty(&expected).unwrap();
        assert_eq!(parse_receipts(&text).unwrap(), expected);
    }

    #[test]
    fn reads_appended_lines_and_mixed_values() {
        let expected = receipts(4);
        let mut text = String::new();
        for receipt in &expected[..2] {
            text.push_str(&serde_json::to_string(receipt).unwrap());
            text.push('\n');
        }
        text.push_str(&serde_json::to_string(&expected[2..]).unwrap());
        assert_eq!(parse_receipts(&text).unwrap(), expected);
    }

    #[test]
    fn reports_what_is_wrong() {
        let err = format!("{:#}", parse_receipts(" \n").unwrap_err());
        assert_eq!(err, "no receipts found");
        let err = format!("{:#}", parse_receipts("[]").unwrap_err());
        assert_eq!(err, "no receipts found");
        let err = format!("{:#}", parse_receipts("{\"provider\": ").unwrap_err());
        assert!(err.starts_with("not valid JSON"), "{err}");

        let mut value = serde_json::to_value(&receipts(1)[0]).unwrap();
        value["bytes"] = "lots".into();
        let text = format!(
            "[{}, {value}]",
            serde_json::to_string(&receipts(1)[0]).unwrap()
        );
        let err = format!("{:#}", parse_receipts(&text).unwrap_err());
        assert!(
            err.starts_with("JSON value 1, item 2: not a receipt"),
            "{err}"
        );

        let err = format!("{:#}", parse_receipts("{} ").unwrap_err());
        assert!(err.starts_with("JSON value 1: not a receipt"), "{err}");
    }

    #[test]
    fn reads_files_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let all = receipts(3);
        let first = dir.path().join("a.json");
        let second = dir.path().join("b.json");
        std::fs::write(&first, serde_json::to_string(&all[0]).unwrap()).unwrap();
        std::fs::write(&second, serde_json::to_string(&all[1..]).unwrap()).unwrap();
        assert_eq!(read_receipt_files(&[first, second]).unwrap(), all);

        let missing = dir.path().join("missing.json");
        let err = format!("{:#}", read_receipt_files(&[missing]).unwrap_err());
        assert!(err.starts_with("cannot read receipt file"), "{err}");
    }
}
