//! TLS for Cairn's listeners (rustls): a certificate that is re-read when
//! its files change, the server config built on it (HTTP and gRPC), and an
//! axum listener that completes handshakes off the accept loop.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use parking_lot::Mutex;
use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use serde::{Deserialize, Serialize};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// How often, at most, the certificate files' modification times are checked.
const RECHECK_EVERY: Duration = Duration::from_secs(1);
/// How long a client may take to complete its handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// `tls:` of a listener: PEM certificate chain and private key files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain, leaf first.
    pub cert_file: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: PathBuf,
}

/// Why a certificate could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read or holds no usable PEM item.
    #[error("reading {path}: {reason}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// rustls refused the key or the pair.
    #[error("TLS certificate {cert} / key {key}: {source}")]
    Rustls {
        /// Certificate file.
        cert: PathBuf,
        /// Key file.
        key: PathBuf,
        /// rustls's error.
        source: rustls::Error,
    },
}

struct Loaded {
    key: Arc<CertifiedKey>,
    stamps: (Option<SystemTime>, Option<SystemTime>),
    checked: Instant,
}

/// A certificate resolver that re-reads the certificate and key when either
/// file's modification time changes (checked at most once a second, on a
/// handshake). A broken new pair is logged and the previous one kept.
pub struct ReloadingCert {
    cfg: TlsConfig,
    provider: Arc<CryptoProvider>,
    loaded: Mutex<Loaded>,
}

impl std::fmt::Debug for ReloadingCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReloadingCert")
            .field("cfg", &self.cfg)
            .finish()
    }
}

fn mtime(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

impl ReloadingCert {
    /// Loads the pair now; an error here stops start-up.
    pub fn new(cfg: TlsConfig) -> Result<Self, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let stamps = (mtime(&cfg.cert_file), mtime(&cfg.key_file));
        let key = load(&cfg, &provider)?;
        Ok(Self {
            cfg,
            provider,
            loaded: Mutex::new(Loaded {
                key,
                stamps,
                checked: Instant::now(),
            }),
        })
    }

    fn current(&self) -> Arc<CertifiedKey> {
        let mut loaded = self.loaded.lock();
        if loaded.checked.elapsed() >= RECHECK_EVERY {
            loaded.checked = Instant::now();
            let stamps = (mtime(&self.cfg.cert_file), mtime(&self.cfg.key_file));
            if stamps != loaded.stamps {
                match load(&self.cfg, &self.provider) {
                    Ok(key) => {
                        tracing::info!(cert = %self.cfg.cert_file.display(), "TLS certificate reloaded");
                        loaded.key = key;
                        loaded.stamps = stamps;
                    }
                    // Stamps are left unchanged so the next check retries
                    // (a writer may be half-way through the pair).
                    Err(e) => tracing::warn!(error = %e, "keeping the previous TLS certificate"),
                }
            }
        }
        Arc::clone(&loaded.key)
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

fn load(cfg: &TlsConfig, provider: &CryptoProvider) -> Result<Arc<CertifiedKey>, TlsError> {
    let read_err = |path: &Path, reason: String| TlsError::Read {
        path: path.to_path_buf(),
        reason,
    };
    let certs = CertificateDer::pem_file_iter(&cfg.cert_file)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| read_err(&cfg.cert_file, e.to_string()))?;
    if certs.is_empty() {
        return Err(read_err(
            &cfg.cert_file,
            "no CERTIFICATE in the file".into(),
        ));
    }
    let key = PrivateKeyDer::from_pem_file(&cfg.key_file)
        .map_err(|e| read_err(&cfg.key_file, e.to_string()))?;
    CertifiedKey::from_der(certs, key, provider)
        .map(Arc::new)
        .map_err(|source| TlsError::Rustls {
            cert: cfg.cert_file.clone(),
            key: cfg.key_file.clone(),
            source,
        })
}

/// A rustls server config on a [`ReloadingCert`], offering HTTP/2 and
/// HTTP/1.1 by ALPN (gRPC needs `h2`).
pub fn server_config(cfg: &TlsConfig) -> Result<Arc<ServerConfig>, TlsError> {
    let resolver = ReloadingCert::new(cfg.clone())?;
    let provider = Arc::clone(&resolver.provider);
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|source| TlsError::Rustls {
            cert: cfg.cert_file.clone(),
            key: cfg.key_file.clone(),
            source,
        })?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(resolver));
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// An [`axum::serve::Listener`] yielding TLS streams. Handshakes run in their
/// own tasks, so a slow or silent client never holds up other connections.
pub struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
}

impl TlsListener {
    /// Accepts TCP connections on `tcp` and completes their handshakes with
    /// `config`; the accept task ends when the listener is dropped.
    pub fn new(tcp: TcpListener, config: Arc<ServerConfig>) -> io::Result<Self> {
        let local = tcp.local_addr()?;
        let acceptor = TlsAcceptor::from(config);
        let (tx, ready) = mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                let (stream, peer) = tokio::select! {
                    accepted = tcp.accept() => match accepted {
                        Ok(conn) => conn,
                        Err(e) => {
                            tracing::warn!(error = %e, "accepting a TLS connection");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    },
                    () = tx.closed() => return,
                };
                let (acceptor, tx) = (acceptor.clone(), tx.clone());
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((tls, peer)).await;
                        }
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(Self { ready, local })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(conn) => conn,
            // The accept task only ends once this listener is dropped.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.local)
    }
}
