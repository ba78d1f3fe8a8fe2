//! Registration against the local sandbox (fwdelta-ota-sandbox) over real HTTP, with
//! injected throttling, server errors and dropped connections.

use std::time::Duration;

use fwdelta_ota::{
    md5_file, Client, ClientOptions, CreateOtaFirmware, Credentials, GenerateOtaUploadUrl,
    ListOtaFirmware, OtaError, QueryOtaFirmware, RetryPolicy,
};
use fwdelta_ota_sandbox::{AccessKey, Fault, FaultConfig, Sandbox, SandboxConfig, SandboxHandle};

use crate::common::{params, patch_bytes, record_with_patch};

struct Env {
    sandbox: SandboxHandle,
    client: Client,
    dir: tempfile::TempDir,
}

/// A sandbox with its own account and a client with short backoffs. Each test has its own
/// AccessKey, so the process-wide per-account limiter does not couple tests.
fn env(key_id: &str, tweak: impl FnOnce(&mut SandboxConfig, &mut ClientOptions)) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let secret = "sandbox-test-secret";
    let mut config = SandboxConfig {
        data_dir: dir.path().join("sandbox"),
        access_keys: vec![AccessKey::new(key_id, secret)],
        ..SandboxConfig::default()
    };
    let mut options = ClientOptions {
        retry: RetryPolicy {
            max_attempts: 10,
            initial_backoff: Duration::from_millis(2),
            max_backoff: Duration::from_millis(20),
        },
        timeout: Duration::from_secs(5),
        ..ClientOptions::default()
    };
    tweak(&mut config, &mut options);
    let sandbox = Sandbox::start(config).unwrap();
    options.endpoint = Some(sandbox.base_url());
    let client = Client::new(Credentials::new(key_id, secret).unwrap(), options).unwrap();
    Env {
        sandbox,
        client,
        dir,
    }
}

impl Env {
    fn all_packages(&self) -> Vec<fwdelta_ota::FirmwareInfo> {
        self.client
            .list_firmware(&ListOtaFirmware::default())
            .unwrap()
            .firmwares
    }
}

#[test]
fn upload_and_create_a_differential_package() {
    let e = env("it-upload-create", |_, _| {});
    let (record, patch) = record_with_patch(e.dir.path(), &patch_bytes(7, 50_000));
    let registered = e
        .client
        .register_delta(&record, &patch, &params("fw-diff_1(test)"))
        .unwrap();
    assert!(!registered.already_registered);
    assert_eq!(registered.request.type_, 1);

    let info = e
        .client
        .query_firmware(&QueryOtaFirmware {
            firmware_id: registered.firmware_id.clone(),
            iot_instance_id: None,
        })
        .unwrap()
        .firmware;
    let (md5, size) = md5_file(&patch).unwrap();
    assert_eq!(info.type_, Some(1));
    assert_eq!(info.src_version.as_deref(), Some("1.0.0"));
    assert_eq!(info.dest_version.as_deref(), Some("1.1.0"));
    assert_eq!(
        info.firmware_sign.as_deref().map(str::to_ascii_lowercase),
        Some(md5)
    );
    assert_eq!(info.firmware_size, Some(size));
    assert_eq!(info.firmware_name.as_deref(), Some("fw-diff_1(test)"));
    assert_eq!(info.product_key.as_deref(), Some("a1BcDeFgHiJ"));

    // What the device would download is the patch, byte for byte.
    let url = info.firmware_url.expect("a download URL");
    let mut downloaded = Vec::new();
    std::io::Read::read_to_end(
        &mut ureq::get(&url).call().unwrap().into_reader(),
        &mut downloaded,
    )
    .unwrap();
    assert_eq!(downloaded, std::fs::read(&patch).unwrap());

    let stats = e.sandbox.stats();
    assert_eq!(stats.uploads, 1);
    assert_eq!(stats.actions.get("CreateOTAFirmware"), Some(&1));
    assert_eq!(
        stats.rejected, 0,
        "every request was accepted by the gateway: {stats:?}"
    );
}

