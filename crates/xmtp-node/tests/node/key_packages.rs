//! UploadKeyPackage / FetchKeyPackages: only valid XMTP key packages are stored.

use openmls::prelude::Ciphersuite;
use prost::Message;
use xmtp_proto::mls_api as api;

use crate::support::*;

const INBOX: &str = "0f7aa0e0c4b0d54e3a1d96bd9bd6f3dba1bb8e2b0b4b1c75a8d3e3b9e2f0a0c1";

async fn fetch(node: &TestNode, keys: &[&[u8]]) -> Vec<Vec<u8>> {
    node.mls()
        .await
        .fetch_key_packages(api::FetchKeyPackagesRequest {
            installation_keys: keys.iter().map(|k| k.to_vec().into()).collect(),
        })
        .await
        .unwrap()
        .into_inner()
        .key_packages
        .into_iter()
        .map(|kp| kp.key_package_tls_serialized.to_vec())
        .collect()
}

/// A valid key package is served for its installation key (the leaf's signature key), aligned
/// with the request; a newer upload replaces it.
#[tokio::test]
async fn valid_key_packages_are_served_by_installation_key() {
    let node = TestNode::start().await;
    let mut client = node.mls().await;
    let (first, installation) = key_package(INBOX);
    client.upload_key_package(upload(first.clone())).await.unwrap();

    let fetched = fetch(&node, &[b"unknown", &installation, b"missing"]).await;
    assert_eq!(fetched, vec![vec![], first, vec![]]);

    // Another key package of the same installation replaces the first (last-resort model).
    let (other, other_installation) = key_package(INBOX);
    client.upload_key_package(upload(other.clone())).await.unwrap();
    assert_eq!(fetch(&node, &[&other_installation]).await, vec![other]);
}

/// Every kind of bad key package is refused with InvalidArgument and stores nothing.
#[tokio::test]
async fn invalid_key_packages_are_rejected() {
    let node = TestNode::start().await;
    let mut client = node.mls().await;
    let (good, installation) = key_package(INBOX);

    let mut tampered = good.clone();
    let last = tampered.len() - 5;
    tampered[last] ^= 0x55; // inside the signature

    let not_inbox = key_package_with(
        Ciphersuite::MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519,
        b"not a protobuf \xff\xff".to_vec(),
    )
    .0;
    let short_inbox = key_package_with(
        Ciphersuite::MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519,
        xmtp_proto::MlsCredential { inbox_id: "abc".into() }.encode_to_vec(),
    )
    .0;
    let wrong_suite = key_package_with(
        Ciphersuite::MLS_128_DHKEMP256_AES128GCM_SHA256_P256,
        xmtp_proto::MlsCredential { inbox_id: INBOX.into() }.encode_to_vec(),
    )
    .0;

    let cases: Vec<(&str, api::UploadKeyPackageRequest)> = vec![
        ("truncated", upload(good[..good.len() - 10].to_vec())),
        ("trailing bytes", upload([good.clone(), vec![0]].concat())),
        ("tampered signature", upload(tampered)),
        ("credential is not an MlsCredential", upload(not_inbox)),
        ("inbox id is not 64 hex digits", upload(short_inbox)),
        ("wrong ciphersuite", upload(wrong_suite)),
        ("empty", upload(vec![])),
        (
            "no key package",
            api::UploadKeyPackageRequest { key_package: None, is_inbox_id_credential: true },
        ),
        (
            "legacy credential",
            api::UploadKeyPackageRequest { is_inbox_id_credential: false, ..upload(good.clone()) },
        ),
        ("oversize", upload(vec![0; 70_000])),
    ];
    for (case, request) in cases {
        let status = client.upload_key_package(request).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::InvalidArgument, "{case}: {status:?}");
        assert!(!status.message().is_empty(), "{case}: the reason is given");
    }
    assert_eq!(fetch(&node, &[&installation]).await, vec![Vec::<u8>::new()]);
}
