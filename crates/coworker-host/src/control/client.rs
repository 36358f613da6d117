//! A client of a running host: requests with their answers, the agent's events, and skills the
//! client provides (their invocations arrive on a channel; each is answered once).

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use coworker_runtime::AgentEvent;
use coworker_runtime::protocol::SkillSpec;
use serde::Serialize;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::sync::{mpsc, oneshot, watch};

use super::proto::{Framed, Hello, Invoke, Reply, Request, ToClient, VERSION, Welcome};
use crate::api::ProgressSink;
use crate::error::{ErrorKind, HostError};

/// A connection to a host. Cheap to clone; the connection closes when the last clone goes.
#[derive(Clone)]
pub struct ControlClient {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for ControlClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlClient")
            .field("host", &self.inner.welcome.name)
            .finish_non_exhaustive()
    }
}

struct Inner {
    welcome: Welcome,
    out: mpsc::UnboundedSender<String>,
    next: AtomicU64,
    waiting: Arc<Mutex<HashMap<u64, Waiting>>>,
    events: Arc<Mutex<Option<mpsc::UnboundedSender<AgentEvent>>>>,
    provider: Mutex<Option<SkillProvider>>,
    reader: tokio::task::JoinHandle<()>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// A request waiting for its answer (and where its progress goes).
struct Waiting {
    answer: oneshot::Sender<Result<Value, HostError>>,
    progress: Option<ProgressSink>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Invocations in flight, by id: told when the host cancels them.
type Cancels = Arc<Mutex<HashMap<u64, watch::Sender<bool>>>>;

/// A call to a skill this client provides.
#[derive(Debug)]
pub struct Invocation {
    /// The call.
    pub call: Invoke,
    out: mpsc::UnboundedSender<String>,
    cancelled: watch::Receiver<bool>,
    cancels: Cancels,
}

impl Drop for Invocation {
    fn drop(&mut self) {
        lock(&self.cancels).remove(&self.call.invocation);
    }
}

impl Invocation {
    /// Resolves when the host cancels this invocation (its caller cancelled, went away or its
    /// deadline passed): stop working, the answer is no longer wanted.
    pub async fn cancelled(&self) {
        let mut cancelled = self.cancelled.clone();
        let _ = cancelled.wait_for(|c| *c).await;
    }

    /// Whether the host has cancelled it.
    pub fn is_cancelled(&self) -> bool {
        *self.cancelled.borrow()
    }

    /// Reports progress (0-100) to the caller.
    pub fn progress(&self, percent: u8, text: &str) {
        self.send(&Reply {
            invocation: self.call.invocation,
            output: None,
            error: None,
            progress: Some((percent.min(100), text.to_owned())),
        });
    }

    /// Answers: the output, or the reason it failed (sent to the caller as is).
    pub fn finish(self, outcome: Result<Value, String>) {
        let (output, error) = match outcome {
            Ok(output) => (Some(output), None),
            Err(error) => (None, Some(error)),
        };
        self.send(&Reply { invocation: self.call.invocation, output, error, progress: None });
    }

    fn send(&self, reply: &Reply) {
        let _ = self.out.send(serde_json::to_string(reply).unwrap_or_default());
    }
}

/// Receives the invocations of the skills a client provides.
pub type SkillProvider = mpsc::UnboundedReceiver<Invocation>;

impl ControlClient {
    /// Connects to the host of `data_dir`; `Ok(None)` when none runs there.
    pub async fn connect(data_dir: &Path, client: &str) -> Result<Option<Self>, HostError> {
        let path = crate::paths::control_socket(data_dir);
        let stream = match UnixStream::connect(&path).await {
            Ok(stream) => stream,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
                ) =>
            {
                return Ok(None);
            }
            Err(e) => {
                return Err(HostError::new(
                    ErrorKind::Failed,
                    "control.connect",
                    format!("cannot reach the host at {}: {e}", path.display()),
                ));
            }
        };
        Self::handshake(stream, client).await.map(Some)
    }

