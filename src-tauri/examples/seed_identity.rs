//! Creates an app identity in a data directory, as onboarding would, for the app benchmark's
//! returning-user start (`scripts/bench-app.sh`): the embedded node's database and the keys
//! (OS keychain) end up where the app looks for them with `COWORKER_DATA_DIR=<dir>`.
//!
//! usage: seed_identity <data-dir> [name]

#![allow(clippy::print_stdout)]

use std::path::PathBuf;

use coworker_app::identity::{self, EmbeddedNode};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), String> {
    let mut args = std::env::args_os().skip(1);
    let dir = PathBuf::from(args.next().ok_or("usage: seed_identity <data-dir> [name]")?);
    let name = args.next().map_or_else(|| "bench".to_owned(), |n| n.to_string_lossy().into_owned());
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let node = EmbeddedNode { listen: ([127, 0, 0, 1], 0).into(), database: dir.join("node.db") };
    let (url, node) = identity::start_node(&node).await.map_err(|e| e.message)?;
    let running = identity::create(&dir, &identity::keychain(), &url, &name, "embedded")
        .await
        .map_err(|e| e.message)?;
    println!("{} ({})", running.info.name, running.info.inbox_id);
    running.stop().await;
    if let Some(node) = node {
        node.shutdown().await.map_err(|e| e.to_string())?;
    }
    Ok(())
}
