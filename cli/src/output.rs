//! Readable output: aligned tables, `name  value` lists, timestamps and
//! one-line summaries of transactions. Everything here returns a `String`
//! so it can be tested; commands print it.

use std::fmt::Display;

use anyhow::Result;
use bwchain_core::primitives::{RewardKind, TxBody, TxOutcome};
use serde_json::Value;

/// Characters of a hash or key kept by [`short`].
pub const SHORT_HEX_CHARS: usize = 8;

/// Space between table columns and between a name and its value.
const GAP: &str = "  ";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    /// For numbers, so their digits line up.
    Right,
}

/// A table with a header row; columns are as wide as their widest cell.
#[derive(Debug, Clone)]
pub struct Table {
    headers: Vec<String>,
    align: Vec<Align>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(columns: &[(&str, Align)]) -> Self {
        Self {
            headers: columns.iter().map(|(name, _)| (*name).to_owned()).collect(),
            align: columns.iter().map(|(_, align)| *align).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row; it must have one cell per column.
    pub fn push(&mut self, row: Vec<String>) {
        assert_eq!(row.len(), self.headers.len(), "one cell per column");
        self.rows.push(row);
    }

    /// The header and rows, one per line, without a trailing newline or
    /// trailing spaces.
    pub fn render(&self) -> String {
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        std::iter::once(&self.headers)
            .chain(&self.rows)
            .map(|row| {
                let cells: Vec<String> = row
                    .iter()
                    .zip(&widths)
                    .zip(&self.align)
                    .map(|((cell, &width), align)| match align {
                        Align::Left => format!("{cell:<width$}"),
                        Align::Right => format!("{cell:>width$}"),
                    })
                    .collect();
                cells.join(GAP).trim_end().to_owned()
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// `name  value` lines with the values aligned. A value with several lines
/// keeps its later lines under its first.
pub fn fields(pairs: &[(&str, String)]) -> String {
    let width = pairs
        .iter()
        .map(|(name, _)| name.chars().count())
        .max()
        .unwrap_or(0);
    let indent = format!("\n{:width$}{GAP}", "");
    pairs
        .iter()
        .map(|(name, value)| {
            let value = value.replace('\n', &indent);
            format!("{name:<width$}{GAP}{value}").trim_end().to_owned()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The first characters of a hash or key, enough to tell them apart by eye.
pub fn short(hex: &impl Display) -> String {
    let text = hex.to_string();
    if text.chars().count() <= SHORT_HEX_CHARS {
        return text;
    }
    let mut out: String = text.chars().take(SHORT_HEX_CHARS).collect();
    out.push('…');
    out
}

/// Milliseconds since the Unix epoch as `YYYY-MM-DD HH:MM:SS.mmm UTC`.
pub fn format_timestamp_ms(timestamp_ms: u64) -> String {
    const MS_PER_DAY: u64 = 86_400_000;
    let (year, month, day) = civil_from_days(timestamp_ms / MS_PER_DAY);
    let ms_of_day = timestamp_ms % MS_PER_DAY;
    let (hours, minutes) = (ms_of_day / 3_600_000, ms_of_day / 60_000 % 60);
    let (seconds, millis) = (ms_of_day / 1000 % 60, ms_of_day % 1000);
    format!("{year:04}-{month:02}-{day:02} {hours:02}:{minutes:02}:{seconds:02}.{millis:03} UTC")
}

/// Howard Hinnant's `civil_from_days`, for days since 1970-01-01 (never
/// negative here, so all in `u64`).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// One line saying what a transaction does.
pub fn tx_summary(body: &TxBody) -> String {
    match body {
        TxBody::Claim { receipts } => match receipts.as_slice() {
            [receipt] => format!(
                "1 receipt: consumer {} session {} bytes {}",
                short(&receipt.consumer),
                receipt.session,
                receipt.bytes
            ),
            receipts => {
                let mut consumers: Vec<_> = receipts.iter().map(|r| r.consumer).collect();
                consumers.sort();
                consumers.dedup();
                format!(
                    "{} receipts from {} consumer{}",
                    receipts.len(),
                    consumers.len(),
                    if consumers.len() == 1 { "" } else { "s" }
                )
            }
        },
        TxBody::Transfer { to, amount } => format!("{amount} to {}", short(to)),
        TxBody::SetDevice { device, active } => format!(
            "{} device {}",
            if *active { "register" } else { "revoke" },
            short(device)
        ),
    }
}

pub fn reward_kind(kind: Option<RewardKind>) -> &'static str {
    match kind {
        Some(RewardKind::Proposer) => "proposer",
        Some(RewardKind::Provider) => "provider",
        None => "-",
    }
}

/// What an included transaction did, or `None` if there is nothing beyond
/// "included" to say.
pub fn outcome(outcome: &TxOutcome, block_height: u64) -> Option<String> {
    match outcome {
        TxOutcome::Claim {
            receipts,
            provider_reward,
        } => {
            let mut table = Table::new(&[
                ("CONSUMER", Align::Left),
                ("SESSION", Align::Right),
                ("CREDITED_BYTES", Align::Right),
                ("FORFEITED_BYTES", Align::Right),
            ]);
            for receipt in receipts {
                table.push(vec![
                    receipt.consumer.to_hex(),
                    receipt.session.to_string(),
                    receipt.credited_bytes.to_string(),
                    receipt.forfeited_bytes.to_string(),
                ]);
            }
            Some(format!(
                "{}\nprovider reward in block {block_height}: {provider_reward}",
                table.render()
            ))
        }
        TxOutcome::Transfer | TxOutcome::SetDevice => None,
    }
}

/// Prints a node response as `--json` asks: pretty, as it came.
pub fn print_json(value: &Value) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bwchain_core::primitives::signing::Keypair;
    use bwchain_core::primitives::{Account, ReceiptOutcome};

    #[test]
    fn table_aligns_columns_without_trailing_spaces() {
        let mut table = Table::new(&[
            ("NAME", Align::Left),
            ("AMOUNT", Align::Right),
            ("NOTE", Align::Left),
        ]);
        table.push(vec!["bob".into(), "5".into(), "".into()]);
        table.push(vec!["carolyn".into(), "12345678".into(), "x…y".into()]);
        assert_eq!(
            table.render(),
            "NAME       AMOUNT  NOTE\n\
             bob             5\n\
             carolyn  12345678  x…y"
        );
        let empty = Table::new(&[("A", Align::Left), ("B", Align::Right)]);
        assert_eq!(empty.render(), "A  B");
    }

    #[test]
    #[should_panic(expected = "one cell per column")]
    fn table_rejects_short_rows() {
        Table::new(&[("A", Align::Left), ("B", Align::Left)]).push(vec!["x".into()]);
    }

    #[test]
    fn fields_align_values_and_indent_continuations() {
        let text = fields(&[
            ("height", "7".into()),
            ("authorities", "aa\nbb".into()),
            ("peers", "".into()),
        ]);
        assert_eq!(
            text,
            "height       7\n\
             authorities  aa\n             bb\n\
             peers"
        );
    }

    #[test]
    fn timestamps_in_utc() {
        assert_eq!(format_timestamp_ms(0), "1970-01-01 00:00:00.000 UTC");
        assert_eq!(
            format_timestamp_ms(1_767_225_600_000),
            "2026-01-01 00:00:00.000 UTC"
        );
        // A leap day, and the last millisecond of a year.
        assert_eq!(
            format_timestamp_ms(951_825_845_123),
            "2000-02-29 12:04:05.123 UTC"
        );
        assert_eq!(
            format_timestamp_ms(1_767_225_599_999),
            "2025-12-31 23:59:59.999 UTC"
        );
    }

    #[test]
    fn short_keeps_a_prefix() {
        assert_eq!(short(&"0123456789abcdef"), "01234567…");
        assert_eq!(short(&"0123"), "0123");
    }

    #[test]
    fn summaries_say_what_a_tx_does() {
        let genesis = bwchain_core::primitives::Hash([1; 32]);
        let bob = Keypair::dev("bob");
        let carol = Keypair::dev("carol");
        let dave = Keypair::dev("dave").account();
        let r1 = carol.sign_receipt(&genesis, bob.account(), 1, 100);
        let r2 = carol.sign_receipt(&genesis, bob.account(), 2, 200);
        let one = TxBody::Claim {
            receipts: vec![r1.clone()],
        };
        assert_eq!(
            tx_summary(&one),
            format!(
                "1 receipt: consumer {} session 1 bytes 100",
                short(&carol.account())
            )
        );
        let two = TxBody::Claim {
            receipts: vec![r1, r2],
        };
        assert_eq!(tx_summary(&two), "2 receipts from 1 consumer");
        let transfer = TxBody::Transfer {
            to: dave,
            amount: 9,
        };
        assert_eq!(tx_summary(&transfer), format!("9 to {}", short(&dave)));
        let revoke = TxBody::SetDevice {
            device: dave,
            active: false,
        };
        assert!(tx_summary(&revoke).starts_with("revoke device "));
    }

    #[test]
    fn claim_outcome_table() {
        let consumer = Account([0xab; 32]);
        let text = outcome(
            &TxOutcome::Claim {
                receipts: vec![ReceiptOutcome {
                    consumer,
                    session: 3,
                    credited_bytes: 1000,
                    forfeited_bytes: 24,
                }],
                provider_reward: 42,
            },
            7,
        )
        .unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            format!(
                "CONSUMER{}  SESSION  CREDITED_BYTES  FORFEITED_BYTES",
                " ".repeat(56)
            )
        );
        assert_eq!(
            lines[1],
            format!("{consumer}        3            1000               24")
        );
        assert_eq!(lines[2], "provider reward in block 7: 42");
        assert_eq!(outcome(&TxOutcome::Transfer, 1), None);
    }
}
