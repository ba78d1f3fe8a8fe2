//! `fwdelta release`: diff → verify → upload → register → confirm, for one delta from the
//! command line or for every delta of a release plan (in parallel, within the account's rate
//! limit, resumable, shardable across machines), with a summary that `release merge` joins
//! into one release record.

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Mutex};
use std::time::Instant;

use anyhow::Context as _;
use clap::{ArgGroup, Args, Subcommand};
use fwdelta_record::{ReleaseRecord, Tool};
use serde::{Deserialize, Serialize};

use super::diff::{build, DiffArgs, FormatArg};
use super::plan::{render, BuildSettings, Delta, Plan, Shard};
use super::register::{
    check_params, connect, params, register_and_confirm, sandbox_note, unsigned_url, OtaArgs,
    PackageArgs, Session,
};
use super::{now_utc, print_json, Context};
use crate::exit::{self, BadInput};
use crate::output::{refuse_input_as_output, AtomicOutput};
use crate::progress::Progress;

/// The summary's schema name.
pub const SUMMARY_SCHEMA: &str = "fwdelta-release-summary";
/// The summary's schema version.
pub const SUMMARY_VERSION: u32 = 1;
const STATE_SCHEMA: &str = "fwdelta-release-state";
/// The largest summary or state file read, in bytes.
const MAX_SUMMARY_BYTES: u64 = 256 << 20;
/// The FirmwareName template of one-delta releases without --name.
const DEFAULT_SINGLE_NAME: &str = "fw-{src}-to-{dest}";

/// Arguments of `fwdelta release`.
#[derive(Args, Debug)]
#[command(
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true,
    group(ArgGroup::new("single_only").multiple(true).conflicts_with("plan").args([
        "name", "desc", "module", "udi", "need_to_verify", "file_suffix", "format", "level",
        "max_window",
    ])),
    after_help = "\
One delta:   fwdelta release --src V1.bin --dest V2.bin --src-version 1.0.0 --dest-version 1.1.0 \\
                 --product-key PK [--name NAME] [--sandbox DIR]
A plan:      fwdelta release --plan PLAN.toml [--shard K/N] [--jobs N]
Merge:       fwdelta release merge SUMMARY.json... -o RELEASE.json

A plan lists products, their new image and version, and every field version's image (see
tests/data/plans/ for examples). Its deltas are sorted and dealt round-robin to shards, so N
machines running --shard 1/N .. N/N cover the plan exactly once. A re-run skips what its state
file (next to the outputs) says is registered, and the client finds packages registered by an
interrupted run, so nothing is registered twice.

Credentials come from ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET, else from
the profile file; they are never printed and never written to a file. --sandbox needs none."
)]
pub struct ReleaseArgs {
    #[command(subcommand)]
    pub action: Option<ReleaseAction>,

    /// A release plan (TOML): many deltas, one or more products. Its settings (names, format,
    /// descriptions, ...) are in the file so that every shard builds the same packages.
    #[arg(long, value_name = "PLAN.toml", conflicts_with_all = ["src", "dest", "src_version", "dest_version", "product_key"])]
    pub plan: Option<PathBuf>,
    /// Build and register only shard K of N of the plan (K from 1), e.g. from a Kubernetes
    /// Indexed Job (`--shard $((JOB_COMPLETION_INDEX+1))/N`) or a CI matrix.
    #[arg(long, value_name = "K/N", requires = "plan")]
    pub shard: Option<Shard>,

    /// The image in the field.
    #[arg(long, value_name = "FILE", required_unless_present = "plan")]
    pub src: Option<PathBuf>,
    /// The new image.
    #[arg(long, value_name = "FILE", required_unless_present = "plan")]
    pub dest: Option<PathBuf>,
    /// SrcVersion: the version SRC is.
    #[arg(long, value_name = "VERSION", required_unless_present = "plan")]
    pub src_version: Option<String>,
    /// DestVersion: the version DEST is.
    #[arg(long, value_name = "VERSION", required_unless_present = "plan")]
    pub dest_version: Option<String>,
    /// ProductKey of the product the package is for.
    #[arg(long, value_name = "PK", required_unless_present = "plan")]
    pub product_key: Option<String>,
    /// FirmwareName (default fw-SRC-to-DEST with the versions' dots as '_', e.g.
    /// fw-1_0_0-to-1_1_0).
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    #[command(flatten)]
    pub package: PackageArgs,

    /// Patch format.
    #[arg(long, value_enum)]
    pub format: Option<FormatArg>,
    /// zstd compression level for the fwdelta format (1-22) [default: 19].
    #[arg(long)]
    pub level: Option<i32>,
    /// Largest zstd window the applier will need, as log2 bytes.
    #[arg(long, value_name = "LOG")]
    pub max_window: Option<u32>,
    /// Diff worker threads per build (default: all cores). Patches are the same for every
    /// thread count.
    #[arg(long, short = 'j')]
    pub threads: Option<NonZeroUsize>,
    /// Warn when a patch is at least this share of its destination image.
    #[arg(long, default_value_t = 0.5, value_name = "RATIO")]
    pub warn_ratio: f64,

