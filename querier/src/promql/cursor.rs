//! Where each series was read last, so the next step's read starts there.
//!
//! A range query evaluates its expression at every step, and every step
//! finds, in every selected series, the samples at or before some time.
//! A binary search per series per step touches a dozen cache lines spread
//! over all the series' samples; over thousands of series that is most of a
//! query's time, spent waiting for memory. Steps move forward, so the place
//! found last time is a good start: a short forward scan from it touches
//! one or two lines. A hint that does not fit (an earlier time, in a
//! subquery or under `@`) falls back to the binary search.

use std::cell::RefCell;
use std::collections::HashMap;

use common::series::Sample as Point;

/// How far a forward scan goes before it falls back to a binary search.
const MAX_SCAN: usize = 16;

/// `samples.partition_point(|p| p.t <= t)`, starting the search at `hint`.
pub(crate) fn seek(samples: &[Point], t: i64, hint: usize) -> usize {
    let hint = hint.min(samples.len());
    if hint > 0 && samples[hint - 1].t > t {
        return samples[..hint].partition_point(|p| p.t <= t);
    }
    let limit = (hint + MAX_SCAN).min(samples.len());
    let mut i = hint;
    while i < limit && samples[i].t <= t {
        i += 1;
    }
    if i < limit || i == samples.len() {
        return i;
    }
    i + samples[i..].partition_point(|p| p.t <= t)
}

/// Per selector and use, the last position found in each of its series.
#[derive(Default)]
pub(crate) struct Cursors(RefCell<HashMap<(String, u8), Vec<usize>>>);

impl Cursors {
    /// Runs `f` with the hints of the selector `key` (one per series, `n`
    /// series) for the use `slot` (a selector may seek several times per
    /// step, e.g. a range's start and its end). `f` must not use `self`.
    pub(crate) fn with<R>(
        &self,
        key: &str,
        slot: u8,
        n: usize,
        f: impl FnOnce(&mut [usize]) -> R,
    ) -> R {
        let mut all = self.0.borrow_mut();
        let hints = all
            .entry((key.to_string(), slot))
            .or_insert_with(|| vec![0; n]);
        hints.resize(n, 0);
        f(hints)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seek_agrees_with_partition_point_from_any_hint() {
        let samples: Vec<Point> = (0..100).map(|i| Point { t: i * 10, v: 0.0 }).collect();
        for t in [-5, 0, 5, 10, 155, 990, 1000, 2000] {
            let want = samples.partition_point(|p| p.t <= t);
            for hint in [0, 1, 10, 15, 50, 99, 100, 500] {
                assert_eq!(seek(&samples, t, hint), want, "t={t} hint={hint}");
            }
        }
    }
}
