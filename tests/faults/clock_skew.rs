//! Agents whose clocks disagree with the node's by ten minutes.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use coworker_faults::SkewedClock;
use coworker_runtime::protocol::SkillSpec;
use coworker_runtime::protocol::trust::Tier;
use coworker_runtime::{CallOptions, Handler};
use coworker_testkit::{Net, eventually};
use serde_json::json;

/// The provider answers a call (a message stamped with its own, wrong clock), goes offline, a
/// request arrives meanwhile and reaches its XMTP client's store before the agent handles it:
/// the request is served, exactly once.
async fn a_request_made_while_the_provider_was_offline_is_served(clock: SkewedClock) {
    let net = Net::start().await;
    let runs = Arc::new(AtomicUsize::new(0));
    let skill = |runs: &Arc<AtomicUsize>| {
        let runs = Arc::clone(runs);
        Handler::function(move |input, _| {
            let runs = Arc::clone(&runs);
            async move {
                runs.fetch_add(1, Ordering::SeqCst);
                Ok(input)
            }
        })
    };
    let skewed = move |c: &mut coworker_runtime::AgentConfig| c.clock = Arc::new(clock);
    let provider = net.member_with("provider", skewed).await;
    let caller = net.agent("caller").await;
    provider.register(SkillSpec::new("work", "works"), skill(&runs), true).unwrap();
    provider.set_tier(caller.inbox_id(), Tier::Known).await.unwrap();
    let serving = provider.serve().await.unwrap();
    let _caller_serving = caller.serve().await.unwrap();
    caller.add_peer(&provider.invite(None).unwrap()).await.unwrap();
    let to = provider.inbox_id().to_owned();
    let first = caller.call(&to, "work", json!({"n": 1}), CallOptions::default()).await;
    assert_eq!(first.unwrap().output, json!({"n": 1}));

    serving.stop().await;
    let (name, keys) = (provider.name.clone(), Arc::clone(&provider.keys));
    drop(provider);
    let pending = caller.call_async(&to, "work", json!({"n": 2})).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    let provider = net.reopen(&name, &keys, skewed).await;
    provider.register(SkillSpec::new("work", "works"), skill(&runs), true).unwrap();
    // Its XMTP client stores the request before the agent handles it (as when the process
    // stopped between the two): the agent finds it by its watermark.
    provider.client().sync_all().await.unwrap();
    let _serving = provider.serve().await.unwrap();
    eventually("the request made while the provider was offline to be answered", || async {
        caller.call_result(&pending).await.unwrap().is_some()
    })
    .await;
    let answer = caller.call_result(&pending).await.unwrap().unwrap();
    assert_eq!(answer.unwrap(), json!({"n": 2}));
    assert_eq!(runs.load(Ordering::SeqCst), 2, "each request ran once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_ten_minutes_ahead_serves_what_arrived_while_it_was_offline() {
    a_request_made_while_the_provider_was_offline_is_served(SkewedClock::ahead(
        Duration::from_secs(600),
    ))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_ten_minutes_behind_serves_what_arrived_while_it_was_offline() {
    a_request_made_while_the_provider_was_offline_is_served(SkewedClock::behind(
        Duration::from_secs(600),
    ))
    .await;
}
