//! `fwdelta-bench`: the comparison command, the generated corpus, and the Rust anchors.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};

use fwdelta_bench::compare::{self, CompareOptions, Report};
use fwdelta_bench::corpus::{self, Pair};
use fwdelta_bench::tools::{Tool, ToolEnv, ANCHORS_PY};
use fwdelta_bench::{anchor, gen};

/// The workspace root, for default paths (the binary is meant to be run from the repository).
const WORKSPACE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

/// Benchmarks fwdelta against the anchor delta tools.
#[derive(Parser, Debug)]
#[command(name = "fwdelta-bench", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run every tool on every pair; write results.json, results.md, chart.svg and
    /// chart-pairs.svg into --out.
    Compare(Box<CompareArgs>),
    /// Write the generated pairs (pathological and firmware-like) in the corpus layout.
    Gen {
        /// Output directory (gets pairs.tsv and pairs/NAME/{src,dst}.bin).
        dir: PathBuf,
        /// Source size of the largest generated pairs, MiB.
        #[arg(long, default_value_t = 16)]
        size_mib: usize,
    },
    /// Re-render results.md and the charts from a results.json.
    Render {
        /// The results.json of a comparison.
        results: PathBuf,
        /// Where to write (default: beside results.json).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Merge the results of several runs (later files win for cells they measured) and
    /// render them.
    Merge {
        /// results.json files, in order.
        #[arg(required = true, num_args = 2..)]
        results: Vec<PathBuf>,
        /// Output directory.
        #[arg(long)]
        out: PathBuf,
    },
    /// List the tools and whether each can run here.
    Tools(EnvArgs),
    /// Run one Rust anchor operation (used by `compare`, which measures it as a process).
    Anchor {
        /// bsdiff, qbsdiff or bidiff.
        name: String,
        #[command(subcommand)]
        op: AnchorOp,
    },
}

#[derive(Subcommand, Debug)]
enum AnchorOp {
    /// Write the patch from SRC to DST into PATCH.
    Diff {
        src: PathBuf,
        dst: PathBuf,
        patch: PathBuf,
    },
    /// Rebuild OUT from SRC and PATCH.
    Apply {
        src: PathBuf,
        patch: PathBuf,
        out: PathBuf,
    },
}

#[derive(clap::Args, Debug, Clone)]
struct EnvArgs {
    /// The fwdelta binary (default: `fwdelta` beside this binary, i.e. the same target dir).
    #[arg(long)]
    fwdelta: Option<PathBuf>,
    /// Python of the anchors' venv (default: bench-out/venv/bin/python in the repository).
    #[arg(long)]
    python: Option<PathBuf>,
    /// --threads for fwdelta (default: fwdelta's own, all cores).
    #[arg(long)]
    threads: Option<usize>,
}

#[derive(clap::Args, Debug)]
struct CompareArgs {
    /// A corpus directory with pairs.tsv (repeatable), e.g. one written by
    /// benches/corpus/fetch.sh.
    #[arg(long)]
    corpus: Vec<PathBuf>,
    /// Also run the generated pairs (written to --gen-dir first if absent).
    #[arg(long)]
    generated: bool,
    /// Where the generated pairs live (default: OUT/../generated).
    #[arg(long)]
    gen_dir: Option<PathBuf>,
    /// Source size of the largest generated pairs, MiB.
    #[arg(long, default_value_t = 16)]
    gen_size_mib: usize,
    /// Only these pairs (comma-separated names).
    #[arg(long, value_delimiter = ',')]
    pairs: Vec<String>,
    /// Skip these pairs (comma-separated names).
    #[arg(long, value_delimiter = ',')]
    skip_pairs: Vec<String>,
    /// Skip pairs whose source is larger than this many MiB.
    #[arg(long)]
    max_src_mib: Option<u64>,
    /// Only these tools (comma-separated; see `fwdelta-bench tools`).
    #[arg(long, value_delimiter = ',')]
    tools: Vec<String>,
    /// Leave out these tools.
    #[arg(long, value_delimiter = ',')]
    skip_tools: Vec<String>,
    /// Runs per tool and pair; the median is quoted.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Runs on pairs whose source is at least --large-mib (default: --runs).
    #[arg(long)]
    runs_large: Option<usize>,
    /// Source size, MiB, from which --runs-large applies.
    #[arg(long, default_value_t = 32)]
    large_mib: u64,
    /// Per-process timeout, seconds; a tool that exceeds it is reported as "timeout".
    #[arg(long, default_value_t = 600.0)]
    timeout: f64,
    /// Per-process timeout on the generated pairs, seconds (default: --timeout).
    #[arg(long)]
    timeout_generated: Option<f64>,
    /// Output directory.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Reuse the finished cells of an earlier results.json in --out (same pair files).
    #[arg(long)]
    resume: bool,
    /// With --resume: measure these tools again (e.g. the fwdelta variants after a change).
    #[arg(long, value_delimiter = ',')]
    rerun_tools: Vec<String>,
    /// Keep the patches under OUT/work.
    #[arg(long)]
    keep_patches: bool,
    /// A note for the report (e.g. that other work was running).
    #[arg(long)]
    note: Option<String>,
    #[command(flatten)]
    env: EnvArgs,
}

