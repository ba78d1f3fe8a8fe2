//! A small HTTP/1.1 server-side wire layer: request heads, bodies (fixed length or
//! chunked), and responses.
//!
//! Everything that reads client bytes is bounded: the request head by
//! [`MAX_HEAD_BYTES`] and [`MAX_HEADERS`], chunk-size lines and trailers by small
//! constants, and bodies by the caller's limit. Nothing here panics on any input.

use std::io::{self, BufRead, Read, Write};

/// The largest request head (request line plus headers) accepted, in bytes.
pub const MAX_HEAD_BYTES: usize = 32 * 1024;
/// The largest number of header fields accepted in one request.
pub const MAX_HEADERS: usize = 100;
/// The longest chunk-size line or trailer line accepted in a chunked body.
const MAX_CHUNK_LINE: usize = 1024;
/// The largest total size of trailer lines after the last chunk.
const MAX_TRAILER_BYTES: usize = 8 * 1024;

/// Why a request head or body could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HttpError {
    /// The request head is longer than [`MAX_HEAD_BYTES`].
    #[error("request head exceeds {max} bytes")]
    HeadTooLarge {
        /// The limit.
        max: usize,
    },
    /// The request has more than [`MAX_HEADERS`] header fields.
    #[error("request has more than {max} header fields")]
    TooManyHeaders {
        /// The limit.
        max: usize,
    },
    /// The request line is not `METHOD SP target SP HTTP/1.x`.
    #[error("malformed request line: {reason}")]
    BadRequestLine {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A header line is malformed.
    #[error("malformed header line {line}: {reason}")]
    BadHeader {
        /// The 1-based line number within the head.
        line: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The HTTP version is not 1.0 or 1.1.
    #[error("unsupported HTTP version {version:?}")]
    UnsupportedVersion {
        /// The version text received.
        version: String,
    },
    /// `Content-Length` is not a decimal number, or two of them disagree.
    #[error("invalid Content-Length {value:?}")]
    BadContentLength {
        /// The header value received.
        value: String,
    },
    /// A `Transfer-Encoding` other than `chunked`.
    #[error("unsupported Transfer-Encoding {value:?}")]
    UnsupportedTransferEncoding {
        /// The header value received.
        value: String,
    },
    /// A chunked body is malformed.
    #[error("malformed chunked body: {reason}")]
    BadChunk {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The body is larger than the caller allows.
    #[error("request body exceeds {max} bytes")]
    BodyTooLarge {
        /// The limit.
        max: u64,
    },
    /// The connection closed in the middle of a request.
    #[error("connection closed in the middle of the request")]
    UnexpectedEof,
    /// An I/O error on the connection.
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
}

/// The parsed head of one HTTP request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    /// The method, as sent (methods are case-sensitive).
    pub method: String,
    /// The request target (`/path?query`), as sent.
    pub target: String,
    /// The minor HTTP version: 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor_version: u8,
    /// Header fields in order, names lowercased, values trimmed.
    pub headers: Vec<(String, String)>,
}

impl RequestHead {
    /// The first value of header `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }

    /// Whether the connection stays open after this request (HTTP/1.1 unless
    /// `Connection: close`; HTTP/1.0 only with `Connection: keep-alive`).
    pub fn keep_alive(&self) -> bool {
        let tokens = self
            .header("connection")
            .map(|v| v.to_ascii_lowercase())
            .unwrap_or_default();
        let has = |t: &str| tokens.split(',').any(|x| x.trim() == t);
        if self.minor_version >= 1 {
            !has("close")
        } else {
            has("keep-alive")
        }
    }

    /// How the body is framed.
    pub fn body_framing(&self) -> Result<BodyFraming, HttpError> {
        let mut chunked = false;
        for (name, value) in &self.headers {
            if name == "transfer-encoding" {
                let v = value.trim();
                if v.eq_ignore_ascii_case("chunked") {
                    chunked = true;
                } else if !v.eq_ignore_ascii_case("identity") {
                    return Err(HttpError::UnsupportedTransferEncoding {
                        value: value.clone(),
                    });
                }
            }
        }
        if chunked {
            return Ok(BodyFraming::Chunked);
        }
        let mut length: Option<u64> = None;
        for (name, value) in &self.headers {
            if name == "content-length" {
                let v = value.trim();
                let bad = || HttpError::BadContentLength {
                    value: value.clone(),
                };
                if v.is_empty() || v.len() > 19 || !v.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(bad());
                }
                let n: u64 = v.parse().map_err(|_| bad())?;
                if length.is_some_and(|l| l != n) {
                    return Err(bad());
                }
                length = Some(n);
            }
        }
        Ok(BodyFraming::Length(length.unwrap_or(0)))
    }

    /// Whether the client asked for `100 Continue` before sending the body.
    pub fn expects_continue(&self) -> bool {
        self.minor_version >= 1
            && self
                .header("expect")
                .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
    }
}

