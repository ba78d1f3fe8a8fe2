//! The `fwdelta` command line: diff firmware images into verified delta packages, apply and
//! inspect patches, and register packages with the IoT Platform OTA service.
#![forbid(unsafe_code)]

mod cmd;
mod exit;
mod output;
mod progress;
mod sample;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// fwdelta: differential firmware builds. Diff two images into a compact patch, verify it
/// reproduces the new image bit for bit, and register it as an OTA differential package.
#[derive(Parser, Debug)]
#[command(name = "fwdelta", version, about, long_about = None, after_help = exit::HELP)]
struct Cli {
    /// No progress bars or notes on stderr (errors are still printed).
    #[arg(long, short, global = true)]
    quiet: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Compute a patch from SRC (the image in the field) to DEST (the new image), verify it, and
    /// write it to -o.
    Diff(cmd::diff::DiffArgs),
    /// Rebuild the new image from SRC and a patch.
    Apply(cmd::apply::ApplyArgs),
    /// Show what a patch file declares (format, sizes, MD5s, parameters).
    Info(cmd::info::InfoArgs),
    /// Re-apply a patch to its source and prove the result has the destination's MD5 and size.
    Verify(cmd::verify::VerifyArgs),
    /// Generate a firmware-like sample pair, then diff, verify and apply it.
    Demo(cmd::demo::DemoArgs),
    /// Upload a verified patch and register it as a differential OTA package (Type=1);
    /// prints the FirmwareId.
    Register(cmd::register::RegisterArgs),
    /// Diff, verify, upload and register one delta, or every delta of a release plan
    /// (parallel, resumable, shardable); `release merge` joins shard summaries.
    Release(cmd::release::ReleaseArgs),
    /// Serve a local emulator of the IoT OTA API and the OSS upload, for dry runs.
    Sandbox(cmd::sandbox::SandboxArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let ctx = cmd::Context { quiet: cli.quiet };
    let result = match &cli.command {
        Command::Diff(a) => cmd::diff::run(&ctx, a),
        Command::Apply(a) => cmd::apply::run(&ctx, a),
        Command::Info(a) => cmd::info::run(&ctx, a),
        Command::Verify(a) => cmd::verify::run(&ctx, a),
        Command::Demo(a) => cmd::demo::run(&ctx, a),
        Command::Register(a) => cmd::register::run(&ctx, a),
        Command::Release(a) => cmd::release::run(&ctx, a),
        Command::Sandbox(a) => cmd::sandbox::run(a),
    };
    match result {
        Ok(code) => code,
        Err(err) => exit::report(&err),
    }
}
