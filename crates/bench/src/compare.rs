//! The comparison: every tool on every pair, several runs, medians, round-trip checks; the
//! results as JSON (the data), Markdown (the table) and SVG (the chart).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::corpus::{file_md5, Pair, PairKind};
use crate::measure::{Measurement, Outcome, Runner};
use crate::tools::{Tool, ToolEnv, ToolInfo};
use crate::{chart, report};

/// Version of the JSON layout.
pub const SCHEMA: u32 = 1;

/// What happened to one tool on one pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Diff and apply succeeded in every run and the output was the destination, bit for bit.
    Ok,
    /// The tool is not installed here.
    Missing,
    /// The diff was killed at the timeout.
    Timeout,
    /// The diff failed.
    DiffFailed,
    /// The apply failed.
    ApplyFailed,
    /// The apply was killed at the timeout.
    ApplyTimeout,
    /// The apply succeeded but its output is not the destination.
    Mismatch,
}

impl Status {
    /// How the status reads in tables.
    pub fn label(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Missing => "missing",
            Status::Timeout => "timeout",
            Status::DiffFailed => "diff failed",
            Status::ApplyFailed => "apply failed",
            Status::ApplyTimeout => "apply timeout",
            Status::Mismatch => "MISMATCH",
        }
    }
}

/// One tool on one pair.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cell {
    /// The pair's name.
    pub pair: String,
    /// The tool's name.
    pub tool: String,
    /// The verdict.
    pub status: Status,
    /// Why it failed, when it did.
    pub message: Option<String>,
    /// Patch size in bytes (first run).
    pub patch_bytes: Option<u64>,
    /// Whether the patch size differed between runs.
    pub patch_bytes_varied: bool,
    /// Patch bytes / destination bytes.
    pub ratio: Option<f64>,
    /// Median wall seconds of the diff runs.
    pub diff_secs: Option<f64>,
    /// Median peak RSS of the diff runs, KiB.
    pub diff_rss_kib: Option<u64>,
    /// Median wall seconds of the apply runs.
    pub apply_secs: Option<f64>,
    /// Median peak RSS of the apply runs, KiB.
    pub apply_rss_kib: Option<u64>,
    /// Whether every apply rebuilt the destination exactly (MD5 and size).
    pub round_trip_exact: Option<bool>,
    /// Every diff run.
    pub diff_runs: Vec<Measurement>,
    /// Every apply run.
    pub apply_runs: Vec<Measurement>,
}

impl Cell {
    fn new(pair: &str, tool: Tool, status: Status) -> Cell {
        Cell {
            pair: pair.to_string(),
            tool: tool.name().to_string(),
            status,
            message: None,
            patch_bytes: None,
            patch_bytes_varied: false,
            ratio: None,
            diff_secs: None,
            diff_rss_kib: None,
            apply_secs: None,
            apply_rss_kib: None,
            round_trip_exact: None,
            diff_runs: Vec::new(),
            apply_runs: Vec::new(),
        }
    }
}

/// The machine the run was made on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    /// CPU model name.
    pub cpu: String,
    /// Logical CPUs available to this process.
    pub cores: usize,
    /// Total memory, KiB.
    pub mem_total_kib: u64,
    /// Kernel release.
    pub kernel: String,
    /// `/proc/loadavg` when the run started.
    pub load_before: String,
    /// `/proc/loadavg` when the run ended.
    pub load_after: Option<String>,
    /// How peak RSS was measured.
    pub rss_source: String,
}

impl Machine {
    /// Reads the machine's description from `/proc`.
    pub fn detect(runner: &Runner) -> Machine {
        let read = |p: &str| fs::read_to_string(p).unwrap_or_default();
        let cpu = read("/proc/cpuinfo")
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split(':').nth(1))
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|| "unknown".into());
        let mem_total_kib = read("/proc/meminfo")
            .lines()
            .find(|l| l.starts_with("MemTotal:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        Machine {
            cpu,
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            mem_total_kib,
            kernel: read("/proc/sys/kernel/osrelease").trim().to_string(),
            load_before: read("/proc/loadavg").trim().to_string(),
            load_after: None,
            rss_source: if runner.measures_rss() {
                "ru_maxrss of each tool process, via GNU time %M".into()
            } else {
                "not measured (/usr/bin/time missing)".into()
            },
        }
    }
}

