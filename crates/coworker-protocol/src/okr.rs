//! Collaboration goals as OKRs: an objective (the goal), key results, and steps across both
//! agents with input mappings from the goal and earlier outputs; the deterministic planner that
//! builds one from the skills each side can see; and the state machine that runs it.
//!
//! The runtime drives execution: it asks [`Okr::ready`] for steps whose inputs are available,
//! runs them (in parallel), and reports each result with [`Okr::finish`]. Steps whose
//! dependencies failed are skipped. Completion is what triggers the trust step-down.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::skill::SkillCard;

/// Most steps the deterministic planner puts in one OKR.
pub const MAX_STEPS: usize = 8;
/// Most steps in any plan, from a peer or an LLM.
pub const MAX_PLAN_STEPS: usize = 4 * MAX_STEPS;
/// Most steps of one OKR that run at the same time.
pub const MAX_PARALLEL_STEPS: usize = 4;
/// Longest id (OKR, step, key result, skill name), in bytes.
const MAX_ID: usize = 128;
/// Longest objective or key-result description, in characters.
const MAX_TEXT: usize = 4096;
/// Most input fields of one step.
const MAX_INPUTS: usize = 64;

/// A collaboration goal and how it is being reached.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Okr {
    /// Unique id (UUID).
    pub id: String,
    /// The goal, as the user wrote it.
    pub objective: String,
    /// The inbox id of the agent that proposed it.
    pub initiator: String,
    /// The other agent's inbox id.
    pub peer: String,
    /// One per step: "<skill> delivers <outputs>".
    pub key_results: Vec<KeyResult>,
    /// The work, in planning order.
    pub steps: Vec<Step>,
    /// Where it stands.
    pub status: OkrStatus,
    /// When it was planned (Unix ms).
    pub created_ms: u64,
}

/// A measurable result: the share of its steps done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyResult {
    /// `kr1`, `kr2`, …
    pub id: String,
    /// What it measures.
    pub description: String,
    /// The steps that count toward it.
    pub steps: Vec<String>,
}

/// One skill call by one agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// `s1`, `s2`, …
    pub id: String,
    /// The inbox id of the agent that runs it.
    pub agent: String,
    /// The skill.
    pub skill: String,
    /// Where each input field comes from.
    pub input: BTreeMap<String, Source>,
    /// Steps whose outputs it needs.
    pub depends_on: Vec<String>,
    /// Where it stands.
    pub status: StepStatus,
    /// Its output, once done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    /// Why it failed or was skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Where an input field's value comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "from", rename_all = "snake_case")]
pub enum Source {
    /// The goal text.
    Goal,
    /// An earlier step's output, or one field of it.
    Step {
        /// The step id.
        step: String,
        /// The output field (`None`: the whole output).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        field: Option<String>,
    },
    /// A fixed value.
    Value {
        /// The value.
        value: Value,
    },
}

/// An OKR's lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "snake_case")]
pub enum OkrStatus {
    /// Sent to the peer, awaiting its answer.
    Proposed,
    /// The peer refused it.
    Rejected,
    /// Steps are running.
    Running,
    /// Every step is done.
    Completed,
    /// Finished with at least one failed or skipped step.
    Failed,
}

/// A step's lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    /// Waiting for its dependencies or its turn.
    Pending,
    /// Called, no answer yet.
    Running,
    /// Answered with an output.
    Done,
    /// Answered with an error.
    Failed,
    /// Not run because a dependency failed.
    Skipped,
}

/// Why no plan could be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PlanError {
    /// The goal is empty.
    #[error("the goal is empty")]
    EmptyGoal,
    /// No visible skill relates to the goal.
    #[error("no skill either agent can use matches the goal")]
    NoMatchingSkill,
    /// A plan (from a peer or an LLM) is inconsistent.
    #[error("invalid plan: {0}")]
    Invalid(String),
}

impl PlanError {
    /// A stable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::EmptyGoal => "okr.empty_goal",
            Self::NoMatchingSkill => "okr.no_matching_skill",
            Self::Invalid(_) => "okr.invalid",
        }
    }
}

/// A skill one of the two agents can run for this collaboration.
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'a> {
    /// The inbox id of the agent that has it.
    pub agent: &'a str,
    /// The skill.
    pub card: &'a SkillCard,
}

