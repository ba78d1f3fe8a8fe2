//! Parsing API answers: pure functions over untrusted bytes.
//!
//! Both response formats are read into one tree ([`serde_json::Value`]) and checked the
//! same way: the `Success` flag, then the fields each action needs. XML is converted
//! element by element: an element without child elements becomes a string, one with
//! children an object, and repeated names an array (a one-element XML list therefore looks
//! like a single object; list accessors accept both). Sizes and nesting are bounded; no
//! input makes these functions panic.

use quick_xml::events::Event;
use quick_xml::Reader;
use serde_json::{Map, Value};

use crate::{OtaError, ServiceError};

/// Answers larger than this are refused (the biggest legitimate one, a 100-entry
/// ListOTAFirmware page, is a few tens of KB).
pub const MAX_RESPONSE_BYTES: usize = 1 << 20;

/// XML nesting deeper than this is refused.
const MAX_XML_DEPTH: usize = 32;

/// The `Format` common parameter: the answer's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Format {
    /// `Format=JSON` (the SDKs' choice, and the default here).
    #[default]
    Json,
    /// `Format=XML` (the API's default when `Format` is absent).
    Xml,
}

impl Format {
    /// The parameter value: `JSON` or `XML`.
    pub fn as_param(self) -> &'static str {
        match self {
            Format::Json => "JSON",
            Format::Xml => "XML",
        }
    }
}

/// A response type that [`parse_response`] can produce.
pub trait FromResponse: Sized {
    /// The API action whose answer this is (used in errors).
    const ACTION: &'static str;
    /// Extracts the typed answer from a successful document (`Success` already checked).
    fn from_document(doc: &Document) -> Result<Self, OtaError>;
}

/// A successful answer, as a tree; the typed responses are read from it.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// The top-level fields (`RequestId`, `Success`, `Data`, ...).
    pub fields: Map<String, Value>,
}

impl FromResponse for Document {
    const ACTION: &'static str = "request";
    fn from_document(doc: &Document) -> Result<Self, OtaError> {
        Ok(doc.clone())
    }
}

impl Document {
    /// `RequestId`, when present.
    pub fn request_id(&self) -> Option<String> {
        get_string(&self.fields, "RequestId")
    }
}

/// Parses an API answer: `status` is the HTTP status, `body` the raw bytes.
///
/// `format` is the format that was asked for; a body that plainly is the other format
/// (starts with `<` or `{`) is read as such, since gateway errors do not always follow the
/// request. An error status, or `Success` false, becomes [`OtaError::Service`] keeping
/// `Code`, `ErrorMessage`/`Message` and `RequestId`; an error status with a body that is not
/// an error document becomes [`OtaError::Http`].
pub fn parse_response<T: FromResponse>(
    format: Format,
    status: u16,
    body: &[u8],
) -> Result<T, OtaError> {
    let action = T::ACTION;
    let malformed = |reason: String| OtaError::MalformedResponse {
        action: action.to_owned(),
        reason,
    };
    if body.len() > MAX_RESPONSE_BYTES {
        return Err(OtaError::ResponseTooLarge {
            action: action.to_owned(),
            limit: MAX_RESPONSE_BYTES,
        });
    }
    let ok_status = (200..300).contains(&status);
    let parsed = parse_tree(format, body);
    let fields = match parsed {
        Ok(Value::Object(map)) => map,
        Ok(_) | Err(_) if !ok_status => {
            return Err(OtaError::Http {
                action: action.to_owned(),
                status,
                excerpt: excerpt(body),
            })
        }
        Ok(_) => return Err(malformed("the body is not an object".into())),
        Err(reason) => return Err(malformed(reason)),
    };
    let code = get_string(&fields, "Code").filter(|c| !c.is_empty());
    let success = match fields.get("Success") {
        None | Some(Value::Null) => None,
        Some(v) => Some(as_bool(v).ok_or_else(|| malformed(format!("Success is {v}")))?),
    };
    let service_error = |code: String| {
        OtaError::Service(Box::new(ServiceError {
            action: action.to_owned(),
            http_status: status,
            code,
            message: get_string(&fields, "ErrorMessage")
                .filter(|m| !m.is_empty())
                .or_else(|| get_string(&fields, "Message"))
                .unwrap_or_default(),
            request_id: get_string(&fields, "RequestId"),
            host_id: get_string(&fields, "HostId"),
            recommend: get_string(&fields, "Recommend"),
        }))
    };
    if !ok_status {
        return match code {
            Some(code) => Err(service_error(code)),
            None => Err(OtaError::Http {
                action: action.to_owned(),
                status,
                excerpt: excerpt(body),
            }),
        };
    }
    match (success, code) {
        (Some(true), _) => T::from_document(&Document { fields }),
        (Some(false), code) => Err(service_error(code.unwrap_or_else(|| "Unknown".into()))),
        (None, Some(code)) => Err(service_error(code)),
        (None, None) => Err(malformed("no Success field".into())),
    }
}

