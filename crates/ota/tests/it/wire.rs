//! The wire form of CreateOTAFirmware equals the official SDK's (signature vectors).

use fwdelta_ota::wire::{signed_path_and_query, Stamp};
use fwdelta_ota::{CreateOtaFirmware, Credentials, Format, RpcAction};

const REFERENCE: &str = include_str!("../data/signature-vectors.txt");
const SDK: &str = include_str!("../data/sdk-vectors.txt");

fn line_after<'a>(text: &'a str, section: &str, label: &str) -> &'a str {
    let start = text.find(section).expect("section");
    let mut lines = text[start..].lines();
    let line = lines.find(|l| l.starts_with(label)).expect("label");
    match line.split_once(": ") {
        Some((_, v)) if !v.trim().is_empty() => v.trim(),
        _ => lines.next().unwrap().trim(),
    }
}

fn vector3_request(name: &str, desc: &str) -> CreateOtaFirmware {
    CreateOtaFirmware {
        product_key: Some("a1BcDeFgHiJ".into()),
        firmware_name: name.into(),
        src_version: Some("1.0.0".into()),
        dest_version: "1.1.0".into(),
        type_: 1,
        firmware_url: "https://iotx-ota.oss-cn-shanghai.aliyuncs.com/ota/abc123/diff.bin".into(),
        firmware_sign: Some("0cc175b9c0f1b6a831c399e269772661".into()),
        sign_method: Some("MD5".into()),
        firmware_size: Some(1234),
        firmware_desc: Some(desc.into()),
        module_name: Some("default".into()),
        need_to_verify: Some(false),
        udi: None,
        iot_instance_id: None,
    }
}

fn stamp() -> Stamp {
    Stamp {
        timestamp: "2024-01-02T03:04:05Z".into(),
        nonce: "c0ffee00-0000-4000-8000-000000000001".into(),
    }
}

/// The signed path and query of `req` at the vectors' fixed time and nonce. Validation is
/// not run: Vector 3's FirmwareName contains '.', which the seed's FirmwareName rule
/// forbids (the SDK does not validate), so the client itself would refuse to send it.
fn wire(req: &CreateOtaFirmware) -> String {
    let creds = Credentials::new("testid", "testsecret").unwrap();
    signed_path_and_query(
        &creds,
        "cn-shanghai",
        Format::Json,
        CreateOtaFirmware::ACTION,
        &req.params(),
        &stamp(),
    )
}

#[test]
fn vector3_name_breaks_the_seed_rule() {
    let req = vector3_request("fw-diff_1.0.0-to-1.1.0(test)", "d");
    assert!(matches!(
        req.validate(),
        Err(fwdelta_ota::OtaError::InvalidParameter {
            name: "FirmwareName",
            ..
        })
    ));
}

#[test]
fn create_ota_firmware_matches_vector3_byte_for_byte() {
    let expected = line_after(REFERENCE, "== Vector 3:", "Signed path+query");
    let got = wire(&vector3_request(
        "fw-diff_1.0.0-to-1.1.0(test)",
        "delta 1.0.0->1.1.0 a*b~c d/e+f",
    ));
    assert_eq!(got, expected);
    assert!(got.ends_with("&Signature=KIpYpV%2BkBfUNqZ5yimXbKzMBPzQ%3D"));
}

#[test]
fn create_ota_firmware_matches_vector3b_chinese() {
    let expected = line_after(SDK, "== Vector 3b", "Signed path+query");
    let req = vector3_request("差分固件(测试)", "差分包 1.0.0->1.1.0，修复：温度*传感器~");
    req.validate().unwrap();
    let got = wire(&req);
    assert_eq!(got, expected);
}

#[test]
fn parameter_names_and_order() {
    let req = vector3_request("n", "d");
    req.validate().unwrap();
    let got = wire(&req);
    let names: Vec<&str> = got
        .trim_start_matches("/?")
        .split('&')
        .map(|kv| kv.split('=').next().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "ProductKey",
            "FirmwareName",
            "SrcVersion",
            "DestVersion",
            "Type",
            "FirmwareUrl",
            "FirmwareSign",
            "SignMethod",
            "FirmwareSize",
            "FirmwareDesc",
            "ModuleName",
            "NeedToVerify",
            "Version",
            "Action",
            "Format",
            "RegionId",
            "Timestamp",
            "SignatureMethod",
            "SignatureType",
            "SignatureVersion",
            "SignatureNonce",
            "AccessKeyId",
            "Signature"
        ]
    );
    assert!(got.contains("&NeedToVerify=False&"));
    assert!(got.contains("&SignatureType=&"));
    let mut req = vector3_request("n", "d");
    req.need_to_verify = Some(true);
    req.iot_instance_id = Some("iot-cn-abc".into());
    let got = wire(&req);
    assert!(got.contains("&NeedToVerify=True&IotInstanceId=iot-cn-abc&Version="));
}

#[test]
fn a_changed_parameter_changes_the_signature() {
    let a = wire(&vector3_request("n", "d"));
    let b = wire(&vector3_request("n", "e"));
    let sig = |s: &str| s.rsplit_once("Signature=").unwrap().1.to_owned();
    assert_ne!(sig(&a), sig(&b));
}
