//! Span timing checks, the traces counterpart of the sample and log-line
//! time window: a span that ends before it starts, lasts longer than
//! `max_span_duration`, ended longer ago than `max_span_age` or starts or
//! ends beyond `creation_grace_period` in the future is refused, so no
//! block gets a time range reaching 1970 or the year 2500 that every search
//! would then open.

use std::time::Duration;

use common::discard::DiscardReason;
use common::limits::Limits;
use common::traces::{Span, SpanRejection};

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Keeps the spans whose times `limits` accept, judged at `now_ns`, and
/// adds one rejection per refused span to `rejected`.
pub(crate) fn check_times(
    spans: Vec<Span>,
    limits: &Limits,
    now_ns: u64,
    rejected: &mut Vec<SpanRejection>,
) -> Vec<Span> {
    let newest = now_ns.saturating_add(nanos(limits.creation_grace_period));
    let oldest =
        (!limits.max_span_age.is_zero()).then(|| now_ns.saturating_sub(nanos(limits.max_span_age)));
    let longest = (!limits.max_span_duration.is_zero()).then(|| nanos(limits.max_span_duration));
    spans
        .into_iter()
        .filter(|s| {
            let (start, end) = (s.start_unix_nano, s.end_unix_nano);
            let problem = if end < start {
                Some((
                    DiscardReason::SpanEndBeforeStart,
                    format!("span ends ({end} ns) before it starts ({start} ns)"),
                ))
            } else if end > newest {
                Some((
                    DiscardReason::SpanTooFarInFuture,
                    format!(
                        "span ends at {end} ns, too far in the future (limit: {:?} ahead of now)",
                        limits.creation_grace_period
                    ),
                ))
            } else if oldest.is_some_and(|o| end < o) {
                Some((
                    DiscardReason::SpanTooOld,
                    format!(
                        "span ended at {end} ns, too long ago (limit: {:?} before now)",
                        limits.max_span_age
                    ),
                ))
            } else if longest.is_some_and(|l| end - start > l) {
                Some((
                    DiscardReason::SpanTooLong,
                    format!(
                        "span lasts {:?} (limit: {:?})",
                        Duration::from_nanos(end - start),
                        limits.max_span_duration
                    ),
                ))
            } else {
                None
            };
            match problem {
                Some((reason, detail)) => {
                    rejected.push(SpanRejection {
                        reason,
                        trace_id: s.trace_id,
                        spans: 1,
                        detail,
                    });
                    false
                }
                None => true,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::traces::tests::span_at;

    const NOW: u64 = 1_800_000_000_000_000_000;
    const S: u64 = 1_000_000_000;

    fn reasons(spans: Vec<Span>) -> (usize, Vec<DiscardReason>) {
        let mut rejected = Vec::new();
        let kept = check_times(spans, &Limits::default(), NOW, &mut rejected);
        (kept.len(), rejected.into_iter().map(|r| r.reason).collect())
    }

    #[test]
    fn spans_outside_the_time_window_are_refused_with_their_reason() {
        use DiscardReason::*;
        let cases = [
            (NOW - S, NOW, None),
            (NOW, NOW - 1, Some(SpanEndBeforeStart)),
            (0, u64::MAX, Some(SpanTooFarInFuture)),
            (NOW, NOW + 11 * 60 * S, Some(SpanTooFarInFuture)),
            (NOW + 9 * 60 * S, NOW + 9 * 60 * S, None),
            (1, 2, Some(SpanTooOld)),
            (0, NOW, Some(SpanTooLong)),
            (NOW - 25 * 3600 * S, NOW, Some(SpanTooLong)),
            (NOW - 23 * 3600 * S, NOW, None),
        ];
        for (start, end, want) in cases {
            let (kept, got) = reasons(vec![span_at(start, end)]);
            assert_eq!(got.first().copied(), want, "{start}..{end}");
            assert_eq!(kept, usize::from(want.is_none()), "{start}..{end}");
        }
    }

    #[test]
    fn zero_limits_disable_the_age_and_duration_checks() {
        let limits = Limits {
            max_span_age: Duration::ZERO,
            max_span_duration: Duration::ZERO,
            ..Limits::default()
        };
        let mut rejected = Vec::new();
        let kept = check_times(vec![span_at(0, NOW)], &limits, NOW, &mut rejected);
        assert_eq!((kept.len(), rejected.len()), (1, 0));
    }

    #[test]
    fn messages_name_the_limit() {
        let mut rejected = Vec::new();
        check_times(vec![span_at(1, 2)], &Limits::default(), NOW, &mut rejected);
        assert_eq!(rejected[0].reason.limit_name(), Some("max_span_age"));
        assert!(
            rejected[0].detail.contains("too long ago"),
            "{}",
            rejected[0].detail
        );
    }
}
