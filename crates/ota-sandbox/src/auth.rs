//! Request authentication: the V2 RPC signature (`SignatureVersion=1.0`, HMAC-SHA1,
//! parameters in the query or the form body) and the V3 `ACS3-HMAC-SHA256`
//! Authorization header; the timestamp window; nonce reuse; unknown keys.
//!
//! The checks run in this order: HTTP method, required common parameters, Version,
//! Action, AccessKeyId, signature method, timestamp format and window, signature,
//! nonce. The nonce is recorded only once the signature is valid, so a forged request
//! cannot burn a client's nonce.

use std::time::Duration;

use fwdelta_acs_sign as sign;
use time::OffsetDateTime;

use crate::api::{ApiError, SUPPORTED_ACTIONS};
use crate::codes::ErrorCode;
use crate::config::AccessKey;
use crate::request::ParsedRequest;
use crate::store::Store;
use crate::timefmt;

/// The API version the sandbox emulates.
pub const API_VERSION: &str = "2018-01-20";

/// Who made an authenticated request, and what it asks for.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The key that signed it.
    pub key: AccessKey,
    /// The Action.
    pub action: String,
    /// Which signature scheme was used.
    pub scheme: Scheme,
}

/// A signature scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// RPC signature V2 (`SignatureVersion=1.0`).
    V2,
    /// ACS3-HMAC-SHA256.
    V3,
}

/// Compares two strings in time independent of where they differ.
fn constant_time_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The Action a request names (query or form `Action`, or the `x-acs-action` header),
/// if any; used for statistics and for error bodies before authentication.
pub fn requested_action(req: &ParsedRequest) -> Option<String> {
    req.header("x-acs-action")
        .or_else(|| req.param("Action"))
        .map(str::to_string)
}

fn missing(name: &str) -> ApiError {
    ApiError::new(ErrorCode::MissingParameter, name)
}

fn check_action_version(action: &str, version: &str) -> Result<(), ApiError> {
    if version != API_VERSION {
        return Err(ApiError::new(ErrorCode::InvalidVersion, ""));
    }
    if !SUPPORTED_ACTIONS.contains(&action) {
        return Err(ApiError::new(ErrorCode::InvalidActionNotFound, ""));
    }
    Ok(())
}

fn find_key<'a>(keys: &'a [AccessKey], id: &str) -> Result<&'a AccessKey, ApiError> {
    keys.iter()
        .find(|k| k.id == id)
        .ok_or_else(|| ApiError::new(ErrorCode::InvalidAccessKeyIdNotFound, ""))
}

fn check_timestamp(value: &str, window: Duration, now: OffsetDateTime) -> Result<(), ApiError> {
    let ts = timefmt::parse_utc(value)
        .ok_or_else(|| ApiError::new(ErrorCode::InvalidTimeStampFormat, ""))?;
    let skew = (now - ts).abs();
    let window = time::Duration::try_from(window).unwrap_or(time::Duration::MAX);
    if skew > window {
        return Err(ApiError::new(ErrorCode::InvalidTimeStampExpired, ""));
    }
    Ok(())
}

fn check_nonce(
    store: &Store,
    key_id: &str,
    nonce: &str,
    window: Duration,
    now: OffsetDateTime,
) -> Result<(), ApiError> {
    if nonce.is_empty() || nonce.len() > 256 {
        return Err(ApiError::new(ErrorCode::InvalidParameter, "SignatureNonce"));
    }
    let now_ms = timefmt::unix_millis(now);
    // A nonce is remembered for twice the window: a request is accepted only while
    // its timestamp is within the window, so a replay later than that is refused by
    // the timestamp check anyway.
    let keep_ms = i64::try_from(window.as_millis())
        .unwrap_or(i64::MAX / 4)
        .saturating_mul(2);
    let fresh = store
        .use_nonce(key_id, nonce, now_ms.saturating_add(keep_ms), now_ms)
        .map_err(|e| ApiError::internal(&e.to_string()))?;
    if fresh {
        Ok(())
    } else {
        Err(ApiError::new(ErrorCode::SignatureNonceUsed, ""))
    }
}

