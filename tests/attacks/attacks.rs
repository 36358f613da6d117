//! The attacks on CoWorker's trust boundary, one module per way past it (the items of
//! `docs/security.md`). Each drives the real stack: a node on loopback, agents with their own
//! SQLite state and MLS groups, and an attacker writing the wire protocol by hand. Items 2 and
//! 3 (a forged MLS commit, hostile MLS input) need a client's MLS state: they are in `mls/` and
//! run inside `xmtp-client`'s tests.

#![allow(clippy::unwrap_used, missing_docs)]

mod command_skills;
mod files;
mod flooding;
mod group_leaks;
mod okr_rewrite;
mod oversized_pages;
mod peer_names;
mod receipts;
mod task_ids;
mod trust_ladder;
