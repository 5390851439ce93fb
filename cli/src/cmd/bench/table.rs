//! The report of `bwchain bench` as a two-column table.

use bwchain_node::bench::BenchReport;

/// Prints one `name  value` row per measurement.
pub fn print(r: &BenchReport) {
    let rows: Vec<(&str, String)> = vec![
        (
            "raw batch verify, all cores",
            format!(
                "{:.0} signatures/s ({} cores)",
                r.raw_batch_verify_per_sec, r.cores
            ),
        ),
        (
            "raw sled batch writes",
            format!("{:.0} writes/s (1 thread)", r.raw_sled_writes_per_sec),
        ),
        ("receipts per claim", r.receipts_per_claim.to_string()),
        ("devices", r.devices.to_string()),
        (
            "claims / receipts included",
            format!("{} / {}", r.claims, r.receipts),
        ),
        (
            "signatures per receipt",
            format!("{:.3}", r.signatures_per_receipt),
        ),
        (
            "state writes per receipt",
            format!("{:.2}", r.state_writes_per_receipt),
        ),
        (
            "verify bound",
            format!("{:.0} receipts/s", r.verify_bound_receipts_per_sec),
        ),
        (
            "included",
            format!(
                "{:.0} receipts/s in {:.1} s, {} blocks",
                r.receipts_per_sec, r.seconds, r.blocks
            ),
        ),
        (
            "ratio to verify bound",
            format!("{:.3}", r.ratio_to_verify_bound),
        ),
        (
            "submission to inclusion",
            format!(
                "p50 {:.0} ms, p99 {:.0} ms",
                r.latency_p50_ms, r.latency_p99_ms
            ),
        ),
        (
            "offered load",
            r.offered_receipts_per_s
                .map_or("as fast as possible".into(), |rate| {
                    format!("{rate:.0} receipts/s")
                }),
        ),
        ("block time", format!("{} ms", r.block_time_ms)),
        (
            "node peak RSS",
            format!("{:.0} MiB", r.node_peak_rss_bytes as f64 / 1048576.0),
        ),
        (
            "node CPU under load",
            format!("{:.1} s", r.node_cpu_seconds),
        ),
        (
            "generator peak RSS",
            format!("{:.0} MiB", r.generator_peak_rss_bytes as f64 / 1048576.0),
        ),
        (
            "disk per receipt",
            format!("{:.0} bytes", r.disk_bytes_per_receipt),
        ),
        ("audit", r.audit.clone()),
    ];
    let width = rows.iter().map(|(name, _)| name.len()).max().unwrap_or(0);
    for (name, value) in rows {
        println!("{name:width$}  {value}");
    }
}
