//! Sandbox options, with documented defaults.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use crate::SandboxError;

/// The AccessKeyId of the default test key pair.
pub const DEFAULT_ACCESS_KEY_ID: &str = "testid";
/// The AccessKeySecret of the default test key pair (public: a test credential only).
pub const DEFAULT_ACCESS_KEY_SECRET: &str = "testsecret";
/// The default data directory, relative to the current directory.
pub const DEFAULT_DATA_DIR: &str = "fwdelta-sandbox-data";

/// An access key pair and the account it belongs to. Keys of one account share its
/// package quota, its package names and its rate limits (like RAM users).
#[derive(Clone, PartialEq, Eq)]
pub struct AccessKey {
    /// AccessKeyId.
    pub id: String,
    /// AccessKeySecret.
    pub secret: String,
    /// The account; defaults to the key id.
    pub account: String,
}

impl std::fmt::Debug for AccessKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessKey")
            .field("id", &self.id)
            .field("secret", &"<redacted>")
            .field("account", &self.account)
            .finish()
    }
}

impl AccessKey {
    /// A key pair in its own account (named after the key id).
    pub fn new(id: &str, secret: &str) -> AccessKey {
        AccessKey {
            id: id.to_string(),
            secret: secret.to_string(),
            account: id.to_string(),
        }
    }

    /// The same key in account `account`.
    pub fn with_account(mut self, account: &str) -> AccessKey {
        self.account = account.to_string();
        self
    }

    /// The documented test pair [`DEFAULT_ACCESS_KEY_ID`] / [`DEFAULT_ACCESS_KEY_SECRET`].
    pub fn test_key() -> AccessKey {
        AccessKey::new(DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET)
    }

    /// A random key pair (id `LTAIsbx` + 17 characters, 30-character secret).
    pub fn generate() -> AccessKey {
        AccessKey::new(
            &format!("LTAIsbx{}", crate::ids::alnum(17)),
            &crate::ids::alnum(30),
        )
    }
}

impl FromStr for AccessKey {
    type Err = SandboxError;

    /// Parses `ID:SECRET` (the secret may itself contain `:`).
    fn from_str(s: &str) -> Result<AccessKey, SandboxError> {
        let invalid = |reason: &str| SandboxError::InvalidConfig {
            option: "access_keys",
            reason: reason.to_string(),
        };
        let (id, secret) = s
            .split_once(':')
            .ok_or_else(|| invalid("expected ID:SECRET"))?;
        let key = AccessKey::new(id, secret);
        validate_key(&key).map_err(|r| invalid(&r))?;
        Ok(key)
    }
}

fn validate_key(key: &AccessKey) -> Result<(), String> {
    let ok_id = |s: &str| {
        !s.is_empty()
            && s.len() <= 128
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    };
    if !ok_id(&key.id) {
        return Err("the AccessKeyId must be 1-128 letters, digits, '-', '_' or '.'".into());
    }
    if key.secret.is_empty() || key.secret.len() > 256 || key.secret.chars().any(char::is_control) {
        return Err(format!(
            "the secret of {} must be 1-256 printable characters",
            key.id
        ));
    }
    if key.account.is_empty() || key.account.len() > 128 {
        return Err(format!("the account of {} must be 1-128 bytes", key.id));
    }
    Ok(())
}

/// Per-account, per-API request rate limits (a sliding one-second window).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimits {
    /// Whether limits apply at all. Default: true.
    pub enabled: bool,
    /// Requests per second for every emulated API except QueryOTAFirmware.
    /// Default: 10 (the documented limit). Must be at least 1.
    pub default_qps: u32,
    /// Requests per second for QueryOTAFirmware. Default: 20 (documented). At least 1.
    pub query_ota_firmware_qps: u32,
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits {
            enabled: true,
            default_qps: 10,
            query_ota_firmware_qps: 20,
        }
    }
}

impl RateLimits {
    /// The limit for `action`, or `None` when limits are disabled.
    pub fn limit_for(&self, action: &str) -> Option<u32> {
        if !self.enabled {
            None
        } else if action == "QueryOTAFirmware" {
            Some(self.query_ota_firmware_qps)
        } else {
            Some(self.default_qps)
        }
    }
}

/// One injected fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// Answer `Throttling.User` (HTTP 400) without processing the request. On OSS
    /// requests this is answered like [`Fault::Http503`].
    Throttle,
    /// Answer HTTP 500 `InternalError` without processing the request.
    Http500,
    /// Answer HTTP 503 `ServiceUnavailable` without processing the request.
    Http503,
    /// Wait this long, then process the request normally.
    Slow(Duration),
    /// Close the connection without processing the request or answering.
    DropConnection,
    /// Process the request (its effects persist), then close the connection without
    /// answering: the "lost response" case a client must survive without duplicating
    /// work.
    DropResponse,
}

