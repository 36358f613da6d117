//! The CoWorker agent runtime.
//!
//! [`Agent`] ties the protocol core (`coworker-protocol`) to the network (`xmtp-client`): it
//! serves skills, connects to peers from invite codes, calls and collaborates, persists
//! everything in SQLite and publishes a typed event stream for the desktop app and the CLI.
//!
//! | module | role |
//! |---|---|
//! | [`agent`] | `Agent`, its configuration, skills and visibility, trust administration, events, and the intake loop (XMTP message → envelope → trust gate → action) |
//! | `connect` | meeting peers, both sides: invites, accepting one, naming peers, ping, discovery, trust requests asked and answered |
//! | `call` | calling a skill: waiting or asynchronous, cancel, settling answers (receipts verified, failure decay), the receipts kept |
//! | `provide` | serving a task: once per task id, bounded overall and per peer, with deadlines, progress and signed receipts |
//! | `collaborate` | an OKR, both sides: planning, proposing and accepting plans, running our steps, following the peer's updates, resuming, expiry, the trust step-down |
//! | [`group`] | groups of humans and agents: create from inbox ids, invites or addresses; chat; call a named member's skill; members' tiers for badges |
//! | [`handler`] | how a skill runs: a Rust closure, an external command (JSON on stdin/stdout) or an HTTP endpoint |
//! | [`http`] | a small HTTP/1.1 JSON client (plain or TLS) for HTTP skills and LLM planners |
//! | [`planner`] | goal → OKR planners: the deterministic default and an OpenAI-compatible LLM planner |
//! | [`private`] | owner-only permissions of data directories, databases and settings |
//! | `store` | the SQLite state: peers, visibility, served tasks, calls, receipts, OKRs, audit, trust requests, watermarks |
//!
//! The sender of every message is the XMTP-authenticated inbox of the message; envelope fields
//! such as `sender_wallet` are never used for identity or trust.

pub mod agent;
mod call;
mod collaborate;
mod connect;
pub mod error;
pub mod group;
pub mod handler;
pub mod http;
pub mod planner;
pub mod private;
mod provide;
mod quota;
mod store;

pub use agent::{Agent, AgentConfig, AgentEvent, Ids, RandomIds, Serving};
pub use call::{CallOptions, CallResult};
pub use coworker_protocol as protocol;
pub use error::{CallError, Result, RuntimeError};
pub use group::{Group, GroupMember};
pub use handler::{CallContext, Command, Handler, SkillFailure};
pub use http::HttpEndpoint;
pub use planner::{DeterministicPlanner, LlmPlanner, Planner};
pub use store::{AuditEntry, CallSummary, Peer, TrustRequestRecord, fingerprint, peer_label};
/// The XMTP conversations an agent's client (`Agent::client`) lists and opens.
pub use xmtp_client::{ConversationId, ConversationKind};
