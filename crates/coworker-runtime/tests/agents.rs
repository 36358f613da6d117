//! Several agents on the embedded node: connect, discover per tier, calls, hidden skills,
//! trust requests, attacks, idempotent retries, concurrency, an OKR end to end, groups,
//! progress and cancel, and restarts of either side mid-call.

#![allow(clippy::unwrap_used, missing_docs)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use coworker_runtime::protocol::skill::FailureCode;
use coworker_runtime::protocol::trust::Tier;
use coworker_runtime::protocol::{SkillSpec, okr::OkrStatus};
use coworker_runtime::{
    Agent, AgentEvent, CallError, CallOptions, Handler, RuntimeError, SkillFailure,
};
use serde_json::{Value, json};
use xmtp_client::{KeyStore, MemoryKeyStore};

use coworker_testkit::{Net, eventually};

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
    let seen = alice.peer(bob.inbox_id()).await.unwrap().seen_ms;
    assert!(seen.is_some_and(|ms| ms > 1_600_000_000_000), "last seen is recorded: {seen:?}");
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
    // One peer's trail holds exactly that peer's entries.
    let mallorys = bob.peer_audit_log(mallory.inbox_id(), 50).await.unwrap();
    let expected = bob_audit.iter().filter(|e| e.peer == mallory.inbox_id()).count();
    assert_eq!(mallorys.len(), expected);
    assert!(expected > 0 && mallorys.iter().all(|e| e.peer == mallory.inbox_id()));
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
    searcher(&alice);
    summarizer(&bob);
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
    // …and the peer steps the initiator down too (once its own steps are served), then
    // hears of the completion.
    for _ in 0..50 {
        if bob.okrs().await.unwrap()[0].status == OkrStatus::Completed {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(bob.tier(alice.inbox_id()).await.unwrap(), Tier::Internal);
    assert_eq!(bob.okrs().await.unwrap()[0].status, OkrStatus::Completed);
    assert_eq!(alice.okrs().await.unwrap()[0].id, okr.id, "persisted");
}

#[tokio::test]
async fn a_reviewed_plan_waits_for_the_peers_owner_to_accept_or_decline() {
    let net = Net::start().await;
    let alice = net.agent("alice").await;
    let keys = Arc::new(MemoryKeyStore::default()) as Arc<dyn KeyStore>;
    let bob = net.open("bob", keys, |c| c.plan_approval = true).await;
    searcher(&alice);
    summarizer(&bob);
    bob.set_tier(alice.inbox_id(), Tier::Known).await.unwrap();
    alice.set_tier(bob.inbox_id(), Tier::Internal).await.unwrap();
    let _a = alice.serve().await.unwrap();
    let _b = bob.serve().await.unwrap();
    let mut bob_events = bob.subscribe();

    // The initiator reviews a plan first: nothing is stored or sent until it starts it.
    let plan = alice.plan_goal(bob.inbox_id(), "search rust and summarize it").await.unwrap();
    assert_eq!(plan.status, OkrStatus::Proposed);
    assert!(alice.okrs().await.unwrap().is_empty(), "a reviewed plan is not stored");
    let mut tampered = plan.clone();
    tampered.initiator = bob.inbox_id().to_owned();
    assert!(alice.start_okr(tampered).await.is_err(), "only our own plans start");

    // Bob's owner declines the first proposal.
    let starting = tokio::spawn({
        let (alice, plan) = (alice.clone(), plan.clone());
        async move { alice.start_okr(plan).await }
    });
    let proposed = loop {
        if let AgentEvent::PlanProposed(okr) = bob_events.recv().await.unwrap() {
            break okr;
        }
    };
    assert_eq!(proposed.id, plan.id);
    assert!(bob.decide_plan("no-such-plan", true).await.is_err());
    assert_eq!(bob.decide_plan(&plan.id, false).await.unwrap().status, OkrStatus::Rejected);
    let declined = starting.await.unwrap().unwrap();
    assert_eq!(declined.status, OkrStatus::Rejected);
    assert!(bob.decide_plan(&plan.id, true).await.is_err(), "decided once");
    assert!(alice.start_okr(plan).await.is_err(), "a plan starts once");

    // The second one is accepted and runs to completion; the tier steps down.
    let plan = alice.plan_goal(bob.inbox_id(), "search rust and summarize it").await.unwrap();
    let starting = tokio::spawn({
        let alice = alice.clone();
        async move { alice.start_okr(plan).await }
    });
    let proposed = loop {
        if let AgentEvent::PlanProposed(okr) = bob_events.recv().await.unwrap() {
            break okr;
        }
    };
    assert_eq!(bob.decide_plan(&proposed.id, true).await.unwrap().status, OkrStatus::Running);
    let done = starting.await.unwrap().unwrap();
    assert_eq!(done.status, OkrStatus::Completed, "{done:#?}");
    assert_eq!(alice.tier(bob.inbox_id()).await.unwrap(), Tier::Known);
}

#[tokio::test]
async fn groups_call_a_named_member_and_show_every_members_tier() {
    let net = Net::start().await;
    let (alice, bob, carol, dave) = (
        net.agent("alice").await,
        net.agent("bob").await,
        net.agent("carol").await,
        net.agent("dave").await,
    );
    let (bob_runs, carol_runs) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    provide(&bob, &bob_runs);
    provide(&carol, &carol_runs);
    carol.set_tier(alice.inbox_id(), Tier::Known).await.unwrap();
    alice.set_tier(carol.inbox_id(), Tier::Internal).await.unwrap();
    let _a = alice.serve().await.unwrap();
    let _b = bob.serve().await.unwrap();
    let _c = carol.serve().await.unwrap();
    let mut bob_events = bob.subscribe();

    // Members by invite code (bob, carol) and by wallet address (dave).
    let members = [bob.invite(None).unwrap(), carol.invite(None).unwrap(), dave.client().address()];
    let group = alice.create_group("launch", &members).await.unwrap();
    assert_eq!(group.name, "launch");
    assert_eq!(group.members.len(), 4);
    let badge = |inbox: &str| group.members.iter().find(|m| m.inbox_id == inbox).unwrap().clone();
    assert_eq!(badge(alice.inbox_id()).tier, None, "no badge for oneself");
    assert!(badge(alice.inbox_id()).admin);
    assert_eq!(badge(carol.inbox_id()).tier, Some(Tier::Internal));
    assert_eq!(badge(carol.inbox_id()).name.as_deref(), Some("carol"));
    assert_eq!(badge(bob.inbox_id()).tier, Some(Tier::Untrusted), "adding grants no trust");
    assert_eq!(badge(dave.inbox_id()).name, None);

    // A call to carol by name runs on carol only, with a verified receipt.
    let done = alice
        .group_call(&group.id, "Carol", "translate", json!({"text": "go"}), CallOptions::default())
        .await
        .unwrap();
    assert_eq!(done.output, json!({"translated": "GO"}));
    assert_eq!(done.receipt.unwrap().receipt.provider, carol.inbox_id());
    assert_eq!((carol_runs.load(Ordering::SeqCst), bob_runs.load(Ordering::SeqCst)), (1, 0));

    // Bob holds alice at UNTRUSTED: his refusal comes back; nothing runs.
    let err = alice
        .group_call(
            &group.id,
            bob.inbox_id(),
            "translate",
            json!({"text": "x"}),
            CallOptions::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(failed(err), FailureCode::TrustTierTooLow);
    assert_eq!(bob_runs.load(Ordering::SeqCst), 0);
    // Requests and answers meant for other members are neither run nor counted as attacks:
    // bob's only denial is the call addressed to him.
    let denials: Vec<_> =
        bob.audit_log(50).await.unwrap().into_iter().filter(|e| !e.decision.allowed).collect();
    assert_eq!(denials.len(), 1, "{denials:#?}");
    assert_eq!(denials[0].decision.rule, "tier_too_low");
    let carol_denials = carol.audit_log(50).await.unwrap();
    assert!(carol_denials.iter().all(|e| e.decision.allowed), "{carol_denials:#?}");

    // Unknown members and non-members are clear errors.
    let unknown = alice
        .group_call(&group.id, "zed", "translate", json!({}), CallOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(unknown, RuntimeError::NotFound(_)), "{unknown:?}");

    // Chat reaches the other members as text.
    alice.send_chat(&group.id, "ship it on friday").await.unwrap();
    let chat = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if let Ok(AgentEvent::Chat { conversation, sender, text }) = bob_events.recv().await {
                break (conversation, sender, text);
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(
        chat,
        (group.id.clone(), alice.inbox_id().to_owned(), "ship it on friday".to_owned())
    );

    // The other members see the group too.
    eventually("bob to see the group", || async {
        bob.groups().await.unwrap().iter().any(|g| g.id == group.id && g.members.len() == 4)
    })
    .await;
    let removed =
        alice.remove_group_members(&group.id, &[dave.inbox_id().to_owned()]).await.unwrap();
    assert_eq!(removed.members.len(), 3);
}

/// Alice and Bob, both serving; Bob provides `skill` (running `handler`), which Alice, KNOWN to
/// him, may call.
async fn caller_and_provider(
    net: &Net,
    skill: &str,
    handler: Handler,
) -> (Agent, Agent, [coworker_runtime::Serving; 2]) {
    let (alice, bob) = (net.agent("alice").await, net.agent("bob").await);
    bob.register(spec(skill, "", json!({}), json!({}), Tier::Known), handler, true).unwrap();
    bob.set_tier(alice.inbox_id(), Tier::Known).await.unwrap();
    let serving = [alice.serve().await.unwrap(), bob.serve().await.unwrap()];
    (alice, bob, serving)
}

#[tokio::test]
async fn progress_reaches_the_caller_and_cancel_stops_the_task() {
    let net = Net::start().await;
    let handler = Handler::function(|_, context| async move {
        context.progress(40, "frames 1-40");
        tokio::time::sleep(Duration::from_secs(60)).await;
        Ok(json!({}))
    });
    let (alice, bob, _serving) = caller_and_provider(&net, "render", handler).await;
    let mut events = alice.subscribe();

    let call = {
        let (alice, bob) = (alice.clone(), bob.inbox_id().to_owned());
        tokio::spawn(
            async move { alice.call(&bob, "render", json!({}), CallOptions::default()).await },
        )
    };
    let task_id = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if let Ok(AgentEvent::CallProgress { task_id, percent: 40, text }) = events.recv().await
            {
                assert_eq!(text, "frames 1-40");
                break task_id;
            }
        }
    })
    .await
    .unwrap();
    let started = std::time::Instant::now();
    alice.cancel(bob.inbox_id(), &task_id).await.unwrap();
    let err = call.await.unwrap().unwrap_err();
    assert_eq!(failed(err), FailureCode::Cancelled);
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn a_skills_last_progress_report_reaches_the_caller_before_its_result() {
    let net = Net::start().await;
    let handler = Handler::function(|_, context| async move {
        for percent in [10, 50, 90] {
            context.progress(percent, "working");
        }
        Ok(json!({}))
    });
    let (alice, bob, _serving) = caller_and_provider(&net, "quick", handler).await;
    for _ in 0..5 {
        let mut events = alice.subscribe();
        let done = alice.call(bob.inbox_id(), "quick", json!({}), CallOptions::default()).await;
        let task = done.unwrap().task_id;
        let mut reported = Vec::new();
        while let Ok(event) = events.try_recv() {
            if let AgentEvent::CallProgress { task_id, percent, .. } = event
                && task_id == task
            {
                reported.push(percent);
            }
        }
        assert_eq!(reported.last(), Some(&90), "the last report came before the result");
        assert!(reported.is_sorted(), "in order: {reported:?}");
    }
}

/// Runs an agent on its own runtime so that shutting the runtime down kills it mid-task, like a
/// crash: no task of it runs on, nothing is flushed.
struct Crashable {
    runtime: tokio::runtime::Runtime,
    agent: Agent,
    serving: coworker_runtime::Serving,
}

impl Crashable {
    async fn start(net: &Net, name: &str, keys: &Arc<dyn KeyStore>, setup: fn(&Agent)) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let (url, dir, name, keys) =
            (net.url().to_owned(), net.dir().to_owned(), name.to_owned(), Arc::clone(keys));
        let (agent, serving) = runtime
            .spawn(async move {
                let agent = coworker_testkit::open(&url, &dir, &name, keys, |_| {}).await;
                setup(&agent);
                let serving = agent.serve().await.unwrap();
                (agent, serving)
            })
            .await
            .unwrap();
        Self { runtime, agent, serving }
    }

    fn crash(self) {
        std::mem::forget(self.serving);
        drop(self.agent);
        self.runtime.shutdown_background();
    }
}

