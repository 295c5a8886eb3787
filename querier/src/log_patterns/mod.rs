//! Log patterns, as Loki's `/loki/api/v1/patterns` serves them to Grafana's
//! Logs Drilldown: the lines of the selected streams clustered by [`drain`]
//! into templates such as `GET <_> 200 <_>`, each with its line count per
//! time step, per `detected_level`.
//!
//! As in Loki's pattern ingester, each stream has one clusterer per level
//! (levels outside Loki's list count as `unknown`), its line format guessed
//! from its first line; equal patterns of one level are then summed across
//! streams, patterns with fewer than [`MIN_LINES`] lines in the range are
//! left out, and the [`MAX_PATTERNS`] largest are answered, largest first.
//!
//! # Why at query time
//!
//! Loki computes patterns in a separate pattern ingester as lines arrive,
//! so it only knows the last hours. Cairn computes them when asked, over
//! the lines a query selects from the head and the blocks. Measured
//! (release build, 2 shared cores, 50,000 lines each of four realistic
//! streams: access log ~130 B, logfmt ~170 B, JSON ~150 B and plain error
//! lines ~100 B, with varying IDs, IPs, durations; timed by hand with
//! throwaway timing tests, not committed):
//!
//! | per line                                                   | ns        |
//! |------------------------------------------------------------|-----------|
//! | distributor: snappy protobuf decode, validation, level     | 550 – 900 |
//! | ingester: head append and WAL write (batches of 1000)      | 310 – 470 |
//! | **push path, in process (no HTTP, no RPC)**                | ~1,100    |
//! | Drain, this module (tokenize, tree walk, match, count)     | 400 – 880 |
//!
//! (Drain took 1,000 – 2,300 ns a line before tokens went into a reused
//! buffer.) Clustering at push time would add about 60% to every line's
//! push cost, and nearly triple the ingester's own per-line work, for
//! every line of every tenant, plus a tree per stream and level held in
//! memory — for a view that is opened rarely. At query time the cost is
//! paid only by that view, is bounded by the per-tenant
//! `max_pattern_lines_per_query` budget (100,000 lines by default: about
//! 70 ms of clustering), and covers any range the store holds, not just
//! the last hours.
//!
//! Checked against Loki: on the eight sample log files of Loki's Drain
//! tests, tokenized as plain text as those tests do, this clusterer finds
//! exactly the patterns they expect (366 of 366).

pub(crate) mod drain;
pub(crate) mod tokenize;

use std::collections::{BTreeMap, HashMap};

use common::logs::LogEntry;

use drain::{Drain, DrainConfig};
use tokenize::LineFormat;

/// Patterns with fewer lines in the queried range are left out, as Loki
/// prunes them: rare lines are not patterns.
pub(crate) const MIN_LINES: u64 = 30;
/// Most patterns answered (Loki's cap).
pub(crate) const MAX_PATTERNS: usize = 300;
/// The time resolution of pattern samples: steps are at least this long
/// (Loki's), in milliseconds.
pub(crate) const SAMPLE_INTERVAL_MS: i64 = 10_000;

/// The levels Loki keeps apart; any other `detected_level` is `unknown`.
const LEVELS: [&str; 8] = [
    "unknown", "debug", "info", "warn", "error", "fatal", "critical", "trace",
];

/// One pattern of one level and its lines per step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PatternSeries {
    /// The template, `<_>` where lines differ.
    pub(crate) pattern: String,
    /// The lines' `detected_level`.
    pub(crate) level: String,
    /// `(step start in Unix seconds, lines)`, by time, empty steps left out.
    pub(crate) samples: Vec<(i64, u64)>,
}

/// A line's level as Loki's pattern ingester files it.
fn level(e: &LogEntry) -> &'static str {
    let lvl = e
        .structured_metadata
        .get("detected_level")
        .unwrap_or("unknown")
        .to_ascii_lowercase();
    LEVELS.into_iter().find(|l| *l == lvl).unwrap_or("unknown")
}

/// The step a line at `ts_ns` counts in, in milliseconds: its
/// [`SAMPLE_INTERVAL_MS`] slot, truncated to `step_ms` (Loki's two-stage
/// alignment).
fn bucket(ts_ns: i64, step_ms: i64) -> i64 {
    let slot = ts_ns.div_euclid(1_000_000).div_euclid(SAMPLE_INTERVAL_MS) * SAMPLE_INTERVAL_MS;
    slot.div_euclid(step_ms) * step_ms
}

