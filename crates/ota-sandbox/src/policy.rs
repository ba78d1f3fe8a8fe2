//! OSS PostObject policies: parsing the base64 JSON document and checking a form
//! against its expiration and conditions.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use serde_json::Value;
use time::OffsetDateTime;

use crate::multipart::{field, FormField};

/// The largest base64 policy text accepted, in bytes.
pub const MAX_POLICY_BYTES: usize = 16 * 1024;
/// The largest number of conditions accepted.
pub const MAX_CONDITIONS: usize = 64;

/// Why a policy document is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// Longer than [`MAX_POLICY_BYTES`].
    #[error("policy is longer than {max} bytes")]
    TooLong {
        /// The limit.
        max: usize,
    },
    /// Not valid base64.
    #[error("policy is not valid base64")]
    NotBase64,
    /// Not a JSON object.
    #[error("policy is not a JSON object: {reason}")]
    NotJson {
        /// The parser's message.
        reason: String,
    },
    /// No `expiration`, or not an ISO-8601 UTC time.
    #[error("policy has no valid expiration")]
    BadExpiration,
    /// No `conditions` array, or too many conditions.
    #[error("policy conditions are missing or too many")]
    BadConditions,
    /// A condition this emulator does not understand.
    #[error("unsupported policy condition {condition}")]
    UnsupportedCondition {
        /// The condition, as JSON.
        condition: String,
    },
}

/// One policy condition.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Condition {
    /// `["content-length-range", min, max]`: the file size in bytes.
    ContentLengthRange {
        /// Smallest allowed size.
        min: u64,
        /// Largest allowed size.
        max: u64,
    },
    /// `["starts-with", "$field", "prefix"]`.
    StartsWith {
        /// The form field (without `$`), lowercased.
        field: String,
        /// The required prefix.
        prefix: String,
    },
    /// `["eq", "$field", "value"]` or `{"field": "value"}`.
    Eq {
        /// The form field (without `$`), lowercased.
        field: String,
        /// The required value.
        value: String,
    },
}

/// A parsed policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostPolicy {
    /// When the policy stops being valid.
    pub expiration: OffsetDateTime,
    /// Its conditions.
    pub conditions: Vec<Condition>,
    /// The conditions as sent, for error messages.
    pub raw_conditions: Vec<String>,
}

/// Why a form does not satisfy a policy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyViolation {
    /// The policy has expired.
    #[error("Policy expired.")]
    Expired,
    /// A condition failed; carries the condition as JSON.
    #[error("Policy Condition failed: {0}")]
    ConditionFailed(String),
    /// The file is smaller than the content-length-range minimum.
    #[error("file of {size} bytes is smaller than the policy minimum {min}")]
    TooSmall {
        /// The file size.
        size: u64,
        /// The minimum.
        min: u64,
    },
    /// The file is larger than the content-length-range maximum.
    #[error("file of {size} bytes is larger than the policy maximum {max}")]
    TooLarge {
        /// The file size (or the size seen so far).
        size: u64,
        /// The maximum.
        max: u64,
    },
}

fn field_name(v: &Value) -> Option<String> {
    v.as_str()?
        .strip_prefix('$')
        .map(|s| s.to_ascii_lowercase())
}