fn tool_env(a: &EnvArgs, out_dir: &Path) -> Result<ToolEnv> {
    let exe = std::env::current_exe().context("locating fwdelta-bench")?;
    let fwdelta = a
        .fwdelta
        .clone()
        .unwrap_or_else(|| exe.with_file_name("fwdelta"));
    let python = a
        .python
        .clone()
        .unwrap_or_else(|| Path::new(WORKSPACE).join("bench-out/venv/bin/python"));
    std::fs::create_dir_all(out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let anchors_py = out_dir.join("anchors.py");
    std::fs::write(&anchors_py, ANCHORS_PY).context("writing anchors.py")?;
    // Absolute paths, so that commands work from any directory.
    let abs = |p: PathBuf| std::path::absolute(&p).unwrap_or(p);
    Ok(ToolEnv {
        fwdelta: abs(fwdelta),
        python: abs(python),
        bench_exe: exe,
        anchors_py: abs(anchors_py),
        fwdelta_threads: a.threads,
    })
}

fn parse_tools(names: &[String]) -> Result<Vec<Tool>> {
    names
        .iter()
        .map(|n| {
            Tool::from_name(n).with_context(|| {
                let all: Vec<&str> = Tool::ALL.iter().map(|t| t.name()).collect();
                format!("unknown tool {n:?}; known: {}", all.join(", "))
            })
        })
        .collect()
}

fn run_compare(a: CompareArgs) -> Result<()> {
    let out = a
        .out
        .clone()
        .unwrap_or_else(|| Path::new(WORKSPACE).join("bench-out/compare"));
    if a.runs == 0 {
        bail!("--runs must be at least 1");
    }
    let runs_large = a.runs_large.unwrap_or(a.runs);
    if runs_large == 0 {
        bail!("--runs-large must be at least 1");
    }
    let timeout_generated = a.timeout_generated.unwrap_or(a.timeout);
    for t in [a.timeout, timeout_generated] {
        if !(t.is_finite() && t > 0.0) {
            bail!("timeouts must be a positive number of seconds, not {t}");
        }
    }
    let mut pairs: Vec<Pair> = Vec::new();
    for dir in &a.corpus {
        pairs.extend(corpus::read_corpus(dir)?);
    }
    if a.generated {
        let gdir = a
            .gen_dir
            .clone()
            .unwrap_or_else(|| out.join("../generated"));
        let want = a.gen_size_mib * gen::MIB;
        let existing = corpus::read_corpus(&gdir).ok().filter(|ps| {
            ps.len() == gen::GENERATED.len()
                && ps
                    .iter()
                    .any(|p| p.name == "gen-zero16m" && p.src_size == want as u64)
        });
        let generated = match existing {
            Some(ps) => ps,
            None => {
                eprintln!("writing generated pairs to {}", gdir.display());
                corpus::write_generated(&gdir, &[], want)?
            }
        };
        pairs.extend(generated);
    }
    if pairs.is_empty() {
        bail!("no pairs: give --corpus DIR (see benches/corpus/fetch.sh) and/or --generated");
    }
    for n in a.pairs.iter().chain(&a.skip_pairs) {
        if !pairs.iter().any(|p| &p.name == n) {
            bail!("no pair named {n:?}");
        }
    }
    pairs.retain(|p| a.pairs.is_empty() || a.pairs.contains(&p.name));
    pairs.retain(|p| !a.skip_pairs.contains(&p.name));
    if let Some(m) = a.max_src_mib {
        pairs.retain(|p| p.src_size <= m << 20);
    }
    let mut tools = if a.tools.is_empty() {
        Tool::ALL.to_vec()
    } else {
        parse_tools(&a.tools)?
    };
    let skip = parse_tools(&a.skip_tools)?;
    tools.retain(|t| !skip.contains(t));

    let env = tool_env(&a.env, &out)?;
    let opts = CompareOptions {
        pairs,
        tools,
        runs: a.runs,
        runs_large,
        large_bytes: a.large_mib << 20,
        timeout: Duration::from_secs_f64(a.timeout),
        timeout_generated: Duration::from_secs_f64(timeout_generated),
        out_dir: out.clone(),
        env,
        resume: a.resume,
        rerun: parse_tools(&a.rerun_tools)?,
        keep_patches: a.keep_patches,
        note: a.note.clone(),
        command_line: std::env::args().collect::<Vec<_>>().join(" "),
    };
    let report = compare::compare(&opts, &mut |line| eprintln!("{line}"))?;
    eprintln!(
        "wrote {}/results.json, results.md, chart.svg, chart-pairs.svg ({} cells)",
        out.display(),
        report.cells.len()
    );
    Ok(())
}

fn run() -> Result<()> {
    match Cli::parse().command {
        Command::Compare(a) => run_compare(*a),
        Command::Gen { dir, size_mib } => {
            let pairs = corpus::write_generated(&dir, &[], size_mib * gen::MIB)?;
            for p in pairs {
                println!("{}\t{}\t{}", p.name, p.src_size, p.dst_size);
            }
            Ok(())
        }
        Command::Render { results, out } => {
            let bytes = std::fs::read(&results)
                .with_context(|| format!("reading {}", results.display()))?;
            let report: Report = serde_json::from_slice(&bytes)
                .with_context(|| format!("parsing {}", results.display()))?;
            let dir = out.unwrap_or_else(|| {
                results
                    .parent()
                    .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
            });
            std::fs::create_dir_all(&dir)?;
            compare::write_outputs(&report, &dir)
        }
        Command::Merge { results, out } => {
            let mut merged: Option<Report> = None;
            for path in &results {
                let bytes =
                    std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
                let r: Report = serde_json::from_slice(&bytes)
                    .with_context(|| format!("parsing {}", path.display()))?;
                merged = Some(match merged {
                    None => r,
                    Some(m) => compare::merge(m, r),
                });
            }
            std::fs::create_dir_all(&out)?;
            let merged = merged.context("no results")?;
            compare::write_outputs(&merged, &out)
        }
        Command::Tools(a) => {
            let tmp = std::env::temp_dir().join(format!("fwdelta-bench-{}", std::process::id()));
            let env = tool_env(&a, &tmp)?;
            for t in Tool::ALL {
                let i = t.info(&env);
                match &i.missing_reason {
                    None => println!(
                        "{:<20} ok       {}",
                        i.name,
                        i.version
                            .as_deref()
                            .unwrap_or("")
                            .lines()
                            .next()
                            .unwrap_or("")
                    ),
                    Some(why) => println!("{:<20} MISSING  {why}", i.name),
                }
                println!(
                    "{:<20}   diff:  {}\n{:<20}   apply: {}",
                    "", i.diff_command, "", i.apply_command
                );
            }
            let _ = std::fs::remove_dir_all(&tmp);
            Ok(())
        }
        Command::Anchor { name, op } => match op {
            AnchorOp::Diff { src, dst, patch } => anchor::diff(&name, &src, &dst, &patch),
            AnchorOp::Apply { src, patch, out } => anchor::apply(&name, &src, &patch, &out),
        },
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fwdelta-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}
