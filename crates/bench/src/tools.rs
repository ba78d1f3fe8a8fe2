//! The tools the comparison runs: fwdelta (the CLI, as users run it) and the anchors, each as
//! a command line for `diff SRC DST PATCH` and one for `apply SRC PATCH OUT`.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};

/// The Python helper that drives the PyPI anchors (bsdiff4, hdiffpatch).
pub const ANCHORS_PY: &str = include_str!("anchors.py");

/// A tool of the comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Tool {
    /// `fwdelta diff` as users run it: fwdelta format v1, verified before it is written.
    Fwdelta,
    /// `fwdelta diff --no-verify`: the same patch, without the verification pass.
    FwdeltaNoVerify,
    /// `fwdelta diff --format bsdiff40`: fwdelta's matcher, classic BSDIFF40 container.
    FwdeltaBsdiff40,
    /// Debian's bsdiff/bspatch 4.3.
    Bsdiff43,
    /// xdelta3 -9 -S djw.
    Xdelta3,
    /// zstd -19 --long=27 --patch-from.
    ZstdPatch,
    /// PyPI bsdiff4.
    Bsdiff4Py,
    /// PyPI detools, bsdiff algorithm, lzma.
    DetoolsBsdiff,
    /// PyPI detools, hdiffpatch algorithm and patch type, lzma.
    DetoolsHdiffpatch,
    /// PyPI hdiffpatch (HDiffPatch's bindings), lzma2.
    HdiffpatchLzma2,
    /// PyPI hdiffpatch (HDiffPatch's bindings), zstd.
    HdiffpatchZstd,
    /// The `bsdiff` crate's raw stream, compressed with zstd -19.
    BsdiffRs,
    /// The `qbsdiff` crate, parallel search, BSDIFF40 (bzip2).
    Qbsdiff,
    /// The `bidiff` crate, compressed with zstd -19; applied with `bipatch`.
    Bidiff,
}

/// Where the tools are, and how fwdelta is run.
#[derive(Debug, Clone)]
pub struct ToolEnv {
    /// The `fwdelta` binary.
    pub fwdelta: PathBuf,
    /// The Python interpreter of the anchors' virtual environment.
    pub python: PathBuf,
    /// The `fwdelta-bench` binary itself (runs the Rust anchors).
    pub bench_exe: PathBuf,
    /// Where [`ANCHORS_PY`] was written.
    pub anchors_py: PathBuf,
    /// `--threads` for fwdelta (`None`: its default, all cores).
    pub fwdelta_threads: Option<usize>,
}

/// What a tool is, for the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolInfo {
    /// The tool's name in tables.
    pub name: String,
    /// Whether it can run here.
    pub available: bool,
    /// Its version, when known.
    pub version: Option<String>,
    /// Why it is missing.
    pub missing_reason: Option<String>,
    /// Where it comes from and its settings.
    pub settings: String,
    /// Its diff command, with SRC DST PATCH placeholders.
    pub diff_command: String,
    /// Its apply command, with SRC PATCH OUT placeholders.
    pub apply_command: String,
}

fn os(s: impl AsRef<OsStr>) -> OsString {
    s.as_ref().to_os_string()
}

/// Finds an executable on `PATH`.
pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Runs a command and returns its trimmed stdout+stderr when it succeeds.
fn probe(program: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let mut s = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if s.is_empty() {
        s = String::from_utf8_lossy(&out.stderr).trim().to_string();
    }
    Some(s)
}

/// The workspace's lock file, for the exact versions of the Rust anchors.
const CARGO_LOCK: &str = include_str!("../../../Cargo.lock");

/// The version of crate `name` in the workspace's Cargo.lock.
pub fn locked_version(name: &str) -> Option<String> {
    let pat = format!("name = \"{name}\"\nversion = \"");
    let rest = &CARGO_LOCK[CARGO_LOCK.find(&pat)? + pat.len()..];
    Some(rest[..rest.find('"')?].to_string())
}

/// The first line of a `--version` banner, without decoration or copyright.
fn banner(s: &str) -> String {
    let line = s
        .lines()
        .next()
        .unwrap_or("")
        .trim_matches(|c: char| c == '*' || c.is_whitespace());
    line.split(", ").next().unwrap_or(line).to_string()
}

