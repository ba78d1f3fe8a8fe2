//! The one error type of the crate, and the service error it wraps.

use std::fmt;
use std::path::PathBuf;

use crate::credentials::CredentialsError;

/// An error answered by the IoT Platform API gateway or by the OTA service.
///
/// Gateway errors (bad signature, throttling, server errors) arrive with an HTTP 4xx/5xx
/// status and a `Code`/`Message` body; business errors arrive with HTTP 200 and
/// `Success=false`, `Code`, `ErrorMessage`. Both end up here with the facts kept.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServiceError {
    /// The API action that failed (`CreateOTAFirmware`, ...).
    pub action: String,
    /// The HTTP status of the answer.
    pub http_status: u16,
    /// The error code (`Throttling.User`, `iot.ota.FirmwareNotFound`, ...).
    pub code: String,
    /// `ErrorMessage` (business errors) or `Message` (gateway errors); empty when absent.
    pub message: String,
    /// The request id the service assigned, to quote when asking Alibaba Cloud support.
    pub request_id: Option<String>,
    /// The gateway host that answered, when given.
    pub host_id: Option<String>,
    /// The troubleshooting link of gateway errors, when given.
    pub recommend: Option<String>,
}

impl ServiceError {
    /// True for throttling answers (`Throttling`, `Throttling.User`, `Throttling.Api`, ...
    /// or HTTP 429). The request was refused before it was processed, so it is always safe to
    /// send again after a pause.
    pub fn is_throttling(&self) -> bool {
        self.http_status == 429
            || self.code.starts_with("Throttling")
            || self.code.contains(".Throttling")
            || self
                .code
                .eq_ignore_ascii_case("ServiceUnavailable.Throttling")
    }

    /// True for server-side failures (HTTP 5xx, `InternalError`, `ServiceUnavailable`). The
    /// request may or may not have been carried out.
    pub fn is_server_error(&self) -> bool {
        self.http_status >= 500
            || self.code == "InternalError"
            || self.code == "ServiceUnavailable"
            || self.code == "ServiceUnavailableTemporary"
    }

    /// True when the error says the account (or instance) holds the maximum number of
    /// OTA packages (500). The service's exact code for this is not published, so this
    /// recognises the plausible spellings: a code mentioning a quota, a limit or an excess
    /// (but not throttling), or a message that mentions the limit of 500.
    pub fn is_package_limit(&self) -> bool {
        if self.is_throttling() {
            return false;
        }
        let code = self.code.to_ascii_lowercase();
        let message = self.message.to_ascii_lowercase();
        code.contains("quota")
            || code.contains("exceed")
            || code.contains("limit")
            || code.contains("toomany")
            || (message.contains("500")
                && (message.contains("firmware") || message.contains("package")))
    }
}

impl fmt::Display for ServiceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} failed: {}", self.action, self.code)?;
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        write!(f, " (HTTP {}", self.http_status)?;
        if let Some(id) = &self.request_id {
            write!(f, ", RequestId {id}")?;
        }
        write!(f, ")")
    }
}

impl std::error::Error for ServiceError {}

/// The kind of a transport failure (no HTTP answer was read).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransportKind {
    /// The host name could not be resolved.
    Dns,
    /// The connection could not be opened. Nothing was sent.
    Connect,
    /// No answer within the timeout. The request may have been carried out.
    Timeout,
    /// The connection broke, or the answer was not HTTP. The request may have been carried out.
    ConnectionLost,
    /// Anything else (bad URL, TLS failure, ...). Not retried.
    Other,
}

impl TransportKind {
    /// True when retrying can help.
    pub fn is_transient(self) -> bool {
        !matches!(self, TransportKind::Other)
    }
}

impl fmt::Display for TransportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TransportKind::Dns => "host name not resolved",
            TransportKind::Connect => "connection failed",
            TransportKind::Timeout => "timed out",
            TransportKind::ConnectionLost => "connection lost",
            TransportKind::Other => "transport error",
        })
    }
}

