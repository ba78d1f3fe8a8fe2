//! The signature vectors of `tests/data/signature-vectors.txt` (computed with the
//! official SDKs' own signing code) and a V3 request captured from the Tea SDK
//! (`tests/data/v3-tea-create.http`), checked against the sandbox's verifier.

use std::time::Duration;

use fwdelta_ota_sandbox::api::ApiError;
use fwdelta_ota_sandbox::auth::{authenticate, Caller, Scheme};
use fwdelta_ota_sandbox::codes::ErrorCode;
use fwdelta_ota_sandbox::store::Store;
use fwdelta_ota_sandbox::{http, parse_request, policy, timefmt, AccessKey};

const VECTORS: &str = include_str!("data/signature-vectors.txt");

/// The value after `label` on the first line of section `section` that has it.
fn field(section: &str, label: &str) -> String {
    let start = VECTORS.find(section).expect("section");
    VECTORS[start..]
        .lines()
        .find_map(|l| l.strip_prefix(label))
        .map(|v| v.trim_start_matches([' ', ':']).trim().to_string())
        .unwrap_or_else(|| panic!("{label} in {section}"))
}

fn verify(
    method: &str,
    target: &str,
    headers: &[(String, String)],
    body: &[u8],
    now: &str,
) -> Result<Caller, ApiError> {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let req = parse_request(method, target, headers, body).expect("parses");
    authenticate(
        &[AccessKey::test_key()],
        Duration::from_secs(900),
        &store,
        &req,
        body,
        timefmt::parse_utc(now).unwrap(),
    )
}

#[test]
fn vector_1_string_to_sign_from_the_wire() {
    let sts = field("== Vector 1", "StringToSign");
    let sig = field("== Vector 1", "Signature");
    let target = "/?AccessKeyId=testid&Action=DescribeRegions&Format=XML&SignatureMethod=HMAC-SHA1\
        &SignatureNonce=3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf&SignatureVersion=1.0\
        &TimeStamp=2016-02-23T12%3A46%3A24Z&Version=2014-05-26&Signature=CT9X0VtwR86fNWSnsc6v8YGOjuE%3D";
    let req = parse_request("GET", target, &[], b"").unwrap();
    let params: Vec<(String, String)> = req
        .all_params()
        .filter(|(k, _)| k != "Signature")
        .cloned()
        .collect();
    assert_eq!(fwdelta_acs_sign::v2_string_to_sign("GET", &params), sts);
    assert_eq!(fwdelta_acs_sign::v2_signature("testsecret", &sts), sig);
    assert_eq!(req.param("Signature"), Some(sig.as_str()));
    // The sandbox only serves Iot 2018-01-20: this DescribeRegions call is refused
    // before its signature is looked at.
    let err = verify("GET", target, &[], b"", "2016-02-23T12:46:24Z").unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidVersion);
}

#[test]
fn vector_3_the_sdk_request_verifies() {
    let target = field("== Vector 3", "/?");
    let target = format!("/?{target}");
    let caller = verify("POST", &target, &[], b"", "2024-01-02T03:04:05Z").expect("verifies");
    assert_eq!(caller.action, "CreateOTAFirmware");
    assert_eq!(caller.scheme, Scheme::V2);
    // Vector 4: the Tea SDK computes the same signature.
    assert!(target.ends_with(&format!(
        "Signature={}",
        fwdelta_acs_sign::percent_encode(&field("== Vector 4", "Signature"))
    )));
}

#[test]
fn vector_3_a_changed_byte_fails_with_the_servers_string_to_sign() {
    let target = format!("/?{}", field("== Vector 3", "/?"));
    let sts = field("== Vector 3", "StringToSign");
    // A different signature: the detail is exactly the vector's string to sign.
    let forged = target.replace("Signature=KIpYpV", "Signature=AIpYpV");
    let err = verify("POST", &forged, &[], b"", "2024-01-02T03:04:05Z").unwrap_err();
    assert_eq!(err.code, ErrorCode::SignatureDoesNotMatch);
    assert_eq!(err.detail, sts);
    // A changed parameter.
    let changed = target.replace("FirmwareSize=1234", "FirmwareSize=1235");
    let err = verify("POST", &changed, &[], b"", "2024-01-02T03:04:05Z").unwrap_err();
    assert_eq!(err.code, ErrorCode::SignatureDoesNotMatch);
    // The method is signed too.
    let err = verify("GET", &target, &[], b"", "2024-01-02T03:04:05Z").unwrap_err();
    assert_eq!(err.code, ErrorCode::SignatureDoesNotMatch);
    assert!(err.detail.starts_with("GET&%2F&"));
    // Outside the window.
    let err = verify("POST", &target, &[], b"", "2024-01-02T03:20:00Z").unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidTimeStampExpired);
}

