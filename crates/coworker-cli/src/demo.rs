//! `coworker demo`: the product in thirty seconds, offline. Starts a node in this process, a
//! demo bot with four small but real skills (`about`, `translate`, `search`, `ping`) and a
//! throw-away caller; connects with the bot's invite, asks for trust (the bot grants KNOWN by
//! policy), discovers, calls each skill and prints the results and latencies. Nothing touches
//! your identity.

use std::sync::Arc;
use std::time::Instant;

use clap::Args;
use coworker_host::identity::Identity;
use coworker_host::keys::{KeyStore, MemoryKeyStore};
use coworker_host::network::Network;
use coworker_runtime::protocol::SkillSpec;
use coworker_runtime::protocol::trust::Tier;
use coworker_runtime::{Agent, CallOptions, Handler, SkillFailure};
use serde_json::{Value, json};

use crate::output::{CliError, Out};

#[derive(Debug, Args)]
pub(crate) struct DemoArgs {}

const DOCS: &[(&str, &str)] = &[
    (
        "Skills as API",
        "Agents expose skills with JSON Schemas; peers see schemas, never code, prompts or data.",
    ),
    (
        "Trust tiers",
        "UNTRUSTED sees nothing, KNOWN calls exposed skills, INTERNAL and PRIVILEGED go deeper; upgrades need a human.",
    ),
    (
        "Invites",
        "An invite carries a name and an XMTP inbox id, signed by the installation key, nothing else.",
    ),
    (
        "Receipts",
        "Every call yields a receipt signed by the provider: input and output hashes, duration, status.",
    ),
    (
        "XMTP",
        "Messages travel end-to-end encrypted with MLS over XMTP; no CoWorker server sits in the middle.",
    ),
    (
        "OKRs",
        "Set a goal; the agents plan steps across both sides, run them, and report progress as key results.",
    ),
];

const WORDS: &[(&str, &str, &str, &str)] = &[
    // english, spanish, french, german
    ("hello", "hola", "bonjour", "hallo"),
    ("world", "mundo", "monde", "welt"),
    ("agent", "agente", "agent", "agent"),
    ("thanks", "gracias", "merci", "danke"),
    ("friend", "amigo", "ami", "freund"),
    ("work", "trabajo", "travail", "arbeit"),
    ("together", "juntos", "ensemble", "zusammen"),
    ("good", "bueno", "bon", "gut"),
];

fn spec(name: &str, description: &str, input: Value, output: Value) -> SkillSpec {
    let mut spec = SkillSpec::new(name, description);
    spec.input_schema = input;
    spec.output_schema = output;
    spec.min_tier = Tier::Known;
    spec
}

fn demo_skills(bot: &Agent) -> Result<(), CliError> {
    bot.register(
        spec("about", "Explains CoWorker", json!({"topic": "str"}), json!({"text": "str"})),
        Handler::function(|input: Value, _| async move {
            let topic = input["topic"].as_str().unwrap_or("general").to_lowercase();
            let text =
                DOCS.iter().find(|(title, _)| title.to_lowercase().contains(&topic)).map_or_else(
                    || DOCS.iter().map(|(t, _)| *t).collect::<Vec<_>>().join(", "),
                    |(_, text)| (*text).to_owned(),
                );
            Ok(json!({"text": text}))
        }),
        true,
    )?;
    bot.register(
        spec(
            "translate",
            "Translates simple English words to es, fr or de",
            json!({"type": "object", "required": ["text", "to"], "properties": {
                "text": {"type": "string"}, "to": {"type": "string", "enum": ["es", "fr", "de"]}}}),
            json!({"translated": "str", "unknown": "list"}),
        ),
        Handler::function(|input: Value, _| async move {
            let column = match input["to"].as_str() {
                Some("es") => 1,
                Some("fr") => 2,
                Some("de") => 3,
                _ => return Err(SkillFailure::new("unsupported language")),
            };
            let mut unknown = Vec::new();
            let words: Vec<String> = input["text"]
                .as_str()
                .unwrap_or_default()
                .split_whitespace()
                .map(|word| {
                    let bare: String = word
                        .chars()
                        .filter(|c| c.is_alphanumeric())
                        .collect::<String>()
                        .to_lowercase();
                    match WORDS.iter().find(|w| w.0 == bare) {
                        Some(w) => [w.0, w.1, w.2, w.3][column].to_owned(),
                        None => {
                            unknown.push(bare);
                            word.to_owned()
                        }
                    }
                })
                .collect();
            Ok(json!({"translated": words.join(" "), "unknown": unknown}))
        }),
        true,
    )?;
    bot.register(
        spec(
            "search",
            "Searches the CoWorker notes",
            json!({"query": "str"}),
            json!({"results": "list"}),
        ),
        Handler::function(|input: Value, _| async move {
            let query = input["query"].as_str().unwrap_or_default().to_lowercase();
            let terms: Vec<&str> = query.split_whitespace().collect();
            let mut hits: Vec<(usize, &str, &str)> = DOCS
                .iter()
                .map(|(title, text)| {
                    let hay = format!("{title} {text}").to_lowercase();
                    (terms.iter().filter(|t| hay.contains(*t)).count(), *title, *text)
                })
                .filter(|(score, ..)| *score > 0)
                .collect();
            hits.sort_by_key(|h| std::cmp::Reverse(h.0));
            let results: Vec<Value> =
                hits.iter().take(3).map(|(_, t, s)| json!({"title": t, "snippet": s})).collect();
            Ok(json!({"results": results}))
        }),
        true,
    )?;
    bot.register(
        spec("ping", "Answers pong", json!({}), json!({"pong": "bool"})),
        Handler::function(|_, _| async { Ok(json!({"pong": true})) }),
        true,
    )?;
    Ok(())
}