/// Decodes and parses a base64 policy.
pub fn parse_policy(policy_b64: &str) -> Result<PostPolicy, PolicyError> {
    if policy_b64.len() > MAX_POLICY_BYTES {
        return Err(PolicyError::TooLong {
            max: MAX_POLICY_BYTES,
        });
    }
    let json = BASE64
        .decode(policy_b64.trim())
        .map_err(|_| PolicyError::NotBase64)?;
    let doc: Value = serde_json::from_slice(&json).map_err(|e| PolicyError::NotJson {
        reason: e.to_string(),
    })?;
    let obj = doc.as_object().ok_or(PolicyError::NotJson {
        reason: "not an object".into(),
    })?;
    let expiration = obj
        .get("expiration")
        .and_then(Value::as_str)
        .and_then(crate::timefmt::parse_utc)
        .ok_or(PolicyError::BadExpiration)?;
    let list = obj
        .get("conditions")
        .and_then(Value::as_array)
        .filter(|l| l.len() <= MAX_CONDITIONS)
        .ok_or(PolicyError::BadConditions)?;
    let mut conditions = Vec::new();
    let mut raw_conditions = Vec::new();
    for c in list {
        let unsupported = || PolicyError::UnsupportedCondition {
            condition: c.to_string().chars().take(200).collect(),
        };
        let parsed = match c {
            Value::Object(map) if map.len() == 1 => {
                let (k, v) = map.iter().next().ok_or_else(unsupported)?;
                Condition::Eq {
                    field: k.to_ascii_lowercase(),
                    value: v.as_str().ok_or_else(unsupported)?.to_string(),
                }
            }
            Value::Array(items) if items.len() == 3 => {
                let op = items[0]
                    .as_str()
                    .ok_or_else(unsupported)?
                    .to_ascii_lowercase();
                match op.as_str() {
                    "content-length-range" => {
                        let min = items[1].as_u64().ok_or_else(unsupported)?;
                        let max = items[2].as_u64().ok_or_else(unsupported)?;
                        if min > max {
                            return Err(unsupported());
                        }
                        Condition::ContentLengthRange { min, max }
                    }
                    "starts-with" => Condition::StartsWith {
                        field: field_name(&items[1]).ok_or_else(unsupported)?,
                        prefix: items[2].as_str().ok_or_else(unsupported)?.to_string(),
                    },
                    "eq" => Condition::Eq {
                        field: field_name(&items[1]).ok_or_else(unsupported)?,
                        value: items[2].as_str().ok_or_else(unsupported)?.to_string(),
                    },
                    _ => return Err(unsupported()),
                }
            }
            _ => return Err(unsupported()),
        };
        conditions.push(parsed);
        raw_conditions.push(c.to_string());
    }
    Ok(PostPolicy {
        expiration,
        conditions,
        raw_conditions,
    })
}

impl PostPolicy {
    /// Checks the expiration and every field condition against the form `fields`.
    /// `bucket` is the value of `$bucket`. The content-length range is checked
    /// separately with [`PostPolicy::check_size`], once the size is known.
    pub fn check_fields(
        &self,
        fields: &[FormField],
        bucket: &str,
        now: OffsetDateTime,
    ) -> Result<(), PolicyViolation> {
        if now > self.expiration {
            return Err(PolicyViolation::Expired);
        }
        for (c, raw) in self.conditions.iter().zip(&self.raw_conditions) {
            let value_of = |name: &str| -> Option<&str> {
                if name == "bucket" {
                    Some(bucket)
                } else {
                    field(fields, name)
                }
            };
            let ok = match c {
                Condition::ContentLengthRange { .. } => true,
                Condition::StartsWith { field, prefix } => {
                    value_of(field).is_some_and(|v| v.starts_with(prefix.as_str()))
                }
                Condition::Eq { field, value } => value_of(field) == Some(value.as_str()),
            };
            if !ok {
                return Err(PolicyViolation::ConditionFailed(raw.clone()));
            }
        }
        Ok(())
    }

    /// The tightest content-length range of the policy, if it has one.
    pub fn size_range(&self) -> Option<(u64, u64)> {
        self.conditions.iter().fold(None, |acc, c| match c {
            Condition::ContentLengthRange { min, max } => Some(match acc {
                None => (*min, *max),
                Some((a, b)) => ((*min).max(a), (*max).min(b)),
            }),
            _ => acc,
        })
    }

