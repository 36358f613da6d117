//! Reading what other implementations send without rejecting well-formed answers over fields we
//! only display: the Python original writes `duration_ms` as a float, tiers as names or
//! numbers, and skill cards we may not fully understand. Each reader here takes every shape a
//! peer plausibly sends and falls back to a default instead of failing the whole message.

use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::skill::SkillCard;
use crate::trust::Tier;

/// A count or duration: an integer, a float (rounded, negative as 0), a numeric string, or
/// nothing (0).
pub fn u64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    Ok(number(&Value::deserialize(deserializer)?).unwrap_or(0))
}

/// A tier as an integer, a float with no fraction, a numeric string or a name (`known`);
/// anything else is `None`.
pub fn tier<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u8>, D::Error> {
    Ok(tier_of(&Value::deserialize(deserializer)?))
}

/// A skill card's minimum tier: as [`tier`], KNOWN (1) when missing or unreadable, as the
/// original's default.
pub fn min_tier<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u8, D::Error> {
    Ok(tier_of(&Value::deserialize(deserializer)?).unwrap_or(1))
}

/// A list of skill cards, without the ones that are not cards at all (no name, not an object).
pub fn cards<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<SkillCard>, D::Error> {
    let Value::Array(items) = Value::deserialize(deserializer)? else { return Ok(Vec::new()) };
    Ok(items.into_iter().filter_map(|item| serde_json::from_value(item).ok()).collect())
}

/// A string, or the text of a number (`1.0` written as a float); `None` for anything else.
pub fn text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    Ok(match Value::deserialize(deserializer)? {
        Value::String(s) => Some(s),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    })
}

/// [`text`], empty when missing or unreadable.
pub fn text_or_empty<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    Ok(text(deserializer)?.unwrap_or_default())
}

fn number(value: &Value) -> Option<u64> {
    match value {
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| f.is_finite())
                .map(|f| if f <= 0.0 { 0 } else { f.round() as u64 })
        }),
        Value::String(s) => {
            s.trim().parse::<f64>().ok().and_then(|f| number(&serde_json::json!(f)))
        }
        _ => None,
    }
}

fn tier_of(value: &Value) -> Option<u8> {
    let exact = match value {
        Value::Number(n) => {
            n.as_f64().filter(|f| f.fract() == 0.0).map(|f| serde_json::json!(f as i64))
        }
        other => Some(other.clone()),
    };
    exact.as_ref().and_then(Tier::from_json).map(u8::from)
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Deserialize)]
    struct Probe {
        #[serde(default, deserialize_with = "super::u64")]
        ms: u64,
        #[serde(default, deserialize_with = "super::tier")]
        tier: Option<u8>,
    }

    fn probe(value: serde_json::Value) -> (u64, Option<u8>) {
        let p: Probe = serde_json::from_value(value).unwrap();
        (p.ms, p.tier)
    }

    #[test]
    fn numbers_and_tiers_in_every_shape_the_original_sends() {
        assert_eq!(probe(json!({"ms": 0.1, "tier": 1})), (0, Some(1)));
        assert_eq!(probe(json!({"ms": 12.6, "tier": "known"})), (13, Some(1)));
        assert_eq!(probe(json!({"ms": "7", "tier": 2.0})), (7, Some(2)));
        assert_eq!(probe(json!({"ms": -3, "tier": "KNOWN"})), (0, Some(1)));
        assert_eq!(probe(json!({"ms": null, "tier": 9})), (0, None));
        assert_eq!(probe(json!({"tier": 1.5})), (0, None));
        assert_eq!(probe(json!({"ms": {"x": 1}, "tier": [1]})), (0, None));
    }
}
