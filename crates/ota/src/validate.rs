//! Parameter rules of the OTA API, checked before anything is sent.
//!
//! The rules are the seed page's (`CreateOTAFirmware`) and the API reference's; where the
//! service publishes none (ProductKey, IotInstanceId) the check only refuses values that
//! cannot be right (empty, too long, whitespace or control characters).

use crate::OtaError;

/// Largest file a package may hold over HTTPS: 1,000 MB (the upload policy's
/// `content-length-range` upper bound, 1,048,576,000 bytes).
pub const MAX_FIRMWARE_SIZE: u64 = 1_048_576_000;

/// The file suffixes GenerateOTAUploadURL accepts.
pub const FILE_SUFFIXES: &[&str] = &["bin", "dav", "apk", "tar", "gz", "tar.gz", "zip", "gzip"];

fn invalid(name: &'static str, value: &str, reason: impl Into<String>) -> OtaError {
    OtaError::InvalidParameter {
        name,
        value: value.chars().take(120).collect(),
        reason: reason.into(),
    }
}

/// Letters of the Chinese and Japanese scripts that the Chinese API page also allows in a
/// FirmwareName: CJK ideographs (with extension A and compatibility ideographs), hiragana
/// and katakana.
fn is_cjk(c: char) -> bool {
    matches!(c,
        '\u{3040}'..='\u{309F}'   // hiragana
        | '\u{30A0}'..='\u{30FF}' // katakana
        | '\u{3400}'..='\u{4DBF}' // CJK extension A
        | '\u{4E00}'..='\u{9FFF}' // CJK unified ideographs
        | '\u{F900}'..='\u{FAFF}' // CJK compatibility ideographs
    )
}

fn count_between(
    name: &'static str,
    value: &str,
    min: usize,
    max: usize,
) -> Result<usize, OtaError> {
    let n = value.chars().count();
    if n < min || n > max {
        let what = if min == 0 {
            format!("must be at most {max} characters")
        } else {
            format!("must be {min} to {max} characters")
        };
        return Err(invalid(name, value, format!("{what}; it has {n}")));
    }
    Ok(n)
}

/// FirmwareName: 1–40 characters of letters, digits, `-`, `_`, `(` and `)`, starting with a
/// letter or digit. Letters are the English ones; the Chinese API page also allows Chinese
/// and Japanese characters, which are accepted too.
pub fn firmware_name(value: &str) -> Result<(), OtaError> {
    const NAME: &str = "FirmwareName";
    count_between(NAME, value, 1, 40)?;
    if let Some(bad) = value
        .chars()
        .find(|&c| !(c.is_ascii_alphanumeric() || is_cjk(c) || "-_()".contains(c)))
    {
        return Err(invalid(
            NAME,
            value,
            format!(
                "may contain only letters, digits, '-', '_', '(' and ')'; found {bad:?} (half-width parentheses only)"
            ),
        ));
    }
    let first = value.chars().next().unwrap_or(' ');
    if !(first.is_ascii_alphanumeric() || is_cjk(first)) {
        return Err(invalid(NAME, value, "must start with a letter or a digit"));
    }
    Ok(())
}

/// DestVersion and SrcVersion: 1–64 characters of letters, digits, `.`, `-`, `_`.
/// `name` is the parameter's API name, used in the error.
pub fn version(name: &'static str, value: &str) -> Result<(), OtaError> {
    count_between(name, value, 1, 64)?;
    if let Some(bad) = value
        .chars()
        .find(|&c| !(c.is_ascii_alphanumeric() || ".-_".contains(c)))
    {
        return Err(invalid(
            name,
            value,
            format!("may contain only letters, digits, '.', '-' and '_'; found {bad:?}"),
        ));
    }
    Ok(())
}

