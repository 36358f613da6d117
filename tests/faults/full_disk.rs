//! A full disk under the agents' databases: a small filesystem (tmpfs) of their own, filled up
//! while they work, then given space again.
//!
//! Mounting needs a private mount namespace: the test runs itself again under
//! `unshare --mount` (as root, as in CI) or `unshare --user --map-root-user --mount`.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use coworker_runtime::protocol::trust::Tier;
use coworker_runtime::protocol::{SkillSpec, receipt};
use coworker_runtime::{Agent, CallOptions, Handler};
use serde_json::json;
use sqlx::Connection as _;
use xmtp_client::{KeyStore, MemoryKeyStore};

const INNER: &str = "COWORKER_FULL_DISK_INNER";
const NAME: &str = "full_disk::a_full_disk_loses_nothing_and_service_returns_with_space";

/// Runs the test body in a mount namespace where it can mount its small filesystems.
#[test]
fn a_full_disk_loses_nothing_and_service_returns_with_space() {
    if std::env::var_os(INNER).is_some() {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
            .block_on(inner());
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let run = |namespace: &[&str]| {
        Command::new("unshare")
            .args(namespace)
            .arg(&exe)
            .args([NAME, "--exact", "--nocapture", "--test-threads=1"])
            .env(INNER, "1")
            .output()
            .expect("unshare runs (util-linux)")
    };
    let mut out = run(&["--mount", "--propagation", "private"]);
    if !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("unshare failed") {
        out = run(&["--user", "--map-root-user", "--mount", "--propagation", "private"]);
    }
    std::io::stdout().write_all(&out.stdout).unwrap();
    std::io::stderr().write_all(&out.stderr).unwrap();
    assert!(
        out.status.success(),
        "the full-disk test failed (it needs root or unprivileged user namespaces to mount a \
         tmpfs; see its output above)"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 passed"), "the inner test ran");
}

/// A tmpfs of `size` at `dir`, private to this process's mount namespace.
fn mount_small(dir: &Path, size: &str) {
    std::fs::create_dir_all(dir).unwrap();
    let status = Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0700"), "tmpfs"])
        .arg(dir)
        .status()
        .unwrap();
    assert!(status.success(), "mounting a tmpfs at {}", dir.display());
}

/// Fills the filesystem of `dir` to the last byte; returns the ballast file.
fn fill(dir: &Path) -> PathBuf {
    let ballast = dir.join("ballast");
    let mut file = std::fs::File::create(&ballast).unwrap();
    let chunk = vec![0u8; 4096];
    loop {
        match file.write_all(&chunk).and_then(|()| file.flush()) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(28) => break, // ENOSPC
            Err(e) => panic!("filling {}: {e}", dir.display()),
        }
    }
    ballast
}

/// Moves everything in the write-ahead logs into the databases and truncates the logs, so the
/// next write needs new space (a log keeps its size, and would absorb writes on a full disk).
async fn truncate_logs(dir: &Path) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "db") {
            let url = format!("sqlite:{}", path.display());
            let mut db = sqlx::SqliteConnection::connect(&url).await.unwrap();
            let (busy, _, _): (i64, i64, i64) =
                sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)").fetch_one(&mut db).await.unwrap();
            assert_eq!(busy, 0, "checkpoint of {} blocked", path.display());
            db.close().await.unwrap();
        }
    }
}

async fn integrity(dir: &Path) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "db") {
            let url = format!("sqlite:{}", path.display());
            let mut db = sqlx::SqliteConnection::connect(&url).await.unwrap();
            let (verdict,): (String,) =
                sqlx::query_as("PRAGMA integrity_check").fetch_one(&mut db).await.unwrap();
            assert_eq!(verdict, "ok", "{}", path.display());
            db.close().await.unwrap();
        }
    }
}

async fn call(caller: &Agent, to: &str, i: usize) -> coworker_runtime::Result<serde_json::Value> {
    let options = CallOptions {
        task_id: Some(format!("call-{i}")),
        timeout: Some(Duration::from_secs(60)),
        ..CallOptions::default()
    };
    caller.call(to, "count", json!({ "i": i }), options).await.map(|called| {
        let receipt = called.receipt.expect("a receipt");
        assert_eq!(receipt.receipt.output_sha256, receipt::digest(&called.output));
        called.output
    })
}

