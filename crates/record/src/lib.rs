//! The fwdelta **release record**: the JSON document that says what a delta package is and
//! that it was verified.
//!
//! `fwdelta diff --report FILE` and `fwdelta verify --report FILE` write it; `fwdelta register`
//! reads it and takes from it exactly what `CreateOTAFirmware` needs for a differential package
//! (`Type=1`, `FirmwareSign` = MD5 of the patch file, `FirmwareSize`, `SignMethod=MD5`).
//! The schema is documented in `docs/RECORD.md` and versioned by [`SCHEMA_VERSION`]; readers
//! refuse a record of another major schema version.
//!
//! ```
//! use fwdelta_record::{FileFacts, ReleaseRecord, Verdict};
//! let json = r#"{"schema_version":1,"tool":{"name":"fwdelta","version":"0.1.0"},
//!   "created_utc":"2026-11-27T12:00:00Z",
//!   "source":{"path":"v1.bin","size":10,"md5":"00112233445566778899aabbccddeeff"},
//!   "destination":{"path":"v2.bin","size":12,"md5":"00112233445566778899aabbccddeef0"},
//!   "patch":{"path":"v1-v2.fwd","size":5,"md5":"0123456789abcdef0123456789abcdef",
//!            "format":"fwdelta-v1","params":{}},
//!   "ratio":0.41666,"timings":{},
//!   "verification":{"verdict":"pass","rebuilt_size":12,"rebuilt_md5":"00112233445566778899aabbccddeef0"},
//!   "warnings":[],
//!   "ota":{"Type":1,"FirmwareSign":"0123456789abcdef0123456789abcdef","FirmwareSize":5,"SignMethod":"MD5"}}"#;
//! let record = ReleaseRecord::from_json(json.as_bytes()).unwrap();
//! assert_eq!(record.verification.verdict, Verdict::Pass);
//! assert_eq!(record.ota.firmware_sign, record.patch.md5);
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The schema version this crate writes and reads.
pub const SCHEMA_VERSION: u32 = 1;

/// The largest record [`ReleaseRecord::from_json`] accepts, in bytes. Records are a few KB;
/// anything near this size is not a record.
pub const MAX_RECORD_BYTES: usize = 1 << 20;

/// A verified (or failed) delta package, as written by `fwdelta diff --report` and
/// `fwdelta verify --report`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseRecord {
    /// Always [`SCHEMA_VERSION`] for records this crate writes.
    pub schema_version: u32,
    /// The tool that wrote the record.
    pub tool: Tool,
    /// When the record was written, ISO-8601 UTC (`YYYY-MM-DDThh:mm:ssZ`).
    pub created_utc: String,
    /// The image in the field (the patch applies to it).
    pub source: FileFacts,
    /// The image the patch rebuilds. Its path is `None` when only its MD5 and size were known.
    pub destination: FileFacts,
    /// The patch file itself: what the device downloads.
    pub patch: PatchFacts,
    /// Patch size divided by destination size.
    pub ratio: f64,
    /// Wall-clock seconds per stage (`diff`, `encode`, `verify`, ...).
    #[serde(default)]
    pub timings: BTreeMap<String, f64>,
    /// The outcome of re-applying the patch to the source.
    pub verification: Verification,
    /// Human-readable warnings (for example: the patch is not worth shipping as a delta).
    #[serde(default)]
    pub warnings: Vec<String>,
    /// What `CreateOTAFirmware` needs for this package.
    pub ota: OtaFacts,
}

/// Name and version of the writer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tool {
    /// `fwdelta`.
    pub name: String,
    /// The writer's version (`CARGO_PKG_VERSION`).
    pub version: String,
}

/// Path, size and MD5 of a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileFacts {
    /// Where the file was read from, as given on the command line; `None` when not at hand.
    pub path: Option<String>,
    /// Size in bytes.
    pub size: u64,
    /// Lowercase hex MD5 of the contents.
    pub md5: String,
}

/// Facts about the patch file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchFacts {
    /// Where the patch was written.
    pub path: Option<String>,
    /// Size in bytes.
    pub size: u64,
    /// Lowercase hex MD5 of the patch file.
    pub md5: String,
    /// `fwdelta-v1`, `bsdiff40` or `raw`.
    pub format: String,
    /// Format parameters (compression level, window log, ...), as given to the encoder.
    #[serde(default)]
    pub params: BTreeMap<String, serde_json::Value>,
}

/// The verdict of a verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// The rebuilt image has the destination's size and MD5.
    Pass,
    /// It does not, or the patch could not be applied.
    Fail,
    /// The patch was written with verification turned off.
    Skipped,
}

