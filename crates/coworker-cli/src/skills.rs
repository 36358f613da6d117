//! `skills`: what this agent offers (from its agent file), which skills peers may see, and what
//! a peer at a given tier would see.

use std::io::{BufRead, IsTerminal, Write};

use clap::Subcommand;
use coworker_runtime::protocol::trust::Tier;
use serde_json::json;

use coworker_host::api::OwnSkill;

use crate::output::{CliError, Out};
use crate::profile::{Global, Session};

pub(crate) const EXAMPLES: &str = "\
Skills are declared in the agent file that `coworker serve FILE` runs (see its --help).
Examples:
  coworker skills list
  coworker skills hide search                # hidden skills look nonexistent to peers
  coworker skills preview --peer-tier known  # what a KNOWN peer sees
  coworker skills configure                  # toggle each skill interactively";

#[derive(Debug, Subcommand)]
pub(crate) enum SkillsCommand {
    /// Every skill with its visibility and minimum tier.
    List,
    /// Shows a skill to peers (persisted).
    Expose {
        /// The skill.
        name: String,
    },
    /// Hides a skill from peers (persisted).
    Hide {
        /// The skill.
        name: String,
    },
    /// What a peer at this tier sees.
    Preview {
        /// untrusted, known, internal, privileged or 0-3.
        #[arg(long)]
        peer_tier: String,
    },
    /// Asks, skill by skill, whether to expose it (needs a terminal).
    Configure,
}

pub(crate) async fn run(global: &Global, command: SkillsCommand, out: Out) -> Result<(), CliError> {
    if matches!(command, SkillsCommand::Configure) && !std::io::stdin().is_terminal() {
        return Err(CliError::invalid("skills configure asks questions and needs a terminal")
            .hint("use coworker skills expose NAME / hide NAME"));
    }
    let session = Session::open(global).await?;
    let result = run_in(&session, command, out).await;
    session.close().await;
    let (value, human) = result?;
    out.result(&value, &human);
    Ok(())
}

#[allow(clippy::print_stderr)]
async fn run_in(
    session: &Session,
    command: SkillsCommand,
    out: Out,
) -> Result<(serde_json::Value, String), CliError> {
    let api = &session.api;
    let listing = |skills: Vec<OwnSkill>| {
        let value = json!({"skills": skills.iter().map(|s| json!({"name": s.card.name, "description": s.card.description, "min_tier": s.card.min_trust_tier, "exposed": s.exposed})).collect::<Vec<_>>()});
        let human = skills
            .iter()
            .map(|OwnSkill { card: c, exposed }| {
                let shown = if *exposed { out.green("exposed") } else { out.dim("hidden ") };
                format!(
                    "{shown}  {:<18} min {:<10} {}",
                    c.name,
                    Tier::parse(&c.min_trust_tier.to_string())
                        .map_or_else(|| c.min_trust_tier.to_string(), |t| t.to_string()),
                    c.description
                )
            })
            .collect::<Vec<_>>()
            .join("\n");
        (value, human)
    };
    let expose = matches!(command, SkillsCommand::Expose { .. });
    Ok(match command {
        SkillsCommand::List => {
            let skills = api.skills().await?;
            if skills.is_empty() {
                (
                    json!({"skills": []}),
                    "no skills: declare them in an agent file and run coworker serve FILE".into(),
                )
            } else {
                listing(skills)
            }
        }
        SkillsCommand::Expose { name } | SkillsCommand::Hide { name } => {
            let exposed = expose;
            api.set_exposed(&name, exposed).await?;
            let word = if exposed { "exposed" } else { "hidden" };
            (json!({"name": name, "exposed": exposed}), format!("{} {name} {word}", out.green("✓")))
        }
        SkillsCommand::Preview { peer_tier } => {
            let tier = Tier::parse(&peer_tier)
                .ok_or_else(|| CliError::invalid(format!("{peer_tier:?} is not a tier")))?;
            let cards = api.preview(tier).await?;
            let human = cards
                .iter()
                .map(|c| format!("{:<18} {}", c.name, c.description))
                .collect::<Vec<_>>()
                .join("\n");
            (
                json!({"tier": tier, "skills": cards.iter().map(|c| &c.name).collect::<Vec<_>>()}),
                if human.is_empty() { format!("a {tier} peer sees no skills") } else { human },
            )
        }
        SkillsCommand::Configure => {
            for OwnSkill { card, exposed } in api.skills().await? {
                eprint!(
                    "expose {} ({})? [{}] ",
                    card.name,
                    card.description,
                    if exposed { "Y/n" } else { "y/N" }
                );
                let _ = std::io::stderr().flush();
                let mut answer = String::new();
                std::io::stdin()
                    .lock()
                    .read_line(&mut answer)
                    .map_err(|e| CliError::other(e.to_string()))?;
                let answer = answer.trim().to_ascii_lowercase();
                let expose = if answer.is_empty() { exposed } else { answer.starts_with('y') };
                if expose != exposed {
                    api.set_exposed(&card.name, expose).await?;
                }
            }
            listing(api.skills().await?)
        }
    })
}
