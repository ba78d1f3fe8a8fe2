//! `apply_fwdelta`: an arbitrary fwdelta v1 patch applied to an arbitrary source.
//!
//! Input: `[mode u8] [drive u8 u16] [src_len u16] [src] [rest]`. `mode % 3` picks how `rest`
//! becomes a patch:
//! - 0: as is (mostly rejected by the header checks: magic, version, checksum);
//! - 1: its first 76 bytes get a right magic, version, checksum and source facts
//!   ([`fix_header`](crate::v1::fix_header)), so arbitrary block headers and zstd chunks
//!   reach the block parser (the seeds are real patches in this form);
//! - 2: a structured description (see [`structured`]) of blocks whose three streams are
//!   compressed here, checked against the reference applier ([`crate::v1::reference_apply`]):
//!   the applier must rebuild exactly what the reference does, and fail exactly when it fails.
//!
//! Every mode then runs [`check_apply`](super::common::check_apply): no panic, a typed
//! error or a summary matching the bytes written, never a byte past the declared size, heap
//! within three validated blocks, all entry points agreeing.

use fwdelta_patch::Control;

use super::common::{check_apply, compare_with_reference, options, Drive, MAX_OUTPUT};
use crate::input::Input;
use crate::v1::{
    build, fix_header, put_control, reference_apply, Block, Header, Limits, StreamOpts,
};

/// The limits the reference applies (those of [`options`]).
pub fn limits() -> Limits {
    Limits {
        max_window_log: super::common::MAX_WINDOW_LOG,
        max_block_size: super::common::MAX_BLOCK,
        max_output_size: MAX_OUTPUT,
    }
}

/// Runs the target.
pub fn run(data: &[u8]) {
    let mut inp = Input::new(data);
    let mode = inp.u8();
    let drive = Drive::read(&mut inp);
    let src_len = usize::from(inp.u16());
    let src = inp.bytes(src_len).to_vec();
    let opts = options(None);
    match mode % 3 {
        0 => {
            check_apply(&src, inp.rest(), &opts, drive);
        }
        1 => {
            let patch = fix_header(inp.rest(), &src);
            check_apply(&src, &patch, &opts, drive);
        }
        _ => {
            let (header, blocks, so) = structured(&mut inp, &src);
            let patch = build(&header, &blocks, so).expect("zstd into memory");
            let reference = reference_apply(&src, &header, &blocks, limits()).and_then(|out| {
                match crate::md5(&out) == header.dst_md5 {
                    true => Ok(out),
                    false => Err("destination MD5".into()),
                }
            });
            let outcome = check_apply(&src, &patch, &opts, drive);
            compare_with_reference(&outcome, &reference);
        }
    }
}

/// One control from fuzz choices: small lengths and seeks mostly, anything sometimes.
pub fn control(inp: &mut Input) -> Control {
    let tag = inp.u8();
    let add_len = if tag & 1 != 0 {
        u64::from(inp.u16() % 8192)
    } else {
        u64::from(inp.u8())
    };
    let extra_len = if tag & 2 != 0 {
        u64::from(inp.u16() % 2048)
    } else {
        u64::from(inp.u8() % 32)
    };
    let seek = match tag >> 5 {
        0 => inp.u64() as i64,
        1 => -(i64::from(inp.u16())),
        _ => i64::from(inp.u8() as i8),
    };
    if tag & 4 != 0 {
        // An unconstrained length now and then.
        return Control {
            add_len: inp.u64(),
            extra_len,
            seek,
        };
    }
    Control {
        add_len,
        extra_len,
        seek,
    }
}

