//! A native XMTP v3 client.
//!
//! Identity (wallet key, inbox id, installation key), key packages, MLS conversations on stock
//! openmls (DMs and groups that interoperate with libxmtp), message encoding, sync and streams,
//! with state in SQLite. Depends on `xmtp-proto`; knows nothing about CoWorker.
//!
//! Status: not implemented yet (see `ARCHITECTURE.md`).
