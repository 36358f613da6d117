//! Several agents on the embedded node: connect, discover per tier, calls, hidden skills,
//! trust requests, attacks, idempotent retries, concurrency and an OKR end to end.

#![allow(clippy::unwrap_used, missing_docs)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use coworker_runtime::protocol::skill::FailureCode;
use coworker_runtime::protocol::trust::Tier;
use coworker_runtime::protocol::{SkillSpec, okr::OkrStatus};
use coworker_runtime::{
    Agent, AgentConfig, AgentEvent, CallError, CallOptions, Handler, RuntimeError, SkillFailure,
};
use serde_json::{Value, json};
use xmtp_client::{Client, ClientOptions, KeyStore, MemoryKeyStore, Network};

struct Net {
    _node: xmtp_node::Node,
    url: String,
    dir: tempfile::TempDir,
}

impl Net {
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let node = xmtp_node::start(xmtp_node::NodeConfig::local(dir.path().join("node.db")))
            .await
            .unwrap();
        Self { url: node.url().to_owned(), _node: node, dir }
    }

    async fn agent(&self, name: &str) -> Agent {
        let keys = Arc::new(MemoryKeyStore::default()) as Arc<dyn KeyStore>;
        let options = ClientOptions::new(
            Network::Url(self.url.clone()),
            self.dir.path().join(format!("{name}.xmtp.db")),
            keys,
        );
        let client = Client::open(options).await.unwrap();
        let mut config = AgentConfig::new(name, self.dir.path().join(format!("{name}.agent.db")));
        config.deadline = Duration::from_secs(10);
        Agent::open(client, config).await.unwrap()
    }
}

fn spec(name: &str, when: &str, input: Value, output: Value, tier: Tier) -> SkillSpec {
    let mut spec = SkillSpec::new(name, &format!("{name} skill"));
    spec.when_to_use = when.into();
    spec.input_schema = input;
    spec.output_schema = output;
    spec.min_tier = tier;
    spec
}

/// A provider with `translate` (tier 1, exposed), `secret` (tier 1, hidden), `audit` (tier 2,
/// exposed); counts executions.
fn provide(agent: &Agent, runs: &Arc<AtomicUsize>) {
    let counter = Arc::clone(runs);
    agent
        .register(
            spec(
                "translate",
                "translate text",
                json!({"text": "str"}),
                json!({"translated": "str"}),
                Tier::Known,
            ),
            Handler::function(move |input: Value, _| {
                let counter = Arc::clone(&counter);
                async move {
                    counter.fetch_add(1, Ordering::SeqCst);
                    let text = input["text"].as_str().unwrap_or_default().to_uppercase();
                    Ok(json!({"translated": text}))
                }
            }),
            true,
        )
        .unwrap();
    agent
        .register(
            spec("secret", "", json!({}), json!({}), Tier::Known),
            Handler::function(|_, _| async { Ok(json!({"leak": true})) }),
            false,
        )
        .unwrap();
    agent
        .register(
            spec("audit", "", json!({}), json!({}), Tier::Internal),
            Handler::function(|_, _| async { Err(SkillFailure::new("books are closed")) }),
            true,
        )
        .unwrap();
}

