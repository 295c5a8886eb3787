//! `/api/v1/metadata`: metric families' type, help and unit from remote
//! write, merged over the request's tenants and cut to Prometheus's
//! `limit` (families) and `limit_per_metric` (entries per family).

use std::collections::{BTreeMap, BTreeSet};

use common::metadata::{MetadataSource, MetricMetadata};
use common::series::StoreError;
use common::tenant::TenantId;

/// The parameters of a metadata request.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct MetadataQuery<'a> {
    /// Only this family, when given.
    pub metric: Option<&'a str>,
    /// Most families returned.
    pub limit: Option<usize>,
    /// Most entries returned per family.
    pub limit_per_metric: Option<usize>,
}

/// Distinct metadata entries by family name, families sorted.
pub(crate) type MetadataByFamily = BTreeMap<String, Vec<MetricMetadata>>;

/// Looks up and merges the tenants' metadata.
pub(crate) async fn lookup(
    source: &dyn MetadataSource,
    tenants: &[TenantId],
    q: MetadataQuery<'_>,
) -> Result<MetadataByFamily, StoreError> {
    let mut merged: BTreeMap<String, BTreeSet<MetricMetadata>> = BTreeMap::new();
    for tenant in tenants {
        for m in source.metadata(tenant, q.metric).await? {
            merged.entry(m.family.clone()).or_default().insert(m);
        }
    }
    Ok(merged
        .into_iter()
        .take(q.limit.unwrap_or(usize::MAX))
        .map(|(family, set)| {
            let entries = set
                .into_iter()
                .take(q.limit_per_metric.unwrap_or(usize::MAX))
                .collect();
            (family, entries)
        })
        .collect())
}
