//! Node benchmarks: publish throughput, publish→subscriber latency (V3 and d14n), memory with
//! many stored messages. `cargo bench -p xmtp-node --bench node` (release build); figures go to
//! `docs/benchmarks.md`.
//!
//! Everything runs in one process over loopback gRPC: the node on its own runtime, clients on
//! another, so both sides share the machine's two cores as they would on a LAN server.

#![allow(clippy::unwrap_used, clippy::print_stdout, missing_docs)]

#[path = "../tests/node/support/mod.rs"]
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use prost::Message;
use tokio_stream::StreamExt;
use tonic::transport::Channel;
use xmtp_proto::d14n::{Topic, TopicKind};
use xmtp_proto::d14n_envelopes::{
    AuthenticatedData, ClientEnvelope, Cursor, OriginatorEnvelope, PayerEnvelope,
    UnsignedOriginatorEnvelope, client_envelope::Payload,
};
use xmtp_proto::d14n_payer::{PublishClientEnvelopesRequest, payer_api_client::PayerApiClient};
use xmtp_proto::d14n_replication::{
    EnvelopesQuery, SubscribeEnvelopesRequest, replication_api_client::ReplicationApiClient,
};
use xmtp_proto::mls_api::{self as api, mls_api_client::MlsApiClient};

use support::{APPLICATION, TestNode, group_input, private_message, v1};

/// A ~300-byte application message, like a short XMTP text.
fn message(group: &[u8], n: u64, stamp: u64) -> api::GroupMessageInput {
    let mut payload = vec![0u8; 300];
    payload[..8].copy_from_slice(&n.to_be_bytes());
    payload[8..16].copy_from_slice(&stamp.to_be_bytes());
    group_input(private_message(group, 1, APPLICATION, &payload))
}

fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

async fn throughput_single(node: &TestNode, clients: usize, seconds: u64) -> f64 {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let url = node.url();
        tasks.push(tokio::spawn(async move {
            let mut client = MlsApiClient::connect(url).await.unwrap();
            let group = format!("single-{c}").into_bytes();
            let mut sent = 0u64;
            while Instant::now() < deadline {
                let request =
                    api::SendGroupMessagesRequest { messages: vec![message(&group, sent, 0)] };
                client.send_group_messages(request).await.unwrap();
                sent += 1;
            }
            sent
        }));
    }
    let mut total = 0;
    for task in tasks {
        total += task.await.unwrap();
    }
    total as f64 / started.elapsed().as_secs_f64()
}

async fn throughput_batches(node: &TestNode, clients: usize, batch: u64, seconds: u64) -> f64 {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let url = node.url();
        tasks.push(tokio::spawn(async move {
            let mut client = MlsApiClient::connect(url).await.unwrap();
            let group = format!("batch-{c}").into_bytes();
            let mut sent = 0u64;
            while Instant::now() < deadline {
                let messages = (0..batch).map(|i| message(&group, sent + i, 0)).collect();
                client
                    .send_group_messages(api::SendGroupMessagesRequest { messages })
                    .await
                    .unwrap();
                sent += batch;
            }
            sent
        }));
    }
    let mut total = 0;
    for task in tasks {
        total += task.await.unwrap();
    }
    total as f64 / started.elapsed().as_secs_f64()
}

/// Which API the clients of a benchmark speak.
#[derive(Clone, Copy, PartialEq)]
enum Api {
    /// V3: `SendGroupMessages`, `SubscribeGroupMessages`.
    V3,
    /// d14n: `PublishClientEnvelopes` to the node as gateway, `SubscribeEnvelopes` (every
    /// envelope signed by the node; the subscribers decode but do not verify, so the figure is
    /// the node's).
    D14n,
}

