//! Owner approval, the same in every front end: what a peer asks that only the owner may grant
//! (a higher tier, a plan to run), put as a [`Question`] naming the peer safely, and the owner's
//! answer applied. The app asks by desktop notification, `coworker serve` on its terminal; both
//! use this.

use coworker_runtime::protocol::text::one_line;
use coworker_runtime::protocol::trust::Tier;
use coworker_runtime::protocol::{Okr, RequestStatus};
use coworker_runtime::{Agent, AgentEvent};

use crate::error::HostError;

/// Something only the owner may decide.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Question {
    /// A peer asks to be held at a higher tier.
    Trust {
        /// Its inbox id.
        peer: String,
        /// How it is shown: the name the owner accepted, or its own marked unverified, with 24
        /// hex digits of its inbox id (no one can match those by grinding keys).
        who: String,
        /// The tier asked for.
        tier: Tier,
        /// Its reason, on one line (at most 300 characters).
        reason: String,
    },
    /// A peer proposes a plan with steps on our skills.
    Plan {
        /// The OKR's id.
        okr: String,
        /// Its initiator's inbox id.
        peer: String,
        /// How the initiator is shown (as for trust).
        who: String,
        /// The objective and the skills its steps use, on one line.
        summary: String,
    },
}

impl Question {
    /// What the owner is asked, for the event `event`; `None` when it asks nothing (or the
    /// request was already decided).
    pub async fn of(agent: &Agent, event: &AgentEvent) -> Option<Self> {
        match event {
            AgentEvent::TrustRequested(request) if request.status == RequestStatus::Pending => {
                Some(Self::Trust {
                    peer: request.peer.clone(),
                    who: label(agent, &request.peer).await,
                    tier: request.requested,
                    reason: one_line(&request.reason, 300),
                })
            }
            AgentEvent::PlanProposed(okr) => Some(Self::Plan {
                okr: okr.id.clone(),
                peer: okr.initiator.clone(),
                who: label(agent, &okr.initiator).await,
                summary: plan_summary(okr),
            }),
            _ => None,
        }
    }

    /// The peer it concerns.
    pub fn peer(&self) -> &str {
        match self {
            Self::Trust { peer, .. } | Self::Plan { peer, .. } => peer,
        }
    }

    /// One line: who asks for what.
    pub fn headline(&self) -> String {
        match self {
            Self::Trust { who, tier, .. } => format!("{who} asks for {} access", tier.label()),
            Self::Plan { who, .. } => format!("{who} proposes a plan"),
        }
    }

    /// The detail: the peer's reason, or the plan's objective and skills.
    pub fn detail(&self) -> String {
        match self {
            Self::Trust { reason, .. } if reason.is_empty() => {
                "Approve to raise its trust tier.".to_owned()
            }
            Self::Trust { reason, .. } => format!("“{reason}”"),
            Self::Plan { summary, .. } => summary.clone(),
        }
    }

    /// Applies the owner's answer. A trust answer decides the peer's newest pending request
    /// (a later one replaced the one asked about); nothing pending is not an error.
    pub async fn answer(&self, agent: &Agent, approve: bool) -> Result<(), HostError> {
        match self {
            Self::Trust { peer, .. } => {
                let pending = agent.trust_requests(true).await?;
                let Some(latest) = pending.iter().rev().find(|r| &r.peer == peer) else {
                    return Ok(());
                };
                agent.decide_trust_request(latest.id, approve).await?;
            }
            Self::Plan { okr, .. } => {
                agent.decide_plan(okr, approve).await?;
            }
        }
        Ok(())
    }
}

/// A peer as the owner should see it.
async fn label(agent: &Agent, inbox: &str) -> String {
    match agent.peer(inbox).await {
        Ok(peer) => peer.label(),
        Err(_) => coworker_runtime::peer_label(inbox, "", false),
    }
}

fn plan_summary(okr: &Okr) -> String {
    let skills: Vec<&str> = okr.steps.iter().map(|s| s.skill.as_str()).collect();
    one_line(&format!("{} — steps: {}", okr.objective, skills.join(", ")), 300)
}