#[test]
fn vector_3b_chinese_values_verify() {
    // The same call with Chinese name and description, signed here as the SDK does
    // (UTF-8 before percent-encoding), must verify.
    let mut params: Vec<(String, String)> = [
        ("Action", "CreateOTAFirmware"),
        ("Version", "2018-01-20"),
        ("Format", "JSON"),
        ("AccessKeyId", "testid"),
        ("SignatureMethod", "HMAC-SHA1"),
        ("SignatureVersion", "1.0"),
        ("SignatureNonce", "c0ffee00-0000-4000-8000-000000000002"),
        ("SignatureType", ""),
        ("Timestamp", "2024-01-02T03:04:05Z"),
        ("FirmwareName", "固件差分(测试)"),
        ("FirmwareDesc", "从 1.0.0 到 1.1.0 的差分包"),
        ("DestVersion", "1.1.0"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let sts = fwdelta_acs_sign::v2_string_to_sign("POST", &params);
    params.push((
        "Signature".into(),
        fwdelta_acs_sign::v2_signature("testsecret", &sts),
    ));
    let target = format!(
        "/?{}",
        params
            .iter()
            .map(|(k, v)| format!(
                "{}={}",
                fwdelta_acs_sign::percent_encode(k),
                fwdelta_acs_sign::percent_encode(v)
            ))
            .collect::<Vec<_>>()
            .join("&")
    );
    verify("POST", &target, &[], b"", "2024-01-02T03:04:05Z").expect("verifies");
}

#[test]
fn vector_6_oss_policy() {
    let policy_b64 = field("== Vector 6", "policy (base64)");
    let sig = field("== Vector 6", "Signature");
    assert_eq!(
        fwdelta_acs_sign::oss_post_signature("testsecret", &policy_b64),
        sig
    );
    let p = policy::parse_policy(&policy_b64).unwrap();
    assert_eq!(p.size_range(), Some((0, 1_048_576_000)));
    assert_eq!(
        timefmt::format_millis(p.expiration),
        "2030-01-01T00:00:00.000Z"
    );
}

#[test]
fn v3_request_captured_from_the_tea_sdk_verifies() {
    let raw = include_bytes!("data/v3-tea-create.http");
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let head = http::parse_request_head(&raw[..split]).unwrap();
    let body = &raw[split..];
    let date = head.header("x-acs-date").unwrap().to_string();
    let caller = verify(&head.method, &head.target, &head.headers, body, &date).expect("verifies");
    assert_eq!(caller.scheme, Scheme::V3);
    assert_eq!(caller.action, "CreateOTAFirmware");
    // The Tea SDK writes spaces as '+' on the wire and signs them as %20: the
    // description must come out with spaces.
    let req = parse_request(&head.method, &head.target, &head.headers, body).unwrap();
    assert_eq!(
        req.param("FirmwareDesc"),
        Some("delta 1.0.0->1.1.0 a*b~c d/e+f 中文")
    );
    // One changed header value breaks it.
    let mut headers = head.headers.clone();
    for (k, v) in headers.iter_mut() {
        if k == "x-acs-signature-nonce" {
            v.push('0');
        }
    }
    let err = verify(&head.method, &head.target, &headers, body, &date).unwrap_err();
    assert_eq!(err.code, ErrorCode::SignatureDoesNotMatch);
    assert!(err.detail.starts_with("ACS3-HMAC-SHA256\n"));
    // A body that does not match x-acs-content-sha256.
    let err = verify(&head.method, &head.target, &head.headers, b"x", &date).unwrap_err();
    assert_eq!(err.code, ErrorCode::IncompleteSignature);
    // An unsigned x-acs-* header.
    let mut headers = head.headers.clone();
    headers.push(("x-acs-extra".into(), "1".into()));
    let err = verify(&head.method, &head.target, &headers, body, &date).unwrap_err();
    assert_eq!(err.code, ErrorCode::IncompleteSignature);
}
