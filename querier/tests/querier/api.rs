//! The Prometheus HTTP API over a real socket.
