//! XMTP v3 wire types.
//!
//! This crate owns the `.proto` files for the part of the XMTP v3 API that libxmtp 1.10 speaks
//! (`xmtp.mls.api.v1.MlsApi`, `xmtp.identity.api.v1.IdentityApi` and the message contents they
//! carry) and the Rust types and gRPC client/server stubs generated from them.
//!
//! It is the bottom of the XMTP side of the workspace: both the node (`xmtp-node`) and the client
//! (`xmtp-client`) depend on it; it depends on nothing of ours.
//!
//! Status: the protobuf definitions arrive with the node (see `ARCHITECTURE.md`).
