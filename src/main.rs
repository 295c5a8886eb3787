//! `cairn`: parses flags and config, builds the requested services, wires
//! them and serves HTTP. The services themselves live in the workspace crates.

mod config;
mod server;

use clap::Parser;

use crate::config::{Config, Flags};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let flags = Flags::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&flags.log_level)
                .unwrap_or_else(|_| "info".into()),
        )
        .init();
    let cfg = match Config::load(&flags) {
        Ok(cfg) => cfg,
        Err(e) => {
            eprintln!("cairn: invalid configuration: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    if flags.print_config {
        match serde_saphyr::to_string(&cfg) {
            Ok(yaml) => print!("{yaml}"),
            Err(e) => eprintln!("cairn: cannot print config: {e}"),
        }
        return std::process::ExitCode::SUCCESS;
    }
    match server::run(cfg).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("cairn stopped: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