#[test]
fn registering_again_is_a_no_op_and_a_name_clash_is_refused() {
    let e = env("it-again", |_, _| {});
    let (record, patch) = record_with_patch(e.dir.path(), &patch_bytes(1, 4000));
    let first = e
        .client
        .register_delta(&record, &patch, &params("pkg"))
        .unwrap();
    let uploads = e.sandbox.stats().uploads;
    let again = e
        .client
        .register_delta(&record, &patch, &params("pkg"))
        .unwrap();
    assert!(again.already_registered);
    assert_eq!(again.firmware_id, first.firmware_id);
    assert_eq!(
        e.sandbox.stats().uploads,
        uploads,
        "nothing uploaded the second time"
    );

    // Same name, other bytes: refused before uploading.
    let other_dir = tempfile::tempdir().unwrap();
    let (other, other_patch) = record_with_patch(other_dir.path(), &patch_bytes(2, 4000));
    let err = e
        .client
        .register_delta(&other, &other_patch, &params("pkg"))
        .unwrap_err();
    assert!(matches!(err, OtaError::NameTaken { .. }), "{err:?}");
    assert!(err.to_string().contains("FirmwareSign"), "{err}");
    assert_eq!(e.sandbox.stats().uploads, uploads);
    assert_eq!(e.all_packages().len(), 1);
}

#[test]
fn invalid_parameters_never_reach_the_sandbox() {
    let e = env("it-validation", |_, _| {});
    let (record, patch) = record_with_patch(e.dir.path(), &patch_bytes(3, 100));
    let mut bad_desc = params("ok");
    bad_desc.firmware_desc = Some("x".repeat(101));
    let mut same_versions = record.clone();
    same_versions.ota.src_version = Some("1.1.0".into());
    let mut not_verified = record.clone();
    not_verified.verification.verdict = fwdelta_record::Verdict::Fail;
    let cases: Vec<(fwdelta_record::ReleaseRecord, fwdelta_ota::RegisterParams)> = vec![
        (record.clone(), params("bad name")),
        (record.clone(), bad_desc),
        (same_versions, params("ok")),
        (not_verified, params("ok")),
    ];
    for (rec, p) in cases {
        assert!(e.client.register_delta(&rec, &patch, &p).is_err());
    }
    std::fs::write(&patch, b"changed").unwrap();
    assert!(matches!(
        e.client.register_delta(&record, &patch, &params("ok")),
        Err(OtaError::PatchMismatch { .. })
    ));
    assert_eq!(e.sandbox.request_count(), 0);
}

#[test]
fn queued_faults_on_every_step_still_register_exactly_one_package() {
    let e = env("it-queued-faults", |_, _| {});
    let (record, patch) = record_with_patch(e.dir.path(), &patch_bytes(4, 20_000));
    // The queue is consumed in request order; `P` (a zero delay) lets one request through
    // so that each step of the registration meets trouble in turn: the lookup, the quota
    // check, GenerateOTAUploadURL, the upload (several times, one of them processed with
    // its answer lost) and the policy renewals.
    const P: Fault = Fault::Slow(Duration::ZERO);
    e.sandbox.push_faults([
        Fault::Throttle,
        P,
        Fault::Http503,
        P,
        Fault::DropConnection,
        P,
        Fault::Http500,
        P,
        Fault::DropConnection,
        P,
        Fault::Throttle,
        P,
        Fault::DropResponse,
        Fault::Http503,
        P,
    ]);
    let registered = e
        .client
        .register_delta(&record, &patch, &params("faulty"))
        .unwrap();
    e.sandbox.clear_faults();
    let all = e.all_packages();
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0].firmware_id, registered.firmware_id);
    let stats = e.sandbox.stats();
    assert!(stats.faults_injected >= 8, "{stats:?}");
    assert_eq!(
        stats.actions.get("CreateOTAFirmware"),
        Some(&1),
        "{stats:?}"
    );
}

