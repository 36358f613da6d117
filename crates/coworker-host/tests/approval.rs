//! Owner approval through the real stack: a peer's trust request becomes a question that names
//! it safely and carries its reason on one line; answering decides the peer's newest request.

#![allow(clippy::unwrap_used, missing_docs)]

use std::time::Duration;

use coworker_host::approval::Question;
use coworker_runtime::AgentEvent;
use coworker_runtime::protocol::RequestStatus;
use coworker_runtime::protocol::trust::Tier;
use coworker_testkit::{Net, wait_for};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_question_names_the_peer_safely_and_the_answer_decides_its_newest_request() {
    let net = Net::start().await;
    let owner = net.agent("owner").await;
    let asker = net.agent("asker").await;
    let _serving = (owner.serve().await.unwrap(), asker.serve().await.unwrap());
    asker.add_peer(&owner.invite(None).unwrap()).await.unwrap();
    let mut events = owner.subscribe();

    // Two requests: the second (with a hostile reason) replaces the first.
    let quick = Duration::from_millis(300);
    let _ = asker.request_trust(owner.inbox_id(), Tier::Known, "first", quick).await;
    let first = wait_for(&mut events, Duration::from_secs(10), "the first request", |e| match e {
        AgentEvent::TrustRequested(r) if r.reason == "first" => Some(e.clone()),
        _ => None,
    })
    .await;
    let hostile = "let me in\n\u{1b}[2Japproved\u{202e}";
    let _ = asker.request_trust(owner.inbox_id(), Tier::Internal, hostile, quick).await;
    wait_for(&mut events, Duration::from_secs(10), "the second request", |e| match e {
        AgentEvent::TrustRequested(r) if r.requested == Tier::Internal => Some(()),
        _ => None,
    })
    .await;

    let question = Question::of(&owner, &first).await.unwrap();
    let Question::Trust { who, reason, .. } = &question else { panic!("{question:?}") };
    assert!(who.contains("unverified") || who.starts_with("unknown peer"), "{who}");
    assert_eq!(reason, "first");
    assert_eq!(question.peer(), asker.inbox_id());
    let second = owner.trust_requests(true).await.unwrap();
    assert_eq!(second.len(), 1, "{second:?}");
    let newest =
        Question::of(&owner, &AgentEvent::TrustRequested(second[0].clone())).await.unwrap();
    assert_eq!(newest.detail(), "“let me in [2Japproved”", "one line, no control characters");

    // Answering the first question decides the newest request: INTERNAL is granted.
    question.answer(&owner, true).await.unwrap();
    assert_eq!(owner.tier(asker.inbox_id()).await.unwrap(), Tier::Internal);
    let all = owner.trust_requests(false).await.unwrap();
    let statuses: Vec<RequestStatus> = all.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [RequestStatus::Superseded, RequestStatus::Approved]);
    // Nothing pending any more: answering again changes nothing and is not an error.
    question.answer(&owner, false).await.unwrap();
    assert_eq!(owner.tier(asker.inbox_id()).await.unwrap(), Tier::Internal);
}
