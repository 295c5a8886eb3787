//! Assigning work to replicas without coordination: rendezvous (highest
//! random weight) hashing of a key over the configured instance IDs. Every
//! replica computes the same owner from the same list, and adding or
//! removing a replica moves only the keys it gains or loses. The compactor
//! shards tenants with it, the ruler rule groups.

use xxhash_rust::xxh3::xxh3_64;

/// The instance among `instances` that owns `key`; `None` when the list is
/// empty.
pub fn rendezvous_owner<'a>(instances: &'a [String], key: &str) -> Option<&'a str> {
    instances
        .iter()
        .max_by_key(|id| {
            let k = format!("{id}\0{key}");
            (xxh3_64(k.as_bytes()), id.as_str())
        })
        .map(String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_is_one_of_the_instances_and_stable() {
        let all = ["a", "b", "c"].map(String::from);
        for i in 0..50 {
            let key = format!("k{i}");
            let o = rendezvous_owner(&all, &key).unwrap();
            assert!(all.iter().any(|x| x == o));
            assert_eq!(rendezvous_owner(&all, &key), Some(o));
        }
        assert_eq!(rendezvous_owner(&[], "k"), None);
    }
}
