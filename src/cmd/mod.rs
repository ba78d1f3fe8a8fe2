//! One module per subcommand, and what they share.

pub mod apply;
pub mod demo;
pub mod diff;
pub mod info;
pub mod plan;
pub mod register;
pub mod release;
pub mod sandbox;
pub mod verify;

use std::path::Path;

use anyhow::Context as _;
use fwdelta_diff::Mapped;
use fwdelta_record::FileFacts;

/// What every command knows about the invocation.
#[derive(Debug, Clone, Copy)]
pub struct Context {
    /// `--quiet`: no progress bars and no notes on stderr.
    pub quiet: bool,
}

/// Maps an input file read-only.
pub fn map_input(path: &Path, what: &str) -> anyhow::Result<Mapped> {
    fwdelta_diff::map_file(path).with_context(|| format!("cannot read {what} {}", path.display()))
}

/// Path, size and MD5 of an input already in memory.
pub fn facts(path: Option<&Path>, bytes: &[u8]) -> FileFacts {
    hashed_facts(path, bytes, &fwdelta_patch::md5_of(bytes))
}

/// [`facts`] of an input whose MD5 the caller has computed already.
pub fn hashed_facts(path: Option<&Path>, bytes: &[u8], md5: &[u8; 16]) -> FileFacts {
    FileFacts {
        path: path.map(|p| p.display().to_string()),
        size: bytes.len() as u64,
        md5: fwdelta_patch::md5_hex(md5),
    }
}

/// The current time as ISO-8601 UTC with second precision.
pub fn now_utc() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to a (year, month, day) in the proleptic Gregorian calendar.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Prints one JSON value on stdout.
pub fn print_json(value: &serde_json::Value) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    // serde_json wraps I/O errors in its own type: unwrap them so a closed pipe is recognised.
    serde_json::to_writer_pretty(&mut out, value).map_err(std::io::Error::from)?;
    out.write_all(b"\n")?;
    Ok(())
}

/// Ratio of `part` to `whole`, 0 when `whole` is 0.
pub fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn civil_dates() {
        assert_eq!(super::civil_from_days(0), (1970, 1, 1));
        assert_eq!(super::civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(super::civil_from_days(11_016), (2000, 2, 29));
    }
}
