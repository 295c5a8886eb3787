//! Builds the services `--target` names (all five by default), wires them to
//! the ingesters (the one in the process, or the ring's over gRPC), mounts
//! their routers on one HTTP port, and adds the operational endpoints
//! (`/ready`, `/metrics`, `/config`, `/runtime_config`, `/ring`), access
//! control and per-request metrics, over HTTP or HTTPS.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::serve::ListenerExt;
use common::auth::Authenticator;
use common::exemplar::ExemplarSource;
use common::limits::Overrides;
use common::logs::LogStore;
use common::logs::LogsPusher;
use common::metadata::MetadataSource;
use common::push::MetricsPusher;
use common::ring::RingWatcher;
use common::rpc::{ClientPool, IngesterGrpc};
use common::series::SeriesStore;
use common::tls::TlsListener;
use common::traces::TraceStore;
use common::traces::TracesPusher;
use compactor::Compactor;
use distributor::logs::LogsGrpcService;
use distributor::otlp_metrics::MetricsGrpcService;
use distributor::traces::{TraceGrpcService, TracesDistributor};
use distributor::{Distributor, InflightBytes, LogsDistributor, Replicator};
use ingester::{Ingester, Membership};
use parking_lot::Mutex;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use querier::Querier;
use querier::logql::LogqlEngine;
use querier::promql::Engine;
use querier::store::{
    BlockStore, LogBlockStore, MergedLogStore, MergedStore, MergedTraceStore, RingIngesters,
    TraceBlockStore,
};
use ruler::{Ruler, RulerDeps};

use crate::config::Config;
use crate::target::Service;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status_code: String,
}

struct Ops {
    cfg: Config,
    overrides: Arc<Overrides>,
    registry: Mutex<Registry>,
    durations: Family<RequestLabels, Histogram>,
    /// An ingester is ready only while ACTIVE.
    membership: Option<Arc<Membership>>,
    /// … and while it can write its WAL.
    ingester: Option<Arc<Ingester>>,
}

/// How this process reaches the ingesters: the one in the process, or
/// the ring's (writes replicated, reads fanned out and deduplicated).
struct IngesterAccess {
    metrics: Arc<dyn MetricsPusher>,
    logs: Arc<dyn LogsPusher>,
    traces: Arc<dyn TracesPusher>,
    series: Arc<dyn SeriesStore>,
    log_store: Arc<dyn LogStore>,
    trace_store: Arc<dyn TraceStore>,
    exemplars: Arc<dyn ExemplarSource>,
    metadata: Arc<dyn MetadataSource>,
}

impl IngesterAccess {
    fn local(ingester: &Arc<Ingester>) -> Self {
        Self {
            metrics: Arc::clone(ingester) as _,
            logs: Arc::clone(ingester) as _,
            traces: Arc::clone(ingester) as _,
            series: Arc::clone(ingester) as _,
            log_store: Arc::clone(ingester) as _,
            trace_store: Arc::clone(ingester) as _,
            exemplars: Arc::clone(ingester) as _,
            metadata: Arc::clone(ingester) as _,
        }
    }

    fn ring(
        ring: &Arc<RingWatcher>,
        cfg: &Config,
        overrides: &Arc<Overrides>,
        registry: &mut Registry,
    ) -> Self {
        let pool = Arc::new(ClientPool::new(cfg.ingester_client.clone()));
        let writes = Arc::new(Replicator::new(
            Arc::clone(ring),
            Arc::clone(&pool),
            Arc::clone(overrides),
            registry,
        ));
        let reads = Arc::new(RingIngesters::new(
            Arc::clone(ring),
            pool,
            Arc::clone(overrides),
        ));
        Self {
            metrics: Arc::clone(&writes) as _,
            logs: Arc::clone(&writes) as _,
            traces: writes,
            series: Arc::clone(&reads) as _,
            log_store: Arc::clone(&reads) as _,
            trace_store: Arc::clone(&reads) as _,
            exemplars: Arc::clone(&reads) as _,
            metadata: reads,
        }
    }
}

/// The write path: one distributor per signal.
struct Distributors {
    metrics: Arc<Distributor>,
    logs: Arc<LogsDistributor>,
    traces: Arc<TracesDistributor>,
    /// `max_inflight_push_requests_bytes`, shared by every push path.
    inflight: Arc<InflightBytes>,
}

