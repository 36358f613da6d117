//! Item 3: welcomes, commits and messages from anyone are parsed by openmls. A panic there
//! used to end the stream task silently: from then on nothing arrived. Now a panic is
//! contained (the state rolls back, the input is skipped) and the stream goes on; mutated
//! versions of real commits, messages and welcomes never stop the client.

use std::time::Duration;

use rand::{Rng, SeedableRng};
use xmtp_proto::mls_api as api;

use super::{client, envelopes, node, publish};
use crate::sync::INJECTED_PANIC;
use crate::{Client, ConversationId, Event, GroupOptions};

async fn next_text(events: &mut tokio::sync::broadcast::Receiver<Event>, want: &str) -> bool {
    tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            match events.recv().await {
                Ok(Event::Message(m)) if m.text().as_deref() == Some(want) => return,
                Ok(_) => {}
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                    std::future::pending::<()>().await;
                }
            }
        }
    })
    .await
    .is_ok()
}

async fn texts(client: &Client, id: &ConversationId) -> Vec<String> {
    client.messages(id, 0, 1000).await.unwrap().iter().filter_map(crate::Message::text).collect()
}

#[tokio::test]
async fn a_panic_while_processing_an_envelope_does_not_end_the_stream() {
    let dir = tempfile::tempdir().unwrap();
    let node = node(dir.path()).await;
    let alice = client(node.url(), dir.path(), "alice").await;
    let bob = client(node.url(), dir.path(), "bob").await;
    let dm = bob.dm(alice.inbox_id()).await.unwrap();
    for text in ["one", "two", "three"] {
        bob.send_text(&dm, text).await.unwrap();
    }
    // The MLS library panics on the second message (as it might on hostile input).
    let stored = envelopes(&bob, &dm.0).await;
    let second = stored[stored.len() - 2].0;
    *INJECTED_PANIC.lock().unwrap() = Some((dm.0.clone(), second));

    let mut events = alice.subscribe();
    let _stream = alice.stream();
    assert!(next_text(&mut events, "three").await, "the message after the panic arrived");
    bob.send_text(&dm, "four").await.unwrap();
    assert!(next_text(&mut events, "four").await, "the stream is still alive");
    assert_eq!(texts(&alice, &dm).await, ["one", "three", "four"], "only the bad one skipped");
    let at = crate::cursor::Position { originator: 10, sequence_id: second };
    assert!(alice.inner.state.lock().await.poisoned.contains(&(dm.0.clone(), at)));
    node.shutdown().await.unwrap();
}

/// Flips, cuts or grows a few bytes.
fn mutate(rng: &mut rand::rngs::StdRng, original: &[u8]) -> Vec<u8> {
    let mut bytes = original.to_vec();
    match rng.gen_range(0..4) {
        0 => {
            for _ in 0..rng.gen_range(1..8) {
                let at = rng.gen_range(0..bytes.len());
                bytes[at] ^= 1 << rng.gen_range(0..8);
            }
        }
        1 => bytes.truncate(rng.gen_range(1..bytes.len())),
        2 => {
            let at = rng.gen_range(0..bytes.len());
            let junk: Vec<u8> = (0..rng.gen_range(1..64)).map(|_| rng.r#gen()).collect();
            bytes.splice(at..at, junk);
        }
        _ => {
            let at = rng.gen_range(0..bytes.len());
            bytes[at] = [0x00, 0xff, 0x3f, 0x40, 0x7f, 0x80][rng.gen_range(0..6)];
        }
    }
    bytes
}

#[tokio::test]
async fn mutated_commits_messages_and_welcomes_never_stop_the_client() {
    let dir = tempfile::tempdir().unwrap();
    let node = node(dir.path()).await;
    let alice = client(node.url(), dir.path(), "alice").await;
    let bob = client(node.url(), dir.path(), "bob").await;
    let carol = client(node.url(), dir.path(), "carol").await;
    // Real inputs to mutate: a group's creation and a later commit, application messages, and
    // the welcome carol got.
    let members = [alice.inbox_id().to_owned()];
    let group = bob.create_group(&members, &GroupOptions::default()).await.unwrap();
    bob.send_text(&group, "hello group").await.unwrap();
    bob.add_members(&group, &[carol.inbox_id().to_owned()]).await.unwrap();
    bob.send_text(&group, "hello carol").await.unwrap();
    alice.sync_all().await.unwrap();
    let seeds: Vec<Vec<u8>> = envelopes(&bob, &group.0).await.into_iter().map(|(_, d)| d).collect();
    let from = crate::cursor::Cursor::default();
    let mut welcomes = carol.inner.api.mls.clone().welcomes(&from, 100).await.unwrap().items;
    let Some(api::welcome_message::Version::V1(welcome)) = welcomes.remove(0).1.version else {
        panic!("no welcome")
    };

    let mut rng = rand::rngs::StdRng::seed_from_u64(14);
    let mut stored = 0;
    for i in 0..400 {
        let seed = &seeds[i % seeds.len()];
        if publish(&bob, mutate(&mut rng, seed)).await.is_ok() {
            stored += 1;
        }
    }
    for _ in 0..100 {
        let mut hostile = welcome.clone();
        hostile.installation_key = alice.inner.installation_key.to_vec().into();
        match rng.gen_range(0..3) {
            0 => hostile.data = mutate(&mut rng, &welcome.data).into(),
            1 => hostile.welcome_metadata = mutate(&mut rng, &welcome.welcome_metadata).into(),
            _ => hostile.hpke_public_key = mutate(&mut rng, &welcome.hpke_public_key).into(),
        }
        let input = api::WelcomeMessageInput {
            version: Some(api::welcome_message_input::Version::V1(
                api::welcome_message_input::V1 {
                    installation_key: hostile.installation_key,
                    data: hostile.data,
                    hpke_public_key: hostile.hpke_public_key,
                    wrapper_algorithm: hostile.wrapper_algorithm,
                    welcome_metadata: hostile.welcome_metadata,
                },
            )),
        };
        let request = api::SendWelcomeMessagesRequest { messages: vec![input] };
        let _ = bob.inner.api.mls.clone().send_welcome_messages(request).await;
    }
    assert!(stored > 100, "the node stored {stored} mutated envelopes");

    alice.sync_all().await.unwrap();
    let mut events = alice.subscribe();
    let _stream = alice.stream();
    tokio::time::sleep(Duration::from_millis(200)).await;
    bob.send_text(&group, "still here").await.unwrap();
    assert!(next_text(&mut events, "still here").await, "the client still receives");
    let poisoned = alice.inner.state.lock().await.poisoned.len();
    tracing::info!(stored, poisoned, "mutated inputs processed");
    node.shutdown().await.unwrap();
}
