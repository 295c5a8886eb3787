//! The metrics signal in the ingester: head, WAL records, per-tenant state.

pub(crate) mod exemplars;
pub(crate) mod head;
pub(crate) mod metadata;
pub(crate) mod record;
pub(crate) mod replay;
pub(crate) mod tenant_db;
