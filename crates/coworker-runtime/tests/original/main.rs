//! Our agents and the unmodified Python original (agent-coworker 0.6.1), both ways, through our
//! node: connect (skills at KNOWN), 20 calls each way, hidden / under-tier / unknown skills
//! refused alike, trust requests granted and denied, a goal each way, a group of two of ours
//! and one of theirs (chat seen by all, a group call each way), and a forged `sender_wallet`.

#![allow(clippy::unwrap_used, missing_docs)]

mod harness;

use std::time::Duration;

use coworker_runtime::protocol::SkillSpec;
use coworker_runtime::protocol::envelope::{Envelope, Sender, kind};
use coworker_runtime::protocol::okr::OkrStatus;
use coworker_runtime::protocol::skill::FailureCode;
use coworker_runtime::protocol::trust::Tier;
use coworker_runtime::{
    Agent, AgentConfig, AgentEvent, CallError, CallOptions, Handler, RuntimeError,
};
use coworker_testkit::Net;
use harness::Original;
use serde_json::{Value, json};

/// One of our agents on the test node (a 30 s deadline: the original is slow to answer).
async fn agent(net: &Net, name: &str, configure: impl FnOnce(&mut AgentConfig)) -> Agent {
    net.agent_with(name, |c| {
        c.deadline = Duration::from_secs(30);
        configure(c);
    })
    .await
}

fn text_skill(agent: &Agent, name: &str, tier: Tier, exposed: bool) {
    let mut spec = SkillSpec::new(name, &format!("{name} text"));
    spec.when_to_use = format!("{name} the notes");
    spec.input_schema = json!({"text": "str"});
    spec.output_schema = json!({"text": "str"});
    spec.min_tier = tier;
    agent
        .register(
            spec,
            Handler::function(|input: Value, _| async move {
                Ok(json!({"text": input["text"].as_str().unwrap_or_default().to_uppercase()}))
            }),
            exposed,
        )
        .unwrap();
}