const STOPWORDS: &[&str] = &[
    "the", "and", "for", "with", "from", "into", "that", "this", "then", "some", "our", "your",
    "about", "using", "use", "please", "make", "get", "give", "all", "any", "are", "was", "its",
];

fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .map(str::to_lowercase)
        .filter(|w| w.chars().count() >= 3 && !STOPWORDS.contains(&w.as_str()))
        .collect()
}

/// Words match if equal or one is a prefix (≥ 4 letters) of the other: translate/translation.
fn related(a: &str, b: &str) -> bool {
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    short == long || (short.len() >= 4 && long.starts_with(short))
}

/// How well a skill matches the goal: name matches weigh 3, `when_to_use` 2, description 1.
pub fn score(goal: &str, card: &SkillCard) -> u32 {
    let goal = words(goal);
    let hits = |text: &str| -> u32 {
        let skill_words = words(&text.replace(['_', '-', '.'], " "));
        let count = goal.iter().filter(|g| skill_words.iter().any(|s| related(g, s))).count();
        u32::try_from(count).unwrap_or(u32::MAX)
    };
    3 * hits(&card.name) + 2 * hits(&card.when_to_use) + hits(&card.description)
}

fn properties(schema: &Value) -> Map<String, Value> {
    schema.get("properties").and_then(Value::as_object).cloned().unwrap_or_default()
}

fn required(schema: &Value) -> Vec<String> {
    schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

/// Can the goal text fill a field with this schema?
fn takes_text(schema: &Value) -> bool {
    match schema.get("type") {
        None => true,
        Some(Value::String(t)) => t == "string",
        Some(Value::Array(types)) => types.iter().any(|t| t == "string"),
        _ => false,
    }
}

/// The deterministic planner: picks the skills that match the goal (at most [`MAX_STEPS`]),
/// orders producers before consumers, and maps each input field from an earlier step's output
/// field of the same name, else from the goal text. Skills whose required inputs cannot be
/// filled are left out.
pub fn plan(
    id: &str,
    goal: &str,
    initiator: &str,
    peer: &str,
    candidates: &[Candidate<'_>],
    now_ms: u64,
) -> Result<Okr, PlanError> {
    let goal = goal.trim();
    if goal.is_empty() {
        return Err(PlanError::EmptyGoal);
    }
    let mut scored: Vec<(u32, &Candidate<'_>)> =
        candidates.iter().map(|c| (score(goal, c.card), c)).filter(|(s, _)| *s > 0).collect();
    scored.sort_by(|a, b| {
        b.0.cmp(&a.0)
            .then_with(|| (a.1.card.name.as_str(), a.1.agent).cmp(&(&b.1.card.name, b.1.agent)))
    });
    scored.truncate(MAX_STEPS);

    // Producers first: repeatedly take the best-scored skill none of whose inputs another
    // remaining skill produces (falling back to the best-scored one to break cycles).
    let produces =
        |c: &Candidate<'_>, field: &str| properties(&c.card.output_schema).contains_key(field);
    let mut remaining: Vec<&Candidate<'_>> = scored.iter().map(|(_, c)| *c).collect();
    let mut ordered = Vec::new();
    while !remaining.is_empty() {
        let free = remaining.iter().position(|c| {
            properties(&c.card.input_schema).keys().all(|field| {
                !remaining.iter().any(|other| !std::ptr::eq(*other, *c) && produces(other, field))
            })
        });
        ordered.push(remaining.remove(free.unwrap_or(0)));
    }

    let mut steps: Vec<Step> = Vec::new();
    let mut outputs: Vec<(String, Map<String, Value>)> = Vec::new();
    for candidate in ordered {
        let schema = &candidate.card.input_schema;
        let props = properties(schema);
        let needed = required(schema);
        let mut input = BTreeMap::new();
        let mut depends_on: Vec<String> = Vec::new();
        let mut plannable = true;
        for (field, field_schema) in &props {
            let producer = outputs.iter().rev().find(|(_, out)| out.contains_key(field));
            if let Some((step, _)) = producer {
                input.insert(
                    field.clone(),
                    Source::Step { step: step.clone(), field: Some(field.clone()) },
                );
                if !depends_on.contains(step) {
                    depends_on.push(step.clone());
                }
            } else if needed.contains(field) {
                if takes_text(field_schema) {
                    input.insert(field.clone(), Source::Goal);
                } else if let Some(first) = field_schema.get("enum").and_then(|e| e.get(0)) {
                    input.insert(field.clone(), Source::Value { value: first.clone() });
                } else {
                    plannable = false;
                }
            }
        }
        if !plannable {
            continue;
        }
        if props.is_empty() {
            input.insert("goal".to_owned(), Source::Goal);
        }
        let id = format!("s{}", steps.len() + 1);
        outputs.push((id.clone(), properties(&candidate.card.output_schema)));
        steps.push(Step {
            id,
            agent: candidate.agent.to_owned(),
            skill: candidate.card.name.clone(),
            input,
            depends_on,
            status: StepStatus::Pending,
            output: None,
            error: None,
        });
    }
    if steps.is_empty() {
        return Err(PlanError::NoMatchingSkill);
    }
    let key_results = steps
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let (_, outs) = &outputs[i];
            let what = if outs.is_empty() {
                "its result".to_owned()
            } else {
                outs.keys().cloned().collect::<Vec<_>>().join(", ")
            };
            KeyResult {
                id: format!("kr{}", i + 1),
                description: format!("{} delivers {what}", s.skill),
                steps: vec![s.id.clone()],
            }
        })
        .collect();
    Ok(Okr {
        id: id.to_owned(),
        objective: goal.to_owned(),
        initiator: initiator.to_owned(),
        peer: peer.to_owned(),
        key_results,
        steps,
        status: OkrStatus::Proposed,
        created_ms: now_ms,
    })
}

/// A step of a plan as the Python original proposes it: `{skill, agent, agent_wallet, input}`,
/// where `agent` is a name and `agent_wallet` an address or inbox id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OriginalStep {
    /// The skill.
    pub skill: String,
    /// The name of the agent that runs it.
    #[serde(default)]
    pub agent: String,
    /// Its wallet address or inbox id.
    #[serde(default)]
    pub agent_wallet: String,
    /// Its input, filled in by the proposer.
    #[serde(default)]
    pub input: Value,
}

