//! The control API's messages (version [`VERSION`]). Each line is one JSON object.
//!
//! A client opens with [`Hello`]; the host answers [`Welcome`] (or an error and closes). Then:
//! - client → host: [`Framed`] requests (`{"id": 7, "method": "call", "params": {...}}`) and
//!   [`Reply`] answers to skill invocations;
//! - host → client: [`ToClient`]: a response per request (`{"id": 7, "result": ...}` or
//!   `{"id": 7, "error": {...}}`), events after `subscribe`, and skill invocations.

use coworker_runtime::protocol::SkillSpec;
use coworker_runtime::protocol::trust::Tier;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::HostError;

/// The protocol version this build speaks.
pub const VERSION: u32 = 1;

/// The client's first line.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Hello {
    /// The protocol version the client speaks.
    pub coworker_control: u32,
    /// What the client is, for the host's log (`cli`, `mcp`, `python`, …).
    #[serde(default)]
    pub client: String,
}

/// The host's answer to [`Hello`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Welcome {
    /// The protocol version the host speaks.
    pub coworker_control: u32,
    /// The agent's name.
    pub name: String,
    /// Its inbox id.
    pub inbox_id: String,
    /// Its wallet address.
    pub address: String,
    /// The network it is on.
    pub network: String,
}

/// A request with its id.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Framed {
    /// Chosen by the client; the response carries it.
    pub id: u64,
    /// What is asked.
    #[serde(flatten)]
    pub request: Request,
}

/// Everything a front end asks of the agent.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "method", content = "params", rename_all = "snake_case")]
pub enum Request {
    /// → [`crate::api::Status`].
    Status,
    /// → `{code, uri}`.
    Invite {
        /// Unix seconds after which the code is refused.
        #[serde(default)]
        expires_at: Option<u64>,
    },
    /// → `[Peer]`.
    Peers,
    /// → `Peer` by inbox id or the one verified name.
    FindPeer {
        /// Inbox id or name.
        text: String,
    },
    /// Asks a peer for the skills it shows us now → `[SkillCard]`.
    Discover {
        /// The peer's inbox id.
        peer: String,
        /// How long to wait for it, milliseconds.
        wait_ms: u64,
    },
    /// Accepts an invite, discovers and asks for a tier → [`crate::api::Connected`].
    Connect {
        /// The invite code or URI.
        code: String,
        /// The tier to ask for (`None`: ask nothing).
        #[serde(default)]
        ask: Option<Tier>,
        /// Why, shown to the peer's owner.
        #[serde(default)]
        reason: String,
        /// How long to wait for the peer, milliseconds.
        wait_ms: u64,
    },
    /// Calls a skill and waits → [`crate::api::Called`] (after `progress` messages).
    Call {
        /// The provider's inbox id.
        peer: String,
        /// The skill.
        skill: String,
        /// Its input.
        input: Value,
        /// Reuse a task id (a retry).
        #[serde(default)]
        task_id: Option<String>,
        /// How long to wait, milliseconds.
        #[serde(default)]
        timeout_ms: Option<u64>,
    },
    /// Sends a call without waiting → the task id.
    Request {
        /// The provider's inbox id.
        peer: String,
        /// The skill.
        skill: String,
        /// Its input.
        input: Value,
    },
    /// An asynchronous call's outcome → [`crate::api::Outcome`] or null while pending.
    CallResult {
        /// The task id.
        task_id: String,
        /// Wait this long for a pending call to settle, milliseconds.
        #[serde(default)]
        wait_ms: u64,
    },
    /// → `[CallSummary]`.
    Calls,
    /// Asks the provider to stop a task.
    Cancel {
        /// The provider.
        peer: String,
        /// The task.
        task_id: String,
    },
    /// Plans and runs a goal → `Okr` (after a `progress` message each time the OKR changes).
    Collaborate {
        /// The peer.
        peer: String,
        /// The goal.
        goal: String,
    },
    /// → `[Okr]`.
    Okrs,
    /// → `[{card, exposed}]`.
    Skills,
    /// Shows or hides a skill.
    SetExposed {
        /// The skill.
        skill: String,
        /// Shown to peers.
        exposed: bool,
    },
    /// What a peer at `tier` sees → `[SkillCard]`.
    Preview {
        /// The tier.
        tier: Tier,
    },
    /// Registers a skill this client runs: calls to it arrive as `invoke` messages, and it
    /// disappears when the client goes away.
    RegisterSkill {
        /// Its declaration.
        spec: SkillSpec,
        /// Shown to peers from the start.
        #[serde(default)]
        exposed: bool,
    },
    /// Removes a skill this client registered.
    UnregisterSkill {
        /// Its name.
        name: String,
    },
    /// The tier held for a peer → `Tier`.
    Tier {
        /// The peer.
        peer: String,
    },
    /// Sets a peer's tier.
    SetTier {
        /// The peer.
        peer: String,
        /// The tier.
        tier: Tier,
    },
    /// → `[TrustRequestRecord]`.
    TrustRequests {
        /// Only pending ones.
        pending_only: bool,
    },
    /// Approves or denies a trust request.
    DecideTrustRequest {
        /// Its id.
        id: i64,
        /// Grant it.
        approve: bool,
    },
    /// → `[AuditEntry]`, newest first.
    AuditLog {
        /// Only this peer's.
        #[serde(default)]
        peer: Option<String>,
        /// How many.
        limit: u32,
    },
    /// Blocks a peer.
    Block {
        /// The peer.
        peer: String,
    },
    /// Lifts a block.
    Unblock {
        /// The peer.
        peer: String,
    },
    /// → `[Group]`.
    Groups,
    /// → `Group`.
    CreateGroup {
        /// Its name.
        name: String,
        /// Inbox ids, invite codes or addresses.
        members: Vec<String>,
    },
    /// Sends chat to a group or DM.
    SendChat {
        /// The conversation id.
        conversation: String,
        /// The text.
        text: String,
    },
    /// Calls a group member's skill in the group → [`crate::api::Called`].
    GroupCall {
        /// The group id.
        group: String,
        /// A member's inbox id or unique name.
        member: String,
        /// The skill.
        skill: String,
        /// Its input.
        input: Value,
    },
    /// → `[SignedReceipt]`.
    Receipts,
    /// Checks every receipt's signature and signer → [`crate::api::ReceiptCheck`].
    VerifyReceipts,
    /// From now on, the agent's events arrive on this connection.
    Subscribe,
}

