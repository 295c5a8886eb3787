//! The process's log output: one line per event on stdout, in logfmt or
//! JSON, never with terminal colour codes (log collectors store them as
//! text).

use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::{LogConfig, LogFormat};

/// Installs the global subscriber for `cfg`. A filter that does not parse
/// falls back to `info` and says so.
pub fn init(cfg: &LogConfig) {
    let (filter, bad_filter) = match EnvFilter::try_new(&cfg.level) {
        Ok(f) => (f, None),
        Err(e) => (EnvFilter::new("info"), Some(e)),
    };
    let registry = tracing_subscriber::registry().with(filter);
    match cfg.format {
        LogFormat::Logfmt => registry.with(tracing_logfmt::layer()).init(),
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_ansi(false)
                    .flatten_event(true),
            )
            .init(),
    }
    if let Some(e) = bad_filter {
        tracing::warn!(level = %cfg.level, error = %e, "invalid log.level; logging at info");
    }
}
