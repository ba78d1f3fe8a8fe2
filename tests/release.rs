//! End-to-end tests of `fwdelta register` and `fwdelta release` against the OTA sandbox over
//! real HTTP: the packages the service ends up with (Type=1, versions, FirmwareSign = MD5 of
//! the patch), validation that never reaches the network, exactly one package per delta
//! under throttling, 5xx and dropped connections, resumed and sharded plans, and the
//! `--sandbox` dry run.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use fwdelta_ota::{
    Client, ClientOptions, Credentials, FirmwareInfo, ListOtaFirmware, QueryOtaFirmware,
};
use fwdelta_ota_sandbox::{AccessKey, FaultConfig, Sandbox, SandboxConfig, SandboxHandle};
use md5::{Digest, Md5};
use serde_json::Value;

#[path = "../src/sample.rs"]
#[allow(dead_code)]
mod sample;

/// The secret of every test account: it must never appear in any output or file.
const SECRET: &str = "S3cr3t-never-printed-7f9c2a";
const IMAGE: usize = 64 * 1024;

fn md5_hex(bytes: &[u8]) -> String {
    Md5::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A sandbox with its own account, and a scratch directory.
struct Env {
    sandbox: SandboxHandle,
    dir: tempfile::TempDir,
    key_id: String,
}

impl Env {
    fn new(key_id: &str) -> Env {
        let dir = tempfile::tempdir().unwrap();
        let sandbox = Sandbox::start(SandboxConfig {
            data_dir: dir.path().join("sandbox"),
            access_keys: vec![AccessKey::new(key_id, SECRET)],
            ..SandboxConfig::default()
        })
        .unwrap();
        Env {
            sandbox,
            dir,
            key_id: key_id.into(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `fwdelta --quiet SUB ARGS --endpoint ... ` with the account's credentials in the
    /// environment and short retry pauses.
    fn run(&self, sub: &str, args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
        let mut c = bare(sub, args);
        c.env("ALIBABA_CLOUD_ACCESS_KEY_ID", &self.key_id)
            .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", SECRET)
            .args(["--endpoint", &self.sandbox.base_url()])
            .args(["--retry-backoff-ms", "5", "--retry-attempts", "15"]);
        let out = c.output().expect("fwdelta runs");
        assert_no_secret(&out);
        out
    }

    fn client(&self) -> Client {
        Client::new(
            Credentials::new(&self.key_id, SECRET).unwrap(),
            ClientOptions {
                endpoint: Some(self.sandbox.base_url()),
                ..ClientOptions::default()
            },
        )
        .unwrap()
    }

    fn packages(&self) -> Vec<FirmwareInfo> {
        self.client()
            .list_firmware(&ListOtaFirmware {
                current_page: 1,
                page_size: 100,
                ..ListOtaFirmware::default()
            })
            .unwrap()
            .firmwares
    }

    fn creates(&self) -> u64 {
        self.sandbox
            .stats()
            .actions
            .get("CreateOTAFirmware")
            .copied()
            .unwrap_or(0)
    }

    /// Writes the plan `tests/data/plans/NAME` and its images into the scratch directory.
    fn plan(&self, name: &str) -> PathBuf {
        let plan = self.path(name);
        std::fs::copy(Path::new("tests/data/plans").join(name), &plan).unwrap();
        let images = self.path("images");
        std::fs::create_dir_all(&images).unwrap();
        for (product, seed, old, older, new) in [
            ("a", 11, "1.1.0", "1.0.0", "2.0.0"),
            ("b", 12, "3.0", "2.9", "3.1"),
        ] {
            let (v1, v2) = sample::firmware_pair(seed, IMAGE);
            let mut v0 = v1.clone();
            for i in (300..v0.len() / 2).step_by(997) {
                v0[i] ^= 0x5A;
            }
            for (version, bytes) in [(old, &v1), (older, &v0), (new, &v2)] {
                std::fs::write(images.join(format!("{product}-{version}.bin")), bytes).unwrap();
            }
        }
        plan
    }

    /// A sample pair `v1.bin`, `v2.bin`.
    fn pair(&self) -> (PathBuf, PathBuf) {
        let (a, b) = sample::firmware_pair(3, IMAGE);
        let (src, dst) = (self.path("v1.bin"), self.path("v2.bin"));
        std::fs::write(&src, a).unwrap();
        std::fs::write(&dst, b).unwrap();
        (src, dst)
    }
}

fn bare(sub: &str, args: &[&dyn AsRef<std::ffi::OsStr>]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_fwdelta"));
    c.arg("--quiet").arg(sub);
    for a in args {
        c.arg(a);
    }
    // Nothing from the developer's own setup: no credentials, no profile files.
    for v in [
        "ALIBABA_CLOUD_ACCESS_KEY_ID",
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
        "ALIBABA_CLOUD_CREDENTIALS_FILE",
        "ALIBABA_CLOUD_PROFILE",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "http_proxy",
        "https_proxy",
        "ALL_PROXY",
    ] {
        c.env_remove(v);
    }
    c.env(
        "HOME",
        std::env::temp_dir().join("fwdelta-release-tests-no-home"),
    );
    c
}

fn assert_no_secret(out: &Output) {
    for stream in [&out.stdout, &out.stderr] {
        assert!(
            !String::from_utf8_lossy(stream).contains(SECRET),
            "the secret was printed"
        );
    }
}

/// No file under `dir` holds the secret.
fn assert_no_secret_in(dir: &Path) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            assert_no_secret_in(&p);
        } else {
            let bytes = std::fs::read(&p).unwrap();
            assert!(
                !String::from_utf8_lossy(&bytes).contains(SECRET),
                "{} holds the secret",
                p.display()
            );
        }
    }
}

fn code(out: &Output) -> i32 {
    out.status.code().expect("exited normally")
}

fn assert_ok(out: &Output) {
    assert!(
        out.status.success(),
        "fwdelta failed ({:?}): {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// Each package of `summary` exists on the service once, as the Type=1 package of its
/// delta, with FirmwareSign the MD5 of the patch file.
fn check_packages(env: &Env, summary: &Value, expected: usize) {
    let packages = env.packages();
    assert_eq!(packages.len(), expected, "{packages:#?}");
    let deltas = summary["deltas"].as_array().unwrap();
    assert_eq!(deltas.len(), expected);
    for d in deltas {
        let name = d["FirmwareName"].as_str().unwrap();
        let found: Vec<_> = packages
            .iter()
            .filter(|p| p.firmware_name.as_deref() == Some(name))
            .collect();
        assert_eq!(found.len(), 1, "{name}: {packages:#?}");
        let p = found[0];
        assert_eq!(Some(p.firmware_id.as_str()), d["FirmwareId"].as_str());
        assert_eq!(p.type_, Some(1));
        assert_eq!(p.src_version.as_deref(), d["SrcVersion"].as_str());
        assert_eq!(p.dest_version.as_deref(), d["DestVersion"].as_str());
        assert_eq!(p.product_key.as_deref(), d["ProductKey"].as_str());
        let patch = std::fs::read(d["patch"].as_str().unwrap()).unwrap();
        assert_eq!(
            p.firmware_sign.as_deref().map(str::to_ascii_lowercase),
            Some(md5_hex(&patch)),
            "{name}"
        );
        assert_eq!(p.firmware_size, Some(patch.len() as u64));
    }
}

#[test]
fn release_of_a_generated_pair_registers_one_type1_package() {
    let env = Env::new("rel-single");
    let (src, dst) = env.pair();
    let out_dir = env.path("out");
    let out = env.run(
        "release",
        &[
            &"--src",
            &src,
            &"--dest",
            &dst,
            &"--src-version",
            &"1.0.0",
            &"--dest-version",
            &"1.1.0",
            &"--product-key",
            &"a1ProductA",
            &"--name",
            &"fw-1_0_0-to-1_1_0",
            &"--desc",
            &"delta 1.0.0 -> 1.1.0",
            &"--out-dir",
            &out_dir,
            &"--json",
        ],
    );
    assert_ok(&out);
    let summary = json(&out);
    assert_eq!(summary["ok"], true);
    assert_eq!(summary["counts"]["registered"], 1);
    let d = &summary["deltas"][0];
    assert_eq!(d["status"], "registered");
    assert_eq!(d["record"]["verification"]["verdict"], "pass");
    let id = d["FirmwareId"].as_str().unwrap();

    // What QueryOTAFirmware says about the package.
    let info = env
        .client()
        .query_firmware(&QueryOtaFirmware {
            firmware_id: id.into(),
            iot_instance_id: None,
        })
        .unwrap()
        .firmware;
    let patch = std::fs::read(out_dir.join("fw-1_0_0-to-1_1_0.fwd")).unwrap();
    assert_eq!(info.type_, Some(1));
    assert_eq!(info.src_version.as_deref(), Some("1.0.0"));
    assert_eq!(info.dest_version.as_deref(), Some("1.1.0"));
    assert_eq!(
        info.firmware_sign.as_deref().map(str::to_ascii_lowercase),
        Some(md5_hex(&patch))
    );
    assert_eq!(info.firmware_size, Some(patch.len() as u64));
    assert_eq!(info.firmware_desc.as_deref(), Some("delta 1.0.0 -> 1.1.0"));
    assert!(patch.len() < IMAGE / 4, "patch of {} bytes", patch.len());

    // The record beside the patch is a valid release record of that patch; the summary
    // file is what was printed.
    let record = fwdelta_record::ReleaseRecord::from_json(
        &std::fs::read(out_dir.join("fw-1_0_0-to-1_1_0.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(record.patch.md5, md5_hex(&patch));
    assert_eq!(record.ota.src_version.as_deref(), Some("1.0.0"));
    let file: Value = serde_json::from_slice(
        &std::fs::read(out_dir.join("fw-1_0_0-to-1_1_0.summary.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(file, summary);
    let stats = env.sandbox.stats();
    assert_eq!((env.creates(), stats.uploads), (1, 1));
    assert_eq!(stats.rejected, 0, "{stats:?}");
    assert_no_secret_in(&out_dir);
}

#[test]
fn register_prints_the_firmware_id_and_registers_once() {
    let env = Env::new("rel-register");
    let (src, dst) = env.pair();
    let (patch, record) = (env.path("p.fwd"), env.path("p.json"));
    let out = bare(
        "diff",
        &[
            &src,
            &dst,
            &"-o",
            &patch,
            &"--report",
            &record,
            &"--src-version",
            &"1.0.0",
            &"--dest-version",
            &"1.1.0",
        ],
    )
    .output()
    .unwrap();
    assert_ok(&out);
    let args: [&dyn AsRef<std::ffi::OsStr>; 6] = [
        &"--record",
        &record,
        &"--product-key",
        &"a1ProductA",
        &"--name",
        &"reg-1_0_0-to-1_1_0",
    ];
    let out = env.run("register", &args);
    assert_ok(&out);
    let id = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let packages = env.packages();
    assert_eq!(packages.len(), 1);
    assert_eq!(packages[0].firmware_id, id);
    assert_eq!(packages[0].type_, Some(1));
    assert_eq!(
        packages[0].firmware_sign.as_deref(),
        Some(md5_hex(&std::fs::read(&patch).unwrap()).as_str())
    );

    // Again: the same package, found; nothing uploaded or created.
    let mut again: Vec<&dyn AsRef<std::ffi::OsStr>> = args.to_vec();
    again.push(&"--json");
    let out = env.run("register", &again);
    assert_ok(&out);
    let v = json(&out);
    assert_eq!(v["FirmwareId"], id.as_str());
    assert_eq!(v["already_registered"], true);
    assert_eq!(v["Type"], 1);
    assert_eq!((env.creates(), env.sandbox.stats().uploads), (1, 1));

    // A patch that is not the record's is refused before any request.
    let before = env.sandbox.request_count();
    std::fs::write(&patch, b"not the patch").unwrap();
    let out = env.run("register", &args);
    assert_eq!(code(&out), 4, "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(env.sandbox.request_count(), before);
}

#[test]
fn validation_errors_never_reach_the_network() {
    let env = Env::new("rel-validation");
    let (src, dst) = env.pair();
    let out_dir = env.path("out");
    let long_desc = "x".repeat(101);
    let missing = env.path("missing.bin");
    let release = |over: &[(&str, &dyn AsRef<std::ffi::OsStr>)]| {
        let mut args: Vec<(&str, &dyn AsRef<std::ffi::OsStr>)> = vec![
            ("--src", &src),
            ("--dest", &dst),
            ("--src-version", &"1.0.0"),
            ("--dest-version", &"1.1.0"),
            ("--product-key", &"a1ProductA"),
            ("--out-dir", &out_dir),
        ];
        for (flag, value) in over {
            match args.iter_mut().find(|(f, _)| f == flag) {
                Some(slot) => slot.1 = *value,
                None => args.push((flag, *value)),
            }
        }
        let flat: Vec<&dyn AsRef<std::ffi::OsStr>> = args
            .iter()
            .flat_map(|(f, v)| [f as &dyn AsRef<std::ffi::OsStr>, *v])
            .collect();
        env.run("release", &flat)
    };
    let cases: Vec<(&str, Output)> = vec![
        ("dot in name", release(&[("--name", &"fw-1.0.0")])),
        ("name too long", release(&[("--name", &"n".repeat(41))])),
        ("desc too long", release(&[("--desc", &long_desc)])),
        ("same versions", release(&[("--dest-version", &"1.0.0")])),
        ("bad version", release(&[("--dest-version", &"1.1.0 beta")])),
        ("bad product key", release(&[("--product-key", &"a1 B")])),
        ("bad instance", release(&[("--instance-id", &"iot x")])),
        ("bad suffix", release(&[("--file-suffix", &"exe")])),
        ("missing image", release(&[("--src", &missing)])),
        ("bad rps", release(&[("--max-rps", &"11")])),
    ];
    for (what, out) in &cases {
        assert_eq!(
            code(out),
            4,
            "{what}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(!out_dir.exists(), "nothing was built");

    // Plans that break the rules.
    env.plan("two-products.toml");
    for plan in ["bad-name.toml", "duplicate-name.toml"] {
        let path = env.path(plan);
        std::fs::copy(Path::new("tests/data/plans").join(plan), &path).unwrap();
        let out = env.run("release", &[&"--plan", &path]);
        assert_eq!(
            code(&out),
            4,
            "{plan}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // A record whose patch was not verified.
    let (patch, record) = (env.path("p.fwd"), env.path("p.json"));
    assert_ok(
        &bare(
            "diff",
            &[
                &src,
                &dst,
                &"-o",
                &patch,
                &"--report",
                &record,
                &"--no-verify",
                &"--src-version",
                &"1.0.0",
                &"--dest-version",
                &"1.1.0",
            ],
        )
        .output()
        .unwrap(),
    );
    let out = env.run(
        "register",
        &[
            &"--record",
            &record,
            &"--product-key",
            &"a1ProductA",
            &"--name",
            &"ok",
        ],
    );
    assert_eq!(code(&out), 4, "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("verif"));

    assert_eq!(env.sandbox.request_count(), 0, "{:?}", env.sandbox.stats());
}

#[test]
fn faults_still_leave_exactly_one_package_per_delta() {
    let env = Env::new("rel-faults");
    let plan = env.plan("two-products.toml");
    env.sandbox
        .set_faults(FaultConfig {
            throttle: 0.15,
            http_500: 0.05,
            http_503: 0.05,
            drop_connection: 0.05,
            drop_response: 0.1,
            seed: Some(20261127),
            ..FaultConfig::default()
        })
        .unwrap();
    let out = env.run("release", &[&"--plan", &plan, &"--jobs", &"4", &"--json"]);
    let faults = env.sandbox.stats().faults_injected;
    env.sandbox.clear_faults();
    assert_ok(&out);
    assert!(faults >= 3, "only {faults} faults were injected");
    let summary = json(&out);
    assert_eq!(summary["ok"], true);
    assert_eq!(summary["deltas_in_plan"], 4);
    check_packages(&env, &summary, 4);
}

#[test]
fn resumed_plan_registers_nothing_twice() {
    let env = Env::new("rel-resume");
    let plan = env.plan("two-products.toml");
    let out_dir = env.path("out");

    // Half of the plan, as an interrupted run would leave it.
    assert_ok(&env.run("release", &[&"--plan", &plan, &"--shard", &"1/2"]));
    assert_eq!(env.creates(), 2);

    // The whole plan: the first half is known from the state file.
    let out = env.run("release", &[&"--plan", &plan, &"--json"]);
    assert_ok(&out);
    let summary = json(&out);
    assert_eq!(summary["counts"]["resumed"], 2, "{summary:#}");
    assert_eq!(summary["counts"]["registered"], 2);
    assert_eq!(env.creates(), 4);
    check_packages(&env, &summary, 4);

    // Again: nothing to do, and not a single request.
    let requests = env.sandbox.request_count();
    let out = env.run("release", &[&"--plan", &plan, &"--json"]);
    assert_ok(&out);
    assert_eq!(json(&out)["counts"]["resumed"], 4);
    assert_eq!(env.sandbox.request_count(), requests);

    // State lost (a crash between registering and saving): the service is asked, and says
    // every package exists.
    for e in std::fs::read_dir(&out_dir).unwrap() {
        let p = e.unwrap().path();
        if p.file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("release-state")
        {
            std::fs::remove_file(p).unwrap();
        }
    }
    let uploads = env.sandbox.stats().uploads;
    let out = env.run("release", &[&"--plan", &plan, &"--json"]);
    assert_ok(&out);
    let summary = json(&out);
    assert_eq!(summary["counts"]["already_registered"], 4, "{summary:#}");
    assert_eq!(env.creates(), 4);
    assert_eq!(env.sandbox.stats().uploads, uploads);
    check_packages(&env, &summary, 4);
    assert_no_secret_in(&out_dir);
}

#[test]
fn sharded_plan_merges_into_one_release() {
    let env = Env::new("rel-shards");
    let plan = env.plan("two-products.toml");
    let mut summaries = Vec::new();
    for k in 1..=3 {
        // Each shard on its own "machine": its own output directory.
        let dir = env.path(&format!("machine-{k}"));
        let shard = format!("{k}/3");
        let out = env.run(
            "release",
            &[
                &"--plan",
                &plan,
                &"--shard",
                &shard,
                &"--out-dir",
                &dir,
                &"--json",
            ],
        );
        assert_ok(&out);
        let s = json(&out);
        assert_eq!(s["shard"]["index"], k);
        assert_eq!(
            s["counts"]["total"],
            if k == 1 { 2 } else { 1 },
            "round-robin over 4 deltas"
        );
        summaries.push(dir.join(format!("release-summary-{k}-of-3.json")));
    }
    let merged = env.path("release.json");
    let out = env.run_merge(&[
        &summaries[2],
        &summaries[0],
        &summaries[1],
        &"-o",
        &merged,
        &"--json",
    ]);
    assert_ok(&out);
    let m = json(&out);
    assert_eq!(m["ok"], true);
    assert_eq!(m["counts"]["total"], 4);
    let indexes: Vec<u64> = m["deltas"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["index"].as_u64().unwrap())
        .collect();
    assert_eq!(indexes, [0, 1, 2, 3]);
    let file: Value = serde_json::from_slice(&std::fs::read(&merged).unwrap()).unwrap();
    assert_eq!(file, m);
    check_packages(&env, &m, 4);

    // A missing shard, or one given twice, is refused.
    let out = env.run_merge(&[&summaries[0], &summaries[1]]);
    assert_eq!(code(&out), 4);
    assert!(String::from_utf8_lossy(&out.stderr).contains("3/3"));
    let out = env.run_merge(&[&summaries[0], &summaries[1], &summaries[2], &summaries[0]]);
    assert_eq!(code(&out), 4);
}

impl Env {
    fn run_merge(&self, args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
        let mut c = bare("release", &[]);
        c.arg("merge");
        for a in args {
            c.arg(a);
        }
        c.output().unwrap()
    }
}

#[test]
fn sandbox_dry_run_needs_no_account_and_keeps_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = sample::firmware_pair(5, IMAGE);
    let (src, dst) = (dir.path().join("v1.bin"), dir.path().join("v2.bin"));
    std::fs::write(&src, a).unwrap();
    std::fs::write(&dst, b).unwrap();
    let data = dir.path().join("sandbox");
    let args: [&dyn AsRef<std::ffi::OsStr>; 16] = [
        &"--src",
        &src,
        &"--dest",
        &dst,
        &"--src-version",
        &"1.0.0",
        &"--dest-version",
        &"1.1.0",
        &"--product-key",
        &"a1SamplePK",
        &"--sandbox",
        &data,
        &"--out-dir",
        &dir.path().join("out"),
        &"--json",
        &"--need-to-verify=false",
    ];
    let out = bare("release", &args).output().unwrap();
    assert_ok(&out);
    let v = json(&out);
    assert_eq!(v["ok"], true);
    assert_eq!(v["deltas"][0]["FirmwareName"], "fw-1_0_0-to-1_1_0");
    assert_eq!(
        v["target"]["sandbox_data_dir"],
        data.display().to_string().as_str()
    );
    let id = v["deltas"][0]["FirmwareId"].as_str().unwrap().to_string();

    // The sandbox's data outlives the run: served again with the public test key, it holds
    // the package.
    let sandbox = Sandbox::start(SandboxConfig {
        data_dir: data.clone(),
        ..SandboxConfig::default()
    })
    .unwrap();
    let client = Client::new(
        Credentials::new(
            fwdelta_ota_sandbox::DEFAULT_ACCESS_KEY_ID,
            fwdelta_ota_sandbox::DEFAULT_ACCESS_KEY_SECRET,
        )
        .unwrap(),
        ClientOptions {
            endpoint: Some(sandbox.base_url()),
            timeout: Duration::from_secs(10),
            ..ClientOptions::default()
        },
    )
    .unwrap();
    let list = client
        .list_firmware(&ListOtaFirmware {
            current_page: 1,
            page_size: 10,
            ..ListOtaFirmware::default()
        })
        .unwrap();
    assert_eq!(list.firmwares.len(), 1);
    assert_eq!(list.firmwares[0].firmware_id, id);
    assert_eq!(list.firmwares[0].type_, Some(1));
    sandbox.shutdown();

    // A second dry run against the same data finds the package (nothing registered twice).
    let out = bare("release", &args).output().unwrap();
    assert_ok(&out);
    assert_eq!(json(&out)["deltas"][0]["FirmwareId"], id.as_str());
}