#[allow(clippy::print_stdout)] // what the full disk held up, in the test output
async fn inner() {
    // What the agents log goes to the test's output (shown when it fails).
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("warn"))
        .with_test_writer()
        .try_init();
    let temp = tempfile::tempdir().unwrap();
    let (provider_dir, caller_dir) = (temp.path().join("provider"), temp.path().join("caller"));
    mount_small(&provider_dir, "16m");
    mount_small(&caller_dir, "16m");
    let node =
        xmtp_node::start(xmtp_node::NodeConfig::local(temp.path().join("node.db"))).await.unwrap();
    let provider_keys = Arc::new(MemoryKeyStore::default()) as Arc<dyn KeyStore>;
    let open_provider = || {
        coworker_testkit::open(
            node.url(),
            &provider_dir,
            "provider",
            Arc::clone(&provider_keys),
            |_| {},
        )
    };
    let provider = open_provider().await;
    let caller = coworker_testkit::open(
        node.url(),
        &caller_dir,
        "caller",
        Arc::new(MemoryKeyStore::default()),
        |c| c.deadline = Duration::from_secs(60),
    )
    .await;
    let runs = Arc::new(AtomicUsize::new(0));
    let count = |agent: &Agent| {
        let runs = Arc::clone(&runs);
        let handler = Handler::function(move |input, _| {
            runs.fetch_add(1, Ordering::SeqCst);
            async move { Ok(input) }
        });
        agent.register(SkillSpec::new("count", "counts"), handler, true).unwrap();
    };
    count(&provider);
    provider.set_tier(caller.inbox_id(), Tier::Known).await.unwrap();
    let provider_serving = provider.serve().await.unwrap();
    let _caller_serving = caller.serve().await.unwrap();
    caller.add_peer(&provider.invite(None).unwrap()).await.unwrap();
    let to = provider.inbox_id().to_owned();
    assert_eq!(call(&caller, &to, 0).await.unwrap(), json!({ "i": 0 }));

    // The provider's disk fills up; ten calls arrive meanwhile.
    truncate_logs(&provider_dir).await;
    let ballast = fill(&provider_dir);
    let mut calls = tokio::task::JoinSet::new();
    for i in 1..=10 {
        let (caller, to) = (caller.clone(), to.clone());
        calls.spawn(async move { (i, call(&caller, &to, i).await) });
    }
    // Three seconds of a full disk: writes fail ("database or disk is full" in the log), the
    // stream reconnects, requests wait. (How far each one gets depends on which write found
    // room: SQLite reuses pages its logs already hold.)
    tokio::time::sleep(Duration::from_secs(3)).await;
    println!("while full: {} of 10 calls ran", runs.load(Ordering::SeqCst) - 1);

    // Space returns: every call is served once.
    std::fs::remove_file(&ballast).unwrap();
    while let Some(joined) = calls.join_next().await {
        let (i, output) = joined.unwrap();
        assert_eq!(output.unwrap(), json!({ "i": i }), "call {i}");
    }
    assert_eq!(runs.load(Ordering::SeqCst), 11, "each call ran once");

    // The caller's disk fills up: its call fails at once with a clear error, and works again
    // once there is space.
    truncate_logs(&caller_dir).await;
    let ballast = fill(&caller_dir);
    let refused = call(&caller, &to, 11).await.expect_err("the caller cannot record its call");
    assert!(refused.to_string().contains("full"), "a clear error: {refused}");
    std::fs::remove_file(&ballast).unwrap();
    assert_eq!(call(&caller, &to, 11).await.unwrap(), json!({ "i": 11 }));
    assert_eq!(runs.load(Ordering::SeqCst), 12);

    // Nothing corrupt, nothing lost: both sides hold twelve receipts, also after a restart.
    assert_eq!(caller.receipts().await.unwrap().len(), 12);
    provider_serving.stop().await;
    drop(provider);
    integrity(&provider_dir).await;
    integrity(&caller_dir).await;
    let provider = open_provider().await;
    assert_eq!(provider.receipts().await.unwrap().len(), 12);
}
