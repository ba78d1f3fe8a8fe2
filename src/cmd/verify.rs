//! `fwdelta verify`: re-apply a patch to its source and prove the rebuilt image has the
//! destination's MD5 and size; single packages or whole batches of release records.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use fwdelta_record::{FileFacts, ReleaseRecord, Verdict, Verification};
use rayon::prelude::*;

use super::{facts, hashed_facts, map_input, now_utc, print_json, ratio, Context};
use crate::exit::{BadInput, Mismatch};
use crate::output::refuse_input_as_output;

/// Which format a patch is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum PatchFormatArg {
    /// Recognise fwdelta v1 and BSDIFF40 by their magic.
    #[default]
    Auto,
    /// fwdelta format v1.
    Fwdelta,
    /// BSDIFF40 (bsdiff 4.x).
    Bsdiff40,
    /// The `bsdiff` crate's raw stream (has no magic: must be named).
    Raw,
}

impl PatchFormatArg {
    /// The format to decode with, detecting by magic for `Auto`.
    pub fn resolve(self, patch: &[u8]) -> Result<fwdelta_patch::Format, fwdelta_patch::PatchError> {
        match self {
            PatchFormatArg::Auto => fwdelta_patch::detect_format(patch).ok_or_else(|| {
                fwdelta_patch::PatchError::UnknownFormat {
                    magic: patch[..patch.len().min(8)].to_vec(),
                }
            }),
            PatchFormatArg::Fwdelta => Ok(fwdelta_patch::Format::Fwdelta),
            PatchFormatArg::Bsdiff40 => Ok(fwdelta_patch::Format::Bsdiff40),
            PatchFormatArg::Raw => Ok(fwdelta_patch::Format::Raw),
        }
    }
}

impl PatchFormatArg {
    /// The named format, or `None` for auto-detection.
    pub fn explicit(self) -> Option<fwdelta_patch::Format> {
        match self {
            PatchFormatArg::Auto => None,
            PatchFormatArg::Fwdelta => Some(fwdelta_patch::Format::Fwdelta),
            PatchFormatArg::Bsdiff40 => Some(fwdelta_patch::Format::Bsdiff40),
            PatchFormatArg::Raw => Some(fwdelta_patch::Format::Raw),
        }
    }
}

