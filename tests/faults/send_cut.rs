//! A send whose connection is cut: after the node stored the message (the answer is lost), or
//! before (the request is lost). A proxy between the sender and the node reads the HTTP/2
//! frames and cuts the TCP connections at the chosen moment.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use xmtp_client::{
    Client, ClientOptions, Clock, ConversationId, KeyStore, MemoryKeyStore, Network, SystemClock,
};

/// What the proxy does to the next `SendGroupMessages` carrying an application message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cut {
    Nothing,
    /// Forward the request; cut both connections when the node's answer comes.
    Answer,
    /// Cut both connections instead of forwarding the request's body.
    Request,
}

#[derive(Debug)]
struct Plan {
    cut: Cut,
    /// Client stream whose answer is to be cut.
    target: Option<u32>,
    /// Cuts done.
    done: usize,
}

struct Proxy {
    url: String,
    plan: Arc<Mutex<Plan>>,
}

impl Proxy {
    async fn start(node: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let node = node.trim_start_matches("http://").to_owned();
        let plan = Arc::new(Mutex::new(Plan { cut: Cut::Nothing, target: None, done: 0 }));
        let shared = Arc::clone(&plan);
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(&node).await else { continue };
                tokio::spawn(relay(client, server, Arc::clone(&shared)));
            }
        });
        Self { url, plan }
    }

    fn arm(&self, cut: Cut) {
        let mut plan = self.plan.lock().unwrap();
        plan.cut = cut;
        plan.target = None;
    }

    fn cuts(&self) -> usize {
        self.plan.lock().unwrap().done
    }
}

const PREFACE: usize = 24;
const DATA: u8 = 0;
const HEADERS: u8 = 1;

/// Reads one HTTP/2 frame: (type, stream, the whole frame's bytes).
async fn frame(from: &mut tokio::net::tcp::OwnedReadHalf) -> Option<(u8, u32, Vec<u8>)> {
    let mut header = [0u8; 9];
    from.read_exact(&mut header).await.ok()?;
    let len = usize::from(header[0]) << 16 | usize::from(header[1]) << 8 | usize::from(header[2]);
    let stream = u32::from_be_bytes([header[5], header[6], header[7], header[8]]) & 0x7fff_ffff;
    let mut bytes = header.to_vec();
    bytes.resize(9 + len, 0);
    from.read_exact(&mut bytes[9..]).await.ok()?;
    Some((header[3], stream, bytes))
}

/// Whether a DATA frame's payload is a `SendGroupMessagesRequest` carrying an MLS private
/// message (an application message): gRPC prefix, then messages(1) → v1(1) → data(1), whose
/// bytes start with MLS version 1 and wire format 2.
fn is_application_send(frame: &[u8]) -> bool {
    fn skip_field(bytes: &[u8]) -> Option<&[u8]> {
        let (&tag, mut rest) = bytes.split_first()?;
        if tag != 0x0a {
            return None;
        }
        while let Some((&b, tail)) = rest.split_first() {
            rest = tail;
            if b & 0x80 == 0 {
                return Some(rest);
            }
        }
        None
    }
    let Some(message) = frame.get(9 + 5..) else { return false };
    let inner = skip_field(message).and_then(skip_field).and_then(skip_field);
    inner.is_some_and(|mls| mls.starts_with(&[0, 1, 0, 2]))
}

async fn relay(client: TcpStream, server: TcpStream, plan: Arc<Mutex<Plan>>) {
    let (mut client_in, mut client_out) = client.into_split();
    let (mut server_in, mut server_out) = server.into_split();
    let upstream = {
        let plan = Arc::clone(&plan);
        async move {
            let mut preface = [0u8; PREFACE];
            client_in.read_exact(&mut preface).await.ok()?;
            server_out.write_all(&preface).await.ok()?;
            loop {
                let (kind, stream, bytes) = frame(&mut client_in).await?;
                if kind == DATA && is_application_send(&bytes) {
                    let mut plan = plan.lock().unwrap();
                    match plan.cut {
                        Cut::Nothing => {}
                        Cut::Answer => {
                            plan.target = Some(stream);
                            plan.cut = Cut::Nothing;
                        }
                        Cut::Request => {
                            plan.cut = Cut::Nothing;
                            plan.done += 1;
                            return None::<()>;
                        }
                    }
                }
                server_out.write_all(&bytes).await.ok()?;
            }
        }
    };
    let downstream = async move {
        loop {
            let (kind, stream, bytes) = frame(&mut server_in).await?;
            if kind == HEADERS {
                let mut plan = plan.lock().unwrap();
                if plan.target == Some(stream) {
                    plan.target = None;
                    plan.done += 1;
                    return None::<()>;
                }
            }
            client_out.write_all(&bytes).await.ok()?;
        }
    };
    // Whichever side stops (or cuts) first, both connections close.
    tokio::select! {
        _ = upstream => {}
        _ = downstream => {}
    }
}

/// The system clock plus an offset the test moves forward.
#[derive(Debug, Default)]
struct LaterClock(AtomicU64);

impl Clock for LaterClock {
    fn now_ns(&self) -> u64 {
        SystemClock.now_ns() + self.0.load(Ordering::SeqCst)
    }
}