fn failed(err: RuntimeError) -> FailureCode {
    match err {
        RuntimeError::Call(CallError::Failed { code, .. }) => code,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn connect_discover_call_and_the_trust_ladder() {
    let net = Net::start().await;
    let (alice, bob) = (net.agent("alice").await, net.agent("bob").await);
    let runs = Arc::new(AtomicUsize::new(0));
    provide(&bob, &runs);
    let _a = alice.serve().await.unwrap();
    let _b = bob.serve().await.unwrap();

    // Untrusted: sees nothing, cannot call.
    let peer = alice.connect(&bob.invite(None).unwrap()).await.unwrap();
    assert_eq!(peer.name, "bob");
    assert!(peer.skills.is_empty());
    let err = alice
        .call(bob.inbox_id(), "translate", json!({"text": "hi"}), CallOptions::default())
        .await
        .unwrap_err();
    assert_eq!(failed(err), FailureCode::TrustTierTooLow);

    // Known: sees exposed tier-1 skills only; hidden and under-tier ones look nonexistent.
    bob.set_tier(alice.inbox_id(), Tier::Known).await.unwrap();
    let names: Vec<String> =
        alice.discover(bob.inbox_id()).await.unwrap().into_iter().map(|s| s.name).collect();
    assert_eq!(names, ["translate"]);
    let ok = alice
        .call(bob.inbox_id(), "translate", json!({"text": "hi"}), CallOptions::default())
        .await
        .unwrap();
    assert_eq!(ok.output, json!({"translated": "HI"}));
    let receipt = &ok.receipt.as_ref().expect("our providers sign receipts").receipt;
    assert_eq!((receipt.provider.as_str(), receipt.skill.as_str()), (bob.inbox_id(), "translate"));
    assert_eq!(receipt.status, "completed");
    for hidden in ["secret", "audit", "nonexistent"] {
        let err = alice
            .call(bob.inbox_id(), hidden, json!({}), CallOptions::default())
            .await
            .unwrap_err();
        let RuntimeError::Call(CallError::Failed { code, message, .. }) = err else { panic!() };
        assert_eq!(
            (code, message),
            (FailureCode::UnknownSkill, format!("Unknown skill: {hidden}"))
        );
    }

    // Schema-violating input: refused before anything runs, with the path.
    let before = runs.load(Ordering::SeqCst);
    let err = alice
        .call(bob.inbox_id(), "translate", json!({"text": 5}), CallOptions::default())
        .await
        .unwrap_err();
    let RuntimeError::Call(CallError::Failed { code, violations, .. }) = err else { panic!() };
    assert_eq!((code, violations[0].path.as_str()), (FailureCode::InvalidInput, "/text"));
    assert_eq!(runs.load(Ordering::SeqCst), before);

    // Both sides keep the signed receipt.
    let task = ok.task_id.clone();
    assert!(alice.receipts().await.unwrap().iter().any(|r| r.receipt.task_id == task));
    assert!(bob.receipts().await.unwrap().iter().any(|r| r.receipt.task_id == task));
    let csv = alice.receipts_csv().await.unwrap();
    assert!(csv.starts_with("id,task_id,caller,provider,skill,"), "{csv}");
    assert!(csv.lines().any(|line| line.contains(&task)));

    // A trust request above the ceiling waits for the owner; approval answers it.
    let mut bob_events = bob.subscribe();
    let requester = alice.clone();
    let bob_inbox = bob.inbox_id().to_owned();
    let asking = tokio::spawn(async move {
        requester
            .request_trust(
                &bob_inbox,
                Tier::Internal,
                "need the audit skill",
                Duration::from_secs(10),
            )
            .await
    });
    let request = loop {
        if let AgentEvent::TrustRequested(r) = bob_events.recv().await.unwrap() {
            break r;
        }
    };
    assert_eq!(
        (request.requested, request.reason.as_str()),
        (Tier::Internal, "need the audit skill")
    );
    bob.decide_trust_request(request.id, true).await.unwrap();
    let answer = asking.await.unwrap().unwrap();
    assert!(answer.granted);
    assert_eq!(bob.tier(alice.inbox_id()).await.unwrap(), Tier::Internal);
    let err =
        alice.call(bob.inbox_id(), "audit", json!({}), CallOptions::default()).await.unwrap_err();
    let RuntimeError::Call(CallError::Failed { code, message, .. }) = err else { panic!() };
    assert_eq!((code, message.as_str()), (FailureCode::SkillFailed, "books are closed"));

    // A request can never lower a tier; a denied request changes nothing.
    let lower = alice
        .request_trust(bob.inbox_id(), Tier::Untrusted, "", Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(lower.granted_tier, Some(2));
    let requester = alice.clone();
    let bob_inbox = bob.inbox_id().to_owned();
    let asking = tokio::spawn(async move {
        requester
            .request_trust(&bob_inbox, Tier::Privileged, "root please", Duration::from_secs(10))
            .await
    });
    let request = loop {
        if let AgentEvent::TrustRequested(r) = bob_events.recv().await.unwrap() {
            break r;
        }
    };
    bob.decide_trust_request(request.id, false).await.unwrap();
    assert!(!asking.await.unwrap().unwrap().granted);
    assert_eq!(bob.tier(alice.inbox_id()).await.unwrap(), Tier::Internal);
    let why = bob.audit_log(50).await.unwrap();
    assert!(why.iter().any(|e| e.decision.rule == "owner_denied"));
    assert!(why.iter().any(|e| e.decision.rule == "unknown_skill"));
}

#[tokio::test]
async fn forged_identities_unsolicited_answers_and_garbage_execute_nothing() {
    let net = Net::start().await;
    let (alice, bob, mallory) =
        (net.agent("alice").await, net.agent("bob").await, net.agent("mallory").await);
    let runs = Arc::new(AtomicUsize::new(0));
    provide(&bob, &runs);
    bob.set_tier(alice.inbox_id(), Tier::Privileged).await.unwrap();
    let _b = bob.serve().await.unwrap();
    let _a = alice.serve().await.unwrap();

    // Mallory claims to be alice inside the envelope.
    let dm = mallory.client().dm(bob.inbox_id()).await.unwrap();
    let forged = json!({"protocol": "coworker", "version": "1.0", "type": "task_request",
        "payload": {"skill": "translate", "input": {"text": "x"}, "task_id": "f-1"},
        "timestamp": "2026-11-24T00:00:00+00:00", "ttl": 3600, "sender_id": "alice",
        "correlation_id": "c-forged", "sender_wallet": alice.client().address()});
    mallory.client().send_text(&dm, &forged.to_string()).await.unwrap();
    // A trust request that tries to lower alice's tier, from mallory.
    let demote = json!({"protocol": "coworker", "version": "1.0", "type": "trust_request",
        "payload": {"requested_tier": 0}, "sender_wallet": alice.client().address(), "correlation_id": "c-demote"});
    mallory.client().send_text(&dm, &demote.to_string()).await.unwrap();
    // A malformed envelope (oversize ones are refused by `Envelope::parse`, unit-tested).
    mallory
        .client()
        .send_text(&dm, r#"{"protocol":"coworker","version":"1.0","payload":[]}"#)
        .await
        .unwrap();
    // An unsolicited answer to alice.
    let to_alice = mallory.client().dm(alice.inbox_id()).await.unwrap();
    let unsolicited = json!({"protocol": "coworker", "version": "1.0", "type": "task_response",
        "payload": {"success": true, "result": {"translated": "PWNED"}}, "correlation_id": "c-guess"});
    mallory.client().send_text(&to_alice, &unsolicited.to_string()).await.unwrap();

    // Alice's real call still works and is hers.
    let ok = alice
        .call(bob.inbox_id(), "translate", json!({"text": "ok"}), CallOptions::default())
        .await
        .unwrap();
    assert_eq!(ok.output["translated"], "OK");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(runs.load(Ordering::SeqCst), 1, "only alice's call ran");
    assert_eq!(bob.tier(alice.inbox_id()).await.unwrap(), Tier::Privileged, "alice not demoted");
    assert_eq!(bob.tier(mallory.inbox_id()).await.unwrap(), Tier::Untrusted);
    let bob_audit = bob.audit_log(50).await.unwrap();
    assert!(
        bob_audit.iter().any(|e| e.peer == mallory.inbox_id() && e.decision.rule == "tier_too_low")
    );
    assert!(
        bob_audit
            .iter()
            .any(|e| e.peer == mallory.inbox_id() && e.decision.rule == "envelope.malformed")
    );
    let alice_audit = alice.audit_log(50).await.unwrap();
    assert!(
        alice_audit
            .iter()
            .any(|e| e.peer == mallory.inbox_id() && e.decision.rule == "unsolicited_answer")
    );
}

#[tokio::test]
async fn retries_reuse_the_task_and_many_calls_run_at_once() {
    let net = Net::start().await;
    let (alice, bob) = (net.agent("alice").await, net.agent("bob").await);
    let runs = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&runs);
    bob.register(
        spec("slow", "", json!({"n": "int"}), json!({"n": "int"}), Tier::Known),
        Handler::function(move |input: Value, _| {
            let counter = Arc::clone(&counter);
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(200)).await;
                Ok(input)
            }
        }),
        true,
    )
    .unwrap();
    bob.set_tier(alice.inbox_id(), Tier::Known).await.unwrap();
    let _a = alice.serve().await.unwrap();
    let _b = bob.serve().await.unwrap();

    // A retry with the same task id gets the stored answer; the skill ran once.
    let options = CallOptions {
        task_id: Some("7c0e5a4e-0000-4000-8000-000000000001".into()),
        ..Default::default()
    };
    let first = alice.call(bob.inbox_id(), "slow", json!({"n": 1}), options.clone()).await.unwrap();
    let again = alice.call(bob.inbox_id(), "slow", json!({"n": 1}), options).await.unwrap();
    assert_eq!(first.receipt, again.receipt);
    assert_eq!(runs.load(Ordering::SeqCst), 1);

    // 100 calls in flight: a 200 ms skill, so serial execution would take 20 s.
    let started = std::time::Instant::now();
    let calls = (0..100).map(|n| {
        let alice = alice.clone();
        let bob = bob.inbox_id().to_owned();
        async move { alice.call(&bob, "slow", json!({"n": n}), CallOptions::default()).await }
    });
    let results = futures_join_all(calls).await;
    for (n, result) in results.into_iter().enumerate() {
        assert_eq!(result.unwrap().output, json!({"n": n}));
    }
    // Serial execution alone would need 20 s.
    assert!(started.elapsed() < Duration::from_secs(15), "took {:?}", started.elapsed());
    assert_eq!(runs.load(Ordering::SeqCst), 101);
}

async fn futures_join_all<F: std::future::Future + Send + 'static>(
    futures: impl Iterator<Item = F>,
) -> Vec<F::Output>
where
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for handle in handles {
        out.push(handle.await.unwrap());
    }
    out
}

