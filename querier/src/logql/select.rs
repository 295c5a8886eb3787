//! Reading streams for a query from every tenant it names: `__tenant_id__`
//! matchers pick tenants, and with several tenants each stream carries
//! `__tenant_id__`.

use common::logs::{LogSelect, LogStore, StreamEntries};
use common::series::Matcher;
use common::tenant::TenantId;

use super::{ExecStats, LogqlError};
use crate::promql::TENANT_LABEL;

/// The store and the tenants a query reads.
pub(crate) struct Source<'a> {
    /// Where the lines are.
    pub store: &'a dyn LogStore,
    /// Whose lines the query may read.
    pub tenants: &'a [TenantId],
}

impl Source<'_> {
    /// The tenants `matchers` allow and the matchers left for the store.
    pub(crate) fn split_tenant_matchers(
        &self,
        matchers: &[Matcher],
    ) -> (Vec<&TenantId>, Vec<Matcher>) {
        let (tenant_m, rest): (Vec<&Matcher>, Vec<&Matcher>) =
            matchers.iter().partition(|m| m.name == TENANT_LABEL);
        let tenants = self
            .tenants
            .iter()
            .filter(|t| tenant_m.iter().all(|m| m.is_match(t.as_str())))
            .collect();
        (tenants, rest.into_iter().cloned().collect())
    }

    /// Streams matching `sel` from each tenant, with what was read.
    pub(crate) async fn select(
        &self,
        sel: &LogSelect,
    ) -> Result<(Vec<StreamEntries>, ExecStats), LogqlError> {
        let (tenants, matchers) = self.split_tenant_matchers(&sel.matchers);
        let several = self.tenants.len() > 1;
        let sel = LogSelect {
            matchers,
            ..sel.clone()
        };
        let mut out = Vec::new();
        let mut stats = ExecStats::default();
        for tenant in tenants {
            let mut streams = self.store.select_logs(tenant, &sel).await?;
            for s in &mut streams {
                stats.lines += s.entries.len() as u64;
                stats.bytes += s.entries.iter().map(|e| e.line.len() as u64).sum::<u64>();
                if several {
                    s.labels.set(TENANT_LABEL, tenant.as_str());
                }
            }
            out.extend(streams);
        }
        Ok((out, stats))
    }
}