/// The first value of header `name` (lowercase) in a list of lowercased headers.
pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// How a request body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFraming {
    /// Exactly this many bytes follow the head.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Parses a request head: the request line and the header lines, with or without the
/// final empty line. Lines may end in CRLF or a bare LF.
///
/// This is a pure function over untrusted bytes, suitable for fuzzing.
pub fn parse_request_head(bytes: &[u8]) -> Result<RequestHead, HttpError> {
    if bytes.len() > MAX_HEAD_BYTES {
        return Err(HttpError::HeadTooLarge {
            max: MAX_HEAD_BYTES,
        });
    }
    let mut lines = bytes
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let request_line = lines.next().unwrap_or_default();
    let request_line =
        std::str::from_utf8(request_line).map_err(|_| HttpError::BadRequestLine {
            reason: "not UTF-8",
        })?;
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(HttpError::BadRequestLine {
            reason: "expected three space-separated parts",
        });
    };
    if method.is_empty() || !method.bytes().all(is_token_byte) {
        return Err(HttpError::BadRequestLine {
            reason: "invalid method",
        });
    }
    if target.is_empty() || target.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err(HttpError::BadRequestLine {
            reason: "invalid request target",
        });
    }
    let minor_version = match version {
        "HTTP/1.1" => 1,
        "HTTP/1.0" => 0,
        other => {
            return Err(HttpError::UnsupportedVersion {
                version: other.chars().take(32).collect(),
            })
        }
    };
    let mut headers = Vec::new();
    for (i, line) in lines.enumerate() {
        let line_no = i + 2;
        if line.is_empty() {
            break;
        }
        if headers.len() == MAX_HEADERS {
            return Err(HttpError::TooManyHeaders { max: MAX_HEADERS });
        }
        if line[0] == b' ' || line[0] == b'\t' {
            return Err(HttpError::BadHeader {
                line: line_no,
                reason: "obsolete line folding",
            });
        }
        let colon = line
            .iter()
            .position(|&b| b == b':')
            .ok_or(HttpError::BadHeader {
                line: line_no,
                reason: "no colon",
            })?;
        let (name, value) = (&line[..colon], &line[colon + 1..]);
        if name.is_empty() || !name.iter().all(|&b| is_token_byte(b)) {
            return Err(HttpError::BadHeader {
                line: line_no,
                reason: "invalid field name",
            });
        }
        if value.iter().any(|&b| b == 0 || b == b'\r') {
            return Err(HttpError::BadHeader {
                line: line_no,
                reason: "control character in value",
            });
        }
        let value = std::str::from_utf8(value).map_err(|_| HttpError::BadHeader {
            line: line_no,
            reason: "value is not UTF-8",
        })?;
        // Field names are ASCII tokens, checked above.
        let name = String::from_utf8_lossy(name).to_ascii_lowercase();
        headers.push((name, value.trim_matches([' ', '\t']).to_string()));
    }
    Ok(RequestHead {
        method: method.to_string(),
        target: target.to_string(),
        minor_version,
        headers,
    })
}

/// Reads one request head from `reader`: bytes up to and including the empty line.
///
/// Returns `Ok(None)` when the connection is closed cleanly before the first byte (or
/// after only blank lines, which RFC 9112 says to ignore).
pub fn read_request_head<R: BufRead>(reader: &mut R) -> Result<Option<Vec<u8>>, HttpError> {
    let mut head = Vec::new();
    loop {
        let start = head.len();
        let n = read_line_bounded(reader, &mut head, MAX_HEAD_BYTES)?;
        if n == 0 {
            if head.iter().all(|b| *b == b'\r' || *b == b'\n') {
                return Ok(None);
            }
            return Err(HttpError::UnexpectedEof);
        }
        let line = &head[start..];
        let is_blank = line == b"\r\n" || line == b"\n";
        if is_blank {
            if head[..start].iter().all(|b| *b == b'\r' || *b == b'\n') {
                // Blank lines before the request line are ignored.
                head.clear();
                continue;
            }
            return Ok(Some(head));
        }
        if !line.ends_with(b"\n") {
            return Err(HttpError::UnexpectedEof);
        }
    }
}

