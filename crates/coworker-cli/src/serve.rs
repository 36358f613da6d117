//! `coworker serve CONFIG`: a headless agent. The TOML file declares the agent's name, its
//! skills (each backed by an external command or an HTTP endpoint, with schemas, minimum tier
//! and visibility) and its trust policy. The agent runs until Ctrl-C or SIGTERM; the XMTP
//! stream reconnects by itself when the node goes away.
//!
//! Output: one JSON line `{"event":"ready","name","inbox_id","address","code","uri"}`, then one line per
//! activity event (`{"event":"task_served",…}`, `{"event":"trust_requested",…}`, …).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use coworker_runtime::protocol::trust::Tier;
use coworker_runtime::protocol::{Invite, SkillSpec};
use coworker_runtime::{Agent, AgentConfig, Command, Handler, HttpEndpoint};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

pub(crate) const EXAMPLES: &str = r#"Examples:
  COWORKER_KEYSTORE_PASSWORD=... coworker serve translator.toml --data-dir ./translator

translator.toml:
  name = "translator"

  [trust]
  auto_grant = "known"            # highest tier granted without a human (default: none)
  [trust.peers]                   # tiers set up front, by inbox id
  "0b1c…" = "internal"

  [[skill]]
  name = "translate"
  description = "Translates text to English"
  when_to_use = "text in another language"
  input = { text = "str" }        # shorthand or a JSON Schema
  output = { translated = "str" }
  min_tier = "known"
  command = ["python3", "translate.py"]   # JSON on stdin -> JSON on stdout

  [[skill]]
  name = "search"
  description = "Searches our notes"
  input = { query = "str" }
  output = { hits = "list" }
  url = "http://127.0.0.1:8080/search"    # POSTs the input, returns the JSON answer
  exposed = false                         # hidden until the owner exposes it"#;

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// The agent's TOML file.
    config: PathBuf,
    /// `dev`, `production` or a node URL (http:// or https://).
    #[arg(long, default_value = "http://127.0.0.1:5556")]
    network: String,
    /// A PEM CA certificate to trust for an `https://` node.
    #[arg(long)]
    ca_cert: Option<PathBuf>,
    /// Directory for the agent's identity and state (default: next to the config, named after
    /// the agent).
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

