//! Typed requests of the OTA API. Each knows its action name, its validation rules and
//! its parameters in the order the official SDK sends them.

use crate::response::{CreatedFirmware, FirmwarePage, FromResponse, QueriedFirmware, UploadUrl};
use crate::{validate, OtaError};

/// An RPC action: what the client needs to validate, send and parse it.
pub trait RpcAction {
    /// The `Action` parameter.
    const ACTION: &'static str;
    /// True when sending it twice does no harm, so it may be retried blindly.
    const IDEMPOTENT: bool;
    /// The typed answer.
    type Response: FromResponse;
    /// Checks every parameter against the service's rules.
    fn validate(&self) -> Result<(), OtaError>;
    /// The action's own parameters (without the common ones), in wire order.
    fn params(&self) -> Vec<(String, String)>;
}

fn push(out: &mut Vec<(String, String)>, name: &str, value: Option<&str>) {
    if let Some(v) = value {
        out.push((name.to_owned(), v.to_owned()));
    }
}

/// GenerateOTAUploadURL: asks for a one-minute OSS upload policy.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GenerateOtaUploadUrl {
    /// `FileSuffix`; the service's default is `bin`. One of [`validate::FILE_SUFFIXES`].
    pub file_suffix: Option<String>,
    /// `IotInstanceId`, for purchased instances.
    pub iot_instance_id: Option<String>,
}

impl RpcAction for GenerateOtaUploadUrl {
    const ACTION: &'static str = "GenerateOTAUploadURL";
    const IDEMPOTENT: bool = true;
    type Response = UploadUrl;
    fn validate(&self) -> Result<(), OtaError> {
        if let Some(s) = &self.file_suffix {
            validate::file_suffix(s)?;
        }
        if let Some(i) = &self.iot_instance_id {
            validate::identifier("IotInstanceId", i)?;
        }
        Ok(())
    }
    fn params(&self) -> Vec<(String, String)> {
        let mut p = Vec::new();
        push(&mut p, "FileSuffix", self.file_suffix.as_deref());
        push(&mut p, "IotInstanceId", self.iot_instance_id.as_deref());
        p
    }
}

/// CreateOTAFirmware: registers an uploaded file as an OTA package.
///
/// Not idempotent: the client never resends it blindly (see
/// [`Client::register_delta`](crate::Client::register_delta)).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CreateOtaFirmware {
    /// `ProductKey`: the product the package belongs to.
    pub product_key: Option<String>,
    /// `FirmwareName`: 1–40 letters, digits, `-`, `_`, `()`; unique in the account.
    pub firmware_name: String,
    /// `SrcVersion`: required for `Type=1`, and different from DestVersion.
    pub src_version: Option<String>,
    /// `DestVersion`: 1–64 letters, digits, `.`, `-`, `_`.
    pub dest_version: String,
    /// `Type`: 0 full, 1 differential.
    pub type_: u8,
    /// `FirmwareUrl`: `Data.FirmwareUrl` of GenerateOTAUploadURL.
    pub firmware_url: String,
    /// `FirmwareSign`: the hex digest of the file.
    pub firmware_sign: Option<String>,
    /// `SignMethod`: `MD5` (default) or `SHA256`.
    pub sign_method: Option<String>,
    /// `FirmwareSize`: the file's size in bytes.
    pub firmware_size: Option<u64>,
    /// `FirmwareDesc`: at most 100 characters.
    pub firmware_desc: Option<String>,
    /// `ModuleName`: the OTA module (`default` when absent).
    pub module_name: Option<String>,
    /// `NeedToVerify`: whether a verification job must pass before batch upgrades
    /// (the service's default is true). Sent as `True`/`False`, as the SDK does.
    pub need_to_verify: Option<bool>,
    /// `Udi`: custom data pushed to the device, at most 4,096 characters.
    pub udi: Option<String>,
    /// `IotInstanceId`, for purchased instances.
    pub iot_instance_id: Option<String>,
}

impl CreateOtaFirmware {
    /// Checks every parameter except `FirmwareUrl` (for validating before the upload).
    pub fn validate_without_url(&self) -> Result<(), OtaError> {
        if let Some(pk) = &self.product_key {
            validate::identifier("ProductKey", pk)?;
        }
        validate::firmware_name(&self.firmware_name)?;
        validate::type_and_versions(self.type_, self.src_version.as_deref(), &self.dest_version)?;
        let method = self.sign_method.as_deref().unwrap_or("MD5");
        validate::sign_method(method)?;
        if let Some(sign) = &self.firmware_sign {
            validate::firmware_sign(method, sign)?;
        }
        if let Some(size) = self.firmware_size {
            validate::firmware_size(size)?;
        }
        if let Some(d) = &self.firmware_desc {
            validate::firmware_desc(d)?;
        }
        if let Some(m) = &self.module_name {
            validate::module_name(m)?;
        }
        if let Some(u) = &self.udi {
            validate::udi(u)?;
        }
        if let Some(i) = &self.iot_instance_id {
            validate::identifier("IotInstanceId", i)?;
        }
        Ok(())
    }
}

