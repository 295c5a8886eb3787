//! Tenant and access check for OTLP/gRPC calls: the same
//! [`Authenticator`] as the HTTP access layer, fed the call's metadata.

use std::net::{IpAddr, Ipv4Addr};

use common::auth::Authenticator;
use common::auth::scope::Scope;
use common::tenant::{TenantError, TenantId};
use tonic::{Request, Status};

use crate::traces::grpc_status;

/// The one tenant a gRPC write names, once `auth` allows it to write.
pub(crate) fn authorize_write<T>(
    auth: &Authenticator,
    request: &Request<T>,
) -> Result<TenantId, Status> {
    let headers = request.metadata().clone().into_headers();
    let peer = request
        .remote_addr()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |a| a.ip());
    let mut tenants = auth
        .authorize(&headers, peer, &[Scope::Write])
        .map_err(|e| grpc_status(e.status(), e.to_string()))?;
    match tenants.pop() {
        Some(tenant) if tenants.is_empty() => Ok(tenant),
        _ => {
            let e = TenantError::Multiple;
            Err(Status::invalid_argument(e.to_string()))
        }
    }
}
