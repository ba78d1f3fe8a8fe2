//! `fwdelta apply`: rebuild the new image from the source and a patch.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context as _;
use clap::Args;

use super::verify::PatchFormatArg;
use super::{map_input, print_json, Context};
use crate::output::{refuse_input_as_output, AtomicOutput};

/// Arguments of `fwdelta apply`.
#[derive(Args, Debug)]
pub struct ApplyArgs {
    /// The source image (the version in the field).
    pub src: PathBuf,
    /// The patch.
    pub patch: PathBuf,
    /// Where to write the rebuilt image (written to a temporary file, renamed when complete).
    #[arg(short, long)]
    pub output: PathBuf,
    /// The patch format.
    #[arg(long, value_enum, default_value = "auto")]
    pub format: PatchFormatArg,
    /// Print sizes, MD5 and timing as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Runs `fwdelta apply`.
pub fn run(ctx: &Context, args: &ApplyArgs) -> anyhow::Result<ExitCode> {
    refuse_input_as_output(&args.output, &[&args.src, &args.patch])?;
    let src = map_input(&args.src, "source image")?;
    let patch = map_input(&args.patch, "patch")?;
    let format = args
        .format
        .resolve(&patch)
        .with_context(|| format!("cannot read patch {}", args.patch.display()))?;
    let t = Instant::now();
    let mut out = AtomicOutput::create(&args.output)?;
    let mut hashed = fwdelta_patch::Md5Writer::new(&mut out);
    let mut opts = fwdelta_patch::ApplyOptions::default();
    opts.format = Some(format);
    fwdelta_patch::apply_slice(&src, &patch, &mut hashed, &opts)
        .with_context(|| format!("cannot apply {}", args.patch.display()))?;
    let (_, md5, size) = hashed.finish();
    out.commit()?;
    let seconds = t.elapsed().as_secs_f64();
    if args.json {
        print_json(&serde_json::json!({
            "output": args.output.display().to_string(),
            "size": size,
            "md5": fwdelta_patch::md5_hex(&md5),
            "format": super::diff::format_name(format),
            "seconds": seconds,
        }))?;
    } else if !ctx.quiet {
        eprintln!(
            "fwdelta: wrote {} ({size} bytes, MD5 {})",
            args.output.display(),
            fwdelta_patch::md5_hex(&md5)
        );
    }
    Ok(ExitCode::SUCCESS)
}
