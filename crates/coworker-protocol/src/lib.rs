//! The CoWorker protocol core, without I/O.
//!
//! Envelopes (wire-compatible with agent-coworker v1), trust tiers and the decisions they drive,
//! skill declarations and their JSON Schemas, invite codes, receipts and the OKR state machine.
//! Everything here is a pure function of its inputs: time, randomness and keys are passed in, and
//! nothing touches the network, the disk or a clock. The runtime (`coworker-runtime`) drives it.
//!
//! Status: not implemented yet (see `ARCHITECTURE.md`).
