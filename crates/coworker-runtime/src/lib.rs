//! The CoWorker agent runtime.
//!
//! `Agent` ties the protocol core (`coworker-protocol`) to the network (`xmtp-client`): it serves
//! skills, connects to peers from invite codes, calls and collaborates, persists everything in
//! SQLite and publishes a typed event stream for the desktop app and the CLI.
//!
//! Status: not implemented yet (see `ARCHITECTURE.md`).
