//! Where things sit on the ring: an ingester's tokens, derived from its ID
//! alone, and the token a (tenant, key) hashes to. Both are part of the
//! cluster's wire contract: every distributor and querier must compute the
//! same values, across versions, so the hashes here never change.

use xxhash_rust::xxh3::{Xxh3, xxh3_64};

/// The `n` tokens of the ingester `id`, sorted. The token space is cut
/// into `n` equal segments and the instance gets one token in each, at an
/// offset given by xxh3 of the ID, a zero byte and the segment's index
/// (little-endian u32). One token per segment spreads ownership more
/// evenly than `n` unconstrained hashes, while still depending on the ID
/// alone.
pub fn tokens_for(id: &str, n: usize) -> Vec<u32> {
    const SPACE: u64 = 1 << 32;
    let segment = SPACE / (n.max(1) as u64);
    let mut buf = Vec::with_capacity(id.len() + 5);
    (0..n)
        .map(|i| {
            buf.clear();
            buf.extend_from_slice(id.as_bytes());
            buf.push(0);
            buf.extend_from_slice(&(i as u32).to_le_bytes());
            let token = i as u64 * segment + xxh3_64(&buf) % segment;
            token as u32
        })
        .collect()
}

/// The token a tenant's series (canonical label bytes), stream or trace ID
/// hashes to: xxh3 of the tenant, a zero byte and the key, truncated to 32
/// bits. The tenant takes part so equal series of two tenants spread apart.
pub fn shard_key(tenant: &str, key: &[u8]) -> u32 {
    let mut h = Xxh3::new();
    h.update(tenant.as_bytes());
    h.update(&[0]);
    h.update(key);
    h.digest() as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_sorted_deterministic_and_pinned() {
        let t = tokens_for("ingester-0", 128);
        assert_eq!(t.len(), 128);
        assert!(t.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(t, tokens_for("ingester-0", 128));
        assert_ne!(t, tokens_for("ingester-1", 128));
        // Pinned: changing these values reshuffles every running cluster.
        assert_eq!(tokens_for("ingester-0", 3), PINNED_TOKENS);
        assert_eq!(shard_key("tenant-a", b"{__name__=\"up\"}"), PINNED_KEY);
    }

    #[test]
    fn tenant_changes_the_key() {
        assert_ne!(shard_key("a", b"k"), shard_key("b", b"k"));
        assert_ne!(shard_key("a", b"bk"), shard_key("ab", b"k"));
    }

    const PINNED_TOKENS: [u32; 3] = [768_752_866, 2_862_673_757, 3_863_435_457];
    const PINNED_KEY: u32 = 3_335_574_203;
}
