//! Item 2: a member commits an update path whose new leaf carries a credential naming another
//! inbox (with its own key or a new one). openmls accepts that (RFC 9420 leaves identity
//! checks to the application); merged, every later message from that leaf would be attributed
//! to the victim's inbox.

use openmls::prelude::tls_codec::Serialize as _;
use openmls::prelude::{CredentialWithKey, LeafNodeParameters, NewSignerBundle, SignatureScheme};
use openmls_traits::OpenMlsProvider;

use super::{client, node, publish};
use crate::client::State;
use crate::store::Write;
use crate::{Client, ConversationId, GroupOptions};

/// Mallory's forged commit, merged on her side so she can keep sending; returns its bytes.
async fn forge(mallory: &Client, group: &ConversationId, victim: &str, new_key: bool) -> Vec<u8> {
    let mut state = mallory.inner.state.lock().await;
    let State { provider, groups, .. } = &mut *state;
    let mls = groups.get_mut(&group.0).unwrap();
    let credential = crate::mls::credential(victim);
    let signer = mallory.signer();
    let bundle = if new_key {
        let fresh =
            openmls_basic_credential::SignatureKeyPair::new(SignatureScheme::ED25519).unwrap();
        let credential_with_key =
            CredentialWithKey { credential, signature_key: fresh.public().to_vec().into() };
        mls.commit_builder()
            .load_psks(provider.storage())
            .unwrap()
            .build_with_new_signer(
                provider.rand(),
                provider.crypto(),
                &signer,
                NewSignerBundle { signer: &fresh, credential_with_key },
                |_| true,
            )
            .unwrap()
            .stage_commit(provider)
            .unwrap()
    } else {
        let same_key = CredentialWithKey {
            credential,
            signature_key: mallory.inner.installation_key.to_vec().into(),
        };
        let leaf = LeafNodeParameters::builder().with_credential_with_key(same_key).build();
        mls.commit_builder()
            .leaf_node_parameters(leaf)
            .load_psks(provider.storage())
            .unwrap()
            .build(provider.rand(), provider.crypto(), &signer, |_| true)
            .unwrap()
            .stage_commit(provider)
            .unwrap()
    };
    let bytes = bundle.into_commit().tls_serialize_detached().unwrap();
    mls.merge_pending_commit(provider).unwrap();
    let changes = provider.take_changes();
    mallory.inner.store.write(Write { mls: changes, ..Write::default() }).await.unwrap();
    bytes
}

async fn epoch(client: &Client, group: &ConversationId) -> u64 {
    client.inner.state.lock().await.groups[&group.0].epoch().as_u64()
}

#[tokio::test]
async fn a_member_cannot_take_over_another_inbox_by_swapping_its_leaf_credential() {
    let dir = tempfile::tempdir().unwrap();
    let node = node(dir.path()).await;
    let alice = client(node.url(), dir.path(), "alice").await;
    let mallory = client(node.url(), dir.path(), "mallory").await;
    let carol = client(node.url(), dir.path(), "carol").await;
    let members = [mallory.inbox_id().to_owned(), carol.inbox_id().to_owned()];
    let group = alice.create_group(&members, &GroupOptions::default()).await.unwrap();
    mallory.sync_all().await.unwrap();

    for new_key in [false, true] {
        let before = epoch(&alice, &group).await;
        let commit = forge(&mallory, &group, carol.inbox_id(), new_key).await;
        publish(&mallory, commit).await.unwrap();
        if !new_key {
            // Signed with her installation key, in the epoch her forged commit started.
            mallory.send_text(&group, "carol here: wire the money").await.unwrap();
        }
        alice.sync_all().await.unwrap();
        assert_eq!(epoch(&alice, &group).await, before, "the forged commit was not merged");
        let messages = alice.messages(&group, 0, 100).await.unwrap();
        assert!(
            messages.iter().all(|m| m.sender_inbox_id != carol.inbox_id()),
            "a message was attributed to carol: {messages:?}"
        );
        let members = alice.conversation(&group).await.unwrap().members;
        assert!(members.contains(&mallory.inbox_id().to_owned()));
    }
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn in_a_dm_a_swapped_leaf_cannot_speak_for_a_third_inbox() {
    let dir = tempfile::tempdir().unwrap();
    let node = node(dir.path()).await;
    let alice = client(node.url(), dir.path(), "alice").await;
    let mallory = client(node.url(), dir.path(), "mallory").await;
    let carol = client(node.url(), dir.path(), "carol").await;
    let dm = alice.dm(mallory.inbox_id()).await.unwrap();
    mallory.sync_all().await.unwrap();
    let before = epoch(&alice, &dm).await;
    let commit = forge(&mallory, &dm, carol.inbox_id(), false).await;
    publish(&mallory, commit).await.unwrap();
    mallory.send_text(&dm, "it is carol").await.unwrap();
    alice.sync_all().await.unwrap();
    assert_eq!(epoch(&alice, &dm).await, before);
    let messages = alice.messages(&dm, 0, 100).await.unwrap();
    assert!(messages.iter().all(|m| m.sender_inbox_id != carol.inbox_id()), "{messages:?}");
    node.shutdown().await.unwrap();
}
