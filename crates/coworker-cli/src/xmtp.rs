//! `coworker xmtp`: one XMTP installation driven by JSON lines on stdin, answered on stdout.
//!
//! Each request is an object with an `op` and its arguments; each answer is one line,
//! `{"ok": ...}` or `{"error": {"code", "message"}}`. With `--stream`, incoming messages are
//! also printed as `{"event": ...}` lines. Keys live in a password-encrypted file in the data
//! directory (password from `COWORKER_KEYSTORE_PASSWORD`), so it runs on headless servers.

use std::sync::Arc;

use clap::Args;

use crate::profile::{Global, open_key_file};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::Mutex;
use xmtp_client::{
    Client, ClientError, ClientOptions, ContentType, Conversation, ConversationId,
    ConversationKind, Event, GroupOptions, Message, Network, SendOptions, content,
};

pub(crate) const EXAMPLES: &str = "\
Examples:
  COWORKER_KEYSTORE_PASSWORD=... coworker xmtp --network http://127.0.0.1:5556 --data-dir ./agent
  > {\"op\":\"whoami\"}
  < {\"ok\":{\"inbox_id\":\"…\",\"address\":\"0x…\",\"installation_id\":\"…\"}}
  > {\"op\":\"dm\",\"peer\":\"<inbox id>\"}
  > {\"op\":\"send\",\"conversation\":\"<id>\",\"text\":\"hello\"}

Operations: whoami, find_inbox{address}, dm{peer}, create_group{members,name?,description?},
add_members{conversation,members}, remove_members{conversation,members}, leave{conversation},
send{conversation,text}
or send{conversation,content_type,content,fallback?}, sync, conversations, messages{conversation}.";

#[derive(Debug, Args)]
pub(crate) struct XmtpArgs {
    /// Print incoming messages and conversations as `{"event": ...}` lines as they arrive.
    #[arg(long)]
    stream: bool,
}

/// Opens the installation in the data directory (keys in `keys`, password from the
/// environment), on `--network` (default: the node on 127.0.0.1:5556).
async fn open_client(global: &Global) -> Result<Client, String> {
    let network = match global.network.as_deref() {
        None | Some("local" | "embedded") => Network::Url("http://127.0.0.1:5556".into()),
        Some(other) => Network::parse(other).map_err(|e| e.to_string())?,
    };
    let data_dir = global.own_data_dir().map_err(|e| e.message)?;
    std::fs::create_dir_all(&data_dir)
        .map_err(|e| format!("cannot create {}: {e}", data_dir.display()))?;
    let key_store = open_key_file(&data_dir.join("keys")).await.map_err(|e| e.message)?;
    let mut options = ClientOptions::new(network, data_dir.join("xmtp.db"), key_store);
    if let Some(path) = &global.ca_cert {
        options.trusted_ca_pem =
            Some(std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?);
    }
    Client::open(options).await.map_err(|e| e.to_string())
}

type Out = Arc<Mutex<tokio::io::Stdout>>;

async fn emit(out: &Out, line: &Value) -> Result<(), String> {
    let mut text = line.to_string();
    text.push('\n');
    let mut out = out.lock().await;
    out.write_all(text.as_bytes()).await.map_err(|e| e.to_string())?;
    out.flush().await.map_err(|e| e.to_string())
}

pub(crate) async fn run(global: &Global, args: XmtpArgs) -> Result<(), String> {
    let client = open_client(global).await?;
    let out: Out = Arc::new(Mutex::new(tokio::io::stdout()));
    emit(&out, &json!({"ready": whoami(&client)})).await?;

    let _stream = if args.stream {
        let mut events = client.subscribe();
        let handle = client.stream();
        let out = Arc::clone(&out);
        tokio::spawn(async move {
            while let Ok(event) = events.recv().await {
                let line = match event {
                    Event::Message(m) => json!({"event": {"message": message_json(&m)}}),
                    Event::Conversation(c) => {
                        json!({"event": {"conversation": conversation_json(&c)}})
                    }
                };
                if emit(&out, &line).await.is_err() {
                    break;
                }
            }
        });
        Some(handle)
    } else {
        None
    };

    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Some(line) = lines.next_line().await.map_err(|e| e.to_string())? {
        if line.trim().is_empty() {
            continue;
        }
        let answer = match serde_json::from_str::<Value>(&line) {
            Ok(request) => match handle(&client, &request).await {
                Ok(value) => json!({"ok": value}),
                Err(Failure::Client(e)) => {
                    json!({"error": {"code": e.code(), "message": e.to_string()}})
                }
                Err(Failure::Request(message)) => {
                    json!({"error": {"code": "cli.bad_request", "message": message}})
                }
            },
            Err(e) => json!({"error": {"code": "cli.bad_json", "message": e.to_string()}}),
        };
        emit(&out, &answer).await?;
    }
    Ok(())
}

enum Failure {
    Client(ClientError),
    Request(String),
}

impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Self {
        Self::Client(e)
    }
}

fn arg<'a>(request: &'a Value, name: &str) -> Result<&'a str, Failure> {
    request
        .get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| Failure::Request(format!("missing string argument {name:?}")))
}

