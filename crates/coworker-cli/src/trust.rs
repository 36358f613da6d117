//! `trust`: the tiers this agent holds peers at, the requests waiting for the owner, and the
//! audit log of every decision.

use clap::Subcommand;
use coworker_runtime::protocol::trust::Tier;
use serde_json::json;

use crate::calls::resolve_peer;
use crate::output::{CliError, Out};
use crate::profile::{Global, Session};

pub(crate) const EXAMPLES: &str = "\
Examples:
  coworker trust list
  coworker trust set translator internal     # by name, inbox id or invite
  coworker trust requests                    # what peers asked for
  coworker trust approve 3
  coworker trust block 5f2a…e9               # refuse everything from it, silently
  coworker trust log                         # every decision, with the rule that fired";

#[derive(Debug, Subcommand)]
pub(crate) enum TrustCommand {
    /// Peers and their tiers.
    List,
    /// Sets a peer's tier (untrusted, known, internal, privileged or 0-3); `untrusted` revokes.
    Set {
        /// Inbox id, name or invite code.
        peer: String,
        /// The tier.
        tier: String,
    },
    /// Trust requests (pending ones; --all for every one).
    Requests {
        /// Include decided requests.
        #[arg(long)]
        all: bool,
    },
    /// Grants a pending request.
    Approve {
        /// The request id.
        id: i64,
    },
    /// Denies a pending request.
    Deny {
        /// The request id.
        id: i64,
    },
    /// Blocks a peer: everything it sends is refused without an answer, its requests never
    /// reach you, and its tier becomes untrusted.
    Block {
        /// Inbox id, name or invite code.
        peer: String,
    },
    /// Lifts a block (the peer stays untrusted until you set a tier).
    Unblock {
        /// Inbox id, name or invite code.
        peer: String,
    },
    /// The audit log, newest first: what was allowed or denied, and why.
    Log {
        /// How many entries.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
}

pub(crate) async fn run(global: &Global, command: TrustCommand, out: Out) -> Result<(), CliError> {
    let session = Session::open(global).await?;
    let result = run_in(&session, command, out).await;
    session.close().await;
    let (value, human) = result?;
    out.result(&value, &human);
    Ok(())
}

async fn run_in(
    session: &Session,
    command: TrustCommand,
    out: Out,
) -> Result<(serde_json::Value, String), CliError> {
    let api = &session.api;
    Ok(match command {
        TrustCommand::List => {
            let peers = api.peers().await?;
            let human = peers
                .iter()
                .map(|p| {
                    let tier = if p.blocked { "blocked".to_owned() } else { p.tier.to_string() };
                    format!("{tier:<10} {:<52} {}", p.label(), p.inbox_id)
                })
                .collect::<Vec<_>>()
                .join("\n");
            let value = json!({"peers": peers.iter().map(|p| json!({"name": p.name,
                "name_verified": p.name_verified, "inbox_id": p.inbox_id, "tier": p.tier,
                "blocked": p.blocked})).collect::<Vec<_>>()});
            (value, if human.is_empty() { "no peers yet".into() } else { human })
        }
        TrustCommand::Set { peer, tier } => {
            let tier = Tier::parse(&tier).ok_or_else(|| {
                CliError::invalid(format!("{tier:?} is not a tier"))
                    .hint("untrusted, known, internal, privileged or 0-3")
            })?;
            let inbox = resolve_peer(api, &peer).await?;
            api.set_tier(&inbox, tier).await?;
            (
                json!({"inbox_id": inbox, "tier": tier}),
                format!("{} {inbox} → {tier}", out.green("✓")),
            )
        }
        TrustCommand::Requests { all } => {
            let requests = api.trust_requests(!all).await?;
            let peers = api.peers().await?;
            let mut lines = Vec::with_capacity(requests.len());
            for r in &requests {
                let who = match peers.iter().find(|p| p.inbox_id == r.peer) {
                    Some(peer) => peer.label(),
                    None => coworker_runtime::peer_label(&r.peer, "", false),
                };
                lines.push(format!(
                    "#{:<4} {:<10} {:<9} {who}  “{}”",
                    r.id,
                    r.requested.to_string(),
                    r.status,
                    coworker_runtime::protocol::text::one_line(&r.reason, 200)
                ));
            }
            let human = lines.join("\n");
            (
                json!({"requests": requests}),
                if human.is_empty() { "no pending requests".into() } else { human },
            )
        }
        TrustCommand::Approve { id } | TrustCommand::Deny { id } => {
            let approve = matches!(command, TrustCommand::Approve { .. });
            api.decide_trust_request(id, approve).await?;
            let word = if approve { "approved" } else { "denied" };
            (json!({"id": id, "status": word}), format!("{} request {id} {word}", out.green("✓")))
        }
        TrustCommand::Block { ref peer } | TrustCommand::Unblock { ref peer } => {
            let block = matches!(command, TrustCommand::Block { .. });
            let inbox = resolve_peer(api, peer).await?;
            api.set_blocked(&inbox, block).await?;
            let word = if block { "blocked" } else { "unblocked (untrusted)" };
            (
                json!({"inbox_id": inbox, "blocked": block}),
                format!("{} {inbox} {word}", out.green("✓")),
            )
        }
        TrustCommand::Log { limit } => {
            let entries = api.audit_log(None, limit).await?;
            let human = entries
                .iter()
                .map(|e| {
                    format!(
                        "{} {:<5} {:<28} {:<18} {}",
                        e.at_ms,
                        if e.decision.allowed { "allow" } else { "deny" },
                        e.action,
                        e.decision.rule,
                        coworker_runtime::fingerprint(&e.peer)
                    )
                })
                .collect::<Vec<_>>()
                .join("\n");
            (json!({"entries": entries}), human)
        }
    })
}