impl Distributors {
    fn new(
        cfg: &Config,
        overrides: &Arc<Overrides>,
        access: &IngesterAccess,
        registry: &mut Registry,
    ) -> Self {
        Self {
            metrics: Arc::new(Distributor::new(
                cfg.distributor.clone(),
                Arc::clone(overrides),
                Arc::clone(&access.metrics),
                registry,
                cfg.multitenancy_enabled,
            )),
            logs: Arc::new(LogsDistributor::new(
                cfg.distributor.clone(),
                Arc::clone(overrides),
                Arc::clone(&access.logs),
                registry,
                cfg.multitenancy_enabled,
            )),
            traces: Arc::new(TracesDistributor::new(
                cfg.distributor.clone(),
                Arc::clone(overrides),
                Arc::clone(&access.traces),
                registry,
                cfg.multitenancy_enabled,
            )),
            inflight: InflightBytes::new(&cfg.distributor, registry),
        }
    }

    /// Splits each tenant's rate limits among the healthy distributors the
    /// ring counts, re-read every probe interval.
    fn follow_distributor_count(
        &self,
        ring: &Arc<RingWatcher>,
        every: Duration,
        registry: &mut Registry,
    ) {
        let gauge = Gauge::<i64>::default();
        registry.register(
            "cairn_distributor_healthy_distributors",
            "Healthy distributors each tenant's rate limits are split among",
            gauge.clone(),
        );
        let (metrics, logs, traces) = (
            Arc::clone(&self.metrics),
            Arc::clone(&self.logs),
            Arc::clone(&self.traces),
        );
        let ring = Arc::clone(ring);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                let n = ring.healthy_distributors();
                gauge.set(i64::try_from(n).unwrap_or(i64::MAX));
                metrics.set_healthy_distributors(n);
                logs.set_healthy_distributors(n);
                traces.set_healthy_distributors(n);
            }
        });
    }
}

/// The read path over ingesters and object storage.
struct QueryStores {
    series: Arc<dyn SeriesStore>,
    logs: Arc<dyn LogStore>,
    traces: Arc<dyn TraceStore>,
}

impl QueryStores {
    fn new(
        cfg: &Config,
        store: &Arc<dyn object_store::ObjectStore>,
        overrides: &Arc<Overrides>,
        access: &IngesterAccess,
    ) -> Self {
        Self {
            logs: Arc::new(MergedLogStore::new(vec![
                Arc::clone(&access.log_store),
                Arc::new(LogBlockStore::new(
                    Arc::clone(store),
                    cfg.querier.blocks.clone(),
                )),
            ])),
            traces: Arc::new(MergedTraceStore::new(vec![
                Arc::clone(&access.trace_store),
                Arc::new(TraceBlockStore::new(
                    Arc::clone(store),
                    cfg.querier.blocks.clone(),
                )),
            ])),
            series: Arc::new(MergedStore::new(vec![
                Arc::clone(&access.series),
                Arc::new(BlockStore::new(
                    Arc::clone(store),
                    Arc::clone(overrides),
                    cfg.querier.blocks.clone(),
                )),
            ])),
        }
    }
}

