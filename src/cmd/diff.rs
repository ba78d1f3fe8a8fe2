//! `fwdelta diff`: compute, verify and write a patch, and the release record that proves it.

use std::collections::BTreeMap;
use std::io::Write;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use fwdelta_record::{OtaFacts, PatchFacts, ReleaseRecord, Tool, Verdict, Verification};

use super::{facts, hashed_facts, map_input, now_utc, print_json, ratio, Context};
use crate::exit::Mismatch;
use crate::output::{refuse_input_as_output, AtomicOutput};
use crate::progress::Progress;

/// The patch formats `diff` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// fwdelta format v1: zstd, one forward pass, header with both MD5s (docs/FORMAT.md).
    Fwdelta,
    /// BSDIFF40, the format of bsdiff 4.x / bspatch (bzip2).
    Bsdiff40,
    /// The `bsdiff` Rust crate's raw stream (no header, no compression).
    Raw,
}

impl FormatArg {
    pub(crate) fn to_patch(self) -> fwdelta_patch::Format {
        match self {
            FormatArg::Fwdelta => fwdelta_patch::Format::Fwdelta,
            FormatArg::Bsdiff40 => fwdelta_patch::Format::Bsdiff40,
            FormatArg::Raw => fwdelta_patch::Format::Raw,
        }
    }
}

/// Arguments of `fwdelta diff`.
#[derive(Args, Debug)]
pub struct DiffArgs {
    /// The image in the field (SrcVersion).
    pub src: PathBuf,
    /// The new image (DestVersion).
    pub dest: PathBuf,
    /// Where to write the patch (written to a temporary file, renamed when verified).
    #[arg(short, long)]
    pub output: PathBuf,
    /// Patch format.
    #[arg(long, value_enum, default_value = "fwdelta")]
    pub format: FormatArg,
    /// zstd compression level for the fwdelta format (1-22).
    #[arg(long, default_value_t = fwdelta_patch::EncodeOptions::default().zstd_level)]
    pub level: i32,
    /// Largest zstd window the applier will need, as log2 bytes (10-31): the device's memory
    /// budget for decompression.
    #[arg(long, value_name = "LOG")]
    pub max_window: Option<u32>,
    /// Worker threads (default: all cores). The patch is the same for every thread count.
    #[arg(long, short = 'j')]
    pub threads: Option<NonZeroUsize>,
    /// Do not re-apply the patch to check it (the release record then says "skipped").
    #[arg(long)]
    pub no_verify: bool,
    /// Also write the release record (JSON) to this file.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// The version SRC is (recorded for registration).
    #[arg(long, value_name = "VERSION")]
    pub src_version: Option<String>,
    /// The version DEST is (recorded for registration).
    #[arg(long, value_name = "VERSION")]
    pub dest_version: Option<String>,
    /// Warn when the patch is at least this share of DEST (a full package is then better).
    #[arg(long, default_value_t = 0.5, value_name = "RATIO")]
    pub warn_ratio: f64,
    /// Print the release record as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// What [`build`] produced.
#[derive(Debug)]
pub struct Built {
    /// The release record.
    pub record: ReleaseRecord,
}

/// Diffs, encodes, verifies and writes the patch; returns the record. A failed verification
/// removes the temporary patch and returns a [`Mismatch`] error.
pub fn build(ctx: &Context, args: &DiffArgs, progress: &Progress) -> anyhow::Result<Built> {
    if args.warn_ratio.is_nan() || args.warn_ratio <= 0.0 {
        anyhow::bail!(crate::exit::BadInput(format!(
            "--warn-ratio must be a positive number, not {}",
            args.warn_ratio
        )));
    }
    refuse_input_as_output(&args.output, &[&args.src, &args.dest])?;
    if let Some(report) = &args.report {
        refuse_input_as_output(report, &[&args.src, &args.dest, &args.output])?;
    }
    let src = map_input(&args.src, "source image")?;
    let dst = map_input(&args.dest, "destination image")?;
    let mut timings = BTreeMap::new();

    let diff_opts = fwdelta_diff::DiffOptions::default().threads(args.threads);
    let mut enc_opts = fwdelta_patch::EncodeOptions::default();
    enc_opts.zstd_level = args.level;
    enc_opts.threads = args.threads.map_or(0, |n| n.get());
    if let Some(w) = args.max_window {
        enc_opts.window_log = w;
    }
    enc_opts
        .validate()
        .map_err(|e| crate::exit::BadInput(format!("invalid compression options: {e}")))?;

    let t = Instant::now();
    let run_diff = || {
        fwdelta_diff::diff_with_progress(&src, &dst, &diff_opts, progress).context("diff failed")
    };
    // Both images are hashed once, for the patch header and the record. Unless the user asked
    // for one thread, that happens on a thread of its own while the diff runs: the suffix
    // sort leaves a core idle for part of its time.
    let (controls, digests) = if enc_opts.threads == 1 {
        (run_diff()?, fwdelta_patch::Digests::of(&src, &dst, 1))
    } else {
        std::thread::scope(|s| {
            let hashing = s.spawn(|| fwdelta_patch::Digests::of(&src, &dst, 1));
            let controls = run_diff();
            let digests = hashing
                .join()
                .unwrap_or_else(|p| std::panic::resume_unwind(p));
            controls.map(|c| (c, digests))
        })?
    };
    timings.insert("diff".to_string(), t.elapsed().as_secs_f64());

    let t = Instant::now();
    progress.stage("encode", 0);
    let mut out = AtomicOutput::create(&args.output)?;
    let format = args.format.to_patch();
    fwdelta_patch::encode_with_digests(
        format, &src, &dst, &digests, &controls, &enc_opts, &mut out,
    )
    .with_context(|| format!("cannot write patch {}", args.output.display()))?;
    out.flush()
        .with_context(|| format!("cannot write patch {}", args.output.display()))?;
    timings.insert("encode".to_string(), t.elapsed().as_secs_f64());

    // Read the patch back from the temporary file: what is verified and hashed is what lands.
    let patch_bytes = std::fs::read(out.temp_path())
        .with_context(|| format!("cannot re-read patch {}", args.output.display()))?;
    let patch_facts = facts(Some(&args.output), &patch_bytes);
    let dst_facts = hashed_facts(Some(&args.dest), &dst, &digests.dst_md5);

    let verification = if args.no_verify {
        Verification {
            verdict: Verdict::Skipped,
            rebuilt_size: None,
            rebuilt_md5: None,
            reason: None,
        }
    } else {
        let t = Instant::now();
        progress.stage("verify", dst.len() as u64);
        // The source was hashed for the header a moment ago, from these bytes.
        let v = super::verify::check(&src, digests.src_md5, &patch_bytes, format, &dst_facts);
        timings.insert("verify".to_string(), t.elapsed().as_secs_f64());
        v
    };
    progress.finish();
    if verification.verdict == Verdict::Fail {
        drop(out); // removes the temporary file: no unverified patch under the requested name
        anyhow::bail!(Mismatch(format!(
            "the patch did not verify and was not written: {}",
            verification
                .reason
                .as_deref()
                .unwrap_or("rebuilt image differs")
        )));
    }
    out.commit()?;

    let mut params = BTreeMap::new();
    if format == fwdelta_patch::Format::Fwdelta {
        params.insert("zstd_level".to_string(), enc_opts.zstd_level.into());
        params.insert("window_log".to_string(), enc_opts.window_log.into());
    }
    let patch_ratio = ratio(patch_facts.size, dst_facts.size);
    let mut warnings = Vec::new();
    if patch_ratio >= args.warn_ratio {
        warnings.push(format!(
            "the patch is {:.0}% of the destination image (threshold {:.0}%): a full package (Type=0) may serve devices better",
            patch_ratio * 100.0,
            args.warn_ratio * 100.0
        ));
    }
    for w in &warnings {
        progress.note(ctx.quiet, &format!("fwdelta: warning: {w}"));
    }
    let record = ReleaseRecord {
        schema_version: fwdelta_record::SCHEMA_VERSION,
        tool: Tool {
            name: "fwdelta".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        },
        created_utc: now_utc(),
        source: hashed_facts(Some(&args.src), &src, &digests.src_md5),
        destination: dst_facts,
        ota: OtaFacts {
            type_: 1,
            firmware_sign: patch_facts.md5.clone(),
            firmware_size: patch_facts.size,
            sign_method: "MD5".into(),
            src_version: args.src_version.clone(),
            dest_version: args.dest_version.clone(),
        },
        patch: PatchFacts {
            path: patch_facts.path,
            size: patch_facts.size,
            md5: patch_facts.md5,
            format: format_name(format).into(),
            params,
        },
        ratio: patch_ratio,
        timings,
        verification,
        warnings,
    };
    if let Some(report) = &args.report {
        write_record(report, &record)?;
    }
    Ok(Built { record })
}

/// The record's name for a format.
pub fn format_name(format: fwdelta_patch::Format) -> &'static str {
    match format {
        fwdelta_patch::Format::Fwdelta => "fwdelta-v1",
        fwdelta_patch::Format::Bsdiff40 => "bsdiff40",
        _ => "raw",
    }
}

