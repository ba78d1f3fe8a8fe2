//! A minimal signing client for the integration tests (V2 signatures, JSON answers).
#![allow(dead_code)]

use std::io::Read;
use std::time::Duration;

use fwdelta_ota_sandbox::{Sandbox, SandboxConfig, SandboxHandle};
use serde_json::Value;

/// Starts a sandbox on an ephemeral loopback port with `data_dir` and `tweak` applied.
pub fn start(data_dir: &std::path::Path, tweak: impl FnOnce(&mut SandboxConfig)) -> SandboxHandle {
    let mut config = SandboxConfig {
        data_dir: data_dir.to_path_buf(),
        ..SandboxConfig::default()
    };
    tweak(&mut config);
    Sandbox::start(config).expect("sandbox starts")
}

/// The status and JSON body of an answer.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

impl Answer {
    pub fn success(&self) -> bool {
        self.status == 200 && self.body["Success"] == Value::Bool(true)
    }

    pub fn code(&self) -> &str {
        self.body["Code"].as_str().unwrap_or("")
    }
}

#[derive(Debug, Clone)]
pub struct Client {
    pub base: String,
    pub id: String,
    pub secret: String,
    agent: ureq::Agent,
}

pub fn utc_now() -> String {
    let t = time::OffsetDateTime::now_utc();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

fn nonce() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed),
        rand::random::<u64>()
    )
}

fn respond(r: Result<ureq::Response, ureq::Error>) -> (u16, Vec<u8>) {
    let resp = match r {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("transport error: {e}"),
    };
    let status = resp.status();
    let mut body = Vec::new();
    resp.into_reader()
        .take(64 * 1024 * 1024)
        .read_to_end(&mut body)
        .expect("body");
    (status, body)
}

impl Client {
    pub fn new(handle: &SandboxHandle) -> Client {
        Client::with_key(
            handle,
            fwdelta_ota_sandbox::DEFAULT_ACCESS_KEY_ID,
            fwdelta_ota_sandbox::DEFAULT_ACCESS_KEY_SECRET,
        )
    }

    pub fn with_key(handle: &SandboxHandle, id: &str, secret: &str) -> Client {
        Client {
            base: handle.base_url(),
            id: id.to_string(),
            secret: secret.to_string(),
            agent: ureq::AgentBuilder::new()
                .timeout(Duration::from_secs(30))
                .build(),
        }
    }

    /// The signed query string (V2) for `action` with `params`, method POST.
    pub fn signed_query(&self, action: &str, params: &[(&str, &str)], format: &str) -> String {
        let mut all: Vec<(String, String)> = params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        for (k, v) in [
            ("Action", action.to_string()),
            ("Version", "2018-01-20".to_string()),
            ("Format", format.to_string()),
            ("AccessKeyId", self.id.clone()),
            ("SignatureMethod", "HMAC-SHA1".to_string()),
            ("SignatureVersion", "1.0".to_string()),
            ("SignatureNonce", nonce()),
            ("Timestamp", utc_now()),
            ("RegionId", "cn-shanghai".to_string()),
        ] {
            all.push((k.to_string(), v));
        }
        let sts = fwdelta_acs_sign::v2_string_to_sign("POST", &all);
        let sig = fwdelta_acs_sign::v2_signature(&self.secret, &sts);
        all.push(("Signature".to_string(), sig));
        all.iter()
            .map(|(k, v)| {
                format!(
                    "{}={}",
                    fwdelta_acs_sign::percent_encode(k),
                    fwdelta_acs_sign::percent_encode(v)
                )
            })
            .collect::<Vec<_>>()
            .join("&")
    }

    /// Calls `action` (POST, parameters in the query, JSON).
    pub fn call(&self, action: &str, params: &[(&str, &str)]) -> Answer {
        let url = format!(
            "{}/?{}",
            self.base,
            self.signed_query(action, params, "JSON")
        );
        let (status, body) = respond(self.agent.post(&url).send_bytes(&[]));
        let body: Value = serde_json::from_slice(&body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&body)));
        Answer { status, body }
    }

    /// Calls `action` and returns the raw status and body in `format`.
    pub fn call_raw(&self, action: &str, params: &[(&str, &str)], format: &str) -> (u16, String) {
        let url = format!(
            "{}/?{}",
            self.base,
            self.signed_query(action, params, format)
        );
        let (status, body) = respond(self.agent.post(&url).send_bytes(&[]));
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    /// GenerateOTAUploadURL then PostObject; returns the upload Data.
    pub fn upload(&self, content: &[u8]) -> Value {
        let a = self.call("GenerateOTAUploadURL", &[("FileSuffix", "bin")]);
        assert!(a.success(), "{:?}", a);
        let d = a.body["Data"].clone();
        let (status, body) = self.post_form(
            d["Host"].as_str().unwrap(),
            &[
                ("key", d["Key"].as_str().unwrap()),
                ("policy", d["Policy"].as_str().unwrap()),
                ("OSSAccessKeyId", d["OSSAccessKeyId"].as_str().unwrap()),
                ("signature", d["Signature"].as_str().unwrap()),
                ("success_action_status", "200"),
            ],
            content,
        );
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        d
    }

    /// A multipart PostObject with `fields` then the file.
    pub fn post_form(&self, host: &str, fields: &[(&str, &str)], content: &[u8]) -> (u16, Vec<u8>) {
        let boundary = "----fwdeltaTestBoundary9f8e7d";
        let mut body = Vec::new();
        for (k, v) in fields {
            body.extend_from_slice(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"
                )
                .as_bytes(),
            );
        }
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(content);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        respond(
            self.agent
                .post(host)
                .set(
                    "Content-Type",
                    &format!("multipart/form-data; boundary={boundary}"),
                )
                .send_bytes(&body),
        )
    }

    /// GET of a URL; status and body.
    pub fn get(&self, url: &str) -> (u16, Vec<u8>) {
        respond(self.agent.get(url).call())
    }

    /// Creates a package from an uploaded URL.
    pub fn create(&self, name: &str, url: &str, extra: &[(&str, &str)]) -> Answer {
        let mut params = vec![("FirmwareName", name), ("FirmwareUrl", url)];
        if !extra.iter().any(|(k, _)| *k == "DestVersion") {
            params.push(("DestVersion", "1.1.0"));
        }
        params.extend_from_slice(extra);
        self.call("CreateOTAFirmware", &params)
    }
}
