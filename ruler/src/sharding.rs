//! Which ruler replica evaluates which rule group: rendezvous hashing of
//! (tenant, namespace, group) over `ruler.ring.instances`, so every group
//! is evaluated by exactly one replica without coordination.

use common::shard::rendezvous_owner;
use common::tenant::TenantId;

use crate::config::RingConfig;

/// True when this replica (`ring.instance_id`) evaluates the group; always
/// true without `instances` (single binary).
pub fn owns(ring: &RingConfig, tenant: &TenantId, namespace: &str, group: &str) -> bool {
    if ring.instances.is_empty() {
        return true;
    }
    let key = format!("{}\0{namespace}\0{group}", tenant.as_str());
    rendezvous_owner(&ring.instances, &key) == Some(ring.instance_id.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_group_has_exactly_one_owner() {
        let all: Vec<String> = ["r-0", "r-1", "r-2"].map(String::from).to_vec();
        let ring = |me: &str| RingConfig {
            instance_id: me.into(),
            instances: all.clone(),
        };
        let t = TenantId::parse("t").unwrap();
        let mut per = [0usize; 3];
        for i in 0..300 {
            let owners: Vec<usize> = (0..3)
                .filter(|&k| owns(&ring(&all[k]), &t, "ns", &format!("g{i}")))
                .collect();
            assert_eq!(owners.len(), 1);
            per[owners[0]] += 1;
        }
        assert!(per.iter().all(|&n| n > 60), "{per:?}");
        assert!(owns(&RingConfig::default(), &t, "ns", "g"));
    }
}