/// An identity of the tour in its own directory under `dir`, keys in memory.
async fn agent(url: &str, dir: &std::path::Path, name: &str) -> Result<Agent, CliError> {
    let keys = Arc::new(MemoryKeyStore::default()) as Arc<dyn KeyStore>;
    let network = Network::Url(url.to_owned());
    let mut identity = Identity::new(name, &dir.join(name), network, "embedded", keys);
    identity.config.auto_grant_ceiling = Some(Tier::Known);
    // The tour's directory is its own and temporary: the agent outlives the lock.
    Ok(identity.open().await?.agent)
}

pub(crate) async fn run(_args: DemoArgs, out: Out) -> Result<(), CliError> {
    let dir = tempfile::tempdir().map_err(|e| CliError::other(e.to_string()))?;
    let node = xmtp_node::start(xmtp_node::NodeConfig::local(dir.path().join("node.db")))
        .await
        .map_err(|e| CliError::other(format!("cannot start the demo node: {e}")))?;
    out.progress(&format!("demo node on {}", node.url()));
    let bot = agent(node.url(), dir.path(), "demo-bot").await?;
    demo_skills(&bot)?;
    let me = agent(node.url(), dir.path(), "you").await?;
    let serving = (bot.serve().await?, me.serve().await?);
    let steps = async {
        let mut report = Vec::new();
        let started = Instant::now();
        let peer = me.connect(&bot.invite(None)?).await?;
        let connect_ms = started.elapsed().as_secs_f64() * 1e3;
        out.line(
            &json!({"event": "connected", "peer": peer.name, "skills_visible": peer.skills.len(), "ms": connect_ms}),
            &format!("connected to {} in {connect_ms:.0} ms — as UNTRUSTED it shows {} skills", peer.name, peer.skills.len()),
        );
        let answer =
            me.request_trust(&peer.inbox_id, Tier::Known, "demo", std::time::Duration::from_secs(10)).await?;
        let skills = me.discover(&peer.inbox_id).await?;
        out.line(
            &json!({"event": "trusted", "granted": answer.granted_tier, "skills": skills.iter().map(|s| &s.name).collect::<Vec<_>>()}),
            &format!("asked for KNOWN: granted by policy; now {} skills: {}", skills.len(), skills.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(", ")),
        );
        let calls = [
            ("about", json!({"topic": "trust"})),
            ("translate", json!({"text": "Hello world, friend", "to": "es"})),
            ("search", json!({"query": "encrypted xmtp"})),
            ("ping", json!({})),
        ];
        for (skill, input) in calls {
            let done = me.call(&peer.inbox_id, skill, input.clone(), CallOptions::default()).await?;
            let ms = done.elapsed.as_secs_f64() * 1e3;
            out.line(
                &json!({"event": "call", "skill": skill, "input": input, "result": done.output, "ms": ms, "receipt_id": done.receipt.as_ref().map(|r| r.receipt.id.clone())}),
                &format!("{} {:<10} {:>6.1} ms  {}", out.green("✓"), skill, ms, done.output),
            );
            report.push(ms);
        }
        Ok::<_, CliError>(report)
    }
    .await;
    serving.0.stop().await;
    serving.1.stop().await;
    let _ = node.shutdown().await;
    let times = steps?;
    let total: f64 = times.iter().sum();
    out.result(
        &json!({"event": "done", "calls": times.len(), "total_ms": total}),
        &format!("{} calls, {total:.0} ms in all, each with a signed receipt. Next: coworker init --name NAME", times.len()),
    );
    Ok(())
}
