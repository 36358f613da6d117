//! The control API: one running agent per identity, driven by any number of local clients over
//! a Unix socket in its data directory (`control.sock`, 0600, and only processes of the same
//! OS user are served). The protocol is newline-delimited JSON, versioned, and documented in
//! `docs/control-api.md`.
//!
//! - [`proto`]: the messages.
//! - [`server`]: serving an [`Agent`](coworker_runtime::Agent) to clients, including the skills
//!   they provide (a call to one is routed to the client that registered it).
//! - [`client`]: connecting to a host, requests, the event stream, providing skills.

pub mod client;
pub mod proto;
pub mod server;

pub use client::{ControlClient, Invocation, SkillProvider};
pub use server::ControlServer;
