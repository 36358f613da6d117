//! Item 9: a skill command gets a clean environment (never the agent's secrets) and runs in
//! its own process group; a timeout or a cancel kills everything it started.

use std::path::Path;
use std::time::Duration;

use coworker_attacks::{Net, eventually, spec};
use coworker_runtime::protocol::trust::Tier;
use coworker_runtime::{CallOptions, Command, Handler};
use serde_json::json;

fn alive(pid: &str) -> bool {
    // A killed process is gone, or a zombie until something reaps it.
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        !stat.rsplit(')').next().unwrap_or_default().trim_start().starts_with('Z')
    })
}

fn shell(script: &str) -> Command {
    Command::new("sh", &["-c", script])
}

#[tokio::test]
async fn a_skill_command_sees_only_path_and_what_it_was_given() {
    let net = Net::start().await;
    let (alice, bob) = (net.member("alice").await, net.member("bob").await);
    let mut command = shell(r#"printf '{"env":"%s"}' "$(env | cut -d= -f1 | sort | tr '\n' ' ')""#);
    command.env = vec![
        ("SKILL_MODEL".into(), "small".into()),
        ("COWORKER_KEYSTORE_PASSWORD".into(), "hunter2".into()),
    ];
    bob.register(spec("env", json!({}), json!({}), Tier::Known), Handler::Command(command), true)
        .unwrap();
    bob.set_tier(alice.inbox_id(), Tier::Known).await.unwrap();
    let _a = alice.serve().await.unwrap();
    let _b = bob.serve().await.unwrap();
    let out = alice.call(bob.inbox_id(), "env", json!({}), CallOptions::default()).await.unwrap();
    let names: Vec<&str> = out.output["env"].as_str().unwrap().split_whitespace().collect();
    assert!(std::env::var_os("HOME").is_some(), "the test itself has HOME");
    let allowed = ["PATH", "SKILL_MODEL", "PWD", "SHLVL", "_"]; // the last three: sh's own
    assert!(names.iter().all(|n| allowed.contains(n)), "{names:?}");
    assert!(names.contains(&"SKILL_MODEL") && names.contains(&"PATH"));
}

async fn leaves_nothing_behind(cancel: bool) {
    let net = Net::start().await;
    let (alice, bob) = (net.member("alice").await, net.member("bob").await);
    let pids = net.dir().join("pids");
    let script = format!("sleep 300 & echo $! >> {0}; echo $$ >> {0}; wait", pids.display());
    let mut command = shell(&script);
    command.timeout = if cancel { Duration::from_secs(60) } else { Duration::from_millis(700) };
    bob.register(spec("spawn", json!({}), json!({}), Tier::Known), Handler::Command(command), true)
        .unwrap();
    bob.set_tier(alice.inbox_id(), Tier::Known).await.unwrap();
    let _a = alice.serve().await.unwrap();
    let _b = bob.serve().await.unwrap();

    if cancel {
        let task = alice.call_async(bob.inbox_id(), "spawn", json!({})).await.unwrap();
        eventually("the command started", || async { started(&pids) }).await;
        alice.cancel(bob.inbox_id(), &task).await.unwrap();
    } else {
        let call = alice.call(bob.inbox_id(), "spawn", json!({}), CallOptions::default()).await;
        assert!(call.is_err(), "the command timed out");
    }
    eventually("everything the command started is gone", || async {
        started(&pids) && std::fs::read_to_string(&pids).unwrap().lines().all(|pid| !alive(pid))
    })
    .await;
}

fn started(pids: &Path) -> bool {
    std::fs::read_to_string(pids).is_ok_and(|p| p.lines().count() == 2)
}

#[tokio::test]
async fn a_timeout_kills_the_whole_process_group() {
    leaves_nothing_behind(false).await;
}

#[tokio::test]
async fn a_cancel_kills_the_whole_process_group() {
    leaves_nothing_behind(true).await;
}
