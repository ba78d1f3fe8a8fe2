//! `fwdelta demo`: the main job on a generated firmware-like pair, end to end.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;

use super::diff::{build, DiffArgs, FormatArg};
use super::{print_json, Context};
use crate::output::AtomicOutput;
use crate::progress::Progress;

/// Arguments of `fwdelta demo`.
#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Directory for the sample images, patches and release records.
    #[arg(long, default_value = "fwdelta-demo")]
    pub dir: PathBuf,
    /// Size of each sample image in bytes.
    #[arg(long, default_value_t = 8 << 20)]
    pub size: usize,
    /// Seed of the sample generator.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Runs `fwdelta demo`.
pub fn run(ctx: &Context, args: &DemoArgs) -> anyhow::Result<ExitCode> {
    if args.size < 4096 {
        anyhow::bail!(crate::exit::BadInput("--size must be at least 4096".into()));
    }
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("cannot create {}", args.dir.display()))?;
    let (v1, v2) = crate::sample::firmware_pair(args.seed, args.size);
    let src = args.dir.join("fw-1.0.0.bin");
    let dest = args.dir.join("fw-1.1.0.bin");
    for (path, bytes) in [(&src, &v1), (&dest, &v2)] {
        let mut out = AtomicOutput::create(path)?;
        out.write_all(bytes)?;
        out.commit()?;
    }
    let progress = Progress::new(ctx.quiet);
    let mut rows = Vec::new();
    for (format, ext) in [
        (FormatArg::Fwdelta, "fwd"),
        (FormatArg::Bsdiff40, "bsdiff40"),
    ] {
        let output = args.dir.join(format!("fw-1.0.0-to-1.1.0.{ext}"));
        let report = args.dir.join(format!("fw-1.0.0-to-1.1.0.{ext}.json"));
        let diff_args = DiffArgs {
            src: src.clone(),
            dest: dest.clone(),
            output: output.clone(),
            format,
            level: fwdelta_patch::EncodeOptions::default().zstd_level,
            max_window: None,
            threads: None,
            no_verify: false,
            report: Some(report.clone()),
            src_version: Some("1.0.0".into()),
            dest_version: Some("1.1.0".into()),
            warn_ratio: 0.5,
            json: false,
        };
        let built = build(ctx, &diff_args, &progress)?;
        let r = built.record;
        rows.push(serde_json::json!({
            "format": r.patch.format,
            "patch": output.display().to_string(),
            "record": report.display().to_string(),
            "patch_bytes": r.patch.size,
            "ratio": r.ratio,
            "diff_seconds": r.timings.get("diff"),
            "verification": r.verification.verdict,
            "FirmwareSign": r.ota.firmware_sign,
        }));
    }
    if args.json {
        print_json(&serde_json::json!({
            "source": src.display().to_string(),
            "destination": dest.display().to_string(),
            "image_bytes": args.size,
            "patches": rows,
        }))?;
    } else {
        println!(
            "sample pair: {} -> {} ({} bytes each)",
            src.display(),
            dest.display(),
            args.size
        );
        println!(
            "{:<12} {:>12} {:>8} {:>8}  verified  patch",
            "format", "bytes", "ratio", "diff s"
        );
        for r in &rows {
            println!(
                "{:<12} {:>12} {:>7.3}% {:>8.2}  {:<8}  {}",
                r["format"].as_str().unwrap_or(""),
                r["patch_bytes"],
                r["ratio"].as_f64().unwrap_or(0.0) * 100.0,
                r["diff_seconds"].as_f64().unwrap_or(0.0),
                r["verification"].as_str().unwrap_or(""),
                r["patch"].as_str().unwrap_or("")
            );
        }
        println!("release records (what `fwdelta register` reads) are beside each patch.");
    }
    Ok(ExitCode::SUCCESS)
}
