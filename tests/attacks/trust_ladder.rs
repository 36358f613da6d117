//! Item 5: the trust ladder only goes down by itself. Every ended OKR steps its peer down (not
//! only a completed one), the provider does it without waiting for the initiator's word, a
//! demoted or denied peer is not re-granted by the auto-grant ceiling, a blocked peer is
//! refused everything, and an agent file's preset tiers apply once.

use std::time::Duration;

use coworker_attacks::{Net, counted_skill, eventually, received, send};
use coworker_runtime::protocol::envelope::kind;
use coworker_runtime::protocol::okr::OkrStatus;
use coworker_runtime::protocol::receipt::digest;
use coworker_runtime::protocol::trust::Tier;
use coworker_runtime::{Handler, SkillFailure};
use serde_json::{Value, json};

/// The task id an initiator uses for an OKR step (as the runtime derives it).
fn step_task_id(okr: &str, step: &str) -> String {
    let hash = hex_bytes(&digest(&json!(["okr-step", okr, step])));
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&hash[..16]);
    coworker_runtime::agent::format_uuid(bytes)
}

fn hex_bytes(hex: &str) -> Vec<u8> {
    (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect()
}

fn one_step_plan(id: &str, initiator: &str, peer: &str) -> Value {
    json!({"goal": "echo", "okr": {
        "id": id, "objective": "echo it", "initiator": initiator, "peer": peer,
        "key_results": [], "status": "proposed", "created_ms": 1,
        "steps": [{"id": "s1", "agent": peer, "skill": "echo", "input": {"text": {"from": "goal"}},
                   "depends_on": [], "status": "pending"}]}})
}

#[tokio::test]
async fn a_failed_okr_steps_the_peer_down_on_both_sides() {
    let net = Net::start().await;
    let (alice, bob) = (net.member("alice").await, net.member("bob").await);
    bob.register(
        coworker_attacks::spec("echo", json!({"text": "str"}), json!({"text": "str"}), Tier::Known),
        Handler::function(|_: Value, _| async { Err(SkillFailure::new("out of order")) }),
        true,
    )
    .unwrap();
    alice.set_tier(bob.inbox_id(), Tier::Privileged).await.unwrap();
    bob.set_tier(alice.inbox_id(), Tier::Privileged).await.unwrap();
    let _a = alice.serve().await.unwrap();
    let _b = bob.serve().await.unwrap();

    let okr = alice.collaborate(bob.inbox_id(), "echo the notes").await.unwrap();
    assert_eq!(okr.status, OkrStatus::Failed);
    assert_eq!(alice.tier(bob.inbox_id()).await.unwrap(), Tier::Internal);
    eventually("bob steps alice down", || async {
        bob.tier(alice.inbox_id()).await.unwrap() == Tier::Internal
    })
    .await;
}

#[tokio::test]
async fn the_provider_steps_down_an_initiator_that_never_reports() {
    let net = Net::start().await;
    let bob = net.member("bob").await;
    let mallory = net.member("mallory").await;
    counted_skill(&bob, "echo", Tier::Known, true);
    bob.set_tier(mallory.inbox_id(), Tier::Privileged).await.unwrap();
    let _b = bob.serve().await.unwrap();
    let (b, m) = (bob.inbox_id().to_owned(), mallory.inbox_id().to_owned());

    // Mallory's plan has one step on bob; bob accepts; mallory calls the step and then says
    // nothing more (no okr_update, ever).
    let okr = "7c0e5a4e-0000-4000-8000-00000000d001";
    let dm = send(&mallory, &b, kind::PLAN_PROPOSE, one_step_plan(okr, &m, &b), Some("p")).await;
    eventually("accepted", || async {
        received(&mallory, &dm).await.iter().any(|e| e.kind == kind::PLAN_ACCEPT)
    })
    .await;
    let call = json!({"skill": "echo", "input": {"text": "x"}, "task_id": step_task_id(okr, "s1")});
    send(&mallory, &b, kind::TASK_REQUEST, call, Some("t")).await;
    eventually("bob steps mallory down once its own step is served", || async {
        bob.tier(&m).await.unwrap() == Tier::Internal
    })
    .await;
}

#[tokio::test]
async fn an_accepted_okr_that_goes_quiet_expires_and_steps_down() {
    let net = Net::start().await;
    let bob = net.member_with("bob", |c| c.okr_expiry = Duration::from_millis(800)).await;
    let mallory = net.member("mallory").await;
    counted_skill(&bob, "echo", Tier::Known, true);
    bob.set_tier(mallory.inbox_id(), Tier::Privileged).await.unwrap();
    let _b = bob.serve().await.unwrap();
    let (b, m) = (bob.inbox_id().to_owned(), mallory.inbox_id().to_owned());
    let okr = "7c0e5a4e-0000-4000-8000-00000000d002";
    let dm = send(&mallory, &b, kind::PLAN_PROPOSE, one_step_plan(okr, &m, &b), Some("p")).await;
    eventually("accepted", || async {
        received(&mallory, &dm).await.iter().any(|e| e.kind == kind::PLAN_ACCEPT)
    })
    .await;
    eventually("the quiet OKR expires", || async { bob.tier(&m).await.unwrap() == Tier::Internal })
        .await;
    assert_eq!(bob.okrs().await.unwrap()[0].status, OkrStatus::Failed);
}

#[tokio::test]
async fn the_auto_grant_ceiling_never_overrides_the_owner() {
    let net = Net::start().await;
    let bob = net.member_with("bob", |c| c.auto_grant_ceiling = Some(Tier::Internal)).await;
    let (mallory, carol) = (net.member("mallory").await, net.member("carol").await);
    let _b = bob.serve().await.unwrap();
    let (_m, _c) = (mallory.serve().await.unwrap(), carol.serve().await.unwrap());
    let (b, m, c) = (bob.inbox_id(), mallory.inbox_id(), carol.inbox_id());
    let wait = Duration::from_secs(5);

    // Granted by policy, then demoted by the owner: asking again needs the owner.
    let granted = mallory.request_trust(b, Tier::Known, "hi", wait).await.unwrap();
    assert!(granted.granted, "{granted:?}");
    bob.set_tier(m, Tier::Untrusted).await.unwrap();
    let again = mallory.request_trust(b, Tier::Known, "hi again", Duration::from_millis(800)).await;
    assert!(again.is_err(), "no automatic answer: {again:?}");
    assert_eq!(bob.tier(m).await.unwrap(), Tier::Untrusted);
    assert_eq!(bob.trust_requests(true).await.unwrap().len(), 1, "the owner decides");

    // Denied by the owner: the ceiling does not grant the same peer anything above.
    let asked =
        carol.request_trust(b, Tier::Privileged, "all of it", Duration::from_millis(500)).await;
    assert!(asked.is_err(), "privileged always waits for the owner");
    eventually("carol's request waits for the owner", || async {
        bob.trust_requests(true).await.unwrap().iter().any(|r| r.peer == c)
    })
    .await;
    let pending = bob.trust_requests(true).await.unwrap();
    let carols = pending.iter().find(|r| r.peer == c).unwrap();
    bob.decide_trust_request(carols.id, false).await.unwrap();
    let lower = carol.request_trust(b, Tier::Known, "just a bit", Duration::from_millis(800)).await;
    assert!(lower.is_err(), "no automatic grant after a denial: {lower:?}");
    assert_eq!(bob.tier(c).await.unwrap(), Tier::Untrusted);
}

#[tokio::test]
async fn a_blocked_peer_is_refused_everything_silently() {
    let net = Net::start().await;
    let bob = net.member_with("bob", |c| c.auto_grant_ceiling = Some(Tier::Known)).await;
    let mallory = net.member("mallory").await;
    let _b = bob.serve().await.unwrap();
    let _m = mallory.serve().await.unwrap();
    let (b, m) = (bob.inbox_id(), mallory.inbox_id());
    bob.set_tier(m, Tier::Internal).await.unwrap();
    bob.block(m).await.unwrap();
    assert_eq!(bob.tier(m).await.unwrap(), Tier::Untrusted);

    assert!(mallory.ping(b).await.is_err(), "not even a pong");
    let asked = mallory.request_trust(b, Tier::Known, "please", Duration::from_millis(800)).await;
    assert!(asked.is_err());
    assert!(bob.trust_requests(false).await.unwrap().is_empty(), "never reaches the owner");
    assert!(bob.peer(m).await.unwrap().blocked);

    bob.unblock(m).await.unwrap();
    assert_eq!(bob.tier(m).await.unwrap(), Tier::Untrusted, "unblocking grants nothing");
    mallory.ping(b).await.unwrap();
    let asked = mallory.request_trust(b, Tier::Known, "please", Duration::from_millis(800)).await;
    assert!(asked.is_err(), "the block is remembered against the auto-grant ceiling");
}

#[tokio::test]
async fn an_agent_files_preset_tier_applies_once() {
    let net = Net::start().await;
    let bob = net.member("bob").await;
    let m = net.member("mallory").await.inbox_id().to_owned();
    assert!(bob.seed_tier(&m, Tier::Internal).await.unwrap());
    // A completed OKR (or the owner) lowers the tier; the next start seeds the same file.
    bob.set_tier(&m, Tier::Known).await.unwrap();
    assert!(!bob.seed_tier(&m, Tier::Internal).await.unwrap());
    assert_eq!(bob.tier(&m).await.unwrap(), Tier::Known, "the step-down is not undone");
    // A file that changes its preset applies the new one, once.
    assert!(bob.seed_tier(&m, Tier::Privileged).await.unwrap());
    assert_eq!(bob.tier(&m).await.unwrap(), Tier::Privileged);
}
