//! Placement: which ingesters hold a key (writes), which ones a query must
//! ask (reads), and how much of the token space each one owns.
//!
//! Semantics follow Mimir's ring (dskit `Ring.Get` with the default
//! replication strategy): walking clockwise from the key's token, the first
//! `replication_factor` distinct instances, in distinct zones when zone
//! awareness is on. JOINING and LEAVING instances are walked past (they
//! neither receive the write nor count towards the factor), as dskit extends
//! the replica set past them for writes; unhealthy ACTIVE instances do count,
//! so their keys are not silently moved elsewhere, and the write succeeds
//! while a quorum (`RF/2+1`) of the replicas is healthy.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;

use super::config::RingConfig;
use super::member::{Member, MemberState};
use super::tokens::tokens_for;

/// Why a key or a query cannot be served by the ring; callers answer 503.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RingError {
    /// No ingester has been discovered (or has answered a probe) yet.
    #[error("the ingester ring is empty")]
    Empty,
    /// Fewer healthy replicas than a quorum: the write could not be
    /// acknowledged safely, or a read could miss acknowledged data.
    #[error("too many unhealthy ingesters: {healthy} healthy, {needed} needed")]
    TooManyUnhealthy {
        /// Healthy instances available.
        healthy: usize,
        /// Healthy instances required.
        needed: usize,
    },
    /// With zone awareness, unhealthy ingesters in more zones than the
    /// replication factor tolerates: a read could miss acknowledged data.
    #[error("unhealthy ingesters in {zones} zones, at most {tolerated} tolerated")]
    TooManyUnhealthyZones {
        /// Zones with at least one unhealthy instance.
        zones: usize,
        /// Zones that may have unhealthy instances.
        tolerated: usize,
    },
}

/// The replicas of one key to write to.
#[derive(Debug, Clone)]
pub struct ReplicationSet {
    /// The healthy replicas; the write goes to all of them.
    pub instances: Vec<Arc<Member>>,
    /// How many of them must acknowledge before the write is acknowledged
    /// (`RF/2+1`).
    pub quorum: usize,
}

impl ReplicationSet {
    /// How many of `instances` may fail while the write still succeeds.
    pub fn max_failures(&self) -> usize {
        self.instances.len().saturating_sub(self.quorum)
    }
}

/// The placement settings a ring (and each shuffle-shard subring) carries.
#[derive(Debug, Clone, Copy)]
pub(super) struct Placement {
    pub(super) replication_factor: usize,
    pub(super) zone_awareness_enabled: bool,
    pub(super) tokens_per_instance: usize,
}

/// A ring snapshot's data, shared by the clones of a [`Ring`].
#[derive(Debug)]
pub(super) struct RingInner {
    /// Sorted by ID, one per ID.
    pub(super) members: Vec<Arc<Member>>,
    /// Every member's tokens with the member's index, sorted by token.
    pub(super) tokens: Vec<(u32, usize)>,
    /// Distinct zones of the members (the empty zone included), sorted.
    pub(super) zones: Vec<String>,
    pub(super) placement: Placement,
    /// Shuffle-shard subrings already computed from this snapshot.
    pub(super) shards: Mutex<HashMap<(String, usize), Ring>>,
}

/// An immutable snapshot of the ingester ring; cloning is cheap.
#[derive(Debug, Clone)]
pub struct Ring {
    pub(super) inner: Arc<RingInner>,
}

impl Ring {
    /// The ring of `members` placed with `cfg`'s replication factor, zone
    /// awareness and tokens per instance. Members sharing an ID (an
    /// ingester that moved to a new address) collapse into the one heard
    /// from last.
    pub fn new(members: Vec<Member>, cfg: &RingConfig) -> Self {
        Self::with_placement(
            members,
            Placement {
                replication_factor: cfg.replication_factor.max(1),
                zone_awareness_enabled: cfg.zone_awareness_enabled,
                tokens_per_instance: cfg.tokens_per_instance.max(1),
            },
        )
    }