    /// Checks a file size against the content-length range.
    pub fn check_size(&self, size: u64) -> Result<(), PolicyViolation> {
        match self.size_range() {
            Some((min, _)) if size < min => Err(PolicyViolation::TooSmall { size, min }),
            Some((_, max)) if size > max => Err(PolicyViolation::TooLarge { size, max }),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, &str)]) -> Vec<FormField> {
        pairs
            .iter()
            .map(|(k, v)| FormField {
                name: k.to_string(),
                value: v.to_string(),
            })
            .collect()
    }

    #[test]
    fn parses_the_documented_policy() {
        // The policy of signature vector 6.
        let p = parse_policy("eyJleHBpcmF0aW9uIjoiMjAzMC0wMS0wMVQwMDowMDowMC4wMDBaIiwiY29uZGl0aW9ucyI6W1siY29udGVudC1sZW5ndGgtcmFuZ2UiLDAsMTA0ODU3NjAwMF0sWyJzdGFydHMtd2l0aCIsIiRrZXkiLCJvdGEvZmlybXdhcmUvIl1dfQ==").unwrap();
        assert_eq!(p.size_range(), Some((0, 1_048_576_000)));
        let now = crate::timefmt::parse_utc("2029-12-31T23:59:59Z").unwrap();
        p.check_fields(&fields(&[("Key", "ota/firmware/x.bin")]), "b", now)
            .unwrap();
        assert!(matches!(
            p.check_fields(&fields(&[("key", "other/x.bin")]), "b", now),
            Err(PolicyViolation::ConditionFailed(_))
        ));
        assert!(matches!(
            p.check_fields(&fields(&[]), "b", now),
            Err(PolicyViolation::ConditionFailed(_))
        ));
        let later = crate::timefmt::parse_utc("2030-01-01T00:00:01Z").unwrap();
        assert_eq!(
            p.check_fields(&fields(&[("key", "ota/firmware/x")]), "b", later),
            Err(PolicyViolation::Expired)
        );
        assert!(p.check_size(1_048_576_001).is_err());
        assert!(p.check_size(0).is_ok());
    }

    #[test]
    fn rejects_bad_policies() {
        let enc = |s: &str| BASE64.encode(s);
        assert_eq!(parse_policy("!!!"), Err(PolicyError::NotBase64));
        assert!(matches!(
            parse_policy(&enc("[1]")),
            Err(PolicyError::NotJson { .. })
        ));
        assert_eq!(
            parse_policy(&enc(r#"{"conditions":[]}"#)),
            Err(PolicyError::BadExpiration)
        );
        assert_eq!(
            parse_policy(&enc(r#"{"expiration":"2030-01-01T00:00:00Z"}"#)),
            Err(PolicyError::BadConditions)
        );
        assert!(matches!(
            parse_policy(&enc(
                r#"{"expiration":"2030-01-01T00:00:00Z","conditions":[["in","$key",["a"]]]}"#
            )),
            Err(PolicyError::UnsupportedCondition { .. })
        ));
        assert!(matches!(
            parse_policy(&enc(
                r#"{"expiration":"2030-01-01T00:00:00Z","conditions":[["content-length-range",5,1]]}"#
            )),
            Err(PolicyError::UnsupportedCondition { .. })
        ));
        let deep = "[".repeat(10_000);
        assert!(parse_policy(&enc(&deep)).is_err());
    }

    #[test]
    fn eq_conditions() {
        let p = parse_policy(&BASE64.encode(
            r#"{"expiration":"2030-01-01T00:00:00Z","conditions":[{"bucket":"bkt"},["eq","$success_action_status","200"]]}"#,
        ))
        .unwrap();
        let now = crate::timefmt::parse_utc("2029-01-01T00:00:00Z").unwrap();
        p.check_fields(&fields(&[("success_action_status", "200")]), "bkt", now)
            .unwrap();
        assert!(p
            .check_fields(&fields(&[("success_action_status", "200")]), "other", now)
            .is_err());
        assert!(p
            .check_fields(&fields(&[("success_action_status", "201")]), "bkt", now)
            .is_err());
    }
}
