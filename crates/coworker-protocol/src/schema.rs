//! JSON Schema validation for skill inputs and outputs.
//!
//! Skill owners describe a skill's input and output with a JSON Schema (or with the Python
//! original's shorthand `{"field": "str", ...}`, see [`normalize`]). Values arriving from remote
//! peers are untrusted, so validation never panics, recursion is bounded by the schema's depth
//! (at most [`MAX_DEPTH`] levels), and at most [`MAX_VIOLATIONS`] violations are reported.
//!
//! Supported subset of JSON Schema (draft 2020-12 semantics):
//! - boolean schemas `true` / `false`;
//! - `type` (a name or a list of names among `null`, `boolean`, `object`, `array`, `number`,
//!   `integer`, `string`; an integer is any number without a fractional part, so `3.0` counts);
//! - `enum`, `const` (numbers compare by value, so `1` equals `1.0`);
//! - numbers: `minimum`, `maximum`, `exclusiveMinimum`, `exclusiveMaximum` (numeric form);
//! - strings: `minLength`, `maxLength` (in Unicode scalar values), `pattern` (unanchored search,
//!   Rust `regex` syntax: no look-around or back-references);
//! - arrays: `items` (one schema for every element), `minItems`, `maxItems`, `uniqueItems`;
//! - objects: `properties`, `required`, `additionalProperties` (boolean or schema),
//!   `minProperties`, `maxProperties`;
//! - combinators: `allOf`, `anyOf`, `oneOf`, `not`.
//!
//! The annotations `title`, `description`, `default`, `examples`, `$schema`, `$id`, `$comment`,
//! `format`, `readOnly`, `writeOnly`, `deprecated`, `contentMediaType` and `contentEncoding` are
//! accepted and ignored. Every other keyword, `$ref` included, is rejected at compile time with
//! [`SchemaError::UnsupportedKeyword`].

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::{self, Write as _};

use regex::Regex;
use serde_json::{Map, Number, Value, json};

/// Deepest nesting of subschemas that [`Schema::compile`] accepts.
pub const MAX_DEPTH: usize = 64;
/// Most violations that [`Schema::validate`] reports for one value.
pub const MAX_VIOLATIONS: usize = 20;
/// Longest rendering (in characters) of a value echoed in a violation message.
const ECHO_LIMIT: usize = 40;

/// Keys whose presence means an object is a real JSON Schema rather than shorthand.
const SCHEMA_KEYS: &str =
    "type properties $schema items anyOf oneOf allOf enum const $ref required";
/// Keywords that are accepted and ignored.
const ANNOTATIONS: &str = "title description default examples $schema $id $comment format readOnly \
    writeOnly deprecated contentMediaType contentEncoding";
/// Type names; a set of types is a `u8` with bit `1 << i` standing for `TYPES[i]`.
const TYPES: [&str; 7] = ["null", "boolean", "object", "array", "number", "integer", "string"];

/// Why a schema could not be normalized or compiled.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum SchemaError {
    /// The schema uses a keyword outside the supported subset (`$ref` included).
    #[error("unsupported schema keyword \"{keyword}\" at {}", show_path(path))]
    UnsupportedKeyword {
        /// The keyword, e.g. `$ref`.
        keyword: String,
        /// JSON Pointer to the keyword inside the schema.
        path: String,
    },
    /// A keyword's value is malformed (e.g. `minLength: -1`, `required: 5`, a bad regex).
    #[error("invalid schema at {}: {reason}", show_path(path))]
    Invalid {
        /// JSON Pointer to the offending part of the schema.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A shorthand field names a type word that is not known.
    #[error("unknown type \"{word}\" for shorthand field \"{field}\"")]
    UnknownShorthandType {
        /// The field name.
        field: String,
        /// The type word as written.
        word: String,
    },
    /// Subschemas are nested deeper than [`MAX_DEPTH`] levels.
    #[error("schema nested deeper than {MAX_DEPTH} levels at {}", show_path(path))]
    TooDeep {
        /// JSON Pointer to the first subschema past the limit.
        path: String,
    },
}

impl SchemaError {
    /// A stable, machine-readable code for this error, e.g. `schema.unsupported_keyword`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::UnsupportedKeyword { .. } => "schema.unsupported_keyword",
            Self::Invalid { .. } => "schema.invalid",
            Self::UnknownShorthandType { .. } => "schema.unknown_shorthand_type",
            Self::TooDeep { .. } => "schema.too_deep",
        }
    }
}

/// One way in which a value fails its schema.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Violation {
    /// JSON Pointer to the offending value (`""` is the value itself), e.g. `/items/2/name`;
    /// for a missing required property, the object that lacks it.
    pub path: String,
    /// A short, plain description, e.g. `expected integer, got string`.
    pub message: String,
}

/// Converts the Python original's shorthand `{"field": "str", ...}` into JSON Schema, or returns
/// a real JSON Schema unchanged (after checking it compiles).
///
/// An object is shorthand when it is non-empty, all its values are strings and none of its keys
/// is `type`, `properties`, `$schema`, `items`, `anyOf`, `oneOf`, `allOf`, `enum`, `const`, `$ref`
/// or `required`. Type words: `str`/`string`/`text`, `int`/`integer`, `float`/`number`/`double`,
/// `bool`/`boolean`, `list`/`array`, `dict`/`object`/`json`, and `any`/`anything`/`""` (no
/// constraint); case and surrounding spaces are ignored. A trailing `?` or a leading word
/// `optional` makes a field optional; all other fields are required. The result is
/// `{"type":"object","properties":{..},"required":[..sorted..],"additionalProperties":true}`.
pub fn normalize(schema: &Value) -> Result<Value, SchemaError> {
    Schema::compile(schema).map(|s| s.json)
}

