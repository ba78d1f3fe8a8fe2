//! `ota_response`: the OTA client's answer parsers (`parse_response` for every response
//! type, JSON and XML, and `parse_oss_error`).
//!
//! Input: `[sel u8] [status u16] [rest]`.
//! - `sel & 0x80 == 0`: `rest` is the body; `sel % 6` picks the response type (the sixth is
//!   `parse_oss_error`), `sel & 8` the XML format. Checks: no panic; success only with a
//!   2xx status; a service error always has a code; error excerpts are at most 200
//!   characters without control characters; an accepted upload answer has http(s) URLs
//!   without whitespace and non-empty form fields; every listed package has an id.
//! - `sel & 0x80 != 0`: `rest` drives a generator of answer documents ([`Doc`]) written both
//!   as JSON and as XML; every response type must read the same from both (the same value,
//!   or the same kind of error with the same service code, message and request id).

use fwdelta_ota::{
    parse_oss_error, parse_response, CreatedFirmware, Document, FirmwarePage, Format, FromResponse,
    OtaError, QueriedFirmware, UploadUrl,
};
use serde_json::{Map, Value};

use crate::input::Input;

/// Runs the target.
pub fn run(data: &[u8]) {
    let mut inp = Input::new(data);
    let sel = inp.u8();
    let status = 100 + inp.u16() % 500;
    if sel & 0x80 != 0 {
        differential(&mut inp, status, sel);
        return;
    }
    let body = inp.rest();
    let format = if sel & 8 != 0 {
        Format::Xml
    } else {
        Format::Json
    };
    match sel % 6 {
        0 => check(parse_response::<Document>(format, status, body), status),
        1 => {
            let r = parse_response::<UploadUrl>(format, status, body);
            if let Ok(u) = &r {
                for url in [&u.host, &u.firmware_url] {
                    assert!(url.starts_with("https://") || url.starts_with("http://"));
                    assert!(!url.chars().any(|c| c.is_whitespace() || c.is_control()));
                }
                for f in [&u.key, &u.policy, &u.oss_access_key_id, &u.signature] {
                    assert!(!f.is_empty());
                }
            }
            check(r, status)
        }
        2 => {
            let r = parse_response::<CreatedFirmware>(format, status, body);
            if let Ok(c) = &r {
                assert!(!c.firmware_id.is_empty());
            }
            check(r, status)
        }
        3 => {
            let r = parse_response::<QueriedFirmware>(format, status, body);
            if let Ok(q) = &r {
                assert!(!q.firmware.firmware_id.is_empty());
            }
            check(r, status)
        }
        4 => {
            let r = parse_response::<FirmwarePage>(format, status, body);
            if let Ok(p) = &r {
                assert!(p.firmwares.iter().all(|f| !f.firmware_id.is_empty()));
            }
            check(r, status)
        }
        _ => check_error(&parse_oss_error(status, body)),
    }
}

fn check<T>(r: Result<T, OtaError>, status: u16) {
    match r {
        Ok(_) => assert!((200..300).contains(&status), "success with status {status}"),
        Err(e) => check_error(&e),
    }
}

fn check_error(e: &OtaError) {
    match e {
        OtaError::Service(s) => assert!(!s.code.is_empty(), "service error without a code"),
        OtaError::Http { excerpt, .. } => {
            assert!(excerpt.chars().count() <= 200, "excerpt too long");
            assert!(
                !excerpt.chars().any(char::is_control),
                "control character in excerpt"
            );
        }
        _ => {}
    }
    // Every error can be shown.
    let _ = e.to_string();
}