impl Okr {
    /// An OKR from a plan the Python original proposed (it sends steps, no OKR): one step and
    /// key result per proposed step, in order, each with its input as fixed values, run by us
    /// (`peer`) when `ours` says so and by `initiator` otherwise. Validated like any plan.
    pub fn from_original(
        id: &str,
        goal: &str,
        initiator: &str,
        peer: &str,
        steps: &[OriginalStep],
        ours: impl Fn(&OriginalStep) -> bool,
        now_ms: u64,
    ) -> Result<Okr, PlanError> {
        let steps: Vec<Step> = steps
            .iter()
            .enumerate()
            .map(|(i, original)| {
                let input = match &original.input {
                    Value::Object(fields) => fields
                        .iter()
                        .map(|(k, v)| (k.clone(), Source::Value { value: v.clone() }))
                        .collect(),
                    Value::Null => BTreeMap::new(),
                    other => BTreeMap::from([(
                        "input".to_owned(),
                        Source::Value { value: other.clone() },
                    )]),
                };
                Step {
                    id: format!("s{}", i + 1),
                    agent: if ours(original) { peer } else { initiator }.to_owned(),
                    skill: original.skill.clone(),
                    input,
                    depends_on: Vec::new(),
                    status: StepStatus::Pending,
                    output: None,
                    error: None,
                }
            })
            .collect();
        let key_results = steps
            .iter()
            .enumerate()
            .map(|(i, s)| KeyResult {
                id: format!("kr{}", i + 1),
                description: format!("{} runs", s.skill),
                steps: vec![s.id.clone()],
            })
            .collect();
        let okr = Okr {
            id: id.to_owned(),
            objective: goal.trim().to_owned(),
            initiator: initiator.to_owned(),
            peer: peer.to_owned(),
            key_results,
            steps,
            status: OkrStatus::Proposed,
            created_ms: now_ms,
        };
        okr.validate()?;
        Ok(okr)
    }