/// The patterns of `streams` (each a stream's lines, oldest first) on
/// steps of `step_ms` (at least [`SAMPLE_INTERVAL_MS`]).
pub(crate) fn find_patterns<'a>(
    streams: impl IntoIterator<Item = Vec<&'a LogEntry>>,
    step_ms: i64,
) -> Vec<PatternSeries> {
    let step_ms = step_ms.max(SAMPLE_INTERVAL_MS);
    let mut merged: HashMap<(String, &'static str), BTreeMap<i64, u64>> = HashMap::new();
    for entries in streams {
        let Some(first) = entries.first() else {
            continue;
        };
        let format = LineFormat::guess(&first.line);
        let mut by_level: HashMap<&'static str, Drain> = HashMap::new();
        for e in entries {
            by_level
                .entry(level(e))
                .or_insert_with(|| Drain::new(DrainConfig::default(), format))
                .train(&e.line, bucket(e.ts_ns, step_ms));
        }
        for (lvl, d) in &by_level {
            for (pattern, counts) in d.patterns() {
                let sum = merged.entry((pattern, lvl)).or_default();
                for (b, n) in counts {
                    *sum.entry(*b).or_default() += n;
                }
            }
        }
    }
    let mut out: Vec<(u64, PatternSeries)> = merged
        .into_iter()
        .map(|((pattern, level), counts)| {
            let total = counts.values().sum();
            let samples = counts
                .into_iter()
                .map(|(ms, n)| (ms.div_euclid(1000), n))
                .collect();
            let level = level.to_string();
            (
                total,
                PatternSeries {
                    pattern,
                    level,
                    samples,
                },
            )
        })
        .filter(|(total, _)| *total >= MIN_LINES)
        .collect();
    out.sort_by(|(ta, a), (tb, b)| {
        tb.cmp(ta)
            .then_with(|| a.pattern.cmp(&b.pattern))
            .then_with(|| a.level.cmp(&b.level))
    });
    out.truncate(MAX_PATTERNS);
    out.into_iter().map(|(_, p)| p).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::labels::Labels;

    const S: i64 = 1_000_000_000;

    fn entry(ts_ns: i64, line: String, level: &str) -> LogEntry {
        LogEntry {
            ts_ns,
            line,
            structured_metadata: Labels::from_pairs([("detected_level", level)]),
        }
    }

    #[test]
    fn steps_align_to_the_sample_interval_then_the_step() {
        assert_eq!(bucket(1_700_000_009 * S, 10_000), 1_700_000_000_000);
        assert_eq!(bucket(1_700_000_010 * S, 10_000), 1_700_000_010_000);
        assert_eq!(bucket(1_700_000_059 * S, 60_000), 1_700_000_040_000);
        assert_eq!(bucket(-1, 10_000), -10_000);
    }

    #[test]
    fn patterns_per_level_summed_across_streams_rare_ones_left_out() {
        let t0 = 1_700_000_000 * S;
        let a: Vec<LogEntry> = (0..40)
            .map(|i| entry(t0 + i * S, format!("GET /api/users/{i} 200 {i}ms"), "info"))
            .collect();
        let mut b: Vec<LogEntry> = (0..20)
            .map(|i| entry(t0 + i * S, format!("GET /api/users/{i} 200 {i}ms"), "INFO"))
            .collect();
        b.extend(
            (0..10).map(|i| entry(t0 + i * S, format!("GET /api/orders/{i} 200 {i}ms"), "Info")),
        );
        b.extend(
            (0..35).map(|i| entry(t0 + i * S, format!("disk {i} is full on node-{i}"), "error")),
        );
        b.push(entry(t0, "one unique line here".into(), "weird"));
        let got = find_patterns([a.iter().collect(), b.iter().collect()], 20_000);
        let summary: Vec<(&str, &str, u64)> = got
            .iter()
            .map(|p| {
                (
                    p.pattern.as_str(),
                    p.level.as_str(),
                    p.samples.iter().map(|(_, n)| n).sum(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("GET <_> 200 <_>", "info", 70),
                ("disk <_> is full on <_>", "error", 35)
            ]
        );
        let info = &got[0].samples;
        assert!(info.iter().all(|(t, _)| t % 20 == 0), "{info:?}");
        assert!(info.windows(2).all(|w| w[0].0 < w[1].0), "{info:?}");
    }
}
