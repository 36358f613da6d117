//! Settings: the LLM planner endpoint (its API key in the OS keychain), the language, which
//! desktop notifications to show, and this identity's installations. Kept in `settings.toml`
//! in the data directory.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use coworker_host::HostError;
use coworker_host::keys::KeyStore;
use coworker_runtime::{Agent, LlmPlanner, Planner};
use serde::{Deserialize, Serialize};

use crate::AppResult;

/// The keychain entry holding the planner's API key.
const PLANNER_KEY: &str = "planner-api-key";

/// The app's settings as the UI edits them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
pub struct Settings {
    /// OpenAI-compatible base URL of the LLM planner; empty: the built-in deterministic one.
    pub planner_endpoint: String,
    /// The planner's model name.
    pub planner_model: String,
    /// Whether an API key for the planner is stored (the key itself never leaves the keychain).
    pub planner_key_set: bool,
    /// `en`, `zh`, or empty to follow the system.
    pub language: String,
    /// Show a notification when a peer asks for a higher tier.
    pub notify_trust_requests: bool,
    /// Show a notification when a peer proposes a plan.
    pub notify_plan_proposals: bool,
}

/// A change to the settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
pub struct SettingsUpdate {
    /// See [`Settings::planner_endpoint`].
    pub planner_endpoint: String,
    /// See [`Settings::planner_model`].
    pub planner_model: String,
    /// A new API key; `None` keeps the stored one, an empty string removes it.
    pub planner_key: Option<String>,
    /// See [`Settings::language`].
    pub language: String,
    /// See [`Settings::notify_trust_requests`].
    pub notify_trust_requests: bool,
    /// See [`Settings::notify_plan_proposals`].
    pub notify_plan_proposals: bool,
}

/// `settings.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
struct Saved {
    planner_endpoint: String,
    planner_model: String,
    language: String,
    notify_trust_requests: bool,
    notify_plan_proposals: bool,
}

impl Default for Saved {
    fn default() -> Self {
        Self {
            planner_endpoint: String::new(),
            planner_model: String::new(),
            language: String::new(),
            notify_trust_requests: true,
            notify_plan_proposals: true,
        }
    }
}

fn path(data_dir: &Path) -> PathBuf {
    data_dir.join("settings.toml")
}

fn load_saved(data_dir: &Path) -> Saved {
    std::fs::read_to_string(path(data_dir))
        .ok()
        .and_then(|text| toml::from_str(&text).ok())
        .unwrap_or_default()
}

/// The settings (defaults when none are saved).
pub fn load(data_dir: &Path, keys: &dyn KeyStore) -> Settings {
    let saved = load_saved(data_dir);
    Settings {
        planner_key_set: matches!(keys.load(PLANNER_KEY), Ok(Some(_))),
        planner_endpoint: saved.planner_endpoint,
        planner_model: saved.planner_model,
        language: saved.language,
        notify_trust_requests: saved.notify_trust_requests,
        notify_plan_proposals: saved.notify_plan_proposals,
    }
}

/// Which questions may become notifications: (trust requests, plan proposals). Reads only the
/// settings file, not the keychain.
pub fn notifications(data_dir: &Path) -> (bool, bool) {
    let saved = load_saved(data_dir);
    (saved.notify_trust_requests, saved.notify_plan_proposals)
}

/// Checks and saves a change.
pub fn save(data_dir: &Path, keys: &dyn KeyStore, update: SettingsUpdate) -> AppResult<Settings> {
    let endpoint = update.planner_endpoint.trim().trim_end_matches('/').to_owned();
    let web = endpoint.starts_with("http://") || endpoint.starts_with("https://");
    if !(endpoint.is_empty() || web) {
        return Err(HostError::invalid(
            "settings.planner_endpoint",
            "the planner endpoint must be an http:// or https:// URL",
        ));
    }
    if !endpoint.is_empty() && update.planner_model.trim().is_empty() {
        return Err(HostError::invalid("settings.planner_model", "name the planner's model"));
    }
    if !["", "en", "zh"].contains(&update.language.as_str()) {
        return Err(HostError::invalid(
            "settings.language",
            format!("unsupported language {:?}", update.language),
        ));
    }
    let keychain = |e: coworker_host::keys::KeyStoreError| {
        HostError::failed("settings.keychain", e.to_string())
    };
    match update.planner_key.as_deref().map(str::trim) {
        None => {}
        Some("") => keys.delete(PLANNER_KEY).map_err(keychain)?,
        Some(key) => keys.save(PLANNER_KEY, key.as_bytes()).map_err(keychain)?,
    }
    let saved = Saved {
        planner_endpoint: endpoint,
        planner_model: update.planner_model.trim().to_owned(),
        language: update.language,
        notify_trust_requests: update.notify_trust_requests,
        notify_plan_proposals: update.notify_plan_proposals,
    };
    let file = |e: &dyn std::fmt::Display| {
        HostError::failed("settings.file", format!("cannot save settings: {e}"))
    };
    let text = toml::to_string(&saved).map_err(|e| file(&e))?;
    std::fs::write(path(data_dir), text).map_err(|e| file(&e))?;
    Ok(load(data_dir, keys))
}