/// The agent's file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    name: String,
    #[serde(default)]
    trust: TrustConfig,
    #[serde(default)]
    limits: Limits,
    #[serde(default, rename = "skill")]
    skills: Vec<SkillConfig>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TrustConfig {
    /// Highest tier a trust request gets without a human.
    auto_grant: Option<String>,
    /// Tiers by inbox id.
    #[serde(default)]
    peers: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Limits {
    max_concurrent_tasks: Option<usize>,
    deadline_secs: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SkillConfig {
    name: String,
    description: String,
    #[serde(default)]
    when_to_use: String,
    #[serde(default)]
    input: Option<toml::Value>,
    #[serde(default)]
    output: Option<toml::Value>,
    #[serde(default)]
    min_tier: Option<String>,
    #[serde(default)]
    version: Option<String>,
    #[serde(default = "yes")]
    exposed: bool,
    #[serde(default)]
    command: Option<Vec<String>>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    timeout_secs: Option<u64>,
    #[serde(default)]
    max_output_bytes: Option<usize>,
}

fn yes() -> bool {
    true
}

fn tier(text: &str, what: &str) -> Result<Tier, String> {
    Tier::parse(text).ok_or_else(|| {
        format!("{what}: {text:?} is not a tier (untrusted, known, internal, privileged or 0-3)")
    })
}

fn json_value(value: Option<toml::Value>) -> Result<Value, String> {
    match value {
        None => Ok(json!({})),
        Some(v) => serde_json::to_value(v).map_err(|e| e.to_string()),
    }
}

impl SkillConfig {
    fn into_parts(self, base: &std::path::Path) -> Result<(SkillSpec, Handler, bool), String> {
        let what = format!("skill {:?}", self.name);
        let mut spec = SkillSpec::new(&self.name, &self.description);
        spec.when_to_use = self.when_to_use;
        spec.input_schema = json_value(self.input)?;
        spec.output_schema = json_value(self.output)?;
        spec.min_tier = match &self.min_tier {
            Some(t) => tier(t, &what)?,
            None => Tier::Known,
        };
        spec.version = self.version;
        let timeout = self.timeout_secs.map(Duration::from_secs);
        let handler = match (self.command, self.url) {
            (Some(argv), None) => {
                let (program, args) =
                    argv.split_first().ok_or_else(|| format!("{what}: `command` is empty"))?;
                // Relative programs with a path are relative to the config file.
                let program = if program.contains('/') && !program.starts_with('/') {
                    base.join(program)
                } else {
                    PathBuf::from(program)
                };
                let mut command = Command::new(program, &[]);
                command.args = args.to_vec();
                if let Some(timeout) = timeout {
                    command.timeout = timeout;
                }
                if let Some(limit) = self.max_output_bytes {
                    command.max_output_bytes = limit;
                }
                Handler::Command(command)
            }
            (None, Some(url)) => {
                let mut endpoint = HttpEndpoint::new(url);
                endpoint.headers = self.headers.into_iter().collect();
                if let Some(timeout) = timeout {
                    endpoint.timeout = timeout;
                }
                if let Some(limit) = self.max_output_bytes {
                    endpoint.max_output_bytes = limit;
                }
                Handler::Http(endpoint)
            }
            _ => return Err(format!("{what}: give exactly one of `command` or `url`")),
        };
        Ok((spec, handler, self.exposed))
    }
}

fn load(path: &std::path::Path) -> Result<Config, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

pub(crate) async fn run(args: ServeArgs) -> Result<(), String> {
    let config = load(&args.config)?;
    let base = args.config.parent().map(std::path::Path::to_path_buf).unwrap_or_default();
    let data_dir = args.data_dir.clone().unwrap_or_else(|| base.join(&config.name));
    let auto_grant = match &config.trust.auto_grant {
        Some(t) if t.eq_ignore_ascii_case("none") => None,
        Some(t) => Some(tier(t, "trust.auto_grant")?),
        None => None,
    };
    let mut skills = Vec::with_capacity(config.skills.len());
    for skill in config.skills {
        skills.push(skill.into_parts(&base)?);
    }
    let mut peers = Vec::with_capacity(config.trust.peers.len());
    for (inbox, t) in &config.trust.peers {
        peers.push((inbox.clone(), tier(t, &format!("trust.peers.{inbox}"))?));
    }

    let client =
        crate::identity::open_client(&args.network, args.ca_cert.as_deref(), &data_dir).await?;
    let mut agent_config = AgentConfig::new(&config.name, data_dir.join("agent.db"));
    agent_config.auto_grant_ceiling = auto_grant;
    if let Some(n) = config.limits.max_concurrent_tasks {
        agent_config.max_concurrent_tasks = n;
    }
    if let Some(secs) = config.limits.deadline_secs {
        agent_config.deadline = Duration::from_secs(secs);
    }
    let agent = Agent::open(client, agent_config).await.map_err(|e| e.to_string())?;
    for (spec, handler, exposed) in skills {
        agent.register(spec, handler, exposed).map_err(|e| e.to_string())?;
    }
    for (inbox, t) in peers {
        if agent.tier(&inbox).await.map_err(|e| e.to_string())? != t {
            agent.set_tier(&inbox, t).await.map_err(|e| e.to_string())?;
        }
    }

    let mut events = agent.subscribe();
    let serving = agent.serve().await.map_err(|e| e.to_string())?;
    let code = agent.invite(None).map_err(|e| e.to_string())?;
    let uri = Invite::uri(&code);
    let mut out = tokio::io::stdout();
    let ready = json!({"event": "ready", "name": config.name, "inbox_id": agent.inbox_id(),
        "address": agent.client().address(), "code": code, "uri": uri});
    print_line(&mut out, &ready).await?;
    let printer = tokio::spawn(async move {
        loop {
            match events.recv().await {
                Ok(event) => {
                    let mut line = serde_json::to_value(&event).unwrap_or_default();
                    if let Some(map) = line.as_object_mut()
                        && let Some(kind) = map.remove("type")
                    {
                        map.insert("event".into(), kind);
                    }
                    if print_line(&mut out, &line).await.is_err() {
                        break;
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "activity output lagged");
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            }
        }
    });
    shutdown_signal().await?;
    printer.abort();
    serving.stop().await;
    Ok(())
}

async fn print_line(out: &mut tokio::io::Stdout, line: &Value) -> Result<(), String> {
    let mut text = line.to_string();
    text.push('\n');
    out.write_all(text.as_bytes()).await.map_err(|e| e.to_string())?;
    out.flush().await.map_err(|e| e.to_string())
}

async fn shutdown_signal() -> Result<(), String> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| e.to_string())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn parse(text: &str) -> Result<Vec<(SkillSpec, Handler, bool)>, String> {
        let config: Config = toml::from_str(text).map_err(|e| e.to_string())?;
        config.skills.into_iter().map(|s| s.into_parts(std::path::Path::new("/etc/bots"))).collect()
    }

    #[test]
    fn skills_come_from_toml() {
        let skills = parse(
            r#"
            name = "bot"
            [[skill]]
            name = "upper"
            description = "d"
            input = { text = "str" }
            min_tier = "internal"
            command = ["./upper.py", "--fast"]
            timeout_secs = 5
            [[skill]]
            name = "search"
            description = "d"
            url = "http://127.0.0.1:9/search"
            exposed = false
            "#,
        )
        .unwrap();
        let (spec, handler, exposed) = &skills[0];
        assert_eq!((spec.min_tier, *exposed), (Tier::Internal, true));
        assert_eq!(spec.input_schema, json!({"text": "str"}));
        let Handler::Command(command) = handler else { panic!("{handler:?}") };
        assert_eq!(command.program, PathBuf::from("/etc/bots/./upper.py"));
        assert_eq!(
            (command.args.clone(), command.timeout),
            (vec!["--fast".into()], Duration::from_secs(5))
        );
        assert!(matches!(skills[1].1, Handler::Http(_)) && !skills[1].2);
    }

    #[test]
    fn mistakes_are_named() {
        let both =
            parse("name='b'\n[[skill]]\nname='s'\ndescription='d'\ncommand=['x']\nurl='http://h/'");
        assert!(both.unwrap_err().contains("exactly one of `command` or `url`"));
        let tier =
            parse("name='b'\n[[skill]]\nname='s'\ndescription='d'\nmin_tier='boss'\ncommand=['x']");
        assert!(tier.unwrap_err().contains("\"boss\" is not a tier"));
        let typo = parse("name='b'\n[[skill]]\nname='s'\ndescription='d'\ncomand=['x']");
        assert!(typo.unwrap_err().contains("unknown field `comand`"));
        let empty = parse("name='b'\n[[skill]]\nname='s'\ndescription='d'\ncommand=[]");
        assert!(empty.unwrap_err().contains("`command` is empty"));
    }
}
