//! My skills: the command-backed skills added from the app (kept in `skills.json` in the data
//! directory), their visibility and minimum tier, what a peer at a tier would see, and call
//! statistics from the receipts of tasks this agent ran.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use coworker_host::HostError;
use coworker_host::skill::{CommandSkill, McpSkill};
use coworker_runtime::protocol::SkillSpec;
use coworker_runtime::{Agent, Handler};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::AppResult;
use crate::peer::{SkillView, tier};

/// A skill of mine, as the Skills page shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct MySkillView {
    /// The declaration as peers would see it.
    pub skill: SkillView,
    /// Whether peers at its tier may see it.
    pub exposed: bool,
    /// The command that runs it, when it was added from the app.
    pub command: Option<Vec<String>>,
    /// Tasks run for peers.
    pub calls: u32,
    /// Of which failed.
    pub failures: u32,
    /// Mean run time in milliseconds.
    pub mean_ms: f64,
}

/// A command-backed skill to add: the command gets the input JSON on stdin and prints the output
/// JSON on stdout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct NewSkill {
    /// Unique name (`A-Z a-z 0-9 _ - .`).
    pub name: String,
    /// What it does.
    pub description: String,
    /// The program and its arguments.
    pub command: Vec<String>,
    /// Input JSON Schema (JSON text).
    pub input_schema: String,
    /// Output JSON Schema (JSON text).
    pub output_schema: String,
    /// The lowest tier that may see and call it, 0-3.
    pub min_tier: u8,
    /// Killed after this many seconds.
    pub timeout_secs: u32,
    /// A tool of the MCP server `command` starts: the skill calls it (the server is started
    /// once and restarted if it dies).
    pub mcp_tool: Option<String>,
}

/// A tool a local MCP server offers, to add as a skill.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct McpToolView {
    /// Its name.
    pub name: String,
    /// What it does.
    pub description: String,
    /// Its input JSON Schema, as pretty JSON text.
    pub input_schema: String,
    /// Its output JSON Schema (`{}`: any), as pretty JSON text.
    pub output_schema: String,
}

/// `skills.json`: every skill added from the app.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Book {
    skills: Vec<Saved>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Saved {
    spec: SkillSpec,
    command: Vec<String>,
    timeout_secs: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    mcp_tool: Option<String>,
}

fn path(data_dir: &Path) -> PathBuf {
    data_dir.join("skills.json")
}

fn load(data_dir: &Path) -> AppResult<Book> {
    match std::fs::read_to_string(path(data_dir)) {
        Ok(text) => serde_json::from_str(&text)
            .map_err(|e| HostError::failed("skill.file", format!("skills.json: {e}"))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Book::default()),
        Err(e) => Err(HostError::failed("skill.file", format!("cannot read skills.json: {e}"))),
    }
}

fn save(data_dir: &Path, book: &Book) -> AppResult<()> {
    let file = |e: &dyn std::fmt::Display| {
        HostError::failed("skill.file", format!("cannot save skills.json: {e}"))
    };
    let text = serde_json::to_string_pretty(book).map_err(|e| file(&e))?;
    let tmp = data_dir.join("skills.json.tmp");
    std::fs::write(&tmp, text).map_err(|e| file(&e))?;
    std::fs::rename(&tmp, path(data_dir)).map_err(|e| file(&e))
}

/// The skill's handler. An MCP-backed one starts its server on the first call: the saved
/// declaration is the skill's, so the app's start-up waits for no server.
fn handler(saved: &Saved) -> AppResult<Handler> {
    if let Some(tool) = &saved.mcp_tool {
        let skill =
            McpSkill { argv: saved.command.clone(), tool: tool.clone(), ..McpSkill::default() };
        return skill.handler(None);
    }
    let mut command = CommandSkill::new(saved.command.clone());
    command.timeout = Some(Duration::from_secs(u64::from(saved.timeout_secs.clamp(1, 3600))));
    command.handler(None)
}

/// Registers the saved skills with a newly opened agent (hidden unless the owner exposed them).
pub fn register_saved(agent: &Agent, data_dir: &Path) -> AppResult<()> {
    for saved in load(data_dir)?.skills {
        let name = saved.spec.name.clone();
        let registered = match handler(&saved) {
            Ok(h) => agent.register(saved.spec, h, false).map_err(HostError::from),
            Err(e) => Err(e),
        };
        if let Err(e) = registered {
            tracing::warn!(skill = name, "a saved skill could not be registered: {e}");
        }
    }
    Ok(())
}