struct Peers {
    _node: xmtp_node::Node,
    dir: tempfile::TempDir,
    proxy: Proxy,
    clock: Arc<LaterClock>,
    alice_keys: Arc<dyn KeyStore>,
    alice: Client,
    bob: Client,
    dm: ConversationId,
}

impl Peers {
    /// Alice reaches the node through the proxy, Bob directly; they share a DM.
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let node = xmtp_node::start(xmtp_node::NodeConfig::local(dir.path().join("node.db")))
            .await
            .unwrap();
        let proxy = Proxy::start(node.url()).await;
        let clock = Arc::new(LaterClock::default());
        let alice_keys = Arc::new(MemoryKeyStore::default()) as Arc<dyn KeyStore>;
        let mut options = ClientOptions::new(
            Network::Url(proxy.url.clone()),
            dir.path().join("alice.db"),
            Arc::clone(&alice_keys),
        );
        options.clock = Arc::clone(&clock) as Arc<dyn Clock>;
        let alice = Client::open(options).await.unwrap();
        let bob = Client::open(ClientOptions::new(
            Network::Url(node.url().to_owned()),
            dir.path().join("bob.db"),
            Arc::new(MemoryKeyStore::default()),
        ))
        .await
        .unwrap();
        let dm = alice.dm(bob.inbox_id()).await.unwrap();
        alice.send_text(&dm, "before").await.unwrap();
        Self { _node: node, dir, proxy, clock, alice_keys, alice, bob, dm }
    }

    async fn reopen_alice(&mut self) {
        let mut options = ClientOptions::new(
            Network::Url(self.proxy.url.clone()),
            self.dir.path().join("alice.db"),
            Arc::clone(&self.alice_keys),
        );
        options.clock = Arc::clone(&self.clock) as Arc<dyn Clock>;
        self.alice = Client::open(options).await.unwrap();
    }

    fn later(&self, by: Duration) {
        self.clock.0.fetch_add(u64::try_from(by.as_nanos()).unwrap(), Ordering::SeqCst);
    }
}

async fn texts(client: &Client, id: &ConversationId) -> Vec<String> {
    client.messages(id, 0, 1000).await.unwrap().iter().filter_map(|m| m.text()).collect()
}

/// Bob's texts once `want` arrived (he syncs until it does, 10 s at most).
async fn bob_texts(peers: &Peers, want: &str) -> Vec<String> {
    let bob_dm = loop_until(|| async {
        peers.bob.sync_welcomes().await.unwrap();
        peers.bob.dm(peers.alice.inbox_id()).await.ok()
    })
    .await;
    loop_until(|| async {
        peers.bob.sync(&bob_dm).await.unwrap();
        let got = texts(&peers.bob, &bob_dm).await;
        got.iter().any(|t| t == want).then_some(got)
    })
    .await
}

async fn loop_until<T, F: std::future::Future<Output = Option<T>>>(f: impl Fn() -> F) -> T {
    for _ in 0..100 {
        if let Some(value) = f().await {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("not within 10 s");
}

/// The node stored the message but its answer was lost: the send fails, yet the message stays
/// in the sender's history (Bob has it), across syncs, a restart and the grace period.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_whose_answer_is_cut_stays_in_the_senders_history() {
    let mut peers = Peers::start().await;
    peers.proxy.arm(Cut::Answer);
    let failed = peers.alice.send_text(&peers.dm, "answer lost").await;
    assert!(failed.is_err(), "the send must fail: {failed:?}");
    assert_eq!(peers.proxy.cuts(), 1);

    assert_eq!(texts(&peers.alice, &peers.dm).await, ["before", "answer lost"]);
    let bob = bob_texts(&peers, "answer lost").await;
    assert_eq!(bob.iter().filter(|t| *t == "answer lost").count(), 1, "{bob:?}");

    peers.alice.sync(&peers.dm).await.unwrap();
    peers.reopen_alice().await;
    peers.later(Duration::from_nanos(120_000_000_000u64) * 2);
    peers.alice.sync(&peers.dm).await.unwrap();
    assert_eq!(texts(&peers.alice, &peers.dm).await, ["before", "answer lost"]);

    peers.alice.send_text(&peers.dm, "after").await.unwrap();
    let bob = bob_texts(&peers, "after").await;
    assert_eq!(bob, ["before", "answer lost", "after"]);
}

/// The request never reached the node: the message is kept while it might still arrive, then
/// (a sync past the grace period, after a restart) leaves the sender's history; Bob never had it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_the_node_never_stored_leaves_history_after_the_grace_period() {
    let mut peers = Peers::start().await;
    peers.proxy.arm(Cut::Request);
    let failed = peers.alice.send_text(&peers.dm, "request lost").await;
    assert!(failed.is_err(), "the send must fail: {failed:?}");
    assert_eq!(peers.proxy.cuts(), 1);

    peers.alice.sync(&peers.dm).await.unwrap();
    assert_eq!(texts(&peers.alice, &peers.dm).await, ["before", "request lost"]);

    peers.reopen_alice().await;
    peers.later(Duration::from_nanos(120_000_000_000u64) * 2);
    peers.alice.sync(&peers.dm).await.unwrap();
    assert_eq!(texts(&peers.alice, &peers.dm).await, ["before"]);

    peers.alice.send_text(&peers.dm, "after").await.unwrap();
    let bob = bob_texts(&peers, "after").await;
    assert_eq!(bob, ["before", "after"]);
}
