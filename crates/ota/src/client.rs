//! The blocking HTTP client: signing, limiting, retrying, uploading, registering.

use std::io::{self, Read};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use md5::{Digest, Md5};

use crate::api::{
    CreateOtaFirmware, GenerateOtaUploadUrl, ListOtaFirmware, QueryOtaFirmware, RpcAction,
};
use crate::limiter::{self, RateLimiter};
use crate::response::{
    excerpt, parse_oss_error, parse_response, CreatedFirmware, FirmwareInfo, FirmwarePage,
    FromResponse, QueriedFirmware, UploadUrl, MAX_RESPONSE_BYTES,
};
use crate::wire::{signed_path_and_query, Stamp, API_VERSION};
use crate::{validate, Credentials, Format, OtaError, RetryPolicy, TransportKind};

/// The package limit of an account (or instance).
pub const PACKAGE_LIMIT: u32 = 500;

/// The most ListOTAFirmware pages a lookup reads (100 packages a page: twice the limit).
const MAX_LOOKUP_PAGES: u32 = 10;

/// The service's per-account limit for the OTA write calls, in requests per second.
pub const MAX_REQUESTS_PER_SECOND: u32 = 10;

/// Client settings. Every field has a documented default ([`Default`]); invalid settings
/// make [`Client::new`] fail rather than being adjusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientOptions {
    /// `RegionId`, and the region of the default endpoint. Default `cn-shanghai`.
    pub region_id: String,
    /// An explicit endpoint (`https://host[:port]`), e.g. a local sandbox
    /// (`http://127.0.0.1:PORT`). Default `None`: `https://iot.<region_id>.aliyuncs.com`.
    pub endpoint: Option<String>,
    /// The answer format asked for. Default JSON.
    pub format: Format,
    /// Time allowed for a whole API call (connect, send, read the answer). Default 30 s.
    pub timeout: Duration,
    /// Time allowed to open a connection. Default 10 s.
    pub connect_timeout: Duration,
    /// During the OSS upload, time allowed for each read or write (the upload as a whole
    /// may take longer). Default 120 s.
    pub upload_io_timeout: Duration,
    /// Client-side cap on API requests per second, shared by every client of the same
    /// AccessKey in the process. Default 10 (the service's limit); must be 1–10. It is
    /// enforced over a 1.2 s window ([`ACCOUNT_WINDOW`](crate::ACCOUNT_WINDOW)) so that
    /// arrival-time jitter never makes the service count more in one second.
    pub max_requests_per_second: u32,
    /// Retries of transient failures. Default [`RetryPolicy::default`].
    pub retry: RetryPolicy,
    /// Allow plain `http://` to hosts other than loopback. Default false: only
    /// `127.0.0.0/8`, `localhost` and `[::1]` may be reached without TLS.
    pub allow_insecure_http: bool,
    /// The service's package limit per account (or instance). Default
    /// [`PACKAGE_LIMIT`] (500); must be at least 1. [`Client::register_delta`] refuses
    /// to upload when ListOTAFirmware already counts this many packages.
    pub package_limit: u32,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            region_id: "cn-shanghai".into(),
            endpoint: None,
            format: Format::Json,
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            upload_io_timeout: Duration::from_secs(120),
            max_requests_per_second: MAX_REQUESTS_PER_SECOND,
            retry: RetryPolicy::default(),
            allow_insecure_http: false,
            package_limit: PACKAGE_LIMIT,
        }
    }
}

/// What [`Client::register_delta`] needs beyond the release record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterParams {
    /// `FirmwareName`: unique in the account. No default; must be set.
    pub firmware_name: String,
    /// `ProductKey`. Default none; strongly recommended (the lookup that makes
    /// registration idempotent is then limited to the product).
    pub product_key: Option<String>,
    /// `SrcVersion`. Default: the record's `ota.SrcVersion`. Required for a delta.
    pub src_version: Option<String>,
    /// `DestVersion`. Default: the record's `ota.DestVersion`. Required.
    pub dest_version: Option<String>,
    /// `ModuleName`. Default none (the service uses `default`).
    pub module_name: Option<String>,
    /// `FirmwareDesc`. Default none.
    pub firmware_desc: Option<String>,
    /// `NeedToVerify`. Default true (as the service's default), always sent.
    pub need_to_verify: bool,
    /// `Udi`. Default none.
    pub udi: Option<String>,
    /// `IotInstanceId`. Default none (public instance).
    pub iot_instance_id: Option<String>,
    /// `FileSuffix` of the upload. Default `bin`.
    pub file_suffix: String,
}

