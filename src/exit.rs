//! Exit codes and how errors are shown.

use std::io;
use std::process::ExitCode;

use fwdelta_patch::PatchError;

use crate::output::OutputIsInput;

/// Success.
pub const OK: u8 = 0;
/// Any other failure: I/O error, full disk, internal error.
pub const FAILURE: u8 = 1;
/// The command line was wrong (clap's own code).
#[allow(dead_code)]
pub const USAGE: u8 = 2;
/// Verification failed: the patch does not rebuild the destination image.
pub const MISMATCH: u8 = 3;
/// An input is invalid: a corrupt, truncated or unknown patch, the wrong source image, a bad
/// release record.
pub const BAD_INPUT: u8 = 4;
/// Refused: the output path names an input.
pub const REFUSED: u8 = 5;
/// Registration with the OTA service failed (the service said no, or could not be reached).
pub const REMOTE: u8 = 6;

/// The exit-code table shown by `--help`.
pub const HELP: &str = "\
Exit codes:
  0  success
  1  failure (I/O error, full disk, internal error)
  2  usage error
  3  verification failed: the patch does not rebuild the destination
  4  invalid input: corrupt/truncated/unknown patch, wrong source image, bad release record
  5  refused: the output path is one of the inputs
  6  registration failed: the OTA service refused the request or could not be reached";

/// A failed verification: carries the exit code [`MISMATCH`].
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Mismatch(pub String);

/// An invalid input that is not a patch-format error: carries [`BAD_INPUT`].
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BadInput(pub String);

/// Prints the error chain on stderr and returns the exit code for it.
pub fn report(err: &anyhow::Error) -> ExitCode {
    let code = classify(err);
    if is_broken_pipe(err) {
        // A closed pipe (`fwdelta info x | head`) is not an error worth a message.
        return ExitCode::from(OK);
    }
    eprintln!("fwdelta: error: {err}");
    for cause in err.chain().skip(1) {
        eprintln!("  caused by: {cause}");
    }
    ExitCode::from(code)
}

/// The exit code for an error: the first cause in the chain that has one, else [`FAILURE`].
pub fn classify(err: &anyhow::Error) -> u8 {
    for cause in err.chain() {
        if let Some(e) = cause.downcast_ref::<fwdelta_ota::OtaError>() {
            return ota_code(e);
        }
        if cause.is::<fwdelta_ota::CredentialsError>() || cause.is::<crate::cmd::plan::PlanError>()
        {
            return BAD_INPUT;
        }
        if cause.is::<Mismatch>() {
            return MISMATCH;
        }
        if cause.is::<OutputIsInput>() {
            return REFUSED;
        }
        if cause.is::<BadInput>() || cause.is::<fwdelta_record::RecordError>() {
            return BAD_INPUT;
        }
        if let Some(p) = cause.downcast_ref::<PatchError>() {
            return match p {
                // An invalid edit script is a bug of the diff engine, not of the user's input.
                PatchError::Io { .. } | PatchError::InvalidControls { .. } => FAILURE,
                // A patch whose output does not match its own header is a corrupt patch.
                _ => BAD_INPUT,
            };
        }
    }
    FAILURE
}

/// OTA errors: what the service refused or could not be asked is [`REMOTE`]; what was refused
/// before any network call (parameters, options, the record, the patch file, credentials) is
/// [`BAD_INPUT`]; local I/O is [`FAILURE`].
fn ota_code(e: &fwdelta_ota::OtaError) -> u8 {
    use fwdelta_ota::OtaError as E;
    match e {
        E::InvalidParameter { .. }
        | E::InvalidOption { .. }
        | E::RecordNotVerified { .. }
        | E::BadRecord { .. }
        | E::PatchMismatch { .. }
        | E::Credentials(_) => BAD_INPUT,
        E::Io { .. } | E::PatchChanged { .. } => FAILURE,
        _ => REMOTE,
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|c| {
        c.downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}