/// The shorthand form of a JSON Schema, when it has one: an object schema whose properties are
/// plain types (`{"type": "string"}`, or no constraint) becomes `{"field": "str", "opt": "int?"}`
/// (optional fields marked `?`). `None` for anything shorthand cannot say (nested constraints,
/// enums, closed objects, no properties).
pub fn to_shorthand(schema: &Value) -> Option<Value> {
    let object = schema.as_object()?;
    let plain = object.keys().all(|k| {
        matches!(k.as_str(), "type" | "properties" | "required" | "additionalProperties")
            || listed(ANNOTATIONS, k)
    });
    if !plain
        || object.get("type").and_then(Value::as_str) != Some("object")
        || object.get("additionalProperties").is_some_and(|a| a == &Value::Bool(false))
    {
        return None;
    }
    let properties = object.get("properties")?.as_object().filter(|p| !p.is_empty())?;
    let required: Vec<&str> = object
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut short = Map::new();
    for (field, property) in properties {
        let property = property.as_object()?;
        if property.keys().any(|k| k != "type" && !listed(ANNOTATIONS, k)) {
            return None;
        }
        let word = match property.get("type").map(|t| t.as_str()) {
            None => "any",
            Some(Some("string")) => "str",
            Some(Some("integer")) => "int",
            Some(Some("number")) => "float",
            Some(Some("boolean")) => "bool",
            Some(Some("array")) => "list",
            Some(Some("object")) => "dict",
            Some(_) => return None,
        };
        let optional = if required.contains(&field.as_str()) { "" } else { "?" };
        short.insert(field.clone(), Value::String(format!("{word}{optional}")));
    }
    Some(Value::Object(short))
}

/// A compiled schema, ready to validate values.
#[derive(Debug, Clone)]
pub struct Schema {
    json: Value,
    root: Node,
}

impl Schema {
    /// Compiles a JSON Schema (or shorthand, see [`normalize`]), rejecting unsupported keywords,
    /// malformed keyword values and nesting deeper than [`MAX_DEPTH`].
    pub fn compile(schema: &Value) -> Result<Schema, SchemaError> {
        let json = match shorthand(schema)? {
            Some(converted) => converted,
            None => schema.clone(),
        };
        let root = compile_node(&json, "", 0)?;
        Ok(Schema { json, root })
    }

    /// All violations (capped at [`MAX_VIOLATIONS`]), each with a JSON Pointer path to the
    /// offending value.
    pub fn validate(&self, value: &Value) -> Result<(), Vec<Violation>> {
        let mut cx = Ctx { errs: Vec::new(), cap: MAX_VIOLATIONS };
        check(&self.root, value, &mut String::new(), &mut cx);
        if cx.errs.is_empty() { Ok(()) } else { Err(cx.errs) }
    }

    /// The (normalized) schema this was compiled from.
    pub fn as_json(&self) -> &Value {
        &self.json
    }
}

/// Converts shorthand to JSON Schema; `None` when `schema` is not shorthand.
fn shorthand(schema: &Value) -> Result<Option<Value>, SchemaError> {
    let Some(map) = schema.as_object() else { return Ok(None) };
    let fields: Option<Vec<(&String, &str)>> =
        map.iter().map(|(k, v)| v.as_str().map(|s| (k, s))).collect();
    let Some(fields) = fields else { return Ok(None) };
    if fields.is_empty() || fields.iter().any(|(k, _)| listed(SCHEMA_KEYS, k)) {
        return Ok(None);
    }
    let mut properties = Map::new();
    let mut required = Vec::new();
    for (field, word) in fields {
        let unknown =
            || SchemaError::UnknownShorthandType { field: field.clone(), word: word.to_owned() };
        let (ty, optional) = shorthand_type(word).ok_or_else(unknown)?;
        properties.insert(field.clone(), ty.map_or_else(|| json!({}), |t| json!({ "type": t })));
        if !optional {
            required.push(field.clone());
        }
    }
    required.sort();
    Ok(Some(json!({
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": true,
    })))
}

/// Parses a shorthand type word into (JSON type or none for "any", optional); `None` if unknown.
fn shorthand_type(word: &str) -> Option<(Option<&'static str>, bool)> {
    let lower = word.trim().to_ascii_lowercase();
    let (rest, question) = match lower.strip_suffix('?') {
        Some(rest) => (rest.trim_end(), true),
        None => (lower.as_str(), false),
    };
    let (base, optional) = match rest.strip_prefix("optional") {
        Some(b) if b.is_empty() || b.starts_with(char::is_whitespace) => (b.trim_start(), true),
        _ => (rest, question),
    };
    let ty = match base {
        "str" | "string" | "text" => "string",
        "int" | "integer" => "integer",
        "float" | "number" | "double" => "number",
        "bool" | "boolean" => "boolean",
        "list" | "array" => "array",
        "dict" | "object" | "json" => "object",
        "any" | "anything" | "" => return Some((None, optional)),
        _ => return None,
    };
    Some((Some(ty), optional))
}

/// A compiled (sub)schema.
#[derive(Debug, Clone)]
enum Node {
    Bool(bool),
    Rules(Box<Rules>),
}

/// (min, max) limits on a string's length, an array's items or an object's properties.
type Limits = (Option<u64>, Option<u64>);

/// The keywords of one schema object; absent keywords are `None` or empty.
#[derive(Debug, Clone, Default)]
struct Rules {
    types: Option<u8>,
    enumeration: Option<(Value, HashSet<String>)>,
    constant: Option<(Value, String)>,
    minimum: Option<Number>,
    maximum: Option<Number>,
    exclusive_minimum: Option<Number>,
    exclusive_maximum: Option<Number>,
    length: Limits,
    item_count: Limits,
    property_count: Limits,
    pattern: Option<Regex>,
    items: Option<Node>,
    unique_items: bool,
    properties: BTreeMap<String, Node>,
    required: Vec<String>,
    additional: Option<Node>,
    all_of: Vec<Node>,
    any_of: Vec<Node>,
    one_of: Vec<Node>,
    not: Option<Node>,
}

fn invalid(path: &str, reason: &str) -> SchemaError {
    SchemaError::Invalid { path: path.to_owned(), reason: reason.to_owned() }
}

