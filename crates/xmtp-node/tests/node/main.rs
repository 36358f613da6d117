//! Integration tests of the node through its gRPC API, on real SQLite databases.

// Test helpers panic on failure by design.
#![allow(clippy::unwrap_used)]

mod support;

mod d14n;
mod group_messages;
mod identity;
mod key_packages;
mod limits;
mod persistence;
mod subscriptions;
mod welcomes;
