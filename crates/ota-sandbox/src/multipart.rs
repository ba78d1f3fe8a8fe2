//! A streaming `multipart/form-data` parser for the OSS PostObject upload.
//!
//! OSS requires the `file` field to be the last one. The parser therefore reads the
//! text fields into memory (bounded by [`MultipartLimits`]), stops at the header of the
//! `file` part so that the caller can check the policy and the signature, and then
//! streams the file content into any writer without holding it in memory.
//!
//! Field names are matched case-insensitively (as OSS does); their values are kept as
//! sent. Nothing here panics on any input.

use std::io::{self, Read, Write};

/// Bounds on what one form may contain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MultipartLimits {
    /// The largest text field value, in bytes. Default: 64 KiB.
    pub max_field_bytes: usize,
    /// The largest number of fields (the file included). Default: 64.
    pub max_fields: usize,
    /// The largest file content, in bytes. Default: 5 GiB (the OSS object limit).
    pub max_file_bytes: u64,
    /// The largest header block of one part, in bytes. Default: 8 KiB.
    pub max_part_header_bytes: usize,
    /// The largest preamble before the first boundary, in bytes. Default: 16 KiB.
    pub max_preamble_bytes: usize,
}

impl Default for MultipartLimits {
    fn default() -> Self {
        MultipartLimits {
            max_field_bytes: 64 * 1024,
            max_fields: 64,
            max_file_bytes: 5 * 1024 * 1024 * 1024,
            max_part_header_bytes: 8 * 1024,
            max_preamble_bytes: 16 * 1024,
        }
    }
}

/// Why a multipart body was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MultipartError {
    /// The body ended before the closing boundary.
    #[error("multipart body is truncated")]
    Truncated,
    /// No opening boundary within the allowed preamble.
    #[error("no opening boundary within the first {max} bytes")]
    NoOpeningBoundary {
        /// The preamble limit.
        max: usize,
    },
    /// Something other than CRLF or `--` after a boundary.
    #[error("malformed boundary line")]
    BadBoundaryLine,
    /// A part's header block is malformed or too long.
    #[error("malformed part headers: {reason}")]
    BadPartHeaders {
        /// What is wrong with them.
        reason: &'static str,
    },
    /// A part without `Content-Disposition: form-data; name="..."`.
    #[error("part {index} has no form-data name")]
    MissingName {
        /// The 0-based part index.
        index: usize,
    },
    /// A text field larger than the limit.
    #[error("field {name:?} exceeds {max} bytes")]
    FieldTooLarge {
        /// The field name.
        name: String,
        /// The limit.
        max: usize,
    },
    /// More fields than the limit.
    #[error("more than {max} fields")]
    TooManyFields {
        /// The limit.
        max: usize,
    },
    /// A text field whose value is not UTF-8.
    #[error("field {name:?} is not UTF-8")]
    NotUtf8 {
        /// The field name.
        name: String,
    },
    /// The file content is larger than the limit.
    #[error("file exceeds {max} bytes")]
    FileTooLarge {
        /// The limit.
        max: u64,
    },
    /// [`MultipartReader::copy_file`] called when no file part is pending.
    #[error("no file part to read")]
    NoFilePart,
    /// Reading the body or writing the file failed.
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
}

/// One text field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormField {
    /// The field name as sent.
    pub name: String,
    /// The value.
    pub value: String,
}

/// The header of the `file` part.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FilePart {
    /// The `filename` parameter, if any.
    pub file_name: Option<String>,
    /// The part's `Content-Type`, if any.
    pub content_type: Option<String>,
}

/// A whole parsed form (see [`parse_multipart`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MultipartForm {
    /// The text fields before the file, in order.
    pub fields: Vec<FormField>,
    /// The file part's header, if there was one.
    pub file: Option<FilePart>,
    /// The file content (empty without a file).
    pub file_content: Vec<u8>,
}

impl MultipartForm {
    /// The value of field `name`, matched case-insensitively.
    pub fn field(&self, name: &str) -> Option<&str> {
        field(&self.fields, name)
    }
}

/// The value of field `name` among `fields`, matched case-insensitively.
pub fn field<'a>(fields: &'a [FormField], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|f| f.name.eq_ignore_ascii_case(name))
        .map(|f| f.value.as_str())
}

const READ_CHUNK: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the opening boundary.
    Start,
    /// Just after a boundary delimiter (before its CRLF or `--`).
    AfterDelimiter,
    /// The file part's headers were read; its content is next.
    InFile,
    /// The closing delimiter was read.
    Done,
}

