//! `sandbox_request`: the OTA sandbox's request parsers: HTTP heads and bodies (fixed and
//! chunked), routing and parameter decoding, multipart forms (in memory and streamed), the
//! POST policy, `Range` and V3 `Authorization` headers.
//!
//! Input: `[mode u8] [rest]`. `mode % 3`:
//! - 0: `rest` is what a client sends on one connection (up to 4 pipelined requests); it
//!   goes through the same steps as the server's connection loop. Checks: no panic; a head
//!   that parses prints back to itself; a fixed-length body has its declared length; a
//!   streamed multipart parse (short reads) agrees with the in-memory one; an accepted
//!   range lies inside the object; parsed paths are absolute without `.`/`..` segments.
//! - 1: parameters from the input, percent-encoded into a query or a form body: the parser
//!   must give them back (or refuse duplicates and empty names).
//! - 2: a multipart form from the input (fields, then maybe a file): both parsers must give
//!   back the fields, the file name and content.

use std::io::{BufReader, Read};

use fwdelta_ota_sandbox::auth::parse_v3_authorization;
use fwdelta_ota_sandbox::http::{
    parse_request_head, read_request_head, BodyFraming, BodyReader, RequestHead,
};
use fwdelta_ota_sandbox::multipart::{
    parse_multipart, FormField, MultipartError, MultipartLimits, MultipartReader,
};
use fwdelta_ota_sandbox::oss::parse_range;
use fwdelta_ota_sandbox::policy::parse_policy;
use fwdelta_ota_sandbox::request::{parse_request, RequestError, RequestKind, MAX_PARAMS};

use crate::input::Input;
use crate::io::ShortReader;

/// Largest body read in memory here.
const MAX_BODY: u64 = 256 << 10;

/// Runs the target.
pub fn run(data: &[u8]) {
    let mut inp = Input::new(data);
    let mode = inp.u8();
    match mode % 3 {
        0 => connection(inp.rest(), usize::from(mode >> 2) % 64 + 1),
        1 => params_round_trip(&mut inp, mode),
        _ => multipart_round_trip(&mut inp),
    }
}

fn small_limits() -> MultipartLimits {
    MultipartLimits {
        max_field_bytes: 4096,
        max_fields: 16,
        max_file_bytes: 64 << 10,
        max_part_header_bytes: 1024,
        max_preamble_bytes: 1024,
    }
}

fn render_head(h: &RequestHead) -> Vec<u8> {
    let mut s = format!("{} {} HTTP/1.{}\r\n", h.method, h.target, h.minor_version);
    for (k, v) in &h.headers {
        s.push_str(&format!("{k}: {v}\r\n"));
    }
    s.push_str("\r\n");
    s.into_bytes()
}

/// A multipart parse as comparable data.
type Form = Result<
    (
        Vec<FormField>,
        Option<(Option<String>, Option<String>)>,
        Vec<u8>,
    ),
    String,
>;

fn in_memory(body: &[u8], boundary: &str) -> Form {
    parse_multipart(body, boundary, &small_limits())
        .map(|f| {
            let file = f.file.map(|p| (p.file_name, p.content_type));
            (f.fields, file, f.file_content)
        })
        .map_err(|e| e.to_string())
}

fn streamed(body: impl Read, boundary: &str) -> Form {
    let run = || -> Result<_, MultipartError> {
        let mut r = MultipartReader::new(body, boundary, small_limits());
        let (fields, file) = r.read_fields()?;
        let mut content = Vec::new();
        if file.is_some() {
            r.copy_file(&mut content)?;
        }
        r.finish()?;
        Ok((fields, file.map(|p| (p.file_name, p.content_type)), content))
    };
    run().map_err(|e| e.to_string())
}

fn connection(bytes: &[u8], step: usize) {
    let mut reader = BufReader::with_capacity(step.max(8), bytes);
    for _ in 0..4 {
        let head_bytes = match read_request_head(&mut reader) {
            Ok(Some(h)) => h,
            _ => return,
        };
        let Ok(head) = parse_request_head(&head_bytes) else {
            return;
        };
        let printed = render_head(&head);
        match parse_request_head(&printed) {
            Ok(again) => assert_eq!(again, head, "a parsed head does not print back"),
            Err(e) => panic!("a parsed head prints unparseable: {e}"),
        }
        let Ok(framing) = head.body_framing() else {
            return;
        };
        let Ok(mut body_reader) = BodyReader::new(&mut reader, framing, MAX_BODY) else {
            return;
        };
        let body = body_reader.read_all();
        let finished = body_reader.is_finished();
        let Ok(body) = body else { return };
        assert!(body.len() as u64 <= MAX_BODY);
        if let BodyFraming::Length(n) = framing {
            assert_eq!(body.len() as u64, n, "fixed-length body of another length");
        }
        if let Some(range) = head.header("range") {
            let size = body.len() as u64;
            if let Ok(Some((a, b))) = parse_range(Some(range), size) {
                assert!(a <= b && b < size, "range {a}-{b} outside {size} bytes");
            }
        }
        if let Some(auth) = head.header("authorization") {
            if let Some(v3) = parse_v3_authorization(auth) {
                assert!(!v3.credential.is_empty() && !v3.signature.is_empty());
            }
        }
        match parse_request(&head.method, &head.target, &head.headers, &body) {
            Ok(req) => {
                assert!(req.path.starts_with('/'));
                assert!(!req.path.split('/').any(|s| s == "." || s == ".."));
                assert!(req.all_params().count() <= MAX_PARAMS);
                if let RequestKind::PostObject { boundary } = &req.kind {
                    let whole = in_memory(&body, boundary);
                    let piecewise = streamed(ShortReader::new(&body, step, true), boundary);
                    assert_eq!(
                        whole, piecewise,
                        "streamed and in-memory multipart disagree"
                    );
                    if let Ok((fields, _, content)) = &whole {
                        assert!(fields.len() <= 16 && content.len() <= 64 << 10);
                        if let Some(p) = fields
                            .iter()
                            .find(|f| f.name.eq_ignore_ascii_case("policy"))
                        {
                            let _ = parse_policy(&p.value);
                        }
                    }
                }
            }
            Err(RequestError::BadTarget) => assert!(!head.target.starts_with('/')),
            Err(_) => {}
        }
        if !finished {
            return;
        }
    }
}

