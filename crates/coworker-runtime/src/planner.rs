//! Pluggable OKR planners: turn a goal and the skills both agents can use into an [`Okr`].
//!
//! [`DeterministicPlanner`] is the protocol's keyword planner ([`okr::plan`]). [`LlmPlanner`]
//! asks an OpenAI-compatible chat-completions API (OpenAI, Ollama, llama.cpp, vLLM, …) for a
//! plan. The prompt names the two agents `A` (the initiator) and `B` (the peer), never by inbox
//! id. The answer is untrusted input: it is size-limited, parsed without panicking on any
//! shape, and rejected unless every step names a candidate skill of its agent, refers only to
//! earlier steps, maps every required input, and the resulting OKR passes [`Okr::validate`].

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use coworker_protocol::okr::{
    self, Candidate, KeyResult, Okr, OkrStatus, Source, Step, StepStatus,
};
use coworker_protocol::skill::SkillCard;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::http::{HttpError, post_json};

/// Largest chat-completions response accepted from the LLM service.
pub const MAX_ANSWER_BYTES: usize = 256 * 1024;

/// What a planner plans from.
#[derive(Debug, Clone, Copy)]
pub struct PlanRequest<'a> {
    /// The OKR id to use.
    pub id: &'a str,
    /// The goal, as the user wrote it.
    pub goal: &'a str,
    /// The inbox id of the agent proposing the OKR.
    pub initiator: &'a str,
    /// The other agent's inbox id.
    pub peer: &'a str,
    /// The skills either agent can run for this collaboration.
    pub candidates: &'a [Candidate<'a>],
    /// Now (Unix ms).
    pub now_ms: u64,
}

/// Why a planner made no plan.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PlanError {
    /// No plan is possible, or the proposed plan is inconsistent.
    #[error(transparent)]
    Plan(#[from] okr::PlanError),
    /// The planning service could not be reached, was too slow, or answered too much.
    #[error("the planning service failed: {0}")]
    Http(HttpError),
    /// The planning service answered with a non-2xx status.
    #[error("the planning service answered HTTP {0}")]
    Status(u16),
    /// The planning service's answer is not a plan in the expected shape.
    #[error("the planning service's answer is malformed: {0}")]
    Malformed(String),
}

impl PlanError {
    /// A stable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Plan(e) => e.code(),
            Self::Http(HttpError::Timeout) => "planner.timeout",
            Self::Http(HttpError::TooLarge(_)) => "planner.too_large",
            Self::Http(_) => "planner.unreachable",
            Self::Status(_) => "planner.status",
            Self::Malformed(_) => "planner.malformed",
        }
    }
}

/// The future a [`Planner`] returns.
pub type PlanFuture<'a> = Pin<Box<dyn Future<Output = Result<Okr, PlanError>> + Send + 'a>>;

/// Makes an OKR for a goal from the candidate skills.
pub trait Planner: Send + Sync + std::fmt::Debug {
    /// Plans `request`; the OKR is `Proposed`, its steps `Pending`.
    fn plan<'a>(&'a self, request: &'a PlanRequest<'a>) -> PlanFuture<'a>;
}

/// The protocol's deterministic keyword planner.
#[derive(Debug, Clone, Copy, Default)]
pub struct DeterministicPlanner;

impl Planner for DeterministicPlanner {
    fn plan<'a>(&'a self, r: &'a PlanRequest<'a>) -> PlanFuture<'a> {
        let result = okr::plan(r.id, r.goal, r.initiator, r.peer, r.candidates, r.now_ms);
        Box::pin(std::future::ready(result.map_err(PlanError::from)))
    }
}

/// A planner backed by an OpenAI-compatible chat-completions API.
#[derive(Clone)]
pub struct LlmPlanner {
    /// The API's base URL, e.g. `https://api.openai.com/v1` or `http://127.0.0.1:11434/v1`.
    pub endpoint: String,
    /// The model name.
    pub model: String,
    /// Sent as `Authorization: Bearer <key>` when set.
    pub api_key: Option<String>,
    /// The whole request is abandoned after this long.
    pub timeout: Duration,
}