impl Default for RegisterParams {
    fn default() -> Self {
        RegisterParams {
            firmware_name: String::new(),
            product_key: None,
            src_version: None,
            dest_version: None,
            module_name: None,
            firmware_desc: None,
            need_to_verify: true,
            udi: None,
            iot_instance_id: None,
            file_suffix: "bin".into(),
        }
    }
}

/// The outcome of [`Client::register_delta`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Registered {
    /// The package id.
    pub firmware_id: String,
    /// True when an identical package already existed and nothing was uploaded or created.
    pub already_registered: bool,
    /// The CreateOTAFirmware parameters (no credentials in them), with the FirmwareUrl
    /// used; when `already_registered`, the URL is the one the service lists, if any.
    pub request: CreateOtaFirmware,
    /// Creation time, when known.
    pub utc_create: Option<String>,
    /// The RequestId of the call that created or found the package.
    pub request_id: Option<String>,
}

/// A blocking client of the IoT Platform OTA API for one account.
///
/// It signs every call with RPC signature V2, keeps the account under
/// [`ClientOptions::max_requests_per_second`], and retries transient failures. It is
/// `Send + Sync`; share it by reference.
#[derive(Debug)]
pub struct Client {
    credentials: Credentials,
    options: ClientOptions,
    base_url: String,
    agent: ureq::Agent,
    upload_agent: ureq::Agent,
    limiter: Arc<RateLimiter>,
}

fn option_err(name: &'static str, reason: impl Into<String>) -> OtaError {
    OtaError::InvalidOption {
        name,
        reason: reason.into(),
    }
}

/// Splits `scheme://authority[/]` and checks it; returns the base URL without a slash.
fn check_base_url(
    name: &'static str,
    url: &str,
    allow_insecure_http: bool,
) -> Result<String, OtaError> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| option_err(name, format!("{url:?} is not an http(s) URL")))?;
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    if authority.is_empty()
        || authority.contains(['/', '?', '#', '@'])
        || authority
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(option_err(
            name,
            format!("{url:?} must be scheme://host[:port] without a path"),
        ));
    }
    match scheme {
        "https" => {}
        "http" if allow_insecure_http || is_loopback(authority) => {}
        "http" => {
            return Err(option_err(
                name,
                format!("{url:?} is plain HTTP to a non-loopback host (set allow_insecure_http to allow it)"),
            ))
        }
        _ => return Err(option_err(name, format!("{url:?}: scheme must be https or http"))),
    }
    Ok(format!("{scheme}://{authority}"))
}

fn is_loopback(authority: &str) -> bool {
    let host = if let Some(rest) = authority.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        authority.rsplit_once(':').map_or(authority, |(h, _)| h)
    };
    host == "localhost"
        || host == "::1"
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn transport_error(action: &str, t: &ureq::Transport) -> OtaError {
    use ureq::ErrorKind as K;
    let io_kind = std::error::Error::source(t)
        .and_then(|s| s.downcast_ref::<io::Error>())
        .map(|e| e.kind());
    let kind = match t.kind() {
        K::Dns => TransportKind::Dns,
        K::ConnectionFailed => TransportKind::Connect,
        K::Io
            if matches!(
                io_kind,
                Some(io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock)
            ) =>
        {
            TransportKind::Timeout
        }
        K::Io | K::BadStatus | K::BadHeader => TransportKind::ConnectionLost,
        _ => TransportKind::Other,
    };
    // ureq's own Display includes the URL, which carries the signature: build the text
    // from the parts that do not.
    let mut message = t.kind().to_string();
    if let Some(m) = t.message() {
        message.push_str(": ");
        message.push_str(m);
    }
    if let Some(src) = std::error::Error::source(t) {
        message.push_str(": ");
        message.push_str(&src.to_string());
    }
    if let Some(cut) = message.find('?') {
        message.truncate(cut);
    }
    OtaError::Transport {
        action: action.to_owned(),
        kind,
        message,
    }
}

fn read_error(action: &str, e: &io::Error) -> OtaError {
    OtaError::Transport {
        action: action.to_owned(),
        kind: if matches!(
            e.kind(),
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
        ) {
            TransportKind::Timeout
        } else {
            TransportKind::ConnectionLost
        },
        message: format!("reading the answer: {e}"),
    }
}

