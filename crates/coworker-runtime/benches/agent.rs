//! Agent benchmarks on the embedded node: call round trip (p50/p99), throughput with 64 calls
//! in flight, and connect (invite → skills listed). `-- --quick` for a smoke run, `-- --d14n` for
//! agents on the decentralized network's API.

#![allow(clippy::unwrap_used, clippy::print_stdout, missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use coworker_runtime::protocol::SkillSpec;
use coworker_runtime::protocol::trust::Tier;
use coworker_runtime::{CallOptions, Handler};
use coworker_testkit::Net;
use serde_json::json;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let (calls, burst, connects) = if quick { (100, 256, 3) } else { (1000, 2000, 10) };
    let d14n = std::env::args().any(|a| a == "--d14n");
    let net = if d14n { Net::start_d14n().await } else { Net::start().await };
    println!(
        "coworker-runtime benchmarks ({}, {})",
        if quick { "quick" } else { "full run" },
        if d14n { "d14n" } else { "V3" }
    );

    let (alice, bob) = (net.agent("alice").await, net.agent("bob").await);
    let mut spec = SkillSpec::new("echo", "echoes");
    spec.input_schema = json!({"n": "int"});
    spec.output_schema = json!({"n": "int"});
    bob.register(spec, Handler::function(|input, _| async move { Ok(input) }), true).unwrap();
    bob.set_tier(alice.inbox_id(), Tier::Known).await.unwrap();
    let _a = alice.serve().await.unwrap();
    let _b = bob.serve().await.unwrap();
    let peer = bob.inbox_id().to_owned();
    alice.call(&peer, "echo", json!({"n": 0}), CallOptions::default()).await.unwrap();

    // Sequential round trips.
    let mut times = Vec::with_capacity(calls);
    for n in 0..calls {
        let started = Instant::now();
        alice.call(&peer, "echo", json!({"n": n}), CallOptions::default()).await.unwrap();
        times.push(started.elapsed());
    }
    times.sort();
    println!(
        "call round trip, sequential ({calls} calls): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        percentile(&times, 0.5).as_secs_f64() * 1e3,
        percentile(&times, 0.99).as_secs_f64() * 1e3,
        times[times.len() - 1].as_secs_f64() * 1e3
    );

    // Throughput with 64 in flight.
    let semaphore = Arc::new(tokio::sync::Semaphore::new(64));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(burst);
    for n in 0..burst {
        let permit = Arc::clone(&semaphore).acquire_owned().await.unwrap();
        let (alice, peer) = (alice.clone(), peer.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = permit;
            let started = Instant::now();
            alice.call(&peer, "echo", json!({"n": n}), CallOptions::default()).await.unwrap();
            started.elapsed()
        }));
    }
    let mut times = Vec::with_capacity(burst);
    for task in tasks {
        times.push(task.await.unwrap());
    }
    let elapsed = started.elapsed();
    times.sort();
    println!(
        "throughput, 64 in flight ({burst} calls): {:.0} calls/s (p50 {:.1} ms, p99 {:.1} ms per call)",
        burst as f64 / elapsed.as_secs_f64(),
        percentile(&times, 0.5).as_secs_f64() * 1e3,
        percentile(&times, 0.99).as_secs_f64() * 1e3
    );

    // Connect: invite → DM → discover (skills listed), each time a new caller.
    let mut times = Vec::with_capacity(connects);
    for i in 0..connects {
        let caller = net.agent(&format!("caller{i}")).await;
        bob.set_tier(caller.inbox_id(), Tier::Known).await.unwrap();
        let _serving = caller.serve().await.unwrap();
        let invite = bob.invite(None).unwrap();
        let started = Instant::now();
        let peer = caller.connect(&invite).await.unwrap();
        times.push(started.elapsed());
        assert_eq!(peer.skills.len(), 1);
    }
    times.sort();
    println!(
        "connect (invite -> skills listed, {connects} new callers): median {:.1} ms, max {:.1} ms",
        percentile(&times, 0.5).as_secs_f64() * 1e3,
        times[times.len() - 1].as_secs_f64() * 1e3
    );
}