/// Parses the body of a failed OSS PostObject (`<Error><Code/><Message/><RequestId/></Error>`)
/// into [`OtaError::Upload`], or [`OtaError::Http`] when it is not an OSS error document.
pub fn parse_oss_error(status: u16, body: &[u8]) -> OtaError {
    let tree = if body.len() <= MAX_RESPONSE_BYTES {
        xml_to_tree(body).ok()
    } else {
        None
    };
    match tree {
        Some(Value::Object(map)) if get_string(&map, "Code").is_some() => OtaError::Upload {
            status,
            code: get_string(&map, "Code").unwrap_or_default(),
            message: get_string(&map, "Message").unwrap_or_default(),
            request_id: get_string(&map, "RequestId"),
        },
        _ => OtaError::Http {
            action: "PostObject".into(),
            status,
            excerpt: excerpt(body),
        },
    }
}

/// The start of a body for an error message: at most 200 characters, control characters
/// replaced.
pub(crate) fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(400)]);
    text.chars()
        .take(200)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

fn parse_tree(format: Format, body: &[u8]) -> Result<Value, String> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace()).copied();
    let format = match first {
        Some(b'<') => Format::Xml,
        Some(b'{') => Format::Json,
        _ => format,
    };
    match format {
        Format::Json => serde_json::from_slice(body).map_err(|e| format!("invalid JSON: {e}")),
        Format::Xml => xml_to_tree(body),
    }
}

/// Converts an XML document to a tree; the root element's name is dropped.
fn xml_to_tree(body: &[u8]) -> Result<Value, String> {
    let mut reader = Reader::from_reader(body);
    reader.config_mut().trim_text(true);
    // Stack of open elements: (name, children, text, has_children).
    let mut stack: Vec<(String, Map<String, Value>, String, bool)> = Vec::new();
    let mut root: Option<Value> = None;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| format!("invalid XML at byte {}: {e}", reader.buffer_position()))?;
        match event {
            Event::Start(e) => {
                if root.is_some() {
                    return Err("content after the root element".into());
                }
                if stack.len() >= MAX_XML_DEPTH {
                    return Err(format!("XML nested deeper than {MAX_XML_DEPTH}"));
                }
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                if let Some(top) = stack.last_mut() {
                    top.3 = true;
                }
                stack.push((name, Map::new(), String::new(), false));
            }
            Event::Empty(e) => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                match stack.last_mut() {
                    Some(top) => {
                        top.3 = true;
                        insert(&mut top.1, name, Value::String(String::new()));
                    }
                    None if root.is_none() => root = Some(Value::Object(Map::new())),
                    None => return Err("content after the root element".into()),
                }
            }
            Event::Text(t) => {
                let text = t.unescape().map_err(|e| format!("invalid XML text: {e}"))?;
                match stack.last_mut() {
                    Some(top) => top.2.push_str(&text),
                    None if text.trim().is_empty() => {}
                    None => return Err("text outside the root element".into()),
                }
            }
            Event::CData(t) => match stack.last_mut() {
                Some(top) => top.2.push_str(&String::from_utf8_lossy(&t)),
                None => return Err("CDATA outside the root element".into()),
            },
            Event::End(_) => {
                let (name, children, text, has_children) =
                    stack.pop().ok_or("unbalanced end tag")?;
                let value = if has_children {
                    Value::Object(children)
                } else {
                    Value::String(text)
                };
                match stack.last_mut() {
                    Some(parent) => insert(&mut parent.1, name, value),
                    None => {
                        root = Some(match value {
                            Value::String(s) if s.is_empty() => Value::Object(Map::new()),
                            v => v,
                        })
                    }
                }
            }
            Event::DocType(_) => return Err("DOCTYPE is not accepted".into()),
            Event::Decl(_) | Event::Comment(_) | Event::PI(_) => {}
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err("unexpected end of XML".into());
    }
    root.ok_or_else(|| "no root element".into())
}

