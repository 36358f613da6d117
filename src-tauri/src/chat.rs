//! Chat: DMs and groups of humans and bots with each member's trust badge, their messages
//! (protocol traffic rendered readably), sending, and creating groups.

use std::collections::HashMap;

use coworker_host::HostError;
use coworker_runtime::Agent;
use coworker_runtime::protocol::Envelope;
use coworker_runtime::protocol::envelope::kind;
use coworker_runtime::{ConversationId, ConversationKind};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::AppResult;

/// Most messages one `messages` call returns.
pub const MAX_MESSAGES: u32 = 20_000;

/// A member with its badge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
pub struct MemberView {
    /// XMTP inbox id.
    pub inbox_id: String,
    /// Its name, when known.
    pub name: Option<String>,
    /// The tier I hold it at, 0-3; `None` for me.
    pub tier: Option<u8>,
}

/// A DM or a group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
pub struct ConversationView {
    /// Conversation id, hex.
    pub id: String,
    /// `dm` or `group`.
    pub kind: String,
    /// The group's name or the peer's name.
    pub title: String,
    /// Members with badges (me included).
    pub members: Vec<MemberView>,
    /// Whether I am still a member.
    pub active: bool,
}

/// A message, readable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct MessageView {
    /// Message id, hex.
    pub id: String,
    /// Sender inbox id.
    pub sender: String,
    /// Whether I sent it.
    pub mine: bool,
    /// When (Unix ms).
    pub sent_ms: f64,
    /// `chat` for text; otherwise the protocol message's kind (`call`, `result`, `trust`,
    /// `plan`, `discover`, `error`, `other`).
    pub kind: String,
    /// The text, or a one-line rendering of the protocol message.
    pub text: String,
}

/// Conversations with badges; DMs titled by the peer's name.
pub async fn conversations(agent: &Agent) -> AppResult<Vec<ConversationView>> {
    let peers: HashMap<String, coworker_runtime::Peer> = agent
        .peers()
        .await
        .map_err(HostError::from)?
        .into_iter()
        .map(|p| (p.inbox_id.clone(), p))
        .collect();
    let me = agent.inbox_id();
    let list = agent.client().conversations().await.map_err(HostError::from)?;
    Ok(list
        .into_iter()
        .rev()
        .map(|c| {
            let members = c
                .members
                .iter()
                .map(|m| {
                    let peer = peers.get(m);
                    MemberView {
                        inbox_id: m.clone(),
                        name: peer.map(|p| p.name.clone()).filter(|n| !n.is_empty()),
                        tier: (m != me).then(|| peer.map_or(0, |p| p.tier.into())),
                    }
                })
                .collect();
            let (kind, title) = match &c.kind {
                ConversationKind::Dm { peer } => (
                    "dm",
                    peers
                        .get(peer)
                        .map(|p| p.name.clone())
                        .filter(|n| !n.is_empty())
                        .unwrap_or_else(|| short(peer)),
                ),
                ConversationKind::Group => ("group", c.name.clone()),
            };
            ConversationView {
                id: c.id.to_string(),
                kind: kind.to_owned(),
                title,
                members,
                active: c.active,
            }
        })
        .collect())
}

fn short(id: &str) -> String {
    id.get(..8).unwrap_or(id).to_owned()
}

pub(crate) fn conversation_id(hex_id: &str) -> AppResult<ConversationId> {
    hex::decode(hex_id.trim()).map(ConversationId).map_err(|_| {
        HostError::invalid("chat.conversation_id", format!("{hex_id:?} is not a conversation id"))
    })
}

/// The last `limit` messages of a conversation, oldest first.
pub async fn messages(
    agent: &Agent,
    conversation: &str,
    limit: u32,
) -> AppResult<Vec<MessageView>> {
    let id = conversation_id(conversation)?;
    let latest = agent
        .client()
        .latest_messages(&id, limit.min(MAX_MESSAGES))
        .await
        .map_err(HostError::from)?;
    let me = agent.inbox_id();
    Ok(latest
        .iter()
        .filter_map(|m| {
            let text = m.text()?;
            let (kind, text) = render(&text);
            Some(MessageView {
                id: hex::encode(m.id),
                sender: m.sender_inbox_id.clone(),
                mine: m.sender_inbox_id == me,
                sent_ms: (m.sent_ns / 1_000_000) as f64,
                kind,
                text,
            })
        })
        .collect())
}