/// A streaming multipart reader; see the module documentation.
#[derive(Debug)]
pub struct MultipartReader<R: Read> {
    inner: R,
    /// `\r\n--boundary`.
    delimiter: Vec<u8>,
    buf: Vec<u8>,
    pos: usize,
    eof: bool,
    limits: MultipartLimits,
    state: State,
    parts_seen: usize,
}

impl<R: Read> MultipartReader<R> {
    /// A reader of the body `inner` with `boundary` (without the leading `--`).
    pub fn new(inner: R, boundary: &str, limits: MultipartLimits) -> Self {
        let mut delimiter = b"\r\n--".to_vec();
        delimiter.extend_from_slice(boundary.as_bytes());
        MultipartReader {
            inner,
            delimiter,
            // The body may start directly with "--boundary": a virtual CRLF in front
            // lets one delimiter search handle both cases.
            buf: b"\r\n".to_vec(),
            pos: 0,
            eof: false,
            limits,
            state: State::Start,
            parts_seen: 0,
        }
    }

    /// Changes the file size limit (for example once a policy has been read).
    pub fn set_max_file_bytes(&mut self, max: u64) {
        self.limits.max_file_bytes = max;
    }

    /// Reads more input into the buffer; returns false at end of input.
    fn fill(&mut self) -> Result<bool, MultipartError> {
        if self.eof {
            return Ok(false);
        }
        if self.pos > 0 && self.pos >= self.buf.len() / 2 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        let old = self.buf.len();
        self.buf.resize(old + READ_CHUNK, 0);
        let n = loop {
            match self.inner.read(&mut self.buf[old..]) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.buf.truncate(old);
                    return Err(e.into());
                }
            }
        };
        self.buf.truncate(old + n);
        if n == 0 {
            self.eof = true;
        }
        Ok(n > 0)
    }

    fn available(&self) -> &[u8] {
        &self.buf[self.pos..]
    }

    /// Passes the bytes before the next delimiter to `sink` and consumes the delimiter.
    fn read_until_delimiter(
        &mut self,
        sink: &mut dyn FnMut(&[u8]) -> Result<(), MultipartError>,
    ) -> Result<(), MultipartError> {
        let keep = self.delimiter.len() - 1;
        loop {
            if let Some(i) = find(self.available(), &self.delimiter) {
                let start = self.pos;
                sink(&self.buf[start..start + i])?;
                self.pos += i + self.delimiter.len();
                return Ok(());
            }
            let avail = self.buf.len() - self.pos;
            if avail > keep {
                let upto = self.buf.len() - keep;
                let start = self.pos;
                sink(&self.buf[start..upto])?;
                self.pos = upto;
            }
            if !self.fill()? {
                return Err(MultipartError::Truncated);
            }
        }
    }

    /// Ensures at least `n` bytes are buffered; false if the input ends first.
    fn ensure(&mut self, n: usize) -> Result<bool, MultipartError> {
        while self.buf.len() - self.pos < n {
            if !self.fill()? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// After a delimiter: `--` (the end) or optional whitespace then CRLF (a part).
    /// Returns true when a part follows.
    fn after_delimiter(&mut self) -> Result<bool, MultipartError> {
        if !self.ensure(2)? {
            return Err(MultipartError::Truncated);
        }
        if self.available().starts_with(b"--") {
            self.pos += 2;
            self.state = State::Done;
            return Ok(false);
        }
        // Transport padding (RFC 2046) is whitespace before the CRLF.
        let mut skipped = 0;
        loop {
            if !self.ensure(1)? {
                return Err(MultipartError::Truncated);
            }
            match self.available()[0] {
                b' ' | b'\t' if skipped < 256 => {
                    self.pos += 1;
                    skipped += 1;
                }
                _ => break,
            }
        }
        if !self.ensure(2)? {
            return Err(MultipartError::Truncated);
        }
        if self.available().starts_with(b"\r\n") {
            self.pos += 2;
            Ok(true)
        } else {
            Err(MultipartError::BadBoundaryLine)
        }
    }

    /// Reads one part's header block (through the empty line).
    fn read_part_headers(&mut self) -> Result<Vec<(String, String)>, MultipartError> {
        let max = self.limits.max_part_header_bytes;
        loop {
            if let Some(i) = find(self.available(), b"\r\n\r\n") {
                if i > max {
                    break;
                }
                let block = self.buf[self.pos..self.pos + i].to_vec();
                self.pos += i + 4;
                return parse_part_headers(&block);
            }
            if self.available().starts_with(b"\r\n") {
                // No headers at all.
                self.pos += 2;
                return Ok(Vec::new());
            }
            if self.buf.len() - self.pos > max + 4 {
                break;
            }
            if !self.fill()? {
                return Err(MultipartError::Truncated);
            }
        }
        Err(MultipartError::BadPartHeaders {
            reason: "header block too long",
        })
    }

    /// Reads the text fields up to the `file` part (whose header is returned) or to the
    /// end of the form (then the file is `None`).
    pub fn read_fields(&mut self) -> Result<(Vec<FormField>, Option<FilePart>), MultipartError> {
        let mut fields = Vec::new();
        if self.state == State::Start {
            let max = self.limits.max_preamble_bytes;
            let mut seen = 0usize;
            self.read_until_delimiter(&mut |chunk| {
                seen += chunk.len();
                if seen > max {
                    Err(MultipartError::NoOpeningBoundary { max })
                } else {
                    Ok(())
                }
            })
            .map_err(|e| match e {
                MultipartError::Truncated => MultipartError::NoOpeningBoundary { max },
                other => other,
            })?;
            self.state = State::AfterDelimiter;
        }
        while self.state == State::AfterDelimiter {
            if !self.after_delimiter()? {
                return Ok((fields, None));
            }
            let index = self.parts_seen;
            self.parts_seen += 1;
            if self.parts_seen > self.limits.max_fields {
                return Err(MultipartError::TooManyFields {
                    max: self.limits.max_fields,
                });
            }
            let headers = self.read_part_headers()?;
            let disposition = headers
                .iter()
                .find(|(k, _)| k == "content-disposition")
                .map(|(_, v)| v.as_str())
                .ok_or(MultipartError::MissingName { index })?;
            let (name, file_name) =
                parse_disposition(disposition).ok_or(MultipartError::MissingName { index })?;
            if name.eq_ignore_ascii_case("file") {
                let content_type = headers
                    .iter()
                    .find(|(k, _)| k == "content-type")
                    .map(|(_, v)| v.clone());
                self.state = State::InFile;
                return Ok((
                    fields,
                    Some(FilePart {
                        file_name,
                        content_type,
                    }),
                ));
            }
            let max = self.limits.max_field_bytes;
            let mut value = Vec::new();
            self.read_until_delimiter(&mut |chunk| {
                if value.len() + chunk.len() > max {
                    return Err(MultipartError::FieldTooLarge {
                        name: name.clone(),
                        max,
                    });
                }
                value.extend_from_slice(chunk);
                Ok(())
            })?;
            let value = String::from_utf8(value)
                .map_err(|_| MultipartError::NotUtf8 { name: name.clone() })?;
            fields.push(FormField { name, value });
        }
        Ok((fields, None))
    }

    /// Streams the file content into `out`; returns its length. Fails with
    /// [`MultipartError::FileTooLarge`] as soon as the content exceeds the limit.
    pub fn copy_file<W: Write>(&mut self, out: &mut W) -> Result<u64, MultipartError> {
        if self.state != State::InFile {
            return Err(MultipartError::NoFilePart);
        }
        let max = self.limits.max_file_bytes;
        let mut total = 0u64;
        self.read_until_delimiter(&mut |chunk| {
            total += chunk.len() as u64;
            if total > max {
                return Err(MultipartError::FileTooLarge { max });
            }
            out.write_all(chunk)?;
            Ok(())
        })?;
        self.state = State::AfterDelimiter;
        Ok(total)
    }

    /// Reads the rest of the form to its closing boundary. Parts after the file are
    /// read (bounded like text fields) and ignored, as OSS ignores them.
    pub fn finish(&mut self) -> Result<(), MultipartError> {
        if self.state == State::InFile {
            self.copy_file(&mut io::sink())?;
        }
        while self.state != State::Done {
            let (_, file) = self.read_fields()?;
            if file.is_some() {
                self.copy_file(&mut io::sink())?;
            }
        }
        Ok(())
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    let first = *needle.first()?;
    let mut from = 0;
    while from + needle.len() <= haystack.len() {
        let i = haystack[from..=haystack.len() - needle.len()]
            .iter()
            .position(|&b| b == first)?;
        let at = from + i;
        if &haystack[at..at + needle.len()] == needle {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

fn parse_part_headers(block: &[u8]) -> Result<Vec<(String, String)>, MultipartError> {
    let text = std::str::from_utf8(block).map_err(|_| MultipartError::BadPartHeaders {
        reason: "not UTF-8",
    })?;
    let mut out = Vec::new();
    for line in text.split("\r\n") {
        if out.len() >= 16 {
            return Err(MultipartError::BadPartHeaders {
                reason: "too many header lines",
            });
        }
        let (k, v) = line.split_once(':').ok_or(MultipartError::BadPartHeaders {
            reason: "header line without colon",
        })?;
        out.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
    }
    Ok(out)
}

/// Parses `form-data; name="x"; filename="y"` into the name and the file name.
fn parse_disposition(value: &str) -> Option<(String, Option<String>)> {
    let mut rest = value.trim();
    let kind_end = rest.find(';').unwrap_or(rest.len());
    if !rest[..kind_end].trim().eq_ignore_ascii_case("form-data") {
        return None;
    }
    rest = &rest[kind_end..];
    let mut name = None;
    let mut file_name = None;
    while let Some(r) = rest.strip_prefix(';') {
        let r = r.trim_start();
        let eq = r.find('=')?;
        let key = r[..eq].trim().to_ascii_lowercase();
        let after = &r[eq + 1..];
        let (val, remaining) = if let Some(q) = after.strip_prefix('"') {
            // A quoted string; backslash escapes the next character.
            let mut out = String::new();
            let mut chars = q.char_indices();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, n)) = chars.next() {
                            out.push(n);
                        }
                    }
                    '"' => {
                        end = Some(i);
                        break;
                    }
                    c => out.push(c),
                }
            }
            let end = end?;
            (out, &q[end + 1..])
        } else {
            let end = after.find(';').unwrap_or(after.len());
            (after[..end].trim().to_string(), &after[end..])
        };
        match key.as_str() {
            "name" => name = Some(val),
            "filename" => file_name = Some(val),
            _ => {}
        }
        rest = remaining.trim_start();
    }
    let name = name.filter(|n| !n.is_empty())?;
    Some((name, file_name))
}

