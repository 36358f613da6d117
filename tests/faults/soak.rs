//! Soak: 10 agents call each other 20,000 times (64 calls in flight) while agents restart one
//! after another; every call must end once with its result, no task may run twice, and the
//! process's memory must stay flat. Figures go to docs/reliability.md.
//!
//!     cargo bench -p coworker-faults --bench soak              # 20,000 calls
//!     cargo bench -p coworker-faults --bench soak -- --quick   # 2,000

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout, missing_docs)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use coworker_runtime::protocol::SkillSpec;
use coworker_runtime::protocol::trust::Tier;
use coworker_runtime::{Agent, AgentConfig, CallOptions, Handler, Serving};
use coworker_testkit::Net;
use serde_json::json;
use tokio::sync::{RwLock, Semaphore};
use xmtp_client::{KeyStore, MemoryKeyStore};

const AGENTS: usize = 10;
const IN_FLIGHT: usize = 64;

type Runs = Arc<Mutex<HashMap<String, usize>>>;

struct Slot {
    agent: Agent,
    serving: Option<Serving>,
}

fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

fn configure(c: &mut AgentConfig) {
    c.deadline = Duration::from_secs(30);
    c.max_concurrent_tasks = 128;
    c.max_tasks_per_peer = 64;
}

async fn start(net: &Net, name: &str, keys: &Arc<dyn KeyStore>, runs: &Runs) -> Slot {
    let agent = net.reopen(name, keys, configure).await;
    let runs = Arc::clone(runs);
    let handler = Handler::function(move |input: serde_json::Value, context| {
        let runs = Arc::clone(&runs);
        async move {
            *runs.lock().unwrap().entry(context.task_id.clone()).or_insert(0) += 1;
            Ok(input)
        }
    });
    agent.register(SkillSpec::new("echo", "echoes"), handler, true).unwrap();
    let serving = Some(agent.serve().await.unwrap());
    Slot { agent, serving }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let calls = if quick { 2_000 } else { 20_000 };
    let restart_every = calls / 10;
    let net = Net::start().await;
    let runs: Runs = Arc::default();
    let keys: Vec<Arc<dyn KeyStore>> =
        (0..AGENTS).map(|_| Arc::new(MemoryKeyStore::default()) as Arc<dyn KeyStore>).collect();
    let mut slots = Vec::new();
    for (i, keys) in keys.iter().enumerate() {
        slots.push(Arc::new(RwLock::new(start(&net, &format!("a{i}"), keys, &runs).await)));
    }
    let mut inboxes = Vec::new();
    for slot in &slots {
        inboxes.push(slot.read().await.agent.inbox_id().to_owned());
    }
    for a in 0..AGENTS {
        let agent = slots[a].read().await.agent.clone();
        for (b, inbox) in inboxes.iter().enumerate() {
            if a != b {
                agent.set_tier(inbox, Tier::Known).await.unwrap();
                let invite = slots[b].read().await.agent.invite(None).unwrap();
                agent.add_peer(&invite).await.unwrap();
            }
        }
    }
    println!(
        "soak: {AGENTS} agents, {calls} calls, {IN_FLIGHT} in flight, a restart every {restart_every} calls"
    );
    let baseline = rss_mib();
    let started = Instant::now();
    let (done, retries) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let gate = Arc::new(Semaphore::new(IN_FLIGHT));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..calls {
        let (from, to) = (i % AGENTS, (i * 7 + 3) % AGENTS);
        let to = if to == from { (to + 1) % AGENTS } else { to };
        let (slot, inbox) = (Arc::clone(&slots[from]), inboxes[to].clone());
        let (gate, done, retries) = (Arc::clone(&gate), Arc::clone(&done), Arc::clone(&retries));
        tasks.spawn(async move {
            let _permit = gate.acquire_owned().await.unwrap();
            let task_id = format!("soak-{i}");
            loop {
                let agent = slot.read().await.agent.clone();
                let options = CallOptions {
                    task_id: Some(task_id.clone()),
                    timeout: Some(Duration::from_secs(10)),
                    ..CallOptions::default()
                };
                match agent.call(&inbox, "echo", json!({"i": i}), options).await {
                    Ok(called) => {
                        assert_eq!(called.output, json!({"i": i}));
                        done.fetch_add(1, Ordering::SeqCst);
                        return;
                    }
                    Err(_) => {
                        retries.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
            }
        });
    }
    let mut samples = vec![(0usize, baseline)];
    let mut next_restart = restart_every;
    let mut restarted = 0;
    while done.load(Ordering::SeqCst) < calls {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let finished = done.load(Ordering::SeqCst);
        if finished >= next_restart && finished < calls {
            next_restart += restart_every;
            let which = restarted % AGENTS;
            restarted += 1;
            // A restart: the agent stops (requests in progress finish), its process starts
            // again on the same state.
            let mut slot = slots[which].write().await;
            if let Some(serving) = slot.serving.take() {
                serving.stop().await;
            }
            *slot = start(&net, &format!("a{which}"), &keys[which], &runs).await;
        }
        if finished >= samples.last().map_or(0, |s| s.0) + calls / 10 {
            samples.push((finished, rss_mib()));
        }
    }
    while tasks.join_next().await.is_some() {}
    let elapsed = started.elapsed();
    let runs = runs.lock().unwrap();
    let executions: usize = runs.values().sum();
    let twice = runs.values().filter(|n| **n > 1).count();
    println!(
        "{} calls ended ({} retries, {restarted} restarts) in {:.1} s ({:.0} calls/s)",
        done.load(Ordering::SeqCst),
        retries.load(Ordering::SeqCst),
        elapsed.as_secs_f64(),
        calls as f64 / elapsed.as_secs_f64()
    );
    println!("executions {executions} for {} task ids; run twice: {twice}", runs.len());
    let curve: Vec<String> = samples.iter().map(|(n, mib)| format!("{n}:{mib:.0}")).collect();
    println!("RSS MiB by calls ended: {}", curve.join(" "));
    assert_eq!(runs.len(), calls, "every call ran");
    assert_eq!(twice, 0, "no task ran twice");
}
