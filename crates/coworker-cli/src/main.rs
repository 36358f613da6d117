//! `coworker`: the command-line face of CoWorker.
//!
//! Runs headless agents, scripts connections and calls, and runs the local XMTP node. Each
//! subcommand is a thin layer over the library crates; `node` serves `xmtp-node`, `serve` runs a
//! `coworker-runtime` agent from a TOML file, `xmtp` drives `xmtp-client`.

mod identity;
mod node;
mod serve;
mod xmtp;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// CoWorker: let your AI agent work with other people's agents, peer to peer and end-to-end
/// encrypted over XMTP.
#[derive(Debug, Parser)]
#[command(name = "coworker", version, about, long_about = None, arg_required_else_help = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a local XMTP node (the XMTP v3 API over SQLite) until Ctrl-C or SIGTERM.
    #[command(after_help = node::EXAMPLES)]
    Node(node::NodeArgs),
    /// Run a headless agent whose skills and trust policy are declared in a TOML file.
    #[command(after_help = serve::EXAMPLES)]
    Serve(serve::ServeArgs),
    /// Speak XMTP directly: a JSON-lines session on stdin/stdout for scripts and agents.
    #[command(after_help = xmtp::EXAMPLES)]
    Xmtp(xmtp::XmtpArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => return fail(&format!("cannot start the async runtime: {error}")),
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Node(args) => node::run(args).await,
            Command::Serve(args) => serve::run(args).await,
            Command::Xmtp(args) => xmtp::run(args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => fail(&message),
    }
}

#[allow(clippy::print_stderr)]
fn fail(message: &str) -> ExitCode {
    eprintln!("coworker: {message}");
    ExitCode::FAILURE
}
