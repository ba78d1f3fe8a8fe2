//! Every error the sandbox can return, in one table.
//!
//! Each entry says where its code, message and HTTP status come from. Entries marked
//! [`Provenance::Documented`] follow Alibaba Cloud's documentation or real responses
//! quoted in public code (see `alibaba-iot-ota.md`, sections 1.5, 2.2 and 4.4).
//! Entries marked [`Provenance::SandboxChoice`] are **the sandbox's own choice**: the
//! real strings are not published, so a client must not depend on them; it may depend
//! only on the documented ones and on the shape (HTTP 200 with `Success:false` for
//! business errors, 4xx/5xx with `Code`/`Message` for gateway errors).
//!
//! Messages may contain one `{}`, replaced by a detail (a parameter name, a limit, the
//! server's string to sign).

/// Where an error entry comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provenance {
    /// Code, message and status are documented or seen in real responses.
    Documented,
    /// The code is documented, the message and/or status are the sandbox's choice.
    DocumentedCode,
    /// Code, message and status are the sandbox's own choice.
    SandboxChoice,
}

/// Which layer answers with the error, which fixes the response shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layer {
    /// The API gateway: HTTP 4xx/5xx, body `RequestId, HostId, Code, Message, Recommend`
    /// (XML root `<Error>`).
    Gateway,
    /// The IoT business layer: HTTP 200, body `RequestId, Success:false, Code,
    /// ErrorMessage` (XML root `<ActionResponse>`).
    Business,
    /// OSS: XML `<Error><Code/><Message/><RequestId/><HostId/></Error>`.
    Oss,
}

/// One error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorSpec {
    /// The `Code`.
    pub code: &'static str,
    /// The message template (`{}` is replaced by the detail).
    pub message: &'static str,
    /// The HTTP status.
    pub status: u16,
    /// The response shape.
    pub layer: Layer,
    /// Where it comes from.
    pub provenance: Provenance,
}

impl ErrorSpec {
    /// The message with `{}` replaced by `detail`.
    pub fn render(&self, detail: &str) -> String {
        if self.message.contains("{}") {
            self.message.replacen("{}", detail, 1)
        } else if detail.is_empty() {
            self.message.to_string()
        } else {
            format!("{} {}", self.message, detail)
        }
    }
}

