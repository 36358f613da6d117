//! The control API against real agents on the project's node: front ends driving a running
//! agent (two at once, with progress and events), a client that goes away mid-call,
//! client-provided skills called by a peer (validation, deadline, cancel, vanishing), and the
//! socket refusing strangers.

#![allow(clippy::unwrap_used, clippy::print_stderr, missing_docs)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use coworker_host::api::{Outcome, Progress, TrustOutcome};
use coworker_host::control::{ControlClient, ControlServer};
use coworker_host::{Api, ErrorKind};
use coworker_runtime::protocol::okr::OkrStatus;
use coworker_runtime::protocol::skill::FailureCode;
use coworker_runtime::protocol::trust::Tier;
use coworker_runtime::protocol::{Invite, SkillSpec};
use coworker_runtime::{Agent, AgentEvent, CallError, CallOptions, Handler, RuntimeError, Serving};
use coworker_testkit::{Net, wait_for};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

const WAIT: Duration = Duration::from_secs(20);

/// An agent held by this process and served on a control socket, as the app or `coworker
/// serve` holds one.
struct Hosted {
    agent: Agent,
    _serving: Serving,
    server: ControlServer,
    data: tempfile::TempDir,
}

impl Hosted {
    async fn start(
        net: &Net,
        name: &str,
        configure: impl FnOnce(&mut coworker_runtime::AgentConfig),
    ) -> Self {
        let agent = net.agent_with(name, configure).await;
        let serving = agent.serve().await.unwrap();
        let data = tempfile::tempdir().unwrap();
        let server = ControlServer::start(agent.clone(), data.path(), "test").unwrap();
        Self { agent, _serving: serving, server, data }
    }

    async fn client(&self) -> ControlClient {
        ControlClient::connect(self.data.path(), "test").await.unwrap().expect("a host runs")
    }
}

fn spec(name: &str, input: Value, output: Value) -> SkillSpec {
    let mut spec = SkillSpec::new(name, &format!("{name} skill"));
    spec.when_to_use = format!("{name} the text");
    spec.input_schema = input;
    spec.output_schema = output;
    spec.min_tier = Tier::Known;
    spec
}

fn text_spec(name: &str) -> SkillSpec {
    spec(name, json!({"text": "str"}), json!({"text": "str"}))
}

/// A peer that grants KNOWN by itself and offers `echo` (reports progress halfway).
async fn provider(net: &Net, name: &str) -> (Agent, Serving) {
    let agent = net.agent_with(name, |c| c.auto_grant_ceiling = Some(Tier::Known)).await;
    agent
        .register(
            text_spec("echo"),
            Handler::function(|input: Value, context: coworker_runtime::CallContext| async move {
                context.progress(50, "halfway");
                tokio::time::sleep(Duration::from_millis(50)).await;
                Ok(json!({"text": input["text"]}))
            }),
            true,
        )
        .unwrap();
    let serving = agent.serve().await.unwrap();
    (agent, serving)
}

