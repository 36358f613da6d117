//! Skill declarations every front end shares: a skill backed by an external command (input JSON
//! on stdin, output JSON on stdout), by an HTTP endpoint (a JSON POST) or by a tool of a local
//! MCP server ([`McpSkill`]). The agent file and the app's "Add a skill" declare skills this way;
//! skills a control client provides are the other kind ([`crate::control`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use coworker_runtime::handler::SECRET_VARIABLES;
use coworker_runtime::{Command, Handler, HttpEndpoint, SkillFailure};
use rmcp::ServiceExt;

use crate::error::HostError;

/// A skill run by an external command.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommandSkill {
    /// The program and its arguments. A relative program with a `/` is relative to the
    /// declaring file's directory.
    pub argv: Vec<String>,
    /// Variables the command gets, with their values (it gets `PATH` and nothing else besides).
    pub env: Vec<(String, String)>,
    /// Variables the command gets from the agent's own environment, by name.
    pub pass_env: Vec<String>,
    /// Killed after this long (default: the runtime's).
    pub timeout: Option<Duration>,
    /// Output larger than this is refused (default: the runtime's).
    pub max_output_bytes: Option<usize>,
}

impl CommandSkill {
    /// A command with its arguments and nothing else set.
    pub fn new(argv: Vec<String>) -> Self {
        Self { argv, ..Self::default() }
    }

    /// The handler; `base` is the declaring file's directory. Refused: an empty command, and
    /// any secret of the agent (the key-store password) named for the command's environment.
    pub fn handler(self, base: Option<&Path>) -> Result<Handler, HostError> {
        let (program, args) = self
            .argv
            .split_first()
            .ok_or_else(|| HostError::invalid("skill.command", "the command is empty"))?;
        let mut command = Command::new(program_path(program, base), &[]);
        command.args = args.to_vec();
        command.env = environment(self.env, &self.pass_env)?;
        if let Some(timeout) = self.timeout {
            command.timeout = timeout;
        }
        if let Some(limit) = self.max_output_bytes {
            command.max_output_bytes = limit;
        }
        Ok(Handler::Command(command))
    }
}

/// A relative program with a `/` is relative to the declaring file's directory `base`; a bare
/// name is found on `PATH`.
fn program_path(program: &str, base: Option<&Path>) -> PathBuf {
    match base {
        Some(base) if program.contains('/') && !program.starts_with('/') => base.join(program),
        _ => PathBuf::from(program),
    }
}

/// The variables a skill's process gets: `env`, and those of `pass_env` the agent has; never
/// one of the agent's secrets (the key-store password).
fn environment(
    mut env: Vec<(String, String)>,
    pass_env: &[String],
) -> Result<Vec<(String, String)>, HostError> {
    for name in env.iter().map(|(n, _)| n).chain(pass_env) {
        if SECRET_VARIABLES.contains(&name.as_str()) {
            return Err(HostError::invalid(
                "skill.secret",
                format!("{name} is never passed to a skill"),
            ));
        }
    }
    for name in pass_env {
        if let Ok(value) = std::env::var(name) {
            env.push((name.clone(), value));
        }
    }
    Ok(env)
}

/// A skill run by an HTTP endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpSkill {
    /// Where the input is POSTed.
    pub url: String,
    /// Headers sent with it (an API key, say).
    pub headers: Vec<(String, String)>,
    /// The whole exchange is abandoned after this long (default: the runtime's).
    pub timeout: Option<Duration>,
    /// A larger answer is refused (default: the runtime's).
    pub max_output_bytes: Option<usize>,
}

impl HttpSkill {
    /// The handler.
    pub fn handler(self) -> Handler {
        let mut endpoint = HttpEndpoint::new(self.url);
        endpoint.headers = self.headers;
        if let Some(timeout) = self.timeout {
            endpoint.timeout = timeout;
        }
        if let Some(limit) = self.max_output_bytes {
            endpoint.max_output_bytes = limit;
        }
        Handler::Http(endpoint)
    }
}

/// A skill backed by a tool of an MCP server: a local one started by a command (stdio), or one
/// reached at a URL (streamable HTTP). The server is started (or connected to) when the skill is
/// declared (its tool's schemas are read then), kept, and started (or connected) again on the
/// next call after it dies.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct McpSkill {
    /// The server: a program and its arguments (relative programs as for [`CommandSkill`]).
    pub argv: Vec<String>,
    /// Or a server that runs already, reached by streamable HTTP at this `http://` URL (then
    /// `argv`, `env` and `pass_env` are empty).
    pub url: Option<String>,
    /// The tool.
    pub tool: String,
    /// Variables the server gets, with their values (it gets `PATH` and nothing else besides).
    pub env: Vec<(String, String)>,
    /// Variables the server gets from the agent's own environment, by name.
    pub pass_env: Vec<String>,
}