/// Appends one line (through `\n`) to `out`, failing once `out` would exceed `max`.
/// Returns the number of bytes appended (0 at end of stream).
fn read_line_bounded<R: BufRead>(
    reader: &mut R,
    out: &mut Vec<u8>,
    max: usize,
) -> Result<usize, HttpError> {
    let mut appended = 0;
    loop {
        let buf = match reader.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        };
        if buf.is_empty() {
            return Ok(appended);
        }
        let (take, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (buf.len(), false),
        };
        if out.len() + take > max {
            return Err(HttpError::HeadTooLarge { max });
        }
        out.extend_from_slice(&buf[..take]);
        reader.consume(take);
        appended += take;
        if done {
            return Ok(appended);
        }
    }
}

/// A reader over a request body that yields exactly the body bytes, de-chunking if
/// needed, and fails with [`HttpError::BodyTooLarge`] (as an I/O error of kind
/// `InvalidData`) past `max` bytes.
#[derive(Debug)]
pub struct BodyReader<'a, R: BufRead> {
    inner: &'a mut R,
    framing: BodyFraming,
    /// Bytes left in the current chunk (chunked) or the whole body (fixed length).
    remaining: u64,
    /// Body bytes yielded so far.
    yielded: u64,
    max: u64,
    /// Chunked: whether the last chunk and trailers have been read.
    finished: bool,
    /// Chunked: whether the CRLF after the current chunk's data is still to be read.
    pending_crlf: bool,
}

impl<'a, R: BufRead> BodyReader<'a, R> {
    /// A body reader for `framing` over `inner`, allowing at most `max` bytes.
    pub fn new(inner: &'a mut R, framing: BodyFraming, max: u64) -> Result<Self, HttpError> {
        let remaining = match framing {
            BodyFraming::Length(n) => {
                if n > max {
                    return Err(HttpError::BodyTooLarge { max });
                }
                n
            }
            BodyFraming::Chunked => 0,
        };
        Ok(BodyReader {
            inner,
            framing,
            remaining,
            yielded: 0,
            max,
            finished: matches!(framing, BodyFraming::Length(0)),
            pending_crlf: false,
        })
    }

    /// Whether the whole body has been consumed (the connection can be reused).
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Reads the whole (remaining) body into memory.
    pub fn read_all(&mut self) -> Result<Vec<u8>, HttpError> {
        let mut out = Vec::new();
        let mut buf = [0u8; 8192];
        loop {
            let n = self.read_body(&mut buf)?;
            if n == 0 {
                return Ok(out);
            }
            out.extend_from_slice(&buf[..n]);
        }
    }

    /// Reads and discards the rest of the body, up to `limit` bytes; returns whether it
    /// reached the end.
    pub fn drain(&mut self, limit: u64) -> bool {
        let mut buf = [0u8; 8192];
        let mut total = 0u64;
        while total < limit {
            match self.read_body(&mut buf) {
                Ok(0) => return true,
                Ok(n) => total += n as u64,
                Err(_) => return false,
            }
        }
        self.finished
    }

    /// Reads body bytes into `buf`, with typed errors.
    pub fn read_body(&mut self, buf: &mut [u8]) -> Result<usize, HttpError> {
        if self.finished || buf.is_empty() {
            return Ok(0);
        }
        match self.framing {
            BodyFraming::Length(_) => {
                let n = self.read_remaining(buf)?;
                if self.remaining == 0 {
                    self.finished = true;
                }
                Ok(n)
            }
            BodyFraming::Chunked => {
                if self.remaining == 0 {
                    if self.pending_crlf {
                        self.read_crlf()?;
                        self.pending_crlf = false;
                    }
                    let size = self.read_chunk_size()?;
                    if size == 0 {
                        self.read_trailers()?;
                        self.finished = true;
                        return Ok(0);
                    }
                    if self.yielded.saturating_add(size) > self.max {
                        return Err(HttpError::BodyTooLarge { max: self.max });
                    }
                    self.remaining = size;
                }
                let n = self.read_remaining(buf)?;
                if self.remaining == 0 {
                    self.pending_crlf = true;
                }
                Ok(n)
            }
        }
    }