/// Arguments of `fwdelta verify`.
#[derive(Args, Debug)]
#[command(group = clap::ArgGroup::new("what").required(true).args(["src", "record"]))]
pub struct VerifyArgs {
    /// The source image the patch applies to.
    #[arg(requires = "patch")]
    pub src: Option<PathBuf>,
    /// The patch.
    pub patch: Option<PathBuf>,
    /// The destination image the patch must rebuild (or give --dest-md5 and --dest-size).
    #[arg(conflicts_with_all = ["dest_md5", "dest_size"])]
    pub dest: Option<PathBuf>,
    /// The destination's MD5 (hex), when the image itself is not at hand.
    #[arg(long, requires = "dest_size", value_name = "HEX")]
    pub dest_md5: Option<String>,
    /// The destination's size in bytes, with --dest-md5.
    #[arg(long, requires = "dest_md5", value_name = "BYTES")]
    pub dest_size: Option<u64>,
    /// The patch format.
    #[arg(long, value_enum, default_value = "auto")]
    pub format: PatchFormatArg,
    /// Re-verify from release records (files, or directories of *.json), in parallel.
    #[arg(long, value_name = "RECORD", num_args = 1.., conflicts_with_all = ["src", "patch", "dest", "dest_md5"])]
    pub record: Vec<PathBuf>,
    /// Worker threads for --record batches (default: all cores).
    #[arg(long, short = 'j')]
    pub threads: Option<std::num::NonZeroUsize>,
    /// Also write the release record (JSON) to this file (single verification only).
    #[arg(long, value_name = "FILE", conflicts_with = "record")]
    pub report: Option<PathBuf>,
    /// Print the result as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Re-applies `patch` to `src` and compares the rebuilt image with `expected` without keeping
/// it in memory. `src_md5` is the MD5 of `src`, which every caller has computed already (for
/// the patch header or the record): the patch's declared source MD5 is checked against it
/// rather than a second hash. Never fails: a patch that does not apply is a failed
/// verification with the reason.
pub fn check(
    src: &[u8],
    src_md5: [u8; 16],
    patch: &[u8],
    format: fwdelta_patch::Format,
    expected: &FileFacts,
) -> Verification {
    let Some(md5) = fwdelta_patch::parse_md5_hex(&expected.md5) else {
        return fail(
            None,
            format!("expected MD5 {:?} is not 32 hex digits", expected.md5),
        );
    };
    let want = fwdelta_patch::Expected {
        md5,
        size: expected.size,
    };
    let mut opts = fwdelta_patch::ApplyOptions::default();
    opts.format = Some(format);
    opts.known_src_md5 = Some(src_md5);
    match fwdelta_patch::verify(src, patch, want, &opts) {
        Ok(v) => Verification {
            verdict: if v.matches() {
                Verdict::Pass
            } else {
                Verdict::Fail
            },
            rebuilt_size: Some(v.actual_size),
            rebuilt_md5: Some(fwdelta_patch::md5_hex(&v.actual_md5)),
            reason: v.mismatch.as_ref().map(|m| m.to_string()),
        },
        Err(e) => fail(None, e.to_string()),
    }
}

fn fail(size: Option<u64>, reason: String) -> Verification {
    Verification {
        verdict: Verdict::Fail,
        rebuilt_size: size,
        rebuilt_md5: None,
        reason: Some(reason),
    }
}

/// Runs `fwdelta verify`.
pub fn run(ctx: &Context, args: &VerifyArgs) -> anyhow::Result<ExitCode> {
    if !args.record.is_empty() {
        return run_batch(ctx, args);
    }
    let (Some(src_path), Some(patch_path)) = (&args.src, &args.patch) else {
        anyhow::bail!(BadInput("verify needs SRC and PATCH, or --record".into()));
    };
    let expected = match (&args.dest, &args.dest_md5, args.dest_size) {
        (Some(dest), _, _) => facts(Some(dest), &map_input(dest, "destination image")?),
        (None, Some(md5), Some(size)) => {
            if fwdelta_patch::parse_md5_hex(md5).is_none() {
                anyhow::bail!(BadInput(format!("--dest-md5 {md5:?} is not 32 hex digits")));
            }
            FileFacts {
                path: None,
                size,
                md5: md5.to_ascii_lowercase(),
            }
        }
        _ => anyhow::bail!(BadInput(
            "verify needs the destination: DEST, or --dest-md5 with --dest-size".into()
        )),
    };
    if let Some(report) = &args.report {
        let mut inputs: Vec<&Path> = vec![src_path, patch_path];
        inputs.extend(args.dest.as_deref());
        refuse_input_as_output(report, &inputs)?;
    }
    let src = map_input(src_path, "source image")?;
    let patch = map_input(patch_path, "patch")?;
    let format = args
        .format
        .resolve(&patch)
        .with_context(|| format!("cannot read patch {}", patch_path.display()))?;
    // Hashed once: for the record and for the patch's source check.
    let src_md5 = fwdelta_patch::md5_of(&src);
    let t = Instant::now();
    let verification = check(&src, src_md5, &patch, format, &expected);
    let seconds = t.elapsed().as_secs_f64();
    let patch_facts = facts(Some(patch_path), &patch);
    let record = ReleaseRecord {
        schema_version: fwdelta_record::SCHEMA_VERSION,
        tool: fwdelta_record::Tool {
            name: "fwdelta".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        },
        created_utc: now_utc(),
        source: hashed_facts(Some(src_path), &src, &src_md5),
        ratio: ratio(patch_facts.size, expected.size),
        destination: expected,
        ota: fwdelta_record::OtaFacts {
            type_: 1,
            firmware_sign: patch_facts.md5.clone(),
            firmware_size: patch_facts.size,
            sign_method: "MD5".into(),
            src_version: None,
            dest_version: None,
        },
        patch: fwdelta_record::PatchFacts {
            path: patch_facts.path,
            size: patch_facts.size,
            md5: patch_facts.md5,
            format: super::diff::format_name(format).into(),
            params: Default::default(),
        },
        timings: [("verify".to_string(), seconds)].into_iter().collect(),
        verification,
        warnings: vec![],
    };
    if let Some(report) = &args.report {
        super::diff::write_record(report, &record)?;
    }
    if args.json {
        print_json(&serde_json::to_value(&record)?)?;
    }
    match record.verification.verdict {
        Verdict::Pass => {
            if !ctx.quiet && !args.json {
                eprintln!(
                    "fwdelta: verified: {} rebuilds {} bytes with MD5 {}",
                    patch_path.display(),
                    record.destination.size,
                    record.destination.md5
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        _ => Err(Mismatch(format!(
            "verification failed: {}",
            record.verification.reason.as_deref().unwrap_or("mismatch")
        ))
        .into()),
    }
}

/// One line of a batch summary.
#[derive(Debug, serde::Serialize)]
struct BatchRow {
    record: String,
    verdict: Verdict,
    reason: Option<String>,
    seconds: f64,
}

fn collect_records(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(p)
                .with_context(|| format!("cannot list {}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.extension().is_some_and(|x| x == "json") && f.is_file())
                .collect();
            found.sort();
            out.extend(found);
        } else {
            out.push(p.clone());
        }
    }
    if out.is_empty() {
        anyhow::bail!(BadInput("no release records found".into()));
    }
    Ok(out)
}

/// Re-verifies one record: the files it names must still have its sizes and MD5s, and the patch
/// must rebuild the destination.
fn verify_record(path: &Path) -> Verification {
    let inner = || -> anyhow::Result<Verification> {
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let record = ReleaseRecord::from_json(&bytes)?;
        let base = path.parent().unwrap_or(Path::new("."));
        let resolve = |p: &Option<String>, what: &str| -> anyhow::Result<PathBuf> {
            let p = p
                .as_deref()
                .with_context(|| format!("the record names no {what} path"))?;
            let p = Path::new(p);
            Ok(if p.is_absolute() || p.exists() {
                p.to_path_buf()
            } else {
                base.join(p)
            })
        };
        let src_path = resolve(&record.source.path, "source")?;
        let patch_path = resolve(&record.patch.path, "patch")?;
        let src = map_input(&src_path, "source image")?;
        let patch = map_input(&patch_path, "patch")?;
        let src_md5 = fwdelta_patch::md5_of(&src);
        let src_facts = hashed_facts(None, &src, &src_md5);
        if src_facts.size != record.source.size || src_facts.md5 != record.source.md5 {
            return Ok(fail(
                None,
                format!(
                    "source {} is not the one recorded (MD5 {}, recorded {})",
                    src_path.display(),
                    src_facts.md5,
                    record.source.md5
                ),
            ));
        }
        let patch_facts = facts(None, &patch);
        if patch_facts.md5 != record.patch.md5 || patch_facts.size != record.patch.size {
            return Ok(fail(
                None,
                format!(
                    "patch {} changed since the record was written (MD5 {}, recorded {})",
                    patch_path.display(),
                    patch_facts.md5,
                    record.patch.md5
                ),
            ));
        }
        let format = super::diff::format_from_name(&record.patch.format).with_context(|| {
            format!(
                "the record names an unknown patch format {:?}",
                record.patch.format
            )
        })?;
        Ok(check(&src, src_md5, &patch, format, &record.destination))
    };
    inner().unwrap_or_else(|e| fail(None, format!("{e:#}")))
}

fn run_batch(ctx: &Context, args: &VerifyArgs) -> anyhow::Result<ExitCode> {
    let records = collect_records(&args.record)?;
    let progress = crate::progress::Progress::new(ctx.quiet);
    progress.stage("verify", records.len() as u64);
    let done = AtomicU64::new(0);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.threads.map_or(0, |n| n.get()))
        .build()
        .context("cannot start worker threads")?;
    let rows: Vec<BatchRow> = pool.install(|| {
        records
            .par_iter()
            .map(|path| {
                let t = Instant::now();
                let v = verify_record(path);
                done.fetch_add(1, Ordering::Relaxed);
                progress.advance(1);
                BatchRow {
                    record: path.display().to_string(),
                    verdict: v.verdict,
                    reason: v.reason,
                    seconds: t.elapsed().as_secs_f64(),
                }
            })
            .collect()
    });
    progress.finish();
    let failed = rows.iter().filter(|r| r.verdict != Verdict::Pass).count();
    if args.json {
        print_json(&serde_json::json!({
            "verified": rows.len() - failed,
            "failed": failed,
            "results": rows,
        }))?;
    } else {
        println!("{:<6} {:>8}  record", "result", "seconds");
        for r in &rows {
            let verdict = if r.verdict == Verdict::Pass {
                "pass"
            } else {
                "FAIL"
            };
            println!("{verdict:<6} {:>8.2}  {}", r.seconds, r.record);
            if let Some(reason) = &r.reason {
                println!("{:<16}{reason}", "");
            }
        }
        println!(
            "{} of {} packages verified",
            rows.len() - failed,
            rows.len()
        );
    }
    if failed > 0 {
        return Err(Mismatch(format!(
            "{failed} of {} packages failed verification",
            rows.len()
        ))
        .into());
    }
    Ok(ExitCode::SUCCESS)
}
