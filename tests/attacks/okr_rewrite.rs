//! Item 1: a peer rewrites an OKR it proposed so that *we* become its initiator with a step on
//! our PRIVILEGED skill; on restart we would resume "our" OKR and mail the output to it.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use coworker_attacks::{Net, counted_skill, eventually, received, send};
use coworker_runtime::protocol::envelope::kind;
use coworker_runtime::protocol::okr::{OkrStatus, StepStatus};
use coworker_runtime::protocol::trust::Tier;
use coworker_runtime::{Handler, SkillFailure};
use serde_json::{Value, json};

fn plan(id: &str, initiator: &str, peer: &str, agent: &str, skill: &str, input: Value) -> Value {
    json!({
        "id": id, "objective": "echo the launch notes", "initiator": initiator, "peer": peer,
        "key_results": [{"id": "kr1", "description": "done", "steps": ["s1"]}],
        "steps": [{"id": "s1", "agent": agent, "skill": skill, "input": input,
                   "depends_on": [], "status": "pending"}],
        "status": "running", "created_ms": 1,
    })
}

#[tokio::test]
async fn a_peer_cannot_rewrite_an_okr_into_ours_and_have_us_run_a_privileged_skill() {
    let net = Net::start().await;
    let bob = net.member("bob").await;
    let mallory = net.member("mallory").await;
    counted_skill(&bob, "echo", Tier::Known, true);
    let payroll = counted_skill(&bob, "payroll", Tier::Privileged, true);
    bob.set_tier(mallory.inbox_id(), Tier::Known).await.unwrap();
    let serving = bob.serve().await.unwrap();

    // A harmless plan: one step on bob's KNOWN skill. Bob accepts it.
    let (b, m) = (bob.inbox_id().to_owned(), mallory.inbox_id().to_owned());
    let okr_id = "7c0e5a4e-0000-4000-8000-00000000a001";
    let harmless = plan(okr_id, &m, &b, &b, "echo", json!({"text": {"from": "goal"}}));
    let dm = send(
        &mallory,
        &b,
        kind::PLAN_PROPOSE,
        json!({"goal": "echo", "okr": harmless}),
        Some("c1"),
    )
    .await;
    eventually("bob accepts the plan", || async {
        received(&mallory, &dm).await.iter().any(|e| e.kind == kind::PLAN_ACCEPT)
    })
    .await;

    // The rewrite: bob as initiator, mallory as peer, a step on bob's PRIVILEGED skill with
    // mallory's input.
    let mut evil =
        plan(okr_id, &b, &m, &b, "payroll", json!({"text": {"from": "value", "value": "all"}}));
    evil["status"] = json!("running");
    send(&mallory, &b, kind::OKR_UPDATE, json!({"okr": evil}), None).await;
    eventually("bob refuses the update", || async {
        bob.peer_audit_log(&m, 50)
            .await
            .unwrap()
            .iter()
            .any(|e| e.decision.rule == "okr_update_refused")
    })
    .await;

    // Bob restarts: nothing of the rewrite is resumed.
    serving.stop().await;
    let (name, keys) = (bob.name.clone(), Arc::clone(&bob.keys));
    drop(bob);
    let bob = net.reopen(&name, &keys, |_| {}).await;
    let payroll_again = counted_skill(&bob, "payroll", Tier::Privileged, true);
    counted_skill(&bob, "echo", Tier::Known, true);
    let _serving = bob.serve().await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;

    assert_eq!(payroll.load(Ordering::SeqCst) + payroll_again.load(Ordering::SeqCst), 0);
    let stored = bob.okrs().await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(
        (stored[0].initiator.as_str(), stored[0].steps[0].skill.as_str()),
        (m.as_str(), "echo")
    );
    let leaked = received(&mallory, &dm).await.into_iter().any(|e| {
        e.kind == kind::OKR_UPDATE
            && serde_json::Value::Object(e.payload).to_string().contains("payroll:")
    });
    assert!(!leaked, "no payroll output reached mallory");
}

#[tokio::test]
async fn a_resumed_okr_runs_our_steps_only_if_the_peer_may_still_call_them() {
    let net = Net::start().await;
    let bob = net.member("bob").await;
    let carol = net.member("carol").await;
    // Carol's `fetch` blocks until released; bob's `report` consumes its output.
    let release = Arc::new(tokio::sync::Semaphore::new(0));
    let entered = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (gate, enter) = (Arc::clone(&release), Arc::clone(&entered));
    carol
        .register(
            coworker_attacks::spec(
                "fetch",
                json!({"text": "str"}),
                json!({"text": "str"}),
                Tier::Known,
            ),
            Handler::function(move |_: Value, _| {
                let gate = Arc::clone(&gate);
                enter.fetch_add(1, Ordering::SeqCst);
                async move {
                    let _permit = gate.acquire().await.map_err(|_| SkillFailure::new("closed"))?;
                    Ok(json!({"text": "figures"}))
                }
            }),
            true,
        )
        .unwrap();
    let report = counted_skill(&bob, "report", Tier::Known, true);
    bob.set_tier(carol.inbox_id(), Tier::Known).await.unwrap();
    carol.set_tier(bob.inbox_id(), Tier::Known).await.unwrap();
    let _carol = carol.serve().await.unwrap();
    let serving = bob.serve().await.unwrap();

    let (b, c) = (bob.inbox_id().to_owned(), carol.inbox_id().to_owned());
    let mut okr: coworker_runtime::protocol::Okr = serde_json::from_value(plan(
        "7c0e5a4e-0000-4000-8000-00000000a002",
        &b,
        &c,
        &c,
        "fetch",
        json!({"text": {"from": "goal"}}),
    ))
    .unwrap();
    okr.status = OkrStatus::Proposed;
    let mut second = okr.steps[0].clone();
    second.id = "s2".into();
    second.agent = b.clone();
    second.skill = "report".into();
    second.depends_on = vec!["s1".into()];
    second.input = [(
        "text".to_owned(),
        serde_json::from_value(json!({"from": "step", "step": "s1", "field": "text"})).unwrap(),
    )]
    .into();
    okr.steps.push(second);
    let running = tokio::spawn({
        let bob = bob.agent.clone();
        async move { bob.start_okr(okr).await }
    });
    eventually("carol runs the remote step", || async { entered.load(Ordering::SeqCst) > 0 }).await;
    assert!(!running.is_finished());

    // Bob's process dies mid-step; while it is down its owner drops carol to UNTRUSTED.
    running.abort();
    serving.stop().await;
    let (name, keys) = (bob.name.clone(), Arc::clone(&bob.keys));
    drop(bob);
    let bob = net.reopen(&name, &keys, |_| {}).await;
    let report_again = counted_skill(&bob, "report", Tier::Known, true);
    bob.set_tier(&c, Tier::Untrusted).await.unwrap();
    let _serving = bob.serve().await.unwrap();
    release.add_permits(10);

    eventually("the resumed OKR ends", || async {
        bob.okrs().await.unwrap().first().is_some_and(|o| o.is_terminal())
    })
    .await;
    let okr = bob.okrs().await.unwrap().remove(0);
    assert_eq!(okr.status, OkrStatus::Failed, "{okr:#?}");
    assert_eq!(okr.steps[0].status, StepStatus::Done, "the remote step was asked again: {okr:#?}");
    assert_eq!(okr.steps[1].status, StepStatus::Failed);
    assert_eq!(okr.steps[1].error.as_deref(), Some("Unknown skill: report"));
    assert_eq!(report.load(Ordering::SeqCst) + report_again.load(Ordering::SeqCst), 0);
}
