//! `coworker`: the command-line face of CoWorker.
//!
//! Every subcommand is a thin layer over the library crates:
//!
//! | module | commands |
//! |---|---|
//! | [`profile`] | the identity in the data directory, global options, [`profile::Session`] |
//! | [`identity`] | `init`, `status`, `invite` |
//! | [`calls`] | `connect`, `call`, `request`, `tasks`, `result`, `collaborate` |
//! | [`trust`], [`skills`], [`groups`], [`receipts`] | the commands of those names |
//! | [`serve`] | `serve FILE`: a headless agent declared in TOML (the agent file: `coworker_host::agent_file`) |
//! | [`mcp`] | `mcp`: the agent as an MCP server for Claude Code, Cursor and other MCP hosts |
//! | [`demo`] | `demo`: an offline tour with an in-process node and demo bot |
//! | [`node`] | `node`: the local XMTP node (`xmtp-node`) |
//! | [`xmtp`] | `xmtp`: a JSON-lines session of the raw XMTP client |
//! | [`output`], [`activity`] | human and `--json` output, errors with hints and exit codes |

mod activity;
mod calls;
mod demo;
mod groups;
mod identity;
mod mcp;
mod node;
mod output;
mod profile;
mod receipts;
mod serve;
mod skills;
mod trust;
mod xmtp;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::output::{CliError, Out};

const ABOUT: &str = "\
CoWorker: let your AI agent work with other people's agents, peer to peer and end-to-end
encrypted over XMTP.

First steps:
  coworker demo                      # a two-minute tour, offline
  coworker init --name my-bot        # your identity (keys in the OS keychain)
  coworker invite                    # share this with a collaborator
  coworker connect CODE              # their invite: see the skills they show you
  coworker call PEER SKILL --input '{...}'
  coworker serve bot.toml            # run an agent with skills, headless

--json prints one JSON object per command (errors: {\"error\":{\"code\",\"message\",\"hint\"}}).
Exit codes: 0 ok, 1 failure, 2 usage, 3 invalid input, 4 not found, 5 refused by the peer,
6 unreachable, 7 identity busy.";

#[derive(Debug, Parser)]
#[command(name = "coworker", version, about = ABOUT, long_about = None, arg_required_else_help = true)]
struct Cli {
    #[command(flatten)]
    global: profile::Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create this machine's identity and register it on the network.
    #[command(after_help = identity::INIT_EXAMPLES)]
    Init(identity::InitArgs),
    /// Identity, network, node reachability, peers and pending trust requests.
    #[command(after_help = "Examples:\n  coworker status\n  coworker --json status | jq .peers")]
    Status,
    /// Your invite code, its coworker:// URI and a QR code.
    #[command(after_help = identity::INVITE_EXAMPLES)]
    Invite(identity::InviteArgs),
    /// Connect to a peer from its invite and list the skills it shows you.
    #[command(after_help = calls::CONNECT_EXAMPLES)]
    Connect(calls::ConnectArgs),
    /// Call a peer's skill and wait for the result.
    #[command(after_help = calls::CALL_EXAMPLES)]
    Call(calls::CallArgs),
    /// Send a call without waiting (see `tasks` and `result`).
    #[command(after_help = calls::REQUEST_EXAMPLES)]
    Request(calls::RequestArgs),
    /// Calls you made and their status.
    #[command(after_help = calls::REQUEST_EXAMPLES)]
    Tasks,
    /// The result of a call.
    #[command(after_help = calls::REQUEST_EXAMPLES)]
    Result(calls::ResultArgs),
    /// Work toward a goal with a peer: plan an OKR, run it, show it live.
    #[command(after_help = calls::COLLABORATE_EXAMPLES)]
    Collaborate(calls::CollaborateArgs),
    /// Your skills and who may see them.
    #[command(subcommand, after_help = skills::EXAMPLES)]
    Skills(skills::SkillsCommand),
    /// Peers' tiers, trust requests and the audit log.
    #[command(subcommand, after_help = trust::EXAMPLES)]
    Trust(trust::TrustCommand),
    /// Group chats of people and agents.
    #[command(subcommand, after_help = groups::EXAMPLES)]
    Groups(groups::GroupsCommand),
    /// Signed receipts of every call.
    #[command(subcommand, after_help = receipts::EXAMPLES)]
    Receipts(receipts::ReceiptsCommand),
    /// Run an agent declared in a TOML file until Ctrl-C or SIGTERM.
    #[command(after_help = serve::EXAMPLES)]
    Serve(serve::ServeArgs),
    /// Hold this identity (with the agent file it last served) for other front ends: the
    /// app's peers, `coworker` commands, MCP servers and Python programs reach it over its
    /// control socket. Until Ctrl-C or SIGTERM.
    #[command(
        after_help = "Examples:\n  coworker host &\n  coworker call translator translate --input '{\"text\":\"hola\"}'   # served by the host"
    )]
    Host(serve::HoldArgs),
    /// Serve this identity's agent to an MCP host (Claude Code, Cursor, …) on stdio: peers'
    /// skills become tools. `install` adds it to a host's configuration.
    #[command(after_help = mcp::EXAMPLES)]
    Mcp(mcp::McpArgs),
    /// An offline tour: a demo bot, a connection, trust, four calls.
    #[command(
        after_help = "Examples:\n  coworker demo\n  coworker --json demo    # one JSON line per step"
    )]
    Demo(demo::DemoArgs),
    /// Run a local XMTP node (the XMTP v3 API over SQLite) until Ctrl-C or SIGTERM.
    #[command(after_help = node::EXAMPLES)]
    Node(node::NodeArgs),
    /// Speak XMTP directly: a JSON-lines session on stdin/stdout for scripts and agents.
    #[command(after_help = xmtp::EXAMPLES)]
    Xmtp(xmtp::XmtpArgs),
}

fn main() -> ExitCode {
    coworker_runtime::private::owner_only_new_files();
    let cli = Cli::parse();
    let out = Out::new(cli.global.json, cli.global.quiet);
    let default_filter = if cli.global.json || cli.global.quiet { "error" } else { "warn" };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter)),
        )
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => return out.fail(&CliError::other(format!("cannot start: {error}"))),
    };
    let global = cli.global;
    let result = runtime.block_on(async {
        match cli.command {
            Command::Init(args) => identity::init(&global, args, out).await,
            Command::Status => identity::status(&global, out).await,
            Command::Invite(args) => identity::invite(&global, args, out).await,
            Command::Connect(args) => calls::connect(&global, args, out).await,
            Command::Call(args) => calls::call(&global, args, out).await,
            Command::Request(args) => calls::request(&global, args, out).await,
            Command::Tasks => calls::tasks(&global, out).await,
            Command::Result(args) => calls::result(&global, args, out).await,
            Command::Collaborate(args) => calls::collaborate(&global, args, out).await,
            Command::Skills(command) => skills::run(&global, command, out).await,
            Command::Trust(command) => trust::run(&global, command, out).await,
            Command::Groups(command) => groups::run(&global, command, out).await,
            Command::Receipts(command) => receipts::run(&global, command, out).await,
            Command::Serve(args) => serve::run(&global, args, out).await,
            Command::Host(args) => serve::host(&global, args, out).await,
            Command::Mcp(args) => Box::pin(mcp::run(&global, args)).await,
            Command::Demo(args) => demo::run(args, out).await,
            Command::Node(args) => node::run(args).await.map_err(CliError::other),
            Command::Xmtp(args) => xmtp::run(&global, args).await.map_err(CliError::other),
        }
    });
    // Background tasks (streams, the embedded node) must not keep the process alive.
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => out.fail(&error),
    }
}
