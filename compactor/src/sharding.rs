//! Which compactor replica compacts which tenant: rendezvous (highest
//! random weight) hashing of the tenant over the configured instance IDs.
//! Every replica computes the same owner from the same list, and adding or
//! removing a replica moves only the tenants it gains or loses.

use common::shard::rendezvous_owner;
use common::tenant::TenantId;

use crate::config::ShardingConfig;

/// True when this replica (`cfg.instance_id`) owns `tenant`.
pub fn owns(cfg: &ShardingConfig, tenant: &TenantId) -> bool {
    if cfg.instances.is_empty() {
        return true;
    }
    owner(&cfg.instances, tenant) == Some(cfg.instance_id.as_str())
}

/// The instance among `instances` that owns `tenant`.
fn owner<'a>(instances: &'a [String], tenant: &TenantId) -> Option<&'a str> {
    rendezvous_owner(instances, tenant.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(me: &str, all: &[&str]) -> ShardingConfig {
        ShardingConfig {
            instance_id: me.into(),
            instances: all.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn every_tenant_has_exactly_one_owner_and_spread_is_fair() {
        let all = ["c-0", "c-1", "c-2"];
        let mut per = [0usize; 3];
        for i in 0..300 {
            let t = TenantId::parse(&format!("tenant-{i}")).unwrap();
            let owners: Vec<usize> = (0..3).filter(|&k| owns(&cfg(all[k], &all), &t)).collect();
            assert_eq!(owners.len(), 1, "{t}");
            per[owners[0]] += 1;
        }
        assert!(per.iter().all(|&n| n > 60), "{per:?}");
        assert!(owns(&cfg("alone", &[]), &TenantId::parse("x").unwrap()));
    }

    #[test]
    fn removing_an_instance_moves_only_its_tenants() {
        let three = ["c-0", "c-1", "c-2"].map(String::from);
        let two = ["c-0", "c-1"].map(String::from);
        for i in 0..100 {
            let t = TenantId::parse(&format!("tenant-{i}")).unwrap();
            let before = owner(&three, &t).unwrap();
            if before != "c-2" {
                assert_eq!(owner(&two, &t), Some(before));
            }
        }
    }
}
