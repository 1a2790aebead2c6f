//! The report's daily volume by sentiment as inline SVG: a stacked bar per day, drawn on
//! the server (no script, no external image). Only numbers and catalogue words go in.

use std::fmt::Write;

use vigie_core::reports::DayFigures;

use super::Chrome;

const HEIGHT: f64 = 160.0;
const BAR: f64 = 14.0;
const GAP: f64 = 4.0;
const LEFT: f64 = 36.0;
const BOTTOM: f64 = 22.0;

/// The chart, an `<svg role="img">` titled for screen readers.
pub fn stacked_bars(c: &Chrome, days: &[DayFigures]) -> String {
    let max = days.iter().map(|d| d.volume).max().unwrap_or(0).max(1);
    let width = LEFT + days.len() as f64 * (BAR + GAP) + GAP;
    let total = HEIGHT + BOTTOM;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg class="chart" role="img" aria-labelledby="chart-title" viewBox="0 0 {width:.0} {total:.0}" width="{width:.0}" height="{total:.0}" xmlns="http://www.w3.org/2000/svg"><title id="chart-title">{}</title>"#,
        c.t("daily_volume")
    );
    let _ = write!(
        s,
        r#"<line class="axis" x1="{LEFT}" y1="{HEIGHT}" x2="{width:.0}" y2="{HEIGHT}"/><text class="tick" x="{x:.0}" y="12" text-anchor="end">{max}</text><text class="tick" x="{x:.0}" y="{HEIGHT}" text-anchor="end">0</text>"#,
        x = LEFT - 4.0
    );
    for (i, d) in days.iter().enumerate() {
        let x = LEFT + GAP + i as f64 * (BAR + GAP);
        let mut y = HEIGHT;
        let parts = [
            ("negative", d.sentiment.negative),
            ("neutral", d.sentiment.neutral),
            ("positive", d.sentiment.positive),
            ("unknown", d.sentiment.unknown),
        ];
        let _ = write!(
            s,
            r#"<g class="day{}">"#,
            if d.spike { " spike" } else { "" }
        );
        let _ = write!(
            s,
            "<title>{}: {} ({} {}, {} {}, {} {})</title>",
            d.day,
            d.volume,
            d.sentiment.negative,
            c.t("negative"),
            d.sentiment.neutral,
            c.t("neutral"),
            d.sentiment.positive,
            c.t("positive")
        );
        for (class, n) in parts {
            if n == 0 {
                continue;
            }
            let h = f64::from(n) / f64::from(max) * (HEIGHT - 14.0);
            y -= h;
            let _ = write!(
                s,
                r#"<rect class="{class}" x="{x:.1}" y="{y:.1}" width="{BAR}" height="{h:.1}"/>"#
            );
        }
        s.push_str("</g>");
        if i == 0 || i + 1 == days.len() || i % 7 == 0 {
            let label = d.day.to_string();
            let _ = write!(
                s,
                r#"<text class="tick" x="{:.1}" y="{:.0}" text-anchor="middle">{}</text>"#,
                x + BAR / 2.0,
                HEIGHT + 16.0,
                label.get(5..).unwrap_or(&label)
            );
        }
    }
    s.push_str("</svg>");
    s
}
