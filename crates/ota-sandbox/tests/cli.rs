//! The `fwdelta sandbox` CLI module (src/cmd/sandbox.rs of the root package), compiled
//! here so that it is tested with this crate.

#[path = "../../../src/cmd/sandbox.rs"]
#[allow(dead_code)]
mod sandbox;

use clap::Parser;

#[derive(Parser, Debug)]
struct Cli {
    #[command(flatten)]
    args: sandbox::SandboxArgs,
}

fn parse(argv: &[&str]) -> Result<sandbox::SandboxArgs, clap::Error> {
    Cli::try_parse_from(std::iter::once("sandbox").chain(argv.iter().copied())).map(|c| c.args)
}

#[test]
fn defaults() {
    let args = parse(&[]).unwrap();
    let (config, generated) = sandbox::config_from_args(&args).unwrap();
    assert_eq!(config.listen.to_string(), sandbox::DEFAULT_LISTEN);
    assert!(config.listen.ip().is_loopback());
    assert_eq!(
        config.data_dir,
        std::path::PathBuf::from("fwdelta-sandbox-data")
    );
    assert_eq!(config.access_keys.len(), 1);
    assert_eq!(config.access_keys[0].id, "testid");
    assert_eq!(config.package_quota, 500);
    assert_eq!(config.rate_limits.limit_for("CreateOTAFirmware"), Some(10));
    assert_eq!(config.rate_limits.limit_for("QueryOTAFirmware"), Some(20));
    assert!(!config.faults.is_active());
    assert!(generated.is_none());
}

#[test]
fn options() {
    let args = parse(&[
        "--listen",
        "127.0.0.1:0",
        "--data",
        "/tmp/x",
        "--access-key",
        "LTAIa:s1",
        "--access-key",
        "LTAIb:s2",
        "--quota",
        "3",
        "--qps",
        "2",
        "--fault-503",
        "0.25",
        "--fault-seed",
        "9",
    ])
    .unwrap();
    let (config, _) = sandbox::config_from_args(&args).unwrap();
    let ids: Vec<_> = config.access_keys.iter().map(|k| k.id.as_str()).collect();
    assert_eq!(ids, ["LTAIa", "LTAIb"]);
    assert_eq!(config.package_quota, 3);
    assert_eq!(config.faults.http_503, 0.25);
    assert_eq!(config.faults.seed, Some(9));

    let args = parse(&["--generate-key", "--show-secret"]).unwrap();
    let (config, generated) = sandbox::config_from_args(&args).unwrap();
    let generated = generated.unwrap();
    assert_eq!(config.access_keys, vec![generated]);
}

#[test]
fn invalid_options_are_errors() {
    assert!(parse(&["--show-secret"]).is_err());
    for argv in [
        &["--listen", "0.0.0.0:8765"][..],
        &["--access-key", "no-colon"],
        &["--fault-500", "1.5"],
        &["--qps", "0"],
        &["--timestamp-window", "0"],
    ] {
        let args = parse(argv).unwrap();
        assert!(sandbox::config_from_args(&args).is_err(), "{argv:?}");
    }
    let args = parse(&["--listen", "0.0.0.0:0", "--allow-non-loopback"]).unwrap();
    assert!(sandbox::config_from_args(&args).is_ok());
}