/// Everything a comparison run produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// [`SCHEMA`].
    pub schema: u32,
    /// Unix time the run started.
    pub started_unix: u64,
    /// Unix time the run finished (`None` while it runs).
    pub finished_unix: Option<u64>,
    /// The machine.
    pub machine: Machine,
    /// A free-form note (e.g. "measured while other builds ran").
    pub note: Option<String>,
    /// Runs per tool and pair (the median is quoted).
    pub runs: usize,
    /// Runs per tool on pairs whose source is at least `large_bytes`.
    #[serde(default)]
    pub runs_large: Option<usize>,
    /// Source size from which a pair counts as large.
    #[serde(default)]
    pub large_bytes: Option<u64>,
    /// Per-process timeout, seconds.
    pub timeout_secs: f64,
    /// Per-process timeout on generated pairs, seconds.
    #[serde(default)]
    pub timeout_generated_secs: Option<f64>,
    /// The command line that produced this report.
    pub command_line: String,
    /// The tools, in column order.
    pub tools: Vec<ToolInfo>,
    /// The pairs, in row order.
    pub pairs: Vec<Pair>,
    /// One cell per pair and tool.
    pub cells: Vec<Cell>,
}

impl Report {
    /// The cell of `pair` and `tool`.
    pub fn cell(&self, pair: &str, tool: &str) -> Option<&Cell> {
        self.cells.iter().find(|c| c.pair == pair && c.tool == tool)
    }
}

/// Merges the results of two runs on the same machine (e.g. the anchors, and fwdelta
/// measured later): pairs and tools are united (tools in [`Tool::ALL`] order), and a cell of
/// `other` replaces the same cell of `base` unless it is [`Status::Missing`].
pub fn merge(base: Report, other: Report) -> Report {
    let mut out = base;
    for p in other.pairs {
        if !out.pairs.iter().any(|q| q.name == p.name) {
            out.pairs.push(p);
        }
    }
    for t in other.tools {
        match out.tools.iter_mut().find(|u| u.name == t.name) {
            Some(u) if !u.available => *u = t,
            Some(_) => {}
            None => out.tools.push(t),
        }
    }
    let rank = |name: &str| {
        Tool::from_name(name)
            .and_then(|t| Tool::ALL.iter().position(|x| *x == t))
            .unwrap_or(usize::MAX)
    };
    out.tools.sort_by_key(|t| rank(&t.name));
    for c in other.cells {
        match out
            .cells
            .iter_mut()
            .find(|d| d.pair == c.pair && d.tool == c.tool)
        {
            Some(d) if c.status != Status::Missing => *d = c,
            Some(_) => {}
            None => out.cells.push(c),
        }
    }
    out.finished_unix = match (out.finished_unix, other.finished_unix) {
        (Some(a), Some(b)) => Some(a.max(b)),
        _ => None,
    };
    if other.machine.load_after.is_some() {
        out.machine.load_after = other.machine.load_after;
    }
    out.note = match (out.note, other.note) {
        (Some(a), Some(b)) if a != b => Some(format!("{a} {b}")),
        (a, b) => a.or(b),
    };
    if out.command_line != other.command_line {
        out.command_line = format!("{}` and `{}", out.command_line, other.command_line);
    }
    out
}

/// Options of [`compare`].
#[derive(Debug, Clone)]
pub struct CompareOptions {
    /// The pairs to run, in order.
    pub pairs: Vec<Pair>,
    /// The tools to run, in column order.
    pub tools: Vec<Tool>,
    /// Runs per tool and pair (at least 1; the median is quoted).
    pub runs: usize,
    /// Runs for pairs whose source is at least `large_bytes` (at least 1).
    pub runs_large: usize,
    /// Source size from which a pair counts as large.
    pub large_bytes: u64,
    /// Per-process timeout.
    pub timeout: Duration,
    /// Per-process timeout on generated pairs (pathological inputs that make some tools
    /// run for many minutes).
    pub timeout_generated: Duration,
    /// Where results, scratch files and the chart go.
    pub out_dir: PathBuf,
    /// Where the tools are.
    pub env: ToolEnv,
    /// Reuse finished cells from an earlier `results.json` in `out_dir`.
    pub resume: bool,
    /// With `resume`: tools whose cells are measured again all the same.
    pub rerun: Vec<Tool>,
    /// Keep patches under `out_dir/work`.
    pub keep_patches: bool,
    /// A note for the report.
    pub note: Option<String>,
    /// The command line, for the report.
    pub command_line: String,
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The median of `v` (the mean of the middle two for an even count); `None` when empty.
pub fn median(v: &[f64]) -> Option<f64> {
    let mut s: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if s.is_empty() {
        return None;
    }
    s.sort_by(f64::total_cmp);
    let m = s.len() / 2;
    Some(if s.len() % 2 == 1 {
        s[m]
    } else {
        (s[m - 1] + s[m]) / 2.0
    })
}

fn median_u64(v: &[u64]) -> Option<u64> {
    let f: Vec<f64> = v.iter().map(|&x| x as f64).collect();
    median(&f).map(|m| m.round() as u64)
}

/// Writes `bytes` to `path` through a temporary file and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    fs::write(&tmp, bytes)?;
    fs::rename(&tmp, path)
}