impl std::fmt::Debug for LlmPlanner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmPlanner")
            .field("endpoint", &self.endpoint)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Planner for LlmPlanner {
    fn plan<'a>(&'a self, request: &'a PlanRequest<'a>) -> PlanFuture<'a> {
        Box::pin(self.ask(request))
    }
}

const SYSTEM_PROMPT: &str = r#"You plan a collaboration between two AI agents, A (who asks) and B (its peer), each of which can run some skills. Using only the skills listed, make the shortest plan (at most 8 steps) that reaches the user's goal.
Answer with one JSON object and nothing else, in this shape:
{"key_results": [{"description": "what is delivered", "steps": ["s1"]}],
 "steps": [{"agent": "A", "skill": "skill name", "input": {"field": SOURCE}, "depends_on": []}]}
Steps are numbered s1, s2, ... in the order you list them, and may use only earlier steps. A step's agent must have its skill. Give every required input field of the skill's input schema a SOURCE, one of:
{"from": "goal"} - the goal text;
{"from": "value", "value": <any JSON>} - a constant;
{"from": "step", "step": "s1", "field": "name"} - a named field of an earlier step's output.
List in depends_on every step whose output the step uses. If no skill helps, answer {"key_results": [], "steps": []}."#;

impl LlmPlanner {
    /// A planner for `model` at `endpoint`, with no API key and a 60 s timeout.
    pub fn new(endpoint: impl Into<String>, model: impl Into<String>) -> Self {
        Self {
            endpoint: endpoint.into(),
            model: model.into(),
            api_key: None,
            timeout: Duration::from_secs(60),
        }
    }

    async fn ask(&self, r: &PlanRequest<'_>) -> Result<Okr, PlanError> {
        let goal = r.goal.trim();
        if goal.is_empty() {
            return Err(okr::PlanError::EmptyGoal.into());
        }
        let skills: Vec<Value> = r
            .candidates
            .iter()
            .filter_map(|c| {
                Some(json!({
                    "agent": label(r, c.agent)?,
                    "name": c.card.name,
                    "description": c.card.description,
                    "when_to_use": c.card.when_to_use,
                    "input_schema": c.card.input_schema,
                    "output_schema": c.card.output_schema,
                }))
            })
            .collect();
        if skills.is_empty() {
            return Err(okr::PlanError::NoMatchingSkill.into());
        }
        let skills = serde_json::to_string_pretty(&skills).unwrap_or_default();
        let body = json!({
            "model": self.model,
            "messages": [
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": format!("Goal: {goal}\n\nSkills:\n{skills}")},
            ],
            "temperature": 0,
            "response_format": {"type": "json_object"},
        });
        let headers: Vec<(String, String)> = (self.api_key.iter())
            .map(|key| ("Authorization".to_owned(), format!("Bearer {key}")))
            .collect();
        let url = format!("{}/chat/completions", self.endpoint.trim_end_matches('/'));
        let (status, answer) =
            post_json(&url, &headers, &body, self.timeout, MAX_ANSWER_BYTES, None)
                .await
                .map_err(PlanError::Http)?;
        if !(200..300).contains(&status) {
            return Err(PlanError::Status(status));
        }
        let answer: Value =
            serde_json::from_slice(&answer).map_err(|e| malformed("response", e))?;
        let content = answer.pointer("/choices/0/message/content").and_then(Value::as_str);
        let content = content.ok_or_else(|| {
            PlanError::Malformed("the response has no choices[0].message.content".into())
        })?;
        parse_plan(r, goal, content)
    }
}

fn malformed(what: &str, e: serde_json::Error) -> PlanError {
    PlanError::Malformed(clip(&format!("the {what} is not the expected JSON: {e}"), 200))
}

/// The OKR in the LLM's message (plain JSON, or in a fenced block).
fn parse_plan(r: &PlanRequest<'_>, goal: &str, content: &str) -> Result<Okr, PlanError> {
    let plan: Answer = serde_json::from_str(unfence(content)).map_err(|e| malformed("plan", e))?;
    to_okr(r, goal, plan)
}

