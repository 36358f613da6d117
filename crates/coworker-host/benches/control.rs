//! What the control API costs: the same call made in-process and through the host's socket,
//! interleaved so both see the same machine; and a request that never leaves the host (the
//! skill list), which is the socket's cost alone. `-- --quick` for a smoke run.

#![allow(clippy::unwrap_used, clippy::print_stdout, missing_docs)]

use std::time::Instant;

use coworker_host::Api;
use coworker_host::control::{ControlClient, ControlServer};
use coworker_runtime::protocol::SkillSpec;
use coworker_runtime::protocol::trust::Tier;
use coworker_runtime::{CallOptions, Handler};
use coworker_testkit::Net;
use serde_json::json;

#[path = "support/timing.rs"]
mod timing;
use timing::{ms, report};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let rounds = if quick { 50 } else { 500 };
    let net = Net::start().await;
    let host = net.agent("host").await;
    let peer = net.agent("peer").await;
    let mut spec = SkillSpec::new("echo", "echoes");
    spec.input_schema = json!({"n": "int"});
    spec.output_schema = json!({"n": "int"});
    peer.register(spec, Handler::function(|input, _| async move { Ok(input) }), true).unwrap();
    peer.set_tier(host.inbox_id(), Tier::Known).await.unwrap();
    let _host_serving = host.serve().await.unwrap();
    let _peer_serving = peer.serve().await.unwrap();
    host.add_peer(&peer.invite(None).unwrap()).await.unwrap();
    let data = tempfile::tempdir().unwrap();
    let _server = ControlServer::start(host.clone(), data.path(), "bench").unwrap();
    let local = Api::Local(host.clone());
    let remote = Api::Remote(ControlClient::connect(data.path(), "bench").await.unwrap().unwrap());
    let to = peer.inbox_id().to_owned();
    let call = |api: &Api, n: usize| {
        let (api, to) = (api.clone(), to.clone());
        async move {
            let started = Instant::now();
            api.call(&to, "echo", json!({"n": n}), CallOptions::default(), None).await.unwrap();
            started.elapsed()
        }
    };
    for n in 0..20 {
        call(&local, n).await;
        call(&remote, n).await;
    }
    println!("control API ({rounds} rounds, interleaved)");

    let (mut inside, mut through, mut added) = (Vec::new(), Vec::new(), Vec::new());
    for n in 0..rounds {
        let (a, b) = if n % 2 == 0 {
            let a = call(&local, n).await;
            (a, call(&remote, n).await)
        } else {
            let b = call(&remote, n).await;
            (call(&local, n).await, b)
        };
        inside.push(a);
        through.push(b);
        added.push(b.saturating_sub(a));
    }
    let p50_in = report("call, in-process", &mut inside);
    let p50_through = report("call, through the control socket", &mut through);
    println!(
        "{:<44} {:>+7.3} ms",
        "added by the socket (p50 minus p50)",
        ms(p50_through) - ms(p50_in)
    );

    let (mut listed_in, mut listed_through) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let started = Instant::now();
        local.skills().await.unwrap();
        listed_in.push(started.elapsed());
        let started = Instant::now();
        remote.skills().await.unwrap();
        listed_through.push(started.elapsed());
    }
    report("skill list, in-process", &mut listed_in);
    report("skill list, through the control socket", &mut listed_through);
}
