//! The app backend's state machine, free of Tauri so it can be tested as plain Rust.
//!
//! At start-up the backend prepares its data directory (creates it and proves it is writable);
//! later layers add the identity, the embedded XMTP node and the agent runtime to this sequence.
//! The state is `Starting` until that work is done, then `Ready` or `Failed` with a reason meant
//! for people. A health check re-runs the probe on demand and moves the state accordingly.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// Where the backend is in its life cycle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum BackendState {
    /// Start-up work is still running.
    Starting,
    /// Everything the backend needs is available.
    Ready,
    /// Start-up or a later health check failed.
    Failed {
        /// What went wrong, in one sentence.
        reason: String,
    },
}

/// Everything the status screen shows, as one snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct AppStatus {
    /// The app's version (from Cargo).
    pub version: String,
    /// The directory holding the app's data.
    pub data_dir: String,
    /// The backend's state.
    pub backend: BackendState,
    /// How long start-up took, once it has finished.
    pub startup_ms: Option<u32>,
    /// When the last health check finished (milliseconds since the Unix epoch), if one ran.
    pub checked_at_ms: Option<f64>,
}

/// The backend: its data directory and its current state.
#[derive(Debug)]
pub struct Backend {
    data_dir: PathBuf,
    status: Mutex<Progress>,
}

#[derive(Debug)]
struct Progress {
    state: BackendState,
    startup_ms: Option<u32>,
    checked_at_ms: Option<f64>,
}

impl Backend {
    /// A backend that keeps its data in `data_dir`, not started yet.
    pub fn new(data_dir: PathBuf) -> Self {
        let status =
            Progress { state: BackendState::Starting, startup_ms: None, checked_at_ms: None };
        Self { data_dir, status: Mutex::new(status) }
    }

    /// Runs the start-up sequence; `started` is when the app process began its start-up.
    pub async fn start(&self, started: Instant) -> BackendState {
        let state = match prepare_data_dir(&self.data_dir).await {
            Ok(()) => BackendState::Ready,
            Err(reason) => BackendState::Failed { reason },
        };
        let mut status = self.lock();
        status.state = state.clone();
        status.startup_ms = Some(millis(started.elapsed()));
        state
    }

    /// Re-runs the data directory probe at `now` and moves the state to its result. A backend
    /// still starting stays `Starting`.
    pub async fn check(&self, now: SystemTime) -> BackendState {
        let probed = match probe_writable(&self.data_dir).await {
            Ok(()) => BackendState::Ready,
            Err(reason) => BackendState::Failed { reason },
        };
        let mut status = self.lock();
        if status.state != BackendState::Starting {
            status.state = probed;
        }
        status.checked_at_ms = Some(epoch_millis(now));
        status.state.clone()
    }

    /// A snapshot for the UI; `version` is the app's version.
    pub fn status(&self, version: &str) -> AppStatus {
        let status = self.lock();
        AppStatus {
            version: version.to_owned(),
            data_dir: self.data_dir.display().to_string(),
            backend: status.state.clone(),
            startup_ms: status.startup_ms,
            checked_at_ms: status.checked_at_ms,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Progress> {
        // The guarded data is plain values that are always left consistent, so a panic in
        // another holder cannot have broken it.
        self.status.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Creates the data directory if needed and proves that it is writable.
async fn prepare_data_dir(dir: &Path) -> Result<(), String> {
    tokio::fs::create_dir_all(dir)
        .await
        .map_err(|error| format!("cannot create the data directory {}: {error}", dir.display()))?;
    probe_writable(dir).await
}

/// Writes, syncs and removes a probe file in `dir`.
async fn probe_writable(dir: &Path) -> Result<(), String> {
    let probe = dir.join(".write-probe");
    let result = async {
        let mut file = tokio::fs::File::create(&probe).await?;
        tokio::io::AsyncWriteExt::write_all(&mut file, b"ok").await?;
        file.sync_all().await?;
        tokio::fs::remove_file(&probe).await
    }
    .await;
    result.map_err(|error| format!("the data directory {} is not writable: {error}", dir.display()))
}

fn millis(duration: Duration) -> u32 {
    u32::try_from(duration.as_millis()).unwrap_or(u32::MAX)
}

fn epoch_millis(time: SystemTime) -> f64 {
    time.duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn start_creates_a_missing_data_dir_and_is_ready() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("nested").join("coworker");
        let backend = Backend::new(dir.clone());
        assert_eq!(backend.status("1.2.3").backend, BackendState::Starting);

        assert_eq!(backend.start(Instant::now()).await, BackendState::Ready);
        assert!(dir.is_dir());
        assert!(!dir.join(".write-probe").exists(), "the probe file must be cleaned up");
        let status = backend.status("1.2.3");
        assert_eq!(status.version, "1.2.3");
        assert_eq!(status.data_dir, dir.display().to_string());
        assert!(status.startup_ms.is_some());
        assert_eq!(status.checked_at_ms, None);
    }

    #[tokio::test]
    async fn start_fails_with_a_reason_when_the_data_dir_is_a_file() {
        let root = tempfile::tempdir().unwrap();
        let file = root.path().join("not-a-dir");
        std::fs::write(&file, b"x").unwrap();
        let state = Backend::new(file.clone()).start(Instant::now()).await;
        let BackendState::Failed { reason } = state else { panic!("expected failure: {state:?}") };
        assert!(reason.contains("cannot create the data directory"), "{reason}");
        assert!(reason.contains(&file.display().to_string()), "{reason}");
    }

    #[tokio::test]
    async fn check_follows_the_data_dir_going_away_and_coming_back() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("data");
        let backend = Backend::new(dir.clone());
        backend.start(Instant::now()).await;

        std::fs::remove_dir(&dir).unwrap();
        let now = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        let state = backend.check(now).await;
        assert!(matches!(state, BackendState::Failed { .. }), "{state:?}");
        assert_eq!(backend.status("0").checked_at_ms, Some(1_700_000_000_123.0));

        std::fs::create_dir(&dir).unwrap();
        assert_eq!(backend.check(now).await, BackendState::Ready);
    }

    #[tokio::test]
    async fn check_before_start_up_finishes_stays_starting() {
        let root = tempfile::tempdir().unwrap();
        let backend = Backend::new(root.path().to_owned());
        assert_eq!(backend.check(SystemTime::now()).await, BackendState::Starting);
    }

    #[test]
    fn states_serialize_with_a_state_tag() {
        let failed = BackendState::Failed { reason: "disk full".into() };
        let json = serde_json::to_value(failed).unwrap();
        assert_eq!(json, serde_json::json!({"state": "failed", "reason": "disk full"}));
        let ready = serde_json::to_value(BackendState::Ready).unwrap();
        assert_eq!(ready, serde_json::json!({"state": "ready"}));
    }
}
