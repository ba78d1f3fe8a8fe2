//! Shared fixtures: a release record and its patch file.

use std::collections::BTreeMap;
use std::path::PathBuf;

use fwdelta_ota::md5_file;
use fwdelta_record::{
    FileFacts, OtaFacts, PatchFacts, ReleaseRecord, Tool, Verdict, Verification, SCHEMA_VERSION,
};

/// A verified record of `patch` (written into `dir`), with versions 1.0.0 -> 1.1.0.
pub fn record_with_patch(dir: &std::path::Path, patch: &[u8]) -> (ReleaseRecord, PathBuf) {
    let path = dir.join("v1-v2.fwd");
    std::fs::write(&path, patch).unwrap();
    let (md5, size) = md5_file(&path).unwrap();
    let dest_md5 = "00112233445566778899aabbccddeef0".to_string();
    let record = ReleaseRecord {
        schema_version: SCHEMA_VERSION,
        tool: Tool {
            name: "fwdelta".into(),
            version: "0.1.0".into(),
        },
        created_utc: "2026-11-27T12:00:00Z".into(),
        source: FileFacts {
            path: Some("v1.bin".into()),
            size: 1000,
            md5: "00112233445566778899aabbccddeeff".into(),
        },
        destination: FileFacts {
            path: Some("v2.bin".into()),
            size: 1200,
            md5: dest_md5.clone(),
        },
        patch: PatchFacts {
            path: Some(path.display().to_string()),
            size,
            md5: md5.clone(),
            format: "fwdelta-v1".into(),
            params: BTreeMap::new(),
        },
        ratio: size as f64 / 1200.0,
        timings: BTreeMap::new(),
        verification: Verification {
            verdict: Verdict::Pass,
            rebuilt_size: Some(1200),
            rebuilt_md5: Some(dest_md5),
            reason: None,
        },
        warnings: vec![],
        ota: OtaFacts {
            type_: 1,
            firmware_sign: md5,
            firmware_size: size,
            sign_method: "MD5".into(),
            src_version: Some("1.0.0".into()),
            dest_version: Some("1.1.0".into()),
        },
    };
    record.check().unwrap();
    (record, path)
}

/// Register parameters matching [`record_with_patch`].
pub fn params(name: &str) -> fwdelta_ota::RegisterParams {
    fwdelta_ota::RegisterParams {
        firmware_name: name.into(),
        product_key: Some("a1BcDeFgHiJ".into()),
        firmware_desc: Some("delta 1.0.0->1.1.0".into()),
        need_to_verify: false,
        ..Default::default()
    }
}

/// Some bytes that look like a patch.
pub fn patch_bytes(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}
