//! When a group is evaluated, the way Prometheus schedules it: every
//! `interval`, shifted by an offset derived from the group's identity so
//! groups spread over the interval instead of all running at once, and the
//! same group always lands on the same timestamps (also across restarts
//! and replicas).

use xxhash_rust::xxh64::xxh64;

/// The group's offset within its interval (ns): Prometheus's
/// `labels{file=…, name=…}.Hash() % interval`.
pub fn offset_ns(file: &str, name: &str, interval_ns: i64) -> i64 {
    if interval_ns <= 0 {
        return 0;
    }
    let mut b = Vec::with_capacity(file.len() + name.len() + 12);
    for (k, v) in [("file", file), ("name", name)] {
        b.extend_from_slice(k.as_bytes());
        b.push(0xff);
        b.extend_from_slice(v.as_bytes());
        b.push(0xff);
    }
    (xxh64(&b, 0) % interval_ns as u64) as i64
}

/// The first evaluation time strictly after `now_ns` on the group's grid
/// `offset + k·interval`.
pub fn next_eval_ns(now_ns: i64, offset_ns: i64, interval_ns: i64) -> i64 {
    let adj = now_ns - offset_ns;
    adj - adj.rem_euclid(interval_ns) + offset_ns + interval_ns
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;

    #[test]
    fn evaluations_sit_on_the_groups_grid() {
        let interval = 60 * S;
        let off = offset_ns("ns", "group", interval);
        assert!((0..interval).contains(&off));
        assert_eq!(off, offset_ns("ns", "group", interval), "stable");
        assert_ne!(off, offset_ns("ns", "other", interval), "groups spread");
        let now = 1_700_000_000 * S + 123;
        let t = next_eval_ns(now, off, interval);
        assert!(t > now && t - now <= interval);
        assert_eq!((t - off).rem_euclid(interval), 0);
        // Exactly on the grid: the next one, one interval later.
        assert_eq!(next_eval_ns(t, off, interval), t + interval);
    }

    #[test]
    fn offset_is_prometheus_label_hash() {
        // labels.FromStrings("file", "f", "name", "n").Hash() in Prometheus
        // is xxhash64 of "file\xfff\xffname\xffn\xff".
        let want = xxh64(b"file\xfff\xffname\xffn\xff", 0) % 1000;
        assert_eq!(offset_ns("f", "n", 1000), want as i64);
    }
}
