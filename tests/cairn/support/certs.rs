//! Test certificates made with the `openssl` binary: a CA and a server
//! certificate for 127.0.0.1 signed by it.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A CA (`ca.pem`) and a leaf for IP 127.0.0.1 (`cert.pem`, `key.pem`).
pub struct TestCerts {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run openssl: {e} — install it (.ci/run does)"));
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl TestCerts {
    /// Makes a fresh CA and leaf under `dir` (created if missing).
    pub fn generate(dir: &Path) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ];
        let mut ca = vec!["req", "-x509", "-keyout", "ca.key", "-out", "ca.pem"];
        ca.extend(ec);
        ca.extend(["-days", "2", "-subj", "/CN=cairn-test-ca"]);
        openssl(dir, &ca);
        let mut csr = vec!["req", "-keyout", "key.pem", "-out", "leaf.csr"];
        csr.extend(ec);
        csr.extend(["-subj", "/CN=127.0.0.1"]);
        openssl(dir, &csr);
        std::fs::write(
            dir.join("leaf.ext"),
            "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                "leaf.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "cert.pem",
                "-days",
                "2",
                "-extfile",
                "leaf.ext",
            ],
        );
        Self {
            ca: dir.join("ca.pem"),
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
        }
    }

    /// A client trusting only this CA, opening a new connection per request
    /// (so a reloaded server certificate is seen at once).
    pub fn client(&self) -> reqwest::Client {
        super::http();
        let ca = reqwest::Certificate::from_pem(&std::fs::read(&self.ca).unwrap()).unwrap();
        reqwest::Client::builder()
            .tls_certs_only([ca])
            .pool_max_idle_per_host(0)
            .build()
            .unwrap()
    }
}
