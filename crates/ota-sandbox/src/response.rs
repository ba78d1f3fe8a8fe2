//! Response bodies in JSON or XML, built from one ordered tree.

use crate::codes::ErrorSpec;

/// A response value.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// A string.
    Str(String),
    /// An integer.
    Int(i64),
    /// A boolean.
    Bool(bool),
    /// An object with ordered fields.
    Obj(Vec<(String, Node)>),
    /// A list. In XML each item repeats the element name of the list.
    List(Vec<Node>),
}

impl Node {
    /// An empty object.
    pub fn obj() -> Node {
        Node::Obj(Vec::new())
    }

    /// Adds a field to an object (no-op on other nodes).
    pub fn with(mut self, name: &str, value: Node) -> Node {
        if let Node::Obj(fields) = &mut self {
            fields.push((name.to_string(), value));
        }
        self
    }

    /// Adds a string field.
    pub fn with_str(self, name: &str, value: &str) -> Node {
        self.with(name, Node::Str(value.to_string()))
    }

    /// Adds a string field when `value` is `Some`.
    pub fn with_opt_str(self, name: &str, value: Option<&str>) -> Node {
        match value {
            Some(v) => self.with_str(name, v),
            None => self,
        }
    }

    /// Adds an integer field.
    pub fn with_int(self, name: &str, value: i64) -> Node {
        self.with(name, Node::Int(value))
    }
}

/// The response format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `application/json;charset=utf-8`.
    Json,
    /// `text/xml;charset=utf-8` (the IoT default).
    Xml,
}

impl Format {
    /// The `Content-Type` for this format. The Tea SDK parses XML errors only when the
    /// type is exactly `text/xml;charset=utf-8`.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/json;charset=utf-8",
            Format::Xml => "text/xml;charset=utf-8",
        }
    }

    /// `JSON`/`XML` in any case; `None` for other values.
    pub fn parse(value: &str) -> Option<Format> {
        if value.eq_ignore_ascii_case("json") {
            Some(Format::Json)
        } else if value.eq_ignore_ascii_case("xml") {
            Some(Format::Xml)
        } else {
            None
        }
    }
}

/// Renders `node` as compact JSON.
pub fn to_json(node: &Node) -> String {
    let mut out = String::new();
    write_json(node, &mut out);
    out
}

fn write_json(node: &Node, out: &mut String) {
    match node {
        Node::Str(s) => out.push_str(&serde_json::Value::String(s.clone()).to_string()),
        Node::Int(i) => out.push_str(&i.to_string()),
        Node::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Node::Obj(fields) => {
            out.push('{');
            for (i, (k, v)) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::Value::String(k.clone()).to_string());
                out.push(':');
                write_json(v, out);
            }
            out.push('}');
        }
        Node::List(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(v, out);
            }
            out.push(']');
        }
    }
}

/// Escapes text for XML element content.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// Renders `node` as an XML document with root element `root` and the UTF-8 prolog.
pub fn to_xml(root: &str, node: &Node) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
    write_xml_element(root, node, &mut out);
    out
}

fn write_xml_element(name: &str, node: &Node, out: &mut String) {
    if let Node::List(items) = node {
        for item in items {
            write_xml_element(name, item, out);
        }
        return;
    }
    out.push('<');
    out.push_str(name);
    out.push('>');
    match node {
        Node::Str(s) => out.push_str(&xml_escape(s)),
        Node::Int(i) => out.push_str(&i.to_string()),
        Node::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Node::Obj(fields) => {
            for (k, v) in fields {
                write_xml_element(k, v, out);
            }
        }
        Node::List(_) => {}
    }
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

/// Renders a successful or business-error API body.
pub fn render(format: Format, action: &str, node: &Node) -> Vec<u8> {
    match format {
        Format::Json => to_json(node).into_bytes(),
        Format::Xml => to_xml(&format!("{action}Response"), node).into_bytes(),
    }
}

/// The body of a gateway error: `RequestId, HostId, Code, Message, Recommend`.
pub fn gateway_error_body(
    format: Format,
    spec: &ErrorSpec,
    message: &str,
    request_id: &str,
    host_id: &str,
) -> Vec<u8> {
    let recommend = format!(
        "https://api.aliyun.com/troubleshoot?q={}&product=Iot&requestId={}",
        spec.code, request_id
    );
    let node = Node::obj()
        .with_str("RequestId", request_id)
        .with_str("HostId", host_id)
        .with_str("Code", spec.code)
        .with_str("Message", message)
        .with_str("Recommend", &recommend);
    match format {
        Format::Json => to_json(&node).into_bytes(),
        Format::Xml => to_xml("Error", &node).into_bytes(),
    }
}

/// The body of a business error: `RequestId, Success:false, Code, ErrorMessage`.
pub fn business_error_node(spec: &ErrorSpec, message: &str, request_id: &str) -> Node {
    Node::obj()
        .with_str("RequestId", request_id)
        .with("Success", Node::Bool(false))
        .with_str("Code", spec.code)
        .with_str("ErrorMessage", message)
}

/// The body of an OSS error (always XML).
pub fn oss_error_body(spec: &ErrorSpec, message: &str, request_id: &str, host_id: &str) -> Vec<u8> {
    let node = Node::obj()
        .with_str("Code", spec.code)
        .with_str("Message", message)
        .with_str("RequestId", request_id)
        .with_str("HostId", host_id);
    to_xml("Error", &node).into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_and_xml_agree_on_shape() {
        let n = Node::obj()
            .with(
                "Data",
                Node::obj()
                    .with_str("FirmwareId", "a<b")
                    .with_str("UtcCreate", "t"),
            )
            .with(
                "FirmwareInfo",
                Node::obj().with(
                    "SimpleFirmwareInfo",
                    Node::List(vec![
                        Node::obj().with_int("N", 1),
                        Node::obj().with_int("N", 2),
                    ]),
                ),
            )
            .with_str("RequestId", "R")
            .with("Success", Node::Bool(true));
        assert_eq!(
            to_json(&n),
            r#"{"Data":{"FirmwareId":"a<b","UtcCreate":"t"},"FirmwareInfo":{"SimpleFirmwareInfo":[{"N":1},{"N":2}]},"RequestId":"R","Success":true}"#
        );
        assert_eq!(
            to_xml("XResponse", &n),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><XResponse><Data><FirmwareId>a&lt;b</FirmwareId><UtcCreate>t</UtcCreate></Data><FirmwareInfo><SimpleFirmwareInfo><N>1</N></SimpleFirmwareInfo><SimpleFirmwareInfo><N>2</N></SimpleFirmwareInfo></FirmwareInfo><RequestId>R</RequestId><Success>true</Success></XResponse>"
        );
    }

    #[test]
    fn error_bodies() {
        let spec = crate::codes::ErrorCode::ThrottlingUser.spec();
        let body = gateway_error_body(Format::Json, &spec, "m", "R", "h");
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["Code"], "Throttling.User");
        assert_eq!(v["RequestId"], "R");
        assert!(v["Recommend"].as_str().unwrap().contains("Throttling.User"));
        let xml = String::from_utf8(gateway_error_body(Format::Xml, &spec, "m", "R", "h")).unwrap();
        assert!(xml.contains("<Error><RequestId>R</RequestId>"));
    }
}
