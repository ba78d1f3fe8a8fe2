//! Validation: one test per rule, and none of them reaches the network.
//!
//! The client points at a listening socket that nobody serves; after each refused call the
//! test checks that no connection was ever opened to it.

use std::net::TcpListener;
use std::path::Path;

use fwdelta_ota::{Client, ClientOptions, Credentials, OtaError, RegisterParams};
use fwdelta_record::{ReleaseRecord, Verdict};

use crate::common::{params, patch_bytes, record_with_patch};

struct Trap {
    listener: TcpListener,
    client: Client,
}

impl Trap {
    fn new() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let client = Client::new(
            Credentials::new("validation-test", "secret").unwrap(),
            ClientOptions {
                endpoint: Some(format!("http://{}", listener.local_addr().unwrap())),
                ..Default::default()
            },
        )
        .unwrap();
        Trap { listener, client }
    }

    /// Registers and expects a refusal naming `param`; asserts nothing was sent.
    fn refuse(&self, record: &ReleaseRecord, patch: &Path, p: &RegisterParams) -> OtaError {
        let err = self.client.register_delta(record, patch, p).unwrap_err();
        match self.listener.accept() {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            other => panic!("validation reached the network: {other:?} (error was {err})"),
        }
        err
    }

    fn refuse_param(&self, record: &ReleaseRecord, patch: &Path, p: &RegisterParams, param: &str) {
        let err = self.refuse(record, patch, p);
        match &err {
            OtaError::InvalidParameter { name, .. } => assert_eq!(*name, param, "{err}"),
            other => panic!("expected InvalidParameter {param}, got {other:?}"),
        }
        assert!(
            err.to_string().contains(param),
            "the message names the parameter: {err}"
        );
    }
}

fn fixture() -> (tempfile::TempDir, ReleaseRecord, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let (record, path) = record_with_patch(dir.path(), &patch_bytes(1, 3000));
    (dir, record, path)
}

#[test]
fn firmware_name_rules() {
    let (_d, record, patch) = fixture();
    let t = Trap::new();
    for bad in ["", "bad name", "naïve", "a.b", "-leading", &"n".repeat(41)] {
        t.refuse_param(&record, &patch, &params(bad), "FirmwareName");
    }
}

#[test]
fn dest_version_rules() {
    let (_d, record, patch) = fixture();
    let t = Trap::new();
    let mut rec = record.clone();
    for bad in ["1.1 .0", "v1+1", &"1".repeat(65)] {
        rec.ota.dest_version = Some(bad.into());
        t.refuse_param(&rec, &patch, &params("ok"), "DestVersion");
    }
    // Missing altogether.
    rec.ota.dest_version = None;
    t.refuse_param(&rec, &patch, &params("ok"), "DestVersion");
}

#[test]
fn src_version_rules() {
    let (_d, record, patch) = fixture();
    let t = Trap::new();
    let mut rec = record.clone();
    rec.ota.src_version = Some("1.0/0".into());
    t.refuse_param(&rec, &patch, &params("ok"), "SrcVersion");
    rec.ota.src_version = Some("1".repeat(65));
    t.refuse_param(&rec, &patch, &params("ok"), "SrcVersion");
}

#[test]
fn type1_needs_a_src_version() {
    let (_d, record, patch) = fixture();
    let t = Trap::new();
    let mut rec = record.clone();
    rec.ota.src_version = None;
    t.refuse_param(&rec, &patch, &params("ok"), "SrcVersion");
}

#[test]
fn type1_src_must_differ_from_dest() {
    let (_d, record, patch) = fixture();
    let t = Trap::new();
    let mut rec = record.clone();
    rec.ota.src_version = Some("1.1.0".into());
    t.refuse_param(&rec, &patch, &params("ok"), "SrcVersion");
}

#[test]
fn versions_given_must_agree_with_the_record() {
    let (_d, record, patch) = fixture();
    let t = Trap::new();
    let mut p = params("ok");
    p.dest_version = Some("2.0.0".into());
    t.refuse_param(&record, &patch, &p, "DestVersion");
}

#[test]
fn firmware_desc_at_most_100_characters() {
    let (_d, record, patch) = fixture();
    let t = Trap::new();
    let mut p = params("ok");
    p.firmware_desc = Some("描".repeat(101));
    t.refuse_param(&record, &patch, &p, "FirmwareDesc");
}

