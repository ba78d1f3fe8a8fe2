//! The emulated IoT Platform OTA actions (version 2018-01-20).

use std::collections::{BTreeMap, BTreeSet};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use md5::{Digest, Md5};
use time::OffsetDateTime;

use crate::codes::ErrorCode;
use crate::response::Node;
use crate::store::{Firmware, FirmwareFile, InsertError, ObjectRecord, Store, VerifyJob};
use crate::{ids, timefmt};

/// The actions the sandbox serves.
pub const SUPPORTED_ACTIONS: &[&str] = &[
    "CreateOTAFirmware",
    "GenerateOTAUploadURL",
    "QueryOTAFirmware",
    "ListOTAFirmware",
    "DeleteOTAFirmware",
    "CreateOTAVerifyJob",
];

/// The file suffixes GenerateOTAUploadURL accepts (documented).
pub const FILE_SUFFIXES: &[&str] = &["bin", "dav", "apk", "tar", "gz", "tar.gz", "zip", "gzip"];

/// An error answer: an entry of the error table plus a detail for its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The error.
    pub code: ErrorCode,
    /// The detail substituted into the message.
    pub detail: String,
}

impl ApiError {
    /// An error with a detail.
    pub fn new(code: ErrorCode, detail: &str) -> ApiError {
        ApiError {
            code,
            detail: detail.to_string(),
        }
    }

    /// A gateway-level internal error.
    pub fn internal(detail: &str) -> ApiError {
        ApiError::new(ErrorCode::InternalError, detail)
    }

    /// A business-level storage failure.
    fn system(err: &dyn std::fmt::Display) -> ApiError {
        ApiError::new(ErrorCode::SystemException, &err.to_string())
    }
}

/// The OSS credentials the sandbox signs upload policies and download URLs with.
#[derive(Clone, PartialEq, Eq)]
pub struct OssKey {
    /// The OSSAccessKeyId handed out in upload data.
    pub id: String,
    /// Its secret (generated on first start, kept in the database).
    pub secret: String,
}

impl std::fmt::Debug for OssKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OssKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// What an action needs from the server.
#[derive(Debug)]
pub struct Ctx<'a> {
    /// Storage.
    pub store: &'a Store,
    /// The package quota per account.
    pub package_quota: u32,
    /// `host[:port]` for URLs.
    pub public_host: &'a str,
    /// The OSS key.
    pub oss: &'a OssKey,
    /// The bucket name.
    pub bucket: &'a str,
    /// Upload policy lifetime.
    pub upload_policy_ttl: std::time::Duration,
    /// content-length-range maximum.
    pub max_upload_bytes: u64,
    /// Pre-signed download URL lifetime.
    pub download_url_ttl: std::time::Duration,
    /// The request time.
    pub now: OffsetDateTime,
}

/// The key prefix of an account's uploads: `ota/<md5(account)>/`.
pub fn account_prefix(account: &str) -> String {
    format!("ota/{}/", hex::encode(Md5::digest(account.as_bytes())))
}

/// Request parameters by name (query and form merged; names are unique).
pub type Params = BTreeMap<String, String>;

fn opt<'a>(p: &'a Params, name: &str) -> Option<&'a str> {
    p.get(name).map(String::as_str)
}

/// A required parameter: absent or empty is `MissingParameter`.
fn required<'a>(p: &'a Params, name: &str) -> Result<&'a str, ApiError> {
    match opt(p, name) {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(ApiError::new(ErrorCode::MissingParameter, name)),
    }
}

/// An Integer parameter: a value that is not a decimal integer is `InvalidParameter`.
fn int_param(p: &Params, name: &str) -> Result<Option<i64>, ApiError> {
    match opt(p, name) {
        None | Some("") => Ok(None),
        Some(v) => v
            .trim()
            .parse::<i64>()
            .map(Some)
            .map_err(|_| ApiError::new(ErrorCode::InvalidParameter, name)),
    }
}