#[tokio::test]
async fn a_goal_becomes_an_okr_that_runs_and_steps_trust_down() {
    let net = Net::start().await;
    let (alice, bob) = (net.agent("alice").await, net.agent("bob").await);
    alice
        .register(
            spec("search", "search sources for a topic", json!({"query": "str"}), json!({"text": "str"}), Tier::Known),
            Handler::function(|input: Value, _| async move { Ok(json!({"text": format!("facts about {}", input["query"].as_str().unwrap_or(""))})) }),
            true,
        )
        .unwrap();
    bob.register(
        spec(
            "summarize",
            "summarize text",
            json!({"text": "str"}),
            json!({"summary": "str"}),
            Tier::Known,
        ),
        Handler::function(|input: Value, _| async move {
            Ok(json!({"summary": input["text"].as_str().unwrap_or("").len().to_string()}))
        }),
        true,
    )
    .unwrap();
    bob.set_tier(alice.inbox_id(), Tier::Privileged).await.unwrap();
    alice.set_tier(bob.inbox_id(), Tier::Privileged).await.unwrap();
    let _a = alice.serve().await.unwrap();
    let _b = bob.serve().await.unwrap();

    let okr = match alice.collaborate(bob.inbox_id(), "search rust and summarize it").await {
        Ok(okr) => okr,
        Err(e) => panic!(
            "{e}\nalice: {:#?}\nbob: {:#?}",
            alice.audit_log(20).await.unwrap(),
            bob.audit_log(20).await.unwrap()
        ),
    };
    assert_eq!(okr.status, OkrStatus::Completed, "{okr:#?}");
    let skills: Vec<&str> = okr.steps.iter().map(|s| s.skill.as_str()).collect();
    assert_eq!(skills, ["search", "summarize"]);
    let searched = "facts about search rust and summarize it".len().to_string();
    assert_eq!(
        okr.steps[1].output,
        Some(json!({"summary": searched})),
        "the summary got the search output"
    );
    assert_eq!(okr.progress(), 100);
    // The initiator's view of the peer steps down one tier…
    assert_eq!(alice.tier(bob.inbox_id()).await.unwrap(), Tier::Internal);
    // …and the peer, told of the completion, steps the initiator down too.
    for _ in 0..50 {
        if bob.tier(alice.inbox_id()).await.unwrap() == Tier::Internal {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(bob.tier(alice.inbox_id()).await.unwrap(), Tier::Internal);
    assert_eq!(bob.okrs().await.unwrap()[0].status, OkrStatus::Completed);
    assert_eq!(alice.okrs().await.unwrap()[0].id, okr.id, "persisted");
}
