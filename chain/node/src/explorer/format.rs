//! Human units with the exact integer on hover, and links for every hash,
//! height and account.

use std::fmt::Display;

use bwchain_core::primitives::{Account, Hash};
use maud::{html, Markup};

/// `1536` → `1.5 KiB`.
pub(super) fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut unit = 0;
    let mut scaled = 1024u64;
    while unit + 1 < UNITS.len() && bytes / scaled >= 1024 {
        scaled *= 1024;
        unit += 1;
    }
    format!("{} {}", one_decimal(bytes, scaled), UNITS[unit])
}

/// `1234567` → `1.2 M`; below ten thousand, the integer with separators.
pub(super) fn human_count(count: u64) -> String {
    const UNITS: [(u64, &str); 4] = [
        (1_000_000_000_000_000, "P"),
        (1_000_000_000_000, "T"),
        (1_000_000_000, "G"),
        (1_000_000, "M"),
    ];
    for (scale, unit) in UNITS {
        if count >= scale {
            return format!("{} {unit}", one_decimal(count, scale));
        }
    }
    grouped(count)
}

/// `1234567` → `1 234 567` (thin spaces).
pub(super) fn grouped(count: u64) -> String {
    let digits = count.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push('\u{2009}');
        }
        out.push(digit);
    }
    out
}

/// `value / scale` with one decimal, rounded down (integer arithmetic).
fn one_decimal(value: u64, scale: u64) -> String {
    let tenths = u128::from(value) * 10 / u128::from(scale);
    format!("{}.{}", tenths / 10, tenths % 10)
}

/// Bytes in human units; the exact count on hover.
pub(super) fn bytes(count: u64) -> Markup {
    html! { span.num title={ (count) " bytes" } { (human_bytes(count)) } }
}

/// Tokens in human units; the exact amount on hover.
pub(super) fn tokens(amount: u64) -> Markup {
    html! { span.num title={ (amount) " tokens" } { (human_count(amount)) } }
}

/// A plain count (heights, slots, nonces) with separators; exact on hover.
pub(super) fn count(value: u64) -> Markup {
    html! { span.num title=(value) { (human_count(value)) } }
}

/// `ab12…ef90`: the start and end of a long hex string.
fn short(hex: &str) -> String {
    match (hex.get(..8), hex.get(hex.len().saturating_sub(6)..)) {
        (Some(start), Some(end)) if hex.len() > 16 => format!("{start}…{end}"),
        _ => hex.to_owned(),
    }
}

pub(super) fn block_link(height: u64) -> Markup {
    html! { a href={ "/block/" (height) } title={ "block " (height) } { (grouped(height)) } }
}

pub(super) fn block_hash_link(hash: &Hash) -> Markup {
    hex_link("/block/", hash)
}

pub(super) fn tx_link(hash: &Hash) -> Markup {
    hex_link("/tx/", hash)
}

pub(super) fn account_link(account: &Account) -> Markup {
    hex_link("/account/", account)
}

/// A block's proposer; the genesis block has none.
pub(super) fn proposer_link(height: u64, proposer: &Account) -> Markup {
    if height == 0 {
        html! { "none (genesis)" }
    } else {
        account_link(proposer)
    }
}

fn hex_link(prefix: &str, value: &impl Display) -> Markup {
    let hex = value.to_string();
    html! { a.hash href={ (prefix) (hex) } title=(hex) { code { (short(&hex)) } } }
}

/// A full hash or key, for a page's own subject.
pub(super) fn full_hex(value: &impl Display) -> Markup {
    html! { code.full { (value) } }
}

/// How long ago `timestamp_ms` was, with the timestamp on hover.
pub(super) fn age(now_ms: u64, timestamp_ms: u64) -> Markup {
    html! { span title={ (timestamp_ms) " ms since the Unix epoch" } { (ago(now_ms, timestamp_ms)) } }
}

/// `3 s ago`, `5 min ago`, `2 h ago`, `4 d ago`; `in 1 s` for the future.
pub(super) fn ago(now_ms: u64, timestamp_ms: u64) -> String {
    if timestamp_ms > now_ms {
        return format!("in {}", duration((timestamp_ms - now_ms) / 1000));
    }
    format!("{} ago", duration((now_ms - timestamp_ms) / 1000))
}

fn duration(seconds: u64) -> String {
    match seconds {
        0..=119 => format!("{seconds} s"),
        120..=7199 => format!("{} min", seconds / 60),
        7200..=172_799 => format!("{} h", seconds / 3600),
        _ => format!("{} d", seconds / 86_400),
    }
}

/// A key-value table: the page's summary.
pub(super) fn fields(rows: &[(&str, Markup)]) -> Markup {
    html! {
        table.fields {
            @for (name, value) in rows {
                tr { th scope="row" { (name) } td { (value) } }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(10 * 1024 * 1024 * 1024), "10.0 GiB");
        assert_eq!(human_bytes(u64::MAX), "15.9 EiB");
        assert_eq!(human_count(9_999), "9\u{2009}999");
        assert_eq!(human_count(1_250_000), "1.2 M");
        assert_eq!(human_count(u64::MAX), "18446.7 P");
        assert_eq!(ago(10_000, 7_000), "3 s ago");
        assert_eq!(ago(0, 1_000), "in 1 s");
    }

    #[test]
    fn exact_value_on_hover() {
        let html = bytes(1536).into_string();
        assert!(html.contains(r#"title="1536 bytes""#), "{html}");
        assert!(html.contains("1.5 KiB"), "{html}");
    }
}