impl FromStr for Fault {
    type Err = SandboxError;

    /// `throttle`, `500`, `503`, `slow` (the configured delay is applied by the
    /// caller: this parses to one second), `slow:MILLIS`, `drop`, `drop-response`.
    fn from_str(s: &str) -> Result<Fault, SandboxError> {
        let invalid = || {
            SandboxError::InvalidConfig {
            option: "faults",
            reason: format!(
                "unknown fault {s:?} (expected throttle, 500, 503, slow, slow:MILLIS, drop, drop-response)"
            ),
        }
        };
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "throttle" | "throttling" => Fault::Throttle,
            "500" | "http500" => Fault::Http500,
            "503" | "http503" => Fault::Http503,
            "slow" => Fault::Slow(Duration::from_secs(1)),
            "drop" | "drop-connection" => Fault::DropConnection,
            "drop-response" => Fault::DropResponse,
            other => match other.strip_prefix("slow:") {
                Some(ms) => Fault::Slow(Duration::from_millis(ms.parse().map_err(|_| invalid())?)),
                None => return Err(invalid()),
            },
        })
    }
}

/// Random fault injection: each non-admin request draws one fault with these
/// probabilities (their sum must not exceed 1). Faults queued with
/// [`crate::SandboxHandle::push_faults`] are applied first, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultConfig {
    /// Share of requests answered with `Throttling.User`. Default 0.
    pub throttle: f64,
    /// Share answered with HTTP 500. Default 0.
    pub http_500: f64,
    /// Share answered with HTTP 503. Default 0.
    pub http_503: f64,
    /// Share answered after [`FaultConfig::slow_delay`]. Default 0.
    pub slow: f64,
    /// The delay of a slow answer. Default 2 s.
    pub slow_delay: Duration,
    /// Share whose connection is dropped before processing. Default 0.
    pub drop_connection: f64,
    /// Share processed but whose response is dropped. Default 0.
    pub drop_response: f64,
    /// Seed of the random draws, for reproducible runs; `None` seeds from the OS.
    pub seed: Option<u64>,
}

impl Default for FaultConfig {
    fn default() -> Self {
        FaultConfig {
            throttle: 0.0,
            http_500: 0.0,
            http_503: 0.0,
            slow: 0.0,
            slow_delay: Duration::from_secs(2),
            drop_connection: 0.0,
            drop_response: 0.0,
            seed: None,
        }
    }
}

impl FaultConfig {
    /// Checks that each share is in `[0, 1]` and that they sum to at most 1.
    pub fn validate(&self) -> Result<(), SandboxError> {
        let shares = [
            ("throttle", self.throttle),
            ("http_500", self.http_500),
            ("http_503", self.http_503),
            ("slow", self.slow),
            ("drop_connection", self.drop_connection),
            ("drop_response", self.drop_response),
        ];
        let mut sum = 0.0;
        for (name, share) in shares {
            if !(0.0..=1.0).contains(&share) {
                return Err(SandboxError::InvalidConfig {
                    option: "faults",
                    reason: format!("{name} = {share} is not a share between 0 and 1"),
                });
            }
            sum += share;
        }
        if sum > 1.0 + 1e-9 {
            return Err(SandboxError::InvalidConfig {
                option: "faults",
                reason: format!("the fault shares sum to {sum}, more than 1"),
            });
        }
        if self.slow_delay > Duration::from_secs(600) {
            return Err(SandboxError::InvalidConfig {
                option: "faults",
                reason: "slow_delay must be at most 600 s".into(),
            });
        }
        Ok(())
    }

    /// Whether any share is non-zero.
    pub fn is_active(&self) -> bool {
        self.throttle
            + self.http_500
            + self.http_503
            + self.slow
            + self.drop_connection
            + self.drop_response
            > 0.0
    }

    /// Maps a uniform draw in `[0, 1)` to a fault.
    pub fn pick(&self, draw: f64) -> Option<Fault> {
        let mut edge = 0.0;
        let table = [
            (self.throttle, Fault::Throttle),
            (self.http_500, Fault::Http500),
            (self.http_503, Fault::Http503),
            (self.slow, Fault::Slow(self.slow_delay)),
            (self.drop_connection, Fault::DropConnection),
            (self.drop_response, Fault::DropResponse),
        ];
        for (share, fault) in table {
            edge += share;
            if draw < edge {
                return Some(fault);
            }
        }
        None
    }
}

