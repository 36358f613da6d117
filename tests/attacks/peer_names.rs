//! Item 6: names are chosen by peers. What the owner is asked about shows the name the owner
//! accepted or marks the peer unverified with 96 bits of its inbox id; a peer cannot rename
//! itself over the name from its invite; lookups never pick among look-alikes; control and
//! escape sequences are removed.

use coworker_attacks::{Net, eventually, first_received_anywhere, received, send, send_in};
use coworker_runtime::protocol::envelope::kind;
use coworker_runtime::{RuntimeError, fingerprint};
use serde_json::json;

#[tokio::test]
async fn a_stranger_names_itself_but_is_shown_unverified() {
    let net = Net::start().await;
    let bob = net.member("bob").await;
    let mallory = net.member("mallory").await;
    let _serving = bob.serve().await.unwrap();

    let name = "Alice's Bank\u{1b}]0;pwned\u{7}\u{1b}[2J\u{202e}";
    let dm = send(&mallory, bob.inbox_id(), kind::DISCOVER, json!({"name": name}), Some("d")).await;
    eventually("bob answers", || async { !received(&mallory, &dm).await.is_empty() }).await;
    let peer = bob.peer(mallory.inbox_id()).await.unwrap();
    assert_eq!(peer.name, "Alice's Bank]0;pwned[2J", "control characters removed");
    assert!(!peer.name_verified);
    let label = peer.label();
    let id = fingerprint(mallory.inbox_id());
    assert_eq!(label, format!("\"Alice's Bank]0;pwned[2J\" (unverified, {id})"));
    assert_eq!(id.replace(' ', "").len(), 24, "96 bits of the inbox id");
    assert!(mallory.inbox_id().starts_with(&id.replace(' ', "")));

    // Looking the name up never lands on an unverified peer.
    assert!(matches!(
        bob.find_peer("Alice's Bank]0;pwned[2J").await,
        Err(RuntimeError::InvalidInput(_))
    ));
}

#[tokio::test]
async fn a_peer_cannot_rename_itself_over_the_name_the_owner_accepted() {
    let net = Net::start().await;
    let bob = net.member("bob").await;
    let carol = net.member("carol").await;
    let mallory = net.member("mallory").await;
    let _serving = bob.serve().await.unwrap();
    bob.add_peer(&carol.invite(None).unwrap()).await.unwrap();
    bob.add_peer(&mallory.invite(None).unwrap()).await.unwrap();

    // Bob discovers mallory; mallory answers by hand, calling itself "carol".
    let discovering = tokio::spawn({
        let (bob, m) = (bob.agent.clone(), mallory.inbox_id().to_owned());
        async move { bob.discover(&m).await }
    });
    let (dm, asked) = first_received_anywhere(&mallory, kind::DISCOVER).await;
    let answer = json!({"name": "carol", "skills": []});
    let correlation = asked.correlation_id;
    send_in(&mallory, &dm, kind::CAPABILITIES, answer, correlation.as_deref()).await;
    discovering.await.unwrap().unwrap();
    // And as a stranger would, by discover.
    send(&mallory, bob.inbox_id(), kind::DISCOVER, json!({"name": "carol"}), Some("d")).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;

    let named = bob.peer(mallory.inbox_id()).await.unwrap();
    assert_eq!((named.name.as_str(), named.name_verified), ("mallory", true));
    assert_eq!(bob.find_peer("carol").await.unwrap().inbox_id, carol.inbox_id());
    assert_eq!(bob.find_peer("mallory").await.unwrap().inbox_id, mallory.inbox_id());
}

#[tokio::test]
async fn two_peers_with_one_name_are_never_picked_from() {
    let net = Net::start().await;
    let bob = net.member("bob").await;
    let one = net.member_with("twin-1", |c| c.name = "twin".into()).await;
    let two = net.member_with("twin-2", |c| c.name = "twin".into()).await;
    bob.add_peer(&one.invite(None).unwrap()).await.unwrap();
    bob.add_peer(&two.invite(None).unwrap()).await.unwrap();
    let err = bob.find_peer("twin").await.unwrap_err();
    assert!(err.to_string().contains("2 peers are named"), "{err}");
}
