//! Receipts: the metering table, each receipt's signature checked against the provider's
//! installations on the network, and CSV export.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use coworker_host::HostError;
use coworker_runtime::Agent;
use coworker_runtime::protocol::SignedReceipt;
use serde::{Deserialize, Serialize};

use crate::AppResult;

/// A receipt row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct ReceiptView {
    /// Its id.
    pub id: String,
    /// The task.
    pub task_id: String,
    /// `made` (I called) or `served` (I ran it).
    pub direction: String,
    /// The other party (inbox id).
    pub peer: String,
    /// The skill.
    pub skill: String,
    /// `completed` or `failed:<CODE>`.
    pub status: String,
    /// When it started (Unix ms).
    pub started_ms: f64,
    /// How long it ran.
    pub duration_ms: f64,
    /// Metered units.
    pub units: f64,
    /// Whether the signature verifies and the signer is an installation of the provider.
    pub verified: bool,
}

/// Every receipt, newest first, each verified.
pub async fn list(agent: &Agent) -> AppResult<Vec<ReceiptView>> {
    let receipts = agent.receipts().await.map_err(HostError::from)?;
    let me = agent.inbox_id().to_owned();
    // One identity lookup per provider.
    let mut installations: HashMap<String, Vec<String>> = HashMap::new();
    let mut rows = Vec::with_capacity(receipts.len());
    for signed in &receipts {
        let provider = &signed.receipt.provider;
        if !installations.contains_key(provider) {
            let keys = match agent.client().inbox_state(provider).await {
                Ok(state) => state.installation_keys().map(hex::encode).collect(),
                Err(e) => {
                    tracing::warn!(provider, "cannot check receipt signers: {e}");
                    Vec::new()
                }
            };
            installations.insert(provider.clone(), keys);
        }
        let signer_ok = installations.get(provider).is_some_and(|k| k.contains(&signed.signer));
        rows.push(view(signed, &me, signer_ok && signature_ok(signed)));
    }
    rows.sort_by(|a, b| b.started_ms.total_cmp(&a.started_ms));
    Ok(rows)
}

fn signature_ok(signed: &SignedReceipt) -> bool {
    let key: Option<[u8; 32]> = hex::decode(&signed.signer).ok().and_then(|k| k.try_into().ok());
    key.is_some_and(|k| signed.verify(&k).is_ok())
}

fn view(signed: &SignedReceipt, me: &str, verified: bool) -> ReceiptView {
    let r = &signed.receipt;
    let served = r.provider == me;
    ReceiptView {
        id: r.id.clone(),
        task_id: r.task_id.clone(),
        direction: if served { "served" } else { "made" }.to_owned(),
        peer: if served { r.caller.clone() } else { r.provider.clone() },
        skill: r.skill.clone(),
        status: r.status.clone(),
        started_ms: r.started as f64,
        duration_ms: r.duration_ms as f64,
        units: r.units as f64,
        verified,
    }
}

/// Writes every receipt as CSV into `dir` and returns the file's path.
pub async fn export_csv(agent: &Agent, dir: &Path, now_ms: u64) -> AppResult<PathBuf> {
    let csv = agent.receipts_csv().await.map_err(HostError::from)?;
    std::fs::create_dir_all(dir).map_err(|e| {
        HostError::failed("receipt.export", format!("cannot create {}: {e}", dir.display()))
    })?;
    let path = dir.join(format!("coworker-receipts-{now_ms}.csv"));
    std::fs::write(&path, csv).map_err(|e| {
        HostError::failed("receipt.export", format!("cannot write {}: {e}", path.display()))
    })?;
    Ok(path)
}