fn read_bounded(action: &str, response: ureq::Response) -> Result<Vec<u8>, OtaError> {
    let mut body = Vec::new();
    response
        .into_reader()
        .take(MAX_RESPONSE_BYTES as u64 + 1)
        .read_to_end(&mut body)
        .map_err(|e| read_error(action, &e))?;
    if body.len() > MAX_RESPONSE_BYTES {
        return Err(OtaError::ResponseTooLarge {
            action: action.to_owned(),
            limit: MAX_RESPONSE_BYTES,
        });
    }
    Ok(body)
}

/// MD5 (lowercase hex) and size of a file, streamed.
pub fn md5_file(path: &Path) -> Result<(String, u64), OtaError> {
    let io_err = |source| OtaError::Io {
        path: path.to_owned(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(io_err)?;
    let mut hasher = Md5::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut size = 0u64;
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_err(e)),
        };
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok((hex::encode(hasher.finalize()), size))
}

/// Streams exactly `remaining` bytes of a file into the upload, hashing them on the way.
struct HashingReader {
    file: std::fs::File,
    remaining: u64,
    state: Arc<Mutex<Md5>>,
}

impl Read for HashingReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 {
            return Ok(0);
        }
        let want = buf
            .len()
            .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        let n = self.file.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the patch file shrank during the upload",
            ));
        }
        self.remaining -= n as u64;
        self.state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .update(&buf[..n]);
        Ok(n)
    }
}

/// Builds the multipart/form-data text around the file: the fields in the order of the
/// IoT documentation's sample (`key`, `policy`, `OSSAccessKeyId`, `signature`,
/// `success_action_status=200`), then the `file` part, which OSS requires to be last.
/// Returns the bytes before and after the file content.
pub(crate) fn multipart_form(
    target: &UploadUrl,
    file_name: &str,
    boundary: &str,
) -> (Vec<u8>, Vec<u8>) {
    let mut head = String::new();
    for (name, value) in [
        ("key", target.key.as_str()),
        ("policy", target.policy.as_str()),
        ("OSSAccessKeyId", target.oss_access_key_id.as_str()),
        ("signature", target.signature.as_str()),
        ("success_action_status", "200"),
    ] {
        head.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
        ));
    }
    let safe_name: String = file_name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    head.push_str(&format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{safe_name}\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    ));
    let tail = format!("\r\n--{boundary}--\r\n");
    (head.into_bytes(), tail.into_bytes())
}

