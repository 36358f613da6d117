//! XMTP wire types: the V3 API and the decentralized network's (d14n).
//!
//! This crate owns the `.proto` files (under `proto/`) for the part of the XMTP v3 API that
//! libxmtp 1.10 speaks, written from the field reference with names and numbers matching
//! xmtp/proto at revision `a7255163`, and the Rust code prost and tonic generate from them at
//! build time (protox compiles the files, so no `protoc` is needed).
//!
//! The module tree mirrors the protobuf packages ([`xmtp`]); the short aliases below are what the
//! rest of the workspace uses:
//!
//! | alias | package | contents |
//! |---|---|---|
//! | [`mls_api`] | `xmtp.mls.api.v1` | `MlsApi` client/server, group messages, welcomes, key packages, paging |
//! | [`identity_api`] | `xmtp.identity.api.v1` | `IdentityApi` client/server, identity update logs, inbox lookup |
//! | [`associations`] | `xmtp.identity.associations` | identity updates, actions, signatures |
//! | [`mls_content`] | `xmtp.mls.message_contents` | encoded content, envelopes, group context extensions |
//! | [`d14n_envelopes`] | `xmtp.xmtpv4.envelopes` | d14n client, payer and originator envelopes, vector cursors |
//! | [`d14n_replication`] | `xmtp.xmtpv4.message_api` | d14n `ReplicationApi` (query, subscribe, newest, inbox ids) |
//! | [`d14n_payer`] | `xmtp.xmtpv4.payer_api` | d14n `PayerApi` (publish, node list), served by a gateway |
//! | [`migration_api`] | `xmtp.migration.api.v1` | `FetchD14nCutover`: when V3 publishing stops |
//! | [`grpc_health`] | `grpc.health.v1` | the standard health check |
//!
//! [`d14n`] holds the decentralized network's topics and originator ids.
//!
//! It is the bottom of the XMTP side of the workspace and depends on nothing of ours.

pub mod codec;
pub mod d14n;

/// Generated code, one module per protobuf package.
#[allow(missing_docs, unreachable_pub, clippy::all, clippy::pedantic, rust_2018_idioms)]
pub mod xmtp {
    /// `xmtp.identity`
    pub mod identity {
        include!(concat!(env!("OUT_DIR"), "/xmtp.identity.rs"));
        /// `xmtp.identity.associations`
        pub mod associations {
            include!(concat!(env!("OUT_DIR"), "/xmtp.identity.associations.rs"));
        }
        /// `xmtp.identity.api`
        pub mod api {
            /// `xmtp.identity.api.v1`
            pub mod v1 {
                include!(concat!(env!("OUT_DIR"), "/xmtp.identity.api.v1.rs"));
            }
        }
    }
    /// `xmtp.message_contents` (the v2 key types v3 identity still references)
    pub mod message_contents {
        include!(concat!(env!("OUT_DIR"), "/xmtp.message_contents.rs"));
    }
    /// `xmtp.mls`
    pub mod mls {
        /// `xmtp.mls.message_contents`
        pub mod message_contents {
            include!(concat!(env!("OUT_DIR"), "/xmtp.mls.message_contents.rs"));
            /// `xmtp.mls.message_contents.content_types`
            pub mod content_types {
                include!(concat!(env!("OUT_DIR"), "/xmtp.mls.message_contents.content_types.rs"));
            }
        }
        /// `xmtp.mls.api`
        pub mod api {
            /// `xmtp.mls.api.v1`
            pub mod v1 {
                include!(concat!(env!("OUT_DIR"), "/xmtp.mls.api.v1.rs"));
            }
        }
    }
    /// `xmtp.xmtpv4`: the decentralized network (d14n)
    pub mod xmtpv4 {
        /// `xmtp.xmtpv4.envelopes`
        pub mod envelopes {
            include!(concat!(env!("OUT_DIR"), "/xmtp.xmtpv4.envelopes.rs"));
        }
        /// `xmtp.xmtpv4.message_api`
        pub mod message_api {
            include!(concat!(env!("OUT_DIR"), "/xmtp.xmtpv4.message_api.rs"));
        }
        /// `xmtp.xmtpv4.payer_api`
        pub mod payer_api {
            include!(concat!(env!("OUT_DIR"), "/xmtp.xmtpv4.payer_api.rs"));
        }
    }
    /// `xmtp.migration`
    pub mod migration {
        /// `xmtp.migration.api`
        pub mod api {
            /// `xmtp.migration.api.v1`
            pub mod v1 {
                include!(concat!(env!("OUT_DIR"), "/xmtp.migration.api.v1.rs"));
            }
        }
    }
}