    async fn handshake(stream: UnixStream, client: &str) -> Result<Self, HostError> {
        let (read, mut write) = stream.into_split();
        let mut lines = BufReader::new(read).lines();
        let hello = Hello { coworker_control: VERSION, client: client.to_owned() };
        write_line(&mut write, &hello).await?;
        let first = lines.next_line().await.ok().flatten().ok_or_else(|| {
            HostError::new(ErrorKind::Protocol, "control.closed", "the host closed the connection")
        })?;
        let welcome = match serde_json::from_str::<ToClient>(&first) {
            Ok(ToClient::Result { result, .. }) => serde_json::from_value::<Welcome>(result)
                .map_err(|e| HostError::new(ErrorKind::Protocol, "control.hello", e.to_string()))?,
            Ok(ToClient::Error { error, .. }) => return Err(error),
            _ => {
                return Err(HostError::new(ErrorKind::Protocol, "control.hello", "no welcome"));
            }
        };
        let (out, mut outgoing) = mpsc::unbounded_channel::<String>();
        tokio::spawn(async move {
            while let Some(mut line) = outgoing.recv().await {
                line.push('\n');
                if write.write_all(line.as_bytes()).await.is_err() {
                    break;
                }
            }
        });
        let waiting: Arc<Mutex<HashMap<u64, Waiting>>> = Arc::default();
        let events: Arc<Mutex<Option<mpsc::UnboundedSender<AgentEvent>>>> = Arc::default();
        let (invocations, provider) = mpsc::unbounded_channel::<Invocation>();
        let cancels: Cancels = Arc::default();
        let reader = {
            let (waiting, events, out) = (Arc::clone(&waiting), Arc::clone(&events), out.clone());
            tokio::spawn(async move {
                while let Ok(Some(line)) = lines.next_line().await {
                    match serde_json::from_str::<ToClient>(&line) {
                        Ok(ToClient::Result { id, result }) => {
                            if let Some(w) = lock(&waiting).remove(&id) {
                                let _ = w.answer.send(Ok(result));
                            }
                        }
                        Ok(ToClient::Error { id, error }) => {
                            if let Some(w) = lock(&waiting).remove(&id) {
                                let _ = w.answer.send(Err(error));
                            }
                        }
                        Ok(ToClient::Progress { id, progress }) => {
                            if let Some(sink) =
                                lock(&waiting).get(&id).and_then(|w| w.progress.as_ref())
                            {
                                let _ = sink.send(progress);
                            }
                        }
                        Ok(ToClient::Event { event }) => {
                            let Ok(event) = serde_json::from_value::<AgentEvent>(event) else {
                                continue;
                            };
                            if let Some(events) = lock(&events).as_ref() {
                                let _ = events.send(event);
                            }
                        }
                        Ok(ToClient::Invoke { invoke }) => {
                            let (cancel, cancelled) = watch::channel(false);
                            lock(&cancels).insert(invoke.invocation, cancel);
                            let invocation = Invocation {
                                call: invoke,
                                out: out.clone(),
                                cancelled,
                                cancels: Arc::clone(&cancels),
                            };
                            if let Err(unheard) = invocations.send(invocation) {
                                unheard
                                    .0
                                    .finish(Err("the skill's provider stopped listening".into()));
                            }
                        }
                        Ok(ToClient::Cancel { cancel }) => {
                            if let Some(cancel) = lock(&cancels).remove(&cancel) {
                                let _ = cancel.send(true);
                            }
                        }
                        Err(_) => {}
                    }
                }
                // The host went away: every waiting request fails.
                for (_, w) in lock(&waiting).drain() {
                    let _ = w.answer.send(Err(HostError::new(
                        ErrorKind::Unreachable,
                        "control.closed",
                        "the host closed the connection",
                    )));
                }
            })
        };
        Ok(Self {
            inner: Arc::new(Inner {
                welcome,
                out,
                next: AtomicU64::new(1),
                waiting,
                events,
                provider: Mutex::new(Some(provider)),
                reader,
            }),
        })
    }

    /// Who the host is.
    pub fn welcome(&self) -> &Welcome {
        &self.inner.welcome
    }

    /// Sends a request and waits for its answer.
    pub async fn request(&self, request: Request) -> Result<Value, HostError> {
        self.request_with(request, None).await
    }

    /// Sends a request and waits for its answer; its progress reports go to `progress`.
    pub async fn request_with(
        &self,
        request: Request,
        progress: Option<ProgressSink>,
    ) -> Result<Value, HostError> {
        let id = self.inner.next.fetch_add(1, Ordering::Relaxed);
        let (answer, answered) = oneshot::channel();
        lock(&self.inner.waiting).insert(id, Waiting { answer, progress });
        let line = serde_json::to_string(&Framed { id, request }).unwrap_or_default();
        if self.inner.out.send(line).is_err() {
            lock(&self.inner.waiting).remove(&id);
        }
        answered.await.unwrap_or_else(|_| {
            Err(HostError::new(ErrorKind::Unreachable, "control.closed", "the host went away"))
        })
    }

    /// Sends the agent's events to `events` from now on.
    pub async fn subscribe(
        &self,
        events: mpsc::UnboundedSender<AgentEvent>,
    ) -> Result<(), HostError> {
        *lock(&self.inner.events) = Some(events);
        self.request(Request::Subscribe).await.map(|_| ())
    }

    /// Provides a skill: peers' calls to it arrive on [`ControlClient::invocations`] until the
    /// client goes away (then the skill disappears from the agent).
    pub async fn provide(&self, spec: SkillSpec, exposed: bool) -> Result<(), HostError> {
        self.request(Request::RegisterSkill { spec, exposed }).await.map(|_| ())
    }

    /// The invocations of every skill this client provides (once: the first caller gets them).
    pub fn invocations(&self) -> Option<SkillProvider> {
        lock(&self.inner.provider).take()
    }
}

async fn write_line(
    write: &mut tokio::net::unix::OwnedWriteHalf,
    message: &impl Serialize,
) -> Result<(), HostError> {
    let mut line = serde_json::to_vec(message).unwrap_or_default();
    line.push(b'\n');
    write.write_all(&line).await.map_err(|e| {
        HostError::new(ErrorKind::Unreachable, "control.closed", format!("the host went away: {e}"))
    })
}
