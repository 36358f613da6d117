//! Item 4: in a group every member reads every message. Tier-dependent answers (the skills an
//! INTERNAL member may see, the output of a tier-gated skill) must not reach the others, and
//! hidden skills stay indistinguishable from absent ones.

use coworker_attacks::{Net, counted_skill, first_received, send_in, texts};
use coworker_runtime::protocol::envelope::kind;
use coworker_runtime::protocol::trust::Tier;
use coworker_runtime::{CallError, CallOptions, RuntimeError};
use serde_json::json;
use xmtp_client::ConversationId;

#[tokio::test]
async fn tier_dependent_answers_never_reach_the_whole_group() {
    let net = Net::start().await;
    let (alice, bob, carol) =
        (net.member("alice").await, net.member("bob").await, net.member("carol").await);
    counted_skill(&bob, "echo", Tier::Known, true);
    counted_skill(&bob, "ledger", Tier::Internal, true);
    counted_skill(&bob, "vault", Tier::Internal, false);
    // Bob trusts alice (INTERNAL); carol, a person in the group, not at all.
    bob.set_tier(alice.inbox_id(), Tier::Internal).await.unwrap();
    let _a = alice.serve().await.unwrap();
    let _b = bob.serve().await.unwrap();
    let members = [bob.inbox_id().to_owned(), carol.inbox_id().to_owned()];
    let group = alice.create_group("ops", &members).await.unwrap();
    let id: ConversationId = group.id.parse().unwrap();

    // Alice asks the group what bob offers: the answer, read by everyone, shows only what
    // every member may see.
    send_in(&alice, &id, kind::GROUP_DISCOVER, json!({"name": "alice"}), Some("d1")).await;
    let shown = first_received(&carol, &id, kind::GROUP_CAPABILITIES).await;
    assert_eq!(shown.payload["skills"], json!([]), "carol sees no skill card: {shown:?}");

    // Alice's call of the INTERNAL skill succeeds; its output is never posted to the group.
    let secret = json!({"text": "q3 numbers"});
    let out = alice
        .group_call(&group.id, bob.inbox_id(), "ledger", secret, CallOptions::default())
        .await
        .unwrap();
    assert_eq!(out.output, json!({"text": "ledger:q3 numbers"}));
    let leaked = texts(&carol, &id).await.into_iter().any(|t| t.contains("ledger:"));
    assert!(!leaked, "carol never read the ledger's output");

    // Hidden and absent look the same, in the group too.
    let refusal = |e: RuntimeError| match e {
        RuntimeError::Call(CallError::Failed { message, .. }) => message,
        other => panic!("{other:?}"),
    };
    let hidden = alice
        .group_call(
            &group.id,
            bob.inbox_id(),
            "vault",
            json!({"text": "x"}),
            CallOptions::default(),
        )
        .await
        .unwrap_err();
    let absent = alice
        .group_call(
            &group.id,
            bob.inbox_id(),
            "vaulT",
            json!({"text": "x"}),
            CallOptions::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(refusal(hidden).replace("vault", "X"), refusal(absent).replace("vaulT", "X"));
}