/// A client's answer to a skill invocation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Reply {
    /// The invocation answered.
    pub invocation: u64,
    /// The output (success).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    /// Why it failed (sent to the caller as is).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Progress so far, 0-100, with a word (the invocation goes on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<(u8, String)>,
}

/// What a client sends after [`Hello`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum FromClient {
    /// A request.
    Request(Framed),
    /// An answer to an invocation.
    Reply(Reply),
}

/// A call to a skill this client provides.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Invoke {
    /// Answer with this id.
    pub invocation: u64,
    /// The skill.
    pub skill: String,
    /// The input (already validated against the skill's schema).
    pub input: Value,
    /// The caller's inbox id (authenticated).
    pub caller: String,
    /// The task id.
    pub task_id: String,
}

/// What the host sends after [`Welcome`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ToClient {
    /// A request succeeded.
    Result {
        /// The request's id.
        id: u64,
        /// Its result.
        result: Value,
    },
    /// A request failed.
    Error {
        /// The request's id.
        id: u64,
        /// Why.
        error: HostError,
    },
    /// How a request (`call`, `collaborate`) is going; before its result.
    Progress {
        /// The request's id.
        id: u64,
        /// What happened.
        progress: crate::api::Progress,
    },
    /// An agent event (after `subscribe`).
    Event {
        /// The event, as `coworker_runtime::AgentEvent` serialises it.
        event: Value,
    },
    /// Run a skill this client provides.
    Invoke {
        /// The call.
        invoke: Invoke,
    },
    /// Stop an invocation (its caller went away or its deadline passed).
    Cancel {
        /// The invocation.
        cancel: u64,
    },
}
