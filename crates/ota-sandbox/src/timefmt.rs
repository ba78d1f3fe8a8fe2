//! ISO-8601 UTC timestamps as the Alibaba Cloud APIs write them.

use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time};

/// Parses `YYYY-MM-DDThh:mm:ssZ` with optional fractional seconds (`.607Z`), as
/// produced by the SDKs (`Timestamp`, `x-acs-date`) and as used in OSS policies.
/// Anything else is `None`.
pub fn parse_utc(s: &str) -> Option<OffsetDateTime> {
    let b = s.as_bytes();
    if b.len() < 20 || b.len() > 40 || *b.last()? != b'Z' {
        return None;
    }
    let digits = |r: std::ops::Range<usize>| -> Option<u32> {
        let part = b.get(r)?;
        if part.iter().all(u8::is_ascii_digit) {
            std::str::from_utf8(part).ok()?.parse().ok()
        } else {
            None
        }
    };
    if b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let year = i32::try_from(digits(0..4)?).ok()?;
    let month = Month::try_from(u8::try_from(digits(5..7)?).ok()?).ok()?;
    let day = u8::try_from(digits(8..10)?).ok()?;
    let hour = u8::try_from(digits(11..13)?).ok()?;
    let minute = u8::try_from(digits(14..16)?).ok()?;
    let second = u8::try_from(digits(17..19)?).ok()?;
    let mut nanos = 0u32;
    let rest = &b[19..b.len() - 1];
    if !rest.is_empty() {
        let frac = rest.strip_prefix(b".")?;
        if frac.is_empty() || frac.len() > 9 || !frac.iter().all(u8::is_ascii_digit) {
            return None;
        }
        for (i, d) in frac.iter().enumerate() {
            nanos += u32::from(d - b'0') * 10u32.pow(8 - i as u32);
        }
    }
    let date = Date::from_calendar_date(year, month, day).ok()?;
    let time = Time::from_hms_nano(hour, minute, second, nanos).ok()?;
    Some(PrimitiveDateTime::new(date, time).assume_utc())
}

/// `YYYY-MM-DDThh:mm:ss.mmmZ` (the `UtcCreate` format).
pub fn format_millis(t: OffsetDateTime) -> String {
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

/// Milliseconds since the Unix epoch.
pub fn unix_millis(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// The time at `ms` milliseconds since the Unix epoch (the epoch itself if out of range).
pub fn from_unix_millis(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_formats() {
        let t = parse_utc("2019-11-04T06:21:54.607Z").unwrap();
        assert_eq!(format_millis(t), "2019-11-04T06:21:54.607Z");
        let t = parse_utc("2024-01-02T03:04:05Z").unwrap();
        assert_eq!(t.unix_timestamp(), 1_704_164_645);
        assert_eq!(from_unix_millis(unix_millis(t)), t);
        for bad in [
            "2024-01-02T03:04:05",
            "2024-01-02 03:04:05Z",
            "2024-13-02T03:04:05Z",
            "2024-02-30T03:04:05Z",
            "2024-01-02T25:04:05Z",
            "2024-01-02T03:04:05.Z",
            "2024-01-02T03:04:05+08:00",
            "+024-01-02T03:04:05Z",
            "",
        ] {
            assert!(parse_utc(bad).is_none(), "{bad}");
        }
    }
}
