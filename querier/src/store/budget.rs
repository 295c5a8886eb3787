//! One query's chunk-byte budget, shared by all its selects.
//!
//! `max_fetched_chunk_bytes_per_query` bounds what a whole query may fetch,
//! but the engine reads each selector through a separate
//! [`SeriesStore::select`](common::series::SeriesStore::select) call. The
//! engine runs its fetches inside [`scope`]; [`BlockStore`](super::BlockStore)
//! then [`charge`]s every select's planned bytes to the query's running
//! total per tenant, so `a / b` over two huge selectors is refused like one
//! huge selector is. Outside a scope (an API call that is not a query) each
//! select is its own budget.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use common::tenant::TenantId;
use parking_lot::Mutex;

/// Bytes charged so far, per tenant.
type Charged = Arc<Mutex<HashMap<TenantId, u64>>>;

tokio::task_local! {
    static CHARGED: Charged;
}

/// Runs `fut` (a query's fetches) with a fresh budget.
pub async fn scope<F: Future>(fut: F) -> F::Output {
    CHARGED.scope(Charged::default(), fut).await
}

/// Adds `bytes` to `tenant`'s total in the current query and returns the
/// new total (just `bytes` outside a query scope).
pub(crate) fn charge(tenant: &TenantId, bytes: u64) -> u64 {
    CHARGED
        .try_with(|charged| {
            let mut charged = charged.lock();
            let total = charged.entry(tenant.clone()).or_default();
            *total = total.saturating_add(bytes);
            *total
        })
        .unwrap_or(bytes)
}
