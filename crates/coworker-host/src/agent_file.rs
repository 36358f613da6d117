//! The agent file: a TOML declaration of an agent's name, skills (each backed by an external
//! command or an HTTP endpoint, with schemas, minimum tier and visibility), trust policy and
//! limits. `coworker serve FILE` serves it; the other commands load it too, so the identity
//! keeps serving its skills while they run.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use coworker_runtime::protocol::SkillSpec;
use coworker_runtime::protocol::trust::Tier;
use coworker_runtime::{Agent, AgentConfig, Handler};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::HostError;
use crate::skill::{CommandSkill, HttpSkill, McpSkill};

/// A loaded, checked agent file.
#[derive(Debug)]
pub struct AgentFile {
    /// The agent's name.
    pub name: String,
    auto_grant: Option<Tier>,
    peers: Vec<(String, Tier)>,
    limits: Limits,
    skills: Vec<Declared>,
}

/// A skill as the file declares it; an MCP-backed one is completed (its server started, its
/// tool's schemas read) when the skills are installed.
#[derive(Debug)]
struct Declared {
    spec: SkillSpec,
    backing: Backing,
    exposed: bool,
    /// The file gave the input / output schema itself (else an MCP tool's are used).
    schemas: (bool, bool),
}

#[derive(Debug)]
enum Backing {
    Ready(Handler),
    Mcp(McpSkill, std::path::PathBuf),
}

impl AgentFile {
    /// Reads and checks the agent file at `path` (`host.agent_file` when it is wrong).
    ///
    /// # Errors
    /// When the file cannot be read, is not valid TOML, or declares something wrong.
    pub fn load(path: &Path) -> Result<Self, HostError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            HostError::invalid(CODE, format!("cannot read {}: {e}", path.display()))
        })?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Self::parse(&text, &base)
            .map_err(|e| HostError::invalid(CODE, format!("{}: {e}", path.display())))
    }

    /// Checks an agent file's text; command paths resolve against `base`. Starts nothing.
    ///
    /// # Errors
    /// A sentence naming the first mistake.
    pub fn parse(text: &str, base: &Path) -> Result<Self, String> {
        let config: Config = toml::from_str(text).map_err(|e| e.to_string())?;
        Self::from_config(config, base)
    }

    fn from_config(config: Config, base: &Path) -> Result<Self, String> {
        let auto_grant = match &config.trust.auto_grant {
            Some(t) if t.eq_ignore_ascii_case("none") => None,
            Some(t) => Some(tier(t, "trust.auto_grant")?),
            None => None,
        };
        let mut peers = Vec::with_capacity(config.trust.peers.len());
        for (inbox, t) in &config.trust.peers {
            peers.push((inbox.clone(), tier(t, &format!("trust.peers.{inbox}"))?));
        }
        let skills =
            config.skills.into_iter().map(|s| s.into_parts(base)).collect::<Result<_, _>>()?;
        Ok(Self { name: config.name, auto_grant, peers, limits: config.limits, skills })
    }

    /// Applies the trust policy and limits.
    pub fn configure(&self, config: &mut AgentConfig) {
        config.auto_grant_ceiling = self.auto_grant;
        if let Some(n) = self.limits.max_concurrent_tasks {
            config.max_concurrent_tasks = n;
        }
        if let Some(secs) = self.limits.deadline_secs {
            config.deadline = Duration::from_secs(secs);
        }
    }

    /// Registers the skills (starting their MCP servers) and sets the preset peer tiers.
    ///
    /// # Errors
    /// When an MCP server cannot be started or lacks its tool, or a skill cannot be registered.
    pub async fn install(self, agent: &Agent) -> Result<(), HostError> {
        for Declared { mut spec, backing, exposed, schemas } in self.skills {
            let handler = match backing {
                Backing::Ready(handler) => handler,
                Backing::Mcp(skill, base) => {
                    let what = format!("skill {:?}", spec.name);
                    let (tool, handler) = skill.open(Some(&base)).await.map_err(|e| HostError {
                        message: format!("{what}: {}", e.message),
                        ..e
                    })?;
                    if !schemas.0 {
                        spec.input_schema = tool.input_schema;
                    }
                    if !schemas.1 {
                        spec.output_schema = tool.output_schema;
                    }
                    if spec.description.is_empty() {
                        spec.description = tool.description;
                    }
                    handler
                }
            };
            agent.register(spec, handler, exposed)?;
        }
        // Seeds, applied once each: a later start does not undo a step-down, a block or the
        // owner's own change.
        for (inbox, t) in self.peers {
            agent.seed_tier(&inbox, t).await?;
        }
        Ok(())
    }
}

