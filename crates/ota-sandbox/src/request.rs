//! Turning an HTTP request into what the sandbox acts on: its route, its decoded query
//! and form parameters, and its headers.
//!
//! [`parse_request`] is a pure function over untrusted input (method, target, headers,
//! body); it never panics and allocates at most a small multiple of its input.

use std::collections::BTreeSet;

/// The largest number of query plus form parameters accepted in one request.
pub const MAX_PARAMS: usize = 1000;

/// Why a request could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// A `%` not followed by two hex digits.
    #[error("invalid percent-encoding at byte {offset} of {part}")]
    BadPercentEncoding {
        /// Which part of the request: `path`, `query` or `form body`.
        part: &'static str,
        /// Byte offset of the `%` within that part.
        offset: usize,
    },
    /// Decoded bytes that are not UTF-8.
    #[error("{part} contains a value that is not UTF-8 after percent-decoding")]
    NotUtf8 {
        /// Which part of the request.
        part: &'static str,
    },
    /// The same parameter name twice (the signature would be ambiguous).
    #[error("parameter {name:?} appears more than once")]
    DuplicateParameter {
        /// The repeated name.
        name: String,
    },
    /// An empty parameter name (`=value` or `&&`-separated garbage with `=`).
    #[error("a parameter has an empty name")]
    EmptyParameterName,
    /// More than [`MAX_PARAMS`] parameters.
    #[error("{count} parameters exceed the limit of {max}")]
    TooManyParameters {
        /// How many were seen (counting stops just past the limit).
        count: usize,
        /// The limit.
        max: usize,
    },
    /// A request target that is not an origin-form path (`/...`).
    #[error("request target must start with '/'")]
    BadTarget,
    /// A path with `.` or `..` segments, or an encoded `/` or NUL.
    #[error("path {path:?} is not allowed")]
    BadPath {
        /// The decoded path, shortened.
        path: String,
    },
    /// A multipart upload without a usable boundary.
    #[error("multipart/form-data without a valid boundary parameter")]
    MissingBoundary,
}

/// What a request is for.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RequestKind {
    /// An RPC API call at `/` (any method; the method is checked later).
    Rpc,
    /// An OSS PostObject form upload (`POST /` with `multipart/form-data`).
    PostObject {
        /// The multipart boundary.
        boundary: String,
    },
    /// An object download (`GET`/`HEAD` of `/<key>`).
    GetObject {
        /// The object key (the decoded path without its leading `/`).
        key: String,
    },
    /// A sandbox control endpoint under `/_sandbox/`.
    Admin {
        /// The path below `/_sandbox/`.
        path: String,
    },
    /// Anything else at a path other than `/` (answered with 405/404).
    Other,
}

/// A parsed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedRequest {
    /// The HTTP method, as sent.
    pub method: String,
    /// The decoded path.
    pub path: String,
    /// Decoded query parameters, in the order sent.
    pub query: Vec<(String, String)>,
    /// Decoded `application/x-www-form-urlencoded` body parameters, in the order sent
    /// (empty for other bodies).
    pub form: Vec<(String, String)>,
    /// Header fields, names lowercased, in the order sent.
    pub headers: Vec<(String, String)>,
    /// The route.
    pub kind: RequestKind,
}

impl ParsedRequest {
    /// The first value of header `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        crate::http::header(&self.headers, name)
    }

    /// Query then form parameters.
    pub fn all_params(&self) -> impl Iterator<Item = &(String, String)> {
        self.query.iter().chain(self.form.iter())
    }

    /// The value of parameter `name` (query first, then form).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.all_params()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

fn hex_val(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

/// Percent-decodes `s` (with `+` as a space when `plus_as_space`) into UTF-8.
pub fn percent_decode(
    s: &str,
    plus_as_space: bool,
    part: &'static str,
    base_offset: usize,
) -> Result<String, RequestError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hi = bytes.get(i + 1).copied().and_then(hex_val);
                let lo = bytes.get(i + 2).copied().and_then(hex_val);
                match (hi, lo) {
                    (Some(h), Some(l)) => out.push(h << 4 | l),
                    _ => {
                        return Err(RequestError::BadPercentEncoding {
                            part,
                            offset: base_offset + i,
                        })
                    }
                }
                i += 3;
            }
            b'+' if plus_as_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| RequestError::NotUtf8 { part })
}

