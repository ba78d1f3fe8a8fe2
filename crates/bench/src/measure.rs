//! Runs one command as a separate process and measures its wall time and peak resident set
//! size, with a timeout.
//!
//! Peak RSS comes from the kernel's accounting (`ru_maxrss`, as reported by GNU time's `%M`),
//! never from an estimate. The command runs under `/usr/bin/time` rather than directly under
//! this process because Linux charges a child's `ru_maxrss` with the high-water mark of the
//! address space it had before `exec`: a child spawned by a process holding 300 MB reports at
//! least 300 MB whatever it does itself. GNU time is a tiny process, so its children's figures
//! are the tools' own (plus at most about 1 MB of floor for the smallest tools).
//!
//! Timeouts kill the whole process group (GNU time and the tool), so nothing keeps running.

use std::ffi::OsString;
use std::fs;
use std::io;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// How one measured process ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    /// Exit status 0.
    Ok,
    /// A non-zero exit, a signal, or a command that could not be started.
    Failed {
        /// The exit code, if it exited.
        exit_code: Option<i32>,
        /// The end of its standard error, or why it could not start.
        message: String,
    },
    /// Killed after the timeout.
    Timeout {
        /// The timeout, in seconds.
        after_secs: f64,
    },
}

/// What one run of a command cost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measurement {
    /// How it ended.
    pub outcome: Outcome,
    /// Wall-clock seconds from spawn to exit.
    pub wall_secs: f64,
    /// User CPU seconds (from GNU time; `None` without it).
    pub user_secs: Option<f64>,
    /// System CPU seconds (from GNU time; `None` without it).
    pub sys_secs: Option<f64>,
    /// Peak resident set size in KiB (`ru_maxrss`; `None` without GNU time or on timeout).
    pub max_rss_kib: Option<u64>,
}

/// Spawns and measures commands.
#[derive(Debug, Clone)]
pub struct Runner {
    time_bin: Option<PathBuf>,
}

impl Runner {
    /// Uses GNU time at `/usr/bin/time` when it works there; otherwise measures wall time only
    /// (peak RSS is then reported as unknown, never guessed).
    pub fn detect() -> Runner {
        let time = PathBuf::from("/usr/bin/time");
        let works = Command::new(&time)
            .args(["-f", "%M", "true"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        Runner {
            time_bin: works.then_some(time),
        }
    }

    /// Whether peak RSS is measured.
    pub fn measures_rss(&self) -> bool {
        self.time_bin.is_some()
    }

    /// Runs `argv` with no input and standard output discarded, keeping its standard error
    /// in `scratch_dir`, killing it after `timeout`.
    pub fn run(
        &self,
        argv: &[OsString],
        timeout: Duration,
        scratch_dir: &Path,
    ) -> io::Result<Measurement> {
        let Some((program, args)) = argv.split_first() else {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "empty command"));
        };
        fs::create_dir_all(scratch_dir)?;
        let time_file = scratch_dir.join("time.txt");
        let stderr_file = scratch_dir.join("stderr.txt");
        let _ = fs::remove_file(&time_file);
        let mut cmd = match &self.time_bin {
            Some(time) => {
                let mut c = Command::new(time);
                c.arg("-f")
                    .arg("%e %U %S %M")
                    .arg("-o")
                    .arg(&time_file)
                    .arg("--")
                    .arg(program)
                    .args(args);
                c
            }
            None => {
                let mut c = Command::new(program);
                c.args(args);
                c
            }
        };
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(&stderr_file)?)
            .process_group(0);