/// Parses a whole multipart body held in memory: the fields before the file, the file
/// header and content, and the rest to the closing boundary.
///
/// A pure function over untrusted bytes, suitable for fuzzing; allocation is bounded by
/// `limits` and the body length.
pub fn parse_multipart(
    body: &[u8],
    boundary: &str,
    limits: &MultipartLimits,
) -> Result<MultipartForm, MultipartError> {
    let mut reader = MultipartReader::new(body, boundary, limits.clone());
    let (fields, file) = reader.read_fields()?;
    let mut file_content = Vec::new();
    if file.is_some() {
        reader.copy_file(&mut file_content)?;
    }
    reader.finish()?;
    Ok(MultipartForm {
        fields,
        file,
        file_content,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(boundary: &str, parts: &[(&str, Option<&str>, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        for (name, filename, value) in parts {
            out.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
            match filename {
                Some(f) => out.extend_from_slice(
                    format!("Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes(),
                ),
                None => out.extend_from_slice(
                    format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
                ),
            }
            out.extend_from_slice(value);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        out
    }

    #[test]
    fn parses_an_upload_form() {
        let content: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let body = form(
            "XyZ",
            &[
                ("key", None, b"ota/a/b.bin"),
                ("Policy", None, b"eyJ9"),
                ("OSSAccessKeyId", None, b"id"),
                ("signature", None, b"sig"),
                ("success_action_status", None, b"200"),
                ("file", Some("b.bin"), &content),
            ],
        );
        let f = parse_multipart(&body, "XyZ", &MultipartLimits::default()).unwrap();
        assert_eq!(f.field("KEY"), Some("ota/a/b.bin"));
        assert_eq!(f.field("policy"), Some("eyJ9"));
        assert_eq!(f.fields.len(), 5);
        assert_eq!(f.file.as_ref().unwrap().file_name.as_deref(), Some("b.bin"));
        assert_eq!(f.file_content, content);
    }

    #[test]
    fn file_containing_boundary_prefixes() {
        let content = b"\r\n--XyZ-not\r\n--Xy\r\n-".to_vec();
        let body = form("XyZ", &[("key", None, b"k"), ("file", Some("f"), &content)]);
        // "\r\n--XyZ-not" contains the full delimiter, so it must not be used as content.
        assert!(parse_multipart(&body, "XyZ", &MultipartLimits::default()).is_err());
        let content = b"\r\n--Xy\r\n-X".to_vec();
        let body = form("XyZ", &[("file", Some("f"), &content)]);
        let f = parse_multipart(&body, "XyZ", &MultipartLimits::default()).unwrap();
        assert_eq!(f.file_content, content);
    }

    #[test]
    fn streams_byte_by_byte() {
        struct OneByte<'a>(&'a [u8]);
        impl Read for OneByte<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if self.0.is_empty() || buf.is_empty() {
                    return Ok(0);
                }
                buf[0] = self.0[0];
                self.0 = &self.0[1..];
                Ok(1)
            }
        }
        let body = form(
            "b",
            &[("key", None, b"v"), ("file", Some("f"), b"data\r\n-")],
        );
        let mut r = MultipartReader::new(OneByte(&body), "b", MultipartLimits::default());
        let (fields, file) = r.read_fields().unwrap();
        assert_eq!(fields[0].value, "v");
        assert!(file.is_some());
        let mut out = Vec::new();
        assert_eq!(r.copy_file(&mut out).unwrap(), 7);
        assert_eq!(out, b"data\r\n-");
        r.finish().unwrap();
    }

    #[test]
    fn errors() {
        let l = MultipartLimits::default();
        assert!(matches!(
            parse_multipart(b"no boundary here", "b", &l),
            Err(MultipartError::NoOpeningBoundary { .. })
        ));
        assert!(matches!(
            parse_multipart(
                b"--b\r\nContent-Disposition: form-data; name=\"k\"\r\n\r\nv",
                "b",
                &l
            ),
            Err(MultipartError::Truncated)
        ));
        assert!(matches!(
            parse_multipart(b"--b\r\nX: y\r\n\r\nv\r\n--b--", "b", &l),
            Err(MultipartError::MissingName { index: 0 })
        ));
        assert!(matches!(
            parse_multipart(b"--bXX", "b", &l),
            Err(MultipartError::BadBoundaryLine)
        ));
        let small = MultipartLimits {
            max_field_bytes: 3,
            max_file_bytes: 3,
            max_fields: 2,
            ..MultipartLimits::default()
        };
        let body = form("b", &[("key", None, b"abcd")]);
        assert!(matches!(
            parse_multipart(&body, "b", &small),
            Err(MultipartError::FieldTooLarge { .. })
        ));
        let body = form("b", &[("file", Some("f"), b"abcd")]);
        assert!(matches!(
            parse_multipart(&body, "b", &small),
            Err(MultipartError::FileTooLarge { max: 3 })
        ));
        let body = form(
            "b",
            &[("a", None, b"1"), ("b", None, b"2"), ("c", None, b"3")],
        );
        assert!(matches!(
            parse_multipart(&body, "b", &small),
            Err(MultipartError::TooManyFields { max: 2 })
        ));
        let body = form("b", &[("a", None, &[0xff, 0xfe])]);
        assert!(matches!(
            parse_multipart(&body, "b", &l),
            Err(MultipartError::NotUtf8 { .. })
        ));
    }

    #[test]
    fn dispositions() {
        assert_eq!(
            parse_disposition(r#"form-data; name="a\"b"; filename="x;y.bin""#),
            Some(("a\"b".to_string(), Some("x;y.bin".to_string())))
        );
        assert_eq!(
            parse_disposition("form-data; name=key"),
            Some(("key".to_string(), None))
        );
        assert_eq!(parse_disposition("attachment; name=\"a\""), None);
        assert_eq!(parse_disposition("form-data; name=\"a"), None);
        assert_eq!(parse_disposition("form-data"), None);
    }

    proptest::proptest! {
        #[test]
        fn never_panics(body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
            let _ = parse_multipart(&body, "b", &MultipartLimits::default());
        }

        #[test]
        fn round_trips_any_file(content in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2048)) {
            let boundary = "----sandboxBoundary7MA4YWxkTrZu0gW";
            let body = form(boundary, &[("key", None, b"k"), ("file", Some("f"), &content)]);
            // A file that happens to contain the delimiter cannot round-trip; skip it.
            let mut delim = b"\r\n--".to_vec();
            delim.extend_from_slice(boundary.as_bytes());
            let mut probe = b"\r\n".to_vec();
            probe.extend_from_slice(&content);
            proptest::prop_assume!(find(&probe, &delim).is_none());
            let f = parse_multipart(&body, boundary, &MultipartLimits::default()).unwrap();
            proptest::prop_assert_eq!(f.file_content, content);
        }
    }
}
