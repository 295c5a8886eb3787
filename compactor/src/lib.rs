//! The compactor: merges a tenant's small blocks, removes replication
//! duplicates and applies retention. Not built yet (its own issue).
