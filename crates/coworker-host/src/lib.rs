//! One running agent per identity, reachable by every front end.
//!
//! The process that holds an identity (the desktop app, `coworker serve` or `coworker host`)
//! opens it here and serves the **control API** on a Unix socket in its data directory; every
//! other front end — a `coworker` command, an MCP server, a Python program — talks to that
//! process instead of opening the identity again. When no host runs, a front end opens the
//! identity in-process through the same [`Api`].
//!
//! | module | role |
//! |---|---|
//! | [`paths`] | where an identity's data, the shared node database and the control socket live |
//! | [`identity`] | opening an identity in the process that holds it: lock, client, agent, serving, control socket |
//! | [`keys`] | where keys live: OS keychain, key file, memory |
//! | [`network`] | network names (`embedded`, `local`, `dev`, `production`, a URL) and the embedded-node contract |
//! | [`lock`] | one host per data directory |
//! | [`error`] | [`HostError`]: a stable code and a kind, the same in-process and over the socket |
//! | [`approval`] | owner approval: what only the owner may grant, asked and answered the same way in every front end |
//! | [`skill`] | skill declarations: command- and HTTP-backed skills, as the agent file and the app declare them |
//! | [`agent_file`] | the agent file (TOML): name, skills, trust policy, limits |
//! | [`api`] | [`Api`]: every use case a front end has, on a local agent or a remote host |
//! | [`control`] | the control API: protocol (`docs/control-api.md`), server, client, client-provided skills |

pub mod agent_file;
pub mod api;
pub mod approval;
pub mod control;
pub mod error;
pub mod identity;
pub mod keys;
pub mod lock;
pub mod network;
pub mod paths;
pub mod skill;

pub use api::{Api, Called, Connected};
pub use error::{ErrorKind, HostError};
