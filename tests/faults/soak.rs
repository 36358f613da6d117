//! Soak: 10 agents call each other 20,000 times (64 calls in flight) while agents restart one
//! after another; every call must end once with its result, no task may run twice, and the
//! process's memory must stay flat. Figures go to docs/reliability.md.
//!
//!     cargo bench -p coworker-faults --bench soak                   # 20,000 calls
//!     cargo bench -p coworker-faults --bench soak -- --quick        # 2,000
//!     cargo bench -p coworker-faults --bench soak -- --calls 100000 # any number
//!
//! An agent restarts every 2,000 calls. Calls are started as slots free up (never more than 64
//! exist at once) and executions are counted in a fixed table, so the harness itself uses the
//! same memory throughout and the RSS curve is the agents' and the node's.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout, missing_docs)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
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

/// Executions by call number (`soak-N` → N).
type Runs = Arc<Vec<AtomicUsize>>;

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

/// Open file descriptors: each agent's databases hold a few, so an agent that outlived its
/// restart would show here.
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, Iterator::count)
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
            let n: usize = context.task_id.trim_start_matches("soak-").parse().unwrap();
            runs[n].fetch_add(1, Ordering::SeqCst);
            Ok(input)
        }
    });
    agent.register(SkillSpec::new("echo", "echoes"), handler, true).unwrap();
    let serving = Some(agent.serve().await.unwrap());
    Slot { agent, serving }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let calls = match args.iter().position(|a| a == "--calls") {
        Some(i) => args[i + 1].parse().expect("--calls N"),
        None if args.iter().any(|a| a == "--quick") => 2_000,
        None => 20_000,
    };
    let restart_every = 2_000;
    let net = Net::start().await;
    let runs: Runs = Arc::new((0..calls).map(|_| AtomicUsize::new(0)).collect());
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
    let producer = {
        let (slots, inboxes) = (slots.clone(), inboxes.clone());
        let (done, retries) = (Arc::clone(&done), Arc::clone(&retries));
        tokio::spawn(async move {
            let mut tasks = tokio::task::JoinSet::new();
            for i in 0..calls {
                let permit = Arc::clone(&gate).acquire_owned().await.unwrap();
                while let Some(joined) = tasks.try_join_next() {
                    joined.unwrap();
                }
                let (from, to) = (i % AGENTS, (i * 7 + 3) % AGENTS);
                let to = if to == from { (to + 1) % AGENTS } else { to };
                let (slot, inbox) = (Arc::clone(&slots[from]), inboxes[to].clone());
                let (done, retries) = (Arc::clone(&done), Arc::clone(&retries));
                tasks.spawn(async move {
                    let _permit = permit;
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
            while let Some(joined) = tasks.join_next().await {
                joined.unwrap();
            }
        })
    };
    let mut samples = vec![(0usize, baseline, open_fds())];
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
        if finished >= samples.last().map_or(0, |s| s.0) + calls / 20 {
            samples.push((finished, rss_mib(), open_fds()));
        }
    }
    producer.await.unwrap();
    let elapsed = started.elapsed();
    let counts: Vec<usize> = runs.iter().map(|n| n.load(Ordering::SeqCst)).collect();
    let executions: usize = counts.iter().sum();
    let twice = counts.iter().filter(|n| **n > 1).count();
    let ran = counts.iter().filter(|n| **n > 0).count();
    println!(
        "{} calls ended ({} retries, {restarted} restarts) in {:.1} s ({:.0} calls/s)",
        done.load(Ordering::SeqCst),
        retries.load(Ordering::SeqCst),
        elapsed.as_secs_f64(),
        calls as f64 / elapsed.as_secs_f64()
    );
    println!("executions {executions} for {ran} task ids; run twice: {twice}");
    let curve: Vec<String> = samples.iter().map(|(n, mib, _)| format!("{n}:{mib:.0}")).collect();
    println!("RSS MiB by calls ended: {}", curve.join(" "));
    let fds: Vec<String> = samples.iter().map(|(n, _, fds)| format!("{n}:{fds}")).collect();
    println!("open files by calls ended: {}", fds.join(" "));
    assert_eq!(ran, calls, "every call ran");
    assert_eq!(twice, 0, "no task ran twice");
}
