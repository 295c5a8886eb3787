//! Shuffle sharding: confining a tenant to a deterministic subset of the
//! ingesters (`ingestion_tenant_shard_size`), so one tenant's overload or
//! poison input reaches only its shard. Mimir's approach: per zone, draw
//! pseudo-random tokens seeded by (tenant, zone) and take the first
//! not-yet-picked instance clockwise of each; adding instances then changes
//! few members of an existing shard, and growing the size only adds
//! members.

use std::collections::HashSet;

use xxhash_rust::xxh3::Xxh3;

use super::placement::Ring;

/// Subrings kept per ring snapshot before the cache starts over.
const MAX_CACHED_SHARDS: usize = 10_000;

impl Ring {
    /// The subring tenant `tenant` is confined to: `size` instances, or
    /// `ceil(size / zones)` per zone with zone awareness (Mimir's rule, so
    /// the shard stays balanced). `size` 0 or at least the member count is
    /// the whole ring. Use the same subring for the tenant's writes and
    /// reads.
    pub fn shuffle_shard(&self, tenant: &str, size: usize) -> Ring {
        if size == 0 || size >= self.members().len() {
            return self.clone();
        }
        let key = (tenant.to_string(), size);
        if let Some(shard) = self.inner.shards.lock().get(&key) {
            return shard.clone();
        }
        let shard = self.compute_shard(tenant, size);
        let mut cache = self.inner.shards.lock();
        if cache.len() >= MAX_CACHED_SHARDS {
            cache.clear();
        }
        cache.insert(key, shard.clone());
        shard
    }

    fn compute_shard(&self, tenant: &str, size: usize) -> Ring {
        let inner = &self.inner;
        let all_zones = [String::new()];
        let (zones, per_zone) = if self.zone_awareness_enabled() && !inner.zones.is_empty() {
            (inner.zones.as_slice(), size.div_ceil(inner.zones.len()))
        } else {
            (all_zones.as_slice(), size)
        };
        let mut picked: HashSet<usize> = HashSet::new();
        for zone in zones {
            let tokens: Vec<(u32, usize)> = inner
                .tokens
                .iter()
                .copied()
                .filter(|&(_, idx)| {
                    !self.zone_awareness_enabled()
                        || self.members().get(idx).is_some_and(|m| &m.zone == zone)
                })
                .collect();
            for draw in 0..per_zone {
                let start = tokens.partition_point(|&(t, _)| t < draw_token(tenant, zone, draw));
                let next = tokens[start..]
                    .iter()
                    .chain(&tokens[..start])
                    .map(|&(_, idx)| idx)
                    .find(|idx| !picked.contains(idx));
                match next {
                    Some(idx) => picked.insert(idx),
                    // Every instance of the zone is already in the shard.
                    None => break,
                };
            }
        }
        let members = self
            .members()
            .iter()
            .enumerate()
            .filter(|(i, _)| picked.contains(i))
            .map(|(_, m)| (**m).clone())
            .collect();
        Ring::with_placement(members, inner.placement)
    }
}

/// The `draw`-th pseudo-random token of `tenant` in `zone`.
fn draw_token(tenant: &str, zone: &str, draw: usize) -> u32 {
    let mut h = Xxh3::new();
    h.update(tenant.as_bytes());
    h.update(&[0]);
    h.update(zone.as_bytes());
    h.update(&[0]);
    h.update(&(draw as u64).to_le_bytes());
    h.digest() as u32
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::super::config::RingConfig;
    use super::super::member::fixtures::members;
    use super::super::tokens::shard_key;
    use super::*;

    fn cfg(zone_aware: bool) -> RingConfig {
        RingConfig {
            replication_factor: 3,
            zone_awareness_enabled: zone_aware,
            ..RingConfig::default()
        }
    }

    fn ids(ring: &Ring) -> BTreeSet<String> {
        ring.members().iter().map(|m| m.id.clone()).collect()
    }

    #[test]
    fn shard_is_deterministic_and_sized() {
        let ring = Ring::new(members("ing", 12, 0), &cfg(false));
        let again = Ring::new(members("ing", 12, 0), &cfg(false));
        let shard = ring.shuffle_shard("tenant-a", 4);
        assert_eq!(ids(&shard).len(), 4);
        assert_eq!(ids(&shard), ids(&again.shuffle_shard("tenant-a", 4)));
        assert_eq!(ids(&shard), ids(&ring.shuffle_shard("tenant-a", 4)));
        for whole in [0, 12, 20] {
            assert_eq!(ids(&ring.shuffle_shard("tenant-a", whole)).len(), 12);
        }
        // Growing the size only adds members.
        assert!(ids(&ring.shuffle_shard("tenant-a", 6)).is_superset(&ids(&shard)));
        // Writes and reads of the tenant stay inside its shard.
        for i in 0..200 {
            let set = shard
                .replication_set(shard_key("tenant-a", format!("s{i}").as_bytes()))
                .unwrap();
            assert!(set.instances.iter().all(|m| ids(&shard).contains(&m.id)));
        }
        assert_eq!(shard.read_set().unwrap().len(), 4);
    }

    #[test]
    fn zone_aware_shard_is_balanced_across_zones() {
        let ring = Ring::new(members("ing", 12, 3), &cfg(true));
        for (size, per_zone) in [(3, 1), (4, 2), (6, 2)] {
            let shard = ring.shuffle_shard("tenant-a", size);
            for zone in ["zone-0", "zone-1", "zone-2"] {
                let n = shard.members().iter().filter(|m| m.zone == zone).count();
                assert_eq!(n, per_zone, "size {size} zone {zone}");
            }
        }
    }

    #[test]
    fn tenants_get_different_shards() {
        let ring = Ring::new(members("ing", 12, 0), &cfg(false));
        let distinct: BTreeSet<BTreeSet<String>> = (0..20)
            .map(|t| ids(&ring.shuffle_shard(&format!("tenant-{t}"), 3)))
            .collect();
        assert!(
            distinct.len() >= 15,
            "{} distinct shards of 20",
            distinct.len()
        );
    }

    #[test]
    fn growing_the_ring_changes_few_shard_members() {
        let before = Ring::new(members("ing", 20, 0), &cfg(false));
        let after = Ring::new(members("ing", 21, 0), &cfg(false));
        let tenants = 100;
        let mut changed_members = 0;
        for t in 0..tenants {
            let tenant = format!("tenant-{t}");
            let (a, b) = (
                ids(&before.shuffle_shard(&tenant, 4)),
                ids(&after.shuffle_shard(&tenant, 4)),
            );
            let lost = a.difference(&b).count();
            assert!(lost <= 1, "{tenant}: {a:?} -> {b:?}");
            changed_members += lost;
        }
        // Each of the 4 draws lands on the newcomer with odds about 1/21.
        assert!(
            changed_members <= tenants * 4 / 10,
            "{changed_members} moved"
        );
    }
}