/// The tool's declaration as the server gives it.
#[derive(Debug, Clone, PartialEq)]
pub struct McpTool {
    /// Its description.
    pub description: String,
    /// Its input JSON Schema.
    pub input_schema: serde_json::Value,
    /// Its output JSON Schema (`{}`: any).
    pub output_schema: serde_json::Value,
}

impl McpSkill {
    /// Starts (or connects to) the server, reads the tool's declaration and gives the handler
    /// that calls it.
    pub async fn open(self, base: Option<&Path>) -> Result<(McpTool, Handler), HostError> {
        let server = Arc::new(self.server(base)?);
        let tools =
            server.with_client(|client| async move { client.list_all_tools().await }).await?;
        let tool = tools.into_iter().find(|t| t.name == self.tool).ok_or_else(|| {
            HostError::not_found(
                "skill.mcp_tool",
                format!("the MCP server has no tool {}", self.tool),
            )
        })?;
        Ok((declaration(&tool), handler(server, self.tool)))
    }

    /// The handler alone, for a skill whose declaration is known already: the server starts
    /// on the first call, not now.
    pub fn handler(self, base: Option<&Path>) -> Result<Handler, HostError> {
        Ok(handler(Arc::new(self.server(base)?), self.tool))
    }

    fn server(&self, base: Option<&Path>) -> Result<McpServer, HostError> {
        let endpoint = match (&self.url, self.argv.split_first()) {
            (Some(url), None) if self.env.is_empty() && self.pass_env.is_empty() => {
                // A server on this machine or the LAN; no TLS stack is linked for this.
                if !url.starts_with("http://") {
                    return Err(HostError::invalid(
                        "skill.mcp_server",
                        format!(
                            "{url:?} is not an http:// URL (https MCP servers are not supported)"
                        ),
                    ));
                }
                Endpoint::Url(url.clone())
            }
            (Some(_), _) => {
                return Err(HostError::invalid(
                    "skill.mcp_server",
                    "an MCP server is a command or a URL, not both",
                ));
            }
            (None, None) => {
                return Err(HostError::invalid(
                    "skill.command",
                    "the MCP server's command is empty",
                ));
            }
            (None, Some((program, args))) => {
                let mut env = environment(self.env.clone(), &self.pass_env)?;
                if let Ok(path) = std::env::var("PATH") {
                    env.push(("PATH".to_owned(), path));
                }
                Endpoint::Command { program: program_path(program, base), args: args.to_vec(), env }
            }
        };
        Ok(McpServer { endpoint, running: tokio::sync::Mutex::new(None) })
    }
}

fn handler(server: Arc<McpServer>, tool: String) -> Handler {
    Handler::function(move |input: serde_json::Value, _context| {
        let (server, tool) = (Arc::clone(&server), tool.clone());
        async move { server.call(&tool, input).await }
    })
}

/// The tools a local MCP server offers (it is started for this and stopped after), by name.
pub async fn mcp_tools(argv: Vec<String>) -> Result<Vec<(String, McpTool)>, HostError> {
    let skill = McpSkill { argv, ..McpSkill::default() };
    let server = skill.server(None)?;
    let tools = server.with_client(|client| async move { client.list_all_tools().await }).await?;
    let client = server.running.lock().await.take();
    if let Some(client) = client.and_then(|c| Arc::try_unwrap(c).ok()) {
        let _ = client.cancel().await;
    }
    Ok(tools.into_iter().map(|tool| (tool.name.to_string(), declaration(&tool))).collect())
}

fn declaration(tool: &rmcp::model::Tool) -> McpTool {
    McpTool {
        description: tool.description.as_deref().unwrap_or_default().to_owned(),
        input_schema: serde_json::Value::Object((*tool.input_schema).clone()),
        output_schema: tool
            .output_schema
            .as_ref()
            .map_or_else(|| serde_json::json!({}), |s| serde_json::Value::Object((**s).clone())),
    }
}

type McpClient = rmcp::service::RunningService<rmcp::RoleClient, ()>;

/// How long a server may take to start and answer `initialize`.
const MCP_START: Duration = Duration::from_secs(30);

/// One MCP server, started (or connected to) on demand.
struct McpServer {
    endpoint: Endpoint,
    running: tokio::sync::Mutex<Option<Arc<McpClient>>>,
}

enum Endpoint {
    /// A local server this agent starts (stdio).
    Command { program: PathBuf, args: Vec<String>, env: Vec<(String, String)> },
    /// A running server (streamable HTTP).
    Url(String),
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Command { program, .. } => write!(f, "{}", program.display()),
            Self::Url(url) => f.write_str(url),
        }
    }
}

