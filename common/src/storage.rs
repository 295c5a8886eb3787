//! Object storage: which bucket Cairn writes to, built once from config.
//!
//! Everything a tenant owns lives under `<tenant>/` in this one store. The
//! filesystem backend is the embedded default; S3 (and S3-compatibles such as
//! SeaweedFS or MinIO, path-style) is for real deployments; in-memory is for
//! tests.
//!
//! Every request to an S3 bucket has a bounded wait ([`S3Config`]'s
//! timeouts and retries): a bucket that refuses connections or stops
//! answering fails a read within seconds instead of holding queries for
//! minutes, so the querier can say the store is unavailable (503) and keep
//! answering from the ingesters what they hold.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::{BackoffConfig, ClientOptions, ObjectStore, RetryConfig};
use serde::{Deserialize, Serialize};

/// Which backend to use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// A directory on local disk.
    #[default]
    Filesystem,
    /// Amazon S3 or an S3-compatible server.
    S3,
    /// Process memory; lost on exit. Tests only.
    Memory,
}

/// `storage:` in the config file (Mimir's `blocks_storage` key names).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// The backend.
    pub backend: Backend,
    /// Settings for `backend: filesystem`.
    pub filesystem: FilesystemConfig,
    /// Settings for `backend: s3`.
    pub s3: S3Config,
}

/// Local-disk bucket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FilesystemConfig {
    /// Root directory of the bucket.
    pub dir: PathBuf,
}

impl Default for FilesystemConfig {
    fn default() -> Self {
        Self {
            dir: PathBuf::from("./data/bucket"),
        }
    }
}

/// S3 bucket. Unset keys fall back to the standard `AWS_*` environment variables.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct S3Config {
    /// e.g. `http://127.0.0.1:8333`; empty for AWS.
    pub endpoint: String,
    /// Bucket name.
    pub bucket_name: String,
    /// Region; S3-compatibles usually accept anything.
    pub region: String,
    /// Access key; empty = `AWS_ACCESS_KEY_ID` or anonymous.
    pub access_key_id: String,
    /// Secret key; empty = `AWS_SECRET_ACCESS_KEY`. Never printed by `/config`.
    #[serde(skip_serializing)]
    pub secret_access_key: String,
    /// Allow plain-HTTP endpoints.
    pub insecure: bool,
    /// Use virtual-hosted-style URLs instead of path-style (S3-compatibles want path-style).
    pub virtual_hosted_style: bool,
    /// Longest wait for a TCP (and TLS) connection to the endpoint (AWS
    /// recommends about 3 s for latency-sensitive clients).
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Longest wait for the next bytes of a response (headers or body):
    /// what notices a bucket that accepted the connection but stopped
    /// answering. It restarts with every read, so large objects are not cut.
    #[serde(with = "humantime_serde")]
    pub read_timeout: Duration,
    /// Longest a whole request (connect to last body byte) may take.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Retries of a failed request (connection refused or reset, timeout,
    /// 5xx) after the first attempt, with exponential backoff and jitter.
    pub max_retries: usize,
    /// No retry starts later than this after a request's first attempt:
    /// with `read_timeout`, it bounds how long one read of an unavailable
    /// bucket waits before failing (about `retry_timeout + read_timeout`).
    #[serde(with = "humantime_serde")]
    pub retry_timeout: Duration,
}

impl Default for S3Config {
    fn default() -> Self {
        Self {
            endpoint: String::new(),
            bucket_name: String::new(),
            region: String::new(),
            access_key_id: String::new(),
            secret_access_key: String::new(),
            insecure: false,
            virtual_hosted_style: false,
            connect_timeout: Duration::from_secs(3),
            read_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
            max_retries: 3,
            retry_timeout: Duration::from_secs(10),
        }
    }
}

impl S3Config {
    /// The HTTP client's timeouts.
    fn client_options(&self) -> ClientOptions {
        ClientOptions::new()
            .with_allow_http(self.insecure)
            .with_connect_timeout(self.connect_timeout)
            .with_read_timeout(self.read_timeout)
            .with_timeout(self.request_timeout)
    }

    /// How failed requests are retried.
    fn retry_config(&self) -> RetryConfig {
        RetryConfig {
            backoff: BackoffConfig::default(),
            max_retries: self.max_retries,
            retry_timeout: self.retry_timeout,
        }
    }
}

