//! `/loki/api/v1/tail`: a WebSocket that first sends the lines since
//! `start` (at most `limit`), then polls the store every second for lines
//! newer than the last one sent, each batch as one Loki tail frame.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use common::logs::{Direction, StreamEntries};
use common::tenant::{TenantId, tenants_from_headers};

use super::error::LokiError;
use super::params::{self, DEFAULT_SINCE_NS, now_ns};
use super::{LokiState, json};
use crate::api::params::Params;
use crate::logql::{self, Expr, LogqlError, QueryParams};

/// How often the store is polled for new lines.
const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// `GET /loki/api/v1/tail` (WebSocket upgrade).
pub(crate) async fn tail(
    State(st): State<Arc<LokiState>>,
    headers: HeaderMap,
    uri: Uri,
    ws: WebSocketUpgrade,
) -> Result<Response, LokiError> {
    let tenants = tenants_from_headers(&headers, st.querier.multitenancy)?;
    let mut p = Params::default();
    p.extend_from_urlencoded(uri.query().unwrap_or(""));
    let query = p.require("query")?.to_string();
    let expr = logql::parse(&query).map_err(LogqlError::from)?;
    if !matches!(expr, Expr::Log(_)) {
        return Err(LokiError::BadRequest(
            "tail requires a log query, not a metric query".into(),
        ));
    }
    let limit = params::limit(&p)?;
    let start = params::time_or(&p, "start", now_ns() - DEFAULT_SINCE_NS)?;
    Ok(ws
        .on_upgrade(move |socket| stream(st, tenants, expr, start, limit, socket))
        .into_response())
}

async fn stream(
    st: Arc<LokiState>,
    tenants: Vec<TenantId>,
    expr: Expr,
    start: i64,
    limit: usize,
    mut socket: WebSocket,
) {
    let mut from = start;
    let mut ticker = tokio::time::interval(POLL_INTERVAL);
    loop {
        tokio::select! {
            msg = socket.recv() => match msg {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => continue,
            },
            _ = ticker.tick() => {}
        }
        let qp = QueryParams {
            start_ns: from,
            end_ns: now_ns() + 1,
            step_ns: 0,
            instant: false,
            limit,
            direction: Direction::Forward,
            interval_ns: 0,
        };
        let streams = match st.engine.eval(&tenants, &expr, &qp).await {
            Ok(r) => match r.value {
                logql::LogqlValue::Streams(s) => s,
                logql::LogqlValue::Metric(_) => return,
            },
            Err(e) => {
                tracing::warn!(error = %e, "tail query failed");
                let _ = socket.send(Message::Close(None)).await;
                return;
            }
        };
        let Some(last) = last_ts(&streams) else {
            continue;
        };
        from = last + 1;
        if socket
            .send(Message::Text(json::tail_frame(&streams).into()))
            .await
            .is_err()
        {
            return;
        }
    }
}

fn last_ts(streams: &[StreamEntries]) -> Option<i64> {
    streams
        .iter()
        .flat_map(|s| s.entries.iter().map(|e| e.ts_ns))
        .max()
}