/// The differential-package rule: `Type=1` needs a SrcVersion, different from DestVersion.
pub fn type_and_versions(
    type_: u8,
    src_version: Option<&str>,
    dest_version: &str,
) -> Result<(), OtaError> {
    version("DestVersion", dest_version)?;
    match type_ {
        0 => {
            if let Some(src) = src_version {
                version("SrcVersion", src)?;
            }
            Ok(())
        }
        1 => {
            let src = src_version.ok_or_else(|| {
                invalid(
                    "SrcVersion",
                    "",
                    "is required for a differential package (Type=1): the version the devices run now",
                )
            })?;
            version("SrcVersion", src)?;
            if src == dest_version {
                return Err(invalid(
                    "SrcVersion",
                    src,
                    format!("must differ from DestVersion {dest_version:?} for a differential package (Type=1)"),
                ));
            }
            Ok(())
        }
        other => Err(invalid(
            "Type",
            &other.to_string(),
            "must be 0 (full package) or 1 (differential package)",
        )),
    }
}

/// FirmwareDesc: at most 100 characters (a Chinese character counts as one).
pub fn firmware_desc(value: &str) -> Result<(), OtaError> {
    count_between("FirmwareDesc", value, 0, 100).map(|_| ())
}

/// ModuleName: 1–64 characters of letters, digits, `.`, `-`, `_` (the CreateOTAModule rule).
pub fn module_name(value: &str) -> Result<(), OtaError> {
    version("ModuleName", value)
}

/// Udi: at most 4,096 characters.
pub fn udi(value: &str) -> Result<(), OtaError> {
    count_between("Udi", value, 0, 4096).map(|_| ())
}

/// An identifier the service assigns (ProductKey, IotInstanceId, FirmwareId): 1–128
/// characters, no whitespace or control characters.
pub fn identifier(name: &'static str, value: &str) -> Result<(), OtaError> {
    count_between(name, value, 1, 128)?;
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid(
            name,
            value,
            "must not contain whitespace or control characters",
        ));
    }
    Ok(())
}

/// SignMethod: `MD5` or `SHA256` (any case); returns the number of hex digits its
/// FirmwareSign must have.
pub fn sign_method(value: &str) -> Result<usize, OtaError> {
    if value.eq_ignore_ascii_case("MD5") {
        Ok(32)
    } else if value.eq_ignore_ascii_case("SHA256") {
        Ok(64)
    } else {
        Err(invalid("SignMethod", value, "must be MD5 or SHA256"))
    }
}

/// FirmwareSign: a hex digest of the length its SignMethod gives.
pub fn firmware_sign(method: &str, value: &str) -> Result<(), OtaError> {
    let digits = sign_method(method)?;
    if value.len() != digits || !value.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(invalid(
            "FirmwareSign",
            value,
            format!("must be the {digits}-digit hex {method} of the file"),
        ));
    }
    Ok(())
}

/// FirmwareSize: 1,000 MB at most.
pub fn firmware_size(value: u64) -> Result<(), OtaError> {
    if value > MAX_FIRMWARE_SIZE {
        return Err(invalid(
            "FirmwareSize",
            &value.to_string(),
            format!("a package file may be at most {MAX_FIRMWARE_SIZE} bytes (1,000 MB)"),
        ));
    }
    Ok(())
}

/// FirmwareUrl: an `http(s)://` URL of at most 2,048 characters without whitespace.
pub fn firmware_url(value: &str) -> Result<(), OtaError> {
    count_between("FirmwareUrl", value, 1, 2048)?;
    if !(value.starts_with("https://") || value.starts_with("http://"))
        || value.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(invalid(
            "FirmwareUrl",
            value,
            "must be the http(s) URL returned by GenerateOTAUploadURL",
        ));
    }
    Ok(())
}

/// FileSuffix: one of [`FILE_SUFFIXES`].
pub fn file_suffix(value: &str) -> Result<(), OtaError> {
    if FILE_SUFFIXES.contains(&value) {
        Ok(())
    } else {
        Err(invalid(
            "FileSuffix",
            value,
            format!("must be one of {}", FILE_SUFFIXES.join(", ")),
        ))
    }
}