fn compile_node(schema: &Value, path: &str, depth: usize) -> Result<Node, SchemaError> {
    if depth > MAX_DEPTH {
        return Err(SchemaError::TooDeep { path: path.to_owned() });
    }
    let map = match schema {
        Value::Bool(b) => return Ok(Node::Bool(*b)),
        Value::Object(map) => map,
        _ => return Err(invalid(path, "a schema must be an object or a boolean")),
    };
    let mut r = Box::<Rules>::default();
    for (key, val) in map {
        let at = format!("{path}/{}", escape(key));
        if compile_leaf(&mut r, key, val, &at)? {
            continue;
        }
        let sub = |v: &Value, p: &str| compile_node(v, p, depth + 1);
        match key.as_str() {
            "items" if val.is_array() => {
                return Err(invalid(&at, "items must be a single schema (tuple form unsupported)"));
            }
            "items" => r.items = Some(sub(val, &at)?),
            "additionalProperties" => r.additional = Some(sub(val, &at)?),
            "not" => r.not = Some(sub(val, &at)?),
            "properties" => {
                let props = val.as_object().ok_or_else(|| invalid(&at, "must be an object"))?;
                for (name, s) in props {
                    let node = sub(s, &format!("{at}/{}", escape(name)))?;
                    r.properties.insert(name.clone(), node);
                }
            }
            "allOf" | "anyOf" | "oneOf" => {
                let list = val.as_array().filter(|a| !a.is_empty());
                let list = list.ok_or_else(|| invalid(&at, "must be a non-empty array"))?;
                let nodes = list.iter().enumerate().map(|(i, s)| sub(s, &format!("{at}/{i}")));
                let nodes = nodes.collect::<Result<Vec<_>, _>>()?;
                match key.as_str() {
                    "allOf" => r.all_of = nodes,
                    "anyOf" => r.any_of = nodes,
                    _ => r.one_of = nodes,
                }
            }
            _ => return Err(SchemaError::UnsupportedKeyword { keyword: key.clone(), path: at }),
        }
    }
    Ok(Node::Rules(r))
}

/// Compiles a keyword that has no subschemas (or an annotation) into `r`; `Ok(false)` if `key`
/// is not one. Kept out of [`compile_node`] so the recursion's stack frames stay small.
#[inline(never)]
fn compile_leaf(r: &mut Rules, key: &str, val: &Value, at: &str) -> Result<bool, SchemaError> {
    match key {
        "type" => r.types = Some(parse_types(val, at)?),
        "enum" => {
            let list = val.as_array().filter(|a| !a.is_empty());
            let list = list.ok_or_else(|| invalid(at, "enum must be a non-empty array"))?;
            r.enumeration = Some((val.clone(), list.iter().map(canon).collect()));
        }
        "const" => r.constant = Some((val.clone(), canon(val))),
        "minimum" => r.minimum = Some(number(val, at)?),
        "maximum" => r.maximum = Some(number(val, at)?),
        "exclusiveMinimum" => r.exclusive_minimum = Some(number(val, at)?),
        "exclusiveMaximum" => r.exclusive_maximum = Some(number(val, at)?),
        "minLength" => r.length.0 = Some(count(val, at)?),
        "maxLength" => r.length.1 = Some(count(val, at)?),
        "minItems" => r.item_count.0 = Some(count(val, at)?),
        "maxItems" => r.item_count.1 = Some(count(val, at)?),
        "minProperties" => r.property_count.0 = Some(count(val, at)?),
        "maxProperties" => r.property_count.1 = Some(count(val, at)?),
        "uniqueItems" => {
            r.unique_items = val.as_bool().ok_or_else(|| invalid(at, "must be a boolean"))?;
        }
        "pattern" => {
            let src = val.as_str().ok_or_else(|| invalid(at, "must be a string"))?;
            let re = Regex::new(src).map_err(|_| invalid(at, "not a supported regex"))?;
            r.pattern = Some(re);
        }
        "required" => {
            let names = val.as_array().and_then(|a| a.iter().map(Value::as_str).collect());
            let names: Vec<&str> =
                names.ok_or_else(|| invalid(at, "must be an array of strings"))?;
            for name in names {
                if !r.required.iter().any(|m| m == name) {
                    r.required.push(name.to_owned());
                }
            }
        }
        k if listed(ANNOTATIONS, k) => {}
        _ => return Ok(false),
    }
    Ok(true)
}

fn parse_types(val: &Value, at: &str) -> Result<u8, SchemaError> {
    let bit = |v: &Value| {
        let name = v.as_str().unwrap_or_default();
        TYPES.iter().position(|n| *n == name).map(|i| 1u8 << i)
    };
    let bits = match val {
        Value::Array(list) if !list.is_empty() => {
            list.iter().try_fold(0u8, |acc, v| bit(v).map(|b| acc | b))
        }
        Value::Array(_) => None,
        one => bit(one),
    };
    bits.ok_or_else(|| invalid(at, "type must be a type name or a non-empty array of type names"))
}

fn number(val: &Value, at: &str) -> Result<Number, SchemaError> {
    match val {
        Value::Number(n) => Ok(n.clone()),
        _ => Err(invalid(at, "must be a number")),
    }
}

fn count(val: &Value, at: &str) -> Result<u64, SchemaError> {
    let float = val.as_f64().filter(|f| *f >= 0.0 && f.fract() == 0.0 && *f < 1.8e19);
    val.as_u64()
        .or(float.map(|f| f as u64))
        .ok_or_else(|| invalid(at, "must be a non-negative integer"))
}

/// Collected violations and how many may be collected.
struct Ctx {
    errs: Vec<Violation>,
    cap: usize,
}

impl Ctx {
    fn full(&self) -> bool {
        self.errs.len() >= self.cap
    }

    fn push(&mut self, path: &str, message: String) {
        if !self.full() {
            self.errs.push(Violation { path: path.to_owned(), message });
        }
    }
}

/// Whether `value` satisfies `node` (stops at the first violation).
fn matches(node: &Node, value: &Value) -> bool {
    let mut cx = Ctx { errs: Vec::new(), cap: 1 };
    check(node, value, &mut String::new(), &mut cx);
    cx.errs.is_empty()
}

