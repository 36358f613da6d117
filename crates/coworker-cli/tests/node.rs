//! `coworker node` as a process: it prints its URL when ready, serves, and on SIGINT or SIGTERM
//! exits 0 with everything acknowledged on disk.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use xmtp_proto::mls_api::{self as api, mls_api_client::MlsApiClient};

struct Running {
    child: Child,
    url: String,
}

fn start(db: &std::path::Path) -> Running {
    let mut child = Command::new(env!("CARGO_BIN_EXE_coworker"))
        .args(["node", "--listen", "127.0.0.1:0", "--db"])
        .arg(db)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in {line:?}"))
        .to_owned();
    Running { child, url }
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill").args([name, &child.id().to_string()]).status().unwrap();
    assert!(status.success());
}

/// A TLS MLS PrivateMessage frame for group `g`.
fn frame(n: u8) -> Vec<u8> {
    vec![0, 1, 0, 2, 1, b'g', 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 1, 7, 1, n]
}

async fn count(url: &str) -> usize {
    let mut client = MlsApiClient::connect(url.to_owned()).await.unwrap();
    let request =
        api::QueryGroupMessagesRequest { group_id: b"g".to_vec().into(), paging_info: None };
    client.query_group_messages(request).await.unwrap().into_inner().messages.len()
}

async fn send(url: &str, n: u8) {
    let mut client = MlsApiClient::connect(url.to_owned()).await.unwrap();
    let input = api::GroupMessageInput {
        version: Some(api::group_message_input::Version::V1(api::group_message_input::V1 {
            data: frame(n).into(),
            sender_hmac: Default::default(),
            should_push: false,
        })),
    };
    client
        .send_group_messages(api::SendGroupMessagesRequest { messages: vec![input] })
        .await
        .unwrap();
}

// Multi-threaded, so the clients' connection tasks can answer the node's GOAWAY while this
// thread blocks on the child process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_stops_cleanly_on_signals_and_keeps_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("node.db");
    for (round, name) in [(1u8, "-INT"), (2, "-TERM")] {
        let mut node = start(&db);
        assert_eq!(count(&node.url).await, usize::from(round - 1));
        send(&node.url, round).await;
        signal(&node.child, name);
        let status = node.child.wait().unwrap();
        assert!(status.success(), "{name}: {status:?}");
    }
    let mut node = start(&db);
    assert_eq!(count(&node.url).await, 2);
    node.child.kill().unwrap();
    let _ = node.child.wait();
}

#[test]
fn node_reports_an_unusable_database_path() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("file");
    std::fs::write(&file, b"x").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_coworker"))
        .args(["node", "--listen", "127.0.0.1:0", "--db"])
        .arg(file.join("node.db"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.starts_with("coworker: "), "{stderr}");
    assert!(stderr.contains("node.db") || stderr.contains("file"), "{stderr}");
}
