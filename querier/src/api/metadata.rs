//! Series and label lookups for the metadata endpoints, fanned out over the
//! request's tenants (several tenants: results carry `__tenant_id__`).

use std::collections::BTreeSet;

use common::labels::Labels;
use common::series::{Matcher, SeriesStore, StoreError};
use common::tenant::TenantId;

use crate::promql::TENANT_LABEL;

/// Time bounds and selectors of a metadata request.
pub(crate) struct Lookup<'a> {
    pub tenants: &'a [TenantId],
    /// One matcher set per `match[]`; empty means "all series".
    pub match_sets: &'a [Vec<Matcher>],
    pub start: i64,
    pub end: i64,
}

impl Lookup<'_> {
    fn sets(&self) -> Vec<&[Matcher]> {
        if self.match_sets.is_empty() {
            vec![&[]]
        } else {
            self.match_sets.iter().map(Vec::as_slice).collect()
        }
    }

    fn multi(&self) -> bool {
        self.tenants.len() > 1
    }
}

/// Distinct label sets of the matching series, sorted.
pub(crate) async fn series(
    store: &dyn SeriesStore,
    q: &Lookup<'_>,
) -> Result<Vec<Labels>, StoreError> {
    let mut out = BTreeSet::new();
    for tenant in q.tenants {
        for set in q.sets() {
            for mut labels in store.series(tenant, set, q.start, q.end).await? {
                if q.multi() {
                    labels.set(TENANT_LABEL, tenant.as_str());
                }
                out.insert(labels);
            }
        }
    }
    Ok(out.into_iter().collect())
}

/// Sorted distinct label names of the matching series.
pub(crate) async fn label_names(
    store: &dyn SeriesStore,
    q: &Lookup<'_>,
) -> Result<Vec<String>, StoreError> {
    let mut out = BTreeSet::new();
    for tenant in q.tenants {
        for set in q.sets() {
            out.extend(store.label_names(tenant, set, q.start, q.end).await?);
        }
    }
    if q.multi() {
        out.insert(TENANT_LABEL.to_string());
    }
    Ok(out.into_iter().collect())
}

/// Sorted distinct values of label `name` among the matching series.
pub(crate) async fn label_values(
    store: &dyn SeriesStore,
    name: &str,
    q: &Lookup<'_>,
) -> Result<Vec<String>, StoreError> {
    if q.multi() && name == TENANT_LABEL {
        return Ok(q.tenants.iter().map(|t| t.as_str().to_string()).collect());
    }
    let mut out = BTreeSet::new();
    for tenant in q.tenants {
        for set in q.sets() {
            out.extend(
                store
                    .label_values(tenant, name, set, q.start, q.end)
                    .await?,
            );
        }
    }
    Ok(out.into_iter().collect())
}