    /// Directory for patches, release records, the state file and the summary [default:
    /// fwdelta-release, or the plan's out_dir].
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
    /// Write the summary here [default: OUT_DIR/release-summary[-K-of-N].json, or
    /// OUT_DIR/NAME.summary.json for one delta].
    #[arg(long, value_name = "FILE")]
    pub summary: Option<PathBuf>,
    /// Deltas built at once (each diff already uses every core; more builds at once need
    /// more memory).
    #[arg(long, value_name = "N", default_value = "1")]
    pub build_jobs: NonZeroUsize,
    /// Deltas uploaded and registered at once (all share the account's request rate).
    #[arg(long, value_name = "N", default_value = "4")]
    pub jobs: NonZeroUsize,

    #[command(flatten)]
    pub ota: OtaArgs,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Subcommands of `fwdelta release`.
#[derive(Subcommand, Debug)]
pub enum ReleaseAction {
    /// Merge the summaries of a plan's shards into one release summary (every delta once,
    /// with its release record and FirmwareId).
    Merge(MergeArgs),
}

/// Arguments of `fwdelta release merge`.
#[derive(Args, Debug)]
pub struct MergeArgs {
    /// The shards' summaries (all N of them, or one unsharded summary).
    #[arg(required = true, value_name = "SUMMARY.json")]
    pub summaries: Vec<PathBuf>,
    /// Write the merged summary to this file.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Print the merged summary as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// What happened to one delta.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeltaStatus {
    /// Uploaded and registered by this run.
    Registered,
    /// The service already had this exact package (an earlier, interrupted run registered it):
    /// nothing was uploaded or created.
    AlreadyRegistered,
    /// The state file says an earlier run registered it: not built, not sent.
    Resumed,
    /// Failed; see `error`.
    Failed,
}

/// One delta in a summary.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeltaReport {
    /// Position in the plan's sorted delta list.
    pub index: usize,
    /// `ProductKey[/module]:src->dest`.
    pub id: String,
    /// FirmwareName.
    #[serde(rename = "FirmwareName")]
    pub firmware_name: String,
    /// ProductKey.
    #[serde(rename = "ProductKey")]
    pub product_key: String,
    /// ModuleName.
    #[serde(
        rename = "ModuleName",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub module: Option<String>,
    /// SrcVersion.
    #[serde(rename = "SrcVersion")]
    pub src_version: String,
    /// DestVersion.
    #[serde(rename = "DestVersion")]
    pub dest_version: String,
    /// What happened.
    pub status: DeltaStatus,
    /// The package id.
    #[serde(rename = "FirmwareId")]
    pub firmware_id: Option<String>,
    /// Where the package file is stored (without any signature).
    #[serde(rename = "FirmwareUrl", default)]
    pub firmware_url: Option<String>,
    /// The image in the field.
    pub source: String,
    /// The new image.
    pub destination: String,
    /// The patch file.
    pub patch: String,
    /// The release record file.
    pub record_file: String,
    /// The release record (patch size and MD5 = FirmwareSign, verification proof).
    pub record: Option<ReleaseRecord>,
    /// Whether this run built the patch (false: reused from an earlier run).
    pub built: bool,
    /// Wall-clock seconds per stage of this run (`build`, `register`).
    pub seconds: BTreeMap<String, f64>,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The exit code its failure maps to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<u8>,
}

impl DeltaReport {
    fn ok(&self) -> bool {
        self.status != DeltaStatus::Failed
    }
}

/// Counts by status.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Counts {
    /// Deltas in this summary.
    pub total: usize,
    /// Registered by this run.
    pub registered: usize,
    /// Found already registered on the service.
    pub already_registered: usize,
    /// Skipped: registered by an earlier run, per the state file.
    pub resumed: usize,
    /// Failed.
    pub failed: usize,
}

impl Counts {
    fn of(deltas: &[DeltaReport]) -> Counts {
        let n = |s| deltas.iter().filter(|d| d.status == s).count();
        Counts {
            total: deltas.len(),
            registered: n(DeltaStatus::Registered),
            already_registered: n(DeltaStatus::AlreadyRegistered),
            resumed: n(DeltaStatus::Resumed),
            failed: n(DeltaStatus::Failed),
        }
    }
}

/// A release summary: one shard's, one run's, or the merge of a plan's shards.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Summary {
    /// [`SUMMARY_SCHEMA`].
    pub schema: String,
    /// [`SUMMARY_VERSION`].
    pub schema_version: u32,
    /// The writer.
    pub tool: Tool,
    /// When it was written.
    pub created_utc: String,
    /// The plan file, as given.
    pub plan: Option<String>,
    /// MD5 of the plan file: shards of one release read the same plan.
    pub plan_md5: Option<String>,
    /// The shard this summary covers (`None`: the whole plan).
    pub shard: Option<Shard>,
    /// The summaries a merged summary was made from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub merged_from: Vec<String>,
    /// Where the packages were registered (endpoint, region, instance, sandbox directory).
    pub target: serde_json::Value,
    /// How many deltas the whole plan has.
    pub deltas_in_plan: usize,
    /// Counts by status.
    pub counts: Counts,
    /// True when every delta is registered.
    pub ok: bool,
    /// The deltas, by plan index.
    pub deltas: Vec<DeltaReport>,
}