fn insert(map: &mut Map<String, Value>, name: String, value: Value) {
    match map.get_mut(&name) {
        None => {
            map.insert(name, value);
        }
        Some(Value::Array(items)) => items.push(value),
        Some(existing) => {
            let first = existing.take();
            *existing = Value::Array(vec![first, value]);
        }
    }
}

fn as_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

fn get_string(map: &Map<String, Value>, key: &str) -> Option<String> {
    match map.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Reads an integer that JSON gives as a number and XML as text.
fn get_i64(action: &str, map: &Map<String, Value>, key: &str) -> Result<Option<i64>, OtaError> {
    let bad = || OtaError::MalformedResponse {
        action: action.to_owned(),
        reason: format!("{key} is not an integer"),
    };
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(bad),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => s.trim().parse().map(Some).map_err(|_| bad()),
        Some(_) => Err(bad()),
    }
}

fn get_u64(action: &str, map: &Map<String, Value>, key: &str) -> Result<Option<u64>, OtaError> {
    match get_i64(action, map, key)? {
        None => Ok(None),
        Some(n) => u64::try_from(n)
            .map(Some)
            .map_err(|_| OtaError::MalformedResponse {
                action: action.to_owned(),
                reason: format!("{key} is negative"),
            }),
    }
}

fn object<'a>(
    action: &str,
    map: &'a Map<String, Value>,
    key: &str,
) -> Result<&'a Map<String, Value>, OtaError> {
    match map.get(key) {
        Some(Value::Object(o)) => Ok(o),
        _ => Err(OtaError::MalformedResponse {
            action: action.to_owned(),
            reason: format!("no {key} object"),
        }),
    }
}

fn required(action: &str, map: &Map<String, Value>, key: &str) -> Result<String, OtaError> {
    get_string(map, key)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| OtaError::MalformedResponse {
            action: action.to_owned(),
            reason: format!("no {key}"),
        })
}

/// What GenerateOTAUploadURL returns: the OSS form fields for one upload.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct UploadUrl {
    /// The object key (`ota/.../xxx.bin`).
    pub key: String,
    /// The bucket endpoint the form is posted to (`https://iotx-ota.oss-cn-shanghai.aliyuncs.com`).
    pub host: String,
    /// The base64 POST policy.
    pub policy: String,
    /// The `OSSAccessKeyId` form field (a service key, not the caller's).
    pub oss_access_key_id: String,
    /// The policy signature.
    pub signature: String,
    /// `OSS`.
    pub object_storage: Option<String>,
    /// When the upload data was generated.
    pub utc_create: Option<String>,
    /// The URL to give CreateOTAFirmware (`Host + "/" + Key`).
    pub firmware_url: String,
    /// The request id.
    pub request_id: Option<String>,
}

impl std::fmt::Debug for UploadUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The policy signature is a short-lived bearer token for the bucket: not shown.
        f.debug_struct("UploadUrl")
            .field("key", &self.key)
            .field("host", &self.host)
            .field("firmware_url", &self.firmware_url)
            .field("utc_create", &self.utc_create)
            .field("request_id", &self.request_id)
            .finish_non_exhaustive()
    }
}

