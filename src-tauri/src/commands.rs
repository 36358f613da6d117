//! Typed Tauri commands and events: the whole surface the UI can call.
//!
//! Every command here is listed in [`crate::bindings::builder`] (which generates the TypeScript)
//! and in `build.rs` (which generates its `allow-*` permission); the capability file grants the
//! main window exactly these.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use serde::{Deserialize, Serialize};
use tauri::{AppHandle, Manager, State};
use tauri_specta::Event;

use crate::backend::{AppStatus, Backend};
use crate::identity::{InviteInfo, Keys};

/// The app's version, as built.
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Sent to the UI whenever the backend's status changes.
#[derive(Debug, Clone, Serialize, Deserialize, specta::Type, tauri_specta::Event)]
pub struct StatusChanged(pub AppStatus);

/// The backend as managed Tauri state: a cheap handle shared by commands and start-up.
#[derive(Debug, Clone)]
pub struct AppBackend(Arc<Backend>);

impl AppBackend {
    /// A backend over `data_dir` with its keys in `keys` and the embedded node on `listen`;
    /// call [`AppBackend::start`] once the app is set up.
    pub fn new(data_dir: std::path::PathBuf, keys: Keys, listen: std::net::SocketAddr) -> Self {
        Self(Arc::new(Backend::new(data_dir, keys, listen)))
    }

    /// Runs the start-up sequence and tells the UI how it went.
    pub async fn start(&self, app: &AppHandle) {
        let started = Instant::now();
        let state = self.0.start(started).await;
        tracing::info!(?state, "backend start-up finished");
        emit_status(app, self.0.status(VERSION));
    }
}

/// The app's version, data directory and backend state.
#[tauri::command]
#[specta::specta]
pub fn app_status(backend: State<'_, AppBackend>) -> AppStatus {
    backend.0.status(VERSION)
}

/// Runs the backend's health check now and returns the resulting status.
#[tauri::command]
#[specta::specta]
pub async fn check_backend(app: AppHandle) -> AppStatus {
    let backend = app.state::<AppBackend>().inner().clone();
    let before = backend.0.status(VERSION).backend;
    let after = backend.0.check(SystemTime::now()).await;
    let status = backend.0.status(VERSION);
    if before != after {
        emit_status(&app, status.clone());
    }
    status
}

/// Onboarding: creates this app's identity on `network` (`embedded`, `dev`, `production` or a
/// node URL) and starts its agent.
#[tauri::command]
#[specta::specta]
pub async fn create_identity(
    app: AppHandle,
    name: String,
    network: String,
) -> Result<AppStatus, String> {
    let backend = app.state::<AppBackend>().inner().clone();
    backend.0.create_identity(&name, &network).await?;
    let status = backend.0.status(VERSION);
    emit_status(&app, status.clone());
    Ok(status)
}

/// This app's invite: code, link and QR code.
#[tauri::command]
#[specta::specta]
pub async fn my_invite(backend: State<'_, AppBackend>) -> Result<InviteInfo, String> {
    backend.0.invite().await
}

fn emit_status(app: &AppHandle, status: AppStatus) {
    if let Err(error) = StatusChanged(status).emit(app) {
        tracing::warn!(%error, "could not send the status to the UI");
    }
}
