//! A thin client for the Alibaba Cloud IoT Platform OTA API: upload a verified delta and
//! register it as a differential package (`CreateOTAFirmware`, `Type=1`).
//!
//! - Typed requests: [`GenerateOtaUploadUrl`], [`CreateOtaFirmware`], [`QueryOtaFirmware`],
//!   [`ListOtaFirmware`], plus the OSS PostObject form upload ([`Client::upload_file`]).
//! - The wire form of the official core SDK: `POST /?<params>` with an empty body, common
//!   parameters `Format`, `Version`, `AccessKeyId`, `SignatureMethod`, `SignatureVersion`,
//!   `SignatureNonce`, `Timestamp`, `RegionId`, `SignatureType=`, signed with RPC signature
//!   V2 (HMAC-SHA1, [`fwdelta_acs_sign`]); booleans as `True`/`False`.
//! - JSON and XML answers, parsed by pure functions ([`parse_response`],
//!   [`parse_oss_error`]) that bound sizes and never panic. `Success=false` and gateway
//!   errors become [`OtaError::Service`], keeping `Code`, `ErrorMessage`/`Message` and
//!   `RequestId`.
//! - Validation of every parameter with the service's rules before any network call
//!   ([`validate`]).
//! - Under the service's limits: at most 10 requests per second per account (client
//!   side), throttling and 5xx retried with exponential backoff and jitter a bounded number
//!   of times ([`RetryPolicy`]), CreateOTAFirmware never resent blindly (the package is
//!   looked up first), and the 500-package limit reported as [`OtaError::PackageLimit`].
//! - [`Credentials`] from `ALIBABA_CLOUD_ACCESS_KEY_ID` / `ALIBABA_CLOUD_ACCESS_KEY_SECRET`
//!   or a profile file; the secret is never printed (its `Debug` is redacted).
//!
//! The HTTP client is blocking (`ureq`, rustls): registration is a handful of sequential
//! calls, so no async runtime.
//!
//! # Example
//!
//! ```no_run
//! use std::path::Path;
//! use fwdelta_ota::{Client, ClientOptions, Credentials, RegisterParams};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let record = fwdelta_record::ReleaseRecord::from_json(&std::fs::read("v1-v2.json")?)?;
//! let client = Client::new(Credentials::load(None)?, ClientOptions::default())?;
//! let params = RegisterParams {
//!     firmware_name: "fw-v1_0_0-to-v1_1_0".into(),
//!     product_key: Some("a1BcDeFgHiJ".into()),
//!     src_version: Some("1.0.0".into()),
//!     dest_version: Some("1.1.0".into()),
//!     ..RegisterParams::default()
//! };
//! let registered = client.register_delta(&record, Path::new("v1-v2.fwd"), &params)?;
//! println!("FirmwareId {}", registered.firmware_id);
//! # Ok(()) }
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod api;
mod client;
mod credentials;
mod error;
mod limiter;
mod response;
mod retry;
pub mod validate;
pub mod wire;

pub use api::{
    CreateOtaFirmware, GenerateOtaUploadUrl, ListOtaFirmware, QueryOtaFirmware, RpcAction,
};
pub use client::{
    md5_file, Client, ClientOptions, RegisterParams, Registered, MAX_REQUESTS_PER_SECOND,
    PACKAGE_LIMIT,
};
pub use credentials::{
    Credentials, CredentialsError, ENV_ACCESS_KEY_ID, ENV_ACCESS_KEY_SECRET, ENV_CREDENTIALS_FILE,
    ENV_PROFILE,
};
pub use error::{OtaError, ServiceError, TransportKind};
pub use limiter::{RateLimiter, ACCOUNT_WINDOW};
pub use response::{
    parse_oss_error, parse_response, CreatedFirmware, Document, FirmwareInfo, FirmwarePage, Format,
    FromResponse, QueriedFirmware, UploadUrl, MAX_RESPONSE_BYTES,
};
pub use retry::RetryPolicy;
