//! `init`, `status` and `invite`: the identity on this machine and how others reach it.

use clap::Args;
use coworker_runtime::protocol::Invite;
use serde_json::{Value, json};

use crate::output::{CliError, Out, exit};
use crate::profile::{Global, Profile, Session};

pub(crate) const INIT_EXAMPLES: &str = "\
Examples:
  coworker init --name my-bot                        # keys in the OS keychain, embedded network
  coworker init --name my-bot --network local        # use the node on 127.0.0.1:5556
  COWORKER_KEYSTORE_PASSWORD=... coworker init --name ci-bot --keystore ./ci-bot.keys";

#[derive(Debug, Args)]
pub(crate) struct InitArgs {
    /// The agent's display name (shown to peers; not an identity).
    #[arg(long)]
    name: String,
}

pub(crate) async fn init(global: &Global, args: InitArgs, out: Out) -> Result<(), CliError> {
    let data_dir = global.own_data_dir()?;
    if let Some(existing) = Profile::load(&data_dir)? {
        return Err(CliError::new(
            "already_initialised",
            exit::INVALID_INPUT,
            format!("{} already holds the identity {:?}", data_dir.display(), existing.name),
        )
        .hint("use another --data-dir for a second identity"));
    }
    let name = args.name.trim();
    if name.is_empty() {
        return Err(CliError::invalid("the name is empty"));
    }
    let profile = Profile::new(global, name, &data_dir);
    out.progress("creating the identity and registering it on the network…");
    let session = Session::start(global, profile.clone(), &data_dir).await?;
    profile.save(&data_dir)?;
    let me = session.api.status().await;
    let network = session.network.clone();
    session.close().await;
    let me = me?;
    let value = json!({
        "name": profile.name,
        "inbox_id": me.inbox_id,
        "address": me.address,
        "installation_id": me.installation_id,
        "network": network,
    });
    let human = format!(
        "{} {}\ninbox    {}\naddress  {}\nnetwork  {}\nnext: coworker invite, or coworker demo",
        out.green("✓ created"),
        out.bold(&profile.name),
        me.inbox_id,
        me.address,
        network
    );
    out.result(&value, &human);
    Ok(())
}

pub(crate) async fn status(global: &Global, out: Out) -> Result<(), CliError> {
    let session = Session::open(global).await?;
    let api = &session.api;
    let gathered = async {
        Ok::<_, coworker_host::HostError>((
            api.status().await?,
            api.peers().await?,
            api.skills().await?,
        ))
    }
    .await;
    let hosted = session.hosted();
    let (profile, network) = (session.profile.clone(), session.network.clone());
    session.close().await;
    let (me, peers, skills) = gathered?;
    let reachable = me.node_reachable;
    let skills: Vec<Value> =
        skills.into_iter().map(|s| json!({"name": s.card.name, "exposed": s.exposed})).collect();
    let value = json!({
        "name": profile.name,
        "inbox_id": me.inbox_id,
        "address": me.address,
        "installation_id": me.installation_id,
        "network": network,
        "node_reachable": reachable,
        "host": hosted,
        "peers": peers.iter().map(|p| json!({"name": p.name, "inbox_id": p.inbox_id, "tier": p.tier})).collect::<Vec<_>>(),
        "pending_trust_requests": me.pending_requests,
        "skills": skills,
        "agent_file": profile.agent_file,
    });
    let mut human = format!(
        "{}  {}\ninbox    {}\naddress  {}\nnetwork  {} ({})\nskills   {}\npeers    {}",
        out.bold(&profile.name),
        out.dim(if hosted { "(served by its running host)" } else { "(this machine)" }),
        me.inbox_id,
        me.address,
        network,
        if reachable { "reachable" } else { "unreachable" },
        skills.len(),
        peers.len()
    );
    for peer in &peers {
        human.push_str(&format!(
            "\n  {:<16} {:<10} {}",
            peer.name,
            peer.tier.to_string(),
            peer.inbox_id
        ));
    }
    if me.pending_requests > 0 {
        human.push_str(&format!(
            "\n{} pending trust request(s): coworker trust requests",
            me.pending_requests
        ));
    }
    out.result(&value, &human);
    Ok(())
}

pub(crate) const INVITE_EXAMPLES: &str = "\
Examples:
  coworker invite                          # code, coworker:// URI and a QR code in the terminal
  coworker invite --expires-in 24h --qr invite.png
  coworker --json invite | jq -r .uri";

#[derive(Debug, Args)]
pub(crate) struct InviteArgs {
    /// Let the code expire after this long: 90s, 30m, 12h or 7d.
    #[arg(long, value_parser = parse_duration)]
    expires_in: Option<u64>,
    /// Write the QR code to this file (.svg or .png) instead of drawing it in the terminal.
    #[arg(long)]
    qr: Option<std::path::PathBuf>,
}

pub(crate) async fn invite(global: &Global, args: InviteArgs, out: Out) -> Result<(), CliError> {
    let session = Session::open(global).await?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let expires = args.expires_in.map(|secs| now + secs);
    let code = session.api.invite(expires).await;
    session.close().await;
    let code = code?;
    let invite = Invite::parse(&code, 0).map_err(coworker_runtime::RuntimeError::from)?;
    let uri = Invite::uri(&code);
    let value =
        json!({"code": code, "uri": uri, "short_id": invite.short_id(), "expires_at": expires});
    if let Some(path) = &args.qr {
        let bytes = match path.extension().and_then(|e| e.to_str()) {
            Some("png") => Invite::qr_png(&uri, 8).map_err(|e| CliError::other(e.to_string()))?,
            Some("svg") => {
                Invite::qr_svg(&uri).map_err(|e| CliError::other(e.to_string()))?.into_bytes()
            }
            _ => return Err(CliError::invalid("--qr takes a .svg or .png file name")),
        };
        std::fs::write(path, bytes)
            .map_err(|e| CliError::other(format!("cannot write {}: {e}", path.display())))?;
    }
    let qr =
        if args.qr.is_none() { Invite::qr_text(&uri).unwrap_or_default() } else { String::new() };
    let human = format!(
        "{qr}\n{}  {}\n\n{code}\n\n{uri}\n\nThe other side runs: coworker connect <code or uri>",
        out.bold("invite"),
        invite.short_id()
    );
    out.result(&value, &human);
    Ok(())
}

/// Seconds from `90s`, `30m`, `12h` or `7d`.
fn parse_duration(text: &str) -> Result<u64, String> {
    let (number, unit) = text.split_at(text.len().saturating_sub(1));
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err("use a number with s, m, h or d, e.g. 12h".into()),
    };
    match number.parse::<u64>() {
        Ok(n) if n > 0 => Ok(n.saturating_mul(scale)),
        _ => Err("use a positive number with s, m, h or d, e.g. 12h".into()),
    }
}