/// Runs the services of `cfg.target` until the process is stopped.
pub async fn run(cfg: Config) -> anyhow::Result<()> {
    let mut registry = Registry::default();
    let durations = Family::<RequestLabels, Histogram>::new_with_constructor(|| {
        Histogram::new(exponential_buckets(0.001, 4.0, 8))
    });
    registry.register(
        "cairn_request_duration_seconds",
        "Time to answer HTTP requests, by route and status",
        durations.clone(),
    );

    crate::process_metrics::register(&mut registry, common::build_info::get());
    let overrides = Arc::new(Overrides::new(cfg.limits.clone()));
    overrides.register_metrics(&mut registry);
    if let Some(path) = &cfg.runtime_config.file {
        overrides
            .load_file(path)
            .context("loading runtime overrides")?;
        overrides.spawn_reloader(path.clone(), cfg.runtime_config.period);
    }
    let auth = Arc::new(Authenticator::new(
        &cfg.auth,
        cfg.multitenancy_enabled,
        cfg.server.trusted_proxies.clone(),
        Arc::clone(&overrides),
        &mut registry,
    ));
    let store = common::storage::build_store(&cfg.storage).context("building object storage")?;
    let targets = cfg.target.clone();
    let distributed = !cfg.ring.members.is_empty() || !cfg.ring.members_dns.is_empty();
    let ring = distributed.then(|| RingWatcher::new(cfg.ring.clone(), &mut registry));

    // The ingester replays its WAL here, before anything is served: a
    // restarted ingester is not ready (nor reachable) until it is done.
    let ingester = if targets.runs(Service::Ingester) {
        let ingester = Ingester::new(
            cfg.ingester.clone(),
            Arc::clone(&store),
            Arc::clone(&overrides),
            &mut registry,
        )
        .context("starting ingester")?;
        ingester.spawn_cut_loop();
        ingester.spawn_retention_loop();
        ingester.set_membership(Arc::new(Membership::new(
            &cfg.ingester.id,
            &cfg.ring.instance_zone,
            &instance_addr(&cfg),
            ring.clone(),
        )));
        Some(ingester)
    } else {
        None
    };
    let needs_ingesters = [Service::Distributor, Service::Querier, Service::Ruler]
        .into_iter()
        .any(|s| targets.runs(s));
    let access = match (&ingester, &ring) {
        (_, Some(ring)) => Some(IngesterAccess::ring(ring, &cfg, &overrides, &mut registry)),
        (Some(ingester), None) => Some(IngesterAccess::local(ingester)),
        (None, None) if needs_ingesters => anyhow::bail!(
            "--target {targets} reaches the ingesters through the ring: set ring.members or ring.members_dns"
        ),
        (None, None) => None,
    };
    if let Some(ring) = &ring {
        ring.probe_now().await;
        ring.spawn();
    }

    let compactor = targets.runs(Service::Compactor).then(|| {
        let compactor = Compactor::new(
            cfg.compactor.clone(),
            Arc::clone(&store),
            Arc::clone(&overrides),
            &mut registry,
        );
        compactor.spawn_loops();
        compactor
    });
    let distributors = match &access {
        Some(access) if targets.runs(Service::Distributor) || targets.runs(Service::Ruler) => {
            Some(Distributors::new(&cfg, &overrides, access, &mut registry))
        }
        _ => None,
    };
    if let (Some(d), Some(ring)) = (&distributors, &ring)
        && targets.runs(Service::Distributor)
    {
        d.follow_distributor_count(ring, cfg.ring.probe_interval, &mut registry);
    }
    let stores = match &access {
        Some(access) if targets.runs(Service::Querier) || targets.runs(Service::Ruler) => {
            Some(QueryStores::new(&cfg, &store, &overrides, access))
        }
        _ => None,
    };
    let ruler = match (&distributors, &stores) {
        (Some(d), Some(stores)) if targets.runs(Service::Ruler) => {
            let ruler = Ruler::new(
                cfg.ruler.clone(),
                RulerDeps {
                    store: Arc::clone(&store),
                    promql: Arc::new(Engine::new(
                        Arc::clone(&stores.series),
                        Arc::clone(&overrides),
                        cfg.querier.engine_options(),
                    )),
                    logql: Arc::new(LogqlEngine::new(Arc::clone(&stores.logs))),
                    distributor: Arc::clone(&d.metrics),
                    overrides: Arc::clone(&overrides),
                },
                &mut registry,
                cfg.multitenancy_enabled,
            );
            ruler.spawn();
            Some(ruler)
        }
        _ => None,
    };
    let querier = match (&access, &stores) {
        (Some(access), Some(stores)) if targets.runs(Service::Querier) => {
            let querier = Arc::new(
                Querier::new(
                    cfg.querier.clone(),
                    Arc::clone(&stores.series),
                    Arc::clone(&overrides),
                    cfg.multitenancy_enabled,
                )
                .with_metadata_source(Arc::clone(&access.metadata))
                .with_exemplar_source(Arc::clone(&access.exemplars))
                .with_log_store(Arc::clone(&stores.logs))
                .with_trace_store(Arc::clone(&stores.traces)),
            );
            querier.frontend().register_metrics(&mut registry);
            Some(querier)
        }
        _ => None,
    };

    let addr = format!(
        "{}:{}",
        cfg.server.http_listen_address, cfg.server.http_listen_port
    );
    let grpc_addr = format!(
        "{}:{}",
        cfg.server.http_listen_address, cfg.server.grpc_listen_port
    );
    // OTLP in where the distributor runs; the internal service where an
    // ingester is in a ring.
    let otlp = distributors
        .as_ref()
        .filter(|_| targets.runs(Service::Distributor));
    let grpc = tonic::transport::Server::builder()
        .add_optional_service(otlp.map(|d| {
            TraceGrpcService::server(
                Arc::clone(&d.traces),
                Arc::clone(&auth),
                Arc::clone(&d.inflight),
            )
        }))
        .add_optional_service(otlp.map(|d| {
            MetricsGrpcService::server(
                Arc::clone(&d.metrics),
                Arc::clone(&auth),
                Arc::clone(&d.inflight),
            )
        }))
        .add_optional_service(otlp.map(|d| {
            LogsGrpcService::server(
                Arc::clone(&d.logs),
                Arc::clone(&auth),
                Arc::clone(&d.inflight),
            )
        }))
        .add_optional_service(
            ingester
                .as_ref()
                .filter(|_| ring.is_some())
                .map(|i| IngesterGrpc::new(Arc::clone(i), cfg.ingester_client.max_message_bytes)),
        );
    let tls = cfg.server.tls.clone();
    let graceful = cfg.server.graceful_shutdown_timeout;
    let flush_on_shutdown = cfg.ingester.flush_on_shutdown;
    let membership = ingester.as_ref().and_then(|i| i.membership().cloned());
    let ops = Arc::new(Ops {
        cfg,
        overrides,
        registry: Mutex::new(registry),
        durations,
        membership: membership.clone(),
        ingester: ingester.clone(),
    });
    let mut app = Router::new();
    if let Some(d) = distributors
        .as_ref()
        .filter(|_| targets.runs(Service::Distributor))
    {
        let push = Router::new()
            .merge(Arc::clone(&d.metrics).router())
            .merge(Arc::clone(&d.logs).router())
            .merge(Arc::clone(&d.traces).router())
            .layer(axum::middleware::from_fn_with_state(
                Arc::clone(&d.inflight),
                distributor::inflight::limit_http,
            ));
        app = app.merge(push);
    }
    if let Some(ingester) = &ingester {
        app = app.merge(Arc::clone(ingester).router());
    }
    if let Some(querier) = &querier {
        app = app.merge(Arc::clone(querier).router());
    }
    if let Some(compactor) = &compactor {
        app = app.merge(Arc::clone(compactor).router());
    }
    if let Some(ruler) = &ruler {
        app = app.merge(Arc::clone(ruler).router());
    }
    if let Some(ring) = &ring {
        app = app.merge(common::ring::router(Arc::clone(ring)));
    }
    let app = app
        .merge(ops_router(Arc::clone(&ops)))
        .layer(middleware::from_fn_with_state(
            auth,
            crate::access::authorize,
        ))
        .layer(middleware::from_fn_with_state(ops, record_duration))
        .into_make_service_with_connect_info::<SocketAddr>();

    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    // OTLP/gRPC is served in plaintext, also when the HTTP port uses TLS.
    let grpc_listener = tokio::net::TcpListener::bind(&grpc_addr)
        .await
        .with_context(|| format!("binding {grpc_addr}"))?;
    tracing::info!(addr = %grpc_addr, "cairn listening (OTLP gRPC)");
    let (signalled, stop) = tokio::sync::watch::channel(None::<Instant>);
    tokio::spawn(async move {
        // A signal, or an ingester that left through
        // `POST /ingester/shutdown`.
        let left = async {
            match &membership {
                Some(m) => m.wait_left().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = shutdown_signal() => {}
            () = left => tracing::info!("the ingester left (POST /ingester/shutdown); stopping"),
        }
        let _ = signalled.send(Some(Instant::now()));
    });
    let grpc = tokio::spawn(grpc.serve_with_incoming_shutdown(
        tonic::transport::server::TcpIncoming::from(grpc_listener),
        stopped(stop.clone()),
    ));
    let serving = async {
        match tls {
            None => {
                tracing::info!(%addr, "cairn listening (HTTP)");
                axum::serve(listener, app)
                    .with_graceful_shutdown(stopped(stop.clone()))
                    .await
            }
            Some(tls) => {
                let config = common::tls::server_config(&tls).context("loading server.tls")?;
                // `tap_io` gives any listener with `SocketAddr` peers the
                // `ConnectInfo<SocketAddr>` the access layer reads.
                let listener = TlsListener::new(listener, config)
                    .context("starting the TLS listener")?
                    .tap_io(|_| {});
                tracing::info!(%addr, "cairn listening (HTTPS)");
                axum::serve(listener, app)
                    .with_graceful_shutdown(stopped(stop.clone()))
                    .await
            }
        }
        .context("serving HTTP")
    };
    // Open connections (a Loki tail, a slow query) may drain only until
    // the deadline.
    let drain_deadline = async {
        stopped(stop.clone()).await;
        tokio::time::sleep(graceful).await;
    };
    tokio::select! {
        served = serving => served?,
        () = drain_deadline => tracing::warn!("requests still open at the shutdown deadline; closing them"),
    }
    grpc.abort();
    if let Some(ingester) = ingester {
        stop_ingester(&ingester, flush_on_shutdown, graceful, &stop).await;
    }
    Ok(())
}

/// Flushes (if configured) and syncs the ingester within what is left of
/// the graceful-shutdown deadline; what is not uploaded stays in the WAL.
async fn stop_ingester(
    ingester: &Ingester,
    flush: bool,
    graceful: Duration,
    stop: &tokio::sync::watch::Receiver<Option<Instant>>,
) {
    let since_signal = stop.borrow().map_or(Duration::ZERO, |at| at.elapsed());
    let left = graceful.saturating_sub(since_signal);
    match tokio::time::timeout(left, ingester.shutdown(flush)).await {
        Ok(Ok(())) => tracing::info!("shut down cleanly"),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "flushing on shutdown failed; the data stays in the WAL");
        }
        Err(_) => {
            tracing::error!(
                ?graceful,
                "flushing on shutdown ran past the deadline; the data stays in the WAL"
            );
            if let Err(e) = ingester.shutdown(false).await {
                tracing::error!(error = %e, "syncing the WAL on shutdown failed");
            }
        }
    }
}

