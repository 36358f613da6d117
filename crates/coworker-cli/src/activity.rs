//! One-line human descriptions of the agent's activity events.

use coworker_runtime::AgentEvent;

fn short(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

pub(crate) fn describe(event: &AgentEvent) -> String {
    match event {
        AgentEvent::Chat { sender, text, .. } => format!("💬 {}: {text}", short(sender)),
        AgentEvent::TaskServed { peer, skill, status, .. } => {
            format!("ran {skill} for {} → {status}", short(peer))
        }
        AgentEvent::CallProgress { task_id, percent, text } => {
            format!("task {} {percent}% {text}", short(task_id))
        }
        AgentEvent::CallFinished { peer, task_id, status } => {
            format!("task {} at {} → {status}", short(task_id), short(peer))
        }
        AgentEvent::TrustRequested(r) => {
            format!("{} asks for {} ({}), request {}", short(&r.peer), r.requested, r.reason, r.id)
        }
        AgentEvent::TrustChanged { peer, tier, why } => {
            format!("{} is now {tier} ({why})", short(peer))
        }
        AgentEvent::Denied(entry) => format!(
            "refused {} from {}: {} ({})",
            entry.action,
            short(&entry.peer),
            entry.decision.reason,
            entry.decision.rule
        ),
        AgentEvent::Okr(okr) => {
            format!("OKR {:?} {:?} {}%", okr.objective, okr.status, okr.progress())
        }
        AgentEvent::PlanProposed(okr) => {
            format!(
                "{} proposes a plan for {:?} ({})",
                short(&okr.initiator),
                okr.objective,
                okr.id
            )
        }
    }
}
