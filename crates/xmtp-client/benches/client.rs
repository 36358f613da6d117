//! Client benchmarks against the embedded node over loopback: DM creation to first delivered
//! message, catch-up sync of a 10,000-message backlog, per-message send and receive cost,
//! creating a group of 100 members, reading a long conversation's newest messages (a chat view).
//! `cargo bench -p xmtp-client --bench client`; figures go to `docs/benchmarks.md`. With
//! `-- --d14n` every client speaks the decentralized network's API (the node as its gateway).

#![allow(clippy::unwrap_used, clippy::print_stdout, missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use xmtp_client::{Client, ClientOptions, Event, GroupOptions, KeyStore, MemoryKeyStore, Network};

/// Whether the clients speak d14n (`--d14n`).
static D14N: std::sync::OnceLock<bool> = std::sync::OnceLock::new();

async fn client(url: &str, dir: &std::path::Path, name: &str) -> Client {
    let keys: Arc<dyn KeyStore> = Arc::new(MemoryKeyStore::default());
    let network = if D14N.get().copied().unwrap_or(false) {
        Network::Gateway(url.to_owned())
    } else {
        Network::Url(url.to_owned())
    };
    let options = ClientOptions::new(network, dir.join(format!("{name}.db")), keys);
    Client::open(options).await.unwrap()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let d14n = *D14N.get_or_init(|| std::env::args().any(|a| a == "--d14n"));
    let dir = tempfile::tempdir().unwrap();
    let mut config = xmtp_node::NodeConfig::local(dir.path().join("node.db"));
    config.limits.requests_per_second = 1_000_000;
    config.limits.burst = 1_000_000;
    let node = xmtp_node::start(config).await.unwrap();
    let url = node.url().to_owned();
    println!(
        "xmtp-client benchmarks ({} run, {})",
        if quick { "quick" } else { "full" },
        if d14n { "d14n" } else { "V3" }
    );

    // DM creation -> first message delivered to a streaming peer.
    let rounds = if quick { 5 } else { 20 };
    let mut dm_times = Vec::new();
    let receiver = client(&url, dir.path(), "receiver").await;
    let mut events = receiver.subscribe();
    let stream = receiver.stream();
    tokio::time::sleep(Duration::from_millis(200)).await;
    for i in 0..rounds {
        let sender = client(&url, dir.path(), &format!("dm-sender-{i}")).await;
        let started = Instant::now();
        let dm = sender.dm(receiver.inbox_id()).await.unwrap();
        sender.send_text(&dm, "first").await.unwrap();
        loop {
            if let Event::Message(m) = events.recv().await.unwrap()
                && m.conversation == dm
            {
                break;
            }
        }
        dm_times.push(started.elapsed());
    }
    stream.stop().await;
    println!(
        "DM creation -> first message delivered (stream): median {:.1} ms, max {:.1} ms ({rounds} DMs)",
        median(dm_times.clone()).as_secs_f64() * 1e3,
        dm_times.iter().max().unwrap().as_secs_f64() * 1e3
    );

    // Send cost (encrypt + persist + publish) and catch-up of a backlog.
    let backlog = if quick { 2_000 } else { 10_000 };
    let alice = client(&url, dir.path(), "alice").await;
    let bob = client(&url, dir.path(), "bob").await;
    let dm = alice.dm(bob.inbox_id()).await.unwrap();
    bob.sync_all().await.unwrap();
    let started = Instant::now();
    for n in 0..backlog {
        alice
            .send_text(&dm, &format!("message {n:05} with some ordinary text in it"))
            .await
            .unwrap();
    }
    let send = started.elapsed();
    println!(
        "send (encrypt + persist + publish, sequential): {:.0} us/message ({:.0} messages/s)",
        send.as_secs_f64() * 1e6 / backlog as f64,
        backlog as f64 / send.as_secs_f64()
    );
    let started = Instant::now();
    bob.sync(&dm).await.unwrap();
    let sync = started.elapsed();
    let got = bob.messages(&dm, 0, u32::MAX).await.unwrap().len();
    assert_eq!(got, backlog);
    println!(
        "catch-up sync of a {backlog}-message backlog (fetch + decrypt + persist): {:.2} s = {:.0} messages/s ({:.0} us/message)",
        sync.as_secs_f64(),
        backlog as f64 / sync.as_secs_f64(),
        sync.as_secs_f64() * 1e6 / backlog as f64
    );

    // What a chat view reads when it opens: the newest messages of that long conversation.
    let mut reads = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        let page = bob.latest_messages(&dm, 10_000).await.unwrap();
        reads.push(started.elapsed());
        assert_eq!(page.len(), backlog.min(10_000));
    }
    println!(
        "read the newest 10,000 messages of a {backlog}-message conversation (chat view): median {:.1} ms",
        median(reads).as_secs_f64() * 1e3
    );

    // A group of 100 members (99 invitees, each a registered installation).
    let size = if quick { 20 } else { 100 };
    let mut members = Vec::new();
    for i in 1..size {
        members.push(client(&url, dir.path(), &format!("member-{i}")).await.inbox_id().to_owned());
    }
    let started = Instant::now();
    let group = alice
        .create_group(&members, &GroupOptions { name: "big".into(), ..Default::default() })
        .await
        .unwrap();
    let create = started.elapsed();
    assert_eq!(alice.conversation(&group).await.unwrap().members.len(), size);
    println!(
        "create a group of {size} members (identity checks, key packages, commit, welcomes): {:.2} s",
        create.as_secs_f64()
    );
    node.shutdown().await.unwrap();
}
