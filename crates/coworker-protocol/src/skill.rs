//! Skills as an API: declarations with JSON Schemas, what a peer at a given tier may see, and
//! the structured failures a call can end in.
//!
//! A peer sees a skill only if the owner exposed it and the peer's tier is at least the skill's
//! minimum; hidden, under-tier and nonexistent skills all answer the same `Unknown skill`, so a
//! peer cannot tell them apart.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::schema::{self, Schema, SchemaError, Violation};
use crate::trust::Tier;

/// What a skill owner declares.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SkillSpec {
    /// Unique name: 1-64 of `A-Z a-z 0-9 _ - .`.
    pub name: String,
    /// What it does.
    pub description: String,
    /// When a planner (or an LLM) should pick it.
    #[serde(default)]
    pub when_to_use: String,
    /// JSON Schema of the input (or the original's `{"field": "str"}` shorthand).
    pub input_schema: Value,
    /// JSON Schema of the output (or shorthand).
    pub output_schema: Value,
    /// The lowest tier that may see and call it.
    pub min_tier: Tier,
    /// Version; callers that ask for a version get exactly it.
    #[serde(default)]
    pub version: Option<String>,
    /// Free-form category (`query`, `compute`, `action`).
    #[serde(default)]
    pub category: String,
}

impl SkillSpec {
    /// A skill with permissive schemas, tier [`Tier::Known`] and no version.
    pub fn new(name: &str, description: &str) -> Self {
        Self {
            name: name.to_owned(),
            description: description.to_owned(),
            when_to_use: String::new(),
            input_schema: Value::Object(serde_json::Map::new()),
            output_schema: Value::Object(serde_json::Map::new()),
            min_tier: Tier::Known,
            version: None,
            category: "query".to_owned(),
        }
    }
}

/// A skill's wire form in `capabilities` (agent-coworker's skill dict).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SkillCard {
    /// The name.
    pub name: String,
    /// What it does.
    #[serde(default)]
    pub description: String,
    /// Input JSON Schema.
    #[serde(default)]
    pub input_schema: Value,
    /// Output JSON Schema.
    #[serde(default)]
    pub output_schema: Value,
    /// 0-3 (a name or a number on input).
    #[serde(default = "known", deserialize_with = "crate::lenient::min_tier")]
    pub min_trust_tier: u8,
    /// The original's context-privacy label (metadata only).
    #[serde(default = "public")]
    pub max_context_privacy_tier: String,
    /// Version.
    #[serde(
        default,
        deserialize_with = "crate::lenient::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub version: Option<String>,
    /// When to use it.
    #[serde(
        default,
        deserialize_with = "crate::lenient::text_or_empty",
        skip_serializing_if = "String::is_empty"
    )]
    pub when_to_use: String,
    /// Category.
    #[serde(
        default,
        deserialize_with = "crate::lenient::text_or_empty",
        skip_serializing_if = "String::is_empty"
    )]
    pub category: String,
}

impl SkillCard {
    /// The card as the Python original's planner can use it: schemas in its shorthand
    /// (`{"field": "str"}`) where they can be written so, since it fills every top-level key of
    /// an input schema with the goal text. Schemas shorthand cannot express stay JSON Schema.
    pub fn for_original(&self) -> SkillCard {
        let mut card = self.clone();
        if let Some(short) = crate::schema::to_shorthand(&card.input_schema) {
            card.input_schema = short;
        }
        if let Some(short) = crate::schema::to_shorthand(&card.output_schema) {
            card.output_schema = short;
        }
        card
    }

    /// The card with its schemas as JSON Schema (a peer may send the original's shorthand);
    /// a schema we cannot read is kept as sent.
    pub fn normalized(mut self) -> SkillCard {
        for schema in [&mut self.input_schema, &mut self.output_schema] {
            if let Ok(json) = crate::schema::normalize(schema) {
                *schema = json;
            }
        }
        self
    }
}

fn known() -> u8 {
    1
}

fn public() -> String {
    "L1_PUBLIC".to_owned()
}

/// Why a skill declaration is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SkillError {
    /// The name is empty, too long or has characters outside `A-Z a-z 0-9 _ - .`.
    #[error("invalid skill name {0:?}: use 1-64 of A-Z a-z 0-9 _ - .")]
    Name(String),
    /// A schema does not compile.
    #[error("{which} schema of skill {skill:?}: {error}")]
    Schema {
        /// The skill.
        skill: String,
        /// `input` or `output`.
        which: &'static str,
        /// The schema error.
        error: SchemaError,
    },
}

impl SkillError {
    /// A stable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Name(_) => "skill.name",
            Self::Schema { error, .. } => error.code(),
        }
    }
}

/// A declared skill with compiled schemas.
#[derive(Debug)]
pub struct Skill {
    spec: SkillSpec,
    input: Schema,
    output: Schema,
}