    /// Reads up to `buf.len()` bytes of the current length-delimited span (the whole body, or
    /// the current chunk); the peer closing before the span ends is an error.
    fn read_remaining(&mut self, buf: &mut [u8]) -> Result<usize, HttpError> {
        let want = buf
            .len()
            .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Err(HttpError::UnexpectedEof);
        }
        self.remaining -= n as u64;
        self.yielded += n as u64;
        Ok(n)
    }

    fn read_crlf(&mut self) -> Result<(), HttpError> {
        let mut line = Vec::new();
        read_line_bounded(self.inner, &mut line, MAX_CHUNK_LINE).map_err(|e| match e {
            HttpError::HeadTooLarge { .. } => HttpError::BadChunk {
                reason: "chunk data longer than its size",
            },
            other => other,
        })?;
        match line.as_slice() {
            b"\r\n" | b"\n" => Ok(()),
            b"" => Err(HttpError::UnexpectedEof),
            _ => Err(HttpError::BadChunk {
                reason: "chunk data longer than its size",
            }),
        }
    }

    fn read_chunk_size(&mut self) -> Result<u64, HttpError> {
        let mut line = Vec::new();
        let n = read_line_bounded(self.inner, &mut line, MAX_CHUNK_LINE).map_err(|e| match e {
            HttpError::HeadTooLarge { .. } => HttpError::BadChunk {
                reason: "chunk-size line too long",
            },
            other => other,
        })?;
        if n == 0 || !line.ends_with(b"\n") {
            return Err(HttpError::UnexpectedEof);
        }
        parse_chunk_size(&line)
    }

    fn read_trailers(&mut self) -> Result<(), HttpError> {
        let mut total = 0usize;
        loop {
            let mut line = Vec::new();
            let n =
                read_line_bounded(self.inner, &mut line, MAX_CHUNK_LINE).map_err(|e| match e {
                    HttpError::HeadTooLarge { .. } => HttpError::BadChunk {
                        reason: "trailer line too long",
                    },
                    other => other,
                })?;
            if n == 0 {
                return Err(HttpError::UnexpectedEof);
            }
            total += n;
            if total > MAX_TRAILER_BYTES {
                return Err(HttpError::BadChunk {
                    reason: "trailers too long",
                });
            }
            if line == b"\r\n" || line == b"\n" {
                return Ok(());
            }
        }
    }
}

/// Parses a chunk-size line (`1a2b;ext=1\r\n`): hex digits, optional extensions.
pub fn parse_chunk_size(line: &[u8]) -> Result<u64, HttpError> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let digits_end = line
        .iter()
        .position(|b| !b.is_ascii_hexdigit())
        .unwrap_or(line.len());
    let digits = &line[..digits_end];
    let rest = &line[digits_end..];
    if digits.is_empty() {
        return Err(HttpError::BadChunk {
            reason: "missing chunk size",
        });
    }
    if digits.len() > 15 {
        return Err(HttpError::BadChunk {
            reason: "chunk size too large",
        });
    }
    let rest_ok = rest.is_empty()
        || rest
            .iter()
            .find(|b| **b != b' ' && **b != b'\t')
            .is_some_and(|b| *b == b';');
    if !rest_ok {
        return Err(HttpError::BadChunk {
            reason: "garbage after chunk size",
        });
    }
    let mut n = 0u64;
    for &d in digits {
        let v = char::from(d).to_digit(16).ok_or(HttpError::BadChunk {
            reason: "missing chunk size",
        })?;
        n = (n << 4) | u64::from(v);
    }
    Ok(n)
}

impl<R: BufRead> Read for BodyReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_body(buf).map_err(|e| match e {
            HttpError::Io(io) => io,
            other => io::Error::new(io::ErrorKind::InvalidData, other),
        })
    }
}

/// The body of a response.
#[derive(Debug)]
pub enum ResponseBody {
    /// In-memory bytes.
    Bytes(Vec<u8>),
    /// `len` bytes read from a file starting at its current position.
    File(std::fs::File, u64),
}

/// An HTTP response to write.
#[derive(Debug)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Header fields (besides `Content-Length`, `Connection` and `Date`, which the
    /// writer adds).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: ResponseBody,
}

impl Response {
    /// A response with an in-memory body.
    pub fn new(status: u16, content_type: Option<&str>, body: Vec<u8>) -> Response {
        let mut headers = Vec::new();
        if let Some(ct) = content_type {
            headers.push(("Content-Type".to_string(), ct.to_string()));
        }
        Response {
            status,
            headers,
            body: ResponseBody::Bytes(body),
        }
    }

