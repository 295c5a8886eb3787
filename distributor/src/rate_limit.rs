//! Per-tenant ingestion rate limiting: one token bucket per tenant.
//!
//! A bucket refills at the tenant's `ingestion_rate` divided by the number of
//! healthy distributors (each enforces its share of the global rate) and holds
//! at most `ingestion_burst_size` samples. Both are read from the overrides on
//! every request, so a runtime change applies without a restart. Buckets live
//! in a sharded map: requests of different tenants do not contend.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use common::discard::DiscardReason;
use common::limits::Limits;
use common::tenant::TenantId;
use dashmap::DashMap;

/// A request refused whole because its tenant is over its ingestion rate.
#[derive(Debug, Clone, PartialEq)]
pub struct RateLimitExceeded {
    /// The tenant.
    pub tenant: TenantId,
    /// The tenant's `ingestion_rate`, samples/s (global, before the split).
    pub rate: f64,
    /// The tenant's `ingestion_burst_size`, samples.
    pub burst: u64,
    /// How many distributors share `rate`.
    pub distributors: usize,
    /// Samples in the refused request.
    pub samples: usize,
}

impl fmt::Display for RateLimitExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: tenant {:?} exceeded its ingestion rate limit (ingestion_rate) of {} samples/s",
            DiscardReason::RateLimited,
            self.tenant.as_str(),
            self.rate
        )?;
        if self.distributors > 1 {
            write!(f, " (split across {} distributors)", self.distributors)?;
        }
        write!(
            f,
            " with burst size (ingestion_burst_size) {} exceeded while adding {} samples; \
             raise ingestion_rate / ingestion_burst_size in the runtime overrides",
            self.burst, self.samples
        )
    }
}

impl std::error::Error for RateLimitExceeded {}

/// The token buckets of all tenants seen by this distributor.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    buckets: DashMap<TenantId, Bucket>,
    healthy_distributors: AtomicUsize,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl RateLimiter {
    /// A limiter that assumes it is the only distributor.
    pub(crate) fn new() -> Self {
        Self {
            buckets: DashMap::new(),
            healthy_distributors: AtomicUsize::new(1),
        }
    }

    /// Sets how many healthy distributors share each tenant's rate (min 1).
    pub(crate) fn set_healthy_distributors(&self, n: usize) {
        self.healthy_distributors.store(n.max(1), Ordering::Relaxed);
    }

    /// Takes `samples` tokens from `tenant`'s bucket at time `now`, or
    /// refuses the whole request (taking nothing) when there are too few.
    pub(crate) fn try_acquire(
        &self,
        tenant: &TenantId,
        limits: &Limits,
        samples: usize,
        now: Instant,
    ) -> Result<(), RateLimitExceeded> {
        let rate = limits.ingestion_rate;
        let burst = limits.ingestion_burst_size;
        if self.try_take(tenant, rate, burst, samples, now) {
            return Ok(());
        }
        Err(RateLimitExceeded {
            tenant: tenant.clone(),
            rate,
            burst,
            distributors: self.healthy_distributors(),
            samples,
        })
    }

    /// How many distributors share each tenant's rate.
    pub(crate) fn healthy_distributors(&self) -> usize {
        self.healthy_distributors.load(Ordering::Relaxed)
    }

    /// The token bucket itself: takes `amount` tokens from `tenant`'s bucket
    /// (refilled at `rate`/s split among the healthy distributors, holding
    /// at most `burst`) and says whether there were enough; when not, takes
    /// nothing. Any unit works (samples, bytes): one limiter, one unit.
    pub(crate) fn try_take(
        &self,
        tenant: &TenantId,
        rate: f64,
        burst: u64,
        amount: usize,
        now: Instant,
    ) -> bool {
        let rate = rate.max(0.0) / self.healthy_distributors() as f64;
        let burst = burst as f64;
        let mut bucket = match self.buckets.get_mut(tenant) {
            Some(bucket) => bucket,
            None => self.buckets.entry(tenant.clone()).or_insert(Bucket {
                tokens: burst,
                updated: now,
            }),
        };
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(burst);
        bucket.updated = bucket.updated.max(now);
        let wanted = amount as f64;
        if wanted > bucket.tokens {
            return false;
        }
        bucket.tokens -= wanted;
        true
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn tenant(id: &str) -> TenantId {
        TenantId::parse(id).unwrap()
    }

    fn limits(rate: f64, burst: u64) -> Limits {
        Limits {
            ingestion_rate: rate,
            ingestion_burst_size: burst,
            ..Limits::default()
        }
    }

    #[test]
    fn burst_is_available_at_once_then_refills_at_the_rate() {
        let rl = RateLimiter::new();
        let (a, l, t0) = (tenant("a"), limits(10.0, 100), Instant::now());
        rl.try_acquire(&a, &l, 100, t0).unwrap();
        assert!(rl.try_acquire(&a, &l, 1, t0).is_err());
        rl.try_acquire(&a, &l, 10, t0 + Duration::from_secs(1))
            .unwrap();
        assert!(
            rl.try_acquire(&a, &l, 1, t0 + Duration::from_secs(1))
                .is_err()
        );
    }

    #[test]
    fn refused_request_takes_no_tokens() {
        let rl = RateLimiter::new();
        let (a, l, t0) = (tenant("a"), limits(10.0, 100), Instant::now());
        assert!(rl.try_acquire(&a, &l, 101, t0).is_err());
        rl.try_acquire(&a, &l, 100, t0).unwrap();
    }

    #[test]
    fn tenants_have_their_own_buckets() {
        let rl = RateLimiter::new();
        let (l, t0) = (limits(10.0, 100), Instant::now());
        rl.try_acquire(&tenant("a"), &l, 100, t0).unwrap();
        rl.try_acquire(&tenant("b"), &l, 100, t0).unwrap();
    }

    #[test]
    fn new_limits_apply_to_an_existing_bucket() {
        let rl = RateLimiter::new();
        let (a, t0) = (tenant("a"), Instant::now());
        rl.try_acquire(&a, &limits(10.0, 100), 100, t0).unwrap();
        // Raised rate: one second now refills 1000.
        rl.try_acquire(&a, &limits(1000.0, 1000), 1000, t0 + Duration::from_secs(1))
            .unwrap();
        // Lowered burst caps what had accumulated.
        let t2 = t0 + Duration::from_secs(60);
        assert!(rl.try_acquire(&a, &limits(1000.0, 5), 6, t2).is_err());
        rl.try_acquire(&a, &limits(1000.0, 5), 5, t2).unwrap();
    }

    #[test]
    fn rate_is_split_among_healthy_distributors() {
        let rl = RateLimiter::new();
        rl.set_healthy_distributors(4);
        let (a, l, t0) = (tenant("a"), limits(100.0, 100), Instant::now());
        rl.try_acquire(&a, &l, 100, t0).unwrap();
        let t1 = t0 + Duration::from_secs(1);
        assert!(rl.try_acquire(&a, &l, 26, t1).is_err());
        rl.try_acquire(&a, &l, 25, t1).unwrap();
    }

    #[test]
    fn message_names_the_limits_to_raise() {
        let rl = RateLimiter::new();
        let err = rl
            .try_acquire(&tenant("a"), &limits(10.0, 20), 21, Instant::now())
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "err-cairn-rate-limited: tenant \"a\" exceeded its ingestion rate limit (ingestion_rate) of 10 samples/s \
             with burst size (ingestion_burst_size) 20 exceeded while adding 21 samples; \
             raise ingestion_rate / ingestion_burst_size in the runtime overrides"
        );
    }
}