/// Parses `application/x-www-form-urlencoded` text (a query string or a form body).
/// Empty segments are skipped; a segment without `=` is a name with an empty value.
pub fn parse_urlencoded(
    text: &str,
    part: &'static str,
) -> Result<Vec<(String, String)>, RequestError> {
    let mut out = Vec::new();
    let mut offset = 0;
    for segment in text.split('&') {
        let seg_offset = offset;
        offset += segment.len() + 1;
        if segment.is_empty() {
            continue;
        }
        if out.len() == MAX_PARAMS {
            return Err(RequestError::TooManyParameters {
                count: MAX_PARAMS + 1,
                max: MAX_PARAMS,
            });
        }
        let (name, value, value_offset) = match segment.find('=') {
            Some(eq) => (&segment[..eq], &segment[eq + 1..], seg_offset + eq + 1),
            None => (segment, "", seg_offset + segment.len()),
        };
        let name = percent_decode(name, true, part, seg_offset)?;
        if name.is_empty() {
            return Err(RequestError::EmptyParameterName);
        }
        let value = percent_decode(value, true, part, value_offset)?;
        out.push((name, value));
    }
    Ok(out)
}

/// Splits a `Content-Type` value into its lowercased media type and its parameters.
pub fn parse_content_type(value: &str) -> (String, Vec<(String, String)>) {
    let mut parts = value.split(';');
    let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
    let params = parts
        .filter_map(|p| {
            let (k, v) = p.split_once('=')?;
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(v);
            Some((k.trim().to_ascii_lowercase(), v.to_string()))
        })
        .collect();
    (media, params)
}

/// The multipart boundary of a `Content-Type` value, validated per RFC 2046 (1–70
/// characters of the allowed set), or `None` when the type is not multipart/form-data.
pub fn multipart_boundary(content_type: &str) -> Option<Result<String, RequestError>> {
    let (media, params) = parse_content_type(content_type);
    if media != "multipart/form-data" {
        return None;
    }
    let boundary = params
        .into_iter()
        .find(|(k, _)| k == "boundary")
        .map(|(_, v)| v);
    Some(match boundary {
        Some(b)
            if !b.is_empty()
                && b.len() <= 70
                && b.bytes()
                    .all(|c| c.is_ascii_alphanumeric() || b"'()+_,-./:=? ".contains(&c)) =>
        {
            Ok(b)
        }
        _ => Err(RequestError::MissingBoundary),
    })
}

