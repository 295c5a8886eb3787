//! One [`IngesterClient`] per ingester address, created on first use and
//! kept, so connections are reused across requests.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;

use super::client::{ClientConfig, IngesterClient};

/// The clients of every ingester this process talks to.
pub struct ClientPool {
    cfg: ClientConfig,
    clients: Mutex<HashMap<String, Arc<IngesterClient>>>,
}

impl ClientPool {
    /// An empty pool whose clients use `cfg`.
    pub fn new(cfg: ClientConfig) -> Self {
        Self {
            cfg,
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// The client of the ingester at gRPC address `addr`.
    pub fn get(&self, addr: &str) -> Result<Arc<IngesterClient>, tonic::transport::Error> {
        let mut clients = self.clients.lock();
        if let Some(c) = clients.get(addr) {
            return Ok(Arc::clone(c));
        }
        let client = Arc::new(IngesterClient::new(addr, self.cfg.clone())?);
        clients.insert(addr.to_string(), Arc::clone(&client));
        Ok(client)
    }
}