macro_rules! error_table {
    ($( $(#[$doc:meta])* $variant:ident => ($code:expr, $status:expr, $layer:ident, $prov:ident, $msg:expr), )*) => {
        /// Every error the sandbox returns; see [`ErrorCode::spec`] and [`ERROR_TABLE`].
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum ErrorCode {
            $( $(#[$doc])* $variant, )*
        }

        /// The whole table, in declaration order.
        pub const ERROR_TABLE: &[(ErrorCode, ErrorSpec)] = &[
            $( (ErrorCode::$variant, ErrorSpec {
                code: $code,
                message: $msg,
                status: $status,
                layer: Layer::$layer,
                provenance: Provenance::$prov,
            }), )*
        ];

        impl ErrorCode {
            /// This error's entry.
            pub fn spec(self) -> ErrorSpec {
                match self {
                    $( ErrorCode::$variant => ErrorSpec {
                        code: $code,
                        message: $msg,
                        status: $status,
                        layer: Layer::$layer,
                        provenance: Provenance::$prov,
                    }, )*
                }
            }
        }
    };
}

error_table! {
    // ---- API gateway (section 4.4 of the reference) ----
    /// A required parameter is missing (the detail is its name).
    MissingParameter => ("MissingParameter", 400, Gateway, Documented,
        "The input parameter \"{}\" that is mandatory for processing this request is not supplied."),
    /// A parameter has the wrong type or an unknown value (the detail is its name).
    InvalidParameter => ("InvalidParameter", 400, Gateway, Documented,
        "The specified parameter \"{}\" is not valid."),
    /// The request could not be parsed (bad percent-encoding, a repeated parameter, an
    /// oversized body).
    MalformedRequest => ("InvalidParameter", 400, Gateway, SandboxChoice,
        "The request is malformed: {}"),
    /// An unknown Action.
    InvalidActionNotFound => ("InvalidAction.NotFound", 404, Gateway, DocumentedCode,
        "Specified api is not found, please check your url and method."),
    /// A Version other than 2018-01-20.
    InvalidVersion => ("InvalidVersion", 400, Gateway, DocumentedCode,
        "Specified parameter Version is not valid."),
    /// The AccessKeyId is not known (status 404 as in real captures).
    InvalidAccessKeyIdNotFound => ("InvalidAccessKeyId.NotFound", 404, Gateway, Documented,
        "Specified access key is not found."),
    /// The signature does not match; the detail is the server's string to sign, which
    /// the core SDK compares with its own.
    SignatureDoesNotMatch => ("SignatureDoesNotMatch", 400, Gateway, Documented,
        "Specified signature is not matched with our calculation. server string to sign is:{}"),
    /// The nonce was seen before within the timestamp window.
    SignatureNonceUsed => ("SignatureNonceUsed", 400, Gateway, Documented,
        "Specified signature nonce was used already."),
    /// The timestamp is outside the window.
    InvalidTimeStampExpired => ("InvalidTimeStamp.Expired", 400, Gateway, Documented,
        "Specified time stamp or date value is expired."),
    /// The timestamp is not `YYYY-MM-DDThh:mm:ssZ`.
    InvalidTimeStampFormat => ("InvalidTimeStamp.Format", 400, Gateway, SandboxChoice,
        "Specified time stamp or date value is not well formatted."),
    /// A V3 Authorization header that is malformed or leaves required headers unsigned.
    IncompleteSignature => ("IncompleteSignature", 400, Gateway, DocumentedCode,
        "The request signature does not conform to Aliyun standards. {}"),
    /// SignatureMethod/SignatureVersion other than HMAC-SHA1/1.0.
    UnsupportedSignature => ("InvalidParameter", 400, Gateway, SandboxChoice,
        "The specified parameter \"{}\" is not valid."),
    /// Flow control: more requests per second than the account's limit for the API.
    ThrottlingUser => ("Throttling.User", 400, Gateway, Documented,
        "Request was denied due to user flow control."),
    /// A method other than GET or POST on the RPC endpoint.
    UnsupportedHttpMethod => ("UnsupportedHTTPMethod", 403, Gateway, DocumentedCode,
        "This http method is not supported."),
    /// An internal failure (also used by fault injection).
    InternalError => ("InternalError", 500, Gateway, DocumentedCode,
        "The request processing has failed due to some unknown error, exception or failure."),
    /// Temporarily unavailable (used by fault injection).
    ServiceUnavailable => ("ServiceUnavailable", 503, Gateway, DocumentedCode,
        "The request has failed due to a temporary failure of the server."),

    // ---- IoT business errors (HTTP 200, Success:false) ----
    /// The firmware does not exist (confirmed in the SDK models).
    FirmwareNotFound => ("iot.ota.FirmwareNotFound", 200, Business, Documented,
        "The specified firmware does not exist."),
    /// A storage failure inside the sandbox (the documented generic code and text).
    SystemException => ("iot.system.SystemException", 200, Business, Documented,
        "系统异常"),
    /// CurrentPage/PageSize out of range (the code family is documented).
    InvalidPageParams => ("iot.common.InvalidPageParams", 200, Business, DocumentedCode,
        "The page parameters are invalid: {}"),
    /// FirmwareName empty, too long, or with a character outside the allowed set.
    InvalidFirmwareName => ("iot.ota.InvalidFirmwareName", 200, Business, SandboxChoice,
        "The firmware name is invalid: {}"),
    /// A firmware with this name exists in the account.
    FirmwareNameExists => ("iot.ota.FirmwareNameExisted", 200, Business, SandboxChoice,
        "A firmware with the same name already exists."),
    /// DestVersion invalid.
    InvalidDestVersion => ("iot.ota.InvalidDestVersion", 200, Business, SandboxChoice,
        "The destination version is invalid: {}"),
    /// SrcVersion invalid.
    InvalidSrcVersion => ("iot.ota.InvalidSrcVersion", 200, Business, SandboxChoice,
        "The source version is invalid: {}"),
    /// Type=1 without SrcVersion.
    SrcVersionRequired => ("iot.ota.SrcVersionRequired", 200, Business, SandboxChoice,
        "SrcVersion is required for a differential firmware (Type=1)."),
    /// Type=1 with SrcVersion equal to DestVersion.
    SameSrcAndDestVersion => ("iot.ota.SrcVersionEqualsDestVersion", 200, Business, SandboxChoice,
        "SrcVersion must differ from DestVersion."),
    /// Type other than 0 or 1.
    InvalidFirmwareType => ("iot.ota.InvalidFirmwareType", 200, Business, SandboxChoice,
        "The firmware type must be 0 or 1."),
    /// FirmwareDesc over 100 characters.
    InvalidFirmwareDesc => ("iot.ota.InvalidFirmwareDesc", 200, Business, SandboxChoice,
        "The firmware description must be at most 100 characters."),
    /// SignMethod other than MD5 or SHA256.
    InvalidSignMethod => ("iot.ota.InvalidSignMethod", 200, Business, SandboxChoice,
        "The sign method must be MD5 or SHA256."),
    /// FirmwareSign not a hex digest of the sign method's length.
    InvalidFirmwareSign => ("iot.ota.InvalidFirmwareSign", 200, Business, SandboxChoice,
        "The firmware sign is invalid: {}"),
    /// FirmwareSize not a non-negative integer.
    InvalidFirmwareSize => ("iot.ota.InvalidFirmwareSize", 200, Business, SandboxChoice,
        "The firmware size is invalid: {}"),
    /// FirmwareUrl missing, malformed, or not an object uploaded to this sandbox.
    InvalidFirmwareUrl => ("iot.ota.InvalidFirmwareUrl", 200, Business, SandboxChoice,
        "The firmware URL is invalid: {}"),
    /// Udi over 4096 characters.
    InvalidUdi => ("iot.ota.InvalidUdi", 200, Business, SandboxChoice,
        "The Udi must be at most 4096 characters."),
    /// ModuleName invalid.
    InvalidModuleName => ("iot.ota.InvalidModuleName", 200, Business, SandboxChoice,
        "The module name is invalid: {}"),
    /// MultiFiles invalid.
    InvalidMultiFiles => ("iot.ota.InvalidMultiFiles", 200, Business, SandboxChoice,
        "The multi-file list is invalid: {}"),
    /// The account already has the maximum number of packages.
    FirmwareCountExceeded => ("iot.ota.FirmwareCountExceedLimit", 200, Business, SandboxChoice,
        "The number of firmware packages has reached the limit of {}."),
    /// FileSuffix not one of the documented values.
    InvalidFileSuffix => ("iot.ota.InvalidFileSuffix", 200, Business, SandboxChoice,
        "The file suffix is invalid: {}"),
    /// A CreateOTAVerifyJob parameter out of range.
    InvalidVerifyJobParams => ("iot.ota.InvalidVerifyJobParams", 200, Business, SandboxChoice,
        "The verification job parameters are invalid: {}"),
    /// The package is verifying, verified, or needs no verification.
    VerifyJobNotAllowed => ("iot.ota.VerifyJobNotAllowed", 200, Business, SandboxChoice,
        "The firmware cannot be verified in its current status: {}"),

    // ---- OSS PostObject and downloads ----
    /// A malformed form, or OSSAccessKeyId/policy/Signature not all present.
    OssInvalidArgument => ("InvalidArgument", 400, Oss, DocumentedCode,
        "{}"),
    /// The form is not well-formed multipart/form-data.
    OssMalformedPost => ("MalformedPOSTRequest", 400, Oss, SandboxChoice,
        "The body of your POST request is not well-formed multipart/form-data. {}"),
    /// A policy condition failed or the policy expired.
    OssPolicyDenied => ("AccessDenied", 403, Oss, Documented,
        "Invalid according to Policy: {}"),
    /// A request without credentials to the private bucket.
    OssAnonymousDenied => ("AccessDenied", 403, Oss, SandboxChoice,
        "You have no right to access this object because of bucket acl."),
    /// A pre-signed URL past its Expires time.
    OssRequestExpired => ("AccessDenied", 403, Oss, SandboxChoice,
        "Request has expired."),
    /// An unknown OSSAccessKeyId.
    OssInvalidAccessKeyId => ("InvalidAccessKeyId", 403, Oss, SandboxChoice,
        "The OSS Access Key Id you provided does not exist in our records."),
    /// A wrong OSS signature.
    OssSignatureDoesNotMatch => ("SignatureDoesNotMatch", 403, Oss, SandboxChoice,
        "The request signature we calculated does not match the signature you provided. Check your key and signing method."),
    /// The policy document is not usable.
    OssInvalidPolicyDocument => ("InvalidPolicyDocument", 400, Oss, SandboxChoice,
        "Invalid Policy: {}"),
    /// The file is larger than the policy (or OSS) allows.
    OssEntityTooLarge => ("EntityTooLarge", 400, Oss, DocumentedCode,
        "Your proposed upload exceeds the maximum allowed size."),
    /// The file is smaller than the policy allows.
    OssEntityTooSmall => ("EntityTooSmall", 400, Oss, SandboxChoice,
        "Your proposed upload is smaller than the minimum allowed size."),
    /// No such object.
    OssNoSuchKey => ("NoSuchKey", 404, Oss, SandboxChoice,
        "The specified key does not exist."),
    /// A Range header that cannot be satisfied.
    OssInvalidRange => ("InvalidRange", 416, Oss, SandboxChoice,
        "The requested range cannot be satisfied."),
    /// A method OSS does not allow here.
    OssMethodNotAllowed => ("MethodNotAllowed", 405, Oss, SandboxChoice,
        "The specified method is not allowed against this resource."),
    /// A storage failure while handling an OSS request.
    OssInternalError => ("InternalError", 500, Oss, SandboxChoice,
        "We encountered an internal error. Please try again."),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_consistent() {
        for (code, spec) in ERROR_TABLE {
            assert_eq!(code.spec(), *spec);
            match spec.layer {
                Layer::Business => assert_eq!(spec.status, 200, "{}", spec.code),
                Layer::Gateway | Layer::Oss => assert!(spec.status >= 400, "{}", spec.code),
            }
            if spec.layer == Layer::Business {
                assert!(spec.code.starts_with("iot."), "{}", spec.code);
            }
        }
    }

    #[test]
    fn renders_details() {
        assert_eq!(
            ErrorCode::MissingParameter.spec().render("FirmwareName"),
            "The input parameter \"FirmwareName\" that is mandatory for processing this request is not supplied."
        );
        assert_eq!(
            ErrorCode::ThrottlingUser.spec().render(""),
            "Request was denied due to user flow control."
        );
        assert_eq!(
            ErrorCode::SignatureDoesNotMatch.spec().render("POST&%2F&A%3D1"),
            "Specified signature is not matched with our calculation. server string to sign is:POST&%2F&A%3D1"
        );
    }
}
