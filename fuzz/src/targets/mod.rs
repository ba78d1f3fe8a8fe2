//! One module per fuzz target; each `run(data)` is what libFuzzer calls.

pub mod apply_bsdiff40;
pub mod apply_fwdelta;
pub mod common;
pub mod ota_response;
pub mod patch_info;
pub mod record_json;
pub mod roundtrip;
pub mod roundtrip_firmware;
pub mod sandbox_request;
pub mod sufsort;

/// The names of the fuzz targets, as in `fuzz_targets/` and `cargo fuzz list`.
pub const NAMES: [&str; 9] = [
    "apply_fwdelta",
    "apply_bsdiff40",
    "patch_info",
    "roundtrip",
    "roundtrip_firmware",
    "sufsort",
    "record_json",
    "ota_response",
    "sandbox_request",
];

/// Runs target `name` on `data` (for replay tools and tests); false for an unknown name.
pub fn run(name: &str, data: &[u8]) -> bool {
    match name {
        "apply_fwdelta" => apply_fwdelta::run(data),
        "apply_bsdiff40" => apply_bsdiff40::run(data),
        "patch_info" => patch_info::run(data),
        "roundtrip" => roundtrip::run(data),
        "roundtrip_firmware" => roundtrip_firmware::run(data),
        "sufsort" => sufsort::run(data),
        "record_json" => record_json::run(data),
        "ota_response" => ota_response::run(data),
        "sandbox_request" => sandbox_request::run(data),
        _ => return false,
    }
    true
}
