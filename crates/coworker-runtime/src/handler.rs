//! What runs when a peer calls a skill: a Rust closure, an external command that reads the
//! input as JSON on stdin and writes the output as JSON on stdout (so a Python, Node or shell
//! program is a skill), or an HTTP endpoint that takes the input as a JSON POST body.
//!
//! A handler's failure reaches the caller only as the message the skill chose
//! ([`SkillFailure`]); a command's stderr, exit status and paths, and an endpoint's URL and
//! status, stay in the local log.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A failure a skill reports to its caller. The message is sent as is: put nothing secret in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkillFailure(pub String);

impl SkillFailure {
    /// A failure with this message.
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

/// What a handler knows about the call.
#[derive(Debug, Clone)]
pub struct CallContext {
    /// The skill called.
    pub skill: String,
    /// The caller's XMTP inbox id (authenticated).
    pub caller: String,
    /// The task id.
    pub task_id: String,
    pub(crate) progress: Option<tokio::sync::mpsc::UnboundedSender<(u8, String)>>,
}

impl CallContext {
    /// Tells the caller how far along the task is (0-100).
    pub fn progress(&self, percent: u8, text: &str) {
        if let Some(progress) = &self.progress {
            let _ = progress.send((percent.min(100), text.to_owned()));
        }
    }
}

type HandlerFuture = Pin<Box<dyn Future<Output = Result<Value, SkillFailure>> + Send>>;
type HandlerFn = dyn Fn(Value, CallContext) -> HandlerFuture + Send + Sync;

/// How a skill is executed.
#[derive(Clone)]
pub enum Handler {
    /// A Rust async function.
    Function(Arc<HandlerFn>),
    /// An external program.
    Command(Command),
    /// An HTTP endpoint.
    Http(crate::http::HttpEndpoint),
}

impl std::fmt::Debug for Handler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Function(_) => f.write_str("Handler::Function"),
            Self::Command(c) => f.debug_tuple("Handler::Command").field(c).finish(),
            Self::Http(e) => f.debug_tuple("Handler::Http").field(e).finish(),
        }
    }
}

impl Handler {
    /// A handler from an async closure.
    pub fn function<F, Fut>(f: F) -> Self
    where
        F: Fn(Value, CallContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Value, SkillFailure>> + Send + 'static,
    {
        Self::Function(Arc::new(move |input, context| Box::pin(f(input, context))))
    }

    pub(crate) async fn run(
        &self,
        input: Value,
        context: CallContext,
    ) -> Result<Value, SkillFailure> {
        match self {
            Self::Function(f) => f(input, context).await,
            Self::Command(command) => command.run(&input).await,
            Self::Http(endpoint) => endpoint.run(&input).await,
        }
    }
}

/// An external program as a skill: JSON input on stdin, JSON output on stdout.
///
/// It starts with a clean environment: `PATH` (to find programs) and exactly the variables in
/// [`Command::env`], nothing else of the agent's (never its key-store password). It runs in its
/// own process group, and the whole group is killed when the call ends: on a timeout, a cancel,
/// or when the program exits leaving children behind.
#[derive(Debug, Clone)]
pub struct Command {
    /// The program.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<String>,
    /// Environment variables it gets (besides `PATH`).
    pub env: Vec<(String, String)>,
    /// Killed after this long.
    pub timeout: Duration,
    /// Largest stdout accepted.
    pub max_output_bytes: usize,
}

/// Variables a skill command never gets, even when asked for.
pub const SECRET_VARIABLES: &[&str] = &["COWORKER_KEYSTORE_PASSWORD"];

impl Command {
    /// A command with a 30 s timeout, a 1 MiB output limit and no extra environment.
    pub fn new(program: impl Into<PathBuf>, args: &[&str]) -> Self {
        Self {
            program: program.into(),
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            env: Vec::new(),
            timeout: Duration::from_secs(30),
            max_output_bytes: 1024 * 1024,
        }
    }