/// Authenticates an RPC request; see the module documentation for the order of checks.
pub fn authenticate(
    keys: &[AccessKey],
    window: Duration,
    store: &Store,
    req: &ParsedRequest,
    body: &[u8],
    now: OffsetDateTime,
) -> Result<Caller, ApiError> {
    if req.method != "GET" && req.method != "POST" {
        return Err(ApiError::new(ErrorCode::UnsupportedHttpMethod, ""));
    }
    let authorization = req.header("authorization").unwrap_or("");
    if authorization
        .get(..sign::V3_ALGORITHM.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(sign::V3_ALGORITHM))
    {
        authenticate_v3(keys, window, store, req, body, now, authorization)
    } else {
        authenticate_v2(keys, window, store, req, now)
    }
}

fn authenticate_v2(
    keys: &[AccessKey],
    window: Duration,
    store: &Store,
    req: &ParsedRequest,
    now: OffsetDateTime,
) -> Result<Caller, ApiError> {
    let get = |name: &str| req.param(name);
    let action = get("Action").ok_or_else(|| missing("Action"))?;
    let version = get("Version").ok_or_else(|| missing("Version"))?;
    check_action_version(action, version)?;
    let key_id = get("AccessKeyId").ok_or_else(|| missing("AccessKeyId"))?;
    let signature = get("Signature").ok_or_else(|| missing("Signature"))?;
    let method = get("SignatureMethod").ok_or_else(|| missing("SignatureMethod"))?;
    let sig_version = get("SignatureVersion").ok_or_else(|| missing("SignatureVersion"))?;
    let nonce = get("SignatureNonce").ok_or_else(|| missing("SignatureNonce"))?;
    let timestamp = get("Timestamp").ok_or_else(|| missing("Timestamp"))?;
    let key = find_key(keys, key_id)?;
    if method != "HMAC-SHA1" {
        return Err(ApiError::new(
            ErrorCode::UnsupportedSignature,
            "SignatureMethod",
        ));
    }
    if sig_version != "1.0" {
        return Err(ApiError::new(
            ErrorCode::UnsupportedSignature,
            "SignatureVersion",
        ));
    }
    check_timestamp(timestamp, window, now)?;
    let params: Vec<(String, String)> = req
        .all_params()
        .filter(|(k, _)| k != "Signature")
        .cloned()
        .collect();
    let string_to_sign = sign::v2_string_to_sign(&req.method, &params);
    let expected = sign::v2_signature(&key.secret, &string_to_sign);
    if !constant_time_eq(&expected, signature) {
        return Err(ApiError::new(
            ErrorCode::SignatureDoesNotMatch,
            &string_to_sign,
        ));
    }
    check_nonce(store, &key.id, nonce, window, now)?;
    Ok(Caller {
        key: key.clone(),
        action: action.to_string(),
        scheme: Scheme::V2,
    })
}

/// The parts of an `Authorization: ACS3-HMAC-SHA256 ...` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V3Authorization {
    /// The AccessKeyId.
    pub credential: String,
    /// The signed header names, lowercased.
    pub signed_headers: Vec<String>,
    /// The hex signature.
    pub signature: String,
}

/// Parses `ACS3-HMAC-SHA256 Credential=ID,SignedHeaders=a;b,Signature=hex`.
pub fn parse_v3_authorization(value: &str) -> Option<V3Authorization> {
    let rest = value.get(sign::V3_ALGORITHM.len()..)?;
    if !rest.starts_with(' ') {
        return None;
    }
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for part in rest.trim().split(',') {
        let (k, v) = part.trim().split_once('=')?;
        let v = v.trim();
        match k.trim() {
            "Credential" => credential = Some(v.to_string()),
            "SignedHeaders" => {
                signed = Some(
                    v.split(';')
                        .map(|h| h.trim().to_ascii_lowercase())
                        .filter(|h| !h.is_empty())
                        .collect::<Vec<_>>(),
                )
            }
            "Signature" => signature = Some(v.to_string()),
            _ => return None,
        }
    }
    let out = V3Authorization {
        credential: credential.filter(|c| !c.is_empty())?,
        signed_headers: signed.filter(|s| !s.is_empty())?,
        signature: signature.filter(|s| !s.is_empty())?,
    };
    Some(out)
}

