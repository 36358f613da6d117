//! Everything acknowledged survives a restart of the node, and sequences continue.

use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;
use xmtp_identity::{InstallationKey, WalletKey, inbox_id, update};
use xmtp_proto::identity_api as identity;
use xmtp_proto::mls_api as api;

use crate::support::*;

#[tokio::test]
async fn a_restart_keeps_messages_welcomes_key_packages_and_identities() {
    let mut node = TestNode::start().await;
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    let (wallet, device) = (WalletKey::generate(&mut rng), InstallationKey::generate(&mut rng));
    let inbox = inbox_id(&wallet.member(), 1);
    let (kp, installation) = key_package(&inbox);
    {
        let mut mls = node.mls().await;
        let messages = (0..10).map(|n| app_message(b"g", n)).collect();
        mls.send_group_messages(api::SendGroupMessagesRequest { messages }).await.unwrap();
        mls.upload_key_package(upload(kp.clone())).await.unwrap();
        mls.send_welcome_messages(api::SendWelcomeMessagesRequest {
            messages: vec![api::WelcomeMessageInput {
                version: Some(api::welcome_message_input::Version::V1(
                    api::welcome_message_input::V1 {
                        installation_key: installation.clone().into(),
                        data: b"welcome".to_vec().into(),
                        hpke_public_key: vec![1; 32].into(),
                        wrapper_algorithm: 1,
                        welcome_metadata: Default::default(),
                    },
                )),
            }],
        })
        .await
        .unwrap();
        node.identity()
            .await
            .publish_identity_update(identity::PublishIdentityUpdateRequest {
                identity_update: Some(update::registration(&wallet, &device, 1, 1).unwrap()),
            })
            .await
            .unwrap();
    }

    node.restart().await;

    let mut mls = node.mls().await;
    let messages = mls
        .query_group_messages(api::QueryGroupMessagesRequest {
            group_id: b"g".to_vec().into(),
            paging_info: ascending(0, 0),
        })
        .await
        .unwrap()
        .into_inner()
        .messages;
    assert_eq!(messages.iter().map(|m| v1(m).id).collect::<Vec<_>>(), (1..=10).collect::<Vec<_>>());

    let fetched = mls
        .fetch_key_packages(api::FetchKeyPackagesRequest {
            installation_keys: vec![installation.clone().into()],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(fetched.key_packages[0].key_package_tls_serialized.to_vec(), kp);

    let welcomes = mls
        .query_welcome_messages(api::QueryWelcomeMessagesRequest {
            installation_key: installation.into(),
            paging_info: None,
        })
        .await
        .unwrap()
        .into_inner()
        .messages;
    assert_eq!(welcome_v1(&welcomes[0]).data.as_ref(), b"welcome");

    let inbox_ids = node
        .identity()
        .await
        .get_inbox_ids(identity::GetInboxIdsRequest {
            requests: vec![identity::get_inbox_ids_request::Request {
                identifier: wallet.address(),
                identifier_kind: 1,
            }],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(inbox_ids.responses[0].inbox_id.as_deref(), Some(inbox.as_str()));

    // The sequence continues after the restart; the inbox log still verifies new updates.
    mls.send_group_messages(api::SendGroupMessagesRequest {
        messages: vec![app_message(b"g", 99)],
    })
    .await
    .unwrap();
    let latest = mls
        .query_group_messages(api::QueryGroupMessagesRequest {
            group_id: b"g".to_vec().into(),
            paging_info: Some(api::PagingInfo { direction: 2, limit: 1, id_cursor: 0 }),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(v1(&latest.messages[0]).id, 11);
    let second = InstallationKey::generate(&mut rng);
    node.identity()
        .await
        .publish_identity_update(identity::PublishIdentityUpdateRequest {
            identity_update: Some(update::add_installation(&inbox, &wallet, &second, 2).unwrap()),
        })
        .await
        .unwrap();
    assert!(node.db().exists());
}