    async fn run(&self, input: &Value) -> Result<Value, SkillFailure> {
        let failed = |what: &str, detail: String| {
            tracing::warn!(program = %self.program.display(), "skill command {what}: {detail}");
            SkillFailure::new("the skill failed")
        };
        let mut command = tokio::process::Command::new(&self.program);
        command
            .args(&self.args)
            .env_clear()
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        if let Some(path) = std::env::var_os("PATH") {
            command.env("PATH", path);
        }
        for (name, value) in &self.env {
            if !SECRET_VARIABLES.contains(&name.as_str()) {
                command.env(name, value);
            }
        }
        #[cfg(unix)]
        command.process_group(0);
        let mut child = command.spawn().map_err(|e| failed("did not start", e.to_string()))?;
        // Dropped when the call ends in any way (finished, timed out, cancelled): kills what
        // the program started too.
        let _group = ProcessGroup(child.id());
        let mut stdin = child.stdin.take().ok_or_else(|| failed("has no stdin", String::new()))?;
        let stdout = child.stdout.take().ok_or_else(|| failed("has no stdout", String::new()))?;
        let stderr = child.stderr.take().ok_or_else(|| failed("has no stderr", String::new()))?;
        let body = input.to_string();
        let limit = self.max_output_bytes;
        let work = async move {
            // Write and read concurrently so a program that writes before reading cannot block.
            let write = async move {
                let _ = stdin.write_all(body.as_bytes()).await;
                drop(stdin);
            };
            let read = async move {
                let mut out = Vec::new();
                let mut limited = stdout.take(u64::try_from(limit).unwrap_or(u64::MAX) + 1);
                limited.read_to_end(&mut out).await.map(|_| out)
            };
            let errors = async move {
                let mut text = String::new();
                let _ = stderr.take(4096).read_to_string(&mut text).await;
                text
            };
            let ((), out, errors) = tokio::join!(write, read, errors);
            (out, errors, child.wait().await)
        };
        let (out, errors, status) = tokio::time::timeout(self.timeout, work)
            .await
            .map_err(|_| failed("timed out", format!("after {:?}", self.timeout)))?;
        let out = out.map_err(|e| failed("stdout failed", e.to_string()))?;
        if out.len() > limit {
            return Err(SkillFailure::new("the skill's output is too large"));
        }
        let status = status.map_err(|e| failed("wait failed", e.to_string()))?;
        if !status.success() {
            return Err(failed("exited", format!("{status}; stderr: {}", errors.trim())));
        }
        serde_json::from_slice(&out).map_err(|e| {
            tracing::warn!(program = %self.program.display(), "skill command printed invalid JSON: {e}");
            SkillFailure::new("the skill returned invalid JSON")
        })
    }
}

/// A command's process group, killed when dropped.
struct ProcessGroup(Option<u32>);

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        #[cfg(unix)]
        if let Some(pid) =
            self.0.and_then(|id| i32::try_from(id).ok()).and_then(rustix::process::Pid::from_raw)
        {
            // ESRCH (nothing left) is the usual case.
            let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn context() -> CallContext {
        CallContext { skill: "s".into(), caller: "c".into(), task_id: "t".into(), progress: None }
    }

    #[tokio::test]
    async fn commands_take_json_on_stdin_and_give_json_on_stdout() {
        let upper = Command::new("sh", &["-c", r#"tr a-z A-Z"#]);
        let out = Handler::Command(upper).run(json!({"text": "hi"}), context()).await.unwrap();
        assert_eq!(out, json!({"TEXT": "HI"}));
    }

    #[tokio::test]
    async fn command_failures_reveal_nothing() {
        let secret = Command::new("sh", &["-c", "echo /home/me/secret.py line 3 >&2; exit 2"]);
        let err = Handler::Command(secret).run(json!({}), context()).await.unwrap_err();
        assert_eq!(err, SkillFailure::new("the skill failed"));
        let garbage = Command::new("sh", &["-c", "echo not json"]);
        let err = Handler::Command(garbage).run(json!({}), context()).await.unwrap_err();
        assert_eq!(err.0, "the skill returned invalid JSON");
        let mut slow = Command::new("sh", &["-c", "sleep 5"]);
        slow.timeout = Duration::from_millis(100);
        let started = std::time::Instant::now();
        assert!(Handler::Command(slow).run(json!({}), context()).await.is_err());
        assert!(started.elapsed() < Duration::from_secs(2));
        let mut big = Command::new("sh", &["-c", "head -c 5000 /dev/zero"]);
        big.max_output_bytes = 100;
        let err = Handler::Command(big).run(json!({}), context()).await.unwrap_err();
        assert_eq!(err.0, "the skill's output is too large");
        let missing = Command::new("/nonexistent/skill", &[]);
        assert_eq!(
            Handler::Command(missing).run(json!({}), context()).await.unwrap_err().0,
            "the skill failed"
        );
    }
}
