//! The OSS side: the PostObject form upload and object downloads through pre-signed
//! URLs (the bucket is private, as the real OTA bucket is).

use std::fs::File;
use std::io::{self, BufRead, Seek, SeekFrom, Write};

use md5::{Digest, Md5};
use sha2::Sha256;
use time::OffsetDateTime;

use crate::api::{presign_signature, OssKey};
use crate::codes::ErrorCode;
use crate::http::{BodyReader, Response, ResponseBody};
use crate::multipart::{field, MultipartError, MultipartLimits, MultipartReader};
use crate::policy::{parse_policy, PolicyViolation};
use crate::request::ParsedRequest;
use crate::response::{oss_error_body, to_xml, Node};
use crate::store::{ObjectRecord, Store};
use crate::{ids, timefmt};

/// The OSS object size limit (5 GiB).
pub const OSS_MAX_OBJECT: u64 = 5 * 1024 * 1024 * 1024;

/// What the OSS handlers need.
#[derive(Debug)]
pub struct OssCtx<'a> {
    /// Storage.
    pub store: &'a Store,
    /// The sandbox's OSS key.
    pub oss: &'a OssKey,
    /// The bucket name.
    pub bucket: &'a str,
    /// `host[:port]` for Location URLs.
    pub public_host: &'a str,
    /// The region (for HostId).
    pub region_id: &'a str,
    /// The request time.
    pub now: OffsetDateTime,
}

impl OssCtx<'_> {
    fn host_id(&self) -> String {
        format!("{}.oss-{}.aliyuncs.com", self.bucket, self.region_id)
    }

    /// An OSS error response.
    pub fn error(&self, code: ErrorCode, detail: &str) -> Response {
        let spec = code.spec();
        let request_id = ids::alnum(24).to_ascii_uppercase();
        let body = oss_error_body(&spec, &spec.render(detail), &request_id, &self.host_id());
        Response::new(spec.status, Some("application/xml"), body)
            .with_header("x-oss-request-id", &request_id)
            .with_header("Server", "AliyunOSS")
    }
}