impl Client {
    /// Makes a client. Fails on invalid options; makes no network call.
    pub fn new(credentials: Credentials, options: ClientOptions) -> Result<Self, OtaError> {
        options.retry.validate()?;
        if options.region_id.is_empty()
            || options.region_id.len() > 32
            || !options
                .region_id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(option_err(
                "region_id",
                format!(
                    "{:?} is not a region id (like cn-shanghai)",
                    options.region_id
                ),
            ));
        }
        if !(1..=MAX_REQUESTS_PER_SECOND).contains(&options.max_requests_per_second) {
            return Err(option_err(
                "max_requests_per_second",
                format!(
                    "must be 1 to {MAX_REQUESTS_PER_SECOND} (the service's per-account limit), not {}",
                    options.max_requests_per_second
                ),
            ));
        }
        if options.package_limit == 0 {
            return Err(option_err("package_limit", "must be at least 1"));
        }
        for (name, d) in [
            ("timeout", options.timeout),
            ("connect_timeout", options.connect_timeout),
            ("upload_io_timeout", options.upload_io_timeout),
        ] {
            if d.is_zero() {
                return Err(option_err(name, "must be longer than zero"));
            }
        }
        let base_url = match &options.endpoint {
            Some(e) => check_base_url("endpoint", e, options.allow_insecure_http)?,
            None => format!("https://iot.{}.aliyuncs.com", options.region_id),
        };
        let user_agent = concat!("fwdelta-ota/", env!("CARGO_PKG_VERSION"));
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(options.connect_timeout)
            .timeout(options.timeout)
            .redirects(0)
            .user_agent(user_agent)
            .build();
        let upload_agent = ureq::AgentBuilder::new()
            .timeout_connect(options.connect_timeout)
            .timeout_read(options.upload_io_timeout)
            .timeout_write(options.upload_io_timeout)
            .redirects(0)
            .user_agent(user_agent)
            .build();
        let limiter =
            limiter::for_account(credentials.access_key_id(), options.max_requests_per_second);
        Ok(Client {
            credentials,
            options,
            base_url,
            agent,
            upload_agent,
            limiter,
        })
    }

    /// The endpoint requests go to (`https://iot.cn-shanghai.aliyuncs.com`, ...).
    pub fn endpoint(&self) -> &str {
        &self.base_url
    }

    /// The options the client was made with.
    pub fn options(&self) -> &ClientOptions {
        &self.options
    }

    /// Sends one signed call and returns the raw status and body.
    fn send_raw(
        &self,
        action: &str,
        params: &[(String, String)],
    ) -> Result<(u16, Vec<u8>), OtaError> {
        self.limiter.acquire();
        let path_and_query = signed_path_and_query(
            &self.credentials,
            &self.options.region_id,
            self.options.format,
            action,
            params,
            &Stamp::now(),
        );
        let url = format!("{}{}", self.base_url, path_and_query);
        let result = self
            .agent
            .post(&url)
            .set("x-acs-action", action)
            .set("x-acs-version", API_VERSION)
            .set("x-sdk-invoke-type", "normal")
            .set("x-sdk-client", "rust/fwdelta-ota")
            .send_bytes(&[]);
        let response = match result {
            Ok(r) | Err(ureq::Error::Status(_, r)) => r,
            Err(ureq::Error::Transport(t)) => return Err(transport_error(action, &t)),
        };
        let status = response.status();
        Ok((status, read_bounded(action, response)?))
    }

    fn send_once<T: FromResponse>(
        &self,
        action: &str,
        params: &[(String, String)],
    ) -> Result<T, OtaError> {
        let (status, body) = self.send_raw(action, params)?;
        parse_response::<T>(self.options.format, status, &body)
    }

    /// Runs `f` until it succeeds, fails with an error `retry_if` refuses, or the attempts
    /// run out.
    fn retrying<T>(
        &self,
        action: &str,
        retry_if: impl Fn(&OtaError) -> bool,
        mut f: impl FnMut() -> Result<T, OtaError>,
    ) -> Result<T, OtaError> {
        let max = self.options.retry.max_attempts;
        let mut attempt = 1;
        loop {
            match f() {
                Ok(v) => return Ok(v),
                Err(e) if retry_if(&e) && attempt < max => {
                    self.options.retry.pause(attempt);
                    attempt += 1;
                }
                Err(e) if retry_if(&e) && attempt > 1 => {
                    return Err(OtaError::RetriesExhausted {
                        action: action.to_owned(),
                        attempts: attempt,
                        last: Box::new(e),
                    })
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Validates and sends any action. Idempotent actions are retried on every transient
    /// failure; CreateOTAFirmware only on throttling (which guarantees it was not carried
    /// out).
    pub fn call<A: RpcAction>(&self, request: &A) -> Result<A::Response, OtaError> {
        request.validate()?;
        let params = request.params();
        let retry_if = |e: &OtaError| {
            if A::IDEMPOTENT {
                e.is_transient()
            } else {
                e.is_throttling()
            }
        };
        self.retrying(A::ACTION, retry_if, || {
            self.send_once::<A::Response>(A::ACTION, &params)
        })
    }

    /// GenerateOTAUploadURL.
    pub fn generate_upload_url(
        &self,
        request: &GenerateOtaUploadUrl,
    ) -> Result<UploadUrl, OtaError> {
        self.call(request)
    }

    /// CreateOTAFirmware, sent once (retried only when throttled). A transport failure or
    /// server error leaves it unknown whether the package was created: look it up
    /// ([`find_firmware`](Self::find_firmware)) before sending again, as
    /// [`register_delta`](Self::register_delta) does.
    pub fn create_firmware(
        &self,
        request: &CreateOtaFirmware,
    ) -> Result<CreatedFirmware, OtaError> {
        self.call(request).map_err(|e| match e.service_error() {
            Some(s) if s.is_package_limit() => OtaError::PackageLimit {
                limit: self.options.package_limit,
                total: None,
                service: Some(Box::new(s.clone())),
            },
            _ => e,
        })
    }

    /// QueryOTAFirmware.
    pub fn query_firmware(&self, request: &QueryOtaFirmware) -> Result<QueriedFirmware, OtaError> {
        self.call(request)
    }

    /// ListOTAFirmware (one page).
    pub fn list_firmware(&self, request: &ListOtaFirmware) -> Result<FirmwarePage, OtaError> {
        self.call(request)
    }

    /// Looks for the package named `firmware_name` among the packages of `product_key`
    /// (the whole account when `None`) with `dest_version`, reading ListOTAFirmware pages.
    pub fn find_firmware(
        &self,
        product_key: Option<&str>,
        dest_version: &str,
        firmware_name: &str,
        iot_instance_id: Option<&str>,
    ) -> Result<Option<FirmwareInfo>, OtaError> {
        for page in 1..=MAX_LOOKUP_PAGES {
            let list = self.list_firmware(&ListOtaFirmware {
                current_page: page,
                page_size: 100,
                product_key: product_key.map(str::to_owned),
                dest_version: Some(dest_version.to_owned()),
                iot_instance_id: iot_instance_id.map(str::to_owned),
            })?;
            if let Some(found) = list
                .firmwares
                .iter()
                .find(|f| f.firmware_name.as_deref() == Some(firmware_name))
            {
                return Ok(Some(found.clone()));
            }
            if list.firmwares.is_empty() || u64::from(page) >= list.page_count {
                break;
            }
        }
        Ok(None)
    }

    /// Uploads `path` with the OSS PostObject form of `target`, streaming it and hashing
    /// the bytes sent; fails with [`OtaError::PatchChanged`] when they do not hash to
    /// `expected_md5`. One attempt; [`register_delta`](Self::register_delta) retries it
    /// with a fresh upload policy.
    pub fn upload_file(
        &self,
        target: &UploadUrl,
        path: &Path,
        expected_md5: &str,
        size: u64,
    ) -> Result<(), OtaError> {
        const ACTION: &str = "PostObject";
        let post_url = check_base_url("Host", &target.host, self.options.allow_insecure_http)
            .map_err(|e| OtaError::MalformedResponse {
                action: "GenerateOTAUploadURL".into(),
                reason: e.to_string(),
            })?
            + "/";
        let file = std::fs::File::open(path).map_err(|source| OtaError::Io {
            path: path.to_owned(),
            source,
        })?;
        let boundary = format!("fwdelta-{:032x}", rand::random::<u128>());
        let file_name = target.key.rsplit('/').next().unwrap_or("patch.bin");
        let (head, tail) = multipart_form(target, file_name, &boundary);
        let length = head.len() as u64 + size + tail.len() as u64;
        let state = Arc::new(Mutex::new(Md5::new()));
        let body = io::Cursor::new(head)
            .chain(HashingReader {
                file,
                remaining: size,
                state: Arc::clone(&state),
            })
            .chain(io::Cursor::new(tail));
        let result = self
            .upload_agent
            .post(&post_url)
            .set(
                "Content-Type",
                &format!("multipart/form-data; boundary={boundary}"),
            )
            .set("Content-Length", &length.to_string())
            .send(body);
        let response = match result {
            Ok(r) => r,
            Err(ureq::Error::Status(status, r)) => {
                let body = read_bounded(ACTION, r).unwrap_or_default();
                return Err(parse_oss_error(status, &body));
            }
            Err(ureq::Error::Transport(t)) => return Err(transport_error(ACTION, &t)),
        };
        let status = response.status();
        let body = read_bounded(ACTION, response)?;
        if !(200..300).contains(&status) {
            return Err(OtaError::Http {
                action: ACTION.into(),
                status,
                excerpt: excerpt(&body),
            });
        }
        let sent = hex::encode(
            std::mem::take(&mut *state.lock().unwrap_or_else(|p| p.into_inner())).finalize(),
        );
        if !sent.eq_ignore_ascii_case(expected_md5) {
            return Err(OtaError::PatchChanged {
                path: path.to_owned(),
                expected_md5: expected_md5.to_owned(),
                actual_md5: sent,
            });
        }
        Ok(())
    }

    /// Checks everything [`register_delta`](Self::register_delta) can check without the
    /// network: the record (verified, a Type=1 MD5 package, internally consistent), the
    /// parameters (the service's rules), and that the file at `patch_path` is the record's
    /// patch (re-hashed now). Returns the CreateOTAFirmware request, without FirmwareUrl.
    pub fn prepare_delta(
        record: &fwdelta_record::ReleaseRecord,
        patch_path: &Path,
        params: &RegisterParams,
    ) -> Result<CreateOtaFirmware, OtaError> {
        record.check().map_err(|e| OtaError::BadRecord {
            reason: e.to_string(),
        })?;
        if !record.is_verified() {
            let verdict = serde_json::to_value(record.verification.verdict)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_else(|| format!("{:?}", record.verification.verdict));
            return Err(OtaError::RecordNotVerified { verdict });
        }
        if !record.ota.sign_method.eq_ignore_ascii_case("MD5") {
            return Err(OtaError::BadRecord {
                reason: format!(
                    "ota.SignMethod is {:?}, expected MD5",
                    record.ota.sign_method
                ),
            });
        }
        let pick = |name: &'static str,
                    given: &Option<String>,
                    recorded: &Option<String>|
         -> Result<Option<String>, OtaError> {
            match (given, recorded) {
                (Some(g), Some(r)) if g != r => Err(OtaError::InvalidParameter {
                    name,
                    value: g.chars().take(120).collect(),
                    reason: format!("conflicts with the release record's {name} {r:?}"),
                }),
                (Some(g), _) => Ok(Some(g.clone())),
                (None, r) => Ok(r.clone()),
            }
        };
        let src_version = pick("SrcVersion", &params.src_version, &record.ota.src_version)?;
        let dest_version = pick(
            "DestVersion",
            &params.dest_version,
            &record.ota.dest_version,
        )?
        .ok_or_else(|| OtaError::InvalidParameter {
            name: "DestVersion",
            value: String::new(),
            reason: "is required: give it, or record it when the patch is built".into(),
        })?;
        validate::file_suffix(&params.file_suffix)?;
        let request = CreateOtaFirmware {
            product_key: params.product_key.clone(),
            firmware_name: params.firmware_name.clone(),
            src_version,
            dest_version,
            type_: record.ota.type_,
            firmware_url: String::new(),
            firmware_sign: Some(record.patch.md5.to_ascii_lowercase()),
            sign_method: Some("MD5".into()),
            firmware_size: Some(record.patch.size),
            firmware_desc: params.firmware_desc.clone(),
            module_name: params.module_name.clone(),
            need_to_verify: Some(params.need_to_verify),
            udi: params.udi.clone(),
            iot_instance_id: params.iot_instance_id.clone(),
        };
        request.validate_without_url()?;
        // Re-hash the file now: the record must describe the bytes that will be uploaded.
        let (md5, size) = md5_file(patch_path)?;
        if size != record.patch.size || !md5.eq_ignore_ascii_case(&record.patch.md5) {
            return Err(OtaError::PatchMismatch {
                path: patch_path.to_owned(),
                expected_md5: record.patch.md5.clone(),
                actual_md5: md5,
                expected_size: record.patch.size,
                actual_size: size,
            });
        }
        Ok(request)
    }

    /// Registers a verified delta as a differential OTA package (`Type=1`), at most once.
    ///
    /// Steps: validate everything and re-hash the patch ([`prepare_delta`](Self::prepare_delta),
    /// no network); look the package up by name (an identical package is returned as
    /// `already_registered`, a different one with the same name is [`OtaError::NameTaken`]);
    /// check the 500-package limit; GenerateOTAUploadURL and the OSS upload (retried
    /// together with a fresh policy); CreateOTAFirmware. CreateOTAFirmware is never resent
    /// blindly: after a failure that leaves its outcome unknown (lost connection, timeout,
    /// 5xx) the package is looked up first, so a retry never registers it twice.
    pub fn register_delta(
        &self,
        record: &fwdelta_record::ReleaseRecord,
        patch_path: &Path,
        params: &RegisterParams,
    ) -> Result<Registered, OtaError> {
        let mut request = Self::prepare_delta(record, patch_path, params)?;
        let size = record.patch.size;
        let md5 = record.patch.md5.to_ascii_lowercase();

        if let Some(done) = self.lookup_registered(&request)? {
            return Ok(Registered {
                already_registered: true,
                ..done
            });
        }

        let total = self
            .list_firmware(&ListOtaFirmware {
                current_page: 1,
                page_size: 1,
                iot_instance_id: params.iot_instance_id.clone(),
                ..ListOtaFirmware::default()
            })?
            .total;
        if total >= u64::from(self.options.package_limit) {
            return Err(OtaError::PackageLimit {
                limit: self.options.package_limit,
                total: Some(total),
                service: None,
            });
        }

        let upload = GenerateOtaUploadUrl {
            file_suffix: Some(params.file_suffix.clone()),
            iot_instance_id: params.iot_instance_id.clone(),
        };
        let target = self.retrying("PostObject", OtaError::is_transient, || {
            let target = self.generate_upload_url(&upload)?;
            self.upload_file(&target, patch_path, &md5, size)?;
            Ok(target)
        })?;
        request.firmware_url = target.firmware_url.clone();
        self.create_firmware_idempotent(&request)
    }

    /// The package `request` describes, if it exists; [`OtaError::NameTaken`] when its name
    /// belongs to a different package.
    fn lookup_registered(
        &self,
        request: &CreateOtaFirmware,
    ) -> Result<Option<Registered>, OtaError> {
        let Some(found) = self.find_firmware(
            request.product_key.as_deref(),
            &request.dest_version,
            &request.firmware_name,
            request.iot_instance_id.as_deref(),
        )?
        else {
            return Ok(None);
        };
        if let Some(difference) = differs(&found, request) {
            return Err(OtaError::NameTaken {
                name: request.firmware_name.clone(),
                firmware_id: found.firmware_id,
                difference,
            });
        }
        let mut request = request.clone();
        if let Some(url) = &found.firmware_url {
            if request.firmware_url.is_empty() {
                request.firmware_url = url.clone();
            }
        }
        Ok(Some(Registered {
            firmware_id: found.firmware_id,
            already_registered: false,
            request,
            utc_create: found.utc_create,
            request_id: None,
        }))
    }

    /// CreateOTAFirmware that registers the package at most once, whatever happens on the
    /// way: the package is looked up first (by product, DestVersion and FirmwareName; an
    /// identical one is returned as `already_registered`, a different one with the same
    /// name is [`OtaError::NameTaken`]); throttled attempts are resent after a pause; after
    /// an attempt whose outcome is unknown (lost connection, timeout, 5xx) the package is
    /// looked up again before anything is resent, and a later refusal is checked against
    /// the list too, so the caller gets the package its lost attempt created.
    pub fn create_firmware_idempotent(
        &self,
        request: &CreateOtaFirmware,
    ) -> Result<Registered, OtaError> {
        request.validate()?;
        if let Some(done) = self.lookup_registered(request)? {
            return Ok(Registered {
                already_registered: true,
                ..done
            });
        }
        let request = request.clone();
        let params = request.params();
        let max = self.options.retry.max_attempts;
        let mut outcome_unknown = false;
        let mut attempt = 1;
        loop {
            let error = match self.send_once::<CreatedFirmware>(CreateOtaFirmware::ACTION, &params)
            {
                Ok(created) => {
                    return Ok(Registered {
                        firmware_id: created.firmware_id,
                        already_registered: false,
                        request,
                        utc_create: created.utc_create,
                        request_id: created.request_id,
                    })
                }
                Err(e) => e,
            };
            if let Some(s) = error.service_error().filter(|s| s.is_package_limit()) {
                return Err(OtaError::PackageLimit {
                    limit: self.options.package_limit,
                    total: None,
                    service: Some(Box::new(s.clone())),
                });
            }
            // Throttling means "not processed"; any other transient failure means "maybe".
            let maybe_created = error.is_transient() && !error.is_throttling();
            outcome_unknown |= maybe_created;
            if !error.is_transient() || attempt >= max {
                // A refusal after an earlier unknown outcome (e.g. "name exists") may be our
                // own earlier request having gone through.
                if outcome_unknown {
                    if let Some(done) = self.lookup_registered(&request)? {
                        return Ok(done);
                    }
                }
                return Err(if error.is_transient() && attempt > 1 {
                    OtaError::RetriesExhausted {
                        action: CreateOtaFirmware::ACTION.into(),
                        attempts: attempt,
                        last: Box::new(error),
                    }
                } else {
                    error
                });
            }
            self.options.retry.pause(attempt);
            attempt += 1;
            if maybe_created {
                if let Some(done) = self.lookup_registered(&request)? {
                    return Ok(done);
                }
            }
        }
    }
}

/// What differs between a listed package and the one being registered, if anything.
fn differs(found: &FirmwareInfo, request: &CreateOtaFirmware) -> Option<String> {
    let mut diffs = Vec::new();
    if found.type_.is_some_and(|t| t != i64::from(request.type_)) {
        diffs.push(format!("Type {:?} vs {}", found.type_, request.type_));
    }
    if found.src_version != request.src_version {
        diffs.push(format!(
            "SrcVersion {:?} vs {:?}",
            found.src_version, request.src_version
        ));
    }
    if found.dest_version.as_deref() != Some(request.dest_version.as_str()) {
        diffs.push(format!(
            "DestVersion {:?} vs {:?}",
            found.dest_version, request.dest_version
        ));
    }
    if let (Some(a), Some(b)) = (&found.firmware_sign, &request.firmware_sign) {
        if !a.eq_ignore_ascii_case(b) {
            diffs.push(format!("FirmwareSign {a} vs {b}"));
        }
    }
    if let (Some(a), Some(b)) = (found.firmware_size, request.firmware_size) {
        if a != b {
            diffs.push(format!("FirmwareSize {a} vs {b}"));
        }
    }
    if let (Some(a), Some(b)) = (&found.product_key, &request.product_key) {
        if a != b {
            diffs.push(format!("ProductKey {a} vs {b}"));
        }
    }
    (!diffs.is_empty()).then(|| diffs.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls() {
        assert_eq!(
            check_base_url("endpoint", "http://127.0.0.1:8080/", false).unwrap(),
            "http://127.0.0.1:8080"
        );
        assert!(check_base_url("endpoint", "http://localhost:1", false).is_ok());
        assert!(check_base_url("endpoint", "http://[::1]:1", false).is_ok());
        assert!(check_base_url("endpoint", "https://iot.cn-shanghai.aliyuncs.com", false).is_ok());
        assert!(check_base_url("endpoint", "http://example.com", false).is_err());
        assert!(check_base_url("endpoint", "http://example.com", true).is_ok());
        assert!(check_base_url("endpoint", "https://h/path", false).is_err());
        assert!(check_base_url("endpoint", "ftp://h", false).is_err());
        assert!(check_base_url("endpoint", "h:80", false).is_err());
        assert!(check_base_url("endpoint", "http://user@127.0.0.1", false).is_err());
    }

    #[test]
    fn multipart_layout() {
        let target = UploadUrl {
            key: "ota/x/y.bin".into(),
            host: "https://h".into(),
            policy: "UE9MSUNZ".into(),
            oss_access_key_id: "oss-id".into(),
            signature: "c2ln".into(),
            object_storage: None,
            utc_create: None,
            firmware_url: "https://h/ota/x/y.bin".into(),
            request_id: None,
        };
        let (head, tail) = multipart_form(&target, "y\".bin\r\n", "B");
        let head = String::from_utf8(head).unwrap();
        let order: Vec<usize> = [
            "\"key\"",
            "\"policy\"",
            "\"OSSAccessKeyId\"",
            "\"signature\"",
            "\"success_action_status\"",
            "name=\"file\"",
        ]
        .iter()
        .map(|n| head.find(n).unwrap())
        .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{head}");
        assert!(head.contains("filename=\"y_.bin__\""), "{head}");
        assert!(head.ends_with("Content-Type: application/octet-stream\r\n\r\n"));
        assert_eq!(tail, b"\r\n--B--\r\n");
    }

    #[test]
    fn invalid_options_are_errors() {
        let c = || Credentials::new("id", "S3CR3Tvalue").unwrap();
        let bad = |o: ClientOptions| Client::new(c(), o).unwrap_err();
        assert!(matches!(
            bad(ClientOptions {
                max_requests_per_second: 11,
                ..Default::default()
            }),
            OtaError::InvalidOption {
                name: "max_requests_per_second",
                ..
            }
        ));
        assert!(matches!(
            bad(ClientOptions {
                max_requests_per_second: 0,
                ..Default::default()
            }),
            OtaError::InvalidOption { .. }
        ));
        assert!(matches!(
            bad(ClientOptions {
                region_id: "CN shanghai".into(),
                ..Default::default()
            }),
            OtaError::InvalidOption {
                name: "region_id",
                ..
            }
        ));
        assert!(matches!(
            bad(ClientOptions {
                timeout: Duration::ZERO,
                ..Default::default()
            }),
            OtaError::InvalidOption {
                name: "timeout",
                ..
            }
        ));
        let ok = Client::new(c(), ClientOptions::default()).unwrap();
        assert_eq!(ok.endpoint(), "https://iot.cn-shanghai.aliyuncs.com");
        let ok = Client::new(
            c(),
            ClientOptions {
                region_id: "ap-southeast-1".into(),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(ok.endpoint(), "https://iot.ap-southeast-1.aliyuncs.com");
        // The client's Debug output carries no secret.
        assert!(!format!("{ok:?}").contains("S3CR3T"), "{ok:?}");
    }
}
