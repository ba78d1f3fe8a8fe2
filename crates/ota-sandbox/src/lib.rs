//! A local emulator of the Alibaba Cloud IoT Platform OTA API (version 2018-01-20) and
//! of the OSS PostObject upload, for tests, CI and release rehearsals.
//!
//! It serves, over plain HTTP on loopback:
//!
//! - the RPC API at `/`: CreateOTAFirmware, GenerateOTAUploadURL, QueryOTAFirmware,
//!   ListOTAFirmware, DeleteOTAFirmware and CreateOTAVerifyJob, with parameters in the
//!   query string or a form body, by GET or POST, answered in JSON or XML;
//! - signature checks as the real gateway does them: V2 (HMAC-SHA1) and V3
//!   (ACS3-HMAC-SHA256), the timestamp window, nonce reuse and unknown keys, with the
//!   documented error codes (see [`codes`] for which codes are documented and which
//!   are the sandbox's own choice);
//! - the OSS side: `POST /` with `multipart/form-data` stores an object after checking
//!   the policy and its signature; `GET /<key>` with a pre-signed query downloads it.
//!
//! State (packages, objects, nonces) persists under the data directory: SQLite plus
//! one file per object. Faults can be injected for reliability tests, through
//! [`SandboxConfig::faults`], [`SandboxHandle::push_faults`] or the `/_sandbox/`
//! endpoints (see [`admin`]).
//!
//! # Example
//!
//! ```no_run
//! use fwdelta_ota_sandbox::{Sandbox, SandboxConfig};
//!
//! let dir = std::env::temp_dir().join("sandbox-doc-example");
//! let handle = Sandbox::start(SandboxConfig {
//!     data_dir: dir,
//!     ..SandboxConfig::default()
//! })?;
//! // Point an SDK at handle.endpoint() ("127.0.0.1:PORT") with the key pair
//! // fwdelta_ota_sandbox::DEFAULT_ACCESS_KEY_ID / DEFAULT_ACCESS_KEY_SECRET.
//! println!("serving on {}", handle.base_url());
//! handle.shutdown();
//! # Ok::<(), fwdelta_ota_sandbox::SandboxError>(())
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod admin;
pub mod api;
pub mod auth;
pub mod codes;
pub mod config;
pub mod http;
mod ids;
pub mod multipart;
pub mod oss;
pub mod policy;
pub mod request;
pub mod response;
mod server;
pub mod store;
pub mod timefmt;

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

pub use config::{
    AccessKey, Fault, FaultConfig, RateLimits, SandboxConfig, DEFAULT_ACCESS_KEY_ID,
    DEFAULT_ACCESS_KEY_SECRET, DEFAULT_DATA_DIR,
};
pub use multipart::parse_multipart;
pub use request::parse_request;

/// Why a sandbox could not start or an operation on it failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SandboxError {
    /// An option is invalid.
    #[error("invalid sandbox option {option}: {reason}")]
    InvalidConfig {
        /// The option.
        option: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The listen address is not loopback and `allow_non_loopback` is false.
    #[error("refusing to listen on non-loopback address {addr} (the sandbox has no TLS and a public test key)")]
    NonLoopback {
        /// The address.
        addr: SocketAddr,
    },
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The error.
        source: std::io::Error,
    },
    /// The data directory could not be created.
    #[error("cannot create data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] store::StoreError),
    /// A thread could not be started.
    #[error("cannot start a thread: {0}")]
    Thread(std::io::Error),
}

/// Request counters (see [`SandboxHandle::stats`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Stats {
    /// Every HTTP request received, except `/_sandbox/` ones (faulted ones included).
    pub requests: u64,
    /// RPC API requests.
    pub rpc_requests: u64,
    /// RPC requests per emulated Action (`(other)`: any other or no Action).
    pub actions: BTreeMap<String, u64>,
    /// Successful PostObject uploads.
    pub uploads: u64,
    /// Successful downloads.
    pub downloads: u64,
    /// Requests that got an injected fault.
    pub faults_injected: u64,
    /// RPC requests refused by the gateway layer (signature, parameters, ...).
    pub rejected: u64,
    /// RPC requests refused by the rate limit.
    pub throttled: u64,
    /// RPC requests answered with a business error (`Success:false`).
    pub business_errors: u64,
}

/// The entry point: see [`Sandbox::start`].
#[derive(Debug)]
pub struct Sandbox;