/// What re-applying the patch produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Verification {
    /// Pass, fail or skipped.
    pub verdict: Verdict,
    /// Size of the rebuilt image, when the patch applied.
    #[serde(default)]
    pub rebuilt_size: Option<u64>,
    /// MD5 of the rebuilt image, when the patch applied.
    #[serde(default)]
    pub rebuilt_md5: Option<String>,
    /// Why verification failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The `CreateOTAFirmware` parameters the record fixes. Field names are the API's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OtaFacts {
    /// `1`: a differential package.
    #[serde(rename = "Type")]
    pub type_: u8,
    /// MD5 of the patch file (what the device hashes after download).
    #[serde(rename = "FirmwareSign")]
    pub firmware_sign: String,
    /// Size of the patch file in bytes.
    #[serde(rename = "FirmwareSize")]
    pub firmware_size: u64,
    /// `MD5`.
    #[serde(rename = "SignMethod")]
    pub sign_method: String,
    /// The version on the device, when known at diff time.
    #[serde(
        rename = "SrcVersion",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub src_version: Option<String>,
    /// The version the patch produces, when known at diff time.
    #[serde(
        rename = "DestVersion",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub dest_version: Option<String>,
}

/// Why a record was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// The document is larger than [`MAX_RECORD_BYTES`].
    #[error("release record is {size} bytes, more than the {limit}-byte limit: not a record")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// Not JSON of the record's shape.
    #[error("release record is not valid: {0}")]
    Json(#[from] serde_json::Error),
    /// Another schema version.
    #[error("release record has schema_version {found}; this fwdelta reads version {expected}")]
    SchemaVersion {
        /// What the record says.
        found: u32,
        /// What this crate reads.
        expected: u32,
    },
    /// A field that must be a 32-digit hex MD5 is not.
    #[error("release record field {field} is not a 32-digit hex MD5: {value:?}")]
    BadMd5 {
        /// The field's path in the record.
        field: &'static str,
        /// Its value.
        value: String,
    },
    /// Fields that must agree do not.
    #[error("release record is inconsistent: {0}")]
    Inconsistent(String),
}

impl ReleaseRecord {
    /// Parses and checks a record: size bound, schema version, MD5 shapes, and that the `ota`
    /// block agrees with the `patch` block.
    pub fn from_json(bytes: &[u8]) -> Result<Self, RecordError> {
        if bytes.len() > MAX_RECORD_BYTES {
            return Err(RecordError::TooLarge {
                size: bytes.len(),
                limit: MAX_RECORD_BYTES,
            });
        }
        // Read the version first so a future schema gets a clear message, not a field error.
        #[derive(Deserialize)]
        struct Probe {
            schema_version: u32,
        }
        let probe: Probe = serde_json::from_slice(bytes)?;
        if probe.schema_version != SCHEMA_VERSION {
            return Err(RecordError::SchemaVersion {
                found: probe.schema_version,
                expected: SCHEMA_VERSION,
            });
        }
        let record: ReleaseRecord = serde_json::from_slice(bytes)?;
        record.check()?;
        Ok(record)
    }

    /// Serialises the record as pretty JSON with a trailing newline.
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("a record always serialises");
        s.push('\n');
        s
    }

    /// Checks the invariants [`from_json`](Self::from_json) enforces.
    pub fn check(&self) -> Result<(), RecordError> {
        check_md5("source.md5", &self.source.md5)?;
        check_md5("destination.md5", &self.destination.md5)?;
        check_md5("patch.md5", &self.patch.md5)?;
        check_md5("ota.FirmwareSign", &self.ota.firmware_sign)?;
        if let Some(md5) = &self.verification.rebuilt_md5 {
            check_md5("verification.rebuilt_md5", md5)?;
        }
        if !self.ota.firmware_sign.eq_ignore_ascii_case(&self.patch.md5) {
            return Err(RecordError::Inconsistent(format!(
                "ota.FirmwareSign {} differs from patch.md5 {}",
                self.ota.firmware_sign, self.patch.md5
            )));
        }
        if self.ota.firmware_size != self.patch.size {
            return Err(RecordError::Inconsistent(format!(
                "ota.FirmwareSize {} differs from patch.size {}",
                self.ota.firmware_size, self.patch.size
            )));
        }
        if self.ota.type_ != 1 {
            return Err(RecordError::Inconsistent(format!(
                "ota.Type is {}; a delta package is Type 1",
                self.ota.type_
            )));
        }
        if self.verification.verdict == Verdict::Pass
            && (self.verification.rebuilt_size != Some(self.destination.size)
                || !self
                    .verification
                    .rebuilt_md5
                    .as_deref()
                    .is_some_and(|m| m.eq_ignore_ascii_case(&self.destination.md5)))
        {
            return Err(RecordError::Inconsistent(
                "verdict is pass but the rebuilt size/MD5 differ from the destination's".into(),
            ));
        }
        Ok(())
    }

    /// True when the record proves the patch rebuilds the destination.
    pub fn is_verified(&self) -> bool {
        self.verification.verdict == Verdict::Pass
    }
}

