//! The node killed (SIGKILL) under load and started again on the same database.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use coworker_runtime::protocol::trust::Tier;
use coworker_runtime::protocol::{SkillSpec, receipt};
use coworker_runtime::{CallOptions, Handler};
use serde_json::json;
use tokio::sync::Semaphore;
use xmtp_client::{KeyStore, MemoryKeyStore};

struct NodeProcess {
    child: Child,
    database: std::path::PathBuf,
    address: String,
}

impl NodeProcess {
    fn start(database: &std::path::Path, address: &str) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_fault-node"))
            .arg(database)
            .arg(address)
            .stdout(Stdio::piped())
            .spawn()
            .expect("the node starts");
        let mut url = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut url).unwrap();
        assert!(url.starts_with("http://"), "{url}");
        Self { child, database: database.to_owned(), address: address.to_owned() }
    }

    fn kill_and_restart(&mut self) {
        self.child.kill().unwrap(); // SIGKILL
        self.child.wait().unwrap();
        *self = Self::start(&self.database.clone(), &self.address.clone());
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const CALLS: usize = 1000;
const IN_FLIGHT: usize = 64;

/// 1,000 calls with 64 in flight; the node is killed twice meanwhile. Each call is made once:
/// requests and answers that meet the node down are sent again by the agents themselves. Every
/// call ends with its result and a receipt, and the skill ran exactly 1,000 times.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_call_ends_once_when_the_node_is_killed_twice_under_load() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().to_owned();
    let address = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().to_string()
    };
    let mut node = NodeProcess::start(&dir.join("node.db"), &address);
    let url = format!("http://{address}");
    let keys = || Arc::new(MemoryKeyStore::default()) as Arc<dyn KeyStore>;
    let configure = |c: &mut coworker_runtime::AgentConfig| {
        c.deadline = Duration::from_secs(30);
        c.max_concurrent_tasks = 128;
        c.max_tasks_per_peer = 128;
    };
    let provider = coworker_testkit::open(&url, &dir, "provider", keys(), configure).await;
    let caller = coworker_testkit::open(&url, &dir, "caller", keys(), configure).await;
    let runs = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&runs);
    let handler = Handler::function(move |input, _| {
        let counter = Arc::clone(&counter);
        async move {
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(5)).await;
            Ok(input)
        }
    });
    provider.register(SkillSpec::new("count", "counts"), handler, true).unwrap();
    provider.set_tier(caller.inbox_id(), Tier::Known).await.unwrap();
    let _provider_serving = provider.serve().await.unwrap();
    let _caller_serving = caller.serve().await.unwrap();
    caller.add_peer(&provider.invite(None).unwrap()).await.unwrap();
    let to = provider.inbox_id().to_owned();

    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    let done = Arc::new(AtomicUsize::new(0));
    let mut calls = tokio::task::JoinSet::new();
    let started = Instant::now();
    for i in 0..CALLS {
        let (caller, to, slots, done) =
            (caller.clone(), to.clone(), Arc::clone(&slots), Arc::clone(&done));
        calls.spawn(async move {
            let _slot = slots.acquire_owned().await.unwrap();
            // One call each: the agents send requests and answers again while the node is down.
            let options = CallOptions {
                task_id: Some(format!("call-{i}")),
                timeout: Some(Duration::from_secs(120)),
                ..CallOptions::default()
            };
            let called = caller.call(&to, "count", json!({"i": i}), options).await;
            let called = called.unwrap_or_else(|e| panic!("call {i} failed: {e}"));
            done.fetch_add(1, Ordering::SeqCst);
            (i, called)
        });
    }
    for kill_at in [CALLS / 4, CALLS * 2 / 3] {
        while done.load(Ordering::SeqCst) < kill_at {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        node.kill_and_restart();
    }
    let mut outputs = vec![None; CALLS];
    while let Some(joined) = calls.join_next().await {
        let (i, called) = joined.unwrap();
        assert_eq!(called.output, json!({"i": i}));
        let receipt = called.receipt.expect("a receipt");
        assert_eq!(receipt.receipt.output_sha256, receipt::digest(&json!({"i": i})));
        assert!(outputs[i].replace(called.task_id).is_none(), "call {i} ended twice");
    }
    let elapsed = started.elapsed();
    assert!(outputs.iter().all(Option::is_some));
    assert_eq!(runs.load(Ordering::SeqCst), CALLS, "each call ran exactly once");
    let receipts = caller.receipts().await.unwrap();
    assert_eq!(receipts.len(), CALLS, "one receipt per call on the caller");
    println!(
        "{CALLS} calls, {IN_FLIGHT} in flight, node killed twice: {:.1} s, no call retried",
        elapsed.as_secs_f64()
    );
}
