//! Progress bars on stderr: shown only on a terminal, only without `--quiet`, and only once a
//! stage has run for about a second (short work prints nothing).

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

const SHOW_AFTER: Duration = Duration::from_secs(1);

/// A progress display for one command.
#[derive(Debug)]
pub struct Progress {
    enabled: bool,
    state: Mutex<Option<Stage>>,
}

#[derive(Debug)]
struct Stage {
    bar: ProgressBar,
    started: Instant,
    visible: bool,
}

impl Progress {
    /// A display that draws only when `quiet` is false and stderr is a terminal.
    pub fn new(quiet: bool) -> Self {
        Self {
            enabled: !quiet && std::io::stderr().is_terminal(),
            state: Mutex::new(None),
        }
    }

    /// Starts a stage of `total` units (bytes); `total == 0` shows a spinner.
    pub fn stage(&self, name: &str, total: u64) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(old) = state.take() {
            old.bar.finish_and_clear();
        }
        if !self.enabled {
            return;
        }
        let bar = if total > 0 {
            ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::hidden()).with_style(
                ProgressStyle::with_template(
                    "{prefix:>9} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
                )
                .expect("valid template")
                .progress_chars("=> "),
            )
        } else {
            ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden()).with_style(
                ProgressStyle::with_template("{prefix:>9} {spinner} {elapsed}")
                    .expect("valid template"),
            )
        };
        bar.set_prefix(name.to_string());
        *state = Some(Stage {
            bar,
            started: Instant::now(),
            visible: false,
        });
    }

    /// Adds `n` units to the current stage.
    pub fn advance(&self, n: u64) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(stage) = state.as_mut() {
            stage.bar.inc(n);
            if !stage.visible && stage.started.elapsed() >= SHOW_AFTER {
                stage.visible = true;
                stage
                    .bar
                    .set_draw_target(ProgressDrawTarget::stderr_with_hz(10));
                stage.bar.enable_steady_tick(Duration::from_millis(200));
            }
        }
    }

    /// Clears the display.
    pub fn finish(&self) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(old) = state.take() {
            old.bar.finish_and_clear();
        }
    }

    /// Prints a note on stderr unless quiet (through the bar, so lines do not tear).
    pub fn note(&self, quiet: bool, msg: &str) {
        if quiet {
            return;
        }
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match state.as_ref() {
            Some(stage) if stage.visible => stage.bar.println(msg),
            _ => eprintln!("{msg}"),
        }
    }
}

impl fwdelta_diff::Progress for Progress {
    fn stage(&self, name: &str, total: u64) {
        Progress::stage(self, name, total)
    }
    fn advance(&self, n: u64) {
        Progress::advance(self, n)
    }
}
