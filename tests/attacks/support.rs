//! What the attack tests share: the test kit's real node and agents (reopened to simulate
//! restarts, `coworker-testkit`), and an attacker that writes CoWorker envelopes by hand and
//! reads what it is sent, as any hostile peer could.

#![allow(clippy::unwrap_used, clippy::missing_panics_doc)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use coworker_runtime::protocol::SkillSpec;
use coworker_runtime::protocol::envelope::{self, Envelope, Sender};
use coworker_runtime::protocol::trust::Tier;
use coworker_runtime::{Agent, Handler};
use serde_json::{Value, json};
use xmtp_client::ConversationId;

pub use coworker_testkit::{Member as Peer, Net, eventually};

/// A skill declaration with an object input and output.
pub fn spec(name: &str, input: Value, output: Value, tier: Tier) -> SkillSpec {
    let mut spec = SkillSpec::new(name, &format!("{name} skill"));
    spec.when_to_use = format!("{name} things");
    spec.input_schema = input;
    spec.output_schema = output;
    spec.min_tier = tier;
    spec
}

/// Registers `name` (text in, text out) at `tier`, answering `{"text": "<name>:<input>"}`;
/// returns how often it ran.
pub fn counted_skill(agent: &Agent, name: &str, tier: Tier, exposed: bool) -> Arc<AtomicUsize> {
    let runs = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&runs);
    let label = name.to_owned();
    agent
        .register(
            spec(name, json!({"text": "str"}), json!({"text": "str"}), tier),
            Handler::function(move |input: Value, _| {
                let counter = Arc::clone(&counter);
                let label = label.clone();
                async move {
                    counter.fetch_add(1, Ordering::SeqCst);
                    let text = input["text"].as_str().unwrap_or_default().to_owned();
                    Ok(json!({"text": format!("{label}:{text}")}))
                }
            }),
            exposed,
        )
        .unwrap();
    runs
}

/// Sends a hand-written envelope from `from` into `conversation`.
pub async fn send_in(
    from: &Agent,
    conversation: &ConversationId,
    kind: &str,
    payload: Value,
    correlation: Option<&str>,
) {
    let sender = Sender { name: "attacker".into(), wallet: from.client().address() };
    let payload = match payload {
        Value::Object(map) => map,
        other => envelope::to_payload(&other),
    };
    let mut message = Envelope::new(kind, payload, &sender, now_ms());
    message.correlation_id = correlation.map(str::to_owned);
    from.client().send_text(conversation, &message.to_text()).await.unwrap();
}

/// Sends a hand-written envelope from `from` to `to`'s DM; returns the DM.
pub async fn send(
    from: &Agent,
    to: &str,
    kind: &str,
    payload: Value,
    correlation: Option<&str>,
) -> ConversationId {
    let dm = from.client().dm(to).await.unwrap();
    send_in(from, &dm, kind, payload, correlation).await;
    dm
}

/// Every text `reader` has received in `conversation` from others, oldest first (syncs first,
/// so a reader that does not serve sees them too).
pub async fn texts(reader: &Agent, conversation: &ConversationId) -> Vec<String> {
    reader.client().sync_all().await.unwrap();
    reader
        .client()
        .messages(conversation, 0, 10_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m.sender_inbox_id != reader.inbox_id())
        .filter_map(|m| m.text())
        .collect()
}

/// Every envelope `reader` has received in `conversation` from others, oldest first.
pub async fn received(reader: &Agent, conversation: &ConversationId) -> Vec<Envelope> {
    texts(reader, conversation)
        .await
        .iter()
        .filter_map(|t| Envelope::parse(t).ok().flatten())
        .collect()
}

/// The first envelope of `kind` that `reader` receives in `conversation` (waits up to 15 s).
pub async fn first_received(reader: &Agent, conversation: &ConversationId, kind: &str) -> Envelope {
    for _ in 0..300 {
        if let Some(found) =
            received(reader, conversation).await.into_iter().find(|e| e.kind == kind)
        {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no {kind} arrived");
}

/// The first envelope of `kind` that `reader` receives in any conversation, with the
/// conversation (waits up to 15 s). The sender may have opened a DM of its own.
pub async fn first_received_anywhere(reader: &Agent, kind: &str) -> (ConversationId, Envelope) {
    for _ in 0..300 {
        reader.client().sync_all().await.unwrap();
        for conversation in reader.client().conversations().await.unwrap() {
            if let Some(found) =
                received(reader, &conversation.id).await.into_iter().find(|e| e.kind == kind)
            {
                return (conversation.id, found);
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no {kind} arrived");
}

/// Wall-clock Unix milliseconds.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
