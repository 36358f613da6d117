//! The CoWorker desktop app: a Tauri 2 shell over the CoWorker runtime.
//!
//! Map of the crate:
//! - [`backend`]: the app's backend state machine (data directory, start-up, health, the agent's
//!   events to the UI and to notifications), with no Tauri types in it so it is testable as
//!   plain Rust.
//! - [`identity`]: the embedded node, the identity (OS keychain) and its agent, Tauri-free.
//! - Pages' data, one module per domain (Tauri-free): [`activity`] (feed, Home overview),
//!   [`peer`] (peers, trust, invites, calls), [`chat`] (DMs, groups, readable protocol
//!   traffic), [`skill`] (my skills, added command skills), [`goal`] (the OKR board),
//!   [`receipt`] (metering, verification, CSV), [`settings`] (planner, language,
//!   notifications, installations).
//! - notifications with Approve/Deny actions come from the `coworker-notify` crate.
//! - [`desktop`]: the Tauri side of the desktop: tray icon, `coworker://` links, one instance.
//! - [`commands`]: the typed Tauri commands and events the UI calls; their TypeScript bindings are
//!   generated into `ui/src/lib/bindings.ts` by [`bindings`].
//! - [`bindings`]: the tauri-specta builder listing every command and event, and the drift test
//!   that fails when the committed TypeScript no longer matches the Rust types.
//!
//! Every fallible command answers a [`coworker_host::HostError`] (`{kind, code, message}`): the
//! UI acts on the kind and translates by code; `docs/errors.md` lists the codes.
//!
//! Nothing below this crate depends on Tauri; nothing listens on a network port except the
//! embedded node, on loopback.

/// What a fallible backend function gives: its value or an error with a stable code.
pub type AppResult<T> = Result<T, coworker_host::HostError>;

pub mod activity;
pub mod backend;
pub mod bindings;
pub mod chat;
pub mod commands;
pub mod desktop;
pub mod goal;
pub mod identity;
pub mod peer;
pub mod receipt;
pub mod settings;
pub mod skill;

use std::io::IsTerminal;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use tauri::Manager;

static STARTED: OnceLock<Instant> = OnceLock::new();

/// How long ago the process started (the cold-start clock).
pub fn process_age() -> Duration {
    STARTED.get_or_init(Instant::now).elapsed()
}

/// Environment variable that overrides where the app keeps its data (tests, portable installs);
/// the embedded node's database moves with it, as in the CLI.
pub const DATA_DIR_ENV: &str = coworker_host::paths::DATA_DIR_ENV;
/// Environment variable that overrides the embedded node's loopback address (default
/// 127.0.0.1:5556, where `coworker` finds it; port 0 picks a free one).
pub const NODE_LISTEN_ENV: &str = "COWORKER_NODE_LISTEN";

/// Starts the desktop app and blocks until its last window closes.
pub fn run() {
    let _ = process_age();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();

    let specta = bindings::builder();
    let result = tauri::Builder::default()
        // First: a second launch (e.g. a `coworker://` link) hands its arguments to this one.
        .plugin(tauri_plugin_single_instance::init(desktop::second_launch))
        .plugin(tauri_plugin_deep_link::init())
        .invoke_handler(specta.invoke_handler())
        .on_window_event(desktop::on_window_event)
        .setup(move |app| {
            specta.mount_events(app);
            desktop::setup(app)?;
            // COWORKER_DATA_DIR keeps everything (the node's messages too) in one directory;
            // otherwise the node database is the one the `coworker` CLI uses.
            let data_dir = match std::env::var_os(DATA_DIR_ENV) {
                Some(dir) => std::path::PathBuf::from(dir),
                None => app.path().app_data_dir()?,
            };
            let node_db = coworker_host::paths::node_database();
            let listen = std::env::var(NODE_LISTEN_ENV)
                .ok()
                .and_then(|a| a.parse().ok())
                .unwrap_or_else(|| std::net::SocketAddr::from(([127, 0, 0, 1], 5556)));
            let node = identity::EmbeddedNode { listen, database: node_db };
            let handle = app.handle().clone();
            let desktop = backend::Desktop {
                emit: Arc::new(move |item| commands::emit_activity(&handle, item)),
                notifier: Arc::new(coworker_notify::Desktop),
                open: Arc::new({
                    let handle = app.handle().clone();
                    move |page: &str| desktop::open_page(&handle, page)
                }),
            };
            let backend = commands::AppBackend::new(data_dir, identity::keychain(), node, desktop);
            app.manage(backend.clone());
            let handle = app.handle().clone();
            tauri::async_runtime::spawn(async move { backend.start(&handle).await });
            Ok(())
        })
        .run(tauri::generate_context!("../tauri.conf.json"));
    if let Err(error) = result {
        tracing::error!(%error, "the desktop app stopped with an error");
        std::process::exit(1);
    }
}