        let start = Instant::now();
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                return Ok(Measurement {
                    outcome: Outcome::Failed {
                        exit_code: None,
                        message: format!("cannot start {}: {e}", program.to_string_lossy()),
                    },
                    wall_secs: 0.0,
                    user_secs: None,
                    sys_secs: None,
                    max_rss_kib: None,
                })
            }
        };
        // Poll at an interval of 0.5 % of the elapsed time (1 ms to 50 ms), so polling adds
        // at most that much to a measurement.
        let status = loop {
            if let Some(status) = child.try_wait()? {
                break Some(status);
            }
            let elapsed = start.elapsed();
            if elapsed >= timeout {
                break None;
            }
            let nap = (elapsed / 200).clamp(Duration::from_millis(1), Duration::from_millis(50));
            std::thread::sleep(nap.min(timeout - elapsed));
        };
        let wall_secs = start.elapsed().as_secs_f64();
        let Some(status) = status else {
            // Not reaped yet, so the group id cannot have been reused: kill the whole group.
            let group = format!("-{}", child.id());
            let killed = Command::new("kill")
                .args(["-s", "KILL", "--", &group])
                .stderr(Stdio::null())
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            if !killed {
                let _ = child.kill();
            }
            let _ = child.wait();
            return Ok(Measurement {
                outcome: Outcome::Timeout {
                    after_secs: timeout.as_secs_f64(),
                },
                wall_secs,
                user_secs: None,
                sys_secs: None,
                max_rss_kib: None,
            });
        };

        let (mut user_secs, mut sys_secs, mut max_rss_kib) = (None, None, None);
        let mut time_notes = String::new();
        if self.time_bin.is_some() {
            if let Ok(text) = fs::read_to_string(&time_file) {
                let mut lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
                if let Some(last) = lines.pop() {
                    let f: Vec<&str> = last.split_whitespace().collect();
                    if f.len() == 4 {
                        user_secs = f[1].parse().ok();
                        sys_secs = f[2].parse().ok();
                        max_rss_kib = f[3].parse().ok();
                    }
                }
                time_notes = lines.join("; ");
            }
        }
        let outcome = if status.success() {
            Outcome::Ok
        } else {
            let mut message = tail_of(&stderr_file, 600);
            if !time_notes.is_empty() {
                message = format!("{time_notes}; {message}");
            }
            Outcome::Failed {
                exit_code: status.code(),
                message,
            }
        };
        Ok(Measurement {
            outcome,
            wall_secs,
            user_secs,
            sys_secs,
            max_rss_kib,
        })
    }
}

/// The last `n` bytes of a file as text, trimmed (empty if unreadable).
fn tail_of(path: &Path, n: usize) -> String {
    let bytes = fs::read(path).unwrap_or_default();
    let start = bytes.len().saturating_sub(n);
    String::from_utf8_lossy(&bytes[start..]).trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(a: &[&str]) -> Vec<OsString> {
        a.iter().map(OsString::from).collect()
    }

    #[test]
    fn ok_failed_and_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let r = Runner::detect();
        let m = r
            .run(&argv(&["true"]), Duration::from_secs(10), dir.path())
            .unwrap();
        assert_eq!(m.outcome, Outcome::Ok);
        if r.measures_rss() {
            assert!(m.max_rss_kib.unwrap() > 0);
        }

        let m = r
            .run(
                &argv(&["sh", "-c", "echo boom >&2; exit 3"]),
                Duration::from_secs(10),
                dir.path(),
            )
            .unwrap();
        match m.outcome {
            Outcome::Failed { exit_code, message } => {
                assert_eq!(exit_code, Some(3));
                assert!(message.contains("boom"), "{message}");
            }
            other => panic!("expected failure, got {other:?}"),
        }

        let t0 = Instant::now();
        let m = r
            .run(
                &argv(&["sleep", "30"]),
                Duration::from_millis(300),
                dir.path(),
            )
            .unwrap();
        assert!(matches!(m.outcome, Outcome::Timeout { .. }), "{m:?}");
        assert!(t0.elapsed() < Duration::from_secs(10));

        let m = r
            .run(
                &argv(&["/nonexistent/tool"]),
                Duration::from_secs(5),
                dir.path(),
            )
            .unwrap();
        assert!(matches!(m.outcome, Outcome::Failed { .. }));
    }

    #[test]
    fn peak_rss_is_the_childs_not_ours() {
        let r = Runner::detect();
        if !r.measures_rss() {
            return;
        }
        // Hold 64 MiB here; a child that uses little must still report little.
        let big = vec![1u8; 64 << 20];
        let dir = tempfile::tempdir().unwrap();
        let m = r
            .run(&argv(&["true"]), Duration::from_secs(10), dir.path())
            .unwrap();
        assert!(m.max_rss_kib.unwrap() < 16 << 10, "{m:?}");
        assert_eq!(big.iter().map(|&b| b as usize).sum::<usize>(), 64 << 20);
    }
}
