//! Serving an agent over the control socket: one task per client connection; each request runs
//! as its own task (a long call does not hold the others up) and is abandoned — its call
//! cancelled at the provider — when the client goes away; events after `subscribe`; skills the
//! client provides, routed to it and removed when it leaves.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use coworker_runtime::{Agent, CallContext, Handler, SkillFailure};
use serde::Serialize;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::proto::{FromClient, Hello, Invoke, Reply, Request, ToClient, VERSION, Welcome};
use crate::api::Api;
use crate::error::{ErrorKind, HostError};

/// Longest line a client may send (a request or a skill's output).
const MAX_LINE: usize = 4 * 1024 * 1024;

/// The control API of one agent, listening on its data directory's socket.
#[derive(Debug)]
pub struct ControlServer {
    path: PathBuf,
    /// Closes the listener; connections stay.
    accepting: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl ControlServer {
    /// Listens on `data_dir/control.sock` (0600). The caller holds the data directory's lock,
    /// so a socket file left there is stale and replaced.
    /// Must be called within a Tokio runtime.
    pub fn start(agent: Agent, data_dir: &Path, network: &str) -> Result<Self, HostError> {
        let path = crate::paths::control_socket(data_dir);
        let io = |e: std::io::Error| {
            HostError::new(ErrorKind::Failed, "control.socket", format!("{}: {e}", path.display()))
        };
        if path.exists() {
            std::fs::remove_file(&path).map_err(io)?;
        }
        let listener = UnixListener::bind(&path).map_err(io)?;
        restrict(&path).map_err(io)?;
        let welcome = Welcome {
            coworker_control: VERSION,
            name: agent.name().to_owned(),
            inbox_id: agent.inbox_id().to_owned(),
            address: agent.client().address(),
            network: network.to_owned(),
        };
        let (accepting, mut closed) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let mut connections = JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok((stream, _)) if same_user(&stream) => {
                            connections.spawn(serve(agent.clone(), stream, welcome.clone()));
                        }
                        Ok(_) => tracing::warn!("a process of another user was refused the control socket"),
                        Err(e) => tracing::warn!("control socket: {e}"),
                    },
                    Some(_) = connections.join_next(), if !connections.is_empty() => {}
                    _ = &mut closed => break,
                }
            }
            drop(listener);
            // Connections already open go on (their skills' answers may still be coming)
            // until the server is stopped.
            while connections.join_next().await.is_some() {}
        });
        Ok(Self { path, accepting: Some(accepting), task })
    }

    /// Accepts no more connections (the socket disappears); the open ones go on, so that the
    /// answers of the skills their clients run still arrive while the agent drains.
    pub fn stop_accepting(&mut self) {
        if let Some(accepting) = self.accepting.take() {
            let _ = accepting.send(());
            let _ = std::fs::remove_file(&self.path);
        }
    }

    /// Where it listens.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Stops serving (clients are disconnected) and removes the socket.
    pub fn stop(self) {
        drop(self);
    }
}

