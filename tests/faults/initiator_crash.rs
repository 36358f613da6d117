//! The initiator of an OKR killed while one of its own steps runs.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use coworker_faults::Crashable;
use coworker_runtime::protocol::SkillSpec;
use coworker_runtime::protocol::okr::{OkrStatus, StepStatus};
use coworker_runtime::protocol::trust::Tier;
use coworker_runtime::{Agent, Handler};
use coworker_testkit::{Net, eventually};
use serde_json::json;
use xmtp_client::{KeyStore, MemoryKeyStore};

static SEARCHES: AtomicUsize = AtomicUsize::new(0);

/// Alice's own step: it never finishes its first run.
fn searcher(agent: &Agent) {
    let mut spec = SkillSpec::new("search", "search sources for a topic");
    spec.input_schema = json!({"query": "str"});
    spec.output_schema = json!({"text": "str"});
    let handler = Handler::function(|input: serde_json::Value, _| async move {
        if SEARCHES.fetch_add(1, Ordering::SeqCst) == 0 {
            std::future::pending::<()>().await;
        }
        Ok(json!({"text": format!("facts about {}", input["query"].as_str().unwrap_or(""))}))
    });
    agent.register(spec, handler, true).unwrap();
}

/// Alice dies while her own step of the OKR runs; restarted, she resumes the OKR without
/// running that step a second time (it may have had effects): it ends cancelled, as a remote
/// step interrupted by its provider's crash does, and the OKR ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_step_a_crash_interrupted_is_not_run_again_on_resume() {
    let net = Net::start().await;
    let keys = Arc::new(MemoryKeyStore::default()) as Arc<dyn KeyStore>;
    let alice = Crashable::start(net.url(), net.dir(), "alice", &keys, searcher).await;
    let bob = net.agent("bob").await;
    let mut summarize = SkillSpec::new("summarize", "summarize text");
    summarize.input_schema = json!({"text": "str"});
    summarize.output_schema = json!({"summary": "str"});
    let summarized = Handler::function(|input: serde_json::Value, _| async move {
        Ok(json!({"summary": input["text"].as_str().unwrap_or("").len().to_string()}))
    });
    bob.register(summarize, summarized, true).unwrap();
    let alice_inbox = alice.agent.inbox_id().to_owned();
    bob.set_tier(&alice_inbox, Tier::Privileged).await.unwrap();
    alice.agent.set_tier(bob.inbox_id(), Tier::Privileged).await.unwrap();
    let _bob_serving = bob.serve().await.unwrap();

    let collaborating = alice.agent.clone();
    let bob_inbox = bob.inbox_id().to_owned();
    let goal = "search rust and summarize it";
    alice.spawn(async move {
        let _ = collaborating.collaborate(&bob_inbox, goal).await;
    });
    eventually("alice's step to start", || async { SEARCHES.load(Ordering::SeqCst) == 1 }).await;
    alice.crash();

    let alice = net.open("alice", keys, |_| {}).await;
    searcher(&alice);
    let _alice_serving = alice.serve().await.unwrap();
    eventually("the resumed OKR to end", || async {
        alice.okrs().await.unwrap().first().is_some_and(|o| o.status != OkrStatus::Running)
    })
    .await;
    let okr = alice.okrs().await.unwrap().remove(0);
    assert_eq!(SEARCHES.load(Ordering::SeqCst), 1, "the interrupted step never ran again");
    let search = okr.steps.iter().find(|s| s.skill == "search").unwrap();
    assert_eq!(search.status, StepStatus::Failed, "{okr:?}");
    assert!(search.error.as_deref().unwrap_or("").contains("restarted"), "{search:?}");
    assert_eq!(okr.status, OkrStatus::Failed);
}