/// The format of a record's `patch.format` name.
pub fn format_from_name(name: &str) -> Option<fwdelta_patch::Format> {
    match name {
        "fwdelta-v1" => Some(fwdelta_patch::Format::Fwdelta),
        "bsdiff40" => Some(fwdelta_patch::Format::Bsdiff40),
        "raw" => Some(fwdelta_patch::Format::Raw),
        _ => None,
    }
}

/// Writes a release record atomically.
pub fn write_record(path: &Path, record: &ReleaseRecord) -> anyhow::Result<()> {
    let mut out = AtomicOutput::create(path)?;
    out.write_all(record.to_json().as_bytes())
        .with_context(|| format!("cannot write release record {}", path.display()))?;
    out.commit()
}

/// Runs `fwdelta diff`.
pub fn run(ctx: &Context, args: &DiffArgs) -> anyhow::Result<ExitCode> {
    let progress = Progress::new(ctx.quiet);
    let built = build(ctx, args, &progress)?;
    let r = &built.record;
    if args.json {
        print_json(&serde_json::to_value(r)?)?;
    } else if !ctx.quiet {
        eprintln!(
            "fwdelta: wrote {} ({} bytes, {:.2}% of {} bytes, MD5 {}), verification: {}",
            args.output.display(),
            r.patch.size,
            r.ratio * 100.0,
            r.destination.size,
            r.patch.md5,
            match r.verification.verdict {
                Verdict::Pass => "passed",
                Verdict::Fail => "FAILED",
                Verdict::Skipped => "skipped (--no-verify)",
            }
        );
    }
    Ok(ExitCode::SUCCESS)
}
