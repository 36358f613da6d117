//! The unmodified Python original (agent-coworker 0.6.1 from PyPI) as a peer: started with
//! `tests/interop/original.py` (its XMTP bridge served on libxmtp) from the project's `.venv`,
//! and driven through that script's control API, which calls the package's own methods.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

/// A running agent-coworker agent.
pub(crate) struct Original {
    child: Child,
    /// Its XMTP inbox id.
    pub(crate) inbox_id: String,
    /// Its Ethereum address (its identity in its own trust file).
    pub(crate) address: String,
    /// The invite its `coworker invite` prints.
    pub(crate) invite: String,
    control: u16,
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

impl Original {
    /// Starts one against the node at `node`, with its state in `dir`.
    pub(crate) fn start(node: &str, dir: &Path, name: &str) -> Self {
        let python = root().join(".venv/bin/python");
        assert!(python.exists(), "{} is missing: run scripts/setup.sh", python.display());
        let log = std::fs::File::create(dir.join(format!("{name}.log"))).unwrap();
        let mut child = Command::new(python)
            .arg(root().join("tests/interop/original.py"))
            .args(["serve", "--name", name, "--node", node, "--data-dir"])
            .arg(dir.join(name))
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut line = String::new();
        let mut stdout = child.stdout.take().unwrap();
        let mut byte = [0u8; 1];
        while stdout.read(&mut byte).unwrap() == 1 && byte[0] != b'\n' {
            line.push(char::from(byte[0]));
        }
        // The package keeps printing to its (piped) stdout: drain it.
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        let ready: Value = serde_json::from_str(&line).unwrap_or_else(|e| {
            panic!("the original did not start ({e}): {line:?}; see {name}.log")
        });
        let text = |k: &str| ready[k].as_str().unwrap().to_owned();
        Self {
            child,
            inbox_id: text("inbox_id"),
            address: text("address"),
            invite: text("invite"),
            control: u16::try_from(ready["control"].as_u64().unwrap()).unwrap(),
        }
    }

    /// Calls its control API: `path` with a JSON `body`; the answer's JSON.
    pub(crate) async fn post(&self, path: &str, body: Value) -> Value {
        let (port, path) = (self.control, path.to_owned());
        tokio::task::spawn_blocking(move || {
            let body = body.to_string();
            let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
            write!(
                stream,
                "POST {path} HTTP/1.0\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .unwrap();
            let mut answer = String::new();
            stream.read_to_string(&mut answer).unwrap();
            let (head, json) = answer.split_once("\r\n\r\n").unwrap();
            assert!(head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"), "{path}: {answer}");
            serde_json::from_str(json).unwrap()
        })
        .await
        .unwrap()
    }
}

impl Drop for Original {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