impl Skill {
    /// Checks the declaration: the name, and both schemas (shorthand is converted).
    pub fn new(mut spec: SkillSpec) -> Result<Self, SkillError> {
        let name_ok = (1..=64).contains(&spec.name.len())
            && spec.name.chars().all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c));
        if !name_ok {
            return Err(SkillError::Name(spec.name));
        }
        let compile = |which: &'static str, value: &Value| {
            schema::normalize(value)
                .and_then(|v| Schema::compile(&v))
                .map_err(|error| SkillError::Schema { skill: spec.name.clone(), which, error })
        };
        let input = compile("input", &spec.input_schema)?;
        let output = compile("output", &spec.output_schema)?;
        spec.input_schema = input.as_json().clone();
        spec.output_schema = output.as_json().clone();
        Ok(Self { spec, input, output })
    }

    /// The declaration (schemas normalised).
    pub fn spec(&self) -> &SkillSpec {
        &self.spec
    }

    /// The wire form.
    pub fn card(&self) -> SkillCard {
        let spec = &self.spec;
        SkillCard {
            name: spec.name.clone(),
            description: spec.description.clone(),
            input_schema: spec.input_schema.clone(),
            output_schema: spec.output_schema.clone(),
            min_trust_tier: spec.min_tier.into(),
            max_context_privacy_tier: public(),
            version: spec.version.clone(),
            when_to_use: spec.when_to_use.clone(),
            category: spec.category.clone(),
        }
    }

    /// Whether a peer at `tier` may see and call it, given the owner's exposed flag.
    pub fn visible(&self, exposed: bool, tier: Tier) -> bool {
        exposed && tier >= self.spec.min_tier
    }

    /// Checks a request before anything runs: version, then the input against its schema.
    pub fn admit(&self, input: &Value, version: Option<&str>) -> Result<(), Failure> {
        if let (Some(wanted), Some(have)) = (version, self.spec.version.as_deref())
            && wanted != have
        {
            return Err(Failure {
                code: FailureCode::VersionMismatch,
                message: format!("Skill {} is version {have}, not {wanted}", self.spec.name),
                violations: Vec::new(),
            });
        }
        self.input.validate(input).map_err(|violations| Failure {
            code: FailureCode::InvalidInput,
            message: format!("input does not match the input schema of {}", self.spec.name),
            violations,
        })
    }

    /// Checks an output before it is sent. The violations name paths only, never values.
    pub fn check_output(&self, output: &Value) -> Result<(), Failure> {
        self.output.validate(output).map_err(|violations| Failure {
            code: FailureCode::InvalidOutput,
            message: format!("{} produced output that does not match its schema", self.spec.name),
            violations: violations
                .into_iter()
                .map(|v| Violation { path: v.path, message: "invalid".to_owned() })
                .collect(),
        })
    }
}

/// The same answer for hidden, under-tier and nonexistent skills.
pub fn unknown_skill(name: &str) -> Failure {
    let shown: String = name.chars().take(64).collect();
    Failure {
        code: FailureCode::UnknownSkill,
        message: format!("Unknown skill: {shown}"),
        violations: Vec::new(),
    }
}

/// Why a call did not produce a result. Messages are for the remote caller: they never contain
/// internals (no paths, tracebacks or panic text).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// The stable code.
    pub code: FailureCode,
    /// A short human-readable reason.
    pub message: String,
    /// Schema violations, for invalid input or output.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub violations: Vec<Violation>,
}

impl Failure {
    /// A failure with no violations.
    pub fn new(code: FailureCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), violations: Vec::new() }
    }
}

/// Stable failure codes, as sent in `task_error.error_code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FailureCode {
    /// Hidden, under-tier or nonexistent.
    UnknownSkill,
    /// The original's version check.
    VersionMismatch,
    /// The input violates the input schema; nothing ran.
    InvalidInput,
    /// The skill's output violates its schema; it was not sent.
    InvalidOutput,
    /// The skill reported a failure.
    SkillFailed,
    /// The skill did not finish within its deadline.
    Timeout,
    /// The caller cancelled.
    Cancelled,
    /// Too many calls in flight; retry later.
    Busy,
    /// The sender's tier is too low for the message type.
    TrustTierTooLow,
}

