//! Which blocks to merge: signal-agnostic, on time spans alone.
//!
//! Each configured range `R` cuts time into aligned windows
//! `[k·R, (k+1)·R)`. Going from the largest range down, every block not yet
//! placed that fits entirely inside a *complete* window of `R` (one whose
//! end is before `complete_before`) is placed there; windows holding two or
//! more blocks become jobs. So a block goes straight into the largest
//! finished window that can hold it (one merge instead of one per level),
//! and blocks in unfinished windows wait, never half-compacted. A window
//! left with one block is already compact. Blocks fitting no window (wider
//! than the largest range, or straddling a boundary of every range) are
//! left alone.

use std::collections::BTreeMap;

/// A block's time span: `[min_time, max_time)` in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// Oldest sample (inclusive).
    pub min_time: i64,
    /// Newest sample plus one (exclusive).
    pub max_time: i64,
}

/// One merge to run: the blocks (indexes into the planner's input) that
/// together fill the window `[start, end)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// Window start (inclusive), milliseconds.
    pub start: i64,
    /// Window end (exclusive), milliseconds.
    pub end: i64,
    /// Input positions of the blocks to merge, ascending.
    pub blocks: Vec<usize>,
}

/// Plans merges of `spans` into windows of `ranges_ms` (any order,
/// non-positive ones ignored); only windows ending at or before
/// `complete_before` are used.
pub fn plan(spans: &[Span], ranges_ms: &[i64], complete_before: i64) -> Vec<Job> {
    let mut ranges: Vec<i64> = ranges_ms.iter().copied().filter(|&r| r > 0).collect();
    ranges.sort_unstable_by(|a, b| b.cmp(a));
    ranges.dedup();
    let mut placed = vec![false; spans.len()];
    let mut jobs = Vec::new();
    for range in ranges {
        let mut windows: BTreeMap<i64, Vec<usize>> = BTreeMap::new();
        for (i, s) in spans.iter().enumerate() {
            if placed[i] || s.max_time < s.min_time {
                continue;
            }
            let start = s.min_time.div_euclid(range).saturating_mul(range);
            let end = start.saturating_add(range);
            if s.max_time <= end && end <= complete_before {
                windows.entry(start).or_default().push(i);
            }
        }
        for (start, blocks) in windows {
            for &i in &blocks {
                placed[i] = true;
            }
            if blocks.len() >= 2 {
                jobs.push(Job {
                    start,
                    end: start.saturating_add(range),
                    blocks,
                });
            }
        }
    }
    jobs.sort_by_key(|j| j.start);
    jobs
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000;

    fn span(from_h: i64, to_h: i64) -> Span {
        Span {
            min_time: from_h * H,
            max_time: to_h * H,
        }
    }

    #[test]
    fn replicas_in_a_finished_window_merge_and_unfinished_ones_wait() {
        // Three replicas of [0,2h) and of [2h,4h); it is now 5h.
        let spans: Vec<Span> = (0..3).flat_map(|_| [span(0, 2), span(2, 4)]).collect();
        let jobs = plan(&spans, &[2 * H, 12 * H, 24 * H], 5 * H);
        assert_eq!(
            jobs,
            vec![
                Job {
                    start: 0,
                    end: 2 * H,
                    blocks: vec![0, 2, 4]
                },
                Job {
                    start: 2 * H,
                    end: 4 * H,
                    blocks: vec![1, 3, 5]
                },
            ]
        );
        // At 3h the second window is not finished yet.
        let jobs = plan(&spans, &[2 * H, 12 * H, 24 * H], 3 * H);
        assert_eq!(jobs.len(), 1);
        // A day later everything goes straight into the 24h window.
        let jobs = plan(&spans, &[2 * H, 12 * H, 24 * H], 30 * H);
        assert_eq!(
            jobs,
            vec![Job {
                start: 0,
                end: 24 * H,
                blocks: (0..6).collect()
            }]
        );
    }

    #[test]
    fn single_blocks_and_misfits_are_left_alone() {
        // A compacted 12h block alone; a block straddling 12h fits only 24h.
        let spans = [span(0, 12), span(11, 13)];
        assert!(plan(&spans, &[2 * H, 12 * H], 100 * H).is_empty());
        let jobs = plan(&spans, &[2 * H, 12 * H, 24 * H], 100 * H);
        assert_eq!(
            jobs,
            vec![Job {
                start: 0,
                end: 24 * H,
                blocks: vec![0, 1]
            }]
        );
    }
}