/// Percent-encodes every byte but unreserved ones; spaces as `+` when `plus`.
fn encode(s: &str, plus: bool) -> String {
    let mut out = String::new();
    for &b in s.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(char::from(b))
            }
            b' ' if plus => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn small_string(inp: &mut Input) -> String {
    let n = usize::from(inp.u8() % 16);
    String::from_utf8_lossy(inp.bytes(n)).into_owned()
}

fn params_round_trip(inp: &mut Input, mode: u8) {
    let n = usize::from(inp.u8() % 12);
    let params: Vec<(String, String)> = (0..n)
        .map(|_| (small_string(inp), small_string(inp)))
        .collect();
    let text = params
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k, mode & 4 != 0), encode(v, mode & 8 != 0)))
        .collect::<Vec<_>>()
        .join("&");
    let in_body = mode & 0x10 != 0;
    let (target, headers, body) = if in_body {
        (
            "/".to_string(),
            vec![(
                "Content-Type".to_string(),
                "application/x-www-form-urlencoded; charset=utf-8".to_string(),
            )],
            text.into_bytes(),
        )
    } else {
        (format!("/?{text}"), Vec::new(), Vec::new())
    };
    let method = if in_body { "POST" } else { "GET" };
    let r = parse_request(method, &target, &headers, &body);
    let mut names: Vec<&str> = params.iter().map(|(k, _)| k.as_str()).collect();
    names.sort_unstable();
    let dup = names.windows(2).any(|w| w[0] == w[1]);
    let empty = names.iter().any(|k| k.is_empty());
    match r {
        Ok(req) => {
            assert!(
                !dup && !empty,
                "accepted duplicate or empty names: {params:?}"
            );
            let got = if in_body { &req.form } else { &req.query };
            assert_eq!(got, &params);
            assert_eq!(req.kind, RequestKind::Rpc);
        }
        Err(RequestError::DuplicateParameter { .. }) => assert!(dup),
        Err(RequestError::EmptyParameterName) => assert!(empty),
        Err(e) => panic!("well-formed parameters refused: {e} ({params:?})"),
    }
}

fn multipart_round_trip(inp: &mut Input) {
    const BCHARS: &[u8] =
        b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'()+_,-./:=?";
    let blen = usize::from(inp.u8() % 70) + 1;
    let mut boundary: String = inp
        .bytes_padded(blen)
        .iter()
        .map(|b| char::from(BCHARS[usize::from(*b) % BCHARS.len()]))
        .collect();
    // RFC 2046: a boundary may contain spaces but not end with one; ours has none.
    if boundary.is_empty() {
        boundary.push('x');
    }
    let n = usize::from(inp.u8() % 6);
    let mut fields = Vec::new();
    for i in 0..n {
        let name = format!(
            "f{i}{}",
            encode(&small_string(inp), false).replace('%', "_")
        );
        let value = String::from_utf8_lossy(inp.chunk()).into_owned();
        fields.push(FormField { name, value });
    }
    let file = (inp.u8() & 1 == 1).then(|| {
        let fname = small_string(inp);
        (fname, inp.chunk().to_vec())
    });
    let mut body = Vec::new();
    for f in &fields {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{}\"\r\n\r\n",
                f.name
            )
            .as_bytes(),
        );
        body.extend_from_slice(f.value.as_bytes());
        body.extend_from_slice(b"\r\n");
    }
    if let Some((fname, content)) = &file {
        let quoted = fname.replace('\\', "\\\\").replace('"', "\\\"");
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{quoted}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(content);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());

    // Values that contain the delimiter, or a file name with a line break, are not
    // representable: skip those inputs.
    let delim = format!("\r\n--{boundary}");
    let contains = |hay: &[u8]| hay.windows(delim.len()).any(|w| w == delim.as_bytes());
    if fields
        .iter()
        .any(|f| contains(format!("\r\n{}", f.value).as_bytes()))
        || file
            .as_ref()
            .is_some_and(|(n, c)| contains(&[b"\r\n", &c[..]].concat()) || n.contains(['\r', '\n']))
    {
        return;
    }
    let want_file = file.as_ref().map(|(n, _)| {
        (
            Some(n.clone()),
            Some("application/octet-stream".to_string()),
        )
    });
    let want_content = file.map(|(_, c)| c).unwrap_or_default();
    let too_big = fields.iter().any(|f| f.value.len() > 4096) || want_content.len() > 64 << 10;
    let whole = in_memory(&body, &boundary);
    let piecewise = streamed(ShortReader::new(&body, 1 + blen % 13, true), &boundary);
    assert_eq!(
        whole, piecewise,
        "streamed and in-memory multipart disagree"
    );
    match whole {
        Ok((got, got_file, content)) => {
            assert!(!too_big);
            assert_eq!(got, fields);
            assert_eq!(got_file, want_file);
            assert_eq!(content, want_content);
        }
        Err(e) => assert!(too_big, "a well-formed form refused: {e}"),
    }
}