static WORK_RUNS: AtomicUsize = AtomicUsize::new(0);
static RELEASE: tokio::sync::Notify = tokio::sync::Notify::const_new();

/// `work` blocks its first run until released (or forever); later runs return at once.
fn work_skill(agent: &Agent) {
    agent
        .register(
            spec("work", "", json!({"n": "int"}), json!({"n": "int"}), Tier::Known),
            Handler::function(|input: Value, _| async move {
                if WORK_RUNS.fetch_add(1, Ordering::SeqCst) == 0 {
                    RELEASE.notified().await;
                }
                Ok(input)
            }),
            true,
        )
        .unwrap();
}

#[tokio::test]
async fn restarts_mid_call_lose_nothing_and_run_nothing_twice() {
    let net = Net::start().await;
    let bob_keys = Arc::new(MemoryKeyStore::default()) as Arc<dyn KeyStore>;
    let alice_keys = Arc::new(MemoryKeyStore::default()) as Arc<dyn KeyStore>;
    let alice = net.open("alice", Arc::clone(&alice_keys), |_| {}).await;
    let bob = Crashable::start(&net, "bob", &bob_keys, work_skill).await;
    let bob_inbox = bob.agent.inbox_id().to_owned();
    bob.agent.set_tier(alice.inbox_id(), Tier::Known).await.unwrap();
    let serving = alice.serve().await.unwrap();

    // 1. The provider crashes while the task runs. After its restart the task is answered as
    // CANCELLED (it may have had effects: it is never run again); a new call succeeds.
    let interrupted = alice.call_async(&bob_inbox, "work", json!({"n": 1})).await.unwrap();
    eventually("the task to start", || async { WORK_RUNS.load(Ordering::SeqCst) == 1 }).await;
    bob.crash();
    let bob = Crashable::start(&net, "bob", &bob_keys, work_skill).await;
    eventually("the interrupted call to settle", || async {
        alice.call_result(&interrupted).await.unwrap().is_some()
    })
    .await;
    match alice.call_result(&interrupted).await.unwrap() {
        Some(Err(CallError::Failed { code, .. })) => assert_eq!(code, FailureCode::Cancelled),
        other => panic!("{other:?}"),
    }
    assert_eq!(WORK_RUNS.load(Ordering::SeqCst), 1, "never run twice");
    let again = alice.call(&bob_inbox, "work", json!({"n": 2}), CallOptions::default()).await;
    assert_eq!(again.unwrap().output, json!({"n": 2}));

    // 2. The caller stops while its asynchronous call runs; the answer arrives while it is
    // down and is settled after it starts again.
    WORK_RUNS.store(0, Ordering::SeqCst);
    let pending = alice.call_async(&bob_inbox, "work", json!({"n": 3})).await.unwrap();
    eventually("the task to start", || async { WORK_RUNS.load(Ordering::SeqCst) == 1 }).await;
    serving.stop().await;
    drop(alice);
    RELEASE.notify_one();
    eventually("bob to finish", || async {
        bob.agent.receipts().await.unwrap().iter().any(|r| r.receipt.task_id == pending)
    })
    .await;
    let alice = net.open("alice", alice_keys, |_| {}).await;
    assert_eq!(alice.call_result(&pending).await.unwrap(), None, "still pending while down");
    let _serving = alice.serve().await.unwrap();
    eventually("the answer to be settled", || async {
        alice.call_result(&pending).await.unwrap().is_some()
    })
    .await;
    assert_eq!(alice.call_result(&pending).await.unwrap(), Some(Ok(json!({"n": 3}))));
    assert_eq!(WORK_RUNS.load(Ordering::SeqCst), 1);
    bob.crash();
}

