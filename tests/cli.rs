//! End-to-end tests of the `fwdelta` binary: round trips in every format, the release record,
//! and every refusal (wrong source, corrupt patch, output over an input), with exit codes and
//! the promise that no half-written or unverified output is left behind.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use md5::{Digest, Md5};

#[path = "../src/sample.rs"]
#[allow(dead_code)]
mod sample;

fn fwdelta() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_fwdelta"));
    c.arg("--quiet");
    c
}

fn run(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
    let mut c = fwdelta();
    for a in args {
        c.arg(a);
    }
    c.output().expect("fwdelta runs")
}

fn md5_hex(bytes: &[u8]) -> String {
    Md5::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

struct Pair {
    dir: tempfile::TempDir,
    src: PathBuf,
    dst: PathBuf,
}

impl Pair {
    fn new(size: usize, seed: u64) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = sample::firmware_pair(seed, size);
        let src = dir.path().join("v1.bin");
        let dst = dir.path().join("v2.bin");
        std::fs::write(&src, a).unwrap();
        std::fs::write(&dst, b).unwrap();
        Self { dir, src, dst }
    }
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    /// The files in the directory, to prove nothing stray (temporary files) was left.
    fn listing(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }
}

fn code(out: &Output) -> i32 {
    out.status.code().expect("exited normally")
}