impl Drop for ControlServer {
    fn drop(&mut self) {
        self.task.abort();
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(unix)]
fn restrict(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
}

#[cfg(not(unix))]
fn restrict(_path: &Path) -> std::io::Result<()> {
    Ok(())
}

/// Only processes of the user that runs the host.
fn same_user(stream: &UnixStream) -> bool {
    #[cfg(unix)]
    {
        stream.peer_cred().is_ok_and(|c| c.uid() == rustix::process::getuid().as_raw())
    }
    #[cfg(not(unix))]
    {
        let _ = stream;
        false
    }
}

/// What one connection shares between its tasks.
struct Connection {
    agent: Agent,
    out: mpsc::UnboundedSender<ToClient>,
    /// Invocations of this client's skills waiting for its replies.
    invocations: Mutex<HashMap<u64, mpsc::UnboundedSender<Reply>>>,
    next_invocation: AtomicU64,
    /// Skills this client registered (removed when it leaves).
    skills: Mutex<Vec<String>>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

async fn serve(agent: Agent, stream: UnixStream, welcome: Welcome) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    let (out, mut outgoing) = mpsc::unbounded_channel::<ToClient>();
    let writer = tokio::spawn(async move {
        while let Some(message) = outgoing.recv().await {
            if write_line(&mut write, &message).await.is_err() {
                break;
            }
        }
    });
    // The handshake, in the writer's order.
    let Some(first) = next_line(&mut lines).await else { return };
    match serde_json::from_str::<Hello>(&first) {
        Ok(hello) if hello.coworker_control == VERSION => {
            let _ = out.send(welcome_message(&welcome));
        }
        Ok(hello) => {
            let error = HostError::new(
                ErrorKind::Protocol,
                "control.version",
                format!(
                    "this host speaks control protocol {VERSION}, not {}; update the client",
                    hello.coworker_control
                ),
            );
            let _ = out.send(ToClient::Error { id: 0, error });
            drop(out);
            let _ = writer.await;
            return;
        }
        Err(e) => {
            let error =
                HostError::new(ErrorKind::Protocol, "control.hello", format!("no hello: {e}"));
            let _ = out.send(ToClient::Error { id: 0, error });
            drop(out);
            let _ = writer.await;
            return;
        }
    }
    let connection = Arc::new(Connection {
        agent: agent.clone(),
        out: out.clone(),
        invocations: Mutex::new(HashMap::new()),
        next_invocation: AtomicU64::new(1),
        skills: Mutex::new(Vec::new()),
    });
    // However this connection ends (its client leaves, or the server stops), its skills go
    // and their invocations fail at once instead of waiting for replies that cannot come.
    let _leaving = Leaving(Arc::clone(&connection));
    let mut requests = JoinSet::new();
    while let Some(line) = next_line(&mut lines).await {
        match serde_json::from_str::<FromClient>(&line) {
            Ok(FromClient::Request(framed)) => {
                let connection = Arc::clone(&connection);
                requests.spawn(async move {
                    let answer = match handle(&connection, framed.id, framed.request).await {
                        Ok(result) => ToClient::Result { id: framed.id, result },
                        Err(error) => ToClient::Error { id: framed.id, error },
                    };
                    let _ = connection.out.send(answer);
                });
            }
            Ok(FromClient::Reply(reply)) => {
                let waiting = lock(&connection.invocations).get(&reply.invocation).cloned();
                if let Some(waiting) = waiting {
                    let _ = waiting.send(reply);
                }
            }
            Err(e) => {
                let (id, why) = unreadable(&line, &e);
                let error = HostError::new(ErrorKind::Protocol, "control.malformed", why);
                let _ = out.send(ToClient::Error { id, error });
            }
        }
        while requests.try_join_next().is_some() {}
    }
    // The client is gone: abandon its requests (a call in flight is cancelled at the
    // provider); `Leaving` removes its skills and fails their invocations.
    requests.abort_all();
    drop(out);
    writer.abort();
}

/// Removes a connection's skills and fails their invocations when it ends, however it ends.
struct Leaving(Arc<Connection>);

impl Drop for Leaving {
    fn drop(&mut self) {
        for name in lock(&self.0.skills).drain(..) {
            let _ = self.0.agent.unregister(&name);
        }
        lock(&self.0.invocations).clear();
    }
}

fn welcome_message(welcome: &Welcome) -> ToClient {
    ToClient::Result { id: 0, result: serde_json::to_value(welcome).unwrap_or_default() }
}

/// Why a line is not a request or a reply, and the id to answer it with: the request's own
/// when the line has one (so the client's waiting request fails), else 0.
fn unreadable(line: &str, error: &serde_json::Error) -> (u64, String) {
    let Ok(Value::Object(mut object)) = serde_json::from_str::<Value>(line) else {
        return (0, format!("not a request: {error}"));
    };
    let Some(id) = object.remove("id").and_then(|id| id.as_u64()).filter(|id| *id != 0) else {
        return (0, format!("not a request: {error}"));
    };
    // The request alone says which field is wrong (the untagged error does not).
    let why = match serde_json::from_value::<Request>(Value::Object(object)) {
        Err(e) => e.to_string(),
        Ok(_) => error.to_string(),
    };
    (id, format!("not a request: {why}"))
}

/// The next line, without its newline; `None` at the end or when a line exceeds
/// [`MAX_LINE`] (never buffering more than that).
async fn next_line(reader: &mut BufReader<tokio::net::unix::OwnedReadHalf>) -> Option<String> {
    let mut line = Vec::new();
    let limit = MAX_LINE as u64 + 1;
    let read = (&mut *reader).take(limit).read_until(b'\n', &mut line).await.ok()?;
    if read == 0 {
        return None;
    }
    if line.last() == Some(&b'\n') {
        line.pop();
    } else if line.len() > MAX_LINE {
        tracing::warn!("a control client sent an oversized line; disconnecting it");
        return None;
    }
    Some(String::from_utf8_lossy(&line).into_owned())
}

async fn write_line(
    write: &mut tokio::net::unix::OwnedWriteHalf,
    message: &impl Serialize,
) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(message).unwrap_or_default();
    line.push(b'\n');
    write.write_all(&line).await
}

