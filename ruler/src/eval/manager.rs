//! Which groups this replica evaluates: every `poll_interval` (or at once
//! after a change through the API) the rule store is listed, the groups
//! this replica owns ([`crate::sharding`]) get a task, changed groups a new
//! task that keeps unchanged rules' state, and deleted or disowned groups
//! lose theirs.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::tenant::TenantId;
use parking_lot::Mutex;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::status::GroupStatus;
use super::{Context, group};
use crate::rules::Language;
use crate::sharding;
use crate::store::{RuleStore, RuleStoreError, StoredGroup};

/// A group's identity.
type GroupKey = (TenantId, Language, String, String);

struct Running {
    def: StoredGroup,
    status: Arc<Mutex<GroupStatus>>,
    task: JoinHandle<()>,
}

/// Runs the owned groups' tasks.
pub struct Manager {
    ctx: Arc<Context>,
    store: RuleStore,
    groups: Mutex<HashMap<GroupKey, Running>>,
    synced: AtomicBool,
    wake: Notify,
}

fn key(g: &StoredGroup) -> GroupKey {
    (
        g.tenant.clone(),
        g.language,
        g.namespace.clone(),
        g.group.name.clone(),
    )
}

impl Manager {
    /// A manager evaluating `store`'s groups with `ctx`; call
    /// [`Manager::spawn`] to start.
    pub fn new(ctx: Arc<Context>, store: RuleStore) -> Arc<Self> {
        Arc::new(Self {
            ctx,
            store,
            groups: Mutex::new(HashMap::new()),
            synced: AtomicBool::new(false),
            wake: Notify::new(),
        })
    }

    /// Re-reads the store every `poll_interval` (and when woken) until the
    /// runtime stops.
    pub fn spawn(self: &Arc<Self>) -> JoinHandle<()> {
        let this = Arc::clone(self);
        tokio::spawn(async move {
            loop {
                if let Err(e) = this.sync().await {
                    tracing::warn!(error = %e, "cannot read rule groups; keeping the current ones");
                }
                tokio::select! {
                    _ = tokio::time::sleep(this.ctx.cfg.poll_interval) => {}
                    _ = this.wake.notified() => {}
                }
            }
        })
    }

    /// Asks for a re-read now (after the API changed a group).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Starts, restarts and stops group tasks to match the store.
    pub async fn sync(&self) -> Result<(), RuleStoreError> {
        let wanted: HashMap<GroupKey, StoredGroup> = self
            .store
            .all()
            .await?
            .into_iter()
            .filter(|g| sharding::owns(&self.ctx.cfg.ring, &g.tenant, &g.namespace, &g.group.name))
            .map(|g| (key(&g), g))
            .collect();
        // Groups loaded at start-up restore their alerts' `for` state.
        let restore = !self.synced.swap(true, Ordering::SeqCst);
        let mut groups = self.groups.lock();
        let mut replaced = HashMap::new();
        let mut retired = Vec::new();
        groups.retain(|k, r| {
            let keep = wanted.get(k).is_some_and(|g| *g == r.def);
            if !keep {
                r.task.abort();
                let old = r.status.lock().clone();
                // Series of rules that no longer exist end now.
                let still = wanted.get(k).map(|g| &g.group.rules);
                let gone = old
                    .rules
                    .iter()
                    .filter(|rs| still.is_none_or(|rules| !rules.contains(&rs.rule)))
                    .flat_map(|rs| rs.written.iter().cloned());
                retired.push((k.0.clone(), gone.collect::<Vec<_>>()));
                if wanted.contains_key(k) {
                    replaced.insert(k.clone(), old);
                }
            }
            keep
        });
        for (tenant, series) in retired.into_iter().filter(|(_, s)| !s.is_empty()) {
            let ctx = Arc::clone(&self.ctx);
            tokio::spawn(async move { group::mark_stale(&ctx, &tenant, series).await });
        }
        for (k, def) in wanted {
            if groups.contains_key(&k) {
                continue;
            }
            let interval = def.group.interval_or(self.ctx.cfg.evaluation_interval);
            let mut status = GroupStatus::new(def.clone(), interval, !restore);
            if let Some(old) = replaced.get(&k) {
                status.inherit(old);
            }
            let status = Arc::new(Mutex::new(status));
            tracing::info!(tenant = %def.tenant, namespace = %def.namespace, group = %def.group.name, "evaluating rule group");
            let task = tokio::spawn(group::run(
                Arc::clone(&self.ctx),
                Arc::clone(&status),
                restore,
            ));
            groups.insert(k, Running { def, status, task });
        }
        self.ctx.metrics.groups.set(groups.len() as i64);
        Ok(())
    }

    /// The state of the tenant's `lang` groups this replica evaluates,
    /// keyed by (namespace, group).
    pub fn statuses(
        &self,
        tenant: &TenantId,
        lang: Language,
    ) -> HashMap<(String, String), GroupStatus> {
        self.groups
            .lock()
            .iter()
            .filter(|((t, l, _, _), _)| t == tenant && *l == lang)
            .map(|((_, _, ns, g), r)| ((ns.clone(), g.clone()), r.status.lock().clone()))
            .collect()
    }
}

impl Drop for Manager {
    fn drop(&mut self) {
        for r in self.groups.get_mut().values() {
            r.task.abort();
        }
    }
}