fn assert_ok(out: &Output) {
    assert!(
        out.status.success(),
        "fwdelta failed ({:?}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

#[test]
fn round_trip_in_every_format_with_json_record() {
    let p = Pair::new(256 * 1024, 1);
    let src = std::fs::read(&p.src).unwrap();
    let dst = std::fs::read(&p.dst).unwrap();
    for (format, name) in [
        ("fwdelta", "fwdelta-v1"),
        ("bsdiff40", "bsdiff40"),
        ("raw", "raw"),
    ] {
        let patch = p.path(&format!("p.{format}"));
        let report = p.path(&format!("p.{format}.json"));
        let out = run(&[
            &"diff",
            &p.src,
            &p.dst,
            &"-o",
            &patch,
            &"--format",
            &format,
            &"--json",
            &"--report",
            &report,
            &"--src-version",
            &"1.0.0",
            &"--dest-version",
            &"1.1.0",
        ]);
        assert_ok(&out);
        let rec = json(&out);
        let patch_bytes = std::fs::read(&patch).unwrap();
        assert_eq!(rec["patch"]["format"], name);
        assert_eq!(rec["source"]["md5"], md5_hex(&src));
        assert_eq!(rec["destination"]["md5"], md5_hex(&dst));
        assert_eq!(rec["patch"]["md5"], md5_hex(&patch_bytes));
        assert_eq!(rec["patch"]["size"], patch_bytes.len() as u64);
        assert_eq!(rec["verification"]["verdict"], "pass");
        assert_eq!(rec["verification"]["rebuilt_md5"], md5_hex(&dst));
        assert_eq!(rec["ota"]["Type"], 1);
        assert_eq!(rec["ota"]["FirmwareSign"], md5_hex(&patch_bytes));
        assert_eq!(rec["ota"]["FirmwareSize"], patch_bytes.len() as u64);
        assert_eq!(rec["ota"]["SignMethod"], "MD5");
        assert_eq!(rec["ota"]["SrcVersion"], "1.0.0");
        // The report file is the same record, and it parses with the library's checks.
        let file = std::fs::read(&report).unwrap();
        let parsed = fwdelta_record::ReleaseRecord::from_json(&file).unwrap();
        assert_eq!(serde_json::to_value(&parsed).unwrap(), rec);
        assert!(
            format == "raw" || patch_bytes.len() < dst.len() / 4,
            "{format}: patch {} bytes for a {} byte image",
            patch_bytes.len(),
            dst.len()
        );

        let rebuilt = p.path(&format!("rebuilt.{format}"));
        let out = run(&[
            &"apply",
            &p.src,
            &patch,
            &"-o",
            &rebuilt,
            &"--format",
            &format,
            &"--json",
        ]);
        assert_ok(&out);
        assert_eq!(std::fs::read(&rebuilt).unwrap(), dst, "{format}");
        assert_eq!(json(&out)["md5"], md5_hex(&dst));
    }
}

#[test]
fn info_reports_header() {
    let p = Pair::new(64 * 1024, 2);
    let patch = p.path("p.fwd");
    assert_ok(&run(&[&"diff", &p.src, &p.dst, &"-o", &patch]));
    let out = run(&[&"info", &patch, &"--json"]);
    assert_ok(&out);
    let info = json(&out);
    assert_eq!(info["format"], "fwdelta-v1");
    assert_eq!(info["source_size"], 64 * 1024);
    assert_eq!(
        info["destination_md5"],
        md5_hex(&std::fs::read(&p.dst).unwrap())
    );
    assert_eq!(info["source_md5"], md5_hex(&std::fs::read(&p.src).unwrap()));
    // The body's structure, as numbers (not a debug string).
    assert_eq!(info["zero_runs"], true);
    assert!(info["blocks"].as_u64().unwrap() >= 1, "{info}");
    let raw = |s: &str| info["streams"][s]["raw"].as_u64().unwrap();
    assert_eq!(
        raw("add") + raw("extra"),
        info["destination_size"].as_u64().unwrap()
    );
    let compressed: u64 = ["control", "add", "extra"]
        .iter()
        .map(|s| info["streams"][s]["compressed"].as_u64().unwrap())
        .sum();
    assert_eq!(
        76 + info["block_header_bytes"].as_u64().unwrap() + compressed,
        std::fs::metadata(&patch).unwrap().len()
    );
}

#[test]
fn output_equal_to_an_input_is_refused_and_input_untouched() {
    let p = Pair::new(16 * 1024, 3);
    let before = std::fs::read(&p.src).unwrap();
    let out = run(&[&"diff", &p.src, &p.dst, &"-o", &p.src]);
    assert_eq!(code(&out), 5, "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("refusing"));
    assert_eq!(std::fs::read(&p.src).unwrap(), before);

    let patch = p.path("p.fwd");
    assert_ok(&run(&[&"diff", &p.src, &p.dst, &"-o", &patch]));
    let out = run(&[&"apply", &p.src, &patch, &"-o", &patch]);
    assert_eq!(code(&out), 5);
    let out = run(&[&"apply", &p.src, &patch, &"-o", &p.src]);
    assert_eq!(code(&out), 5);
    assert_eq!(std::fs::read(&p.src).unwrap(), before);
}

fn corrupt_apply_leaves_nothing(p: &Pair, patch: &Path, expect: i32) -> String {
    let before = p.listing();
    let out_path = p.path("out.bin");
    let out = run(&[&"apply", &p.src, &patch, &"-o", &out_path]);
    assert_eq!(
        code(&out),
        expect,
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out_path.exists(), "no output file after a failed apply");
    assert_eq!(p.listing(), before, "no temporary file left behind");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn corrupt_truncated_and_foreign_patches_are_rejected() {
    let p = Pair::new(64 * 1024, 4);
    let patch = p.path("p.fwd");
    assert_ok(&run(&[&"diff", &p.src, &p.dst, &"-o", &patch]));
    let good = std::fs::read(&patch).unwrap();

    // A flipped byte in the header.
    let mut bad = good.clone();
    bad[20] ^= 0x40;
    let bad_path = p.path("header-flip.fwd");
    std::fs::write(&bad_path, &bad).unwrap();
    let msg = corrupt_apply_leaves_nothing(&p, &bad_path, 4);
    assert!(msg.contains("error"), "{msg}");

    // A flipped byte in the body.
    let mut bad = good.clone();
    let i = good.len() - 10;
    bad[i] ^= 0x01;
    std::fs::write(&bad_path, &bad).unwrap();
    corrupt_apply_leaves_nothing(&p, &bad_path, 4);

    // Truncated.
    std::fs::write(&bad_path, &good[..good.len() / 2]).unwrap();
    let msg = corrupt_apply_leaves_nothing(&p, &bad_path, 4);
    assert!(msg.contains("truncated"), "{msg}");

    // Not a patch at all.
    std::fs::write(&bad_path, b"\x7fELF this is not a patch").unwrap();
    let msg = corrupt_apply_leaves_nothing(&p, &bad_path, 4);
    assert!(msg.contains("unknown patch format"), "{msg}");
}

#[test]
fn wrong_source_is_refused_before_writing() {
    let p = Pair::new(64 * 1024, 5);
    let patch = p.path("p.fwd");
    assert_ok(&run(&[&"diff", &p.src, &p.dst, &"-o", &patch]));
    // Same size, one byte changed: the MD5 check must catch it.
    let mut other = std::fs::read(&p.src).unwrap();
    other[100] ^= 1;
    let other_path = p.path("other.bin");
    std::fs::write(&other_path, &other).unwrap();
    let out_path = p.path("out.bin");
    let out = run(&[&"apply", &other_path, &patch, &"-o", &out_path]);
    assert_eq!(code(&out), 4);
    assert!(String::from_utf8_lossy(&out.stderr).contains("wrong source image"));
    assert!(!out_path.exists());
}

#[test]
fn verify_passes_and_fails_with_documented_codes() {
    let p = Pair::new(64 * 1024, 6);
    let patch = p.path("p.fwd");
    assert_ok(&run(&[&"diff", &p.src, &p.dst, &"-o", &patch]));
    let dst = std::fs::read(&p.dst).unwrap();

    let out = run(&[&"verify", &p.src, &patch, &p.dst, &"--json"]);
    assert_ok(&out);
    assert_eq!(json(&out)["verification"]["verdict"], "pass");

    let md5 = md5_hex(&dst);
    let size = dst.len().to_string();
    let out = run(&[
        &"verify",
        &p.src,
        &patch,
        &"--dest-md5",
        &md5,
        &"--dest-size",
        &size,
    ]);
    assert_ok(&out);

    // The wrong expected MD5: a mismatch, exit 3, with the reason.
    let wrong = md5_hex(b"something else");
    let report = p.path("fail.json");
    let out = run(&[
        &"verify",
        &p.src,
        &patch,
        &"--dest-md5",
        &wrong,
        &"--dest-size",
        &size,
        &"--report",
        &report,
    ]);
    assert_eq!(code(&out), 3, "{}", String::from_utf8_lossy(&out.stderr));
    let rec: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(rec["verification"]["verdict"], "fail");
    assert!(rec["verification"]["reason"]
        .as_str()
        .unwrap()
        .contains(&wrong));

    // The wrong source: verification fails (the patch refuses it). Of another size ...
    let out = run(&[&"verify", &p.dst, &patch, &p.dst]);
    assert_eq!(code(&out), 3);
    // ... and of the same size, one byte changed: only the source MD5 tells it apart.
    let mut other = std::fs::read(&p.src).unwrap();
    other[100] ^= 1;
    let other_path = p.path("other.bin");
    std::fs::write(&other_path, &other).unwrap();
    let out = run(&[&"verify", &other_path, &patch, &p.dst, &"--json"]);
    assert_eq!(code(&out), 3, "{}", String::from_utf8_lossy(&out.stderr));
    let rec = json(&out);
    assert_eq!(rec["verification"]["verdict"], "fail");
    assert!(
        rec["verification"]["reason"]
            .as_str()
            .unwrap()
            .contains("wrong source image"),
        "{rec}"
    );
    assert_eq!(rec["source"]["md5"], md5_hex(&other));

    // A corrupt patch: verification fails.
    let mut bad = std::fs::read(&patch).unwrap();
    let n = bad.len();
    bad[n - 5] ^= 0x10;
    let bad_path = p.path("bad.fwd");
    std::fs::write(&bad_path, &bad).unwrap();
    let out = run(&[&"verify", &p.src, &bad_path, &p.dst]);
    assert_eq!(code(&out), 3);

    // An unreadable input.
    let out = run(&[&"verify", &p.path("missing.bin"), &patch, &p.dst]);
    assert_eq!(code(&out), 1);
}

#[test]
fn batch_verification_of_records() {
    let p = Pair::new(64 * 1024, 7);
    let records = p.path("records");
    std::fs::create_dir(&records).unwrap();
    for i in 0..3 {
        let patch = p.path(&format!("p{i}.fwd"));
        let report = records.join(format!("r{i}.json"));
        assert_ok(&run(&[
            &"diff",
            &p.src,
            &p.dst,
            &"-o",
            &patch,
            &"--report",
            &report,
            &"--level",
            &(3 + i).to_string(),
        ]));
    }
    let out = run(&[&"verify", &"--record", &records, &"--json"]);
    assert_ok(&out);
    let summary = json(&out);
    assert_eq!(summary["verified"], 3);
    assert_eq!(summary["failed"], 0);

    // Tamper with one patch: the batch fails and names it.
    let patch = p.path("p1.fwd");
    let mut bytes = std::fs::read(&patch).unwrap();
    let n = bytes.len();
    bytes[n - 3] ^= 0xFF;
    std::fs::write(&patch, &bytes).unwrap();
    let out = run(&[&"verify", &"--record", &records, &"--json"]);
    assert_eq!(code(&out), 3);
    let summary = json(&out);
    assert_eq!(summary["failed"], 1);
    let failed: Vec<_> = summary["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["verdict"] == "fail")
        .collect();
    assert!(failed[0]["record"].as_str().unwrap().ends_with("r1.json"));
    assert!(failed[0]["reason"].as_str().unwrap().contains("changed"));
}

#[test]
fn patch_is_identical_for_every_thread_count() {
    let p = Pair::new(3 << 20, 8);
    let mut patches = Vec::new();
    for threads in ["1", "2", "3", "8"] {
        let patch = p.path(&format!("p{threads}.fwd"));
        assert_ok(&run(&[
            &"diff",
            &p.src,
            &p.dst,
            &"-o",
            &patch,
            &"--threads",
            &threads,
        ]));
        patches.push(std::fs::read(&patch).unwrap());
    }
    for (i, other) in patches.iter().enumerate().skip(1) {
        assert!(patches[0] == *other, "patch with thread set {i} differs");
    }
}

#[test]
fn warns_when_a_delta_is_not_worth_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = sample::Rng::new(9);
    let a: Vec<u8> = (0..32 * 1024).map(|_| rng.next_u64() as u8).collect();
    let b: Vec<u8> = (0..32 * 1024).map(|_| rng.next_u64() as u8).collect();
    let (src, dst, patch) = (
        dir.path().join("a"),
        dir.path().join("b"),
        dir.path().join("p"),
    );
    std::fs::write(&src, &a).unwrap();
    std::fs::write(&dst, &b).unwrap();
    let out = run(&[&"diff", &src, &dst, &"-o", &patch, &"--json"]);
    assert_ok(&out);
    let rec = json(&out);
    assert!(
        rec["warnings"][0]
            .as_str()
            .unwrap()
            .contains("full package"),
        "{rec}"
    );
    assert_eq!(std::fs::read(dir.path().join("b")).unwrap(), b);
}

#[test]
fn demo_runs_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(&[
        &"demo",
        &"--dir",
        &dir.path(),
        &"--size",
        &"262144",
        &"--json",
    ]);
    assert_ok(&out);
    let summary = json(&out);
    let patches = summary["patches"].as_array().unwrap();
    assert_eq!(patches.len(), 2);
    for patch in patches {
        assert_eq!(patch["verification"], "pass");
        let bytes = std::fs::read(patch["patch"].as_str().unwrap()).unwrap();
        assert_eq!(patch["FirmwareSign"], md5_hex(&bytes));
    }
}

#[test]
fn empty_and_tiny_images() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&[u8], &[u8]); 4] = [(b"", b""), (b"", b"x"), (b"x", b""), (b"a", b"b")];
    for (i, (a, b)) in cases.iter().enumerate() {
        let src = dir.path().join(format!("s{i}"));
        let dst = dir.path().join(format!("d{i}"));
        let patch = dir.path().join(format!("p{i}"));
        let back = dir.path().join(format!("o{i}"));
        std::fs::write(&src, a).unwrap();
        std::fs::write(&dst, b).unwrap();
        assert_ok(&run(&[&"diff", &src, &dst, &"-o", &patch]));
        assert_ok(&run(&[&"apply", &src, &patch, &"-o", &back]));
        assert_eq!(std::fs::read(&back).unwrap(), *b, "case {i}");
    }
}
