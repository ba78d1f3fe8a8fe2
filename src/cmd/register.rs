//! `fwdelta register`: upload a verified patch and register it as a differential OTA package
//! (`CreateOTAFirmware`, `Type=1`); and what `release` shares with it: the connection options,
//! the package options, the in-process sandbox for dry runs, and the confirmation query.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{ArgAction, Args};
use fwdelta_ota::{
    validate, Client, ClientOptions, Credentials, OtaError, QueryOtaFirmware, RegisterParams,
    Registered, RetryPolicy,
};
use fwdelta_ota_sandbox::{AccessKey, Sandbox, SandboxConfig, SandboxHandle};
use fwdelta_record::ReleaseRecord;

use super::{print_json, Context};
use crate::exit::BadInput;

/// Where the packages go and how the client behaves.
#[derive(Args, Debug, Clone)]
pub struct OtaArgs {
    /// RegionId, and the region of the default endpoint `https://iot.<REGION>.aliyuncs.com`.
    #[arg(long, value_name = "REGION", default_value = "cn-shanghai")]
    pub region: String,
    /// Send the API calls to this endpoint instead (`https://host[:port]`; plain `http://`
    /// only to loopback, e.g. a `fwdelta sandbox`).
    #[arg(long, value_name = "URL", conflicts_with = "sandbox")]
    pub endpoint: Option<String>,
    /// IotInstanceId, for instances that have one (see the console's Overview page).
    #[arg(long, value_name = "ID")]
    pub instance_id: Option<String>,
    /// The profile to read from the credentials file when the environment has no
    /// ALIBABA_CLOUD_ACCESS_KEY_ID / ALIBABA_CLOUD_ACCESS_KEY_SECRET.
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
    /// Dry run: start a local OTA sandbox in this process, keeping its data (SQLite database
    /// and uploaded objects) in DIR, and register there with a key pair made for the run.
    /// No cloud account or credentials are used.
    #[arg(long, value_name = "DIR")]
    pub sandbox: Option<PathBuf>,
    /// Client-side cap on API requests per second for this process (1-10; the service allows
    /// 10 per account: give each of N machines sharing an account about 10/N).
    #[arg(long, value_name = "N", default_value_t = fwdelta_ota::MAX_REQUESTS_PER_SECOND)]
    pub max_rps: u32,
    /// Attempts per API call when throttled, on server errors or lost connections (1-20).
    #[arg(long, value_name = "N", default_value_t = RetryPolicy::default().max_attempts)]
    pub retry_attempts: u32,
    /// First pause before a retry, in milliseconds (doubling each time, with jitter, up to
    /// 20 s).
    #[arg(long, value_name = "MS", default_value_t = 500)]
    pub retry_backoff_ms: u64,
}

/// Package parameters beyond name, product and versions.
#[derive(Args, Debug, Clone, Default)]
pub struct PackageArgs {
    /// FirmwareDesc: a description of at most 100 characters.
    #[arg(long, value_name = "TEXT")]
    pub desc: Option<String>,
    /// ModuleName: the OTA module (default: the product's `default` module).
    #[arg(long, value_name = "NAME")]
    pub module: Option<String>,
    /// Udi: custom data pushed to the device with the package (at most 4096 characters).
    #[arg(long, value_name = "TEXT")]
    pub udi: Option<String>,
    /// NeedToVerify: whether a verification job must pass before batch upgrades [default:
    /// true, the service's default].
    #[arg(long, value_name = "BOOL", action = ArgAction::Set)]
    pub need_to_verify: Option<bool>,
    /// FileSuffix of the upload: bin, dav, apk, tar, gz, tar.gz, zip or gzip [default: bin].
    #[arg(long, value_name = "SUFFIX")]
    pub file_suffix: Option<String>,
}

/// Arguments of `fwdelta register`.
#[derive(Args, Debug)]
#[command(after_help = "\
Credentials come from ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET, else from
the profile file (ALIBABA_CLOUD_CREDENTIALS_FILE, ~/.alibabacloud/credentials.ini or
~/.aliyun/config.json). They are never printed and never written to a file.")]
pub struct RegisterArgs {
    /// The release record of a verified patch (`fwdelta diff --report`).
    #[arg(long, value_name = "RECORD.json")]
    pub record: PathBuf,
    /// The patch file (default: the record's patch.path, relative to the current directory
    /// or else to the record's directory).
    #[arg(long, value_name = "FILE")]
    pub patch: Option<PathBuf>,
    /// ProductKey of the product the package is for.
    #[arg(long, value_name = "PK")]
    pub product_key: String,
    /// FirmwareName: 1-40 letters, digits, '-', '_', '(' or ')', unique in the account.
    #[arg(long, value_name = "NAME")]
    pub name: String,
    /// SrcVersion (default: the record's).
    #[arg(long, value_name = "VERSION")]
    pub src_version: Option<String>,
    /// DestVersion (default: the record's).
    #[arg(long, value_name = "VERSION")]
    pub dest_version: Option<String>,
    #[command(flatten)]
    pub package: PackageArgs,
    #[command(flatten)]
    pub ota: OtaArgs,
    /// Print the outcome as JSON on stdout (else the FirmwareId alone).
    #[arg(long)]
    pub json: bool,
}