/// The prompt's name for an agent: `A` the initiator, `B` the peer, `None` a third party.
fn label(r: &PlanRequest<'_>, agent: &str) -> Option<&'static str> {
    if agent == r.initiator {
        Some("A")
    } else if agent == r.peer {
        Some("B")
    } else {
        None
    }
}

/// The plan as the LLM writes it.
#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    key_results: Vec<AnswerKeyResult>,
    steps: Vec<AnswerStep>,
}

#[derive(Deserialize)]
struct AnswerKeyResult {
    description: String,
    #[serde(default)]
    steps: Vec<StepRef>,
}

#[derive(Deserialize)]
struct AnswerStep {
    agent: String,
    skill: String,
    #[serde(default)]
    input: BTreeMap<String, AnswerSource>,
    #[serde(default)]
    depends_on: Vec<StepRef>,
}

#[derive(Deserialize)]
#[serde(tag = "from", rename_all = "snake_case")]
enum AnswerSource {
    Goal,
    Value {
        value: Value,
    },
    Step {
        step: StepRef,
        #[serde(default)]
        field: Option<String>,
    },
}

/// A step reference: `"s2"`, `"2"` or `2`.
#[derive(Deserialize)]
#[serde(untagged)]
enum StepRef {
    Number(u64),
    Id(String),
}

impl StepRef {
    /// The step's index, if it names one of the first `before` steps.
    fn resolve(&self, before: usize) -> Option<usize> {
        let n = match self {
            Self::Number(n) => usize::try_from(*n).ok()?,
            Self::Id(id) => id.trim().trim_start_matches(['s', 'S']).parse().ok()?,
        };
        (1..=before).contains(&n).then(|| n - 1)
    }

    fn show(&self) -> String {
        match self {
            Self::Number(n) => n.to_string(),
            Self::Id(id) => clip(id, 40),
        }
    }
}