/// A stand-in for services we do not own (an HTTP skill backend, an LLM API): answers each
/// HTTP/1.1 POST with `respond(path, body)` → (status, JSON body).
async fn http_service(respond: fn(&str, &Value) -> (u16, Value)) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let (head_len, body_len) = loop {
                    let n = socket.read(&mut chunk).await.unwrap();
                    assert!(n > 0, "client hung up");
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
                        let length = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .map_or(0, |v| v.trim().parse::<usize>().unwrap());
                        break (end + 4, length);
                    }
                };
                while buf.len() < head_len + body_len {
                    let n = socket.read(&mut chunk).await.unwrap();
                    buf.extend_from_slice(&chunk[..n]);
                }
                let head = String::from_utf8_lossy(&buf[..head_len]).to_string();
                let path = head.split(' ').nth(1).unwrap_or_default().to_owned();
                let body: Value = serde_json::from_slice(&buf[head_len..]).unwrap();
                let (status, answer) = respond(&path, &body);
                let answer = answer.to_string();
                let reply = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
                    answer.len()
                );
                socket.write_all(reply.as_bytes()).await.unwrap();
            });
        }
    });
    url
}

#[tokio::test]
async fn http_endpoints_are_skills_and_an_llm_can_plan() {
    let net = Net::start().await;
    let backend = http_service(|path, body| match path {
        "/translate" => {
            (200, json!({"translated": format!("¡{}!", body["text"].as_str().unwrap())}))
        }
        _ => (500, json!({"error": "Traceback: /srv/app/secret.py"})),
    })
    .await;
    // The LLM proposes a one-step plan the keyword planner would never make.
    let llm = http_service(|path, body| {
        assert_eq!(path, "/v1/chat/completions");
        assert_eq!(body["model"], "planner-model");
        let plan = json!({"key_results": [{"description": "a summary", "steps": ["s1"]}],
            "steps": [{"agent": "B", "skill": "summarize",
                       "input": {"text": {"from": "value", "value": "twelve chars"}}}]});
        (200, json!({"choices": [{"message": {"role": "assistant", "content": plan.to_string()}}]}))
    })
    .await;

    let bob = net.agent("bob").await;
    let planner = Arc::new(coworker_runtime::LlmPlanner::new(format!("{llm}/v1"), "planner-model"));
    let alice = net.agent_with("alice", |c| c.planner = planner).await;

    let http =
        |path: &str| Handler::Http(coworker_runtime::HttpEndpoint::new(format!("{backend}{path}")));
    let io = (json!({"text": "str"}), json!({"translated": "str"}));
    bob.register(
        spec("translate", "", io.0.clone(), io.1.clone(), Tier::Known),
        http("/translate"),
        true,
    )
    .unwrap();
    bob.register(spec("broken", "", io.0, io.1, Tier::Known), http("/broken"), true).unwrap();
    summarizer(&bob);
    bob.set_tier(alice.inbox_id(), Tier::Known).await.unwrap();
    let _a = alice.serve().await.unwrap();
    let _b = bob.serve().await.unwrap();

    let done = alice
        .call(bob.inbox_id(), "translate", json!({"text": "hola"}), CallOptions::default())
        .await
        .unwrap();
    assert_eq!(done.output, json!({"translated": "¡hola!"}));
    let err = alice
        .call(bob.inbox_id(), "broken", json!({"text": "x"}), CallOptions::default())
        .await
        .unwrap_err();
    let RuntimeError::Call(CallError::Failed { code, message, .. }) = err else {
        panic!("{err:?}")
    };
    assert_eq!((code, message.as_str()), (FailureCode::SkillFailed, "the skill failed"));

    let okr = alice.collaborate(bob.inbox_id(), "summarize the notes").await.unwrap();
    let steps: Vec<&str> = okr.steps.iter().map(|s| s.skill.as_str()).collect();
    assert_eq!(steps, ["summarize"], "the LLM's plan ran");
    assert_eq!(okr.steps[0].output, Some(json!({"summary": "12"})));
    assert_eq!(okr.status, OkrStatus::Completed);
}