/// Everything that can go wrong when validating, uploading or registering a package.
///
/// No variant ever contains the AccessKey secret or a signed URL.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OtaError {
    /// A request parameter breaks the service's rules. Found before any network call.
    #[error("invalid {name} {value:?}: {reason}")]
    InvalidParameter {
        /// The API's name for the parameter (`FirmwareName`, `DestVersion`, ...).
        name: &'static str,
        /// The offending value (at most 120 characters of it).
        value: String,
        /// The rule it breaks.
        reason: String,
    },
    /// A client option is invalid.
    #[error("invalid client option {name}: {reason}")]
    InvalidOption {
        /// The option's field name.
        name: &'static str,
        /// Why.
        reason: String,
    },
    /// The release record does not say the patch was verified.
    #[error(
        "the release record's verification verdict is {verdict:?}, not \"pass\": \
         only a verified patch can be registered (run `fwdelta verify` first)"
    )]
    RecordNotVerified {
        /// The verdict found.
        verdict: String,
    },
    /// The release record failed its own consistency checks, or does not describe a
    /// differential MD5-signed package.
    #[error("the release record cannot be registered: {reason}")]
    BadRecord {
        /// Why.
        reason: String,
    },
    /// The patch file on disk is not the one the release record describes.
    #[error(
        "{path}: the file is not the patch the release record describes \
         (record: {expected_size} bytes, MD5 {expected_md5}; file: {actual_size} bytes, MD5 {actual_md5})"
    )]
    PatchMismatch {
        /// The patch path given.
        path: PathBuf,
        /// MD5 in the record.
        expected_md5: String,
        /// MD5 of the file.
        actual_md5: String,
        /// Size in the record.
        expected_size: u64,
        /// Size of the file.
        actual_size: u64,
    },
    /// The patch file changed between hashing it and uploading it.
    #[error(
        "{path}: the file changed while it was being uploaded (MD5 {expected_md5} before, \
         {actual_md5} during the upload); nothing was registered"
    )]
    PatchChanged {
        /// The patch path.
        path: PathBuf,
        /// MD5 before the upload.
        expected_md5: String,
        /// MD5 of the bytes that were sent.
        actual_md5: String,
    },
    /// Reading a local file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Credentials could not be loaded.
    #[error(transparent)]
    Credentials(#[from] CredentialsError),
    /// The service answered with an error.
    #[error(transparent)]
    Service(Box<ServiceError>),
    /// The account holds the maximum number of OTA packages.
    #[error(
        "the OTA package limit is reached ({}{limit} packages per account/instance): delete \
         packages that are no longer needed (console, or DeleteOTAFirmware) and register again{}",
        total.map(|t| format!("{t} of ")).unwrap_or_default(),
        service.as_ref().map(|s| format!(" [{s}]")).unwrap_or_default()
    )]
    PackageLimit {
        /// The limit (500).
        limit: u32,
        /// How many packages the account holds, when known.
        total: Option<u64>,
        /// The service's answer, when the limit was reported by CreateOTAFirmware.
        service: Option<Box<ServiceError>>,
    },
    /// A package with this FirmwareName exists and is not the package being registered.
    #[error(
        "FirmwareName {name:?} is already taken by package {firmware_id}, which differs \
         from this one ({difference}); FirmwareName must be unique in the account"
    )]
    NameTaken {
        /// The name.
        name: String,
        /// The existing package.
        firmware_id: String,
        /// What differs.
        difference: String,
    },
    /// The answer had an error status and a body that is not an API error document.
    #[error("{action}: HTTP {status} with an unrecognised body: {excerpt:?}")]
    Http {
        /// The API action, or `PostObject` for the upload.
        action: String,
        /// The HTTP status.
        status: u16,
        /// The start of the body, control characters replaced.
        excerpt: String,
    },
    /// No HTTP answer was read.
    #[error("{action}: {kind}: {message}")]
    Transport {
        /// The API action, or `PostObject`.
        action: String,
        /// What happened.
        kind: TransportKind,
        /// Details from the HTTP client (never the URL).
        message: String,
    },
    /// The answer is not a well-formed API response.
    #[error("{action}: malformed response: {reason}")]
    MalformedResponse {
        /// The API action.
        action: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The answer is larger than the client accepts.
    #[error("{action}: response larger than {limit} bytes")]
    ResponseTooLarge {
        /// The API action.
        action: String,
        /// The limit.
        limit: usize,
    },
    /// The OSS form upload was refused.
    #[error("OSS upload failed: {code}: {message} (HTTP {status}{})",
        request_id.as_ref().map(|r| format!(", RequestId {r}")).unwrap_or_default())]
    Upload {
        /// The HTTP status.
        status: u16,
        /// The OSS error code (`AccessDenied`, `EntityTooLarge`, ...).
        code: String,
        /// The OSS message.
        message: String,
        /// The OSS request id.
        request_id: Option<String>,
    },
    /// Transient failures went on past the retry budget.
    #[error("{action}: gave up after {attempts} attempts; last error: {last}")]
    RetriesExhausted {
        /// The API action, or `PostObject`.
        action: String,
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        last: Box<OtaError>,
    },
}

impl OtaError {
    /// True when sending the same request again (after a pause) can succeed: throttling,
    /// server errors, transient transport failures, and OSS errors that a fresh upload
    /// policy can fix.
    pub fn is_transient(&self) -> bool {
        match self {
            OtaError::Service(s) => s.is_throttling() || s.is_server_error(),
            OtaError::Http { status, .. } => *status >= 500 || *status == 429,
            OtaError::Transport { kind, .. } => kind.is_transient(),
            OtaError::Upload {
                status,
                code,
                message,
                ..
            } => {
                *status >= 500
                    || *status == 429
                    || code == "RequestTimeout"
                    || code == "SlowDown"
                    || (*status == 403 && message.to_ascii_lowercase().contains("expire"))
            }
            _ => false,
        }
    }

    /// True for throttling answers: the request was refused unprocessed.
    pub fn is_throttling(&self) -> bool {
        matches!(self, OtaError::Service(s) if s.is_throttling())
            || matches!(self, OtaError::Http { status: 429, .. })
    }

    /// The service error inside, if any (also looks inside [`OtaError::RetriesExhausted`]
    /// and [`OtaError::PackageLimit`]).
    pub fn service_error(&self) -> Option<&ServiceError> {
        match self {
            OtaError::Service(s) => Some(s),
            OtaError::PackageLimit { service, .. } => service.as_deref(),
            OtaError::RetriesExhausted { last, .. } => last.service_error(),
            _ => None,
        }
    }
}