fn refusal(error: RuntimeError) -> (FailureCode, String) {
    match error {
        RuntimeError::Call(CallError::Failed { code, message, .. }) => (code, message),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

async fn until<F: std::future::Future<Output = bool>>(what: &str, mut check: impl FnMut() -> F) {
    for _ in 0..600 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("never happened: {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn our_agents_and_the_python_original_work_together_both_ways() {
    let net = Net::start().await;
    let py = Original::start(net.url(), net.dir(), "py");
    let rusty = agent(&net, "rusty", |c| c.auto_grant_ceiling = Some(Tier::Known)).await;
    let bolt = agent(&net, "bolt", |_| {}).await;
    text_skill(&rusty, "upper", Tier::Known, true);
    text_skill(&rusty, "ledger", Tier::Internal, true);
    text_skill(&rusty, "vault", Tier::Known, false);
    let _r = rusty.serve().await.unwrap();
    let _b = bolt.serve().await.unwrap();
    let mut rusty_events = rusty.subscribe();
    let mut bolt_events = bolt.subscribe();

    // Ours → theirs: connect and ask for KNOWN (granted by its policy); its skills at KNOWN.
    let peer = rusty.connect(&py.invite).await.unwrap();
    assert_eq!((peer.name.as_str(), peer.skills.len()), ("py", 0), "untrusted sees nothing");
    let wait = Duration::from_secs(20);
    let granted =
        rusty.request_trust(&py.inbox_id, Tier::Known, "let us work", wait).await.unwrap();
    assert!(granted.granted, "{granted:?}");
    let names: Vec<String> =
        rusty.discover(&py.inbox_id).await.unwrap().into_iter().map(|s| s.name).collect();
    assert_eq!(names, ["echo", "reverse"], "hidden and INTERNAL skills are not shown");
    let denied = rusty.request_trust(&py.inbox_id, Tier::Internal, "more", wait).await.unwrap();
    assert!(!denied.granted, "the original grants nothing above KNOWN by itself");

    // 20 calls ours → theirs, with the right results.
    for i in 0..20 {
        let text = format!("message {i}");
        let out = rusty.call(&py.inbox_id, "echo", json!({"text": text}), CallOptions::default());
        assert_eq!(out.await.unwrap().output, json!({"echo": text}));
    }
    // Its hidden, under-tier and unknown skills are refused alike.
    for skill in ["notes", "secret", "nope"] {
        let err =
            rusty.call(&py.inbox_id, skill, json!({"text": "x"}), CallOptions::default()).await;
        assert_eq!(
            refusal(err.unwrap_err()),
            (FailureCode::UnknownSkill, format!("Unknown skill: {skill}"))
        );
    }

    // Theirs → ours: its connect asks for KNOWN, our policy grants it, it sees our KNOWN skills.
    let connected = py.post("/connect", json!({"target": rusty.invite(None).unwrap()})).await;
    let skills: Vec<&str> = connected["result"]["skills"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(skills, ["upper"], "{connected}");
    assert_eq!(
        connected["result"]["skills"][0]["input_schema"],
        json!({"text": "str"}),
        "shorthand for its planner"
    );
    // 20 calls theirs → ours.
    for i in 0..20 {
        let text = format!("note {i}");
        let call = json!({"target": rusty.inbox_id(), "skill": "upper", "input": {"text": text}});
        let answer = py.post("/call", call).await;
        assert_eq!(answer["result"]["success"], true, "{answer}");
        assert_eq!(answer["result"]["result"], json!({"text": text.to_uppercase()}));
    }
    for skill in ["ledger", "vault", "nope"] {
        let call = json!({"target": rusty.inbox_id(), "skill": skill, "input": {"text": "x"}});
        let answer = py.post("/call", call).await;
        assert_eq!(answer["result"]["error"], format!("Unknown skill: {skill}"), "{answer}");
    }
    // It asks for INTERNAL: our owner is asked and denies.
    let ask = json!({"target": rusty.inbox_id(), "tier": 2, "reason": "more"});
    let owner = async {
        let request = loop {
            match tokio::time::timeout(Duration::from_secs(30), rusty_events.recv()).await.unwrap()
            {
                Ok(AgentEvent::TrustRequested(request)) => break request,
                _ => continue,
            }
        };
        assert_eq!(
            (request.peer.as_str(), request.requested),
            (py.inbox_id.as_str(), Tier::Internal)
        );
        rusty.decide_trust_request(request.id, false).await.unwrap();
    };
    let (answer, ()) = tokio::join!(py.post("/ask_trust", ask), owner);
    assert_eq!(answer["result"]["type"], "trust_deny", "{answer}");
    assert_eq!(rusty.tier(&py.inbox_id).await.unwrap(), Tier::Known);

    // A goal each way.
    rusty.set_tier(&py.inbox_id, Tier::Known).await.unwrap();
    let okr = rusty.collaborate(&py.inbox_id, "echo and reverse the launch notes").await.unwrap();
    assert_eq!(okr.status, OkrStatus::Completed, "{okr:#?}");
    let skills: Vec<&str> = okr.steps.iter().map(|s| s.skill.as_str()).collect();
    assert!(skills.contains(&"echo") && skills.contains(&"reverse"), "{skills:?}");
    let theirs = py
        .post("/collaborate", json!({"target": rusty.inbox_id(), "goal": "upper the notes"}))
        .await;
    assert_eq!(theirs["result"]["success"], true, "{theirs}");
    until("our side of its plan ends", || async {
        rusty
            .okrs()
            .await
            .unwrap()
            .iter()
            .any(|o| o.initiator == py.inbox_id && o.status == OkrStatus::Completed)
    })
    .await;

    // A group of two of ours and one of theirs, made by it.
    bolt.set_tier(&py.inbox_id, Tier::Known).await.unwrap();
    bolt.set_tier(rusty.inbox_id(), Tier::Known).await.unwrap();
    rusty.set_tier(bolt.inbox_id(), Tier::Known).await.unwrap();
    let members = json!([rusty.client().address(), bolt.client().address()]);
    let created = py.post("/group_create", json!({"name": "trio", "members": members})).await;
    let group = created["group_id"].as_str().unwrap().to_owned();
    until("our agents joined", || async {
        rusty.client().sync_all().await.is_ok()
            && rusty.groups().await.unwrap().iter().any(|g| g.id == group)
            && bolt.client().sync_all().await.is_ok()
            && bolt.groups().await.unwrap().iter().any(|g| g.id == group)
    })
    .await;

    // Chat reaches everyone: its envelope as chat for ours, our text for it (as an envelope)
    // and for bolt (plain text, shown once).
    py.post("/group_send", json!({"group_id": group, "text": "hello from python"})).await;
    rusty.send_chat(&group, "hello from rust").await.unwrap();
    let mut bolt_saw = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    // Both texts, then a little longer: a second copy of ours would show by then.
    let mut settle = None;
    while tokio::time::Instant::now() < settle.unwrap_or(deadline) {
        let next = tokio::time::timeout(Duration::from_millis(200), bolt_events.recv()).await;
        if let Ok(Ok(AgentEvent::Chat { text, .. })) = next {
            bolt_saw.push(text);
        }
        if bolt_saw.len() >= 2 && settle.is_none() {
            settle = Some(tokio::time::Instant::now() + Duration::from_secs(3));
        }
    }
    bolt_saw.sort();
    assert_eq!(bolt_saw, ["hello from python", "hello from rust"], "each once");
    until("the original read our chat", || async {
        let log = py.post("/group_messages", json!({})).await;
        log["messages"].as_array().unwrap().iter().any(|m| m["content"] == "hello from rust")
    })
    .await;

    // A group call each way.
    let out = rusty
        .group_call(
            &group,
            &py.inbox_id,
            "echo",
            json!({"text": "in the group"}),
            CallOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(out.output, json!({"echo": "in the group"}));
    let call = json!({"group_id": group, "target": rusty.client().address(), "skill": "upper",
        "input": {"text": "from python"}});
    let answer = py.post("/group_call", call).await;
    assert_eq!(answer["result"]["success"], true, "{answer}");
    assert_eq!(answer["result"]["result"], json!({"text": "FROM PYTHON"}));

    // A stranger claiming the original's wallet is still a stranger.
    let mallory = agent(&net, "mallory", |_| {}).await;
    let dm = mallory.client().dm(rusty.inbox_id()).await.unwrap();
    let sender = Sender { name: "py".into(), wallet: py.address.clone() };
    let mut forged = Envelope::new(
        kind::TASK_REQUEST,
        coworker_runtime::protocol::envelope::to_payload(
            &json!({"skill": "upper", "input": {"text": "x"}}),
        ),
        &sender,
        0,
    );
    forged.correlation_id = Some("forged".into());
    forged.implementation = None;
    mallory.client().send_text(&dm, &forged.to_text()).await.unwrap();
    until("the forgery is refused", || async {
        mallory.client().sync_all().await.unwrap();
        let messages = mallory.client().messages(&dm, 0, 100).await.unwrap();
        messages
            .iter()
            .filter_map(|m| Envelope::parse(&m.text()?).ok().flatten())
            .any(|e| e.kind == kind::ERROR && e.payload["code"] == "TRUST_TIER_TOO_LOW")
    })
    .await;
    drop(py);
}