#[test]
fn random_faults_still_register_exactly_one_package_each() {
    let e = env("it-random-faults", |_, o| o.retry.max_attempts = 20);
    e.sandbox
        .set_faults(FaultConfig {
            throttle: 0.12,
            http_500: 0.08,
            http_503: 0.08,
            drop_connection: 0.08,
            drop_response: 0.12,
            seed: Some(20261127),
            ..FaultConfig::default()
        })
        .unwrap();
    let mut ids = Vec::new();
    for i in 0..4u8 {
        let dir = tempfile::tempdir().unwrap();
        let (mut record, patch) = record_with_patch(dir.path(), &patch_bytes(10 + i, 3000));
        record.ota.dest_version = Some(format!("1.1.{i}"));
        let r = e
            .client
            .register_delta(&record, &patch, &params(&format!("rnd-{i}")))
            .unwrap();
        ids.push(r.firmware_id);
    }
    e.sandbox.clear_faults();
    let all = e.all_packages();
    assert_eq!(all.len(), 4, "{all:?}");
    for id in ids {
        assert_eq!(all.iter().filter(|f| f.firmware_id == id).count(), 1);
    }
    assert!(e.sandbox.stats().faults_injected > 0);
}

/// Uploads the patch and returns the CreateOTAFirmware request, so a test can aim a fault
/// at CreateOTAFirmware alone.
fn uploaded_request(e: &Env, name: &str) -> CreateOtaFirmware {
    let (record, patch) = record_with_patch(e.dir.path(), &patch_bytes(9, 8000));
    let mut request = Client::prepare_delta(&record, &patch, &params(name)).unwrap();
    let target = e
        .client
        .generate_upload_url(&GenerateOtaUploadUrl::default())
        .unwrap();
    e.client
        .upload_file(&target, &patch, &record.patch.md5, record.patch.size)
        .unwrap();
    request.firmware_url = target.firmware_url;
    request
}

#[test]
fn a_lost_create_answer_makes_a_blind_resend_a_duplicate() {
    let e = env("it-lost-answer", |_, _| {});
    let request = uploaded_request(&e, "lost-answer");
    // The create is carried out, but its answer is lost.
    e.sandbox.push_faults([Fault::DropResponse]);
    // create_firmware (single shot) sees the lost answer as a transport failure ...
    let err = e.client.create_firmware(&request).unwrap_err();
    assert!(matches!(err, OtaError::Transport { .. }), "{err:?}");
    // ... though the package exists: a blind resend would be a duplicate, and is refused.
    let dup = e.client.create_firmware(&request).unwrap_err();
    assert!(dup.service_error().is_some(), "{dup:?}");
    assert_eq!(e.all_packages().len(), 1);
}

#[test]
fn idempotent_create_survives_a_lost_answer() {
    let e = env("it-idempotent", |_, _| {});
    let request = uploaded_request(&e, "idem");
    // 1st request: the lookup inside create_firmware_idempotent (answered);
    // 2nd: CreateOTAFirmware, carried out but its answer dropped.
    e.sandbox
        .push_faults([Fault::Slow(Duration::ZERO), Fault::DropResponse]);
    let r = e.client.create_firmware_idempotent(&request).unwrap();
    assert!(!r.already_registered);
    let all = e.all_packages();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].firmware_id, r.firmware_id);
    assert_eq!(
        e.sandbox.stats().actions.get("CreateOTAFirmware"),
        Some(&1),
        "CreateOTAFirmware was not resent"
    );
}

#[test]
fn idempotent_create_survives_a_timeout() {
    // The create takes longer than the client waits; it is carried out anyway.
    let e = env("it-timeout", |_, o| o.timeout = Duration::from_millis(400));
    let request = uploaded_request(&e, "slow");
    e.sandbox.push_faults([
        Fault::Slow(Duration::ZERO),
        Fault::Slow(Duration::from_millis(900)),
    ]);
    let r = e.client.create_firmware_idempotent(&request).unwrap();
    std::thread::sleep(Duration::from_millis(700));
    let all = e.all_packages();
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0].firmware_id, r.firmware_id);
}

