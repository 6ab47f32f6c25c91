//! The usage chart of the key page: verifications per day by outcome,
//! drawn on the server as SVG (no script, no external library), with a
//! table of the same figures for screen readers and for exact numbers.

use crate::api::usage::UsageBucket;
use keyward_core::policy::Code;
use std::collections::BTreeMap;
use std::fmt::Write;

const WIDTH: f64 = 600.0;
const HEIGHT: f64 = 160.0;
const LEFT: f64 = 40.0;
const BOTTOM: f64 = 20.0;

/// The outcome's CSS class: valid, throttled (rate limit, quota) or refused.
fn class(code: Code) -> &'static str {
    match code {
        Code::Valid => "valid",
        Code::RateLimited | Code::UsageExceeded => "throttled",
        _ => "refused",
    }
}

/// The SVG of `data` (daily buckets, oldest first), and the totals by
/// outcome code.
pub fn usage_chart(data: &[UsageBucket]) -> (String, Vec<(String, u64)>) {
    let max = data.iter().map(|b| b.total).max().unwrap_or(0).max(1);
    let days = data.len().max(1);
    let slot = (WIDTH - LEFT) / days as f64;
    let bar = (slot * 0.8).max(1.0);
    let plot = HEIGHT - BOTTOM;
    let mut svg = String::new();
    let total: u64 = data.iter().map(|b| b.total).sum();
    let _ = write!(
        svg,
        r#"<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="chart-title"><title id="chart-title">Verifications per day over the last {days} days: {total} in all</title>"#
    );
    let _ = write!(
        svg,
        r#"<line class="axis" x1="{LEFT}" y1="{plot}" x2="{WIDTH}" y2="{plot}"/><text class="label" x="{x}" y="12" text-anchor="end">{max}</text><text class="label" x="{x}" y="{plot}" text-anchor="end">0</text>"#,
        x = LEFT - 4.0
    );
    let mut totals: BTreeMap<Code, u64> = BTreeMap::new();
    for (i, bucket) in data.iter().enumerate() {
        let x = LEFT + i as f64 * slot + (slot - bar) / 2.0;
        let mut y = plot;
        // Valid at the bottom, then throttled, then refused.
        let mut stacks: Vec<(&'static str, u64)> = Vec::new();
        for (code, count) in &bucket.counts {
            *totals.entry(*code).or_default() += count;
            let class = class(*code);
            match stacks.iter_mut().find(|(c, _)| *c == class) {
                Some((_, n)) => *n += count,
                None => stacks.push((class, *count)),
            }
        }
        stacks.sort_by_key(|(c, _)| match *c {
            "valid" => 0,
            "throttled" => 1,
            _ => 2,
        });
        let day = bucket.start.format("%Y-%m-%d");
        for (class, count) in stacks {
            let h = count as f64 / max as f64 * (plot - 12.0);
            y -= h;
            let _ = write!(
                svg,
                r#"<rect class="{class}" x="{x:.1}" y="{y:.1}" width="{bar:.1}" height="{h:.1}"><title>{day}: {count} {class}</title></rect>"#
            );
        }
        if i == 0 || i + 1 == data.len() {
            let anchor = if i == 0 { "start" } else { "end" };
            let tx = if i == 0 { x } else { x + bar };
            let _ = write!(
                svg,
                r#"<text class="label" x="{tx:.1}" y="{HEIGHT}" text-anchor="{anchor}">{day}</text>"#
            );
        }
    }
    svg.push_str("</svg>");
    let totals = totals
        .into_iter()
        .map(|(code, n)| (code.as_str().to_owned(), n))
        .collect();
    (svg, totals)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    #[test]
    fn bars_stack_by_outcome_and_totals_add_up() {
        let day = |d| Utc.with_ymd_and_hms(2026, 11, d, 0, 0, 0).unwrap();
        let data = vec![
            UsageBucket {
                start: day(1),
                counts: BTreeMap::from([(Code::Valid, 3), (Code::RateLimited, 1)]),
                total: 4,
            },
            UsageBucket {
                start: day(2),
                counts: BTreeMap::new(),
                total: 0,
            },
            UsageBucket {
                start: day(3),
                counts: BTreeMap::from([(Code::Revoked, 2)]),
                total: 2,
            },
        ];
        let (svg, totals) = usage_chart(&data);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert_eq!(svg.matches("<rect").count(), 3);
        assert!(svg.contains("2026-11-01: 3 valid"));
        assert!(svg.contains("2026-11-03: 2 refused"));
        assert!(svg.contains("6 in all"));
        assert_eq!(
            totals,
            vec![
                ("VALID".to_owned(), 3),
                ("REVOKED".to_owned(), 2),
                ("RATE_LIMITED".to_owned(), 1),
            ]
        );
    }
}