impl FromResponse for UploadUrl {
    const ACTION: &'static str = "GenerateOTAUploadURL";
    fn from_document(doc: &Document) -> Result<Self, OtaError> {
        let a = Self::ACTION;
        let data = object(a, &doc.fields, "Data")?;
        let host = required(a, data, "Host")?;
        let firmware_url = required(a, data, "FirmwareUrl")?;
        for (k, v) in [("Host", &host), ("FirmwareUrl", &firmware_url)] {
            if !(v.starts_with("https://") || v.starts_with("http://"))
                || v.chars().any(|c| c.is_whitespace() || c.is_control())
            {
                return Err(OtaError::MalformedResponse {
                    action: a.into(),
                    reason: format!("{k} is not an http(s) URL"),
                });
            }
        }
        Ok(UploadUrl {
            key: required(a, data, "Key")?,
            host,
            policy: required(a, data, "Policy")?,
            oss_access_key_id: required(a, data, "OSSAccessKeyId")?,
            signature: required(a, data, "Signature")?,
            object_storage: get_string(data, "ObjectStorage"),
            utc_create: get_string(data, "UtcCreate"),
            firmware_url,
            request_id: doc.request_id(),
        })
    }
}

/// What CreateOTAFirmware returns.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CreatedFirmware {
    /// The new package's id.
    pub firmware_id: String,
    /// When it was created (ISO-8601 UTC with milliseconds).
    pub utc_create: Option<String>,
    /// The request id.
    pub request_id: Option<String>,
}

impl FromResponse for CreatedFirmware {
    const ACTION: &'static str = "CreateOTAFirmware";
    fn from_document(doc: &Document) -> Result<Self, OtaError> {
        let data = object(Self::ACTION, &doc.fields, "Data")?;
        Ok(CreatedFirmware {
            firmware_id: required(Self::ACTION, data, "FirmwareId")?,
            utc_create: get_string(data, "UtcCreate"),
            request_id: doc.request_id(),
        })
    }
}

/// A package as QueryOTAFirmware (all fields) or ListOTAFirmware (a subset) describes it.
/// Absent fields are `None`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct FirmwareInfo {
    /// The package id.
    pub firmware_id: String,
    /// The name.
    pub firmware_name: Option<String>,
    /// The product.
    pub product_key: Option<String>,
    /// The product's name.
    pub product_name: Option<String>,
    /// 0 full, 1 differential.
    pub type_: Option<i64>,
    /// The version differential packages apply to.
    pub src_version: Option<String>,
    /// The version the package installs.
    pub dest_version: Option<String>,
    /// The file's signature.
    pub firmware_sign: Option<String>,
    /// `MD5` or `SHA256` (as the service spells it).
    pub sign_method: Option<String>,
    /// The file's size in bytes.
    pub firmware_size: Option<u64>,
    /// The file's (pre-signed) URL.
    pub firmware_url: Option<String>,
    /// The description.
    pub firmware_desc: Option<String>,
    /// The OTA module.
    pub module_name: Option<String>,
    /// Verification status: -1 none needed, 0 unverified, 1 verified, 2 verifying, 3 failed.
    pub status: Option<i64>,
    /// Verification progress, 0–100.
    pub verify_progress: Option<i64>,
    /// Custom data.
    pub udi: Option<String>,
    /// Creation time.
    pub utc_create: Option<String>,
    /// Last change.
    pub utc_modified: Option<String>,
}

impl FirmwareInfo {
    fn from_map(action: &str, m: &Map<String, Value>) -> Result<Self, OtaError> {
        let s = |k: &str| get_string(m, k).filter(|v| !v.is_empty());
        Ok(FirmwareInfo {
            firmware_id: required(action, m, "FirmwareId")?,
            firmware_name: s("FirmwareName"),
            product_key: s("ProductKey"),
            product_name: s("ProductName"),
            type_: get_i64(action, m, "Type")?,
            src_version: s("SrcVersion"),
            dest_version: s("DestVersion"),
            firmware_sign: s("FirmwareSign"),
            sign_method: s("SignMethod"),
            firmware_size: get_u64(action, m, "FirmwareSize")?,
            firmware_url: s("FirmwareUrl"),
            firmware_desc: s("FirmwareDesc"),
            module_name: s("ModuleName"),
            status: get_i64(action, m, "Status")?,
            verify_progress: get_i64(action, m, "VerifyProgress")?,
            udi: s("Udi"),
            utc_create: s("UtcCreate"),
            utc_modified: s("UtcModified"),
        })
    }
}

