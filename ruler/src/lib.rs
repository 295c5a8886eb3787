//! The ruler: per-tenant recording and alerting rules in PromQL and LogQL.
//!
//! Groups are stored in object storage in the Prometheus rule-file format
//! ([`rules`], [`store`]) and managed through Mimir's and Loki's rule APIs
//! ([`api`]). Each replica evaluates the groups it owns ([`sharding`]) on
//! Prometheus's aligned schedule ([`eval`]), writes recording rule results
//! and `ALERTS` through the distributor, and sends alerts to Alertmanager
//! ([`notifier`]). Alert labels and annotations are Go templates
//! ([`template`]).

pub mod api;
pub mod config;
pub mod eval;
pub mod notifier;
pub mod rules;
pub mod self_metrics;
pub mod sharding;
pub mod store;
pub mod template;

use std::sync::Arc;

use axum::Router;
use common::limits::Overrides;
use distributor::Distributor;
use object_store::ObjectStore;
use prometheus_client::registry::Registry;
use querier::logql::LogqlEngine;
use querier::promql::Engine;

pub use config::{RingConfig, RulerConfig};

use eval::{Context, Manager};
use notifier::Notifier;
use self_metrics::RulerMetrics;
use store::RuleStore;

/// The ruler service: rule APIs plus the evaluation and notification tasks.
pub struct Ruler {
    cfg: RulerConfig,
    store: RuleStore,
    manager: Arc<Manager>,
    notifier: Arc<Notifier>,
    overrides: Arc<Overrides>,
    multitenancy: bool,
}

/// What the ruler evaluates with and writes to.
pub struct RulerDeps {
    /// The bucket rule groups are stored in (the blocks' bucket).
    pub store: Arc<dyn ObjectStore>,
    /// PromQL over the tenants' metrics.
    pub promql: Arc<Engine>,
    /// LogQL over the tenants' logs.
    pub logql: Arc<LogqlEngine>,
    /// The metrics write path, for recording rules and `ALERTS`.
    pub distributor: Arc<Distributor>,
    /// Per-tenant limits (rule limits, Alertmanager URL overrides).
    pub overrides: Arc<Overrides>,
}

impl Ruler {
    /// A ruler over `deps`, registering its metrics in `registry`; with
    /// `multitenancy` off every request acts as tenant `anonymous`. Call
    /// [`Ruler::spawn`] to start evaluating.
    pub fn new(
        cfg: RulerConfig,
        deps: RulerDeps,
        registry: &mut Registry,
        multitenancy: bool,
    ) -> Arc<Self> {
        let metrics = RulerMetrics::register(registry);
        let notifier = Notifier::new(&cfg, Arc::clone(&deps.overrides), metrics.clone());
        let store = RuleStore::new(deps.store);
        let ctx = Arc::new(Context {
            cfg: cfg.clone(),
            promql: deps.promql,
            logql: deps.logql,
            distributor: deps.distributor,
            notifier: Arc::clone(&notifier),
            metrics,
        });
        let manager = Manager::new(ctx, store.clone());
        Arc::new(Self {
            cfg,
            store,
            manager,
            notifier,
            overrides: deps.overrides,
            multitenancy,
        })
    }

    /// Starts polling the rule store, evaluating owned groups and
    /// delivering alerts.
    pub fn spawn(&self) {
        self.manager.spawn();
        self.notifier.spawn();
    }

    /// The rule configuration and read APIs, at absolute paths.
    pub fn router(self: Arc<Self>) -> Router {
        api::router(self)
    }
}
