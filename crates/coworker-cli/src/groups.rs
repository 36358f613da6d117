//! `groups`: encrypted group chats of people and agents, with every member's tier.

use clap::Subcommand;
use coworker_runtime::Group;
use serde_json::json;

use crate::output::{CliError, Out};
use crate::profile::{Global, Session};

pub(crate) const EXAMPLES: &str = "\
Examples:
  coworker groups create launch eyJu… 5f2a…e9 0x7d1f…   # invite codes, inbox ids or addresses
  coworker groups list
  coworker groups send 9c1e… 'ship it on friday'
  coworker groups call 9c1e… translator translate --input '{\"text\":\"hola\"}'";

#[derive(Debug, Subcommand)]
pub(crate) enum GroupsCommand {
    /// Creates a group.
    Create {
        /// Its name.
        name: String,
        /// Members: invite codes, inbox ids or wallet addresses.
        #[arg(required = true)]
        members: Vec<String>,
    },
    /// Groups this agent is in, with members and their tiers.
    List,
    /// Sends a chat message.
    Send {
        /// The group id.
        group: String,
        /// The text.
        text: String,
    },
    /// Calls a member's skill in the group.
    Call {
        /// The group id.
        group: String,
        /// The member: inbox id or name.
        member: String,
        /// The skill.
        skill: String,
        /// The input (JSON).
        #[arg(long, default_value = "{}")]
        input: String,
    },
}

fn describe(out: Out, group: &Group) -> String {
    let mut text = format!("{}  {}", out.bold(&group.name), out.dim(&group.id));
    for m in &group.members {
        let badge = m.tier.map_or_else(|| "you".to_owned(), |t| t.to_string());
        let name =
            m.name.clone().unwrap_or_else(|| m.inbox_id.get(..8).unwrap_or_default().to_owned());
        text.push_str(&format!("\n  [{badge}] {name}{}", if m.admin { " (admin)" } else { "" }));
    }
    text
}

pub(crate) async fn run(global: &Global, command: GroupsCommand, out: Out) -> Result<(), CliError> {
    let session = Session::open(global).await?;
    let api = &session.api;
    let result = async {
        Ok::<_, CliError>(match command {
            GroupsCommand::Create { name, members } => {
                let group = api.create_group(&name, &members).await?;
                (json!({"group": group}), describe(out, &group))
            }
            GroupsCommand::List => {
                let groups = api.groups().await?;
                let human = groups.iter().map(|g| describe(out, g)).collect::<Vec<_>>().join("\n\n");
                (json!({"groups": groups}), if human.is_empty() { "no groups".into() } else { human })
            }
            GroupsCommand::Send { group, text } => {
                api.send_chat(&group, &text).await?;
                (json!({"group": group, "sent": true}), format!("{} sent", out.green("✓")))
            }
            GroupsCommand::Call { group, member, skill, input } => {
                let input = serde_json::from_str(&input)
                    .map_err(|e| CliError::invalid(format!("--input is not valid JSON: {e}")))?;
                let done = api.group_call(&group, &member, &skill, input).await?;
                let value = json!({"ok": true, "result": done.output, "error": null,
                    "duration_ms": done.elapsed_ms,
                    "receipt_id": done.receipt.as_ref().map(|r| r.receipt.id.clone()), "task_id": done.task_id});
                (value, serde_json::to_string_pretty(&done.output).unwrap_or_default())
            }
        })
    }
    .await;
    session.close().await;
    let (value, human) = result?;
    out.result(&value, &human);
    Ok(())
}