    /// Adds a header.
    pub fn with_header(mut self, name: &str, value: &str) -> Response {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// The length of the body.
    pub fn body_len(&self) -> u64 {
        match &self.body {
            ResponseBody::Bytes(b) => b.len() as u64,
            ResponseBody::File(_, n) => *n,
        }
    }
}

/// The reason phrase for a status code.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        206 => "Partial Content",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        411 => "Length Required",
        413 => "Payload Too Large",
        416 => "Range Not Satisfiable",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

/// The current time as an HTTP date (`Tue, 02 Jan 2024 03:04:05 GMT`).
pub fn http_date(now: time::OffsetDateTime) -> String {
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let day = DAYS[usize::from(now.weekday().number_days_from_monday()) % 7];
    let month = MONTHS[(usize::from(u8::from(now.month())) + 11) % 12];
    format!(
        "{day}, {:02} {month} {} {:02}:{:02}:{:02} GMT",
        now.day(),
        now.year(),
        now.hour(),
        now.minute(),
        now.second()
    )
}

/// Writes `response`; with `head_only` (a HEAD request) the body is left out but its
/// length is still announced.
pub fn write_response<W: Write>(
    out: &mut W,
    response: Response,
    head_only: bool,
    keep_alive: bool,
) -> io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {} {}\r\n",
        response.status,
        reason_phrase(response.status)
    );
    for (k, v) in &response.headers {
        head.push_str(k);
        head.push_str(": ");
        head.push_str(v);
        head.push_str("\r\n");
    }
    head.push_str(&format!(
        "Date: {}\r\n",
        http_date(time::OffsetDateTime::now_utc())
    ));
    if response.status != 204 && response.status >= 200 {
        head.push_str(&format!("Content-Length: {}\r\n", response.body_len()));
    }
    head.push_str(if keep_alive {
        "Connection: keep-alive\r\n"
    } else {
        "Connection: close\r\n"
    });
    head.push_str("\r\n");
    out.write_all(head.as_bytes())?;
    if !head_only && response.status != 204 {
        match response.body {
            ResponseBody::Bytes(b) => out.write_all(&b)?,
            ResponseBody::File(f, n) => {
                let copied = io::copy(&mut f.take(n), out)?;
                if copied != n {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "object file shorter than recorded",
                    ));
                }
            }
        }
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_head() {
        let h = parse_request_head(
            b"POST /?a=1 HTTP/1.1\r\nHost: x\r\nContent-Length:  5 \r\nX-Y: a:b\r\n\r\n",
        )
        .unwrap();
        assert_eq!(h.method, "POST");
        assert_eq!(h.target, "/?a=1");
        assert_eq!(h.header("content-length"), Some("5"));
        assert_eq!(h.header("x-y"), Some("a:b"));
        assert_eq!(h.body_framing().unwrap(), BodyFraming::Length(5));
        assert!(h.keep_alive());
    }

    #[test]
    fn rejects_bad_heads() {
        assert!(matches!(
            parse_request_head(b"GET / HTTP/2.0\r\n\r\n"),
            Err(HttpError::UnsupportedVersion { .. })
        ));
        assert!(matches!(
            parse_request_head(b"GET /\r\n\r\n"),
            Err(HttpError::BadRequestLine { .. })
        ));
        assert!(matches!(
            parse_request_head(b"GET / HTTP/1.1\r\nNoColon\r\n\r\n"),
            Err(HttpError::BadHeader { line: 2, .. })
        ));
        assert!(matches!(
            parse_request_head(b"GET / HTTP/1.1\r\n folded\r\n\r\n"),
            Err(HttpError::BadHeader { .. })
        ));
        let h = parse_request_head(b"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n")
            .unwrap();
        assert!(matches!(
            h.body_framing(),
            Err(HttpError::BadContentLength { .. })
        ));
        let h = parse_request_head(b"GET / HTTP/1.1\r\nContent-Length: -1\r\n").unwrap();
        assert!(h.body_framing().is_err());
        let h = parse_request_head(b"GET / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n").unwrap();
        assert!(matches!(
            h.body_framing(),
            Err(HttpError::UnsupportedTransferEncoding { .. })
        ));
        let mut many = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..=MAX_HEADERS {
            many.extend_from_slice(format!("h{i}: v\r\n").as_bytes());
        }
        assert!(matches!(
            parse_request_head(&many),
            Err(HttpError::TooManyHeaders { .. })
        ));
    }

    #[test]
    fn reads_heads_with_bounds() {
        let mut r = io::BufReader::new(&b"\r\nGET / HTTP/1.1\r\nA: b\r\n\r\nrest"[..]);
        let head = read_request_head(&mut r).unwrap().unwrap();
        assert_eq!(head, b"GET / HTTP/1.1\r\nA: b\r\n\r\n");
        let mut r = io::BufReader::new(&b""[..]);
        assert!(read_request_head(&mut r).unwrap().is_none());
        let mut r = io::BufReader::new(&b"GET / HTTP/1.1\r\nA: b"[..]);
        assert!(matches!(
            read_request_head(&mut r),
            Err(HttpError::UnexpectedEof)
        ));
        let big = vec![b'a'; MAX_HEAD_BYTES + 10];
        let mut r = io::BufReader::new(&big[..]);
        assert!(matches!(
            read_request_head(&mut r),
            Err(HttpError::HeadTooLarge { .. })
        ));
    }

    #[test]
    fn dechunks() {
        let mut r =
            io::BufReader::new(&b"5;x=y\r\nhello\r\n6\r\n world\r\n0\r\nT: v\r\n\r\nNEXT"[..]);
        let mut body = BodyReader::new(&mut r, BodyFraming::Chunked, 100).unwrap();
        assert_eq!(body.read_all().unwrap(), b"hello world");
        assert!(body.is_finished());
        let mut rest = String::new();
        r.read_to_string(&mut rest).unwrap();
        assert_eq!(rest, "NEXT");
    }

    #[test]
    fn chunk_errors() {
        for bad in [
            &b"zz\r\n"[..],
            b"5\r\nhelloX\r\n0\r\n\r\n",
            b"5\r\nhel",
            b"ffffffffffffffffff\r\n",
            b"5 x\r\nhello\r\n",
        ] {
            let mut r = io::BufReader::new(bad);
            let mut body = BodyReader::new(&mut r, BodyFraming::Chunked, 100).unwrap();
            assert!(body.read_all().is_err(), "{bad:?}");
        }
        let mut r = io::BufReader::new(&b"a\r\n0123456789\r\n0\r\n\r\n"[..]);
        let mut body = BodyReader::new(&mut r, BodyFraming::Chunked, 5).unwrap();
        assert!(matches!(
            body.read_all(),
            Err(HttpError::BodyTooLarge { max: 5 })
        ));
    }

    #[test]
    fn fixed_length_bodies() {
        let mut r = io::BufReader::new(&b"abcdef"[..]);
        let mut body = BodyReader::new(&mut r, BodyFraming::Length(4), 10).unwrap();
        assert_eq!(body.read_all().unwrap(), b"abcd");
        let mut r = io::BufReader::new(&b"ab"[..]);
        let mut body = BodyReader::new(&mut r, BodyFraming::Length(4), 10).unwrap();
        assert!(matches!(body.read_all(), Err(HttpError::UnexpectedEof)));
        let mut r = io::BufReader::new(&b"ab"[..]);
        assert!(matches!(
            BodyReader::new(&mut r, BodyFraming::Length(11), 10),
            Err(HttpError::BodyTooLarge { .. })
        ));
    }

    #[test]
    fn formats_http_dates() {
        let t = time::macros::datetime!(2024-01-02 03:04:05 UTC);
        assert_eq!(http_date(t), "Tue, 02 Jan 2024 03:04:05 GMT");
    }

    proptest::proptest! {
        #[test]
        fn head_parser_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600)) {
            if let Ok(h) = parse_request_head(&bytes) {
                let _ = h.body_framing();
                let _ = h.keep_alive();
            }
        }

        #[test]
        fn chunked_reader_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600)) {
            let mut r = io::BufReader::new(&bytes[..]);
            let mut body = BodyReader::new(&mut r, BodyFraming::Chunked, 256).unwrap();
            let _ = body.read_all();
        }

        #[test]
        fn chunked_round_trip(data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2000), chunk in 1usize..300) {
            let mut wire = Vec::new();
            for c in data.chunks(chunk) {
                wire.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
                wire.extend_from_slice(c);
                wire.extend_from_slice(b"\r\n");
            }
            wire.extend_from_slice(b"0\r\n\r\n");
            let mut r = io::BufReader::new(&wire[..]);
            let mut body = BodyReader::new(&mut r, BodyFraming::Chunked, 4096).unwrap();
            proptest::prop_assert_eq!(body.read_all().unwrap(), data);
        }
    }
}
