//! A local XMTP-compatible node.
//!
//! Serves the XMTP v3 gRPC API (MlsApi and IdentityApi) from a SQLite database so that the
//! official libxmtp client and our own client can register, exchange key packages, welcomes and
//! group messages without any external service. The desktop app and the CLI embed it as their
//! offline default network; `coworker node` runs it stand-alone on a LAN.
//!
//! Depends on `xmtp-proto` only (plus tonic and sqlx); nothing of CoWorker.
//!
//! Status: not implemented yet (see `ARCHITECTURE.md`).