fn list(request: &Value, name: &str) -> Result<Vec<String>, Failure> {
    request
        .get(name)
        .and_then(Value::as_array)
        .map(|items| items.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
        .ok_or_else(|| Failure::Request(format!("missing list argument {name:?}")))
}

fn conversation_id(request: &Value) -> Result<ConversationId, Failure> {
    Ok(arg(request, "conversation")?.parse()?)
}

fn whoami(client: &Client) -> Value {
    json!({
        "inbox_id": client.inbox_id(),
        "address": client.address(),
        "installation_id": hex::encode(client.installation_id()),
    })
}

fn conversation_json(c: &Conversation) -> Value {
    let (kind, peer) = match &c.kind {
        ConversationKind::Dm { peer } => ("dm", Some(peer.clone())),
        ConversationKind::Group => ("group", None),
    };
    json!({
        "id": c.id.to_string(), "kind": kind, "peer": peer, "name": c.name,
        "description": c.description, "members": c.members, "active": c.active,
        "leaving": c.leaving,
    })
}

fn message_json(m: &Message) -> Value {
    json!({
        "id": hex::encode(m.id),
        "conversation": m.conversation.to_string(),
        "sender_inbox_id": m.sender_inbox_id,
        "sent_ns": m.sent_ns,
        "content_type": m.content_type.to_string(),
        "text": m.text(),
        "content": String::from_utf8_lossy(&m.content.content),
        "fallback": m.content.fallback,
    })
}

async fn handle(client: &Client, request: &Value) -> Result<Value, Failure> {
    let op = arg(request, "op")?;
    Ok(match op {
        "whoami" => whoami(client),
        "find_inbox" => json!(client.find_inbox_id(arg(request, "address")?).await?),
        "dm" => json!(client.dm(arg(request, "peer")?).await?.to_string()),
        "create_group" => {
            let options = GroupOptions {
                name: request.get("name").and_then(Value::as_str).unwrap_or_default().to_owned(),
                description: request
                    .get("description")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
            };
            json!(client.create_group(&list(request, "members")?, &options).await?.to_string())
        }
        "add_members" => {
            client.add_members(&conversation_id(request)?, &list(request, "members")?).await?;
            Value::Null
        }
        "remove_members" => {
            client.remove_members(&conversation_id(request)?, &list(request, "members")?).await?;
            Value::Null
        }
        "leave" => {
            client.leave(&conversation_id(request)?).await?;
            Value::Null
        }
        "send" => {
            let id = conversation_id(request)?;
            let message_id = match request.get("text").and_then(Value::as_str) {
                Some(text) => client.send_text(&id, text).await?,
                None => {
                    let kind: ContentType = arg(request, "content_type")?.parse()?;
                    let body = arg(request, "content")?.as_bytes().to_vec();
                    let fallback =
                        request.get("fallback").and_then(Value::as_str).map(str::to_owned);
                    let encoded = content::custom(&kind, body, fallback);
                    client.send(&id, &encoded, SendOptions { should_push: false }).await?
                }
            };
            json!(hex::encode(message_id))
        }
        "sync" => {
            client.sync_all().await?;
            Value::Null
        }
        "conversations" => {
            Value::Array(client.conversations().await?.iter().map(conversation_json).collect())
        }
        "messages" => {
            let messages = client.messages(&conversation_id(request)?, 0, u32::MAX).await?;
            Value::Array(messages.iter().map(message_json).collect())
        }
        other => return Err(Failure::Request(format!("unknown op {other:?}"))),
    })
}