/// The gRPC address other services dial for this ingester.
fn instance_addr(cfg: &Config) -> String {
    if cfg.ring.instance_addr.is_empty() {
        format!(
            "{}:{}",
            cfg.server.http_listen_address, cfg.server.grpc_listen_port
        )
    } else {
        cfg.ring.instance_addr.clone()
    }
}

/// Resolves once the shutdown signal was received.
async fn stopped(mut stop: tokio::sync::watch::Receiver<Option<Instant>>) {
    let _ = stop.wait_for(Option::is_some).await;
}

fn ops_router(ops: Arc<Ops>) -> Router {
    Router::new()
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .route("/config", get(config))
        .route("/runtime_config", get(runtime_config))
        .with_state(ops)
}

async fn ready(State(ops): State<Arc<Ops>>) -> Response {
    match &ops.membership {
        Some(m) if !m.is_active() => {
            return (StatusCode::SERVICE_UNAVAILABLE, "leaving the ring\n").into_response();
        }
        _ => {}
    }
    if let Some(ingester) = ops.ingester.clone() {
        // The probe writes a file: keep it off the async workers.
        let status = tokio::task::spawn_blocking(move || ingester.wal_status()).await;
        if let Ok(Err(why)) | Err(why) = status.map_err(|e| e.to_string()) {
            return (StatusCode::SERVICE_UNAVAILABLE, format!("{why}\n")).into_response();
        }
    }
    "ready\n".into_response()
}