impl FailureCode {
    /// The wire string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UnknownSkill => "UNKNOWN_SKILL",
            Self::VersionMismatch => "VERSION_MISMATCH",
            Self::InvalidInput => "INVALID_INPUT",
            Self::InvalidOutput => "INVALID_OUTPUT",
            Self::SkillFailed => "SKILL_FAILED",
            Self::Timeout => "TIMEOUT",
            Self::Cancelled => "CANCELLED",
            Self::Busy => "BUSY",
            Self::TrustTierTooLow => "TRUST_TIER_TOO_LOW",
        }
    }

    /// Parses a wire string; unknown codes (from other implementations) are a skill failure.
    pub fn parse(text: &str) -> Self {
        [
            Self::UnknownSkill,
            Self::VersionMismatch,
            Self::InvalidInput,
            Self::InvalidOutput,
            Self::SkillFailed,
            Self::Timeout,
            Self::Cancelled,
            Self::Busy,
            Self::TrustTierTooLow,
        ]
        .into_iter()
        .find(|c| c.as_str() == text)
        .unwrap_or(Self::SkillFailed)
    }

    /// Whether this failure is the provider's fault (counts toward failure decay).
    pub fn is_peer_fault(self) -> bool {
        matches!(self, Self::SkillFailed | Self::InvalidOutput)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn translate() -> Skill {
        let mut spec = SkillSpec::new("translate", "Translates text");
        spec.input_schema = json!({"text": "str", "to_lang": "str?"});
        spec.output_schema = json!({"type": "object", "required": ["translated"],
            "properties": {"translated": {"type": "string"}}});
        spec.version = Some("1.0".into());
        Skill::new(spec).unwrap()
    }

    #[test]
    fn shorthand_is_converted_and_inputs_are_checked() {
        let skill = translate();
        assert_eq!(skill.spec().input_schema["type"], "object");
        assert!(skill.admit(&json!({"text": "hi"}), None).is_ok());
        let bad = skill.admit(&json!({"text": 5}), None).unwrap_err();
        assert_eq!(bad.code, FailureCode::InvalidInput);
        assert_eq!(bad.violations[0].path, "/text");
        let version = skill.admit(&json!({"text": "hi"}), Some("2.0")).unwrap_err();
        assert_eq!(version.code, FailureCode::VersionMismatch);
        let output = skill.check_output(&json!({"translated": 7})).unwrap_err();
        assert_eq!(output.code, FailureCode::InvalidOutput);
        assert!(!serde_json::to_string(&output).unwrap().contains('7'), "no values echoed");
    }

    #[test]
    fn visibility_needs_exposure_and_tier() {
        let skill = translate();
        assert!(skill.visible(true, Tier::Known));
        assert!(!skill.visible(false, Tier::Privileged));
        assert!(!skill.visible(true, Tier::Untrusted));
        assert_eq!(unknown_skill("secret").message, "Unknown skill: secret");
    }

    #[test]
    fn bad_declarations_are_refused() {
        assert_eq!(Skill::new(SkillSpec::new("", "x")).unwrap_err().code(), "skill.name");
        assert_eq!(Skill::new(SkillSpec::new("a b", "x")).unwrap_err().code(), "skill.name");
        let mut spec = SkillSpec::new("ok", "x");
        spec.input_schema = json!({"$ref": "#/defs/x"});
        assert!(matches!(Skill::new(spec), Err(SkillError::Schema { which: "input", .. })));
    }

    #[test]
    fn cards_are_the_originals_skill_dicts() {
        let card = serde_json::to_value(translate().card()).unwrap();
        assert_eq!(card["min_trust_tier"], 1);
        assert_eq!(card["max_context_privacy_tier"], "L1_PUBLIC");
        assert_eq!(card["version"], "1.0");
        let python: SkillCard = serde_json::from_value(json!({"name": "about",
            "description": "d", "input_schema": {"topic": "str"}, "output_schema": {}}))
        .unwrap();
        assert_eq!(python.min_trust_tier, 1);
        assert_eq!(FailureCode::parse("WHATEVER"), FailureCode::SkillFailed);
        assert_eq!(FailureCode::parse("UNKNOWN_SKILL"), FailureCode::UnknownSkill);
    }

    #[test]
    fn cards_translate_between_json_schema_and_the_originals_shorthand() {
        // What the original's planner gets: keys it can fill with the goal.
        let card = translate().card().for_original();
        assert_eq!(card.input_schema, json!({"text": "str", "to_lang": "str?"}));
        // What we plan with, from a card the original sent.
        let theirs: SkillCard = serde_json::from_value(json!({"name": "echo",
            "input_schema": {"text": "str"}, "output_schema": {"echo": "str"},
            "min_trust_tier": "known", "version": 1.0}))
        .unwrap();
        assert_eq!((theirs.min_trust_tier, theirs.version.as_deref()), (1, Some("1.0")));
        let ours = theirs.normalized();
        assert_eq!(ours.input_schema["properties"]["text"]["type"], "string");
        assert_eq!(ours.input_schema["required"], json!(["text"]));
        // Schemas shorthand cannot say stay as they are.
        let mut spec = SkillSpec::new("pick", "d");
        spec.input_schema =
            json!({"type": "object", "properties": {"n": {"type": "integer", "minimum": 1}}});
        let pick = Skill::new(spec).unwrap().card().for_original();
        assert_eq!(pick.input_schema["properties"]["n"]["minimum"], 1);
    }
}