/// The account of the keys made for `--sandbox` runs: the sandbox's documented test account,
/// so that `fwdelta sandbox --data DIR` with the test key pair lists the packages afterwards.
pub const SANDBOX_ACCOUNT: &str = fwdelta_ota_sandbox::DEFAULT_ACCESS_KEY_ID;

/// A client, and the in-process sandbox it talks to on `--sandbox` runs.
#[derive(Debug)]
pub struct Session {
    /// The client.
    pub client: Client,
    /// The sandbox, kept running until [`Session::finish`].
    pub sandbox: Option<SandboxHandle>,
    /// What the packages are registered with, for state fingerprints and reports: the
    /// endpoint URL, or `sandbox:<dir>`.
    pub target: String,
    key_id: String,
}

impl Session {
    /// The sandbox's data directory, on `--sandbox` runs.
    pub fn sandbox_dir(&self) -> Option<PathBuf> {
        self.sandbox.as_ref().map(|s| s.data_dir().to_path_buf())
    }

    /// A JSON description of where the packages went (never a credential).
    pub fn describe(&self, ota: &OtaArgs) -> serde_json::Value {
        serde_json::json!({
            "endpoint": self.client.endpoint(),
            "region": ota.region,
            "instance_id": ota.instance_id,
            "sandbox_data_dir": self.sandbox_dir().map(|d| d.display().to_string()),
            "AccessKeyId": if self.sandbox.is_some() {
                None
            } else {
                Some(self.client_key_id())
            },
        })
    }

    fn client_key_id(&self) -> String {
        // The AccessKey ID is not a secret (it is sent with every request), and naming it
        // tells which account a release went to.
        self.key_id.clone()
    }

    /// Stops the sandbox, if any.
    pub fn finish(self) {
        if let Some(s) = self.sandbox {
            s.shutdown();
        }
    }
}

/// Makes the client (and starts the sandbox on `--sandbox` runs). Loads credentials; makes no
/// API call.
pub fn connect(ota: &OtaArgs) -> anyhow::Result<Session> {
    let mut options = ClientOptions {
        region_id: ota.region.clone(),
        endpoint: ota.endpoint.clone(),
        max_requests_per_second: ota.max_rps,
        retry: RetryPolicy {
            max_attempts: ota.retry_attempts,
            initial_backoff: Duration::from_millis(ota.retry_backoff_ms),
            ..RetryPolicy::default()
        },
        ..ClientOptions::default()
    };
    if options.retry.initial_backoff > options.retry.max_backoff {
        anyhow::bail!(BadInput(format!(
            "--retry-backoff-ms must be at most {} (the longest pause), not {}",
            options.retry.max_backoff.as_millis(),
            ota.retry_backoff_ms
        )));
    }
    if let Some(i) = &ota.instance_id {
        validate::identifier("IotInstanceId", i)?;
    }
    let (credentials, sandbox, target) = match &ota.sandbox {
        Some(dir) => {
            let key = AccessKey::generate().with_account(SANDBOX_ACCOUNT);
            let credentials = Credentials::new(key.id.clone(), key.secret.clone())?;
            let handle = Sandbox::start(SandboxConfig {
                data_dir: dir.clone(),
                access_keys: vec![key],
                region_id: ota.region.clone(),
                ..SandboxConfig::default()
            })
            .with_context(|| format!("cannot start the OTA sandbox in {}", dir.display()))?;
            options.endpoint = Some(handle.base_url());
            let canonical = dir.canonicalize().unwrap_or_else(|_| dir.clone());
            let target = format!("sandbox:{}", canonical.display());
            (credentials, Some(handle), target)
        }
        None => {
            let credentials = Credentials::load(ota.profile.as_deref()).map_err(OtaError::from)?;
            (credentials, None, String::new())
        }
    };
    let key_id = credentials.access_key_id().to_owned();
    let client = Client::new(credentials, options)?;
    let target = if target.is_empty() {
        format!(
            "{} key {} instance {}",
            client.endpoint(),
            key_id,
            ota.instance_id.as_deref().unwrap_or("-")
        )
    } else {
        target
    };
    Ok(Session {
        client,
        sandbox,
        target,
        key_id,
    })
}