    /// The ring of `members` with `placement`; shuffle shards reuse their
    /// parent's settings through it.
    pub(super) fn with_placement(mut members: Vec<Member>, placement: Placement) -> Self {
        members.sort_by(|a, b| {
            a.id.cmp(&b.id)
                .then(b.healthy.cmp(&a.healthy))
                .then(b.last_heartbeat.cmp(&a.last_heartbeat))
        });
        members.dedup_by(|later, kept| later.id == kept.id);
        let mut tokens = Vec::with_capacity(members.len() * placement.tokens_per_instance);
        for (i, m) in members.iter().enumerate() {
            tokens.extend(
                tokens_for(&m.id, placement.tokens_per_instance)
                    .into_iter()
                    .map(|t| (t, i)),
            );
        }
        tokens.sort_unstable();
        let mut zones: Vec<String> = members.iter().map(|m| m.zone.clone()).collect();
        zones.sort_unstable();
        zones.dedup();
        Self {
            inner: Arc::new(RingInner {
                members: members.into_iter().map(Arc::new).collect(),
                tokens,
                zones,
                placement,
                shards: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// Every member, sorted by ID.
    pub fn members(&self) -> &[Arc<Member>] {
        &self.inner.members
    }

    /// How many ingesters receive each key.
    pub fn replication_factor(&self) -> usize {
        self.inner.placement.replication_factor
    }

    /// Whether replicas are placed in distinct zones.
    pub fn zone_awareness_enabled(&self) -> bool {
        self.inner.placement.zone_awareness_enabled
    }

    /// Tokens each member owns.
    pub fn tokens_per_instance(&self) -> usize {
        self.inner.placement.tokens_per_instance
    }

    /// Members whose last probe is recent enough.
    pub fn healthy_count(&self) -> usize {
        self.members().iter().filter(|m| m.healthy).count()
    }

    /// Members in the ACTIVE state, healthy or not.
    pub fn active_count(&self) -> usize {
        self.members()
            .iter()
            .filter(|m| m.state == MemberState::Active)
            .count()
    }

    /// How many replicas must acknowledge a write: `RF/2+1`.
    pub fn quorum(&self) -> usize {
        self.replication_factor() / 2 + 1
    }

    /// The replicas of `key` (from [`super::shard_key`]) to write to, or an
    /// error when fewer than a quorum of them are healthy.
    pub fn replication_set(&self, key: u32) -> Result<ReplicationSet, RingError> {
        if self.members().is_empty() {
            return Err(RingError::Empty);
        }
        let rf = self.replication_factor();
        let mut chosen = Vec::with_capacity(rf);
        let zone_aware = self.zone_awareness_enabled();
        self.walk(key, rf, zone_aware, &mut chosen);
        if zone_aware && chosen.len() < rf {
            // Fewer zones than replicas: still use distinct instances.
            self.walk(key, rf, false, &mut chosen);
        }
        let instances: Vec<Arc<Member>> = chosen
            .into_iter()
            .map(|i| Arc::clone(&self.members()[i]))
            .filter(|m| m.healthy)
            .collect();
        let quorum = self.quorum();
        if instances.len() < quorum {
            return Err(RingError::TooManyUnhealthy {
                healthy: instances.len(),
                needed: quorum,
            });
        }
        Ok(ReplicationSet { instances, quorum })
    }

    /// Adds to `chosen` (member indexes) the ACTIVE members met walking
    /// clockwise from `key` until it holds `rf`, skipping members already
    /// chosen and, with `distinct_zones`, members of a zone already chosen.
    fn walk(&self, key: u32, rf: usize, distinct_zones: bool, chosen: &mut Vec<usize>) {
        let tokens = &self.inner.tokens;
        let start = tokens.partition_point(|&(t, _)| t < key);
        let members = self.members();
        for &(_, idx) in tokens[start..].iter().chain(&tokens[..start]) {
            if chosen.len() >= rf {
                return;
            }
            let Some(m) = members.get(idx) else { continue };
            if m.state != MemberState::Active || chosen.contains(&idx) {
                continue;
            }
            if distinct_zones
                && !m.zone.is_empty()
                && chosen
                    .iter()
                    .any(|&c| members.get(c).is_some_and(|o| o.zone == m.zone))
            {
                continue;
            }
            chosen.push(idx);
        }
    }

    /// Every ingester a query must ask (the readable ones: healthy and not
    /// JOINING), or an error when the others could hold the only copies of
    /// an acknowledged write. Every acknowledged write is on at least a
    /// quorum of its replicas, so up to `quorum - 1` (`RF/2`) unreadable
    /// instances are tolerated — or, with zone awareness, unreadable
    /// instances in up to `RF/2` zones.
    pub fn read_set(&self) -> Result<Vec<Arc<Member>>, RingError> {
        if self.members().is_empty() {
            return Err(RingError::Empty);
        }
        let tolerated = self.quorum() - 1;
        let (readable, unreadable): (Vec<&Arc<Member>>, Vec<&Arc<Member>>) =
            self.members().iter().partition(|m| m.readable());
        if self.zone_awareness_enabled() {
            let mut zones: Vec<&str> = unreadable.iter().map(|m| m.zone.as_str()).collect();
            zones.sort_unstable();
            zones.dedup();
            if zones.len() > tolerated {
                return Err(RingError::TooManyUnhealthyZones {
                    zones: zones.len(),
                    tolerated,
                });
            }
        } else if unreadable.len() > tolerated {
            return Err(RingError::TooManyUnhealthy {
                healthy: readable.len(),
                needed: self.members().len() - tolerated,
            });
        }
        Ok(readable.into_iter().cloned().collect())
    }

    /// The ingester-local share of a tenant's global series (or streams)
    /// limit, as Mimir converts it: `global / ingesters * RF`, where
    /// `ingesters` is the tenant's shard size when set and smaller than the
    /// ring, else the ACTIVE ingesters (healthy or not), and RF is capped by
    /// `ingesters` (a series is never on more ingesters than exist).
    /// 0 (unlimited) stays 0; a positive limit never drops below 1.
    pub fn local_series_limit(&self, global: usize, shard_size: usize) -> usize {
        if global == 0 {
            return 0;
        }
        let ingesters = if shard_size > 0 && shard_size < self.members().len() {
            shard_size
        } else {
            self.active_count()
        };
        if ingesters == 0 {
            return global;
        }
        let rf = self.replication_factor().min(ingesters);
        let local = global as u128 * rf as u128 / ingesters as u128;
        usize::try_from(local).unwrap_or(global).max(1)
    }

    /// Each member's share of the token space (0..=1), by ID: the share of
    /// keys it is the first replica of.
    pub fn ownership(&self) -> Vec<(String, f64)> {
        const SPACE: u64 = 1 << 32;
        let tokens = &self.inner.tokens;
        let mut owned = vec![0u64; self.members().len()];
        if let [(_, only)] = tokens.as_slice() {
            if let Some(o) = owned.get_mut(*only) {
                *o = SPACE;
            }
        } else {
            let mut prev = tokens.last().map_or(0, |&(t, _)| t);
            for &(t, idx) in tokens {
                let width = (u64::from(t) + SPACE - u64::from(prev)) % SPACE;
                if let Some(o) = owned.get_mut(idx) {
                    *o += width;
                }
                prev = t;
            }
        }
        self.members()
            .iter()
            .zip(owned)
            .map(|(m, o)| (m.id.clone(), o as f64 / SPACE as f64))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::super::member::fixtures::{member, members};
    use super::super::tokens::shard_key;
    use super::*;

    fn cfg(rf: usize, zone_aware: bool) -> RingConfig {
        RingConfig {
            replication_factor: rf,
            zone_awareness_enabled: zone_aware,
            ..RingConfig::default()
        }
    }

    fn ids(set: &ReplicationSet) -> Vec<String> {
        set.instances.iter().map(|m| m.id.clone()).collect()
    }

    fn key(i: usize) -> u32 {
        shard_key("tenant", format!("series-{i}").as_bytes())
    }

    fn with_health(mut ms: Vec<Member>, unhealthy: &[&str]) -> Vec<Member> {
        for m in &mut ms {
            m.healthy = !unhealthy.contains(&m.id.as_str());
        }
        ms
    }

    #[test]
    fn placement_is_deterministic_with_rf_distinct_instances() {
        let ring = Ring::new(members("ing", 5, 0), &cfg(3, false));
        let mut reversed = members("ing", 5, 0);
        reversed.reverse();
        let other = Ring::new(reversed, &cfg(3, false));
        for i in 0..1000 {
            let set = ring.replication_set(key(i)).unwrap();
            let got = ids(&set);
            assert_eq!(got.len(), 3);
            assert_eq!(got.iter().collect::<HashSet<_>>().len(), 3, "{got:?}");
            assert_eq!(got, ids(&other.replication_set(key(i)).unwrap()));
            assert_eq!((set.quorum, set.max_failures()), (2, 1));
        }
    }

    #[test]
    fn zone_aware_replicas_sit_in_distinct_zones() {
        let ring = Ring::new(members("ing", 9, 3), &cfg(3, true));
        for i in 0..1000 {
            let set = ring.replication_set(key(i)).unwrap();
            let zones: HashSet<&str> = set.instances.iter().map(|m| m.zone.as_str()).collect();
            assert_eq!(zones.len(), 3);
        }
        // Fewer zones than replicas: still three distinct instances.
        let two_zones = Ring::new(members("ing", 6, 2), &cfg(3, true));
        for i in 0..200 {
            let got = ids(&two_zones.replication_set(key(i)).unwrap());
            assert_eq!(got.iter().collect::<HashSet<_>>().len(), 3, "{got:?}");
        }
    }

    #[test]
    fn quorum_tolerates_one_unhealthy_replica_of_three() {
        let one_down = Ring::new(
            with_health(members("ing", 3, 0), &["ing-1"]),
            &cfg(3, false),
        );
        for i in 0..100 {
            let set = one_down.replication_set(key(i)).unwrap();
            assert_eq!(ids(&set).len(), 2);
            assert!(!ids(&set).contains(&"ing-1".to_string()));
            assert_eq!((set.quorum, set.max_failures()), (2, 0));
        }
        let two_down = Ring::new(
            with_health(members("ing", 3, 0), &["ing-0", "ing-1"]),
            &cfg(3, false),
        );
        assert_eq!(
            two_down.replication_set(key(0)).unwrap_err(),
            RingError::TooManyUnhealthy {
                healthy: 1,
                needed: 2
            }
        );
        let rf1 = Ring::new(
            with_health(members("ing", 1, 0), &["ing-0"]),
            &cfg(1, false),
        );
        assert!(rf1.replication_set(key(0)).is_err());
        assert_eq!(
            Ring::new(vec![], &cfg(1, false))
                .replication_set(1)
                .unwrap_err(),
            RingError::Empty
        );
    }

    #[test]
    fn whole_zone_down_still_writes_to_the_other_two() {
        let down = ["ing-0", "ing-3", "ing-6"]; // zone-0
        let ring = Ring::new(with_health(members("ing", 9, 3), &down), &cfg(3, true));
        for i in 0..500 {
            let set = ring.replication_set(key(i)).unwrap();
            assert_eq!(set.instances.len(), 2);
            assert!(set.instances.iter().all(|m| m.zone != "zone-0"));
        }
        assert_eq!(ring.read_set().unwrap().len(), 6);
        let two_zones_down = Ring::new(
            with_health(members("ing", 9, 3), &["ing-0", "ing-1"]),
            &cfg(3, true),
        );
        assert_eq!(
            two_zones_down.read_set().unwrap_err(),
            RingError::TooManyUnhealthyZones {
                zones: 2,
                tolerated: 1
            }
        );
    }

    #[test]
    fn joining_and_leaving_members_are_walked_past_for_writes() {
        let mut ms = members("ing", 4, 0);
        ms[1].state = MemberState::Leaving;
        ms[2].state = MemberState::Joining;
        let ring = Ring::new(ms, &cfg(2, false));
        for i in 0..200 {
            let mut got = ids(&ring.replication_set(key(i)).unwrap());
            got.sort();
            assert_eq!(got, ["ing-0", "ing-3"]);
        }
        // Reads: LEAVING still holds data, JOINING is not readable yet.
        let read: Vec<String> = ring
            .read_set()
            .unwrap()
            .iter()
            .map(|m| m.id.clone())
            .collect();
        assert_eq!(read, ["ing-0", "ing-1", "ing-3"]);
        assert_eq!(ring.active_count(), 2);
        assert_eq!(ring.healthy_count(), 4);
    }

    #[test]
    fn reads_fail_when_unhealthy_ingesters_could_hold_the_only_copies() {
        let rf3 =
            |down: &[&str]| Ring::new(with_health(members("ing", 5, 0), down), &cfg(3, false));
        assert_eq!(rf3(&["ing-2"]).read_set().unwrap().len(), 4);
        assert_eq!(
            rf3(&["ing-2", "ing-4"]).read_set().unwrap_err(),
            RingError::TooManyUnhealthy {
                healthy: 3,
                needed: 4
            }
        );
        let rf1 = Ring::new(
            with_health(members("ing", 3, 0), &["ing-0"]),
            &cfg(1, false),
        );
        assert!(rf1.read_set().is_err());
        assert_eq!(
            Ring::new(vec![], &cfg(1, false)).read_set().unwrap_err(),
            RingError::Empty
        );
    }

    #[test]
    fn keys_and_token_space_spread_evenly() {
        let ring = Ring::new(members("ing", 3, 0), &cfg(1, false));
        let ownership = ring.ownership();
        assert_eq!(ownership.len(), 3);
        let total: f64 = ownership.iter().map(|(_, s)| s).sum();
        assert!((total - 1.0).abs() < 1e-9, "{total}");
        for (id, share) in &ownership {
            assert!((share * 3.0 - 1.0).abs() < 0.15, "{id} owns {share}");
        }
        let mut counts: HashMap<String, usize> = HashMap::new();
        let n = 30_000;
        for i in 0..n {
            let set = ring.replication_set(key(i)).unwrap();
            *counts.entry(ids(&set).remove(0)).or_default() += 1;
        }
        for (id, c) in &counts {
            let share = *c as f64 / n as f64;
            assert!((share * 3.0 - 1.0).abs() < 0.15, "{id} got {share}");
        }
        let single = Ring::new(members("ing", 1, 0), &cfg(1, false));
        assert_eq!(single.ownership(), vec![("ing-0".to_string(), 1.0)]);
    }

    #[test]
    fn most_member_sets_are_within_15_percent() {
        let sets = 100;
        let balanced = (0..sets)
            .filter(|s| {
                let ring = Ring::new(members(&format!("set{s}-ingester"), 3, 0), &cfg(1, false));
                ring.ownership()
                    .iter()
                    .all(|(_, share)| (share * 3.0 - 1.0).abs() < 0.15)
            })
            .count();
        assert!(balanced >= 90, "{balanced} of {sets} sets balanced");
    }

    #[test]
    fn a_fourth_instance_moves_about_a_quarter_of_keys() {
        let three = Ring::new(members("ing", 3, 0), &cfg(1, false));
        let four = Ring::new(members("ing", 4, 0), &cfg(1, false));
        let n = 20_000;
        let moved = (0..n)
            .filter(|&i| {
                let before = ids(&three.replication_set(key(i)).unwrap());
                let after = ids(&four.replication_set(key(i)).unwrap());
                if before != after {
                    // Keys only move to the newcomer.
                    assert_eq!(after, ["ing-3"]);
                }
                before != after
            })
            .count();
        let share = moved as f64 / n as f64;
        assert!((0.2..0.3).contains(&share), "moved {share}");
    }

    #[test]
    fn local_series_limit_figures() {
        let ring = Ring::new(members("ing", 10, 0), &cfg(3, false));
        assert_eq!(ring.local_series_limit(150_000, 0), 45_000);
        assert_eq!(ring.local_series_limit(150_000, 5), 90_000);
        assert_eq!(ring.local_series_limit(150_000, 10), 45_000);
        assert_eq!(ring.local_series_limit(150_000, 20), 45_000);
        assert_eq!(ring.local_series_limit(0, 5), 0);
        assert_eq!(ring.local_series_limit(1, 0), 1);
        // Unhealthy ACTIVE ingesters still count; JOINING ones do not.
        let mut ms = with_health(members("ing", 4, 0), &["ing-0"]);
        ms[1].state = MemberState::Joining;
        let ring = Ring::new(ms, &cfg(3, false));
        assert_eq!(ring.local_series_limit(900, 0), 900);
        // One ingester holds every series once, whatever the RF.
        let single = Ring::new(vec![member("solo", "")], &cfg(3, false));
        assert_eq!(single.local_series_limit(1000, 0), 1000);
    }
}