#[tokio::test]
async fn replayed_requests_and_answers_change_nothing() {
    let net = Net::start().await;
    let alice = net.agent("alice").await;
    let bob_keys = Arc::new(MemoryKeyStore::default()) as Arc<dyn KeyStore>;
    let bob = net.open("bob", Arc::clone(&bob_keys), |_| {}).await;
    let runs = Arc::new(AtomicUsize::new(0));
    provide(&bob, &runs);
    bob.set_tier(alice.inbox_id(), Tier::Known).await.unwrap();
    let _a = alice.serve().await.unwrap();
    let bob_serving = bob.serve().await.unwrap();
    alice
        .call(bob.inbox_id(), "translate", json!({"text": "once"}), CallOptions::default())
        .await
        .unwrap();
    assert_eq!(runs.load(Ordering::SeqCst), 1);

    // Both sides send their earlier messages again, byte for byte.
    let dm = alice.client().dm(bob.inbox_id()).await.unwrap();
    let sent_by = |agent: &Agent, kind: &str| {
        let (agent, kind, dm) = (agent.clone(), format!("\"type\":\"{kind}\""), dm.clone());
        async move {
            let messages = agent.client().messages(&dm, 0, 1000).await.unwrap();
            messages
                .into_iter()
                .filter(|m| m.sender_inbox_id == agent.inbox_id())
                .filter_map(|m| m.text())
                .find(|t| t.contains(&kind))
                .unwrap()
        }
    };
    let request = sent_by(&alice, "task_request").await;
    let answer = sent_by(&bob, "task_response").await;
    alice.client().send_text(&dm, &request).await.unwrap();
    alice.client().send_text(&dm, &request).await.unwrap();
    bob.client().send_text(&dm, &answer).await.unwrap();
    // Bob answers each replayed request from his record (unsolicited for alice, like his own
    // replayed answer): three refusals on alice's side, no new run, no new receipt.
    eventually("alice to refuse the replayed answers", || async {
        let log = alice.audit_log(50).await.unwrap();
        log.iter().filter(|e| e.decision.rule == "unsolicited_answer").count() == 3
    })
    .await;
    assert_eq!(runs.load(Ordering::SeqCst), 1, "a replayed request never runs again");
    assert_eq!(alice.receipts().await.unwrap().len(), 1);

    // Bob loses his runtime state but keeps his XMTP history: old requests are history, not
    // new work.
    bob_serving.stop().await;
    drop(bob);
    std::fs::remove_file(net.dir().join("bob.agent.db")).unwrap();
    let bob = net.open("bob", bob_keys, |_| {}).await;
    provide(&bob, &runs);
    bob.set_tier(alice.inbox_id(), Tier::Known).await.unwrap();
    let _b = bob.serve().await.unwrap();
    let fresh = alice
        .call(bob.inbox_id(), "translate", json!({"text": "new"}), CallOptions::default())
        .await
        .unwrap();
    assert_eq!(fresh.output, json!({"translated": "NEW"}));
    assert_eq!(runs.load(Ordering::SeqCst), 2, "only the new request ran");
}

