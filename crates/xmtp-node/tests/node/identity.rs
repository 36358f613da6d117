//! PublishIdentityUpdate / GetIdentityUpdates / GetInboxIds / VerifySmartContractWalletSignatures:
//! only verified updates are stored, and only they move the identifier index.

use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;
use xmtp_identity::{InstallationKey, WalletKey, inbox_id, update};
use xmtp_proto::associations::{IdentifierKind, IdentityUpdate};
use xmtp_proto::identity_api as api;

use crate::support::*;

const T0: u64 = 1_764_000_000_000_000_000;

async fn publish(node: &TestNode, update: IdentityUpdate) -> Result<(), tonic::Status> {
    node.identity()
        .await
        .publish_identity_update(api::PublishIdentityUpdateRequest {
            identity_update: Some(update),
        })
        .await
        .map(|_| ())
}

async fn log(
    node: &TestNode,
    inbox: &str,
    after: u64,
) -> Vec<api::get_identity_updates_response::IdentityUpdateLog> {
    let mut response = node
        .identity()
        .await
        .get_identity_updates(api::GetIdentityUpdatesRequest {
            requests: vec![api::get_identity_updates_request::Request {
                inbox_id: inbox.to_owned(),
                sequence_id: after,
            }],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(response.responses.len(), 1);
    let response = response.responses.remove(0);
    assert_eq!(response.inbox_id, inbox);
    response.updates
}

async fn inbox_of(node: &TestNode, address: &str) -> Option<String> {
    let response = node
        .identity()
        .await
        .get_inbox_ids(api::GetInboxIdsRequest {
            requests: vec![api::get_inbox_ids_request::Request {
                identifier: address.to_owned(),
                identifier_kind: IdentifierKind::Ethereum as i32,
            }],
        })
        .await
        .unwrap()
        .into_inner();
    let answer = &response.responses[0];
    assert_eq!(answer.identifier, address, "the identifier is echoed");
    answer.inbox_id.clone()
}

fn keys(seed: u64) -> (WalletKey, InstallationKey, InstallationKey) {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    (
        WalletKey::generate(&mut rng),
        InstallationKey::generate(&mut rng),
        InstallationKey::generate(&mut rng),
    )
}

/// Registration makes the address resolve to the inbox, in any letter case; the log comes back
/// with sequence ids after the one asked for.
#[tokio::test]
async fn registration_is_stored_and_indexed() {
    let node = TestNode::start().await;
    let (wallet, device, second) = keys(1);
    let inbox = inbox_id(&wallet.member(), 1);
    assert_eq!(inbox_of(&node, &wallet.address()).await, None);

    let registration = update::registration(&wallet, &device, 1, T0).unwrap();
    publish(&node, registration.clone()).await.unwrap();
    assert_eq!(inbox_of(&node, &wallet.address()).await, Some(inbox.clone()));
    assert_eq!(
        inbox_of(&node, &wallet.address().to_uppercase().replace("0X", "0x")).await,
        Some(inbox.clone())
    );

    publish(&node, update::add_installation(&inbox, &wallet, &second, T0 + 1).unwrap())
        .await
        .unwrap();
    let entries = log(&node, &inbox, 0).await;
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0].update.as_ref(), Some(&registration));
    assert!(entries[0].sequence_id < entries[1].sequence_id);
    assert!(entries[0].server_timestamp_ns > 0);
    assert_eq!(log(&node, &inbox, entries[0].sequence_id).await.len(), 1);
    assert!(log(&node, "no-such-inbox", 0).await.is_empty());
}

/// Forged, tampered and replayed updates are refused with InvalidArgument and change nothing.
#[tokio::test]
async fn forged_and_replayed_updates_are_rejected() {
    let node = TestNode::start().await;
    let (alice, device, spare) = keys(2);
    let (mallory, evil_device, _) = keys(3);
    let inbox = inbox_id(&alice.member(), 1);
    publish(&node, update::registration(&alice, &device, 1, T0).unwrap()).await.unwrap();
    let add = update::add_installation(&inbox, &alice, &spare, T0 + 1).unwrap();
    publish(&node, add.clone()).await.unwrap();

    let mut tampered = update::add_installation(&inbox, &alice, &evil_device, T0 + 2).unwrap();
    tampered.client_timestamp_ns += 1_000_000_000; // the text shows whole seconds
    let mut claim = update::registration(&mallory, &evil_device, 1, T0).unwrap();
    claim.inbox_id = inbox.clone();
    let cases = vec![
        (
            "mallory adds her device to alice's inbox",
            update::add_installation(&inbox, &mallory, &evil_device, T0 + 3).unwrap(),
        ),
        (
            "mallory revokes alice's device",
            update::revoke(&inbox, &mallory, &device.member(), T0 + 4).unwrap(),
        ),
        ("text changed after signing", tampered),
        ("replay of an accepted update", add),
        ("second registration", update::registration(&alice, &device, 1, T0 + 5).unwrap()),
        ("registration claiming alice's inbox id", claim),
        (
            "no actions",
            IdentityUpdate { actions: vec![], client_timestamp_ns: 0, inbox_id: inbox.clone() },
        ),
    ];
    for (case, update) in cases {
        let Err(status) = publish(&node, update).await else { panic!("{case}: accepted") };
        assert_eq!(status.code(), tonic::Code::InvalidArgument, "{case}: {status:?}");
        assert!(status.message().contains("identity"), "{case}: {}", status.message());
    }
    assert_eq!(log(&node, &inbox, 0).await.len(), 2, "nothing was appended");
    assert_eq!(inbox_of(&node, &mallory.address()).await, None);
    assert_eq!(inbox_of(&node, &alice.address()).await, Some(inbox));
}

