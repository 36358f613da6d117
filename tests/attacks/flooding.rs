//! Item 8: one peer's flood must not fill the owner's notifications, the audit log or the task
//! slots, and the node limits writes per identity and per host, not per connection.

use std::sync::Arc;
use std::time::Duration;

use coworker_attacks::{Net, counted_skill, received, send};
use coworker_runtime::protocol::envelope::kind;
use coworker_runtime::protocol::trust::Tier;
use coworker_runtime::{AgentEvent, CallOptions, Handler, SkillFailure};
use serde_json::{Value, json};
use xmtp_proto::mls_api::{self as api, mls_api_client::MlsApiClient};

#[tokio::test]
async fn a_flood_of_trust_requests_reaches_the_owner_a_few_times_and_leaves_one_pending() {
    let net = Net::start().await;
    let bob = net.member("bob").await;
    let mallory = net.member("mallory").await;
    let _b = bob.serve().await.unwrap();
    let mut events = bob.subscribe();
    for i in 0..40 {
        let ask = json!({"requested_tier": 2, "reason": format!("please #{i}")});
        send(&mallory, bob.inbox_id(), kind::TRUST_REQUEST, ask, Some(&format!("t{i}"))).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut asked = 0;
    while let Ok(event) = events.try_recv() {
        asked += usize::from(matches!(event, AgentEvent::TrustRequested(_)));
    }
    assert!((1..=3).contains(&asked), "the owner was asked {asked} times");
    assert_eq!(bob.trust_requests(true).await.unwrap().len(), 1);
}

#[tokio::test]
async fn refusals_of_a_flood_are_rate_limited() {
    let net = Net::start().await;
    let bob = net.member("bob").await;
    let stranger = net.member("stranger").await;
    counted_skill(&bob, "echo", Tier::Known, true);
    let _b = bob.serve().await.unwrap();
    let mut dm = None;
    for i in 0..120 {
        let call = json!({"skill": "echo", "input": {"text": "x"}, "task_id": format!("t{i}")});
        dm = Some(
            send(&stranger, bob.inbox_id(), kind::TASK_REQUEST, call, Some(&format!("c{i}"))).await,
        );
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let audit = bob.peer_audit_log(stranger.inbox_id(), 1_000).await.unwrap();
    assert!(audit.len() <= 25, "{} audit rows", audit.len());
    let replies = received(&stranger, &dm.unwrap()).await.len();
    assert!((1..=25).contains(&replies), "{replies} error replies");
}

#[tokio::test]
async fn one_peer_cannot_take_every_task_slot() {
    let net = Net::start().await;
    let bob = net
        .agent_with("bob", |c| {
            c.max_concurrent_tasks = 8;
            c.max_tasks_per_peer = 2;
        })
        .await;
    let (mallory, alice) = (net.member("mallory").await, net.member("alice").await);
    // `hold` never finishes while the test runs.
    let hold = Arc::new(tokio::sync::Semaphore::new(0));
    let gate = Arc::clone(&hold);
    bob.register(
        coworker_attacks::spec("hold", json!({"n": "int"}), json!({}), Tier::Known),
        Handler::function(move |_: Value, _| {
            let gate = Arc::clone(&gate);
            async move {
                let _permit = gate.acquire().await.map_err(|_| SkillFailure::new("closed"))?;
                Ok(json!({}))
            }
        }),
        true,
    )
    .unwrap();
    counted_skill(&bob, "echo", Tier::Known, true);
    bob.set_tier(mallory.inbox_id(), Tier::Known).await.unwrap();
    bob.set_tier(alice.inbox_id(), Tier::Known).await.unwrap();
    let _b = bob.serve().await.unwrap();
    let _a = alice.serve().await.unwrap();
    for n in 0..20 {
        let call = json!({"skill": "hold", "input": {"n": n}, "task_id": format!("h{n}")});
        send(&mallory, bob.inbox_id(), kind::TASK_REQUEST, call, Some(&format!("h{n}"))).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let options = CallOptions { timeout: Some(Duration::from_secs(5)), ..Default::default() };
    let answer = alice.call(bob.inbox_id(), "echo", json!({"text": "hi"}), options).await.unwrap();
    assert_eq!(answer.output, json!({"text": "echo:hi"}));
    hold.close();
}

/// Welcomes addressed to one installation: anyone can send them (installation keys are
/// public), so the node limits them per recipient.
#[tokio::test]
async fn the_node_limits_welcomes_per_recipient_not_per_connection() {
    let net = Net::start().await;
    let alice = net.member("alice").await;
    let recipient = alice.client().installation_id().to_vec();
    let welcome = |i: u32| api::WelcomeMessageInput {
        version: Some(api::welcome_message_input::Version::V1(api::welcome_message_input::V1 {
            installation_key: recipient.clone().into(),
            data: format!("junk {i}").into_bytes().into(),
            hpke_public_key: vec![1; 32].into(),
            wrapper_algorithm: 1,
            welcome_metadata: Default::default(),
        })),
    };
    let mut refused = false;
    // Each batch on a new connection: a flood spread over connections gains nothing.
    for batch in 0..5u32 {
        let mut node = MlsApiClient::connect(net.url().to_owned()).await.unwrap();
        let messages = (0..100).map(|i| welcome(batch * 100 + i)).collect();
        let sent = node.send_welcome_messages(api::SendWelcomeMessagesRequest { messages }).await;
        if let Err(status) = sent {
            assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status}");
            refused = true;
            break;
        }
    }
    assert!(refused, "500 welcomes to one installation at once were all stored");
}