impl McpServer {
    async fn client(&self) -> Result<Arc<McpClient>, HostError> {
        let mut running = self.running.lock().await;
        if let Some(client) = running.as_ref().filter(|c| !c.is_closed()) {
            return Ok(Arc::clone(client));
        }
        let unavailable = |e: &dyn std::fmt::Display| {
            HostError::failed("skill.mcp_server", format!("{}: {e}", self.endpoint))
        };
        let started = tokio::time::timeout(MCP_START, async {
            match &self.endpoint {
                Endpoint::Url(url) => {
                    let transport =
                        rmcp::transport::StreamableHttpClientTransport::from_uri(url.as_str());
                    ().serve(transport).await.map_err(|e| unavailable(&e))
                }
                Endpoint::Command { program, args, env } => {
                    let mut command = tokio::process::Command::new(program);
                    command.args(args).env_clear().envs(env.iter().cloned());
                    let transport = rmcp::transport::TokioChildProcess::builder(command)
                        .stderr(std::process::Stdio::null())
                        .spawn()
                        .map_err(|e| unavailable(&e))?
                        .0;
                    ().serve(transport).await.map_err(|e| unavailable(&e))
                }
            }
        })
        .await
        .map_err(|_| unavailable(&format!("no answer within {} s", MCP_START.as_secs())))??;
        let client = Arc::new(started);
        *running = Some(Arc::clone(&client));
        Ok(client)
    }

    async fn with_client<T, F, Fut>(&self, run: F) -> Result<T, HostError>
    where
        F: FnOnce(Arc<McpClient>) -> Fut,
        Fut: std::future::Future<Output = Result<T, rmcp::ServiceError>>,
    {
        let client = self.client().await?;
        run(client)
            .await
            .map_err(|e| HostError::failed("skill.mcp_server", format!("{}: {e}", self.endpoint)))
    }

    /// Calls the tool; the server dying mid-call is a clean failure, and the next call starts
    /// it again.
    async fn call(
        &self,
        tool: &str,
        input: serde_json::Value,
    ) -> Result<serde_json::Value, SkillFailure> {
        let serde_json::Value::Object(arguments) = input else {
            return Err(SkillFailure::new("the input must be an object"));
        };
        let params =
            rmcp::model::CallToolRequestParams::new(tool.to_owned()).with_arguments(arguments);
        let client = self.client().await.map_err(|e| SkillFailure::new(e.message))?;
        let result = match client.call_tool(params).await {
            Ok(result) => result,
            Err(e) => {
                // Gone (or broken): start a fresh one next time.
                *self.running.lock().await = None;
                return Err(SkillFailure::new(format!(
                    "the MCP server failed: {e}; it restarts on the next call"
                )));
            }
        };
        let text: Vec<&str> =
            result.content.iter().filter_map(|c| c.as_text().map(|t| t.text.as_str())).collect();
        if result.is_error == Some(true) {
            return Err(SkillFailure::new(text.join("\n")));
        }
        if let Some(structured) = result.structured_content {
            return Ok(structured);
        }
        let joined = text.join("\n");
        Ok(serde_json::from_str(&joined).unwrap_or_else(|_| serde_json::json!({"text": joined})))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn commands_resolve_relative_programs_and_never_get_secrets() {
        let skill = CommandSkill::new(vec!["./upper.py".into(), "--fast".into()]);
        let Handler::Command(command) = skill.handler(Some(Path::new("/etc/bots"))).unwrap() else {
            panic!("not a command")
        };
        assert_eq!(command.program, PathBuf::from("/etc/bots/./upper.py"));
        assert_eq!(command.args, ["--fast"]);
        let bare = CommandSkill::new(vec!["upper".into()]).handler(Some(Path::new("/x"))).unwrap();
        let Handler::Command(bare) = bare else { panic!("not a command") };
        assert_eq!(bare.program, PathBuf::from("upper"), "found on PATH");

        let empty = CommandSkill::new(Vec::new()).handler(None).unwrap_err();
        assert_eq!(empty.code, "skill.command");
        for secret in SECRET_VARIABLES {
            let mut leaky = CommandSkill::new(vec!["env".into()]);
            leaky.pass_env = vec![(*secret).to_owned()];
            assert_eq!(leaky.clone().handler(None).unwrap_err().code, "skill.secret");
            leaky.pass_env.clear();
            leaky.env = vec![((*secret).to_owned(), "x".into())];
            assert_eq!(leaky.handler(None).unwrap_err().code, "skill.secret");
        }
    }
}