impl Summary {
    fn first_failure_code(&self) -> Option<u8> {
        self.deltas
            .iter()
            .find(|d| !d.ok())
            .map(|d| d.exit_code.unwrap_or(exit::FAILURE))
    }

    fn exit_code(&self) -> ExitCode {
        ExitCode::from(self.first_failure_code().unwrap_or(exit::OK))
    }
}

/// Where a delta stands, as recorded in the state file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Stage {
    /// The patch and its record are written and verified.
    Built,
    /// The package is registered.
    Registered,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StateEntry {
    /// MD5 of everything that decides the package (target, names, versions, paths,
    /// settings): an entry is used only when it matches.
    fingerprint: String,
    stage: Stage,
    patch: String,
    record: String,
    #[serde(rename = "FirmwareId", default)]
    firmware_id: Option<String>,
    #[serde(rename = "FirmwareUrl", default)]
    firmware_url: Option<String>,
    updated_utc: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StateFile {
    schema: String,
    schema_version: u32,
    entries: BTreeMap<String, StateEntry>,
}

/// The state of this run: what earlier runs left (every state file of the output directory)
/// and this run's own file, rewritten atomically after each step.
#[derive(Debug)]
struct State {
    path: PathBuf,
    known: BTreeMap<String, StateEntry>,
    own: BTreeMap<String, StateEntry>,
}

impl State {
    fn load(out_dir: &Path, file_name: &str, quiet: bool) -> State {
        let path = out_dir.join(file_name);
        let mut known: BTreeMap<String, StateEntry> = BTreeMap::new();
        let mut own = BTreeMap::new();
        let mut files: Vec<PathBuf> = std::fs::read_dir(out_dir)
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .map(|e| e.path())
                    .filter(|p| {
                        p.file_name()
                            .map(|n| n.to_string_lossy())
                            .is_some_and(|n| n.starts_with("release-state") && n.ends_with(".json"))
                    })
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        for f in files {
            let parsed = read_bounded(&f).and_then(|b| {
                let s: StateFile = serde_json::from_slice(&b)?;
                anyhow::ensure!(
                    s.schema == STATE_SCHEMA && s.schema_version == 1,
                    "not a state file of this version"
                );
                Ok(s)
            });
            match parsed {
                Ok(s) => {
                    if f == path {
                        own = s.entries.clone();
                    }
                    for (k, v) in s.entries {
                        let better = known.get(&k).is_none_or(|old| {
                            old.stage == Stage::Built && v.stage == Stage::Registered
                        });
                        if better {
                            known.insert(k, v);
                        }
                    }
                }
                Err(e) if !quiet => eprintln!(
                    "fwdelta: warning: ignoring state file {}: {e:#}",
                    f.display()
                ),
                Err(_) => {}
            }
        }
        State { path, known, own }
    }

    fn record(&mut self, id: &str, entry: StateEntry) -> anyhow::Result<()> {
        self.known.insert(id.to_owned(), entry.clone());
        self.own.insert(id.to_owned(), entry);
        let file = StateFile {
            schema: STATE_SCHEMA.into(),
            schema_version: 1,
            entries: self.own.clone(),
        };
        let mut out = AtomicOutput::create(&self.path)?;
        serde_json::to_writer_pretty(&mut out, &file)?;
        out.write_all(b"\n")?;
        out.commit()
            .with_context(|| format!("cannot write state file {}", self.path.display()))
    }
}

fn read_bounded(path: &Path) -> anyhow::Result<Vec<u8>> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(MAX_SUMMARY_BYTES + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read {}", path.display()))?;
    if bytes.len() as u64 > MAX_SUMMARY_BYTES {
        anyhow::bail!(BadInput(format!(
            "{} is larger than {MAX_SUMMARY_BYTES} bytes",
            path.display()
        )));
    }
    Ok(bytes)
}

/// Runs `fwdelta release`.
pub fn run(ctx: &Context, args: &ReleaseArgs) -> anyhow::Result<ExitCode> {
    if let Some(ReleaseAction::Merge(m)) = &args.action {
        return merge(ctx, m);
    }
    if args.warn_ratio.is_nan() || args.warn_ratio <= 0.0 {
        anyhow::bail!(BadInput(format!(
            "--warn-ratio must be a positive number, not {}",
            args.warn_ratio
        )));
    }
    let single = args.plan.is_none();
    let mut plan = match &args.plan {
        Some(p) => Plan::load(p)?,
        None => single_plan(args)?,
    };
    if let Some(d) = &args.out_dir {
        plan.out_dir = d.clone();
    }
    let mine: Vec<&Delta> = plan
        .deltas
        .iter()
        .filter(|d| args.shard.is_none_or(|s| s.owns(d.index)))
        .collect();

    // Everything that can be checked locally is checked before anything is built or sent.
    for d in &mine {
        check_params(&delta_params(d, &plan, &args.ota))
            .with_context(|| format!("delta {}", d.id))?;
        for (what, p) in [("source image", &d.src), ("destination image", &d.dest)] {
            if !p.is_file() {
                anyhow::bail!(BadInput(format!(
                    "delta {}: the {what} {} is not a readable file",
                    d.id,
                    p.display()
                )));
            }
        }
    }
    let suffix = match args.shard {
        Some(s) => format!("-{}-of-{}", s.index, s.count),
        None => String::new(),
    };
    let summary_path = match (&args.summary, single) {
        (Some(p), _) => p.clone(),
        (None, true) => plan
            .out_dir
            .join(format!("{}.summary.json", plan.deltas[0].name)),
        (None, false) => plan.out_dir.join(format!("release-summary{suffix}.json")),
    };
    for d in &mine {
        refuse_input_as_output(&summary_path, &[&d.src, &d.dest])?;
    }
    let session = connect(&args.ota)?;
    if let Err(e) = std::fs::create_dir_all(&plan.out_dir) {
        session.finish();
        return Err(e).with_context(|| format!("cannot create {}", plan.out_dir.display()));
    }
    let state = State::load(
        &plan.out_dir,
        &format!("release-state{suffix}.json"),
        ctx.quiet,
    );
    let progress = Progress::new(ctx.quiet || !single);
    let runner = Runner {
        ctx,
        plan: &plan,
        session: &session,
        ota: &args.ota,
        threads: args.threads,
        warn_ratio: args.warn_ratio,
        progress: &progress,
        single,
        state: Mutex::new(state),
        finished: AtomicUsize::new(0),
        total: mine.len(),
    };
    if !single && !ctx.quiet {
        eprintln!(
            "fwdelta: release plan {}: {} deltas{}, building {} at a time, registering {} at a time",
            args.plan.as_deref().unwrap_or(Path::new("")).display(),
            mine.len(),
            args.shard
                .map(|s| format!(" in shard {s} (of {} in the plan)", plan.deltas.len()))
                .unwrap_or_default(),
            args.build_jobs,
            args.jobs
        );
    }
    let reports = runner.run_all(&mine, args.build_jobs.get(), args.jobs.get());
    let target = session.describe(&args.ota);
    let sandbox_dir = session.sandbox_dir();
    session.finish();

    let summary = Summary {
        schema: SUMMARY_SCHEMA.into(),
        schema_version: SUMMARY_VERSION,
        tool: tool(),
        created_utc: now_utc(),
        plan: plan.path.as_ref().map(|p| p.display().to_string()),
        plan_md5: plan.md5.clone(),
        shard: args.shard,
        merged_from: Vec::new(),
        target,
        deltas_in_plan: plan.deltas.len(),
        counts: Counts::of(&reports),
        ok: reports.iter().all(DeltaReport::ok),
        deltas: reports,
    };
    write_summary(&summary_path, &summary)?;
    if args.json {
        print_json(&serde_json::to_value(&summary)?)?;
    } else {
        print_table(&summary);
    }
    if !ctx.quiet {
        eprintln!("fwdelta: summary written to {}", summary_path.display());
        if let Some(dir) = sandbox_dir {
            eprintln!("{}", sandbox_note(&dir));
        }
    }
    Ok(summary.exit_code())
}

fn tool() -> Tool {
    Tool {
        name: "fwdelta".into(),
        version: env!("CARGO_PKG_VERSION").into(),
    }
}

/// The one-delta plan of a release from the command line.
fn single_plan(args: &ReleaseArgs) -> anyhow::Result<Plan> {
    let missing = || {
        BadInput("--src, --dest, --src-version, --dest-version and --product-key are required without --plan".into())
    };
    let src = args.src.clone().ok_or_else(missing)?;
    let dest = args.dest.clone().ok_or_else(missing)?;
    let src_version = args.src_version.clone().ok_or_else(missing)?;
    let dest_version = args.dest_version.clone().ok_or_else(missing)?;
    let product_key = args.product_key.clone().ok_or_else(missing)?;
    let name = match &args.name {
        Some(n) => n.clone(),
        None => render(
            DEFAULT_SINGLE_NAME,
            &[("src", &src_version), ("dest", &dest_version)],
            true,
        )
        .map_err(BadInput)?,
    };
    let module = args.package.module.clone();
    let id = match &module {
        Some(m) => format!("{product_key}/{m}:{src_version}->{dest_version}"),
        None => format!("{product_key}:{src_version}->{dest_version}"),
    };
    let mut enc = fwdelta_patch::EncodeOptions::default();
    if let Some(l) = args.level {
        enc.zstd_level = l;
    }
    if let Some(w) = args.max_window {
        enc.window_log = w;
    }
    enc.validate()
        .map_err(|e| BadInput(format!("invalid compression options: {e}")))?;
    Ok(Plan {
        path: None,
        md5: None,
        out_dir: PathBuf::from("fwdelta-release"),
        build: BuildSettings {
            format: args.format.unwrap_or(FormatArg::Fwdelta),
            level: enc.zstd_level,
            max_window: args.max_window,
        },
        need_to_verify: args.package.need_to_verify.unwrap_or(true),
        file_suffix: args
            .package
            .file_suffix
            .clone()
            .unwrap_or_else(|| "bin".into()),
        deltas: vec![Delta {
            index: 0,
            id,
            product_key,
            module,
            src_version,
            dest_version,
            src,
            dest,
            name,
            desc: args.package.desc.clone(),
            udi: args.package.udi.clone(),
        }],
    })
}

fn delta_params(d: &Delta, plan: &Plan, ota: &OtaArgs) -> fwdelta_ota::RegisterParams {
    let package = PackageArgs {
        desc: d.desc.clone(),
        module: d.module.clone(),
        udi: d.udi.clone(),
        need_to_verify: Some(plan.need_to_verify),
        file_suffix: Some(plan.file_suffix.clone()),
    };
    params(
        &d.name,
        &d.product_key,
        Some(&d.src_version),
        Some(&d.dest_version),
        &package,
        ota,
    )
}

/// A delta whose verified patch is on disk, ready to register.
#[derive(Debug)]
struct Ready<'p> {
    delta: &'p Delta,
    record: ReleaseRecord,
    patch: PathBuf,
    record_path: PathBuf,
    built: bool,
    seconds: BTreeMap<String, f64>,
    fingerprint: String,
}

