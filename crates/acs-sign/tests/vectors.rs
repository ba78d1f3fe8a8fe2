//! The signature vectors computed with the official SDKs (see `tests/data`).
//!
//! `signature-vectors.txt` is a copy of the project's reference vectors;
//! `sdk-vectors.txt` was produced by `tests/data/gen_sdk_vectors.py` (the official Python
//! SDKs' own signing code, with the timestamp and nonce pinned).

use fwdelta_acs_sign::*;
use percent_encoding::percent_decode_str;

const REFERENCE: &str = include_str!("data/signature-vectors.txt");
const SDK: &str = include_str!("data/sdk-vectors.txt");

/// The value of the first line of `section` that starts with `label` (text after the first `:`).
fn field<'a>(text: &'a str, section: &str, label: &str) -> &'a str {
    let start = text
        .find(section)
        .unwrap_or_else(|| panic!("missing {section}"));
    let body = &text[start..];
    let body = match body[3..].find("\n== ") {
        Some(end) => &body[..end + 3],
        None => body,
    };
    let line = body
        .lines()
        .find(|l| l.starts_with(label))
        .unwrap_or_else(|| panic!("missing {label} in {section}"));
    line.split_once(':').unwrap().1.trim()
}

/// The line after `label` in `section` (for values printed on their own line).
fn line_after<'a>(text: &'a str, section: &str, label: &str) -> &'a str {
    let start = text.find(section).unwrap();
    let mut lines = text[start..].lines();
    lines.find(|l| l.starts_with(label)).unwrap();
    lines.next().unwrap().trim()
}

fn decode(s: &str) -> String {
    percent_decode_str(s).decode_utf8().unwrap().into_owned()
}

/// Splits a wire query into decoded (name, value) pairs, in wire order.
fn parse_query(path_and_query: &str) -> Vec<(String, String)> {
    let query = path_and_query.strip_prefix("/?").unwrap();
    query
        .split('&')
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap();
            (decode(k), decode(v))
        })
        .collect()
}

/// Splits a V2 string to sign back into its method and decoded parameters.
fn params_from_string_to_sign(sts: &str) -> (String, Vec<(String, String)>) {
    let mut parts = sts.splitn(3, '&');
    let method = parts.next().unwrap().to_string();
    assert_eq!(parts.next().unwrap(), "%2F");
    let canonical = decode(parts.next().unwrap());
    let params = canonical
        .split('&')
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap();
            (decode(k), decode(v))
        })
        .collect();
    (method, params)
}

#[test]
fn vector1_documented_describe_regions() {
    let sec = "== Vector 1";
    let sts = field(REFERENCE, sec, "StringToSign");
    assert_eq!(
        v2_signature("testsecret", sts),
        field(REFERENCE, sec, "Signature")
    );
    assert_eq!(
        v2_signature("testsecret", sts),
        "CT9X0VtwR86fNWSnsc6v8YGOjuE="
    );
    // Rebuilding the string to sign from its parameters gives the same text.
    let (method, params) = params_from_string_to_sign(sts);
    assert_eq!(v2_string_to_sign(&method, &params), sts);
}

#[test]
fn vector1_wrong_secret_or_method_changes_the_signature() {
    let sts = field(REFERENCE, "== Vector 1", "StringToSign");
    assert_ne!(
        v2_signature("testsecreT", sts),
        "CT9X0VtwR86fNWSnsc6v8YGOjuE="
    );
    let (_, params) = params_from_string_to_sign(sts);
    let post = v2_string_to_sign("POST", &params);
    assert_ne!(
        v2_signature("testsecret", &post),
        "CT9X0VtwR86fNWSnsc6v8YGOjuE="
    );
}

fn check_v2_wire_vector(text: &str, sec: &str) {
    let sts = field(text, sec, "StringToSign");
    let wire = if text.contains("Signed path+query (exactly") {
        line_after(text, sec, "Signed path+query")
    } else {
        field(text, sec, "Signed path+query")
    };
    let method = field(text, sec, "HTTP method");
    assert_eq!(method, "POST");
    let mut params = parse_query(wire);
    let (name, sig) = params.pop().unwrap();
    assert_eq!(name, "Signature", "Signature comes last on the wire");
    // The string to sign is rebuilt from the wire parameters alone.
    assert_eq!(v2_string_to_sign(method, &params), sts);
    assert_eq!(v2_signature("testsecret", sts), sig);
    // Re-encoding the wire pairs in wire order reproduces the wire text byte for byte.
    let mut rebuilt = String::from("/?");
    for (i, (k, v)) in params
        .iter()
        .chain(std::iter::once(&(name, sig)))
        .enumerate()
    {
        if i > 0 {
            rebuilt.push('&');
        }
        rebuilt.push_str(&percent_encode(k));
        rebuilt.push('=');
        rebuilt.push_str(&percent_encode(v));
    }
    assert_eq!(rebuilt, wire);
}

