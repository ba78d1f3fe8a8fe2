//! `record_json`: the release-record reader on arbitrary bytes.
//!
//! Input: the JSON document.
//!
//! Checks: `ReleaseRecord::from_json` never panics; a record it accepts passes `check()`,
//! is verified only with a pass verdict, and survives `to_json` → `from_json` unchanged
//! (the writer's output is always readable, and says the same thing); writing it twice
//! gives the same text.

use fwdelta_record::{ReleaseRecord, Verdict};

/// Runs the target.
pub fn run(data: &[u8]) {
    let Ok(record) = ReleaseRecord::from_json(data) else {
        return;
    };
    if let Err(e) = record.check() {
        panic!("from_json accepted a record that check() rejects: {e}");
    }
    assert_eq!(
        record.is_verified(),
        record.verification.verdict == Verdict::Pass
    );
    let text = record.to_json();
    let again = match ReleaseRecord::from_json(text.as_bytes()) {
        Ok(r) => r,
        Err(e) => panic!("the writer's output is unreadable: {e}\n{text}"),
    };
    assert!(
        again == record,
        "record changed in a write/read cycle:\n{text}"
    );
    assert_eq!(again.to_json(), text, "writing is not stable");
}
