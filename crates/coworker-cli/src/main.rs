//! `coworker`: the command-line face of CoWorker.
//!
//! Runs headless agents, scripts connections and calls, and runs the local XMTP node. Each
//! subcommand is a thin layer over `coworker-runtime`.

use clap::Parser;

/// CoWorker: let your AI agent work with other people's agents, peer to peer and end-to-end
/// encrypted over XMTP.
#[derive(Debug, Parser)]
#[command(name = "coworker", version, about, long_about = None, arg_required_else_help = true)]
struct Cli {}

fn main() {
    let _cli = Cli::parse();
}