/// Generated code for `grpc.health.v1`, the standard health check.
#[allow(missing_docs, unreachable_pub, clippy::all, clippy::pedantic, rust_2018_idioms)]
pub mod grpc_health {
    include!(concat!(env!("OUT_DIR"), "/grpc.health.v1.rs"));
}

pub use bytes::Bytes;
pub use prost::Message;
pub use xmtp::identity::MlsCredential;
pub use xmtp::identity::api::v1 as identity_api;
pub use xmtp::identity::associations;
pub use xmtp::migration::api::v1 as migration_api;
pub use xmtp::mls::api::v1 as mls_api;
pub use xmtp::mls::message_contents as mls_content;
pub use xmtp::xmtpv4::envelopes as d14n_envelopes;
pub use xmtp::xmtpv4::message_api as d14n_replication;
pub use xmtp::xmtpv4::payer_api as d14n_payer;

#[cfg(test)]
mod tests {
    use super::*;

    /// Field numbers are the wire contract: decode bytes laid out by hand from the reference.
    #[test]
    fn group_message_fields_have_the_reference_numbers() {
        // GroupMessage{ v1 (1) = V1{ id (1) = 7, group_id (3) = [0xAB], is_commit (7) = true } }
        let inner = [0x08, 0x07, 0x1a, 0x01, 0xab, 0x38, 0x01];
        let mut bytes = vec![0x0a, inner.len() as u8];
        bytes.extend_from_slice(&inner);
        let message = mls_api::GroupMessage::decode(bytes.as_slice()).unwrap();
        let Some(mls_api::group_message::Version::V1(v1)) = message.version else {
            panic!("expected v1")
        };
        assert_eq!((v1.id, v1.group_id.as_ref(), v1.is_commit), (7, &[0xab][..], true));
    }

    #[test]
    fn welcome_metadata_is_field_7_of_welcome_input() {
        let input = mls_api::WelcomeMessageInput {
            version: Some(mls_api::welcome_message_input::Version::V1(
                mls_api::welcome_message_input::V1 {
                    welcome_metadata: vec![1].into(),
                    ..Default::default()
                },
            )),
        };
        // tag (7 << 3 | 2) = 0x3a
        assert_eq!(input.encode_to_vec(), vec![0x0a, 0x03, 0x3a, 0x01, 0x01]);
    }

    #[test]
    fn identity_update_round_trips() {
        let update = associations::IdentityUpdate {
            actions: vec![associations::IdentityAction {
                kind: Some(associations::identity_action::Kind::CreateInbox(
                    associations::CreateInbox {
                        initial_identifier: "0xabc".into(),
                        nonce: 1,
                        initial_identifier_signature: None,
                        initial_identifier_kind: associations::IdentifierKind::Ethereum as i32,
                        relying_party: None,
                    },
                )),
            }],
            client_timestamp_ns: 5,
            inbox_id: "inbox".into(),
        };
        let decoded = associations::IdentityUpdate::decode(update.encode_to_vec().as_slice());
        assert_eq!(decoded.unwrap(), update);
    }

    #[test]
    fn both_services_have_client_and_server_stubs() {
        // Paths the official client calls.
        assert_eq!(
            <mls_api::mls_api_server::MlsApiServer<()> as tonic::server::NamedService>::NAME,
            "xmtp.mls.api.v1.MlsApi"
        );
        assert_eq!(
            <identity_api::identity_api_server::IdentityApiServer<()> as tonic::server::NamedService>::NAME,
            "xmtp.identity.api.v1.IdentityApi"
        );
        let _client: Option<mls_api::mls_api_client::MlsApiClient<tonic::transport::Channel>> =
            None;
    }
}