/// A Boolean parameter: `true`/`false` in any case (the Python SDKs send `True`).
fn bool_param(p: &Params, name: &str) -> Result<Option<bool>, ApiError> {
    match opt(p, name) {
        None | Some("") => Ok(None),
        Some(v) if v.eq_ignore_ascii_case("true") => Ok(Some(true)),
        Some(v) if v.eq_ignore_ascii_case("false") => Ok(Some(false)),
        Some(_) => Err(ApiError::new(ErrorCode::InvalidParameter, name)),
    }
}

fn is_cjk_or_kana(c: char) -> bool {
    matches!(c,
        '\u{4E00}'..='\u{9FFF}'   // CJK unified ideographs
        | '\u{3400}'..='\u{4DBF}' // extension A
        | '\u{F900}'..='\u{FAFF}' // compatibility ideographs
        | '\u{3040}'..='\u{309F}' // hiragana
        | '\u{30A0}'..='\u{30FF}' // katakana (with the long-vowel mark)
    )
}

/// Checks a FirmwareName: 1–40 characters; letters, digits, Chinese, Japanese, `-`,
/// `_`, `(`, `)`; starting with a letter, digit, Chinese or Japanese character.
pub fn validate_firmware_name(name: &str) -> Result<(), String> {
    let count = name.chars().count();
    if count == 0 || count > 40 {
        return Err(format!("it must be 1 to 40 characters, not {count}"));
    }
    let first = name.chars().next().unwrap_or(' ');
    if !(first.is_ascii_alphanumeric() || is_cjk_or_kana(first)) {
        return Err(
            "it must start with a letter, a digit, or a Chinese or Japanese character".into(),
        );
    }
    if let Some(bad) = name
        .chars()
        .find(|&c| !(c.is_ascii_alphanumeric() || is_cjk_or_kana(c) || "-_()".contains(c)))
    {
        return Err(format!("the character {bad:?} is not allowed"));
    }
    Ok(())
}

/// Checks a version (DestVersion, SrcVersion, ModuleName): 1–64 of letters, digits,
/// `.`, `-`, `_`.
pub fn validate_version(v: &str) -> Result<(), String> {
    let n = v.chars().count();
    if n == 0 || n > 64 {
        return Err(format!("it must be 1 to 64 characters, not {n}"));
    }
    if let Some(bad) = v
        .chars()
        .find(|&c| !(c.is_ascii_alphanumeric() || ".-_".contains(c)))
    {
        return Err(format!("the character {bad:?} is not allowed"));
    }
    Ok(())
}

/// The sign method, normalised: `MD5` or `SHA256`.
fn sign_method(p: &Params) -> Result<&'static str, ApiError> {
    match opt(p, "SignMethod") {
        None | Some("") => Ok("MD5"),
        Some(v) if v.eq_ignore_ascii_case("md5") => Ok("MD5"),
        Some(v) if v.eq_ignore_ascii_case("sha256") => Ok("SHA256"),
        Some(_) => Err(ApiError::new(ErrorCode::InvalidSignMethod, "")),
    }
}

fn validate_sign(sign: &str, method: &str) -> Result<(), ApiError> {
    let want = if method == "SHA256" { 64 } else { 32 };
    if sign.len() != want || !sign.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::new(
            ErrorCode::InvalidFirmwareSign,
            &format!("it must be a {want}-digit hex {method} digest"),
        ));
    }
    Ok(())
}

fn size_param(v: Option<&str>) -> Result<Option<u64>, ApiError> {
    match v {
        None | Some("") => Ok(None),
        Some(s) => s.trim().parse::<u64>().map(Some).map_err(|_| {
            ApiError::new(
                ErrorCode::InvalidFirmwareSize,
                "it must be a non-negative integer",
            )
        }),
    }
}