/// The planner the settings ask for; `None`: the runtime's deterministic planner.
pub fn planner(data_dir: &Path, keys: &dyn KeyStore) -> Option<Arc<dyn Planner>> {
    let saved = load_saved(data_dir);
    if saved.planner_endpoint.is_empty() {
        return None;
    }
    let mut planner = LlmPlanner::new(saved.planner_endpoint, saved.planner_model);
    planner.api_key =
        keys.load(PLANNER_KEY).ok().flatten().and_then(|k| String::from_utf8(k.to_vec()).ok());
    planner.timeout = Duration::from_secs(60);
    Some(Arc::new(planner))
}

/// One installation (device) of this identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
pub struct InstallationView {
    /// Its public key, hex.
    pub id: String,
    /// Whether it is this app.
    pub this_device: bool,
}

/// This identity's installations, this one first.
pub async fn installations(agent: &Agent) -> AppResult<Vec<InstallationView>> {
    let me = agent.client().installation_id();
    let mut list: Vec<InstallationView> = agent
        .client()
        .installations()
        .await
        .map_err(HostError::from)?
        .into_iter()
        .map(|k| InstallationView { id: hex::encode(k), this_device: k == me })
        .collect();
    list.sort_by_key(|i| !i.this_device);
    Ok(list)
}

/// Revokes another installation of this identity.
pub async fn revoke(agent: &Agent, id: &str) -> AppResult<()> {
    let key: [u8; 32] =
        hex::decode(id.trim()).ok().and_then(|k| k.try_into().ok()).ok_or_else(|| {
            HostError::invalid(
                "settings.installation_id",
                format!("{id:?} is not an installation id"),
            )
        })?;
    if key == agent.client().installation_id() {
        return Err(HostError::invalid(
            "settings.own_installation",
            "this is the installation you are using; revoke it from another device",
        ));
    }
    agent.client().revoke_installations(&[key]).await.map_err(HostError::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use coworker_host::keys::MemoryKeyStore;

    fn update() -> SettingsUpdate {
        SettingsUpdate {
            planner_endpoint: "http://127.0.0.1:11434/v1/".into(),
            planner_model: "llama3".into(),
            planner_key: Some("sk-test".into()),
            language: "zh".into(),
            notify_trust_requests: false,
            notify_plan_proposals: true,
        }
    }

    #[test]
    fn settings_round_trip_with_the_key_in_the_keychain_only() {
        let dir = tempfile::tempdir().unwrap();
        let keys = MemoryKeyStore::default();
        let fresh = load(dir.path(), &keys);
        assert!(fresh.notify_trust_requests && fresh.planner_endpoint.is_empty());
        assert!(planner(dir.path(), &keys).is_none(), "deterministic by default");

        let saved = save(dir.path(), &keys, update()).unwrap();
        assert_eq!(saved.planner_endpoint, "http://127.0.0.1:11434/v1");
        assert!(saved.planner_key_set);
        assert_eq!(saved.language, "zh");
        let file = std::fs::read_to_string(dir.path().join("settings.toml")).unwrap();
        assert!(!file.contains("sk-test"), "the key stays out of the file: {file}");
        assert!(planner(dir.path(), &keys).is_some());

        let cleared = save(
            dir.path(),
            &keys,
            SettingsUpdate { planner_key: Some(String::new()), ..update() },
        );
        assert!(!cleared.unwrap().planner_key_set);
    }

    #[test]
    fn bad_settings_are_refused_and_nothing_is_saved() {
        let dir = tempfile::tempdir().unwrap();
        let keys = MemoryKeyStore::default();
        let bad_url = SettingsUpdate { planner_endpoint: "ftp://x".into(), ..update() };
        assert_eq!(save(dir.path(), &keys, bad_url).unwrap_err().code, "settings.planner_endpoint");
        let no_model = SettingsUpdate { planner_model: " ".into(), ..update() };
        assert_eq!(save(dir.path(), &keys, no_model).unwrap_err().code, "settings.planner_model");
        let language = SettingsUpdate { language: "fr".into(), ..update() };
        assert!(save(dir.path(), &keys, language).is_err());
        assert!(!dir.path().join("settings.toml").exists());
        assert!(!load(dir.path(), &keys).planner_key_set);
    }
}