/// Turns the LLM's plan into an OKR, rejecting anything not grounded in the candidates.
fn to_okr(r: &PlanRequest<'_>, goal: &str, plan: Answer) -> Result<Okr, PlanError> {
    let invalid = |message: String| PlanError::Plan(okr::PlanError::Invalid(message));
    if plan.steps.is_empty() {
        return Err(okr::PlanError::NoMatchingSkill.into());
    }
    if plan.steps.len() > 4 * okr::MAX_STEPS || plan.key_results.len() > 4 * okr::MAX_STEPS {
        return Err(invalid("the plan is too long".into()));
    }
    let mut steps: Vec<Step> = Vec::new();
    let mut cards: Vec<&SkillCard> = Vec::new();
    for (i, s) in plan.steps.into_iter().enumerate() {
        let id = format!("s{}", i + 1);
        let (label, agent) = match s.agent.trim() {
            "A" => ("A", r.initiator),
            "B" => ("B", r.peer),
            other => return Err(invalid(format!("{id} names unknown agent {}", clip(other, 40)))),
        };
        let card = (r.candidates.iter())
            .find(|c| c.agent == agent && c.card.name == s.skill)
            .ok_or_else(|| {
                invalid(format!("{id}: agent {label} has no skill {}", clip(&s.skill, 64)))
            })?
            .card;
        let earlier = |r: &StepRef| {
            r.resolve(i).ok_or_else(|| invalid(format!("{id} uses unknown step {}", r.show())))
        };
        let mut depends_on: Vec<String> = Vec::new();
        for dep in &s.depends_on {
            let dep = format!("s{}", earlier(dep)? + 1);
            if !depends_on.contains(&dep) {
                depends_on.push(dep);
            }
        }
        let declared = properties(&card.input_schema);
        let mut input = BTreeMap::new();
        for (field, source) in s.input {
            if declared.is_some_and(|p| !p.contains_key(&field)) {
                return Err(invalid(format!(
                    "{id}: {} has no input {}",
                    card.name,
                    clip(&field, 64)
                )));
            }
            let source = match source {
                AnswerSource::Goal => Source::Goal,
                AnswerSource::Value { value } => Source::Value { value },
                AnswerSource::Step { step, field: output } => {
                    let n = earlier(&step)?;
                    let step = format!("s{}", n + 1);
                    let produced = cards.get(n).and_then(|c| properties(&c.output_schema));
                    if let (Some(f), Some(out)) = (&output, produced)
                        && !out.contains_key(f)
                    {
                        return Err(invalid(format!("{step} has no output {}", clip(f, 64))));
                    }
                    if !depends_on.contains(&step) {
                        depends_on.push(step.clone());
                    }
                    Source::Step { step, field: output }
                }
            };
            input.insert(field, source);
        }
        let required = card.input_schema.get("required").and_then(Value::as_array);
        let mut required = required.map(Vec::as_slice).unwrap_or_default().iter();
        if let Some(field) = required.find_map(|f| f.as_str().filter(|f| !input.contains_key(*f))) {
            let field = clip(field, 64);
            return Err(invalid(format!("{id}: required input {field} is not mapped")));
        }
        if input.is_empty() && declared.is_none_or(Map::is_empty) {
            input.insert("goal".to_owned(), Source::Goal);
        }
        cards.push(card);
        steps.push(Step {
            id,
            agent: agent.to_owned(),
            skill: card.name.clone(),
            input,
            depends_on,
            status: StepStatus::Pending,
            output: None,
            error: None,
        });
    }
    let key_results = if plan.key_results.is_empty() {
        let one = |(i, s): (usize, &Step)| KeyResult {
            id: format!("kr{}", i + 1),
            description: format!("{} delivers its result", s.skill),
            steps: vec![s.id.clone()],
        };
        steps.iter().enumerate().map(one).collect()
    } else {
        let mut key_results = Vec::new();
        for (i, kr) in plan.key_results.into_iter().enumerate() {
            let id = format!("kr{}", i + 1);
            let refs = kr.steps.iter().map(|s| {
                s.resolve(steps.len()).map(|n| format!("s{}", n + 1)).ok_or_else(|| s.show())
            });
            let refs = refs.collect::<Result<Vec<_>, _>>();
            let refs = refs.map_err(|s| invalid(format!("{id} counts unknown step {s}")))?;
            if refs.is_empty() || kr.description.trim().is_empty() {
                return Err(invalid(format!("{id} needs a description and steps")));
            }
            key_results.push(KeyResult {
                id,
                description: kr.description.trim().into(),
                steps: refs,
            });
        }
        key_results
    };
    let okr = Okr {
        id: r.id.to_owned(),
        objective: goal.to_owned(),
        initiator: r.initiator.to_owned(),
        peer: r.peer.to_owned(),
        key_results,
        steps,
        status: OkrStatus::Proposed,
        created_ms: r.now_ms,
    };
    okr.validate()?;
    Ok(okr)
}

/// A schema's declared properties, if it declares any.
fn properties(schema: &Value) -> Option<&Map<String, Value>> {
    schema.get("properties").and_then(Value::as_object)
}

/// The JSON inside a ```` ```json ```` fence, or the text itself.
fn unfence(text: &str) -> &str {
    let text = text.trim();
    let Some(fenced) = text.strip_prefix("```") else { return text };
    let fenced = fenced.trim_start_matches(|c: char| c.is_ascii_alphanumeric());
    fenced.trim_end().strip_suffix("```").unwrap_or(fenced).trim()
}

