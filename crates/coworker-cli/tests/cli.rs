//! The `coworker` binary end to end, as people and scripts use it: a `coworker node` process, a
//! `coworker serve` agent and two CLI identities (alice, bob) with password-file keys. Covers
//! init, invite, connect (untrusted, then with a trust request), calls, asynchronous requests,
//! trust requests and approval, collaborate, receipts, the `--json` contract, exit codes and
//! the errors people hit.

#![allow(clippy::unwrap_used, missing_docs)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

const PASSWORD: &str = "cli-test-password";

struct World {
    dir: tempfile::TempDir,
    node: Child,
    url: String,
}

impl World {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut node = Command::new(env!("CARGO_BIN_EXE_coworker"))
            .args(["node", "--listen", "127.0.0.1:0", "--db"])
            .arg(dir.path().join("node.db"))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(node.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let url = line.split_whitespace().find(|w| w.starts_with("http://")).unwrap().to_owned();
        Self { dir, node, url }
    }

    fn data(&self, who: &str) -> PathBuf {
        self.dir.path().join(who)
    }

    fn command(&self, who: &str, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_coworker"));
        command.arg("--json");
        if !args.contains(&"--network") {
            command.arg("--network").arg(&self.url);
        }
        command
            .arg("--data-dir")
            .arg(self.data(who))
            .args(args)
            .env("COWORKER_KEYSTORE_PASSWORD", PASSWORD)
            .env("RUST_LOG", "error")
            .stdin(Stdio::null());
        command
    }

    /// Runs a command; returns its exit code and its one JSON object (the last line for
    /// streams).
    fn run(&self, who: &str, args: &[&str]) -> (i32, Value) {
        let output = self.command(who, args).output().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        let last = stdout.lines().last().unwrap_or_else(|| {
            panic!("{args:?} printed nothing; stderr: {}", String::from_utf8_lossy(&output.stderr))
        });
        let value =
            serde_json::from_str(last).unwrap_or_else(|e| panic!("{args:?}: {e} in {stdout:?}"));
        (output.status.code().unwrap_or(-1), value)
    }

    fn ok(&self, who: &str, args: &[&str]) -> Value {
        let (code, value) = self.run(who, args);
        assert_eq!(code, 0, "{args:?} → {value}");
        value
    }

    fn fails(&self, who: &str, args: &[&str], exit: i32, code: &str) -> Value {
        let (status, value) = self.run(who, args);
        assert_eq!(status, exit, "{args:?} → {value}");
        assert!(value["error"]["code"].as_str().unwrap().starts_with(code), "{args:?} → {value}");
        assert!(!value["error"]["message"].as_str().unwrap().is_empty());
        value
    }
}

impl Drop for World {
    fn drop(&mut self) {
        let _ = self.node.kill();
        let _ = self.node.wait();
    }
}

fn agent_file(dir: &Path) -> PathBuf {
    named_agent_file(dir, "bot")
}

fn named_agent_file(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(
        &path,
        r#"
name = "NAME"

[trust]
auto_grant = "known"

[[skill]]
name = "echo"
description = "Echoes text back"
when_to_use = "echo some text"
input = { text = "str" }
output = { text = "str" }
command = ["sh", "-c", "cat"]

[[skill]]
name = "private"
description = "Not for peers"
command = ["true"]
exposed = false
"#
        .replace("NAME", name),
    )
    .unwrap();
    path
}

/// Starts `coworker serve FILE` for `who`; its first line (`ready`) and a thread collecting
/// the rest (its activity events).
fn serve(world: &World, who: &str, file: &Path) -> (Served, Value, Arc<Mutex<Vec<Value>>>) {
    let mut child = world
        .command(who, &["serve", file.to_str().unwrap()])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap());
    let mut ready = String::new();
    lines.read_line(&mut ready).unwrap();
    let ready: Value = serde_json::from_str(&ready).unwrap();
    let events = Arc::new(Mutex::new(Vec::new()));
    let collected = Arc::clone(&events);
    std::thread::spawn(move || {
        for line in lines.lines().map_while(Result::ok) {
            if let Ok(event) = serde_json::from_str(&line) {
                collected.lock().unwrap().push(event);
            }
        }
    });
    (Served(child), ready, events)
}