/// Reads a structured patch: header choices, then up to 6 blocks of controls, add bytes and
/// extra bytes, with optional inconsistencies. The destination MD5 is that of what the
/// reference rebuilds (unless a choice spoils it), so a consistent description must apply.
///
/// Layout: `[hflags u8] [window u8] [block u8] [nblocks u8]`, then per block
/// `[bflags u8] [ncontrols u8] [controls] [add bytes] [extra bytes]` (add and extra bytes
/// as many as the controls use; missing input reads as zeros) and, in a zero-run patch,
/// `[rflags u8]`; then the raw window/block/size values that `hflags` asks for. `block`
/// bits 0-1 pick the block size, bit 2 a zero-run body (header flag 1); `rflags` spoils
/// a zero-run block: bit 0 declares one more run byte, bit 1 replaces the runs with bytes
/// from the input, bit 2 appends an empty pair (valid), bit 3 drops a nonzero byte.
pub fn structured(inp: &mut Input, src: &[u8]) -> (Header, Vec<Block>, StreamOpts) {
    let hflags = inp.u8();
    let window_log = 10 + inp.u8() % 13;
    let block_sel = inp.u8();
    let block_size = 4096u32 << (block_sel % 4);
    let zero_runs = block_sel & 4 != 0;
    let mut header = Header::for_source(src, window_log, block_size);
    if zero_runs {
        header.flags = 1;
    }
    let mut so = StreamOpts {
        level: 1,
        window_log: u32::from(window_log),
        checksum: hflags & 1 != 0,
        pledge: hflags & 2 != 0,
    };
    let nblocks = usize::from(inp.u8() % 7);
    let mut blocks = Vec::with_capacity(nblocks);
    for _ in 0..nblocks {
        let bflags = inp.u8();
        let n = usize::from(inp.u8() % 12);
        let mut ctrl = Vec::new();
        let (mut adds_n, mut extras_n) = (0u64, 0u64);
        if bflags & 4 != 0 {
            // Arbitrary control bytes.
            ctrl = inp.chunk().to_vec();
            adds_n = u64::from(inp.u16() % 4096);
            extras_n = u64::from(inp.u8());
        } else {
            for _ in 0..n {
                let c = control(inp);
                put_control(&mut ctrl, c.add_len, c.extra_len, c.seek);
                adds_n = adds_n.saturating_add(c.add_len);
                extras_n += c.extra_len;
            }
        }
        // Junk past what the controls use.
        if bflags & 0x40 != 0 {
            adds_n = adds_n.saturating_add(1);
        }
        // Never materialise more than the output limit.
        let adds_n = adds_n.min(MAX_OUTPUT) as usize;
        let extras_n = extras_n.min(MAX_OUTPUT) as usize;
        let adds = inp.bytes_padded(adds_n.min(1 << 20));
        let extras = inp.bytes_padded(extras_n.min(1 << 20));
        let order = match bflags & 3 {
            0 | 1 => u64::from(bflags & 1),
            2 => 1,
            _ => 2 + u64::from(inp.u8()),
        };
        let mut b = Block::consistent(order, ctrl, adds, extras);
        if bflags & 8 != 0 {
            b.span += 1;
        }
        if bflags & 0x10 != 0 {
            b.ctrl_len += 1;
        }
        if bflags & 0x20 != 0 {
            b.add_len = b.add_len.wrapping_sub(1);
        }
        let nstreams = if zero_runs {
            b.split_zero_runs();
            let rflags = inp.u8();
            if rflags & 1 != 0 {
                b.runs_len += 1;
            }
            if rflags & 2 != 0 {
                b.runs = inp.chunk().to_vec();
                b.runs_len = b.runs.len() as u64;
            }
            if rflags & 4 != 0 {
                b.runs.extend([0, 0]);
                b.runs_len += 2;
            }
            if rflags & 8 != 0 {
                b.adds.pop();
            }
            4
        } else {
            3
        };
        if bflags & 0x80 != 0 {
            b.zlen_bump[usize::from(inp.u8()) % nstreams] = 1;
        }
        blocks.push(b);
    }
    header.dst_size = blocks
        .iter()
        .map(|b| b.span)
        .fold(0u64, u64::saturating_add);
    if hflags & 4 != 0 {
        header.dst_size = header
            .dst_size
            .wrapping_add(u64::from(inp.u8() as i8 as u8));
    }
    if hflags & 8 != 0 {
        header.window_log = inp.u8();
        // The frames never need a larger window than the header declares (else whether
        // zstd refuses them depends on its frame layout, which the reference cannot know).
        so.window_log = so.window_log.min(u32::from(header.window_log).max(10));
    }
    if hflags & 0x10 != 0 {
        header.block_size = inp.u32();
    }
    if hflags & 0x20 != 0 {
        header.flags = inp.u16();
    }
    if hflags & 0x40 != 0 {
        header.src_md5[0] ^= 1;
    }
    // The destination MD5: what the reference rebuilds, unless spoiled on purpose.
    if let Ok(out) = reference_apply(src, &header, &blocks, limits()) {
        header.dst_md5 = crate::md5(&out);
    }
    if hflags & 0x80 != 0 {
        header.dst_md5[15] ^= 0x80;
    }
    (header, blocks, so)
}