impl RpcAction for CreateOtaFirmware {
    const ACTION: &'static str = "CreateOTAFirmware";
    const IDEMPOTENT: bool = false;
    type Response = CreatedFirmware;
    fn validate(&self) -> Result<(), OtaError> {
        self.validate_without_url()?;
        validate::firmware_url(&self.firmware_url)
    }
    fn params(&self) -> Vec<(String, String)> {
        let mut p = Vec::new();
        push(&mut p, "ProductKey", self.product_key.as_deref());
        push(&mut p, "FirmwareName", Some(&self.firmware_name));
        push(&mut p, "SrcVersion", self.src_version.as_deref());
        push(&mut p, "DestVersion", Some(&self.dest_version));
        push(&mut p, "Type", Some(&self.type_.to_string()));
        push(&mut p, "FirmwareUrl", Some(&self.firmware_url));
        push(&mut p, "FirmwareSign", self.firmware_sign.as_deref());
        push(&mut p, "SignMethod", self.sign_method.as_deref());
        push(
            &mut p,
            "FirmwareSize",
            self.firmware_size.map(|s| s.to_string()).as_deref(),
        );
        push(&mut p, "FirmwareDesc", self.firmware_desc.as_deref());
        push(&mut p, "ModuleName", self.module_name.as_deref());
        push(
            &mut p,
            "NeedToVerify",
            self.need_to_verify
                .map(|b| if b { "True" } else { "False" }),
        );
        push(&mut p, "Udi", self.udi.as_deref());
        push(&mut p, "IotInstanceId", self.iot_instance_id.as_deref());
        p
    }
}

/// QueryOTAFirmware: one package's details.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct QueryOtaFirmware {
    /// `FirmwareId`.
    pub firmware_id: String,
    /// `IotInstanceId`, for purchased instances.
    pub iot_instance_id: Option<String>,
}

impl RpcAction for QueryOtaFirmware {
    const ACTION: &'static str = "QueryOTAFirmware";
    const IDEMPOTENT: bool = true;
    type Response = QueriedFirmware;
    fn validate(&self) -> Result<(), OtaError> {
        validate::identifier("FirmwareId", &self.firmware_id)?;
        if let Some(i) = &self.iot_instance_id {
            validate::identifier("IotInstanceId", i)?;
        }
        Ok(())
    }
    fn params(&self) -> Vec<(String, String)> {
        let mut p = Vec::new();
        push(&mut p, "FirmwareId", Some(&self.firmware_id));
        push(&mut p, "IotInstanceId", self.iot_instance_id.as_deref());
        p
    }
}

/// ListOTAFirmware: one page of the account's (or a product's) packages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListOtaFirmware {
    /// `CurrentPage`, from 1.
    pub current_page: u32,
    /// `PageSize`, 1–100.
    pub page_size: u32,
    /// `ProductKey`: only this product's packages.
    pub product_key: Option<String>,
    /// `DestVersion`: only packages of this version.
    pub dest_version: Option<String>,
    /// `IotInstanceId`, for purchased instances.
    pub iot_instance_id: Option<String>,
}

impl Default for ListOtaFirmware {
    /// The first page of 100, unfiltered.
    fn default() -> Self {
        ListOtaFirmware {
            current_page: 1,
            page_size: 100,
            product_key: None,
            dest_version: None,
            iot_instance_id: None,
        }
    }
}

impl RpcAction for ListOtaFirmware {
    const ACTION: &'static str = "ListOTAFirmware";
    const IDEMPOTENT: bool = true;
    type Response = FirmwarePage;
    fn validate(&self) -> Result<(), OtaError> {
        validate::paging(self.current_page, self.page_size)?;
        if let Some(pk) = &self.product_key {
            validate::identifier("ProductKey", pk)?;
        }
        if let Some(v) = &self.dest_version {
            validate::version("DestVersion", v)?;
        }
        if let Some(i) = &self.iot_instance_id {
            validate::identifier("IotInstanceId", i)?;
        }
        Ok(())
    }
    fn params(&self) -> Vec<(String, String)> {
        let mut p = Vec::new();
        push(&mut p, "CurrentPage", Some(&self.current_page.to_string()));
        push(&mut p, "PageSize", Some(&self.page_size.to_string()));
        push(&mut p, "ProductKey", self.product_key.as_deref());
        push(&mut p, "DestVersion", self.dest_version.as_deref());
        push(&mut p, "IotInstanceId", self.iot_instance_id.as_deref());
        p
    }
}