/// Revoking the wallet unlinks its address.
#[tokio::test]
async fn revocation_unlinks_the_address() {
    let node = TestNode::start().await;
    let (wallet, device, _) = keys(4);
    let inbox = inbox_id(&wallet.member(), 1);
    publish(&node, update::registration(&wallet, &device, 1, T0).unwrap()).await.unwrap();
    publish(&node, update::revoke(&inbox, &wallet, &wallet.member(), T0 + 1).unwrap())
        .await
        .unwrap();
    assert_eq!(inbox_of(&node, &wallet.address()).await, None);
}

/// The log of one inbox is capped; the update past the cap is refused with ResourceExhausted.
#[tokio::test]
async fn the_inbox_log_is_capped() {
    let node = TestNode::start_with(|c| c.limits.max_inbox_log_entries = 3).await;
    let (wallet, device, _) = keys(5);
    let inbox = inbox_id(&wallet.member(), 1);
    publish(&node, update::registration(&wallet, &device, 1, T0).unwrap()).await.unwrap();
    let mut rng = ChaCha20Rng::seed_from_u64(6);
    for i in 1..=2 {
        let extra = InstallationKey::generate(&mut rng);
        publish(&node, update::add_installation(&inbox, &wallet, &extra, T0 + i).unwrap())
            .await
            .unwrap();
    }
    let extra = InstallationKey::generate(&mut rng);
    let status = publish(&node, update::add_installation(&inbox, &wallet, &extra, T0 + 9).unwrap())
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");
    assert_eq!(log(&node, &inbox, 0).await.len(), 3);
}

/// The node cannot verify smart contract wallet signatures, so it never says they are valid.
#[tokio::test]
async fn smart_contract_wallet_signatures_are_never_valid() {
    let node = TestNode::start().await;
    let request = api::VerifySmartContractWalletSignaturesRequest {
        signatures: vec![
            api::VerifySmartContractWalletSignatureRequestSignature {
                account_id: "eip155:1:0x0000000000000000000000000000000000000001".into(),
                block_number: Some(1),
                signature: vec![1; 65],
                hash: vec![2; 32],
            };
            2
        ],
    };
    let response = node
        .identity()
        .await
        .verify_smart_contract_wallet_signatures(request)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(response.responses.len(), 2);
    assert!(response.responses.iter().all(|r| !r.is_valid && r.error.is_some()));
}

/// Identity updates are limited per inbox (a flood for one inbox gains nothing from many
/// connections), and a `GetIdentityUpdates` answer is bounded in size however many inboxes it
/// names.
#[tokio::test]
async fn identity_work_is_bounded_per_inbox_and_per_answer() {
    let node = TestNode::start_with(|c| c.limits.max_request_bytes = 64 * 1024).await;
    let (wallet, device, _) = keys(7);
    let inbox = inbox_id(&wallet.member(), 1);
    publish(&node, update::registration(&wallet, &device, 1, T0).unwrap()).await.unwrap();
    // The same registration again is invalid, and still counts against the inbox.
    let mut refused = None;
    for i in 0..40 {
        let again = update::registration(&wallet, &device, 1, T0 + i).unwrap();
        if let Err(status) = publish(&node, again).await
            && status.code() == tonic::Code::ResourceExhausted
        {
            refused = Some(status);
            break;
        }
    }
    let refused = refused.expect("a flood of updates for one inbox is limited");
    assert!(refused.message().contains("identity updates for one inbox"), "{refused:?}");

    let requests =
        vec![
            api::get_identity_updates_request::Request { inbox_id: inbox.clone(), sequence_id: 0 };
            500
        ];
    let status = node
        .identity()
        .await
        .get_identity_updates(api::GetIdentityUpdatesRequest { requests })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::ResourceExhausted);
    assert!(status.message().contains("ask for fewer inboxes"), "{status:?}");
    assert_eq!(log(&node, &inbox, 0).await.len(), 1, "a single inbox is still answered");
}
