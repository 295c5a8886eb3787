//! Builds every service of `--target all`, mounts their routers on one HTTP
//! port, and adds the operational endpoints (`/ready`, `/metrics`, `/config`,
//! `/runtime_config`), access control and per-request metrics, over HTTP or
//! HTTPS.

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
use common::limits::Overrides;
use common::logs::LogStore;
use common::series::SeriesStore;
use common::tls::TlsListener;
use common::traces::TraceStore;
use compactor::Compactor;
use distributor::otlp_metrics::MetricsGrpcService;
use distributor::traces::{TraceGrpcService, TracesDistributor};
use distributor::{Distributor, LogsDistributor};
use ingester::Ingester;
use parking_lot::Mutex;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use querier::Querier;
use querier::logql::LogqlEngine;
use querier::promql::Engine;
use querier::store::{
    BlockStore, LogBlockStore, MergedLogStore, MergedStore, MergedTraceStore, TraceBlockStore,
};
use ruler::{Ruler, RulerDeps};

use crate::config::Config;

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
}

/// Runs `--target all` until the process is stopped.
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

    let overrides = Arc::new(Overrides::new(cfg.limits.clone()));
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

    let ingester = Ingester::new(
        cfg.ingester.clone(),
        Arc::clone(&store),
        Arc::clone(&overrides),
        &mut registry,
    )
    .context("starting ingester")?;
    ingester.spawn_cut_loop();
    ingester.spawn_retention_loop();
    let compactor = Compactor::new(
        cfg.compactor.clone(),
        Arc::clone(&store),
        Arc::clone(&overrides),
        &mut registry,
    );
    compactor.spawn_loops();
    let distributor = Arc::new(Distributor::new(
        cfg.distributor.clone(),
        Arc::clone(&overrides),
        Arc::clone(&ingester) as _,
        &mut registry,
        cfg.multitenancy_enabled,
    ));
    let logs_distributor = Arc::new(LogsDistributor::new(
        cfg.distributor.clone(),
        Arc::clone(&overrides),
        Arc::clone(&ingester) as _,
        &mut registry,
        cfg.multitenancy_enabled,
    ));
    let traces_distributor = Arc::new(TracesDistributor::new(
        cfg.distributor.clone(),
        Arc::clone(&overrides),
        Arc::clone(&ingester) as _,
        &mut registry,
        cfg.multitenancy_enabled,
    ));
    let log_store: Arc<dyn LogStore> = Arc::new(MergedLogStore::new(vec![
        Arc::clone(&ingester) as Arc<dyn LogStore>,
        Arc::new(LogBlockStore::new(
            Arc::clone(&store),
            cfg.querier.blocks.clone(),
        )),
    ]));
    let trace_store: Arc<dyn TraceStore> = Arc::new(MergedTraceStore::new(vec![
        Arc::clone(&ingester) as Arc<dyn TraceStore>,
        Arc::new(TraceBlockStore::new(
            Arc::clone(&store),
            cfg.querier.blocks.clone(),
        )),
    ]));
    let query_store: Arc<dyn SeriesStore> = Arc::new(MergedStore::new(vec![
        Arc::clone(&ingester) as Arc<dyn SeriesStore>,
        Arc::new(BlockStore::new(
            Arc::clone(&store),
            Arc::clone(&overrides),
            cfg.querier.blocks.clone(),
        )),
    ]));
    let ruler = Ruler::new(
        cfg.ruler.clone(),
        RulerDeps {
            store: Arc::clone(&store),
            promql: Arc::new(Engine::new(
                Arc::clone(&query_store),
                Arc::clone(&overrides),
                cfg.querier.engine_options(),
            )),
            logql: Arc::new(LogqlEngine::new(Arc::clone(&log_store))),
            distributor: Arc::clone(&distributor),
            overrides: Arc::clone(&overrides),
        },
        &mut registry,
        cfg.multitenancy_enabled,
    );
    ruler.spawn();
    let querier = Arc::new(
        Querier::new(
            cfg.querier.clone(),
            query_store,
            Arc::clone(&overrides),
            cfg.multitenancy_enabled,
        )
        .with_metadata_source(Arc::clone(&ingester) as _)
        .with_exemplar_source(Arc::clone(&ingester) as _)
        .with_log_store(log_store)
        .with_trace_store(trace_store),
    );

    querier.frontend().register_metrics(&mut registry);

    let addr = format!(
        "{}:{}",
        cfg.server.http_listen_address, cfg.server.http_listen_port
    );
    let grpc_addr = format!(
        "{}:{}",
        cfg.server.http_listen_address, cfg.server.grpc_listen_port
    );
    let grpc = tonic::transport::Server::builder()
        .add_service(TraceGrpcService::server(
            Arc::clone(&traces_distributor),
            Arc::clone(&auth),
        ))
        .add_service(MetricsGrpcService::server(
            Arc::clone(&distributor),
            Arc::clone(&auth),
        ));
    let tls = cfg.server.tls.clone();
    let graceful = cfg.server.graceful_shutdown_timeout;
    let flush_on_shutdown = cfg.ingester.flush_on_shutdown;
    let ops = Arc::new(Ops {
        cfg,
        overrides,
        registry: Mutex::new(registry),
        durations,
    });
    let app = Router::new()
        .merge(distributor.router())
        .merge(logs_distributor.router())
        .merge(traces_distributor.router())
        .merge(Arc::clone(&ingester).router())
        .merge(querier.router())
        .merge(compactor.router())
        .merge(ruler.router())
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
        shutdown_signal().await;
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
    let since_signal = stop.borrow().map_or(Duration::ZERO, |at| at.elapsed());
    let left = graceful.saturating_sub(since_signal);
    match tokio::time::timeout(left, ingester.shutdown(flush_on_shutdown)).await {
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
    Ok(())
}

/// Resolves once the shutdown signal was received.
async fn stopped(mut stop: tokio::sync::watch::Receiver<Option<Instant>>) {
    let _ = stop.wait_for(Option::is_some).await;
}

fn ops_router(ops: Arc<Ops>) -> Router {
    Router::new()
        .route("/ready", get(|| async { "ready\n" }))
        .route("/metrics", get(metrics))
        .route("/config", get(config))
        .route("/runtime_config", get(runtime_config))
        .with_state(ops)
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