/// Subscribes to `group` over `api`; the task returned ends after `total` deliveries with the
/// latency of each, measured from the stamp `base` put in the message.
async fn receive(
    node: &TestNode,
    api: Api,
    group: &[u8],
    total: usize,
    base: Instant,
) -> tokio::task::JoinHandle<Vec<Duration>> {
    let mut latencies = Vec::with_capacity(total);
    let mut record = move |data: &[u8]| {
        // The payload ends the message: the stamp is at a known place in it.
        let payload = &data[data.len() - 300..];
        let stamp = u64::from_be_bytes(payload[8..16].try_into().unwrap());
        let now = base.elapsed().as_nanos() as u64;
        latencies.push(Duration::from_nanos(now.saturating_sub(stamp)));
        (latencies.len() == total).then(|| std::mem::take(&mut latencies))
    };
    match api {
        Api::V3 => {
            let mut client = MlsApiClient::connect(node.url()).await.unwrap();
            let filters = vec![api::subscribe_group_messages_request::Filter {
                group_id: group.to_vec().into(),
                id_cursor: 0, // the group is empty: everything is live
            }];
            let mut stream = client
                .subscribe_group_messages(api::SubscribeGroupMessagesRequest { filters })
                .await
                .unwrap()
                .into_inner();
            tokio::spawn(async move {
                let _client = client;
                loop {
                    let message = stream.next().await.unwrap().unwrap();
                    if let Some(done) = record(&v1(&message).data) {
                        return done;
                    }
                }
            })
        }
        Api::D14n => {
            let mut client = ReplicationApiClient::connect(node.url()).await.unwrap();
            let request = SubscribeEnvelopesRequest {
                query: Some(EnvelopesQuery {
                    topics: vec![group_topic(group)],
                    originator_node_ids: vec![],
                    last_seen: Some(Cursor::default()),
                }),
            };
            let mut stream = client.subscribe_envelopes(request).await.unwrap().into_inner();
            tokio::spawn(async move {
                let _client = client;
                loop {
                    let batch = stream.next().await.unwrap().unwrap();
                    for envelope in &batch.envelopes {
                        if let Some(done) = record(&envelope_data(envelope)) {
                            return done;
                        }
                    }
                }
            })
        }
    }
}

fn group_topic(group: &[u8]) -> Vec<u8> {
    Topic::new(TopicKind::GroupMessages, group.to_vec()).to_bytes()
}

/// The MLS data of a group message's originator envelope.
fn envelope_data(envelope: &OriginatorEnvelope) -> Vec<u8> {
    let unsigned =
        UnsignedOriginatorEnvelope::decode(envelope.unsigned_originator_envelope.as_slice())
            .unwrap();
    let payer = PayerEnvelope::decode(unsigned.payer_envelope_bytes.as_slice()).unwrap();
    let client = ClientEnvelope::decode(payer.unsigned_client_envelope.as_slice()).unwrap();
    match client.payload {
        Some(Payload::GroupMessage(api::GroupMessageInput {
            version: Some(api::group_message_input::Version::V1(v1)),
        })) => v1.data.to_vec(),
        other => panic!("not a group message: {other:?}"),
    }
}

/// A publisher speaking one API.
enum Publisher {
    V3(MlsApiClient<Channel>),
    D14n(PayerApiClient<Channel>),
}

impl Publisher {
    async fn connect(node: &TestNode, api: Api) -> Self {
        match api {
            Api::V3 => Self::V3(MlsApiClient::connect(node.url()).await.unwrap()),
            Api::D14n => Self::D14n(PayerApiClient::connect(node.url()).await.unwrap()),
        }
    }

    async fn send(&mut self, group: &[u8], input: api::GroupMessageInput) {
        match self {
            Self::V3(client) => {
                let request = api::SendGroupMessagesRequest { messages: vec![input] };
                client.send_group_messages(request).await.unwrap();
            }
            Self::D14n(client) => {
                let envelope = ClientEnvelope {
                    aad: Some(AuthenticatedData {
                        target_topic: group_topic(group),
                        depends_on: None,
                    }),
                    payload: Some(Payload::GroupMessage(input)),
                };
                let request = PublishClientEnvelopesRequest { envelopes: vec![envelope] };
                client.publish_client_envelopes(request).await.unwrap();
            }
        }
    }
}

/// `subscribers` streams on one group; a publisher sends `rate` messages per second for
/// `seconds`; every delivery's latency is measured from just before the send call.
async fn fanout_latency(
    node: &TestNode,
    api: Api,
    subscribers: usize,
    rate: u64,
    seconds: u64,
) -> Vec<Duration> {
    let base = Instant::now();
    let group = format!("fanout-{}", api == Api::D14n).into_bytes();
    let total = rate * seconds;
    let mut receivers = Vec::new();
    for _ in 0..subscribers {
        receivers.push(receive(node, api, &group, total as usize, base).await);
    }
    // Let every subscription register before publishing.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut publisher = Publisher::connect(node, api).await;
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let mut next = Instant::now();
    for n in 0..total {
        next += interval;
        tokio::time::sleep_until(next.into()).await;
        let stamp = base.elapsed().as_nanos() as u64;
        publisher.send(&group, message(&group, n, stamp)).await;
    }
    let mut all = Vec::new();
    for receiver in receivers {
        all.extend(tokio::time::timeout(Duration::from_secs(60), receiver).await.unwrap().unwrap());
    }
    all.sort();
    all
}

