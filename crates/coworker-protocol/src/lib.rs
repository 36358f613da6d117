//! The CoWorker protocol core, without I/O.
//!
//! Everything here is a pure function of its inputs: time, randomness and keys are passed in,
//! and nothing touches the network, the disk or a clock. The runtime (`coworker-runtime`)
//! drives it.
//!
//! | module | what it decides |
//! |---|---|
//! | [`envelope`] | the v1 JSON envelope (wire-compatible with agent-coworker 0.6.1), message types, typed payloads |
//! | [`trust`] | the four tiers, which message types a tier may send, trust requests, OKR step-down, failure decay |
//! | [`skill`] | skill declarations, visibility per tier, structured call failures |
//! | [`schema`] | the JSON Schema subset inputs and outputs are validated against (and the original's shorthand) |
//! | [`lenient`] | reading other implementations' answers without failing on fields we only display |
//! | [`invite`] | invite codes: the original's, and ours signed by the installation key; URI and QR |
//! | [`receipt`] | signed metering receipts, CSV export |
//! | [`status`] | typed call and trust-request statuses, serialised as the v1 strings |
//! | [`okr`] | goal → OKR: the deterministic planner and the execution state machine |
//! | [`text`] | peer-chosen text made safe to show (no control or escape sequences) |

pub mod envelope;
pub mod invite;
pub mod lenient;
pub mod okr;
pub mod receipt;
pub mod schema;
pub mod skill;
pub mod status;
pub mod text;
pub mod trust;

pub use envelope::{Envelope, EnvelopeError, Sender};
pub use invite::{Invite, InviteError};
pub use okr::{Okr, PlanError};
pub use receipt::{Receipt, ReceiptError, SignedReceipt};
pub use schema::{Schema, SchemaError, Violation};
pub use skill::{Failure, FailureCode, Skill, SkillCard, SkillError, SkillSpec};
pub use status::{CallStatus, RequestStatus};
pub use trust::{Decision, Tier};