static SUMMARIES: AtomicUsize = AtomicUsize::new(0);
static SUMMARY_GATE: tokio::sync::Notify = tokio::sync::Notify::const_new();

/// `summarize` (tier 1, exposed): the length of its text.
fn summarizer(agent: &Agent) {
    agent
        .register(
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
}

fn searcher(agent: &Agent) {
    agent
        .register(
            spec("search", "search sources for a topic", json!({"query": "str"}), json!({"text": "str"}), Tier::Known),
            Handler::function(|input: Value, _| async move {
                Ok(json!({"text": format!("facts about {}", input["query"].as_str().unwrap_or(""))}))
            }),
            true,
        )
        .unwrap();
}

#[tokio::test]
async fn an_okr_resumes_after_its_initiator_restarts() {
    let net = Net::start().await;
    let alice_keys = Arc::new(MemoryKeyStore::default()) as Arc<dyn KeyStore>;
    let alice = Crashable::start(&net, "alice", &alice_keys, searcher).await;
    let bob = net.agent("bob").await;
    bob.register(
        spec(
            "summarize",
            "summarize text",
            json!({"text": "str"}),
            json!({"summary": "str"}),
            Tier::Known,
        ),
        Handler::function(|input: Value, _| async move {
            if SUMMARIES.fetch_add(1, Ordering::SeqCst) == 0 {
                SUMMARY_GATE.notified().await;
            }
            Ok(json!({"summary": input["text"].as_str().unwrap_or("").len().to_string()}))
        }),
        true,
    )
    .unwrap();
    let alice_inbox = alice.agent.inbox_id().to_owned();
    bob.set_tier(&alice_inbox, Tier::Privileged).await.unwrap();
    alice.agent.set_tier(bob.inbox_id(), Tier::Privileged).await.unwrap();
    let _b = bob.serve().await.unwrap();

    // Alice starts the OKR and dies while bob's step runs.
    let collaborating = alice.agent.clone();
    let bob_inbox = bob.inbox_id().to_owned();
    alice.runtime.spawn(async move {
        let _ = collaborating.collaborate(&bob_inbox, "search rust and summarize it").await;
    });
    eventually("bob's step to start", || async { SUMMARIES.load(Ordering::SeqCst) == 1 }).await;
    alice.crash();

    // Restarted, she asks again for the running step (same task id) and finishes the OKR.
    let alice = net.open("alice", alice_keys, |_| {}).await;
    searcher(&alice);
    let _a = alice.serve().await.unwrap();
    SUMMARY_GATE.notify_one();
    eventually("the OKR to complete", || async {
        alice.okrs().await.unwrap().first().is_some_and(|o| o.status == OkrStatus::Completed)
    })
    .await;
    let okr = alice.okrs().await.unwrap().remove(0);
    let searched = "facts about search rust and summarize it".len().to_string();
    assert_eq!(okr.steps[1].output, Some(json!({"summary": searched})));
    assert_eq!(SUMMARIES.load(Ordering::SeqCst), 1, "the interrupted step ran once");
    assert_eq!(
        alice.tier(bob.inbox_id()).await.unwrap(),
        Tier::Internal,
        "completion stepped down"
    );
}

/// An invite says which network its agent is on: accepting it from another network is a
/// clear error that says what to do (it used to look like an unknown peer), and remembers no
/// peer. The code cannot be moved to another network (see the protocol's invite tests).
#[tokio::test]
async fn an_invite_from_another_network_is_a_clear_error() {
    let (here, there) = (Net::start().await, Net::start().await);
    let alice = here.agent("alice").await;
    let bob = there.agent("bob").await;
    let code = bob.invite(None).unwrap();
    let refused = alice.add_peer(&code).await.unwrap_err();
    assert_eq!(refused.code(), "runtime.wrong_network");
    let text = refused.to_string();
    assert!(text.contains(there.url()) && text.contains(here.url()), "{text}");
    assert!(text.contains("switch"), "says what to do: {text}");
    assert!(alice.peers().await.unwrap().is_empty(), "no peer remembered");
    // On the same network the same kind of code works.
    let carol = here.agent("carol").await;
    assert!(alice.add_peer(&carol.invite(None).unwrap()).await.is_ok());
}

/// Two agents calling each other while their node's d14n cutover passes: before it their
/// clients speak V3, after it d14n (the node refuses V3 writes). Every call ends once with its
/// result and the skill runs once per call.
#[tokio::test]
async fn calls_keep_working_across_the_d14n_cutover() {
    let cutover = Duration::from_secs(3);
    let at = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap() + cutover;
    let net =
        Net::start_with(|c| c.d14n_cutover_ns = Some(u64::try_from(at.as_nanos()).unwrap())).await;
    let started = std::time::Instant::now();
    let (alice, bob) = (net.agent("alice").await, net.agent("bob").await);
    let runs = Arc::new(AtomicUsize::new(0));
    provide(&bob, &runs);
    let _serving = bob.serve().await.unwrap();
    let _alice_serving = alice.serve().await.unwrap();
    bob.set_tier(alice.inbox_id(), Tier::Known).await.unwrap();
    alice.connect(&bob.invite(None).unwrap()).await.unwrap();
    let mut calls = 0;
    while started.elapsed() < cutover + Duration::from_secs(2) {
        let called = alice
            .call(
                bob.inbox_id(),
                "translate",
                json!({"text": format!("n{calls}")}),
                CallOptions::default(),
            )
            .await
            .unwrap_or_else(|e| panic!("call {calls} failed at {:?}: {e}", started.elapsed()));
        assert!(called.output.is_object());
        calls += 1;
    }
    assert!(calls > 5, "calls on both sides of the cutover");
    assert_eq!(runs.load(Ordering::SeqCst), calls, "each call ran once");
    assert_eq!(alice.receipts().await.unwrap().len(), calls);
}