fn dpkg_version(package: &str) -> Option<String> {
    let v = probe(
        Path::new("dpkg-query"),
        &["-W", "-f", "${Version}", package],
    )?;
    (!v.is_empty()).then_some(v)
}

/// xdelta3's default source window is 64 MiB; a larger source gets a window that covers it.
const XDELTA3_DEFAULT_WINDOW: u64 = 64 << 20;

impl Tool {
    /// Every tool, in table order.
    pub const ALL: [Tool; 14] = [
        Tool::Fwdelta,
        Tool::FwdeltaNoVerify,
        Tool::FwdeltaBsdiff40,
        Tool::Bsdiff43,
        Tool::Xdelta3,
        Tool::ZstdPatch,
        Tool::Bsdiff4Py,
        Tool::DetoolsBsdiff,
        Tool::DetoolsHdiffpatch,
        Tool::HdiffpatchLzma2,
        Tool::HdiffpatchZstd,
        Tool::BsdiffRs,
        Tool::Qbsdiff,
        Tool::Bidiff,
    ];

    /// The name used in tables, JSON and `--tools`.
    pub fn name(self) -> &'static str {
        match self {
            Tool::Fwdelta => "fwdelta",
            Tool::FwdeltaNoVerify => "fwdelta-noverify",
            Tool::FwdeltaBsdiff40 => "fwdelta-bsdiff40",
            Tool::Bsdiff43 => "bsdiff-4.3",
            Tool::Xdelta3 => "xdelta3",
            Tool::ZstdPatch => "zstd-patch",
            Tool::Bsdiff4Py => "bsdiff4",
            Tool::DetoolsBsdiff => "detools-bsdiff",
            Tool::DetoolsHdiffpatch => "detools-hdiffpatch",
            Tool::HdiffpatchLzma2 => "hdiffpatch-lzma2",
            Tool::HdiffpatchZstd => "hdiffpatch-zstd",
            Tool::BsdiffRs => "bsdiff-rs",
            Tool::Qbsdiff => "qbsdiff",
            Tool::Bidiff => "bidiff",
        }
    }

    /// The tool called `name`.
    pub fn from_name(name: &str) -> Option<Tool> {
        Tool::ALL.into_iter().find(|t| t.name() == name)
    }

    /// Whether this is one of fwdelta's own variants.
    pub fn is_fwdelta(self) -> bool {
        matches!(
            self,
            Tool::Fwdelta | Tool::FwdeltaNoVerify | Tool::FwdeltaBsdiff40
        )
    }

    /// Where the tool comes from and what settings it runs with.
    pub fn settings(self) -> &'static str {
        match self {
            Tool::Fwdelta => "this project: `fwdelta diff` defaults (format v1, zstd), verifies the patch before writing it",
            Tool::FwdeltaNoVerify => "this project: `fwdelta diff --no-verify` (same patch, no verification pass)",
            Tool::FwdeltaBsdiff40 => "this project: `fwdelta diff --format bsdiff40` (classic bspatch container, bzip2), verified",
            Tool::Bsdiff43 => "Debian package bsdiff (bsdiff/bspatch 4.3), bzip2",
            Tool::Xdelta3 => "Debian package xdelta3: -9 -S djw (source window -B raised to the source size above 64 MiB)",
            Tool::ZstdPatch => "Debian package zstd: -19 --long=27 --patch-from",
            Tool::Bsdiff4Py => "PyPI bsdiff4 (file_diff/file_patch), bzip2",
            Tool::DetoolsBsdiff => "PyPI detools: create_patch -a bsdiff -c lzma (sequential patch)",
            Tool::DetoolsHdiffpatch => "PyPI detools: create_patch -a hdiffpatch -t hdiffpatch -c lzma",
            Tool::HdiffpatchLzma2 => "PyPI hdiffpatch (HDiffPatch bindings): lzma2 level 9, 8 MiB dictionary",
            Tool::HdiffpatchZstd => "PyPI hdiffpatch (HDiffPatch bindings): zstd level 21, window 2^24",
            Tool::BsdiffRs => "crate bsdiff 0.2: raw stream, compressed with zstd -19 (the stream itself is uncompressed)",
            Tool::Qbsdiff => "crate qbsdiff 1.4: parallel search (ParallelScheme::Auto), BSDIFF40 with bzip2 level 9",
            Tool::Bidiff => "crate bidiff 1.0 (default params), stream compressed with zstd -19; applied by crate bipatch 1.0",
        }
    }

    fn python_tool(self) -> Option<&'static str> {
        match self {
            Tool::Bsdiff4Py => Some("bsdiff4"),
            Tool::HdiffpatchLzma2 => Some("hdiffpatch-lzma2"),
            Tool::HdiffpatchZstd => Some("hdiffpatch-zstd"),
            Tool::DetoolsBsdiff | Tool::DetoolsHdiffpatch => Some("detools"),
            _ => None,
        }
    }

    fn rust_anchor(self) -> Option<&'static str> {
        match self {
            Tool::BsdiffRs => Some("bsdiff"),
            Tool::Qbsdiff => Some("qbsdiff"),
            Tool::Bidiff => Some("bidiff"),
            _ => None,
        }
    }

    fn detools(env: &ToolEnv) -> PathBuf {
        env.python
            .parent()
            .map(|d| d.join("detools"))
            .unwrap_or_else(|| PathBuf::from("detools"))
    }

    /// Checks that the tool can run here: `Ok(version)` or `Err(why it is missing)`.
    pub fn check(self, env: &ToolEnv) -> Result<Option<String>, String> {
        let need = |bin: &str| which(bin).ok_or_else(|| format!("`{bin}` not found on PATH"));
        match self {
            Tool::Fwdelta | Tool::FwdeltaNoVerify | Tool::FwdeltaBsdiff40 => {
                if !env.fwdelta.is_file() {
                    return Err(format!(
                        "fwdelta binary {} not found (cargo build --release)",
                        env.fwdelta.display()
                    ));
                }
                probe(&env.fwdelta, &["--version"])
                    .map(Some)
                    .ok_or_else(|| format!("{} --version failed", env.fwdelta.display()))
            }
            Tool::Bsdiff43 => {
                need("bsdiff")?;
                need("bspatch")?;
                Ok(dpkg_version("bsdiff"))
            }
            Tool::Xdelta3 => {
                let p = need("xdelta3")?;
                Ok(probe(&p, &["-V"]).map(|s| banner(&s)))
            }
            Tool::ZstdPatch => {
                let p = need("zstd")?;
                Ok(probe(&p, &["--version"]).map(|s| banner(&s)))
            }
            Tool::BsdiffRs => Ok(locked_version("bsdiff")),
            Tool::Qbsdiff => Ok(locked_version("qbsdiff")),
            Tool::Bidiff => Ok(locked_version("bidiff")
                .zip(locked_version("bipatch"))
                .map(|(d, p)| format!("bidiff {d}, bipatch {p}"))),
            Tool::Bsdiff4Py
            | Tool::DetoolsBsdiff
            | Tool::DetoolsHdiffpatch
            | Tool::HdiffpatchLzma2
            | Tool::HdiffpatchZstd => {
                if !env.python.is_file() {
                    return Err(format!(
                        "Python {} not found (run benches/setup-anchors.sh)",
                        env.python.display()
                    ));
                }
                let module = self.python_tool().unwrap_or("?");
                let script = env.anchors_py.to_string_lossy().into_owned();
                let v = probe(&env.python, &[&script, module, "version"]).ok_or_else(|| {
                    format!(
                        "PyPI package for {module} not importable (run benches/setup-anchors.sh)"
                    )
                })?;
                if matches!(self, Tool::DetoolsBsdiff | Tool::DetoolsHdiffpatch)
                    && !Tool::detools(env).is_file()
                {
                    return Err(format!("{} not found", Tool::detools(env).display()));
                }
                Ok(Some(v))
            }
        }
    }

    /// The command that writes the patch from `src` to `dst` into `patch`.
    pub fn diff_command(
        self,
        env: &ToolEnv,
        src: &Path,
        dst: &Path,
        src_size: u64,
        patch: &Path,
    ) -> Vec<OsString> {
        let fw = |extra: &[&str]| {
            let mut v = vec![
                os(&env.fwdelta),
                os("--quiet"),
                os("diff"),
                os(src),
                os(dst),
                os("-o"),
                os(patch),
            ];
            v.extend(extra.iter().map(os));
            if let Some(t) = env.fwdelta_threads {
                v.extend([os("--threads"), os(t.to_string())]);
            }
            v
        };
        match self {
            Tool::Fwdelta => fw(&[]),
            Tool::FwdeltaNoVerify => fw(&["--no-verify"]),
            Tool::FwdeltaBsdiff40 => fw(&["--format", "bsdiff40"]),
            Tool::Bsdiff43 => vec![os("bsdiff"), os(src), os(dst), os(patch)],
            Tool::Xdelta3 => {
                let mut v = vec![
                    os("xdelta3"),
                    os("-e"),
                    os("-f"),
                    os("-9"),
                    os("-S"),
                    os("djw"),
                ];
                if src_size > XDELTA3_DEFAULT_WINDOW {
                    v.extend([os("-B"), os(src_size.next_multiple_of(1 << 20).to_string())]);
                }
                v.extend([os("-s"), os(src), os(dst), os(patch)]);
                v
            }
            Tool::ZstdPatch => vec![
                os("zstd"),
                os("-q"),
                os("-f"),
                os("-19"),
                os("--long=27"),
                os(format!("--patch-from={}", src.display())),
                os(dst),
                os("-o"),
                os(patch),
            ],
            Tool::DetoolsBsdiff => vec![
                os(Tool::detools(env)),
                os("create_patch"),
                os("-a"),
                os("bsdiff"),
                os("-c"),
                os("lzma"),
                os(src),
                os(dst),
                os(patch),
            ],
            Tool::DetoolsHdiffpatch => vec![
                os(Tool::detools(env)),
                os("create_patch"),
                os("-a"),
                os("hdiffpatch"),
                os("-t"),
                os("hdiffpatch"),
                os("-c"),
                os("lzma"),
                os(src),
                os(dst),
                os(patch),
            ],
            Tool::Bsdiff4Py | Tool::HdiffpatchLzma2 | Tool::HdiffpatchZstd => vec![
                os(&env.python),
                os(&env.anchors_py),
                os(self.python_tool().unwrap_or_default()),
                os("diff"),
                os(src),
                os(dst),
                os(patch),
            ],
            Tool::BsdiffRs | Tool::Qbsdiff | Tool::Bidiff => vec![
                os(&env.bench_exe),
                os("anchor"),
                os(self.rust_anchor().unwrap_or_default()),
                os("diff"),
                os(src),
                os(dst),
                os(patch),
            ],
        }
    }

    /// The command that rebuilds the destination from `src` and `patch` into `out`.
    pub fn apply_command(
        self,
        env: &ToolEnv,
        src: &Path,
        patch: &Path,
        out: &Path,
    ) -> Vec<OsString> {
        match self {
            Tool::Fwdelta | Tool::FwdeltaNoVerify | Tool::FwdeltaBsdiff40 => vec![
                os(&env.fwdelta),
                os("--quiet"),
                os("apply"),
                os(src),
                os(patch),
                os("-o"),
                os(out),
            ],
            Tool::Bsdiff43 => vec![os("bspatch"), os(src), os(out), os(patch)],
            Tool::Xdelta3 => vec![
                os("xdelta3"),
                os("-d"),
                os("-f"),
                os("-s"),
                os(src),
                os(patch),
                os(out),
            ],
            Tool::ZstdPatch => vec![
                os("zstd"),
                os("-q"),
                os("-f"),
                os("-d"),
                os("--long=27"),
                os(format!("--patch-from={}", src.display())),
                os(patch),
                os("-o"),
                os(out),
            ],
            Tool::DetoolsBsdiff | Tool::DetoolsHdiffpatch => vec![
                os(Tool::detools(env)),
                os("apply_patch"),
                os(src),
                os(patch),
                os(out),
            ],
            Tool::Bsdiff4Py | Tool::HdiffpatchLzma2 | Tool::HdiffpatchZstd => vec![
                os(&env.python),
                os(&env.anchors_py),
                os(self.python_tool().unwrap_or_default()),
                os("apply"),
                os(src),
                os(patch),
                os(out),
            ],
            Tool::BsdiffRs | Tool::Qbsdiff | Tool::Bidiff => vec![
                os(&env.bench_exe),
                os("anchor"),
                os(self.rust_anchor().unwrap_or_default()),
                os("apply"),
                os(src),
                os(patch),
                os(out),
            ],
        }
    }

    /// The tool's description for the report (availability, version, command templates).
    pub fn info(self, env: &ToolEnv) -> ToolInfo {
        let (available, version, missing_reason) = match self.check(env) {
            Ok(v) => (true, v, None),
            Err(why) => (false, None, Some(why)),
        };
        let show = |argv: Vec<OsString>| {
            argv.iter()
                .map(|a| {
                    let s = a.to_string_lossy();
                    let base = |p: &Path| p.to_string_lossy().into_owned();
                    if s == base(&env.fwdelta) {
                        "fwdelta".into()
                    } else if s == base(&env.bench_exe) {
                        "fwdelta-bench".into()
                    } else if s == base(&env.python) {
                        "python".into()
                    } else if s == base(&env.anchors_py) {
                        "anchors.py".into()
                    } else if s == base(&Tool::detools(env)) {
                        "detools".into()
                    } else {
                        s.into_owned()
                    }
                })
                .collect::<Vec<String>>()
                .join(" ")
        };
        let (s, d, p, o) = (
            Path::new("SRC"),
            Path::new("DST"),
            Path::new("PATCH"),
            Path::new("OUT"),
        );
        ToolInfo {
            name: self.name().to_string(),
            available,
            version,
            missing_reason,
            settings: self.settings().to_string(),
            diff_command: show(self.diff_command(env, s, d, 0, p)),
            apply_command: show(self.apply_command(env, s, p, o)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert!(locked_version("qbsdiff").is_some_and(|v| v.starts_with("1.")));
        assert_eq!(locked_version("no-such-crate"), None);
        assert_eq!(
            banner("*** Zstandard CLI (64-bit) v1.5.4, by Yann Collet ***\n"),
            "Zstandard CLI (64-bit) v1.5.4"
        );
        assert_eq!(
            banner("Xdelta version 3.0.11, Copyright (C) 2007"),
            "Xdelta version 3.0.11"
        );
    }

    #[test]
    fn names_round_trip_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for t in Tool::ALL {
            assert_eq!(Tool::from_name(t.name()), Some(t));
            assert!(seen.insert(t.name()));
        }
        assert_eq!(Tool::from_name("nope"), None);
    }

    #[test]
    fn commands_name_their_files() {
        let env = ToolEnv {
            fwdelta: "/x/fwdelta".into(),
            python: "/v/bin/python".into(),
            bench_exe: "/x/fwdelta-bench".into(),
            anchors_py: "/o/anchors.py".into(),
            fwdelta_threads: Some(2),
        };
        for t in Tool::ALL {
            let d = t.diff_command(
                &env,
                Path::new("S"),
                Path::new("D"),
                100 << 20,
                Path::new("P"),
            );
            let d: Vec<String> = d.iter().map(|a| a.to_string_lossy().into_owned()).collect();
            assert!(
                d.iter().any(|a| a.contains('S'))
                    && d.contains(&"D".into())
                    && d.contains(&"P".into()),
                "{d:?}"
            );
            let a = t.apply_command(&env, Path::new("S"), Path::new("P"), Path::new("O"));
            let a: Vec<String> = a.iter().map(|a| a.to_string_lossy().into_owned()).collect();
            assert!(a.contains(&"P".into()) && a.contains(&"O".into()), "{a:?}");
            if t.is_fwdelta() {
                assert!(d.ends_with(&["--threads".into(), "2".into()]), "{d:?}");
            }
            if t == Tool::Xdelta3 {
                assert!(
                    d.contains(&"-B".into()),
                    "large sources widen xdelta3's window: {d:?}"
                );
            }
        }
        let info = Tool::Fwdelta.info(&env);
        assert!(!info.available, "no fwdelta at /x");
        assert!(
            info.diff_command
                .starts_with("fwdelta --quiet diff SRC DST -o PATCH"),
            "{}",
            info.diff_command
        );
    }
}
