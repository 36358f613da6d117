//! The CoWorker desktop app: a Tauri 2 shell over the CoWorker runtime.
//!
//! Map of the crate:
//! - [`backend`]: the app's backend state machine (data directory, start-up, health), with no
//!   Tauri types in it so it is testable as plain Rust.
//! - [`identity`]: the embedded node, the identity (OS keychain) and its agent, Tauri-free.
//! - [`commands`]: the typed Tauri commands and events the UI calls; their TypeScript bindings are
//!   generated into `ui/src/lib/bindings.ts` by [`bindings`].
//! - [`bindings`]: the tauri-specta builder listing every command and event, and the drift test
//!   that fails when the committed TypeScript no longer matches the Rust types.
//!
//! Nothing below this crate depends on Tauri; nothing listens on a network port except the
//! embedded node, on loopback.

pub mod backend;
pub mod bindings;
pub mod commands;
pub mod identity;

use tauri::Manager;

/// Environment variable that overrides where the app keeps its data (tests, portable installs).
pub const DATA_DIR_ENV: &str = "COWORKER_DATA_DIR";
/// Environment variable that overrides the embedded node's loopback address (default
/// 127.0.0.1:5556, where `coworker` finds it; port 0 picks a free one).
pub const NODE_LISTEN_ENV: &str = "COWORKER_NODE_LISTEN";

/// Starts the desktop app and blocks until its last window closes.
pub fn run() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();

    let specta = bindings::builder();
    let result = tauri::Builder::default()
        .invoke_handler(specta.invoke_handler())
        .setup(move |app| {
            specta.mount_events(app);
            let data_dir = match std::env::var_os(DATA_DIR_ENV) {
                Some(dir) => std::path::PathBuf::from(dir),
                None => app.path().app_data_dir()?,
            };
            let listen = std::env::var(NODE_LISTEN_ENV)
                .ok()
                .and_then(|a| a.parse().ok())
                .unwrap_or_else(|| std::net::SocketAddr::from(([127, 0, 0, 1], 5556)));
            let backend = commands::AppBackend::new(data_dir, identity::keychain(), listen);
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