fn json<T: Serialize>(value: T) -> Result<Value, HostError> {
    serde_json::to_value(value)
        .map_err(|e| HostError::new(ErrorKind::Failed, "control.encode", e.to_string()))
}

/// Runs one request with the same use cases a local front end runs.
async fn handle(
    connection: &Arc<Connection>,
    id: u64,
    request: Request,
) -> Result<Value, HostError> {
    let api = Api::Local(connection.agent.clone());
    match request {
        Request::Status => json(api.status().await?),
        Request::Invite { expires_at } => json(api.invite(expires_at).await?),
        Request::Peers => json(api.peers().await?),
        Request::FindPeer { text } => json(api.find_peer(&text).await?),
        Request::Discover { peer, wait_ms } => {
            json(api.discover(&peer, std::time::Duration::from_millis(wait_ms)).await?)
        }
        Request::Connect { code, ask, reason, wait_ms } => {
            let wait = std::time::Duration::from_millis(wait_ms);
            json(api.connect(&code, ask, &reason, wait).await?)
        }
        Request::Call { peer, skill, input, task_id, timeout_ms } => {
            let timeout = timeout_ms.map(std::time::Duration::from_millis);
            // The client's call: abandoned with the client, cancelled at the provider.
            let options = coworker_runtime::CallOptions {
                task_id,
                timeout,
                version: None,
                cancel_if_abandoned: true,
            };
            let call = |sink| api.call(&peer, &skill, input, options, Some(sink));
            json(with_progress(connection, id, call).await?)
        }
        Request::Request { peer, skill, input } => json(api.request(&peer, &skill, input).await?),
        Request::CallResult { task_id, wait_ms } => {
            let wait = std::time::Duration::from_millis(wait_ms);
            json(api.call_result(&task_id, wait).await?)
        }
        Request::Calls => json(api.calls().await?),
        Request::Cancel { peer, task_id } => json(api.cancel(&peer, &task_id).await?),
        Request::Collaborate { peer, goal } => {
            let collaborate = |sink| api.collaborate(&peer, &goal, Some(sink));
            json(with_progress(connection, id, collaborate).await?)
        }
        Request::Okrs => json(api.okrs().await?),
        Request::Skills => json(api.skills().await?),
        Request::SetExposed { skill, exposed } => json(api.set_exposed(&skill, exposed).await?),
        Request::Preview { tier } => json(api.preview(tier).await?),
        Request::RegisterSkill { spec, exposed } => json(provide(connection, spec, exposed)?),
        Request::UnregisterSkill { name } => {
            let mine = {
                let mut skills = lock(&connection.skills);
                let before = skills.len();
                skills.retain(|s| *s != name);
                skills.len() != before
            };
            if !mine {
                return Err(HostError::new(
                    ErrorKind::NotFound,
                    "runtime.not_found",
                    format!("this client provides no skill {name}"),
                ));
            }
            json(connection.agent.unregister(&name).map_err(HostError::from)?)
        }
        Request::Tier { peer } => json(api.tier(&peer).await?),
        Request::SetTier { peer, tier } => json(api.set_tier(&peer, tier).await?),
        Request::TrustRequests { pending_only } => json(api.trust_requests(pending_only).await?),
        Request::DecideTrustRequest { id, approve } => {
            json(api.decide_trust_request(id, approve).await?)
        }
        Request::AuditLog { peer, limit } => json(api.audit_log(peer.as_deref(), limit).await?),
        Request::Block { peer } => json(api.set_blocked(&peer, true).await?),
        Request::Unblock { peer } => json(api.set_blocked(&peer, false).await?),
        Request::Groups => json(api.groups().await?),
        Request::CreateGroup { name, members } => json(api.create_group(&name, &members).await?),
        Request::SendChat { conversation, text } => {
            json(api.send_chat(&conversation, &text).await?)
        }
        Request::GroupCall { group, member, skill, input } => {
            json(api.group_call(&group, &member, &skill, input).await?)
        }
        Request::Receipts => json(api.receipts().await?),
        Request::VerifyReceipts => json(api.verify_receipts().await?),
        Request::Subscribe => {
            let mut events = connection.agent.subscribe();
            let out = connection.out.clone();
            tokio::spawn(async move {
                loop {
                    match events.recv().await {
                        Ok(event) => {
                            let event = serde_json::to_value(&event).unwrap_or_default();
                            if out.send(ToClient::Event { event }).is_err() {
                                break;
                            }
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => {
                            tracing::warn!(missed, "a control client's events lagged");
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                    }
                }
            });
            Ok(Value::Null)
        }
    }
}

/// Runs a request whose progress the client follows: each report is sent, in order, before
/// the result.
async fn with_progress<T, F>(
    connection: &Arc<Connection>,
    id: u64,
    run: impl FnOnce(crate::api::ProgressSink) -> F,
) -> Result<T, HostError>
where
    F: std::future::Future<Output = Result<T, HostError>>,
{
    let (sink, mut reports) = mpsc::unbounded_channel();
    let work = run(sink);
    tokio::pin!(work);
    let send = |progress| {
        let _ = connection.out.send(ToClient::Progress { id, progress });
    };
    let result = loop {
        tokio::select! {
            biased;
            Some(progress) = reports.recv() => send(progress),
            result = &mut work => break result,
        }
    };
    while let Ok(progress) = reports.try_recv() {
        send(progress);
    }
    result
}

/// Registers a skill this client runs.
fn provide(
    connection: &Arc<Connection>,
    spec: coworker_runtime::protocol::SkillSpec,
    exposed: bool,
) -> Result<(), HostError> {
    let name = spec.name.clone();
    if connection.agent.skills().iter().any(|(card, _)| card.name == name) {
        return Err(HostError::new(
            ErrorKind::InvalidInput,
            "control.skill_exists",
            format!("the agent already has a skill named {name}"),
        ));
    }
    let weak = Arc::downgrade(connection);
    let handler = Handler::function(move |input: Value, context: CallContext| {
        let weak = weak.clone();
        async move {
            let connection = weak
                .upgrade()
                .ok_or_else(|| SkillFailure::new("the skill's provider went away"))?;
            invoke(&connection, input, context).await
        }
    });
    connection.agent.register(spec, handler, exposed).map_err(HostError::from)?;
    lock(&connection.skills).push(name);
    Ok(())
}

/// Sends one invocation to the client and waits for its answer (forwarding progress). When
/// the call ends first (deadline, cancel) the client is told to stop.
async fn invoke(
    connection: &Arc<Connection>,
    input: Value,
    context: CallContext,
) -> Result<Value, SkillFailure> {
    let id = connection.next_invocation.fetch_add(1, Ordering::Relaxed);
    let (reply, mut replies) = mpsc::unbounded_channel();
    lock(&connection.invocations).insert(id, reply);
    let mut pending = Pending { connection: Arc::clone(connection), id, done: false };
    let skill = context.skill.clone();
    let invoke = Invoke {
        invocation: id,
        skill,
        input,
        caller: context.caller.clone(),
        task_id: context.task_id.clone(),
    };
    if connection.out.send(ToClient::Invoke { invoke }).is_err() {
        return Err(SkillFailure::new("the skill's provider went away"));
    }
    while let Some(reply) = replies.recv().await {
        if let Some((percent, text)) = reply.progress {
            context.progress(percent, &text);
            continue;
        }
        pending.done = true;
        return match (reply.output, reply.error) {
            (_, Some(error)) => Err(SkillFailure::new(error)),
            (output, None) => Ok(output.unwrap_or(Value::Null)),
        };
    }
    pending.done = true;
    Err(SkillFailure::new("the skill's provider went away"))
}

/// An invocation in flight: forgotten (and cancelled at the client unless it answered) when
/// dropped.
struct Pending {
    connection: Arc<Connection>,
    id: u64,
    done: bool,
}

impl Drop for Pending {
    fn drop(&mut self) {
        lock(&self.connection.invocations).remove(&self.id);
        if !self.done {
            let _ = self.connection.out.send(ToClient::Cancel { cancel: self.id });
        }
    }
}