/// The register parameters of one package.
pub fn params(
    name: &str,
    product_key: &str,
    src_version: Option<&str>,
    dest_version: Option<&str>,
    package: &PackageArgs,
    ota: &OtaArgs,
) -> RegisterParams {
    RegisterParams {
        firmware_name: name.to_owned(),
        product_key: Some(product_key.to_owned()),
        src_version: src_version.map(str::to_owned),
        dest_version: dest_version.map(str::to_owned),
        module_name: package.module.clone(),
        firmware_desc: package.desc.clone(),
        need_to_verify: package.need_to_verify.unwrap_or(true),
        udi: package.udi.clone(),
        iot_instance_id: ota.instance_id.clone(),
        file_suffix: package
            .file_suffix
            .clone()
            .unwrap_or_else(|| RegisterParams::default().file_suffix),
    }
}

/// Checks every parameter the service has rules for, before anything is built or sent.
/// (`Client::register_delta` checks them again, with the record, before its first call.)
pub fn check_params(p: &RegisterParams) -> Result<(), OtaError> {
    validate::firmware_name(&p.firmware_name)?;
    if let Some(pk) = &p.product_key {
        validate::identifier("ProductKey", pk)?;
    }
    let dest = p.dest_version.as_deref().unwrap_or("");
    validate::type_and_versions(1, p.src_version.as_deref(), dest)?;
    if let Some(d) = &p.firmware_desc {
        validate::firmware_desc(d)?;
    }
    if let Some(m) = &p.module_name {
        validate::module_name(m)?;
    }
    if let Some(u) = &p.udi {
        validate::udi(u)?;
    }
    if let Some(i) = &p.iot_instance_id {
        validate::identifier("IotInstanceId", i)?;
    }
    validate::file_suffix(&p.file_suffix)
}

/// A URL without its query (pre-signed download URLs carry a signature in it).
pub fn unsigned_url(url: &str) -> String {
    url.split(['?', '#']).next().unwrap_or("").to_owned()
}

/// Asks the service for the package and checks it is the one registered: a differential
/// package (Type=1) with the versions, FirmwareSign (MD5 of the patch) and size of the record.
pub fn confirm(
    client: &Client,
    registered: &Registered,
    record: &ReleaseRecord,
    instance_id: Option<&str>,
) -> Result<(), anyhow::Error> {
    let info = client
        .query_firmware(&QueryOtaFirmware {
            firmware_id: registered.firmware_id.clone(),
            iot_instance_id: instance_id.map(str::to_owned),
        })?
        .firmware;
    let r = &registered.request;
    let mut wrong = Vec::new();
    if info.type_ != Some(1) {
        wrong.push(format!("Type {:?}, expected 1", info.type_));
    }
    if info.src_version != r.src_version {
        wrong.push(format!(
            "SrcVersion {:?}, expected {:?}",
            info.src_version, r.src_version
        ));
    }
    if info.dest_version.as_deref() != Some(r.dest_version.as_str()) {
        wrong.push(format!(
            "DestVersion {:?}, expected {:?}",
            info.dest_version, r.dest_version
        ));
    }
    if !info
        .firmware_sign
        .as_deref()
        .is_some_and(|s| s.eq_ignore_ascii_case(&record.patch.md5))
    {
        wrong.push(format!(
            "FirmwareSign {:?}, expected the patch's MD5 {}",
            info.firmware_sign, record.patch.md5
        ));
    }
    if info.firmware_size.is_some_and(|s| s != record.patch.size) {
        wrong.push(format!(
            "FirmwareSize {:?}, expected {}",
            info.firmware_size, record.patch.size
        ));
    }
    if !wrong.is_empty() {
        anyhow::bail!(OtaError::MalformedResponse {
            action: "QueryOTAFirmware".into(),
            reason: format!(
                "package {} is not the one registered: {}",
                registered.firmware_id,
                wrong.join("; ")
            ),
        });
    }
    Ok(())
}

