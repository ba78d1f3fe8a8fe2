//! `fwdelta info`: what a patch declares.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;

use super::{map_input, print_json, Context};

/// Arguments of `fwdelta info`.
#[derive(Args, Debug)]
pub struct InfoArgs {
    /// The patch.
    pub patch: PathBuf,
    /// The patch format (raw streams have no magic and must be named).
    #[arg(long, value_enum, default_value = "auto")]
    pub format: super::verify::PatchFormatArg,
    /// Print as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Runs `fwdelta info`.
pub fn run(_ctx: &Context, args: &InfoArgs) -> anyhow::Result<ExitCode> {
    let patch = map_input(&args.patch, "patch")?;
    let info = fwdelta_patch::read_info(&patch, args.format.explicit())
        .with_context(|| format!("cannot read patch {}", args.patch.display()))?;
    let md5 = fwdelta_patch::md5_hex(&fwdelta_patch::md5_of(&patch));
    let mut value = info_json(&info);
    value["path"] = args.patch.display().to_string().into();
    value["patch_size"] = (patch.len() as u64).into();
    value["patch_md5"] = md5.into();
    if args.json {
        print_json(&value)?;
    } else {
        let obj = value.as_object().expect("info is an object");
        for (k, v) in obj {
            match v {
                serde_json::Value::String(s) => println!("{k:<18} {s}"),
                other => println!("{k:<18} {other}"),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn info_json(info: &fwdelta_patch::PatchInfo) -> serde_json::Value {
    let hex = |m: &Option<[u8; 16]>| m.as_ref().map(fwdelta_patch::md5_hex);
    let mut v = serde_json::json!({
        "format": super::diff::format_name(info.format),
        "source_size": info.src_size,
        "source_md5": hex(&info.src_md5),
        "destination_size": info.dst_size,
        "destination_md5": hex(&info.dst_md5),
    });
    if let Some(h) = &info.v1_header {
        v["format_version"] = h.version.into();
        v["zstd_level"] = h.zstd_level.into();
        v["window_log"] = h.window_log.into();
        v["block_size"] = h.block_size.into();
        v["zero_runs"] = h.zero_runs().into();
    }
    if let Some(body) = &info.v1_body {
        v["blocks"] = body.blocks.into();
        v["grouped_blocks"] = body.grouped_blocks.into();
        v["block_header_bytes"] = body.block_header_bytes.into();
        // Decoded and compressed bytes per stream; "add" counts the add bytes the patch
        // stands for, and with zero runs its compressed size covers both of their chunks.
        let stream = |k: usize| serde_json::json!({"raw": body.raw_sizes[k], "compressed": body.compressed_sizes[k]});
        v["streams"] = serde_json::json!({
            "control": stream(0),
            "add": stream(1),
            "extra": stream(2),
        });
    }
    if let Some([ctrl, diff, extra]) = info.bsdiff40_streams {
        v["bsdiff40_streams"] = serde_json::json!({"control": ctrl, "diff": diff, "extra": extra});
    }
    if let Some(n) = info.raw_controls {
        v["raw_controls"] = n.into();
    }
    v
}
