//! Call round trips between our agents and the unmodified Python original (agent-coworker
//! 0.6.1, run by `tests/interop/original.py` on libxmtp from the project's `.venv`), both ways,
//! beside ours ↔ ours in the same setting. The original polls its inbox every 1.5 s and its
//! `call()` checks for the answer every 0.5 s: that bounds its side. `-- --quick` for fewer.

#![allow(clippy::unwrap_used, clippy::print_stdout, missing_docs)]

// The test's harness; the bench does not need every field it offers.
#[allow(dead_code)]
#[path = "../tests/original/harness.rs"]
mod harness;

use std::time::{Duration, Instant};

use coworker_runtime::protocol::SkillSpec;
use coworker_runtime::protocol::trust::Tier;
use coworker_runtime::{CallOptions, Handler};
use coworker_testkit::Net;
use serde_json::{Value, json};

fn summary(label: &str, mut times: Vec<Duration>) {
    times.sort();
    let at = |p: f64| times[((times.len() as f64 - 1.0) * p).round() as usize].as_secs_f64() * 1e3;
    println!(
        "{label} ({} calls): p50 {:.0} ms, p90 {:.0} ms, max {:.0} ms",
        times.len(),
        at(0.5),
        at(0.9),
        at(1.0)
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let calls = if quick { 5 } else { 30 };
    let net = Net::start().await;
    println!(
        "agent-coworker 0.6.1 interop round trips ({})",
        if quick { "quick" } else { "full run" }
    );
    let py = harness::Original::start(net.url(), net.dir(), "py");
    let (rusty, bolt) = (
        net.agent_with("rusty", |c| c.auto_grant_ceiling = Some(Tier::Known)).await,
        net.agent_with("bolt", |c| c.auto_grant_ceiling = Some(Tier::Known)).await,
    );
    for who in [&rusty, &bolt] {
        let mut spec = SkillSpec::new("upper", "upper-cases");
        spec.input_schema = json!({"text": "str"});
        spec.output_schema = json!({"text": "str"});
        who.register(
            spec,
            Handler::function(|input: Value, _| async move {
                Ok(json!({"text": input["text"].as_str().unwrap_or_default().to_uppercase()}))
            }),
            true,
        )
        .unwrap();
    }
    let _r = rusty.serve().await.unwrap();
    let _b = bolt.serve().await.unwrap();
    rusty.connect(&py.invite).await.unwrap();
    rusty.request_trust(&py.inbox_id, Tier::Known, "bench", Duration::from_secs(20)).await.unwrap();
    rusty.set_tier(bolt.inbox_id(), Tier::Known).await.unwrap();
    bolt.set_tier(rusty.inbox_id(), Tier::Known).await.unwrap();
    py.post("/connect", json!({"target": rusty.invite(None).unwrap()})).await;

    let mut ours = Vec::new();
    for i in 0..calls {
        let input = json!({"text": format!("n{i}")});
        ours.push(
            rusty
                .call(bolt.inbox_id(), "upper", input, CallOptions::default())
                .await
                .unwrap()
                .elapsed,
        );
    }
    summary("ours -> ours", ours);

    let mut to_python = Vec::new();
    for i in 0..calls {
        let input = json!({"text": format!("n{i}")});
        let started = Instant::now();
        rusty.call(&py.inbox_id, "echo", input, CallOptions::default()).await.unwrap();
        to_python.push(started.elapsed());
    }
    summary("ours -> original (its 1.5 s inbox poll)", to_python);

    let mut from_python = Vec::new();
    for i in 0..calls {
        let call = json!({"target": rusty.inbox_id(), "skill": "upper", "input": {"text": format!("n{i}")}});
        let answer = py.post("/call", call).await;
        assert_eq!(answer["result"]["success"], true, "{answer}");
        from_python.push(Duration::from_secs_f64(answer["elapsed_ms"].as_f64().unwrap() / 1e3));
    }
    summary("original -> ours (its call() checks every 0.5 s)", from_python);
    drop(py);
}