/// Writes `results.json`, `results.md` and the charts.
pub fn write_outputs(report: &Report, out_dir: &Path) -> Result<()> {
    let json = serde_json::to_vec_pretty(report)?;
    write_atomic(&out_dir.join("results.json"), &json)?;
    write_atomic(
        &out_dir.join("results.md"),
        report::markdown(report).as_bytes(),
    )?;
    chart::write_charts(report, out_dir)?;
    Ok(())
}

fn run_cell(
    runner: &Runner,
    opts: &CompareOptions,
    pair: &Pair,
    dst_md5: &str,
    tool: Tool,
    log: &mut dyn FnMut(&str),
) -> Result<Cell> {
    let mut cell = Cell::new(&pair.name, tool, Status::Ok);
    let work = opts.out_dir.join("work").join(&pair.name).join(tool.name());
    fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;
    let patch = work.join("patch");
    let out = work.join("out");
    let diff_argv = tool.diff_command(&opts.env, &pair.src, &pair.dst, pair.src_size, &patch);
    let apply_argv = tool.apply_command(&opts.env, &pair.src, &patch, &out);

    let runs = if pair.src_size >= opts.large_bytes {
        opts.runs_large
    } else {
        opts.runs
    };
    let timeout = match pair.kind {
        PairKind::Generated => opts.timeout_generated,
        PairKind::Firmware => opts.timeout,
    };
    let mut sizes = Vec::new();
    for run in 0..runs {
        let _ = fs::remove_file(&patch);
        let m = runner.run(&diff_argv, timeout, &work)?;
        log(&format!(
            "  {:<20} diff  run {}: {} {:.3}s {} KiB",
            tool.name(),
            run + 1,
            short(&m.outcome),
            m.wall_secs,
            m.max_rss_kib.unwrap_or(0)
        ));
        let outcome = m.outcome.clone();
        cell.diff_runs.push(m);
        match outcome {
            Outcome::Ok => {}
            Outcome::Timeout { .. } => {
                cell.status = Status::Timeout;
                break;
            }
            Outcome::Failed { message, .. } => {
                cell.status = Status::DiffFailed;
                cell.message = Some(message);
                break;
            }
        }
        match fs::metadata(&patch) {
            Ok(md) => sizes.push(md.len()),
            Err(_) => {
                cell.status = Status::DiffFailed;
                cell.message = Some("exited 0 but wrote no patch".into());
                break;
            }
        }
    }
    if let Some(&first) = sizes.first() {
        cell.patch_bytes = Some(first);
        cell.patch_bytes_varied = sizes.iter().any(|&s| s != first);
        if pair.dst_size > 0 {
            cell.ratio = Some(first as f64 / pair.dst_size as f64);
        }
    }
    if cell.status == Status::Ok {
        let ok: Vec<&Measurement> = cell.diff_runs.iter().collect();
        cell.diff_secs = median(&ok.iter().map(|m| m.wall_secs).collect::<Vec<_>>());
        cell.diff_rss_kib =
            median_u64(&ok.iter().filter_map(|m| m.max_rss_kib).collect::<Vec<_>>());

        let mut exact = true;
        for run in 0..runs {
            let _ = fs::remove_file(&out);
            let m = runner.run(&apply_argv, timeout, &work)?;
            log(&format!(
                "  {:<20} apply run {}: {} {:.3}s {} KiB",
                tool.name(),
                run + 1,
                short(&m.outcome),
                m.wall_secs,
                m.max_rss_kib.unwrap_or(0)
            ));
            let outcome = m.outcome.clone();
            cell.apply_runs.push(m);
            match outcome {
                Outcome::Ok => {}
                Outcome::Timeout { .. } => {
                    cell.status = Status::ApplyTimeout;
                    break;
                }
                Outcome::Failed { message, .. } => {
                    cell.status = Status::ApplyFailed;
                    cell.message = Some(message);
                    break;
                }
            }
            match file_md5(&out) {
                Ok((md5, size)) if md5 == dst_md5 && size == pair.dst_size => {}
                Ok((md5, size)) => {
                    exact = false;
                    cell.message = Some(format!(
                        "rebuilt {size} bytes with MD5 {md5}; expected {} bytes, MD5 {dst_md5}",
                        pair.dst_size
                    ));
                }
                Err(e) => {
                    exact = false;
                    cell.message = Some(format!("no output: {e}"));
                }
            }
            if !exact {
                break;
            }
        }
        if matches!(cell.status, Status::Ok) {
            cell.round_trip_exact = Some(exact);
            if !exact {
                cell.status = Status::Mismatch;
            }
            cell.apply_secs = median(
                &cell
                    .apply_runs
                    .iter()
                    .map(|m| m.wall_secs)
                    .collect::<Vec<_>>(),
            );
            cell.apply_rss_kib = median_u64(
                &cell
                    .apply_runs
                    .iter()
                    .filter_map(|m| m.max_rss_kib)
                    .collect::<Vec<_>>(),
            );
        }
    }
    if !opts.keep_patches {
        let _ = fs::remove_file(&patch);
    }
    let _ = fs::remove_file(&out);
    Ok(cell)
}

