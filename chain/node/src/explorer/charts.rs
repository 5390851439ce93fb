//! Server-side SVG bar charts: one bar per block, scaled to the largest,
//! each with its exact value in a tooltip. No scripts.

use maud::{html, Markup};

const WIDTH: u64 = 600;
const HEIGHT: u64 = 120;
/// Room under the bars for the first and last heights.
const AXIS: u64 = 14;

/// One bar: the block height it belongs to and its value.
pub(super) struct Bar {
    pub height: u64,
    pub value: u64,
}

/// A bar chart of `bars` (oldest first); `label` renders a value in human
/// units for the tooltip and the scale; `unit` names the exact integer.
pub(super) fn bar_chart(title: &str, bars: &[Bar], label: fn(u64) -> String, unit: &str) -> Markup {
    let max = bars.iter().map(|bar| bar.value).max().unwrap_or(0);
    let count = u64::try_from(bars.len()).unwrap_or(u64::MAX).max(1);
    let slot = WIDTH / count;
    let bar_width = slot.saturating_sub(1).max(1);
    let plot = HEIGHT - AXIS;
    html! {
        figure.chart {
            figcaption { (title) " — max " (label(max)) }
            svg xmlns="http://www.w3.org/2000/svg" viewBox={ "0 0 " (WIDTH) " " (HEIGHT) }
                role="img" aria-label=(title) {
                line x1="0" y1=(plot) x2=(WIDTH) y2=(plot) class="axis" {}
                @for (i, bar) in bars.iter().enumerate() {
                    @let x = u64::try_from(i).unwrap_or(0) * slot;
                    @let h = scaled(bar.value, max, plot);
                    rect x=(x) y=(plot - h) width=(bar_width) height=(h) {
                        title { "block " (bar.height) ": " (label(bar.value)) " (" (bar.value) " " (unit) ")" }
                    }
                }
                @if let (Some(first), Some(last)) = (bars.first(), bars.last()) {
                    text x="0" y=(HEIGHT - 2) { (first.height) }
                    text x=(WIDTH) y=(HEIGHT - 2) text-anchor="end" { (last.height) }
                }
            }
        }
    }
}

/// The bar's height in pixels: a nonzero value is at least one pixel.
fn scaled(value: u64, max: u64, plot: u64) -> u64 {
    if max == 0 || value == 0 {
        return 0;
    }
    let pixels = u128::from(value) * u128::from(plot) / u128::from(max);
    u64::try_from(pixels).unwrap_or(plot).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_largest() {
        assert_eq!(scaled(0, 10, 100), 0);
        assert_eq!(scaled(1, 1_000_000, 100), 1);
        assert_eq!(scaled(10, 10, 100), 100);
        assert_eq!(scaled(u64::MAX, u64::MAX, 100), 100);
        let svg = bar_chart(
            "t",
            &[
                Bar {
                    height: 1,
                    value: 5,
                },
                Bar {
                    height: 2,
                    value: 10,
                },
            ],
            |v| v.to_string(),
            "bytes",
        )
        .into_string();
        assert_eq!(svg.matches("<rect").count(), 2);
        assert!(svg.contains("block 2: 10 (10 bytes)"), "{svg}");
    }
}