#[derive(Debug)]
enum Prepared<'p> {
    Done(Box<DeltaReport>),
    Ready(Box<Ready<'p>>),
}

struct Runner<'a> {
    ctx: &'a Context,
    plan: &'a Plan,
    session: &'a Session,
    ota: &'a OtaArgs,
    threads: Option<NonZeroUsize>,
    warn_ratio: f64,
    progress: &'a Progress,
    single: bool,
    state: Mutex<State>,
    finished: AtomicUsize,
    total: usize,
}

impl<'a> Runner<'a> {
    /// Builds on `build_jobs` threads and registers on `jobs` threads, the registrations of
    /// built deltas overlapping the next builds. Returns one report per delta, in order.
    fn run_all(&self, mine: &[&'a Delta], build_jobs: usize, jobs: usize) -> Vec<DeltaReport> {
        let reports: Mutex<Vec<Option<DeltaReport>>> = Mutex::new(vec![None; mine.len()]);
        let store = |i: usize, r: DeltaReport| {
            self.announce(&r);
            reports.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(r);
        };
        let next = AtomicUsize::new(0);
        let (tx, rx) = mpsc::channel::<(usize, Ready<'a>)>();
        let rx = Mutex::new(rx);
        std::thread::scope(|s| {
            for _ in 0..build_jobs.min(mine.len()).max(1) {
                let tx = tx.clone();
                let (next, store) = (&next, &store);
                s.spawn(move || loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(delta) = mine.get(i) else { break };
                    match self.prepare(delta) {
                        Ok(Prepared::Done(r)) => store(i, *r),
                        Ok(Prepared::Ready(ready)) => {
                            if let Err(mpsc::SendError((i, ready))) = tx.send((i, *ready)) {
                                store(i, self.register(ready));
                            }
                        }
                        Err(e) => store(i, self.failed(delta, &e, BTreeMap::new(), false)),
                    }
                });
            }
            drop(tx);
            for _ in 0..jobs.min(mine.len()).max(1) {
                let (rx, store) = (&rx, &store);
                s.spawn(move || loop {
                    let msg = rx.lock().unwrap_or_else(|e| e.into_inner()).recv();
                    let Ok((i, ready)) = msg else { break };
                    store(i, self.register(ready));
                });
            }
        });
        reports
            .into_inner()
            .unwrap_or_else(|e| e.into_inner())
            .into_iter()
            .zip(mine)
            .map(|(r, d)| {
                r.unwrap_or_else(|| {
                    self.failed(
                        d,
                        &anyhow::anyhow!("internal error: no outcome"),
                        BTreeMap::new(),
                        false,
                    )
                })
            })
            .collect()
    }

    fn paths(&self, d: &Delta) -> (PathBuf, PathBuf) {
        let dir = &self.plan.out_dir;
        (
            dir.join(format!("{}.{}", d.name, self.plan.build.extension())),
            dir.join(format!("{}.json", d.name)),
        )
    }

    /// MD5 of everything that decides what package a delta becomes and where it goes.
    fn fingerprint(&self, d: &Delta) -> String {
        let canon = |p: &Path| {
            p.canonicalize()
                .unwrap_or_else(|_| p.to_path_buf())
                .display()
                .to_string()
        };
        let b = &self.plan.build;
        let v = serde_json::json!({
            "target": self.session.target,
            "id": d.id, "name": d.name, "desc": d.desc, "udi": d.udi,
            "src": canon(&d.src), "dest": canon(&d.dest),
            "format": format!("{:?}", b.format), "level": b.level, "max_window": b.max_window,
            "need_to_verify": self.plan.need_to_verify, "file_suffix": self.plan.file_suffix,
        });
        fwdelta_patch::md5_hex(&fwdelta_patch::md5_of(v.to_string().as_bytes()))
    }

    fn base_report(&self, d: &Delta) -> DeltaReport {
        let (patch, record_file) = self.paths(d);
        DeltaReport {
            index: d.index,
            id: d.id.clone(),
            firmware_name: d.name.clone(),
            product_key: d.product_key.clone(),
            module: d.module.clone(),
            src_version: d.src_version.clone(),
            dest_version: d.dest_version.clone(),
            status: DeltaStatus::Failed,
            firmware_id: None,
            firmware_url: None,
            source: d.src.display().to_string(),
            destination: d.dest.display().to_string(),
            patch: patch.display().to_string(),
            record_file: record_file.display().to_string(),
            record: None,
            built: false,
            seconds: BTreeMap::new(),
            error: None,
            exit_code: None,
        }
    }

    fn failed(
        &self,
        d: &Delta,
        e: &anyhow::Error,
        seconds: BTreeMap<String, f64>,
        built: bool,
    ) -> DeltaReport {
        DeltaReport {
            status: DeltaStatus::Failed,
            error: Some(format!("{e:#}")),
            exit_code: Some(exit::classify(e)),
            seconds,
            built,
            ..self.base_report(d)
        }
    }

    /// A patch left by an earlier run, if its record, the patch and both images still agree.
    fn reusable(&self, entry: &StateEntry, d: &Delta, record_path: &Path) -> Option<ReleaseRecord> {
        let record = super::register::read_record(record_path).ok()?;
        let (patch_path, _) = self.paths(d);
        let same = |path: &Path, md5: &str, size: u64| {
            fwdelta_ota::md5_file(path).is_ok_and(|(m, s)| s == size && m.eq_ignore_ascii_case(md5))
        };
        (entry.patch == patch_path.display().to_string()
            && record.is_verified()
            && same(&patch_path, &record.patch.md5, record.patch.size)
            && same(&d.src, &record.source.md5, record.source.size)
            && same(&d.dest, &record.destination.md5, record.destination.size))
        .then_some(record)
    }

    /// Resumes from the state file, or builds and verifies the patch.
    fn prepare(&self, d: &'a Delta) -> anyhow::Result<Prepared<'a>> {
        let fingerprint = self.fingerprint(d);
        let (patch, record_path) = self.paths(d);
        let entry = self
            .state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .known
            .get(&d.id)
            .filter(|e| e.fingerprint == fingerprint)
            .cloned();
        if let Some(entry) = entry {
            if entry.stage == Stage::Registered {
                if let Ok(record) = super::register::read_record(&record_path) {
                    if entry.patch == patch.display().to_string() {
                        self.keep_state(d, &entry)?;
                        return Ok(Prepared::Done(Box::new(DeltaReport {
                            status: DeltaStatus::Resumed,
                            firmware_id: entry.firmware_id.clone(),
                            firmware_url: entry.firmware_url.clone(),
                            record: Some(record),
                            ..self.base_report(d)
                        })));
                    }
                }
            }
            if let Some(record) = self.reusable(&entry, d, &record_path) {
                return Ok(Prepared::Ready(Box::new(Ready {
                    delta: d,
                    record,
                    patch,
                    record_path,
                    built: false,
                    seconds: BTreeMap::new(),
                    fingerprint,
                })));
            }
        }
        let t = Instant::now();
        let diff_args = DiffArgs {
            src: d.src.clone(),
            dest: d.dest.clone(),
            output: patch.clone(),
            format: self.plan.build.format,
            level: self.plan.build.level,
            max_window: self.plan.build.max_window,
            threads: self.threads,
            no_verify: false,
            report: Some(record_path.clone()),
            src_version: Some(d.src_version.clone()),
            dest_version: Some(d.dest_version.clone()),
            warn_ratio: self.warn_ratio,
            json: false,
        };
        let built = build(self.ctx, &diff_args, self.progress)
            .with_context(|| format!("cannot build {}", d.id))?;
        let mut seconds = BTreeMap::new();
        seconds.insert("build".to_string(), t.elapsed().as_secs_f64());
        let record = built.record;
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .record(
                &d.id,
                StateEntry {
                    fingerprint: fingerprint.clone(),
                    stage: Stage::Built,
                    patch: patch.display().to_string(),
                    record: record_path.display().to_string(),
                    firmware_id: None,
                    firmware_url: None,
                    updated_utc: now_utc(),
                },
            )?;
        if self.single && !self.ctx.quiet {
            self.progress.note(
                false,
                &format!(
                    "fwdelta: [1/3] built and verified {}: {} bytes ({:.2}% of {}), MD5 {}",
                    patch.display(),
                    record.patch.size,
                    record.ratio * 100.0,
                    record.destination.size,
                    record.patch.md5
                ),
            );
        }
        Ok(Prepared::Ready(Box::new(Ready {
            delta: d,
            record,
            patch,
            record_path,
            built: true,
            seconds,
            fingerprint,
        })))
    }

    /// Carries a resumed entry into this run's own state file (shards' files stay complete).
    fn keep_state(&self, d: &Delta, entry: &StateEntry) -> anyhow::Result<()> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.own.get(&d.id).map(|e| e.fingerprint.as_str()) != Some(&entry.fingerprint) {
            state.record(&d.id, entry.clone())?;
        }
        Ok(())
    }

    fn register(&self, ready: Ready<'a>) -> DeltaReport {
        let d = ready.delta;
        let mut seconds = ready.seconds.clone();
        let t = Instant::now();
        let params = delta_params(d, self.plan, self.ota);
        if self.single {
            self.progress.stage("register", 0);
        }
        let outcome =
            register_and_confirm(self.session, &ready.record, &ready.patch, &params, self.ota);
        self.progress.finish();
        seconds.insert("register".to_string(), t.elapsed().as_secs_f64());
        let registered = match outcome {
            Ok(r) => r,
            Err(e) => {
                return DeltaReport {
                    record: Some(ready.record),
                    ..self.failed(d, &e, seconds, ready.built)
                }
            }
        };
        let url = (!registered.request.firmware_url.is_empty())
            .then(|| unsigned_url(&registered.request.firmware_url));
        let saved = self.state.lock().unwrap_or_else(|e| e.into_inner()).record(
            &d.id,
            StateEntry {
                fingerprint: ready.fingerprint.clone(),
                stage: Stage::Registered,
                patch: ready.patch.display().to_string(),
                record: ready.record_path.display().to_string(),
                firmware_id: Some(registered.firmware_id.clone()),
                firmware_url: url.clone(),
                updated_utc: now_utc(),
            },
        );
        if let Err(e) = saved {
            // Registered, but a re-run will not know it from the state file (it will find
            // the package through the service instead).
            self.progress
                .note(self.ctx.quiet, &format!("fwdelta: warning: {e:#}"));
        }
        if self.single && !self.ctx.quiet {
            eprintln!(
                "fwdelta: [2/3] {} {} as FirmwareId {}",
                if registered.already_registered {
                    "found already registered:"
                } else {
                    "uploaded and registered"
                },
                d.name,
                registered.firmware_id
            );
            eprintln!(
                "fwdelta: [3/3] confirmed by QueryOTAFirmware: Type=1, {} -> {}, FirmwareSign {} = MD5 of the patch",
                d.src_version, d.dest_version, ready.record.patch.md5
            );
        }
        DeltaReport {
            status: if registered.already_registered {
                DeltaStatus::AlreadyRegistered
            } else {
                DeltaStatus::Registered
            },
            firmware_id: Some(registered.firmware_id),
            firmware_url: url,
            record: Some(ready.record),
            built: ready.built,
            seconds,
            ..self.base_report(d)
        }
    }

    fn announce(&self, r: &DeltaReport) {
        let n = self.finished.fetch_add(1, Ordering::SeqCst) + 1;
        if self.ctx.quiet || self.single {
            return;
        }
        let what = match r.status {
            DeltaStatus::Registered => {
                format!("registered as {}", r.firmware_id.as_deref().unwrap_or("?"))
            }
            DeltaStatus::AlreadyRegistered => format!(
                "already registered as {}",
                r.firmware_id.as_deref().unwrap_or("?")
            ),
            DeltaStatus::Resumed => format!(
                "registered by an earlier run as {}",
                r.firmware_id.as_deref().unwrap_or("?")
            ),
            DeltaStatus::Failed => format!("FAILED: {}", r.error.as_deref().unwrap_or("")),
        };
        eprintln!(
            "fwdelta: [{n}/{}] {} ({}): {what}",
            self.total, r.id, r.firmware_name
        );
    }
}

fn write_summary(path: &Path, summary: &Summary) -> anyhow::Result<()> {
    let mut out = AtomicOutput::create(path)?;
    serde_json::to_writer_pretty(&mut out, summary)?;
    out.write_all(b"\n")?;
    out.commit()
        .with_context(|| format!("cannot write summary {}", path.display()))
}

fn print_table(summary: &Summary) {
    println!(
        "{:<20} {:<28} {:>10} {:>8}  delta (FirmwareName)",
        "status", "FirmwareId", "bytes", "ratio"
    );
    for d in &summary.deltas {
        let status = serde_json::to_value(d.status)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let (bytes, ratio) = d
            .record
            .as_ref()
            .map(|r| (r.patch.size.to_string(), format!("{:.3}%", r.ratio * 100.0)))
            .unwrap_or_default();
        println!(
            "{:<20} {:<28} {:>10} {:>8}  {} ({})",
            status,
            d.firmware_id.as_deref().unwrap_or("-"),
            bytes,
            ratio,
            d.id,
            d.firmware_name
        );
        if let Some(e) = &d.error {
            println!("    error: {e}");
        }
    }
    let c = &summary.counts;
    println!(
        "{} deltas: {} registered, {} already registered, {} resumed, {} failed{}",
        c.total,
        c.registered,
        c.already_registered,
        c.resumed,
        c.failed,
        summary
            .shard
            .map(|s| format!(" (shard {s} of a {}-delta plan)", summary.deltas_in_plan))
            .unwrap_or_default()
    );
}

/// Reads a summary and checks its schema.
fn read_summary(path: &Path) -> anyhow::Result<Summary> {
    let bytes = read_bounded(path)?;
    let summary: Summary = serde_json::from_slice(&bytes)
        .map_err(|e| BadInput(format!("{} is not a release summary: {e}", path.display())))?;
    if summary.schema != SUMMARY_SCHEMA || summary.schema_version != SUMMARY_VERSION {
        anyhow::bail!(BadInput(format!(
            "{} is a {:?} version {} document, not a {SUMMARY_SCHEMA} version {SUMMARY_VERSION}",
            path.display(),
            summary.schema,
            summary.schema_version
        )));
    }
    for d in &summary.deltas {
        if let Some(r) = &d.record {
            r.check()
                .with_context(|| format!("{}: delta {}", path.display(), d.id))?;
        }
    }
    Ok(summary)
}

/// Merges shard summaries into one, checking they come from one plan and cover it exactly.
pub fn merge_summaries(parts: &[(PathBuf, Summary)]) -> anyhow::Result<Summary> {
    let bad = |msg: String| anyhow::Error::new(BadInput(msg));
    let (first_path, first) = parts.first().ok_or_else(|| bad("no summaries".into()))?;
    for (path, s) in parts {
        if s.plan_md5.is_none() {
            return Err(bad(format!(
                "{} is the summary of a one-delta release, not of a plan",
                path.display()
            )));
        }
        if s.plan_md5 != first.plan_md5 || s.deltas_in_plan != first.deltas_in_plan {
            return Err(bad(format!(
                "{} and {} come from different plans (plan MD5 {} and {})",
                first_path.display(),
                path.display(),
                first.plan_md5.as_deref().unwrap_or("-"),
                s.plan_md5.as_deref().unwrap_or("-")
            )));
        }
    }
    let shards: Vec<Option<Shard>> = parts.iter().map(|(_, s)| s.shard).collect();
    if shards.iter().any(Option::is_none) {
        if parts.len() != 1 {
            return Err(bad(
                "an unsharded summary covers the whole plan: merge it alone".into(),
            ));
        }
    } else {
        let count = shards[0].map_or(1, |s| s.count);
        let mut seen = vec![Vec::new(); count as usize];
        for ((path, _), s) in parts.iter().zip(&shards) {
            let s = s.expect("checked above");
            if s.count != count {
                return Err(bad(format!(
                    "{} is shard {s}, but other summaries split the plan into {count}",
                    path.display()
                )));
            }
            seen[(s.index - 1) as usize].push(path.display().to_string());
        }
        let missing: Vec<String> = (1..=count)
            .filter(|k| seen[(*k - 1) as usize].is_empty())
            .map(|k| format!("{k}/{count}"))
            .collect();
        if !missing.is_empty() {
            return Err(bad(format!(
                "the summaries of shard(s) {} are missing",
                missing.join(", ")
            )));
        }
        if let Some(dups) = seen.iter().find(|v| v.len() > 1) {
            return Err(bad(format!(
                "one shard is given twice: {}",
                dups.join(" and ")
            )));
        }
    }
    let mut deltas: Vec<DeltaReport> = parts
        .iter()
        .flat_map(|(_, s)| s.deltas.iter().cloned())
        .collect();
    deltas.sort_by_key(|d| d.index);
    let covered: Vec<usize> = deltas.iter().map(|d| d.index).collect();
    if covered != (0..first.deltas_in_plan).collect::<Vec<_>>() {
        return Err(bad(format!(
            "the summaries do not list each of the plan's {} deltas exactly once (found indexes {:?})",
            first.deltas_in_plan, covered
        )));
    }
    let targets: Vec<&serde_json::Value> = parts.iter().map(|(_, s)| &s.target).collect();
    let target = if targets.iter().all(|t| *t == targets[0]) {
        targets[0].clone()
    } else {
        serde_json::Value::Array(targets.into_iter().cloned().collect())
    };
    Ok(Summary {
        schema: SUMMARY_SCHEMA.into(),
        schema_version: SUMMARY_VERSION,
        tool: tool(),
        created_utc: now_utc(),
        plan: first.plan.clone(),
        plan_md5: first.plan_md5.clone(),
        shard: None,
        merged_from: parts.iter().map(|(p, _)| p.display().to_string()).collect(),
        target,
        deltas_in_plan: first.deltas_in_plan,
        counts: Counts::of(&deltas),
        ok: deltas.iter().all(DeltaReport::ok),
        deltas,
    })
}

/// Runs `fwdelta release merge`.
fn merge(ctx: &Context, args: &MergeArgs) -> anyhow::Result<ExitCode> {
    if let Some(out) = &args.output {
        let inputs: Vec<&Path> = args.summaries.iter().map(PathBuf::as_path).collect();
        refuse_input_as_output(out, &inputs)?;
    }
    let parts = args
        .summaries
        .iter()
        .map(|p| read_summary(p).map(|s| (p.clone(), s)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let merged = merge_summaries(&parts)?;
    if let Some(out) = &args.output {
        write_summary(out, &merged)?;
    }
    if args.json {
        print_json(&serde_json::to_value(&merged)?)?;
    } else {
        print_table(&merged);
    }
    if !ctx.quiet {
        if let Some(out) = &args.output {
            eprintln!(
                "fwdelta: merged {} summaries ({} deltas) into {}",
                parts.len(),
                merged.deltas.len(),
                out.display()
            );
        }
    }
    Ok(merged.exit_code())
}
