//! Which build this process runs: version, git revision and branch, and the
//! compiler. The `cairn` binary knows them at compile time and sets them once
//! at start-up; the APIs that report a build (`status/buildinfo`,
//! `cairn_build_info`) read them here, so no library crate has to be rebuilt
//! when only the commit changes.

use std::sync::OnceLock;

/// A build's identity, as Prometheus's `buildinfo` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildInfo {
    /// The release version (`Cargo.toml`).
    pub version: &'static str,
    /// The git commit the binary was built from, or `unknown`.
    pub revision: &'static str,
    /// The git branch the binary was built from, or `unknown`.
    pub branch: &'static str,
    /// The `rustc --version` that compiled it, or `unknown`.
    pub rust_version: &'static str,
}

/// What is reported when the binary did not say (library tests).
const UNKNOWN: BuildInfo = BuildInfo {
    version: env!("CARGO_PKG_VERSION"),
    revision: "unknown",
    branch: "unknown",
    rust_version: "unknown",
};

static BUILD: OnceLock<BuildInfo> = OnceLock::new();

/// Records this process's build; later calls are ignored.
pub fn set(info: BuildInfo) {
    let _ = BUILD.set(info);
}

/// This process's build, or `unknown` fields where it was never set.
pub fn get() -> &'static BuildInfo {
    BUILD.get().unwrap_or(&UNKNOWN)
}