impl Ctx<'_> {
    fn base_url(&self) -> String {
        format!("http://{}", self.public_host)
    }

    /// Resolves a firmware URL to an object of `account`.
    fn resolve_url(&self, account: &str, url: &str) -> Result<ObjectRecord, ApiError> {
        let bad = |why: &str| ApiError::new(ErrorCode::InvalidFirmwareUrl, why);
        let rest = url
            .strip_prefix("http://")
            .or_else(|| url.strip_prefix("https://"))
            .ok_or_else(|| bad("it must be an http(s) URL returned by GenerateOTAUploadURL"))?;
        let (host, path) = rest
            .split_once('/')
            .ok_or_else(|| bad("it has no object key"))?;
        let key = path.split(['?', '#']).next().unwrap_or("");
        let key = crate::request::percent_decode(key, false, "path", 0)
            .map_err(|_| bad("its object key is not valid percent-encoding"))?;
        if !host.eq_ignore_ascii_case(self.public_host) && !is_local_host(host) {
            return Err(bad("it does not point at this sandbox's OSS host"));
        }
        if !key.starts_with(&account_prefix(account)) {
            return Err(bad("it does not name an object uploaded by this account"));
        }
        self.store
            .object(&key)
            .map_err(|e| ApiError::system(&e))?
            .ok_or_else(|| bad("no object has been uploaded under this key"))
    }

    /// A pre-signed download URL for `key` (OSS V1 query signature).
    pub fn presigned_url(&self, key: &str) -> String {
        let expires = self
            .now
            .unix_timestamp()
            .saturating_add(i64::try_from(self.download_url_ttl.as_secs()).unwrap_or(i64::MAX / 2));
        let sig = presign_signature(&self.oss.secret, self.bucket, key, expires);
        format!(
            "{}/{}?Expires={}&OSSAccessKeyId={}&Signature={}",
            self.base_url(),
            key,
            expires,
            fwdelta_acs_sign::percent_encode(&self.oss.id),
            fwdelta_acs_sign::percent_encode(&sig)
        )
    }
}

