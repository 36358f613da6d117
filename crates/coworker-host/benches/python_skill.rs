//! What a skill written in Python costs a caller: a peer calls the same echo skill as a Rust
//! closure in the provider's process and as a function of a Python program using the SDK
//! (`python/coworker`, through the provider's control socket), interleaved so both see the
//! same machine. Needs `python3` (3.10+). `-- --quick` for a smoke run.

#![allow(clippy::unwrap_used, clippy::print_stdout, missing_docs)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Instant;

use coworker_host::control::ControlServer;
use coworker_runtime::protocol::SkillSpec;
use coworker_runtime::protocol::trust::Tier;
use coworker_runtime::{CallOptions, Handler};
use coworker_testkit::Net;
use serde_json::json;

const PROVIDER: &str = r#"
import sys
from coworker import Agent
agent = Agent("bench", data_dir=sys.argv[1])

@agent.skill("echo_py", input_schema={"n": "int"}, output_schema={"n": "int"})
def echo(n: int) -> dict:
    return {"n": n}

agent.start()
print("ready", flush=True)
agent.serve()
"#;

#[path = "support/timing.rs"]
mod timing;
use timing::{ms, report};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let rounds = if quick { 50 } else { 500 };
    let net = Net::start().await;
    let provider = net.agent("provider").await;
    let caller = net.agent("caller").await;
    let mut spec = SkillSpec::new("echo_rust", "echoes");
    spec.input_schema = json!({"n": "int"});
    spec.output_schema = json!({"n": "int"});
    provider.register(spec, Handler::function(|input, _| async move { Ok(input) }), true).unwrap();
    provider.set_tier(caller.inbox_id(), Tier::Known).await.unwrap();
    let _provider_serving = provider.serve().await.unwrap();
    let _caller_serving = caller.serve().await.unwrap();
    caller.add_peer(&provider.invite(None).unwrap()).await.unwrap();
    let data = tempfile::tempdir().unwrap();
    let _server = ControlServer::start(provider.clone(), data.path(), "bench").unwrap();

    let sdk = concat!(env!("CARGO_MANIFEST_DIR"), "/../../python");
    let mut python = Command::new("python3")
        .args(["-c", PROVIDER])
        .arg(data.path())
        .env("PYTHONPATH", sdk)
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3");
    let mut ready = String::new();
    BufReader::new(python.stdout.take().unwrap()).read_line(&mut ready).unwrap();
    assert_eq!(ready.trim(), "ready");

    let to = provider.inbox_id().to_owned();
    let call = |skill: &'static str, n: usize| {
        let (caller, to) = (caller.clone(), to.clone());
        async move {
            let started = Instant::now();
            let done = caller.call(&to, skill, json!({"n": n}), CallOptions::default()).await;
            assert_eq!(done.unwrap().output, json!({"n": n}));
            started.elapsed()
        }
    };
    for n in 0..20 {
        call("echo_rust", n).await;
        call("echo_py", n).await;
    }
    println!(
        "a peer's call to a Rust closure vs a Python SDK skill ({rounds} rounds, interleaved)"
    );
    let (mut rust, mut py) = (Vec::new(), Vec::new());
    for n in 0..rounds {
        if n % 2 == 0 {
            rust.push(call("echo_rust", n).await);
            py.push(call("echo_py", n).await);
        } else {
            py.push(call("echo_py", n).await);
            rust.push(call("echo_rust", n).await);
        }
    }
    let p50_rust = report("call, Rust closure", &mut rust);
    let p50_py = report("call, Python skill (SDK)", &mut py);
    println!("{:<44} {:>+7.3} ms", "added by Python (p50 minus p50)", ms(p50_py) - ms(p50_rust));
    python.kill().unwrap();
    python.wait().unwrap();
}