fn check(node: &Node, v: &Value, path: &mut String, cx: &mut Ctx) {
    let r = match node {
        Node::Bool(true) => return,
        Node::Bool(false) => return cx.push(path, "no value is allowed here".into()),
        Node::Rules(r) => r,
    };
    if cx.full() {
        return;
    }
    if let Some(types) = r.types
        && !type_names(types).any(|name| has_type(name, v))
    {
        let names: Vec<&str> = type_names(types).collect();
        let message = format!("expected {}, got {}", names.join(" or "), type_name(v));
        return cx.push(path, message);
    }
    if r.enumeration.is_some() || r.constant.is_some() {
        let key = canon(v);
        if let Some((list, set)) = &r.enumeration
            && !set.contains(&key)
        {
            cx.push(path, format!("{} is not one of {}", short(v), short(list)));
        }
        if let Some((c, ckey)) = &r.constant
            && *ckey != key
        {
            cx.push(path, format!("expected {}, got {}", short(c), short(v)));
        }
    }
    match v {
        Value::Number(n) => check_number(r, n, path, cx),
        Value::String(s) => check_string(r, s, path, cx),
        Value::Array(items) => check_array(r, items, path, cx),
        Value::Object(map) => check_object(r, map, path, cx),
        Value::Null | Value::Bool(_) => {}
    }
    for sub in &r.all_of {
        check(sub, v, path, cx);
    }
    if !r.any_of.is_empty() && !r.any_of.iter().any(|s| matches(s, v)) {
        cx.push(path, "does not match any of the anyOf schemas".into());
    }
    if !r.one_of.is_empty() {
        match r.one_of.iter().filter(|s| matches(s, v)).take(2).count() {
            0 => cx.push(path, "does not match any of the oneOf schemas".into()),
            1 => {}
            _ => cx.push(path, "matches more than one of the oneOf schemas".into()),
        }
    }
    if r.not.as_ref().is_some_and(|s| matches(s, v)) {
        cx.push(path, "must not match the \"not\" schema".into());
    }
}

fn check_number(r: &Rules, n: &Number, path: &str, cx: &mut Ctx) {
    use std::cmp::Ordering::{Equal, Greater, Less};
    let bounds = [
        (&r.minimum, &[Less][..], "less than the minimum"),
        (&r.exclusive_minimum, &[Less, Equal][..], "not greater than the exclusive minimum"),
        (&r.maximum, &[Greater][..], "greater than the maximum"),
        (&r.exclusive_maximum, &[Greater, Equal][..], "not less than the exclusive maximum"),
    ];
    for (bound, bad, what) in bounds {
        if let Some(b) = bound
            && cmp_numbers(n, b).is_some_and(|o| bad.contains(&o))
        {
            cx.push(path, format!("{n} is {what} {b}"));
        }
    }
}

fn check_string(r: &Rules, s: &str, path: &str, cx: &mut Ctx) {
    if r.length != (None, None) {
        check_size(r.length, s.chars().count(), "string", "characters", path, cx);
    }
    if let Some(re) = r.pattern.as_ref().filter(|re| !re.is_match(s)) {
        cx.push(path, format!("{} does not match pattern {}", quote(s), quote(re.as_str())));
    }
}

/// Checks `len` against (min, max) limits on a string's, array's or object's size.
fn check_size(limits: Limits, len: usize, what: &str, unit: &str, path: &str, cx: &mut Ctx) {
    let len = len as u64;
    if let Some(min) = limits.0.filter(|m| len < *m) {
        cx.push(path, format!("{what} has fewer than {min} {unit}"));
    }
    if let Some(max) = limits.1.filter(|m| len > *m) {
        cx.push(path, format!("{what} has more than {max} {unit}"));
    }
}

fn check_array(r: &Rules, items: &[Value], path: &mut String, cx: &mut Ctx) {
    check_size(r.item_count, items.len(), "array", "items", path, cx);
    if r.items.is_none() && !r.unique_items {
        return;
    }
    let mut seen = HashMap::new();
    for (i, item) in items.iter().enumerate() {
        if cx.full() {
            return;
        }
        let base = path.len();
        let _ = write!(path, "/{i}");
        if r.unique_items
            && let Some(first) = seen.insert(canon(item), i)
        {
            cx.push(path, format!("duplicate of item {first}"));
        }
        if let Some(node) = &r.items {
            check(node, item, path, cx);
        }
        path.truncate(base);
    }
}

fn check_object(r: &Rules, map: &Map<String, Value>, path: &mut String, cx: &mut Ctx) {
    check_size(r.property_count, map.len(), "object", "properties", path, cx);
    for name in r.required.iter().filter(|n| !map.contains_key(*n)) {
        cx.push(path, format!("missing required property {}", quote(name)));
    }
    for (key, val) in map {
        let (node, extra) = match (r.properties.get(key), &r.additional) {
            (Some(node), _) => (node, false),
            (None, Some(node)) => (node, true),
            (None, None) => continue,
        };
        if cx.full() {
            return;
        }
        let base = path.len();
        path.push('/');
        path.push_str(&escape(key));
        if extra && matches!(node, Node::Bool(false)) {
            cx.push(path, format!("property {} is not allowed", quote(key)));
        } else {
            check(node, val, path, cx);
        }
        path.truncate(base);
    }
}

fn type_names(set: u8) -> impl Iterator<Item = &'static str> {
    TYPES.iter().enumerate().filter(move |(i, _)| set & (1 << i) != 0).map(|(_, n)| *n)
}