/// At most `max` characters of untrusted text, for error messages.
fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::mock::{Captured, response, serve_once};

    fn card(name: &str, input: &str, output: &str) -> SkillCard {
        let schema = |field: &str| {
            json!({"type": "object", "required": [field],
                "properties": {field: {"type": "string"}}})
        };
        SkillCard {
            name: name.into(),
            description: format!("{name} things"),
            input_schema: schema(input),
            output_schema: schema(output),
            min_trust_tier: 1,
            max_context_privacy_tier: "L1_PUBLIC".into(),
            version: None,
            when_to_use: format!("to {name}"),
            category: String::new(),
        }
    }

    /// Runs `planner` on "search and summarize", where A can search and B can summarize.
    async fn plan_with(planner: &dyn Planner) -> Result<Okr, PlanError> {
        let (search, summarize) =
            (card("search", "query", "text"), card("summarize", "text", "summary"));
        let candidates = [
            Candidate { agent: "inbox-me", card: &search },
            Candidate { agent: "inbox-peer", card: &summarize },
        ];
        let request = PlanRequest {
            id: "o1",
            goal: " search and summarize rust news ",
            initiator: "inbox-me",
            peer: "inbox-peer",
            candidates: &candidates,
            now_ms: 7,
        };
        planner.plan(&request).await
    }

    fn completion(content: &str) -> Vec<u8> {
        let body = json!({"choices": [{"message": {"role": "assistant", "content": content}}]});
        response(200, &body.to_string())
    }

    /// Plans against a one-shot server answering `answer`.
    async fn answered(answer: Vec<u8>) -> (Result<Okr, PlanError>, Captured) {
        let (port, server) = serve_once(answer, None).await;
        let mut planner = LlmPlanner::new(format!("http://127.0.0.1:{port}/v1/"), "test-model");
        planner.api_key = Some("sk-test".into());
        let result = plan_with(&planner).await;
        (result, server.await.unwrap())
    }

    const PLAN: &str = r#"{"objective": "news digest",
        "key_results": [{"description": "a summary of rust news", "steps": ["s1", 2]}],
        "steps": [
            {"agent": "A", "skill": "search", "input": {"query": {"from": "goal"}}},
            {"agent": "B", "skill": "summarize",
             "input": {"text": {"from": "step", "step": "s1", "field": "text"}}}]}"#;

    fn expected() -> Okr {
        let step =
            |id: &str, agent: &str, skill: &str, input: (&str, Source), deps: &[&str]| Step {
                id: id.into(),
                agent: agent.into(),
                skill: skill.into(),
                input: BTreeMap::from([(input.0.to_owned(), input.1)]),
                depends_on: deps.iter().map(|d| (*d).to_owned()).collect(),
                status: StepStatus::Pending,
                output: None,
                error: None,
            };
        let from_s1 = Source::Step { step: "s1".into(), field: Some("text".into()) };
        Okr {
            id: "o1".into(),
            objective: "search and summarize rust news".into(),
            initiator: "inbox-me".into(),
            peer: "inbox-peer".into(),
            key_results: vec![KeyResult {
                id: "kr1".into(),
                description: "a summary of rust news".into(),
                steps: vec!["s1".into(), "s2".into()],
            }],
            steps: vec![
                step("s1", "inbox-me", "search", ("query", Source::Goal), &[]),
                step("s2", "inbox-peer", "summarize", ("text", from_s1), &["s1"]),
            ],
            status: OkrStatus::Proposed,
            created_ms: 7,
        }
    }

    #[tokio::test]
    async fn a_valid_llm_plan_becomes_an_okr() {
        let (result, request) = answered(completion(PLAN)).await;
        assert_eq!(result.unwrap(), expected());
        assert!(request.head.starts_with("post /v1/chat/completions http/1.1\r\n"));
        assert!(request.head.contains("authorization: bearer sk-test\r\n"));
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        assert_eq!(body["model"], "test-model");
        assert_eq!(body["temperature"], 0);
        assert_eq!(body["response_format"], json!({"type": "json_object"}));
        let prompt = body["messages"][1]["content"].as_str().unwrap();
        assert!(prompt.contains("Goal: search and summarize rust news"));
        assert!(prompt.contains(r#""agent": "B""#) && prompt.contains("to summarize"));
        assert!(!prompt.contains("inbox-"), "inbox ids stay out of the prompt");

        let fenced = format!("```json\n{PLAN}\n```");
        assert_eq!(answered(completion(&fenced)).await.0.unwrap(), expected());
    }

    #[tokio::test]
    async fn bad_answers_are_rejected() {
        let unknown = PLAN.replace(r#""skill": "summarize""#, r#""skill": "search""#);
        let err = answered(completion(&unknown)).await.0.unwrap_err();
        assert_eq!(err.code(), "okr.invalid");
        assert!(err.to_string().contains("s2: agent B has no skill search"), "{err}");

        let err = answered(completion("Sure! Here is your plan.")).await.0.unwrap_err();
        assert_eq!(err.code(), "planner.malformed");
        let err = answered(response(200, r#"{"choices": []}"#)).await.0.unwrap_err();
        assert_eq!(err.code(), "planner.malformed");
        let err = answered(response(500, r#"{"error": "boom"}"#)).await.0.unwrap_err();
        assert_eq!(err, PlanError::Status(500));
        let huge = completion(&"x".repeat(MAX_ANSWER_BYTES));
        assert_eq!(answered(huge).await.0.unwrap_err().code(), "planner.too_large");

        let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut planner =
            LlmPlanner::new(format!("http://{}/v1", silent.local_addr().unwrap()), "m");
        planner.timeout = Duration::from_millis(150);
        assert_eq!(plan_with(&planner).await.unwrap_err().code(), "planner.timeout");
    }

    #[test]
    fn plans_must_be_grounded_and_well_formed() {
        let (search, summarize) =
            (card("search", "query", "text"), card("summarize", "text", "summary"));
        let candidates = [
            Candidate { agent: "me", card: &search },
            Candidate { agent: "peer", card: &summarize },
        ];
        let request = PlanRequest {
            id: "o",
            goal: "g",
            initiator: "me",
            peer: "peer",
            candidates: &candidates,
            now_ms: 0,
        };
        let parse = |content: &str| parse_plan(&request, "g", content).map_err(|e| e.code());
        let search = r#"{"agent": "A", "skill": "search", "input": {"query": {"from": "goal"}}}"#;
        let summarize = |source: &str| {
            format!(r#"{{"agent": "B", "skill": "summarize", "input": {{"text": {source}}}}}"#)
        };
        let steps = |steps: &[&str]| format!(r#"{{"steps": [{}]}}"#, steps.join(","));
        let from_s1 = summarize(r#"{"from": "step", "step": "s1", "field": "text"}"#);

        let okr = parse(&steps(&[search, &from_s1])).unwrap();
        assert_eq!(okr.key_results.len(), 2, "one key result per step by default");
        assert_eq!(okr.steps[1].depends_on, ["s1"], "sources imply dependencies");
        let constant = summarize(r#"{"from": "value", "value": "hi"}"#);
        assert!(parse(&steps(&[&constant])).is_ok());

        for bad in [
            steps(&[&from_s1, search]), // later step
            steps(&[search, &summarize(r#"{"from": "step", "step": "s9"}"#)]), // unknown step
            steps(&[search, &summarize(r#"{"from": "step", "step": "s1", "field": "nope"}"#)]),
            steps(&[&search.replace("\"A\"", "\"C\"")]), // third agent
            steps(&[&search.replace("\"A\"", "\"B\"")]), // wrong agent
            steps(&[&search.replace("query", "q")]),     // unknown input
            steps(&[r#"{"agent": "A", "skill": "search"}"#]), // unmapped input
            format!(
                r#"{{"key_results": [{{"description": "d", "steps": [3]}}], "steps": [{search}]}}"#
            ),
            steps(&vec![search; 40]),
        ] {
            assert_eq!(parse(&bad), Err("okr.invalid"), "{bad}");
        }
        assert_eq!(parse(r#"{"steps": []}"#), Err("okr.no_matching_skill"));
        for garbage in [
            "",
            "null",
            "[]",
            "{}",
            r#"{"steps": 5}"#,
            r#"{"steps": [{"agent": 1}]}"#,
            r#"{"steps": [{"agent": "A", "skill": "search", "input": {"query": {"from": "x"}}}]}"#,
            "```",
            "```json\n{",
            "{\"steps\": [] ",
            &"[".repeat(100_000),
        ] {
            assert_eq!(parse(garbage), Err("planner.malformed"), "{garbage}");
        }
    }

    #[tokio::test]
    async fn the_deterministic_planner_is_the_protocol_planner() {
        let okr = plan_with(&DeterministicPlanner).await.unwrap();
        let skills: Vec<&str> = okr.steps.iter().map(|s| s.skill.as_str()).collect();
        assert_eq!(skills, ["search", "summarize"]);
        assert_eq!(okr.objective, "search and summarize rust news");
        let mut planner = LlmPlanner::new("http://h/v1", "m");
        planner.api_key = Some("sk-secret".into());
        assert!(!format!("{planner:?}").contains("sk-secret"));
    }
}
