//! End-to-end tests of the `cairn` binary: real processes, real HTTP on
//! 127.0.0.1, real Prometheus, Alertmanager and a real S3 server.

mod support;

mod api_parity;
mod auth;
mod bad_input;
mod bucket_outage;
mod cluster;
mod compaction;
mod crash;
mod deploy_manifests;
mod durability;
mod hostile_push;
mod isolation;
mod limits;
mod logs_detected;
mod logs_drilldown;
mod logs_push;
mod noisy_neighbour;
mod operations;
mod prometheus_peer;
mod remote_write_v2;
mod ruler;
mod tenancy;
mod traces_drilldown;
mod traces_push;