fn has_type(name: &str, v: &Value) -> bool {
    match (name, v) {
        ("integer", Value::Number(n)) => {
            n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0)
        }
        (name, v) => name == type_name(v),
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Compares two numbers exactly when both are integers, else as `f64`.
fn cmp_numbers(a: &Number, b: &Number) -> Option<std::cmp::Ordering> {
    let int = |n: &Number| n.as_i64().map(i128::from).or(n.as_u64().map(i128::from));
    match (int(a), int(b)) {
        (Some(x), Some(y)) => Some(x.cmp(&y)),
        _ => a.as_f64()?.partial_cmp(&b.as_f64()?),
    }
}

/// A canonical, unambiguous key for a value: equal JSON values (with `1` equal to `1.0` and
/// object keys in any order) get equal keys. Iterative, so any nesting depth is safe.
fn canon(v: &Value) -> String {
    enum Step<'a> {
        Val(&'a Value),
        Key(&'a str),
        Close(char),
    }
    let mut out = String::new();
    let mut stack = vec![Step::Val(v)];
    while let Some(step) = stack.pop() {
        let _ = match step {
            Step::Close(c) => write!(out, "{c}"),
            Step::Key(k) => write!(out, "{}:{k}", k.len()),
            Step::Val(Value::Null) => write!(out, "z"),
            Step::Val(Value::Bool(b)) => write!(out, "{}", if *b { 't' } else { 'f' }),
            Step::Val(Value::String(s)) => write!(out, "s{}:{s}", s.len()),
            Step::Val(Value::Number(n)) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
                (Some(i), _, _) => write!(out, "n{i};"),
                (_, Some(u), _) => write!(out, "n{u};"),
                (_, _, Some(0.0)) => write!(out, "n0;"),
                (_, _, Some(f)) => write!(out, "n{f};"),
                _ => write!(out, "n{n};"),
            },
            Step::Val(Value::Array(a)) => {
                stack.push(Step::Close(']'));
                stack.extend(a.iter().rev().map(Step::Val));
                write!(out, "[")
            }
            Step::Val(Value::Object(m)) => {
                stack.push(Step::Close('}'));
                let mut entries: Vec<_> = m.iter().collect();
                entries.sort_by(|x, y| y.0.cmp(x.0));
                for (k, val) in entries {
                    stack.push(Step::Val(val));
                    stack.push(Step::Key(k));
                }
                write!(out, "{{")
            }
        };
    }
    out
}

fn listed(list: &str, word: &str) -> bool {
    list.split_whitespace().any(|w| w == word)
}

/// Escapes one JSON Pointer reference token.
fn escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

fn show_path(path: &str) -> &str {
    if path.is_empty() { "the schema root" } else { path }
}

/// Compact JSON for `v`, cut to [`ECHO_LIMIT`] characters (without rendering the rest).
fn short(v: &Value) -> String {
    struct Clip(String, usize, bool);
    impl fmt::Write for Clip {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            for c in s.chars() {
                if self.1 == 0 {
                    if !self.2 {
                        self.0.push('…');
                        self.2 = true;
                    }
                    return Err(fmt::Error);
                }
                self.1 -= 1;
                self.0.push(c);
            }
            Ok(())
        }
    }
    let mut clip = Clip(String::new(), ECHO_LIMIT, false);
    let _ = fmt::write(&mut clip, format_args!("{v}"));
    clip.0
}

