//! Shared by the node's integration tests and its benchmark: a node on a temporary database,
//! gRPC clients, real key packages (openmls) and MLS message framing.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::path::PathBuf;

use openmls::prelude::{
    BasicCredential, Capabilities, Ciphersuite, CredentialType, CredentialWithKey, ExtensionType,
    KeyPackage, tls_codec::Serialize as _,
};
use openmls_basic_credential::SignatureKeyPair;
use openmls_rust_crypto::OpenMlsRustCrypto;
use prost::Message;
use tonic::transport::Channel;
use xmtp_node::{Node, NodeConfig};
use xmtp_proto::identity_api::identity_api_client::IdentityApiClient;
use xmtp_proto::mls_api::{self as api, mls_api_client::MlsApiClient};

/// A node on a database in a temporary directory that lives as long as this value.
pub struct TestNode {
    pub node: Option<Node>,
    pub dir: tempfile::TempDir,
    pub config: NodeConfig,
}

impl TestNode {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(configure: impl FnOnce(&mut NodeConfig)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut config = NodeConfig::local(dir.path().join("node.db"));
        configure(&mut config);
        let node = xmtp_node::start(config.clone()).await.unwrap();
        Self { node: Some(node), dir, config }
    }

    pub fn url(&self) -> String {
        self.node.as_ref().unwrap().url().to_owned()
    }

    pub fn db(&self) -> PathBuf {
        self.config.database.clone()
    }

    /// Stops the node and starts it again on the same database (and a new port).
    pub async fn restart(&mut self) {
        self.node.take().unwrap().shutdown().await.unwrap();
        self.node = Some(xmtp_node::start(self.config.clone()).await.unwrap());
    }

    pub async fn mls(&self) -> MlsApiClient<Channel> {
        MlsApiClient::connect(self.url()).await.unwrap()
    }

    pub async fn identity(&self) -> IdentityApiClient<Channel> {
        IdentityApiClient::connect(self.url()).await.unwrap()
    }
}

/// An MLS varint length prefix followed by `bytes` (RFC 9420 §2.1.2).
pub fn vl(bytes: &[u8]) -> Vec<u8> {
    let len = bytes.len();
    let mut out = Vec::with_capacity(len + 4);
    if len < 64 {
        out.push(len as u8);
    } else if len < 16_384 {
        out.extend_from_slice(&((len as u16) | 0x4000).to_be_bytes());
    } else {
        out.extend_from_slice(&((len as u32) | 0x8000_0000).to_be_bytes());
    }
    out.extend_from_slice(bytes);
    out
}

/// MLS content types.
pub const APPLICATION: u8 = 1;
pub const PROPOSAL: u8 = 2;
pub const COMMIT: u8 = 3;

/// A TLS-serialized `MLSMessage` carrying a `PrivateMessage` with this public framing; the
/// "ciphertext" is `payload` (the node never decrypts).
pub fn private_message(group_id: &[u8], epoch: u64, content_type: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 1, 0, 2]; // mls10, private_message
    out.extend(vl(group_id));
    out.extend_from_slice(&epoch.to_be_bytes());
    out.push(content_type);
    out.extend(vl(b"")); // authenticated_data
    out.extend(vl(&[7u8; 32])); // encrypted_sender_data
    out.extend(vl(payload));
    out
}

pub fn group_input(data: Vec<u8>) -> api::GroupMessageInput {
    api::GroupMessageInput {
        version: Some(api::group_message_input::Version::V1(api::group_message_input::V1 {
            data: data.into(),
            sender_hmac: vec![1, 2, 3].into(),
            should_push: true,
        })),
    }
}

/// A message for `group` whose payload makes it unique.
pub fn app_message(group: &[u8], n: u64) -> api::GroupMessageInput {
    group_input(private_message(group, 1, APPLICATION, format!("message {n}").as_bytes()))
}

pub fn v1(message: &api::GroupMessage) -> &api::group_message::V1 {
    match &message.version {
        Some(api::group_message::Version::V1(v1)) => v1,
        None => panic!("group message without v1"),
    }
}

