//! Groups: encrypted group chats of humans and agents. Members are added by inbox id, invite
//! code or wallet address; any member's skill can be called in the group (a
//! `group_task_request` naming that member, which alone answers); every member carries the tier
//! this agent holds it at, as data for trust badges.
//!
//! Chat is plain XMTP text, readable by any XMTP app, mirrored as a `group_message` envelope
//! when an agent of the Python original is a member; its `group_message` envelopes arrive as
//! chat too.

use coworker_protocol::Invite;
use coworker_protocol::envelope::{self, Dialect};
use coworker_protocol::trust::Tier;
use serde::Serialize;
use serde_json::Value;
use xmtp_client::{ConversationId, ConversationKind, GroupOptions, MemberIdentifier};

use crate::agent::Agent;
use crate::call::{CallOptions, CallResult, Route};
use crate::error::{Result, RuntimeError};

/// A group as this agent sees it.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Group {
    /// The conversation id, hex.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its description.
    pub description: String,
    /// Members with their badges.
    pub members: Vec<GroupMember>,
    /// Whether this agent is still a member.
    pub active: bool,
}

/// A member of a group.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct GroupMember {
    /// XMTP inbox id.
    pub inbox_id: String,
    /// Display name, when known (from an invite or the member's capabilities).
    pub name: Option<String>,
    /// The tier this agent holds the member at; `None` for this agent itself.
    pub tier: Option<Tier>,
    /// Whether the member is a super admin of the group.
    pub admin: bool,
}

impl Agent {
    /// Creates a group. `members` are inbox ids, invite codes (checked like [`Agent::connect`]
    /// checks them) or wallet addresses. Adding someone grants no trust.
    pub async fn create_group(&self, name: &str, members: &[String]) -> Result<Group> {
        let inboxes = self.resolve_members(members).await?;
        let options = GroupOptions { name: name.to_owned(), description: String::new() };
        let id = self.inner.client.create_group(&inboxes, &options).await?;
        self.group(&id.to_string()).await
    }

    /// Adds members (inbox ids, invite codes or wallet addresses).
    pub async fn add_group_members(&self, group: &str, members: &[String]) -> Result<Group> {
        let id = group_id(group)?;
        let inboxes = self.resolve_members(members).await?;
        self.inner.client.add_members(&id, &inboxes).await?;
        self.group(group).await
    }

    /// Removes members (inbox ids).
    pub async fn remove_group_members(&self, group: &str, members: &[String]) -> Result<Group> {
        let id = group_id(group)?;
        self.inner.client.remove_members(&id, members).await?;
        self.group(group).await
    }

    /// Every group this agent is or was in.
    pub async fn groups(&self) -> Result<Vec<Group>> {
        let mut groups = Vec::new();
        for conversation in self.inner.client.conversations().await? {
            if conversation.kind == ConversationKind::Group {
                groups.push(self.describe(conversation).await?);
            }
        }
        Ok(groups)
    }

    /// One group, with its members' badges.
    pub async fn group(&self, group: &str) -> Result<Group> {
        let conversation = self.inner.client.conversation(&group_id(group)?).await?;
        if conversation.kind != ConversationKind::Group {
            return Err(RuntimeError::NotFound(format!("group {group}")));
        }
        self.describe(conversation).await
    }

    /// Sends a chat message to a group or DM: plain text, which people read in any XMTP app.
    /// When an agent of the Python original is in the conversation (it reads only
    /// `group_message` envelopes), the text goes out once more as one; our agents read the
    /// plain text and skip the copy.
    pub async fn send_chat(&self, conversation: &str, text: &str) -> Result<()> {
        let id = group_id(conversation)?;
        self.inner.client.send_text(&id, text).await?;
        let members = self.inner.client.conversation(&id).await?.members;
        let mut original = false;
        for member in members.iter().filter(|m| *m != self.inbox_id()) {
            original |= self.inner.store.dialect(member).await? == Some(Dialect::Original);
        }
        if original {
            let mirror = envelope::GroupMessage {
                text: text.to_owned(),
                sender: self.inner.config.name.clone(),
                sender_wallet: self.inner.client.address(),
            };
            self.send(&id, envelope::kind::GROUP_MESSAGE, &mirror, None).await?;
        }
        Ok(())
    }