/// What QueryOTAFirmware returns.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct QueriedFirmware {
    /// The package.
    pub firmware: FirmwareInfo,
    /// The request id.
    pub request_id: Option<String>,
}

impl FromResponse for QueriedFirmware {
    const ACTION: &'static str = "QueryOTAFirmware";
    fn from_document(doc: &Document) -> Result<Self, OtaError> {
        let info = object(Self::ACTION, &doc.fields, "FirmwareInfo")?;
        Ok(QueriedFirmware {
            firmware: FirmwareInfo::from_map(Self::ACTION, info)?,
            request_id: doc.request_id(),
        })
    }
}

/// One page of ListOTAFirmware.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct FirmwarePage {
    /// Packages matching the filter, over all pages.
    pub total: u64,
    /// The page size.
    pub page_size: u64,
    /// The number of pages.
    pub page_count: u64,
    /// This page's number (from 1).
    pub current_page: u64,
    /// The packages on this page.
    pub firmwares: Vec<FirmwareInfo>,
    /// The request id.
    pub request_id: Option<String>,
}

impl FromResponse for FirmwarePage {
    const ACTION: &'static str = "ListOTAFirmware";
    fn from_document(doc: &Document) -> Result<Self, OtaError> {
        let a = Self::ACTION;
        let f = &doc.fields;
        let mut firmwares = Vec::new();
        match f.get("FirmwareInfo") {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) if s.is_empty() => {} // an empty XML list
            Some(Value::Object(o)) => {
                let items = match o.get("SimpleFirmwareInfo") {
                    None | Some(Value::Null) => Vec::new(),
                    Some(Value::Array(items)) => items.iter().collect(),
                    Some(v @ Value::Object(_)) => vec![v],
                    Some(_) => {
                        return Err(OtaError::MalformedResponse {
                            action: a.into(),
                            reason: "SimpleFirmwareInfo is not a list".into(),
                        })
                    }
                };
                for item in items {
                    match item {
                        Value::Object(m) => firmwares.push(FirmwareInfo::from_map(a, m)?),
                        _ => {
                            return Err(OtaError::MalformedResponse {
                                action: a.into(),
                                reason: "a SimpleFirmwareInfo entry is not an object".into(),
                            })
                        }
                    }
                }
            }
            Some(_) => {
                return Err(OtaError::MalformedResponse {
                    action: a.into(),
                    reason: "FirmwareInfo is not an object".into(),
                })
            }
        }
        Ok(FirmwarePage {
            total: get_u64(a, f, "Total")?.unwrap_or(firmwares.len() as u64),
            page_size: get_u64(a, f, "PageSize")?.unwrap_or(0),
            page_count: get_u64(a, f, "PageCount")?.unwrap_or(0),
            current_page: get_u64(a, f, "CurrentPage")?.unwrap_or(0),
            firmwares,
            request_id: doc.request_id(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_tree_shapes() {
        let v = xml_to_tree(
            br#"<?xml version="1.0" encoding="UTF-8"?><R><A>x &amp; y</A><L><I><N>1</N></I><I><N>2</N></I></L><E/><C><![CDATA[<raw>]]></C></R>"#,
        )
        .unwrap();
        assert_eq!(v["A"], "x & y");
        assert_eq!(v["L"]["I"][1]["N"], "2");
        assert_eq!(v["E"], "");
        assert_eq!(v["C"], "<raw>");
    }

    #[test]
    fn xml_rejects_bad_input() {
        for bad in [
            &b"<R><A></R>"[..],
            b"<R>",
            b"",
            b"<R/><S/>",
            b"<!DOCTYPE x [<!ENTITY a 'b'>]><R>&a;</R>",
            b"<R>&bogus;</R>",
            b"text",
        ] {
            assert!(
                xml_to_tree(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        let deep = "<a>".repeat(MAX_XML_DEPTH + 1) + &"</a>".repeat(MAX_XML_DEPTH + 1);
        assert!(xml_to_tree(deep.as_bytes()).unwrap_err().contains("deeper"));
    }
}