/// Starts `serve`, reads its ready line and closes its output.
fn serve_unread(world: &World, who: &str, file: &Path) -> (Served, Value) {
    let mut child = world
        .command(who, &["serve", file.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut ready = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut ready).unwrap();
    (Served(child), serde_json::from_str(&ready).unwrap())
}

/// Waits up to 20 s for `serve` to have printed an event of `kind` that `matches`.
fn printed(events: &Mutex<Vec<Value>>, kind: &str, matches: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..200 {
        let found =
            events.lock().unwrap().iter().find(|e| e["event"] == kind && matches(e)).cloned();
        if let Some(event) = found {
            return event;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("serve printed no {kind} event: {:?}", events.lock().unwrap())
}

struct Served(Child);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn two_cli_identities_and_a_served_agent() {
    let world = World::start();
    let file = agent_file(world.dir.path());
    let (served, ready, bot_events) = serve(&world, "bot", &file);
    assert_eq!(ready["event"], "ready");
    assert!(ready["control"].as_str().unwrap().ends_with("control.sock"), "{ready}");
    let bot_code = ready["code"].as_str().unwrap().to_owned();
    assert!(ready["uri"].as_str().unwrap().starts_with("coworker://invite/"));

    // init: the documented fields; a second init is refused.
    let alice = world.ok("alice", &["init", "--name", "alice"]);
    for field in ["name", "inbox_id", "address", "installation_id", "network"] {
        assert!(alice[field].is_string(), "init lacks {field}: {alice}");
    }
    world.fails("alice", &["init", "--name", "again"], 3, "already_initialised");

    // connect: without asking, untrusted sees nothing; asking for KNOWN (the default) is
    // granted by the bot's policy.
    let first = world.ok("alice", &["connect", &bot_code, "--ask", "none"]);
    assert_eq!(first["peer"]["name"], "bot");
    assert_eq!(first["peer"]["tier"], 0);
    assert_eq!(first["skills"], json!([]));
    let asked = world.ok("alice", &["connect", &bot_code, "--reason", "tests"]);
    assert_eq!(asked["trust_answer"]["granted"], true);
    let skills: Vec<&str> =
        asked["skills"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(skills, ["echo"], "hidden skills stay hidden");
    for field in ["name", "description", "input_schema", "output_schema"] {
        assert!(!asked["skills"][0][field].is_null(), "skill lacks {field}");
    }

    // call by name: the documented fields.
    let call = world.ok("alice", &["call", "bot", "echo", "--input", r#"{"text":"hi"}"#]);
    assert_eq!(call["ok"], true);
    assert_eq!(call["result"], json!({"text": "hi"}));
    assert!(
        call["error"].is_null() && call["duration_ms"].is_u64() && call["receipt_id"].is_string()
    );

    // The errors people hit, each with a code, a message and the right exit status.
    let violation = world.fails(
        "alice",
        &["call", "bot", "echo", "--input", r#"{"text":5}"#],
        5,
        "call.failed",
    );
    assert!(violation["error"]["message"].as_str().unwrap().contains("/text"), "{violation}");
    world.fails("alice", &["call", "bot", "echo", "--input", "{not json"], 3, "invalid_input");
    world.fails("alice", &["call", "nobody", "echo"], 4, "unknown_peer");
    world.fails("alice", &["call", "bot", "private"], 5, "call.failed");
    let mut tampered = bot_code.clone();
    tampered.insert(10, 'x');
    world.fails("alice", &["connect", &tampered], 3, "invite");
    world.fails("nobody", &["status"], 4, "no_identity");
    host_serves_its_owners_commands(&world, &file, &bot_code, &bot_events);
    let (code, value) = world.run("alice", &["--network", "http://127.0.0.1:9", "status"]);
    assert_eq!(code, 6, "{value}");
    assert!(value["error"]["hint"].is_string());

    // An asynchronous request and its result.
    let sent = world.ok("alice", &["request", "bot", "echo", "--input", r#"{"text":"later"}"#]);
    let task = sent["task_id"].as_str().unwrap().to_owned();
    let done = world.ok("alice", &["result", &task[..8], "--wait", "20"]);
    assert_eq!(done["status"], "completed");
    assert_eq!(done["result"], json!({"text": "later"}));
    let tasks = world.ok("alice", &["tasks"]);
    assert!(tasks["tasks"].as_array().unwrap().len() >= 3);

    // Collaborate: the plan uses the bot's echo; the OKR completes.
    let okr = world.ok("alice", &["collaborate", "bot", "echo the text hello"]);
    assert_eq!(okr["okr"]["status"], "completed", "{okr}");

    // Receipts: verified against the provider's identity; exported.
    let verified = world.ok("alice", &["receipts", "verify"]);
    assert!(verified["verified"].as_u64().unwrap() >= 3, "{verified}");
    let export = world.ok("alice", &["receipts", "export", "--format", "csv"]);
    assert!(export["body"].as_str().unwrap().starts_with("id,"), "{export}");

    // Two CLI identities: bob asks alice for KNOWN while she is offline; she approves later.
    world.ok("bob", &["init", "--name", "bob"]);
    let alice_code = world.ok("alice", &["invite"])["code"].as_str().unwrap().to_owned();
    let pending = world.ok("bob", &["connect", &alice_code, "--ask", "known", "--wait-secs", "1"]);
    assert_eq!(pending["trust_answer"]["pending"], true, "{pending}");
    let requests = world.ok("alice", &["trust", "requests"]);
    let request = &requests["requests"][0];
    assert_eq!(request["requested"], 1, "{requests}");
    let id = request["id"].to_string();
    world.ok("alice", &["trust", "approve", &id]);
    let peers = world.ok("alice", &["trust", "list"]);
    let bob_tier = peers["peers"].as_array().unwrap().iter().find(|p| p["name"] == "bob").unwrap();
    assert_eq!(bob_tier["tier"], 1);
    world.fails("alice", &["trust", "approve", &id], 4, "runtime.not_found");
    let log = world.ok("alice", &["trust", "log"]);
    assert!(log["entries"].as_array().unwrap().iter().any(|e| e["decision"]["rule"] == "approved"));

    // An invite that has expired is refused with a clear error.
    let expired =
        world.ok("alice", &["invite", "--expires-in", "1s"])["code"].as_str().unwrap().to_owned();
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let refused = world.fails("bob", &["connect", &expired], 3, "invite");
    assert!(refused["error"]["message"].as_str().unwrap().contains("expired"), "{refused}");

    // A group of alice, bob and the bot; a call to the bot by name inside it; members' tiers.
    let bob_inbox = world.ok("bob", &["status"])["inbox_id"].as_str().unwrap().to_owned();
    let group = world.ok("alice", &["groups", "create", "team", &bot_code, &bob_inbox]);
    let group_id = group["group"]["id"].as_str().unwrap().to_owned();
    let members = group["group"]["members"].as_array().unwrap();
    assert_eq!(members.len(), 3);
    let tier_of =
        |inbox: &str| members.iter().find(|m| m["inbox_id"] == inbox).unwrap()["tier"].clone();
    assert_eq!(tier_of(&bob_inbox), 1, "alice approved bob as KNOWN");
    world.ok("alice", &["groups", "send", &group_id, "hello team"]);
    let echoed = world.ok(
        "alice",
        &["groups", "call", &group_id, "bot", "echo", "--input", r#"{"text":"in group"}"#],
    );
    assert_eq!(echoed["result"], json!({"text": "in group"}));
    let listed = world.ok("bob", &["groups", "list"]);
    assert!(
        listed["groups"].as_array().unwrap().iter().any(|g| g["id"] == group_id.as_str()),
        "{listed}"
    );

    // The served agent stops cleanly on SIGTERM.
    let mut served = served;
    let status = Command::new("kill").arg(served.0.id().to_string()).status().unwrap();
    assert!(status.success());
    assert!(served.0.wait().unwrap().success());

    // Its owner manages visibility once it stopped (the identity is no longer busy).
    let skills = world.ok("bot", &["skills", "list"]);
    let exposed: Vec<(&str, bool)> = skills["skills"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].as_str().unwrap(), s["exposed"].as_bool().unwrap()))
        .collect();
    assert_eq!(exposed, [("echo", true), ("private", false)]);
    world.ok("bot", &["skills", "hide", "echo"]);
    assert_eq!(
        world.ok("bot", &["skills", "preview", "--peer-tier", "known"])["skills"],
        json!([])
    );
    world.ok("bot", &["skills", "expose", "private"]);
    assert_eq!(
        world.ok("bot", &["skills", "preview", "--peer-tier", "known"])["skills"],
        json!(["private"])
    );
    world.fails("bot", &["skills", "hide", "nonexistent"], 4, "runtime.not_found");
    world.fails("bot", &["skills", "preview", "--peer-tier", "boss"], 3, "invalid_input");
}

/// While `coworker serve` holds the bot, its owner's commands are served by it: status, skills
/// hide/expose, connect, call, collaborate, trust approve, and the host's output shows what
/// happened. A second host for the same identity is refused.
fn host_serves_its_owners_commands(
    world: &World,
    file: &Path,
    bot_code: &str,
    bot_events: &Mutex<Vec<Value>>,
) {
    let status = world.ok("bot", &["status"]);
    assert_eq!((status["host"].as_bool(), status["name"].as_str()), (Some(true), Some("bot")));
    let second = world.fails("bot", &["serve", file.to_str().unwrap()], 7, "host.busy");
    assert!(second["error"]["message"].as_str().unwrap().contains("already runs"), "{second}");

    // Visibility, changed while it serves, applies at once.
    world.ok("bot", &["skills", "hide", "echo"]);
    assert_eq!(world.ok("alice", &["connect", bot_code, "--ask", "none"])["skills"], json!([]));
    world.ok("bot", &["skills", "expose", "echo"]);
    let shown = world.ok("alice", &["connect", bot_code, "--ask", "none"]);
    assert_eq!(shown["skills"][0]["name"], "echo", "{shown}");

    // The bot's owner calls and collaborates as the bot, through its host.
    let helper_file = named_agent_file(world.dir.path(), "helper");
    let (helper, helper_ready, _) = serve(world, "helper", &helper_file);
    let helper_code = helper_ready["code"].as_str().unwrap();
    let connected = world.ok("bot", &["connect", helper_code]);
    assert_eq!(connected["trust_answer"]["granted"], true, "{connected}");
    let called = world.ok("bot", &["call", "helper", "echo", "--input", r#"{"text":"via host"}"#]);
    assert_eq!(called["result"], json!({"text": "via host"}));
    let okr = world.ok("bot", &["collaborate", "helper", "echo the text hello"]);
    assert_eq!(okr["okr"]["status"], "completed", "{okr}");
    printed(bot_events, "okr", |e| e["status"] == "completed");
    drop(helper);

    // An agent whose output nobody reads any more goes on serving (no broken-pipe panic).
    let (mut unread, _) = serve_unread(world, "helper", &helper_file);
    for text in ["unread 1", "unread 2"] {
        let input = json!({"text": text}).to_string();
        let called = world.ok("bot", &["call", "helper", "echo", "--input", &input]);
        assert_eq!(called["result"]["text"], text, "{called}");
    }
    assert!(unread.0.try_wait().unwrap().is_none(), "the helper exited");
    let _ = unread.0.kill();
    let mut errors = String::new();
    unread.0.stderr.take().unwrap().read_to_string(&mut errors).unwrap();
    assert!(!errors.contains("panicked"), "{errors}");

    // Alice asks the bot for more than its policy grants; its owner approves beside `serve`.
    let asked = world.ok("alice", &["connect", bot_code, "--ask", "internal", "--wait-secs", "1"]);
    assert_eq!(asked["trust_answer"]["pending"], true, "{asked}");
    let requested = printed(bot_events, "trust_requested", |e| e["requested"] == 2);
    let id = requested["id"].to_string();
    world.ok("bot", &["trust", "approve", &id]);
    let changed = printed(bot_events, "trust_changed", |e| e["tier"] == 2);
    assert_eq!(changed["why"], "approved", "{changed}");
}

#[test]
fn demo_runs_from_an_empty_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_coworker"))
        .args(["--json", "--data-dir"])
        .arg(dir.path().join("never-initialised"))
        .arg("demo")
        .env("RUST_LOG", "error")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let lines: Vec<Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let calls: Vec<&str> = lines
        .iter()
        .filter(|l| l["event"] == "call")
        .map(|l| l["skill"].as_str().unwrap())
        .collect();
    assert_eq!(calls, ["about", "translate", "search", "ping"]);
    let translated = lines.iter().find(|l| l["skill"] == "translate").unwrap();
    assert_eq!(translated["result"]["translated"], "hola mundo amigo");
    assert_eq!(lines.last().unwrap()["event"], "done");
    assert!(!dir.path().join("never-initialised").exists(), "the demo leaves no identity behind");
}

#[test]
fn every_command_explains_itself_with_examples() {
    let commands = [
        "init",
        "status",
        "invite",
        "connect",
        "call",
        "request",
        "tasks",
        "result",
        "collaborate",
        "skills",
        "trust",
        "groups",
        "receipts",
        "serve",
        "host",
        "mcp",
        "demo",
        "node",
        "xmtp",
    ];
    for command in commands {
        let output = Command::new(env!("CARGO_BIN_EXE_coworker"))
            .args([command, "--help"])
            .output()
            .unwrap();
        assert!(output.status.success());
        let help = String::from_utf8_lossy(&output.stdout);
        assert!(help.contains("Examples:"), "`coworker {command} --help` has no examples");
    }
}

/// On a terminal, `serve` puts each trust request to its owner. `script` gives it a pty.
#[test]
fn serve_asks_its_owner_on_the_terminal() {
    use std::io::Write;
    let world = World::start();
    let file = agent_file(world.dir.path());
    let transcript = world.dir.path().join("serve.transcript");
    let serve_command = format!(
        "{} --network {} --data-dir {} serve {}",
        env!("CARGO_BIN_EXE_coworker"),
        world.url,
        world.data("bot").display(),
        file.display()
    );
    let mut serve = Command::new("script")
        .args(["-qfec", &serve_command])
        .arg(&transcript)
        .env("COWORKER_KEYSTORE_PASSWORD", PASSWORD)
        .env("RUST_LOG", "error")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let wait_for = |needle: &str| {
        for _ in 0..300 {
            let text = std::fs::read_to_string(&transcript).unwrap_or_default();
            if let Some(at) = text.find(needle) {
                return text[at..].to_owned();
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("serve never printed {needle:?}");
    };
    let code: String =
        wait_for("invite ")["invite ".len()..].chars().take_while(|c| !c.is_whitespace()).collect();
    world.ok("alice", &["init", "--name", "alice"]);
    let connect = {
        let mut command =
            world.command("alice", &["connect", &code, "--ask", "internal", "--wait-secs", "30"]);
        std::thread::spawn(move || command.output().unwrap())
    };
    wait_for("[y/N]");
    let mut stdin = serve.stdin.take().unwrap();
    stdin.write_all(b"y\n").unwrap();
    stdin.flush().unwrap();
    let output = connect.join().unwrap();
    let answer: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(answer["trust_answer"]["granted_tier"], 2, "{answer}");
    wait_for("is now internal (approved)");
    let _ = serve.kill();
    let _ = serve.wait();
}