    /// Calls a skill of one member of a group, in the group. `member` is an inbox id or the
    /// unique name of a member. Only that member's answer counts.
    pub async fn group_call(
        &self,
        group: &str,
        member: &str,
        skill: &str,
        input: Value,
        options: CallOptions,
    ) -> Result<CallResult> {
        let described = self.group(group).await?;
        if !described.active {
            return Err(RuntimeError::InvalidInput(format!("not a member of group {group}")));
        }
        let target = find_member(&described.members, member, self.inbox_id())?;
        let state = self.inner.client.inbox_state(&target).await?;
        let wallet = state.identifiers().find_map(|i| match i {
            MemberIdentifier::Ethereum(address) => Some(address.clone()),
            _ => None,
        });
        let route = Route::Group { id: group_id(group)?, member: target, wallet };
        self.call_via(route, skill, input, options).await
    }

    async fn describe(&self, conversation: xmtp_client::Conversation) -> Result<Group> {
        let peers = self.inner.store.peers().await?;
        let mut members = Vec::with_capacity(conversation.members.len());
        for inbox in &conversation.members {
            let me = inbox == self.inbox_id();
            let known = peers.iter().find(|p| &p.inbox_id == inbox);
            let name = if me {
                Some(self.inner.config.name.clone())
            } else {
                known.map(|p| p.name.clone()).filter(|n| !n.is_empty())
            };
            let tier = if me { None } else { Some(known.map_or(Tier::Untrusted, |p| p.tier)) };
            let admin = conversation.super_admins.contains(inbox);
            members.push(GroupMember { inbox_id: inbox.clone(), name, tier, admin });
        }
        Ok(Group {
            id: conversation.id.to_string(),
            name: conversation.name,
            description: conversation.description,
            members,
            active: conversation.active,
        })
    }

    /// Inbox ids from inbox ids, invite codes or wallet addresses.
    async fn resolve_members(&self, members: &[String]) -> Result<Vec<String>> {
        let mut inboxes = Vec::with_capacity(members.len());
        for member in members {
            let member = member.trim();
            let inbox = if is_hex(member, 64) {
                member.to_ascii_lowercase()
            } else if member.len() == 42 && member.starts_with("0x") && is_hex(&member[2..], 40) {
                self.inner.client.find_inbox_id(member).await?.ok_or_else(|| {
                    RuntimeError::NotFound(format!("no XMTP inbox for address {member}"))
                })?
            } else {
                let invite = Invite::parse(member, self.now_ms() / 1000)?;
                self.check_invite(&invite).await?;
                self.inner
                    .store
                    .save_peer_info(
                        &invite.inbox_id,
                        Some((&invite.name, crate::store::NameSource::Owner)),
                        None,
                        self.now_ms(),
                    )
                    .await?;
                invite.inbox_id
            };
            if inbox != self.inbox_id() && !inboxes.contains(&inbox) {
                inboxes.push(inbox);
            }
        }
        Ok(inboxes)
    }
}

fn group_id(id: &str) -> Result<ConversationId> {
    id.parse().map_err(|_| RuntimeError::InvalidInput(format!("{id:?} is not a conversation id")))
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A member by inbox id or unique name (case-insensitive), never this agent itself.
fn find_member(members: &[GroupMember], wanted: &str, me: &str) -> Result<String> {
    let others = members.iter().filter(|m| m.inbox_id != me);
    if let Some(m) = others.clone().find(|m| m.inbox_id.eq_ignore_ascii_case(wanted)) {
        return Ok(m.inbox_id.clone());
    }
    let named: Vec<&GroupMember> = others
        .filter(|m| m.name.as_deref().is_some_and(|n| n.eq_ignore_ascii_case(wanted)))
        .collect();
    match named.as_slice() {
        [one] => Ok(one.inbox_id.clone()),
        [] => Err(RuntimeError::NotFound(format!("no member {wanted:?} in the group"))),
        _ => Err(RuntimeError::InvalidInput(format!(
            "{} members are named {wanted:?}; use an inbox id",
            named.len()
        ))),
    }
}
