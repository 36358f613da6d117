//! Goals: OKRs as the board shows them, planning a goal for review, starting it, and the
//! owner's decision on plans peers propose.

use coworker_host::HostError;
use coworker_runtime::Agent;
use coworker_runtime::protocol::Okr;
use coworker_runtime::protocol::okr::{OkrStatus, Source, StepStatus};
use serde::{Deserialize, Serialize};

use crate::AppResult;
use crate::peer::pretty;

/// An OKR on the board.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct OkrView {
    /// Its id.
    pub id: String,
    /// The goal.
    pub objective: String,
    /// Who proposed it (inbox id).
    pub initiator: String,
    /// The other agent (inbox id).
    pub peer: String,
    /// `proposed`, `rejected`, `running`, `completed` or `failed`.
    pub status: OkrStatus,
    /// Share of steps done, 0-100.
    pub progress: u8,
    /// Key results with their progress.
    pub key_results: Vec<KeyResultView>,
    /// The steps, in planning order.
    pub steps: Vec<StepView>,
    /// When it was planned (Unix ms).
    pub created_ms: f64,
}

/// A key result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
pub struct KeyResultView {
    /// `kr1`, …
    pub id: String,
    /// What it measures.
    pub description: String,
    /// 0-100.
    pub progress: u8,
}

/// A step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
pub struct StepView {
    /// `s1`, …
    pub id: String,
    /// The agent that runs it (inbox id).
    pub agent: String,
    /// The skill.
    pub skill: String,
    /// Where its inputs come from, readable (`text ← goal`).
    pub inputs: Vec<String>,
    /// Steps it waits for.
    pub depends_on: Vec<String>,
    /// `pending`, `running`, `done`, `failed` or `skipped`.
    pub status: StepStatus,
    /// Its output, as pretty JSON text.
    pub output: Option<String>,
    /// Why it failed.
    pub error: Option<String>,
}

impl From<&Okr> for OkrView {
    fn from(okr: &Okr) -> Self {
        let key_results = okr
            .key_results
            .iter()
            .map(|kr| KeyResultView {
                id: kr.id.clone(),
                description: kr.description.clone(),
                progress: okr.key_result_progress(kr),
            })
            .collect();
        let steps = okr
            .steps
            .iter()
            .map(|s| StepView {
                id: s.id.clone(),
                agent: s.agent.clone(),
                skill: s.skill.clone(),
                inputs: s
                    .input
                    .iter()
                    .map(|(field, source)| match source {
                        Source::Goal => format!("{field} ← goal"),
                        Source::Step { step, field: Some(f) } => format!("{field} ← {step}.{f}"),
                        Source::Step { step, field: None } => format!("{field} ← {step}"),
                        Source::Value { value } => format!("{field} = {value}"),
                    })
                    .collect(),
                depends_on: s.depends_on.clone(),
                status: s.status,
                output: s.output.as_ref().map(pretty),
                error: s.error.clone(),
            })
            .collect();
        Self {
            id: okr.id.clone(),
            objective: okr.objective.clone(),
            initiator: okr.initiator.clone(),
            peer: okr.peer.clone(),
            status: okr.status,
            progress: okr.progress(),
            key_results,
            steps,
            created_ms: okr.created_ms as f64,
        }
    }
}

/// Every OKR, newest first.
pub async fn list(agent: &Agent) -> AppResult<Vec<OkrView>> {
    let mut okrs: Vec<OkrView> =
        agent.okrs().await.map_err(HostError::from)?.iter().map(OkrView::from).collect();
    okrs.sort_by(|a, b| b.created_ms.total_cmp(&a.created_ms));
    Ok(okrs)
}