fn check_md5(field: &'static str, value: &str) -> Result<(), RecordError> {
    if value.len() == 32 && value.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(RecordError::BadMd5 {
            field,
            value: value.chars().take(64).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ReleaseRecord {
        let md5 = |c: char| std::iter::repeat_n(c, 32).collect::<String>();
        ReleaseRecord {
            schema_version: SCHEMA_VERSION,
            tool: Tool {
                name: "fwdelta".into(),
                version: "0.1.0".into(),
            },
            created_utc: "2026-11-27T12:00:00Z".into(),
            source: FileFacts {
                path: Some("a".into()),
                size: 100,
                md5: md5('a'),
            },
            destination: FileFacts {
                path: Some("b".into()),
                size: 120,
                md5: md5('b'),
            },
            patch: PatchFacts {
                path: Some("p".into()),
                size: 7,
                md5: md5('c'),
                format: "fwdelta-v1".into(),
                params: BTreeMap::new(),
            },
            ratio: 7.0 / 120.0,
            timings: BTreeMap::new(),
            verification: Verification {
                verdict: Verdict::Pass,
                rebuilt_size: Some(120),
                rebuilt_md5: Some(md5('b')),
                reason: None,
            },
            warnings: vec![],
            ota: OtaFacts {
                type_: 1,
                firmware_sign: md5('c'),
                firmware_size: 7,
                sign_method: "MD5".into(),
                src_version: Some("1.0".into()),
                dest_version: None,
            },
        }
    }

    #[test]
    fn round_trips_through_json() {
        let r = sample();
        let back = ReleaseRecord::from_json(r.to_json().as_bytes()).unwrap();
        assert_eq!(back, r);
        let v: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(v["ota"]["Type"], 1);
        assert_eq!(v["ota"]["SignMethod"], "MD5");
        assert_eq!(v["ota"]["SrcVersion"], "1.0");
        assert!(v["ota"].get("DestVersion").is_none());
    }

    /// Found by the `record_json` fuzz target: a ratio written with more digits than an f64
    /// holds must read back as the same number after a write/read cycle (serde_json's
    /// default float parsing is not correctly rounded, so the written shortest form could
    /// read back one step away).
    #[test]
    fn long_decimals_survive_a_write_read_cycle() {
        let v: serde_json::Value = serde_json::from_str(&sample().to_json()).unwrap();
        let text = v.to_string();
        for digits in [
            "1.41111111111111666",
            "0.30000000000000004441",
            "2.9999999999999996",
        ] {
            let doc = text.replacen(
                &format!("\"ratio\":{}", v["ratio"]),
                &format!("\"ratio\":{digits}"),
                1,
            );
            assert_ne!(doc, text, "the sample has a ratio to replace");
            let r = ReleaseRecord::from_json(doc.as_bytes()).unwrap();
            assert_eq!(
                r.ratio,
                digits.parse::<f64>().unwrap(),
                "{digits} read exactly"
            );
            let back = ReleaseRecord::from_json(r.to_json().as_bytes()).unwrap();
            assert_eq!(back, r, "{digits}");
        }
    }

    #[test]
    fn refuses_other_schema_version() {
        let mut v: serde_json::Value = serde_json::from_str(&sample().to_json()).unwrap();
        v["schema_version"] = 2.into();
        let err = ReleaseRecord::from_json(v.to_string().as_bytes()).unwrap_err();
        assert!(
            matches!(err, RecordError::SchemaVersion { found: 2, .. }),
            "{err}"
        );
    }

    #[test]
    fn refuses_oversized_input() {
        let big = vec![b' '; MAX_RECORD_BYTES + 1];
        assert!(matches!(
            ReleaseRecord::from_json(&big),
            Err(RecordError::TooLarge { .. })
        ));
    }

    #[test]
    fn refuses_bad_md5() {
        let mut r = sample();
        r.source.md5 = "xyz".into();
        let err = ReleaseRecord::from_json(r.to_json().as_bytes()).unwrap_err();
        assert!(
            matches!(
                err,
                RecordError::BadMd5 {
                    field: "source.md5",
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn refuses_sign_that_is_not_the_patch_md5() {
        let mut r = sample();
        r.ota.firmware_sign = "d".repeat(32);
        let err = ReleaseRecord::from_json(r.to_json().as_bytes()).unwrap_err();
        assert!(matches!(err, RecordError::Inconsistent(_)), "{err}");
        let mut r = sample();
        r.ota.firmware_size = 8;
        assert!(ReleaseRecord::from_json(r.to_json().as_bytes()).is_err());
        let mut r = sample();
        r.ota.type_ = 0;
        assert!(ReleaseRecord::from_json(r.to_json().as_bytes()).is_err());
    }

    #[test]
    fn refuses_pass_verdict_without_matching_rebuild() {
        let mut r = sample();
        r.verification.rebuilt_md5 = Some("e".repeat(32));
        let err = ReleaseRecord::from_json(r.to_json().as_bytes()).unwrap_err();
        assert!(matches!(err, RecordError::Inconsistent(_)), "{err}");
    }

    #[test]
    fn refuses_garbage_and_unknown_fields() {
        assert!(matches!(
            ReleaseRecord::from_json(b"{not json"),
            Err(RecordError::Json(_))
        ));
        let mut v: serde_json::Value = serde_json::from_str(&sample().to_json()).unwrap();
        v["surprise"] = true.into();
        assert!(matches!(
            ReleaseRecord::from_json(v.to_string().as_bytes()),
            Err(RecordError::Json(_))
        ));
    }
}