pub fn welcome_v1(message: &api::WelcomeMessage) -> &api::welcome_message::V1 {
    match &message.version {
        Some(api::welcome_message::Version::V1(v1)) => v1,
        _ => panic!("not a v1 welcome"),
    }
}

/// A signed key package whose BasicCredential carries `identity`, in `ciphersuite`.
pub fn key_package_with(ciphersuite: Ciphersuite, identity: Vec<u8>) -> (Vec<u8>, Vec<u8>) {
    let provider = OpenMlsRustCrypto::default();
    let signer = SignatureKeyPair::new(ciphersuite.signature_algorithm()).unwrap();
    let credential = CredentialWithKey {
        credential: BasicCredential::new(identity).into(),
        signature_key: signer.public().into(),
    };
    let capabilities = Capabilities::new(
        None,
        Some(&[ciphersuite]),
        Some(&[ExtensionType::LastResort, ExtensionType::ApplicationId]),
        None,
        Some(&[CredentialType::Basic]),
    );
    let bundle = KeyPackage::builder()
        .leaf_node_capabilities(capabilities)
        .mark_as_last_resort()
        .build(ciphersuite, &provider, &signer, credential)
        .unwrap();
    let bytes = bundle.key_package().tls_serialize_detached().unwrap();
    (bytes, signer.public().to_vec())
}

/// A valid XMTP key package for `inbox_id`: (TLS bytes, installation key).
pub fn key_package(inbox_id: &str) -> (Vec<u8>, Vec<u8>) {
    let identity = xmtp_proto::MlsCredential { inbox_id: inbox_id.to_owned() }.encode_to_vec();
    key_package_with(Ciphersuite::MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519, identity)
}

pub fn upload(bytes: Vec<u8>) -> api::UploadKeyPackageRequest {
    api::UploadKeyPackageRequest {
        key_package: Some(api::KeyPackageUpload { key_package_tls_serialized: bytes.into() }),
        is_inbox_id_credential: true,
    }
}

pub fn ascending(limit: u32, cursor: u64) -> Option<api::PagingInfo> {
    Some(api::PagingInfo {
        direction: api::SortDirection::Ascending as i32,
        limit,
        id_cursor: cursor,
    })
}

/// A gRPC codec that sends and receives raw bytes, to put malformed protobufs on the wire.
#[derive(Debug, Clone, Default)]
pub struct RawCodec;

pub struct RawEncoder;
pub struct RawDecoder;

impl tonic::codec::Encoder for RawEncoder {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn encode(
        &mut self,
        item: Vec<u8>,
        dst: &mut tonic::codec::EncodeBuf<'_>,
    ) -> Result<(), tonic::Status> {
        use bytes::BufMut;
        dst.put_slice(&item);
        Ok(())
    }
}

impl tonic::codec::Decoder for RawDecoder {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn decode(
        &mut self,
        src: &mut tonic::codec::DecodeBuf<'_>,
    ) -> Result<Option<Vec<u8>>, tonic::Status> {
        use bytes::Buf;
        let mut out = vec![0; src.remaining()];
        src.copy_to_slice(&mut out);
        Ok(Some(out))
    }
}

impl tonic::codec::Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawEncoder;
    type Decoder = RawDecoder;
    fn encoder(&mut self) -> RawEncoder {
        RawEncoder
    }
    fn decoder(&mut self) -> RawDecoder {
        RawDecoder
    }
}

/// Calls the unary method at `path` (e.g. `/xmtp.mls.api.v1.MlsApi/SendGroupMessages`) with
/// `body` as the request's bytes.
pub async fn raw_unary(
    url: &str,
    path: &'static str,
    body: Vec<u8>,
) -> Result<Vec<u8>, tonic::Status> {
    let channel = Channel::from_shared(url.to_owned()).unwrap().connect().await.unwrap();
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.unwrap();
    grpc.unary(
        tonic::Request::new(body),
        tonic::codegen::http::uri::PathAndQuery::from_static(path),
        RawCodec,
    )
    .await
    .map(tonic::Response::into_inner)
}