/// CurrentPage ≥ 1 and PageSize 1–100 (ListOTAFirmware).
pub fn paging(current_page: u32, page_size: u32) -> Result<(), OtaError> {
    if current_page == 0 {
        return Err(invalid("CurrentPage", "0", "pages are numbered from 1"));
    }
    if !(1..=100).contains(&page_size) {
        return Err(invalid(
            "PageSize",
            &page_size.to_string(),
            "must be 1 to 100",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name_of(e: OtaError) -> &'static str {
        match e {
            OtaError::InvalidParameter { name, .. } => name,
            other => panic!("unexpected {other}"),
        }
    }

    #[test]
    fn firmware_names() {
        for ok in [
            "a",
            "fw-diff_1(test)",
            "0abc",
            "差分固件(测试)",
            &"x".repeat(40),
        ] {
            firmware_name(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for bad in [
            "",
            "-abc",
            "(x)",
            "a b",
            "a.b",
            "a/b",
            "a（b）",
            &"x".repeat(41),
        ] {
            assert_eq!(
                name_of(firmware_name(bad).unwrap_err()),
                "FirmwareName",
                "{bad}"
            );
        }
        // Length counts characters, not bytes.
        firmware_name(&"固".repeat(40)).unwrap();
        assert!(firmware_name(&"固".repeat(41)).is_err());
    }

    #[test]
    fn versions() {
        version("DestVersion", "1.1.0-rc_1").unwrap();
        version("DestVersion", &"9".repeat(64)).unwrap();
        for bad in ["", "1.0 ", "v1+2", "版本", &"9".repeat(65)] {
            assert_eq!(
                name_of(version("DestVersion", bad).unwrap_err()),
                "DestVersion"
            );
        }
        assert_eq!(
            name_of(version("SrcVersion", "a b").unwrap_err()),
            "SrcVersion"
        );
    }

    #[test]
    fn differential_rule() {
        type_and_versions(1, Some("1.0"), "1.1").unwrap();
        type_and_versions(0, None, "1.1").unwrap();
        assert_eq!(
            name_of(type_and_versions(1, None, "1.1").unwrap_err()),
            "SrcVersion"
        );
        let e = type_and_versions(1, Some("1.1"), "1.1").unwrap_err();
        assert!(
            e.to_string().contains("must differ from DestVersion"),
            "{e}"
        );
        assert_eq!(
            name_of(type_and_versions(2, None, "1").unwrap_err()),
            "Type"
        );
        assert_eq!(
            name_of(type_and_versions(1, Some("1"), "").unwrap_err()),
            "DestVersion"
        );
    }

    #[test]
    fn desc_and_others() {
        firmware_desc(&"描".repeat(100)).unwrap();
        assert_eq!(
            name_of(firmware_desc(&"d".repeat(101)).unwrap_err()),
            "FirmwareDesc"
        );
        firmware_sign("MD5", "0cc175b9c0f1b6a831c399e269772661").unwrap();
        firmware_sign("md5", "0CC175B9C0F1B6A831C399E269772661").unwrap();
        assert!(firmware_sign("MD5", "0cc175").is_err());
        assert_eq!(name_of(sign_method("CRC32").unwrap_err()), "SignMethod");
        assert!(firmware_size(MAX_FIRMWARE_SIZE).is_ok());
        assert!(firmware_size(MAX_FIRMWARE_SIZE + 1).is_err());
        assert!(firmware_url("ftp://x").is_err());
        assert!(file_suffix("exe").is_err());
        assert!(paging(0, 10).is_err() && paging(1, 101).is_err() && paging(1, 100).is_ok());
        assert!(identifier("ProductKey", "a1 b").is_err());
        assert!(module_name("default").is_ok() && module_name("").is_err());
    }
}