/// Parses a request: route, decoded query, decoded form body, headers.
///
/// `headers` are `(name, value)` pairs in any case; `body` is the whole body for RPC
/// requests (a PostObject body is not parsed here: see [`crate::multipart`]).
///
/// Rules: the target must start with `/`; query and form parameters are
/// percent-decoded (`+` is a space) and must be UTF-8; a name may appear only once
/// across query and form; at most [`MAX_PARAMS`] parameters.
pub fn parse_request(
    method: &str,
    target: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> Result<ParsedRequest, RequestError> {
    if !target.starts_with('/') {
        return Err(RequestError::BadTarget);
    }
    let (raw_path, raw_query) = match target.split_once('?') {
        Some((p, q)) => (p, q),
        None => (target, ""),
    };
    // Fragments are never sent by clients; treat a '#' as the end of the target.
    let raw_query = raw_query.split('#').next().unwrap_or("");
    let path = percent_decode(raw_path, false, "path", 0)?;
    if path.contains('\0')
        || path.contains('\\')
        || path.split('/').any(|seg| seg == "." || seg == "..")
        || raw_path.to_ascii_lowercase().contains("%2f")
    {
        return Err(RequestError::BadPath {
            path: path.chars().take(200).collect(),
        });
    }
    let headers: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
        .collect();
    let query = parse_urlencoded(raw_query, "query")?;
    let content_type = crate::http::header(&headers, "content-type").unwrap_or("");

    let mut form = Vec::new();
    let kind = if let Some(admin) = path.strip_prefix("/_sandbox/") {
        RequestKind::Admin {
            path: admin.to_string(),
        }
    } else if path == "/" {
        match multipart_boundary(content_type) {
            Some(boundary) if method == "POST" => RequestKind::PostObject {
                boundary: boundary?,
            },
            _ => {
                let (media, _) = parse_content_type(content_type);
                if media == "application/x-www-form-urlencoded" && !body.is_empty() {
                    let text = std::str::from_utf8(body)
                        .map_err(|_| RequestError::NotUtf8 { part: "form body" })?;
                    form = parse_urlencoded(text, "form body")?;
                }
                RequestKind::Rpc
            }
        }
    } else if method == "GET" || method == "HEAD" {
        RequestKind::GetObject {
            key: path[1..].to_string(),
        }
    } else {
        RequestKind::Other
    };

    if query.len() + form.len() > MAX_PARAMS {
        return Err(RequestError::TooManyParameters {
            count: query.len() + form.len(),
            max: MAX_PARAMS,
        });
    }
    if matches!(kind, RequestKind::Rpc) {
        let mut seen = BTreeSet::new();
        for (k, _) in query.iter().chain(form.iter()) {
            if !seen.insert(k.as_str()) {
                return Err(RequestError::DuplicateParameter { name: k.clone() });
            }
        }
    }
    Ok(ParsedRequest {
        method: method.to_string(),
        path,
        query,
        form,
        headers,
        kind,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn decodes_queries() {
        let r = parse_request(
            "POST",
            "/?A=1&B=a%20b+c&C=&D&E=%E4%B8%AD",
            &h(&[("Host", "x")]),
            b"",
        )
        .unwrap();
        assert_eq!(r.kind, RequestKind::Rpc);
        assert_eq!(r.param("B"), Some("a b c"));
        assert_eq!(r.param("C"), Some(""));
        assert_eq!(r.param("D"), Some(""));
        assert_eq!(r.param("E"), Some("中"));
        assert_eq!(r.header("host"), Some("x"));
    }

    #[test]
    fn reads_form_bodies() {
        let r = parse_request(
            "POST",
            "/?A=1",
            &h(&[(
                "Content-Type",
                "application/x-www-form-urlencoded; charset=UTF-8",
            )]),
            b"B=2&C=x%2By",
        )
        .unwrap();
        assert_eq!(r.param("B"), Some("2"));
        assert_eq!(r.param("C"), Some("x+y"));
        assert_eq!(r.form.len(), 2);
    }

    #[test]
    fn rejects_bad_input() {
        assert!(matches!(
            parse_request("GET", "/?A=%zz", &[], b""),
            Err(RequestError::BadPercentEncoding { offset: 2, .. })
        ));
        assert!(matches!(
            parse_request("GET", "/?A=%ff", &[], b""),
            Err(RequestError::NotUtf8 { .. })
        ));
        assert!(matches!(
            parse_request("GET", "/?A=1&A=2", &[], b""),
            Err(RequestError::DuplicateParameter { .. })
        ));
        assert!(matches!(
            parse_request("GET", "/?=1", &[], b""),
            Err(RequestError::EmptyParameterName)
        ));
        assert!(matches!(
            parse_request("GET", "http://x/", &[], b""),
            Err(RequestError::BadTarget)
        ));
        assert!(matches!(
            parse_request("GET", "/ota/../x", &[], b""),
            Err(RequestError::BadPath { .. })
        ));
        assert!(matches!(
            parse_request("GET", "/ota%2F..%2Fx", &[], b""),
            Err(RequestError::BadPath { .. })
        ));
        let many: String = (0..=MAX_PARAMS).map(|i| format!("p{i}=1&")).collect();
        assert!(matches!(
            parse_request("GET", &format!("/?{many}"), &[], b""),
            Err(RequestError::TooManyParameters { .. })
        ));
        assert!(matches!(
            parse_request(
                "POST",
                "/",
                &h(&[("content-type", "multipart/form-data")]),
                b""
            ),
            Err(RequestError::MissingBoundary)
        ));
    }

    #[test]
    fn routes() {
        let mp = h(&[("Content-Type", "multipart/form-data; boundary=\"abc\"")]);
        assert_eq!(
            parse_request("POST", "/", &mp, b"").unwrap().kind,
            RequestKind::PostObject {
                boundary: "abc".into()
            }
        );
        assert_eq!(
            parse_request("GET", "/ota/a/b.bin?Expires=1", &[], b"")
                .unwrap()
                .kind,
            RequestKind::GetObject {
                key: "ota/a/b.bin".into()
            }
        );
        assert_eq!(
            parse_request("POST", "/_sandbox/faults", &[], b"")
                .unwrap()
                .kind,
            RequestKind::Admin {
                path: "faults".into()
            }
        );
        assert_eq!(
            parse_request("PUT", "/x", &[], b"").unwrap().kind,
            RequestKind::Other
        );
    }

    proptest::proptest! {
        #[test]
        fn never_panics(
            method in "(GET|POST|PUT|HEAD)",
            target in "\\PC{0,200}",
            ct in proptest::option::of("(multipart/form-data; boundary=[a-z]{0,5}|application/x-www-form-urlencoded|text/plain)"),
            body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200),
        ) {
            let headers: Vec<(String, String)> =
                ct.into_iter().map(|v| ("Content-Type".to_string(), v)).collect();
            let _ = parse_request(&method, &target, &headers, &body);
        }

        #[test]
        fn encoded_params_round_trip(
            pairs in proptest::collection::vec(("[A-Za-z][A-Za-z0-9.]{0,10}", "\\PC{0,20}"), 0..8),
        ) {
            let mut seen = std::collections::BTreeSet::new();
            let pairs: Vec<(String, String)> =
                pairs.into_iter().filter(|(k, _)| seen.insert(k.clone())).collect();
            let query = pairs
                .iter()
                .map(|(k, v)| format!("{}={}", fwdelta_acs_sign::percent_encode(k), fwdelta_acs_sign::percent_encode(v)))
                .collect::<Vec<_>>()
                .join("&");
            let r = parse_request("GET", &format!("/?{query}"), &[], b"").unwrap();
            proptest::prop_assert_eq!(r.query, pairs);
        }
    }
}
