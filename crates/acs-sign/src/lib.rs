//! Alibaba Cloud request signing, written from the published rules and checked against
//! vectors computed with the official SDKs.
//!
//! Three schemes are covered:
//!
//! - **RPC signature V2** (`SignatureVersion=1.0`, `HMAC-SHA1`), used by the old core SDK
//!   and by fwdelta's registration client: [`v2_canonical_query`], [`v2_string_to_sign`],
//!   [`v2_signature`].
//! - **ACS3-HMAC-SHA256** (the "V3" signature of the Tea SDK): [`v3_canonical_request`],
//!   [`v3_string_to_sign`], [`v3_signature`], [`v3_authorization`].
//! - **OSS PostObject policy signatures**: [`oss_post_signature`].
//!
//! Everything here is a pure function of its arguments: no clock, no randomness, no I/O.
//! The caller supplies the timestamp and the nonce, which keeps the functions testable
//! against fixed vectors.
//!
//! # Example
//!
//! ```
//! use fwdelta_acs_sign::{v2_signature, v2_string_to_sign};
//!
//! let params: Vec<(String, String)> = [
//!     ("Action", "DescribeRegions"),
//!     ("Format", "XML"),
//!     ("Version", "2014-05-26"),
//!     ("AccessKeyId", "testid"),
//!     ("SignatureMethod", "HMAC-SHA1"),
//!     ("TimeStamp", "2016-02-23T12:46:24Z"),
//!     ("SignatureVersion", "1.0"),
//!     ("SignatureNonce", "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf"),
//! ]
//! .iter()
//! .map(|(k, v)| (k.to_string(), v.to_string()))
//! .collect();
//! let sts = v2_string_to_sign("GET", &params);
//! assert_eq!(v2_signature("testsecret", &sts), "CT9X0VtwR86fNWSnsc6v8YGOjuE=");
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha1::Sha1;
use sha2::{Digest, Sha256};

/// Every byte except the RFC 3986 unreserved characters `A-Z a-z 0-9 - _ . ~`.
const RFC3986: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// The `x-acs-content-sha256` value of an empty body: `hex(SHA-256(""))`.
pub const EMPTY_PAYLOAD_SHA256: &str =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// The algorithm name that starts a V3 string to sign and its `Authorization` header.
pub const V3_ALGORITHM: &str = "ACS3-HMAC-SHA256";

/// Percent-encodes `s` as the Alibaba Cloud SDKs do (RFC 3986 over UTF-8).
///
/// The unreserved characters `A-Z a-z 0-9 - _ . ~` are kept; every other byte of the
/// UTF-8 encoding becomes `%XY` with uppercase hex. A space is `%20` (never `+`), `*` is
/// `%2A`, and `~` is never escaped.
///
/// ```
/// assert_eq!(fwdelta_acs_sign::percent_encode("a b*c~/é"), "a%20b%2Ac~%2F%C3%A9");
/// ```
pub fn percent_encode(s: &str) -> String {
    utf8_percent_encode(s, RFC3986).to_string()
}

/// Builds the V2 canonicalized query string: each name and value percent-encoded with
/// [`percent_encode`], joined as `name=value` pairs separated by `&`, sorted by name in
/// byte order (pairs with the same name are further ordered by value, so the result is
/// deterministic).
///
/// Empty values are kept as `name=` (the core SDK's `SignatureType=` is signed this way).
/// The caller must leave `Signature` out of `params`.
pub fn v2_canonical_query(params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort_by(|a, b| {
        a.0.as_bytes()
            .cmp(b.0.as_bytes())
            .then_with(|| a.1.as_bytes().cmp(b.1.as_bytes()))
    });
    let mut out = String::new();
    for (i, (k, v)) in sorted.into_iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(&percent_encode(k));
        out.push('=');
        out.push_str(&percent_encode(v));
    }
    out
}

/// Builds the V2 string to sign: `METHOD&%2F&` followed by the percent-encoded
/// [`v2_canonical_query`] of `params`.
///
/// `method` is the real HTTP method (`POST` for the SDKs' IoT calls); `params` are all
/// request parameters except `Signature`, in any order.
pub fn v2_string_to_sign(method: &str, params: &[(String, String)]) -> String {
    format!(
        "{}&{}&{}",
        method,
        percent_encode("/"),
        percent_encode(&v2_canonical_query(params))
    )
}

/// Computes the V2 signature: `Base64(HMAC-SHA1(key = secret + "&", string_to_sign))`.
///
/// The result is the raw base64 text; percent-encode it before putting it in a query.
pub fn v2_signature(secret: &str, string_to_sign: &str) -> String {
    let mut key = String::with_capacity(secret.len() + 1);
    key.push_str(secret);
    key.push('&');
    hmac_sha1_base64(key.as_bytes(), string_to_sign.as_bytes())
}

