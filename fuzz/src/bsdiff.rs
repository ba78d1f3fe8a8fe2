//! BSDIFF40 patches and raw bsdiff streams built from fuzz choices, and reference appliers
//! written from the format description (bsdiff 4.x: a 32-byte header of three 8-byte
//! sign-magnitude integers, then bzip2 streams of 24-byte control records, add bytes and
//! extra bytes; the raw stream: records each followed by their add and extra bytes).

use std::io::Write;

use bzip2::write::BzEncoder;
use bzip2::Compression;

/// bsdiff's 8-byte little-endian sign-magnitude integer.
pub fn offtout(x: i64) -> [u8; 8] {
    let mut v = x.unsigned_abs();
    if x < 0 {
        v |= 1 << 63;
    }
    v.to_le_bytes()
}

/// Inverse of [`offtout`] (the negative zero reads as 0).
pub fn offtin(b: [u8; 8]) -> i64 {
    let v = u64::from_le_bytes(b);
    let mag = (v & (u64::MAX >> 1)) as i64;
    if v >> 63 == 1 {
        -mag
    } else {
        mag
    }
}

/// One control record as stored (any 8-byte values, so negative lengths can be written).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record {
    /// Add length.
    pub add: i64,
    /// Extra length.
    pub extra: i64,
    /// Seek.
    pub seek: i64,
}

impl Record {
    /// The 24 stored bytes.
    pub fn to_bytes(self) -> [u8; 24] {
        let mut r = [0u8; 24];
        r[..8].copy_from_slice(&offtout(self.add));
        r[8..16].copy_from_slice(&offtout(self.extra));
        r[16..].copy_from_slice(&offtout(self.seek));
        r
    }
}

/// bzip2 of `data` at `level`.
pub fn bz(data: &[u8], level: u32) -> Vec<u8> {
    let mut e = BzEncoder::new(Vec::new(), Compression::new(level));
    // Writing to a Vec cannot fail.
    e.write_all(data).expect("bzip2 into a Vec");
    e.finish().expect("bzip2 into a Vec")
}

/// A BSDIFF40 patch from its three decoded streams; `new_size` is what the header declares.
pub fn build_bsdiff40(new_size: i64, ctrl: &[u8], diff: &[u8], extra: &[u8]) -> Vec<u8> {
    let (c, d, e) = (bz(ctrl, 1), bz(diff, 1), bz(extra, 1));
    let mut out = b"BSDIFF40".to_vec();
    out.extend_from_slice(&offtout(c.len() as i64));
    out.extend_from_slice(&offtout(d.len() as i64));
    out.extend_from_slice(&offtout(new_size));
    out.extend_from_slice(&c);
    out.extend_from_slice(&d);
    out.extend_from_slice(&e);
    out
}

/// Applies a BSDIFF40 patch given as its decoded streams, with this project's rules on top
/// of bspatch's: an add range must lie inside the source (bspatch reads zeros there), no
/// cursor arithmetic may overflow, the diff and extra streams must be used up exactly, and
/// at most 96 unused bytes (four spare records) may follow the last control.
pub fn reference_bsdiff40(
    src: &[u8],
    new_size: i64,
    ctrl: &[u8],
    diff: &[u8],
    extra: &[u8],
    max_output_size: u64,
) -> Result<Vec<u8>, String> {
    let new_size = u64::try_from(new_size).map_err(|_| "negative size")?;
    if new_size > max_output_size {
        return Err("limit".into());
    }
    let mut out = Vec::new();
    let (mut c, mut d, mut e) = (ctrl, diff, extra);
    let mut old: i64 = 0;
    while (out.len() as u64) < new_size {
        if c.len() < 24 {
            return Err("control stream too short".into());
        }
        let int = |i: usize| offtin(c[8 * i..8 * i + 8].try_into().unwrap_or([0; 8]));
        let (add, ext, seek) = (int(0), int(1), int(2));
        c = &c[24..];
        if add < 0 || ext < 0 {
            return Err("negative length".into());
        }
        let (add, ext) = (add as u64, ext as u64);
        match add
            .checked_add(ext)
            .and_then(|n| n.checked_add(out.len() as u64))
        {
            Some(end) if end <= new_size => {}
            _ => return Err("control past the declared size".into()),
        }
        if add > 0
            && (old < 0
                || (old as u64)
                    .checked_add(add)
                    .is_none_or(|x| x > src.len() as u64))
        {
            return Err("add range outside the source".into());
        }
        if (d.len() as u64) < add {
            return Err("diff stream too short".into());
        }
        let (a, ex) = (add as usize, ext as usize);
        for k in 0..a {
            out.push(d[k].wrapping_add(src[old as usize + k]));
        }
        d = &d[a..];
        if (e.len() as u64) < ext {
            return Err("extra stream too short".into());
        }
        out.extend_from_slice(&e[..ex]);
        e = &e[ex..];
        old = old
            .checked_add(add as i64)
            .and_then(|v| v.checked_add(seek))
            .ok_or("cursor overflow")?;
    }
    if c.len() > 96 || !d.is_empty() || !e.is_empty() {
        return Err("unused stream bytes".into());
    }
    Ok(out)
}

/// One step of a raw stream with its add and extra bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawStep {
    /// Add length as stored (u64).
    pub add: u64,
    /// Extra length as stored (u64).
    pub extra: u64,
    /// Seek as stored (sign-magnitude).
    pub seek: i64,
    /// The bytes that follow the record (add bytes then extra bytes, as many as there are).
    pub data: Vec<u8>,
}

/// The raw stream of `steps`.
pub fn build_raw(steps: &[RawStep]) -> Vec<u8> {
    let mut out = Vec::new();
    for s in steps {
        out.extend_from_slice(&s.add.to_le_bytes());
        out.extend_from_slice(&s.extra.to_le_bytes());
        out.extend_from_slice(&offtout(s.seek));
        out.extend_from_slice(&s.data);
    }
    out
}

/// Applies a raw stream the naive way: records until the stream ends; the source cursor
/// must stay in `0..=src.len()` (the `bsdiff` crate's rule), the output within
/// `max_output_size`.
pub fn reference_raw(src: &[u8], patch: &[u8], max_output_size: u64) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let mut p = patch;
    let mut old: u64 = 0;
    while !p.is_empty() {
        if p.len() < 24 {
            return Err("truncated record".into());
        }
        let word = |i: usize| -> [u8; 8] { p[8 * i..8 * i + 8].try_into().unwrap_or([0; 8]) };
        let add = u64::from_le_bytes(word(0));
        let ext = u64::from_le_bytes(word(1));
        let seek = offtin(word(2));
        p = &p[24..];
        if add
            .checked_add(ext)
            .and_then(|n| n.checked_add(out.len() as u64))
            .is_none_or(|end| end > max_output_size)
        {
            return Err("limit".into());
        }
        if old > src.len() as u64 || add > src.len() as u64 - old {
            return Err("add range outside the source".into());
        }
        if (p.len() as u64) < add {
            return Err("truncated add bytes".into());
        }
        let a = add as usize;
        for k in 0..a {
            out.push(p[k].wrapping_add(src[old as usize + k]));
        }
        p = &p[a..];
        if (p.len() as u64) < ext {
            return Err("truncated extra bytes".into());
        }
        out.extend_from_slice(&p[..ext as usize]);
        p = &p[ext as usize..];
        let next = i64::try_from(old + add)
            .ok()
            .and_then(|x| x.checked_add(seek))
            .ok_or("cursor overflow")?;
        old = u64::try_from(next).map_err(|_| "negative cursor")?;
    }
    Ok(out)
}