#[test]
fn the_package_limit_is_reported_clearly() {
    // The service refuses the create (the client believes the limit is 500).
    let e = env("it-limit-service", |c, _| c.package_quota = 1);
    let (record, patch) = record_with_patch(e.dir.path(), &patch_bytes(5, 1000));
    e.client
        .register_delta(&record, &patch, &params("one"))
        .unwrap();
    let other_dir = tempfile::tempdir().unwrap();
    let (mut other, other_patch) = record_with_patch(other_dir.path(), &patch_bytes(6, 1000));
    other.ota.dest_version = Some("1.2.0".into());
    let err = e
        .client
        .register_delta(&other, &other_patch, &params("two"))
        .unwrap_err();
    assert!(
        matches!(
            err,
            OtaError::PackageLimit {
                service: Some(_),
                ..
            }
        ),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains("package limit") && text.contains("delete"),
        "{text}"
    );

    // The client knows the limit: refused before uploading anything.
    let e = env("it-limit-client", |c, o| {
        c.package_quota = 1;
        o.package_limit = 1;
    });
    let (record, patch) = record_with_patch(e.dir.path(), &patch_bytes(5, 1000));
    e.client
        .register_delta(&record, &patch, &params("one"))
        .unwrap();
    let uploads = e.sandbox.stats().uploads;
    let err = e
        .client
        .register_delta(&other, &other_patch, &params("two"))
        .unwrap_err();
    assert!(
        matches!(
            err,
            OtaError::PackageLimit {
                total: Some(1),
                limit: 1,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("1 of 1 packages"), "{err}");
    assert_eq!(e.sandbox.stats().uploads, uploads);
}

#[test]
fn requests_stay_under_ten_per_second() {
    // The sandbox enforces 10 QPS per account; a burst of 25 calls must not be throttled
    // once, because the client spaces them itself.
    let e = env("it-rate", |_, o| o.retry.max_attempts = 1);
    let start = std::time::Instant::now();
    for _ in 0..25 {
        e.client.list_firmware(&ListOtaFirmware::default()).unwrap();
    }
    let elapsed = start.elapsed();
    assert_eq!(e.sandbox.stats().throttled, 0);
    // 25 requests, 10 per 1.2 s window: the 21st cannot start before 2.4 s.
    assert!(elapsed >= Duration::from_millis(2400), "{elapsed:?}");
}

#[test]
fn xml_answers_work_end_to_end() {
    let e = env("it-xml", |_, o| o.format = fwdelta_ota::Format::Xml);
    let (record, patch) = record_with_patch(e.dir.path(), &patch_bytes(8, 2000));
    let r = e
        .client
        .register_delta(&record, &patch, &params("xml"))
        .unwrap();
    let q = e
        .client
        .query_firmware(&QueryOtaFirmware {
            firmware_id: r.firmware_id,
            iot_instance_id: None,
        })
        .unwrap();
    assert_eq!(q.firmware.type_, Some(1));
    let page = e.client.list_firmware(&ListOtaFirmware::default()).unwrap();
    assert_eq!(page.firmwares.len(), 1);
}

#[test]
fn a_wrong_secret_is_a_clear_signature_error() {
    let e = env("it-wrong-secret", |_, _| {});
    let client = Client::new(
        Credentials::new("it-wrong-secret", "not-the-secret").unwrap(),
        ClientOptions {
            endpoint: Some(e.sandbox.base_url()),
            ..ClientOptions::default()
        },
    )
    .unwrap();
    let err = client
        .list_firmware(&ListOtaFirmware::default())
        .unwrap_err();
    let s = err.service_error().expect("a service error");
    assert_eq!(s.code, "SignatureDoesNotMatch");
    assert!(s.request_id.is_some());
    assert!(!err.to_string().contains("not-the-secret"));
}
