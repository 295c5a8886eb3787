//! The one HTTP access-control layer: classifies each request's route
//! (`common::auth::scope::classify`) and lets it through only if the
//! [`Authenticator`] accepts its tenant, token and source address.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use common::auth::Authenticator;
use common::auth::scope::classify;

/// Axum middleware (`middleware::from_fn_with_state`) applying
/// `auth.type`, tokens, scopes and `allowed_source_cidrs` to every route.
pub async fn authorize(
    State(auth): State<Arc<Authenticator>>,
    req: Request,
    next: Next,
) -> Response {
    let Some(need) = auth.required(classify(req.method(), req.uri().path())) else {
        return next.run(req).await;
    };
    // Served with connect info, so the peer is always there; were it not,
    // an unspecified address matches no `allowed_source_cidrs` but 0.0.0.0/0.
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
    match auth.authorize(req.headers(), peer, need) {
        Ok(_) => next.run(req).await,
        Err(e) if auth.defers(&e) => next.run(req).await,
        Err(e) => e.into_response(),
    }
}
