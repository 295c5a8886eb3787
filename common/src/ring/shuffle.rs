//! Shuffle sharding: confining a tenant to a deterministic subset of the
//! ingesters (`ingestion_tenant_shard_size`), so one tenant's overload or
//! poison input reaches only its shard. Mimir's approach: per zone, draw
//! pseudo-random tokens seeded by (tenant, zone) and take the first
//! not-yet-picked instance clockwise of each; adding instances then changes
//! few members of an existing shard, and growing the size only adds
//! members.

use std::collections::HashSet;

use xxhash_rust::xxh3::Xxh3;

use super::ring::Ring;

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