async fn metrics(State(ops): State<Arc<Ops>>) -> Response {
    let mut out = String::new();
    match prometheus_client::encoding::text::encode(&mut out, &ops.registry.lock()) {
        Ok(()) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            out,
        )
            .into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("encoding metrics: {e}\n"),
        )
            .into_response(),
    }
}

fn yaml_response<T: serde::Serialize>(value: &T) -> Response {
    match serde_saphyr::to_string(value) {
        Ok(yaml) => ([(header::CONTENT_TYPE, "text/yaml; charset=utf-8")], yaml).into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("encoding config: {e}\n"),
        )
            .into_response(),
    }
}

async fn config(State(ops): State<Arc<Ops>>) -> Response {
    yaml_response(&ops.cfg)
}

async fn runtime_config(State(ops): State<Arc<Ops>>) -> Response {
    yaml_response(&serde_json::json!({ "overrides": ops.overrides.snapshot() }))
}

async fn record_duration(State(ops): State<Arc<Ops>>, req: Request, next: Next) -> Response {
    let method = req.method().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("other", |p| p.as_str())
        .to_string();
    let start = Instant::now();
    let resp = next.run(req).await;
    let labels = RequestLabels {
        method,
        route,
        status_code: resp.status().as_u16().to_string(),
    };
    ops.durations
        .get_or_create(&labels)
        .observe(start.elapsed().as_secs_f64());
    resp
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down");
}