impl Sandbox {
    /// Validates `config`, opens the store, binds the listener and starts serving on
    /// background threads.
    pub fn start(config: SandboxConfig) -> Result<SandboxHandle, SandboxError> {
        config.validate()?;
        std::fs::create_dir_all(&config.data_dir).map_err(|source| SandboxError::DataDir {
            path: config.data_dir.clone(),
            source,
        })?;
        let store = store::Store::open(&config.data_dir)?;
        let oss = api::OssKey {
            id: store
                .meta_get_or_insert("oss_access_key_id", &format!("LTAIoss{}", ids::alnum(17)))?,
            secret: store.meta_get_or_insert("oss_access_key_secret", &ids::alnum(30))?,
        };
        let listener = TcpListener::bind(config.listen).map_err(|source| SandboxError::Bind {
            addr: config.listen,
            source,
        })?;
        let addr = listener.local_addr().map_err(|source| SandboxError::Bind {
            addr: config.listen,
            source,
        })?;
        let public_host = config
            .public_host
            .clone()
            .unwrap_or_else(|| addr.to_string());
        let shared = Arc::new(server::Shared::new(config, store, oss, public_host));
        let acceptor_shared = Arc::clone(&shared);
        let acceptor = std::thread::Builder::new()
            .name("sandbox-accept".into())
            .spawn(move || server::accept_loop(acceptor_shared, listener))
            .map_err(SandboxError::Thread)?;
        Ok(SandboxHandle {
            shared,
            addr,
            acceptor: Some(acceptor),
        })
    }
}

/// A running sandbox. Dropping it shuts it down.
#[derive(Debug)]
pub struct SandboxHandle {
    shared: Arc<server::Shared>,
    addr: SocketAddr,
    acceptor: Option<JoinHandle<()>>,
}

impl SandboxHandle {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `host:port` to give an SDK as its endpoint (`127.0.0.1:PORT`).
    pub fn endpoint(&self) -> String {
        self.addr.to_string()
    }

    /// `http://host:port`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The `host[:port]` written into upload hosts and firmware URLs.
    pub fn public_host(&self) -> &str {
        &self.shared.public_host
    }

    /// The OSSAccessKeyId handed out by GenerateOTAUploadURL.
    pub fn oss_access_key_id(&self) -> &str {
        &self.shared.oss.id
    }

    /// The data directory.
    pub fn data_dir(&self) -> &std::path::Path {
        &self.shared.config.data_dir
    }

    /// A snapshot of the request counters.
    pub fn stats(&self) -> Stats {
        self.shared.stats()
    }

    /// How many requests the sandbox has received (see [`Stats::requests`]).
    pub fn request_count(&self) -> u64 {
        self.shared.stats().requests
    }

    /// Zeroes the counters.
    pub fn reset_stats(&self) {
        self.shared.reset_stats();
    }

    /// Replaces the random fault shares (the queue of scripted faults is kept).
    pub fn set_faults(&self, faults: FaultConfig) -> Result<(), SandboxError> {
        faults.validate()?;
        self.shared.set_faults(faults);
        Ok(())
    }

    /// Queues faults for the next requests, one each, before any random draw.
    pub fn push_faults(&self, faults: impl IntoIterator<Item = Fault>) {
        self.shared.push_faults(faults);
    }

    /// Removes every fault: no random shares, empty queue.
    pub fn clear_faults(&self) {
        self.shared.clear_faults();
    }

    /// Finishes a package's verification as the devices would: Status 1 (verified)
    /// on success, 3 (failed) otherwise, progress 100. Returns false if there is no
    /// such package.
    pub fn finish_verification(
        &self,
        firmware_id: &str,
        success: bool,
    ) -> Result<bool, SandboxError> {
        let status = if success { 1 } else { 3 };
        Ok(self
            .shared
            .store
            .set_verify_status(firmware_id, status, 100, server::now_ms())?)
    }

    /// Blocks until the sandbox stops (it stops only through [`SandboxHandle::shutdown`]
    /// from another handle owner, or with the process).
    pub fn wait(mut self) {
        if let Some(t) = self.acceptor.take() {
            let _ = t.join();
        }
    }

    /// Stops accepting, closes open connections and waits (up to 5 s) for in-flight
    /// requests to finish.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        let Some(acceptor) = self.acceptor.take() else {
            return;
        };
        self.shared.shutting_down.store(true, Ordering::SeqCst);
        // Wake the acceptor with a connection of our own.
        let mut wake = self.addr;
        if wake.ip().is_unspecified() {
            wake.set_ip(if wake.is_ipv4() {
                std::net::Ipv4Addr::LOCALHOST.into()
            } else {
                std::net::Ipv6Addr::LOCALHOST.into()
            });
        }
        let _ = TcpStream::connect_timeout(&wake, Duration::from_secs(1));
        let _ = acceptor.join();
        self.shared.close_all_connections();
        self.shared.wait_idle(Duration::from_secs(5));
    }
}

impl Drop for SandboxHandle {
    fn drop(&mut self) {
        self.stop();
    }
}