fn authenticate_v3(
    keys: &[AccessKey],
    window: Duration,
    store: &Store,
    req: &ParsedRequest,
    body: &[u8],
    now: OffsetDateTime,
    authorization: &str,
) -> Result<Caller, ApiError> {
    let action = req
        .header("x-acs-action")
        .ok_or_else(|| missing("x-acs-action"))?;
    let version = req
        .header("x-acs-version")
        .ok_or_else(|| missing("x-acs-version"))?;
    check_action_version(action, version)?;
    let auth = parse_v3_authorization(authorization).ok_or_else(|| {
        ApiError::new(
            ErrorCode::IncompleteSignature,
            "The Authorization header must be ACS3-HMAC-SHA256 Credential=...,SignedHeaders=...,Signature=....",
        )
    })?;
    let date = req
        .header("x-acs-date")
        .ok_or_else(|| missing("x-acs-date"))?;
    let nonce = req
        .header("x-acs-signature-nonce")
        .ok_or_else(|| missing("x-acs-signature-nonce"))?;
    let content_sha = req
        .header("x-acs-content-sha256")
        .ok_or_else(|| missing("x-acs-content-sha256"))?;
    let key = find_key(keys, &auth.credential)?;
    // Sandbox rule: host and every x-acs-* header sent must be signed, so that the
    // date, nonce, action and payload hash cannot be altered.
    for (name, _) in &req.headers {
        if (name == "host" || name.starts_with("x-acs-"))
            && !auth.signed_headers.iter().any(|s| s == name)
        {
            return Err(ApiError::new(
                ErrorCode::IncompleteSignature,
                &format!("The header {name} must be signed."),
            ));
        }
    }
    check_timestamp(date, window, now)?;
    let body_sha = sign::sha256_hex(body);
    if !content_sha.eq_ignore_ascii_case(&body_sha) {
        return Err(ApiError::new(
            ErrorCode::IncompleteSignature,
            "The x-acs-content-sha256 header does not match the request body.",
        ));
    }
    let canonical = sign::v3_canonical_request(
        &req.method,
        &req.path,
        &req.query,
        &req.headers,
        &auth.signed_headers,
        content_sha,
    );
    let string_to_sign = sign::v3_string_to_sign(&canonical);
    let expected = sign::v3_signature(&key.secret, &string_to_sign);
    if !constant_time_eq(&expected, &auth.signature.to_ascii_lowercase()) {
        return Err(ApiError::new(
            ErrorCode::SignatureDoesNotMatch,
            &string_to_sign,
        ));
    }
    check_nonce(store, &key.id, nonce, window, now)?;
    Ok(Caller {
        key: key.clone(),
        action: action.to_string(),
        scheme: Scheme::V3,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_authorization() {
        let a = parse_v3_authorization(
            "ACS3-HMAC-SHA256 Credential=testid,SignedHeaders=host;X-Acs-Date,Signature=abc",
        )
        .unwrap();
        assert_eq!(a.credential, "testid");
        assert_eq!(a.signed_headers, vec!["host", "x-acs-date"]);
        assert_eq!(a.signature, "abc");
        for bad in [
            "ACS3-HMAC-SHA256",
            "ACS3-HMAC-SHA256 Credential=a,Signature=b",
            "ACS3-HMAC-SHA256 Credential=a,SignedHeaders=h,Signature=",
            "ACS3-HMAC-SHA256 Credential=a,SignedHeaders=h,Signature=b,Extra=c",
            "ACS3-HMAC-SHA256Credential=a,SignedHeaders=h,Signature=b",
        ] {
            assert!(parse_v3_authorization(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn constant_time() {
        assert!(constant_time_eq("abc", "abc"));
        assert!(!constant_time_eq("abc", "abd"));
        assert!(!constant_time_eq("abc", "ab"));
    }
}
