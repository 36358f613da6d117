//! `coworker call` against a running host, as a script runs it: process start to printed
//! result. A `coworker node`, a helper agent (`serve` with an `echo` command skill) and the
//! caller's host (`coworker host`) run as processes on loopback; each sample is one `coworker
//! --json call helper echo` process. `-- --quick` for a smoke run.

#![allow(clippy::unwrap_used, clippy::print_stdout, missing_docs)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

const PASSWORD: &str = "bench-password";

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn coworker(url: &str, data: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_coworker"));
    command
        .args(["--json", "--network", url, "--data-dir"])
        .arg(data)
        .args(args)
        .env("COWORKER_KEYSTORE_PASSWORD", PASSWORD)
        .env("RUST_LOG", "error")
        .stdin(Stdio::null());
    command
}

/// Starts a long-running `coworker` process and returns it with its first output line.
fn started(mut command: Command) -> (Killed, String) {
    let mut child = command.stdout(Stdio::piped()).spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    (Killed(child), line)
}

fn ok(mut command: Command) -> String {
    let output = command.output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stdout));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let samples = if quick { 10 } else { 100 };
    let dir = tempfile::tempdir().unwrap();
    let (_node, line) = started({
        let mut node = Command::new(env!("CARGO_BIN_EXE_coworker"));
        node.args(["node", "--listen", "127.0.0.1:0", "--db"]).arg(dir.path().join("node.db"));
        node
    });
    let url = line.split_whitespace().find(|w| w.starts_with("http://")).unwrap().to_owned();
    let file: PathBuf = dir.path().join("helper.toml");
    std::fs::write(
        &file,
        "name = \"helper\"\n[trust]\nauto_grant = \"known\"\n[[skill]]\nname = \"echo\"\n\
         description = \"echoes\"\ninput = { text = \"str\" }\noutput = { text = \"str\" }\n\
         command = [\"cat\"]\n",
    )
    .unwrap();
    let (_helper, ready) =
        started(coworker(&url, &dir.path().join("helper"), &["serve", file.to_str().unwrap()]));
    let ready: serde_json::Value = serde_json::from_str(&ready).unwrap();
    let me = dir.path().join("me");
    ok(coworker(&url, &me, &["init", "--name", "me"]));
    let (_host, _) = started(coworker(&url, &me, &["host"]));
    ok(coworker(&url, &me, &["connect", ready["code"].as_str().unwrap()]));
    let call = || coworker(&url, &me, &["call", "helper", "echo", "--input", r#"{"text":"hi"}"#]);
    for _ in 0..3 {
        ok(call());
    }
    let mut times = Vec::with_capacity(samples);
    for _ in 0..samples {
        let started = Instant::now();
        let printed = ok(call());
        times.push(started.elapsed());
        assert!(printed.contains("\"hi\""), "{printed}");
    }
    times.sort();
    let at = |p: f64| {
        let index = ((times.len() as f64 - 1.0) * p).round() as usize;
        times[index].as_secs_f64() * 1e3
    };
    println!(
        "coworker call via a running host, process start to printed result ({samples} runs): \
         p50 {:.1} ms, p90 {:.1} ms, max {:.1} ms",
        at(0.5),
        at(0.9),
        at(1.0)
    );
}