/// The stable code of a wrong agent file.
const CODE: &str = "host.agent_file";

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
    /// Required, except for an MCP tool (its own description is used).
    #[serde(default)]
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
    /// A tool of a local MCP server: `{ command = [...], tool = "..." }`.
    #[serde(default)]
    mcp: Option<McpConfig>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    timeout_secs: Option<u64>,
    #[serde(default)]
    max_output_bytes: Option<usize>,
    /// Environment variables a command gets, with their values.
    #[serde(default)]
    env: BTreeMap<String, String>,
    /// Environment variables a command gets from the agent's own environment, by name.
    #[serde(default)]
    pass_env: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct McpConfig {
    /// A local server, started with this command (stdio)…
    #[serde(default)]
    command: Vec<String>,
    /// …or one that runs already, at this URL (streamable HTTP).
    #[serde(default)]
    url: Option<String>,
    tool: String,
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
    fn into_parts(self, base: &std::path::Path) -> Result<Declared, String> {
        let what = format!("skill {:?}", self.name);
        if self.description.is_empty() && self.mcp.is_none() {
            return Err(format!("{what}: `description` is required"));
        }
        let schemas = (self.input.is_some(), self.output.is_some());
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
        if self.url.is_some() && !(self.env.is_empty() && self.pass_env.is_empty()) {
            return Err(format!("{what}: `env` and `pass_env` are for commands"));
        }
        if let Some(mcp) = self.mcp {
            if self.command.is_some() || self.url.is_some() {
                return Err(format!("{what}: give exactly one of `command`, `url` or `mcp`"));
            }
            if mcp.command.is_empty() == mcp.url.is_none() {
                return Err(format!("{what}: `mcp` needs exactly one of `command` or `url`"));
            }
            let skill = McpSkill {
                argv: mcp.command,
                url: mcp.url,
                tool: mcp.tool,
                env: self.env.into_iter().collect(),
                pass_env: self.pass_env,
            };
            let backing = Backing::Mcp(skill, base.to_owned());
            return Ok(Declared { spec, backing, exposed: self.exposed, schemas });
        }
        let handler = match (self.command, self.url) {
            (Some(argv), None) => CommandSkill {
                argv,
                env: self.env.into_iter().collect(),
                pass_env: self.pass_env,
                timeout,
                max_output_bytes: self.max_output_bytes,
            }
            .handler(Some(base))
            .map_err(|e| format!("{what}: {}", e.message))?,
            (None, Some(url)) => HttpSkill {
                url,
                headers: self.headers.into_iter().collect(),
                timeout,
                max_output_bytes: self.max_output_bytes,
            }
            .handler(),
            _ => return Err(format!("{what}: give exactly one of `command`, `url` or `mcp`")),
        };
        Ok(Declared { spec, backing: Backing::Ready(handler), exposed: self.exposed, schemas })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn parse(text: &str) -> Result<Vec<(SkillSpec, Handler, bool)>, String> {
        let file = AgentFile::parse(text, Path::new("/etc/bots"))?;
        Ok(file
            .skills
            .into_iter()
            .filter_map(|d| match d.backing {
                Backing::Ready(handler) => Some((d.spec, handler, d.exposed)),
                Backing::Mcp(..) => None,
            })
            .collect())
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
        assert_eq!(command.program, std::path::PathBuf::from("/etc/bots/./upper.py"));
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
        assert!(both.unwrap_err().contains("exactly one of `command`, `url` or `mcp`"));
        let mcp_and_command =
            parse("name='b'\n[[skill]]\nname='s'\ncommand=['x']\nmcp={command=['srv'], tool='t'}");
        assert!(mcp_and_command.unwrap_err().contains("exactly one of"));
        let undescribed = parse("name='b'\n[[skill]]\nname='s'\ncommand=['x']");
        assert!(undescribed.unwrap_err().contains("`description` is required"));
        // An MCP tool needs no description or schemas: they come from the tool at install.
        let config: Config =
            toml::from_str("name='b'\n[[skill]]\nname='s'\nmcp={command=['./srv'], tool='t'}")
                .unwrap();
        let file = AgentFile::from_config(config, Path::new("/etc/bots")).unwrap();
        let Backing::Mcp(skill, base) = &file.skills[0].backing else { panic!("not MCP") };
        assert_eq!((skill.tool.as_str(), base.as_path()), ("t", Path::new("/etc/bots")));
        assert_eq!(file.skills[0].schemas, (false, false));
        let both_servers = parse(
            "name='b'\n[[skill]]\nname='s'\nmcp={command=['srv'], url='http://h/mcp', tool='t'}",
        );
        assert!(both_servers.unwrap_err().contains("exactly one of `command` or `url`"));
        let tier =
            parse("name='b'\n[[skill]]\nname='s'\ndescription='d'\nmin_tier='boss'\ncommand=['x']");
        assert!(tier.unwrap_err().contains("\"boss\" is not a tier"));
        let typo = parse("name='b'\n[[skill]]\nname='s'\ndescription='d'\ncomand=['x']");
        assert!(typo.unwrap_err().contains("unknown field `comand`"));
        let empty = parse("name='b'\n[[skill]]\nname='s'\ndescription='d'\ncommand=[]");
        assert!(empty.unwrap_err().contains("the command is empty"));
        let secret = parse(
            "name='b'\n[[skill]]\nname='s'\ndescription='d'\ncommand=['x']\npass_env=['COWORKER_KEYSTORE_PASSWORD']",
        );
        assert!(secret.unwrap_err().contains("never passed to a skill"));
    }
}