/// The tools the MCP server `command` starts offers.
pub async fn mcp_tools(command: Vec<String>) -> AppResult<Vec<McpToolView>> {
    let command: Vec<String> =
        command.iter().map(|a| a.trim().to_owned()).filter(|a| !a.is_empty()).collect();
    let pretty = |v: &Value| serde_json::to_string_pretty(v).unwrap_or_default();
    Ok(coworker_host::skill::mcp_tools(command)
        .await?
        .into_iter()
        .map(|(name, tool)| McpToolView {
            name,
            description: tool.description,
            input_schema: pretty(&tool.input_schema),
            output_schema: pretty(&tool.output_schema),
        })
        .collect())
}

fn schema(text: &str, what: &str) -> AppResult<Value> {
    if text.trim().is_empty() {
        return Ok(Value::Object(serde_json::Map::new()));
    }
    serde_json::from_str(text).map_err(|e| {
        HostError::invalid("skill.schema_json", format!("the {what} schema is not valid JSON: {e}"))
    })
}

/// Adds a command- or MCP-backed skill (hidden until exposed) and saves it.
pub fn add(agent: &Agent, data_dir: &Path, new: NewSkill) -> AppResult<()> {
    let command: Vec<String> =
        new.command.iter().map(|a| a.trim().to_owned()).filter(|a| !a.is_empty()).collect();
    if command.is_empty() {
        return Err(HostError::invalid("skill.command", "give the command that runs the skill"));
    }
    let mut spec = SkillSpec::new(new.name.trim(), new.description.trim());
    spec.input_schema = schema(&new.input_schema, "input")?;
    spec.output_schema = schema(&new.output_schema, "output")?;
    spec.min_tier = tier(new.min_tier)?;
    let mut book = load(data_dir)?;
    if agent.skills().iter().any(|(card, _)| card.name == spec.name) {
        return Err(HostError::invalid(
            "skill.exists",
            format!("there is already a skill named {}", spec.name),
        ));
    }
    let mcp_tool = new.mcp_tool.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty());
    let saved = Saved { spec, command, timeout_secs: new.timeout_secs.max(1), mcp_tool };
    agent.register(saved.spec.clone(), handler(&saved)?, false).map_err(HostError::from)?;
    book.skills.push(saved);
    save(data_dir, &book)
}

/// Removes a skill added from the app.
pub fn remove(agent: &Agent, data_dir: &Path, name: &str) -> AppResult<()> {
    let mut book = load(data_dir)?;
    let before = book.skills.len();
    book.skills.retain(|s| s.spec.name != name);
    if book.skills.len() == before {
        return Err(HostError::not_found(
            "skill.not_added",
            format!("{name} was not added from the app"),
        ));
    }
    agent.unregister(name).map_err(HostError::from)?;
    save(data_dir, &book)
}

/// Changes the lowest tier that may see and call a skill added from the app.
pub fn set_min_tier(agent: &Agent, data_dir: &Path, name: &str, value: u8) -> AppResult<()> {
    let min = tier(value)?;
    let mut book = load(data_dir)?;
    let saved = book.skills.iter_mut().find(|s| s.spec.name == name).ok_or_else(|| {
        HostError::not_found(
            "skill.not_added",
            format!("{name} was not added from the app; change its tier where it is declared"),
        )
    })?;
    saved.spec.min_tier = min;
    let exposed = agent.skills().iter().any(|(card, shown)| card.name == name && *shown);
    agent.register(saved.spec.clone(), handler(saved)?, exposed).map_err(HostError::from)?;
    save(data_dir, &book)
}

/// Every skill of mine with visibility and statistics, by name.
pub async fn list(agent: &Agent, data_dir: &Path) -> AppResult<Vec<MySkillView>> {
    let book = load(data_dir)?;
    let me = agent.inbox_id().to_owned();
    let mut stats: HashMap<String, (u32, u32, u64)> = HashMap::new();
    for signed in agent.receipts().await.map_err(HostError::from)? {
        let r = &signed.receipt;
        if r.provider == me {
            let entry = stats.entry(r.skill.clone()).or_default();
            entry.0 += 1;
            entry.1 += u32::from(r.status != "completed");
            entry.2 += r.duration_ms;
        }
    }
    let mut list: Vec<MySkillView> = agent
        .skills()
        .iter()
        .map(|(card, exposed)| {
            let (calls, failures, total) = stats.get(&card.name).copied().unwrap_or_default();
            MySkillView {
                skill: SkillView::from(card),
                exposed: *exposed,
                command: book
                    .skills
                    .iter()
                    .find(|s| s.spec.name == card.name)
                    .map(|s| s.command.clone()),
                calls,
                failures,
                mean_ms: if calls == 0 { 0.0 } else { total as f64 / f64::from(calls) },
            }
        })
        .collect();
    list.sort_by(|a, b| a.skill.name.cmp(&b.skill.name));
    Ok(list)
}

/// What a peer at `tier` would see.
pub fn preview(agent: &Agent, value: u8) -> AppResult<Vec<SkillView>> {
    Ok(agent.preview(tier(value)?).iter().map(SkillView::from).collect())
}
