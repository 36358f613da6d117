//! `receipts`: the signed records of every call, as caller and as provider; checked against the
//! provider's identity; exported for accounting.

use std::path::PathBuf;

use clap::Subcommand;
use serde_json::json;

use crate::output::{CliError, Out, exit};
use crate::profile::{Global, Session};

pub(crate) const EXAMPLES: &str = "\
Examples:
  coworker receipts list
  coworker receipts verify          # signatures and signers, against the providers' identities
  coworker receipts export --format csv --output calls.csv";

#[derive(Debug, Subcommand)]
pub(crate) enum ReceiptsCommand {
    /// Every receipt.
    List,
    /// Checks each receipt's signature and that its signer is an installation of the provider.
    Verify,
    /// Writes every receipt as CSV or JSON.
    Export {
        /// csv or json.
        #[arg(long, default_value = "csv")]
        format: String,
        /// The file (default: stdout).
        #[arg(long)]
        output: Option<PathBuf>,
    },
}

pub(crate) async fn run(
    global: &Global,
    command: ReceiptsCommand,
    out: Out,
) -> Result<(), CliError> {
    if let ReceiptsCommand::Export { format, .. } = &command
        && !matches!(format.as_str(), "csv" | "json")
    {
        return Err(CliError::invalid(format!("--format {format}: use csv or json")));
    }
    let session = Session::open(global).await?;
    let api = &session.api;
    let result = async {
        let receipts = api.receipts().await?;
        Ok::<_, CliError>(match command {
            ReceiptsCommand::List => {
                let human = receipts
                    .iter()
                    .map(|r| {
                        let r = &r.receipt;
                        format!("{}  {:<16} {:<22} {:>6} ms  {} → {}", r.id.get(..8).unwrap_or(&r.id), r.skill, r.status, r.duration_ms, r.caller.get(..8).unwrap_or(&r.caller), r.provider.get(..8).unwrap_or(&r.provider))
                    })
                    .collect::<Vec<_>>()
                    .join("\n");
                (json!({"receipts": receipts}), if human.is_empty() { "no receipts yet".into() } else { human })
            }
            ReceiptsCommand::Verify => {
                let check = api.verify_receipts().await?;
                let bad: Vec<_> = check
                    .failed
                    .iter()
                    .map(|(id, signature, signer)| json!({"id": id, "signature": signature, "signer_is_provider": signer}))
                    .collect();
                if !bad.is_empty() {
                    return Err(CliError::new("receipt_invalid", exit::FAILURE, format!("{} of {} receipts failed verification: {bad:?}", bad.len(), receipts.len())));
                }
                (json!({"verified": check.checked, "failed": []}), format!("{} {} receipt(s) verified", out.green("✓"), check.checked))
            }
            ReceiptsCommand::Export { format, output } => {
                let body = if format == "csv" {
                    coworker_runtime::protocol::receipt::to_csv(receipts.iter())
                } else {
                    serde_json::to_string_pretty(&receipts).unwrap_or_default()
                };
                match output {
                    Some(path) => {
                        std::fs::write(&path, body).map_err(|e| CliError::other(format!("cannot write {}: {e}", path.display())))?;
                        (json!({"written": path, "count": receipts.len(), "format": format}), format!("{} {} receipt(s) → {}", out.green("✓"), receipts.len(), path.display()))
                    }
                    None if out.json => (json!({"format": format, "count": receipts.len(), "body": body}), String::new()),
                    None => (json!({}), body.trim_end().to_owned()),
                }
            }
        })
    }
    .await;
    session.close().await;
    let (value, human) = result?;
    out.result(&value, &human);
    Ok(())
}
