//! Item 7: anyone who can reach the node can post large messages to a group it is in and large
//! welcomes to any installation. A page of them used to exceed the 25 MiB response limit, the
//! sync failed on it and, with it, every other conversation. Now the node pages by bytes, the
//! client asks for smaller pages when one is too large, and one bad conversation never stops
//! the others.

use std::time::Duration;

use coworker_attacks::{Net, eventually};
use xmtp_client::{Event, GroupOptions};
use xmtp_proto::mls_api::{self as api, mls_api_client::MlsApiClient};

/// An MLS varint length prefix (RFC 9420 §2.1.2).
fn varint(len: usize, out: &mut Vec<u8>) {
    match len {
        0..64 => out.push(len as u8),
        64..16_384 => out.extend_from_slice(&(0x4000 | len as u16).to_be_bytes()),
        _ => out.extend_from_slice(&(0x8000_0000 | len as u32).to_be_bytes()),
    }
}

/// A well-framed MLS PrivateMessage for `group` whose ciphertext is `size` bytes of junk.
fn junk_private_message(group: &[u8], size: usize, salt: u8) -> Vec<u8> {
    let mut out = vec![0, 1, 0, 2]; // MLS 1.0, PrivateMessage
    varint(group.len(), &mut out);
    out.extend_from_slice(group);
    out.extend_from_slice(&[0; 8]); // epoch
    out.push(1); // application content
    varint(0, &mut out); // authenticated data
    varint(16, &mut out);
    out.extend_from_slice(&[salt; 16]); // encrypted sender data
    varint(size, &mut out);
    out.extend(std::iter::repeat_n(salt, size));
    out
}

#[tokio::test]
async fn large_messages_and_welcomes_from_an_attacker_never_stop_sync() {
    let net = Net::start().await;
    let (alice, bob, mallory) =
        (net.member("alice").await, net.member("bob").await, net.member("mallory").await);
    // Mallory shares a group with alice; bob and alice have a DM.
    let members = [mallory.inbox_id().to_owned()];
    let group = alice.client().create_group(&members, &GroupOptions::default()).await.unwrap();
    let dm = bob.client().dm(alice.inbox_id()).await.unwrap();
    bob.client().send_text(&dm, "before").await.unwrap();
    alice.client().sync_all().await.unwrap();

    // 6 x 4.5 MiB into the group, 4 x 9 MiB welcomes to alice's installation: ~63 MiB.
    let mut node = MlsApiClient::connect(net.url().to_owned())
        .await
        .unwrap()
        .max_encoding_message_size(32 << 20)
        .max_decoding_message_size(32 << 20);
    for salt in 0..6u8 {
        let data = junk_private_message(&group.0, 4_500_000, salt);
        let input = api::GroupMessageInput {
            version: Some(api::group_message_input::Version::V1(api::group_message_input::V1 {
                data: data.into(),
                sender_hmac: Default::default(),
                should_push: false,
            })),
        };
        let request = api::SendGroupMessagesRequest { messages: vec![input] };
        node.send_group_messages(request).await.unwrap();
    }
    for salt in 0..4u8 {
        let welcome = api::WelcomeMessageInput {
            version: Some(api::welcome_message_input::Version::V1(
                api::welcome_message_input::V1 {
                    installation_key: alice.client().installation_id().to_vec().into(),
                    data: vec![salt; 9_000_000].into(),
                    hpke_public_key: vec![salt; 32].into(),
                    wrapper_algorithm: 1,
                    welcome_metadata: Default::default(),
                },
            )),
        };
        let request = api::SendWelcomeMessagesRequest { messages: vec![welcome] };
        node.send_welcome_messages(request).await.unwrap();
    }

    // Alice's sync goes through, and her stream delivers bob's next message.
    alice.client().sync_all().await.unwrap();
    let mut events = alice.client().subscribe();
    let _stream = alice.client().stream();
    tokio::time::sleep(Duration::from_millis(300)).await;
    bob.client().send_text(&dm, "after the flood").await.unwrap();
    let delivered = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            if let Ok(Event::Message(m)) = events.recv().await
                && m.text().as_deref() == Some("after the flood")
            {
                return;
            }
        }
    })
    .await;
    assert!(delivered.is_ok(), "the stream never delivered bob's message");
    eventually("the DM is stored", || async {
        let messages = alice.client().messages(&dm, 0, 100).await.unwrap();
        messages.iter().any(|m| m.text().as_deref() == Some("after the flood"))
    })
    .await;
}