/// Whether `host` (with an optional port) is a loopback name or address: objects
/// uploaded before a restart on another port keep their old URLs.
fn is_local_host(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        host.rsplit_once(':').map_or(host, |(h, _)| h)
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The OSS V1 signature of a pre-signed GET:
/// `Base64(HMAC-SHA1(secret, "GET\n\n\n<expires>\n/<bucket>/<key>"))`.
pub fn presign_signature(secret: &str, bucket: &str, key: &str, expires: i64) -> String {
    let sts = format!("GET\n\n\n{expires}\n/{bucket}/{key}");
    fwdelta_acs_sign::oss_post_signature(secret, &sts)
}

/// Runs `action` for `account` with `params`; returns the response fields that go
/// before `RequestId` and `Success`.
pub fn handle(
    ctx: &Ctx<'_>,
    account: &str,
    action: &str,
    params: &Params,
) -> Result<Node, ApiError> {
    match action {
        "CreateOTAFirmware" => create_firmware(ctx, account, params),
        "GenerateOTAUploadURL" => generate_upload_url(ctx, account, params),
        "QueryOTAFirmware" => query_firmware(ctx, account, params),
        "ListOTAFirmware" => list_firmware(ctx, account, params),
        "DeleteOTAFirmware" => delete_firmware(ctx, account, params),
        "CreateOTAVerifyJob" => create_verify_job(ctx, account, params),
        _ => Err(ApiError::new(ErrorCode::InvalidActionNotFound, "")),
    }
}

/// Collects `Prefix.N.Field` (or `Prefix.N` when `field` is empty) into N → value,
/// with N from 1 to `max_index`.
fn repeat_list(
    params: &Params,
    prefix: &str,
    max_index: usize,
) -> Result<BTreeMap<usize, BTreeMap<String, String>>, ApiError> {
    let mut out: BTreeMap<usize, BTreeMap<String, String>> = BTreeMap::new();
    let dotted = format!("{prefix}.");
    for (k, v) in params.range(dotted.clone()..) {
        let Some(rest) = k.strip_prefix(&dotted) else {
            break;
        };
        let (index, field) = rest.split_once('.').unwrap_or((rest, ""));
        let n: usize = index
            .parse()
            .ok()
            .filter(|n| (1..=max_index).contains(n))
            .ok_or_else(|| ApiError::new(ErrorCode::InvalidParameter, k))?;
        out.entry(n)
            .or_default()
            .insert(field.to_string(), v.clone());
    }
    Ok(out)
}

fn create_firmware(ctx: &Ctx<'_>, account: &str, p: &Params) -> Result<Node, ApiError> {
    let name = required(p, "FirmwareName")?;
    let dest = required(p, "DestVersion")?;
    let fw_type = int_param(p, "Type")?.unwrap_or(0);
    let need_to_verify = bool_param(p, "NeedToVerify")?.unwrap_or(true);
    validate_firmware_name(name).map_err(|e| ApiError::new(ErrorCode::InvalidFirmwareName, &e))?;
    validate_version(dest).map_err(|e| ApiError::new(ErrorCode::InvalidDestVersion, &e))?;
    if fw_type != 0 && fw_type != 1 {
        return Err(ApiError::new(ErrorCode::InvalidFirmwareType, ""));
    }
    let src = opt(p, "SrcVersion").filter(|s| !s.is_empty());
    if fw_type == 1 && src.is_none() {
        return Err(ApiError::new(ErrorCode::SrcVersionRequired, ""));
    }
    if let Some(src) = src {
        validate_version(src).map_err(|e| ApiError::new(ErrorCode::InvalidSrcVersion, &e))?;
        if fw_type == 1 && src == dest {
            return Err(ApiError::new(ErrorCode::SameSrcAndDestVersion, ""));
        }
    }
    let desc = opt(p, "FirmwareDesc").filter(|s| !s.is_empty());
    if desc.is_some_and(|d| d.chars().count() > 100) {
        return Err(ApiError::new(ErrorCode::InvalidFirmwareDesc, ""));
    }
    let method = sign_method(p)?;
    let module = opt(p, "ModuleName")
        .filter(|s| !s.is_empty())
        .unwrap_or("default");
    validate_version(module).map_err(|e| ApiError::new(ErrorCode::InvalidModuleName, &e))?;
    let udi = opt(p, "Udi").filter(|s| !s.is_empty());
    if udi.is_some_and(|u| u.chars().count() > 4096) {
        return Err(ApiError::new(ErrorCode::InvalidUdi, ""));
    }
    let product_key = opt(p, "ProductKey").filter(|s| !s.is_empty());
    if product_key.is_some_and(|k| k.len() > 64) {
        return Err(ApiError::new(ErrorCode::InvalidParameter, "ProductKey"));
    }
    let instance = opt(p, "IotInstanceId").filter(|s| !s.is_empty());
    let digest_of = |obj: &ObjectRecord| {
        if method == "SHA256" {
            obj.sha256.clone()
        } else {
            obj.md5.clone()
        }
    };

    let multi = repeat_list(p, "MultiFiles", 1000)?;
    let url = opt(p, "FirmwareUrl").filter(|s| !s.is_empty());
    let mut files = Vec::new();
    let (mut sign, mut size, mut object_key) = (None, None, None);
    if !multi.is_empty() {
        let bad = |why: &str| ApiError::new(ErrorCode::InvalidMultiFiles, why);
        if url.is_some() {
            return Err(bad("FirmwareUrl must not be given with MultiFiles"));
        }
        if multi.len() > 20 {
            return Err(bad("a package holds at most 20 files"));
        }
        if multi.keys().copied().ne(1..=multi.len()) {
            return Err(bad("MultiFiles must be numbered from 1 without gaps"));
        }
        let mut names = BTreeSet::new();
        for (n, fields) in &multi {
            let fname = fields.get("Name").map(String::as_str).unwrap_or("");
            let count = fname.chars().count();
            if count == 0 || count > 32 {
                return Err(bad(&format!(
                    "MultiFiles.{n}.Name must be 1 to 32 characters"
                )));
            }
            if !names.insert(fname.to_string()) {
                return Err(bad(&format!("the file name {fname:?} is repeated")));
            }
            let furl = fields
                .get("Url")
                .filter(|u| !u.is_empty())
                .ok_or_else(|| bad(&format!("MultiFiles.{n}.Url is required")))?;
            let obj = ctx.resolve_url(account, furl)?;
            let fsize = size_param(fields.get("Size").map(String::as_str))?.unwrap_or(obj.size);
            let sign_value = match fields.get("SignValue").filter(|s| !s.is_empty()) {
                Some(s) => {
                    validate_sign(s, method)?;
                    s.clone()
                }
                None => digest_of(&obj),
            };
            let file_md5 = match fields.get("FileMd5").filter(|s| !s.is_empty()) {
                Some(s) => {
                    validate_sign(s, "MD5")?;
                    s.clone()
                }
                None => obj.md5.clone(),
            };
            files.push(FirmwareFile {
                name: fname.to_string(),
                url: furl.clone(),
                object_key: obj.key.clone(),
                size: fsize,
                sign_value,
                file_md5,
            });
        }
    } else {
        let url = url.ok_or_else(|| ApiError::new(ErrorCode::MissingParameter, "FirmwareUrl"))?;
        let given_sign = opt(p, "FirmwareSign").filter(|s| !s.is_empty());
        if let Some(s) = given_sign {
            validate_sign(s, method)?;
        }
        let given_size = size_param(opt(p, "FirmwareSize"))?;
        let obj = ctx.resolve_url(account, url)?;
        sign = Some(given_sign.map_or_else(|| digest_of(&obj), str::to_string));
        size = Some(given_size.unwrap_or(obj.size));
        object_key = Some(obj.key);
    }

    let now_ms = timefmt::unix_millis(ctx.now);
    let fw = Firmware {
        id: ids::firmware_id(),
        account: account.to_string(),
        name: name.to_string(),
        product_key: product_key.map(str::to_string),
        dest_version: dest.to_string(),
        src_version: src.map(str::to_string),
        firmware_type: if fw_type == 1 { 1 } else { 0 },
        sign_method: method.to_string(),
        sign,
        size,
        url: url.map(str::to_string),
        object_key,
        description: desc.map(str::to_string),
        module_name: module.to_string(),
        udi: udi.map(str::to_string),
        need_to_verify,
        status: if need_to_verify { 0 } else { -1 },
        verify_progress: 0,
        iot_instance_id: instance.map(str::to_string),
        created_ms: now_ms,
        modified_ms: now_ms,
        files,
    };
    match ctx.store.insert_firmware(&fw, ctx.package_quota) {
        Ok(()) => {}
        Err(InsertError::NameExists) => {
            return Err(ApiError::new(ErrorCode::FirmwareNameExists, ""))
        }
        Err(InsertError::QuotaExceeded { quota }) => {
            return Err(ApiError::new(
                ErrorCode::FirmwareCountExceeded,
                &quota.to_string(),
            ))
        }
        Err(e) => return Err(ApiError::system(&e)),
    }
    Ok(Node::obj().with(
        "Data",
        Node::obj()
            .with_str("FirmwareId", &fw.id)
            .with_str("UtcCreate", &timefmt::format_millis(ctx.now)),
    ))
}

fn generate_upload_url(ctx: &Ctx<'_>, account: &str, p: &Params) -> Result<Node, ApiError> {
    let suffix = opt(p, "FileSuffix")
        .filter(|s| !s.is_empty())
        .unwrap_or("bin");
    if !FILE_SUFFIXES.contains(&suffix) {
        return Err(ApiError::new(
            ErrorCode::InvalidFileSuffix,
            &format!("expected one of {}", FILE_SUFFIXES.join(", ")),
        ));
    }
    let prefix = account_prefix(account);
    let key = format!("{prefix}{}.{suffix}", ids::lower_alnum(25));
    let ttl = time::Duration::try_from(ctx.upload_policy_ttl).unwrap_or(time::Duration::MINUTE);
    let expiration = timefmt::format_millis(ctx.now + ttl);
    let policy_json = serde_json::json!({
        "expiration": expiration,
        "conditions": [
            ["content-length-range", 0, ctx.max_upload_bytes],
            ["starts-with", "$key", prefix],
        ],
    })
    .to_string();
    let policy = BASE64.encode(policy_json);
    let signature = fwdelta_acs_sign::oss_post_signature(&ctx.oss.secret, &policy);
    let host = ctx.base_url();
    Ok(Node::obj().with(
        "Data",
        Node::obj()
            .with_str("Key", &key)
            .with_str("Host", &host)
            .with_str("Policy", &policy)
            .with_str("OSSAccessKeyId", &ctx.oss.id)
            .with_str("Signature", &signature)
            .with_str("ObjectStorage", "OSS")
            .with_str("UtcCreate", &timefmt::format_millis(ctx.now))
            .with_str("FirmwareUrl", &format!("{host}/{key}")),
    ))
}

fn load(ctx: &Ctx<'_>, account: &str, p: &Params) -> Result<Firmware, ApiError> {
    let id = required(p, "FirmwareId")?;
    ctx.store
        .firmware(account, id)
        .map_err(|e| ApiError::system(&e))?
        .ok_or_else(|| ApiError::new(ErrorCode::FirmwareNotFound, ""))
}

fn query_firmware(ctx: &Ctx<'_>, account: &str, p: &Params) -> Result<Node, ApiError> {
    let fw = load(ctx, account, p)?;
    let mut info = Node::obj()
        .with_str("DestVersion", &fw.dest_version)
        .with_opt_str("FirmwareDesc", fw.description.as_deref())
        .with_str("FirmwareId", &fw.id)
        .with_str("FirmwareName", &fw.name)
        .with_opt_str("FirmwareSign", fw.sign.as_deref());
    if let Some(size) = fw.size {
        info = info.with_int("FirmwareSize", i64::try_from(size).unwrap_or(i64::MAX));
    }
    if let Some(key) = &fw.object_key {
        info = info.with_str("FirmwareUrl", &ctx.presigned_url(key));
    }
    info = info.with_str("ModuleName", &fw.module_name);
    if !fw.files.is_empty() {
        let files = fw
            .files
            .iter()
            .map(|f| {
                Node::obj()
                    .with_str("FileMd5", &f.file_md5)
                    .with_str("Name", &f.name)
                    .with_str("SignValue", &f.sign_value)
                    .with_int("Size", i64::try_from(f.size).unwrap_or(i64::MAX))
                    .with_str("Url", &ctx.presigned_url(&f.object_key))
            })
            .collect();
        info = info.with("MultiFiles", Node::List(files));
    }
    info = info
        .with_opt_str("ProductKey", fw.product_key.as_deref())
        .with_str("SignMethod", &fw.sign_method)
        .with_opt_str("SrcVersion", fw.src_version.as_deref())
        .with_int("Status", i64::from(fw.status))
        .with_int("Type", i64::from(fw.firmware_type))
        .with_opt_str("Udi", fw.udi.as_deref())
        .with_str(
            "UtcCreate",
            &timefmt::format_millis(timefmt::from_unix_millis(fw.created_ms)),
        )
        .with_str(
            "UtcModified",
            &timefmt::format_millis(timefmt::from_unix_millis(fw.modified_ms)),
        )
        .with_int("VerifyProgress", i64::from(fw.verify_progress));
    Ok(Node::obj().with("FirmwareInfo", info))
}

fn list_firmware(ctx: &Ctx<'_>, account: &str, p: &Params) -> Result<Node, ApiError> {
    let page_text = required(p, "CurrentPage")?;
    let size_text = required(p, "PageSize")?;
    let page: i64 = page_text
        .trim()
        .parse()
        .map_err(|_| ApiError::new(ErrorCode::InvalidParameter, "CurrentPage"))?;
    let size: i64 = size_text
        .trim()
        .parse()
        .map_err(|_| ApiError::new(ErrorCode::InvalidParameter, "PageSize"))?;
    if page < 1 || !(1..=100).contains(&size) {
        return Err(ApiError::new(
            ErrorCode::InvalidPageParams,
            "CurrentPage must be at least 1 and PageSize between 1 and 100",
        ));
    }
    let (page, size) = (page.unsigned_abs(), size.unsigned_abs());
    let offset = (page - 1).saturating_mul(size);
    let (total, items) = ctx
        .store
        .list_firmware(
            account,
            opt(p, "ProductKey").filter(|s| !s.is_empty()),
            opt(p, "DestVersion").filter(|s| !s.is_empty()),
            offset,
            size,
        )
        .map_err(|e| ApiError::system(&e))?;
    let list = items
        .iter()
        .map(|fw| {
            let mut n = Node::obj()
                .with_str("DestVersion", &fw.dest_version)
                .with_opt_str("FirmwareDesc", fw.description.as_deref())
                .with_str("FirmwareId", &fw.id)
                .with_str("FirmwareName", &fw.name)
                .with_opt_str("FirmwareSign", fw.sign.as_deref());
            if let Some(size) = fw.size {
                n = n.with_int("FirmwareSize", i64::try_from(size).unwrap_or(i64::MAX));
            }
            n.with_str("ModuleName", &fw.module_name)
                .with_opt_str("ProductKey", fw.product_key.as_deref())
                .with_str("SignMethod", &fw.sign_method)
                .with_opt_str("SrcVersion", fw.src_version.as_deref())
                .with_int("Status", i64::from(fw.status))
                .with_int("Type", i64::from(fw.firmware_type))
                .with_str(
                    "UtcCreate",
                    &timefmt::format_millis(timefmt::from_unix_millis(fw.created_ms)),
                )
                .with_str(
                    "UtcModified",
                    &timefmt::format_millis(timefmt::from_unix_millis(fw.modified_ms)),
                )
        })
        .collect();
    let as_i64 = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    Ok(Node::obj()
        .with_int("Total", as_i64(total))
        .with_int("PageSize", as_i64(size))
        .with_int("PageCount", as_i64(total.div_ceil(size)))
        .with_int("CurrentPage", as_i64(page))
        .with(
            "FirmwareInfo",
            Node::obj().with("SimpleFirmwareInfo", Node::List(list)),
        ))
}

fn delete_firmware(ctx: &Ctx<'_>, account: &str, p: &Params) -> Result<Node, ApiError> {
    let id = required(p, "FirmwareId")?;
    let deleted = ctx
        .store
        .delete_firmware(account, id)
        .map_err(|e| ApiError::system(&e))?;
    if deleted {
        Ok(Node::obj())
    } else {
        Err(ApiError::new(ErrorCode::FirmwareNotFound, ""))
    }
}

fn create_verify_job(ctx: &Ctx<'_>, account: &str, p: &Params) -> Result<Node, ApiError> {
    let bad = |why: &str| ApiError::new(ErrorCode::InvalidVerifyJobParams, why);
    let product_key = required(p, "ProductKey")?.to_string();
    let fw_id = required(p, "FirmwareId")?;
    let devices = repeat_list(p, "TargetDeviceName", 1000)?;
    if devices.is_empty() {
        return Err(ApiError::new(
            ErrorCode::MissingParameter,
            "TargetDeviceName",
        ));
    }
    if devices.len() > 10 {
        return Err(bad("at most 10 target devices"));
    }
    let mut names = Vec::new();
    for (n, fields) in &devices {
        let name = fields.get("").map(String::as_str).unwrap_or("");
        if name.is_empty() || name.chars().count() > 64 {
            return Err(bad(&format!(
                "TargetDeviceName.{n} must be 1 to 64 characters"
            )));
        }
        names.push(name.to_string());
    }
    let timeout = int_param(p, "TimeoutInMinutes")?;
    if timeout.is_some_and(|t| !(1..=1440).contains(&t)) {
        return Err(bad("TimeoutInMinutes must be between 1 and 1440"));
    }
    let need_push = bool_param(p, "NeedPush")?.unwrap_or(true);
    let need_confirm = bool_param(p, "NeedConfirm")?.unwrap_or(false);
    let protocol = match opt(p, "DownloadProtocol").filter(|s| !s.is_empty()) {
        None => "HTTPS",
        Some(v) if v.eq_ignore_ascii_case("https") => "HTTPS",
        Some(v) if v.eq_ignore_ascii_case("mqtt") => "MQTT",
        Some(_) => return Err(bad("DownloadProtocol must be HTTPS or MQTT")),
    };
    let tags = repeat_list(p, "Tag", 1000)?;
    if tags.len() > 10 {
        return Err(bad("at most 10 tags"));
    }
    let mut tag_pairs = Vec::new();
    let mut tag_total = 0;
    for (n, fields) in &tags {
        let key = fields.get("Key").map(String::as_str).unwrap_or("");
        let value = fields.get("Value").map(String::as_str).unwrap_or("");
        if key.is_empty()
            || key.len() > 30
            || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.')
        {
            return Err(bad(&format!(
                "Tag.{n}.Key must be 1 to 30 letters, digits or '.'"
            )));
        }
        let vlen = value.chars().count();
        if vlen == 0 || vlen > 1024 {
            return Err(bad(&format!("Tag.{n}.Value must be 1 to 1024 characters")));
        }
        tag_total += key.len() + vlen;
        tag_pairs.push(serde_json::json!([key, value]));
    }
    if tag_total > 4096 {
        return Err(bad("tags must total at most 4096 characters"));
    }
    let fw = ctx
        .store
        .firmware(account, fw_id)
        .map_err(|e| ApiError::system(&e))?
        .ok_or_else(|| ApiError::new(ErrorCode::FirmwareNotFound, ""))?;
    if fw.product_key.as_deref().is_some_and(|k| k != product_key) {
        return Err(bad("ProductKey does not match the firmware's product"));
    }
    if protocol == "MQTT" && (!fw.files.is_empty() || fw.size.is_some_and(|s| s > 16 * 1024 * 1024))
    {
        return Err(bad("MQTT download needs a single file of at most 16 MB"));
    }
    match fw.status {
        1 => {
            return Err(ApiError::new(
                ErrorCode::VerifyJobNotAllowed,
                "already verified",
            ))
        }
        2 => {
            return Err(ApiError::new(
                ErrorCode::VerifyJobNotAllowed,
                "being verified",
            ))
        }
        _ => {}
    }
    let job = VerifyJob {
        id: ids::job_id(),
        firmware_id: fw.id.clone(),
        product_key,
        devices_json: serde_json::Value::from(names).to_string(),
        timeout_minutes: timeout,
        need_push,
        need_confirm,
        download_protocol: protocol.to_string(),
        tags_json: serde_json::Value::from(tag_pairs).to_string(),
        created_ms: timefmt::unix_millis(ctx.now),
    };
    let started = ctx
        .store
        .start_verify_job(account, &job, fw.status)
        .map_err(|e| ApiError::system(&e))?;
    if !started {
        return Err(ApiError::new(
            ErrorCode::VerifyJobNotAllowed,
            "being verified",
        ));
    }
    Ok(Node::obj().with(
        "Data",
        Node::obj()
            .with_str("JobId", &job.id)
            .with_str("UtcCreate", &timefmt::format_millis(ctx.now)),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn firmware_names() {
        for ok in [
            "a",
            "fw-diff_1.0.0",
            "固件(测试)",
            "ファーム1",
            "9(x)",
            &"a".repeat(40),
        ] {
            // '.' is not in the allowed set.
            let expected = !ok.contains('.');
            assert_eq!(validate_firmware_name(ok).is_ok(), expected, "{ok}");
        }
        for bad in ["", "-a", "(a)", "a b", "a/b", &"a".repeat(41), "a.b", "é"] {
            assert!(validate_firmware_name(bad).is_err(), "{bad}");
        }
        assert!(validate_firmware_name(&"固".repeat(40)).is_ok());
    }

    #[test]
    fn versions() {
        assert!(validate_version("1.0.0-rc_1").is_ok());
        assert!(validate_version(&"1".repeat(64)).is_ok());
        assert!(validate_version(&"1".repeat(65)).is_err());
        assert!(validate_version("").is_err());
        assert!(validate_version("1 0").is_err());
        assert!(validate_version("1/0").is_err());
    }

    #[test]
    fn local_hosts() {
        assert!(is_local_host("127.0.0.1:8080"));
        assert!(is_local_host("localhost"));
        assert!(is_local_host("[::1]:80"));
        assert!(!is_local_host("example.com:80"));
    }

    #[test]
    fn repeat_lists() {
        let mut p = Params::new();
        p.insert("MultiFiles.1.Name".into(), "a".into());
        p.insert("MultiFiles.2.Url".into(), "u".into());
        p.insert("MultiFilesX".into(), "ignored".into());
        let l = repeat_list(&p, "MultiFiles", 20).unwrap();
        assert_eq!(l[&1]["Name"], "a");
        assert_eq!(l[&2]["Url"], "u");
        p.insert("MultiFiles.x.Name".into(), "a".into());
        assert!(repeat_list(&p, "MultiFiles", 20).is_err());
    }
}
