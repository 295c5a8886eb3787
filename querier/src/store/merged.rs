//! Fans a query out to several stores (ingesters, blocks) and merges the
//! answers, deduplicating samples seen in more than one.

use std::sync::Arc;

use async_trait::async_trait;
use common::labels::Labels;
use common::series::{Matcher, Series, SeriesStore, StoreError, merge_series};
use common::tenant::TenantId;
use futures::future::try_join_all;

/// A [`SeriesStore`] answering from all of its parts.
pub struct MergedStore {
    parts: Vec<Arc<dyn SeriesStore>>,
}

impl MergedStore {
    /// Merges the answers of `parts`.
    pub fn new(parts: Vec<Arc<dyn SeriesStore>>) -> Self {
        Self { parts }
    }
}

/// Sorted, deduplicated concatenation of `lists`.
pub(crate) fn union<T: Ord>(lists: Vec<Vec<T>>) -> Vec<T> {
    let mut all: Vec<T> = lists.into_iter().flatten().collect();
    all.sort();
    all.dedup();
    all
}

#[async_trait]
impl SeriesStore for MergedStore {
    async fn select(
        &self,
        tenant: &TenantId,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<Series>, StoreError> {
        let lists = try_join_all(
            self.parts
                .iter()
                .map(|p| p.select(tenant, matchers, mint, maxt)),
        )
        .await?;
        Ok(merge_series(lists))
    }

    async fn series(
        &self,
        tenant: &TenantId,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<Labels>, StoreError> {
        Ok(union(
            try_join_all(
                self.parts
                    .iter()
                    .map(|p| p.series(tenant, matchers, mint, maxt)),
            )
            .await?,
        ))
    }

    async fn label_names(
        &self,
        tenant: &TenantId,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<String>, StoreError> {
        Ok(union(
            try_join_all(
                self.parts
                    .iter()
                    .map(|p| p.label_names(tenant, matchers, mint, maxt)),
            )
            .await?,
        ))
    }

    async fn label_values(
        &self,
        tenant: &TenantId,
        name: &str,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<String>, StoreError> {
        let answers = try_join_all(
            self.parts
                .iter()
                .map(|p| p.label_values(tenant, name, matchers, mint, maxt)),
        )
        .await?;
        Ok(union(answers))
    }
}
