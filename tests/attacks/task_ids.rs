//! Item 12: task requests without ids must never be answered from another request's record,
//! and a task id reused for another request is refused rather than answered with the old one.

use coworker_attacks::{Net, counted_skill, eventually, received, send};
use coworker_runtime::protocol::envelope::kind;
use coworker_runtime::protocol::trust::Tier;
use serde_json::json;

#[tokio::test]
async fn requests_without_ids_each_get_their_own_answer() {
    let net = Net::start().await;
    let bob = net.member("bob").await;
    let mallory = net.member("mallory").await;
    counted_skill(&bob, "echo", Tier::Known, true);
    bob.set_tier(mallory.inbox_id(), Tier::Known).await.unwrap();
    let _serving = bob.serve().await.unwrap();

    // Neither a task id nor a correlation id, as a minimal client may send.
    let first = json!({"skill": "echo", "input": {"text": "first"}});
    let dm = send(&mallory, bob.inbox_id(), kind::TASK_REQUEST, first, None).await;
    eventually("the first answer", || async { received(&mallory, &dm).await.len() == 1 }).await;
    let second = json!({"skill": "echo", "input": {"text": "second"}});
    send(&mallory, bob.inbox_id(), kind::TASK_REQUEST, second, None).await;
    eventually("the second answer", || async { received(&mallory, &dm).await.len() == 2 }).await;

    let answers: Vec<serde_json::Value> =
        received(&mallory, &dm).await.iter().map(|e| e.payload["result"]["text"].clone()).collect();
    assert_eq!(answers, [json!("echo:first"), json!("echo:second")]);
}

#[tokio::test]
async fn a_task_id_reused_for_another_request_is_refused() {
    let net = Net::start().await;
    let bob = net.member("bob").await;
    let mallory = net.member("mallory").await;
    let runs = counted_skill(&bob, "echo", Tier::Known, true);
    bob.set_tier(mallory.inbox_id(), Tier::Known).await.unwrap();
    let _serving = bob.serve().await.unwrap();

    let task = "7c0e5a4e-0000-4000-8000-00000000c001";
    let first = json!({"skill": "echo", "input": {"text": "one"}, "task_id": task});
    let dm = send(&mallory, bob.inbox_id(), kind::TASK_REQUEST, first, Some("k1")).await;
    eventually("the first answer", || async { received(&mallory, &dm).await.len() == 1 }).await;
    let other = json!({"skill": "echo", "input": {"text": "two"}, "task_id": task});
    send(&mallory, bob.inbox_id(), kind::TASK_REQUEST, other, Some("k2")).await;
    eventually("the second answer", || async { received(&mallory, &dm).await.len() == 2 }).await;

    let second = received(&mallory, &dm).await.remove(1);
    assert_eq!(second.kind, kind::TASK_ERROR, "{second:?}");
    assert_eq!(second.payload["error_code"], "INVALID_INPUT");
    assert_eq!(runs.load(std::sync::atomic::Ordering::SeqCst), 1);
}
