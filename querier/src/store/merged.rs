//! Fans a query out to several stores (ingesters, blocks) and merges the
//! answers, deduplicating samples seen in more than one.

use std::sync::Arc;

use async_trait::async_trait;
use common::labels::Labels;
use common::series::{Matcher, Series, SeriesStore, StoreError, merge_series};
use common::tenant::TenantId;
use futures::future::{join_all, try_join_all};

/// Stores of one kind (series, logs or traces) answering as one: each
/// query goes to every part and the answers are merged.
pub struct Merged<S: ?Sized> {
    pub(crate) parts: Vec<Arc<S>>,
    pub(crate) tolerated: usize,
}

impl<S: ?Sized> Merged<S> {
    /// Merges the answers of `parts`; any failing part fails the answer.
    pub fn new(parts: Vec<Arc<S>>) -> Self {
        Self {
            parts,
            tolerated: 0,
        }
    }

    /// Answers without up to `n` failed parts: replicas whose copies the
    /// other parts hold.
    pub fn tolerating(mut self, n: usize) -> Self {
        self.tolerated = n;
        self
    }
}

/// A [`SeriesStore`] answering from all of its parts.
pub type MergedStore = Merged<dyn SeriesStore>;

/// The answers of every part. Up to `tolerated` failed parts are left out
/// (their replicas answer for them); more fail the whole answer with the
/// first error.
pub(crate) async fn answers<T, F>(
    parts: impl IntoIterator<Item = F>,
    tolerated: usize,
) -> Result<Vec<T>, StoreError>
where
    F: Future<Output = Result<T, StoreError>>,
{
    if tolerated == 0 {
        return try_join_all(parts).await;
    }
    let mut ok = Vec::new();
    let mut failed = Vec::new();
    for r in join_all(parts).await {
        match r {
            Ok(v) => ok.push(v),
            Err(e) => failed.push(e),
        }
    }
    if failed.len() > tolerated {
        return Err(failed.swap_remove(0));
    }
    for e in &failed {
        tracing::warn!(error = %e, "a replica failed; answering from the others");
    }
    Ok(ok)
}

/// Sorted, deduplicated concatenation of `lists`.
pub(crate) fn union<T: Ord>(lists: Vec<Vec<T>>) -> Vec<T> {
    let mut all: Vec<T> = lists.into_iter().flatten().collect();
    all.sort();
    all.dedup();
    all
}

#[async_trait]
impl SeriesStore for Merged<dyn SeriesStore> {
    async fn select(
        &self,
        tenant: &TenantId,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<Series>, StoreError> {
        let lists = answers(
            self.parts
                .iter()
                .map(|p| p.select(tenant, matchers, mint, maxt)),
            self.tolerated,
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
            answers(
                self.parts
                    .iter()
                    .map(|p| p.series(tenant, matchers, mint, maxt)),
                self.tolerated,
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
            answers(
                self.parts
                    .iter()
                    .map(|p| p.label_names(tenant, matchers, mint, maxt)),
                self.tolerated,
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
        let values = answers(
            self.parts
                .iter()
                .map(|p| p.label_values(tenant, name, matchers, mint, maxt)),
            self.tolerated,
        )
        .await?;
        Ok(union(values))
    }
}