/// A string as a JSON literal, cut like [`short`].
fn quote(s: &str) -> String {
    short(&Value::String(s.chars().take(ECHO_LIMIT + 1).collect()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn compile(s: Value) -> Schema {
        Schema::compile(&s).unwrap()
    }

    fn compile_err(s: Value) -> SchemaError {
        Schema::compile(&s).unwrap_err()
    }

    /// (path, message) of every violation, or an empty list when the value is valid.
    fn errs(s: Value, v: Value) -> Vec<(String, String)> {
        let found = compile(s).validate(&v).err().unwrap_or_default();
        found.into_iter().map(|e| (e.path, e.message)).collect()
    }

    fn one(path: &str, message: &str) -> Vec<(String, String)> {
        vec![(path.to_owned(), message.to_owned())]
    }

    fn ok(s: Value, v: Value) -> bool {
        compile(s).validate(&v).is_ok()
    }

    #[test]
    fn shorthand_maps_every_type_word() {
        let short = json!({
            "a": "str", "b": "string", "c": "text", "d": "int", "e": "integer", "f": "float",
            "g": "number", "h": "double", "i": "bool", "j": "boolean", "k": "list", "l": "array",
            "m": "dict", "n": "object", "o": "json", "p": "any", "q": "anything", "r": "",
        });
        let out = normalize(&short).unwrap();
        let ty = |f: &str| out["properties"][f].get("type").cloned();
        let expect = [
            ("abc", Some("string")),
            ("de", Some("integer")),
            ("fgh", Some("number")),
            ("ij", Some("boolean")),
            ("kl", Some("array")),
            ("mno", Some("object")),
            ("pqr", None),
        ];
        for (fields, t) in expect {
            for f in fields.chars() {
                assert_eq!(ty(&f.to_string()), t.map(|t| json!(t)), "field {f}");
            }
        }
        assert_eq!(out["properties"]["p"], json!({}));
        assert_eq!(out["type"], "object");
        assert_eq!(out["additionalProperties"], true);
        let required: Vec<&str> =
            out["required"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        assert_eq!(
            required,
            "abcdefghijklmnopqr".split("").filter(|s| !s.is_empty()).collect::<Vec<_>>()
        );
    }

    #[test]
    fn shorthand_optional_marks() {
        let out = normalize(&json!({
            "z": "str", "a": "str?", "b": "optional int", "c": " Optional  Float ", "d": "?",
            "e": "optional", "f": "INT ?", "g": "Bool",
        }))
        .unwrap();
        assert_eq!(out["required"], json!(["g", "z"]));
        assert_eq!(out["properties"]["a"], json!({"type": "string"}));
        assert_eq!(out["properties"]["b"], json!({"type": "integer"}));
        assert_eq!(out["properties"]["c"], json!({"type": "number"}));
        assert_eq!(out["properties"]["d"], json!({}));
        assert_eq!(out["properties"]["e"], json!({}));
        assert_eq!(out["properties"]["f"], json!({"type": "integer"}));
        assert_eq!(out["properties"]["g"], json!({"type": "boolean"}));
    }

    #[test]
    fn plain_object_schemas_have_a_shorthand_form() {
        let schema = normalize(&json!({"text": "str", "count": "int?", "any": "any"})).unwrap();
        assert_eq!(
            to_shorthand(&schema),
            Some(json!({"text": "str", "count": "int?", "any": "any"}))
        );
        assert_eq!(to_shorthand(&json!({"type": "object", "properties": {}})), None);
        assert_eq!(to_shorthand(&json!({"type": "string"})), None);
        let closed = json!({"type": "object", "properties": {"a": {"type": "string"}},
            "additionalProperties": false});
        assert_eq!(to_shorthand(&closed), None);
    }

    #[test]
    fn shorthand_unknown_word_is_an_error() {
        let err = normalize(&json!({"ok": "str", "when": "datetime"})).unwrap_err();
        assert_eq!(
            err,
            SchemaError::UnknownShorthandType { field: "when".into(), word: "datetime".into() }
        );
        assert_eq!(err.code(), "schema.unknown_shorthand_type");
        assert!(err.to_string().contains("\"datetime\"") && err.to_string().contains("\"when\""));
        let err = normalize(&json!({"a": "optionalstr"})).unwrap_err();
        assert_eq!(err.code(), "schema.unknown_shorthand_type");
    }

    #[test]
    fn shorthand_validates_like_the_python_original() {
        let s = compile(json!({"text": "str", "count": "int?"}));
        assert!(s.validate(&json!({"text": "hi", "extra": [1]})).is_ok());
        assert!(s.validate(&json!({"text": "hi", "count": 2})).is_ok());
        let found = s.validate(&json!({"count": "two"})).unwrap_err();
        assert_eq!(
            found,
            vec![
                Violation { path: "".into(), message: "missing required property \"text\"".into() },
                Violation { path: "/count".into(), message: "expected integer, got string".into() },
            ]
        );
        assert_eq!(s.as_json()["required"], json!(["text"]));
    }

    #[test]
    fn real_schemas_are_not_shorthand() {
        for s in [json!({}), json!({"type": "string"}), json!(true), json!({"enum": ["a"]})] {
            assert_eq!(normalize(&s).unwrap(), s);
        }
        // A keyword key makes it a schema, so the other string values are unknown keywords.
        let err = normalize(&json!({"type": "object", "name": "str"})).unwrap_err();
        assert_eq!(
            err,
            SchemaError::UnsupportedKeyword { keyword: "name".into(), path: "/name".into() }
        );
        // Not all values are strings: not shorthand either.
        assert_eq!(
            normalize(&json!({"a": "str", "b": 1})).unwrap_err().code(),
            "schema.unsupported_keyword"
        );
        assert!(ok(json!({}), json!({"anything": [1, null]})));
    }

    #[test]
    fn type_keyword() {
        let cases = [
            ("null", json!(null), json!(0)),
            ("boolean", json!(false), json!("false")),
            ("object", json!({}), json!([])),
            ("array", json!([]), json!({})),
            ("number", json!(1.5), json!("1.5")),
            ("integer", json!(-7), json!(true)),
            ("string", json!(""), json!(null)),
        ];
        for (t, good, bad) in cases {
            assert!(ok(json!({"type": t}), good), "{t}");
            assert!(!ok(json!({"type": t}), bad), "{t}");
        }
        assert!(ok(json!({"type": "number"}), json!(3)));
        assert_eq!(
            errs(json!({"type": "integer"}), json!("x")),
            one("", "expected integer, got string")
        );
        let either = json!({"type": ["null", "string"]});
        assert!(ok(either.clone(), json!(null)) && ok(either.clone(), json!("s")));
        assert_eq!(errs(either, json!(5)), one("", "expected null or string, got number"));
    }

    #[test]
    fn integer_versus_number() {
        let int = json!({"type": "integer"});
        for v in [json!(3), json!(3.0), json!(-0.0), json!(u64::MAX), json!(i64::MIN), json!(1e20)]
        {
            assert!(ok(int.clone(), v.clone()), "{v}");
        }
        assert_eq!(errs(int.clone(), json!(3.5)), one("", "expected integer, got number"));
        assert!(!ok(int, json!(-0.25)));
    }

    #[test]
    fn enum_keyword() {
        let s = json!({"enum": ["en", "de"]});
        assert!(ok(s.clone(), json!("de")));
        assert_eq!(errs(s, json!("fr")), one("", "\"fr\" is not one of [\"en\",\"de\"]"));
        // Numbers compare by value; objects regardless of key order.
        assert!(ok(json!({"enum": [1, {"a": 1, "b": [2]}]}), json!(1.0)));
        assert!(ok(json!({"enum": [0]}), json!(-0.0)) && ok(json!({"enum": [-0.0]}), json!(0)));
        assert!(ok(json!({"enum": [{"a": 1, "b": [2]}]}), json!({"b": [2.0], "a": 1})));
        assert!(!ok(json!({"enum": [{"a": 1}]}), json!({"a": 1, "b": null})));
        assert!(!ok(json!({"enum": [[1, 2]]}), json!([2, 1])));
        assert!(!ok(json!({"enum": ["1"]}), json!(1)));
        assert!(!ok(json!({"enum": [null]}), json!(false)));
    }

    #[test]
    fn const_keyword() {
        assert!(ok(json!({"const": {"k": [1, "x"]}}), json!({"k": [1.0, "x"]})));
        assert_eq!(errs(json!({"const": "a"}), json!("b")), one("", "expected \"a\", got \"b\""));
        assert!(!ok(json!({"const": 0}), json!(false)));
    }

    #[test]
    fn numeric_bounds() {
        let s = json!({"minimum": 1, "maximum": 10.5});
        assert!(ok(s.clone(), json!(1)) && ok(s.clone(), json!(10.5)));
        assert_eq!(errs(s.clone(), json!(0.5)), one("", "0.5 is less than the minimum 1"));
        assert_eq!(errs(s, json!(11)), one("", "11 is greater than the maximum 10.5"));
        let s = json!({"exclusiveMinimum": 0, "exclusiveMaximum": 1});
        assert!(ok(s.clone(), json!(0.5)));
        assert_eq!(
            errs(s.clone(), json!(0)),
            one("", "0 is not greater than the exclusive minimum 0")
        );
        assert_eq!(errs(s, json!(1.0)), one("", "1.0 is not less than the exclusive maximum 1"));
        // Large integers compare exactly, not through f64.
        assert!(!ok(json!({"maximum": 9007199254740992_u64}), json!(9007199254740993_u64)));
        assert!(ok(json!({"minimum": -1}), json!(u64::MAX)));
        // Bounds do not apply to other types.
        assert!(ok(json!({"minimum": 5}), json!("1")));
    }

    #[test]
    fn string_length_counts_scalar_values() {
        let s = json!({"minLength": 2, "maxLength": 3});
        assert!(ok(s.clone(), json!("日本語")) && ok(s.clone(), json!("é🎉")));
        assert_eq!(errs(s.clone(), json!("é")), one("", "string has fewer than 2 characters"));
        assert_eq!(errs(s.clone(), json!("abcd")), one("", "string has more than 3 characters"));
        assert!(ok(s, json!(12345)));
    }

    #[test]
    fn pattern_is_an_unanchored_search() {
        // A non-string keyword value keeps these single-keyword schemas from reading as shorthand.
        let pat = |p: &str| json!({"pattern": p, "minLength": 0});
        assert!(ok(pat("b+"), json!("abbc")));
        assert!(!ok(pat("^b"), json!("abc")));
        assert!(ok(pat("^[a-z]+$"), json!("abc")));
        assert!(!ok(pat("^[a-z]+$"), json!("abc1")));
        assert_eq!(
            errs(pat("^[0-9]+$"), json!("12a")),
            one("", "\"12a\" does not match pattern \"^[0-9]+$\"")
        );
        assert!(ok(pat("^x"), json!(7)));
        let err = compile_err(json!({"properties": {"a": {"pattern": "(unclosed"}}}));
        assert_eq!(err.code(), "schema.invalid");
        assert!(
            matches!(err, SchemaError::Invalid { ref path, .. } if path == "/properties/a/pattern")
        );
    }

    #[test]
    fn all_string_objects_without_listed_keywords_are_shorthand() {
        // As in the Python original: only the listed keywords mark an object as a real schema.
        let out = normalize(&json!({"title": "str", "description": "text?"})).unwrap();
        assert_eq!(out["required"], json!(["title"]));
        let err = normalize(&json!({"pattern": "^a"})).unwrap_err();
        assert_eq!(err.code(), "schema.unknown_shorthand_type");
        assert!(ok(json!({"type": "string", "pattern": "^a"}), json!("ab")));
    }

    #[test]
    fn array_keywords() {
        let s = json!({"minItems": 1, "maxItems": 3});
        assert!(ok(s.clone(), json!([1, 2, 3])));
        assert_eq!(errs(s.clone(), json!([])), one("", "array has fewer than 1 items"));
        assert_eq!(errs(s, json!([1, 2, 3, 4])), one("", "array has more than 3 items"));
        let unique = json!({"uniqueItems": true});
        assert!(ok(unique.clone(), json!([1, "1", [1], {"a": 1}, {"a": 2}])));
        assert_eq!(errs(unique.clone(), json!([1, 2, 1.0])), one("/2", "duplicate of item 0"));
        assert!(!ok(unique, json!([{"a": 1, "b": 2}, {"b": 2, "a": 1}])));
        assert!(ok(json!({"uniqueItems": false}), json!([1, 1])));
        let items = json!({"items": {"type": "string"}});
        assert!(ok(items.clone(), json!(["a", "b"])));
        assert_eq!(errs(items, json!(["a", 2])), one("/1", "expected string, got number"));
    }

    #[test]
    fn object_keywords() {
        let s = json!({
            "properties": {"a": {"type": "integer"}, "b": {}},
            "required": ["a", "b"],
            "additionalProperties": false,
            "minProperties": 1,
            "maxProperties": 2,
        });
        assert!(ok(s.clone(), json!({"a": 1, "b": null})));
        assert_eq!(
            errs(s.clone(), json!({"a": "x", "b": 1, "c": 2})),
            vec![
                ("".into(), "object has more than 2 properties".into()),
                ("/a".into(), "expected integer, got string".into()),
                ("/c".into(), "property \"c\" is not allowed".into()),
            ]
        );
        assert_eq!(
            errs(s, json!({})),
            vec![
                ("".into(), "object has fewer than 1 properties".into()),
                ("".into(), "missing required property \"a\"".into()),
                ("".into(), "missing required property \"b\"".into()),
            ]
        );
        let extra = json!({"properties": {"a": {}}, "additionalProperties": {"type": "number"}});
        assert!(ok(extra.clone(), json!({"a": "s", "b": 1})));
        assert_eq!(errs(extra, json!({"b": "s"})), one("/b", "expected number, got string"));
        assert!(ok(json!({"required": ["a"]}), json!("not an object")));
    }

    #[test]
    fn nested_paths_point_at_the_value() {
        let s = json!({
            "type": "object",
            "properties": {"items": {"type": "array", "items": {
                "type": "object", "required": ["name"],
                "properties": {"name": {"type": "string"}},
            }}},
        });
        let v = json!({"items": [{"name": "a"}, {"name": "b"}, {"name": 3}, {}]});
        assert_eq!(
            errs(s, v),
            vec![
                ("/items/2/name".into(), "expected string, got number".into()),
                ("/items/3".into(), "missing required property \"name\"".into()),
            ]
        );
        let odd = json!({"properties": {"a/b~c": {"type": "null"}}});
        assert_eq!(errs(odd, json!({"a/b~c": 1})), one("/a~1b~0c", "expected null, got number"));
    }

    #[test]
    fn boolean_schemas() {
        for v in [json!(null), json!(1), json!("x"), json!([{}]), json!({"a": []})] {
            assert!(ok(json!(true), v.clone()));
            assert_eq!(errs(json!(false), v), one("", "no value is allowed here"));
        }
        let s = json!({"properties": {"gone": false}, "items": true});
        assert_eq!(errs(s.clone(), json!({"gone": 1})), one("/gone", "no value is allowed here"));
        assert!(ok(s, json!({"other": 1})));
    }

    #[test]
    fn combinators() {
        let any = json!({"anyOf": [{"type": "string"}, {"minimum": 10}]});
        assert!(ok(any.clone(), json!("x")) && ok(any.clone(), json!(12)));
        assert_eq!(errs(any, json!(3)), one("", "does not match any of the anyOf schemas"));
        let one_of = json!({"oneOf": [{"type": "integer"}, {"minimum": 10}]});
        assert!(ok(one_of.clone(), json!(3)) && ok(one_of.clone(), json!(10.5)));
        assert_eq!(
            errs(one_of.clone(), json!(12)),
            one("", "matches more than one of the oneOf schemas")
        );
        assert_eq!(errs(one_of, json!(2.5)), one("", "does not match any of the oneOf schemas"));
        let all = json!({"allOf": [{"type": "string"}, {"maxLength": 2}]});
        assert!(ok(all.clone(), json!("ab")));
        assert_eq!(errs(all, json!("abc")), one("", "string has more than 2 characters"));
        let not = json!({"not": {"type": "null"}});
        assert!(ok(not.clone(), json!(0)));
        assert_eq!(errs(not, json!(null)), one("", "must not match the \"not\" schema"));
        // Branch violations stay inside the branch and do not leak into the result.
        let nested = json!({"items": {"anyOf": [{"type": "string"}, {"type": "integer"}]}});
        assert_eq!(
            errs(nested, json!(["a", 1, null])),
            one("/2", "does not match any of the anyOf schemas")
        );
    }

    #[test]
    fn unsupported_keywords_and_ref() {
        let err = compile_err(json!({"properties": {"a": {"$ref": "#/$defs/x"}}}));
        assert_eq!(
            err,
            SchemaError::UnsupportedKeyword {
                keyword: "$ref".into(),
                path: "/properties/a/$ref".into()
            }
        );
        assert_eq!(err.code(), "schema.unsupported_keyword");
        assert_eq!(err.to_string(), "unsupported schema keyword \"$ref\" at /properties/a/$ref");
        for kw in
            ["prefixItems", "patternProperties", "if", "contains", "$defs", "dependentRequired"]
        {
            let err = compile_err(json!({"anyOf": [true, {kw: {}}]}));
            let path = format!("/anyOf/1/{kw}");
            assert_eq!(err, SchemaError::UnsupportedKeyword { keyword: kw.into(), path });
        }
        let err = compile_err(json!({"type": "object", "$ref": "#"}));
        assert_eq!(err.to_string(), "unsupported schema keyword \"$ref\" at /$ref");
    }

    #[test]
    fn annotations_are_ignored() {
        let s = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema", "$id": "x", "$comment": "c",
            "title": "T", "description": "D", "default": 1, "examples": [1], "format": "email",
            "readOnly": true, "writeOnly": false, "deprecated": false,
            "contentMediaType": "text/plain", "contentEncoding": "base64", "type": "string",
        });
        assert!(ok(s.clone(), json!("not an email")));
        assert!(!ok(s, json!(1)));
    }

    #[test]
    fn malformed_keyword_values_are_invalid() {
        let cases = [
            (json!({"minLength": -1}), "/minLength"),
            (json!({"maxItems": 1.5}), "/maxItems"),
            (json!({"required": 5}), "/required"),
            (json!({"required": ["a", 1]}), "/required"),
            (json!({"type": "str"}), "/type"),
            (json!({"type": []}), "/type"),
            (json!({"enum": []}), "/enum"),
            (json!({"enum": "a"}), "/enum"),
            (json!({"anyOf": []}), "/anyOf"),
            (json!({"type": "number", "minimum": "3"}), "/minimum"),
            (json!({"type": "array", "uniqueItems": "yes"}), "/uniqueItems"),
            (json!({"pattern": 3}), "/pattern"),
            (json!({"items": [{}]}), "/items"),
            (json!({"properties": []}), "/properties"),
            (json!({"properties": {"a": 5}}), "/properties/a"),
            (json!({"type": "null", "not": "x"}), "/not"),
            (json!("str"), ""),
            (json!(null), ""),
        ];
        for (schema, at) in cases {
            let err = compile_err(schema.clone());
            assert_eq!(err.code(), "schema.invalid", "{schema}");
            assert!(
                matches!(&err, SchemaError::Invalid { path, .. } if path == at),
                "{schema}: {err}"
            );
        }
        assert!(ok(json!({"minLength": 2.0}), json!("ab")));
        assert_eq!(
            compile_err(json!(5)).to_string(),
            "invalid schema at the schema root: a schema must be an object or a boolean"
        );
    }

    #[test]
    fn violations_are_capped() {
        let s = json!({"items": {"type": "string"}});
        let found = compile(s).validate(&json!(vec![1; 50])).unwrap_err();
        assert_eq!(found.len(), 20);
        assert_eq!(found[19].path, "/19");
    }

    /// A schema of `depth` nested `items` schemas and a matching value nested as deep.
    fn nested(depth: usize) -> (Value, Value) {
        let (mut schema, mut value) = (json!({"type": "integer"}), json!(1));
        for _ in 0..depth {
            schema = json!({"type": "array", "items": schema});
            value = json!([value]);
        }
        (schema, value)
    }

    #[test]
    fn depth_is_bounded() {
        let (schema, value) = nested(MAX_DEPTH);
        let s = compile(schema);
        assert!(s.validate(&value).is_ok());
        let (schema, _) = nested(MAX_DEPTH + 1);
        let err = compile_err(schema);
        assert_eq!(err.code(), "schema.too_deep");
        let (schema, _) = nested(500);
        assert_eq!(compile_err(json!({"not": schema})).code(), "schema.too_deep");
    }

    #[test]
    fn deepest_schema_fits_a_small_stack() {
        // Compiling a schema at the depth limit fits well within 512 KiB even in debug builds.
        let (schema, value) = nested(MAX_DEPTH - 1);
        let wrapped = json!({"anyOf": [{"not": {"type": "null"}}], "allOf": [schema]});
        let run = move || {
            let s = Schema::compile(&wrapped).map_err(|e| e.to_string())?;
            s.validate(&value).map_err(|v| format!("{v:?}"))
        };
        let thread = std::thread::Builder::new().stack_size(512 * 1024).spawn(run).unwrap();
        assert_eq!(thread.join().unwrap(), Ok(()));
    }

    #[test]
    fn deep_values_do_not_recurse() {
        // uniqueItems, enum and const inspect whole values without recursing.
        let mut deep = json!(0);
        for _ in 0..1_000 {
            deep = json!([deep]);
        }
        let s = compile(json!({"uniqueItems": true, "enum": [1], "not": {"const": [0]}}));
        let found = s.validate(&json!([deep.clone(), deep])).unwrap_err();
        assert_eq!(found.len(), 2);
        assert!(found[0].message.chars().count() < 100);
    }

    #[test]
    fn echoed_values_are_short_and_plain() {
        let long = "x".repeat(10_000);
        let found = errs(json!({"enum": ["a"]}), json!(long));
        let message = &found[0].1;
        assert!(message.chars().count() < 70, "{message}");
        assert!(message.starts_with("\"xxxx") && message.contains('…'));
        let found = errs(json!({"const": 1}), json!({"k": "v", "z": [1, 2, 3]}));
        assert_eq!(found, one("", "expected 1, got {\"k\":\"v\",\"z\":[1,2,3]}"));
        let found = errs(json!({"additionalProperties": false}), json!({"é".repeat(100): 1}));
        assert!(found[0].1.chars().count() < 70);
        assert!(!found[0].1.contains("String("));
    }

    #[test]
    fn violations_serialize_plainly() {
        let v = Violation { path: "/a".into(), message: "m".into() };
        assert_eq!(serde_json::to_value(&v).unwrap(), json!({"path": "/a", "message": "m"}));
    }
}