/// Everything a sandbox needs to start.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// Where to listen. Default `127.0.0.1:0` (an ephemeral port on loopback).
    pub listen: SocketAddr,
    /// Allow a non-loopback listen address. Default false: the sandbox has no TLS
    /// and a documented test key, so it refuses to serve a network unless asked.
    pub allow_non_loopback: bool,
    /// The data directory (SQLite database and objects). Default
    /// [`DEFAULT_DATA_DIR`], relative to the current directory.
    pub data_dir: PathBuf,
    /// Accepted access keys. Default: the test pair [`AccessKey::test_key`].
    pub access_keys: Vec<AccessKey>,
    /// The most packages one account may hold. Default 500 (documented).
    pub package_quota: u32,
    /// Rate limits. Default: 10 QPS per account per API, 20 for QueryOTAFirmware.
    pub rate_limits: RateLimits,
    /// How far a request's Timestamp may be from the sandbox clock, either way.
    /// Default 15 minutes (documented). Must be non-zero.
    pub timestamp_window: Duration,
    /// Random fault injection. Default: none.
    pub faults: FaultConfig,
    /// The `host[:port]` written into upload hosts and firmware URLs. Default: the
    /// bound address (`127.0.0.1:PORT`).
    pub public_host: Option<String>,
    /// How long a GenerateOTAUploadURL policy stays valid. Default 60 s (documented).
    pub upload_policy_ttl: Duration,
    /// The content-length-range maximum written into upload policies, in bytes.
    /// Default 1,048,576,000 (documented).
    pub max_upload_bytes: u64,
    /// How long the pre-signed download URLs returned by QueryOTAFirmware stay valid.
    /// Default 1 hour.
    pub download_url_ttl: Duration,
    /// Most simultaneous connections; more wait to be accepted. Default 64.
    pub max_connections: usize,
    /// How long an idle keep-alive connection stays open. Default 5 s.
    pub idle_timeout: Duration,
    /// Largest RPC request body (form parameters), in bytes. Default 1 MiB.
    pub max_rpc_body_bytes: usize,
    /// The region named in `HostId` (`iot.<region>.aliyuncs.com`). Default
    /// `cn-shanghai`.
    pub region_id: String,
    /// The OSS bucket name the sandbox pretends to be. Default `iotx-ota`.
    pub bucket: String,
    /// Whether the `/_sandbox/` control endpoints are served (to loopback peers
    /// only). Default true.
    pub admin_endpoint: bool,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            allow_non_loopback: false,
            data_dir: PathBuf::from(DEFAULT_DATA_DIR),
            access_keys: vec![AccessKey::test_key()],
            package_quota: 500,
            rate_limits: RateLimits::default(),
            timestamp_window: Duration::from_secs(15 * 60),
            faults: FaultConfig::default(),
            public_host: None,
            upload_policy_ttl: Duration::from_secs(60),
            max_upload_bytes: 1_048_576_000,
            download_url_ttl: Duration::from_secs(3600),
            max_connections: 64,
            idle_timeout: Duration::from_secs(5),
            max_rpc_body_bytes: 1024 * 1024,
            region_id: "cn-shanghai".to_string(),
            bucket: "iotx-ota".to_string(),
            admin_endpoint: true,
        }
    }
}

