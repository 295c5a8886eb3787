//! Per-tenant retention: whole blocks whose newest sample is older than
//! the tenant's retention period are marked for deletion. Signal-agnostic:
//! it looks at time spans only.

use std::time::Duration;

use crate::planner::Span;

/// Positions of the `spans` entirely older than `now_ms - retention`;
/// none when `retention` is zero (keep forever).
pub fn expired(spans: &[Span], retention: Duration, now_ms: i64) -> Vec<usize> {
    if retention.is_zero() {
        return Vec::new();
    }
    let cutoff = now_ms.saturating_sub(i64::try_from(retention.as_millis()).unwrap_or(i64::MAX));
    spans
        .iter()
        .enumerate()
        .filter(|(_, s)| s.max_time <= cutoff)
        .map(|(i, _)| i)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_blocks_wholly_past_retention_expire() {
        let spans = [
            Span {
                min_time: 0,
                max_time: 1_000,
            },
            Span {
                min_time: 1_000,
                max_time: 5_000,
            },
        ];
        assert_eq!(expired(&spans, Duration::from_secs(5), 7_000), vec![0]);
        assert_eq!(expired(&spans, Duration::from_secs(1), 7_000), vec![0, 1]);
        assert!(expired(&spans, Duration::ZERO, i64::MAX).is_empty());
    }
}