/// A generated answer: fields whose values are text, objects, or repeated elements.
#[derive(Debug, Clone)]
pub enum Doc {
    /// A text value (JSON: a string, or a number or boolean when `typed` and it reads as one).
    Text(String, bool),
    /// An object / an element with children.
    Obj(Vec<(&'static str, Doc)>),
    /// A repeated element (JSON: an array; a single item unwrapped when the flag says so).
    Many(Vec<Doc>, bool),
}

const TOP: [&str; 13] = [
    "RequestId",
    "Success",
    "Code",
    "ErrorMessage",
    "Message",
    "HostId",
    "Recommend",
    "Data",
    "FirmwareInfo",
    "Total",
    "PageSize",
    "PageCount",
    "CurrentPage",
];
const DATA: [&str; 9] = [
    "Key",
    "Host",
    "Policy",
    "OSSAccessKeyId",
    "Signature",
    "ObjectStorage",
    "UtcCreate",
    "FirmwareUrl",
    "FirmwareId",
];
const INFO: [&str; 18] = [
    "FirmwareId",
    "FirmwareName",
    "ProductKey",
    "ProductName",
    "Type",
    "SrcVersion",
    "DestVersion",
    "FirmwareSign",
    "SignMethod",
    "FirmwareSize",
    "FirmwareUrl",
    "FirmwareDesc",
    "ModuleName",
    "Status",
    "VerifyProgress",
    "Udi",
    "UtcCreate",
    "UtcModified",
];

fn text(inp: &mut Input) -> Doc {
    const WORDS: [&str; 12] = [
        "",
        "0",
        "1",
        "-1",
        "42",
        "12345678901234567890",
        "true",
        "false",
        "https://iotx-ota.oss-cn-shanghai.aliyuncs.com/ota/a.bin",
        "http://h/a b",
        "a&b<c>\"d'",
        "Throttling.User",
    ];
    let sel = inp.u8();
    let s = if usize::from(sel % 16) < WORDS.len() {
        WORDS[usize::from(sel % 16)].to_string()
    } else {
        let n = usize::from(inp.u8() % 24);
        // Printable, no whitespace: XML trims text, JSON does not.
        inp.bytes(n)
            .iter()
            .map(|b| char::from(0x21 + b % 94))
            .collect()
    };
    Doc::Text(s, sel & 0x80 != 0)
}

fn fields(inp: &mut Input, names: &[&'static str], value: &dyn Fn(&mut Input, &str) -> Doc) -> Doc {
    let mask = inp.u32();
    let mut out = Vec::new();
    for (i, &n) in names.iter().enumerate() {
        if mask >> i & 1 == 1 {
            out.push((n, value(inp, n)));
        }
    }
    Doc::Obj(out)
}

fn info(inp: &mut Input) -> Doc {
    fields(inp, &INFO, &|inp, _| text(inp))
}

/// Generates an answer document.
pub fn generate(inp: &mut Input) -> Doc {
    fields(inp, &TOP, &|inp, name| match name {
        "Data" if inp.u8() & 1 == 0 => fields(inp, &DATA, &|inp, _| text(inp)),
        "FirmwareInfo" => match inp.u8() % 3 {
            0 => info(inp),
            1 => {
                let n = usize::from(inp.u8() % 4);
                let items = (0..n).map(|_| info(inp)).collect();
                Doc::Obj(vec![(
                    "SimpleFirmwareInfo",
                    Doc::Many(items, inp.u8() & 1 == 1),
                )])
            }
            _ => text(inp),
        },
        "Success" => {
            let b = inp.u8();
            let s = ["true", "false", "True", "FALSE", "yes"][usize::from(b % 5)];
            Doc::Text(s.into(), b & 0x80 != 0)
        }
        _ => text(inp),
    })
}

/// The JSON form of a document.
pub fn to_json(d: &Doc) -> Value {
    match d {
        Doc::Text(s, typed) => {
            if *typed {
                if let Ok(n) = s.parse::<i64>() {
                    if n.to_string() == *s {
                        return Value::from(n);
                    }
                }
                if s == "true" || s == "false" {
                    return Value::Bool(s == "true");
                }
            }
            Value::String(s.clone())
        }
        Doc::Obj(fs) => {
            let mut m = Map::new();
            for (k, v) in fs {
                m.insert((*k).to_string(), to_json(v));
            }
            Value::Object(m)
        }
        Doc::Many(items, unwrap) => {
            if items.len() == 1 && *unwrap {
                to_json(&items[0])
            } else {
                Value::Array(items.iter().map(to_json).collect())
            }
        }
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

/// The XML form of a document, under `name`.
pub fn to_xml(name: &str, d: &Doc, out: &mut String) {
    match d {
        Doc::Text(s, _) => out.push_str(&format!("<{name}>{}</{name}>", escape(s))),
        Doc::Obj(fs) => {
            out.push_str(&format!("<{name}>"));
            for (k, v) in fs {
                to_xml(k, v, out);
            }
            out.push_str(&format!("</{name}>"));
        }
        Doc::Many(items, _) => {
            for it in items {
                to_xml(name, it, out);
            }
        }
    }
}

fn same<T: PartialEq + std::fmt::Debug>(
    a: Result<T, OtaError>,
    b: Result<T, OtaError>,
    what: &str,
    json: &[u8],
    xml: &str,
) {
    let ctx = || {
        format!(
            "{what}\nJSON: {}\nXML: {xml}",
            String::from_utf8_lossy(json)
        )
    };
    match (a, b) {
        (Ok(a), Ok(b)) => assert!(a == b, "{}\n{a:?}\n{b:?}", ctx()),
        (Err(OtaError::Service(a)), Err(OtaError::Service(b))) => {
            assert_eq!(
                (&a.code, &a.message, &a.request_id, &a.host_id, &a.recommend),
                (&b.code, &b.message, &b.request_id, &b.host_id, &b.recommend),
                "{}",
                ctx()
            );
        }
        (Err(a), Err(b)) => assert_eq!(
            std::mem::discriminant(&a),
            std::mem::discriminant(&b),
            "{}\n{a}\n{b}",
            ctx()
        ),
        (a, b) => panic!(
            "{}\nJSON gives {:?}\nXML gives {:?}",
            ctx(),
            a.err(),
            b.err()
        ),
    }
}

fn both<T: FromResponse + PartialEq + std::fmt::Debug>(
    status: u16,
    json: &[u8],
    xml: &str,
    swap: bool,
) {
    // The format asked for does not matter when the body plainly is the other one.
    let (fj, fx) = if swap {
        (Format::Xml, Format::Json)
    } else {
        (Format::Json, Format::Xml)
    };
    same(
        parse_response::<T>(fj, status, json),
        parse_response::<T>(fx, status, xml.as_bytes()),
        T::ACTION,
        json,
        xml,
    );
}

fn differential(inp: &mut Input, status: u16, sel: u8) {
    let status = if sel & 0x40 != 0 { 200 } else { status };
    let doc = generate(inp);
    let json = serde_json::to_vec(&to_json(&doc)).expect("a JSON value serialises");
    let mut xml = String::from(r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    to_xml("Response", &doc, &mut xml);
    let swap = sel & 0x20 != 0;
    both::<UploadUrl>(status, &json, &xml, swap);
    both::<CreatedFirmware>(status, &json, &xml, swap);
    both::<QueriedFirmware>(status, &json, &xml, swap);
    both::<FirmwarePage>(status, &json, &xml, swap);
}
