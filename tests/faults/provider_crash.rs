//! A provider killed while it runs a task.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use coworker_faults::Crashable;
use coworker_runtime::protocol::trust::Tier;
use coworker_runtime::protocol::{FailureCode, SkillSpec};
use coworker_runtime::{Agent, CallError, Handler};
use coworker_testkit::{Net, eventually};
use serde_json::json;
use xmtp_client::{KeyStore, MemoryKeyStore};

static RUNS: AtomicUsize = AtomicUsize::new(0);

/// `slow` never finishes its first run; later runs answer at once.
fn slow_skill(agent: &Agent) {
    let handler = Handler::function(|input, _| async move {
        if RUNS.fetch_add(1, Ordering::SeqCst) == 0 {
            std::future::pending::<()>().await;
        }
        Ok(input)
    });
    agent.register(SkillSpec::new("slow", "slow"), handler, true).unwrap();
}

/// The provider is killed well after it took the task (its progress is saved by then); the
/// caller's asynchronous call is told CANCELLED once the provider is back, and the task is
/// not run again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_async_caller_hears_that_a_crashed_provider_dropped_its_task() {
    let net = Net::start().await;
    let keys = Arc::new(MemoryKeyStore::default()) as Arc<dyn KeyStore>;
    let caller = net.agent("caller").await;
    let provider = Crashable::start(net.url(), net.dir(), "provider", &keys, slow_skill).await;
    let to = provider.agent.inbox_id().to_owned();
    provider.agent.set_tier(caller.inbox_id(), Tier::Known).await.unwrap();
    let _serving = caller.serve().await.unwrap();

    let pending = caller.call_async(&to, "slow", json!({"n": 1})).await.unwrap();
    eventually("the task to start", || async { RUNS.load(Ordering::SeqCst) == 1 }).await;
    tokio::time::sleep(Duration::from_secs(2)).await; // past the periodic save
    provider.crash();
    assert_eq!(caller.call_result(&pending).await.unwrap(), None, "still pending");

    let provider = Crashable::start(net.url(), net.dir(), "provider", &keys, slow_skill).await;
    eventually("the caller to be told", || async {
        caller.call_result(&pending).await.unwrap().is_some()
    })
    .await;
    match caller.call_result(&pending).await.unwrap() {
        Some(Err(CallError::Failed { code, message, .. })) => {
            assert_eq!(code, FailureCode::Cancelled);
            assert!(message.contains("restarted"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(RUNS.load(Ordering::SeqCst), 1, "an interrupted task never runs again");
    provider.crash();
}