#[test]
fn other_parameters() {
    let (_d, record, patch) = fixture();
    let t = Trap::new();
    let mut p = params("ok");
    p.module_name = Some("bad module".into());
    t.refuse_param(&record, &patch, &p, "ModuleName");
    let mut p = params("ok");
    p.file_suffix = "exe".into();
    t.refuse_param(&record, &patch, &p, "FileSuffix");
    let mut p = params("ok");
    p.product_key = Some("has space".into());
    t.refuse_param(&record, &patch, &p, "ProductKey");
}

#[test]
fn record_must_be_verified() {
    let (_d, record, patch) = fixture();
    let t = Trap::new();
    for verdict in [Verdict::Fail, Verdict::Skipped] {
        let mut rec = record.clone();
        rec.verification.verdict = verdict;
        rec.verification.rebuilt_md5 = None;
        rec.verification.rebuilt_size = None;
        let err = t.refuse(&rec, &patch, &params("ok"));
        assert!(matches!(err, OtaError::RecordNotVerified { .. }), "{err:?}");
        assert!(err.to_string().contains("verif"), "{err}");
    }
}

#[test]
fn patch_file_must_hash_to_the_record() {
    let (dir, record, patch) = fixture();
    let t = Trap::new();
    // Same size, one byte changed.
    let mut bytes = std::fs::read(&patch).unwrap();
    bytes[100] ^= 1;
    let other = dir.path().join("other.fwd");
    std::fs::write(&other, &bytes).unwrap();
    let err = t.refuse(&record, &other, &params("ok"));
    match &err {
        OtaError::PatchMismatch {
            expected_md5,
            actual_md5,
            ..
        } => {
            assert_eq!(expected_md5, &record.patch.md5);
            assert_ne!(actual_md5, expected_md5);
        }
        other => panic!("{other:?}"),
    }
    // A missing file is an I/O error naming the path.
    let err = t.refuse(&record, &dir.path().join("missing.fwd"), &params("ok"));
    assert!(matches!(err, OtaError::Io { .. }) && err.to_string().contains("missing.fwd"));
}

#[test]
fn inconsistent_record_is_refused() {
    let (_d, record, patch) = fixture();
    let t = Trap::new();
    let mut rec = record.clone();
    rec.ota.firmware_sign = "ffffffffffffffffffffffffffffffff".into();
    let err = t.refuse(&rec, &patch, &params("ok"));
    assert!(matches!(err, OtaError::BadRecord { .. }), "{err:?}");
}

#[test]
fn low_level_calls_validate_too() {
    let t = Trap::new();
    let err = t
        .client
        .list_firmware(&fwdelta_ota::ListOtaFirmware {
            page_size: 500,
            ..Default::default()
        })
        .unwrap_err();
    assert!(matches!(
        err,
        OtaError::InvalidParameter {
            name: "PageSize",
            ..
        }
    ));
    let err = t
        .client
        .create_firmware(&fwdelta_ota::CreateOtaFirmware {
            firmware_name: "ok".into(),
            dest_version: "1.1".into(),
            src_version: Some("1.0".into()),
            type_: 1,
            firmware_url: "not a url".into(),
            ..Default::default()
        })
        .unwrap_err();
    assert!(matches!(
        err,
        OtaError::InvalidParameter {
            name: "FirmwareUrl",
            ..
        }
    ));
    assert!(t.listener.accept().is_err());
}

#[test]
fn https_is_compiled_in_and_connection_failures_are_retried() {
    // A closed local port: with TLS support the failure is a refused connection (retried,
    // then reported); without it ureq would refuse the scheme outright.
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let client = Client::new(
        Credentials::new("transport-test", "secret").unwrap(),
        ClientOptions {
            endpoint: Some(format!("https://127.0.0.1:{port}")),
            retry: fwdelta_ota::RetryPolicy {
                max_attempts: 2,
                initial_backoff: std::time::Duration::from_millis(1),
                max_backoff: std::time::Duration::from_millis(1),
            },
            ..Default::default()
        },
    )
    .unwrap();
    let err = client
        .list_firmware(&fwdelta_ota::ListOtaFirmware::default())
        .unwrap_err();
    match &err {
        OtaError::RetriesExhausted {
            attempts: 2, last, ..
        } => assert!(
            matches!(
                **last,
                OtaError::Transport {
                    kind: fwdelta_ota::TransportKind::Connect,
                    ..
                }
            ),
            "{last:?}"
        ),
        other => panic!("{other:?}"),
    }
    // The message carries no signed URL.
    assert!(!err.to_string().contains("Signature="), "{err}");
}
