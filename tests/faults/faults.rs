//! Faults the agent must survive without losing or repeating work (docs/reliability.md).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod clock_skew;
mod full_disk;
mod initiator_crash;
mod node_kill;
mod provider_crash;
mod send_cut;
