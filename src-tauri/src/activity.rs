//! The live activity feed: the runtime's events as UI types, the recent ones kept for the Home
//! page, and what needs the owner's attention.

use std::collections::VecDeque;
use std::sync::Mutex;

use coworker_runtime::AgentEvent;
use serde::{Deserialize, Serialize};

use crate::goal::OkrView;
use crate::peer::{AuditView, CallState, TrustRequestView};

/// How many events the feed keeps.
pub const FEED_LEN: usize = 200;

/// One thing that happened, as the UI shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct ActivityItem {
    /// When the app saw it (Unix ms).
    pub at_ms: f64,
    /// What happened.
    pub event: Activity,
}

/// The runtime's events, for the UI (mirrors `coworker_runtime::AgentEvent`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Activity {
    /// A chat message in a DM or group.
    Chat {
        /// Conversation id, hex.
        conversation: String,
        /// Sender inbox id.
        sender: String,
        /// The text.
        text: String,
    },
    /// We ran a task for a peer.
    TaskServed {
        /// The caller.
        peer: String,
        /// The skill.
        skill: String,
        /// The task id.
        task_id: String,
        /// How it ended.
        status: CallState,
    },
    /// A call we made progressed.
    CallProgress {
        /// The task id.
        task_id: String,
        /// 0-100.
        percent: u8,
        /// What the provider says.
        text: String,
    },
    /// A call we made finished.
    CallFinished {
        /// The provider.
        peer: String,
        /// The task id.
        task_id: String,
        /// How it ended.
        status: CallState,
    },
    /// A peer asks for a higher tier.
    TrustRequested {
        /// The request.
        request: TrustRequestView,
    },
    /// A peer's tier changed.
    TrustChanged {
        /// The peer.
        peer: String,
        /// The new tier, 0-3.
        tier: u8,
        /// Why (`approved`, `auto_grant`, `okr_completed`, `failure_decay`, `manual`).
        why: String,
    },
    /// Something a peer sent was refused.
    Denied {
        /// The audit record.
        entry: AuditView,
    },
    /// An OKR changed.
    Okr {
        /// The OKR.
        okr: OkrView,
    },
    /// A peer proposes a plan that waits for the owner.
    PlanProposed {
        /// The proposed OKR.
        okr: OkrView,
    },
}

impl From<&AgentEvent> for Activity {
    fn from(event: &AgentEvent) -> Self {
        match event.clone() {
            AgentEvent::Chat { conversation, sender, text } => {
                Self::Chat { conversation, sender, text }
            }
            AgentEvent::TaskServed { peer, skill, task_id, status } => {
                Self::TaskServed { peer, skill, task_id, status: CallState::from(&status) }
            }
            AgentEvent::CallProgress { task_id, percent, text } => {
                Self::CallProgress { task_id, percent, text }
            }
            AgentEvent::CallFinished { peer, task_id, status } => {
                Self::CallFinished { peer, task_id, status: CallState::from(&status) }
            }
            AgentEvent::TrustRequested(request) => {
                Self::TrustRequested { request: TrustRequestView::from(&request) }
            }
            AgentEvent::TrustChanged { peer, tier, why } => {
                Self::TrustChanged { peer, tier: tier.into(), why }
            }
            AgentEvent::Denied(entry) => Self::Denied { entry: AuditView::from(&entry) },
            AgentEvent::Okr(okr) => Self::Okr { okr: OkrView::from(&okr) },
            AgentEvent::PlanProposed(okr) => Self::PlanProposed { okr: OkrView::from(&okr) },
        }
    }
}

/// The most recent events, newest last.
#[derive(Debug, Default)]
pub struct Feed {
    items: Mutex<VecDeque<ActivityItem>>,
}

impl Feed {
    /// Adds an item, dropping the oldest beyond [`FEED_LEN`].
    pub fn push(&self, item: ActivityItem) {
        let mut items = self.items.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if items.len() == FEED_LEN {
            items.pop_front();
        }
        items.push_back(item);
    }

    /// The kept items, oldest first.
    pub fn items(&self) -> Vec<ActivityItem> {
        let items = self.items.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        items.iter().cloned().collect()
    }
}

/// What the Home page shows besides the feed: counts and what needs attention, from the stores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct Overview {
    /// Known peers.
    pub peers: u32,
    /// My skills, and how many of them peers may see.
    pub skills: u32,
    /// Exposed skills.
    pub skills_exposed: u32,
    /// Calls this agent made.
    pub calls_made: u32,
    /// Receipts for tasks this agent ran for peers.
    pub calls_served: u32,
    /// Goals running now.
    pub goals_running: u32,
    /// Trust requests waiting for the owner.
    pub pending_requests: Vec<TrustRequestView>,
    /// Plans peers proposed that wait for the owner.
    pub pending_plans: Vec<OkrView>,
    /// Calls that failed, newest first (at most 10).
    pub failed_calls: Vec<crate::peer::CallView>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_feed_keeps_the_newest_items() {
        let feed = Feed::default();
        for i in 0..FEED_LEN + 5 {
            let event =
                Activity::CallProgress { task_id: i.to_string(), percent: 1, text: "".into() };
            feed.push(ActivityItem { at_ms: 0.0, event });
        }
        let items = feed.items();
        assert_eq!(items.len(), FEED_LEN);
        assert!(
            matches!(&items[0].event, Activity::CallProgress { task_id, .. } if task_id == "5")
        );
    }

    #[test]
    fn events_serialize_with_a_type_tag() {
        let event = AgentEvent::TrustChanged {
            peer: "ab".into(),
            tier: coworker_runtime::protocol::trust::Tier::Known,
            why: "approved".into(),
        };
        let json = serde_json::to_value(Activity::from(&event)).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"type": "trust_changed", "peer": "ab", "tier": 1, "why": "approved"})
        );
    }
}