/// Renders a message: plain text stays as it is; protocol envelopes become one readable line.
pub fn render(text: &str) -> (String, String) {
    let Ok(Some(envelope)) = Envelope::parse(text) else {
        return ("chat".into(), text.to_owned());
    };
    let p = &envelope.payload;
    let s = |key: &str| p.get(key).and_then(Value::as_str).unwrap_or_default().to_owned();
    let compact = |key: &str| p.get(key).map(|v| truncate(&v.to_string())).unwrap_or_default();
    let (kind, line) = match envelope.kind.as_str() {
        kind::PING => ("other", "ping".to_owned()),
        kind::PONG => ("other", format!("pong: {}", s("message"))),
        kind::DISCOVER | kind::GROUP_DISCOVER => {
            ("discover", "asks which skills it may use".into())
        }
        kind::CAPABILITIES | kind::GROUP_CAPABILITIES => {
            let names: Vec<String> = p
                .get("skills")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter().filter_map(|s| s.get("name")?.as_str().map(str::to_owned)).collect()
                })
                .unwrap_or_default();
            let list = if names.is_empty() { "none".to_owned() } else { names.join(", ") };
            ("discover", format!("shows its skills: {list}"))
        }
        kind::TRUST_REQUEST => (
            "trust",
            format!("asks for trust tier {} — {}", compact("requested_tier"), s("reason")),
        ),
        kind::TRUST_GRANT => ("trust", format!("grants trust tier {}", compact("granted_tier"))),
        kind::TRUST_DENY => ("trust", format!("denies trust: {}", s("reason"))),
        kind::TASK_REQUEST | kind::GROUP_TASK_REQUEST => {
            ("call", format!("calls {} with {}", s("skill"), compact("input")))
        }
        kind::TASK_RESPONSE | kind::GROUP_TASK_RESPONSE => {
            ("result", format!("result: {}", compact("result")))
        }
        kind::TASK_ERROR | kind::GROUP_TASK_ERROR => ("result", format!("failed: {}", s("error"))),
        kind::TASK_PROGRESS => ("call", format!("progress {}%", compact("percent"))),
        kind::TASK_CANCEL => ("call", "cancels the task".to_owned()),
        kind::PLAN_PROPOSE => ("plan", format!("proposes a plan: {}", s("goal"))),
        kind::PLAN_ACCEPT => ("plan", "accepts the plan".to_owned()),
        kind::PLAN_REJECT => ("plan", format!("declines the plan: {}", s("reason"))),
        kind::OKR_UPDATE => {
            let okr = p.get("okr");
            let field = |k: &str| okr.and_then(|o| o.get(k)).and_then(Value::as_str).unwrap_or("");
            ("plan", format!("goal {:?} is {}", field("objective"), field("status")))
        }
        kind::GROUP_MESSAGE => ("chat", s("text")),
        kind::ERROR => ("error", format!("refused: {}", s("message"))),
        other => ("other", other.to_owned()),
    };
    (kind.to_owned(), line)
}

fn truncate(text: &str) -> String {
    const MAX: usize = 160;
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// Sends a chat message.
pub async fn send(agent: &Agent, conversation: &str, text: &str) -> AppResult<()> {
    let text = text.trim();
    if text.is_empty() {
        return Err(HostError::invalid("chat.empty", "write something first"));
    }
    agent.send_chat(conversation, text).await.map_err(HostError::from)
}

/// The DM with a peer (opened if needed): its conversation id.
pub async fn open_dm(agent: &Agent, peer: &str) -> AppResult<String> {
    agent.client().dm(peer).await.map(|id| id.to_string()).map_err(HostError::from)
}

/// Creates a group of `members` (inbox ids or invite codes).
pub async fn create_group(agent: &Agent, name: &str, members: &[String]) -> AppResult<String> {
    let name = name.trim();
    if name.is_empty() {
        return Err(HostError::invalid("group.name", "give the group a name"));
    }
    agent.create_group(name, members).await.map(|g| g.id).map_err(HostError::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_messages_render_as_one_readable_line() {
        let call = r#"{"protocol":"coworker","version":"1.0","type":"task_request","payload":{"skill":"translate","input":{"text":"hi"}}}"#;
        assert_eq!(render(call), ("call".into(), r#"calls translate with {"text":"hi"}"#.into()));
        assert_eq!(render("hello there"), ("chat".into(), "hello there".into()));
        assert_eq!(render("{not json"), ("chat".into(), "{not json".into()));
    }

    #[test]
    fn long_values_are_cut() {
        let long = "x".repeat(500);
        assert_eq!(truncate(&long).chars().count(), 161);
    }
}