    /// Checks a plan received from a peer or an LLM: unique step ids, dependencies on earlier
    /// steps only, sources that exist, agents that are one of the two parties.
    pub fn validate(&self) -> Result<(), PlanError> {
        let invalid = |why: String| Err(PlanError::Invalid(why));
        let mut seen: Vec<&str> = Vec::new();
        if self.steps.is_empty() || self.steps.len() > MAX_PLAN_STEPS {
            return invalid(format!("a plan has 1 to {MAX_PLAN_STEPS} steps"));
        }
        if self.initiator == self.peer {
            return invalid("a plan is between two different agents".into());
        }
        if self.objective.chars().count() > MAX_TEXT || self.id.len() > MAX_ID {
            return invalid("the objective or the id is too long".into());
        }
        if self.key_results.len() > MAX_PLAN_STEPS {
            return invalid(format!("a plan has at most {MAX_PLAN_STEPS} key results"));
        }
        for kr in &self.key_results {
            if kr.id.len() > MAX_ID || kr.description.chars().count() > MAX_TEXT {
                return invalid(format!("key result {} is too long", kr.id));
            }
            if let Some(step) = kr.steps.iter().find(|s| self.step(s).is_none()) {
                return invalid(format!("key result {} counts unknown step {step}", kr.id));
            }
        }
        for step in &self.steps {
            if step.id.len() > MAX_ID || step.skill.len() > MAX_ID || step.input.len() > MAX_INPUTS
            {
                return invalid(format!(
                    "step {} is too large",
                    step.id.get(..MAX_ID).unwrap_or(&step.id)
                ));
            }
            if seen.contains(&step.id.as_str()) {
                return Err(PlanError::Invalid(format!("duplicate step {}", step.id)));
            }
            if step.agent != self.initiator && step.agent != self.peer {
                return Err(PlanError::Invalid(format!("step {} names a third agent", step.id)));
            }
            let sources = step.input.values().filter_map(|s| match s {
                Source::Step { step, .. } => Some(step.as_str()),
                _ => None,
            });
            for dep in step.depends_on.iter().map(String::as_str).chain(sources) {
                if !seen.contains(&dep) {
                    return Err(PlanError::Invalid(format!(
                        "step {} depends on {dep}, which is not an earlier step",
                        step.id
                    )));
                }
            }
            seen.push(&step.id);
        }
        Ok(())
    }

    /// Whether the OKR has ended (completed, failed or rejected).
    pub fn is_terminal(&self) -> bool {
        matches!(self.status, OkrStatus::Completed | OkrStatus::Failed | OkrStatus::Rejected)
    }

    /// Applies the initiator's progress report to our stored copy. Only what execution changes
    /// is taken from `update`: the OKR's status and each step's status, output and error. The
    /// plan itself (initiator, peer, objective, steps' agents, skills, inputs, dependencies) is
    /// ours: an update that differs in any of it is refused, as is one for an OKR that already
    /// ended. Returns whether anything changed.
    pub fn apply_update(&mut self, update: &Okr) -> Result<bool, PlanError> {
        update.validate()?;
        let same_plan = update.id == self.id
            && update.initiator == self.initiator
            && update.peer == self.peer
            && update.objective == self.objective
            && update.steps.len() == self.steps.len()
            && self.steps.iter().zip(&update.steps).all(|(a, b)| {
                a.id == b.id
                    && a.agent == b.agent
                    && a.skill == b.skill
                    && a.input == b.input
                    && a.depends_on == b.depends_on
            });
        if !same_plan {
            return Err(PlanError::Invalid("the update changes the agreed plan".into()));
        }
        if self.is_terminal() || self.status == OkrStatus::Proposed {
            return Err(PlanError::Invalid(format!("the OKR is {:?}, not running", self.status)));
        }
        if update.status == OkrStatus::Proposed {
            return Err(PlanError::Invalid("a running OKR cannot go back to proposed".into()));
        }
        let before = (self.status, self.steps.clone());
        self.status = update.status;
        for (mine, theirs) in self.steps.iter_mut().zip(&update.steps) {
            mine.status = theirs.status;
            mine.output.clone_from(&theirs.output);
            mine.error.clone_from(&theirs.error);
        }
        Ok(before != (self.status, self.steps.clone()))
    }

    /// Marks the plan accepted: execution starts.
    pub fn start(&mut self) {
        if self.status == OkrStatus::Proposed {
            self.status = OkrStatus::Running;
        }
    }

    /// After a restart of the initiator: steps that were running go back to pending, to be run
    /// again (a remote step reuses its task id, so its provider answers from its record instead
    /// of running it twice). Returns whether the OKR is still running.
    pub fn resume(&mut self) -> bool {
        if self.status != OkrStatus::Running {
            return false;
        }
        for step in &mut self.steps {
            if step.status == StepStatus::Running {
                step.status = StepStatus::Pending;
            }
        }
        true
    }