fn refused(error: RuntimeError) -> FailureCode {
    match error {
        RuntimeError::Call(CallError::Failed { code, .. }) => code,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn front_ends_drive_the_running_agent_together() {
    let net = Net::start().await;
    let host = Hosted::start(&net, "host", |_| {}).await;
    host.agent
        .register(
            text_spec("notes"),
            Handler::function(|input: Value, _| async move { Ok(input) }),
            true,
        )
        .unwrap();
    let (peer, _peer_serving) = provider(&net, "peer").await;
    let first = Api::Remote(host.client().await);
    let second = Api::Remote(host.client().await);
    let mut watched = second.events().await.unwrap();

    // Connect through the host: KNOWN granted by the peer's policy, its skill listed.
    let invite = peer.invite(None).unwrap();
    let connected = first.connect(&invite, Some(Tier::Known), "", WAIT).await.unwrap();
    assert_eq!(connected.answer, Some(TrustOutcome::Granted { tier: Tier::Known }));
    assert!(connected.online);
    assert_eq!(connected.peer.skills.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["echo"]);
    let status = second.status().await.unwrap();
    assert_eq!((status.inbox_id.as_str(), status.peers), (host.agent.inbox_id(), 1));
    assert!(status.node_reachable);

    // Two clients call at once; each sees its own call's progress, in order, before the result.
    let (sink_one, mut progress_one) = tokio::sync::mpsc::unbounded_channel();
    let (sink_two, mut progress_two) = tokio::sync::mpsc::unbounded_channel();
    let (one, two) = tokio::join!(
        first.call(
            peer.inbox_id(),
            "echo",
            json!({"text": "one"}),
            CallOptions::default(),
            Some(sink_one)
        ),
        second.call(
            peer.inbox_id(),
            "echo",
            json!({"text": "two"}),
            CallOptions::default(),
            Some(sink_two)
        ),
    );
    let (one, two) = (one.unwrap(), two.unwrap());
    assert_eq!(
        (one.output["text"].as_str(), two.output["text"].as_str()),
        (Some("one"), Some("two"))
    );
    assert!(one.receipt.is_some(), "a verified receipt comes back over the socket");
    for (done, progress) in [(&one, &mut progress_one), (&two, &mut progress_two)] {
        match progress.try_recv() {
            Ok(Progress::Call { task_id, percent: 50, text }) => {
                assert_eq!((task_id.as_str(), text.as_str()), (done.task_id.as_str(), "halfway"));
            }
            other => panic!("expected the call's own progress, got {other:?}"),
        }
        assert!(progress.try_recv().is_err(), "only this call's progress");
    }
    // The same call from the host's own process agrees.
    assert_eq!(host.agent.calls().await.unwrap().len(), 2);

    // Asynchronous: request, then the result (waiting for it).
    let task = first.request(peer.inbox_id(), "echo", json!({"text": "later"})).await.unwrap();
    let outcome = second.call_result(&task, WAIT).await.unwrap();
    assert_eq!(outcome, Some(Outcome::Completed { output: json!({"text": "later"}) }));

    // Collaborate: the live OKR arrives as progress; it completes.
    let (sink, mut okrs) = tokio::sync::mpsc::unbounded_channel();
    let okr = first.collaborate(peer.inbox_id(), "echo the text hello", Some(sink)).await.unwrap();
    assert_eq!(okr.status, OkrStatus::Completed, "{okr:?}");
    let mut seen = Vec::new();
    while let Ok(Progress::Okr { okr: update }) = okrs.try_recv() {
        assert_eq!(update.id, okr.id, "only this collaboration's OKR");
        seen.push(update.status);
    }
    assert_eq!(seen.first(), Some(&OkrStatus::Proposed), "{seen:?}");
    assert_eq!(seen.last(), Some(&OkrStatus::Completed), "{seen:?}");

    // Skills: hidden through the socket, absent for the peer.
    host.agent.set_tier(peer.inbox_id(), Tier::Known).await.unwrap();
    second.set_exposed("notes", false).await.unwrap();
    let listed = first.skills().await.unwrap();
    assert!(listed.iter().any(|s| s.card.name == "notes" && !s.exposed));
    let seen_by_peer = peer.discover(host.agent.inbox_id()).await.unwrap();
    assert!(seen_by_peer.iter().all(|card| card.name != "notes"));
    assert!(first.preview(Tier::Privileged).await.unwrap().is_empty());

    // Trust: the peer asks for INTERNAL; a client approves; the peer holds the new tier and
    // every subscriber saw both the request and the change.
    let asking = {
        let (peer, host_inbox) = (peer.clone(), host.agent.inbox_id().to_owned());
        tokio::spawn(async move {
            peer.request_trust(&host_inbox, Tier::Internal, "the launch", WAIT).await
        })
    };
    let request = wait_for(&mut watched, WAIT, "the trust request event", |e| match e {
        AgentEvent::TrustRequested(r) => Some(r.clone()),
        _ => None,
    })
    .await;
    let pending = first.trust_requests(true).await.unwrap();
    assert_eq!(pending.iter().map(|r| r.id).collect::<Vec<_>>(), [request.id]);
    first.decide_trust_request(request.id, true).await.unwrap();
    let answer = asking.await.unwrap().unwrap();
    assert!(answer.granted, "{answer:?}");
    assert_eq!(second.tier(peer.inbox_id()).await.unwrap(), Tier::Internal);
    wait_for(&mut watched, WAIT, "the tier change event", |e| {
        matches!(e, AgentEvent::TrustChanged { tier: Tier::Internal, .. }).then_some(())
    })
    .await;
    let log = second.audit_log(Some(peer.inbox_id()), 50).await.unwrap();
    assert!(log.iter().any(|entry| entry.decision.rule == "approved"), "{log:?}");

    // Errors keep their kind and code across the socket.
    let missing = first.decide_trust_request(request.id, true).await.unwrap_err();
    assert_eq!((missing.kind, missing.code.as_str()), (ErrorKind::NotFound, "runtime.not_found"));
    let violation = first
        .call(peer.inbox_id(), "echo", json!({"text": 5}), CallOptions::default(), None)
        .await
        .unwrap_err();
    assert_eq!(violation.kind, ErrorKind::Refused);
    assert_eq!(violation.failure(), Some(FailureCode::InvalidInput));
    assert!(violation.message.contains("/text"), "{violation:?}");

    // Receipts, verified by the host against the network.
    let check = second.verify_receipts().await.unwrap();
    assert!(check.checked >= 3 && check.failed.is_empty(), "{check:?}");
    drop(host.server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_goes_away_mid_call_cancels_it_at_the_provider() {
    let net = Net::start().await;
    let host = Hosted::start(&net, "host", |_| {}).await;
    let (started, mut has_started) = tokio::sync::mpsc::unbounded_channel();
    let stopped = Arc::new(AtomicBool::new(false));
    let peer = net.agent_with("peer", |c| c.auto_grant_ceiling = Some(Tier::Known)).await;
    {
        let stopped = Arc::clone(&stopped);
        peer.register(
            text_spec("slow"),
            Handler::function(move |_, _| {
                let (started, stopped) = (started.clone(), Arc::clone(&stopped));
                async move {
                    /// Sets the flag when the task is dropped (cancelled).
                    struct Flag(Arc<AtomicBool>);
                    impl Drop for Flag {
                        fn drop(&mut self) {
                            self.0.store(true, Ordering::SeqCst);
                        }
                    }
                    let _flag = Flag(stopped);
                    let _ = started.send(());
                    std::future::pending::<()>().await;
                    Ok(json!({}))
                }
            }),
            true,
        )
        .unwrap();
    }
    let _peer_serving = peer.serve().await.unwrap();
    let client = host.client().await;
    let api = Api::Remote(client);
    api.connect(&peer.invite(None).unwrap(), Some(Tier::Known), "", WAIT).await.unwrap();

    let calling = {
        let peer = peer.inbox_id().to_owned();
        tokio::spawn(async move {
            let options =
                CallOptions { timeout: Some(Duration::from_secs(60)), ..Default::default() };
            api.call(&peer, "slow", json!({"text": "x"}), options, None).await
        })
    };
    tokio::time::timeout(WAIT, has_started.recv()).await.unwrap().unwrap();
    // The client process dies: its connection closes with the call in flight.
    calling.abort();
    let _ = calling.await;

    tokio::time::timeout(WAIT, async {
        while !stopped.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the provider's task was cancelled");
    let calls = host.agent.calls().await.unwrap();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].status.failure(), Some(FailureCode::Cancelled), "{calls:?}");
    // The host still serves other clients.
    assert_eq!(Api::Remote(host.client().await).peers().await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skills_a_client_provides_are_checked_timed_and_vanish_with_it() {
    let net = Net::start().await;
    let host = Hosted::start(&net, "host", |c| {
        c.auto_grant_ceiling = Some(Tier::Known);
        c.deadline = Duration::from_secs(2);
    })
    .await;
    let client = host.client().await;
    client.provide(text_spec("shout"), true).await.unwrap();
    let mut invocations = client.invocations().unwrap();
    // A name the agent already has is refused.
    let taken = client.provide(text_spec("shout"), true).await.unwrap_err();
    assert_eq!(taken.code, "control.skill_exists");

    let caller = net.agent("caller").await;
    let _caller_serving = caller.serve().await.unwrap();
    let invite = Api::Remote(host.client().await).invite(None).await.unwrap();
    assert!(Invite::parse(&invite, 0).is_ok());
    caller.connect(&invite).await.unwrap();
    let host_inbox = host.agent.inbox_id().to_owned();
    caller.request_trust(&host_inbox, Tier::Known, "tests", WAIT).await.unwrap();
    let cards = caller.discover(&host_inbox).await.unwrap();
    assert_eq!(cards.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["shout"]);

    // Input that violates the schema never reaches the client.
    let bad = caller.call(&host_inbox, "shout", json!({"text": 5}), CallOptions::default()).await;
    assert_eq!(refused(bad.unwrap_err()), FailureCode::InvalidInput);
    assert!(invocations.try_recv().is_err(), "the client saw an invalid input");

    // A good call: the client answers, with progress on the way; the peer gets a receipt.
    let caller_inbox = caller.inbox_id().to_owned();
    let answering = tokio::spawn(async move {
        let invocation = invocations.recv().await.unwrap();
        assert_eq!(invocation.call.skill, "shout");
        assert_eq!(invocation.call.caller, caller_inbox, "the authenticated caller");
        invocation.progress(40, "shouting");
        let text = invocation.call.input["text"].as_str().unwrap().to_uppercase();
        invocation.finish(Ok(json!({"text": text})));
        invocations
    });
    let done = caller
        .call(&host_inbox, "shout", json!({"text": "hi"}), CallOptions::default())
        .await
        .unwrap();
    assert_eq!(done.output, json!({"text": "HI"}));
    assert!(done.receipt.is_some());
    let mut invocations = answering.await.unwrap();

    // Output that violates the schema is refused on its way out.
    let answering = tokio::spawn(async move {
        let invocation = invocations.recv().await.unwrap();
        invocation.finish(Ok(json!({"text": 42})));
        invocations
    });
    let bad_output =
        caller.call(&host_inbox, "shout", json!({"text": "x"}), CallOptions::default()).await;
    assert_eq!(refused(bad_output.unwrap_err()), FailureCode::InvalidOutput);
    let mut invocations = answering.await.unwrap();

    // A client that never answers: the deadline fails the call and the client is told to stop.
    let silent = tokio::spawn(async move {
        let invocation = invocations.recv().await.unwrap();
        tokio::time::timeout(WAIT, invocation.cancelled())
            .await
            .expect("cancelled at the deadline");
        assert!(invocation.is_cancelled());
        invocations
    });
    let late =
        caller.call(&host_inbox, "shout", json!({"text": "x"}), CallOptions::default()).await;
    assert_eq!(refused(late.unwrap_err()), FailureCode::Timeout);
    let _invocations = silent.await.unwrap();

    // The client goes away: its skill is gone, exactly like one that never existed.
    drop(client);
    drop(_invocations);
    tokio::time::timeout(WAIT, async {
        while host.agent.skills().iter().any(|(card, _)| card.name == "shout") {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the skill vanished with its client");
    assert!(caller.discover(&host_inbox).await.unwrap().is_empty());
    let gone =
        caller.call(&host_inbox, "shout", json!({"text": "x"}), CallOptions::default()).await;
    let never =
        caller.call(&host_inbox, "never", json!({"text": "x"}), CallOptions::default()).await;
    let (gone, never) = (gone.unwrap_err().to_string(), never.unwrap_err().to_string());
    assert_eq!(gone.replace("shout", "never"), never, "a departed skill looks like an absent one");
}

/// Sends `hello` on a raw connection and returns what the host answered (lines until it
/// closes).
async fn raw_hello(path: &std::path::Path, hello: &str) -> Vec<Value> {
    let stream = tokio::net::UnixStream::connect(path).await.unwrap();
    let (read, mut write) = stream.into_split();
    write.write_all(format!("{hello}\n").as_bytes()).await.unwrap();
    let mut lines = BufReader::new(read).lines();
    let mut answers = Vec::new();
    while let Ok(Ok(Some(line))) = tokio::time::timeout(WAIT, lines.next_line()).await {
        answers.push(serde_json::from_str(&line).unwrap());
    }
    answers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_socket_refuses_strangers_and_other_versions() {
    let net = Net::start().await;
    let host = Hosted::start(&net, "host", |_| {}).await;
    let path = host.server.path().to_owned();

    // Owner only.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // A client of another protocol version, or one that does not say hello, is refused with a
    // clear error and disconnected.
    let answers = raw_hello(&path, r#"{"coworker_control": 99, "client": "future"}"#).await;
    assert_eq!(answers.len(), 1, "{answers:?}");
    assert_eq!(answers[0]["error"]["code"], "control.version");
    assert!(answers[0]["error"]["message"].as_str().unwrap().contains("99"));
    let answers = raw_hello(&path, r#"{"method": "status", "id": 1}"#).await;
    assert_eq!(answers[0]["error"]["code"], "control.hello", "{answers:?}");
    assert_eq!(answers.len(), 1);

    // A request that is not one is answered with an error; the connection goes on.
    let stream = tokio::net::UnixStream::connect(&path).await.unwrap();
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    write
        .write_all(b"{\"coworker_control\":1}\n{\"id\":1,\"method\":\"launch\"}\n{\"id\":2,\"method\":\"status\"}\n")
        .await
        .unwrap();
    let mut answers = Vec::new();
    for _ in 0..3 {
        let line = tokio::time::timeout(WAIT, lines.next_line()).await.unwrap().unwrap().unwrap();
        answers.push(serde_json::from_str::<Value>(&line).unwrap());
    }
    assert_eq!(answers[0]["result"]["inbox_id"], host.agent.inbox_id());
    assert_eq!(answers[1]["error"]["code"], "control.malformed", "{answers:?}");
    assert_eq!(answers[2]["result"]["inbox_id"], host.agent.inbox_id(), "{answers:?}");

    // A line over 4 MiB disconnects its sender (the host never buffers more); others go on.
    let stream = tokio::net::UnixStream::connect(&path).await.unwrap();
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    write.write_all(b"{\"coworker_control\":1}\n").await.unwrap();
    let welcome = tokio::time::timeout(WAIT, lines.next_line()).await.unwrap().unwrap();
    assert!(welcome.is_some());
    let flood = tokio::spawn(async move {
        let huge = vec![b'x'; 4 * 1024 * 1024 + 2];
        // The host hangs up part-way: a failed write is the expected outcome.
        let _ = write.write_all(&huge).await;
        let _ = write.write_all(b"\n").await;
    });
    let end = tokio::time::timeout(WAIT, lines.next_line()).await.expect("the host hung up");
    assert!(matches!(end, Ok(None) | Err(_)), "{end:?}");
    flood.await.unwrap();
    let client = ControlClient::connect(host.data.path(), "test").await.unwrap().unwrap();
    assert_eq!(client.welcome().inbox_id, host.agent.inbox_id());

    other_users_are_refused(host.data.path(), &path);
}

/// Another OS user can neither open the socket (0600 in a 0700 directory) nor, if the
/// permissions are loosened, talk to the host (its peer credentials are checked). Needs root
/// to act as `nobody`: CI runs as root.
fn other_users_are_refused(data_dir: &std::path::Path, socket: &std::path::Path) {
    if !is_root() {
        eprintln!("skipped: acting as another user needs root (CI runs as root)");
        return;
    }
    let probe = r#"
import socket, sys
s = socket.socket(socket.AF_UNIX)
try:
    s.connect(sys.argv[1])
except OSError as e:
    print("refused:", e.errno)
    sys.exit(0)
s.settimeout(20)
try:
    s.sendall(b'{"coworker_control":1}\n')
    print("answered:", repr(s.recv(4096)))
except OSError:
    print("answered: b''")
"#;
    let as_nobody = || {
        let output = std::process::Command::new("setpriv")
            .args([
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                "/usr/bin/python3",
                "-c",
                probe,
            ])
            .arg(socket)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        assert!(output.status.success(), "{stdout} {}", String::from_utf8_lossy(&output.stderr));
        stdout
    };
    assert_eq!(as_nobody(), "refused: 13", "the file permissions keep others out");
    use std::os::unix::fs::PermissionsExt;
    let open = |path: &std::path::Path, mode| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    open(data_dir, 0o755);
    open(socket, 0o666);
    assert_eq!(as_nobody(), "answered: b''", "the host hangs up on another user");
    open(socket, 0o600);
    open(data_dir, 0o700);
}

fn is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_host_there_is_nothing_to_reach_and_a_second_host_is_refused() {
    let data = tempfile::tempdir().unwrap();
    assert!(ControlClient::connect(data.path(), "test").await.unwrap().is_none());
    let held = coworker_host::lock::DataDirLock::take(data.path()).unwrap();
    let second = coworker_host::lock::DataDirLock::take(data.path()).unwrap_err();
    assert_eq!((second.kind, second.code.as_str()), (ErrorKind::Busy, "host.busy"));
    assert!(second.message.contains("already runs"), "{second:?}");
    drop(held);
    coworker_host::lock::DataDirLock::take(data.path()).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_skill_answer_reaches_the_caller_as_is() {
    let net = Net::start().await;
    let host = Hosted::start(&net, "host", |c| c.auto_grant_ceiling = Some(Tier::Known)).await;
    let client = host.client().await;
    client.provide(text_spec("fragile"), true).await.unwrap();
    let mut invocations = client.invocations().unwrap();
    tokio::spawn(async move {
        while let Some(invocation) = invocations.recv().await {
            invocation.finish(Err("the printer is on fire".into()));
        }
    });
    let caller = net.agent("caller").await;
    let _serving = caller.serve().await.unwrap();
    caller.connect(&host.agent.invite(None).unwrap()).await.unwrap();
    let host_inbox = host.agent.inbox_id().to_owned();
    caller.request_trust(&host_inbox, Tier::Known, "tests", WAIT).await.unwrap();
    let failed = caller
        .call(&host_inbox, "fragile", json!({"text": "x"}), CallOptions::default())
        .await
        .unwrap_err();
    assert!(failed.to_string().contains("the printer is on fire"), "{failed}");
    assert_eq!(refused(failed), FailureCode::SkillFailed);
}

/// The owner stops the host (Ctrl-C, the app quitting) while a client's skill runs: the socket
/// takes no new clients at once, yet the client's answer still reaches the caller, because open
/// connections stay until the requests in progress are answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_the_host_waits_for_the_answers_of_client_skills() {
    use coworker_host::identity::Identity;
    use coworker_host::keys::{KeyStore, MemoryKeyStore};

    let net = Net::start().await;
    let dir = tempfile::tempdir().unwrap();
    let keys = Arc::new(MemoryKeyStore::default()) as Arc<dyn KeyStore>;
    let network = coworker_host::network::Network::Url(net.url().to_owned());
    let mut identity = Identity::new("host", dir.path(), network, "test", keys);
    identity.config.auto_grant_ceiling = Some(Tier::Known);
    let held = identity.open().await.unwrap().serve().await.unwrap();
    let host_inbox = held.agent.inbox_id().to_owned();
    let socket = held.control_socket().to_owned();
    let client = ControlClient::connect(dir.path(), "test").await.unwrap().expect("a host runs");
    client.provide(text_spec("shout"), true).await.unwrap();
    let mut invocations = client.invocations().unwrap();

    let caller = net.agent("caller").await;
    let _caller_serving = caller.serve().await.unwrap();
    caller.connect(&held.agent.invite(None).unwrap()).await.unwrap();
    caller.request_trust(&host_inbox, Tier::Known, "tests", WAIT).await.unwrap();
    let calling = tokio::spawn(async move {
        caller.call(&host_inbox, "shout", json!({"text": "bye"}), CallOptions::default()).await
    });
    let invocation = tokio::time::timeout(WAIT, invocations.recv()).await.unwrap().unwrap();

    let stopping = tokio::spawn(held.stop());
    tokio::time::timeout(WAIT, async {
        while socket.exists() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the socket closes at once");
    assert!(ControlClient::connect(dir.path(), "test").await.unwrap().is_none());

    invocation.finish(Ok(json!({"text": "BYE"})));
    let done = tokio::time::timeout(WAIT, calling).await.unwrap().unwrap().unwrap();
    assert_eq!(done.output, json!({"text": "BYE"}));
    assert!(done.receipt.is_some());
    tokio::time::timeout(WAIT, stopping).await.expect("the host stops once drained").unwrap();
}