/// (RSS before, fill rate, RSS after filling, RSS with subscribers, database MiB)
async fn memory_with_stored(
    node: &TestNode,
    stored: u64,
    subscribers: usize,
) -> (f64, f64, f64, f64, f64) {
    let before = rss_mib();
    let mut client = MlsApiClient::connect(node.url()).await.unwrap();
    let groups = 1_000u64;
    let batch = 1_000u64;
    let started = Instant::now();
    for b in 0..stored / batch {
        let messages = (0..batch)
            .map(|i| message(format!("g{}", (b * batch + i) % groups).as_bytes(), b * batch + i, 0))
            .collect();
        client.send_group_messages(api::SendGroupMessagesRequest { messages }).await.unwrap();
    }
    let fill_rate = stored as f64 / started.elapsed().as_secs_f64();
    let after_fill = rss_mib();
    let mut streams = Vec::new();
    for s in 0..subscribers {
        let mut client = MlsApiClient::connect(node.url()).await.unwrap();
        // Each subscriber reads its group's whole backlog (1,000 messages) and then waits live.
        let filters = vec![api::subscribe_group_messages_request::Filter {
            group_id: format!("g{s}").into_bytes().into(),
            id_cursor: 0,
        }];
        let mut stream = client
            .subscribe_group_messages(api::SubscribeGroupMessagesRequest { filters })
            .await
            .unwrap()
            .into_inner();
        for _ in 0..stored / groups {
            stream.next().await.unwrap().unwrap();
        }
        streams.push((client, stream));
    }
    let with_subscribers = rss_mib();
    let db = std::fs::metadata(node.db()).map_or(0.0, |m| m.len() as f64 / 1_048_576.0);
    (before, fill_rate, after_fill, with_subscribers, db)
}

fn main() {
    let node_runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let clients =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let quick = std::env::args().any(|a| a == "--quick");
    let secs = if quick { 2 } else { 5 };

    println!("xmtp-node benchmarks ({} run)", if quick { "quick" } else { "full" });
    let node = node_runtime.block_on(TestNode::start_with(|c| {
        c.limits.requests_per_second = 1_000_000;
        c.limits.burst = 1_000_000;
    }));
    let node = Arc::new(node);

    let single = clients.block_on(throughput_single(&node, 16, secs));
    println!("publish, 1 message per request, 16 connections: {single:.0} messages/s");
    let batched = clients.block_on(throughput_batches(&node, 4, 100, secs));
    println!("publish, 100 messages per request, 4 connections: {batched:.0} messages/s");

    for (api, name) in [(Api::V3, "V3"), (Api::D14n, "d14n")] {
        let latencies = clients.block_on(fanout_latency(&node, api, 100, 200, secs));
        println!(
            "{name}: publish -> delivery, 100 live subscriptions on one group, 200 messages/s ({} deliveries): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            latencies.len(),
            percentile(&latencies, 0.50).as_secs_f64() * 1e3,
            percentile(&latencies, 0.99).as_secs_f64() * 1e3,
            latencies.last().unwrap().as_secs_f64() * 1e3,
        );
    }
    if std::env::args().any(|a| a == "--fanout-only") {
        return;
    }

    let fresh = node_runtime.block_on(TestNode::start_with(|c| {
        c.limits.requests_per_second = 1_000_000;
        c.limits.burst = 1_000_000;
    }));
    let stored = if quick { 100_000 } else { 1_000_000 };
    let (before, fill_rate, after_fill, with_subs, db_mib) =
        clients.block_on(memory_with_stored(&fresh, stored, 100));
    println!(
        "memory: RSS {before:.0} MiB before; {stored} messages stored (filled at {fill_rate:.0}/s, \
         database {db_mib:.0} MiB): RSS {after_fill:.0} MiB; with 100 subscriptions that each \
         read a 1,000-message backlog: RSS {with_subs:.0} MiB"
    );
}