    /// Pending steps whose dependencies are all done (they may run in parallel). Steps with a
    /// failed or skipped dependency are marked skipped.
    pub fn ready(&mut self) -> Vec<usize> {
        if self.status != OkrStatus::Running {
            return Vec::new();
        }
        loop {
            let mut changed = false;
            for i in 0..self.steps.len() {
                if self.steps[i].status != StepStatus::Pending {
                    continue;
                }
                let blocked = self.steps[i].depends_on.iter().find(|d| {
                    self.step(d).is_some_and(|s| {
                        matches!(s.status, StepStatus::Failed | StepStatus::Skipped)
                    })
                });
                if let Some(dep) = blocked.cloned() {
                    self.steps[i].status = StepStatus::Skipped;
                    self.steps[i].error = Some(format!("{dep} did not complete"));
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
        self.finish_if_done();
        (0..self.steps.len())
            .filter(|&i| {
                self.steps[i].status == StepStatus::Pending
                    && self.steps[i]
                        .depends_on
                        .iter()
                        .all(|d| self.step(d).is_some_and(|s| s.status == StepStatus::Done))
            })
            .collect()
    }

    fn step(&self, id: &str) -> Option<&Step> {
        self.steps.iter().find(|s| s.id == id)
    }

    /// The input object for step `index`, from the goal and earlier outputs.
    pub fn input_for(&self, index: usize) -> Value {
        let mut input = Map::new();
        if let Some(step) = self.steps.get(index) {
            for (field, source) in &step.input {
                let value = match source {
                    Source::Goal => Value::String(self.objective.clone()),
                    Source::Value { value } => value.clone(),
                    Source::Step { step, field } => {
                        let output =
                            self.step(step).and_then(|s| s.output.clone()).unwrap_or(Value::Null);
                        match field {
                            Some(f) => output.get(f).cloned().unwrap_or(Value::Null),
                            None => output,
                        }
                    }
                };
                input.insert(field.clone(), value);
            }
        }
        Value::Object(input)
    }

    /// Marks step `index` as running.
    pub fn begin(&mut self, index: usize) {
        if let Some(step) = self.steps.get_mut(index) {
            step.status = StepStatus::Running;
        }
    }

    /// Records a step's result. Returns true when this completed the whole OKR successfully
    /// (the moment the trust step-down applies).
    pub fn finish(&mut self, index: usize, result: Result<Value, String>) -> bool {
        let Some(step) = self.steps.get_mut(index) else { return false };
        match result {
            Ok(output) => {
                step.status = StepStatus::Done;
                step.output = Some(output);
            }
            Err(error) => {
                step.status = StepStatus::Failed;
                step.error = Some(error);
            }
        }
        let before = self.status;
        self.ready();
        before == OkrStatus::Running && self.status == OkrStatus::Completed
    }

    fn finish_if_done(&mut self) {
        let settled = self.steps.iter().all(|s| {
            matches!(s.status, StepStatus::Done | StepStatus::Failed | StepStatus::Skipped)
        });
        if self.status == OkrStatus::Running && settled {
            let all_done = self.steps.iter().all(|s| s.status == StepStatus::Done);
            self.status = if all_done { OkrStatus::Completed } else { OkrStatus::Failed };
        }
    }

    /// Percent of steps done.
    pub fn progress(&self) -> u8 {
        let done = self.steps.iter().filter(|s| s.status == StepStatus::Done).count();
        u8::try_from(done * 100 / self.steps.len().max(1)).unwrap_or(100)
    }

    /// A key result's progress, percent.
    pub fn key_result_progress(&self, kr: &KeyResult) -> u8 {
        let done = kr
            .steps
            .iter()
            .filter(|id| self.step(id).is_some_and(|s| s.status == StepStatus::Done))
            .count();
        u8::try_from(done * 100 / kr.steps.len().max(1)).unwrap_or(100)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn card(name: &str, when: &str, input: Value, output: Value) -> SkillCard {
        SkillCard {
            name: name.into(),
            description: String::new(),
            input_schema: input,
            output_schema: output,
            min_trust_tier: 1,
            max_context_privacy_tier: "L1_PUBLIC".into(),
            version: None,
            when_to_use: when.into(),
            category: String::new(),
        }
    }

    fn text_in(field: &str) -> Value {
        json!({"type": "object", "required": [field], "properties": {field: {"type": "string"}}})
    }

    #[test]
    fn the_planner_picks_matching_skills_and_chains_outputs() {
        let search = card("search", "find sources on a topic", text_in("query"), text_in("text"));
        let summarize = card("summarize", "summarize text", text_in("text"), text_in("summary"));
        let translate = card(
            "translate",
            "translate into another language",
            text_in("summary"),
            text_in("translated"),
        );
        let unrelated = card("weather", "forecast", text_in("city"), json!({}));
        let candidates = [
            Candidate { agent: "peer", card: &summarize },
            Candidate { agent: "me", card: &search },
            Candidate { agent: "peer", card: &translate },
            Candidate { agent: "peer", card: &unrelated },
        ];
        let okr = plan(
            "o1",
            "Search sources, summarize and translate them",
            "me",
            "peer",
            &candidates,
            5,
        )
        .unwrap();
        let names: Vec<&str> = okr.steps.iter().map(|s| s.skill.as_str()).collect();
        assert_eq!(names, ["search", "summarize", "translate"]);
        assert_eq!(okr.steps[0].input["query"], Source::Goal);
        assert_eq!(
            okr.steps[1].input["text"],
            Source::Step { step: "s1".into(), field: Some("text".into()) }
        );
        assert_eq!(okr.steps[2].depends_on, ["s2"]);
        assert_eq!(okr.key_results.len(), 3);
        okr.validate().unwrap();

        assert_eq!(
            plan("o", "  ", "me", "peer", &candidates, 0).unwrap_err(),
            PlanError::EmptyGoal
        );
        assert_eq!(
            plan("o", "bake a cake", "me", "peer", &candidates, 0).unwrap_err().code(),
            "okr.no_matching_skill"
        );
    }

    #[test]
    fn execution_runs_independent_steps_together_and_completes_once() {
        let a = card("fetch_prices", "prices", text_in("ticker"), text_in("prices"));
        let b = card("fetch_news", "news", text_in("ticker"), text_in("news"));
        let c = card(
            "report",
            "prices news report",
            json!({"type": "object", "required": ["prices", "news"],
            "properties": {"prices": {"type": "string"}, "news": {"type": "string"}}}),
            json!({}),
        );
        let candidates = [
            Candidate { agent: "peer", card: &a },
            Candidate { agent: "peer", card: &b },
            Candidate { agent: "me", card: &c },
        ];
        let mut okr =
            plan("o2", "report on prices and news", "me", "peer", &candidates, 0).unwrap();
        assert_eq!(okr.ready(), Vec::<usize>::new(), "nothing runs before acceptance");
        okr.start();
        let first = okr.ready();
        assert_eq!(first.len(), 2, "both fetches are independent");
        let report = okr.steps.iter().position(|s| s.skill == "report").unwrap();
        for &i in &first {
            okr.begin(i);
        }
        assert!(!okr.finish(first[0], Ok(json!({"prices": "p", "news": "n"}))));
        // A restart while the second fetch runs: it becomes ready again, nothing else does.
        assert!(okr.resume());
        assert_eq!(okr.ready(), vec![first[1]]);
        okr.begin(first[1]);
        assert!(!okr.finish(first[1], Ok(json!({"prices": "p", "news": "n"}))));
        assert_eq!(okr.ready(), vec![report]);
        let input = okr.input_for(report);
        assert_eq!(input["prices"], "p");
        assert_eq!(okr.progress(), 66);
        assert!(okr.finish(report, Ok(json!({}))), "the last step completes the OKR");
        assert_eq!(okr.status, OkrStatus::Completed);
        assert!(!okr.finish(report, Ok(json!({}))), "completion is reported once");
        assert!(!okr.resume(), "a finished OKR does not resume");
    }

    #[test]
    fn failures_skip_dependants_and_fail_the_okr() {
        let a = card("search", "search", text_in("query"), text_in("text"));
        let b = card("summarize", "summarize", text_in("text"), json!({}));
        let candidates =
            [Candidate { agent: "peer", card: &a }, Candidate { agent: "me", card: &b }];
        let mut okr = plan("o3", "search and summarize", "me", "peer", &candidates, 0).unwrap();
        okr.start();
        let ready = okr.ready();
        okr.finish(ready[0], Err("boom".into()));
        assert_eq!(okr.steps[1].status, StepStatus::Skipped);
        assert_eq!(okr.status, OkrStatus::Failed);
    }

    #[test]
    fn plans_from_peers_are_validated() {
        let a = card("search", "search", text_in("query"), text_in("text"));
        let candidates = [Candidate { agent: "peer", card: &a }];
        let mut okr = plan("o4", "search", "me", "peer", &candidates, 0).unwrap();
        okr.steps[0].agent = "mallory".into();
        assert_eq!(okr.validate().unwrap_err().code(), "okr.invalid");
        okr.steps[0].agent = "peer".into();
        okr.steps[0].depends_on = vec!["s9".into()];
        assert!(okr.validate().is_err());
        okr.steps[0].depends_on.clear();
        okr.peer = "me".into();
        assert!(okr.validate().is_err(), "an agent cannot plan with itself");
        okr.peer = "peer".into();
        okr.objective = "x".repeat(MAX_TEXT + 1);
        assert!(okr.validate().is_err(), "objectives are bounded");
        okr.objective = "search".into();
        okr.steps = (0..=MAX_PLAN_STEPS)
            .map(|i| Step { id: format!("s{i}"), ..okr.steps[0].clone() })
            .collect();
        assert!(okr.validate().is_err(), "step counts are bounded");
    }

    #[test]
    fn the_originals_plans_become_okrs() {
        let steps: Vec<OriginalStep> = serde_json::from_value(json!([
            {"skill": "echo", "agent": "py", "agent_wallet": "0xaa", "input": {"text": "goal"}},
            {"skill": "upper", "agent": "rusty", "agent_wallet": "0xbb", "input": {"text": "goal"}},
        ]))
        .unwrap();
        let okr = Okr::from_original(
            "o9",
            " goal ",
            "py-inbox",
            "me",
            &steps,
            |s| s.agent_wallet == "0xbb",
            7,
        )
        .unwrap();
        assert_eq!(okr.steps[0].agent, "py-inbox");
        assert_eq!(okr.steps[1].agent, "me");
        assert_eq!(okr.steps[1].input["text"], Source::Value { value: json!("goal") });
        assert_eq!((okr.objective.as_str(), okr.key_results.len()), ("goal", 2));
        assert!(Okr::from_original("o", "g", "py", "me", &[], |_| true, 0).is_err(), "no steps");
    }

    #[test]
    fn updates_change_progress_never_the_plan() {
        let a = card("search", "search", text_in("query"), text_in("text"));
        let candidates = [Candidate { agent: "peer", card: &a }];
        let mut stored = plan("o5", "search", "me", "peer", &candidates, 0).unwrap();
        let mut update = stored.clone();
        update.status = OkrStatus::Running;
        assert!(stored.apply_update(&update).is_err(), "not accepted yet");
        stored.start();

        // Progress is taken.
        update.steps[0].status = StepStatus::Done;
        update.steps[0].output = Some(json!({"text": "t"}));
        update.status = OkrStatus::Completed;
        let mut copy = stored.clone();
        assert!(copy.apply_update(&update).unwrap());
        assert_eq!(copy.status, OkrStatus::Completed);
        assert_eq!(copy.steps[0].output, Some(json!({"text": "t"})));
        assert!(copy.apply_update(&update).is_err(), "an ended OKR takes no updates");

        // Anything that rewrites the plan is refused, and nothing is taken from it.
        let rewrites: [fn(&mut Okr); 6] = [
            |o| o.initiator = "peer".into(),
            |o| o.peer = "mallory".into(),
            |o| o.steps[0].agent = "me".into(),
            |o| o.steps[0].skill = "wire_money".into(),
            |o| {
                o.steps[0].input.insert("amount".into(), Source::Value { value: json!(1e6) });
            },
            |o| o.steps.push(Step { id: "s2".into(), ..o.steps[0].clone() }),
        ];
        for rewrite in rewrites {
            let mut evil = update.clone();
            rewrite(&mut evil);
            let mut copy = stored.clone();
            assert!(copy.apply_update(&evil).is_err());
            assert_eq!(copy, stored);
        }
    }
}
