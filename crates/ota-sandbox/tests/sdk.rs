//! The official Alibaba Cloud Python SDKs against an in-process sandbox.
//!
//! Python comes from `FWDELTA_SDK_PYTHON`, else `<workspace>/.venv/bin/python`
//! (created by `scripts/test.sh`, which pip-installs `aliyun-python-sdk-core` and
//! `aliyun-python-sdk-iot`, and optionally `alibabacloud-iot20180120` for the V3
//! checks). Without either, this test fails and says so.

use std::path::PathBuf;
use std::process::Command;

use fwdelta_ota_sandbox::{RateLimits, DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET};

mod common;

fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("FWDELTA_SDK_PYTHON") {
        return PathBuf::from(p);
    }
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let venv = workspace.join(".venv/bin/python");
    if venv.exists() {
        return venv;
    }
    panic!(
        "no Python with the Alibaba Cloud SDKs: set FWDELTA_SDK_PYTHON, or run scripts/test.sh \
         (it creates {} and pip-installs aliyun-python-sdk-core and aliyun-python-sdk-iot)",
        venv.display()
    );
}

#[test]
fn official_python_sdk_cannot_tell_the_sandbox_from_the_service() {
    let python = python();
    let dir = tempfile::tempdir().unwrap();
    // The quota check creates 500 packages: lift the rate limit (it has its own test).
    let handle = common::start(dir.path(), |c| {
        c.rate_limits = RateLimits {
            enabled: true,
            default_qps: 100_000,
            query_ota_firmware_qps: 100_000,
        };
    });
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/sdk/sdk_check.py");
    let mut cmd = Command::new(&python);
    cmd.arg(&script)
        .arg(handle.endpoint())
        .arg(DEFAULT_ACCESS_KEY_ID)
        .arg(DEFAULT_ACCESS_KEY_SECRET);
    for var in [
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
    ] {
        cmd.env_remove(var);
    }
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    assert!(
        out.status.success(),
        "the SDK check failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    let last = stdout.lines().last().unwrap_or("");
    assert!(
        last.contains(" passed, 0 failed"),
        "unexpected summary {last:?}"
    );
    let stats = handle.stats();
    assert!(stats.uploads >= 1 && stats.downloads >= 1, "{stats:?}");
    assert!(
        stats.actions.get("CreateOTAFirmware").copied().unwrap_or(0) >= 500,
        "{stats:?}"
    );
}