/// Builds the V3 (ACS3-HMAC-SHA256) canonical request, six parts joined by `\n`:
///
/// 1. `method`;
/// 2. `path` (`/` when empty);
/// 3. the canonical query: `query` sorted by name (then value) in byte order, names and
///    values percent-encoded with [`percent_encode`], joined as `name=value` with `&`;
/// 4. the canonical headers: for each signed header, `name:value\n` with the name in
///    lowercase and the value trimmed; header names in `headers` are matched
///    case-insensitively, and several values for one name are sorted and joined with `,`
///    (as the Tea SDK does);
/// 5. the signed header names, lowercase, sorted, deduplicated, joined by `;`;
/// 6. `hashed_payload` (hex SHA-256 of the body, see [`sha256_hex`]).
///
/// Because every canonical header line ends in `\n`, the request contains an empty line
/// between the headers and the signed header list, as the specification prescribes.
pub fn v3_canonical_request(
    method: &str,
    path: &str,
    query: &[(String, String)],
    headers: &[(String, String)],
    signed_headers: &[String],
    hashed_payload: &str,
) -> String {
    let path = if path.is_empty() { "/" } else { path };
    let canonical_query = v2_canonical_query(query);
    let names = normalized_signed_headers(signed_headers);
    let mut canonical_headers = String::new();
    for name in &names {
        let mut values: Vec<&str> = headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
            .collect();
        values.sort_unstable();
        canonical_headers.push_str(name);
        canonical_headers.push(':');
        canonical_headers.push_str(&values.join(","));
        canonical_headers.push('\n');
    }
    format!(
        "{method}\n{path}\n{canonical_query}\n{canonical_headers}\n{}\n{hashed_payload}",
        names.join(";")
    )
}

/// Builds the V3 string to sign: `ACS3-HMAC-SHA256\n` + hex SHA-256 of the canonical request.
pub fn v3_string_to_sign(canonical_request: &str) -> String {
    format!(
        "{V3_ALGORITHM}\n{}",
        sha256_hex(canonical_request.as_bytes())
    )
}

/// Computes the V3 signature: lowercase hex of `HMAC-SHA256(key = secret, string_to_sign)`.
/// Unlike V2, the key has no trailing `&`.
pub fn v3_signature(secret: &str, string_to_sign: &str) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(string_to_sign.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Builds the V3 `Authorization` header value:
/// `ACS3-HMAC-SHA256 Credential=<id>,SignedHeaders=<a;b;c>,Signature=<hex>`.
///
/// The signed header names are normalised exactly as in [`v3_canonical_request`]
/// (lowercase, sorted, deduplicated), so the two always agree.
pub fn v3_authorization(access_key_id: &str, signed_headers: &[String], signature: &str) -> String {
    format!(
        "{V3_ALGORITHM} Credential={access_key_id},SignedHeaders={},Signature={signature}",
        normalized_signed_headers(signed_headers).join(";")
    )
}

/// Computes an OSS PostObject signature: `Base64(HMAC-SHA1(key = secret, policy_b64))`,
/// where `policy_b64` is the base64 policy text exactly as sent in the form.
pub fn oss_post_signature(secret: &str, policy_b64: &str) -> String {
    hmac_sha1_base64(secret.as_bytes(), policy_b64.as_bytes())
}

/// Lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn hmac_sha1_base64(key: &[u8], message: &[u8]) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(message);
    BASE64.encode(mac.finalize().into_bytes())
}

fn normalized_signed_headers(signed_headers: &[String]) -> Vec<String> {
    let mut names: Vec<String> = signed_headers
        .iter()
        .map(|h| h.trim().to_ascii_lowercase())
        .filter(|h| !h.is_empty())
        .collect();
    names.sort();
    names.dedup();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_reserved_and_multibyte() {
        assert_eq!(percent_encode("AZaz09-_.~"), "AZaz09-_.~");
        assert_eq!(percent_encode(" "), "%20");
        assert_eq!(percent_encode("*"), "%2A");
        assert_eq!(percent_encode("+/=:&%"), "%2B%2F%3D%3A%26%25");
        assert_eq!(percent_encode("固件"), "%E5%9B%BA%E4%BB%B6");
    }

    #[test]
    fn canonical_query_sorts_by_byte_order_and_keeps_empty_values() {
        let p = |k: &str, v: &str| (k.to_string(), v.to_string());
        let q = v2_canonical_query(&[p("b", "2"), p("B", ""), p("a", "x y"), p("a", "1")]);
        assert_eq!(q, "B=&a=1&a=x%20y&b=2");
    }

    #[test]
    fn sha256_of_empty_is_the_known_constant() {
        assert_eq!(sha256_hex(b""), EMPTY_PAYLOAD_SHA256);
    }
}