/// The outcome of a registration as JSON (API names for API facts; no credentials, no
/// signed URLs).
pub fn registered_json(reg: &Registered) -> serde_json::Value {
    let r = &reg.request;
    serde_json::json!({
        "FirmwareId": reg.firmware_id,
        "already_registered": reg.already_registered,
        "FirmwareName": r.firmware_name,
        "ProductKey": r.product_key,
        "Type": r.type_,
        "SrcVersion": r.src_version,
        "DestVersion": r.dest_version,
        "FirmwareSign": r.firmware_sign,
        "SignMethod": r.sign_method,
        "FirmwareSize": r.firmware_size,
        "ModuleName": r.module_name,
        "NeedToVerify": r.need_to_verify,
        "FirmwareUrl": (!r.firmware_url.is_empty()).then(|| unsigned_url(&r.firmware_url)),
        "UtcCreate": reg.utc_create,
        "RequestId": reg.request_id,
    })
}

/// Reads and checks a release record file (bounded read).
pub fn read_record(path: &Path) -> anyhow::Result<ReleaseRecord> {
    let file = std::fs::File::open(path)
        .with_context(|| format!("cannot read release record {}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(fwdelta_record::MAX_RECORD_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read release record {}", path.display()))?;
    ReleaseRecord::from_json(&bytes)
        .with_context(|| format!("invalid release record {}", path.display()))
}

/// The patch a record describes: `--patch`, else the record's `patch.path` as given, else
/// that path relative to the record's directory.
fn patch_path(args: &RegisterArgs, record: &ReleaseRecord) -> anyhow::Result<PathBuf> {
    if let Some(p) = &args.patch {
        return Ok(p.clone());
    }
    let Some(recorded) = record.patch.path.as_deref().map(PathBuf::from) else {
        anyhow::bail!(BadInput(format!(
            "the release record {} names no patch file: give --patch",
            args.record.display()
        )));
    };
    if recorded.is_file() || recorded.is_absolute() {
        return Ok(recorded);
    }
    let beside = args
        .record
        .parent()
        .map(|d| d.join(recorded.file_name().unwrap_or_default()))
        .filter(|p| p.is_file());
    Ok(beside.unwrap_or(recorded))
}

/// Runs `fwdelta register`.
pub fn run(ctx: &Context, args: &RegisterArgs) -> anyhow::Result<ExitCode> {
    let record = read_record(&args.record)?;
    let patch = patch_path(args, &record)?;
    let params = params(
        &args.name,
        &args.product_key,
        args.src_version.as_deref(),
        args.dest_version.as_deref(),
        &args.package,
        &args.ota,
    );
    // Everything that can be checked without the network is checked before connecting.
    Client::prepare_delta(&record, &patch, &params)?;
    let session = connect(&args.ota)?;
    let outcome = register_and_confirm(&session, &record, &patch, &params, &args.ota);
    let target = session.describe(&args.ota);
    let sandbox_dir = session.sandbox_dir();
    session.finish();
    let registered = outcome?;
    if args.json {
        let mut v = registered_json(&registered);
        v["target"] = target;
        v["record"] = args.record.display().to_string().into();
        v["patch"] = patch.display().to_string().into();
        print_json(&v)?;
    } else {
        println!("{}", registered.firmware_id);
        if !ctx.quiet {
            eprintln!(
                "fwdelta: {} package {} ({} -> {}, {} bytes, FirmwareSign {}) as FirmwareId {}",
                if registered.already_registered {
                    "already registered:"
                } else {
                    "registered"
                },
                registered.request.firmware_name,
                registered.request.src_version.as_deref().unwrap_or("?"),
                registered.request.dest_version,
                record.patch.size,
                record.patch.md5,
                registered.firmware_id
            );
        }
    }
    if let Some(dir) = sandbox_dir {
        if !ctx.quiet {
            eprintln!("{}", sandbox_note(&dir));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Registers one verified patch and confirms it with QueryOTAFirmware.
pub fn register_and_confirm(
    session: &Session,
    record: &ReleaseRecord,
    patch: &Path,
    params: &RegisterParams,
    ota: &OtaArgs,
) -> anyhow::Result<Registered> {
    let registered = session
        .client
        .register_delta(record, patch, params)
        .with_context(|| format!("cannot register {}", params.firmware_name))?;
    confirm(
        &session.client,
        &registered,
        record,
        ota.instance_id.as_deref(),
    )
    .with_context(|| format!("cannot confirm {}", params.firmware_name))?;
    Ok(registered)
}

/// Where a dry run's data is, and how to look at it.
pub fn sandbox_note(dir: &Path) -> String {
    format!(
        "fwdelta: dry run: the OTA sandbox's database and uploaded objects are in {}; \
         serve them with `fwdelta sandbox --data {}` (test key pair testid / testsecret) \
         to query the packages",
        dir.display(),
        dir.display()
    )
}