#[test]
fn vector3_create_ota_firmware_type1() {
    check_v2_wire_vector(REFERENCE, "== Vector 3:");
    assert_eq!(
        field(REFERENCE, "== Vector 3:", "Signature (url-encoded)"),
        percent_encode("KIpYpV+kBfUNqZ5yimXbKzMBPzQ=")
    );
}

#[test]
fn vector3b_chinese_name_and_desc() {
    check_v2_wire_vector(SDK, "== Vector 3b");
    let wire = field(SDK, "== Vector 3b", "Signed path+query");
    let params = parse_query(wire);
    assert!(params
        .iter()
        .any(|(k, v)| k == "FirmwareName" && v == "差分固件(测试)"));
    assert!(wire.ends_with("Signature=MY9rdTQja3hwJQMCsq%2B%2F%2FFsMjeE%3D"));
}

#[test]
fn vector4_new_sdk_agrees() {
    let sts = field(REFERENCE, "== Vector 3:", "StringToSign");
    assert_eq!(
        v2_signature("testsecret", sts),
        field(REFERENCE, "== Vector 4", "Signature")
    );
}

fn check_v3_vector(sec: &str) {
    let query: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(field(SDK, sec, "Query")).unwrap();
    let headers: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(field(SDK, sec, "Headers")).unwrap();
    let to_pairs = |m: &serde_json::Map<String, serde_json::Value>| -> Vec<(String, String)> {
        m.iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
            .collect()
    };
    // Present the headers in a scrambled order and mixed case: the result must not care.
    let mut header_pairs = to_pairs(&headers);
    header_pairs.reverse();
    for (k, _) in header_pairs.iter_mut().step_by(2) {
        *k = k.to_ascii_uppercase();
    }
    let signed: Vec<String> = headers.keys().rev().cloned().collect();
    let payload = field(SDK, sec, "Payload hash");
    let creq = v3_canonical_request(
        field(SDK, sec, "HTTP method"),
        field(SDK, sec, "Path"),
        &to_pairs(&query),
        &header_pairs,
        &signed,
        payload,
    );
    let sig = v3_signature("testsecret", &v3_string_to_sign(&creq));
    assert_eq!(
        format!(
            "Authorization: {}",
            v3_authorization("testid", &signed, &sig)
        ),
        format!("Authorization: {}", field(SDK, sec, "Authorization"))
    );
}

#[test]
fn vector5_acs3_hmac_sha256() {
    check_v3_vector("== Vector 5:");
}

#[test]
fn vector5b_acs3_with_chinese_and_body() {
    check_v3_vector("== Vector 5b");
    assert_eq!(
        sha256_hex(b"CurrentPage=1&PageSize=10"),
        field(SDK, "== Vector 5b", "Payload hash")
    );
}

#[test]
fn vector6_oss_post_policy() {
    let policy = field(REFERENCE, "== Vector 6", "policy (base64)");
    assert_eq!(
        oss_post_signature("testsecret", policy),
        field(REFERENCE, "== Vector 6", "Signature")
    );
    assert_eq!(
        oss_post_signature("testsecret", policy),
        "9HfYJAeSbRP254WrxXWM/cQpU/E="
    );
}

#[test]
fn v3_canonical_request_layout() {
    let creq = v3_canonical_request(
        "POST",
        "",
        &[("b".into(), "x y".into()), ("a".into(), "".into())],
        &[
            ("Host".into(), " h.example ".into()),
            ("x-acs-b".into(), "2".into()),
            ("X-ACS-B".into(), "1".into()),
        ],
        &["x-acs-b".into(), "HOST".into()],
        EMPTY_PAYLOAD_SHA256,
    );
    assert_eq!(
        creq,
        format!("POST\n/\na=&b=x%20y\nhost:h.example\nx-acs-b:1,2\n\nhost;x-acs-b\n{EMPTY_PAYLOAD_SHA256}")
    );
    assert!(v3_string_to_sign(&creq).starts_with("ACS3-HMAC-SHA256\n"));
    assert_eq!(
        v3_string_to_sign(&creq).len(),
        "ACS3-HMAC-SHA256\n".len() + 64
    );
}

mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn percent_encode_round_trips_and_uses_only_safe_bytes(s in any::<String>()) {
            let e = percent_encode(&s);
            prop_assert!(e.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.~%".contains(&b)));
            // Every escape is %XY with uppercase hex.
            let bytes = e.as_bytes();
            for (i, b) in bytes.iter().enumerate() {
                if *b == b'%' {
                    prop_assert!(i + 2 < bytes.len());
                    let hex = &bytes[i + 1..i + 3];
                    prop_assert!(hex.iter().all(|h| h.is_ascii_digit() || (b'A'..=b'F').contains(h)));
                }
            }
            prop_assert_eq!(decode(&e), s);
        }

        #[test]
        fn string_to_sign_ignores_parameter_order(
            mut params in proptest::collection::vec(("[A-Za-z.]{1,8}", any::<String>()), 0..8)
        ) {
            let a = v2_string_to_sign("POST", &params);
            params.reverse();
            prop_assert_eq!(v2_string_to_sign("POST", &params), a);
        }
    }
}