/// A writer that hashes what passes through it.
struct HashingWriter<W: Write> {
    inner: W,
    md5: Md5,
    sha256: Sha256,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.md5.update(&buf[..n]);
        self.sha256.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The file name an object's content is stored under: a hash of the key (so no key
/// can name a path) plus a random suffix (so a replacement never overwrites the
/// content a concurrent download is reading).
fn content_file_name(key: &str) -> String {
    format!(
        "{}-{}",
        fwdelta_acs_sign::sha256_hex(key.as_bytes()),
        ids::lower_alnum(8)
    )
}

/// Handles a PostObject upload, reading the multipart body from `body`.
pub fn post_object<R: BufRead>(
    ctx: &OssCtx<'_>,
    boundary: &str,
    body: &mut BodyReader<'_, R>,
) -> Response {
    let mut form = MultipartReader::new(
        body,
        boundary,
        MultipartLimits {
            max_file_bytes: OSS_MAX_OBJECT,
            ..MultipartLimits::default()
        },
    );
    let malformed = |e: &MultipartError| ctx.error(ErrorCode::OssMalformedPost, &e.to_string());
    let (fields, file) = match form.read_fields() {
        Ok(x) => x,
        Err(e) => return malformed(&e),
    };
    let Some(key) = field(&fields, "key").filter(|k| !k.is_empty()) else {
        return ctx.error(
            ErrorCode::OssInvalidArgument,
            "Bucket POST must contain a field named 'key'.",
        );
    };
    let key = key.to_string();
    if key.len() > 1023
        || key.starts_with('/')
        || key.contains('\\')
        || key.split('/').any(|s| s == "..")
    {
        return ctx.error(
            ErrorCode::OssInvalidArgument,
            "The object key is not valid.",
        );
    }
    let access_id = field(&fields, "OSSAccessKeyId");
    let policy_b64 = field(&fields, "policy");
    let signature = field(&fields, "Signature");
    let (access_id, policy_b64, signature) =
        match (access_id, policy_b64, signature) {
            (None, None, None) => return ctx.error(ErrorCode::OssAnonymousDenied, ""),
            (Some(a), Some(p), Some(s)) => (a, p, s),
            _ => return ctx.error(
                ErrorCode::OssInvalidArgument,
                "Bucket POST must contain all of OSSAccessKeyId, policy and Signature, or none.",
            ),
        };
    if access_id != ctx.oss.id {
        return ctx.error(ErrorCode::OssInvalidAccessKeyId, "");
    }
    let expected = fwdelta_acs_sign::oss_post_signature(&ctx.oss.secret, policy_b64);
    if expected != signature {
        return ctx.error(ErrorCode::OssSignatureDoesNotMatch, "");
    }
    let policy = match parse_policy(policy_b64) {
        Ok(p) => p,
        Err(e) => return ctx.error(ErrorCode::OssInvalidPolicyDocument, &e.to_string()),
    };
    if let Err(v) = policy.check_fields(&fields, ctx.bucket, ctx.now) {
        return ctx.error(ErrorCode::OssPolicyDenied, &v.to_string());
    }
    let Some(file) = file else {
        return ctx.error(
            ErrorCode::OssInvalidArgument,
            "Bucket POST must contain a field named 'file', and it must be the last field.",
        );
    };
    let max = policy
        .size_range()
        .map_or(OSS_MAX_OBJECT, |(_, m)| m.min(OSS_MAX_OBJECT));
    form.set_max_file_bytes(max);

    let tmp_path = ctx.store.tmp_dir().join(ids::lower_alnum(20));
    let tmp = match File::create(&tmp_path) {
        Ok(f) => f,
        Err(e) => return ctx.error(ErrorCode::OssInternalError, &e.to_string()),
    };
    let mut writer = HashingWriter {
        inner: io::BufWriter::new(tmp),
        md5: Md5::new(),
        sha256: Sha256::new(),
    };
    let copied = form.copy_file(&mut writer);
    let cleanup = || {
        // Best effort: the tmp directory is emptied at the next start anyway.
        let _ = std::fs::remove_file(&tmp_path);
    };
    let size = match copied {
        Ok(n) => n,
        Err(MultipartError::FileTooLarge { .. }) => {
            cleanup();
            return ctx.error(ErrorCode::OssEntityTooLarge, "");
        }
        Err(e) => {
            cleanup();
            return malformed(&e);
        }
    };
    if let Err(e) = form.finish() {
        cleanup();
        return malformed(&e);
    }
    match policy.check_size(size) {
        Ok(()) => {}
        Err(PolicyViolation::TooSmall { .. }) => {
            cleanup();
            return ctx.error(ErrorCode::OssEntityTooSmall, "");
        }
        Err(_) => {
            cleanup();
            return ctx.error(ErrorCode::OssEntityTooLarge, "");
        }
    }
    let HashingWriter {
        inner, md5, sha256, ..
    } = writer;
    let synced = inner
        .into_inner()
        .map_err(|e| e.into_error())
        .and_then(|f| f.sync_all());
    if let Err(e) = synced {
        cleanup();
        return ctx.error(ErrorCode::OssInternalError, &e.to_string());
    }
    let md5 = hex::encode(md5.finalize());
    let sha256 = hex::encode(sha256.finalize());
    let file_name = content_file_name(&key);
    let final_path = ctx.store.objects_dir().join(&file_name);
    if let Err(e) = std::fs::rename(&tmp_path, &final_path) {
        cleanup();
        return ctx.error(ErrorCode::OssInternalError, &e.to_string());
    }
    let record = ObjectRecord {
        key: key.clone(),
        file: file_name,
        size,
        md5: md5.clone(),
        sha256,
        content_type: file.content_type,
        created_ms: timefmt::unix_millis(ctx.now),
    };
    match ctx.store.put_object(&record) {
        Ok(Some(old)) => {
            // The replaced content; a download still reading it keeps its open handle.
            let _ = std::fs::remove_file(ctx.store.objects_dir().join(old));
        }
        Ok(None) => {}
        Err(e) => {
            let _ = std::fs::remove_file(&final_path);
            return ctx.error(ErrorCode::OssInternalError, &e.to_string());
        }
    }
    let etag = format!("\"{}\"", md5.to_ascii_uppercase());
    let request_id = ids::alnum(24).to_ascii_uppercase();
    let status = field(&fields, "success_action_status").unwrap_or("");
    let response = match status {
        "200" => Response::new(200, None, Vec::new()),
        "201" => {
            let location = format!("http://{}/{}", ctx.public_host, key);
            let body = Node::obj()
                .with_str("Location", &location)
                .with_str("Bucket", ctx.bucket)
                .with_str("Key", &key)
                .with_str("ETag", &etag);
            Response::new(
                201,
                Some("application/xml"),
                to_xml("PostResponse", &body).into_bytes(),
            )
        }
        _ => Response::new(204, None, Vec::new()),
    };
    response
        .with_header("ETag", &etag)
        .with_header("x-oss-request-id", &request_id)
        .with_header("Server", "AliyunOSS")
}

/// A parsed `Range: bytes=...` header, resolved against `size`: `Ok(None)` for no
/// (or an ignorable) range, `Err(())` for an unsatisfiable one.
#[allow(clippy::result_unit_err)]
pub fn parse_range(value: Option<&str>, size: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(spec) = value.and_then(|v| v.trim().strip_prefix("bytes=")) else {
        return Ok(None);
    };
    if spec.contains(',') {
        // Multi-range requests are answered with the whole object, as allowed.
        return Ok(None);
    }
    let Some((a, b)) = spec.split_once('-') else {
        return Ok(None);
    };
    let (a, b) = (a.trim(), b.trim());
    let parse = |s: &str| s.parse::<u64>().ok();
    let range = match (a.is_empty(), b.is_empty()) {
        (false, _) => {
            let Some(start) = parse(a) else {
                return Ok(None);
            };
            let end = if b.is_empty() {
                size.saturating_sub(1)
            } else {
                match parse(b) {
                    Some(e) if e >= start => e.min(size.saturating_sub(1)),
                    _ => return Ok(None),
                }
            };
            if start >= size {
                return Err(());
            }
            (start, end)
        }
        (true, false) => {
            let Some(n) = parse(b) else { return Ok(None) };
            if n == 0 {
                return Err(());
            }
            (size.saturating_sub(n), size.saturating_sub(1))
        }
        (true, true) => return Ok(None),
    };
    if size == 0 {
        return Err(());
    }
    Ok(Some(range))
}

/// Handles `GET`/`HEAD /<key>` with a pre-signed query (Expires, OSSAccessKeyId,
/// Signature).
pub fn get_object(ctx: &OssCtx<'_>, req: &ParsedRequest, key: &str) -> Response {
    let q = |name: &str| {
        req.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let (expires, access_id, signature) = match (q("Expires"), q("OSSAccessKeyId"), q("Signature"))
    {
        (None, None, None) => return ctx.error(ErrorCode::OssAnonymousDenied, ""),
        (Some(e), Some(a), Some(s)) => (e, a, s),
        _ => {
            return ctx.error(
                ErrorCode::OssInvalidArgument,
                "A pre-signed URL needs Expires, OSSAccessKeyId and Signature.",
            )
        }
    };
    let Ok(expires) = expires.parse::<i64>() else {
        return ctx.error(ErrorCode::OssInvalidArgument, "Expires is not a number.");
    };
    if access_id != ctx.oss.id {
        return ctx.error(ErrorCode::OssInvalidAccessKeyId, "");
    }
    if presign_signature(&ctx.oss.secret, ctx.bucket, key, expires) != signature {
        return ctx.error(ErrorCode::OssSignatureDoesNotMatch, "");
    }
    if ctx.now.unix_timestamp() > expires {
        return ctx.error(ErrorCode::OssRequestExpired, "");
    }
    let record = match ctx.store.object(key) {
        Ok(Some(r)) => r,
        Ok(None) => return ctx.error(ErrorCode::OssNoSuchKey, ""),
        Err(e) => return ctx.error(ErrorCode::OssInternalError, &e.to_string()),
    };
    let mut file = match File::open(ctx.store.objects_dir().join(&record.file)) {
        Ok(f) => f,
        // Replaced between the lookup and the open: answer as if it were missing.
        Err(_) => return ctx.error(ErrorCode::OssNoSuchKey, ""),
    };
    let range = match parse_range(req.header("range"), record.size) {
        Ok(r) => r,
        Err(()) => return ctx.error(ErrorCode::OssInvalidRange, ""),
    };
    let (status, start, len) = match range {
        Some((s, e)) => (206, s, e - s + 1),
        None => (200, 0, record.size),
    };
    if start > 0 {
        if let Err(e) = file.seek(SeekFrom::Start(start)) {
            return ctx.error(ErrorCode::OssInternalError, &e.to_string());
        }
    }
    let content_type = record
        .content_type
        .clone()
        .unwrap_or_else(|| "application/octet-stream".to_string());
    let last_modified = crate::http::http_date(timefmt::from_unix_millis(record.created_ms));
    let mut resp = Response {
        status,
        headers: vec![
            ("Content-Type".to_string(), content_type),
            (
                "ETag".to_string(),
                format!("\"{}\"", record.md5.to_ascii_uppercase()),
            ),
            ("Last-Modified".to_string(), last_modified),
            ("Accept-Ranges".to_string(), "bytes".to_string()),
            (
                "x-oss-request-id".to_string(),
                ids::alnum(24).to_ascii_uppercase(),
            ),
            ("Server".to_string(), "AliyunOSS".to_string()),
        ],
        body: ResponseBody::File(file, len),
    };
    if status == 206 {
        resp.headers.push((
            "Content-Range".to_string(),
            format!("bytes {}-{}/{}", start, start + len - 1, record.size),
        ));
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range(None, 10), Ok(None));
        assert_eq!(parse_range(Some("bytes=0-4"), 10), Ok(Some((0, 4))));
        assert_eq!(parse_range(Some("bytes=5-"), 10), Ok(Some((5, 9))));
        assert_eq!(parse_range(Some("bytes=-3"), 10), Ok(Some((7, 9))));
        assert_eq!(parse_range(Some("bytes=-30"), 10), Ok(Some((0, 9))));
        assert_eq!(parse_range(Some("bytes=8-100"), 10), Ok(Some((8, 9))));
        assert_eq!(parse_range(Some("bytes=10-"), 10), Err(()));
        assert_eq!(parse_range(Some("bytes=5-2"), 10), Ok(None));
        assert_eq!(parse_range(Some("bytes=a-b"), 10), Ok(None));
        assert_eq!(parse_range(Some("bytes=0-1,3-4"), 10), Ok(None));
        assert_eq!(parse_range(Some("items=0-1"), 10), Ok(None));
        assert_eq!(parse_range(Some("bytes=0-"), 0), Err(()));
    }
}