fn short(o: &Outcome) -> &'static str {
    match o {
        Outcome::Ok => "ok",
        Outcome::Failed { .. } => "FAILED",
        Outcome::Timeout { .. } => "TIMEOUT",
    }
}

/// Runs the comparison, writing the outputs after every cell so that an interrupted run
/// leaves a usable partial report. `log` receives progress lines.
pub fn compare(opts: &CompareOptions, log: &mut dyn FnMut(&str)) -> Result<Report> {
    anyhow::ensure!(
        opts.runs >= 1 && opts.runs_large >= 1,
        "--runs and --runs-large must be at least 1"
    );
    anyhow::ensure!(!opts.tools.is_empty(), "no tools selected");
    fs::create_dir_all(&opts.out_dir)
        .with_context(|| format!("creating {}", opts.out_dir.display()))?;
    let runner = Runner::detect();
    if !runner.measures_rss() {
        log("WARNING: /usr/bin/time (GNU time) not found: peak RSS will not be measured");
    }
    let previous: Option<Report> = if opts.resume {
        fs::read(opts.out_dir.join("results.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
    } else {
        None
    };
    let tools: Vec<ToolInfo> = opts.tools.iter().map(|t| t.info(&opts.env)).collect();
    for t in &tools {
        match &t.missing_reason {
            None => log(&format!(
                "tool {:<20} {}",
                t.name,
                t.version.as_deref().unwrap_or("")
            )),
            Some(why) => log(&format!("tool {:<20} MISSING: {why}", t.name)),
        }
    }
    let mut report = Report {
        schema: SCHEMA,
        started_unix: now_unix(),
        finished_unix: None,
        machine: Machine::detect(&runner),
        note: opts.note.clone(),
        runs: opts.runs,
        runs_large: Some(opts.runs_large),
        large_bytes: Some(opts.large_bytes),
        timeout_secs: opts.timeout.as_secs_f64(),
        timeout_generated_secs: Some(opts.timeout_generated.as_secs_f64()),
        command_line: opts.command_line.clone(),
        tools,
        pairs: opts.pairs.clone(),
        cells: Vec::new(),
    };
    // Smallest sources first, so that an interrupted run has the most pairs done.
    let mut order: Vec<&Pair> = opts.pairs.iter().collect();
    order.sort_by_key(|p| p.src_size);
    for pair in order {
        log(&format!(
            "pair {} ({} -> {} bytes)",
            pair.name, pair.src_size, pair.dst_size
        ));
        // Check the inputs (and bring them into the page cache for every tool alike).
        let (src_md5, src_size) =
            file_md5(&pair.src).with_context(|| format!("reading {}", pair.src.display()))?;
        let (dst_md5, dst_size) =
            file_md5(&pair.dst).with_context(|| format!("reading {}", pair.dst.display()))?;
        if src_md5 != pair.src_md5
            || dst_md5 != pair.dst_md5
            || src_size != pair.src_size
            || dst_size != pair.dst_size
        {
            log(&format!(
                "  WARNING: {} differs from its listing (MD5/size); the files on disk are measured",
                pair.name
            ));
        }
        let mut pair_fixed = pair.clone();
        pair_fixed.src_md5 = src_md5;
        pair_fixed.dst_md5 = dst_md5.clone();
        pair_fixed.src_size = src_size;
        pair_fixed.dst_size = dst_size;
        if let Some(p) = report.pairs.iter_mut().find(|p| p.name == pair.name) {
            *p = pair_fixed.clone();
        }
        for (tool, info) in opts.tools.iter().zip(report.tools.clone()) {
            let reused = previous
                .as_ref()
                .filter(|_| !opts.rerun.contains(tool))
                .and_then(|prev| {
                    let same_pair = prev.pairs.iter().any(|p| p == &pair_fixed);
                    prev.cell(&pair.name, tool.name())
                        .filter(|c| same_pair && c.status != Status::Missing)
                        .cloned()
                });
            let cell = if let Some(c) = reused {
                log(&format!(
                    "  {:<20} reused from the earlier results.json",
                    tool.name()
                ));
                c
            } else if !info.available {
                let mut c = Cell::new(&pair.name, *tool, Status::Missing);
                c.message = info.missing_reason.clone();
                c
            } else {
                run_cell(&runner, opts, &pair_fixed, &dst_md5, *tool, log)?
            };
            report.cells.push(cell);
            write_outputs(&report, &opts.out_dir)?;
        }
    }
    report.finished_unix = Some(now_unix());
    report.machine.load_after = fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|s| s.trim().to_string());
    write_outputs(&report, &opts.out_dir)?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(tools: &[Tool], cells: &[(&str, Tool, Status)]) -> Report {
        let env = ToolEnv {
            fwdelta: "/nope".into(),
            python: "/nope".into(),
            bench_exe: "/nope".into(),
            anchors_py: "/nope".into(),
            fwdelta_threads: None,
        };
        let pair = |n: &str| Pair {
            name: n.into(),
            kind: PairKind::Firmware,
            src: "s".into(),
            dst: "d".into(),
            src_size: 1,
            dst_size: 1,
            src_md5: String::new(),
            dst_md5: String::new(),
        };
        let mut names: Vec<&str> = cells.iter().map(|c| c.0).collect();
        names.dedup();
        Report {
            schema: SCHEMA,
            started_unix: 0,
            finished_unix: Some(1),
            machine: Machine::detect(&Runner::detect()),
            note: None,
            runs: 1,
            runs_large: None,
            large_bytes: None,
            timeout_secs: 1.0,
            timeout_generated_secs: None,
            command_line: "x".into(),
            tools: tools.iter().map(|t| t.info(&env)).collect(),
            pairs: names.into_iter().map(pair).collect(),
            cells: cells.iter().map(|(p, t, s)| Cell::new(p, *t, *s)).collect(),
        }
    }

    #[test]
    fn merge_prefers_measured_cells_and_orders_tools() {
        let a = report(
            &[Tool::Fwdelta, Tool::Bsdiff43],
            &[
                ("p", Tool::Fwdelta, Status::Missing),
                ("p", Tool::Bsdiff43, Status::Ok),
            ],
        );
        let b = report(
            &[Tool::Bsdiff43, Tool::Fwdelta],
            &[
                ("p", Tool::Fwdelta, Status::Ok),
                ("p", Tool::Bsdiff43, Status::Missing),
                ("q", Tool::Fwdelta, Status::Timeout),
            ],
        );
        let m = merge(a, b);
        assert_eq!(m.cell("p", "fwdelta").unwrap().status, Status::Ok);
        assert_eq!(m.cell("p", "bsdiff-4.3").unwrap().status, Status::Ok);
        assert_eq!(m.cell("q", "fwdelta").unwrap().status, Status::Timeout);
        let names: Vec<&str> = m.pairs.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["p", "q"]);
        let tools: Vec<&str> = m.tools.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(tools, ["fwdelta", "bsdiff-4.3"]);
    }

    #[test]
    fn medians() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[3.0]), Some(3.0));
        assert_eq!(median(&[5.0, 1.0, 3.0]), Some(3.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[f64::NAN, 2.0]), Some(2.0));
        assert_eq!(median_u64(&[10, 30, 20]), Some(20));
    }
}
