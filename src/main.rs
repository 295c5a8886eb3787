//! `cairn`: parses flags and config, builds the requested services, wires
//! them and serves HTTP. The services themselves live in the workspace crates.

mod access;
mod config;
mod logging;
mod process_metrics;
mod server;
mod target;

use clap::Parser;

use std::io::Read;
use std::process::ExitCode;

use common::auth::token::TokenHash;

use crate::config::{Command, Config, Flags, Tool};

fn main() -> ExitCode {
    // Deep (but allowed) queries are parsed, printed and evaluated
    // recursively on these threads: they get the stack that takes.
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(common::cpu_work::QUERY_THREAD_STACK_BYTES)
        .build()
    {
        Ok(runtime) => runtime.block_on(run()),
        Err(e) => {
            eprintln!("cairn: cannot start the async runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> ExitCode {
    let flags = Flags::parse();
    if let Some(Command::Tool(Tool::HashToken)) = flags.command {
        return hash_token();
    }
    let cfg = match Config::load(&flags) {
        Ok(cfg) => cfg,
        Err(e) => {
            eprintln!("cairn: invalid configuration: {e}");
            return ExitCode::from(2);
        }
    };
    common::build_info::set(common::build_info::BuildInfo {
        version: env!("CARGO_PKG_VERSION"),
        revision: env!("CAIRN_GIT_REVISION"),
        branch: env!("CAIRN_GIT_BRANCH"),
        rust_version: env!("CAIRN_RUSTC_VERSION"),
    });
    if flags.print_config {
        match serde_saphyr::to_string(&cfg) {
            Ok(yaml) => print!("{yaml}"),
            Err(e) => eprintln!("cairn: cannot print config: {e}"),
        }
        return ExitCode::SUCCESS;
    }
    logging::init(&cfg.log);
    match server::run(cfg).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("cairn stopped: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `cairn tool hash-token`: the sha256 of the token on stdin (one trailing
/// newline, as `echo` adds, is not part of the token).
fn hash_token() -> ExitCode {
    let mut input = String::new();
    if let Err(e) = std::io::stdin().read_to_string(&mut input) {
        eprintln!("cairn: reading the token from stdin: {e}");
        return ExitCode::from(2);
    }
    let token = input
        .strip_suffix('\n')
        .map_or(input.as_str(), |t| t.strip_suffix('\r').unwrap_or(t));
    if token.is_empty() {
        eprintln!("cairn: no token on stdin");
        return ExitCode::from(2);
    }
    println!("{}", TokenHash::of(token).to_hex());
    ExitCode::SUCCESS
}