/// Why a store could not be built.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The config is incomplete or the backend refused it.
    #[error("storage config: {0}")]
    Config(String),
    /// The filesystem root could not be created.
    #[error("creating storage directory {path}: {source}")]
    Dir {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// Installs the process-wide TLS provider (ring) the HTTP clients need; idempotent.
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Builds the configured store.
pub fn build_store(cfg: &StorageConfig) -> Result<Arc<dyn ObjectStore>, StorageError> {
    install_tls_provider();
    match cfg.backend {
        Backend::Memory => Ok(Arc::new(InMemory::new())),
        Backend::Filesystem => {
            let dir = &cfg.filesystem.dir;
            std::fs::create_dir_all(dir).map_err(|source| StorageError::Dir {
                path: dir.clone(),
                source,
            })?;
            let fs = LocalFileSystem::new_with_prefix(dir)
                .map_err(|e| StorageError::Config(e.to_string()))?
                .with_automatic_cleanup(true);
            Ok(Arc::new(fs))
        }
        Backend::S3 => {
            let s3 = &cfg.s3;
            if s3.bucket_name.is_empty() {
                return Err(StorageError::Config(
                    "storage.s3.bucket_name is required".into(),
                ));
            }
            let mut b = AmazonS3Builder::from_env()
                .with_bucket_name(&s3.bucket_name)
                .with_client_options(s3.client_options())
                .with_retry(s3.retry_config())
                .with_virtual_hosted_style_request(s3.virtual_hosted_style);
            for (value, set) in [
                (
                    &s3.endpoint,
                    AmazonS3Builder::with_endpoint
                        as fn(AmazonS3Builder, String) -> AmazonS3Builder,
                ),
                (&s3.region, AmazonS3Builder::with_region),
                (&s3.access_key_id, AmazonS3Builder::with_access_key_id),
                (
                    &s3.secret_access_key,
                    AmazonS3Builder::with_secret_access_key,
                ),
            ] {
                if !value.is_empty() {
                    b = set(b, value.clone());
                }
            }
            if s3.region.is_empty() && std::env::var_os("AWS_REGION").is_none() {
                b = b.with_region("us-east-1");
            }
            if s3.access_key_id.is_empty() && std::env::var_os("AWS_ACCESS_KEY_ID").is_none() {
                b = b.with_skip_signature(true);
            }
            Ok(Arc::new(
                b.build().map_err(|e| StorageError::Config(e.to_string()))?,
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use object_store::ObjectStoreExt;
    use object_store::path::Path;

    use super::*;
    use crate::series::StoreError;

    /// An S3 store at `port` on 127.0.0.1 with a bounded wait of about 1.5 s.
    fn s3_at(port: u16) -> Arc<dyn ObjectStore> {
        build_store(&StorageConfig {
            backend: Backend::S3,
            s3: S3Config {
                endpoint: format!("http://127.0.0.1:{port}"),
                bucket_name: "b".into(),
                insecure: true,
                connect_timeout: Duration::from_millis(500),
                read_timeout: Duration::from_millis(500),
                max_retries: 2,
                retry_timeout: Duration::from_secs(1),
                ..S3Config::default()
            },
            ..StorageConfig::default()
        })
        .unwrap()
    }

    /// Reads one object, returning how long it took and the error as the
    /// querier sees it.
    async fn failed_read(store: &dyn ObjectStore) -> (Duration, StoreError) {
        let started = Instant::now();
        let err = store.get(&Path::from("t/meta.json")).await.unwrap_err();
        (started.elapsed(), StoreError::from(err))
    }

    #[tokio::test]
    async fn a_bucket_refusing_connections_fails_reads_within_the_bounded_wait() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let (took, err) = failed_read(s3_at(port).as_ref()).await;
        assert!(took < Duration::from_secs(3), "{took:?}");
        assert!(matches!(err, StoreError::StoreUnavailable(_)), "{err}");
        assert!(err.to_string().starts_with("err-cairn-store-unavailable: "));
    }

    #[tokio::test]
    async fn a_bucket_that_stopped_answering_fails_reads_within_the_bounded_wait() {
        // Connections are accepted (by the kernel) and never answered.
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = silent.local_addr().unwrap().port();
        let (took, err) = failed_read(s3_at(port).as_ref()).await;
        // retry_timeout (1 s) plus one read_timeout (0.5 s), and slack.
        assert!(took < Duration::from_secs(4), "{took:?}");
        assert!(took >= Duration::from_millis(500), "{took:?}");
        assert!(matches!(err, StoreError::StoreUnavailable(_)), "{err}");
        drop(silent);
    }

    #[test]
    fn s3_waits_have_bounded_defaults_and_read_from_yaml() {
        let d = S3Config::default();
        assert_eq!(d.connect_timeout, Duration::from_secs(3));
        assert_eq!(d.read_timeout, Duration::from_secs(5));
        assert_eq!(d.retry_timeout, Duration::from_secs(10));
        let cfg: StorageConfig = serde_json::from_str(
            r#"{"backend":"s3","s3":{"bucket_name":"b","read_timeout":"2s","max_retries":1}}"#,
        )
        .unwrap();
        assert_eq!(cfg.s3.read_timeout, Duration::from_secs(2));
        assert_eq!(cfg.s3.max_retries, 1);
        assert_eq!(cfg.s3.connect_timeout, d.connect_timeout);
    }
}