impl SandboxConfig {
    /// Checks every option; invalid options are errors, never silently adjusted.
    pub fn validate(&self) -> Result<(), SandboxError> {
        let invalid = |option: &'static str, reason: &str| SandboxError::InvalidConfig {
            option,
            reason: reason.to_string(),
        };
        if !self.listen.ip().is_loopback() && !self.allow_non_loopback {
            return Err(SandboxError::NonLoopback { addr: self.listen });
        }
        if self.access_keys.is_empty() {
            return Err(invalid("access_keys", "at least one access key is needed"));
        }
        let mut ids = std::collections::BTreeSet::new();
        for key in &self.access_keys {
            validate_key(key).map_err(|r| invalid("access_keys", &r))?;
            if !ids.insert(key.id.as_str()) {
                return Err(invalid(
                    "access_keys",
                    &format!("AccessKeyId {} is given twice", key.id),
                ));
            }
        }
        if self.rate_limits.enabled
            && (self.rate_limits.default_qps == 0 || self.rate_limits.query_ota_firmware_qps == 0)
        {
            return Err(invalid(
                "rate_limits",
                "a QPS limit must be at least 1 (disable limits instead)",
            ));
        }
        if self.timestamp_window.is_zero() || self.timestamp_window > Duration::from_secs(86_400) {
            return Err(invalid("timestamp_window", "must be between 1 s and 24 h"));
        }
        self.faults.validate()?;
        if let Some(host) = &self.public_host {
            let ok = !host.is_empty()
                && host.len() <= 255
                && host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-.:[]_".contains(&b));
            if !ok {
                return Err(invalid(
                    "public_host",
                    "must be host[:port] (letters, digits, '-', '.', ':', '[', ']')",
                ));
            }
        }
        if self.upload_policy_ttl.is_zero() || self.download_url_ttl.is_zero() {
            return Err(invalid(
                "upload_policy_ttl",
                "URL lifetimes must be non-zero",
            ));
        }
        if self.max_upload_bytes > 5 * 1024 * 1024 * 1024 {
            return Err(invalid(
                "max_upload_bytes",
                "must be at most 5 GiB (the OSS object limit)",
            ));
        }
        if self.max_connections == 0 || self.max_connections > 4096 {
            return Err(invalid("max_connections", "must be between 1 and 4096"));
        }
        if self.idle_timeout.is_zero() {
            return Err(invalid("idle_timeout", "must be non-zero"));
        }
        if self.max_rpc_body_bytes > 64 * 1024 * 1024 {
            return Err(invalid("max_rpc_body_bytes", "must be at most 64 MiB"));
        }
        let label_ok = |s: &str| {
            !s.is_empty()
                && s.len() <= 63
                && s.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        };
        if !label_ok(&self.region_id) {
            return Err(invalid(
                "region_id",
                "must be lowercase letters, digits and '-'",
            ));
        }
        if !label_ok(&self.bucket) || self.bucket.len() < 3 {
            return Err(invalid(
                "bucket",
                "must be 3-63 lowercase letters, digits and '-'",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid_and_loopback() {
        let c = SandboxConfig::default();
        c.validate().unwrap();
        assert!(c.listen.ip().is_loopback());
        assert_eq!(c.package_quota, 500);
        assert_eq!(c.rate_limits.limit_for("CreateOTAFirmware"), Some(10));
        assert_eq!(c.rate_limits.limit_for("QueryOTAFirmware"), Some(20));
    }

    #[test]
    fn invalid_options_are_errors() {
        let c = SandboxConfig {
            listen: "0.0.0.0:0".parse().unwrap(),
            ..SandboxConfig::default()
        };
        assert!(matches!(
            c.validate(),
            Err(SandboxError::NonLoopback { .. })
        ));
        let c = SandboxConfig {
            access_keys: vec![],
            ..SandboxConfig::default()
        };
        assert!(c.validate().is_err());
        let c = SandboxConfig {
            access_keys: vec![AccessKey::test_key(), AccessKey::test_key()],
            ..SandboxConfig::default()
        };
        assert!(c.validate().is_err());
        let c = SandboxConfig {
            faults: FaultConfig {
                http_500: 0.7,
                http_503: 0.7,
                ..FaultConfig::default()
            },
            ..SandboxConfig::default()
        };
        assert!(c.validate().is_err());
        let c = SandboxConfig {
            rate_limits: RateLimits {
                default_qps: 0,
                ..RateLimits::default()
            },
            ..SandboxConfig::default()
        };
        assert!(c.validate().is_err());
        let c = SandboxConfig {
            public_host: Some("http://x/".into()),
            ..SandboxConfig::default()
        };
        assert!(c.validate().is_err());
    }

    #[test]
    fn parses_keys_and_faults() {
        let k: AccessKey = "id1:se:cret".parse().unwrap();
        assert_eq!((k.id.as_str(), k.secret.as_str()), ("id1", "se:cret"));
        assert!("nocolon".parse::<AccessKey>().is_err());
        assert!(":secret".parse::<AccessKey>().is_err());
        assert!("id:".parse::<AccessKey>().is_err());
        assert!(!format!("{k:?}").contains("se:cret"));
        assert_eq!("503".parse::<Fault>().unwrap(), Fault::Http503);
        assert_eq!(
            "slow:250".parse::<Fault>().unwrap(),
            Fault::Slow(Duration::from_millis(250))
        );
        assert!("bogus".parse::<Fault>().is_err());
    }

    #[test]
    fn fault_picking() {
        let f = FaultConfig {
            throttle: 0.25,
            http_503: 0.25,
            ..FaultConfig::default()
        };
        assert_eq!(f.pick(0.1), Some(Fault::Throttle));
        assert_eq!(f.pick(0.3), Some(Fault::Http503));
        assert_eq!(f.pick(0.6), None);
    }
}
