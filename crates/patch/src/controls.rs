//! Checks on edit scripts, shared by the encoders.

use crate::{Control, PatchError};

/// Checks that `controls` describe `dst` from `src`: every add range lies inside `src`,
/// the steps cover `dst` exactly, and no cursor arithmetic overflows.
pub fn validate_controls(
    src_len: u64,
    dst_len: u64,
    controls: &[Control],
) -> Result<(), PatchError> {
    let mut s: i64 = 0;
    let mut d: u64 = 0;
    let src_len_i = i64::try_from(src_len).map_err(|_| PatchError::InvalidControls {
        index: 0,
        what: "source larger than i64::MAX".into(),
    })?;
    for (index, c) in controls.iter().enumerate() {
        let bad = |what: String| PatchError::InvalidControls { index, what };
        let covered = c
            .add_len
            .checked_add(c.extra_len)
            .ok_or_else(|| bad("add_len + extra_len overflows".into()))?;
        let end = d
            .checked_add(covered)
            .filter(|&e| e <= dst_len)
            .ok_or_else(|| {
                bad(format!(
                    "step covers destination bytes {d}..{d}+{covered}, past its end {dst_len}"
                ))
            })?;
        let add = i64::try_from(c.add_len).map_err(|_| bad("add_len above i64::MAX".into()))?;
        if c.add_len > 0 && (s < 0 || s.checked_add(add).is_none_or(|e| e > src_len_i)) {
            return Err(bad(format!(
                "add range at source offset {s} with length {} lies outside the {src_len}-byte source",
                c.add_len
            )));
        }
        s = s
            .checked_add(add)
            .and_then(|v| v.checked_add(c.seek))
            .ok_or_else(|| bad("source cursor overflows".into()))?;
        d = end;
    }
    if d != dst_len {
        return Err(PatchError::InvalidControls {
            index: controls.len(),
            what: format!("steps cover {d} destination bytes, the destination has {dst_len}"),
        });
    }
    Ok(())
}

/// Merges every step that produces no bytes into the seek of the step before it (a leading
/// empty step is kept: it moves the source cursor before the first add). The result
/// produces the same output from the same source.
pub(crate) fn merge_empty(controls: &[Control]) -> Vec<Control> {
    let mut out: Vec<Control> = Vec::with_capacity(controls.len());
    for &c in controls {
        if c.add_len == 0 && c.extra_len == 0 {
            if let Some(last) = out.last_mut() {
                if let Some(seek) = last.seek.checked_add(c.seek) {
                    last.seek = seek;
                    continue;
                }
            }
        }
        out.push(c);
    }
    out
}
