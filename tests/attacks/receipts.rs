//! Item 10: a provider's receipt must attest the answer the caller got (outcome, output,
//! units), and receipt text a provider chose cannot become a spreadsheet formula on export.

use coworker_attacks::{Net, first_received_anywhere, send_in};
use coworker_runtime::protocol::envelope::kind;
use coworker_runtime::protocol::receipt::{Receipt, digest};
use coworker_runtime::{CallError, CallOptions, RuntimeError};
use serde_json::{Value, json};

/// Mallory answers alice's call by hand: `result` as the output, with a receipt she signs
/// over `attested` output, `units` and `id`.
async fn answer_by_hand(units: u64, attested: Value, id: &str) -> Result<(), RuntimeError> {
    let net = Net::start().await;
    let alice = net.member("alice").await;
    let mallory = net.member("mallory").await;
    let _serving = alice.serve().await.unwrap();
    let call = tokio::spawn({
        let (alice, m) = (alice.agent.clone(), mallory.inbox_id().to_owned());
        async move { alice.call(&m, "quote", json!({"item": "gpu"}), CallOptions::default()).await }
    });
    let (dm, request) = first_received_anywhere(&mallory, kind::TASK_REQUEST).await;
    let task_id = request.payload["task_id"].as_str().unwrap().to_owned();
    let client = mallory.client();
    let receipt = Receipt {
        id: id.into(),
        task_id: task_id.clone(),
        caller: alice.inbox_id().into(),
        provider: mallory.inbox_id().into(),
        skill: "quote".into(),
        input_sha256: digest(&json!({"item": "gpu"})),
        output_sha256: digest(&attested),
        started: 1,
        duration_ms: 1,
        status: "completed".into(),
        units,
    }
    .sign(client.installation_id(), |bytes| client.sign(bytes));
    let answer = json!({"success": true, "result": {"price": 1}, "task_id": task_id,
        "duration_ms": 1, "receipt": receipt});
    send_in(&mallory, &dm, kind::TASK_RESPONSE, answer, request.correlation_id.as_deref()).await;
    let outcome = call.await.unwrap().map(|_| ());
    if outcome.is_ok() {
        let csv = alice.receipts_csv().await.unwrap();
        for cell in csv.lines().skip(1).flat_map(|l| l.split(',')) {
            let cell = cell.trim_start_matches('"');
            assert!(!cell.starts_with(['=', '+', '-', '@']), "a formula cell: {csv}");
        }
        assert!(csv.contains("'=HYPERLINK"), "{csv}");
    }
    outcome
}

fn bad_answer(outcome: Result<(), RuntimeError>) -> String {
    match outcome {
        Err(RuntimeError::Call(CallError::BadAnswer(why))) => why,
        other => panic!("expected the answer refused, got {other:?}"),
    }
}

#[tokio::test]
async fn a_receipt_for_another_output_is_refused() {
    let why = bad_answer(answer_by_hand(1, json!({"price": 100}), "r1").await);
    assert!(why.contains("output digest"), "{why}");
}

#[tokio::test]
async fn a_receipt_billing_more_units_is_refused() {
    let why = bad_answer(answer_by_hand(1000, json!({"price": 1}), "r2").await);
    assert!(why.contains("units"), "{why}");
}

#[tokio::test]
async fn receipt_text_never_becomes_a_formula_in_the_csv() {
    answer_by_hand(1, json!({"price": 1}), "=HYPERLINK(\"http://evil.example\",\"ok\")")
        .await
        .unwrap();
}
